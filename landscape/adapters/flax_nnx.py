"""A Flax NNX module as a :class:`~landscape.problem.Problem`.

The module is split with ``nnx.split(model, nnx.Param, nnx.BatchStat, ...)``:
the ``Param`` state is the problem's parameters, the ``BatchStat`` state
(BatchNorm running statistics) its model state, and the rest (RNG streams and
any other variables) is kept fixed. Evaluation is ``model.eval()``; training is
``model.train()`` with the step's key written into every RNG stream of the
module (explicit dropout keys, never a stream's own counter); without a key,
dropout is off (``deterministic=True``) while BatchNorm uses batch statistics.
The state is kept in the parameters' dtype (NNX makes running statistics
float32 even for float64 layers).

Kernels of ``nnx.Linear`` and ``nnx.Conv`` keep their output units on the last
axis (layout output axis ``-1``).

Examples
--------
>>> import jax
>>> from flax import nnx
>>> from landscape import data
>>> ds = data.gaussian_mixture(num_samples=60, num_classes=3, dim=4, seed=0)
>>> class MLP(nnx.Module):
...     def __init__(self, rngs):
...         self.hidden = nnx.Linear(4, 8, rngs=rngs)
...         self.out = nnx.Linear(8, 3, rngs=rngs)
...     def __call__(self, x):
...         return self.out(nnx.relu(self.hidden(x)))
>>> prob = from_nnx(lambda key: MLP(nnx.Rngs(key)), ds)
>>> prob.num_params(prob.init(jax.random.key(0)))
67
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from landscape.adapters._common import (
    build_problem,
    cast_floats,
    require,
    sample_inputs,
    shared_doc,
    version,
)
from landscape.adapters.flax_linen import kernel_layout
from landscape.data import Dataset
from landscape.layout import Layout
from landscape.problem import Problem, check_params

PyTree = Any

__all__ = ["from_nnx"]


def _nnx():
    return require("flax.nnx", "flax", "landscape.adapters.flax_nnx")


@shared_doc
def from_nnx(
    make_model: Callable[[jax.Array], Any],
    data: Dataset,
    *,
    loss: str | Callable | None = None,
    name: str | None = None,
    layout: Layout | None = None,
    info: dict | None = None,
) -> Problem:
    """A Problem from a function that builds a Flax NNX module from a key.

    Parameters
    ----------
    make_model : callable
        ``make_model(key) -> nnx.Module``, e.g. ``lambda key: MLP(rngs=nnx.Rngs(key))``;
        called once per seed, so every seed gets its own initialisation. The
        module maps a batch: ``model(x)``.
    data : Dataset
    {shared_parameters}

    {make_model_raises}
    """
    nnx = _nnx()
    if isinstance(make_model, nnx.Module):
        raise ValueError(
            "make_model: got an NNX module; pass a function of a key that builds it, e.g. "
            f"lambda key: {type(make_model).__name__}(..., rngs=nnx.Rngs(key)), so that each "
            "seed is initialised afresh"
        )
    model0 = make_model(jax.random.key(0))
    if not isinstance(model0, nnx.Module):
        raise ValueError(f"make_model: expected a function key -> nnx.Module, got one returning "
                         f"{type(model0).__name__}")
    graphdef, params0, stats0, rest = nnx.split(model0, nnx.Param, nnx.BatchStat, ...)
    stateful = len(jax.tree_util.tree_leaves(stats0)) > 0
    dtype = check_params(params0)
    stats0 = cast_floats(stats0, dtype)

    def init(key):
        return nnx.split(make_model(key), nnx.Param, nnx.BatchStat, ...)[1]

    def init_state(key):
        return cast_floats(nnx.split(make_model(key), nnx.Param, nnx.BatchStat, ...)[2], dtype)

    def apply(params, state, x, *, train, key):
        other = rest if key is None else _reseed(rest, key)
        model = nnx.merge(graphdef, params, state if stateful else stats0, other)
        if not train:
            model.eval()
        elif key is None:  # batch statistics, dropout off
            model.train()
            model.set_attributes(deterministic=True, raise_if_not_found=False)
        else:
            model.train()
        with jax.numpy_dtype_promotion("standard"):  # as Flax is written for
            out = model(x)
        new_state = nnx.state(model, nnx.BatchStat) if (train and stateful) else state
        return out, new_state

    def infer_layout(problem):
        outputs = problem.outputs_fn(stats0 if stateful else None, mode="eval")
        return kernel_layout(params0, outputs, sample_inputs(data))

    return build_problem(
        init=init, apply=apply, data=data, loss=loss, name=name or type(model0).__name__,
        init_state=init_state if stateful else None, layout=layout, info=info,
        framework={"framework": "flax.nnx", "flax": version("flax")},
        infer_layout=infer_layout,
    )


def _reseed(rest: PyTree, key: jax.Array) -> PyTree:
    """``rest`` with every RNG stream's key derived from ``key`` (one per stream, in
    leaf order); counters stay as built, so a step's dropout masks depend on its key
    alone."""
    leaves, treedef = jax.tree_util.tree_flatten(rest)
    out, stream = [], 0
    for leaf in leaves:
        dtype = getattr(leaf, "dtype", None)
        if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
            out.append(jax.random.fold_in(key, stream))
            stream += 1
        else:
            out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out)
