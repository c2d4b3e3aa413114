"""An Equinox model as a :class:`~landscape.problem.Problem`.

The model is split with ``eqx.partition(model, eqx.is_inexact_array)``: the
floating-point arrays are the parameters, everything else (activation
functions, sizes, flags) is kept fixed. BatchNorm running statistics live in an
``eqx.nn.State`` (``eqx.nn.make_with_state``), which becomes the problem's model
state. Equinox layers act on one example, so the forward map is ``vmap``-ed over
the batch with ``axis_name="batch"`` (what ``eqx.nn.BatchNorm(axis_name="batch")``
expects). Evaluation mode is ``eqx.nn.inference_mode(model)``: running
statistics, no dropout. In training, each example gets its own dropout key
split from the step's key.

Weights of ``eqx.nn.Linear`` are ``(out, in)`` and of ``eqx.nn.Conv`` ``(out,
in, *kernel)``: the layout records output axis ``-2`` (``-ndim``) for them.

Examples
--------
>>> import equinox as eqx, jax
>>> from landscape import data
>>> ds = data.gaussian_mixture(num_samples=60, num_classes=3, dim=4, seed=0)
>>> prob = from_equinox(lambda key: eqx.nn.MLP(4, 3, 8, 1, key=key), ds)
>>> params = prob.init(jax.random.key(0))
>>> prob.num_params(params)
67
>>> prob.layout.weights
{'.layers[0].weight': -2, '.layers[1].weight': -2}
>>> len(prob.layout.dense_chain)
2
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from landscape.adapters._common import (
    build_problem,
    chain_layout,
    require,
    sample_inputs,
    shared_doc,
    version,
)
from landscape.data import Dataset
from landscape.layout import DenseLayer, Layout
from landscape.problem import Problem

PyTree = Any

__all__ = ["from_equinox"]


def _eqx():
    return require("equinox", "equinox", "landscape.adapters.equinox")


def _split_result(result, eqx):
    """``make_model(key)`` returns a module, or ``(module, state)`` from
    ``eqx.nn.make_with_state``."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], eqx.nn.State):
        return result
    if not isinstance(result, eqx.Module):
        raise ValueError(
            f"make_model: expected a function key -> eqx.Module (or (module, state) from "
            f"eqx.nn.make_with_state), got {type(result).__name__}"
        )
    return result, None


@shared_doc
def from_equinox(
    make_model: Callable[[jax.Array], Any],
    data: Dataset,
    *,
    loss: str | Callable | None = None,
    name: str | None = None,
    layout: Layout | None = None,
    info: dict | None = None,
) -> Problem:
    """A Problem from a function that builds an Equinox model from a key.

    Parameters
    ----------
    make_model : callable
        ``make_model(key) -> module``, or ``-> (module, state)`` for a model with
        state (``eqx.nn.make_with_state(Model)(..., key=key)``). Called once per
        seed, so every seed gets its own initialisation. The module maps one
        example: ``module(x[, state], *, key=None)``.
    data : Dataset
    {shared_parameters}

    {make_model_raises}
    """
    eqx = _eqx()
    if isinstance(make_model, eqx.Module) and jax.tree_util.tree_leaves(
        eqx.filter(make_model, eqx.is_inexact_array)
    ):
        raise ValueError(
            "make_model: got an Equinox module; pass a function of a key that builds it, "
            f"e.g. lambda key: {type(make_model).__name__}(..., key=key), so that each seed "
            "is initialised afresh (to study one fixed model, use lambda key: model)"
        )
    model0, state0 = _split_result(make_model(jax.random.key(0)), eqx)
    params0, static = eqx.partition(model0, eqx.is_inexact_array)
    stateful = state0 is not None
    takes_key = _takes_key(model0)

    def init(key):
        model, _ = _split_result(make_model(key), eqx)
        return eqx.partition(model, eqx.is_inexact_array)[0]

    def init_state(key):
        return _split_result(make_model(key), eqx)[1]

    def apply(params, state, x, *, train, key):
        model = eqx.combine(params, static)
        model = eqx.nn.inference_mode(model, value=not train)
        if train and key is None:  # batch statistics, dropout off
            model = _dropout_off(model, eqx)
        keys = None if key is None or not takes_key else jax.random.split(key, x.shape[0])
        if stateful:
            # a fresh copy: Equinox marks a State passed to a layer as used
            fresh = jax.tree_util.tree_unflatten(*reversed(jax.tree_util.tree_flatten(state)))

            def one(xi, ki):
                return model(xi, fresh) if ki is None else model(xi, fresh, key=ki)

            out, new_state = jax.vmap(one, in_axes=(0, None if keys is None else 0),
                                      out_axes=(0, None), axis_name="batch")(x, keys)
            return out, (new_state if train else state)

        def one(xi, ki):
            return model(xi) if ki is None else model(xi, key=ki)

        out = jax.vmap(one, in_axes=(0, None if keys is None else 0), axis_name="batch")(x, keys)
        return out, state

    return build_problem(
        init=init, apply=apply, data=data, loss=loss, name=name or type(model0).__name__,
        init_state=init_state if stateful else None, layout=layout, info=info,
        framework={"framework": "equinox", "equinox": version("equinox")},
        infer_layout=lambda _: _infer_layout(model0, params0, state0, apply, data, eqx),
    )


def _takes_key(model) -> bool:
    import inspect

    try:
        params = inspect.signature(type(model).__call__).parameters
    except (TypeError, ValueError):
        return False
    return "key" in params


def _dropout_off(model, eqx):
    def off(node):
        if isinstance(node, eqx.nn.Dropout):
            return eqx.tree_at(lambda d: d.inference, node, True)
        return node

    return jax.tree_util.tree_map(off, model, is_leaf=lambda n: isinstance(n, eqx.nn.Dropout))


def _infer_layout(model, params, state, apply, data, eqx):
    """Weights of ``Linear`` and ``Conv`` layers (output axis first, counted from the end);
    a dense chain when the ``Linear`` layers are one (checked by permuting hidden units)."""
    kinds = (eqx.nn.Linear, eqx.nn.Conv)
    flat = jax.tree_util.tree_flatten_with_path(model, is_leaf=lambda n: isinstance(n, kinds))[0]
    weights, chain, convolutional = {}, [], False
    for path, node in flat:
        if not isinstance(node, kinds):
            continue
        prefix = jax.tree_util.keystr(path)
        weights[f"{prefix}.weight"] = -jnp.ndim(node.weight)
        if isinstance(node, eqx.nn.Linear):
            bias = f"{prefix}.bias" if node.bias is not None else None
            chain.append(DenseLayer(f"{prefix}.weight", bias, -2))
        else:
            convolutional = True
    if convolutional:
        return Layout(weights, None), "convolution layers: no dense chain"
    x = sample_inputs(data).astype(jax.tree_util.tree_leaves(params)[0].dtype)

    def outputs(p, xb):
        return apply(p, state, xb, train=False, key=None)[0]

    layout, note = chain_layout(weights, chain, params, outputs, x)
    return layout, note or "dense chain checked by permuting hidden units"
