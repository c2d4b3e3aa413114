"""Loss-landscape pictures of an MLP trained on mnist1d, written to figures/.

A filter-normalised random plane around a solution (contours and a 3-D surface),
the training path on its PCA plane, the loss along straight lines from the
initialisation to the solution and between two solutions, and a quadratic Bezier
curve trained to connect the two solutions at low loss:

    python scripts/landscape_plot.py --profile quick
    python scripts/landscape_plot.py --profile full --out figures --run-dir runs/landscape_plot

Arrays and a summary go to ``--run-dir`` (config.json, summary.json, arrays.npz).
"""

from landscape.studies.landscape_plot import main

if __name__ == "__main__":
    main()
