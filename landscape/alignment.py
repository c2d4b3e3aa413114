"""Permutation symmetry of hidden units: distances and weight matching.

Permuting the hidden units of a fully connected network (the columns of one
layer's weight matrix and bias, together with the rows of the next layer's
weight matrix) leaves the function it computes unchanged. Two networks trained
from different seeds can therefore look far apart in parameter space only
because their units are labelled differently. :func:`weight_matching` finds the
relabelling of one network that brings it closest to another (Ainsworth et al.
2022), so that the distance that remains is not a relabelling.

Parameters are those of :func:`landscape.models.mlp` and
:func:`landscape.models.deep_linear`: a list of layers ``{"w": (fan_in, fan_out),
"b": (fan_out,)}`` (``"b"`` optional). Any other network that is a plain chain of
dense layers (an Equinox or Flax MLP) is matched through the ``layout`` of its
:class:`~landscape.problem.Problem`: pass ``layout=problem.layout`` and the
parameters in the framework's own form; the layout's ``dense_chain`` says which
leaves are the layers and which weight axis holds the output units
(:func:`landscape.layout.dense_layers`). A problem without a dense chain (a
CNN, a network with normalisation between layers) raises a ``ValueError`` that
says so; studies report that part as skipped with the reason. A permutation of
hidden layer ``l`` is an integer array ``p`` of its width, with the convention
that unit ``i`` of the permuted network is unit ``p[i]`` of the original.

Distances are relative, symmetric in the two points:

    d(a, b) = |a - b| / sqrt(|a| |b|)

with Euclidean norms over all parameters. Two independent random vectors of the
same norm in high dimension are ``sqrt(2) ~ 1.41`` apart; a point and itself are
``0`` apart; ``d`` does not change when both points are scaled by the same factor.

Examples
--------
>>> import jax, numpy as np
>>> from landscape import models
>>> model = models.mlp(4, (8, 8), 3)
>>> a = model.init(jax.random.key(0))
>>> perms = random_permutations(a, key=jax.random.key(1))
>>> b = apply_permutation(a, perms)           # the same function, relabelled
>>> float(relative_distance(a, b)) > 0.5
True
>>> match = weight_matching(a, b, key=jax.random.key(2))
>>> float(relative_distance(a, match.params)) < 1e-12
True

References
----------
Ainsworth, S. K., Hayase, J. and Srinivasa, S. (2022). Git Re-Basin: merging
models modulo permutation symmetries. ICLR 2023, arXiv:2209.04836 (weight
matching, Algorithm 1).
Hecht-Nielsen, R. (1990). On the algebraic structure of feedforward network
weight spaces. (The permutation symmetry of hidden units.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landscape.layout import Layout, dense_layers, with_dense_layers

PyTree = Any
Array = jax.Array

__all__ = [
    "WeightMatching",
    "apply_permutation",
    "check_dense_layers",
    "hidden_widths",
    "identity_permutations",
    "random_permutations",
    "relative_distance",
    "require_dense_chain",
    "weight_matching",
]


def require_dense_chain(layout: Layout | None) -> None:
    """Raise a ``ValueError`` with the reason when a network with ``layout`` cannot be
    weight-matched (no layout, or no plain chain of dense layers)."""
    if layout is None:
        raise ValueError("layout: the problem declares no layout, so its hidden units are "
                         "unknown; weight matching needs a plain chain of dense layers")
    if not isinstance(layout, Layout):
        raise ValueError(f"layout: expected a landscape.layout.Layout, got "
                         f"{type(layout).__name__}")
    if layout.dense_chain is None:
        raise ValueError("layout: the network is not a plain chain of dense layers with "
                         "elementwise activations (a CNN, normalisation or skip connections), "
                         "so permuting hidden units is not a symmetry; weight matching skipped")


def _canonical(params: PyTree, layout: Layout | None):
    if layout is None:
        return params
    require_dense_chain(layout)
    return dense_layers(params, layout)


def _restore(template: PyTree, layers, layout: Layout | None):
    return layers if layout is None else with_dense_layers(template, layout, layers)


def check_dense_layers(params: PyTree, *, batch_dims: int = 0) -> tuple[int, ...]:
    """Check that ``params`` is a list of dense layers and return the layer sizes.

    Returns ``(in_dim, hidden..., out_dim)``. ``batch_dims`` leading axes (for
    example a seed axis) are allowed on every array.

    Raises
    ------
    ValueError
        If ``params`` is not a sequence of ``{"w": (fan_in, fan_out)[, "b": (fan_out,)]}``
        with matching consecutive sizes.
    """
    if not isinstance(params, (list, tuple)) or len(params) == 0:
        raise ValueError(
            "params: expected a non-empty list of dense layers {'w': (fan_in, fan_out), "
            "'b': (fan_out,)} (models.mlp / models.deep_linear), got "
            f"{type(params).__name__}"
        )
    sizes = []
    for i, layer in enumerate(params):
        if not isinstance(layer, dict) or "w" not in layer or set(layer) - {"w", "b"}:
            raise ValueError(
                f"params: layer {i} must be a dict with 'w' and optional 'b', got "
                f"{sorted(layer) if isinstance(layer, dict) else type(layer).__name__}"
            )
        w_shape = jnp.shape(layer["w"])
        if len(w_shape) != 2 + batch_dims:
            raise ValueError(
                f"params: layer {i} weight must be 2-D (fan_in, fan_out) after {batch_dims} "
                f"batch axes, got shape {w_shape}; only dense layers can be permuted"
            )
        fan_in, fan_out = w_shape[batch_dims:]
        if "b" in layer and jnp.shape(layer["b"])[batch_dims:] != (fan_out,):
            raise ValueError(
                f"params: layer {i} bias has shape {jnp.shape(layer['b'])}, expected "
                f"({fan_out},) after {batch_dims} batch axes"
            )
        if sizes and sizes[-1] != fan_in:
            raise ValueError(
                f"params: layer {i} has fan_in {fan_in} but layer {i - 1} has fan_out {sizes[-1]}"
            )
        if not sizes:
            sizes.append(fan_in)
        sizes.append(fan_out)
    return tuple(int(s) for s in sizes)


def hidden_widths(params: PyTree, *, layout: Layout | None = None) -> tuple[int, ...]:
    """Widths of the hidden layers of a dense network: one permutation each."""
    return check_dense_layers(_canonical(params, layout))[1:-1]


def identity_permutations(params: PyTree, *, layout: Layout | None = None
                          ) -> tuple[np.ndarray, ...]:
    """The identity permutation of every hidden layer."""
    return tuple(np.arange(w) for w in hidden_widths(params, layout=layout))


def random_permutations(params: PyTree, *, key: Array, layout: Layout | None = None
                        ) -> tuple[Array, ...]:
    """A uniformly random permutation of every hidden layer of ``params``."""
    widths = hidden_widths(params, layout=layout)
    keys = jax.random.split(key, max(len(widths), 1))
    return tuple(jax.random.permutation(k, w) for k, w in zip(keys, widths, strict=False))


def apply_permutation(params: PyTree, perms: Sequence[Array], *,
                      layout: Layout | None = None) -> PyTree:
    """Relabel the hidden units of ``params``: unit ``i`` of layer ``l`` becomes the
    old unit ``perms[l][i]``.

    Columns of ``w_l`` and entries of ``b_l`` are permuted by ``perms[l]``, rows of
    ``w_{l+1}`` by the same permutation, so the network computes the same function
    (up to the order of floating-point sums). Pure: jits and vmaps over ``perms``
    or ``params``.

    Parameters
    ----------
    params : list of dict, or any pytree with ``layout``
        Dense layers ``{"w": (fan_in, fan_out), "b": (fan_out,)}``.
    perms : sequence of (width_l,) int arrays
        One permutation per hidden layer (``len(params) - 1`` of them).
    layout : Layout, optional
        The layout of a problem's parameters (see the module docstring); the
        result then has the structure of ``params``.
    """
    if layout is not None:
        layers = apply_permutation(_canonical(params, layout), perms)
        return _restore(params, layers, layout)
    widths = hidden_widths(params)
    if len(perms) != len(widths):
        raise ValueError(
            f"perms: expected {len(widths)} permutations (one per hidden layer), got {len(perms)}"
        )
    for i, (p, w) in enumerate(zip(perms, widths, strict=True)):
        if jnp.shape(p) != (w,):
            raise ValueError(f"perms: permutation {i} has shape {jnp.shape(p)}, expected ({w},)")
    out = []
    for i, layer in enumerate(params):
        w = layer["w"]
        if i > 0:
            w = jnp.take(w, perms[i - 1], axis=0)
        if i < len(params) - 1:
            w = jnp.take(w, perms[i], axis=1)
        new = {"w": w}
        if "b" in layer:
            new["b"] = layer["b"] if i == len(params) - 1 else jnp.take(layer["b"], perms[i])
        out.append(new)
    return out


def _sq_norm(tree: PyTree) -> Array:
    return sum(jnp.sum(jnp.square(x)) for x in jax.tree_util.tree_leaves(tree))


def relative_distance(a: PyTree, b: PyTree) -> Array:
    """``|a - b| / sqrt(|a| |b|)``: the Euclidean distance between two parameter
    pytrees relative to the geometric mean of their norms.

    Symmetric in ``a`` and ``b`` and scale-free; ``0`` for identical points and
    about ``sqrt(2)`` for independent random points of equal norm. Pure; jits and
    vmaps. Returns ``nan`` when a norm is zero (no scale to compare with).
    """
    sa, sb = jax.tree_util.tree_structure(a), jax.tree_util.tree_structure(b)
    if sa != sb:
        raise ValueError(f"b: structure {sb} does not match a {sa}")
    diff = jax.tree_util.tree_map(lambda x, y: x - y, a, b)
    return jnp.sqrt(_sq_norm(diff)) / jnp.sqrt(jnp.sqrt(_sq_norm(a)) * jnp.sqrt(_sq_norm(b)))


class WeightMatching(NamedTuple):
    """Result of :func:`weight_matching`.

    Attributes
    ----------
    params : list of dict
        ``params_b`` with its hidden units permuted to match ``params_a``; the same
        function as ``params_b``.
    perms : tuple of (width_l,) int arrays
        The permutations, one per hidden layer, as :func:`apply_permutation` takes them.
    objective : ()
        ``sum_l <W_l^a, W_l^b'> + <b_l^a, b_l^b'>`` after alignment; the squared
        distance is ``|a|^2 + |b|^2 - 2 * objective``.
    num_iters : int
        Passes over the layers made.
    converged : bool
        ``True`` when a full pass changed no permutation (a fixed point of the
        coordinate ascent), ``False`` when ``max_iters`` stopped it.
    """

    params: PyTree
    perms: tuple[np.ndarray, ...]
    objective: float
    num_iters: int
    converged: bool


def _incoming_cost(k, a_layers, b_layers, perms):
    """Correlations (width_k, width_k) of the incoming weights and biases of hidden layer
    ``k``, with the previous layer's permutation applied to b."""
    wa_in, wb_in = a_layers[k]["w"], b_layers[k]["w"]
    if k > 0:
        wb_in = wb_in[perms[k - 1], :]
    cost = wa_in.T @ wb_in
    if "b" in a_layers[k]:
        cost = cost + np.outer(a_layers[k]["b"], b_layers[k]["b"])
    return cost


def _layer_cost(k, a_layers, b_layers, perms):
    """Correlation matrix (width_k, width_k) between the units of hidden layer ``k``
    of a and b, with every other layer's permutation held fixed."""
    cost = _incoming_cost(k, a_layers, b_layers, perms)
    wa_out, wb_out = a_layers[k + 1]["w"], b_layers[k + 1]["w"]
    if k + 1 < len(perms):
        wb_out = wb_out[:, perms[k + 1]]
    return cost + wa_out @ wb_out.T  # outgoing weights


def weight_matching(
    params_a: PyTree,
    params_b: PyTree,
    *,
    key: Array,
    max_iters: int = 100,
    start: str = "forward",
    layout: Layout | None = None,
) -> WeightMatching:
    """Permute the hidden units of ``params_b`` to bring it closest to ``params_a``.

    Maximises ``sum_l <W_l^a, P_l W_l^b P_{l-1}^T>`` (biases included) over the
    permutations ``P_l`` of the hidden layers, which minimises the Euclidean
    distance between ``a`` and the relabelled ``b``. Coordinate ascent (Ainsworth
    et al. 2022, Algorithm 1): visit the layers in a random order and solve for one
    permutation with the others fixed, a linear assignment problem
    (``scipy.optimize.linear_sum_assignment``); repeat until a pass changes
    nothing or ``max_iters`` passes are done. Each step cannot lower the
    objective. With one hidden layer the first step is the exact optimum.

    The ascent finds a local optimum that depends on where it starts. Ainsworth et
    al. start from the identity (``start="identity"``); the default
    ``start="forward"`` first matches the layers in order from the input by their
    incoming weights alone, each given the permutation found for the layer before,
    which recovers the permutation of a relabelled copy exactly (the identity start
    can stall short of it on small networks). The result is returned only if it
    is no farther than ``params_b`` itself; otherwise the identity is kept, so the
    aligned distance never exceeds the unaligned one.

    Runs on the host in float64 (the assignment solver is not a JAX primitive);
    it is not jit-able. Cost per pass: one ``width x width`` assignment per hidden
    layer, ``O(width^3)``.

    Parameters
    ----------
    params_a, params_b : list of dict, or any pytree with ``layout``
        Dense networks of the same architecture (:func:`landscape.models.mlp`).
    key : PRNG key
        Order in which the layers are visited.
    max_iters : int
        Most passes over the layers.
    start : {"forward", "identity"}
        Starting permutations of the ascent (see above).
    layout : Layout, optional
        The layout of a problem's parameters (an Equinox or Flax MLP); the
        aligned parameters then have the structure of ``params_b``.

    Returns
    -------
    WeightMatching

    Raises
    ------
    ValueError
        When ``layout`` declares no dense chain (the reason is in the message).

    References
    ----------
    Ainsworth, S. K., Hayase, J. and Srinivasa, S. (2022). Git Re-Basin: merging
    models modulo permutation symmetries. arXiv:2209.04836.
    """
    from scipy.optimize import linear_sum_assignment

    if layout is not None:
        match = weight_matching(_canonical(params_a, layout), _canonical(params_b, layout),
                                key=key, max_iters=max_iters, start=start)
        return match._replace(params=_restore(params_b, match.params, layout))
    if max_iters < 1:
        raise ValueError(f"max_iters: need at least 1, got {max_iters}")
    if start not in ("forward", "identity"):
        raise ValueError(f"start: must be 'forward' or 'identity', got {start!r}")
    sizes_a, sizes_b = check_dense_layers(params_a), check_dense_layers(params_b)
    if sizes_a != sizes_b:
        raise ValueError(f"params_b: layer sizes {sizes_b} differ from params_a {sizes_a}")
    if ("b" in params_a[0]) != ("b" in params_b[0]) or any(
        set(la) != set(lb) for la, lb in zip(params_a, params_b, strict=True)
    ):
        raise ValueError("params_b: biases present in one network and not the other")
    to_np = lambda tree: jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), tree)
    a, b = to_np(list(params_a)), to_np(list(params_b))
    num_hidden = len(sizes_a) - 2
    identity = [np.arange(w) for w in sizes_a[1:-1]]
    if start == "forward":
        perms = list(identity)
        for k in range(num_hidden):
            perms[k] = linear_sum_assignment(_incoming_cost(k, a, b, perms), maximize=True)[1]
        perms, num_iters, converged = _ascent(a, b, perms, key, max_iters)
        if _objective(a, b, perms) < _objective(a, b, identity):
            perms, num_iters, converged = _ascent(a, b, identity, key, max_iters)
    else:
        perms, num_iters, converged = _ascent(a, b, identity, key, max_iters)
    aligned = apply_permutation(params_b, [jnp.asarray(p) for p in perms])
    return WeightMatching(aligned, tuple(perms), _objective(a, b, perms), num_iters, converged)


def _objective(a, b, perms) -> float:
    """``sum_l <a_l, P(b)_l>`` over weights and biases, in numpy."""
    total = 0.0
    for i, (la, lb) in enumerate(zip(a, b, strict=True)):
        w = lb["w"]
        if i > 0:
            w = w[perms[i - 1], :]
        if i < len(a) - 1:
            w = w[:, perms[i]]
        total += float(np.vdot(la["w"], w))
        if "b" in la:
            total += float(np.vdot(la["b"], lb["b"] if i == len(a) - 1 else lb["b"][perms[i]]))
    return total


def _ascent(a, b, perms, key, max_iters):
    """Coordinate ascent over the layers' permutations from ``perms``; returns
    ``(perms, passes, converged)``."""
    from scipy.optimize import linear_sum_assignment

    perms = list(perms)
    num_hidden = len(perms)
    if num_hidden == 0:
        return perms, 0, True
    for it in range(max_iters):
        changed = False
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, it), num_hidden))
        for k in order.tolist():
            cost = _layer_cost(k, a, b, perms)
            rows = np.arange(len(perms[k]))
            old = cost[rows, perms[k]].sum()
            _, cols = linear_sum_assignment(cost, maximize=True)
            new = cost[rows, cols].sum()
            # Accept only a strict improvement beyond rounding, so ties cannot cycle.
            if new > old + 1e-12 * max(abs(old), 1.0):
                perms[k] = cols
                changed = True
        if not changed:
            return perms, it + 1, True
    return perms, max_iters, False

