"""C1 across dimension: critical points of one family of nets at several sizes.

The critical-points study (Newton-MR from training trajectories and random starts,
exact Hessian index from a dense float64 eigendecomposition) is run for a
one-hidden-layer tanh student of each width on the same teacher-student data. Per
size: how many distinct critical points were found, the fraction of them that are
minima, and how far the worst minimum lies above the best critical point, as a
fraction of the loss range of the distinct critical points (the unit in which C1
calls a minimum *bad*). :func:`landscape.studies.claims._rules.dimension_verdict`
judges how these move with size.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from landscape import registry
from landscape.studies import critical_points


def size_numbers(study) -> dict[str, float]:
    """Distinct critical points, minima fraction and relative excess of the worst minimum.

    >>> class S: starts = {"distinct": np.array([1, 1, 1, 0]),
    ...                    "loss": np.array([1.0, 2.0, 3.0, 9.0]),
    ...                    "kind": np.array(["minimum", "saddle", "minimum", "minimum"])}
    >>> size_numbers(S)
    {'num_distinct': 3.0, 'minima_fraction': 0.6666666666666666, 'worst_excess': 1.0}
    """
    s = study.starts
    distinct = np.asarray(s["distinct"], bool)
    loss = np.asarray(s["loss"], float)[distinct]
    kind = np.asarray(s["kind"]).astype(str)[distinct]
    if not loss.size:
        return {"num_distinct": 0.0, "minima_fraction": float("nan"),
                "worst_excess": float("nan")}
    minima = kind == "minimum"
    span = float(np.ptp(loss))
    excess = 0.0
    if minima.any() and span > 0:
        excess = float((np.max(loss[minima]) - np.min(loss)) / span)
    return {"num_distinct": float(loss.size), "minima_fraction": float(np.mean(minima)),
            "worst_excess": excess}


def measure(config: critical_points.Config, problem_options: dict, widths: Sequence[int], *,
            progress: bool = False) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Numbers per width (keys ``dim_<name>_w<width>``) and arrays for the figure."""
    numbers, rows = {}, []
    with jax.enable_x64(True):
        for w in widths:
            problem = registry.builtin(**{**problem_options, "hidden": (int(w),)})
            study = critical_points.run(problem, config, progress=progress)
            n = {"num_params": float(study.info["num_params"]), **size_numbers(study)}
            for k, v in n.items():
                numbers[f"dim_{k}_w{w}"] = v
            rows.append(n)
    arrays = {f"dim_{k}": np.asarray([r[k] for r in rows]) for k in rows[0]}
    arrays["dim_width"] = np.asarray(widths, float)
    return numbers, arrays
