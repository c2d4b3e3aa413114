"""Critical points against loss: index vs loss of exact critical points (Dauphin et al. 2014).

    python scripts/critical_points.py --profile quick
    python scripts/critical_points.py --profile full --run-dir runs/critical_points-full
    python scripts/critical_points.py --profile quick --hidden 12 --l2 1e-2 --name cp_wide

Finds critical points of a small tanh MLP's loss by Newton-MR from points along
training runs and from random initialisations, classifies them by their exact Hessian
spectrum, prints the counts and the Spearman rank correlation between index and loss,
classifies the endpoints of the training runs, and writes the run directory
(config.json, starts.csv, endpoints.csv, summary.json, arrays.npz) and the figure
figures/critical_points.png and .pdf. See ``--help`` for every option.
"""

from landscape.studies.critical_points import main

if __name__ == "__main__":
    main()
