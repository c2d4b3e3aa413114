"""Critical points against loss: exact critical points of a :class:`~landscape.problem.Problem`'s
loss from many starts, their index against their loss (Dauphin et al. 2014, Fig. 1), and the
classification of the endpoints of ordinary training runs.

The claim it checks (C1 of the FAQ report): in high dimension most critical points
are saddles, and the index (fraction of negative Hessian eigenvalues) rises with the
loss, so that the critical points near the bottom are minima or nearly so. The
study:

* trains ``num_seeds`` runs of the problem's network (parameters recorded every
  ``eval_every`` steps) and takes recorded points of every trajectory as starts,
  plus ``num_random`` initialisations of the problem scaled by each of
  ``init_scales`` in turn;
* runs the Newton-MR finder (:func:`landscape.critical.find_critical_point`) from
  every start, ``chunk_size`` starts at a time in one ``vmap``, and records how each
  run ended (converged, gradient-flat, stalled, diverged: Frye et al. 2021 showed that
  finders often stop in gradient-flat regions, which are not critical points);
* classifies every end point with dense ``eigh`` (:func:`landscape.critical.classify`,
  exact index) and keeps the critical ones;
* counts distinct critical points: two critical points with the same loss (to a
  relative 1e-8) and the same number of negative eigenvalues are taken as copies
  (the permutation and sign symmetries of a network map a critical point to others
  with the same loss and spectrum), and computes the Spearman rank correlation
  between loss and index over the distinct points;
* classifies the endpoints of the training runs (how many are minima, saddles, or
  not critical at all, with lambda_min and lambda_max).

Everything runs in float64 (``jax_enable_x64``): a gradient norm of 1e-10 is below
float32 rounding. The objective is the deterministic loss
:meth:`Problem.loss_fn <landscape.problem.Problem.loss_fn>` (dropout off; for a network
with model state, the evaluation-mode state at the end of the first training run)
plus the L2 penalty ``l2 * |theta|^2 / 2``; the data loss alone is stored too. The
penalty (default 3e-3) lifts the exactly flat directions of the network so that
critical points are isolated and Newton converges; without it almost every run ends
gradient-flat.

The run directory holds ``config.json``, one file per finished phase in ``cells/``
(training, each chunk of starts, the endpoints: a rerun computes only the missing
ones), ``starts.csv`` (one row per start), ``endpoints.csv`` (one row per training
run), ``summary.json`` and ``arrays.npz`` (gradient-norm trajectories and end points
of the finder); :func:`load` reads them back. Figures: :mod:`landscape.plots.critical_points`.

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

from landscape import critical, results, train
from landscape.problem import Problem
from landscape.studies import _common
from landscape.studies._common import Profile, fmt

__all__ = [
    "PROFILES",
    "Config",
    "Result",
    "format_summary",
    "load",
    "run",
    "save",
    "summarize",
]


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that fixes a critical-point study of a given problem.

    Attributes
    ----------
    seed : int
        Master seed (training keys, random starts).
    l2 : float
        L2 penalty coefficient: the objective adds 0.5 * l2 * |theta|^2.
    num_seeds : int
        Training runs; their endpoints are classified.
    optimizer : str
        Optimizer of the training runs (a name in landscape.train.OPTIMIZERS).
    learning_rate : float
        Learning rate of the training runs.
    num_steps : int
        Training steps.
    batch_size : int or None
        Minibatch size of the training runs (None: full batch).
    eval_every : int
        Steps between recorded parameters (step 0 included).
    num_trajectory_points : int
        Recorded points per run used as starts, at roughly log-spaced steps (the
        loss falls fastest early): step 0, the last step and points between.
    num_random : int
        Random initialisations used as starts.
    init_scales : tuple of float
        Factors multiplying the random starts in turn (larger weights reach saddles
        of higher loss).
    max_iters : int
        Newton-MR steps.
    minres_iters : int
        MINRES iterations per Newton step.
    stall_iters : int
        Newton-MR stall window.
    tol : float
        Gradient-norm tolerance of the finder.
    rtol : float
        Relative eigenvalue threshold of the classification.
    chunk_size : int
        Starts solved together in one vmap and written to the run directory as one
        part; one compile serves every chunk.
    """

    seed: int = 0
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
        object.__setattr__(self, "init_scales", tuple(float(s) for s in self.init_scales))
        for name in ("num_seeds", "num_steps", "eval_every", "num_trajectory_points",
                     "max_iters", "minres_iters", "stall_iters", "chunk_size"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        for name in ("seed", "num_random"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}: must be an integer >= 0, got {value!r}")
        if not self.init_scales or any(not s > 0 for s in self.init_scales):
            raise ValueError(f"init_scales: need positive factors, got {self.init_scales}")
        if not self.l2 >= 0:
            raise ValueError(f"l2: must be non-negative, got {self.l2}")
        for name in ("learning_rate", "tol", "rtol"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.num_steps % self.eval_every:
            raise ValueError(
                f"eval_every: must divide num_steps={self.num_steps}, got {self.eval_every}"
            )
        train.TrainConfig(**self.train_settings())  # validates the optimizer and batch size

    def train_settings(self) -> dict[str, Any]:
        """The training runs, parameters recorded (keyword arguments of
        :class:`landscape.train.TrainConfig`)."""
        return dict(optimizer=self.optimizer, learning_rate=self.learning_rate,
                    num_steps=self.num_steps, batch_size=self.batch_size, l2=self.l2,
                    eval_every=self.eval_every, record_params=True)


def _teacher_student(num_train: int, hidden: tuple[int, ...]) -> dict[str, Any]:
    return dict(model="mlp", dataset="teacher_student", num_samples=2 * num_train,
                num_train=num_train, hidden=hidden, activation="tanh",
                data_options=dict(in_dim=10, teacher_hidden=(8,), noise=0.0, seed=0))


# The problem part is keyword arguments of landscape.registry.builtin: a tanh student
# MLP on the first num_train examples of a random tanh teacher (squared loss).
PROFILES: dict[str, Profile] = {
    # About a minute on 2 CPU cores: a 10-8-1 student (97 parameters), 6 Adam runs of
    # 1500 steps (12 points of each) and 16 random starts: 88 starts.
    "quick": Profile(_teacher_student(256, (8,)), Config()),
    # A 10-16-1 student (193 parameters) on 512 examples, 16 runs of 3000 steps
    # (24 points of each) and 64 random starts: 448 starts.
    "full": Profile(_teacher_student(512, (16,)),
                    Config(num_seeds=16, num_steps=3000, num_trajectory_points=24,
                           num_random=64, max_iters=150)),
}


class Result(NamedTuple):
    """What :func:`run` returns (and :func:`load` reads back).

    Attributes
    ----------
    config : Config
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
        order of the problem's parameters).
    summary : dict
        :func:`summarize` of the tables, with ``"skipped"`` (parts not done, and why).
    timings : dict
        Seconds per phase (phases loaded from the run directory count 0).
    info : dict
        The problem (``problem.describe()``), number of parameters, data set, loss, dtype.
    """

    config: Config
    starts: dict[str, np.ndarray]
    endpoints: dict[str, np.ndarray]
    grad_norms: np.ndarray
    points: np.ndarray
    summary: dict[str, Any]
    timings: dict[str, float]
    info: dict[str, Any]


def _check_x64():
    if not jax.config.jax_enable_x64:
        raise ValueError(
            "x64: the critical-point study needs float64 (gradient norms of 1e-10 are below "
            "float32 rounding); call jax.config.update('jax_enable_x64', True) first"
        )


def _check(problem: Problem, config: Config) -> None:
    if not isinstance(problem, Problem):
        raise ValueError(f"problem: expected a landscape.problem.Problem, got "
                         f"{type(problem).__name__}")
    if not isinstance(config, Config):
        raise ValueError(f"config: expected a critical_points.Config, got "
                         f"{type(config).__name__}")


# ----------------------------------------------------------------------------- phases


def _train(problem, config, keys, progress):
    tcfg = train.TrainConfig(**config.train_settings())
    result = train.train_seeds(problem, tcfg, keys=keys, progress=progress)
    state = result.state
    steps = np.asarray(result.curves.step)
    chosen = _log_spaced(len(steps), config.num_trajectory_points)
    return {
        "trajectory": np.asarray(result.trajectory)[:, chosen],  # (S, E, n)
        "steps": steps[chosen],
        "final": np.stack([np.asarray(ravel_pytree(_common.index_tree(result.params, s))[0])
                           for s in range(config.num_seeds)]),  # (S, n)
        "state": _common.leaves(None if state is None else _common.index_tree(state, 0)),
    }


def _flatten(prefix: str, tree: NamedTuple) -> dict[str, np.ndarray]:
    return {f"{prefix}{k}": np.asarray(v) for k, v in tree._asdict().items()}


def _field(arrays: Mapping[str, Any], prefix: str, name: str) -> np.ndarray:
    return np.asarray(arrays[prefix + name])


# ----------------------------------------------------------------------------- run


def run(problem: Problem, config: Config, run_dir: str | Path | None = None, *,
        progress: bool = True) -> Result:
    """Train, find critical points from every start, classify them and the endpoints.

    Parameters
    ----------
    problem : Problem
        Its parameters must be float64 (build it with x64 enabled).
    config : Config
    run_dir : path, optional
        Run directory (see the module docstring); finished phases are loaded from it.
    progress : bool
        tqdm bars for training and for the chunks of starts.

    Raises
    ------
    ValueError
        When float64 is not enabled, or for a bad config (naming the field).
    """
    _check_x64()
    _check(problem, config)
    if run_dir is not None:
        results.write_config(run_dir, config, problem=problem)
    timings: dict[str, float] = {}
    key = jax.random.key(config.seed)
    k_train, k_random, k_classify = jax.random.split(key, 3)

    t0 = time.perf_counter()
    trained = results.cached_part(run_dir, "train", lambda: _train(
        problem, config, jax.random.split(k_train, config.num_seeds), progress))
    timings["train"] = time.perf_counter() - t0
    trajectory, steps = np.asarray(trained["trajectory"]), np.asarray(trained["steps"])

    template, state0 = problem.init_all(k_random)
    state = _common.unleaves(jax.tree_util.tree_structure(state0), trained.get("state"))
    objective = problem.loss_fn(state, l2=config.l2)
    data_loss = problem.loss_fn(state)
    flat0, unravel = ravel_pytree(template)
    if flat0.dtype != jnp.float64:
        raise ValueError(f"problem: parameters of {problem.name!r} are {flat0.dtype}; build "
                         "the problem with x64 enabled so that they are float64")
    n = int(flat0.size)
    batch = problem.data.batch("train", flat0.dtype)

    S, E = trajectory.shape[:2]
    scales = [config.init_scales[i % len(config.init_scales)] for i in range(config.num_random)]
    random_flat = np.stack([
        np.asarray(ravel_pytree(problem.init(k))[0]) * scales[i]
        for i, k in enumerate(jax.random.split(k_random, config.num_random))
    ]) if config.num_random else np.zeros((0, n))
    start_flat = np.concatenate([trajectory.reshape(S * E, n), random_flat])
    N = len(start_flat)
    starts: dict[str, np.ndarray] = {
        "source": np.array(["trajectory"] * (S * E) + ["random"] * config.num_random),
        "seed": np.concatenate([np.repeat(np.arange(S), E), -np.ones(config.num_random, int)]),
        "step": np.concatenate([np.tile(steps, S), -np.ones(config.num_random, int)]),
        "scale": np.concatenate([np.ones(S * E), scales]),
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

    def compute_chunk(lo):
        block = start_flat[lo : lo + chunk]
        pad = chunk - len(block)
        if pad:
            block = np.concatenate([block, np.repeat(block[-1:], pad, axis=0)])
        start_loss, res, cls, dloss = jax.device_get(solve_chunk(jnp.asarray(block)))
        out = {"start_loss": start_loss, "data_loss": dloss, **_flatten("res_", res),
               **_flatten("cls_", cls)}
        return {k: np.asarray(v)[: chunk - pad] for k, v in out.items()}

    outs = [results.cached_part(run_dir, f"starts-{lo:05d}", lambda lo=lo: compute_chunk(lo))
            for lo in _common.progress_bar(range(0, N, chunk), -(-N // chunk),
                                           "critical points", progress)]
    found = {k: np.concatenate([np.asarray(o[k]).reshape(-1, *np.shape(o[k])[1:]) for o in outs])
             for k in outs[0]} if outs else {}
    timings["find"] = time.perf_counter() - t0

    status = np.asarray(critical.STATUSES, dtype=object)[found["res_status_code"]].astype(str)
    kind = np.asarray(critical.KINDS, dtype=object)[found["cls_code"]].astype(str)
    starts.update({
        "start_loss": np.asarray(found["start_loss"], np.float64),
        "status": status,
        "num_iters": np.asarray(found["res_num_iters"], np.int64),
        "num_matvecs": np.asarray(found["res_num_matvecs"], np.int64),
        "grad_norm": np.asarray(found["res_grad_norm"], np.float64),
        "flat_ratio": np.asarray(found["res_flat_ratio"], np.float64),
        "loss": np.asarray(found["res_loss"], np.float64),
        "data_loss": np.asarray(found["data_loss"], np.float64),
        "kind": kind,
        "curvature": np.asarray(critical.KINDS, dtype=object)[
            found["cls_curvature_code"]].astype(str),
        "index": np.asarray(found["cls_index"], np.float64),
        "num_negative": np.asarray(found["cls_num_negative"], np.float64),
        "num_null": np.asarray(found["cls_num_null"], np.float64),
        "lambda_min": np.asarray(found["cls_lambda_min"], np.float64),
        "lambda_max": np.asarray(found["cls_lambda_max"], np.float64),
        "flatness": np.asarray(found["cls_flatness"], np.float64),
    })
    starts["critical"] = (status == "converged") & (kind != "not_critical")
    starts["distinct"] = _distinct(starts["loss"], starts["num_negative"], starts["critical"])

    # ---- endpoints of the training runs
    t0 = time.perf_counter()

    def compute_endpoints():
        end = jax.jit(jax.vmap(lambda x: (
            critical.classify(objective, unravel(x), batch, key=k_classify, rtol=config.rtol,
                              method="dense"),
            data_loss(unravel(x), batch),
        )))(jnp.asarray(trained["final"]))
        ec, edl = jax.device_get(end)
        return {"data_loss": edl, **_flatten("cls_", ec)}

    ends = results.cached_part(run_dir, "endpoints", compute_endpoints)
    f = lambda name: _field(ends, "cls_", name)  # noqa: E731
    endpoints = {
        "seed": np.arange(S),
        "loss": f("loss").astype(np.float64),
        "data_loss": np.asarray(ends["data_loss"], np.float64),
        "grad_norm": f("grad_norm").astype(np.float64),
        "grad_threshold": f("grad_threshold").astype(np.float64),
        "kind": np.asarray(critical.KINDS, dtype=object)[f("code")].astype(str),
        "curvature": np.asarray(critical.KINDS, dtype=object)[f("curvature_code")].astype(str),
        "index": f("index").astype(np.float64),
        "num_negative": f("num_negative").astype(np.float64),
        "lambda_min": f("lambda_min").astype(np.float64),
        "lambda_max": f("lambda_max").astype(np.float64),
        "residual_min": f("residual_min").astype(np.float64),
        "flatness": f("flatness").astype(np.float64),
    }
    timings["endpoints"] = time.perf_counter() - t0
    timings["total"] = sum(timings.values())

    info = {
        "problem": problem.describe(),
        "num_params": n,
        "dataset": problem.data.name,
        "num_train": int(problem.data.num_train),
        "loss": problem.loss_name,
        "l2": config.l2,
        "dtype": "float64",
        "num_starts": N,
        "curvature_mode": problem.curvature_mode,
        "backend": jax.default_backend(),
    }
    summary = summarize(starts, endpoints)
    summary["skipped"] = {}
    result = Result(config, starts, endpoints, np.asarray(found["res_grad_norms"], np.float64),
                    np.asarray(found["res_params"], np.float64), summary, timings, info)
    if run_dir is not None:
        save(result, run_dir)
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
        f"  Spearman rank correlation of index and loss: rho = {fmt(sp['rho'])} "
        f"(p = {fmt(sp['pvalue'], 2)}, {sp['count']} distinct points); over all critical "
        f"points found rho = {fmt(spa['rho'])} ({spa['count']})",
        f"  training endpoints: {joined(s['endpoint_kind_counts'])} (spectrum alone: "
        f"{joined(s['endpoint_curvature_counts'])}); |g| "
        f"{fmt(s['endpoint_grad_norm']['min'])}-{fmt(s['endpoint_grad_norm']['max'])} "
        f"against thresholds {fmt(s['endpoint_grad_threshold']['median'])}; lambda_min "
        f"{fmt(s['endpoint_lambda_min']['min'])} to {fmt(s['endpoint_lambda_min']['max'])}, "
        f"lambda_max {fmt(s['endpoint_lambda_max']['min'])} to "
        f"{fmt(s['endpoint_lambda_max']['max'])}",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- files


_BOOL_COLUMNS = ("critical", "distinct")
_STR_COLUMNS = ("source", "status", "kind", "curvature")


def save(result: Result, run_dir: str | Path) -> None:
    """Write ``config.json`` (checked against the one there), ``starts.csv``,
    ``endpoints.csv``, ``summary.json`` and ``arrays.npz``."""
    _common.write_run(
        run_dir, config=result.config, problem_info=result.info["problem"], dtype="float64",
        tables={"starts": result.starts, "endpoints": result.endpoints},
        json_files={"summary": {"summary": result.summary, "timings": result.timings,
                                "info": result.info}},
        arrays={"finder": {"grad_norms": result.grad_norms, "points": result.points}},
    )


def load(run_dir: str | Path) -> Result:
    """Read a run directory written by :func:`run` back into a result."""
    config, _, _, tables, stored, arrays = _common.read_run(
        run_dir, Config, tables=("starts", "endpoints"), json_files=("summary",),
        bool_columns=_BOOL_COLUMNS, str_columns=_STR_COLUMNS)
    stored = stored["summary"]
    return Result(config, tables["starts"], tables["endpoints"], arrays["finder"]["grad_norms"],
                  arrays["finder"]["points"], stored["summary"], stored["timings"],
                  stored["info"])
