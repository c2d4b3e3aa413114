"""Seed study: N seeds of one configuration, their spread, distances, barriers and curvature.

    python scripts/seed_runs.py --profile quick
    python scripts/seed_runs.py --profile full --run-dir runs/seeds-full
    python scripts/seed_runs.py --profile quick --dataset digits --hidden 64 64 --optimizer adam \\
        --learning-rate 1e-3 --name seeds_digits

Prints "N seeds: final train loss m +- s (CV c%); relative distance between solutions d
(between inits d0; after alignment da); largest barrier b" and more, writes the run
directory (config.json, seeds.csv, pairs.csv, summary.json, arrays.npz) and the figure
figures/seeds.png and .pdf. See ``--help`` for every option.
"""

from landscape.studies.seeds import main

if __name__ == "__main__":
    main()
