"""Seed study: N seeds of one problem, their spread, distances, barriers and curvature.

    python scripts/seeds.py --profile quick
    python scripts/seeds.py --profile full --run-dir runs/seeds-full
    python scripts/seeds.py --problem mypackage.models:make_problem --num-seeds 8
    python scripts/seeds.py --problem cnn1d --no-measure-curvature

Prints "N seeds: final train loss m +- s (CV c%); relative distance between solutions d
(between inits d0; after alignment da); largest barrier b" and more, the run directory
and every file written (config.json, seeds.csv, pairs.csv, summary.json, arrays.npz,
parts/, and the figure RUN_DIR/figures/seeds.png/.pdf unless --out is given).
An interrupted run resumes from its run directory. See ``--help`` for every option.
"""

from landscape.studies import cli

if __name__ == "__main__":
    cli.main("seeds")
