"""A Flax Linen module as a :class:`~landscape.problem.Problem`.

``module.init`` returns variables in collections: ``params`` become the
problem's parameters and every other collection (``batch_stats``, the running
statistics of ``nn.BatchNorm``) its model state. The module's ``__call__``
takes a ``train`` argument (the name is configurable) that switches BatchNorm
to batch statistics and dropout on, the usual Linen idiom::

    x = nn.BatchNorm(use_running_average=not train)(x)
    x = nn.Dropout(0.1, deterministic=not train)(x)

In training the state collections are ``mutable`` and the step's key is the
``dropout`` rng; without a key, every ``nn.Dropout`` is switched off (through
``nn.intercept_methods``) while BatchNorm still uses batch statistics. The
state is kept in the parameters' dtype (Flax makes running statistics float32
even for float64 layers).

Kernels of ``nn.Dense`` and ``nn.Conv`` keep their output units on the last
axis: the layout records every ``kernel`` leaf of two or more axes with output
axis ``-1``.

Examples
--------
>>> import flax.linen as nn, jax
>>> from landscape import data
>>> ds = data.gaussian_mixture(num_samples=60, num_classes=3, dim=4, seed=0)
>>> class MLP(nn.Module):
...     @nn.compact
...     def __call__(self, x, train: bool = False):
...         return nn.Dense(3)(nn.relu(nn.Dense(8)(x)))
>>> prob = from_linen(MLP(), ds)
>>> prob.num_params(prob.init(jax.random.key(0)))
67
>>> sorted(prob.layout.weights)
["['Dense_0']['kernel']", "['Dense_1']['kernel']"]
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from landscape.adapters._common import (
    build_problem,
    cast_floats,
    chain_layout,
    require,
    sample_inputs,
    shared_doc,
    version,
)
from landscape.data import Dataset
from landscape.layout import DenseLayer, Layout
from landscape.problem import Problem, check_params

PyTree = Any

__all__ = ["from_linen"]


def _linen():
    return require("flax.linen", "flax", "landscape.adapters.flax_linen")


@shared_doc
def from_linen(
    module: Any,
    data: Dataset,
    *,
    loss: str | Callable | None = None,
    name: str | None = None,
    train_arg: str | None = "train",
    dropout_rng: str = "dropout",
    layout: Layout | None = None,
    info: dict | None = None,
) -> Problem:
    """A Problem from a Flax Linen module.

    Parameters
    ----------
    module : flax.linen.Module
        The module (not its variables). ``module.init(key, x)`` must work on a
        batch ``x`` of training inputs.
    data : Dataset
    train_arg : str or None
        The keyword of ``__call__`` that selects training mode (default
        ``"train"``); ``None`` when the module has no such argument. When the
        module's ``__call__`` has no parameter of this name it is not passed.
    dropout_rng : str
        The rng collection of the dropout layers.
    {shared_parameters}
    """
    nn = _linen()
    if not isinstance(module, nn.Module):
        hint = ""
        if isinstance(module, dict) and "params" in module:
            hint = (" (that looks like the module's variables; pass the module itself, the "
                    "variables are made by its init)")
        raise ValueError(f"module: expected a flax.linen.Module, got "
                         f"{type(module).__name__}{hint}")
    if train_arg is not None and train_arg not in inspect.signature(module.__call__).parameters:
        train_arg = None
    x0 = sample_inputs(data)
    flags = {} if train_arg is None else {train_arg: False}

    def variables(key):
        # Flax keeps running statistics in float32 whatever the layer's dtype
        with jax.numpy_dtype_promotion("standard"):
            return module.init({"params": key, dropout_rng: key}, x0, **flags)

    shapes = jax.eval_shape(variables, jax.random.key(0))
    collections = sorted(k for k in shapes if k != "params")
    if "params" not in shapes:
        raise ValueError("module: init made no 'params' collection (a module without parameters)")
    dtype = check_params(shapes["params"])

    def init(key):
        return variables(key)["params"]

    def init_state(key):
        v = variables(key)
        return cast_floats({k: v[k] for k in collections}, dtype)

    def apply(params, state, x, *, train, key):
        # Flax mixes its float32 running statistics with the layer's dtype
        with jax.numpy_dtype_promotion("standard"):
            return _apply(params, state, x, train=train, key=key)

    def _apply(params, state, x, *, train, key):
        all_vars = {"params": params, **(state or {})}
        kwargs = {} if train_arg is None else {train_arg: train}
        if not train:
            return module.apply(all_vars, x, **kwargs), state
        rngs = {} if key is None else {dropout_rng: key}
        mutable = list(collections)

        def call():
            if mutable:
                out, new = module.apply(all_vars, x, rngs=rngs, mutable=mutable, **kwargs)
                return out, {k: new[k] for k in collections}
            return module.apply(all_vars, x, rngs=rngs, **kwargs), state

        if key is None:  # batch statistics, dropout off
            with nn.intercept_methods(_dropout_off(nn)):
                return call()
        return call()

    def infer_layout(problem):
        params0 = jax.jit(init)(jax.random.key(0))
        state0 = jax.jit(init_state)(jax.random.key(0)) if collections else None
        return kernel_layout(params0, problem.outputs_fn(state0, mode="eval"), x0)

    return build_problem(
        init=init, apply=apply, data=data, loss=loss, name=name or type(module).__name__,
        init_state=init_state if collections else None, layout=layout, info=info,
        framework={"framework": "flax.linen", "flax": version("flax")},
        infer_layout=infer_layout,
    )


def _dropout_off(nn):
    def interceptor(next_fun, args, kwargs, context):
        if isinstance(context.module, nn.Dropout) and context.method_name == "__call__":
            return args[0]
        return next_fun(*args, **kwargs)

    return interceptor


def kernel_layout(params: PyTree, outputs: Callable, x: jax.Array) -> tuple[Layout, str]:
    """The layout of Flax parameters (Linen or NNX): every ``kernel`` leaf of two or more
    axes is a weight with its output units last; a dense chain when the kernels (in
    order, with their ``bias``) are one, checked by permuting hidden units."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    weights, chain = {}, []
    for path, leaf in flat:
        keys = [getattr(k, "key", getattr(k, "name", None)) for k in path]
        if "kernel" not in keys or jnp.ndim(leaf) < 2:
            continue
        w = jax.tree_util.keystr(path)
        weights[w] = -1
        chain.append((w, w.replace("['kernel']", "['bias']", 1), jnp.ndim(leaf)))
    names = {jax.tree_util.keystr(p) for p, _ in flat}
    if any(ndim != 2 for _, _, ndim in chain):
        return Layout(weights, None), "convolution kernels: no dense chain"
    layers = [DenseLayer(w, b if b in names else None, -1) for w, b, _ in chain]
    x = x.astype(jax.tree_util.tree_leaves(params)[0].dtype)
    layout, note = chain_layout(weights, layers, params, outputs, x)
    return layout, note or "dense chain checked by permuting hidden units"
