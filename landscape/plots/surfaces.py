"""Drawing of slices, paths and interpolations (results of :mod:`landscape.surfaces`,
:mod:`landscape.directions` and :mod:`landscape.paths`), shared by several studies. Each
function has the shape ``plot_x(ax, result, **kw) -> ax``: it draws a precomputed result
on an axis and labels it; computing is done in those modules.

References
----------
Li, H., Xu, Z., Taylor, G., Studer, C. and Goldstein, T. (2018). Visualizing the
loss landscape of neural nets. NeurIPS.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np

__all__ = [
    "legend_on_image",
    "plot_contour",
    "plot_curve_on_plane",
    "plot_interpolation",
    "plot_slice_1d",
    "plot_surface_3d",
    "plot_trajectory",
]


def _grid_values(result, log: bool):
    values = np.asarray(result.losses, dtype=np.float64)
    if log:
        values = np.log10(np.maximum(values, np.finfo(np.float64).tiny))
    return values


def plot_contour(
    ax,
    result,
    *,
    levels: int | Sequence[float] = 20,
    log: bool = True,
    filled: bool = True,
    colorbar: bool = True,
    mark_center: bool = True,
    cmap: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    label: str = "loss",
):
    """Contours of a 2-D slice (:class:`landscape.surfaces.Surface2D`).

    ``result.losses[i, j]`` is the loss at ``center + alphas[i] d1 + betas[j] d2``.
    With ``log`` the contours are of ``log10(loss)``.
    """
    a = np.asarray(result.alphas)
    b = np.asarray(result.betas)
    values = _grid_values(result, log)
    grid_a, grid_b = np.meshgrid(a, b, indexing="ij")
    if filled:
        cs = ax.contourf(grid_a, grid_b, values, levels=levels, cmap=cmap)
        ax.contour(grid_a, grid_b, values, levels=cs.levels, colors="k", linewidths=0.25,
                   alpha=0.4)
    else:
        cs = ax.contour(grid_a, grid_b, values, levels=levels, cmap=cmap, linewidths=0.8)
    if colorbar:
        cbar = ax.figure.colorbar(cs, ax=ax, pad=0.02, fraction=0.05)
        cbar.set_label(f"log$_{{10}}$ {label}" if log else label)
        cbar.ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(6))
        cbar.ax.tick_params(labelsize=6)
    if mark_center:
        ax.plot([0.0], [0.0], marker="*", color="white", markeredgecolor="k",
                markeredgewidth=0.5, markersize=7, linestyle="none", zorder=5)
    ax.set_xlabel(xlabel or r"$\alpha$ (step along $d_1$)")
    ax.set_ylabel(ylabel or r"$\beta$ (step along $d_2$)")
    ax.set_aspect("auto")
    return ax


def plot_surface_3d(
    ax,
    result,
    *,
    log: bool = False,
    cmap: str | None = None,
    clip: float | None = None,
    label: str = "loss",
):
    """A 3-D surface of a 2-D slice; ``ax`` must be a 3-D axis
    (``fig.add_subplot(projection="3d")``). ``clip`` caps the plotted values so
    that a few very large losses at the edge do not flatten the picture."""
    if getattr(ax, "name", "") != "3d":
        raise ValueError("ax: plot_surface_3d needs a 3-D axis (projection='3d')")
    a = np.asarray(result.alphas)
    b = np.asarray(result.betas)
    values = _grid_values(result, log)
    if clip is not None:
        values = np.minimum(values, clip)
    grid_a, grid_b = np.meshgrid(a, b, indexing="ij")
    ax.plot_surface(grid_a, grid_b, values, cmap=cmap or mpl.rcParams["image.cmap"],
                    linewidth=0, antialiased=True, rcount=min(len(a), 80),
                    ccount=min(len(b), 80))
    ax.set_xlabel(r"$\alpha$", labelpad=-6)
    ax.set_ylabel(r"$\beta$", labelpad=-6)
    ax.set_zlabel(f"log$_{{10}}$ {label}" if log else label, labelpad=-4)
    ax.tick_params(pad=-2)
    return ax


def plot_trajectory(
    ax,
    result,
    *,
    color: str = "white",
    label: str = "training path",
    annotate: bool = True,
):
    """The optimisation path projected on its PCA plane
    (:class:`landscape.directions.PCADirections`): ``result.coords`` (E, 2), with
    the explained variance of each axis in the axis labels. Draw it over
    :func:`plot_contour` of the same plane."""
    coords = np.asarray(result.coords)
    ratio = np.asarray(result.explained_variance_ratio)
    ax.plot(coords[:, 0], coords[:, 1], color=color, marker="o", markersize=2.0,
            markeredgecolor="k", markeredgewidth=0.3, linewidth=1.0, label=label, zorder=4)
    if annotate and len(coords):
        ax.annotate("start", coords[0], xytext=(3, 3), textcoords="offset points",
                    fontsize=6, color=color)
    pct = [f"{100 * r:.1f}%" for r in ratio[:2]]
    ax.set_xlabel(f"PC 1 ({pct[0]} of path variance)")
    if len(pct) > 1:
        ax.set_ylabel(f"PC 2 ({pct[1]} of path variance)")
    return ax


def plot_slice_1d(ax, result, *, label: str | None = None, color: str | None = None,
                  log: bool = False):
    """A 1-D slice (:class:`landscape.surfaces.Slice1D`): loss against the step ``alpha``."""
    ax.plot(np.asarray(result.alphas), np.asarray(result.losses), label=label, color=color)
    ax.set_xlabel(r"$\alpha$ (step along $d$)")
    ax.set_ylabel("loss")
    if log:
        ax.set_yscale("log")
    return ax


def plot_interpolation(
    ax,
    result,
    *,
    label: str | None = None,
    color: str | None = None,
    annotate_barrier: bool = True,
    log: bool = False,
    linestyle: str = "-",
):
    """Loss along a path between two parameter sets
    (:class:`landscape.paths.Interpolation`, or a :class:`BezierCurve`'s
    ``curve``), with the barrier annotated: the gap between the highest point
    and the straight line joining the endpoint losses."""
    t = np.asarray(result.ts)
    losses = np.asarray(result.losses)
    if log:
        ax.set_yscale("log")
    (line,) = ax.plot(t, losses, label=label, color=color, linestyle=linestyle)
    if annotate_barrier:
        c = line.get_color()
        i = int(result.argmax)
        chord = (1 - t[i]) * losses[0] + t[i] * losses[-1]
        ax.plot([t[0], t[-1]], [losses[0], losses[-1]], color=c, linewidth=0.5,
                linestyle=":")
        ax.annotate("", xy=(t[i], losses[i]), xytext=(t[i], chord),
                    arrowprops={"arrowstyle": "<->", "color": c, "linewidth": 0.6,
                                "shrinkA": 0, "shrinkB": 0})
        both_positive = losses[i] > 0 and chord > 0
        middle = (np.sqrt(losses[i] * chord) if log and both_positive
                  else 0.5 * (losses[i] + chord))
        ax.annotate(f"barrier {float(result.barrier):.3g}", (t[i], middle),
                    xytext=(3, 0), textcoords="offset points", fontsize=6, color=c,
                    va="center", ha="left",
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                          "edgecolor": "none", "alpha": 0.8})
    ax.set_xlabel(r"$t$ (0: start, 1: end)")
    ax.set_ylabel("loss")
    return ax


def legend_on_image(ax, *, loc: str = "upper right", **kwargs):
    """A legend with white text on a translucent dark box, readable over a filled
    contour plot with white overlays."""
    options = {"loc": loc, "frameon": True, "facecolor": "0.2", "edgecolor": "none",
               "framealpha": 0.6, "labelcolor": "white"}
    options.update(kwargs)
    return ax.legend(**options)


def plot_curve_on_plane(ax, points, *, label: str | None = None, color: str | None = None,
                        marker: str | None = None, linestyle: str = "-"):
    """Points already projected on a plane, ``points`` (m, 2): a path, a curve, or
    a set of solutions drawn over :func:`plot_contour`."""
    pts = np.asarray(points)
    ax.plot(pts[:, 0], pts[:, 1], label=label, color=color, marker=marker,
            linestyle=linestyle, zorder=4)
    return ax
