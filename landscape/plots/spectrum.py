"""Figures of the spectrum study (:mod:`landscape.studies.spectrum`): panels
``plot_x(ax, result) -> ax`` that read a :class:`~landscape.studies.spectrum.Result`
and never compute, and :func:`figure`. A part the run skipped (per-layer curvature
without a layout, the sharpness of a network with state in evaluation mode) is said
in words on its panel.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> fig = figure(result)                                # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from landscape.plots.style import COLORS, figure_size, no_data, panel_letters, style

__all__ = ["figure", "plot_density", "plot_layers", "plot_sharpness", "plot_top_eigenvalues"]


def _skipped(result, part: str) -> str | None:
    reason = result.summary.get("skipped", {}).get(part)
    return None if reason is None else f"{part} skipped:\n{reason}"


def plot_density(ax, result, *, phase: str, color=None, label=None):
    """The smoothed SLQ density on a log scale (Ghorbani et al. 2019), the outliers
    marked along the bottom edge."""
    s = result.spectra[phase]
    ax.semilogy(s["grid"], np.maximum(s["density"], 1e-9), color=color,
                label=label or f"{phase} ({s['outliers']} outliers)")
    ax.plot(s["top"][: s["outliers"]], np.full(s["outliers"], 3e-6), "|", color=color, ms=8)
    ax.set_ylim(1e-6, 1e5)  # headroom above the bulk for the legend
    ax.set_xlabel("Hessian eigenvalue")
    ax.set_ylabel("density (log scale)")
    return ax


def plot_top_eigenvalues(ax, result):
    """The ``num_top`` largest eigenvalues at the start and the end, with the outlier gap,
    those of the Gauss-Newton matrix after training (Papyan 2020), and ``lambda_max`` on
    each data subsample of the spread."""
    for phase, marker in (("init", "o"), ("trained", "s")):
        s = result.spectra[phase]
        rank = np.arange(1, len(s["top"]) + 1)
        ax.semilogy(rank, np.maximum(s["top"], 1e-12), marker, ms=3, label=phase)
        if s["outliers"] < len(s["top"]):
            ax.axvline(s["outliers"] + 0.5, ls=":", lw=0.8,
                       color=ax.get_lines()[-1].get_color())
    if result.gauss_newton is not None:
        g = result.gauss_newton["trained"]["top"]
        ax.semilogy(np.arange(1, len(g) + 1), np.maximum(g, 1e-12), "s", ms=4, mfc="none",
                    color=COLORS[3], label="trained, Gauss-Newton")
    if result.spread is not None:
        values = np.asarray(result.spread["values"])
        ax.plot(np.full(len(values), 1.25), np.maximum(values, 1e-12), "x", ms=3.5,
                color=COLORS[2], label=rf"$\lambda_1$ on {len(values)} subsamples")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rank i")
    ax.set_ylabel(r"$\lambda_i$ (log scale)")
    ax.legend(loc="upper right")
    return ax


def plot_sharpness(ax, result):
    """``lambda_max`` along full-batch GD next to ``2 / learning_rate`` (Cohen et al. 2021)."""
    if result.sharpness is None:
        return no_data(ax, _skipped(result, "sharpness") or "no sharpness recorded")
    sh = result.sharpness
    edge = 2.0 / result.config.learning_rate
    ax.plot(sh["step"], sh["lambda_max"], label=r"$\lambda_{\max}$")
    ax.axhline(edge, ls="--", color="k", lw=0.8, label=rf"$2/\eta$ = {edge:g}")
    ax.set_xlabel("GD step")
    ax.set_ylabel(r"$\lambda_{\max}$")
    twin = ax.twinx()
    loss = np.asarray(sh["train_loss"], np.float64)
    finite = loss[np.isfinite(loss) & (loss > 0)]
    lines = ax.get_legend_handles_labels()
    if finite.size:
        twin.semilogy(sh["step"], loss, color="0.6", lw=0.8, label="train loss")
        twin.set_ylim(0.8 * float(np.min(finite)), 30.0 * float(np.max(finite)))
    twin.set_ylabel("train loss (log scale)", color="0.4")
    extra = twin.get_legend_handles_labels()
    lm = np.asarray(sh["lambda_max"], np.float64)
    top = max(float(np.nanmax(lm)) if np.isfinite(lm).any() else 0.0, edge)
    ax.set_ylim(0.0, 1.6 * top)  # headroom for the legend
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], loc="upper right", ncol=2)
    return ax


def plot_layers(ax, result):
    """``lambda_max`` of the Hessian restricted to each layer's weights, at the start and
    the end of training."""
    if result.layers is None:
        return no_data(ax, _skipped(result, "layers") or "no per-layer curvature")
    layers = result.layers
    names = [str(n) for n in layers["name"]]
    pos = np.arange(len(names))
    width = 0.38
    for shift, phase, color in ((-width / 2, "init", COLORS[0]), (width / 2, "trained",
                                                                  COLORS[1])):
        ax.bar(pos + shift, layers[f"{phase}_lambda_max"], width, color=color, label=phase)
    top = float(np.nanmax([layers["init_lambda_max"], layers["trained_lambda_max"]]))
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.35 * top if top > 0 else 1.0)  # legend room
    ax.set_xticks(pos)
    ax.set_xticklabels([f"{n}\n({int(k)})" for n, k in zip(names, layers["size"], strict=True)],
                       fontsize=5.5)
    ax.set_xlabel("layer weights (parameters)")
    ax.set_ylabel(r"$\lambda_{\max}$ of the layer")
    ax.legend(loc="upper right", ncol=2)
    return ax


def figure(result):
    """Four panels: log densities at init and after training, the top eigenvalues (with
    the spread over subsamples), the sharpness along training, the per-layer curvature."""
    import matplotlib.pyplot as plt

    with style():
        fig, axes = plt.subplots(2, 2, figsize=figure_size(2, aspect=0.62))
        axes = axes.ravel()
        plot_density(axes[0], result, phase="init", color=COLORS[0])
        plot_density(axes[0], result, phase="trained", color=COLORS[1])
        axes[0].legend(loc="upper right")
        axes[0].set_title("spectral density (SLQ)")
        plot_top_eigenvalues(axes[1], result)
        axes[1].set_title("largest eigenvalues")
        plot_sharpness(axes[2], result)
        axes[2].set_title("sharpness along GD")
        plot_layers(axes[3], result)
        axes[3].set_title("curvature per layer")
        panel_letters(axes)
        fig.suptitle(f"{result.problem.get('name', 'problem')}: {result.num_params} parameters, "
                     f"curvature in {result.summary.get('curvature_mode', 'eval')} mode",
                     fontsize=8)
    return fig
