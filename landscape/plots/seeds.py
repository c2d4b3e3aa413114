"""Figures of the seed study (:mod:`landscape.studies.seeds`): panels
``plot_x(ax, result) -> ax`` that read a :class:`~landscape.studies.seeds.Result` and
never compute, and :func:`figure`, the study's figure. A panel whose data the run does
not have (every seed diverged, weight matching skipped, curvature not measured) says so
in words instead of drawing.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from landscape.studies import seeds
>>> fig = figure(result)                                # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from landscape import paths
from landscape.plots.style import (
    COLORS,
    no_data,
    panel_figure,
    problem_label,
)
from landscape.plots.surfaces import plot_interpolation

__all__ = [
    "figure",
    "plot_barriers",
    "plot_curvature",
    "plot_distances",
    "plot_final_losses",
    "plot_interpolations",
    "plot_training_curves",
]


def _ok(result) -> np.ndarray:
    return ~np.asarray(result.seeds["diverged"], bool) & np.isfinite(
        np.asarray(result.seeds["train_loss"], np.float64))


def _alignment_note(result) -> str | None:
    reason = result.summary.get("skipped", {}).get("weight_matching")
    return f"weight matching skipped:\n{reason}" if reason else None


def plot_training_curves(ax, result, *, log: bool = True):
    """Training (solid) and validation (dashed) loss of every seed against the step."""
    c = result.curves
    step = np.asarray(c["step"])
    ok = _ok(result)
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss ({result.info.get('loss', 'loss').replace('_', '-')})")
    if not ok.any():
        return no_data(ax, f"all {len(ok)} seeds diverged")
    for s in np.flatnonzero(ok):
        ax.plot(step, c["train_loss"][s], color=COLORS[0], linewidth=0.5, alpha=0.45)
        if np.any(np.isfinite(c["val_loss"][s])):
            ax.plot(step, c["val_loss"][s], color=COLORS[1], linewidth=0.5, alpha=0.45,
                    linestyle="--")
    ax.plot([], [], color=COLORS[0], label="train")
    ax.plot([], [], color=COLORS[1], linestyle="--", label="validation")
    if log:
        ax.set_yscale("log")
    ax.legend(loc="best", title=f"{int(ok.sum())} seeds", title_fontsize=6.5)
    return ax


def plot_final_losses(ax, result):
    """The spread of the final train, validation and test losses over seeds: each
    seed's loss relative to the mean of its split, ``100 (L / mean - 1)`` %, as points
    over a box; the mean and the coefficient of variation are written above."""
    ok = _ok(result)
    ax.set_xlabel("final loss on")
    ax.set_ylabel("deviation from the mean (%)")
    parts = [p for p in ("train", "val", "test")
             if np.any(np.isfinite(result.seeds[f"{p}_loss"][ok]))]
    if ok.sum() < 2 or not parts:
        return no_data(ax, f"{int(ok.sum())} converged seed(s): no spread to show")
    rng = np.random.default_rng(0)  # horizontal jitter only, for legibility
    values = [np.asarray(result.seeds[f"{p}_loss"], np.float64)[ok] for p in parts]
    rel = [100 * (v / np.mean(v) - 1) for v in values]
    ax.boxplot(rel, positions=np.arange(len(parts)), widths=0.5, showfliers=False,
               medianprops={"color": "k", "linewidth": 0.8},
               boxprops={"linewidth": 0.6}, whiskerprops={"linewidth": 0.6},
               capprops={"linewidth": 0.6})
    top = max(np.max(np.abs(r)) for r in rel) or 1.0
    for i, (v, r) in enumerate(zip(values, rel, strict=True)):
        ax.scatter(i + rng.uniform(-0.18, 0.18, v.size), r, s=6, color=COLORS[i], alpha=0.8,
                   linewidths=0, zorder=3)
        cv = np.std(v, ddof=1) / np.mean(v) if v.size > 1 else np.nan
        ax.text(i, 1.25 * top, f"$\\mu$ = {np.mean(v):.3g}\nCV {100 * cv:.1f}%", ha="center",
                va="bottom", fontsize=5.5)
    ax.axhline(0, color="0.5", linewidth=0.5, zorder=0)
    names = {"train": "train", "val": "validation", "test": "test"}
    ax.set_xticks(np.arange(len(parts)), [names[p] for p in parts])
    ax.set_xlim(-0.6, len(parts) - 0.4)
    ax.set_ylim(-1.2 * top, 1.75 * top)
    return ax


def plot_distances(ax, result):
    """Relative distance of each pair against the difference of their final training
    losses, before and after weight matching; lines mark the initialisations."""
    p = result.pairs
    ax.set_xlabel("|difference of final train losses|")
    ax.set_ylabel(r"$|a-b|\,/\sqrt{|a|\,|b|}$")
    if len(p.get("distance", ())) == 0:
        return no_data(ax, f"{int(_ok(result).sum())} converged seed(s): no pairs")
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
    ax.set_ylim(bottom=0)
    note = _alignment_note(result)
    if note:
        ax.text(0.98, 0.5, note, transform=ax.transAxes, ha="right", va="center",
                fontsize=5.5, color="0.3")
    ax.legend(loc="lower left", ncols=2, fontsize=5.5)
    return ax


def plot_interpolations(ax, result, *, log: bool = False):
    """Training loss on the straight lines between solutions, before (solid) and after
    (dashed) alignment; the largest barrier is marked."""
    it = result.interp
    ts = np.asarray(it["ts"])
    losses, aligned = np.asarray(it["losses"]), np.asarray(it["aligned_losses"])
    ax.set_xlabel(r"$t$ on the line $(1-t)\,a + t\,b$")
    ax.set_ylabel("train loss")
    if len(losses) == 0:
        return no_data(ax, f"{int(_ok(result).sum())} converged seed(s): no lines")
    for row in losses:
        ax.plot(ts, row, color=COLORS[0], linewidth=0.6, alpha=0.6)
    for row in aligned:
        if np.all(np.isfinite(row)):
            ax.plot(ts, row, color=COLORS[1], linewidth=0.6, alpha=0.6, linestyle="--")
    worst = int(np.argmax([paths.barrier(ts, r)[0] for r in losses]))
    b, i = paths.barrier(ts, losses[worst])
    plot_interpolation(ax, paths.Interpolation(ts, losses[worst], b, i), color="k",
                       annotate_barrier=True, log=log)
    ax.plot([], [], color=COLORS[0], label="solutions")
    if _alignment_note(result) is None:
        ax.plot([], [], color=COLORS[1], linestyle="--", label="after alignment")
    else:
        ax.plot([], [], color="none", label="no alignment: no dense chain")
    ax.set_ylim(top=1.4 * np.nanmax(losses))
    ax.legend(loc="upper left", ncols=2)
    return ax


def plot_curvature(ax, result):
    """Curvature at each endpoint against its final training loss: ``lambda_max`` and,
    where ``lambda_min < 0``, ``-lambda_min`` (hollow ``lambda_min`` where it is not
    negative), with the threshold ``tau`` below which the classification ignores a
    negative eigenvalue."""
    s = result.seeds
    ok = ~np.asarray(s["diverged"], bool) & np.isfinite(np.asarray(s["lambda_max"], np.float64))
    loss = np.asarray(s["train_loss"], np.float64)[ok]
    lmax = np.asarray(s["lambda_max"], np.float64)[ok]
    lmin = np.asarray(s["lambda_min"], np.float64)[ok]
    ax.set_xlabel("final train loss")
    ax.set_ylabel("Hessian eigenvalue")
    if not ok.any():
        converged = int(_ok(result).sum())
        return no_data(ax, "curvature not measured" if converged else "every seed diverged")
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


def plot_barriers(ax, result):
    """Barrier against relative distance for each interpolated pair, before and after
    alignment (arrows join the two points of a pair)."""
    p = result.pairs
    ax.set_xlabel(r"$|a-b|\,/\sqrt{|a|\,|b|}$")
    ax.set_ylabel("barrier on the line (train loss)")
    if not np.any(p.get("interpolated", ())):
        return no_data(ax, f"{int(_ok(result).sum())} converged seed(s): no lines")
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
    note = _alignment_note(result)
    if note:
        ax.text(0.98, 0.95, note, transform=ax.transAxes, ha="right", va="top",
                fontsize=5.5, color="0.3")
    ax.legend(loc="upper left")
    return ax


def figure(result):
    """The study's figure (full text width, 2 x 3 panels): training curves, final
    losses, distances, interpolations, barriers against distance, curvature."""
    info = result.info
    return panel_figure(
        result, (plot_training_curves, plot_final_losses, plot_distances,
                 plot_interpolations, plot_barriers, plot_curvature),
        title=f"{problem_label(info)} ({info['num_params']} parameters, "
              f"{info['num_train']} training examples), {result.config.optimizer}, "
              f"{result.config.num_steps} steps", title_size=8)
