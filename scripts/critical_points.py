"""Critical points against loss: index against loss of exact critical points found by
Newton-MR from many starts (Dauphin et al. 2014), and the kind of each training endpoint.

    python scripts/critical_points.py --profile quick
    python scripts/critical_points.py --profile full --run-dir runs/critical_points-full
    python scripts/critical_points.py --problem-option hidden=12 --l2 1e-2 --name cp_wide
    python scripts/critical_points.py --problem mypackage.models:make_problem

Runs in float64 (x64 is switched on). Prints the finder's outcomes, the counts of
critical points by kind, the Spearman rank correlation between index and loss and the
kinds of the training endpoints; then the run directory and every file written
(config.json, starts.csv, endpoints.csv, summary.json, arrays.npz, parts/, and the
figure RUN_DIR/figures/critical_points.png/.pdf unless --out is given). An interrupted
run resumes from its run directory. See ``--help`` for every option.
"""

import sys

from landscape.studies import cli

if __name__ == "__main__":
    cli.main("critical_points", ["--x64", *sys.argv[1:]])
