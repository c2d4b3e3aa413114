"""Hessian spectrum of an MLP on mnist1d at initialisation and after full-batch training,
and the sharpness along training next to 2 / learning rate.

The study trains one MLP by full-batch gradient descent (:func:`landscape.train.train`,
parameters recorded every ``eval_every`` steps) and then

* at the initialisation and at the end of training: the ``num_top`` largest and
  smallest Hessian eigenvalues with their residuals (:func:`landscape.lanczos.extreme_eigs`),
  the spectral density by stochastic Lanczos quadrature
  (:func:`landscape.lanczos.slq`, Ubaru et al. 2017) drawn on a log scale in the
  style of Ghorbani et al. (2019), the trace from the same probes, and the index
  (fraction of eigenvalues below ``-index_rtol * lambda_max``) with its bracket;
* counts the outliers: the top eigenvalues above the largest relative gap among
  the ``num_top`` largest (for a ``C``-class problem about ``C`` outliers separate from
  the bulk during training: Sagun et al. 2017, Papyan 2019, Ghorbani et al. 2019);
* tracks ``lambda_max`` at every recorded step next to ``2 / learning_rate``: for
  full-batch GD it rises (progressive sharpening) until it reaches ``2 / lr`` and then
  hovers there, the edge of stability (Cohen et al. 2021).

Shape: a frozen :class:`SpectrumConfig` (profiles ``quick`` and ``full``) ->
:func:`run` -> :class:`SpectrumResult` -> :func:`plot`; ``scripts/spectrum.py`` is
the command line. With a run directory, :func:`run` writes ``config.json``,
``summary.json`` and ``arrays.npz``, and :func:`load` reads them back.

References
----------
Sagun, L., Evci, U., Guney, V. U., Dauphin, Y. and Bottou, L. (2017). Empirical
analysis of the Hessian of over-parametrized neural networks. arXiv:1706.04454.
Ghorbani, B., Krishnan, S. and Xiao, Y. (2019). An investigation into neural net
optimization via Hessian eigenvalue density. ICML.
Papyan, V. (2019). Measurements of three-level hierarchical structure in the outliers
in the spectrum of deepnet Hessians. ICML.
Cohen, J. M., Kaur, S., Li, Y., Kolter, J. Z. and Talwalkar, A. (2021). Gradient
descent on neural networks typically occurs at the edge of stability. ICLR.
Ubaru, S., Chen, J. and Saad, Y. (2017). Fast estimation of tr(f(A)) via stochastic
Lanczos quadrature. SIAM J. Matrix Anal. Appl. 38(4).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, data, lanczos, models, objectives, results, train
from landscape.problem import from_model

__all__ = [
    "PROFILES",
    "SpectrumConfig",
    "SpectrumResult",
    "count_outliers",
    "format_summary",
    "load",
    "main",
    "plot",
    "plot_density",
    "plot_sharpness",
    "plot_top_eigenvalues",
    "run",
]


@dataclasses.dataclass(frozen=True)
class SpectrumConfig:
    """Everything that fixes a spectrum study.

    Attributes
    ----------
    seed : int
        Initialisation and probes.
    num_samples : int
        mnist1d examples generated (all splits).
    hidden : tuple of int
        MLP hidden widths; ``activation`` their nonlinearity.
    learning_rate, num_steps, eval_every : float, int, int
        Full-batch gradient descent; ``lambda_max`` is tracked every ``eval_every`` steps.
    num_top : int
        Extreme eigenvalues computed at each end (Lanczos basis ``lanczos_iters``).
    tol : float
        Lanczos tolerance, relative to ``lambda_max``.
    slq_iters, slq_probes : int
        Stochastic Lanczos quadrature.
    sigma_rel : float
        Width of the gaussian smoothing the density, relative to the spectral range.
    index_rtol : float
        An eigenvalue counts as negative below ``-index_rtol * lambda_max``.
    sharpness_iters : int
        Lanczos basis for ``lambda_max`` along training.
    """

    seed: int = 0
    num_samples: int = 4000
    hidden: tuple[int, ...] = (100, 100)
    activation: str = "relu"
    learning_rate: float = 0.2
    num_steps: int = 2000
    eval_every: int = 50
    num_top: int = 20
    lanczos_iters: int = 120
    tol: float = 1e-5
    slq_iters: int = 80
    slq_probes: int = 8
    sigma_rel: float = 1e-2
    index_rtol: float = 1e-3
    sharpness_iters: int = 30

    def __post_init__(self):
        for name in ("num_samples", "num_steps", "eval_every", "num_top", "lanczos_iters",
                     "slq_iters", "slq_probes", "sharpness_iters"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be a positive integer, got {value!r}")
        for name in ("learning_rate", "tol", "sigma_rel", "index_rtol"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be a positive number, got {value!r}")
        if 2 * self.num_top > self.lanczos_iters:
            raise ValueError(
                f"num_top: 2 * num_top = {2 * self.num_top} exceeds lanczos_iters = "
                f"{self.lanczos_iters}"
            )
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"hidden: need positive widths, got {self.hidden!r}")

    @classmethod
    def profile(cls, name: str, **overrides) -> SpectrumConfig:
        """The config of profile ``name`` (:data:`PROFILES`) with ``overrides``."""
        if name not in PROFILES:
            raise ValueError(f"profile: unknown profile {name!r}; choose one of {sorted(PROFILES)}")
        return cls(**{**PROFILES[name], **overrides})


PROFILES: dict[str, dict[str, Any]] = {
    "quick": dict(num_samples=2000, hidden=(64, 64), num_steps=1500, eval_every=50,
                  lanczos_iters=80, slq_iters=60, slq_probes=4),
    "full": dict(num_samples=4000, hidden=(100, 100), num_steps=4000, eval_every=50),
}


class SpectrumResult(NamedTuple):
    """What :func:`run` returns.

    ``spectra`` maps ``"init"`` and ``"trained"`` to dicts with ``top`` (num_top,)
    descending, ``bottom`` (num_top,) ascending, their ``top_residuals`` /
    ``bottom_residuals``, the SLQ ``nodes`` / ``weights`` (probes, slq_iters),
    ``trace`` and ``trace_stderr``, ``index`` / ``index_stderr`` / ``index_lower`` /
    ``index_upper``, ``outliers`` and ``gap_ratio``. ``sharpness`` has ``step`` (E,),
    ``lambda_max`` (E,), ``residual`` (E,), ``train_loss`` (E,) and ``train_accuracy`` (E,).
    """

    config: SpectrumConfig
    num_params: int
    spectra: dict[str, dict[str, Any]]
    sharpness: dict[str, np.ndarray]
    summary: dict[str, Any]


def count_outliers(top: np.ndarray) -> tuple[int, float]:
    """Outliers among the largest eigenvalues ``top`` (descending): those above the
    largest ratio ``lambda_i / lambda_{i+1}`` between consecutive positive values.
    Returns ``(count, ratio)``; a ratio near 1 means there is no clear gap."""
    top = np.sort(np.asarray(top, np.float64))[::-1]
    top = top[top > 0]
    if len(top) < 2:
        return len(top), math.nan
    ratios = top[:-1] / top[1:]
    i = int(np.argmax(ratios))
    return i + 1, float(ratios[i])


def _spectrum_at(x, config, op, key, progress):
    """Extreme eigenvalues, SLQ density, trace and index of the Hessian at flat params x."""
    args = (x, *op.args[1:])
    k_v0, k_slq = jax.random.split(key)
    eigs = jax.jit(
        lanczos.extreme_eigs(num_iters=config.lanczos_iters, num_eigs=config.num_top,
                             which="both", tol=config.tol, num_restarts=10, check_every=10),
        static_argnums=0,
    )
    res = eigs(op.matvec, jax.random.normal(k_v0, (op.size,), x.dtype), *args)
    m = config.num_top
    vals, resid = np.asarray(res.eigvals, np.float64), np.asarray(res.residuals, np.float64)
    density = jax.jit(
        lambda k, *a: lanczos.slq(num_iters=config.slq_iters, num_probes=config.slq_probes)(
            op.matvec, k, *a, size=op.size, dtype=x.dtype
        )
    )(k_slq, *args)
    lmax = float(vals[-1])
    threshold = config.index_rtol * abs(lmax)
    trace, trace_se = lanczos.trace_estimate(density)
    index, index_se = lanczos.negative_fraction(density, threshold=threshold)
    lower, upper = lanczos.negative_fraction_bounds(density, threshold=threshold)
    top = vals[m:][::-1]
    outliers, ratio = count_outliers(top)
    return {
        "top": top,
        "top_residuals": resid[m:][::-1],
        "bottom": vals[:m],
        "bottom_residuals": resid[:m],
        "converged": bool(np.all(np.asarray(res.converged))),
        "num_matvecs": int(res.num_matvecs),
        "nodes": np.asarray(density.nodes, np.float64),
        "weights": np.asarray(density.weights, np.float64),
        "trace": float(trace),
        "trace_stderr": float(trace_se),
        "index": float(index),
        "index_stderr": float(index_se),
        "index_lower": float(lower),
        "index_upper": float(upper),
        "outliers": outliers,
        "gap_ratio": ratio,
    }


def _progress(iterable, total, desc, progress):
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc)


def run(config: SpectrumConfig, run_dir: str | Path | None = None, *,
        progress: bool = True) -> SpectrumResult:
    """Train, then measure the spectrum at the start and the end and the sharpness along
    the way (see the module docstring)."""
    start = time.perf_counter()
    ds = data.mnist1d(num_samples=config.num_samples, seed=42)
    model = models.mlp(ds.in_dim, config.hidden, ds.out_dim, activation=config.activation)
    key = jax.random.key(config.seed)
    k_train, k_init_spec, k_end_spec, k_sharp = jax.random.split(key, 4)
    tconfig = train.TrainConfig(optimizer="sgd", learning_rate=config.learning_rate,
                                num_steps=config.num_steps, batch_size=None,
                                eval_every=config.eval_every, record_params=True)
    trained = train.train(from_model(model, ds), tconfig, key=k_train, progress=progress)
    loss = objectives.make_loss(model.apply)
    trajectory = jnp.asarray(trained.trajectory)
    batch = data.Batch(jnp.asarray(ds.x_train, trajectory.dtype), jnp.asarray(ds.y_train))
    op = curvature.hessian_operator(loss, trained.init_params, batch)
    spectra = {
        "init": _spectrum_at(trajectory[0], config, op, k_init_spec, progress),
        "trained": _spectrum_at(trajectory[-1], config, op, k_end_spec, progress),
    }
    sharp = jax.jit(
        lanczos.extreme_eigs(num_iters=min(config.sharpness_iters, op.size), which="largest",
                             tol=1e-4, num_restarts=5, check_every=5),
        static_argnums=0,
    )
    v0 = jax.random.normal(k_sharp, (op.size,), trajectory.dtype)
    lmax, resid = [], []
    for x in _progress(trajectory, len(trajectory), "lambda_max along training", progress):
        res = sharp(op.matvec, v0, x, *op.args[1:])
        lmax.append(float(res.eigvals[-1]))
        resid.append(float(res.residuals[-1]))
    curves = trained.curves
    sharpness = {
        "step": np.asarray(curves.step, np.int64),
        "lambda_max": np.asarray(lmax),
        "residual": np.asarray(resid),
        "train_loss": np.asarray(curves.train_loss, np.float64),
        "train_accuracy": np.asarray(curves.train_accuracy, np.float64),
    }
    summary = _summarize(config, spectra, sharpness, int(op.size), bool(trained.diverged))
    summary["seconds"] = time.perf_counter() - start
    result = SpectrumResult(config, int(op.size), spectra, sharpness, summary)
    if run_dir is not None:
        save(result, run_dir)
    return result


def _summarize(config, spectra, sharpness, num_params, diverged) -> dict[str, Any]:
    edge = 2.0 / config.learning_rate
    lm = sharpness["lambda_max"]
    reached = np.flatnonzero(lm >= 0.9 * edge)
    out: dict[str, Any] = {
        "num_params": num_params,
        "diverged": diverged,
        "edge_of_stability": edge,
        "first_step_within_10pct_of_edge": (
            int(sharpness["step"][reached[0]]) if reached.size else None
        ),
        "lambda_max_final": float(lm[-1]),
        "lambda_max_peak": float(np.max(lm)),
        "final_train_loss": float(sharpness["train_loss"][-1]),
        "final_train_accuracy": float(sharpness["train_accuracy"][-1]),
    }
    for phase, s in spectra.items():
        out[phase] = {
            "lambda_max": float(s["top"][0]),
            "lambda_min": float(s["bottom"][0]),
            "residual_max": float(s["top_residuals"][0]),
            "residual_min": float(s["bottom_residuals"][0]),
            "trace": s["trace"],
            "trace_stderr": s["trace_stderr"],
            "index": s["index"],
            "index_stderr": s["index_stderr"],
            "index_bracket": [s["index_lower"], s["index_upper"]],
            "outliers": s["outliers"],
            "gap_ratio": s["gap_ratio"],
            "converged": s["converged"],
        }
    return out


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as text, one line per phase and one for the sharpness."""
    lines = [f"MLP with {summary['num_params']} parameters on mnist1d"]
    for phase in ("init", "trained"):
        s = summary[phase]
        lo, hi = s["index_bracket"]
        lines.append(
            f"{phase:>7}: lambda_max {s['lambda_max']:.4g} (residual {s['residual_max']:.1g}), "
            f"lambda_min {s['lambda_min']:.3g} (residual {s['residual_min']:.1g}), "
            f"trace {s['trace']:.4g} +- {s['trace_stderr']:.2g}, index {s['index']:.3f} +- "
            f"{s['index_stderr']:.3f} (bracket [{lo:.3f}, {hi:.3f}]), {s['outliers']} outliers "
            f"(gap ratio {s['gap_ratio']:.2f})"
        )
    first = summary["first_step_within_10pct_of_edge"]
    lines.append(
        f"sharpness: 2/lr = {summary['edge_of_stability']:.3g}; lambda_max peak "
        f"{summary['lambda_max_peak']:.3g}, final {summary['lambda_max_final']:.3g}; "
        + (f"within 10% of 2/lr from step {first}" if first is not None
           else "never within 10% of 2/lr")
        + f"; final train loss {summary['final_train_loss']:.3g}"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------- persistence


def save(result: SpectrumResult, run_dir: str | Path) -> None:
    run_dir = Path(run_dir)
    results.write_config(run_dir, result.config, overwrite=True)
    results.write_json(run_dir / "summary.json", result.summary)
    arrays = {f"sharpness_{k}": v for k, v in result.sharpness.items()}
    for phase, s in result.spectra.items():
        for name in ("top", "top_residuals", "bottom", "bottom_residuals", "nodes", "weights"):
            arrays[f"{phase}_{name}"] = s[name]
    arrays["num_params"] = np.asarray(result.num_params)
    results.write_arrays(run_dir / "arrays.npz", arrays)


def load(run_dir: str | Path) -> SpectrumResult:
    run_dir = Path(run_dir)
    config = SpectrumConfig(**{
        k: tuple(v) if isinstance(v, list) else v
        for k, v in results.read_config(run_dir)["config"].items()
    })
    summary = results.read_json(run_dir / "summary.json")
    arrays = results.read_arrays(run_dir / "arrays.npz")
    sharpness = {k[len("sharpness_"):]: v for k, v in arrays.items() if k.startswith("sharpness_")}
    spectra = {}
    for phase in ("init", "trained"):
        s = {name: arrays[f"{phase}_{name}"] for name in
             ("top", "top_residuals", "bottom", "bottom_residuals", "nodes", "weights")}
        p = summary[phase]
        s.update(trace=p["trace"], index=p["index"], outliers=p["outliers"],
                 gap_ratio=p["gap_ratio"])
        spectra[phase] = s
    return SpectrumResult(config, int(arrays["num_params"]), spectra, sharpness, summary)


# ---------------------------------------------------------------------- figures


def _density(nodes, weights, grid, sigma):
    dens = lanczos.SpectralDensity(jnp.asarray(nodes), jnp.asarray(weights),
                                   jnp.asarray(nodes.shape[1]))
    return np.asarray(lanczos.density_on_grid(dens, jnp.asarray(grid), sigma=sigma))


def plot_density(ax, result: SpectrumResult, *, phase: str, color=None, label=None):
    """The SLQ density on a log scale (Ghorbani et al. 2019), the computed top
    eigenvalues marked along the bottom edge."""
    s = result.spectra[phase]
    lo = min(float(np.min(s["nodes"])), float(s["bottom"][0]))
    hi = max(float(np.max(s["nodes"])), float(s["top"][0]))
    span = hi - lo
    sigma = result.config.sigma_rel * span
    grid = np.linspace(lo - 0.05 * span, hi + 0.05 * span, 3000)
    dens = _density(s["nodes"], s["weights"], grid, sigma)
    ax.semilogy(grid, np.maximum(dens, 1e-9), color=color,
                label=label or f"{phase} ({s['outliers']} outliers)")
    ax.plot(s["top"][: s["outliers"]], np.full(s["outliers"], 3e-6), "|", color=color, ms=8)
    ax.set_ylim(1e-6, 1e5)  # headroom above the bulk for the legend
    ax.set_xlabel("Hessian eigenvalue")
    ax.set_ylabel("density (log scale)")
    return ax


def plot_top_eigenvalues(ax, result: SpectrumResult):
    """The ``num_top`` largest eigenvalues at the start and the end, with the outlier gap."""
    for phase, marker in (("init", "o"), ("trained", "s")):
        s = result.spectra[phase]
        rank = np.arange(1, len(s["top"]) + 1)
        ax.semilogy(rank, np.maximum(s["top"], 1e-12), marker, ms=3, label=phase)
        if s["outliers"] < len(s["top"]):
            ax.axvline(s["outliers"] + 0.5, ls=":", lw=0.8,
                       color=ax.get_lines()[-1].get_color())
    ax.set_xlabel("rank i")
    ax.set_ylabel(r"$\lambda_i$ (log scale)")
    ax.legend()
    return ax


def plot_sharpness(ax, result: SpectrumResult):
    """``lambda_max`` along full-batch GD next to ``2 / learning_rate`` (Cohen et al. 2021)."""
    sh = result.sharpness
    ax.plot(sh["step"], sh["lambda_max"], label=r"$\lambda_{\max}$")
    ax.axhline(2.0 / result.config.learning_rate, ls="--", color="k", lw=0.8,
               label=rf"$2/\eta$ = {2.0 / result.config.learning_rate:g}")
    ax.set_xlabel("GD step")
    ax.set_ylabel(r"$\lambda_{\max}$")
    twin = ax.twinx()
    twin.semilogy(sh["step"], sh["train_loss"], color="0.6", lw=0.8, label="train loss")
    twin.set_ylabel("train loss (log scale)", color="0.4")
    lines = ax.get_legend_handles_labels()
    extra = twin.get_legend_handles_labels()
    top = max(float(np.max(sh["lambda_max"])), 2.0 / result.config.learning_rate)
    ax.set_ylim(0.0, 1.6 * top)  # headroom for the legend
    loss = sh["train_loss"][np.isfinite(sh["train_loss"])]
    twin.set_ylim(0.8 * float(np.min(loss)), 30.0 * float(np.max(loss)))
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], loc="upper right", ncol=2)
    return ax


def plot(result: SpectrumResult):
    """Three panels: log densities at init and after training, the top eigenvalues, and
    the sharpness along training."""
    import matplotlib.pyplot as plt

    from landscape import plots

    with plots.style():
        fig, axes = plt.subplots(1, 3, figsize=plots.figure_size(columns=2, aspect=0.3))
        plot_density(axes[0], result, phase="init", color=plots.COLORS[0])
        plot_density(axes[0], result, phase="trained", color=plots.COLORS[1])
        axes[0].legend(loc="upper right")
        axes[0].set_title("spectral density (SLQ)")
        plot_top_eigenvalues(axes[1], result)
        axes[1].set_title("largest eigenvalues")
        plot_sharpness(axes[2], result)
        axes[2].set_title("sharpness along GD")
    return fig


# ---------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> SpectrumResult:
    """Command line: ``python scripts/spectrum.py --profile quick`` (see ``--help``)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="spectrum.py",
        description=(
            "Hessian spectrum of an MLP on mnist1d at initialisation and after full-batch "
            "gradient descent: top and bottom eigenvalues with residuals, trace, index, the "
            "SLQ density on a log scale with its outliers counted, and lambda_max along "
            "training next to 2/learning-rate (edge of stability). Writes a run directory "
            "and the figure OUT/NAME.png and .pdf."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                        help="quick: a few minutes on 2 CPU cores; full: a larger MLP")
    parser.add_argument("--out", default="figures", help="directory for the figure")
    parser.add_argument("--name", default="spectrum", help="figure file name, no extension")
    parser.add_argument("--run-dir", default=None,
                        help="run directory (default runs/spectrum-PROFILE)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw the figure from an existing run directory")
    group = parser.add_argument_group("overrides of the profile (default: the profile's value)")
    group.add_argument("--seed", type=int)
    group.add_argument("--hidden", type=int, nargs="+")
    group.add_argument("--learning-rate", type=float)
    group.add_argument("--steps", type=int, dest="num_steps")
    group.add_argument("--eval-every", type=int)
    args = parser.parse_args(argv)
    fields = {f.name for f in dataclasses.fields(SpectrumConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if "hidden" in overrides:
        overrides["hidden"] = tuple(overrides["hidden"])
    try:
        config = SpectrumConfig.profile(args.profile, **overrides)
    except ValueError as error:
        parser.error(str(error))
    run_dir = Path(args.run_dir or f"runs/spectrum-{args.profile}")
    from landscape import plots

    result = load(run_dir) if args.plot_only else run(config, run_dir, progress=not args.quiet)
    fig = plot(result)
    paths = plots.save(fig, args.name, args.out)
    print(format_summary(result.summary))
    print("wrote", ", ".join(str(p) for p in paths))
    return result
