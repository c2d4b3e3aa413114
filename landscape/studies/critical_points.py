"""Critical points against loss: find exact critical points from many starts and plot
their index against their loss (Dauphin et al. 2014, Fig. 1).

The claim it checks (FAQ_CLAIMS.md, C1): in high dimension most critical points are
saddles, and the index (fraction of negative Hessian eigenvalues) rises with the
loss, so that the critical points near the bottom are minima or nearly so. The
study:

* trains ``num_seeds`` runs of a small MLP (:func:`landscape.train.train_seeds`,
  parameters recorded every ``eval_every`` steps) and takes the recorded points of
  every trajectory as starts, plus ``num_random`` random initialisations scaled by
  each of ``init_scales`` in turn;
* runs the Newton-MR finder (:func:`landscape.critical.find_critical_point`) from
  every start, batched with ``vmap``, and records how each run ended (converged,
  gradient-flat, stalled, diverged: Frye et al. 2021 showed that finders often stop
  in gradient-flat regions, which are not critical points);
* classifies every end point with dense ``eigh`` (:func:`landscape.critical.classify`,
  exact index) and keeps the critical ones;
* counts distinct critical points: two critical points with the same loss (to a
  relative 1e-8) and the same number of negative eigenvalues are taken as copies
  (the permutation and sign symmetries of an MLP map a critical point to others
  with the same loss and spectrum), and computes the Spearman rank correlation
  between loss and index over the distinct points;
* classifies the endpoints of the ordinary training runs (how many are minima,
  saddles, or not critical at all, with lambda_min and lambda_max).

Everything runs in float64 (``jax_enable_x64``): a gradient norm of 1e-10 is below
float32 rounding. The loss of a critical point is that of the objective whose
critical points they are: the data loss plus the L2 penalty; the data loss alone is
stored too. The L2 penalty (default 3e-3) lifts the exactly flat directions of the
network so that critical points are isolated and Newton converges; without it
almost every run ends gradient-flat.

Shape of the study: a frozen :class:`CriticalPointsConfig` (profiles ``quick`` and
``full``) -> :func:`run` -> :class:`CriticalPointsResult` -> :func:`plot`. With an
``out_dir``, :func:`run` writes ``config.json``, ``starts.csv`` (one row per start),
``endpoints.csv`` (one row per training run), ``summary.json`` and ``arrays.npz``
(gradient-norm trajectories and end points of the finder); :func:`load` reads them
back.

References
----------
Dauphin, Y., Pascanu, R., Gulcehre, C., Cho, K., Ganguli, S. & Bengio, Y. (2014).
Identifying and attacking the saddle point problem in high-dimensional non-convex
optimization. NeurIPS.
Frye, C. G., Simon, J., Wadia, N. S., Ligeralde, A., DeWeese, M. R. & Bouchard,
K. E. (2021). Critical point-finding methods reveal gradient-flat regions of deep
network losses. Neural Computation 33(6).
Roosta, F., Liu, Y., Xu, P. & Mahoney, M. W. (2018). Newton-MR: Newton's method
without smoothness or convexity. arXiv:1810.00303.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from landscape import critical, data, models, objectives, train
from landscape.problem import from_model

__all__ = [
    "PROFILES",
    "CriticalPointsConfig",
    "CriticalPointsResult",
    "format_summary",
    "load",
    "main",
    "plot",
    "plot_endpoints",
    "plot_finder",
    "plot_index_vs_loss",
    "run",
    "summarize",
]

DATASETS = ("teacher_student", "mnist1d")


@dataclasses.dataclass(frozen=True)
class CriticalPointsConfig:
    """Everything that fixes a critical-point study.

    Attributes
    ----------
    seed : int
        Master seed (data, training keys, random starts).
    dataset : {"teacher_student", "mnist1d"}
        Regression on a random tanh teacher (squared loss), or mnist1d
        (cross-entropy, standardised inputs).
    num_train : int
        Training examples (the loss is the mean over all of them).
    in_dim, teacher_hidden, noise : int, tuple of int, float
        The teacher-student data (:func:`landscape.data.teacher_student`).
    hidden, activation : tuple of int, str
        The student MLP. A smooth activation (tanh) gives a smooth Hessian.
    l2 : float
        L2 penalty ``0.5 * l2 * |theta|^2`` in the objective.
    num_seeds, optimizer, learning_rate, num_steps, batch_size, eval_every
        The training runs; parameters are recorded every ``eval_every`` steps
        (step 0 included) and their endpoints are classified.
    num_trajectory_points : int
        Recorded points per run used as starts, at roughly log-spaced steps (the
        loss falls fastest early): step 0, the last step and points between.
    num_random : int
        Random initialisations used as starts ...
    init_scales : tuple of float
        ... each multiplied by the next of these factors in turn (larger weights
        reach saddles of higher loss).
    max_iters, minres_iters, stall_iters : int
        Newton-MR budget (steps, MINRES iterations per step, stall window).
    tol : float
        Gradient-norm tolerance of the finder.
    rtol : float
        Relative eigenvalue threshold of the classification.
    chunk_size : int
        Starts solved together (one ``vmap``); one compile serves every chunk.
    """

    seed: int = 0
    dataset: str = "teacher_student"
    num_train: int = 256
    in_dim: int = 10
    teacher_hidden: tuple[int, ...] = (8,)
    noise: float = 0.0
    hidden: tuple[int, ...] = (8,)
    activation: str = "tanh"
    l2: float = 3e-3
    num_seeds: int = 6
    optimizer: str = "adam"
    learning_rate: float = 0.01
    num_steps: int = 1500
    batch_size: int | None = None
    eval_every: int = 10
    num_trajectory_points: int = 12
    num_random: int = 16
    init_scales: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    max_iters: int = 100
    minres_iters: int = 200
    stall_iters: int = 50
    tol: float = 1e-10
    rtol: float = 1e-3
    chunk_size: int = 16

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "teacher_hidden", tuple(int(h) for h in self.teacher_hidden))
        object.__setattr__(self, "init_scales", tuple(float(s) for s in self.init_scales))
        for name in ("num_train", "in_dim", "num_seeds", "num_steps", "eval_every",
                     "num_trajectory_points", "max_iters", "minres_iters", "stall_iters",
                     "chunk_size"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        if not isinstance(self.num_random, int | np.integer) or self.num_random < 0:
            raise ValueError(f"num_random: must be an integer >= 0, got {self.num_random!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset: unknown {self.dataset!r}; choose one of {list(DATASETS)}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden: need positive widths, got {self.hidden}")
        if self.activation not in models.ACTIVATIONS:
            raise ValueError(f"activation: unknown {self.activation!r}")
        if not self.init_scales or any(not s > 0 for s in self.init_scales):
            raise ValueError(f"init_scales: need positive factors, got {self.init_scales}")
        for name in ("l2", "noise"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}: must be non-negative, got {getattr(self, name)}")
        for name in ("learning_rate", "tol", "rtol"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.num_steps % self.eval_every:
            raise ValueError(
                f"eval_every: must divide num_steps={self.num_steps}, got {self.eval_every}"
            )

    def replace(self, **changes) -> CriticalPointsConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def profile(cls, name: str, **overrides) -> CriticalPointsConfig:
        """The config of profile ``name`` (:data:`PROFILES`) with ``overrides``."""
        if name not in PROFILES:
            raise ValueError(f"profile: unknown profile {name!r}; choose one of {sorted(PROFILES)}")
        return dataclasses.replace(PROFILES[name], **overrides)


PROFILES: dict[str, CriticalPointsConfig] = {
    # About a minute on 2 CPU cores: a 10-8-1 tanh student (97 parameters), 6 Adam
    # runs of 1500 steps (12 points of each) and 16 random starts: 88 starts.
    "quick": CriticalPointsConfig(),
    # A 10-16-1 student (193 parameters) on 512 examples, 16 runs of 3000 steps
    # (24 points of each) and 64 random starts: 448 starts.
    "full": CriticalPointsConfig(
        num_train=512, hidden=(16,), num_seeds=16, num_steps=3000, num_trajectory_points=24,
        num_random=64, max_iters=150,
    ),
}


class CriticalPointsResult(NamedTuple):
    """What :func:`run` returns (and :func:`load` reads back).

    Attributes
    ----------
    config : CriticalPointsConfig
    starts : dict of (N,) arrays
        One row per start: ``source`` ("trajectory" or "random"), ``seed`` (run, or
        -1), ``step`` (training step, or -1), ``scale`` (init factor, or 1),
        ``start_loss``; the finder's ``status``, ``num_iters``, ``num_matvecs``,
        ``grad_norm``, ``flat_ratio``, ``loss`` (objective) and ``data_loss`` at the
        end point; its classification ``kind``, ``curvature``, ``index``,
        ``num_negative``, ``num_null``, ``lambda_min``, ``lambda_max``,
        ``flatness``; ``critical`` (bool: converged and classified critical);
        ``distinct`` (bool: the first copy of a distinct critical point).
    endpoints : dict of (S,) arrays
        One row per training run: ``seed``, ``loss``, ``data_loss``, ``grad_norm``,
        ``grad_threshold``, ``kind``, ``curvature``, ``index``, ``num_negative``,
        ``lambda_min``, ``lambda_max``, ``residual_min``, ``flatness``.
    grad_norms : (N, max_iters + 1) array
        The finder's ``|g|`` trajectory per start (NaN after its stop).
    points : (N, n) array
        The finder's end point per start, flat (``jax.flatten_util.ravel_pytree``
        order of the model's parameters).
    summary : dict
        :func:`summarize` of the tables.
    timings : dict
        Seconds per phase.
    info : dict
        Model, number of parameters, data set, loss, dtype.
    """

    config: CriticalPointsConfig
    starts: dict[str, np.ndarray]
    endpoints: dict[str, np.ndarray]
    grad_norms: np.ndarray
    points: np.ndarray
    summary: dict[str, Any]
    timings: dict[str, float]
    info: dict[str, Any]


# ----------------------------------------------------------------------------- set-up


def make_dataset(config: CriticalPointsConfig) -> data.Dataset:
    """The training data of ``config`` (float64)."""
    if config.dataset == "teacher_student":
        ds = data.teacher_student(
            num_samples=2 * config.num_train, in_dim=config.in_dim,
            teacher_hidden=config.teacher_hidden, noise=config.noise, seed=config.seed,
        )
    else:
        ds = data.standardize(data.mnist1d(num_samples=max(2 * config.num_train, 100)))
    if config.num_train > ds.num_train:
        raise ValueError(
            f"num_train: {config.num_train} is more than the {ds.num_train} training examples"
        )
    return ds.subset(config.num_train).astype(np.float64)


def _check_x64():
    if not jax.config.jax_enable_x64:
        raise ValueError(
            "x64: the critical-point study needs float64 (gradient norms of 1e-10 are below "
            "float32 rounding); call jax.config.update('jax_enable_x64', True) first"
        )


def _progress(iterable, total, desc, progress):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not progress, leave=False)


# ----------------------------------------------------------------------------- run


def run(
    config: CriticalPointsConfig,
    out_dir: str | Path | None = None,
    *,
    progress: bool = True,
) -> CriticalPointsResult:
    """Train, find critical points from every start, classify them and the endpoints.

    Parameters
    ----------
    config : CriticalPointsConfig
    out_dir : path, optional
        Run directory to write (see the module docstring).
    progress : bool
        tqdm bars for training and for the chunks of starts.

    Raises
    ------
    ValueError
        When float64 is not enabled, or for a bad config (naming the field).
    """
    from landscape import results

    _check_x64()
    if out_dir is not None:
        results.write_config(out_dir, config)
    timings: dict[str, float] = {}
    key = jax.random.key(config.seed)
    k_train, k_random, k_classify = jax.random.split(key, 3)

    dataset = make_dataset(config)
    loss_name = "mse" if dataset.task == "regression" else "cross_entropy"
    model = models.mlp(dataset.in_dim, config.hidden, dataset.out_dim,
                       activation=config.activation, dtype=jnp.float64)
    objective = objectives.make_loss(model.apply, loss=loss_name, l2=config.l2)
    data_loss = objectives.make_loss(model.apply, loss=loss_name)
    batch = data.Batch(jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train))

    # ---- training runs: trajectories (starts) and endpoints
    t0 = time.perf_counter()
    tcfg = train.TrainConfig(
        optimizer=config.optimizer, learning_rate=config.learning_rate,
        num_steps=config.num_steps, batch_size=config.batch_size, l2=config.l2,
        eval_every=config.eval_every, record_params=True,
    )
    trained = train.train_seeds(from_model(model, dataset, loss=loss_name), tcfg,
                                keys=jax.random.split(k_train, config.num_seeds),
                                progress=progress)
    steps = np.asarray(trained.curves.step)
    chosen = _log_spaced(len(steps), config.num_trajectory_points)
    trajectory = np.asarray(trained.trajectory)[:, chosen]  # (S, E, n)
    steps = steps[chosen]
    timings["train"] = time.perf_counter() - t0

    template = model.init(k_random)
    flat0, unravel = ravel_pytree(template)
    n = int(flat0.size)
    S, E = trajectory.shape[:2]
    random_flat = np.stack([
        np.asarray(ravel_pytree(model.init(k))[0])
        * config.init_scales[i % len(config.init_scales)]
        for i, k in enumerate(jax.random.split(k_random, config.num_random))
    ]) if config.num_random else np.zeros((0, n))
    start_flat = np.concatenate([trajectory.reshape(S * E, n), random_flat])
    N = len(start_flat)
    starts: dict[str, np.ndarray] = {
        "source": np.array(["trajectory"] * (S * E) + ["random"] * config.num_random),
        "seed": np.concatenate([np.repeat(np.arange(S), E), -np.ones(config.num_random, int)]),
        "step": np.concatenate([np.tile(steps, S), -np.ones(config.num_random, int)]),
        "scale": np.concatenate([
            np.ones(S * E),
            [config.init_scales[i % len(config.init_scales)] for i in range(config.num_random)],
        ]),
    }

    # ---- the finder and the classification, chunk by chunk (one compile for all)
    t0 = time.perf_counter()

    def solve(flat):
        res = critical.find_critical_point(
            objective, unravel(flat), batch, max_iters=config.max_iters, tol=config.tol,
            minres_iters=min(config.minres_iters, n), stall_iters=config.stall_iters,
        )
        c = critical.classify(objective, res.params, batch, key=k_classify, rtol=config.rtol,
                              method="dense")
        return (objective(unravel(flat), batch), res._replace(params=ravel_pytree(res.params)[0]),
                c, data_loss(res.params, batch))

    solve_chunk = jax.jit(jax.vmap(solve))
    chunk = config.chunk_size
    outs = []
    for lo in _progress(range(0, N, chunk), -(-N // chunk), "critical points", progress):
        block = start_flat[lo : lo + chunk]
        pad = chunk - len(block)
        if pad:
            block = np.concatenate([block, np.repeat(block[-1:], pad, axis=0)])
        out = jax.device_get(solve_chunk(jnp.asarray(block)))
        outs.append(jax.tree_util.tree_map(lambda a, m=chunk - pad: np.asarray(a)[:m], out))
    start_loss, res, cls, dloss = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *outs)
    timings["find"] = time.perf_counter() - t0

    status = np.asarray(critical.STATUSES, dtype=object)[res.status_code].astype(str)
    kind = np.asarray(critical.KINDS, dtype=object)[cls.code].astype(str)
    starts.update({
        "start_loss": np.asarray(start_loss, np.float64),
        "status": status,
        "num_iters": np.asarray(res.num_iters, np.int64),
        "num_matvecs": np.asarray(res.num_matvecs, np.int64),
        "grad_norm": np.asarray(res.grad_norm, np.float64),
        "flat_ratio": np.asarray(res.flat_ratio, np.float64),
        "loss": np.asarray(res.loss, np.float64),
        "data_loss": np.asarray(dloss, np.float64),
        "kind": kind,
        "curvature": np.asarray(critical.KINDS, dtype=object)[cls.curvature_code].astype(str),
        "index": np.asarray(cls.index, np.float64),
        "num_negative": np.asarray(cls.num_negative, np.float64),
        "num_null": np.asarray(cls.num_null, np.float64),
        "lambda_min": np.asarray(cls.lambda_min, np.float64),
        "lambda_max": np.asarray(cls.lambda_max, np.float64),
        "flatness": np.asarray(cls.flatness, np.float64),
    })
    starts["critical"] = (status == "converged") & (kind != "not_critical")
    starts["distinct"] = _distinct(starts["loss"], starts["num_negative"], starts["critical"])

    # ---- endpoints of the training runs
    t0 = time.perf_counter()
    end = jax.jit(jax.vmap(lambda p: (
        critical.classify(objective, p, batch, key=k_classify, rtol=config.rtol, method="dense"),
        data_loss(p, batch),
    )))(trained.params)
    ec, edl = jax.device_get(end)
    endpoints = {
        "seed": np.arange(S),
        "loss": np.asarray(ec.loss, np.float64),
        "data_loss": np.asarray(edl, np.float64),
        "grad_norm": np.asarray(ec.grad_norm, np.float64),
        "grad_threshold": np.asarray(ec.grad_threshold, np.float64),
        "kind": np.asarray(critical.KINDS, dtype=object)[ec.code].astype(str),
        "curvature": np.asarray(critical.KINDS, dtype=object)[ec.curvature_code].astype(str),
        "index": np.asarray(ec.index, np.float64),
        "num_negative": np.asarray(ec.num_negative, np.float64),
        "lambda_min": np.asarray(ec.lambda_min, np.float64),
        "lambda_max": np.asarray(ec.lambda_max, np.float64),
        "residual_min": np.asarray(ec.residual_min, np.float64),
        "flatness": np.asarray(ec.flatness, np.float64),
    }
    timings["endpoints"] = time.perf_counter() - t0
    timings["total"] = sum(timings.values())

    info = {
        "model": model.name,
        "num_params": n,
        "dataset": dataset.name,
        "num_train": dataset.num_train,
        "loss": loss_name,
        "l2": config.l2,
        "dtype": "float64",
        "num_starts": N,
        "backend": jax.default_backend(),
    }
    result = CriticalPointsResult(
        config, starts, endpoints, np.asarray(res.grad_norms, np.float64),
        np.asarray(res.params, np.float64), summarize(starts, endpoints), timings, info,
    )
    if out_dir is not None:
        save(result, out_dir)
    return result


def _log_spaced(count: int, wanted: int) -> np.ndarray:
    """About ``wanted`` distinct indices in ``[0, count)``, log-spaced, 0 and the last
    included."""
    if wanted >= count:
        return np.arange(count)
    picks = np.unique(np.round(np.geomspace(1, count, wanted)).astype(int) - 1)
    extra = wanted - len(picks)  # fill collisions at the start with the smallest free indices
    free = np.setdiff1d(np.arange(count), picks)[:max(extra, 0)]
    return np.sort(np.concatenate([picks, free]))


def _distinct(loss, num_negative, critical_mask, *, rtol=1e-8):
    """The first of each group of critical points with equal loss (to ``rtol``) and index."""
    keep = np.zeros(len(loss), bool)
    seen: list[tuple[float, float]] = []
    for i in np.flatnonzero(critical_mask):
        if not any(abs(loss[i] - l0) <= rtol * max(abs(l0), 1e-300) and num_negative[i] == k0
                   for l0, k0 in seen):
            seen.append((loss[i], num_negative[i]))
            keep[i] = True
    return keep


def summarize(starts: Mapping[str, Any], endpoints: Mapping[str, Any]) -> dict[str, Any]:
    """Counts and the rank correlation, from the tables alone.

    ``status_counts`` (finder outcomes over all starts), ``kind_counts`` over the
    critical points found and over the distinct ones, ``spearman`` (rho and
    p-value) between loss and index over the distinct critical points (and
    ``spearman_all`` over every critical point found), ``endpoint_kind_counts``
    and ``endpoint_curvature_counts`` of the training runs, and ranges of
    ``lambda_min``, ``lambda_max`` and ``grad_norm`` at the endpoints.
    """
    from scipy.stats import spearmanr

    status = [str(s) for s in starts["status"]]
    crit = np.asarray(starts["critical"], bool)
    distinct = np.asarray(starts["distinct"], bool)
    kinds = np.asarray(starts["kind"]).astype(str)

    def counts(values):
        values = [str(v) for v in values]
        return {k: values.count(k) for k in sorted(set(values))}

    def rho(mask):
        loss = np.asarray(starts["loss"], np.float64)[mask]
        index = np.asarray(starts["index"], np.float64)[mask]
        if len(loss) < 3 or np.all(index == index[0]) or np.all(loss == loss[0]):
            return {"rho": float("nan"), "pvalue": float("nan"), "count": int(len(loss))}
        r = spearmanr(loss, index)
        return {"rho": float(r.statistic), "pvalue": float(r.pvalue), "count": int(len(loss))}

    by_source = {
        src: counts(np.asarray(status)[np.asarray(starts["source"]) == src])
        for src in sorted(set(np.asarray(starts["source"]).astype(str)))
    }
    lam = lambda name: {
        "min": float(np.min(endpoints[name])), "max": float(np.max(endpoints[name])),
        "median": float(np.median(endpoints[name])),
    }
    return {
        "num_starts": len(status),
        "status_counts": counts(status),
        "status_by_source": by_source,
        "num_critical": int(crit.sum()),
        "num_distinct": int(distinct.sum()),
        "kind_counts": counts(kinds[crit]),
        "distinct_kind_counts": counts(kinds[distinct]),
        "spearman": rho(distinct),
        "spearman_all": rho(crit),
        "max_index_distinct": float(np.max(np.asarray(starts["index"])[distinct]))
        if distinct.any() else float("nan"),
        "endpoint_kind_counts": counts(endpoints["kind"]),
        "endpoint_curvature_counts": counts(endpoints["curvature"]),
        "endpoint_lambda_min": lam("lambda_min"),
        "endpoint_lambda_max": lam("lambda_max"),
        "endpoint_grad_norm": lam("grad_norm"),
        "endpoint_grad_threshold": lam("grad_threshold"),
    }


def _fmt(x: float, digits: int = 3) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.{digits}g}"


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as text: finder outcomes, the kinds found, the correlation, endpoints."""
    s = summary
    joined = lambda d: ", ".join(f"{v} {k}" for k, v in d.items()) or "none"
    sp, spa = s["spearman"], s["spearman_all"]
    lines = [
        f"{s['num_starts']} starts: {joined(s['status_counts'])}",
        "  by source: " + "; ".join(f"{k}: {joined(v)}" for k, v in s["status_by_source"].items()),
        f"  critical points found: {s['num_critical']} ({joined(s['kind_counts'])}); distinct "
        f"(loss, index): {s['num_distinct']} ({joined(s['distinct_kind_counts'])})",
        f"  Spearman rank correlation of index and loss: rho = {_fmt(sp['rho'])} "
        f"(p = {_fmt(sp['pvalue'], 2)}, {sp['count']} distinct points); over all critical "
        f"points found rho = {_fmt(spa['rho'])} ({spa['count']})",
        f"  training endpoints: {joined(s['endpoint_kind_counts'])} (spectrum alone: "
        f"{joined(s['endpoint_curvature_counts'])}); |g| "
        f"{_fmt(s['endpoint_grad_norm']['min'])}-{_fmt(s['endpoint_grad_norm']['max'])} "
        f"against thresholds {_fmt(s['endpoint_grad_threshold']['median'])}; lambda_min "
        f"{_fmt(s['endpoint_lambda_min']['min'])} to {_fmt(s['endpoint_lambda_min']['max'])}, "
        f"lambda_max {_fmt(s['endpoint_lambda_max']['min'])} to "
        f"{_fmt(s['endpoint_lambda_max']['max'])}",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- files


STARTS_FILE, ENDPOINTS_FILE, SUMMARY_FILE, ARRAYS_FILE = (
    "starts.csv", "endpoints.csv", "summary.json", "arrays.npz"
)
_BOOL_COLUMNS = ("critical", "distinct")
_STR_COLUMNS = ("source", "status", "kind", "curvature")


def _rows(table: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    names = list(table)
    count = len(np.asarray(table[names[0]])) if names else 0
    return [{k: np.asarray(table[k])[i].item() for k in names} for i in range(count)]


def _columns(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for k in rows[0] if rows else ():
        values = [r[k] for r in rows]
        if k in _STR_COLUMNS:
            out[k] = np.array(["" if v is None else str(v) for v in values])
        elif k in _BOOL_COLUMNS:
            out[k] = np.array([bool(v) for v in values])
        else:
            out[k] = np.array([np.nan if v is None else v for v in values])
    return out


def save(result: CriticalPointsResult, out_dir: str | Path) -> None:
    """Write the tables, summary and arrays of ``result`` to ``out_dir``."""
    from landscape import results

    out = Path(out_dir)
    results.write_config(out, result.config)
    results.write_table(out / STARTS_FILE, _rows(result.starts))
    results.write_table(out / ENDPOINTS_FILE, _rows(result.endpoints))
    results.write_json(out / SUMMARY_FILE, {"summary": result.summary, "timings": result.timings,
                                            "info": result.info})
    results.write_arrays(out / ARRAYS_FILE, {"grad_norms": result.grad_norms,
                                             "points": result.points})


def load(out_dir: str | Path) -> CriticalPointsResult:
    """Read a run directory written by :func:`run` back into a result."""
    from landscape import results

    out = Path(out_dir)
    config = CriticalPointsConfig(**{
        k: tuple(v) if isinstance(v, list) else v
        for k, v in results.read_config(out)["config"].items()
    })
    stored = results.read_json(out / SUMMARY_FILE)
    arrays = results.read_arrays(out / ARRAYS_FILE)
    return CriticalPointsResult(
        config,
        _columns(results.read_table(out / STARTS_FILE)),
        _columns(results.read_table(out / ENDPOINTS_FILE)),
        arrays["grad_norms"], arrays["points"],
        stored["summary"], stored["timings"], stored["info"],
    )


# ----------------------------------------------------------------------------- figures

_KIND_STYLE = {
    "minimum": ("#0072B2", "o"),
    "saddle": ("#D55E00", "^"),
    "maximum": ("#CC79A7", "v"),
    "degenerate": ("#999999", "s"),
}
_STATUS_COLORS = {
    "converged": "#009E73",
    "gradient_flat": "#E69F00",
    "stalled": "#56B4E9",
    "diverged": "#CC79A7",
}


def plot_index_vs_loss(ax, result: CriticalPointsResult):
    """Index (fraction of negative eigenvalues) against loss of the distinct critical
    points, in the manner of Dauphin et al. (2014), Fig. 1. Filled markers: found from
    a point of a training run; open: from a random initialisation."""
    s = result.starts
    distinct = np.asarray(s["distinct"], bool)
    for kind, (color, marker) in _KIND_STYLE.items():
        for source, filled in (("trajectory", True), ("random", False)):
            mask = distinct & (s["kind"] == kind) & (s["source"] == source)
            if not mask.any():
                continue
            ax.scatter(s["loss"][mask], 100 * s["index"][mask], s=14, marker=marker,
                       facecolors=color if filled else "none", edgecolors=color, linewidths=0.8,
                       label=f"{kind}{'' if filled else ', random start'} ({int(mask.sum())})")
    ax.set_xscale("log")
    ax.set_xlabel("loss (objective with L2)")
    ax.set_ylabel("index: negative eigenvalues (%)")
    sp = result.summary["spearman"]
    ax.set_title("index against loss")
    ax.text(0.98, 0.03, f"Spearman $\\rho$ = {_fmt(sp['rho'], 2)}\n"
            f"({sp['count']} distinct points)", transform=ax.transAxes, ha="right",
            va="bottom", fontsize=6.5)
    ax.legend(loc="center right")
    return ax


def plot_finder(ax, result: CriticalPointsResult):
    """The finder's gradient norm per Newton-MR step, one line per start, coloured by
    how it ended."""
    status = result.starts["status"]
    for name, color in _STATUS_COLORS.items():
        rows = np.flatnonzero(status == name)
        for j, i in enumerate(rows):
            ax.plot(result.grad_norms[i], color=color, alpha=0.5, linewidth=0.6,
                    label=f"{name.replace('_', '-')} ({len(rows)})" if j == 0 else None)
    ax.axhline(result.config.tol, color="black", linewidth=0.6, linestyle="--",
               label=f"tolerance {result.config.tol:g}")
    ax.set_yscale("log")
    ax.set_xlabel("Newton-MR step")
    ax.set_ylabel(r"gradient norm $|g|$")
    ax.set_title("Newton-MR runs by outcome")
    ax.legend(loc="lower right")
    return ax


def plot_endpoints(ax, result: CriticalPointsResult):
    """The training endpoints: |g| against its critical threshold, coloured by the kind
    the spectrum alone gives, with lambda_min / lambda_max in the legend."""
    e = result.endpoints
    ratio = e["grad_norm"] / e["grad_threshold"]
    rel = e["lambda_min"] / np.abs(e["lambda_max"])
    for kind, (color, marker) in _KIND_STYLE.items():
        mask = e["curvature"] == kind
        if mask.any():
            ax.scatter(ratio[mask], rel[mask], s=16, marker=marker, color=color,
                       label=f"spectrum: {kind} ({int(mask.sum())})")
    ax.axvline(1.0, color="black", linewidth=0.6, linestyle="--", label="critical threshold")
    ax.axhline(-result.config.rtol, color="grey", linewidth=0.6, linestyle=":",
               label=r"$-$rtol (negative below)")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_xlabel(r"$|g|$ / critical threshold")
    ax.set_ylabel(r"$\lambda_{\min} / \lambda_{\max}$")
    counts = result.summary["endpoint_kind_counts"]
    ax.set_title("endpoints: " + ", ".join(f"{v} {k.replace('_', ' ')}"
                                           for k, v in counts.items()))
    ax.legend(loc="lower left")
    return ax


def plot(result: CriticalPointsResult):
    """The study's figure (full text width, three panels)."""
    import matplotlib.pyplot as plt

    from landscape import plots

    with plots.style():
        fig, axes = plt.subplots(1, 3, figsize=plots.figure_size(2, ncols=3, aspect=1.0))
        for ax, panel, letter in zip(axes, (plot_index_vs_loss, plot_finder, plot_endpoints),
                                     "abc", strict=True):
            panel(ax, result)
            ax.set_title(f"({letter}) {ax.get_title()}")
        info = result.info
        fig.suptitle(
            f"{info['model']} on {info['dataset']} ({info['num_params']} parameters, "
            f"{info['num_train']} examples, {info['loss']} + {info['l2']:g} L2): "
            f"{info['num_starts']} Newton-MR runs", fontsize=8,
        )
    return fig


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> CriticalPointsResult:
    """Command line: ``python scripts/critical_points.py --profile quick`` (see ``--help``)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="critical_points.py",
        description=(
            "Find exact critical points (saddles included) of a small MLP's loss by "
            "Newton-MR from many starts (points along training runs and random "
            "initialisations), classify each by its Hessian spectrum, plot index "
            "against loss (Dauphin et al. 2014, Fig. 1) and print the Spearman rank "
            "correlation; also classify the endpoints of the training runs. Runs in "
            "float64. Writes a run directory and the figure OUT/NAME.png and .pdf."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                        help="quick: about a minute on 2 CPU cores; full: 560 starts")
    parser.add_argument("--out", default="figures", help="directory for the figure")
    parser.add_argument("--name", default="critical_points",
                        help="figure file name, without extension")
    parser.add_argument("--run-dir", default=None,
                        help="run directory for tables and arrays (default "
                        "runs/critical_points-PROFILE)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw the figure from an existing run directory")
    group = parser.add_argument_group("overrides of the profile (default: the profile's value)")
    group.add_argument("--seed", type=int)
    group.add_argument("--dataset", choices=DATASETS)
    group.add_argument("--num-train", type=int)
    group.add_argument("--hidden", type=int, nargs="+")
    group.add_argument("--activation", choices=sorted(models.ACTIVATIONS))
    group.add_argument("--l2", type=float)
    group.add_argument("--num-seeds", type=int)
    group.add_argument("--optimizer", choices=train.OPTIMIZERS)
    group.add_argument("--learning-rate", type=float)
    group.add_argument("--steps", type=int, dest="num_steps")
    group.add_argument("--eval-every", type=int)
    group.add_argument("--num-random", type=int)
    group.add_argument("--max-iters", type=int)
    group.add_argument("--minres-iters", type=int)
    args = parser.parse_args(argv)

    jax.config.update("jax_enable_x64", True)
    fields = {f.name for f in dataclasses.fields(CriticalPointsConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if "hidden" in overrides:
        overrides["hidden"] = tuple(overrides["hidden"])
    try:
        config = CriticalPointsConfig.profile(args.profile, **overrides)
    except ValueError as error:
        parser.error(str(error))
    run_dir = Path(args.run_dir or f"runs/critical_points-{args.profile}")

    from landscape import plots

    start = time.perf_counter()
    result = load(run_dir) if args.plot_only else run(config, run_dir, progress=not args.quiet)
    fig = plot(result)
    paths = plots.save(fig, args.name, args.out)
    print(format_summary(result.summary))
    t = result.timings
    print(f"  time: {time.perf_counter() - start:.1f} s in all; train {t['train']:.1f} s, "
          f"finder and classification {t['find']:.1f} s (with compilation), endpoints "
          f"{t['endpoints']:.1f} s ({result.info['backend']})")
    print(f"  run directory: {run_dir}; figure: {', '.join(str(p) for p in paths)}")
    return result
