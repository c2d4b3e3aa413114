"""Models as ``(init, apply)`` pairs of pure functions over pytrees.

A model is a :class:`Model`: ``params = model.init(key)`` and
``outputs = model.apply(params, x)``. Parameters are plain pytrees (lists of
dicts of arrays), so any JAX transformation applies and any other framework's
model reduces to the same shape once written as ``loss(params, batch)``.

Dropout is part of ``apply``: ``model.apply(params, x, key=k)`` drops units with
the model's ``dropout`` rate; without ``key`` the model is deterministic
(evaluation mode). No key is ever made up on the caller's behalf.

Examples
--------
>>> import jax
>>> model = mlp(40, (100, 100), 10, activation="relu")
>>> params = model.init(jax.random.key(0))
>>> num_params(params)
15210
>>> model.apply(params, jax.numpy.ones((3, 40))).shape
(3, 10)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

PyTree = Any
Array = jax.Array

__all__ = [
    "ACTIVATIONS",
    "INITIALISERS",
    "Model",
    "cnn1d",
    "deep_linear",
    "get_activation",
    "get_initialiser",
    "mlp",
    "num_params",
]


class Model(NamedTuple):
    """A model as two pure functions.

    Attributes
    ----------
    init : callable
        ``init(key) -> params``.
    apply : callable
        ``apply(params, x, *, key=None) -> outputs``; ``x`` has a leading batch axis.
        With ``key`` given, dropout (if the model has any) is active.
    name : str
        A short human-readable description, used in configs and reports.
    """

    init: Callable[[Array], PyTree]
    apply: Callable[..., Array]
    name: str


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
    "elu": jax.nn.elu,
    "softplus": jax.nn.softplus,
    "identity": lambda x: x,
}


def get_activation(name: str) -> Callable[[Array], Array]:
    """The activation function called ``name`` (one of :data:`ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"activation: unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}"
        ) from None


def _variance_scaling(scale: float, mode: str, distribution: str):
    def init(key, shape, fan_in, fan_out, dtype):
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / fan
        if distribution == "normal":
            return math.sqrt(variance) * jax.random.normal(key, shape, dtype)
        limit = math.sqrt(3.0 * variance)
        return jax.random.uniform(key, shape, dtype, -limit, limit)

    return init


INITIALISERS = {
    "glorot_normal": _variance_scaling(1.0, "fan_avg", "normal"),
    "glorot_uniform": _variance_scaling(1.0, "fan_avg", "uniform"),
    "he": _variance_scaling(2.0, "fan_in", "normal"),
    "he_uniform": _variance_scaling(2.0, "fan_in", "uniform"),
    "lecun": _variance_scaling(1.0, "fan_in", "normal"),
}


def get_initialiser(name: str):
    """Weight initialiser ``init(key, shape, fan_in, fan_out, dtype)``.

    ``name`` is one of ``glorot_normal``, ``glorot_uniform``, ``he``, ``he_uniform``,
    ``lecun``, ``zeros``, ``normal(s)`` (gaussian with standard deviation ``s``) or
    ``constant(c)``.
    """
    if name in INITIALISERS:
        return INITIALISERS[name]
    if name == "zeros":
        return lambda key, shape, fan_in, fan_out, dtype: jnp.zeros(shape, dtype)
    for prefix in ("normal(", "constant("):
        if name.startswith(prefix) and name.endswith(")"):
            try:
                value = float(name[len(prefix) : -1])
            except ValueError:
                break
            if prefix == "normal(":
                return lambda key, shape, fan_in, fan_out, dtype: (
                    value * jax.random.normal(key, shape, dtype)
                )
            return lambda key, shape, fan_in, fan_out, dtype: jnp.full(shape, value, dtype)
    raise ValueError(
        f"init: unknown initialiser {name!r}; choose one of "
        f"{sorted(INITIALISERS) + ['zeros', 'normal(s)', 'constant(c)']}"
    )


def _check_sizes(field: str, sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(int(s) for s in sizes)
    if any(s <= 0 for s in sizes):
        raise ValueError(f"{field}: sizes must be positive, got {sizes}")
    return sizes


def _dropout(x, rate, key):
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def mlp(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    *,
    activation: str = "relu",
    init: str = "glorot_normal",
    bias: bool = True,
    dropout: float = 0.0,
    dtype=None,
) -> Model:
    """A fully connected network ``in_dim -> hidden... -> out_dim``.

    Parameters
    ----------
    in_dim, out_dim : int
        Input features and outputs (logits for classification).
    hidden : sequence of int
        Widths of the hidden layers; its length is the depth. ``()`` gives a
        linear model.
    activation : str
        One of :data:`ACTIVATIONS`, applied after every hidden layer.
    init : str
        Weight initialiser (see :func:`get_initialiser`); biases start at zero.
    bias : bool
        Whether the layers have biases.
    dropout : float
        Dropout rate after every hidden activation, active only when ``apply``
        receives a key.

    Returns
    -------
    Model
        ``params`` is a list of ``{"w": (fan_in, fan_out), "b": (fan_out,)}``.
    """
    (in_dim, out_dim) = _check_sizes("in_dim/out_dim", (in_dim, out_dim))
    hidden = _check_sizes("hidden", hidden)
    act = get_activation(activation)
    w_init = get_initialiser(init)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {dropout}")
    sizes = (in_dim, *hidden, out_dim)
    dtype = dtype or jnp.result_type(float)

    def init_fn(key):
        keys = jax.random.split(key, len(sizes) - 1)
        layers = []
        for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:], strict=True):
            layer = {"w": w_init(k, (fan_in, fan_out), fan_in, fan_out, dtype)}
            if bias:
                layer["b"] = jnp.zeros((fan_out,), dtype)
            layers.append(layer)
        return layers

    def apply_fn(params, x, *, key=None):
        if x.shape[-1] != in_dim:
            raise ValueError(f"x: expected {in_dim} input features, got shape {x.shape}")
        x = x.reshape(x.shape[0], -1) if x.ndim > 2 else x
        drop_keys = None
        if key is not None and dropout > 0:
            drop_keys = jax.random.split(key, len(params) - 1)
        for i, layer in enumerate(params):
            x = x @ layer["w"]
            if "b" in layer:
                x = x + layer["b"][None, :]
            if i < len(params) - 1:
                x = act(x)
                if drop_keys is not None:
                    x = _dropout(x, dropout, drop_keys[i])
        return x

    name = (
        f"mlp({in_dim}-{'-'.join(map(str, hidden))}{'-' if hidden else ''}{out_dim}, {activation})"
    )
    return Model(init_fn, apply_fn, name)


def deep_linear(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    *,
    init: str = "glorot_normal",
) -> Model:
    """A deep linear network ``y = W_L ... W_1 x`` (no biases, identity activations).

    The loss landscape of such a network under squared loss has closed-form
    critical points (Baldi & Hornik 1989; Kawaguchi 2016), which makes it a
    reference problem for curvature and critical-point code.
    """
    base = mlp(in_dim, hidden, out_dim, activation="identity", init=init, bias=False)
    name = f"deep_linear({in_dim}-{'-'.join(map(str, hidden))}-{out_dim})"
    return base._replace(name=name)


def cnn1d(
    length: int,
    out_dim: int,
    *,
    channels: Sequence[int] = (25, 25, 25),
    kernel_size: int = 5,
    stride: int = 2,
    activation: str = "relu",
    init: str = "he",
    dtype=None,
) -> Model:
    """A small 1-D convolutional network for sequences such as mnist1d.

    Convolutions (``channels``, ``kernel_size``, ``stride``, 'SAME' padding) with an
    activation after each, flattened into one dense output layer. The default is
    the 3-layer network of the mnist1d paper (Greydanus 2020).

    ``params`` is a list of ``{"w": (kernel, in_ch, out_ch), "b": (out_ch,)}`` for
    the convolutions followed by ``{"w": (features, out_dim), "b": (out_dim,)}``.
    """
    (length, out_dim, kernel_size, stride) = _check_sizes(
        "length/out_dim/kernel_size/stride", (length, out_dim, kernel_size, stride)
    )
    channels = _check_sizes("channels", channels)
    act = get_activation(activation)
    w_init = get_initialiser(init)
    dtype = dtype or jnp.result_type(float)
    out_length = length
    for _ in channels:
        out_length = -(-out_length // stride)
    features = out_length * channels[-1]

    def init_fn(key):
        keys = jax.random.split(key, len(channels) + 1)
        params, in_ch = [], 1
        for k, out_ch in zip(keys[:-1], channels, strict=True):
            fan_in, fan_out = kernel_size * in_ch, kernel_size * out_ch
            params.append(
                {
                    "w": w_init(k, (kernel_size, in_ch, out_ch), fan_in, fan_out, dtype),
                    "b": jnp.zeros((out_ch,), dtype),
                }
            )
            in_ch = out_ch
        params.append(
            {
                "w": w_init(keys[-1], (features, out_dim), features, out_dim, dtype),
                "b": jnp.zeros((out_dim,), dtype),
            }
        )
        return params

    def apply_fn(params, x, *, key=None):
        del key  # no dropout in this model
        if x.ndim != 2 or x.shape[1] != length:
            raise ValueError(f"x: expected shape (batch, {length}), got {x.shape}")
        h = x[:, :, None]  # (batch, length, channels)
        for layer in params[:-1]:
            h = jax.lax.conv_general_dilated(
                h,
                layer["w"],
                window_strides=(stride,),
                padding="SAME",
                dimension_numbers=("NWC", "WIO", "NWC"),
            )
            h = act(h + layer["b"][None, None, :])
        h = h.reshape(h.shape[0], -1)
        return h @ params[-1]["w"] + params[-1]["b"][None, :]

    name = f"cnn1d({length}, channels={list(channels)}, k={kernel_size}, {activation})"
    return Model(init_fn, apply_fn, name)


def num_params(params: PyTree) -> int:
    """Total number of scalar parameters in a pytree."""
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(params))
