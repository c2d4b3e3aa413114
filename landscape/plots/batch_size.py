"""Figures of the batch-size study (:mod:`landscape.studies.batch_size`): panels
``plot_x(ax, result) -> ax`` that read a :class:`~landscape.studies.batch_size.Result`
and never compute, :func:`figure` (six panels) and :func:`plot_lr_figure` (how the rate
of each batch size was chosen).

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> figs = figures(result)                                # doctest: +SKIP
>>> sorted(figs)                                          # doctest: +SKIP
['', 'lr']
"""

from __future__ import annotations

import math

import numpy as np

from landscape.plots.style import COLORS, figure_size, panel_figure, problem_label, style

__all__ = [
    "figure",
    "figures",
    "plot_dataset_size",
    "plot_examples",
    "plot_learning_rates",
    "plot_lr_figure",
    "plot_noise_scale",
    "plot_step_time",
    "plot_steps",
    "plot_wall_time",
]


def _target_label(config) -> str:
    if config.target_metric == "train_loss":
        return f"train loss $\\leq$ {config.target:g}"
    return f"val. accuracy $\\geq$ {config.target:g}"


def _per_seed(result, column: str):
    """(batch sizes, values) of every seed at the chosen rate of its batch size."""
    r, chosen = result.runs, dict(zip(result.batch["batch_size"].tolist(),
                                      result.batch["learning_rate"].tolist(), strict=True))
    sel = np.array([chosen[int(b)] == lr for b, lr in zip(r["batch_size"], r["learning_rate"],
                                                          strict=True)])
    return np.asarray(r["batch_size"], np.float64)[sel], np.asarray(r[column], np.float64)[sel]


def _fit(result):
    fit = result.summary.get("fit", {})
    return fit if "b_crit" in fit else None


def _batch_axes(ax, ylabel: str, legend: str, reached=None):
    """Log-log axes against batch size, labelled; with ``reached`` (a mask over batch
    sizes) and none reached, a note says so."""
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    if reached is not None and not reached.any():
        ax.text(0.5, 0.5, "no batch size reached the target", transform=ax.transAxes,
                ha="center", va="center", fontsize=6)
        ax.set_yscale("linear")
    ax.set_xlabel("batch size $B$ (examples)")
    ax.set_ylabel(ylabel)
    ax.legend(loc=legend)
    return ax


def _seeds_and_median(ax, result, per_seed: str, median: str, color):
    """Each seed's ``per_seed`` column at the chosen rate (dots) and the batch table's
    ``median`` column (markers) against batch size: ``(batch sizes, medians, finite)``."""
    bs, values = _per_seed(result, per_seed)
    ok = np.isfinite(values)
    ax.scatter(bs[ok], values[ok], s=5, color=color, alpha=0.35, linewidths=0,
               label="each seed")
    b = np.asarray(result.batch["batch_size"], np.float64)
    med = np.asarray(result.batch[median], np.float64)
    fin = np.isfinite(med)
    ax.plot(b[fin], med[fin], "o", color=color, label="median")
    return b, med, fin


def _fit_lines(ax, result, b, curve, level: str, label: str) -> None:
    """The McCandlish fit ``curve(fit, B)`` over the batch sizes ``b``, its ``level``
    (``s_min`` or ``e_min``) and ``B_crit`` marked; nothing without a fit."""
    fit = _fit(result)
    if fit:
        grid = np.geomspace(b.min(), b.max(), 200)
        ax.plot(grid, curve(fit, grid), "--", color=COLORS[1], label=label.format(**fit))
        ax.axhline(fit[level], color=COLORS[1], linewidth=0.5, alpha=0.6)
        ax.axvline(fit["b_crit"], color=COLORS[1], linewidth=0.5, alpha=0.6)


def plot_steps(ax, result):
    """Steps to target against batch size (log-log): each seed at the chosen rate, the
    median, the fitted ``S = S_min (1 + B_crit/B)``, perfect scaling ``S ~ 1/B`` through
    the smallest batch size, and ``S_min`` and ``B_crit`` marked."""
    b, med, fin = _seeds_and_median(ax, result, "steps_to_target", "steps", COLORS[0])
    if fin.any():
        i = int(np.flatnonzero(fin)[0])
        grid = np.geomspace(b.min(), b.max(), 200)
        ax.plot(grid, med[i] * b[i] / grid, ":", color="0.4", linewidth=0.8,
                label="perfect scaling")
    _fit_lines(ax, result, b, lambda f, g: f["s_min"] * (1 + f["b_crit"] / g), "s_min",
               "fit, $B_{{crit}}$ = {b_crit:.3g}")
    return _batch_axes(ax, f"steps to {_target_label(result.config)}", "lower left", fin)


def plot_examples(ax, result):
    """Examples to target ``E = S B`` against batch size, with the fitted
    ``E = E_min (1 + B/B_crit)``."""
    b, _, fin = _seeds_and_median(ax, result, "examples_to_target", "examples", COLORS[2])
    _fit_lines(ax, result, b, lambda f, g: f["e_min"] * (1 + g / f["b_crit"]), "e_min",
               "fit, $E_{{min}}$ = {e_min:.3g}")
    return _batch_axes(ax, "examples to target", "upper left", fin)


def plot_wall_time(ax, result):
    """Wall time to target (steps x measured seconds per step) against batch size,
    with the least marked."""
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
    return _batch_axes(ax, "wall time to target (s)", "upper center", fin)


def plot_noise_scale(ax, result):
    """``B_simple`` (per-example and two-batch) and ``B_noise`` at the points of the
    reference run, against its step, next to the fitted ``B_crit`` (band: one standard
    error of the fit)."""
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


def plot_step_time(ax, result):
    """Measured seconds per step against batch size (least over repeats, bar up to the
    median), with a line proportional to ``B`` for reference."""
    b = np.asarray(result.batch["batch_size"], np.float64)
    t = np.asarray(result.batch["step_time"], np.float64)
    med = np.asarray(result.batch["step_time_median"], np.float64)
    ax.errorbar(b, 1e3 * t, yerr=[np.zeros_like(t), 1e3 * (med - t)], fmt="o-", color=COLORS[4],
                capsize=1.5, elinewidth=0.6, label="measured (least; bar to median)")
    ax.plot(b, 1e3 * t[-1] * b / b[-1], ":", color="0.4", linewidth=0.8, label=r"$\propto B$")
    return _batch_axes(ax, "time per step (ms)", "upper left")


def plot_dataset_size(ax, result):
    """Seconds per step against the number of training examples for minibatch SGD and
    full-batch gradient descent (least over repeats, bar up to the median), with a line
    proportional to ``n``."""
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


def plot_learning_rates(ax, result):
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
    reached = np.isfinite(steps_all) & (steps_all > 0)
    if reached.any():
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no rate reached the target", transform=ax.transAxes,
                ha="center", va="center", fontsize=6)
        ax.set_yticks([])
    ax.set_xlabel("learning rate")
    ax.set_ylabel("median steps to target")
    ax.legend(title="B", ncols=2, fontsize=5.5, title_fontsize=6, loc="upper right",
              bbox_to_anchor=(1.0, 0.93))
    return ax


def figure(result):
    """The study's figure (full text width, 2 x 3 panels): steps, examples and wall time
    to target against batch size; the noise scale during training; the step time against
    batch size and against data-set size."""
    info, c = result.info, result.config
    return panel_figure(
        result, (plot_steps, plot_examples, plot_wall_time,
                 plot_noise_scale, plot_step_time, plot_dataset_size),
        title=f"{problem_label(info)} ({info['num_params']} parameters, "
              f"{info['num_train']} training examples), {c.optimizer} at a constant rate "
              f"chosen per batch size ({c.lr_policy}), {c.num_seeds} seeds\ntarget: "
              f"{_target_label(c)}; times measured on this machine ({info['backend']})")


def plot_lr_figure(result):
    """A one-panel figure of :func:`plot_learning_rates` (how the rate was chosen)."""
    import matplotlib.pyplot as plt

    with style():
        fig, ax = plt.subplots(figsize=figure_size(1, aspect=0.8))
        plot_learning_rates(ax, result)
    return fig




def figures(result) -> dict:
    """The study's figures by file-name suffix: ``""`` the main figure (:func:`figure`),
    ``"lr"`` the choice of learning rates (:func:`plot_lr_figure`)."""
    return {"": figure(result), "lr": plot_lr_figure(result)}
