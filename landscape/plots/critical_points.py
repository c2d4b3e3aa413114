"""Figures of the critical-point study (:mod:`landscape.studies.critical_points`): panels
``plot_x(ax, result) -> ax`` that read a :class:`~landscape.studies.critical_points.Result`
and never compute, and :func:`figure`. A panel with nothing to draw (no distinct critical
point, no start in a state) says so in words.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> fig = figure(result)                                # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from landscape.plots.style import figure_size, no_data, style
from landscape.studies._common import fmt

__all__ = ["figure", "plot_endpoints", "plot_finder", "plot_index_vs_loss"]


_KIND_STYLE = {
    "minimum": ("#0072B2", "o"),
    "saddle": ("#D55E00", "^"),
    "maximum": ("#CC79A7", "v"),
    "degenerate": ("#999999", "s"),
}
_STATUS_COLORS = {
    "converged": "#009E73",
    "gradient_flat": "#E69F00",
    "stalled": "#56B4E9",
    "diverged": "#CC79A7",
}


def plot_index_vs_loss(ax, result):
    """Index (fraction of negative eigenvalues) against loss of the distinct critical
    points, in the manner of Dauphin et al. (2014), Fig. 1. Filled markers: found from
    a point of a training run; open: from a random initialisation."""
    s = result.starts
    distinct = np.asarray(s["distinct"], bool)
    if not distinct.any():
        return no_data(ax, "no critical point found\n(every Newton-MR run ended elsewhere)")
    for kind, (color, marker) in _KIND_STYLE.items():
        for source, filled in (("trajectory", True), ("random", False)):
            mask = distinct & (s["kind"] == kind) & (s["source"] == source)
            if not mask.any():
                continue
            ax.scatter(s["loss"][mask], 100 * s["index"][mask], s=14, marker=marker,
                       facecolors=color if filled else "none", edgecolors=color, linewidths=0.8,
                       label=f"{kind}{'' if filled else ', random start'} ({int(mask.sum())})")
    ax.set_xscale("log")
    ax.set_xlabel("loss (objective with L2)")
    ax.set_ylabel("index: negative eigenvalues (%)")
    sp = result.summary["spearman"]
    ax.set_title("index against loss")
    ax.text(0.98, 0.03, f"Spearman $\\rho$ = {fmt(sp['rho'], 2)}\n"
            f"({sp['count']} distinct points)", transform=ax.transAxes, ha="right",
            va="bottom", fontsize=6.5)
    ax.legend(loc="center right")
    return ax


def plot_finder(ax, result):
    """The finder's gradient norm per Newton-MR step, one line per start, coloured by
    how it ended."""
    status = result.starts["status"]
    for name, color in _STATUS_COLORS.items():
        rows = np.flatnonzero(status == name)
        for j, i in enumerate(rows):
            ax.plot(result.grad_norms[i], color=color, alpha=0.5, linewidth=0.6,
                    label=f"{name.replace('_', '-')} ({len(rows)})" if j == 0 else None)
    ax.axhline(result.config.tol, color="black", linewidth=0.6, linestyle="--",
               label=f"tolerance {result.config.tol:g}")
    ax.set_yscale("log")
    ax.set_xlabel("Newton-MR step")
    ax.set_ylabel(r"gradient norm $|g|$")
    ax.set_title("Newton-MR runs by outcome")
    ax.legend(loc="lower right")
    return ax


def plot_endpoints(ax, result):
    """The training endpoints: |g| against its critical threshold, coloured by the kind
    the spectrum alone gives, with lambda_min / lambda_max in the legend."""
    e = result.endpoints
    ratio = e["grad_norm"] / e["grad_threshold"]
    rel = e["lambda_min"] / np.abs(e["lambda_max"])
    for kind, (color, marker) in _KIND_STYLE.items():
        mask = e["curvature"] == kind
        if mask.any():
            ax.scatter(ratio[mask], rel[mask], s=16, marker=marker, color=color,
                       label=f"spectrum: {kind} ({int(mask.sum())})")
    ax.axvline(1.0, color="black", linewidth=0.6, linestyle="--", label="critical threshold")
    ax.axhline(-result.config.rtol, color="grey", linewidth=0.6, linestyle=":",
               label=r"$-$rtol (negative below)")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_xlabel(r"$|g|$ / critical threshold")
    ax.set_ylabel(r"$\lambda_{\min} / \lambda_{\max}$")
    counts = result.summary["endpoint_kind_counts"]
    ax.set_title("endpoints: " + ", ".join(f"{v} {k.replace('_', ' ')}"
                                           for k, v in counts.items()))
    ax.legend(loc="lower left")
    return ax


def figure(result):
    """The study's figure (full text width, three panels)."""
    import matplotlib.pyplot as plt

    with style():
        fig, axes = plt.subplots(1, 3, figsize=figure_size(2, ncols=3, aspect=1.0))
        for ax, panel, letter in zip(axes, (plot_index_vs_loss, plot_finder, plot_endpoints),
                                     "abc", strict=True):
            panel(ax, result)
            ax.set_title(f"({letter}) {ax.get_title()}")
        info = result.info
        fig.suptitle(
            f"{info['problem']['name']} ({info['num_params']} parameters, "
            f"{info['num_train']} examples, {info['loss']} + {info['l2']:g} L2): "
            f"{info['num_starts']} Newton-MR runs", fontsize=8,
        )
    return fig
