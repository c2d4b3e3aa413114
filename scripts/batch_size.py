"""Batch-size study: steps, examples and wall time to a target against batch size, the
gradient noise scale, and the time per step against the data-set size.

    python scripts/batch_size.py --profile quick
    python scripts/batch_size.py --profile full --run-dir runs/batch_size-full
    python scripts/batch_size.py --profile quick --lr-policy linear --name batch_size_linear
    python scripts/batch_size.py --problem mypackage.models:make_problem --num-seeds 2

Prints "B_crit = b (fit of S = S_min (1 + B_crit/B)), B_simple = s at the target
(B_noise = h); least wall time at B = w" and more, the run directory and every file
written (config.json, runs.csv, batch_sizes.csv, noise.csv, dataset_sizes.csv,
summary.json, arrays.npz, cells/; an interrupted run resumes from it) and the figures
RUN_DIR/figures/batch_size.png/.pdf and batch_size_lr.png/.pdf unless --out is given.
See ``--help``.
"""

from landscape.studies import cli

if __name__ == "__main__":
    cli.main("batch_size")
