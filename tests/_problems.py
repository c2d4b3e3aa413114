"""Tiny problems for the study tests: a plain-JAX MLP written by hand (no flax), with its
dense chain declared, on a small Gaussian-mixture data set."""

import jax
import jax.numpy as jnp

from landscape import data, problem


def tiny_mlp(hidden: int = 6, num_samples: int = 120, seed: int = 0) -> problem.Problem:
    """A 10-``hidden``-4 tanh MLP, parameters ``{"l1": {"w", "b"}, "l2": {"w", "b"}}``
    with ``(in, out)`` weights, on ``gaussian_mixture``."""
    ds = data.prepare("gaussian_mixture", num_samples=num_samples, standardize=True)
    hidden = int(hidden)

    def init(key):
        k1, k2 = jax.random.split(key)
        dtype = jnp.asarray(ds.x_train).dtype
        return {
            "l1": {"w": jax.random.normal(k1, (ds.in_dim, hidden), dtype) / jnp.sqrt(ds.in_dim),
                   "b": jnp.zeros(hidden, dtype)},
            "l2": {"w": jax.random.normal(k2, (hidden, ds.out_dim), dtype) / jnp.sqrt(hidden),
                   "b": jnp.zeros(ds.out_dim, dtype)},
        }

    def apply(params, x):
        h = jnp.tanh(x @ params["l1"]["w"] + params["l1"]["b"])
        return h @ params["l2"]["w"] + params["l2"]["b"]

    layout = problem.Layout(
        weights={"['l1']['w']": -1, "['l2']['w']": -1},
        dense_chain=(problem.DenseLayer("['l1']['w']", "['l1']['b']", -1),
                     problem.DenseLayer("['l2']['w']", "['l2']['b']", -1)),
    )
    del seed
    return problem.from_functions(init, apply, ds, name=f"tiny tanh mlp ({hidden})",
                                  layout=layout)
