"""Subprocess for test_results: a slow sweep that the test kills and resumes.

Usage: python _sweep_worker.py RUN_DIR LOG NUM_CELLS SLEEP_SECONDS

Each computed cell appends "<name>" to LOG when it starts, so the test can tell
which cells were computed by which run.
"""

import sys
import time

import numpy as np

from landscape.results import run_sweep


def main(run_dir, log, num_cells, sleep):
    def compute(params):
        with open(log, "a") as f:
            f.write(f"{params['name']}\n")
        time.sleep(sleep)
        x = params["x"]
        # a few MB per cell so that writes take a measurable time
        return {"square": x * x, "curve": np.arange(200_000, dtype=np.float64) * x, "tag": f"x{x}"}

    cells = [(f"cell-{i:02d}", {"name": f"cell-{i:02d}", "x": i}) for i in range(num_cells)]
    run_sweep(run_dir, cells, compute, config={"study": "kill-test", "num_cells": num_cells},
              progress=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
