"""Seed study: many seeds of one problem, how far apart they end and what lies between.

The claim it checks (docs/claims.md, C2): runs from different random seeds end at
very different parameters but almost the same loss. ``N`` seeds of one
:class:`~landscape.problem.Problem` are trained at once
(:func:`landscape.train.train_seeds`), then:

* per seed: the final train / validation / test loss and accuracy, the relative
  distance travelled from its initialisation, and the curvature of its endpoint
  (``lambda_max``, ``lambda_min`` with residuals, Hutchinson trace, and the
  classification of :func:`landscape.critical.classify`) on the deterministic loss
  :meth:`~landscape.problem.Problem.loss_fn` with that seed's final model state;
* across seeds: mean, sample standard deviation (``ddof=1``), coefficient of
  variation ``std / mean``, min and max of every final metric;
* over pairs of seeds: the relative distance ``|a - b| / sqrt(|a| |b|)`` between
  solutions and, as the yardstick, between their initialisations (two independent
  random vectors of equal norm are ``sqrt(2)`` apart); the same after permuting the
  hidden units of one network to match the other (weight matching, Ainsworth et al.
  2022) when the problem declares a dense chain (``problem.layout.dense_chain``;
  otherwise the part is skipped and ``summary["skipped"]`` says why); the training
  loss along the straight line between two solutions, before and after alignment,
  and its barrier (:func:`landscape.paths.interpolate`; with model state, the
  lines use the state of the first converged seed).

Diverged seeds are counted and left out of every statistic; a study where most or
all diverge still gives its summary and figure. Weight matching and interpolation
are done on ``num_align_pairs`` and ``num_interp_pairs`` pairs drawn at random.

With a run directory, training, the pair measurements and the curvature are parts
(:func:`landscape.results.cached_part`): a run killed after one resumes without
recomputing it. The directory holds ``config.json``, ``seeds.csv`` (one row per
seed), ``pairs.csv`` (one row per pair), ``summary.json``, ``arrays.npz`` and
``parts/``; :func:`load` reads it back. Figures: :mod:`landscape.plots.seeds`.

Examples
--------
>>> from landscape import registry
>>> prob = registry.builtin("mlp", dataset="xor", num_samples=200, hidden=(6,))
>>> config = Config(num_seeds=3, num_steps=40, num_interp_pairs=2, lanczos_iters=5)
>>> result = run(prob, config, progress=False)                  # doctest: +SKIP
>>> print(format_summary(result.summary))                       # doctest: +SKIP
3 seeds: final train loss ...

References
----------
Ainsworth, S. K., Hayase, J. and Srinivasa, S. (2022). Git Re-Basin: merging
models modulo permutation symmetries. arXiv:2209.04836.
Draxler, F., Veschgini, K., Salmhofer, M. and Hamprecht, F. (2018). Essentially no
barriers in neural network energy landscape. ICML.
Fort, S., Hu, H. and Lakshminarayanan, B. (2019). Deep ensembles: a loss landscape
perspective. arXiv:1912.02757.
Goodfellow, I. J., Vinyals, O. and Saxe, A. M. (2015). Qualitatively characterizing
neural network optimization problems. ICLR.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landscape import results, train
from landscape.problem import Problem
from landscape.studies import _common
from landscape.studies._common import Profile, fmt, stats, timed
from landscape.studies.seeds_measure import (
    compare_pairs,
    endpoint_curvature,
    flat64_stacked,
    relative_distance,
)

__all__ = [
    "METRICS",
    "PROFILES",
    "Config",
    "Result",
    "compare_pairs",
    "format_summary",
    "load",
    "run",
    "save",
    "summarize",
]

METRICS = ("train_loss", "val_loss", "test_loss", "train_accuracy", "val_accuracy",
           "test_accuracy")
NO_CHAIN = "no dense chain declared (problem.layout.dense_chain is None)"


def _positive_int(name, value, minimum=1):
    integer = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not integer or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Config:
    """The settings of a seed study (the network and data are the Problem's).

    Attributes
    ----------
    num_seeds : int
        Seeds trained at once (at least 2).
    seed : int
        Master seed: seed ``s`` trains with ``split(split(key(seed), 3)[0], num_seeds)[s]``.
    optimizer : str
        Optimizer of :mod:`landscape.train` (sgd, momentum, adam, ...).
    learning_rate : float
        Peak learning rate.
    momentum : float
        Momentum of the momentum optimizers.
    num_steps : int
        Training steps of every seed.
    batch_size : int or None
        Examples per step; none for the full batch.
    schedule : str
        Learning-rate schedule (constant, cosine, ...).
    l2 : float
        L2 penalty added to the training loss (and to the loss whose curvature is measured).
    weight_decay : float
        Decoupled weight decay.
    eval_every : int
        Steps between points of the training curves.
    num_align_pairs : int or None
        Pairs aligned by weight matching; none for every pair.
    align_iters : int
        Most passes of weight matching.
    num_interp_pairs : int
        Pairs whose straight line is evaluated (before and after alignment).
    num_interp_points : int
        Points on each line, endpoints included.
    lanczos_iters : int
        Lanczos iterations for the extreme eigenvalues of each endpoint.
    slq_probes : int
        Probes of stochastic Lanczos quadrature for the index.
    slq_iters : int
        Lanczos iterations of each quadrature probe.
    trace_probes : int
        Rademacher probes of the Hutchinson trace.
    classify_rtol : float
        Relative eigenvalue threshold of the classification (tau = rtol |lambda_max|).
    curvature_batch_size : int or None
        Hessian-vector products over the training set this many examples at a time; none
        for one batch.
    measure_curvature : bool
        Measure the curvature of the endpoints (the curvature columns are NaN when not).
    """

    num_seeds: int = 32
    seed: int = 0
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
        _positive_int("num_seeds", self.num_seeds, 2)
        _positive_int("seed", self.seed, 0)
        for name in ("num_steps", "eval_every", "align_iters", "num_interp_pairs",
                     "lanczos_iters", "slq_probes", "slq_iters", "trace_probes"):
            _positive_int(name, getattr(self, name))
        _positive_int("num_interp_points", self.num_interp_points, 2)
        for name in ("batch_size", "num_align_pairs", "curvature_batch_size"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        if not (isinstance(self.classify_rtol, int | float) and self.classify_rtol >= 0):
            raise ValueError(f"classify_rtol: must be non-negative, got {self.classify_rtol!r}")
        if not isinstance(self.measure_curvature, bool):
            raise ValueError(f"measure_curvature: must be True or False, got "
                             f"{self.measure_curvature!r}")
        if self.num_align_pairs is not None and self.num_interp_pairs > self.num_align_pairs:
            raise ValueError(
                f"num_interp_pairs: the interpolated pairs are among the aligned ones, so "
                f"num_interp_pairs ({self.num_interp_pairs}) must not exceed num_align_pairs "
                f"({self.num_align_pairs})"
            )
        self.train_settings()  # the optimizer, rate, schedule ... are checked by train

    def train_settings(self) -> dict[str, Any]:
        """Keyword arguments of :class:`landscape.train.TrainConfig` (checked here)."""
        settings = dict(
            optimizer=self.optimizer, learning_rate=self.learning_rate, momentum=self.momentum,
            num_steps=self.num_steps, batch_size=self.batch_size, schedule=self.schedule,
            l2=self.l2, weight_decay=self.weight_decay, eval_every=self.eval_every,
        )
        train.TrainConfig(**settings)
        return settings


# The problem part of each profile: the built-in MLP on standardised mnist1d of the
# seed study before problems were separate (same data, model, keys and steps).
_MLP = {"model": "mlp", "dataset": "mnist1d", "standardize": True, "hidden": (100, 100),
        "activation": "relu", "init": "glorot_normal"}

PROFILES: dict[str, Profile] = {
    # Under 3 minutes on 2 CPU cores: 12 seeds of a 40-100-100-10 MLP on mnist1d,
    # 1500 SGD-momentum steps, every pair aligned, 12 lines, short Lanczos.
    # Measured: 164 s wall (49 s of CPU time) on a shared 2-core x86_64 machine, float32.
    "quick": Profile(_MLP, Config(
        num_seeds=12, num_steps=1500, eval_every=50, num_interp_pairs=12,
        num_interp_points=21, lanczos_iters=30, slq_probes=2, slq_iters=20, trace_probes=8,
    )),
    # 64 seeds, 6000 steps with a cosine decay; 400 aligned pairs, 32 lines.
    # Measured: 2078 s wall (train 602 s, curvature 1234 s) on the same machine, float32.
    "full": Profile(_MLP, Config(
        num_seeds=64, num_steps=6000, eval_every=100, schedule="cosine", num_align_pairs=400,
        num_interp_pairs=32, num_interp_points=31, lanczos_iters=100, slq_probes=8,
        slq_iters=40, trace_probes=32,
    )),
}


class Result(NamedTuple):
    """What :func:`run` returns (and :func:`load` reads back).

    Attributes
    ----------
    config : Config
    seeds : dict of (S,) arrays
        ``seed``, ``diverged``, ``diverged_step``, the :data:`METRICS`,
        ``distance_from_init``, ``grad_norm``, ``lambda_max``, ``lambda_min``,
        ``residual_max``, ``residual_min``, ``certified_min``, ``trace``,
        ``trace_stderr``, ``index``, ``kind`` and ``curvature`` (str; empty where not
        measured).
    pairs : dict of (P,) arrays
        Over pairs of converged seeds ``seed_a < seed_b`` (see
        :func:`~landscape.studies.seeds_measure.compare_pairs`).
    curves : dict
        ``step`` (E,) and ``train_loss``, ``val_loss``, ``train_accuracy``,
        ``val_accuracy``, ``grad_norm`` (S, E).
    interp : dict
        ``ts`` (m,), ``pairs`` (Q, 2), ``losses`` and ``aligned_losses`` (Q, m).
    summary : dict
        :func:`summarize` of ``seeds`` and ``pairs``, with ``skipped`` (part -> reason).
    timings : dict
        Seconds per part (``train`` includes compilation; a resumed part keeps the time
        it took when it ran).
    info : dict
        ``problem`` (``problem.describe()``), model name, parameter count, data set
        sizes, loss, dtypes, devices.
    """

    config: Config
    seeds: dict[str, np.ndarray]
    pairs: dict[str, np.ndarray]
    curves: dict[str, np.ndarray]
    interp: dict[str, np.ndarray]
    summary: dict[str, Any]
    timings: dict[str, float]
    info: dict[str, Any]


# ----------------------------------------------------------------------------- run


def _leaves(tree) -> dict[str, np.ndarray]:
    return {f"{i:04d}": np.asarray(x) for i, x in enumerate(jax.tree_util.tree_leaves(tree))}


def _unleaves(treedef, stored: Mapping[str, Any] | None):
    stored = stored or {}
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(stored[k]) for k in sorted(stored)])


def _train(problem: Problem, config: Config, keys, progress: bool) -> dict[str, Any]:
    timings: dict[str, float] = {}
    with timed(timings, "train"):
        tcfg = train.TrainConfig(**config.train_settings())
        trained = train.train_seeds(problem, tcfg, keys=keys, progress=progress)
        _common.block(trained.params)
    return {
        "params": _leaves(trained.params),
        "init_params": _leaves(trained.init_params),
        "state": _leaves(trained.state),
        "curves": {name: np.asarray(getattr(trained.curves, name))
                   for name in train.Curves._fields},
        "diverged": np.asarray(trained.diverged, bool),
        "diverged_step": np.asarray(trained.diverged_step, np.int64),
        "seconds": timings["train"],
    }


def _evaluate(problem: Problem, params, states, num_seeds: int) -> dict[str, np.ndarray]:
    def metrics(p, s, batch):
        return problem.metrics_fn(s)(p, batch)

    batched = jax.jit(jax.vmap(metrics, in_axes=(0, 0, None)))
    out: dict[str, np.ndarray] = {}
    for part in ("train", "val", "test"):
        batch = getattr(problem.data, part)
        if len(batch.x) == 0:
            out[f"{part}_loss"] = np.full(num_seeds, np.nan)
            out[f"{part}_accuracy"] = np.full(num_seeds, np.nan)
            continue
        values = batched(params, states, problem.data.batch(part, _common.params_dtype(params)))
        out[f"{part}_loss"] = np.asarray(values["loss"], np.float64)
        out[f"{part}_accuracy"] = np.asarray(values.get("accuracy", jnp.full(num_seeds, jnp.nan)),
                                             np.float64)
    return out


def run(problem: Problem, config: Config, run_dir: str | Path | None = None, *,
        progress: bool = True) -> Result:
    """Train ``config.num_seeds`` seeds of ``problem`` and measure spread, distances,
    barriers and curvature.

    Parameters
    ----------
    problem : Problem
    config : Config
    run_dir : path, optional
        Run directory (see the module docstring). A directory holding another config,
        problem or float dtype is refused; finished parts are loaded, not recomputed.
    progress : bool
        tqdm bars for training, alignment, interpolation and curvature.

    Returns
    -------
    Result
    """
    _common.check_inputs(problem, config, Config, "seeds")
    float_dtype = results.float_dtype()
    if run_dir is not None:
        results.write_config(run_dir, config, problem=problem, dtype=float_dtype)
    S = config.num_seeds
    k_train, k_pairs, k_curv = jax.random.split(jax.random.key(config.seed), 3)
    keys = jax.random.split(k_train, S)
    params_def, state_def = (jax.tree_util.tree_structure(t)
                             for t in jax.eval_shape(problem.init_all, keys[0]))

    trained = results.cached_part(run_dir, "train",
                                  lambda: _train(problem, config, keys, progress))
    timings = {"train": float(trained["seconds"])}
    params = _unleaves(params_def, trained["params"])
    init_params = _unleaves(params_def, trained["init_params"])
    states = _unleaves(state_def, trained.get("state"))
    stateless = not problem.has_state

    with timed(timings, "evaluate"):
        seeds: dict[str, np.ndarray] = {
            "seed": np.arange(S),
            "diverged": np.asarray(trained["diverged"], bool),
            "diverged_step": np.asarray(trained["diverged_step"], np.int64),
            **_evaluate(problem, params, states, S),
        }
        ok = ~seeds["diverged"] & np.isfinite(seeds["train_loss"])
        flat, flat0 = flat64_stacked(params), flat64_stacked(init_params)
        seeds["distance_from_init"] = np.array(
            [relative_distance(flat[s], flat0[s]) if ok[s] else np.nan for s in range(S)])

    skipped: dict[str, str] = {}
    layout = problem.layout
    if layout is None or layout.dense_chain is None:
        skipped["weight_matching"] = NO_CHAIN
    train_batch = problem.data.batch("train", _common.params_dtype(params))
    first = int(np.flatnonzero(ok)[0]) if ok.any() else 0
    line_state = None if stateless else _common.index_tree(states, first)

    def pairs_part():
        pairs, interp, seconds = compare_pairs(
            params, init_params, seeds["train_loss"], ok,
            problem.loss_fn(line_state, l2=config.l2), train_batch, key=k_pairs,
            layout=layout, num_align_pairs=config.num_align_pairs,
            num_interp_pairs=config.num_interp_pairs,
            num_interp_points=config.num_interp_points, align_iters=config.align_iters,
            progress=progress)
        return {"pairs": pairs, "interp": interp, "seconds": seconds}

    compared = results.cached_part(run_dir, "pairs", pairs_part)
    timings.update({k: float(v) for k, v in compared["seconds"].items()})

    def curvature_part():
        with timed(seconds := {}, "curvature"):
            out = endpoint_curvature(
                config, lambda state: problem.loss_fn(state, l2=config.l2), params,
                None if stateless else states, train_batch, ok & config.measure_curvature,
                k_curv, progress)
        return {"columns": out, "seconds": seconds["curvature"]}

    curv = results.cached_part(run_dir, "curvature", curvature_part)
    seeds.update(curv["columns"])
    timings["curvature"] = float(curv["seconds"])

    leaves = jax.tree_util.tree_leaves(params)
    info = {
        "problem": problem.describe(),
        "model": problem.name,
        "num_params": int(sum(np.size(x) for x in leaves) // S),
        "dataset": problem.data.name,
        "num_train": int(problem.data.num_train),
        "num_val": len(problem.data.x_val),
        "num_test": len(problem.data.x_test),
        "loss": problem.loss_name,
        "dtype": np.dtype(leaves[0].dtype).name,
        "float_dtype": float_dtype,
        "curvature_mode": problem.curvature_mode,
        "num_pairs": len(compared["pairs"]["distance"]),
        "backend": jax.default_backend(),
        "num_devices": jax.device_count(),
    }
    summary = summarize(seeds, compared["pairs"], skipped=skipped)
    timings["total"] = sum(timings.values())
    curves = {k: np.asarray(v) for k, v in trained["curves"].items()}
    result = Result(config, seeds, dict(compared["pairs"]), curves, dict(compared["interp"]),
                    summary, timings, info)
    if run_dir is not None:
        save(result, run_dir)
    return result


# ----------------------------------------------------------------------------- summary


def summarize(seeds: Mapping[str, Any], pairs: Mapping[str, Any], *,
              skipped: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Statistics across seeds and pairs, from the per-seed and per-pair tables alone.

    Seeds that diverged are left out. For each of :data:`METRICS` and the curvature
    columns: ``mean``, sample ``std`` (``ddof=1``), ``cv = std / mean``, ``min``,
    ``max``, ``count`` (:func:`landscape.studies._common.stats`). For the pair
    distances and barriers the same over the pairs where they were computed. Also the
    numbers of seeds, diverged seeds and pairs, counts of each classification, and
    ``skipped`` (part -> reason).
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
        out[name] = stats(np.asarray(seeds[name], np.float64)[ok])
    for name in ("distance", "init_distance", "aligned_distance", "aligned_init_distance",
                 "loss_diff", "barrier", "aligned_barrier"):
        out[name] = stats(pairs[name])
    for column in ("kind", "curvature"):
        names = [str(k) for k in np.asarray(seeds[column])[ok] if str(k)]
        out[f"{column}_counts"] = {k: names.count(k) for k in sorted(set(names))}
    out["skipped"] = dict(skipped or {})
    return out


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as text; its first line reads "N seeds: final train loss m +- s (CV c%);
    relative distance between solutions d (between inits d0; after alignment da);
    largest barrier b"."""
    s = summary
    tl = s["train_loss"]
    diverged = f" ({s['num_diverged']} diverged, left out)" if s["num_diverged"] else ""
    lines = [
        f"{s['num_converged']} seeds{diverged}: final train loss {fmt(tl['mean'])} +- "
        f"{fmt(tl['std'], 2)} (CV {fmt(100 * tl['cv'], 2)}%); relative distance between "
        f"solutions {fmt(s['distance']['mean'])} (between inits "
        f"{fmt(s['init_distance']['mean'])}; after alignment "
        f"{fmt(s['aligned_distance']['mean'])}); largest barrier "
        f"{fmt(s['barrier']['max'])}"
    ]
    for part in ("val", "test"):
        loss, acc = s[f"{part}_loss"], s[f"{part}_accuracy"]
        lines.append(
            f"  {part} loss {fmt(loss['mean'])} +- {fmt(loss['std'], 2)} (CV "
            f"{fmt(100 * loss['cv'], 2)}%, range {fmt(loss['min'])}-{fmt(loss['max'])}); "
            f"{part} accuracy {fmt(acc['mean'])} +- {fmt(acc['std'], 2)}"
        )
    lines.append(
        f"  distances (mean +- std over pairs): solutions {fmt(s['distance']['mean'])} +- "
        f"{fmt(s['distance']['std'], 2)}, inits {fmt(s['init_distance']['mean'])}, aligned "
        f"solutions {fmt(s['aligned_distance']['mean'])} +- "
        f"{fmt(s['aligned_distance']['std'], 2)} ({s['num_aligned_pairs']} pairs), aligned "
        f"inits {fmt(s['aligned_init_distance']['mean'])}; each solution from its init "
        f"{fmt(s['distance_from_init']['mean'])}"
    )
    lines.append(
        f"  barriers on {s['num_interpolated_pairs']} lines: mean "
        f"{fmt(s['barrier']['mean'])}, max {fmt(s['barrier']['max'])}; after alignment mean "
        f"{fmt(s['aligned_barrier']['mean'])}, max {fmt(s['aligned_barrier']['max'])}"
    )
    kinds = ", ".join(f"{v} {k}" for k, v in s["kind_counts"].items())
    curv = ", ".join(f"{v} {k}" for k, v in s["curvature_counts"].items())
    if kinds:
        lines.append(
            f"  endpoints: lambda_max {fmt(s['lambda_max']['mean'])} "
            f"[{fmt(s['lambda_max']['min'])}, {fmt(s['lambda_max']['max'])}], lambda_min "
            f"{fmt(s['lambda_min']['mean'])} [{fmt(s['lambda_min']['min'])}, "
            f"{fmt(s['lambda_min']['max'])}], trace {fmt(s['trace']['mean'])}, |grad| "
            f"{fmt(s['grad_norm']['mean'])}; classification: {kinds}; spectrum alone: {curv}"
        )
    else:
        lines.append("  endpoints: curvature not measured")
    for part, reason in s.get("skipped", {}).items():
        lines.append(f"  skipped {part.replace('_', ' ')}: {reason}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- files

TABLES = ("seeds", "pairs")
_BOOL = ("diverged", "certified_min", "aligned", "interpolated")
_STR = ("kind", "curvature")


def save(result: Result, run_dir: str | Path) -> None:
    """Write ``result`` to ``run_dir``: ``config.json`` (checked against the one there),
    ``seeds.csv``, ``pairs.csv``, ``summary.json`` and ``arrays.npz``."""
    _common.write_run(
        run_dir, config=result.config, problem_info=result.info.get("problem"),
        dtype=result.info.get("float_dtype"),
        tables={"seeds": result.seeds, "pairs": result.pairs},
        json_files={"summary": {"summary": result.summary, "timings": result.timings,
                                "info": result.info}},
        arrays={"curves": result.curves, "interp": result.interp},
    )


def load(run_dir: str | Path) -> Result:
    """Read a run directory written by :func:`run` back into a :class:`Result`."""
    config, _, _, tables, stored, arrays = _common.read_run(
        run_dir, Config, tables=TABLES, json_files=("summary",), bool_columns=_BOOL,
        str_columns=_STR)
    stored = stored["summary"]
    return Result(config, tables["seeds"], tables["pairs"], arrays.get("curves", {}),
                  arrays.get("interp", {}), stored["summary"], stored["timings"],
                  stored["info"])
