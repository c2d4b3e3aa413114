"""Landscape pictures of a :class:`~landscape.problem.Problem`: slices, the training path,
and the paths between two solutions.

Two runs of the problem's network are trained (parameters recorded at every
evaluation point). Around the first solution ``a`` the study computes, on the full
training set and the deterministic loss :meth:`Problem.loss_fn
<landscape.problem.Problem.loss_fn>` (dropout off; with model state, the
evaluation-mode state of run ``a``):

* the loss on a plane of two filter-normalised random directions (Li et al. 2018),
  ``a + alpha d1 + beta d2`` with ``alpha, beta`` in ``[-span, span]``; filter
  normalisation needs to know which leaves are weights and which axis holds their
  output units, so it runs only when the problem declares a layout and is skipped,
  with that reason, otherwise;
* the loss on the plane of the first two principal components of the training
  path, with the path projected on it (Li et al. 2018, Sec. 7);
* the loss on the straight line from the initialisation to ``a`` (Goodfellow et
  al. 2015) and from ``a`` to the second solution ``b``;
* a quadratic Bezier curve from ``a`` to ``b`` with a trained control point
  (Garipov et al. 2018), its barrier against the straight line's, and the loss on
  the plane through ``a``, ``b`` and the control point.

A run that diverged is reported, and the parts that need it are skipped with the
reason. Each part is written to the run directory when finished
(:func:`landscape.results.cached_part`); a rerun computes only the missing ones.
Figures: :mod:`landscape.plots.landscape_plot`.

References
----------
Goodfellow, I. J., Vinyals, O. and Saxe, A. M. (2015). Qualitatively
characterizing neural network optimization problems. ICLR.
Li, H., Xu, Z., Taylor, G., Studer, C. and Goldstein, T. (2018). Visualizing the
loss landscape of neural nets. NeurIPS.
Garipov, T., Izmailov, P., Podoprikhin, D., Vetrov, D. and Wilson, A. G. (2018).
Loss surfaces, mode connectivity, and fast ensembling of DNNs. NeurIPS.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from landscape import curvature, directions, paths, results, surfaces, train
from landscape.layout import weight_axes
from landscape.problem import Problem
from landscape.studies import _common
from landscape.studies._common import Profile, fmt

__all__ = ["PROFILES", "Config", "Result", "format_summary", "load", "run", "save"]


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that fixes the landscape pictures of a given problem.

    Attributes
    ----------
    seed : int
        Master seed of the two runs, the directions and the curve's training.
    optimizer : str
        Optimizer of both runs (a name in landscape.train.OPTIMIZERS).
    learning_rate : float
        Learning rate of both runs.
    num_steps : int
        Training steps of each run.
    batch_size : int or None
        Minibatch size (None: full batch).
    eval_every : int
        Steps between the recorded points of the training path.
    grid_points : int
        Points per axis of every 2-D grid.
    span : float
        Half-width of the random plane in units of the filter-normalised directions
        (1 = one filter norm).
    margin : float
        The PCA and curve planes extend their content by this fraction on each side.
    num_interp_points : int
        Points on each straight line and on the curve.
    bezier_steps : int
        Adam steps training the curve's control point.
    bezier_learning_rate : float
        Learning rate of the curve's control point.
    bezier_num_ts : int
        Values of t per step of the curve's training.
    memory_bytes : int
        Memory for one chunk of grid points, in bytes.
    """

    seed: int = 0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    num_steps: int = 3000
    batch_size: int | None = 128
    eval_every: int = 100
    grid_points: int = 31
    span: float = 1.0
    margin: float = 0.25
    num_interp_points: int = 41
    bezier_steps: int = 600
    bezier_learning_rate: float = 1e-2
    bezier_num_ts: int = 4
    memory_bytes: int = 2**30

    def __post_init__(self):
        def positive_int(name, minimum=1):
            value = getattr(self, name)
            integer = isinstance(value, int | np.integer) and not isinstance(value, bool)
            if not integer or value < minimum:
                raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")

        for name in ("num_steps", "eval_every", "bezier_steps", "bezier_num_ts", "memory_bytes"):
            positive_int(name)
        positive_int("seed", 0)
        positive_int("grid_points", 3)
        positive_int("num_interp_points", 3)
        if self.batch_size is not None:
            positive_int("batch_size")
        for name in ("span", "bezier_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)!r}")
        if not self.margin >= 0:
            raise ValueError(f"margin: must be non-negative, got {self.margin!r}")
        if self.num_steps // self.eval_every < 2:
            raise ValueError(f"eval_every: the path needs at least 3 points; {self.num_steps} "
                             f"steps with eval_every={self.eval_every} give fewer")
        train.TrainConfig(**self.train_settings())  # validates the optimizer and rate

    def train_settings(self) -> dict[str, Any]:
        """Both runs, parameters recorded (keyword arguments of
        :class:`landscape.train.TrainConfig`)."""
        return dict(optimizer=self.optimizer, learning_rate=self.learning_rate,
                    num_steps=self.num_steps, batch_size=self.batch_size,
                    eval_every=self.eval_every, record_params=True)


PROFILES: dict[str, Profile] = {
    # A 40-100-100-10 MLP (15k parameters) on standardised mnist1d, 31x31 grids: about
    # 50 s of CPU time (3 min wall on a busy 2-core machine).
    "quick": Profile(dict(model="mlp", dataset="mnist1d", standardize=True,
                          hidden=(100, 100)), Config()),
    # The 84k-parameter 40-280-250-10 MLP, longer training, 51x51 grids, longer curve fit:
    # 16 min wall on a busy 2-core machine, most of it fitting the curve.
    "full": Profile(dict(model="mlp", dataset="mnist1d", standardize=True,
                         hidden=(280, 250)),
                    Config(num_steps=6000, eval_every=150, grid_points=51,
                           num_interp_points=51, bezier_steps=1000)),
}


class Result(NamedTuple):
    """What :func:`run` returns (and :func:`load` reads back); a part that was skipped
    is ``None`` (the reason is in ``summary["skipped"]``).

    Attributes
    ----------
    config : Config
    problem : dict                  ``problem.describe()`` of the problem
    summary : dict                  scalars: losses, accuracies, barriers, timings, skipped
    train_loss : (2, E)             training-loss curves of the two runs
    steps : (E,)                    their steps
    random_plane : Surface2D        filter-normalised random plane around ``a``
    pca : PCADirections             of the first run's path; ``directions`` (2, n)
    pca_plane : Surface2D           the loss on the PCA plane around ``a``
    init_line : Interpolation       initialisation -> ``a``
    bezier : BezierCurve            ``a`` -> ``b``: the curve and the straight line
    curve_plane : Surface2D         the plane through ``a``, ``b`` and the control point
    plane_coords : (3, 2)           ``a``, ``b``, control point in that plane
    curve_coords : (m, 2)           points of the curve in that plane
    """

    config: Config
    problem: dict[str, Any]
    summary: dict[str, Any]
    train_loss: np.ndarray
    steps: np.ndarray
    random_plane: surfaces.Surface2D | None
    pca: directions.PCADirections | None
    pca_plane: surfaces.Surface2D | None
    init_line: paths.Interpolation | None
    bezier: paths.BezierCurve | None
    curve_plane: surfaces.Surface2D | None
    plane_coords: np.ndarray | None
    curve_coords: np.ndarray | None


def _range(lo, hi, margin, num):
    width = max(hi - lo, 1e-12)
    return jnp.linspace(lo - margin * width, hi + margin * width, num)


def _train(problem, config, keys, progress):
    tcfg = train.TrainConfig(**config.train_settings())
    runs = train.train_seeds(problem, tcfg, keys=keys, progress=progress)
    state = runs.state
    return {
        "trajectory": np.asarray(runs.trajectory),  # (2, E, n)
        "final": np.stack([np.asarray(ravel_pytree(_common.index_tree(runs.params, s))[0])
                           for s in range(2)]),
        "train_loss": np.asarray(runs.curves.train_loss, np.float64),
        "steps": np.asarray(runs.curves.step, np.int64),
        "diverged": np.asarray(runs.diverged, bool),
        "diverged_step": np.asarray(runs.diverged_step, np.int64),
        "state": _common.leaves(None if state is None else _common.index_tree(state, 0)),
    }


def _directions(key, params, problem):
    """Two filter-normalised random directions through the problem's layout."""
    axes = weight_axes(params, problem.layout)
    return directions.random_directions(key, params, num=2, weight_axes=axes)


def _tree(cls, stored):
    return None if stored is None else cls(**stored)


def _timed(timings, name, compute):
    def run():
        start = time.perf_counter()
        out = compute()
        timings[name] = time.perf_counter() - start
        return out

    return run


def run(problem: Problem, config: Config, run_dir: str | Path | None = None, *,
        progress: bool = True) -> Result:
    """Train two runs and compute every landscape of the study (see the module docstring).

    Parameters
    ----------
    problem : Problem
    config : Config
    run_dir : path, optional
        Finished parts are written here and loaded by a rerun; a directory holding a
        different config, problem or float dtype is refused.
    progress : bool
        tqdm bars for training, grids and the curve's training.
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem: expected a landscape.problem.Problem, got "
                         f"{type(problem).__name__}")
    if not isinstance(config, Config):
        raise ValueError(f"config: expected a landscape_plot.Config, got "
                         f"{type(config).__name__}")
    if run_dir is not None:
        results.write_config(run_dir, config, problem=problem)
    times: dict[str, float] = {}
    skipped: dict[str, str] = {}
    key = jax.random.key(config.seed)
    trained = results.cached_part(run_dir, "train", _timed(times, "train_s", lambda: _train(
        problem, config, jax.random.split(key, 2), progress)))
    params_def, state_def = (jax.tree_util.tree_structure(t)
                             for t in jax.eval_shape(problem.init_all, key))
    state = _common.unleaves(state_def, trained.get("state"))
    loss_fn = problem.loss_fn(state)
    template = problem.init(key)
    batch = problem.data.batch("train", _common.params_dtype(template))
    final = jnp.asarray(trained["final"])
    f, _, unravel = curvature.flat_loss(loss_fn, template)
    x_a, x_b = final[0], final[1]
    params_a = unravel(x_a)
    x_init = jnp.asarray(trained["trajectory"][0, 0])
    diverged = np.asarray(trained["diverged"], bool)
    ok = ~diverged & np.isfinite(np.asarray(trained["train_loss"])[:, -1])
    for run_name, i in (("a", 0), ("b", 1)):
        if not ok[i]:
            skipped[f"run_{run_name}"] = (f"run {run_name} diverged at step "
                                          f"{int(trained['diverged_step'][i])}")
    m = config.grid_points
    random_plane = pca = pca_plane = init_line = bezier = curve_plane = None
    plane_coords = curve_coords = None
    chunk = None
    if ok[0]:
        # One chunk size for every evaluation, so that they share one compiled program.
        chunk = surfaces.chunk_size_for(f, x_a, batch, memory_bytes=config.memory_bytes,
                                        max_chunk=m**2)
        grid = jnp.linspace(-config.span, config.span, m)

        def random_part():
            dirs = _directions(jax.random.fold_in(key, 1), params_a, problem)
            return surfaces.slice_2d(f, x_a, dirs[0], dirs[1], grid, grid, batch,
                                     chunk_size=chunk, progress=progress)._asdict()

        if problem.layout is None:
            skipped["random_plane"] = ("the problem declares no layout (problem.layout), so "
                                       "filter normalisation does not know its weights")
        else:
            stored = results.cached_part(run_dir, "random_plane",
                                         _timed(times, "random_plane_s", random_part))
            random_plane = surfaces.Surface2D(**stored)

        def pca_part():
            p = directions.trajectory_pca(jnp.asarray(trained["trajectory"][0]), num_components=2)
            lo, hi = np.min(np.asarray(p.coords), axis=0), np.max(np.asarray(p.coords), axis=0)
            plane = surfaces.slice_2d(
                f, x_a, p.directions[0], p.directions[1], _range(lo[0], hi[0], config.margin, m),
                _range(lo[1], hi[1], config.margin, m), batch, chunk_size=chunk,
                progress=progress)
            return {"pca": p._asdict(), "plane": plane._asdict()}

        stored = results.cached_part(run_dir, "pca_plane", _timed(times, "pca_plane_s", pca_part))
        pca = directions.PCADirections(**stored["pca"])
        pca_plane = surfaces.Surface2D(**stored["plane"])
        init_line = paths.Interpolation(**results.cached_part(
            run_dir, "init_line", _timed(times, "init_line_s", lambda: paths.interpolate(
                f, x_init, x_a, batch, num_points=config.num_interp_points,
                chunk_size=chunk)._asdict())))
    if ok[0] and ok[1]:
        def paths_part():
            b = paths.bezier_curve(
                f, x_a, x_b, batch, key=jax.random.fold_in(key, 2),
                num_steps=config.bezier_steps, learning_rate=config.bezier_learning_rate,
                num_ts=config.bezier_num_ts, num_points=config.num_interp_points,
                chunk_size=chunk, progress=progress)
            plane = directions.plane_through(x_a, x_b, b.control)
            points = paths.bezier_points(b.curve.ts, x_a, b.control, x_b)
            coords = (points - x_a[None, :]) @ plane.directions.T
            pts = np.concatenate([np.asarray(plane.coords), np.asarray(coords)])
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            surface = surfaces.slice_2d(
                f, x_a, plane.directions[0], plane.directions[1],
                _range(lo[0], hi[0], config.margin, m), _range(lo[1], hi[1], config.margin, m),
                batch, chunk_size=chunk, progress=progress)
            return {"control": b.control, "curve": b.curve._asdict(), "line": b.line._asdict(),
                    "train_losses": b.train_losses, "plane": surface._asdict(),
                    "plane_coords": plane.coords, "curve_coords": coords}

        stored = results.cached_part(run_dir, "mode_connectivity",
                                     _timed(times, "paths_s", paths_part))
        bezier = paths.BezierCurve(stored["control"],
                                      paths.Interpolation(**stored["curve"]),
                                      paths.Interpolation(**stored["line"]),
                                      stored["train_losses"])
        curve_plane = surfaces.Surface2D(**stored["plane"])
        plane_coords = np.asarray(stored["plane_coords"])
        curve_coords = np.asarray(stored["curve_coords"])
    else:
        skipped["mode_connectivity"] = "needs two runs that did not diverge"

    summary = _summarize(problem, trained, state, unravel, (x_a, x_b, x_init), chunk, pca,
                         init_line, bezier)
    summary.update(skipped=skipped, **{k: round(v, 3) for k, v in times.items()})
    result = Result(config, problem.describe(), summary,
                    np.asarray(trained["train_loss"]), np.asarray(trained["steps"]),
                    random_plane, pca, pca_plane, init_line, bezier, curve_plane,
                    plane_coords, curve_coords)
    if run_dir is not None:
        save(result, run_dir)
    return result


def _summarize(problem, trained, state, unravel, points, chunk, pca, init_line,
               bezier) -> dict[str, Any]:
    metrics = problem.metrics_fn(state)
    x_a, x_b, x_init = points
    dtype = _common.params_dtype(unravel(x_a))
    final: dict[str, float] = {}
    for name, x in (("a", x_a), ("b", x_b)):
        for split in ("train", "val"):
            part = getattr(problem.data, split)
            if len(part.x) == 0:
                continue
            values = metrics(unravel(x), problem.data.batch(split, dtype))
            for metric, value in values.items():
                final[f"{name}_{split}_{metric}"] = float(value)
    out: dict[str, Any] = {
        "problem": problem.name,
        "num_params": int(x_a.size),
        "num_train": int(problem.data.num_train),
        "curvature_mode": problem.curvature_mode,
        "diverged": [bool(d) for d in np.asarray(trained["diverged"])],
        "chunk_size": None if chunk is None else int(chunk),
        "distance_a_b": float(jnp.linalg.norm(x_b - x_a)),
        "distance_init_a": float(jnp.linalg.norm(x_a - x_init)),
        **final,
    }
    if pca is not None:
        out["pca_explained_variance_ratio"] = [float(r) for r in
                                               np.asarray(pca.explained_variance_ratio)]
    if init_line is not None:
        out["barrier_init_a"] = float(init_line.barrier)
    if bezier is not None:
        out.update({
            "barrier_line_a_b": float(bezier.line.barrier),
            "barrier_curve_a_b": float(bezier.curve.barrier),
            "max_loss_line_a_b": float(np.max(np.asarray(bezier.line.losses))),
            "max_loss_curve_a_b": float(np.max(np.asarray(bezier.curve.losses))),
        })
    return out


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as text: the two solutions, the path's variance, the barriers."""
    s = summary
    lines = [f"{s['problem']}: {s['num_params']} parameters, {s['num_train']} training examples"]
    for name in ("a", "b"):
        if f"{name}_train_loss" in s:
            acc = s.get(f"{name}_val_accuracy")
            lines.append(f"  solution {name}: train loss {fmt(s[f'{name}_train_loss'], 4)}"
                         + (f", val accuracy {fmt(acc)}" if acc is not None else ""))
    if "pca_explained_variance_ratio" in s:
        r = s["pca_explained_variance_ratio"]
        lines.append(f"  the path's first two principal components explain {100 * r[0]:.1f}% "
                     f"and {100 * r[1]:.1f}% of its variance")
    lines.append(f"  distance init -> a {fmt(s['distance_init_a'])}, a -> b "
                 f"{fmt(s['distance_a_b'])}")
    if "barrier_init_a" in s:
        lines.append(f"  barriers: init -> a {fmt(s['barrier_init_a'], 4)}"
                     + (f", a -> b line {fmt(s['barrier_line_a_b'], 4)}, a -> b curve "
                        f"{fmt(s['barrier_curve_a_b'], 4)}" if "barrier_line_a_b" in s else ""))
    for part, reason in s.get("skipped", {}).items():
        lines.append(f"  skipped {part}: {reason}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- save / load

_SURFACES = ("random_plane", "pca_plane", "curve_plane")
_INTERPOLATIONS = ("init_line",)


def save(result: Result, run_dir: str | Path) -> None:
    """Write ``config.json`` (checked against the one there), ``summary.json`` and
    ``arrays.npz``."""
    arrays: dict[str, dict[str, Any]] = {"train": {"train_loss": result.train_loss,
                                                   "steps": result.steps}}
    for name in _SURFACES + _INTERPOLATIONS + ("pca",):
        value = getattr(result, name)
        if value is not None:
            arrays[name] = value._asdict()
    if result.bezier is not None:
        b = result.bezier
        arrays["bezier"] = {"control": b.control, "train_losses": b.train_losses,
                            "plane_coords": result.plane_coords,
                            "curve_coords": result.curve_coords}
        arrays["curve"] = b.curve._asdict()
        arrays["line"] = b.line._asdict()
    _common.write_run(run_dir, config=result.config, problem_info=result.problem, dtype=None,
                      tables={}, json_files={"summary": {"summary": result.summary,
                                                         "problem": result.problem}},
                      arrays=arrays)


def load(run_dir: str | Path) -> Result:
    """Read a result written by :func:`save`."""
    config, _, _, _, stored, a = _common.read_run(run_dir, Config, tables=(),
                                                  json_files=("summary",))
    stored = stored["summary"]

    def scalar_fields(group):
        return None if group is None else {k: (v.item() if np.ndim(v) == 0 else v)
                                           for k, v in group.items()}

    planes = {name: _tree(surfaces.Surface2D, scalar_fields(a.get(name))) for name in _SURFACES}
    bezier = plane_coords = curve_coords = None
    if "bezier" in a:
        bezier = paths.BezierCurve(a["bezier"]["control"],
                                      paths.Interpolation(**a["curve"]),
                                      paths.Interpolation(**a["line"]),
                                      a["bezier"]["train_losses"])
        plane_coords, curve_coords = a["bezier"]["plane_coords"], a["bezier"]["curve_coords"]
    return Result(config, stored["problem"], stored["summary"], a["train"]["train_loss"],
                  a["train"]["steps"], planes["random_plane"],
                  _tree(directions.PCADirections, a.get("pca")), planes["pca_plane"],
                  _tree(paths.Interpolation, a.get("init_line")), bezier,
                  planes["curve_plane"], plane_coords, curve_coords)
