"""Batch-size sweep: steps, examples and wall time to a target against batch size, the
gradient noise scale, and the time per step against the data-set size.

    python scripts/batch_sweep.py --profile quick
    python scripts/batch_sweep.py --profile full --run-dir runs/batch_size-full
    python scripts/batch_sweep.py --profile quick --lr-policy linear --name batch_size_linear

Prints "B_crit = b (fit of S = S_min (1 + B_crit/B)), B_simple = s at the target
(B_noise = h); least wall time at B = w" and more, writes the run directory
(config.json, runs.csv, batch_sizes.csv, noise.csv, dataset_sizes.csv, summary.json,
arrays.npz, cells/; an interrupted run resumes from it) and the figures
figures/batch_size.png/.pdf and figures/batch_size_lr.png/.pdf. See ``--help``.
"""

from landscape.studies.batch_size import main

if __name__ == "__main__":
    main()
