"""One figure style for the whole project: rcParams as data, sizes, saving.

The style is data: :data:`STYLE` is a dict of matplotlib rcParams sized for one
column of a two-column paper (tueplots-like). It is applied only inside the
:func:`style` context manager, so importing this module changes no global state.

``style(**overrides)``
    Context manager applying :data:`STYLE` (plus ``overrides``) with
    ``plt.rc_context``. Make figures inside it.
``figure_size(columns=1, *, aspect=None, nrows=1, ncols=1, height=None)``
    ``(width, height)`` in inches: ``columns=1`` is one paper column
    (:data:`COLUMN_WIDTH`), ``columns=2`` the full text width (:data:`TEXT_WIDTH`);
    the height is ``width * aspect * nrows / ncols`` (golden ratio by default)
    unless ``height`` is given.
``save(fig, name, out_dir="figures", *, formats=("png", "pdf"), dpi=200)``
    Write ``out_dir/name.png`` and ``out_dir/name.pdf`` (mode 0644); returns the paths.
``COLORS``
    The colour cycle (Okabe & Ito 2008, colour-blind safe), also set as the
    axes property cycle in :data:`STYLE`.

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
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

__all__ = [
    "COLORS",
    "COLUMN_WIDTH",
    "STYLE",
    "TEXT_WIDTH",
    "figure_size",
    "no_data",
    "panel_figure",
    "panel_letters",
    "problem_label",
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
        os.chmod(path, 0o644)  # readable by others, as git checks files out
        paths.append(path)
    return paths




def spaced_labels(values, *, min_log_gap: float = 0.3) -> list[str]:
    """Tick labels for ``values`` on a log axis with the crowded ones left blank: from
    the largest down, a value is labelled only if it is at least ``min_log_gap``
    decades below the last labelled one (so "200" and "300" never overprint).

    >>> spaced_labels([1, 4, 16, 64, 256, 1024, 3500], min_log_gap=0.55)
    ['1', '4', '16', '64', '256', '', '3500']
    """
    values = [float(v) for v in values]
    labels, last = [""] * len(values), math.inf
    for i in sorted(range(len(values)), key=lambda i: -values[i]):
        if not math.isfinite(last) or math.log10(last / values[i]) >= min_log_gap:
            labels[i], last = f"{values[i]:g}", values[i]
    return labels


def no_data(ax, text: str):
    """Say on an empty panel why it is empty (e.g. "weight matching skipped: no dense
    chain declared"), and hide its ticks."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=6.5, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def panel_letters(axes, letters: str = "abcdefghijklmnop") -> None:
    """Bold "(a)", "(b)", ... above the top left corner of each axis."""
    for ax, letter in zip(axes, letters, strict=False):
        ax.text(-0.02, 1.02, f"({letter})", transform=ax.transAxes, fontweight="bold",
                ha="right", va="bottom")


def panel_figure(result, panels, *, title: str, nrows: int = 2, ncols: int = 3,
                 aspect: float = 0.8, title_size: float = 7):
    """A study's figure, full text width: ``panels`` (functions ``plot_x(ax, result)``) on
    an ``nrows`` x ``ncols`` grid in the style, lettered (a), (b), ..., ``title`` above."""
    import matplotlib.pyplot as plt

    with style():
        fig, axes = plt.subplots(nrows, ncols,
                                 figsize=figure_size(2, nrows=nrows, ncols=ncols, aspect=aspect))
        for ax, panel in zip(axes.flat, panels, strict=True):
            panel(ax, result)
        panel_letters(axes.flat)
        fig.suptitle(title, fontsize=title_size)
    return fig


def problem_label(info) -> str:
    """"<problem> on <data set>" from a study's ``info`` (the data set once, when the
    problem's name already says it, as the built-in problems' names do)."""
    name, dataset = str(info.get("model", "")), str(info.get("dataset", ""))
    return name if not dataset or dataset in name else f"{name} on {dataset}"
