"""The layout of a parameter pytree: which leaves are weights and which axis of each
holds its output units, and which layers form a dense chain.

Filter normalisation (Li et al. 2018) rescales one filter per output unit, and weight
matching (Ainsworth et al. 2023) permutes the hidden units of a chain of dense layers;
both need to know this, and a parameter pytree does not say it (Flax kernels are
``(in, out)``, Equinox weights ``(out, in)``). A :class:`Layout` says it by the leaves'
paths (:func:`leaf_paths`); :class:`landscape.problem.Problem` carries one, and the
adapters in :mod:`landscape.adapters` build it. Every name here is also importable
from :mod:`landscape.problem`.

Examples
--------
>>> import jax.numpy as jnp
>>> params = [{"w": jnp.ones((3, 4)), "b": jnp.zeros(4)}, {"w": jnp.ones((4, 2))}]
>>> layout = dense_list_layout(params)
>>> dict(layout.weights)
{"[0]['w']": -1, "[1]['w']": -1}
>>> weight_axes(params, layout)
[None, -1, -1]

References
----------
Li, H., Xu, Z., Taylor, G., Studer, C. and Goldstein, T. (2018). Visualizing the loss
landscape of neural nets. NeurIPS.
Ainsworth, S. K., Hayase, J. and Srinivasa, S. (2023). Git re-basin: merging models
modulo permutation symmetries. ICLR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

PyTree = Any
Array = jax.Array

__all__ = [
    "DenseLayer",
    "Layout",
    "check_layout",
    "dense_layers",
    "dense_list_layout",
    "leaf_paths",
    "weight_axes",
    "with_dense_layers",
]


def leaf_paths(tree: PyTree) -> list[str]:
    """The path of every leaf of ``tree`` as :func:`jax.tree_util.keystr` writes it
    (``"[0]['w']"``, ``".layers[1].weight"``): the names a :class:`Layout` uses."""
    return [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


class DenseLayer(NamedTuple):
    """One dense layer of a chain, for weight matching.

    Attributes
    ----------
    weight : str
        Path of the 2-D weight leaf (:func:`leaf_paths`).
    bias : str or None
        Path of the bias leaf, if the layer has one.
    out_axis : int
        The axis of the weight that indexes output units, counted from the end
        so that leading batch axes (seeds) do not change it: ``-1`` for a
        ``(fan_in, fan_out)`` weight (Flax, the built-in models), ``-2`` for
        ``(fan_out, fan_in)`` (Equinox, PyTorch).
    """

    weight: str
    bias: str | None
    out_axis: int


class Layout(NamedTuple):
    """The structure of a parameter pytree that some parts of a study need.

    Attributes
    ----------
    weights : mapping of path -> output axis
        Every weight leaf (dense kernels, convolution kernels), with the axis
        that indexes its output units or channels, counted from the end (``-1``
        for Flax and the built-in models, ``-2`` for an Equinox ``Linear``,
        ``-3`` for a 1-D Equinox ``Conv`` of shape ``(out, in, k)`` ...). Filter
        normalisation (Li et al. 2018) rescales one filter per output unit of
        these leaves; every other leaf is treated as a bias.
    dense_chain : tuple of DenseLayer, or None
        The layers of a fully connected network in forward order, where the
        outputs of layer ``k`` are the inputs of layer ``k + 1`` through an
        elementwise activation: what weight matching permutes. ``None`` when
        the network is not such a chain (a CNN, a network with BatchNorm
        between layers); weight matching is then skipped with that reason.
    """

    weights: Mapping[str, int]
    dense_chain: tuple[DenseLayer, ...] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "weights": dict(self.weights),
            "dense_chain": None
            if self.dense_chain is None
            else [layer._asdict() for layer in self.dense_chain],
        }


def dense_list_layout(params: PyTree) -> Layout:
    """The layout of the built-in models' parameters: a list of layers whose ``"w"`` has
    its output units on the last axis; a dense chain when every ``"w"`` is 2-D."""
    if not isinstance(params, (list, tuple)):
        raise ValueError(
            f"params: expected a list of layers {{'w': ..., 'b': ...}}, got {type(params).__name__}"
        )
    weights, chain = {}, []
    for i, layer in enumerate(params):
        if not isinstance(layer, Mapping) or "w" not in layer:
            raise ValueError(f"params: layer {i} has no 'w'")
        weights[f"[{i}]['w']"] = -1
        chain.append(DenseLayer(f"[{i}]['w']", f"[{i}]['b']" if "b" in layer else None, -1))
    dense = all(jnp.ndim(layer["w"]) == 2 for layer in params)
    return Layout(weights, tuple(chain) if dense else None)


def _leaves_by_path(tree: PyTree) -> dict[str, Array]:
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(p): leaf for p, leaf in flat}


def check_layout(layout: Layout, params: PyTree, *, batch_dims: int = 0) -> None:
    """Check that every path of ``layout`` names a leaf of ``params`` with the axes it
    claims (``batch_dims`` leading axes, e.g. seeds, allowed)."""
    leaves = _leaves_by_path(params)
    for path, axis in layout.weights.items():
        if path not in leaves:
            raise ValueError(f"layout: weight {path!r} is not a leaf of params "
                             f"(leaves: {sorted(leaves)[:6]}...)")
        if not -jnp.ndim(leaves[path]) + batch_dims <= axis < 0:
            raise ValueError(f"layout: output axis {axis} of weight {path!r} does not fit its "
                             f"shape {jnp.shape(leaves[path])} (count axes from the end)")
    for i, layer in enumerate(layout.dense_chain or ()):
        for path in (layer.weight, layer.bias):
            if path is not None and path not in leaves:
                raise ValueError(f"layout: dense_chain[{i}] names {path!r}, not a leaf of params")
        if jnp.ndim(leaves[layer.weight]) != 2 + batch_dims or layer.out_axis not in (-1, -2):
            raise ValueError(f"layout: dense_chain[{i}] weight {layer.weight!r} must be 2-D with "
                             f"out_axis -1 or -2, got shape {jnp.shape(leaves[layer.weight])}")


def dense_layers(params: PyTree, layout: Layout) -> list[dict[str, Array]]:
    """The dense chain of ``params`` in the canonical form of :mod:`landscape.alignment`:
    a list of ``{"w": (..., fan_in, fan_out), "b": (..., fan_out)}``."""
    if layout.dense_chain is None:
        raise ValueError("layout: the problem declares no dense chain")
    leaves = _leaves_by_path(params)
    layers = []
    for layer in layout.dense_chain:
        w = leaves[layer.weight]
        entry = {"w": w if layer.out_axis == -1 else jnp.swapaxes(w, -1, -2)}
        if layer.bias is not None:
            entry["b"] = leaves[layer.bias]
        layers.append(entry)
    return layers


def with_dense_layers(params: PyTree, layout: Layout, layers: Sequence[Mapping]) -> PyTree:
    """``params`` with its dense chain replaced by ``layers`` (the inverse of
    :func:`dense_layers`); every other leaf is kept."""
    if layout.dense_chain is None:
        raise ValueError("layout: the problem declares no dense chain")
    new = {}
    for layer, entry in zip(layout.dense_chain, layers, strict=True):
        w = entry["w"]
        new[layer.weight] = w if layer.out_axis == -1 else jnp.swapaxes(w, -1, -2)
        if layer.bias is not None:
            new[layer.bias] = entry["b"]
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    leaves = [new.get(jax.tree_util.keystr(p), leaf) for p, leaf in flat]
    return jax.tree_util.tree_unflatten(treedef, leaves)


def weight_axes(params: PyTree, layout: Layout) -> list[int | None]:
    """For each leaf of ``params`` in :func:`jax.tree_util.tree_leaves` order, its output
    axis when it is a weight and ``None`` otherwise (a bias, a norm scale): what filter
    normalisation reads."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return [layout.weights.get(jax.tree_util.keystr(p)) for p, _ in flat]
