"""lambda_max of the Hessian on independent data subsamples, and its spread.

One batch reports one value of lambda_max; over independent subsamples of the same
size it can vary several-fold. :func:`lambda_max_spread` draws the subsamples and runs
:func:`landscape.lanczos.extreme_eigs` on the Hessian of each.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> loss = lambda w, x: 0.5 * jnp.mean((x @ w) ** 2)
>>> x = jax.random.normal(jax.random.key(0), (40, 3))
>>> s = lambda_max_spread(loss, jnp.zeros(3), x, key=jax.random.key(1), num_subsamples=3,
...                       subsample_size=10, num_iters=3)
>>> s.values.shape, bool(s.ratio >= 1)
((3,), True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from landscape import _checks, curvature, status
from landscape.lanczos import extreme_eigs
from landscape.typing import Array, PyTree

__all__ = ["SubsampleSpread", "lambda_max_spread"]


class SubsampleSpread(NamedTuple):
    """lambda_max of the Hessian on independent data subsamples.

    Attributes
    ----------
    values : (s,)      lambda_max on each subsample
    residuals : (s,)   its residual bound
    indices : (s, b)   the examples of each subsample
    mean, std : ()     across subsamples (std with ddof=1)
    min, max : ()
    ratio : ()         max / min, the several-fold spread a single batch hides
    status : (s,)      each subsample's :mod:`landscape.status` code
    """

    values: Array
    residuals: Array
    indices: Array
    mean: Array
    std: Array
    min: Array
    max: Array
    ratio: Array
    status: Array

    def message(self):
        """Each subsample's status as text."""
        return status.message(self.status)


def lambda_max_spread(
    loss: Callable,
    params: PyTree,
    batch,
    *,
    key: Array,
    num_subsamples: int,
    subsample_size: int,
    num_iters: int = 30,
    tol: float = 1e-6,
    num_restarts: int = 5,
) -> SubsampleSpread:
    """lambda_max of ``loss`` on ``num_subsamples`` random subsets of ``batch``.

    Each subsample draws ``subsample_size`` examples without replacement,
    independently of the others (``key``); each runs :func:`extreme_eigs` with
    ``which="largest"`` on that subsample's Hessian, one after another.
    """
    _checks.check_key(key)
    count = _checks.check_int("num_subsamples", num_subsamples, minimum=1)
    total = len(jax.tree_util.tree_leaves(batch)[0])
    size = _checks.check_int("subsample_size", subsample_size, minimum=1)
    if size > total:
        raise ValueError(f"subsample_size: {size} exceeds the {total} examples in batch")
    op = curvature.hessian_operator(loss, params, batch)
    x0 = op.args[0]
    k_sub, k_v0 = jax.random.split(key)
    picks = jax.vmap(lambda kk: jax.random.choice(kk, total, (size,), replace=False))(
        jax.random.split(k_sub, count)
    )
    v0s = jax.random.normal(k_v0, (count, op.size), x0.dtype)
    eigs = extreme_eigs(
        num_iters=min(num_iters, op.size), num_eigs=1, which="largest", tol=tol,
        num_restarts=num_restarts,
    )
    arrays = jax.tree_util.tree_map(jnp.asarray, batch)

    @jax.jit
    def run(picks, v0s, x0, arrays):
        def one(inputs):
            pick, v0 = inputs
            sub = jax.tree_util.tree_map(lambda a: a[pick], arrays)
            res = eigs(op.matvec, v0, x0, sub)
            return res.eigvals[-1], res.residuals[-1], res.status

        return jax.lax.map(one, (picks, v0s))

    values, residuals, codes = run(picks, v0s, x0, arrays)
    std = jnp.std(values, ddof=1) if count > 1 else jnp.zeros((), values.dtype)
    return SubsampleSpread(
        values=values,
        residuals=residuals,
        indices=picks,
        mean=jnp.mean(values),
        std=std,
        min=jnp.min(values),
        max=jnp.max(values),
        ratio=jnp.max(values) / jnp.min(values),
        status=codes,
    )
