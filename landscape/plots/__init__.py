"""Figures: one style for the project and one module per study.

- :mod:`landscape.plots.style`: the style as data (:data:`STYLE`, :func:`style`),
  :func:`figure_size`, :func:`save`, the colours :data:`COLORS`;
- :mod:`landscape.plots.surfaces`: contours, 3-D surfaces, trajectories, slices
  and interpolations, drawn from :mod:`landscape.surfaces` (and ``directions``,
  ``paths``) results;
- one module per study (``landscape.plots.seeds``, ``landscape.plots.batch_size``,
  ...): ``plot_x(ax, result) -> ax`` panels and ``figure(result)`` that read a
  study's Result and never compute.

Every name of the two shared modules is importable from here
(``from landscape import plots; plots.style(); plots.save(fig, ...)``).
"""

from landscape.plots.style import (
    COLORS,
    COLUMN_WIDTH,
    GOLDEN,
    STYLE,
    TEXT_WIDTH,
    figure_size,
    no_data,
    panel_figure,
    panel_letters,
    problem_label,
    save,
    spaced_labels,
    style,
)
from landscape.plots.surfaces import (
    legend_on_image,
    plot_contour,
    plot_curve_on_plane,
    plot_interpolation,
    plot_slice_1d,
    plot_surface_3d,
    plot_trajectory,
)

__all__ = [
    "COLORS",
    "COLUMN_WIDTH",
    "GOLDEN",
    "STYLE",
    "TEXT_WIDTH",
    "figure_size",
    "legend_on_image",
    "no_data",
    "panel_figure",
    "panel_letters",
    "plot_contour",
    "plot_curve_on_plane",
    "plot_interpolation",
    "plot_slice_1d",
    "plot_surface_3d",
    "plot_trajectory",
    "problem_label",
    "save",
    "spaced_labels",
    "style",
]
