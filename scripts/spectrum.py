"""Spectrum study: the Hessian spectrum of a problem at initialisation and after full-batch
gradient descent, per layer and across data subsamples, and lambda_max along training next
to 2 / learning rate (edge of stability).

    python scripts/spectrum.py --profile quick
    python scripts/spectrum.py --profile full --run-dir runs/spectrum-full
    python scripts/spectrum.py --problem cnn1d --layer-iters 0
    python scripts/spectrum.py --problem mypackage.models:make_problem

Prints lambda_max / lambda_min with residuals, the trace, the index and the number of
outliers at both ends of training, the per-layer curvature, the spread of lambda_max
over subsamples and the sharpness against 2/lr; then the run directory and every file
written (config.json, summary.json, arrays.npz, parts/, and the figure
RUN_DIR/figures/spectrum.png/.pdf unless --out is given). An interrupted run resumes
from its run directory. See ``--help`` for every option.
"""

from landscape.studies import cli

if __name__ == "__main__":
    cli.main("spectrum")
