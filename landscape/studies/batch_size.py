"""Batch-size study: steps, examples and wall time to a target, against the gradient noise scale.

The claims it checks (docs/claims.md, C11): bigger minibatches mean less gradient
noise but more cost per step; too-big batches waste examples; SGD's step cost does
not grow with the data set while full-batch gradient descent's does.

For a :class:`~landscape.problem.Problem` (a built-in model or the user's own), batch
sizes ``B`` in powers of two from a stated small size up to the full training set
(:meth:`Config.batch_sizes`), and for each ``B`` a small grid of learning rates,
``num_seeds`` seeds are trained at once
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
  :func:`landscape.tradeoff.fit_tradeoff`) to the medians at the chosen rates;
* the **gradient noise scale** at stated points of training: a reference run (batch
  size ``noise_batch`` at its chosen rate, first seed) is retrained to its steps to
  target and, at fractions ``0, 1/(k-1), ..., 1`` of those steps
  (``k = noise_points``), ``B_simple`` (per-example, all training examples and the
  two-batch estimator), ``B_noise = tr(H Sigma) / G^T H G`` (Hessian-vector
  products on ``noise_samples`` sampled examples) are measured on the training set
  (:mod:`landscape.noise`, the ``"dataset"`` view) on the deterministic loss
  :meth:`~landscape.problem.Problem.loss_fn` with the run's final model state;
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
(curves at the chosen rates) and ``cells/``. :func:`load` reads it back. Figures:
:mod:`landscape.plots.batch_size`; measurements:
:mod:`landscape.studies.batch_size_measure`; tables and summary:
:mod:`landscape.studies.batch_size_summary`.

Examples
--------
>>> import dataclasses
>>> config = dataclasses.replace(PROFILES["quick"].config, min_batch_size=16, batch_factor=8,
...                              num_seeds=2, lr_factors=(0.5, 1.0))
>>> config.batch_sizes(3500)
(16, 128, 1024, 3500)
>>> problem = PROFILES["quick"].build_problem()                   # doctest: +SKIP
>>> result = run(problem, config, "runs/batch", progress=False)  # doctest: +SKIP
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
import math
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landscape import results, train
from landscape.problem import Problem
from landscape.studies import _common
from landscape.studies._common import Profile
from landscape.studies.batch_size_measure import (
    Context,
    StepTime,
    _cells,
    _noise_cell,
    _search_rates,
    _size_cell,
    _time_cell,
    _train_cell,
    learning_rates,
    measure_step_time,
    measure_step_times,
    steps_to_target,
    tile_dataset,
)
from landscape.studies.batch_size_summary import (
    _add_step_times,
    _curves,
    _noise_table,
    _runs_table,
    _sizes_table,
    format_summary,
    select_learning_rates,
    summarize,
)

__all__ = [
    "LR_POLICIES",
    "PROFILES",
    "TARGET_METRICS",
    "Config",
    "Result",
    "StepTime",
    "format_summary",
    "learning_rates",
    "load",
    "measure_step_time",
    "measure_step_times",
    "run",
    "save",
    "select_learning_rates",
    "steps_to_target",
    "summarize",
    "tile_dataset",
]


LR_POLICIES = ("grid", "linear", "sqrt")
TARGET_METRICS = ("train_loss", "val_accuracy")


@dataclasses.dataclass(frozen=True)
class Config:
    """The settings of a batch-size study (the network and data are the Problem's).

    Attributes
    ----------
    seed : int
        Master seed; the seeds of every cell are ``split(key(seed), num_seeds)``, so
        each batch size and rate starts from the same initialisations.
    optimizer : str
        Optimizer of :mod:`landscape.train` (sgd, momentum, adam, ...).
    momentum : float
        Momentum of the momentum optimizers.
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
        How the rate of each batch size is chosen (see the module notes).
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
        The metric whose target is reached.
    target : float
        Training loss at most ``target``, or validation accuracy at least ``target``.
    min_steps, max_epochs, max_steps : int, float, int
        Step budget at batch size ``B``:
        ``min(max_steps, min_steps + ceil(max_epochs * n / B))`` (``n`` training
        examples), which follows the shape ``S_min + E_min / B`` of the trade-off.
    num_evals : int
        Evaluation points per run (the resolution of the steps to target).
    divergence_factor : float
        A run diverges when its loss exceeds this times the initial loss.
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
        for name in ("lr_factors", "dataset_sizes", "two_batch_sizes"):
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


def _mlp(hidden):
    """The problem of the batch-size study before problems were separate: the built-in
    MLP on standardised mnist1d (same data, model and keys)."""
    return {"model": "mlp", "dataset": "mnist1d", "standardize": True, "hidden": hidden,
            "activation": "relu", "init": "glorot_normal"}


PROFILES: dict[str, Profile] = {
    # Under 5 minutes on 2 CPU cores: a 40-64-10 MLP on mnist1d (3500 training
    # examples), B = 1, 4, ..., 1024 and 3500, 3 seeds, a 5-point grid of rates,
    # target training loss 1.0.
    "quick": Profile(_mlp((64,)), Config(
        num_seeds=3, batch_factor=4, max_epochs=15.0, min_steps=600, max_steps=60_000,
        num_evals=80, dataset_sizes=(250, 500, 1000, 2000, 4000, 8000, 16000),
        timing_repeats=15, timing_min_seconds=0.01, noise_points=5, noise_samples=128,
    )),
    # Every power of two from 1, 8 seeds, a finer grid, a lower target.
    "full": Profile(_mlp((100, 100)), Config(
        num_seeds=8, batch_factor=2, target=0.7, max_epochs=40.0,
        min_steps=1500, max_steps=200_000, num_evals=150,
        lr_factors=(0.177, 0.25, 0.354, 0.5, 0.707, 1.0, 1.41, 2.0, 2.83, 4.0),
        dataset_sizes=(250, 500, 1000, 2000, 4000, 8000, 16000, 32000),
        timing_repeats=9, noise_points=9, noise_samples=512,
    )),
}


class Result(NamedTuple):
    """What :func:`run` returns (and :func:`load` reads back).

    Attributes
    ----------
    config : Config
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
        :func:`~landscape.studies.batch_size_summary.summarize` of the tables, with
        ``skipped`` (part -> reason; empty: every part ran).
    timings : dict
        Seconds per phase (this invocation; cells loaded from disk cost nothing).
    info : dict
        ``problem`` (``problem.describe()``), model, parameters, data set sizes, loss,
        dtypes, backend.
    """

    config: Config
    runs: dict[str, np.ndarray]
    batch: dict[str, np.ndarray]
    noise: dict[str, np.ndarray]
    sizes: dict[str, np.ndarray]
    curves: dict[str, np.ndarray]
    summary: dict[str, Any]
    timings: dict[str, float]
    info: dict[str, Any]


# ----------------------------------------------------------------------------- run

TABLES = {"runs": "runs", "batch": "batch_sizes", "noise": "noise", "sizes": "dataset_sizes"}
_BOOL_COLUMNS = ("full_batch", "diverged", "reached", "lr_at_edge")


def run(problem: Problem, config: Config, run_dir: str | Path | None = None, *,
        progress: bool = True) -> Result:
    """Run the study on ``problem`` (resuming from ``run_dir`` if it holds an interrupted
    run of the same config, problem and float dtype; another is refused).

    Parameters
    ----------
    problem : Problem
    config : Config
    run_dir : path, optional
        Run directory (see the module notes); ``None`` uses a temporary directory.
    progress : bool
        A tqdm bar over the cells.

    Returns
    -------
    Result
    """
    _common.check_inputs(problem, config, Config, "batch_size")
    if run_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            return run(problem, config, tmp, progress=progress)
    out = Path(run_dir)
    float_dtype = results.float_dtype()
    results.write_config(out, config, problem=problem, dtype=float_dtype)
    start = time.perf_counter()
    timings: dict[str, float] = {}
    dataset = problem.data
    n = dataset.num_train
    k_train, k_time, k_noise = jax.random.split(jax.random.key(config.seed), 3)
    ctx = Context(config, problem, jax.random.split(k_train, config.num_seeds), k_time,
                  k_noise)
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
        "problem": problem.describe(), "model": problem.name,
        "num_params": problem.num_params(problem.init(k_train)),
        "dataset": dataset.name, "num_train": n, "num_val": len(dataset.x_val),
        "loss": problem.loss_name, "backend": jax.default_backend(),
        "num_devices": jax.device_count(), "dtype": jnp.result_type(float).name,
        "float_dtype": float_dtype,
    }
    result = Result(config, runs, batch, noise_table, sizes, curves, summary, timings, info)
    save(result, out)
    return result


# ----------------------------------------------------------------------------- files


def save(result: Result, run_dir: str | Path) -> None:
    """Write ``result`` to ``run_dir``: ``config.json`` (checked against the one there),
    ``runs.csv``, ``batch_sizes.csv``, ``noise.csv``, ``dataset_sizes.csv``,
    ``summary.json`` and ``arrays.npz``."""
    _common.write_run(
        run_dir, config=result.config, problem_info=result.info.get("problem"),
        dtype=result.info.get("float_dtype"),
        tables={file: getattr(result, field) for field, file in TABLES.items()},
        json_files={"summary": {"summary": result.summary, "timings": result.timings,
                                "info": result.info}},
        arrays={"curves": result.curves},
    )


def load(run_dir: str | Path) -> Result:
    """Read a run directory written by :func:`run` back into a :class:`Result`."""
    config, _, _, tables, stored, arrays = _common.read_run(
        run_dir, Config, tables=tuple(TABLES.values()), json_files=("summary",),
        bool_columns=_BOOL_COLUMNS)
    stored = stored["summary"]
    return Result(config, *(tables[file] for file in TABLES.values()), arrays.get("curves", {}),
                  stored["summary"], stored["timings"], stored["info"])
