"""Batch-size study: steps, examples and wall time to a target, against the gradient noise scale.

The claims it checks (FAQ_CLAIMS.md, C11): bigger minibatches mean less gradient
noise but more cost per step; too-big batches waste examples; SGD's step cost does
not grow with the data set while full-batch gradient descent's does.

For batch sizes ``B`` in powers of two from a stated small size up to the full
training set (:meth:`BatchSizeConfig.batch_sizes`), and for each ``B`` a small grid
of learning rates, ``num_seeds`` seeds are trained at once
(:func:`landscape.train.train_seeds`) with a constant learning rate until a step
budget, and from their curves:

* **steps to target** ``S``: the first step at which the stated metric (training
  loss at most ``target``, or validation accuracy at least ``target``) is reached,
  interpolated between evaluation points (in log loss, or linearly in accuracy);
  **examples to target** ``E = S B``;
* the **learning rate per batch size** (``lr_policy="grid"``, the default): the
  grid is ``center(B) * lr_factors`` with ``center(B) = base_lr * sqrt(B / base_batch)``;
  the chosen rate is the one with the fewest steps to target (median over seeds),
  as Shallue et al. (2019) tune each batch size for steps to a goal; ties, and batch
  sizes where no rate reaches the target, go to the lowest median final validation
  loss. While the chosen rate is the largest (smallest) tried, the next rate beyond
  it is tried too (up to ``lr_extensions`` per side), so that the optimum is
  bracketed; a chosen rate still at an end of the rates tried is flagged
  (``lr_at_edge``).
  ``"linear"`` and ``"sqrt"`` use one rate, ``base_lr * (B / base_batch)`` or
  ``base_lr * sqrt(B / base_batch)``, capped at ``max_lr``;
* the **wall time per step** on this machine at each ``B`` (one run, steady state:
  compile excluded, ``block_until_ready``, the least of several repeats, which
  is robust to other processes on the machine; the median is kept too; see
  :func:`measure_step_time`), and so the **wall time to target** ``S * t_step``,
  whose minimum over ``B`` is reported;
* the **fitted trade-off** ``S = S_min (1 + B_crit / B)``,
  ``E = E_min (1 + B / B_crit)`` (McCandlish et al. 2018;
  :func:`landscape.noise.fit_tradeoff`) to the medians at the chosen rates;
* the **gradient noise scale** at stated points of training: a reference run (batch
  size ``noise_batch`` at its chosen rate, first seed) is retrained to its steps to
  target and, at fractions ``0, 1/(k-1), ..., 1`` of those steps
  (``k = noise_points``), ``B_simple`` (per-example, all training examples and the
  two-batch estimator), ``B_noise = tr(H Sigma) / G^T H G`` (Hessian-vector
  products on ``noise_samples`` sampled examples) are measured on the training set
  (:mod:`landscape.noise`, the ``"dataset"`` view);
* the **step time against the data-set size** ``n`` (the training set tiled to ``n``
  examples) for minibatches of ``size_batch`` and for the full batch.

Diverged runs (:mod:`landscape.train`: non-finite loss or a loss above
``divergence_factor`` times the initial one) are recorded and count as not reaching
the target; the sweep goes on. Each batch size and rate (all its seeds), the step
times at all batch sizes (measured in turn, so that load from other processes falls
on all alike), the step times at all data-set sizes, and the noise-scale run are
cells of :func:`landscape.results.run_sweep`, so an interrupted sweep resumes where
it stopped.

The run directory holds ``config.json``, ``runs.csv`` (one row per batch size,
learning rate and seed), ``batch_sizes.csv`` (one row per batch size, at its chosen
rate), ``noise.csv`` (one row per point of training), ``dataset_sizes.csv``,
``summary.json`` (:func:`summarize` of the tables, timings, info), ``arrays.npz``
(curves at the chosen rates) and ``cells/``. :func:`load` reads it back.

Examples
--------
>>> config = BatchSizeConfig.profile("quick", min_batch_size=16, batch_factor=8,
...                                  num_seeds=2, lr_factors=(0.5, 1.0))
>>> config.batch_sizes(3500)
(16, 128, 1024, 3500)
>>> result = run(config, "runs/batch", progress=False)          # doctest: +SKIP
>>> print(format_summary(result.summary))                        # doctest: +SKIP

References
----------
McCandlish, S., Kaplan, J., Amodei, D. and the OpenAI Dota Team (2018). An empirical
model of large-batch training. arXiv:1812.06162.
Shallue, C. J., Lee, J., Antognini, J., Sohl-Dickstein, J., Frostig, R. and Dahl, G. E.
(2019). Measuring the effects of data parallelism on neural network training. JMLR 20.
Goyal, P. et al. (2017). Accurate, large minibatch SGD: training ImageNet in 1 hour.
arXiv:1706.02677 (linear scaling).
Krizhevsky, A. (2014). One weird trick for parallelizing convolutional neural networks.
arXiv:1404.5997 (square-root scaling).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from landscape import data, models, noise, objectives, train
from landscape.problem import Problem, from_model

__all__ = [
    "LR_POLICIES",
    "PROFILES",
    "TARGET_METRICS",
    "BatchSizeConfig",
    "BatchSizeResult",
    "StepTime",
    "format_summary",
    "learning_rates",
    "load",
    "main",
    "make_dataset",
    "make_model",
    "measure_step_time",
    "measure_step_times",
    "plot",
    "plot_dataset_size",
    "plot_examples",
    "plot_learning_rates",
    "plot_lr_figure",
    "plot_noise_scale",
    "plot_step_time",
    "plot_steps",
    "plot_wall_time",
    "run",
    "select_learning_rates",
    "steps_to_target",
    "summarize",
    "tile_dataset",
]

LR_POLICIES = ("grid", "linear", "sqrt")
TARGET_METRICS = ("train_loss", "val_accuracy")


@dataclasses.dataclass(frozen=True)
class BatchSizeConfig:
    """Everything that fixes a batch-size study.

    Attributes
    ----------
    seed : int
        Master seed; the seeds of every cell are ``split(key(seed), num_seeds)``, so
        each batch size and rate starts from the same initialisations.
    dataset : str
        A name for :func:`landscape.data.load`.
    num_samples : int or None
        Examples generated (all splits), ``None`` for the loader's default.
    standardize : bool
        Standardise inputs with the training mean and std.
    hidden : tuple of int
        Hidden widths of the MLP.
    activation, init : str
        Activation and initialiser of the MLP.
    optimizer : str
        ``"sgd"`` (default), ``"momentum"``, ... (:class:`landscape.train.TrainConfig`).
    momentum : float
    min_batch_size : int
        Smallest batch size.
    batch_factor : int
        Ratio of successive batch sizes, a power of two >= 2. The sizes are
        ``min_batch_size * batch_factor**k`` below the training-set size, then the
        full training set (full-batch gradient descent).
    max_batch_size : int or None
        Leave out batch sizes above this (``None``: up to the full batch).
    num_seeds : int
        Seeds per batch size and rate, trained at once.
    lr_policy : {"grid", "linear", "sqrt"}
        See the module notes.
    base_lr, base_batch : float, int
        The rate ``base_lr`` at batch size ``base_batch`` that centres the grid (with
        square-root scaling) or anchors the linear / square-root rules.
    lr_factors : tuple of float
        Multiples of ``center(B)`` tried first by the grid policy.
    lr_extensions : int
        When the chosen rate is the largest (smallest) tried, the grid policy tries
        the next rate beyond it, one grid ratio further (the ratio of the two largest
        factors), at most this many times on each side (0: a fixed grid).
    max_lr : float or None
        Cap on every rate.
    target_metric : {"train_loss", "val_accuracy"}
    target : float
        Training loss at most ``target``, or validation accuracy at least ``target``.
    min_steps, max_epochs, max_steps : int, float, int
        Step budget at batch size ``B``:
        ``min(max_steps, min_steps + ceil(max_epochs * n / B))`` (``n`` training
        examples), which follows the shape ``S_min + E_min / B`` of the trade-off.
    num_evals : int
        Evaluation points per run (the resolution of the steps to target).
    divergence_factor : float
        See :class:`landscape.train.TrainConfig`.
    timing_steps : int
        Steps per timed call (one ``lax.scan``).
    timing_repeats : int
        Timed repeats; the median is reported.
    timing_min_seconds : float
        Each repeat runs whole calls for at least this long.
    dataset_sizes : tuple of int
        Data-set sizes for the step time of minibatch SGD and full-batch GD.
    size_batch : int
        Minibatch size of that comparison.
    noise_batch : int
        Batch size of the reference run of the noise scale (the listed batch size
        nearest to it is used).
    noise_points : int
        Points of training at which the noise scale is measured (>= 2).
    noise_samples : int
        Examples sampled for ``tr(H Sigma)`` (HVPs over the training set).
    two_batch_sizes : tuple of two int
        ``(B_small, B_big)`` of the two-batch estimator of ``B_simple``.
    two_batch_count : int
        Minibatches drawn at each of the two sizes.
    chunk_size : int
        Per-example gradients computed at once.
    """

    seed: int = 0
    dataset: str = "mnist1d"
    num_samples: int | None = None
    standardize: bool = True
    hidden: tuple[int, ...] = (64,)
    activation: str = "relu"
    init: str = "glorot_normal"
    optimizer: str = "sgd"
    momentum: float = 0.9
    min_batch_size: int = 1
    batch_factor: int = 2
    max_batch_size: int | None = None
    num_seeds: int = 8
    lr_policy: str = "grid"
    base_lr: float = 0.4
    base_batch: int = 64
    lr_factors: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    lr_extensions: int = 3
    max_lr: float | None = None
    target_metric: str = "train_loss"
    target: float = 1.0
    min_steps: int = 600
    max_epochs: float = 15.0
    max_steps: int = 60_000
    num_evals: int = 100
    divergence_factor: float = 1e3
    timing_steps: int = 20
    timing_repeats: int = 7
    timing_min_seconds: float = 0.05
    dataset_sizes: tuple[int, ...] = (250, 500, 1000, 2000, 4000, 8000, 16000)
    size_batch: int = 32
    noise_batch: int = 64
    noise_points: int = 5
    noise_samples: int = 256
    two_batch_sizes: tuple[int, int] = (8, 512)
    two_batch_count: int = 200
    chunk_size: int = 128

    def __post_init__(self):
        for name in ("hidden", "lr_factors", "dataset_sizes", "two_batch_sizes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

        def integer(name, minimum=1, allow_none=False):
            value = getattr(self, name)
            if allow_none and value is None:
                return
            ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
            if not ok or value < minimum:
                raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")

        def positive(name, allow_none=False):
            value = getattr(self, name)
            if allow_none and value is None:
                return
            ok = isinstance(value, int | float | np.integer | np.floating)
            if isinstance(value, bool) or not ok or not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be a positive finite number, got {value!r}")

        for name in ("min_batch_size", "num_seeds", "base_batch", "min_steps", "max_steps",
                     "num_evals", "timing_steps", "timing_repeats", "size_batch",
                     "noise_batch", "noise_samples", "two_batch_count", "chunk_size"):
            integer(name)
        integer("seed", 0)
        integer("lr_extensions", 0)
        integer("batch_factor", 2)
        integer("noise_points", 2)
        integer("num_samples", 1, allow_none=True)
        integer("max_batch_size", 1, allow_none=True)
        for name in ("base_lr", "max_epochs", "timing_min_seconds"):
            positive(name)
        positive("max_lr", allow_none=True)
        if self.batch_factor & (self.batch_factor - 1):
            raise ValueError(f"batch_factor: must be a power of two, got {self.batch_factor}")
        if self.max_steps < self.min_steps:
            raise ValueError(
                f"max_steps: must be at least min_steps ({self.min_steps}), got {self.max_steps}"
            )
        if self.max_batch_size is not None and self.max_batch_size < self.min_batch_size:
            raise ValueError(
                f"max_batch_size: must be at least min_batch_size ({self.min_batch_size}), "
                f"got {self.max_batch_size}"
            )
        if self.lr_policy not in LR_POLICIES:
            raise ValueError(f"lr_policy: choose one of {LR_POLICIES}, got {self.lr_policy!r}")
        if not self.lr_factors or any(
            not isinstance(f, int | float) or not (math.isfinite(f) and f > 0)
            for f in self.lr_factors
        ):
            raise ValueError(f"lr_factors: need positive numbers, got {self.lr_factors}")
        if len(set(self.lr_factors)) != len(self.lr_factors):
            raise ValueError(f"lr_factors: must be distinct, got {self.lr_factors}")
        if self.target_metric not in TARGET_METRICS:
            raise ValueError(
                f"target_metric: choose one of {TARGET_METRICS}, got {self.target_metric!r}"
            )
        positive("target")
        if self.target_metric == "val_accuracy" and not self.target <= 1:
            raise ValueError(f"target: a validation accuracy must be in (0, 1], got {self.target}")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"hidden: need positive integer widths, got {self.hidden}")
        if not self.dataset_sizes or any(
            not isinstance(n, int | np.integer) or n < 2 for n in self.dataset_sizes
        ):
            raise ValueError(f"dataset_sizes: need integers >= 2, got {self.dataset_sizes}")
        small, big = (self.two_batch_sizes + (0, 0))[:2]
        if len(self.two_batch_sizes) != 2 or not 0 < small < big:
            raise ValueError(
                f"two_batch_sizes: need (B_small, B_big) with 0 < B_small < B_big, "
                f"got {self.two_batch_sizes}"
            )
        if self.optimizer not in train.OPTIMIZERS:
            raise ValueError(
                f"optimizer: unknown optimizer {self.optimizer!r}; choose one of "
                f"{list(train.OPTIMIZERS)}"
            )
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum: must be in [0, 1), got {self.momentum}")
        if not self.divergence_factor > 1:
            raise ValueError(f"divergence_factor: must be > 1, got {self.divergence_factor}")

    def replace(self, **changes) -> BatchSizeConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def profile(cls, name: str, **overrides) -> BatchSizeConfig:
        """The config of profile ``name`` (:data:`PROFILES`) with ``overrides``."""
        if name not in PROFILES:
            raise ValueError(f"profile: unknown profile {name!r}; choose one of {sorted(PROFILES)}")
        return dataclasses.replace(PROFILES[name], **overrides)

    def batch_sizes(self, num_train: int) -> tuple[int, ...]:
        """The batch sizes for a training set of ``num_train`` examples; the last is
        ``num_train`` (full batch) unless ``max_batch_size`` cuts it off."""
        top = num_train if self.max_batch_size is None else min(self.max_batch_size, num_train)
        if self.min_batch_size > top:
            raise ValueError(
                f"min_batch_size: {self.min_batch_size} is larger than the training set "
                f"({num_train} examples) or max_batch_size"
            )
        sizes, b = [], self.min_batch_size
        while b < top:
            sizes.append(b)
            b *= self.batch_factor
        if self.max_batch_size is None or self.max_batch_size >= num_train:
            sizes.append(num_train)
        elif b == top:
            sizes.append(top)
        return tuple(sizes)

    def num_steps(self, batch_size: int, num_train: int) -> int:
        """The step budget at ``batch_size``."""
        budget = self.min_steps + math.ceil(self.max_epochs * num_train / batch_size)
        return int(min(self.max_steps, budget))

    def eval_every(self, batch_size: int, num_train: int) -> int:
        return max(1, math.ceil(self.num_steps(batch_size, num_train) / self.num_evals))


PROFILES: dict[str, BatchSizeConfig] = {
    # Under 5 minutes on 2 CPU cores: a 40-64-10 MLP on mnist1d (3500 training
    # examples), B = 1, 4, ..., 1024 and 3500, 3 seeds, a 5-point grid of rates,
    # target training loss 1.0.
    "quick": BatchSizeConfig(
        num_seeds=3, batch_factor=4, max_epochs=15.0, min_steps=600, max_steps=60_000,
        num_evals=80, dataset_sizes=(250, 500, 1000, 2000, 4000, 8000, 16000),
        timing_repeats=15, timing_min_seconds=0.01, noise_points=5, noise_samples=128,
    ),
    # Every power of two from 1, 8 seeds, a finer grid, a lower target.
    "full": BatchSizeConfig(
        hidden=(100, 100), num_seeds=8, batch_factor=2, target=0.7, max_epochs=40.0,
        min_steps=1500, max_steps=200_000, num_evals=150,
        lr_factors=(0.177, 0.25, 0.354, 0.5, 0.707, 1.0, 1.41, 2.0, 2.83, 4.0),
        dataset_sizes=(250, 500, 1000, 2000, 4000, 8000, 16000, 32000),
        timing_repeats=9, noise_points=9, noise_samples=512,
    ),
}


class BatchSizeResult(NamedTuple):
    """What :func:`run` returns (and :func:`load` reads back).

    Attributes
    ----------
    config : BatchSizeConfig
    runs : dict of (R,) arrays
        One row per batch size, rate and seed: ``batch_size``, ``full_batch``,
        ``learning_rate``, ``seed``, ``num_steps``, ``diverged``, ``diverged_step``,
        ``reached``, ``steps_to_target``, ``examples_to_target`` (inf when not
        reached), ``final_train_loss``, ``final_val_loss``, ``final_val_accuracy``.
    batch : dict of (K,) arrays
        One row per batch size at its chosen rate (:func:`select_learning_rates`):
        ``batch_size``, ``full_batch``, ``learning_rate``, ``lr_at_edge``,
        ``num_seeds``, ``num_reached``, ``num_diverged`` (at that rate),
        ``num_diverged_any_lr``, ``steps``, ``steps_min``, ``steps_max`` (median,
        min, max over seeds), ``examples``, ``step_time`` (least over repeats),
        ``step_time_median``, ``step_time_q75`` (seconds), ``wall_time``
        (``steps * step_time``).
    noise : dict of (k,) arrays
        One row per point of the reference run: ``fraction``, ``step``,
        ``train_loss``, ``b_simple``, ``b_noise``, ``b_simple_two_batch``,
        ``trace_cov``, ``grad_sq_norm``, ``trace_h_cov``, ``trace_h_cov_stderr``,
        ``grad_h_grad``, and ``batch_size``, ``learning_rate`` of the run.
    sizes : dict of (m,) arrays
        ``num_examples``, ``sgd_step_time``, ``gd_step_time`` (seconds, least over
        repeats) with their medians and upper quartiles; ``size_batch``.
    curves : dict
        ``b<B>.step`` (E,), ``b<B>.train_loss`` and ``b<B>.val_accuracy`` (S, E) at the
        chosen rate of each batch size.
    summary : dict
        :func:`summarize` of the tables.
    timings : dict
        Seconds per phase (this invocation; cells loaded from disk cost nothing).
    info : dict
        Model, parameters, data set sizes, loss, backend.
    """

    config: BatchSizeConfig
    runs: dict[str, np.ndarray]
    batch: dict[str, np.ndarray]
    noise: dict[str, np.ndarray]
    sizes: dict[str, np.ndarray]
    curves: dict[str, np.ndarray]
    summary: dict[str, Any]
    timings: dict[str, float]
    info: dict[str, Any]


# ----------------------------------------------------------------------------- set-up


def make_dataset(config: BatchSizeConfig) -> data.Dataset:
    """The data set of ``config``, standardised if asked, in JAX's default float dtype."""
    return data.prepare(
        config.dataset, num_samples=config.num_samples, standardize=config.standardize
    )


def make_model(config: BatchSizeConfig, dataset: data.Dataset) -> models.Model:
    """The MLP of ``config`` sized for ``dataset``."""
    return models.mlp(dataset.in_dim, config.hidden, dataset.out_dim,
                      activation=config.activation, init=config.init)


def _loss_name(dataset: data.Dataset) -> str:
    return "cross_entropy" if dataset.task == "classification" else "mse"


def learning_rates(config: BatchSizeConfig, batch_size: int) -> tuple[float, ...]:
    """The rates tried at ``batch_size`` under ``config.lr_policy`` (rounded to 4
    significant digits, so that they name cells reproducibly).

    Examples
    --------
    >>> cfg = BatchSizeConfig(base_lr=0.4, base_batch=64, lr_factors=(0.5, 1.0, 2.0))
    >>> learning_rates(cfg, 16)
    (0.1, 0.2, 0.4)
    >>> learning_rates(cfg.replace(lr_policy="linear"), 16)
    (0.1,)
    """
    ratio = batch_size / config.base_batch
    if config.lr_policy == "linear":
        rates = [config.base_lr * ratio]
    elif config.lr_policy == "sqrt":
        rates = [config.base_lr * math.sqrt(ratio)]
    else:
        center = config.base_lr * math.sqrt(ratio)
        rates = [center * f for f in sorted(config.lr_factors)]
    if config.max_lr is not None:
        rates = [min(r, config.max_lr) for r in rates]
    return tuple(dict.fromkeys(float(f"{r:.4g}") for r in rates))


def tile_dataset(dataset: data.Dataset, num_examples: int) -> data.Dataset:
    """``dataset`` with its training split repeated (or cut) to ``num_examples``
    examples: the same shapes a larger data set has, for timing."""
    if num_examples < 1:
        raise ValueError(f"num_examples: must be positive, got {num_examples}")
    idx = np.arange(num_examples) % dataset.num_train
    return dataset.replace(x_train=dataset.x_train[idx], y_train=dataset.y_train[idx])


# ----------------------------------------------------------------------------- measurements


def steps_to_target(
    step: np.ndarray, values: np.ndarray, target: float, *, higher_is_better: bool
) -> float:
    """The first step at which ``values`` reach ``target``, interpolated between
    evaluation points; ``inf`` when never reached.

    Losses (``higher_is_better=False``, positive) are interpolated linearly in
    ``log(value)``, accuracies linearly in the value. A curve that starts at the
    target gives ``step[0]``; NaN entries count as not reached.

    Examples
    --------
    >>> steps_to_target(np.array([0, 10, 20]), np.array([4.0, 2.0, 0.5]), 1.0,
    ...                 higher_is_better=False)
    15.0
    """
    step = np.asarray(step, np.float64)
    values = np.asarray(values, np.float64)
    with np.errstate(invalid="ignore"):
        ok = values >= target if higher_is_better else values <= target
    ok &= np.isfinite(values)
    if not ok.any():
        return math.inf
    i = int(np.argmax(ok))
    if i == 0:
        return float(step[0])
    y0, y1, t = values[i - 1], values[i], target
    if not np.isfinite(y0):
        return float(step[i])
    if not higher_is_better and y0 > 0 and y1 > 0 and t > 0:
        y0, y1, t = math.log(y0), math.log(y1), math.log(t)
    frac = 1.0 if y0 == y1 else (y0 - t) / (y0 - y1)
    frac = min(max(frac, 0.0), 1.0)
    return float(step[i - 1] + frac * (step[i] - step[i - 1]))


class StepTime(NamedTuple):
    """Wall time of one optimizer step, steady state.

    Attributes
    ----------
    seconds : float          least time per step over the repeats (the estimate of the
                             uncontended cost, as :mod:`timeit` advises)
    median, q75 : float      median and upper quartile over the repeats
    compile_seconds : float  the first call (tracing, compilation, one call), excluded above
    steps_per_call : int     steps in one jitted call (a ``lax.scan``)
    calls_per_repeat : int   calls in one timed repeat
    """

    seconds: float
    median: float
    q75: float
    compile_seconds: float
    steps_per_call: int
    calls_per_repeat: int


@functools.lru_cache(maxsize=64)
def _timed_steps_fn(model: models.Model, config: train.TrainConfig, loss: str, num_train: int,
                    steps_per_call: int):
    """``run(carry, start, x, y) -> carry``: ``steps_per_call`` steps of training as
    :func:`landscape.train.train` takes them (minibatch from the epoch's permutation,
    drawn once per epoch; value and gradient; the optax update), without evaluation
    or divergence checks."""
    objective = objectives.make_loss(model.apply, loss=loss, l2=config.l2)
    optimizer = config.make_optimizer()
    batch_size = config.batch_size

    def step(carry, count, x, y):
        params, opt_state, perm, key = carry
        full = data.Batch(x, y)
        if batch_size is None:
            batch = full
        else:
            epoch, position = jnp.divmod(count, num_train // batch_size)
            perm = jax.lax.cond(
                position == 0,
                lambda: jax.random.permutation(jax.random.fold_in(key, epoch), num_train),
                lambda: perm,
            )
            idx = jax.lax.dynamic_slice_in_dim(perm, position * batch_size, batch_size)
            batch = data.get_batch(full, idx)
        _, grads = jax.value_and_grad(objective)(params, batch)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, perm, key)

    def run_steps(carry, start, x, y):
        def body(c, i):
            return step(c, start + i, x, y), None

        carry, _ = jax.lax.scan(body, carry, jnp.arange(steps_per_call, dtype=jnp.int32))
        return carry

    return jax.jit(run_steps)


def measure_step_time(
    model: models.Model,
    dataset: data.Dataset,
    config: train.TrainConfig,
    *,
    key: jax.Array,
    steps_per_call: int = 20,
    repeats: int = 7,
    min_seconds: float = 0.05,
) -> StepTime:
    """Seconds per training step of one run at ``config.batch_size`` on this machine.

    One jitted call runs ``steps_per_call`` steps in a ``lax.scan``; the first call
    (compilation) is timed apart; each of ``repeats`` repeats then runs as many
    calls as make it last at least ``min_seconds`` and ends with
    ``block_until_ready``. The least time per step over repeats is reported, with the
    median and upper quartile. The step is the one :func:`landscape.train.train`
    takes, without its evaluations; its cost does not depend on the learning rate.
    """
    return measure_step_times(model, [(dataset, config)], key=key, steps_per_call=steps_per_call,
                              repeats=repeats, min_seconds=min_seconds)[0]


def measure_step_times(
    model: models.Model,
    cases: Sequence[tuple[data.Dataset, train.TrainConfig]],
    *,
    key: jax.Array,
    steps_per_call: int = 20,
    repeats: int = 7,
    min_seconds: float = 0.05,
) -> list[StepTime]:
    """:func:`measure_step_time` for several ``(dataset, config)`` cases, interleaved.

    Every case is compiled and calibrated first; then each repeat times every case
    once, in turn, so that a burst of load from other processes falls on all cases
    alike rather than on whichever was being timed.
    """
    if steps_per_call < 1 or repeats < 1 or not min_seconds > 0:
        raise ValueError(
            f"steps_per_call/repeats/min_seconds: must be positive, got {steps_per_call}, "
            f"{repeats}, {min_seconds}"
        )
    setups, carries, calls, compile_seconds, counts = [], [], [], [], []
    for dataset, config in cases:
        fn, carry, x, y = _timing_setup(model, dataset, config, key, steps_per_call)
        t0 = time.perf_counter()
        carry = jax.block_until_ready(fn(carry, jnp.asarray(0, jnp.int32), x, y))
        compile_seconds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        carry = jax.block_until_ready(fn(carry, jnp.asarray(steps_per_call, jnp.int32), x, y))
        one = max(time.perf_counter() - t0, 1e-6)
        setups.append((fn, x, y))
        carries.append(carry)
        calls.append(max(1, math.ceil(min_seconds / one)))
        counts.append(2)
    per_step = [[] for _ in cases]
    for _ in range(repeats):
        for j, (fn, x, y) in enumerate(setups):
            carry = carries[j]
            t0 = time.perf_counter()
            for _ in range(calls[j]):
                carry = fn(carry, jnp.asarray(counts[j] * steps_per_call, jnp.int32), x, y)
                counts[j] += 1
            jax.block_until_ready(carry)
            per_step[j].append((time.perf_counter() - t0) / (calls[j] * steps_per_call))
            carries[j] = carry
    return [
        StepTime(float(np.min(t)), float(np.median(t)), float(np.percentile(t, 75)), c,
                 int(steps_per_call), int(k))
        for t, c, k in zip(per_step, compile_seconds, calls, strict=True)
    ]


def _timing_setup(model, dataset, config, key, steps_per_call):
    """The jitted ``steps_per_call``-step function, its starting carry and the data. The
    key is split as :func:`landscape.train.train` splits it, so that the timed steps are
    the steps of ``train(model, dataset, config, key=key)``."""
    n = dataset.num_train
    if config.batch_size is not None and config.batch_size > n:
        raise ValueError(f"batch_size: {config.batch_size} is larger than the training set ({n})")
    dtype = jnp.result_type(float)
    label_dtype = jax.dtypes.canonicalize_dtype(jnp.int_) if dataset.num_classes is not None \
        else dtype
    x = jnp.asarray(dataset.x_train, dtype)
    y = jnp.asarray(dataset.y_train, label_dtype)
    init_key, data_key, _ = jax.random.split(key, 3)
    params = model.init(init_key)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = config.make_optimizer().init(params)
    perm = jnp.arange(n)  # replaced by the epoch-0 permutation at step 0
    fn = _timed_steps_fn(model, config, _loss_name(dataset), n, int(steps_per_call))
    return fn, (params, opt_state, perm, data_key), x, y


# ----------------------------------------------------------------------------- cells


def _fmt_lr(lr: float) -> str:
    return f"{lr:.4g}"


class _Context(NamedTuple):
    config: BatchSizeConfig
    dataset: data.Dataset
    model: models.Model
    loss_name: str
    problem: Problem  # the model on the data set, for training
    keys: jax.Array
    timing_key: jax.Array
    noise_key: jax.Array


def _train_config(ctx: _Context, batch_size: int, lr: float, **changes) -> train.TrainConfig:
    c, n = ctx.config, ctx.dataset.num_train
    return train.TrainConfig(
        optimizer=c.optimizer, learning_rate=lr, momentum=c.momentum,
        num_steps=c.num_steps(batch_size, n), batch_size=None if batch_size >= n else batch_size,
        eval_every=c.eval_every(batch_size, n),
        divergence_factor=c.divergence_factor,
    ).replace(**changes)


def _train_cell(ctx: _Context, batch_size: int, lr: float) -> dict[str, Any]:
    cfg = ctx.config
    tcfg = _train_config(ctx, batch_size, lr)
    result = train.train_seeds(ctx.problem, tcfg, keys=ctx.keys, progress=False)
    c = result.curves
    step = np.asarray(c.step)
    metric = np.asarray(getattr(c, cfg.target_metric), np.float64)
    higher = cfg.target_metric == "val_accuracy"
    steps = np.array([steps_to_target(step, m, cfg.target, higher_is_better=higher)
                      for m in metric])
    return {
        "steps_to_target": steps,
        "diverged": np.asarray(result.diverged, bool),
        "diverged_step": np.asarray(result.diverged_step, np.int64),
        "final_train_loss": np.asarray(c.train_loss[:, -1], np.float64),
        "final_val_loss": np.asarray(c.val_loss[:, -1], np.float64),
        "final_val_accuracy": np.asarray(c.val_accuracy[:, -1], np.float64),
        "num_steps": tcfg.num_steps,
        "curve_step": step,
        "curve_train_loss": np.asarray(c.train_loss, np.float64),
        "curve_val_accuracy": np.asarray(c.val_accuracy, np.float64),
    }


def _timing_config(ctx: _Context, batch_size: int | None) -> train.TrainConfig:
    c = ctx.config
    return train.TrainConfig(optimizer=c.optimizer, learning_rate=1e-3, momentum=c.momentum,
                             num_steps=1, batch_size=batch_size)


def _measure(ctx: _Context, cases) -> list[StepTime]:
    c = ctx.config
    return measure_step_times(ctx.model, cases, key=ctx.timing_key,
                              steps_per_call=c.timing_steps, repeats=c.timing_repeats,
                              min_seconds=c.timing_min_seconds)


def _time_cell(ctx: _Context, batch_sizes: Sequence[int]) -> dict[str, Any]:
    """Step times at every batch size, measured in turn (one cell)."""
    n = ctx.dataset.num_train
    cases = [(ctx.dataset, _timing_config(ctx, None if b >= n else b)) for b in batch_sizes]
    times = _measure(ctx, cases)
    return {"batch_size": np.asarray(batch_sizes),
            "step_time": np.array([t.seconds for t in times]),
            "step_time_median": np.array([t.median for t in times]),
            "step_time_q75": np.array([t.q75 for t in times]),
            "compile_seconds": np.array([t.compile_seconds for t in times])}


def _size_cell(ctx: _Context, sizes: Sequence[int]) -> dict[str, Any]:
    """Step times of minibatch SGD and full-batch GD at every data-set size (one cell)."""
    cases, where = [], []
    for i, n in enumerate(sizes):
        tiled = tile_dataset(ctx.dataset, int(n))
        if ctx.config.size_batch <= n:
            cases.append((tiled, _timing_config(ctx, ctx.config.size_batch)))
            where.append(("sgd", i))
        cases.append((tiled, _timing_config(ctx, None)))
        where.append(("gd", i))
    times = _measure(ctx, cases)
    out = {f"{p}_{k}": np.full(len(sizes), np.nan) for p in ("sgd", "gd")
           for k in ("step_time", "step_time_median", "step_time_q75")}
    for (prefix, i), t in zip(where, times, strict=True):
        out[f"{prefix}_step_time"][i] = t.seconds
        out[f"{prefix}_step_time_median"][i] = t.median
        out[f"{prefix}_step_time_q75"][i] = t.q75
    out["num_examples"] = np.asarray(sizes)
    return out


def _noise_cell(ctx: _Context, batch_size: int, lr: float, steps: float) -> dict[str, Any]:
    cfg, ds = ctx.config, ctx.dataset
    n = ds.num_train
    k = cfg.noise_points - 1
    total = cfg.num_steps(batch_size, n) if not math.isfinite(steps) else max(k, math.ceil(steps))
    every = math.ceil(total / k)
    tcfg = _train_config(ctx, batch_size, lr, num_steps=every * k, eval_every=every,
                         record_params=True)
    result = train.train(from_model(ctx.model, ds, loss=ctx.loss_name), tcfg, key=ctx.keys[0],
                         progress=False)
    unravel = ravel_pytree(result.init_params)[1]
    loss_fn = objectives.make_loss(ctx.model.apply, loss=ctx.loss_name)
    dtype = jnp.result_type(float)
    label_dtype = jax.dtypes.canonicalize_dtype(jnp.int_) if ds.num_classes is not None else dtype
    batch = data.Batch(jnp.asarray(ds.x_train, dtype), jnp.asarray(ds.y_train, label_dtype))
    small, big = cfg.two_batch_sizes
    rows: dict[str, list] = {name: [] for name in (
        "b_simple", "b_noise", "b_simple_two_batch", "trace_cov", "grad_sq_norm",
        "trace_h_cov", "trace_h_cov_stderr", "grad_h_grad")}
    keys = jax.random.split(ctx.noise_key, 3 * (k + 1)).reshape(k + 1, 3)
    for i in range(k + 1):
        params = unravel(result.trajectory[i])
        hn = noise.hessian_noise_scale(
            loss_fn, params, batch, key=keys[i, 0], num_samples=min(cfg.noise_samples, n),
            chunk_size=cfg.chunk_size,
        )
        two = [np.nan]
        if big <= n:
            sq_s = noise.minibatch_grad_sq_norms(loss_fn, params, batch, key=keys[i, 1],
                                                 batch_size=small,
                                                 num_batches=cfg.two_batch_count)
            sq_b = noise.minibatch_grad_sq_norms(loss_fn, params, batch, key=keys[i, 2],
                                                 batch_size=big, num_batches=cfg.two_batch_count)
            two = noise.two_batch_noise_scale(sq_s, sq_b, small_batch_size=small,
                                              big_batch_size=big, num_examples=n)
            two = [two.b_simple]
        for name in rows:
            value = two[0] if name == "b_simple_two_batch" else getattr(hn, name)
            rows[name].append(float(value))
    step = np.asarray(result.curves.step)
    return {
        "step": step,
        "fraction": step / step[-1],
        "train_loss": np.asarray(result.curves.train_loss, np.float64),
        "batch_size": batch_size,
        "learning_rate": lr,
        **{name: np.asarray(v) for name, v in rows.items()},
    }


# ----------------------------------------------------------------------------- tables


def select_learning_rates(runs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The chosen rate of each batch size, from the per-run table alone.

    For each batch size: the rate with the lowest median (over seeds) steps to
    target, a seed that did not reach it counting as ``inf``; ties, and batch sizes
    where no rate reaches the target (median ``inf``), go to the lowest median final
    validation loss (training loss when there is no validation split). Returns
    columns ``batch_size``, ``full_batch``, ``learning_rate``, ``lr_at_edge``
    (the chosen rate is the smallest or largest tried, of more than one),
    ``num_seeds``, ``num_reached``, ``num_diverged``, ``num_diverged_any_lr``,
    ``steps``, ``steps_min``, ``steps_max``, ``examples``.
    """
    b = np.asarray(runs["batch_size"], np.int64)
    lr = np.asarray(runs["learning_rate"], np.float64)
    steps = np.asarray(runs["steps_to_target"], np.float64)
    val = np.asarray(runs["final_val_loss"], np.float64)
    if not np.any(np.isfinite(val)):
        val = np.asarray(runs["final_train_loss"], np.float64)
    diverged = np.asarray(runs["diverged"], bool)
    full = np.asarray(runs["full_batch"], bool)
    out: dict[str, list] = {k: [] for k in (
        "batch_size", "full_batch", "learning_rate", "lr_at_edge", "num_seeds", "num_reached",
        "num_diverged", "num_diverged_any_lr", "steps", "steps_min", "steps_max", "examples")}
    for size in sorted(set(b.tolist())):
        at = b == size
        rates = sorted(set(lr[at].tolist()))
        scores = []
        for r in rates:
            sel = at & (lr == r)
            s = np.where(np.isfinite(steps[sel]), steps[sel], np.inf)
            v = np.where(np.isfinite(val[sel]) & ~diverged[sel], val[sel], np.inf)
            scores.append((float(np.median(s)), float(np.median(v)), r))
        best = min(scores)
        r = best[2]
        sel = at & (lr == r)
        s = steps[sel]
        reached = np.isfinite(s)
        out["batch_size"].append(size)
        out["full_batch"].append(bool(full[at][0]))
        out["learning_rate"].append(r)
        out["lr_at_edge"].append(len(rates) > 1 and r in (rates[0], rates[-1]))
        out["num_seeds"].append(int(sel.sum()))
        out["num_reached"].append(int(reached.sum()))
        out["num_diverged"].append(int(diverged[sel].sum()))
        out["num_diverged_any_lr"].append(int(diverged[at].sum()))
        out["steps"].append(best[0])
        out["steps_min"].append(float(np.min(s[reached])) if reached.any() else math.inf)
        out["steps_max"].append(float(np.max(np.where(reached, s, np.inf))))
        out["examples"].append(best[0] * size)
    return {k: np.asarray(v) for k, v in out.items()}


def _loglog_slope(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def summarize(
    batch: Mapping[str, Any], noise_table: Mapping[str, Any], sizes: Mapping[str, Any],
    runs: Mapping[str, Any],
) -> dict[str, Any]:
    """The study's numbers, computed from the stored tables alone.

    ``fit``: :func:`landscape.noise.fit_tradeoff` of the median steps to target at
    the chosen rates (``S_min``, ``E_min``, ``B_crit`` and the standard error of
    ``log B_crit``); ``noise``: ``B_simple``, ``B_noise`` and the two-batch
    ``B_simple`` at the target (the last point of the reference run) and their
    range over the points; ``best_wall_time``: the batch size with the least wall
    time to target; ``step_time_slopes``: log-log slopes of the step time against
    the batch size and, for SGD and GD, against the data-set size (0: constant,
    1: proportional); counts of runs, diverged runs and batch sizes that reached
    the target.
    """
    b = np.asarray(batch["batch_size"], np.float64)
    steps = np.asarray(batch["steps"], np.float64)
    out: dict[str, Any] = {
        "num_runs": int(len(np.asarray(runs["seed"]))),
        "num_diverged_runs": int(np.sum(np.asarray(runs["diverged"], bool))),
        "num_batch_sizes": int(len(b)),
        "num_batch_sizes_reached": int(np.sum(np.isfinite(steps))),
        "batch_sizes_lr_at_edge": [int(x) for x, e in zip(b, batch["lr_at_edge"], strict=True)
                                   if bool(e)],
    }
    try:
        fit = noise.fit_tradeoff(b, steps)
        out["fit"] = {
            "s_min": fit.s_min, "e_min": fit.e_min, "b_crit": fit.b_crit,
            "log_b_crit_stderr": float(fit.log_stderr[2]),
            "rms_log_residual": fit.rms_log_residual, "num_points": fit.num_points,
            "num_dropped": fit.num_dropped, "success": fit.success,
        }
    except ValueError as error:
        out["fit"] = {"error": str(error)}
    nt = noise_table
    if nt and len(np.asarray(nt["step"])):
        last = {k: float(np.asarray(nt[k])[-1]) for k in (
            "b_simple", "b_noise", "b_simple_two_batch", "train_loss", "step")}
        out["noise"] = {
            "reference_batch_size": int(np.asarray(nt["batch_size"])[0]),
            "reference_learning_rate": float(np.asarray(nt["learning_rate"])[0]),
            "at_target": last,
            "b_simple_range": [float(np.nanmin(nt["b_simple"])), float(np.nanmax(nt["b_simple"]))],
            "b_noise_range": [float(np.nanmin(nt["b_noise"])), float(np.nanmax(nt["b_noise"]))],
        }
        if "b_crit" in out["fit"]:
            out["noise"]["b_crit_over_b_simple"] = out["fit"]["b_crit"] / last["b_simple"]
            out["noise"]["b_crit_over_b_noise"] = out["fit"]["b_crit"] / last["b_noise"]
    wall = np.asarray(batch["wall_time"], np.float64)
    if np.any(np.isfinite(wall)):
        i = int(np.nanargmin(np.where(np.isfinite(wall), wall, np.nan)))
        out["best_wall_time"] = {
            "batch_size": int(b[i]), "wall_time": float(wall[i]), "steps": float(steps[i]),
            "step_time": float(np.asarray(batch["step_time"])[i]),
            "learning_rate": float(np.asarray(batch["learning_rate"])[i]),
        }
    else:
        out["best_wall_time"] = None
    n = np.asarray(sizes.get("num_examples", []), np.float64)
    out["step_time_slopes"] = {
        "vs_batch_size": _loglog_slope(b, batch["step_time"]),
        "sgd_vs_dataset_size": _loglog_slope(n, sizes.get("sgd_step_time", [])),
        "gd_vs_dataset_size": _loglog_slope(n, sizes.get("gd_step_time", [])),
    }
    return out


def _fmt(x: Any, digits: int = 3) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "nan" if math.isnan(x) else ("inf" if math.isinf(x) else f"{x:.{digits}g}")


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as text; its first line reads "B_crit = b (fit of S = S_min (1 + B_crit/B)),
    B_simple = s at the target (B_noise = h); least wall time at B = w"."""
    s = summary
    fit, nz, best = s.get("fit", {}), s.get("noise", {}), s.get("best_wall_time")
    at = nz.get("at_target", {})
    crit = fit.get("b_crit", math.nan)
    spread = math.exp(fit.get("log_b_crit_stderr", math.nan)) if "b_crit" in fit else math.nan
    lines = [
        f"B_crit = {_fmt(crit)} (x/ {_fmt(spread, 2)}; fit of S = S_min (1 + B_crit/B)), "
        f"B_simple = {_fmt(at.get('b_simple'))} at the target (B_noise = "
        f"{_fmt(at.get('b_noise'))}, two-batch B_simple = {_fmt(at.get('b_simple_two_batch'))}); "
        f"least wall time at B = {best['batch_size'] if best else 'none'}",
        f"  fit: S_min = {_fmt(fit.get('s_min'))} steps, E_min = {_fmt(fit.get('e_min'))} "
        f"examples, rms log residual {_fmt(fit.get('rms_log_residual'), 2)} over "
        f"{fit.get('num_points', 0)} batch sizes ({fit.get('num_dropped', 0)} did not reach "
        f"the target)",
        f"  noise scale over training (reference B = {nz.get('reference_batch_size')}): "
        f"B_simple {_fmt(nz.get('b_simple_range', [math.nan])[0])} -> "
        f"{_fmt(nz.get('b_simple_range', [0, math.nan])[1])}, B_noise "
        f"{_fmt(nz.get('b_noise_range', [math.nan])[0])} -> "
        f"{_fmt(nz.get('b_noise_range', [0, math.nan])[1])}",
    ]
    if best:
        lines.append(
            f"  wall time to target: least {_fmt(best['wall_time'])} s at B = "
            f"{best['batch_size']} ({_fmt(best['steps'])} steps of {_fmt(1e3 * best['step_time'])}"
            f" ms, lr {_fmt(best['learning_rate'])})"
        )
    sl = s.get("step_time_slopes", {})
    lines.append(
        f"  step time ~ B^{_fmt(sl.get('vs_batch_size'), 2)}; against the data-set size: SGD ~ "
        f"n^{_fmt(sl.get('sgd_vs_dataset_size'), 2)}, full-batch GD ~ "
        f"n^{_fmt(sl.get('gd_vs_dataset_size'), 2)}"
    )
    edge = s.get("batch_sizes_lr_at_edge", [])
    lines.append(
        f"  {s.get('num_runs')} runs, {s.get('num_diverged_runs')} diverged; "
        f"{s.get('num_batch_sizes_reached')}/{s.get('num_batch_sizes')} batch sizes reached the "
        f"target" + (f"; chosen rate at the edge of the grid for B = {edge}" if edge else "")
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- run

RUNS_FILE, BATCH_FILE, NOISE_FILE, SIZES_FILE = (
    "runs.csv", "batch_sizes.csv", "noise.csv", "dataset_sizes.csv"
)
SUMMARY_FILE, ARRAYS_FILE = "summary.json", "arrays.npz"


def _train_cell_spec(batch_size: int, lr: float):
    return (f"train,B={batch_size},lr={_fmt_lr(lr)}",
            {"kind": "train", "batch_size": batch_size, "learning_rate": lr})


def _search_rates(config, batch_size, num_train, out, compute, progress):
    """Train the rates of ``batch_size``, extending the grid past a chosen rate at its
    end (see ``lr_extensions``). Deterministic given the cells' results, so a resumed
    run replays the same extensions from the stored cells."""
    from landscape import results

    rates = list(learning_rates(config, batch_size))
    factors = sorted(config.lr_factors)
    ratio = factors[-1] / factors[-2] if len(factors) > 1 else 2.0
    extended = {"up": 0, "down": 0}
    cell_results: dict[str, Any] = {}
    while True:
        cells = [_train_cell_spec(batch_size, lr) for lr in sorted(rates)]
        todo = [c for c in cells if c[0] not in cell_results]
        cell_results.update(results.run_sweep(out, todo, compute, progress=progress))
        if config.lr_policy != "grid" or len(rates) < 2:
            return cells, cell_results
        chosen = float(select_learning_rates(
            _runs_table(config, cells, cell_results, num_train))["learning_rate"][0])
        if chosen == max(rates) and extended["up"] < config.lr_extensions:
            new, side = float(f"{chosen * ratio:.4g}"), "up"
            if config.max_lr is not None:
                new = min(new, config.max_lr)
        elif chosen == min(rates) and extended["down"] < config.lr_extensions:
            new, side = float(f"{chosen / ratio:.4g}"), "down"
        else:
            return cells, cell_results
        if new in rates:
            return cells, cell_results
        rates.append(new)
        extended[side] += 1


def _cells(config: BatchSizeConfig, num_train: int):
    train_cells = []
    for b in config.batch_sizes(num_train):
        for lr in learning_rates(config, b):
            train_cells.append(_train_cell_spec(b, lr))
    sizes = config.batch_sizes(num_train)
    time_cells = [("step_times", {"kind": "time", "batch_sizes": list(sizes)})]
    size_cells = [("dataset_sizes", {"kind": "size",
                                     "num_examples": [int(n) for n in config.dataset_sizes]})]
    return train_cells, time_cells, size_cells


def run(
    config: BatchSizeConfig,
    out_dir: str | Path | None = None,
    *,
    progress: bool = True,
) -> BatchSizeResult:
    """Run the study (resuming from ``out_dir`` if it holds an interrupted run).

    Parameters
    ----------
    config : BatchSizeConfig
    out_dir : path, optional
        Run directory (see the module notes); ``None`` uses a temporary directory.
    progress : bool
        A tqdm bar over the cells.

    Returns
    -------
    BatchSizeResult
    """
    if out_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            return run(config, tmp, progress=progress)
    from landscape import results

    out = Path(out_dir)
    start = time.perf_counter()
    timings: dict[str, float] = {}
    dataset = make_dataset(config)
    model = make_model(config, dataset)
    n = dataset.num_train
    k_train, k_time, k_noise = jax.random.split(jax.random.key(config.seed), 3)
    ctx = _Context(config, dataset, model, _loss_name(dataset),
                   from_model(model, dataset, loss=_loss_name(dataset)),
                   jax.random.split(k_train, config.num_seeds), k_time, k_noise)
    _, time_cells, size_cells = _cells(config, n)

    def compute(params: dict[str, Any]) -> dict[str, Any]:
        kind = params["kind"]
        if kind == "train":
            return _train_cell(ctx, params["batch_size"], params["learning_rate"])
        if kind == "time":
            return _time_cell(ctx, params["batch_sizes"])
        if kind == "size":
            return _size_cell(ctx, params["num_examples"])
        return _noise_cell(ctx, params["batch_size"], params["learning_rate"], params["steps"])

    t0 = time.perf_counter()
    results.write_config(out, config)
    train_cells, cell_results = [], {}
    for b in config.batch_sizes(n):
        cells_b, results_b = _search_rates(config, b, n, out, compute, progress)
        train_cells += cells_b
        cell_results.update(results_b)
    timings["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cell_results.update(results.run_sweep(out, time_cells + size_cells, compute,
                                          progress=progress))
    timings["step_time"] = time.perf_counter() - t0

    runs = _runs_table(config, train_cells, cell_results, n)
    batch = select_learning_rates(runs)
    _add_step_times(batch, cell_results["step_times"])

    # the noise-scale reference run, at the listed batch size nearest to noise_batch
    sizes_list = np.asarray(batch["batch_size"])
    i = int(np.argmin(np.abs(np.log(sizes_list / config.noise_batch))))
    noise_params = {"kind": "noise", "batch_size": int(sizes_list[i]),
                    "learning_rate": float(batch["learning_rate"][i]),
                    "steps": float(batch["steps"][i])}
    t0 = time.perf_counter()
    cell_results.update(results.run_sweep(out, [("noise", noise_params)], compute,
                                          progress=progress))
    timings["noise"] = time.perf_counter() - t0
    noise_table = _noise_table(cell_results["noise"])
    sizes = _sizes_table(config, cell_results["dataset_sizes"])
    curves = _curves(batch, cell_results)
    summary = summarize(batch, noise_table, sizes, runs)
    timings["total"] = time.perf_counter() - start
    info = {
        "model": model.name, "num_params": int(ravel_pytree(model.init(k_train))[0].size),
        "dataset": config.dataset, "num_train": n, "num_val": len(dataset.x_val),
        "loss": ctx.loss_name, "backend": jax.default_backend(),
        "num_devices": jax.device_count(), "dtype": jnp.result_type(float).name,
    }
    result = BatchSizeResult(config, runs, batch, noise_table, sizes, curves, summary,
                             timings, info)
    save(result, out)
    return result


def _runs_table(config, train_cells, cell_results, num_train) -> dict[str, np.ndarray]:
    rows: dict[str, list] = {k: [] for k in (
        "batch_size", "full_batch", "learning_rate", "seed", "num_steps", "diverged",
        "diverged_step", "reached", "steps_to_target", "examples_to_target",
        "final_train_loss", "final_val_loss", "final_val_accuracy")}
    for name, params in train_cells:
        r = cell_results[name]
        b = params["batch_size"]
        for s in range(config.num_seeds):
            steps = float(np.asarray(r["steps_to_target"])[s])
            rows["batch_size"].append(b)
            rows["full_batch"].append(b >= num_train)
            rows["learning_rate"].append(params["learning_rate"])
            rows["seed"].append(s)
            rows["num_steps"].append(int(r["num_steps"]))
            rows["diverged"].append(bool(np.asarray(r["diverged"])[s]))
            rows["diverged_step"].append(int(np.asarray(r["diverged_step"])[s]))
            rows["reached"].append(math.isfinite(steps))
            rows["steps_to_target"].append(steps)
            rows["examples_to_target"].append(steps * b)
            for k in ("final_train_loss", "final_val_loss", "final_val_accuracy"):
                rows[k].append(float(np.asarray(r[k])[s]))
    return {k: np.asarray(v) for k, v in rows.items()}


def _add_step_times(batch: dict[str, np.ndarray], cell: Mapping[str, Any]) -> None:
    index = {int(b): i for i, b in enumerate(np.asarray(cell["batch_size"]))}
    rows = [index[int(b)] for b in batch["batch_size"]]
    for k in ("step_time", "step_time_median", "step_time_q75"):
        batch[k] = np.asarray(cell[k], np.float64)[rows]
    batch["wall_time"] = batch["steps"] * batch["step_time"]


def _noise_table(cell: Mapping[str, Any]) -> dict[str, np.ndarray]:
    k = len(np.asarray(cell["step"]))
    table = {name: np.asarray(cell[name]) for name in (
        "fraction", "step", "train_loss", "b_simple", "b_noise", "b_simple_two_batch",
        "trace_cov", "grad_sq_norm", "trace_h_cov", "trace_h_cov_stderr", "grad_h_grad")}
    table["batch_size"] = np.full(k, int(cell["batch_size"]))
    table["learning_rate"] = np.full(k, float(cell["learning_rate"]))
    return table


def _sizes_table(config, cell: Mapping[str, Any]) -> dict[str, np.ndarray]:
    out = {"num_examples": np.asarray(cell["num_examples"]),
           "size_batch": np.full(len(np.asarray(cell["num_examples"])), config.size_batch)}
    for prefix in ("sgd", "gd"):
        for k in ("step_time", "step_time_median", "step_time_q75"):
            out[f"{prefix}_{k}"] = np.asarray(cell[f"{prefix}_{k}"], np.float64)
    return out


def _curves(batch, cell_results) -> dict[str, np.ndarray]:
    curves = {}
    for b, lr in zip(batch["batch_size"], batch["learning_rate"], strict=True):
        r = cell_results[f"train,B={int(b)},lr={_fmt_lr(float(lr))}"]
        curves[f"b{int(b)}.step"] = np.asarray(r["curve_step"])
        curves[f"b{int(b)}.train_loss"] = np.asarray(r["curve_train_loss"])
        curves[f"b{int(b)}.val_accuracy"] = np.asarray(r["curve_val_accuracy"])
    return curves


# ----------------------------------------------------------------------------- files


def _rows(table: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    names = list(table)
    n = len(np.asarray(table[names[0]])) if names else 0
    return [{k: np.asarray(table[k])[i].item() for k in names} for i in range(n)]


def save(result: BatchSizeResult, out_dir: str | Path) -> None:
    """Write the tables, summary and arrays of ``result`` to ``out_dir``."""
    from landscape import results

    out = Path(out_dir)
    results.write_config(out, result.config)
    results.write_table(out / RUNS_FILE, _rows(result.runs))
    results.write_table(out / BATCH_FILE, _rows(result.batch))
    results.write_table(out / NOISE_FILE, _rows(result.noise))
    results.write_table(out / SIZES_FILE, _rows(result.sizes))
    results.write_json(out / SUMMARY_FILE, {"summary": result.summary,
                                            "timings": result.timings, "info": result.info})
    results.write_arrays(out / ARRAYS_FILE, {f"curves.{k}": v for k, v in result.curves.items()})


_BOOL_COLUMNS = ("full_batch", "diverged", "reached", "lr_at_edge")


def _columns(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    if not rows:
        return {}
    out = {}
    for k in rows[0]:
        values = [r[k] for r in rows]
        if k in _BOOL_COLUMNS:
            out[k] = np.array([bool(v) for v in values])
        else:
            out[k] = np.array([np.nan if v is None else v for v in values])
    return out


def load(out_dir: str | Path) -> BatchSizeResult:
    """Read a run directory written by :func:`run` back into a :class:`BatchSizeResult`."""
    from landscape import results

    out = Path(out_dir)
    config = BatchSizeConfig(**{
        k: tuple(v) if isinstance(v, list) else v
        for k, v in results.read_config(out)["config"].items()
    })
    tables = [_columns(results.read_table(out / f))
              for f in (RUNS_FILE, BATCH_FILE, NOISE_FILE, SIZES_FILE)]
    stored = results.read_json(out / SUMMARY_FILE)
    arrays = results.read_arrays(out / ARRAYS_FILE)
    curves = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("curves.")}
    return BatchSizeResult(config, *tables, curves, stored["summary"], stored["timings"],
                           stored["info"])


# ----------------------------------------------------------------------------- figures


def _target_label(config: BatchSizeConfig) -> str:
    if config.target_metric == "train_loss":
        return f"train loss $\\leq$ {config.target:g}"
    return f"val. accuracy $\\geq$ {config.target:g}"


def _per_seed(result: BatchSizeResult, column: str):
    """(batch sizes, values) of every seed at the chosen rate of its batch size."""
    r, chosen = result.runs, dict(zip(result.batch["batch_size"].tolist(),
                                      result.batch["learning_rate"].tolist(), strict=True))
    sel = np.array([chosen[int(b)] == lr for b, lr in zip(r["batch_size"], r["learning_rate"],
                                                          strict=True)])
    return np.asarray(r["batch_size"], np.float64)[sel], np.asarray(r[column], np.float64)[sel]


def _fit(result: BatchSizeResult):
    fit = result.summary.get("fit", {})
    return fit if "b_crit" in fit else None


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=6)
    ax.set_yscale("linear")


def plot_steps(ax, result: BatchSizeResult):
    """Steps to target against batch size (log-log): each seed at the chosen rate, the
    median, the fitted ``S = S_min (1 + B_crit/B)``, perfect scaling ``S ~ 1/B`` through
    the smallest batch size, and ``S_min`` and ``B_crit`` marked."""
    from landscape.plots import COLORS

    bs, steps = _per_seed(result, "steps_to_target")
    ok = np.isfinite(steps)
    ax.scatter(bs[ok], steps[ok], s=5, color=COLORS[0], alpha=0.35, linewidths=0,
               label="each seed")
    b = np.asarray(result.batch["batch_size"], np.float64)
    med = np.asarray(result.batch["steps"], np.float64)
    fin = np.isfinite(med)
    ax.plot(b[fin], med[fin], "o", color=COLORS[0], label="median")
    grid = np.geomspace(b.min(), b.max(), 200)
    if fin.any():
        i = int(np.flatnonzero(fin)[0])
        ax.plot(grid, med[i] * b[i] / grid, ":", color="0.4", linewidth=0.8,
                label="perfect scaling")
    fit = _fit(result)
    if fit:
        ax.plot(grid, fit["s_min"] * (1 + fit["b_crit"] / grid), "--", color=COLORS[1],
                label=f"fit, $B_{{crit}}$ = {fit['b_crit']:.3g}")
        ax.axhline(fit["s_min"], color=COLORS[1], linewidth=0.5, alpha=0.6)
        ax.axvline(fit["b_crit"], color=COLORS[1], linewidth=0.5, alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size $B$ (examples)")
    ax.set_ylabel(f"steps to {_target_label(result.config)}")
    if not fin.any():
        _no_data(ax, "no batch size reached the target")
    ax.legend(loc="lower left")
    return ax


def plot_examples(ax, result: BatchSizeResult):
    """Examples to target ``E = S B`` against batch size, with the fitted
    ``E = E_min (1 + B/B_crit)``."""
    from landscape.plots import COLORS

    bs, ex = _per_seed(result, "examples_to_target")
    ok = np.isfinite(ex)
    ax.scatter(bs[ok], ex[ok], s=5, color=COLORS[2], alpha=0.35, linewidths=0,
               label="each seed")
    b = np.asarray(result.batch["batch_size"], np.float64)
    med = np.asarray(result.batch["examples"], np.float64)
    fin = np.isfinite(med)
    ax.plot(b[fin], med[fin], "o", color=COLORS[2], label="median")
    fit = _fit(result)
    if fit:
        grid = np.geomspace(b.min(), b.max(), 200)
        ax.plot(grid, fit["e_min"] * (1 + grid / fit["b_crit"]), "--", color=COLORS[1],
                label=f"fit, $E_{{min}}$ = {fit['e_min']:.3g}")
        ax.axhline(fit["e_min"], color=COLORS[1], linewidth=0.5, alpha=0.6)
        ax.axvline(fit["b_crit"], color=COLORS[1], linewidth=0.5, alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    if not fin.any():
        _no_data(ax, "no batch size reached the target")
    ax.set_xlabel("batch size $B$ (examples)")
    ax.set_ylabel("examples to target")
    ax.legend(loc="upper left")
    return ax


def plot_wall_time(ax, result: BatchSizeResult):
    """Wall time to target (steps x measured seconds per step) against batch size,
    with the least marked."""
    from landscape.plots import COLORS

    b = np.asarray(result.batch["batch_size"], np.float64)
    wall = np.asarray(result.batch["wall_time"], np.float64)
    median = np.asarray(result.batch["steps"]) * np.asarray(result.batch["step_time_median"])
    fin = np.isfinite(wall)
    ax.errorbar(b[fin], wall[fin], yerr=[np.zeros(fin.sum()), median[fin] - wall[fin]],
                fmt="o-", color=COLORS[3], capsize=1.5, elinewidth=0.6,
                label="median steps x step time")
    best = result.summary.get("best_wall_time")
    if best:
        ax.plot([best["batch_size"]], [best["wall_time"]], marker="*", markersize=11,
                color=COLORS[4], markeredgecolor="k", markeredgewidth=0.4, linestyle="none",
                label=f"least: B = {best['batch_size']}, {best['wall_time']:.2g} s", zorder=4)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    if not fin.any():
        _no_data(ax, "no batch size reached the target")
    ax.set_xlabel("batch size $B$ (examples)")
    ax.set_ylabel("wall time to target (s)")
    ax.legend(loc="upper center")
    return ax


def plot_noise_scale(ax, result: BatchSizeResult):
    """``B_simple`` (per-example and two-batch) and ``B_noise`` at the points of the
    reference run, against its step, next to the fitted ``B_crit`` (band: one standard
    error of the fit)."""
    from landscape.plots import COLORS

    nz = result.noise
    step = np.asarray(nz["step"], np.float64)
    ax.plot(step, nz["b_simple"], "o-", color=COLORS[0], label=r"$B_{simple}$ (per-example)")
    if np.any(np.isfinite(nz["b_simple_two_batch"])):
        ax.plot(step, nz["b_simple_two_batch"], "s", color=COLORS[5], markerfacecolor="none",
                label=r"$B_{simple}$ (two batch sizes)")
    bn, se = np.asarray(nz["b_noise"]), np.asarray(nz["trace_h_cov_stderr"])
    rel = se / np.abs(np.asarray(nz["trace_h_cov"]))
    ax.errorbar(step, bn, yerr=bn * rel, fmt="^-", color=COLORS[2], capsize=1.5,
                elinewidth=0.6, label=r"$B_{noise}$ (Hessian)")
    fit = _fit(result)
    if fit:
        spread = math.exp(fit["log_b_crit_stderr"]) if np.isfinite(
            fit["log_b_crit_stderr"]) else 1.0
        ax.axhline(fit["b_crit"], color=COLORS[1], linestyle="--",
                   label=f"$B_{{crit}}$ from the fit ({fit['b_crit']:.3g})")
        ax.axhspan(fit["b_crit"] / spread, fit["b_crit"] * spread, color=COLORS[1], alpha=0.12,
                   linewidth=0)
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * (high / low) ** 0.6)  # room for the legend above the points
    b_ref = int(np.asarray(nz["batch_size"])[0])
    ax.set_xlabel(f"step of the reference run ($B$ = {b_ref})")
    ax.set_ylabel("noise scale (examples)")
    ax.legend(loc="upper left", fontsize=5.5)
    return ax


def plot_step_time(ax, result: BatchSizeResult):
    """Measured seconds per step against batch size (least over repeats, bar up to the
    median), with a line proportional to ``B`` for reference."""
    from landscape.plots import COLORS

    b = np.asarray(result.batch["batch_size"], np.float64)
    t = np.asarray(result.batch["step_time"], np.float64)
    med = np.asarray(result.batch["step_time_median"], np.float64)
    ax.errorbar(b, 1e3 * t, yerr=[np.zeros_like(t), 1e3 * (med - t)], fmt="o-", color=COLORS[4],
                capsize=1.5, elinewidth=0.6, label="measured (least; bar to median)")
    ax.plot(b, 1e3 * t[-1] * b / b[-1], ":", color="0.4", linewidth=0.8, label=r"$\propto B$")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size $B$ (examples)")
    ax.set_ylabel("time per step (ms)")
    ax.legend(loc="upper left")
    return ax


def plot_dataset_size(ax, result: BatchSizeResult):
    """Seconds per step against the number of training examples for minibatch SGD and
    full-batch gradient descent (least over repeats, bar up to the median), with a line
    proportional to ``n``."""
    from landscape.plots import COLORS

    sz = result.sizes
    n = np.asarray(sz["num_examples"], np.float64)
    for prefix, color, label in (
        ("sgd", COLORS[0], f"SGD, $B$ = {int(np.asarray(sz['size_batch'])[0])}"),
        ("gd", COLORS[1], "full-batch GD"),
    ):
        t = np.asarray(sz[f"{prefix}_step_time"], np.float64)
        med = np.asarray(sz[f"{prefix}_step_time_median"], np.float64)
        ok = np.isfinite(t)
        ax.errorbar(n[ok], 1e3 * t[ok], yerr=[np.zeros(ok.sum()), 1e3 * (med - t)[ok]],
                    fmt="o-", color=color, capsize=1.5, elinewidth=0.6, label=label)
    gd = np.asarray(sz["gd_step_time"], np.float64)
    if np.isfinite(gd[-1]):
        ax.plot(n, 1e3 * gd[-1] * n / n[-1], ":", color="0.4", linewidth=0.8, label=r"$\propto n$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training examples $n$")
    ax.set_ylabel("time per step (ms)")
    ax.legend(loc="upper left")
    return ax


def plot_learning_rates(ax, result: BatchSizeResult):
    """Median steps to target against learning rate, one line per batch size; the
    chosen rate of each batch size is circled, rates whose median is not finite (most
    seeds diverged or never reached the target) are crosses along the top."""
    import matplotlib as mpl

    r = result.runs
    b_all = np.asarray(r["batch_size"])
    lr_all = np.asarray(r["learning_rate"], np.float64)
    steps_all = np.asarray(r["steps_to_target"], np.float64)
    sizes = np.asarray(result.batch["batch_size"])
    cmap = mpl.colormaps["viridis"]
    for j, b in enumerate(sizes):
        at = b_all == b
        rates = np.array(sorted(set(lr_all[at].tolist())))
        med = []
        for lr in rates:
            s = steps_all[at & (lr_all == lr)]
            med.append(np.median(np.where(np.isfinite(s), s, np.inf)))
        med = np.asarray(med)
        color = cmap(j / max(1, len(sizes) - 1))
        ok = np.isfinite(med)
        label = "full" if bool(result.batch["full_batch"][j]) else f"{int(b)}"
        ax.plot(rates[ok], med[ok], "o-", color=color, markersize=2.5, label=label)
        # rates where most seeds never reached the target (or diverged): crosses on top
        ax.plot(rates[~ok], np.full((~ok).sum(), 0.97), "x", color=color, markersize=3.5,
                transform=ax.get_xaxis_transform(), clip_on=False)
        if np.isfinite(result.batch["steps"][j]):
            ax.plot([float(result.batch["learning_rate"][j])], [result.batch["steps"][j]], "o",
                    markersize=6, markerfacecolor="none", markeredgecolor="k",
                    markeredgewidth=0.6)
    ax.plot([], [], "x", color="0.3", label="not reached")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("median steps to target")
    ax.legend(title="B", ncols=2, fontsize=5.5, title_fontsize=6, loc="upper right",
              bbox_to_anchor=(1.0, 0.93))
    return ax


def plot(result: BatchSizeResult):
    """The study's figure (full text width, 2 x 3 panels): steps, examples and wall time
    to target against batch size; the noise scale during training; the step time against
    batch size and against data-set size."""
    import matplotlib.pyplot as plt

    from landscape import plots

    with plots.style():
        fig, axes = plt.subplots(2, 3, figsize=plots.figure_size(2, nrows=2, ncols=3, aspect=0.8))
        panels = (plot_steps, plot_examples, plot_wall_time,
                  plot_noise_scale, plot_step_time, plot_dataset_size)
        for ax, panel, letter in zip(axes.flat, panels, "abcdef", strict=True):
            panel(ax, result)
            ax.text(-0.02, 1.02, f"({letter})", transform=ax.transAxes, fontweight="bold",
                    ha="right", va="bottom")
        info, c = result.info, result.config
        fig.suptitle(
            f"{info['model']} on {info['dataset']} ({info['num_params']} parameters, "
            f"{info['num_train']} training examples), {c.optimizer} at a constant rate chosen "
            f"per batch size ({c.lr_policy}), {c.num_seeds} seeds\ntarget: "
            f"{_target_label(c)}; times measured on this machine ({info['backend']})",
            fontsize=7,
        )
    return fig


def plot_lr_figure(result: BatchSizeResult):
    """A one-panel figure of :func:`plot_learning_rates` (how the rate was chosen)."""
    import matplotlib.pyplot as plt

    from landscape import plots

    with plots.style():
        fig, ax = plt.subplots(figsize=plots.figure_size(1, aspect=0.8))
        plot_learning_rates(ax, result)
    return fig


# ----------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> BatchSizeResult:
    """Command line: ``python scripts/batch_sweep.py --profile quick`` (see ``--help``)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="batch_sweep.py",
        description=(
            "Batch-size sweep: for batch sizes from a small size to the full training set, "
            "train several seeds at each rate of a small grid, measure steps, examples and "
            "wall time to a target, the time per step on this machine, the gradient noise "
            "scale during training, and the time per step against the data-set size; fit "
            "S = S_min (1 + B_crit/B). Writes a run directory (config.json, runs.csv, "
            "batch_sizes.csv, noise.csv, dataset_sizes.csv, summary.json, arrays.npz, cells/; "
            "an interrupted run resumes) and the figures OUT/NAME.png/.pdf and "
            "OUT/NAME_lr.png/.pdf, and prints a summary."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                        help="quick: under 5 minutes on 2 CPU cores; full: every power of two, "
                             "8 seeds, a finer grid, a lower target")
    parser.add_argument("--out", default="figures", help="directory for the figures")
    parser.add_argument("--name", default="batch_size", help="figure file name, no extension")
    parser.add_argument("--run-dir", default=None,
                        help="run directory (default runs/batch_size-PROFILE)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--x64", action="store_true", help="compute in float64")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw the figures from an existing run directory")
    group = parser.add_argument_group("overrides of the profile (default: the profile's value)")
    group.add_argument("--seed", type=int)
    group.add_argument("--dataset")
    group.add_argument("--num-samples", type=int)
    group.add_argument("--hidden", type=int, nargs="+")
    group.add_argument("--optimizer", choices=train.OPTIMIZERS)
    group.add_argument("--num-seeds", type=int)
    group.add_argument("--min-batch-size", type=int)
    group.add_argument("--batch-factor", type=int)
    group.add_argument("--max-batch-size", type=int)
    group.add_argument("--lr-policy", choices=LR_POLICIES)
    group.add_argument("--base-lr", type=float)
    group.add_argument("--base-batch", type=int)
    group.add_argument("--lr-factors", type=float, nargs="+")
    group.add_argument("--target-metric", choices=TARGET_METRICS)
    group.add_argument("--target", type=float)
    group.add_argument("--max-epochs", type=float)
    group.add_argument("--min-steps", type=int)
    group.add_argument("--max-steps", type=int)
    group.add_argument("--dataset-sizes", type=int, nargs="+")
    group.add_argument("--size-batch", type=int)
    group.add_argument("--noise-batch", type=int)
    args = parser.parse_args(argv)

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    run_dir = Path(args.run_dir or f"runs/batch_size-{args.profile}")
    fields = {f.name for f in dataclasses.fields(BatchSizeConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    for name in ("hidden", "lr_factors", "dataset_sizes"):
        if name in overrides:
            overrides[name] = tuple(overrides[name])
    try:
        config = BatchSizeConfig.profile(args.profile, **overrides)
        if not args.plot_only:
            config.batch_sizes(make_dataset(config).num_train)
    except ValueError as error:
        parser.error(str(error))

    from landscape import plots

    start = time.perf_counter()
    result = load(run_dir) if args.plot_only else run(config, run_dir, progress=not args.quiet)
    paths = plots.save(plot(result), args.name, args.out)
    paths += plots.save(plot_lr_figure(result), f"{args.name}_lr", args.out)
    print(format_summary(result.summary))
    t = result.timings
    print(
        f"  time: {time.perf_counter() - start:.1f} s in all (training {t['train']:.1f} s, step "
        f"times {t['step_time']:.1f} s, noise scale {t['noise']:.1f} s in the run that computed "
        f"them; {result.info['backend']})"
    )
    print(f"  run directory: {run_dir}; figures: {', '.join(str(p) for p in paths)}")
    import matplotlib.pyplot as plt

    plt.close("all")
    return result
