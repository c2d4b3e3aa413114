"""The settings and the results of a training run of :mod:`landscape.train`.

:class:`TrainConfig` fixes everything of a run but the problem and the key
(optimizer, learning rate and schedule, steps, batch size, penalties, evaluation
interval); :class:`Curves` are its measurements at the evaluation points and
:class:`TrainResult` what :func:`landscape.train.train` and
:func:`landscape.train.train_seeds` return. All three are importable from
:mod:`landscape.train`.

Examples
--------
>>> config = TrainConfig(num_steps=250, eval_every=100)
>>> config.eval_steps.tolist()
[0, 100, 200, 250]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from landscape import optim

PyTree = Any
Array = jax.Array

__all__ = ["Curves", "TrainConfig", "TrainResult"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that fixes a training run except the problem (network, data, loss) and
    the key.

    Attributes
    ----------
    optimizer : {"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"}
        ``momentum`` / ``nesterov`` use the ``momentum`` coefficient; ``adam`` and
        ``adamw`` use (0.9, 0.999, 1e-8); ``rmsprop`` uses decay 0.9, eps 1e-8.
    learning_rate : float
        Peak learning rate, > 0.
    num_steps : int
        Optimizer steps, >= 1.
    batch_size : int or None
        ``None`` for full-batch training; otherwise minibatches drawn without
        replacement within each epoch (:func:`landscape.data.batch_indices`).
    schedule : {"constant", "step", "cosine", "warmup_cosine"}
        Learning-rate schedule over ``num_steps`` (see
        :func:`landscape.optim.make_schedule`).
    warmup_steps : int
        Linear warm-up steps before the schedule (required by ``warmup_cosine``,
        allowed with every schedule).
    decay_rate, decay_every : float, int
        Step decay: the rate is multiplied by ``decay_rate`` every ``decay_every``
        steps (``decay_every`` is required by ``schedule="step"``).
    momentum : float
        Momentum coefficient in [0, 1) for ``momentum`` and ``nesterov``.
    weight_decay : float
        Decoupled weight decay (Loshchilov & Hutter 2019): the update is
        ``-lr_t * (direction + weight_decay * params)`` for every optimizer; for
        ``sgd`` it equals an L2 penalty of ``weight_decay``.
    l2 : float
        Coefficient of ``0.5 * |params|^2`` added to the training loss.
    eval_every : int
        Curves are recorded every ``eval_every`` steps, at step 0 and at the end.
    divergence_factor : float
        A run diverges when its training loss is not finite or exceeds
        ``divergence_factor`` times its initial training loss (> 1; ``inf``
        keeps only the finiteness check).
    record_params : bool
        Store the flat parameters at every evaluation point (the trajectory).
    """

    optimizer: str = "sgd"
    learning_rate: float = 0.1
    num_steps: int = 1000
    batch_size: int | None = None
    schedule: str = "constant"
    warmup_steps: int = 0
    decay_rate: float = 0.1
    decay_every: int | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    l2: float = 0.0
    eval_every: int = 100
    divergence_factor: float = 1e3
    record_params: bool = False

    def __post_init__(self):
        optim.check_settings(
            optimizer=self.optimizer, schedule=self.schedule, num_steps=self.num_steps,
            warmup_steps=self.warmup_steps, decay_rate=self.decay_rate,
            decay_every=self.decay_every, momentum=self.momentum, weight_decay=self.weight_decay,
        )
        if not optim._is_real(self.learning_rate) or not (
            math.isfinite(self.learning_rate) and self.learning_rate > 0
        ):
            raise ValueError(
                f"learning_rate: must be a positive finite number, got {self.learning_rate!r}"
            )
        if self.batch_size is not None and (
            not optim._is_int(self.batch_size) or self.batch_size < 1
        ):
            raise ValueError(
                f"batch_size: must be a positive integer or None (full batch), "
                f"got {self.batch_size!r}"
            )
        if not optim._is_int(self.eval_every) or self.eval_every < 1:
            raise ValueError(f"eval_every: must be a positive integer, got {self.eval_every!r}")
        if not optim._is_real(self.l2) or not (math.isfinite(self.l2) and self.l2 >= 0):
            raise ValueError(f"l2: must be a non-negative finite number, got {self.l2!r}")
        if not optim._is_real(self.divergence_factor) or not self.divergence_factor > 1:
            raise ValueError(
                f"divergence_factor: must be > 1 (inf to check finiteness only), "
                f"got {self.divergence_factor!r}"
            )
        if not isinstance(self.record_params, bool | np.bool_):
            raise ValueError(f"record_params: must be a bool, got {self.record_params!r}")

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def make_schedule(self, learning_rate=None) -> Callable[[Array], Array]:
        """The learning-rate schedule of this config (:func:`landscape.optim.make_schedule`),
        peaking at ``learning_rate`` (default :attr:`learning_rate`; may be traced).

        Examples
        --------
        >>> lr = TrainConfig(learning_rate=1.0, schedule="step", decay_every=10,
        ...                  decay_rate=0.5).make_schedule()
        >>> [float(lr(c)) for c in (0, 9, 10, 25)]
        [1.0, 1.0, 0.5, 0.25]
        """
        return optim.make_schedule(
            self.learning_rate if learning_rate is None else learning_rate,
            schedule=self.schedule, num_steps=self.num_steps, warmup_steps=self.warmup_steps,
            decay_rate=self.decay_rate, decay_every=self.decay_every,
        )

    def make_optimizer(self, learning_rate=None, *, dtype=None) -> optax.GradientTransformation:
        """The optax optimizer of this config (:func:`landscape.optim.make_optimizer` with
        :meth:`make_schedule`), peaking at ``learning_rate`` (default :attr:`learning_rate`),
        with the learning rate held in ``dtype`` (default: optax's choice).

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> opt = TrainConfig(learning_rate=0.5, weight_decay=0.1).make_optimizer()
        >>> params = {"w": jnp.array([1.0, 2.0])}
        >>> updates, _ = opt.update({"w": jnp.array([1.0, 1.0])}, opt.init(params), params)
        >>> [round(float(u), 4) for u in updates["w"]]
        [-0.55, -0.6]
        """
        return optim.make_optimizer(
            self.optimizer, self.make_schedule(learning_rate), momentum=self.momentum,
            weight_decay=self.weight_decay, dtype=dtype,
        )

    @property
    def num_evals(self) -> int:
        """Number of evaluation points ``E``: step 0, every ``eval_every`` steps, the end."""
        return 1 + -(-self.num_steps // self.eval_every)

    @property
    def eval_steps(self) -> np.ndarray:
        """The steps at which curves are recorded, shape ``(E,)``."""
        chunks = np.arange(1, self.num_evals, dtype=np.int64) * self.eval_every
        return np.concatenate([[0], np.minimum(chunks, self.num_steps)]).astype(np.int32)


class Curves(NamedTuple):
    """Training curves at ``E`` evaluation points.

    From :func:`landscape.train.train_seeds` every field but ``step`` has a leading ``(S,)`` axis.
    Accuracies are NaN for regression; validation entries are NaN when the data
    set has no validation split.
    """

    step: Array  # (E,) int32, steps taken before the evaluation
    train_loss: Array  # (E,) or (S, E): full training-set loss, without the l2 penalty
    val_loss: Array  # (E,) or (S, E)
    val_accuracy: Array  # (E,) or (S, E)
    train_accuracy: Array  # (E,) or (S, E)
    grad_norm: Array  # (E,) or (S, E): |grad| of the full-batch training objective (with l2)


class TrainResult(NamedTuple):
    """What a run returns; from :func:`landscape.train.train_seeds` every field has a
    leading ``(S,)`` axis (except ``curves.step``).

    A run that diverged keeps the parameters at which the bad loss was measured
    (step ``diverged_step``, i.e. after ``diverged_step`` updates): the update that
    would have followed is refused, so no non-finite update ever reaches them, and
    its later curve points all repeat the values at those parameters."""

    params: PyTree  # final parameters; if diverged, those at diverged_step (see below)
    init_params: PyTree  # parameters at step 0
    curves: Curves
    diverged: Array  # () or (S,) bool
    diverged_step: Array  # () or (S,) int32: step at which divergence was detected, -1 if none
    trajectory: Array | None  # (E, n) or (S, E, n) flat params at eval points, if record_params
    state: PyTree = None  # final model state (seed-stacked); None for a stateless problem
