"""Landscape pictures of a problem: a filter-normalised random plane around a solution,
the training path on its PCA plane, straight lines from the initialisation to the
solution and between two solutions, and a mode-connecting Bezier curve.

    python scripts/landscape_plot.py --profile quick
    python scripts/landscape_plot.py --profile full --run-dir runs/landscape_plot-full
    python scripts/landscape_plot.py --problem mypackage.models:make_problem --grid-points 21

Prints the barriers and distances; then the run directory and every file written
(config.json, summary.json, arrays.npz, parts/, and the figures
RUN_DIR/figures/landscape_plot_*.png/.pdf unless --out is given). An interrupted run
resumes from its run directory. See ``--help`` for every option.
"""

from landscape.studies import cli

if __name__ == "__main__":
    cli.main("landscape_plot")
