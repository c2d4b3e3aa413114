"""Figures of the landscape study (:mod:`landscape.studies.landscape_plot`): panels
``plot_x(ax, result) -> ax`` that read a :class:`~landscape.studies.landscape_plot.Result`
and never compute, and :func:`figures` (four figures). A part the run skipped (the
random plane without a layout, the paths after a diverged run) is said in words.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> figs = figures(result)                              # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from landscape.plots.style import COLORS, figure_size, no_data, style
from landscape.plots.surfaces import (
    legend_on_image,
    plot_contour,
    plot_curve_on_plane,
    plot_interpolation,
    plot_surface_3d,
    plot_trajectory,
)

__all__ = ["figures", "plot_interpolations", "plot_mode_connectivity", "plot_random_plane",
           "plot_trajectory_plane"]


def _skipped(result, part: str) -> str:
    reason = result.summary.get("skipped", {}).get(part, "not computed")
    return f"{part.replace('_', ' ')} skipped:\n{reason}"


def _levels(*surfs, num=22):
    """Shared log10 contour levels from the lowest loss to a cap at 20x the median,
    so that the region around the solutions is resolved."""
    values = np.concatenate([np.asarray(s.losses).ravel() for s in surfs])
    lo = np.log10(max(float(values.min()), 1e-12))
    hi = np.log10(min(float(values.max()), 20.0 * float(np.median(values))))
    return np.linspace(lo, max(hi, lo + 1e-3), num)


def plot_random_plane(ax, result, *, surface_3d: bool = False):
    """The training loss on the filter-normalised random plane around solution ``a``
    (contours of log10 loss), or, with ``surface_3d`` and a 3-D axis, as a surface."""
    s = result.random_plane
    if s is None and hasattr(ax, "text2D"):  # a 3-D axis: say it on its 2-D overlay
        ax.text2D(0.5, 0.5, _skipped(result, "random_plane"), transform=ax.transAxes,
                  ha="center", va="center", fontsize=6.5, wrap=True)
        ax.set_axis_off()
        return ax
    if s is None:
        return no_data(ax, _skipped(result, "random_plane"))
    if surface_3d:
        plot_surface_3d(ax, s, log=True, label="train loss")
        ax.set_xlabel(r"$\alpha$ ($d_1$)", labelpad=-6)
        ax.set_ylabel(r"$\beta$ ($d_2$)", labelpad=-6)
        return ax
    plot_contour(ax, s, levels=_levels(s), label="train loss")
    ax.set_xlabel(r"$\alpha$ (filter-normalised $d_1$)")
    ax.set_ylabel(r"$\beta$ (filter-normalised $d_2$)")
    return ax


def plot_trajectory_plane(ax, result):
    """The training loss on the PCA plane of the training path, with the path."""
    if result.pca_plane is None:
        return no_data(ax, _skipped(result, "run_a"))
    plot_contour(ax, result.pca_plane, levels=_levels(result.pca_plane), label="train loss",
                 mark_center=False)
    plot_trajectory(ax, result.pca, label=f"path (every {result.config.eval_every} steps)")
    ax.plot([0.0], [0.0], marker="*", color="white", markeredgecolor="k", markeredgewidth=0.5,
            markersize=8, linestyle="none", label="solution", zorder=5)
    legend_on_image(ax, loc="upper right")
    return ax


def plot_interpolations(ax, result, *, log: bool = True):
    """Loss along init -> ``a`` and ``a`` -> ``b`` (straight line and trained curve)."""
    if result.init_line is None:
        return no_data(ax, _skipped(result, "run_a"))
    plot_interpolation(ax, result.init_line, label=r"init $\to a$, line", log=log,
                       annotate_barrier=False, color=COLORS[2])
    if result.bezier is not None:
        plot_interpolation(ax, result.bezier.line, label=r"$a \to b$, line", log=log,
                           color=COLORS[1])
        plot_interpolation(ax, result.bezier.curve, label=r"$a \to b$, Bezier curve",
                           log=log, color=COLORS[0])
    ax.set_ylabel(f"train loss ({result.problem.get('loss', 'loss')})")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, columnspacing=1.0,
              handlelength=1.2)
    return ax


def plot_mode_connectivity(ax, result):
    """The training loss on the plane through ``a``, ``b`` and the curve's control
    point, with the straight line and the curve (distances in parameter space)."""
    s = result.curve_plane
    if s is None:
        return no_data(ax, _skipped(result, "mode_connectivity"))
    plot_contour(ax, s, levels=_levels(s), label="train loss", mark_center=False)
    pc = np.asarray(result.plane_coords)
    plot_curve_on_plane(ax, pc[:2], color="white", linestyle="--", label="line")
    plot_curve_on_plane(ax, result.curve_coords, color="white", label="Bezier curve")
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
    legend_on_image(ax, loc="upper left")
    return ax


def figures(result) -> dict[str, Any]:
    """All figures of the study: ``{suffix: figure}`` (the command line saves them as
    ``NAME_suffix``)."""
    import matplotlib.pyplot as plt

    with style():
        return _figures(result, plt)


def _figures(result, plt) -> dict[str, Any]:
    figs = {}
    fig = plt.figure(figsize=figure_size(2, aspect=0.42))
    ax1 = fig.add_subplot(1, 2, 1)
    ax2 = fig.add_subplot(1, 2, 2, projection="3d")
    plot_random_plane(ax1, result)
    plot_random_plane(ax2, result, surface_3d=True)
    figs["random_plane"] = fig

    fig, ax = plt.subplots(figsize=figure_size(1, aspect=0.85))
    plot_trajectory_plane(ax, result)
    figs["trajectory"] = fig

    fig, ax = plt.subplots(figsize=figure_size(1, aspect=0.75))
    plot_interpolations(ax, result)
    figs["interpolation"] = fig

    fig, ax = plt.subplots(figsize=figure_size(1, aspect=0.85))
    plot_mode_connectivity(ax, result)
    figs["mode_connectivity"] = fig
    return figs
