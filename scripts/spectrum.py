"""Hessian spectrum of an MLP on mnist1d at initialisation and after full-batch gradient
descent, and lambda_max along training next to 2 / learning rate (edge of stability).

    python scripts/spectrum.py --profile quick
    python scripts/spectrum.py --profile full --out figures --name spectrum_full

Prints lambda_max / lambda_min with residuals, the trace, the index and the number of
outliers at both ends of training, and the sharpness against 2/lr; writes the run
directory (config.json, summary.json, arrays.npz) and figures/spectrum.png/.pdf.
See ``--help``.
"""

from landscape.studies.spectrum import main

if __name__ == "__main__":
    main()
