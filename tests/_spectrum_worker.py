"""Subprocess for test_spectrum: a spectrum study that the test kills and resumes (its
problem declares no layout, so the per-layer part is skipped).

Usage: python _spectrum_worker.py RUN_DIR LOG

Every phase the study computes (rather than loads) appends its name to LOG.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from landscape import data, problem, results
from landscape.studies import spectrum

CONFIG = spectrum.Config(num_steps=6, eval_every=3, num_top=2, lanczos_iters=8, slq_iters=6,
                         slq_probes=2, sharpness_iters=6, layer_iters=4, spread_subsamples=0,
                         gauss_newton=False)


def make_problem():
    ds = data.gaussian_mixture(num_samples=60, seed=0).astype(np.float64)

    def init(key):
        return {"w": 0.3 * jax.random.normal(key, (ds.in_dim, ds.out_dim), jnp.float64)}

    def apply(params, x):
        return jnp.tanh(x @ params["w"])

    return problem.from_functions(init, apply, ds, name="tanh linear")


def main(run_dir, log):
    cached_part = results.cached_part

    def logged(run_dir, name, compute):
        def wrapped():
            with open(log, "a") as f:
                f.write(name + "\n")
            return compute()

        return cached_part(run_dir, name, wrapped)

    results.cached_part = logged
    spectrum.run(make_problem(), CONFIG, run_dir, progress=False)


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    main(sys.argv[1], sys.argv[2])
