"""Losses, metrics and the ``loss(params, batch)`` functions everything else uses.

A loss built by :func:`make_loss` is a pure function of a parameter pytree and a
:class:`~landscape.data.Batch`; it is the mean over the batch (plus an optional
L2 penalty), so that the Hessian of a data set is the mean of per-batch
Hessians.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from landscape.data import Batch

PyTree = Any

__all__ = ["LOSSES", "accuracy", "cross_entropy", "l2_penalty", "make_loss", "make_metrics", "mse"]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of ``logits`` (n, classes) against integer ``labels`` (n,)."""
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"labels: expected shape ({logits.shape[0]},) integer labels for logits of shape "
            f"{logits.shape}, got {labels.shape}"
        )
    log_probs = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32), axis=1))


def mse(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """Half the mean over examples of the squared error summed over outputs."""
    targets = targets.reshape(predictions.shape) if targets.size == predictions.size else targets
    if predictions.shape != targets.shape:
        raise ValueError(
            f"targets: shape {targets.shape} does not match predictions {predictions.shape}"
        )
    return 0.5 * jnp.mean(
        jnp.sum((predictions - targets) ** 2, axis=tuple(range(1, predictions.ndim)))
    )


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of examples whose largest logit is the label."""
    predicted = jnp.argmax(logits, axis=-1)
    return jnp.mean((predicted == labels.astype(predicted.dtype)).astype(logits.dtype))


def l2_penalty(params: PyTree) -> jax.Array:
    """Half the squared Euclidean norm of all parameters, ``0.5 * |theta|^2``."""
    return 0.5 * sum(jnp.sum(jnp.square(p)) for p in jax.tree_util.tree_leaves(params))


LOSSES: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "cross_entropy": cross_entropy,
    "mse": mse,
}


def get_loss(name: str):
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"loss: unknown loss {name!r}; choose one of {sorted(LOSSES)}") from None


def make_loss(
    apply: Callable[..., jax.Array], *, loss: str = "cross_entropy", l2: float = 0.0
) -> Callable[..., jax.Array]:
    """``loss(params, batch, *, key=None)``: the mean loss of ``apply`` on a batch.

    Parameters
    ----------
    apply : callable
        ``apply(params, x, *, key=None)``, e.g. ``Model.apply``.
    loss : {"cross_entropy", "mse"}
    l2 : float
        Coefficient of :func:`l2_penalty` added to the loss.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from landscape import models, data
    >>> model = models.mlp(2, (8,), 2)
    >>> loss_fn = make_loss(model.apply)
    >>> batch = data.Batch(jnp.ones((4, 2)), jnp.array([0, 1, 0, 1]))
    >>> float(loss_fn(model.init(jax.random.key(0)), batch)) > 0
    True
    """
    base = get_loss(loss)
    if l2 < 0:
        raise ValueError(f"l2: must be non-negative, got {l2}")

    def loss_fn(params, batch: Batch, *, key=None):
        value = base(apply(params, batch.x, key=key), batch.y)
        if l2:
            value = value + l2 * l2_penalty(params)
        return value

    return loss_fn


def make_metrics(apply: Callable[..., jax.Array], *, loss: str = "cross_entropy"):
    """``metrics(params, batch) -> {"loss": ..., "accuracy": ...}`` (accuracy only for
    classification), without any penalty: what a report calls the loss."""
    base = get_loss(loss)

    def metrics(params, batch: Batch):
        out = apply(params, batch.x)
        result = {"loss": base(out, batch.y)}
        if loss == "cross_entropy":
            result["accuracy"] = accuracy(out, batch.y)
        return result

    return metrics
