"""Seed study: many seeds of one configuration, how far apart they end and what lies between.

The claim it checks (FAQ_CLAIMS.md, C2): runs from different random seeds end at
very different parameters but almost the same loss. ``N`` seeds of one
configuration are trained at once (a ``vmap`` over keys,
:func:`landscape.train.train_seeds`), then:

* per seed: the final train / validation / test loss and accuracy, the relative
  distance travelled from its initialisation, and the curvature of its endpoint
  (``lambda_max``, ``lambda_min`` with residuals, Hutchinson trace, and the
  classification of :func:`landscape.critical.classify`);
* across seeds: mean, sample standard deviation (``ddof=1``), coefficient of
  variation ``std / mean``, min and max of every final metric;
* over pairs of seeds: the relative distance ``|a - b| / sqrt(|a| |b|)``
  (:func:`landscape.alignment.relative_distance`) between solutions and, as the
  yardstick, between their initialisations (two independent random vectors of
  equal norm are ``sqrt(2)`` apart); the same after permuting the hidden units of
  one network to match the other (weight matching, Ainsworth et al. 2022), so
  that what remains is not a relabelling, and for the aligned initialisations;
  the training loss along the straight line between two solutions, before and
  after alignment, and its barrier (:func:`landscape.surfaces.interpolate`).

Diverged seeds are counted and left out of every statistic. All pairs get the
plain distances; weight matching and interpolation, which cost more, are done on
``num_align_pairs`` and ``num_interp_pairs`` pairs drawn at random (the
interpolated pairs are among the aligned ones).

The shape of every study: a frozen :class:`SeedConfig` (with
:data:`PROFILES` ``quick`` and ``full``) -> :func:`run` -> :class:`SeedResult`
-> :func:`plot` (figure functions ``plot_*(ax, result) -> ax``). With an
``out_dir`` the run writes ``config.json``, ``seeds.csv`` (one row per seed),
``pairs.csv`` (one row per pair), ``summary.json`` and ``arrays.npz`` (curves,
interpolation paths); :func:`load` reads them back.

Examples
--------
>>> config = SeedConfig.profile("quick", num_seeds=4, num_steps=50, dataset="xor",
...                             hidden=(8,), num_interp_pairs=2, lanczos_iters=5,
...                             slq_probes=1, trace_probes=2)
>>> result = run(config, progress=False)                    # doctest: +SKIP
>>> print(format_summary(result.summary))                   # doctest: +SKIP
4 seeds: final train loss ...

References
----------
Ainsworth, S. K., Hayase, J. and Srinivasa, S. (2022). Git Re-Basin: merging
models modulo permutation symmetries. arXiv:2209.04836.
Draxler, F., Veschgini, K., Salmhofer, M. and Hamprecht, F. (2018). Essentially no
barriers in neural network energy landscape. ICML.
Entezari, R., Sedghi, H., Saukh, O. and Neyshabur, B. (2022). The role of
permutation invariance in linear mode connectivity of neural networks. ICLR.
Fort, S., Hu, H. and Lakshminarayanan, B. (2019). Deep ensembles: a loss landscape
perspective. arXiv:1912.02757.
Goodfellow, I. J., Vinyals, O. and Saxe, A. M. (2015). Qualitatively characterizing
neural network optimization problems. ICLR.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from landscape import alignment, critical, curvature, data, models, objectives, surfaces, train
from landscape.problem import from_model

__all__ = [
    "METRICS",
    "PROFILES",
    "SeedConfig",
    "SeedResult",
    "compare_pairs",
    "format_summary",
    "load",
    "make_dataset",
    "make_model",
    "plot",
    "plot_curvature",
    "plot_distances",
    "plot_final_losses",
    "plot_interpolations",
    "plot_training_curves",
    "run",
    "summarize",
]

MODELS = ("mlp", "deep_linear", "cnn1d")
METRICS = (
    "train_loss",
    "val_loss",
    "test_loss",
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
)


@dataclasses.dataclass(frozen=True)
class SeedConfig:
    """Everything that fixes a seed study.

    Attributes
    ----------
    num_seeds : int
        Seeds trained at once (>= 2).
    seed : int
        Master seed: seed ``s`` trains with ``split(key(seed), num_seeds)[s]``.
    dataset : str
        A name for :func:`landscape.data.load`.
    num_samples : int or None
        Examples generated (all splits), ``None`` for the loader's default.
    standardize : bool
        Standardise inputs with the training mean and std.
    model : {"mlp", "deep_linear", "cnn1d"}
        Weight matching needs dense layers: with ``cnn1d`` the aligned columns are NaN.
    hidden : tuple of int
        Hidden widths (``mlp``, ``deep_linear``) or channels (``cnn1d``).
    activation, init : str
        Activation and initialiser of the ``mlp`` (:mod:`landscape.models`).
    loss : str or None
        ``"cross_entropy"`` or ``"mse"``; ``None`` picks by the task.
    optimizer, learning_rate, momentum, num_steps, batch_size, schedule, l2, weight_decay
        The training run (:class:`landscape.train.TrainConfig`).
    eval_every : int
        Steps between points of the training curves.
    num_align_pairs : int or None
        Pairs aligned by weight matching (``None``: every pair).
    align_iters : int
        Most passes of weight matching.
    num_interp_pairs : int
        Pairs whose straight line is evaluated (before and after alignment).
    num_interp_points : int
        Points on each line, endpoints included.
    lanczos_iters : int
        Lanczos iterations for the extreme eigenvalues of each endpoint.
    slq_probes, slq_iters : int
        Probes and iterations of stochastic Lanczos quadrature for the index.
    trace_probes : int
        Rademacher probes of the Hutchinson trace.
    classify_rtol : float
        Relative eigenvalue threshold of the classification (``tau = rtol |H|``).
    curvature_batch_size : int or None
        Hessian-vector products over the training set this many examples at a time.
    measure_curvature : bool
        Measure the curvature of the endpoints (the curvature columns are NaN when not).
    """

    num_seeds: int = 32
    seed: int = 0
    dataset: str = "mnist1d"
    num_samples: int | None = None
    standardize: bool = True
    model: str = "mlp"
    hidden: tuple[int, ...] = (100, 100)
    activation: str = "relu"
    init: str = "glorot_normal"
    loss: str | None = None
    optimizer: str = "momentum"
    learning_rate: float = 0.05
    momentum: float = 0.9
    num_steps: int = 3000
    batch_size: int | None = 128
    schedule: str = "constant"
    l2: float = 0.0
    weight_decay: float = 0.0
    eval_every: int = 50
    num_align_pairs: int | None = None
    align_iters: int = 100
    num_interp_pairs: int = 16
    num_interp_points: int = 25
    lanczos_iters: int = 60
    slq_probes: int = 4
    slq_iters: int = 30
    trace_probes: int = 16
    classify_rtol: float = 1e-3
    curvature_batch_size: int | None = None
    measure_curvature: bool = True

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

        def positive_int(name, value, minimum=1):
            integer = isinstance(value, int | np.integer) and not isinstance(value, bool)
            if not integer or value < minimum:
                raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")

        positive_int("num_seeds", self.num_seeds, 2)
        for name in ("num_steps", "eval_every", "align_iters", "num_interp_pairs",
                     "lanczos_iters", "slq_probes", "slq_iters", "trace_probes"):
            positive_int(name, getattr(self, name))
        positive_int("num_interp_points", self.num_interp_points, 2)
        for name in ("num_samples", "batch_size", "num_align_pairs", "curvature_batch_size"):
            if getattr(self, name) is not None:
                positive_int(name, getattr(self, name))
        if self.model not in MODELS:
            raise ValueError(f"model: unknown model {self.model!r}; choose one of {list(MODELS)}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden: need at least one positive width, got {self.hidden}")
        if not (isinstance(self.classify_rtol, int | float) and self.classify_rtol >= 0):
            raise ValueError(f"classify_rtol: must be non-negative, got {self.classify_rtol!r}")
        if (self.num_align_pairs is not None and self.model != "cnn1d"
                and self.num_interp_pairs > self.num_align_pairs):
            raise ValueError(
                f"num_interp_pairs: the interpolated pairs are among the aligned ones, so "
                f"num_interp_pairs ({self.num_interp_pairs}) must not exceed num_align_pairs "
                f"({self.num_align_pairs})"
            )
        self.train_config()  # validates optimizer, learning rate, schedule, ...

    def train_config(self) -> train.TrainConfig:
        """The :class:`landscape.train.TrainConfig` of one seed."""
        return train.TrainConfig(
            optimizer=self.optimizer, learning_rate=self.learning_rate, momentum=self.momentum,
            num_steps=self.num_steps, batch_size=self.batch_size, schedule=self.schedule,
            l2=self.l2, weight_decay=self.weight_decay, eval_every=self.eval_every,
        )

    def replace(self, **changes) -> SeedConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def profile(cls, name: str, **overrides) -> SeedConfig:
        """The config of profile ``name`` (:data:`PROFILES`) with ``overrides``."""
        if name not in PROFILES:
            raise ValueError(f"profile: unknown profile {name!r}; choose one of {sorted(PROFILES)}")
        return dataclasses.replace(PROFILES[name], **overrides)


PROFILES: dict[str, SeedConfig] = {
    # Under 3 minutes on 2 CPU cores: 12 seeds of a 40-100-100-10 MLP on mnist1d,
    # 1500 SGD-momentum steps, every pair aligned, 12 lines, short Lanczos.
    # Measured: 164 s wall (49 s of CPU time) on a 2-core x86_64 machine shared with
    # other jobs (load average about 13), float32.
    "quick": SeedConfig(
        num_seeds=12, num_steps=1500, eval_every=50, num_interp_pairs=12,
        num_interp_points=21, lanczos_iters=30, slq_probes=2, slq_iters=20, trace_probes=8,
    ),
    # 64 seeds, 6000 steps with a cosine decay; 400 aligned pairs, 32 lines.
    # Measured: 2078 s wall (572 s of CPU time: train 602 s and curvature 1234 s of
    # the wall time) on the same shared 2-core machine (load average about 15), float32.
    "full": SeedConfig(
        num_seeds=64, num_steps=6000, eval_every=100, schedule="cosine", num_align_pairs=400,
        num_interp_pairs=32, num_interp_points=31, lanczos_iters=100, slq_probes=8,
        slq_iters=40, trace_probes=32,
    ),
}


class SeedResult(NamedTuple):
    """What :func:`run` returns (and :func:`load` reads back).

    Attributes
    ----------
    config : SeedConfig
    seeds : dict of (S,) arrays
        The per-seed table: ``seed``, ``diverged``, ``diverged_step``, the
        :data:`METRICS`, ``distance_from_init``, ``grad_norm``, ``lambda_max``,
        ``lambda_min``, ``residual_max``, ``residual_min``, ``certified_min`` (the
        sign of ``lambda_min`` is certain), ``trace``, ``trace_stderr``, ``index``
        (SLQ estimate of the fraction of negative eigenvalues), ``kind`` and
        ``curvature`` (str; empty where not measured).
    pairs : dict of (P,) arrays
        The per-pair table over pairs of converged seeds ``seed_a < seed_b``:
        ``distance``, ``init_distance``, ``loss_diff`` (|train loss a - b|),
        ``aligned`` (bool), ``aligned_distance``, ``aligned_init_distance``,
        ``align_iters``, ``interpolated`` (bool), ``barrier``, ``aligned_barrier``
        (NaN where not computed).
    curves : dict
        ``step`` (E,) and ``train_loss``, ``val_loss``, ``train_accuracy``,
        ``val_accuracy``, ``grad_norm`` (S, E).
    interp : dict
        ``ts`` (m,), ``pairs`` (Q, 2), ``losses`` (Q, m) and ``aligned_losses`` (Q, m):
        training loss along the lines of the interpolated pairs.
    summary : dict
        :func:`summarize` of ``seeds`` and ``pairs``.
    timings : dict
        Seconds per phase (``train`` includes compilation).
    info : dict
        Model name, number of parameters, data set sizes, loss.
    """

    config: SeedConfig
    seeds: dict[str, np.ndarray]
    pairs: dict[str, np.ndarray]
    curves: dict[str, np.ndarray]
    interp: dict[str, np.ndarray]
    summary: dict[str, Any]
    timings: dict[str, float]
    info: dict[str, Any]


# ----------------------------------------------------------------------------- set-up


def make_dataset(config: SeedConfig) -> data.Dataset:
    """The data set of ``config``, standardised if asked, in JAX's default float dtype."""
    return data.prepare(
        config.dataset, num_samples=config.num_samples, standardize=config.standardize
    )


def make_model(config: SeedConfig, dataset: data.Dataset) -> models.Model:
    """The model of ``config`` sized for ``dataset``."""
    if config.model == "mlp":
        return models.mlp(dataset.in_dim, config.hidden, dataset.out_dim,
                          activation=config.activation, init=config.init)
    if config.model == "deep_linear":
        return models.deep_linear(dataset.in_dim, config.hidden, dataset.out_dim, init=config.init)
    if len(dataset.input_shape) != 1:
        raise ValueError(f"model: cnn1d needs 1-D inputs, got shape {dataset.input_shape}")
    return models.cnn1d(dataset.in_dim, dataset.out_dim, channels=config.hidden)


def _loss_name(config: SeedConfig, dataset: data.Dataset) -> str:
    if config.loss is not None:
        return config.loss
    return "cross_entropy" if dataset.task == "classification" else "mse"


def _progress(iterable, total, desc, progress):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not progress, leave=False)


def _block(tree):
    return jax.tree_util.tree_map(lambda x: x.block_until_ready(), tree)


def _index_tree(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


# ----------------------------------------------------------------------------- run


def run(
    config: SeedConfig,
    out_dir: str | Path | None = None,
    *,
    progress: bool = True,
) -> SeedResult:
    """Train ``config.num_seeds`` seeds and measure spread, distances, barriers and curvature.

    Parameters
    ----------
    config : SeedConfig
    out_dir : path, optional
        Run directory to write (see the module docstring); an existing run of a
        different config there raises.
    progress : bool
        tqdm bars for training, alignment, interpolation and curvature.

    Returns
    -------
    SeedResult
    """
    from landscape import results

    if out_dir is not None:
        results.write_config(out_dir, config)
    timings: dict[str, float] = {}
    key = jax.random.key(config.seed)
    k_train, k_pairs, k_curv = jax.random.split(key, 3)

    dataset = make_dataset(config)
    model = make_model(config, dataset)
    loss_name = _loss_name(config, dataset)
    tcfg = config.train_config()

    t0 = time.perf_counter()
    keys = jax.random.split(k_train, config.num_seeds)
    trained = train.train_seeds(from_model(model, dataset, loss=loss_name), tcfg, keys=keys,
                                progress=progress)
    _block(trained.params)
    timings["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    S = config.num_seeds
    metrics_fn = objectives.make_metrics(model.apply, loss=loss_name)
    batched = jax.jit(jax.vmap(metrics_fn, in_axes=(0, None)))
    seeds: dict[str, np.ndarray] = {
        "seed": np.arange(S),
        "diverged": np.asarray(trained.diverged, bool),
        "diverged_step": np.asarray(trained.diverged_step, np.int64),
    }
    for part in ("train", "val", "test"):
        batch = getattr(dataset, part)
        if len(batch.x) == 0:
            seeds[f"{part}_loss"] = np.full(S, np.nan)
            seeds[f"{part}_accuracy"] = np.full(S, np.nan)
            continue
        out = batched(trained.params, data.Batch(jnp.asarray(batch.x), jnp.asarray(batch.y)))
        seeds[f"{part}_loss"] = np.asarray(out["loss"], np.float64)
        seeds[f"{part}_accuracy"] = np.asarray(out.get("accuracy", jnp.full(S, jnp.nan)),
                                               np.float64)
    ok = ~seeds["diverged"] & np.isfinite(seeds["train_loss"])
    flat, flat0 = _flatten(trained.params), _flatten(trained.init_params)
    seeds["distance_from_init"] = np.array(
        [_rel(flat[s], flat0[s]) if ok[s] else np.nan for s in range(S)]
    )
    timings["evaluate"] = time.perf_counter() - t0

    # ---- pairs: distances, alignment, straight lines (training objective, full training set)
    loss_fn = objectives.make_loss(model.apply, loss=loss_name, l2=config.l2)
    train_batch = data.Batch(jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train))
    pairs, interp, pair_timings = compare_pairs(
        trained.params, trained.init_params, seeds["train_loss"], ok, loss_fn, train_batch,
        key=k_pairs, num_align_pairs=config.num_align_pairs if config.model != "cnn1d" else 0,
        num_interp_pairs=config.num_interp_pairs, num_interp_points=config.num_interp_points,
        align_iters=config.align_iters, progress=progress,
    )
    timings.update(pair_timings)
    template = _index_tree(trained.params, 0)
    dtype = ravel_pytree(template)[0].dtype
    P = len(pairs["distance"])

    # ---- curvature of every endpoint
    t0 = time.perf_counter()
    seeds.update(_curvature(config, loss_fn, trained.params, train_batch,
                            ok & config.measure_curvature, k_curv, progress))
    timings["curvature"] = time.perf_counter() - t0

    curves = {name: np.asarray(getattr(trained.curves, name)) for name in train.Curves._fields}
    info = {
        "model": model.name,
        "num_params": models.num_params(template),
        "dataset": dataset.name,
        "num_train": dataset.num_train,
        "num_val": len(dataset.x_val),
        "num_test": len(dataset.x_test),
        "loss": loss_name,
        "dtype": np.dtype(dtype).name,
        "num_pairs": P,
        "backend": jax.default_backend(),
        "num_devices": jax.device_count(),
    }
    summary = summarize(seeds, pairs)
    timings["total"] = sum(timings.values())
    result = SeedResult(config, seeds, pairs, curves, interp, summary, timings, info)
    if out_dir is not None:
        save(result, out_dir)
    return result


def _flatten(stacked: Any) -> np.ndarray:
    """(S, n) float64 flat parameters of a pytree with a leading seed axis."""
    return np.asarray(jax.vmap(lambda p: ravel_pytree(p)[0])(stacked), np.float64)


def compare_pairs(
    params: Any,
    init_params: Any,
    train_loss: np.ndarray,
    ok: np.ndarray,
    loss_fn,
    batch: data.Batch,
    *,
    key: jax.Array,
    num_align_pairs: int | None,
    num_interp_pairs: int,
    num_interp_points: int,
    align_iters: int = 100,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    """Distances, aligned distances and straight-line barriers between pairs of seeds.

    Parameters
    ----------
    params, init_params : pytree with a leading (S,) axis
        Solutions and their initialisations.
    train_loss : (S,)
        Final training loss of each seed (for ``loss_diff``).
    ok : (S,) bool
        Seeds to compare (those that did not diverge).
    loss_fn : callable
        ``loss(params, batch)``, evaluated on the straight lines.
    batch : Batch
        The data of the lines (the full training set).
    key : PRNG key
        Which pairs are aligned and interpolated, and the layer order of weight matching.
    num_align_pairs : int or None
        Pairs aligned by weight matching; ``None`` for all, ``0`` for none (e.g. for
        models other than dense networks).
    num_interp_pairs, num_interp_points : int
        Lines and points per line; the lines are drawn among the aligned pairs when
        there are any.

    Returns
    -------
    pairs : dict of (P,) arrays
        The per-pair table (see :class:`SeedResult`).
    interp : dict
        ``ts`` (m,), ``pairs`` (Q, 2), ``losses`` and ``aligned_losses`` (Q, m).
    timings : dict
        Seconds spent on ``distances``, ``alignment``, ``interpolation``.
    """
    timings = {}
    t0 = time.perf_counter()
    flat, flat0 = _flatten(params), _flatten(init_params)
    good = np.flatnonzero(np.asarray(ok, bool))
    pair_list = list(itertools.combinations(good.tolist(), 2))
    P = len(pair_list)
    train_loss = np.asarray(train_loss, np.float64)
    pairs: dict[str, np.ndarray] = {
        "seed_a": np.array([a for a, _ in pair_list], np.int64),
        "seed_b": np.array([b for _, b in pair_list], np.int64),
        "distance": np.array([_rel(flat[a], flat[b]) for a, b in pair_list]),
        "init_distance": np.array([_rel(flat0[a], flat0[b]) for a, b in pair_list]),
        "loss_diff": np.array([abs(train_loss[a] - train_loss[b]) for a, b in pair_list]),
    }
    k_order, k_align = jax.random.split(key)
    order = np.asarray(jax.random.permutation(k_order, P)) if P else np.zeros(0, np.int64)
    num_align = P if num_align_pairs is None else min(int(num_align_pairs), P)
    chosen_align = np.sort(order[:num_align])
    pool = num_align if num_align else P
    chosen_interp = np.sort(order[: min(int(num_interp_pairs), pool)])
    for name in ("aligned_distance", "aligned_init_distance", "barrier", "aligned_barrier"):
        pairs[name] = np.full(P, np.nan)
    pairs["align_iters"] = np.zeros(P, np.int64)
    pairs["aligned"] = np.isin(np.arange(P), chosen_align)
    pairs["interpolated"] = np.isin(np.arange(P), chosen_interp)
    timings["distances"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    host_params = jax.tree_util.tree_map(np.asarray, params)
    host_init = jax.tree_util.tree_map(np.asarray, init_params)
    aligned_flat: dict[int, np.ndarray] = {}
    for i in _progress(chosen_align.tolist(), len(chosen_align), "weight matching", progress):
        a, b = pair_list[i]
        k = jax.random.fold_in(k_align, i)
        match = alignment.weight_matching(_index_tree(host_params, a), _index_tree(host_params, b),
                                          key=k, max_iters=align_iters)
        aligned_flat[i] = np.asarray(ravel_pytree(match.params)[0], np.float64)
        pairs["aligned_distance"][i] = _rel(flat[a], aligned_flat[i])
        pairs["align_iters"][i] = match.num_iters
        match0 = alignment.weight_matching(_index_tree(host_init, a), _index_tree(host_init, b),
                                           key=k, max_iters=align_iters)
        pairs["aligned_init_distance"][i] = _rel(
            flat0[a], np.asarray(ravel_pytree(match0.params)[0], np.float64)
        )
    timings["alignment"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    template = _index_tree(params, 0)
    f, x_template, _ = curvature.flat_loss(loss_fn, template)
    dtype = x_template.dtype
    m = int(num_interp_points)
    losses, aligned_losses = [], []
    for i in _progress(chosen_interp.tolist(), len(chosen_interp), "interpolation", progress):
        a, b = pair_list[i]
        xa = jnp.asarray(flat[a], dtype)
        line = surfaces.interpolate(f, xa, jnp.asarray(flat[b], dtype), batch, num_points=m,
                                    chunk_size=m)
        pairs["barrier"][i] = float(line.barrier)
        losses.append(np.asarray(line.losses, np.float64))
        if i in aligned_flat:
            line = surfaces.interpolate(f, xa, jnp.asarray(aligned_flat[i], dtype), batch,
                                        num_points=m, chunk_size=m)
            pairs["aligned_barrier"][i] = float(line.barrier)
            aligned_losses.append(np.asarray(line.losses, np.float64))
        else:
            aligned_losses.append(np.full(m, np.nan))
    interp = {
        "ts": np.asarray(jnp.linspace(0.0, 1.0, m, dtype=dtype), np.float64),
        "pairs": np.array([pair_list[i] for i in chosen_interp.tolist()], np.int64).reshape(-1, 2),
        "losses": np.array(losses).reshape(-1, m),
        "aligned_losses": np.array(aligned_losses).reshape(-1, m),
    }
    timings["interpolation"] = time.perf_counter() - t0
    return pairs, interp, timings


def _rel(x: np.ndarray, y: np.ndarray) -> float:
    """Relative distance of two flat vectors (as :func:`alignment.relative_distance`)."""
    return float(np.linalg.norm(x - y) / math.sqrt(np.linalg.norm(x) * np.linalg.norm(y)))


def _curvature(config, loss_fn, params, batch, ok, key, progress) -> dict[str, np.ndarray]:
    S = len(ok)
    out = {name: np.full(S, np.nan) for name in (
        "grad_norm", "lambda_max", "lambda_min", "residual_max", "residual_min", "trace",
        "trace_stderr", "index")}
    out["kind"] = np.array([""] * S, dtype=object)
    out["curvature"] = np.array([""] * S, dtype=object)
    out["certified_min"] = np.zeros(S, bool)
    template = _index_tree(params, 0)
    if config.curvature_batch_size is None:
        op = curvature.hessian_operator(loss_fn, template, batch)
    else:
        op = curvature.dataset_hessian_operator(loss_fn, template, batch,
                                                batch_size=config.curvature_batch_size)
    matvec, size = op.matvec, op.size
    num_probes = config.trace_probes

    @jax.jit
    def trace_fn(k, *args):
        est = curvature.hutchinson_trace(matvec, k, *args, num_probes=num_probes, size=size,
                                         dtype=op.dtype)
        return est.trace, est.stderr

    for s in _progress(np.flatnonzero(ok).tolist(), int(ok.sum()), "curvature", progress):
        p = _index_tree(params, s)
        k_cls, k_tr = jax.random.split(jax.random.fold_in(key, s))
        c = critical.classify(
            loss_fn, p, batch, key=k_cls, rtol=config.classify_rtol,
            num_iters=config.lanczos_iters, num_probes=config.slq_probes,
            slq_iters=config.slq_iters, batch_size=config.curvature_batch_size,
        )
        out["grad_norm"][s] = float(c.grad_norm)
        out["lambda_max"][s] = float(c.lambda_max)
        out["lambda_min"][s] = float(c.lambda_min)
        out["residual_max"][s] = float(c.residual_max)
        out["residual_min"][s] = float(c.residual_min)
        out["certified_min"][s] = bool(c.certified_min)
        out["index"][s] = float(c.index)
        out["kind"][s] = str(c.kind)
        out["curvature"][s] = str(c.curvature)
        x = ravel_pytree(p)[0]
        args = (x, *op.args[1:])
        tr, se = trace_fn(k_tr, *args)
        out["trace"][s], out["trace_stderr"][s] = float(tr), float(se)
    out["kind"] = out["kind"].astype(str)
    out["curvature"] = out["curvature"].astype(str)
    return out


# ----------------------------------------------------------------------------- summary


def _stats(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": math.nan, "std": math.nan, "cv": math.nan, "min": math.nan,
                "max": math.nan, "count": 0}
    mean = float(np.mean(v))
    std = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
    return {
        "mean": mean,
        "std": std,
        "cv": std / mean if mean != 0 else math.nan,
        "min": float(np.min(v)),
        "max": float(np.max(v)),
        "count": int(v.size),
    }


def summarize(seeds: Mapping[str, Any], pairs: Mapping[str, Any]) -> dict[str, Any]:
    """Statistics across seeds and pairs, from the per-seed and per-pair tables alone.

    Seeds that diverged are left out. For each of :data:`METRICS` and the
    curvature columns: ``mean``, sample ``std`` (``ddof=1``), ``cv = std / mean``,
    ``min``, ``max``, ``count``. For the pair distances and barriers the same
    statistics over the pairs where they were computed. Also the number of seeds,
    of diverged seeds, and counts of each classification.
    """
    diverged = np.asarray(seeds["diverged"], bool)
    ok = ~diverged & np.isfinite(np.asarray(seeds["train_loss"], np.float64))
    out: dict[str, Any] = {
        "num_seeds": int(len(diverged)),
        "num_converged": int(ok.sum()),
        "num_diverged": int(diverged.sum()),
        "num_pairs": int(len(np.asarray(pairs["distance"]))),
        "num_aligned_pairs": int(np.sum(np.asarray(pairs["aligned"], bool))),
        "num_interpolated_pairs": int(np.sum(np.asarray(pairs["interpolated"], bool))),
    }
    for name in (*METRICS, "distance_from_init", "grad_norm", "lambda_max", "lambda_min",
                 "trace", "index"):
        out[name] = _stats(np.asarray(seeds[name], np.float64)[ok])
    for name in ("distance", "init_distance", "aligned_distance", "aligned_init_distance",
                 "loss_diff", "barrier", "aligned_barrier"):
        out[name] = _stats(pairs[name])
    for column in ("kind", "curvature"):
        names = [str(k) for k in np.asarray(seeds[column])[ok] if str(k)]
        out[f"{column}_counts"] = {k: names.count(k) for k in sorted(set(names))}
    return out


def _fmt(x: float, digits: int = 3) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.{digits}g}"


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as text; its first line reads "N seeds: final train loss m +- s (CV c%);
    relative distance between solutions d (between inits d0; after alignment da);
    largest barrier b"."""
    s = summary
    tl = s["train_loss"]
    diverged = f" ({s['num_diverged']} diverged, left out)" if s["num_diverged"] else ""
    lines = [
        f"{s['num_converged']} seeds{diverged}: final train loss {_fmt(tl['mean'])} +- "
        f"{_fmt(tl['std'], 2)} (CV {_fmt(100 * tl['cv'], 2)}%); relative distance between "
        f"solutions {_fmt(s['distance']['mean'])} (between inits "
        f"{_fmt(s['init_distance']['mean'])}; after alignment "
        f"{_fmt(s['aligned_distance']['mean'])}); largest barrier "
        f"{_fmt(s['barrier']['max'])}"
    ]
    for part in ("val", "test"):
        loss, acc = s[f"{part}_loss"], s[f"{part}_accuracy"]
        lines.append(
            f"  {part} loss {_fmt(loss['mean'])} +- {_fmt(loss['std'], 2)} (CV "
            f"{_fmt(100 * loss['cv'], 2)}%, range {_fmt(loss['min'])}-{_fmt(loss['max'])}); "
            f"{part} accuracy {_fmt(acc['mean'])} +- {_fmt(acc['std'], 2)}"
        )
    lines.append(
        f"  distances (mean +- std over pairs): solutions {_fmt(s['distance']['mean'])} +- "
        f"{_fmt(s['distance']['std'], 2)}, inits {_fmt(s['init_distance']['mean'])}, aligned "
        f"solutions {_fmt(s['aligned_distance']['mean'])} +- "
        f"{_fmt(s['aligned_distance']['std'], 2)} ({s['num_aligned_pairs']} pairs), aligned "
        f"inits {_fmt(s['aligned_init_distance']['mean'])}; each solution from its init "
        f"{_fmt(s['distance_from_init']['mean'])}"
    )
    lines.append(
        f"  barriers on {s['num_interpolated_pairs']} lines: mean "
        f"{_fmt(s['barrier']['mean'])}, max {_fmt(s['barrier']['max'])}; after alignment mean "
        f"{_fmt(s['aligned_barrier']['mean'])}, max {_fmt(s['aligned_barrier']['max'])}"
    )
    kinds = ", ".join(f"{v} {k}" for k, v in s["kind_counts"].items())
    curv = ", ".join(f"{v} {k}" for k, v in s["curvature_counts"].items())
    if not kinds:
        lines.append("  endpoints: curvature not measured")
        return "\n".join(lines)
    lines.append(
        f"  endpoints: lambda_max {_fmt(s['lambda_max']['mean'])} "
        f"[{_fmt(s['lambda_max']['min'])}, {_fmt(s['lambda_max']['max'])}], lambda_min "
        f"{_fmt(s['lambda_min']['mean'])} [{_fmt(s['lambda_min']['min'])}, "
        f"{_fmt(s['lambda_min']['max'])}], trace {_fmt(s['trace']['mean'])}, |grad| "
        f"{_fmt(s['grad_norm']['mean'])}; classification: {kinds}; spectrum alone: {curv}"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- files


SEEDS_FILE, PAIRS_FILE, SUMMARY_FILE, ARRAYS_FILE = (
    "seeds.csv", "pairs.csv", "summary.json", "arrays.npz"
)


def _rows(table: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    names = list(table)
    n = len(np.asarray(table[names[0]])) if names else 0
    return [{k: np.asarray(table[k])[i].item() for k in names} for i in range(n)]


def save(result: SeedResult, out_dir: str | Path) -> None:
    """Write the tables, summary and arrays of ``result`` to ``out_dir``."""
    from landscape import results

    out = Path(out_dir)
    results.write_config(out, result.config)
    results.write_table(out / SEEDS_FILE, _rows(result.seeds))
    results.write_table(out / PAIRS_FILE, _rows(result.pairs))
    results.write_json(out / SUMMARY_FILE, {"summary": result.summary, "timings": result.timings,
                                            "info": result.info})
    arrays = {f"curves.{k}": v for k, v in result.curves.items()}
    arrays.update({f"interp.{k}": v for k, v in result.interp.items()})
    results.write_arrays(out / ARRAYS_FILE, arrays)


def _columns(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    if not rows:
        return {}
    out = {}
    for k in rows[0]:
        values = [r[k] for r in rows]
        if all(isinstance(v, str) or v is None for v in values):
            out[k] = np.array(["" if v is None else v for v in values])
        else:
            out[k] = np.array([np.nan if v is None else v for v in values])
    return out


def load(out_dir: str | Path) -> SeedResult:
    """Read a run directory written by :func:`run` back into a :class:`SeedResult`."""
    from landscape import results

    out = Path(out_dir)
    config = SeedConfig(**{
        k: tuple(v) if isinstance(v, list) else v
        for k, v in results.read_config(out)["config"].items()
    })
    seeds = _columns(results.read_table(out / SEEDS_FILE))
    pairs = _columns(results.read_table(out / PAIRS_FILE))
    for table, columns in ((seeds, ("diverged", "certified_min")),
                           (pairs, ("aligned", "interpolated"))):
        for c in columns:
            if c in table:
                table[c] = table[c].astype(bool)
    stored = results.read_json(out / SUMMARY_FILE)
    arrays = results.read_arrays(out / ARRAYS_FILE)
    curves = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("curves.")}
    interp = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("interp.")}
    return SeedResult(config, seeds, pairs, curves, interp, stored["summary"],
                      stored["timings"], stored["info"])


# ----------------------------------------------------------------------------- figures


def plot_training_curves(ax, result: SeedResult, *, log: bool = True):
    """Training (solid) and validation (dashed) loss of every seed against the step."""
    from landscape.plots import COLORS

    c = result.curves
    step = np.asarray(c["step"])
    ok = ~np.asarray(result.seeds["diverged"], bool)
    for s in np.flatnonzero(ok):
        ax.plot(step, c["train_loss"][s], color=COLORS[0], linewidth=0.5, alpha=0.45)
        if np.any(np.isfinite(c["val_loss"][s])):
            ax.plot(step, c["val_loss"][s], color=COLORS[1], linewidth=0.5, alpha=0.45,
                    linestyle="--")
    ax.plot([], [], color=COLORS[0], label="train")
    ax.plot([], [], color=COLORS[1], linestyle="--", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss ({result.info.get('loss', 'loss').replace('_', '-')})")
    if log:
        ax.set_yscale("log")
    ax.legend(loc="best", title=f"{int(ok.sum())} seeds", title_fontsize=6.5)
    return ax


def plot_final_losses(ax, result: SeedResult):
    """The spread of the final train, validation and test losses over seeds: each
    seed's loss relative to the mean of its split, ``100 (L / mean - 1)`` %, as points
    over a box; the mean and the coefficient of variation are written above."""
    from landscape.plots import COLORS

    ok = ~np.asarray(result.seeds["diverged"], bool)
    parts = [p for p in ("train", "val", "test")
             if np.any(np.isfinite(result.seeds[f"{p}_loss"][ok]))]
    rng = np.random.default_rng(0)  # horizontal jitter only, for legibility
    values = [np.asarray(result.seeds[f"{p}_loss"], np.float64)[ok] for p in parts]
    rel = [100 * (v / np.mean(v) - 1) for v in values]
    ax.boxplot(rel, positions=np.arange(len(parts)), widths=0.5, showfliers=False,
               medianprops={"color": "k", "linewidth": 0.8},
               boxprops={"linewidth": 0.6}, whiskerprops={"linewidth": 0.6},
               capprops={"linewidth": 0.6})
    top = max(np.max(np.abs(r)) for r in rel) if rel else 1.0
    for i, (v, r) in enumerate(zip(values, rel, strict=True)):
        ax.scatter(i + rng.uniform(-0.18, 0.18, v.size), r, s=6, color=COLORS[i], alpha=0.8,
                   linewidths=0, zorder=3)
        cv = np.std(v, ddof=1) / np.mean(v) if v.size > 1 else np.nan
        ax.text(i, 1.25 * top, f"$\\mu$ = {np.mean(v):.3g}\nCV {100 * cv:.1f}%", ha="center",
                va="bottom", fontsize=5.5)
    ax.axhline(0, color="0.5", linewidth=0.5, zorder=0)
    names = {"train": "train", "val": "validation", "test": "test"}
    ax.set_xticks(np.arange(len(parts)), [names[p] for p in parts])
    ax.set_xlabel("final loss on")
    ax.set_ylabel("deviation from the mean (%)")
    ax.set_xlim(-0.6, len(parts) - 0.4)
    ax.set_ylim(-1.2 * top, 1.75 * top)
    return ax


def plot_distances(ax, result: SeedResult):
    """Relative distance of each pair against the difference of their final training
    losses, before and after weight matching; lines mark the initialisations."""
    from landscape.plots import COLORS

    p = result.pairs
    diff = np.maximum(np.asarray(p["loss_diff"], np.float64), 1e-12)
    ax.scatter(diff, p["distance"], s=5, color=COLORS[0], linewidths=0, alpha=0.7,
               label="solutions")
    aligned = np.asarray(p["aligned"], bool)
    if aligned.any():
        ax.scatter(diff[aligned], np.asarray(p["aligned_distance"])[aligned], s=5,
                   color=COLORS[1], linewidths=0, alpha=0.7, label="solutions, aligned")
    d0 = np.nanmean(p["init_distance"])
    ax.axhline(d0, color="0.3", linewidth=0.7, linestyle="--", label="inits")
    if aligned.any():
        ax.axhline(np.nanmean(p["aligned_init_distance"]), color="0.3", linewidth=0.7,
                   linestyle=":", label="inits, aligned")
    ax.set_xscale("log")
    ax.set_xlabel("|difference of final train losses|")
    ax.set_ylabel(r"$|a-b|\,/\sqrt{|a|\,|b|}$")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower left", ncols=2, fontsize=5.5)
    return ax


def plot_interpolations(ax, result: SeedResult, *, log: bool = False):
    """Training loss on the straight lines between solutions, before (solid) and after
    (dashed) alignment; the largest barrier is marked."""
    from landscape.plots import COLORS, plot_interpolation

    it = result.interp
    ts = np.asarray(it["ts"])
    losses, aligned = np.asarray(it["losses"]), np.asarray(it["aligned_losses"])
    if len(losses) == 0:
        ax.text(0.5, 0.5, "no pairs", transform=ax.transAxes, ha="center")
        return ax
    for row in losses:
        ax.plot(ts, row, color=COLORS[0], linewidth=0.6, alpha=0.6)
    for row in aligned:
        if np.all(np.isfinite(row)):
            ax.plot(ts, row, color=COLORS[1], linewidth=0.6, alpha=0.6, linestyle="--")
    worst = int(np.argmax([surfaces.barrier(ts, r)[0] for r in losses]))
    b, i = surfaces.barrier(ts, losses[worst])
    plot_interpolation(ax, surfaces.Interpolation(ts, losses[worst], b, i), color="k",
                       annotate_barrier=True, log=log)
    ax.plot([], [], color=COLORS[0], label="solutions")
    ax.plot([], [], color=COLORS[1], linestyle="--", label="after alignment")
    ax.set_xlabel(r"$t$ on the line $(1-t)\,a + t\,b$")
    ax.set_ylabel("train loss")
    ax.set_ylim(top=1.4 * np.nanmax(losses))
    ax.legend(loc="upper left", ncols=2)
    return ax


def plot_curvature(ax, result: SeedResult):
    """Curvature at each endpoint against its final training loss: ``lambda_max`` and,
    where ``lambda_min < 0``, ``-lambda_min`` (hollow ``lambda_min`` where it is not
    negative), with the threshold ``tau`` below which the classification ignores a
    negative eigenvalue."""
    from landscape.plots import COLORS

    s = result.seeds
    ok = ~np.asarray(s["diverged"], bool) & np.isfinite(np.asarray(s["lambda_max"], np.float64))
    loss = np.asarray(s["train_loss"], np.float64)[ok]
    lmax = np.asarray(s["lambda_max"], np.float64)[ok]
    lmin = np.asarray(s["lambda_min"], np.float64)[ok]
    ax.set_xlabel("final train loss")
    ax.set_ylabel("Hessian eigenvalue")
    if not ok.any():
        ax.text(0.5, 0.5, "curvature not measured", transform=ax.transAxes, ha="center")
        return ax
    ax.scatter(loss, lmax, s=8, color=COLORS[0], linewidths=0, label=r"$\lambda_{\max}$")
    neg = lmin < 0
    ax.scatter(loss[neg], -lmin[neg], s=8, marker="v", color=COLORS[1], linewidths=0,
               label=r"$-\lambda_{\min}$")
    if (~neg).any():
        ax.scatter(loss[~neg], lmin[~neg], s=8, marker="^", facecolors="none",
                   edgecolors=COLORS[2], linewidths=0.6, label=r"$\lambda_{\min}\geq 0$")
    tau = result.config.classify_rtol * np.median(np.abs(lmax))
    ax.axhline(tau, color="0.4", linewidth=0.6, linestyle=":",
               label=rf"$\tau = {result.config.classify_rtol:g}\,|\lambda_{{\max}}|$")
    ax.set_yscale("log")
    small = np.abs(lmin[lmin != 0]) if np.any(lmin != 0) else lmax
    ax.set_ylim(min(np.min(small), tau) / 3, 10 * np.max(lmax))
    counts = result.summary.get("curvature_counts", {})
    kinds = result.summary.get("kind_counts", {})
    title = "spectrum: " + ", ".join(f"{v} {k}" for k, v in counts.items())
    if set(kinds) == {"not_critical"}:
        title += "\n(none critical: gradient above threshold)"
    # between the row of lambda_max and the smaller |lambda_min| (log axis)
    ax.legend(loc="center", bbox_to_anchor=(0.5, 0.58), fontsize=5.5, title=title,
              title_fontsize=5.5, ncols=3, handletextpad=0.3, columnspacing=0.8)
    return ax


def plot_barriers(ax, result: SeedResult):
    """Barrier against relative distance for each interpolated pair, before and after
    alignment (arrows join the two points of a pair)."""
    from landscape.plots import COLORS

    p = result.pairs
    sel = np.asarray(p["interpolated"], bool)
    d, b = np.asarray(p["distance"])[sel], np.asarray(p["barrier"])[sel]
    da, ba = np.asarray(p["aligned_distance"])[sel], np.asarray(p["aligned_barrier"])[sel]
    ax.scatter(d, b, s=8, color=COLORS[0], linewidths=0, label="solutions", zorder=3)
    has = np.isfinite(da) & np.isfinite(ba)
    if has.any():
        ax.scatter(da[has], ba[has], s=8, color=COLORS[1], linewidths=0,
                   label="after alignment", zorder=3)
        for x0, y0, x1, y1 in zip(d[has], b[has], da[has], ba[has], strict=True):
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops={"arrowstyle": "->", "color": "0.6", "linewidth": 0.4,
                                    "shrinkA": 2, "shrinkB": 2})
    ax.axhline(0, color="0.3", linewidth=0.5)
    ax.set_xlabel(r"$|a-b|\,/\sqrt{|a|\,|b|}$")
    ax.set_ylabel("barrier on the line (train loss)")
    ax.legend(loc="upper left")
    return ax


def plot(result: SeedResult):
    """The study's figure (full text width, 2 x 3 panels): training curves, final
    losses, distances, interpolations, barriers against distance, curvature."""
    import matplotlib.pyplot as plt

    from landscape import plots

    with plots.style():
        fig, axes = plt.subplots(2, 3, figsize=plots.figure_size(2, nrows=2, ncols=3, aspect=0.8))
        panels = (plot_training_curves, plot_final_losses, plot_distances,
                  plot_interpolations, plot_barriers, plot_curvature)
        for ax, panel, letter in zip(axes.flat, panels, "abcdef", strict=True):
            panel(ax, result)
            ax.text(-0.02, 1.02, f"({letter})", transform=ax.transAxes, fontweight="bold",
                    ha="right", va="bottom")
        info = result.info
        fig.suptitle(
            f"{info['model']} on {info['dataset']} ({info['num_params']} parameters, "
            f"{info['num_train']} training examples), {result.config.optimizer}, "
            f"{result.config.num_steps} steps", fontsize=8,
        )
    return fig


# ----------------------------------------------------------------------------- command line


def _parse_batch_size(text: str) -> int | str:
    if text.lower() in ("full", "none"):
        return "full"
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"batch size must be an integer or 'full', got {text!r}") from None


def main(argv: list[str] | None = None) -> SeedResult:
    """Command line: ``python scripts/seed_runs.py --profile quick`` (see ``--help``)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="seed_runs.py",
        description=(
            "Train N seeds of one configuration at once and measure how far apart they end "
            "(relative parameter distance, before and after weight matching of hidden "
            "units), the spread of their final losses, the loss barrier on the straight "
            "line between pairs, and the curvature of every endpoint. Writes a run "
            "directory (config.json, seeds.csv, pairs.csv, summary.json, arrays.npz) and "
            "the figure OUT/NAME.png and .pdf, and prints a summary."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                        help="quick: under 3 minutes on 2 CPU cores; full: 64 seeds, longer")
    parser.add_argument("--out", default="figures", help="directory for the figure")
    parser.add_argument("--name", default="seeds", help="figure file name, without extension")
    parser.add_argument("--run-dir", default=None,
                        help="run directory for tables and arrays (default runs/seeds-PROFILE)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--x64", action="store_true", help="compute in float64")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw the figure from an existing run directory")
    group = parser.add_argument_group("overrides of the profile (default: the profile's value)")
    group.add_argument("--num-seeds", type=int)
    group.add_argument("--seed", type=int, help="master seed")
    group.add_argument("--dataset", help="mnist1d, digits, teacher_student, gaussian_mixture, "
                       "spirals, xor or circles")
    group.add_argument("--num-samples", type=int, help="examples generated, all splits")
    group.add_argument("--model", choices=MODELS)
    group.add_argument("--hidden", type=int, nargs="+", help="hidden widths (cnn1d: channels)")
    group.add_argument("--activation", choices=sorted(models.ACTIVATIONS))
    group.add_argument("--init", help="initialiser, e.g. glorot_normal, he, normal(0.1)")
    group.add_argument("--optimizer", choices=train.OPTIMIZERS)
    group.add_argument("--learning-rate", type=float)
    group.add_argument("--momentum", type=float)
    group.add_argument("--steps", type=int, dest="num_steps")
    group.add_argument("--batch-size", type=_parse_batch_size, help="an integer, or 'full'")
    group.add_argument("--schedule", choices=train.SCHEDULES)
    group.add_argument("--l2", type=float)
    group.add_argument("--eval-every", type=int)
    group.add_argument("--align-pairs", type=int, dest="num_align_pairs")
    group.add_argument("--interp-pairs", type=int, dest="num_interp_pairs")
    group.add_argument("--lanczos-iters", type=int)
    group.add_argument("--no-curvature", action="store_false", dest="measure_curvature",
                       default=None, help="skip the endpoint curvature")
    args = parser.parse_args(argv)

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    run_dir = Path(args.run_dir or f"runs/seeds-{args.profile}")
    fields = {f.name for f in dataclasses.fields(SeedConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if "hidden" in overrides:
        overrides["hidden"] = tuple(overrides["hidden"])
    if overrides.get("batch_size") == "full":
        overrides["batch_size"] = None
    try:
        config = SeedConfig.profile(args.profile, **overrides)
        if not args.plot_only:
            make_dataset(config)  # an unknown data set fails here, before any compute
    except ValueError as error:
        parser.error(str(error))

    from landscape import plots

    start = time.perf_counter()
    if args.plot_only:
        result = load(run_dir)
    else:
        result = run(config, run_dir, progress=not args.quiet)
    fig = plot(result)
    paths = plots.save(fig, args.name, args.out)
    print(format_summary(result.summary))
    t = result.timings
    redrawn = f" (figure redrawn in {time.perf_counter() - start:.1f} s)" if args.plot_only else ""
    print(
        f"  time: {t['total']:.1f} s in all{redrawn}; train {t['train']:.1f} s (with "
        f"compilation), alignment {t['alignment']:.1f} s, interpolation "
        f"{t['interpolation']:.1f} s, curvature {t['curvature']:.1f} s "
        f"({result.info['backend']}, {result.info['num_devices']} device(s))"
    )
    print(f"  run directory: {run_dir}; figure: {', '.join(str(p) for p in paths)}")
    return result
