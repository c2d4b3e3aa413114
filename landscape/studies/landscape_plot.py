"""Landscape pictures of one trained network: slices, its training path, and the paths
between solutions.

Two seeds of one MLP are trained on one data set (:func:`landscape.train.train_seeds`,
with the parameters recorded at every evaluation point). Around the first
solution ``a`` the study computes, on the full training set:

* the loss on a plane of two filter-normalised random directions (Li et al. 2018),
  ``a + alpha d1 + beta d2`` with ``alpha, beta`` in ``[-span, span]``;
* the loss on the plane of the first two principal components of the training
  path, with the path projected on it (Li et al. 2018, Sec. 7);
* the loss on the straight line from the initialisation to ``a`` (Goodfellow et
  al. 2015) and from ``a`` to the second solution ``b``;
* a quadratic Bezier curve from ``a`` to ``b`` with a trained control point
  (Garipov et al. 2018), its barrier against the straight line's, and the loss on
  the plane through ``a``, ``b`` and the control point.

The shape of every study: a frozen :class:`LandscapeConfig` (:data:`PROFILES`
``quick`` and ``full``) -> :func:`run` -> :class:`LandscapeResult` ->
:func:`plot` (figure functions ``plot_*(ax, result) -> ax``). With a run
directory, :func:`save` writes ``config.json``, ``summary.json`` and
``arrays.npz``; :func:`load` reads them back.

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

import argparse
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, data, models, objectives, plots, results, surfaces, train
from landscape.problem import from_model

__all__ = [
    "PROFILES",
    "LandscapeConfig",
    "LandscapeResult",
    "load",
    "main",
    "plot",
    "plot_interpolations",
    "plot_mode_connectivity",
    "plot_random_plane",
    "plot_trajectory_plane",
    "run",
    "save",
]


@dataclasses.dataclass(frozen=True)
class LandscapeConfig:
    """Everything that fixes the landscape pictures.

    Attributes
    ----------
    seed : int
        Master seed: the two runs train with ``split(key(seed), 2)``; directions and
        the curve's values of ``t`` use keys folded from it.
    dataset : str
        A name for :func:`landscape.data.load`.
    num_samples : int or None
        Examples generated (all splits), ``None`` for the loader's default.
    standardize : bool
        Standardise inputs with the training mean and std.
    hidden, activation : tuple of int, str
        The MLP.
    optimizer, learning_rate, num_steps, batch_size, eval_every : training
        (:class:`landscape.train.TrainConfig`); the path has a point every
        ``eval_every`` steps.
    grid_points : int
        Points per axis of every 2-D grid.
    span : float
        The random plane covers ``[-span, span]^2`` in units of the
        filter-normalised directions (1 = one filter norm).
    margin : float
        The PCA and curve planes extend their content by this fraction on each side.
    num_interp_points : int
        Points on each straight line and on the curve.
    bezier_steps, bezier_learning_rate, bezier_num_ts : int, float, int
        Training of the curve's control point (Adam; values of ``t`` per step).
    memory_bytes : int
        Memory for one chunk of grid points (:func:`landscape.surfaces.chunk_size_for`).
    """

    seed: int = 0
    dataset: str = "mnist1d"
    num_samples: int | None = None
    standardize: bool = True
    hidden: tuple[int, ...] = (100, 100)
    activation: str = "relu"
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
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

        def positive_int(name, minimum=1):
            value = getattr(self, name)
            integer = isinstance(value, int | np.integer) and not isinstance(value, bool)
            if not integer or value < minimum:
                raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")

        for name in ("num_steps", "eval_every", "bezier_steps", "bezier_num_ts", "memory_bytes"):
            positive_int(name)
        positive_int("grid_points", 3)
        positive_int("num_interp_points", 3)
        for name in ("num_samples", "batch_size"):
            if getattr(self, name) is not None:
                positive_int(name)
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden: need at least one positive width, got {self.hidden}")
        for name in ("span", "bezier_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)!r}")
        if not self.margin >= 0:
            raise ValueError(f"margin: must be non-negative, got {self.margin!r}")
        if self.num_steps // self.eval_every < 2:
            raise ValueError(f"eval_every: the path needs at least 3 points; {self.num_steps} "
                             f"steps with eval_every={self.eval_every} give fewer")
        self.train_config()  # validates the optimizer and learning rate

    def train_config(self) -> train.TrainConfig:
        """The :class:`landscape.train.TrainConfig` of both runs (parameters recorded)."""
        return train.TrainConfig(
            optimizer=self.optimizer, learning_rate=self.learning_rate,
            num_steps=self.num_steps, batch_size=self.batch_size, eval_every=self.eval_every,
            record_params=True,
        )

    def replace(self, **changes) -> LandscapeConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def profile(cls, name: str, **overrides) -> LandscapeConfig:
        """The config of profile ``name`` (:data:`PROFILES`) with ``overrides``."""
        if name not in PROFILES:
            raise ValueError(f"profile: unknown profile {name!r}; choose one of {sorted(PROFILES)}")
        return dataclasses.replace(PROFILES[name], **overrides)


PROFILES: dict[str, LandscapeConfig] = {
    # A 40-100-100-10 MLP (15k parameters), 31x31 grids: about 50 s of CPU time (3 min
    # wall on a busy 2-core machine).
    "quick": LandscapeConfig(),
    # The 84k-parameter 40-280-250-10 MLP, longer training, 51x51 grids, longer curve fit:
    # 16 min wall on a busy 2-core machine, most of it fitting the curve.
    "full": LandscapeConfig(hidden=(280, 250), num_steps=6000, eval_every=150,
                            grid_points=51, num_interp_points=51, bezier_steps=1000),
}


class LandscapeResult(NamedTuple):
    """What :func:`run` returns (and :func:`load` reads back).

    Attributes
    ----------
    config : LandscapeConfig
    summary : dict
        Scalars: parameter count, final losses and accuracies, barriers, timings.
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

    config: LandscapeConfig
    summary: dict[str, Any]
    train_loss: np.ndarray
    steps: np.ndarray
    random_plane: surfaces.Surface2D
    pca: surfaces.PCADirections
    pca_plane: surfaces.Surface2D
    init_line: surfaces.Interpolation
    bezier: surfaces.BezierCurve
    curve_plane: surfaces.Surface2D
    plane_coords: np.ndarray
    curve_coords: np.ndarray


def make_dataset(config: LandscapeConfig) -> data.Dataset:
    """The data set of ``config``, standardised if asked, in JAX's default float dtype."""
    return data.prepare(
        config.dataset, num_samples=config.num_samples, standardize=config.standardize
    )


def _range(lo, hi, margin, num):
    width = max(hi - lo, 1e-12)
    return jnp.linspace(lo - margin * width, hi + margin * width, num)


def _block(x):
    return jax.block_until_ready(x)


def run(config: LandscapeConfig, *, progress: bool = True,
        log=print) -> LandscapeResult:
    """Train two runs and compute every landscape of the study (see the module docstring).

    ``log`` receives one line per stage (``None`` for silence).
    """
    say = log or (lambda *_: None)
    times: dict[str, float] = {}
    key = jax.random.key(config.seed)
    ds = make_dataset(config)
    if ds.task != "classification":
        raise ValueError(f"dataset: the landscape study needs a classification set, got "
                         f"{config.dataset!r}")
    model = models.mlp(ds.in_dim, config.hidden, ds.out_dim, activation=config.activation)
    tc = config.train_config()
    start = time.perf_counter()
    runs = train.train_seeds(from_model(model, ds), tc, keys=jax.random.split(key, 2),
                             progress=progress)
    runs = _block(runs)
    times["train_s"] = time.perf_counter() - start
    if bool(np.any(np.asarray(runs.diverged))):
        raise RuntimeError(f"learning_rate: a run diverged at step "
                           f"{np.asarray(runs.diverged_step).tolist()}; lower the learning rate")
    loss_fn = objectives.make_loss(model.apply)
    batch = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    params_a = jax.tree_util.tree_map(lambda x: x[0], runs.params)
    f, x_a, unravel = curvature.flat_loss(loss_fn, params_a)
    x_b = jnp.asarray(runs.trajectory[1, -1])
    x_init = jnp.asarray(runs.trajectory[0, 0])
    n = int(x_a.size)
    say(f"trained 2 runs of {model.name} ({n} parameters) in {times['train_s']:.1f} s; "
        f"final train loss {float(f(x_a, batch)):.4g} and {float(f(x_b, batch)):.4g}")
    # One chunk size for every evaluation, so that they share one compiled program.
    chunk = surfaces.chunk_size_for(f, x_a, batch, memory_bytes=config.memory_bytes,
                                    max_chunk=config.grid_points**2)
    m = config.grid_points

    # Filter-normalised random plane.
    start = time.perf_counter()
    dirs = surfaces.random_directions(jax.random.fold_in(key, 1), params_a, num=2)
    grid = jnp.linspace(-config.span, config.span, m)
    random_plane = _block(surfaces.slice_2d(f, x_a, dirs[0], dirs[1], grid, grid, batch,
                                            chunk_size=chunk, progress=progress))
    times["random_plane_s"] = time.perf_counter() - start
    say(f"random plane: {m}x{m} points, {chunk} at a time, {times['random_plane_s']:.1f} s")

    # PCA plane of the first run's path.
    start = time.perf_counter()
    pca = surfaces.trajectory_pca(jnp.asarray(runs.trajectory[0]), num_components=2)
    lo, hi = np.min(np.asarray(pca.coords), axis=0), np.max(np.asarray(pca.coords), axis=0)
    pca_plane = _block(surfaces.slice_2d(
        f, x_a, pca.directions[0], pca.directions[1],
        _range(lo[0], hi[0], config.margin, m), _range(lo[1], hi[1], config.margin, m), batch,
        chunk_size=chunk, progress=progress))
    times["pca_plane_s"] = time.perf_counter() - start
    ratio = np.asarray(pca.explained_variance_ratio)
    say(f"PCA plane: the path's first two components explain {100 * ratio[0]:.1f}% and "
        f"{100 * ratio[1]:.1f}% of its variance, {times['pca_plane_s']:.1f} s")

    # Straight lines and the Bezier curve.
    start = time.perf_counter()
    k = config.num_interp_points
    init_line = surfaces.interpolate(f, x_init, x_a, batch, num_points=k, chunk_size=chunk)
    bezier = surfaces.bezier_curve(
        f, x_a, x_b, batch, key=jax.random.fold_in(key, 2), num_steps=config.bezier_steps,
        learning_rate=config.bezier_learning_rate, num_ts=config.bezier_num_ts, num_points=k,
        chunk_size=chunk, progress=progress)
    bezier = _block(bezier)
    times["paths_s"] = time.perf_counter() - start
    say(f"barriers: init->a {float(init_line.barrier):.4g}, a->b line "
        f"{float(bezier.line.barrier):.4g}, a->b curve {float(bezier.curve.barrier):.4g} "
        f"({times['paths_s']:.1f} s)")

    # The plane through a, b and the control point.
    start = time.perf_counter()
    plane = surfaces.plane_through(x_a, x_b, bezier.control)
    curve_pts = surfaces.bezier_points(bezier.curve.ts, x_a, bezier.control, x_b)
    curve_coords = (curve_pts - x_a[None, :]) @ plane.directions.T
    pts = np.concatenate([np.asarray(plane.coords), np.asarray(curve_coords)])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    curve_plane = _block(surfaces.slice_2d(
        f, x_a, plane.directions[0], plane.directions[1],
        _range(lo[0], hi[0], config.margin, m), _range(lo[1], hi[1], config.margin, m), batch,
        chunk_size=chunk, progress=progress))
    times["curve_plane_s"] = time.perf_counter() - start

    metrics = objectives.make_metrics(model.apply)
    final = {}
    for name, x in (("a", x_a), ("b", x_b)):
        p = unravel(x)
        for split, part in (("train", ds.train), ("val", ds.val)):
            for metric, value in metrics(p, data.Batch(jnp.asarray(part.x),
                                                       jnp.asarray(part.y))).items():
                final[f"{name}_{split}_{metric}"] = float(value)
    summary = {
        "model": model.name,
        "num_params": n,
        "num_train": int(ds.num_train),
        "chunk_size": int(chunk),
        "pca_explained_variance_ratio": [float(r) for r in ratio],
        "distance_a_b": float(jnp.linalg.norm(x_b - x_a)),
        "distance_init_a": float(jnp.linalg.norm(x_a - x_init)),
        "barrier_init_a": float(init_line.barrier),
        "barrier_line_a_b": float(bezier.line.barrier),
        "barrier_curve_a_b": float(bezier.curve.barrier),
        "max_loss_line_a_b": float(jnp.max(bezier.line.losses)),
        "max_loss_curve_a_b": float(jnp.max(bezier.curve.losses)),
        **final,
        **{k: round(v, 3) for k, v in times.items()},
    }
    return LandscapeResult(
        config=config, summary=summary, train_loss=np.asarray(runs.curves.train_loss),
        steps=np.asarray(runs.curves.step), random_plane=random_plane, pca=pca,
        pca_plane=pca_plane, init_line=init_line, bezier=bezier, curve_plane=curve_plane,
        plane_coords=np.asarray(plane.coords), curve_coords=np.asarray(curve_coords),
    )


# ----------------------------------------------------------------------------- save / load

_SURFACES = ("random_plane", "pca_plane", "curve_plane")


def _interp_arrays(prefix, r):
    return {f"{prefix}_ts": r.ts, f"{prefix}_losses": r.losses, f"{prefix}_barrier": r.barrier,
            f"{prefix}_argmax": r.argmax}


def save(result: LandscapeResult, run_dir: str | Path) -> None:
    """Write ``config.json``, ``summary.json`` and ``arrays.npz`` to ``run_dir``."""
    run_dir = Path(run_dir)
    results.write_config(run_dir, result.config, overwrite=True)
    results.write_json(run_dir / "summary.json", result.summary)
    arrays: dict[str, Any] = {"train_loss": result.train_loss, "steps": result.steps,
                              "plane_coords": result.plane_coords,
                              "curve_coords": result.curve_coords}
    for name in _SURFACES:
        s = getattr(result, name)
        arrays.update({f"{name}_alphas": s.alphas, f"{name}_betas": s.betas,
                       f"{name}_losses": s.losses, f"{name}_chunk_size": s.chunk_size})
    arrays.update({"pca_directions": result.pca.directions,
                   "pca_explained_variance_ratio": result.pca.explained_variance_ratio,
                   "pca_coords": result.pca.coords, "pca_origin": result.pca.origin})
    arrays.update(_interp_arrays("init_line", result.init_line))
    arrays.update(_interp_arrays("curve", result.bezier.curve))
    arrays.update(_interp_arrays("line", result.bezier.line))
    arrays.update({"bezier_control": result.bezier.control,
                   "bezier_train_losses": result.bezier.train_losses})
    results.write_arrays(run_dir / "arrays.npz", {k: np.asarray(v) for k, v in arrays.items()})


def load(run_dir: str | Path) -> LandscapeResult:
    """Read a result written by :func:`save`."""
    run_dir = Path(run_dir)
    config = LandscapeConfig(**{
        k: tuple(v) if isinstance(v, list) else v
        for k, v in results.read_config(run_dir)["config"].items()
    })
    summary = results.read_json(run_dir / "summary.json")
    a = results.read_arrays(run_dir / "arrays.npz")

    def interp(prefix):
        return surfaces.Interpolation(a[f"{prefix}_ts"], a[f"{prefix}_losses"],
                                      a[f"{prefix}_barrier"], a[f"{prefix}_argmax"])

    planes = {name: surfaces.Surface2D(a[f"{name}_alphas"], a[f"{name}_betas"],
                                       a[f"{name}_losses"], int(a[f"{name}_chunk_size"]))
              for name in _SURFACES}
    return LandscapeResult(
        config=config, summary=summary, train_loss=a["train_loss"], steps=a["steps"],
        pca=surfaces.PCADirections(a["pca_directions"], a["pca_explained_variance_ratio"],
                                   a["pca_coords"], a["pca_origin"]),
        init_line=interp("init_line"),
        bezier=surfaces.BezierCurve(a["bezier_control"], interp("curve"), interp("line"),
                                    a["bezier_train_losses"]),
        plane_coords=a["plane_coords"], curve_coords=a["curve_coords"], **planes,
    )


# ----------------------------------------------------------------------------- figures


def _levels(*surfs, num=22):
    """Shared log10 contour levels from the lowest loss to a cap at 20x the median,
    so that the region around the solutions is resolved."""
    values = np.concatenate([np.asarray(s.losses).ravel() for s in surfs])
    lo = np.log10(max(float(values.min()), 1e-12))
    hi = np.log10(min(float(values.max()), 20.0 * float(np.median(values))))
    return np.linspace(lo, max(hi, lo + 1e-3), num)


def plot_random_plane(ax, result: LandscapeResult, *, surface_3d: bool = False):
    """The training loss on the filter-normalised random plane around solution ``a``
    (contours of log10 loss), or, with ``surface_3d`` and a 3-D axis, as a surface."""
    s = result.random_plane
    if surface_3d:
        plots.plot_surface_3d(ax, s, log=True, label="train loss")
        ax.set_xlabel(r"$\alpha$ ($d_1$)", labelpad=-6)
        ax.set_ylabel(r"$\beta$ ($d_2$)", labelpad=-6)
        return ax
    plots.plot_contour(ax, s, levels=_levels(s), label="train loss")
    ax.set_xlabel(r"$\alpha$ (filter-normalised $d_1$)")
    ax.set_ylabel(r"$\beta$ (filter-normalised $d_2$)")
    return ax


def plot_trajectory_plane(ax, result: LandscapeResult):
    """The training loss on the PCA plane of the training path, with the path."""
    plots.plot_contour(ax, result.pca_plane, levels=_levels(result.pca_plane),
                       label="train loss", mark_center=False)
    plots.plot_trajectory(ax, result.pca, label=f"path (every {result.config.eval_every} steps)")
    ax.plot([0.0], [0.0], marker="*", color="white", markeredgecolor="k", markeredgewidth=0.5,
            markersize=8, linestyle="none", label="solution", zorder=5)
    plots.legend_on_image(ax, loc="upper right")
    return ax


def plot_interpolations(ax, result: LandscapeResult, *, log: bool = True):
    """Loss along init -> ``a`` and ``a`` -> ``b`` (straight line and trained curve)."""
    plots.plot_interpolation(ax, result.init_line, label=r"init $\to a$, line", log=log,
                             annotate_barrier=False, color=plots.COLORS[2])
    plots.plot_interpolation(ax, result.bezier.line, label=r"$a \to b$, line", log=log,
                             color=plots.COLORS[1])
    plots.plot_interpolation(ax, result.bezier.curve, label=r"$a \to b$, Bezier curve",
                             log=log, color=plots.COLORS[0])
    ax.set_ylabel("train loss (cross-entropy)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, columnspacing=1.0,
              handlelength=1.2)
    return ax


def plot_mode_connectivity(ax, result: LandscapeResult):
    """The training loss on the plane through ``a``, ``b`` and the curve's control
    point, with the straight line and the curve (distances in parameter space)."""
    s = result.curve_plane
    plots.plot_contour(ax, s, levels=_levels(s), label="train loss", mark_center=False)
    pc = np.asarray(result.plane_coords)
    plots.plot_curve_on_plane(ax, pc[:2], color="white", linestyle="--", label="line")
    plots.plot_curve_on_plane(ax, result.curve_coords, color="white", label="Bezier curve")
    ax.plot(pc[:2, 0], pc[:2, 1], marker="*", color="white", markeredgecolor="k",
            markeredgewidth=0.5, markersize=8, linestyle="none", zorder=5)
    ax.plot(pc[2, 0], pc[2, 1], marker="o", color="white", markeredgecolor="k",
            markeredgewidth=0.5, markersize=3.5, linestyle="none", zorder=5,
            label="control point")
    for label, (u, v) in zip(("a", "b"), pc[:2], strict=True):
        ax.annotate(f"${label}$", (u, v), xytext=(4, -8), textcoords="offset points",
                    color="white", fontsize=7)
    ax.set_xlabel(r"distance along $b - a$")
    ax.set_ylabel("distance orthogonal to it")
    plots.legend_on_image(ax, loc="upper left")
    return ax


def plot(result: LandscapeResult) -> dict[str, Any]:
    """All figures of the study: ``{name: figure}``; call inside :func:`plots.style`."""
    import matplotlib.pyplot as plt

    figs = {}
    fig = plt.figure(figsize=plots.figure_size(2, aspect=0.42))
    ax1 = fig.add_subplot(1, 2, 1)
    ax2 = fig.add_subplot(1, 2, 2, projection="3d")
    plot_random_plane(ax1, result)
    plot_random_plane(ax2, result, surface_3d=True)
    figs["landscape_random_plane"] = fig

    fig, ax = plt.subplots(figsize=plots.figure_size(1, aspect=0.85))
    plot_trajectory_plane(ax, result)
    figs["landscape_trajectory"] = fig

    fig, ax = plt.subplots(figsize=plots.figure_size(1, aspect=0.75))
    plot_interpolations(ax, result)
    figs["landscape_interpolation"] = fig

    fig, ax = plt.subplots(figsize=plots.figure_size(1, aspect=0.85))
    plot_mode_connectivity(ax, result)
    figs["landscape_mode_connectivity"] = fig
    return figs


# ----------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> LandscapeResult:
    """Command-line entry point (``scripts/landscape_plot.py``)."""
    parser = argparse.ArgumentParser(
        prog="landscape_plot.py",
        description="Train two MLPs on mnist1d and draw the loss landscape around a solution: "
        "a filter-normalised random plane, the training path on its PCA plane, straight "
        "lines init->solution and solution->solution, and a mode-connecting Bezier curve.",
    )
    parser.add_argument("--profile", default="quick", choices=sorted(PROFILES),
                        help="quick: a 15k-parameter MLP, 31x31 grids (minutes on a busy "
                        "2-core CPU); full: an 84k-parameter MLP, 51x51 grids")
    parser.add_argument("--out", default="figures", help="where the figures go (PNG and PDF)")
    parser.add_argument("--run-dir", default="runs/landscape_plot",
                        help="where config.json, summary.json and arrays.npz go")
    parser.add_argument("--seed", type=int, default=None, help="master seed (default: the "
                        "profile's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
    args = parser.parse_args(argv)
    overrides = {} if args.seed is None else {"seed": args.seed}
    config = LandscapeConfig.profile(args.profile, **overrides)
    start = time.perf_counter()
    result = run(config, progress=not args.quiet, log=None if args.quiet else print)
    save(result, args.run_dir)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plots.style():
        for name, fig in plot(result).items():
            paths = plots.save(fig, name, out_dir=args.out)
            plt.close(fig)
            if not args.quiet:
                print(f"wrote {paths[0]}")
    if not args.quiet:
        print(f"done in {time.perf_counter() - start:.0f} s")
    return result
