"""C1: gradient descent seldom gets stuck in bad local minima; saddles slow it down.

Three measurements, all in float64:

* critical points of a small tanh MLP, found by Newton-MR from points of training
  trajectories and from random initialisations of several scales
  (:mod:`landscape.studies.critical_points`), classified by the exact index (dense
  ``eigh``); the rank correlation of index against loss over the distinct ones, the
  index at the bottom, and whether any minimum sits well above the best loss;
* the endpoints of ordinary training runs of several seeds: the spread of their
  final losses and how they classify (by the spectrum, and by the gradient rule of
  :func:`landscape.critical.classify`);
* a plateau and its escape: a two-layer linear network started near the origin
  (a saddle) and trained by full-batch gradient descent; along the run the dense
  Hessian spectrum certifies a negative eigenvalue while the gradient is small, and
  the loss then falls (Saxe et al. 2014).

References
----------
Dauphin, Y. et al. (2014). Identifying and attacking the saddle point problem in
high-dimensional non-convex optimization. NeurIPS.
Saxe, A. M., McClelland, J. L. & Ganguli, S. (2014). Exact solutions to the nonlinear
dynamics of learning in deep linear neural networks. ICLR.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from landscape import data, models, objectives, plots, registry, train
from landscape.problem import from_model
from landscape.studies import critical_points
from landscape.studies.claims import _common, _dimension, _large_endpoints, _rules
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C1"
TASK = "teacher-student"  # a regression on a random tanh teacher (sizes vary instead of tasks)
TITLE = ("Gradient descent seldom gets stuck in bad local minima: in high dimension most "
         "critical points are saddles; saddles slow training (plateaus) but are escaped.")
RULE = (
    "Find critical points of a small tanh MLP with Newton-MR from training trajectories and "
    "random starts, classify them by the exact Hessian index, and train several seeds. A "
    "*bad* minimum (or training endpoint) is one whose loss exceeds the best critical loss "
    "by more than 10% of the loss range of the distinct critical points. **Supported** if "
    "the Spearman correlation of index against loss is rho > 0.5 with p < 0.05, the three "
    "lowest-loss distinct critical points all have index < 0.05, no bad minimum and no bad "
    "training endpoint is found, and the gradient-descent run started at a saddle escapes "
    "its plateau (final loss below 10% of the plateau loss). **Not supported** if a bad "
    "minimum or bad endpoint is found, or rho <= 0. **Inconclusive** otherwise. "
    "*Across dimension*, with fewer starts per size: " + _rules.DIMENSION_RULE
    + " The claim is supported only if both parts are; not supported if either is not. "
    "In the full profile, training endpoints of a net with over 10k parameters are also "
    "classified with Lanczos and reported (they are not critical points, so they do not enter "
    "the verdict)."
)

MARGIN_FRACTION = 0.1  # a bad minimum: loss > best + MARGIN_FRACTION * (loss range)
RHO_MIN, P_MAX, INDEX_MAX, NUM_LOWEST = 0.5, 0.05, 0.05, 3
ESCAPE_FRACTION = 0.1  # escaped: final loss < ESCAPE_FRACTION * plateau loss


@dataclasses.dataclass(frozen=True)
class Config:
    critical: critical_points.Config = critical_points.Config(
        num_seeds=4, num_steps=600, num_trajectory_points=6, num_random=8, max_iters=60,
        stall_iters=30,
    )
    # keyword arguments of landscape.registry.builtin: the tanh student on its teacher
    critical_problem: dict = dataclasses.field(
        default_factory=lambda: dict(critical_points.PROFILES["quick"].problem))
    # the plateau run: a linear teacher, a two-layer linear student from a small init
    plateau_in_dim: int = 8
    plateau_hidden: int = 8
    plateau_out_dim: int = 3
    plateau_num_train: int = 256
    plateau_init_scale: float = 1e-3
    plateau_learning_rate: float = 0.1
    plateau_num_steps: int = 400
    plateau_eval_every: int = 5
    plateau_grad_fraction: float = 0.1  # on the plateau |g| < this times the peak |g|
    seed: int = 1
    # across dimension: the same study, fewer starts, students of these widths
    # (12 w + 1 parameters: 25, 97, 385, 961)
    dimension: critical_points.Config = critical_points.Config(
        num_seeds=2, num_steps=600, num_trajectory_points=4, num_random=6, max_iters=60,
        stall_iters=30,
    )
    # keyword arguments of landscape.registry.builtin, the hidden width set per size
    dimension_problem: dict = dataclasses.field(
        default_factory=lambda: dict(critical_points.PROFILES["quick"].problem))
    dimension_widths: tuple[int, ...] = (2, 8, 32, 80)
    large: _large_endpoints.LargeConfig | None = _large_endpoints.LargeConfig()


PROFILES = {
    # 32 starts of a 10-8-1 tanh MLP (97 parameters); across dimension up to 385 parameters
    # (the 961-parameter student alone took more CPU time than the rest of the sweep); the
    # endpoints at scale (reported, not judged; mostly compilation) only in the full profile
    "quick": Config(dimension_widths=(2, 8, 32), large=None),
    # a few minutes: the critical-points study's full profile (448 starts, 193 parameters)
    "full": Config(critical=critical_points.PROFILES["full"].config,
                   critical_problem=dict(critical_points.PROFILES["full"].problem),
                   plateau_num_steps=800),
}


def _plateau(config: Config) -> dict[str, np.ndarray]:
    """Train the linear network from near the origin; loss, |g| and the dense Hessian's
    extreme eigenvalues at every recorded step."""
    ds = data.teacher_student(
        num_samples=2 * config.plateau_num_train, in_dim=config.plateau_in_dim,
        out_dim=config.plateau_out_dim, teacher_hidden=(), seed=config.seed,
    ).astype(np.float64)
    model = models.deep_linear(config.plateau_in_dim, (config.plateau_hidden,),
                               config.plateau_out_dim)
    tcfg = train.TrainConfig(
        optimizer="sgd", learning_rate=config.plateau_learning_rate,
        num_steps=config.plateau_num_steps, eval_every=config.plateau_eval_every,
        record_params=True,
    )
    key = jax.random.key(config.seed)
    init = jax.tree_util.tree_map(lambda a: config.plateau_init_scale * a, model.init(key))
    run = train.train(from_model(model, ds, loss="mse"), tcfg, key=key, init_params=init,
                      progress=False)
    loss = objectives.make_loss(model.apply, loss="mse")
    unravel = ravel_pytree(init)[1]
    batch = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    eigs = jax.jit(jax.vmap(
        lambda x, b: jnp.linalg.eigvalsh(jax.hessian(lambda y: loss(unravel(y), b))(x)),
        in_axes=(0, None),
    ))(run.trajectory, batch)
    eigs = np.asarray(eigs)
    return {
        "plateau_step": np.asarray(run.curves.step),
        "plateau_loss": np.asarray(run.curves.train_loss),
        "plateau_grad_norm": np.asarray(run.curves.grad_norm),
        "plateau_lambda_min": eigs[:, 0],
        "plateau_lambda_max": eigs[:, -1],
    }


def _plateau_numbers(a: dict[str, np.ndarray], grad_fraction: float) -> dict[str, float]:
    """The initial plateau: the recorded steps before |g| first exceeds ``grad_fraction``
    of its peak; its length, largest |g|, largest lambda_min, and the escape."""
    g, loss = a["plateau_grad_norm"], a["plateau_loss"]
    above = np.flatnonzero(g > grad_fraction * np.max(g))
    end = int(above[0]) if above.size else len(g)
    on = slice(0, max(end, 1))
    return {
        "plateau_steps": float(a["plateau_step"][on][-1]) if end else 0.0,
        "plateau_max_grad_ratio": float(np.max(g[on]) / np.max(g)),
        "plateau_max_lambda_min": float(np.max(a["plateau_lambda_min"][on])),
        "plateau_lambda_max": float(np.median(a["plateau_lambda_max"][on])),
        "plateau_loss": float(loss[0]),
        "plateau_final_loss": float(loss[-1]),
        "plateau_escape_ratio": float(loss[-1] / loss[0]),
    }


def measure(config: Config, *, progress: bool = False) -> Measurement:
    with jax.enable_x64(True):
        problem = registry.builtin(**config.critical_problem)
        study = critical_points.run(problem, config.critical, progress=progress)
        plateau = _plateau(config)
    s, e = study.starts, study.endpoints
    distinct = np.asarray(s["distinct"], bool)
    loss, index = s["loss"][distinct], s["index"][distinct]
    kind = np.asarray(s["kind"]).astype(str)[distinct]
    best = float(np.min(loss)) if loss.size else float("nan")
    span = float(np.ptp(loss)) if loss.size else float("nan")
    margin = MARGIN_FRACTION * span
    minima = kind == "minimum"
    order = np.argsort(loss)
    sp = study.summary["spearman"]
    end_loss = np.asarray(e["loss"], np.float64)
    numbers = {
        "spearman_rho": sp["rho"],
        "spearman_p": sp["pvalue"],
        "num_starts": float(len(s["loss"])),
        "num_critical": float(study.summary["num_critical"]),
        "num_distinct": float(distinct.sum()),
        "num_distinct_minima": float(minima.sum()),
        "num_distinct_saddles": float((kind == "saddle").sum()),
        "max_index_lowest": float(np.max(index[order[:NUM_LOWEST]])) if loss.size else float("nan"),
        "max_index": float(np.max(index)) if loss.size else float("nan"),
        "best_loss": best,
        "loss_range": span,
        "margin": margin,
        "num_bad_minima": float(np.sum(loss[minima] > best + margin)),
        "worst_minimum_excess": (float(np.max(loss[minima]) - best) if minima.any()
                                 else float("nan")),
        "num_endpoints": float(len(end_loss)),
        "endpoint_loss_min": float(np.min(end_loss)),
        "endpoint_loss_max": float(np.max(end_loss)),
        "num_bad_endpoints": float(np.sum(end_loss > best + margin)),
        "endpoint_minima_by_spectrum": float(np.sum(np.asarray(e["curvature"]).astype(str)
                                                    == "minimum")),
        "endpoint_critical_by_gradient": float(np.sum(np.asarray(e["kind"]).astype(str)
                                                      != "not_critical")),
        "endpoint_grad_norm_median": float(np.median(e["grad_norm"])),
        "endpoint_grad_threshold_median": float(np.median(e["grad_threshold"])),
        "endpoint_lambda_min_min": float(np.min(e["lambda_min"])),
        **_plateau_numbers(plateau, config.plateau_grad_fraction),
    }
    dim_numbers, dim_arrays = {}, {}
    if config.dimension_widths:
        dim_numbers, dim_arrays = _dimension.measure(config.dimension, config.dimension_problem,
                                                    config.dimension_widths,
                                                     progress=progress)
    numbers.update(dim_numbers)
    large_arrays, large_settings = {}, ""
    if config.large is not None:
        large_numbers, large_arrays, large_settings = _large_endpoints.measure(
            config.large, progress=progress)
        numbers.update(large_numbers)
    arrays = {
        "loss": loss, "index": index, "is_minimum": minima,
        "all_loss": np.asarray(s["loss"])[np.asarray(s["critical"], bool)],
        "all_index": np.asarray(s["index"])[np.asarray(s["critical"], bool)],
        "endpoint_loss": end_loss,
        "endpoint_spectral_minimum": np.asarray(e["curvature"]).astype(str) == "minimum",
        **plateau,
        **dim_arrays,
        **large_arrays,
    }
    c = config.critical
    settings = (
        f"{study.info['problem']['name']} ({study.info['num_params']} parameters), "
        f"{study.info['dataset']} ({study.info['num_train']} examples, {study.info['loss']}, "
        f"l2 {c.l2:g}), float64; "
        f"{c.num_seeds} {c.optimizer} runs of {c.num_steps} steps ({c.num_trajectory_points} "
        f"points each) + {c.num_random} random starts -> Newton-MR ({c.max_iters} steps), dense "
        f"eigh; plateau: deep linear {config.plateau_in_dim}-{config.plateau_hidden}-"
        f"{config.plateau_out_dim}, init x{config.plateau_init_scale:g}, GD lr "
        f"{config.plateau_learning_rate:g}, {config.plateau_num_steps} steps"
    )
    if config.dimension_widths:
        d = config.dimension
        settings += (
            f"; across dimension: students 10-w-1 for w in {list(config.dimension_widths)}, "
            f"{d.num_seeds} runs x {d.num_trajectory_points} points + {d.num_random} random "
            f"starts each"
        )
    if large_settings:
        settings += f"; {large_settings}"
    return Measurement(numbers, arrays, settings)


def dimension_part(numbers: dict[str, float]) -> Verdict | None:
    """The across-dimension verdict from the ``dim_*`` numbers, or None if not measured."""
    widths = sorted({int(k.rsplit("_w", 1)[1]) for k in numbers
                     if k.startswith("dim_num_params_w")})
    if len(widths) < 2:
        return None
    return _rules.dimension_verdict(
        [numbers[f"dim_num_params_w{w}"] for w in widths],
        [numbers[f"dim_minima_fraction_w{w}"] for w in widths],
        [numbers[f"dim_worst_excess_w{w}"] for w in widths],
    )


def explain_missing(numbers: dict[str, float]) -> dict[str, str]:
    """Why a number is NaN: no minimum, or no critical point, to measure it on."""
    out = {"worst_minimum_excess": "no distinct minimum was found"}
    for key in ("max_index_lowest", "max_index", "best_loss", "loss_range", "margin",
                "spearman_rho", "spearman_p"):
        out[key] = "too few distinct critical points were found"
    for key in numbers:
        if key.startswith(("dim_minima_fraction_w", "dim_worst_excess_w")):
            out[key] = "no critical point was found at this size"
    return {k: v for k, v in out.items() if k in numbers and np.isnan(numbers[k])}


def verdict(numbers: dict[str, float]) -> Verdict:
    base = _base_verdict(numbers)
    dim = dimension_part(numbers)
    if dim is None:
        return base
    large = ""
    if "large_num_params" in numbers:
        large = (". Endpoints at scale (reported, not judged): "
                 + _large_endpoints.describe(numbers))
    labels = {base.label, dim.label}
    label = (NOT_SUPPORTED if NOT_SUPPORTED in labels
             else SUPPORTED if labels == {SUPPORTED} else INCONCLUSIVE)
    return Verdict(label, f"{base.reason}. Across dimension ({dim.label}): {dim.reason}{large}")


def _base_verdict(numbers: dict[str, float]) -> Verdict:
    n = numbers
    rho, p = n["spearman_rho"], n["spearman_p"]
    bad_min, bad_end = int(n["num_bad_minima"]), int(n["num_bad_endpoints"])
    counts = (f"{_common.plural(n['num_distinct'], 'distinct critical point')} ("
              f"{_common.plural(n['num_distinct_minima'], 'minimum', 'minima')}, "
              f"{_common.plural(n['num_distinct_saddles'], 'saddle')})")
    if bad_min or bad_end:
        return Verdict(
            NOT_SUPPORTED,
            f"{_common.plural(bad_min, 'minimum', 'minima')} and "
            f"{_common.plural(bad_end, 'training endpoint')} have a loss above best "
            f"{n['best_loss']:.3g} + margin {n['margin']:.3g}; {counts}",
        )
    if np.isfinite(rho) and rho <= 0:
        return Verdict(NOT_SUPPORTED, f"index does not rise with loss: rho = {rho:.2f} "
                       f"(p = {p:.2g}); {counts}")
    escaped = n["plateau_escape_ratio"] < ESCAPE_FRACTION
    plateau = (f"the saddle-started GD run sat {n['plateau_steps']:.0f} steps at |g| <= "
               f"{n['plateau_max_grad_ratio']:.2f} of its peak with lambda_min <= "
               f"{n['plateau_max_lambda_min']:.3g}, then its loss fell to "
               f"{n['plateau_escape_ratio']:.2g} of the plateau loss")
    if (np.isfinite(rho) and rho > RHO_MIN and p < P_MAX
            and n["max_index_lowest"] < INDEX_MAX and escaped):
        return Verdict(
            SUPPORTED,
            f"rho = {rho:.2f} (p = {p:.2g}); the {NUM_LOWEST} lowest critical points have index "
            f"<= {n['max_index_lowest']:.3f}; {counts}, no bad minimum; the "
            f"{int(n['num_endpoints'])} endpoints' losses span {n['endpoint_loss_min']:.3g}-"
            f"{n['endpoint_loss_max']:.3g} (best {n['best_loss']:.3g}, margin "
            f"{n['margin']:.3g}); {plateau}",
        )
    return Verdict(
        INCONCLUSIVE,
        f"no bad minimum, but rho = {rho:.2f} (p = {p:.2g}), index at the bottom "
        f"{n['max_index_lowest']:.3f}, escape ratio {n['plateau_escape_ratio']:.2g}; {counts}",
    )


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a, n = measurement.arrays, measurement.numbers
    with plots.style():
        fig, axes = plt.subplots(2, 2, figsize=plots.figure_size(columns=2, aspect=0.62))
        (ax_idx, ax_end), (ax_pl, ax_dim) = axes

        def scatter(ax, x, y, mask, **kw):  # a legend entry only for what is drawn
            if np.any(mask):
                ax.scatter(np.asarray(x)[mask], np.asarray(y)[mask], **kw)

        fig.get_layout_engine().set(hspace=0.08)  # room between a row's labels and the next
        mins = np.asarray(a["is_minimum"], bool)
        scatter(ax_idx, a["loss"], a["index"], ~mins, s=18, color=plots.COLORS[1],
                label=f"distinct saddles ({int(np.sum(~mins))})")
        scatter(ax_idx, a["loss"], a["index"], mins, s=30, marker="*", color=plots.COLORS[0],
                label=f"distinct minima ({int(np.sum(mins))})")
        ax_idx.axvline(n["best_loss"] + n["margin"], color="k", ls=":", lw=1,
                       label="best + margin (bad beyond)")
        ax_idx.set_xscale("log")
        top = float(np.max(a["index"])) if len(a["index"]) else 1.0
        ax_idx.set_ylim(-0.05 * top, 1.5 * top)  # headroom: the legend sits above the points
        ax_idx.set(xlabel="loss at the critical point (MSE + L2)",
                   ylabel="index (fraction < 0)",
                   title=f"critical points: {len(a['all_loss'])} found, {len(a['loss'])} "
                         f"distinct; rho = {n['spearman_rho']:.2f}")
        ax_idx.legend(fontsize="x-small", loc="upper left", ncols=2)

        end = a["endpoint_loss"]
        spec = np.asarray(a["endpoint_spectral_minimum"], bool)
        seeds = np.arange(len(end))
        scatter(ax_end, seeds, end, spec, color=plots.COLORS[0], marker="o",
                label="minimum by spectrum")
        scatter(ax_end, seeds, end, ~spec, color=plots.COLORS[1], marker="s",
                label="negative eigenvalue")
        ax_end.axhline(n["best_loss"], color=plots.COLORS[2], lw=1, label="best critical loss")
        ax_end.axhline(n["best_loss"] + n["margin"], color="k", ls=":", lw=1,
                       label="best + margin")
        ax_end.set_yscale("log")
        ax_end.set_xlim(-0.5, len(end) - 0.5)
        ax_end.set_ylim(0.8 * n["best_loss"], 2.5 * (n["best_loss"] + n["margin"]))
        ax_end.set_xticks(seeds)
        ax_end.set(xlabel="training seed", ylabel="final loss (MSE + L2)",
                   title="training endpoints")
        ax_end.legend(fontsize="x-small", loc="upper right", ncols=2)

        step = a["plateau_step"]
        ax_pl.plot(step, a["plateau_loss"], color=plots.COLORS[0], label="loss")
        ax_pl.plot(step, a["plateau_grad_norm"], color=plots.COLORS[1], label="|gradient|")
        negative = np.where(a["plateau_lambda_min"] < 0, -a["plateau_lambda_min"], np.nan)
        ax_pl.plot(step, negative, color=plots.COLORS[2], ls="--",
                   label="-lambda_min (eigh)")
        if n["plateau_steps"] > 0:
            ax_pl.axvspan(0, n["plateau_steps"], color="0.9", label="plateau")
        ax_pl.set_yscale("log")
        ax_pl.set(xlabel="gradient-descent step", ylabel="value (log scale)",
                  title="saddle plateau, then escape")
        ax_pl.legend(fontsize="x-small", loc="lower left")

        if "dim_num_params" in a:
            p = a["dim_num_params"]
            ax_dim.plot(p, 100 * a["dim_minima_fraction"], "o-", color=plots.COLORS[0],
                        label="minima among distinct critical points")
            ax_dim.plot(p, 100 * a["dim_worst_excess"], "s--", color=plots.COLORS[3],
                        label="worst minimum above best (% of loss range)")
            ax_dim.axhline(100 * _rules.EXCESS_MAX, color="k", ls=":", lw=1,
                           label="bad-minimum margin")
            ax_dim.axhline(100 * _rules.MINIMA_FRACTION_MAX, color="0.4", ls="-.", lw=0.8,
                           label="most minima allowed at the largest size")
            ax_dim.set_xscale("log")
            ax_dim.set_xticks(p, [f"{int(v)}" for v in p])
            ax_dim.minorticks_off()
            ax_dim.set_ylim(-5, 105)
            ax_dim.legend(fontsize="x-small", loc="upper right")
        else:
            ax_dim.text(0.5, 0.5, "not measured", transform=ax_dim.transAxes, ha="center")
        ax_dim.set(xlabel="parameters of the student", ylabel="percent",
                   title="across dimension")
    return fig
