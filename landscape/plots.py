"""One figure style for the whole project, and the figure functions of landscape studies.

The style is data: :data:`STYLE` is a dict of matplotlib rcParams sized for one
column of a two-column paper (tueplots-like). It is applied only inside the
:func:`style` context manager, so importing this module changes no global state.

Shared helpers every study uses (names are stable):

``style(**overrides)``
    Context manager applying :data:`STYLE` (plus ``overrides``) with
    ``plt.rc_context``. Make figures inside it.
``figure_size(columns=1, *, aspect=None, nrows=1, ncols=1, height=None)``
    ``(width, height)`` in inches: ``columns=1`` is one paper column
    (:data:`COLUMN_WIDTH`), ``columns=2`` the full text width (:data:`TEXT_WIDTH`);
    the height is ``width * aspect * nrows / ncols`` (golden ratio by default)
    unless ``height`` is given.
``save(fig, name, out_dir="figures", *, formats=("png", "pdf"), dpi=200)``
    Write ``out_dir/name.png`` and ``out_dir/name.pdf``; returns the paths.
``COLORS``
    The colour cycle (Okabe & Ito 2008, colour-blind safe), also set as the
    axes property cycle in :data:`STYLE`.

Figure functions follow one shape, ``plot_x(ax, result, **kw) -> ax``: they draw
a precomputed result on an axis and label it; computing is done elsewhere
(:mod:`landscape.surfaces`).

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> with style():
...     fig, ax = plt.subplots(figsize=figure_size(columns=1))
...     _ = ax.plot([0, 1], [1, 0])
>>> plt.close(fig)

References
----------
Okabe, M. and Ito, K. (2008). Color universal design (CUD): how to make figures
and presentations that are friendly to colorblind people.
Li, H., Xu, Z., Taylor, G., Studer, C. and Goldstein, T. (2018). Visualizing the
loss landscape of neural nets. NeurIPS.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np

__all__ = [
    "COLORS",
    "COLUMN_WIDTH",
    "STYLE",
    "TEXT_WIDTH",
    "figure_size",
    "legend_on_image",
    "plot_contour",
    "plot_curve_on_plane",
    "plot_interpolation",
    "plot_slice_1d",
    "plot_surface_3d",
    "plot_trajectory",
    "save",
    "style",
]

COLUMN_WIDTH = 3.25  # inches: one column of a two-column paper (ICML/NeurIPS-like)
TEXT_WIDTH = 6.75  # inches: the full text width
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0

# Okabe & Ito (2008): black removed, since black is for reference lines.
COLORS: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
)

STYLE: dict[str, Any] = {
    "figure.figsize": (COLUMN_WIDTH, COLUMN_WIDTH * GOLDEN),
    "figure.dpi": 150,
    "figure.constrained_layout.use": True,
    "figure.constrained_layout.h_pad": 0.02,
    "figure.constrained_layout.w_pad": 0.02,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "font.family": "sans-serif",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 6.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.prop_cycle": mpl.cycler(color=list(COLORS)),
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "image.cmap": "viridis",
    "pdf.fonttype": 42,  # TrueType in PDFs (editable text, accepted by publishers)
    "ps.fonttype": 42,
}


@contextlib.contextmanager
def style(**overrides: Any) -> Iterator[None]:
    """Apply :data:`STYLE` (updated by ``overrides``, rcParams names with dots
    written as given in a dict, e.g. ``style(**{"font.size": 9})``) for the block."""
    import matplotlib.pyplot as plt

    params = dict(STYLE)
    params.update(overrides)
    with plt.rc_context(params):
        yield


def figure_size(
    columns: int = 1,
    *,
    aspect: float | None = None,
    nrows: int = 1,
    ncols: int = 1,
    height: float | None = None,
) -> tuple[float, float]:
    """``(width, height)`` in inches for a figure ``columns`` paper columns wide.

    Parameters
    ----------
    columns : {1, 2}
        1: one column (:data:`COLUMN_WIDTH`); 2: the full text width (:data:`TEXT_WIDTH`).
    aspect : float, optional
        Height over width of one panel; the golden ratio (0.618) by default.
    nrows, ncols : int
        Panels in the grid; the height scales with ``nrows / ncols``.
    height : float, optional
        Fixed height in inches (overrides ``aspect``).
    """
    if columns not in (1, 2):
        raise ValueError(f"columns: must be 1 or 2, got {columns}")
    if nrows < 1 or ncols < 1:
        raise ValueError(f"nrows/ncols: must be positive, got {nrows}, {ncols}")
    width = COLUMN_WIDTH if columns == 1 else TEXT_WIDTH
    if height is None:
        aspect = GOLDEN if aspect is None else float(aspect)
        if aspect <= 0:
            raise ValueError(f"aspect: must be positive, got {aspect}")
        height = width * aspect * nrows / ncols
    return (width, float(height))


def save(
    fig,
    name: str,
    out_dir: str | os.PathLike = "figures",
    *,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = 200,
) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.<fmt>`` for each format; returns the paths.

    ``name`` is a bare file name without extension (no directories).
    """
    if not name or os.sep in name or "/" in name or name.endswith((".png", ".pdf")):
        raise ValueError(f"name: a bare file name without extension, got {name!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        # PDFs are written without a creation date so the same figure gives the same bytes.
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        fig.savefig(path, format=fmt, dpi=dpi, metadata=metadata)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------
# Figure functions: plot_x(ax, result, **kw) -> ax
# ---------------------------------------------------------------------------


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
    (:class:`landscape.surfaces.PCADirections`): ``result.coords`` (E, 2), with
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
    (:class:`landscape.surfaces.Interpolation`, or a :class:`BezierCurve`'s
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
