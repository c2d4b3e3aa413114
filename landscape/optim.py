"""Learning-rate schedules and optimizers from plain values, on :mod:`optax`.

An optimizer is ``chain(direction, add_decayed_weights(weight_decay),
scale_by_learning_rate(lr_t))`` inside :func:`optax.inject_hyperparams`, so the
learning rate of step ``t`` comes from a schedule, sits in the optimizer state
(``opt_state.hyperparams["learning_rate"]``, cast to the parameters' dtype) and
may be a traced value (a learning-rate sweep in one compiled program).

Examples
--------
>>> import jax.numpy as jnp
>>> lr = make_schedule(1.0, schedule="step", num_steps=30, decay_every=10, decay_rate=0.5)
>>> [float(lr(c)) for c in (0, 9, 10, 25)]
[1.0, 1.0, 0.5, 0.25]
>>> opt = make_optimizer("momentum", lr, momentum=0.9)
>>> params = {"w": jnp.ones(3)}
>>> state = opt.init(params)
>>> float(state.hyperparams["learning_rate"])
1.0

References
----------
Loshchilov, I. & Hutter, F. (2017). SGDR: stochastic gradient descent with warm restarts. ICLR.
Loshchilov, I. & Hutter, F. (2019). Decoupled weight decay regularization. ICLR.
Kingma, D. P. & Ba, J. (2015). Adam: a method for stochastic optimization. ICLR.
Sutskever, I. et al. (2013). On the importance of initialization and momentum in
deep learning. ICML.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

Array = jax.Array

__all__ = ["OPTIMIZERS", "SCHEDULES", "check_settings", "make_optimizer", "make_schedule"]

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "warmup_cosine")


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def check_settings(
    *,
    optimizer: str = "sgd",
    schedule: str = "constant",
    num_steps: int | None = None,
    warmup_steps: int = 0,
    decay_rate: float = 0.1,
    decay_every: int | None = None,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
) -> None:
    """Raise a ``ValueError`` naming the first bad setting (the checks
    :func:`make_schedule`, :func:`make_optimizer` and ``TrainConfig`` share)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer: unknown optimizer {optimizer!r}; choose one of {list(OPTIMIZERS)}"
        )
    if schedule not in SCHEDULES:
        raise ValueError(
            f"schedule: unknown schedule {schedule!r}; choose one of {list(SCHEDULES)}"
        )
    if num_steps is not None and (not _is_int(num_steps) or num_steps < 1):
        raise ValueError(f"num_steps: must be a positive integer, got {num_steps!r}")
    if schedule in ("cosine", "warmup_cosine") and num_steps is None:
        raise ValueError(f"num_steps: schedule={schedule!r} needs the number of steps")
    upper = num_steps if num_steps is not None else math.inf
    if not _is_int(warmup_steps) or not 0 <= warmup_steps < upper:
        raise ValueError(
            f"warmup_steps: must be an integer in [0, num_steps={num_steps}), got {warmup_steps!r}"
        )
    if schedule == "warmup_cosine" and warmup_steps == 0:
        raise ValueError(
            "warmup_steps: schedule='warmup_cosine' needs warmup_steps >= 1 "
            "(use schedule='cosine' for no warm-up)"
        )
    if schedule == "step" and decay_every is None:
        raise ValueError("decay_every: schedule='step' needs decay_every (steps between decays)")
    if decay_every is not None and (not _is_int(decay_every) or decay_every < 1):
        raise ValueError(f"decay_every: must be a positive integer, got {decay_every!r}")
    if not _is_real(decay_rate) or not 0 < decay_rate <= 1:
        raise ValueError(f"decay_rate: must be in (0, 1], got {decay_rate!r}")
    if not _is_real(momentum) or not 0 <= momentum < 1:
        raise ValueError(f"momentum: must be in [0, 1), got {momentum!r}")
    if not _is_real(weight_decay) or not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(
            f"weight_decay: must be a non-negative finite number, got {weight_decay!r}"
        )


def make_schedule(
    learning_rate,
    *,
    schedule: str = "constant",
    num_steps: int | None = None,
    warmup_steps: int = 0,
    decay_rate: float = 0.1,
    decay_every: int | None = None,
) -> Callable[[Array], Array]:
    """The learning rate at step ``count``: ``schedule(count) -> lr_t``.

    With ``w = warmup_steps`` and ``T = num_steps``: a linear warm-up
    ``lr * (count + 1) / w`` for ``count < w``, then, with ``c = count - w``:

    - ``constant``: ``lr``;
    - ``step``: ``lr * decay_rate ** floor(c / decay_every)``;
    - ``cosine`` / ``warmup_cosine``: ``lr * (1 + cos(pi * c / (T - w))) / 2``,
      which reaches 0 at the last step (Loshchilov & Hutter 2017).

    ``learning_rate`` may be a traced scalar. Values are computed in JAX's
    default float dtype.

    Examples
    --------
    >>> cosine = make_schedule(0.1, schedule="cosine", num_steps=10)
    >>> [round(float(cosine(c)), 4) for c in (0, 5, 10)]
    [0.1, 0.05, 0.0]
    """
    check_settings(schedule=schedule, num_steps=num_steps, warmup_steps=warmup_steps,
                   decay_rate=decay_rate, decay_every=decay_every)

    def fn(count):
        dtype = jnp.result_type(float)
        count = jnp.asarray(count).astype(dtype)
        lr = jnp.asarray(learning_rate).astype(dtype)
        w = warmup_steps
        c = count - w
        if schedule == "constant":
            factor = jnp.ones_like(count)
        elif schedule == "step":
            factor = jnp.asarray(decay_rate, dtype) ** jnp.floor(jnp.maximum(c, 0) / decay_every)
        else:  # cosine, warmup_cosine
            frac = jnp.clip(c / (num_steps - w), 0, 1)
            factor = 0.5 * (1 + jnp.cos(jnp.asarray(math.pi, dtype) * frac))
        if w:
            factor = jnp.where(count < w, (count + 1) / w, factor)
        return lr * factor

    return fn


def _direction(optimizer: str, momentum: float) -> optax.GradientTransformation:
    if optimizer == "sgd":
        return optax.identity()
    if optimizer in ("momentum", "nesterov"):
        return optax.trace(decay=momentum, nesterov=optimizer == "nesterov")
    if optimizer in ("adam", "adamw"):
        return optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)
    return optax.scale_by_rms(decay=0.9, eps=1e-8)  # rmsprop


def _transform(learning_rate, optimizer, momentum, weight_decay) -> optax.GradientTransformation:
    parts = [_direction(optimizer, momentum)]
    if weight_decay:
        parts.append(optax.add_decayed_weights(weight_decay))
    parts.append(optax.scale_by_learning_rate(learning_rate))
    return optax.chain(*parts)


def make_optimizer(
    optimizer: str,
    learning_rate: float | Callable[[Array], Array],
    *,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    dtype=None,
) -> optax.GradientTransformation:
    """An optax optimizer: direction, decoupled weight decay, learning rate.

    ``chain(direction, add_decayed_weights(weight_decay), scale(-lr_t))`` where the
    direction is ``identity`` (sgd), ``trace`` (momentum, nesterov),
    ``scale_by_adam`` (adam, adamw; 0.9, 0.999, 1e-8) or ``scale_by_rms``
    (rmsprop; decay 0.9, eps 1e-8). Numerically this is ``optax.sgd``,
    ``optax.sgd(momentum=...)``, ``optax.adam``, ``optax.adamw`` and
    ``optax.rmsprop``. For ``sgd``, decoupled weight decay equals an L2 penalty
    of ``weight_decay``.

    Parameters
    ----------
    optimizer : {"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"}
    learning_rate : float or callable
        A constant, or a schedule ``lr(count)`` (:func:`make_schedule`); held in
        ``opt_state.hyperparams["learning_rate"]`` through
        :func:`optax.inject_hyperparams`.
    momentum : float
        For ``momentum`` and ``nesterov``, in [0, 1).
    weight_decay : float
        Decoupled weight decay (Loshchilov & Hutter 2019), >= 0.
    dtype : dtype, optional
        The dtype the learning rate is cast to (``hyperparam_dtype`` of
        :func:`optax.inject_hyperparams`; default: optax's choice from the
        parameters). Pass the parameters' dtype to keep float32 parameters
        float32 when 64-bit mode is on.

    Notes
    -----
    Some optax transformations mix integer and float scalars; under
    ``jax_numpy_dtype_promotion="strict"`` call ``init`` and ``update`` inside
    ``jax.numpy_dtype_promotion("standard")``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> opt = make_optimizer("sgd", 0.5, weight_decay=0.1)
    >>> params = {"w": jnp.array([1.0, 2.0])}
    >>> updates, _ = opt.update({"w": jnp.array([1.0, 1.0])}, opt.init(params), params)
    >>> [round(float(u), 4) for u in updates["w"]]
    [-0.55, -0.6]
    """
    check_settings(optimizer=optimizer, momentum=momentum, weight_decay=weight_decay)
    if not callable(learning_rate) and not (
        isinstance(learning_rate, jax.Array)
        or (_is_real(learning_rate) and math.isfinite(learning_rate) and learning_rate > 0)
    ):
        raise ValueError(
            f"learning_rate: must be a positive finite number or a schedule, got {learning_rate!r}"
        )
    injected = optax.inject_hyperparams(
        _transform, static_args=("optimizer", "momentum", "weight_decay"), hyperparam_dtype=dtype
    )
    return injected(learning_rate=learning_rate, optimizer=optimizer, momentum=float(momentum),
                    weight_decay=float(weight_decay))

