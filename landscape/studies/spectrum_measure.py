"""The measurements of the spectrum study (:mod:`landscape.studies.spectrum`) at given
parameters: extreme eigenvalues and the SLQ density of one operator, the curvature of each
layer's weights, ``lambda_max`` along a trajectory, and the outlier count."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, lanczos, stochtrace
from landscape.studies._common import progress_bar

__all__ = ["count_outliers", "density_on_grid", "gauss_newton_top", "layers", "sharpness",
           "spectrum_at", "spectrum_fns"]


def count_outliers(top: np.ndarray) -> tuple[int, float]:
    """Outliers among the largest eigenvalues ``top`` (descending): those above the
    largest ratio ``lambda_i / lambda_{i+1}`` between consecutive positive values.
    Returns ``(count, ratio)``; a ratio near 1 means there is no clear gap.

    Examples
    --------
    >>> count_outliers(np.array([10.0, 9.0, 2.0, 1.9]))
    (2, 4.5)
    """
    top = np.sort(np.asarray(top, np.float64))[::-1]
    top = top[top > 0]
    if len(top) < 2:
        return len(top), math.nan
    ratios = top[:-1] / top[1:]
    i = int(np.argmax(ratios))
    return i + 1, float(ratios[i])


def spectrum_fns(config):
    """The jitted extreme-eigenvalue and SLQ functions, built once for both phases."""
    eigs = jax.jit(
        lanczos.extreme_eigs(num_iters=config.lanczos_iters, num_eigs=config.num_top,
                             which="both", tol=config.tol, num_restarts=10, check_every=10),
        static_argnums=0,
    )
    slq = stochtrace.slq(num_iters=config.slq_iters, num_probes=config.slq_probes)
    density = jax.jit(lambda matvec, k, *a: slq(matvec, k, *a, size=a[0].size, dtype=a[0].dtype),
                      static_argnums=0)
    return eigs, density


def spectrum_at(x, config, op, key, fns):
    """Extreme eigenvalues, SLQ density, trace and index of the operator at flat params x."""
    eigs, density_fn = fns
    args = (x, *op.args[1:])
    k_v0, k_slq = jax.random.split(key)
    res = eigs(op.matvec, jax.random.normal(k_v0, (op.size,), x.dtype), *args)
    m = config.num_top
    vals, resid = np.asarray(res.eigvals, np.float64), np.asarray(res.residuals, np.float64)
    density = density_fn(op.matvec, k_slq, *args)
    lmax = float(vals[-1])
    threshold = config.index_rtol * abs(lmax)
    trace, trace_se = stochtrace.trace_estimate(density)
    index, index_se = stochtrace.negative_fraction(density, threshold=threshold)
    lower, upper = stochtrace.negative_fraction_bounds(density, threshold=threshold)
    top = vals[m:][::-1]
    outliers, ratio = count_outliers(top)
    grid, smooth = density_on_grid(density, vals, config.sigma_rel)
    return {
        "grid": grid,
        "density": smooth,
        "top": top,
        "top_residuals": resid[m:][::-1],
        "bottom": vals[:m],
        "bottom_residuals": resid[:m],
        "converged": bool(np.all(np.asarray(res.converged))),
        "num_matvecs": int(res.num_matvecs),
        "nodes": np.asarray(density.nodes, np.float64),
        "weights": np.asarray(density.weights, np.float64),
        "trace": float(trace),
        "trace_stderr": float(trace_se),
        "index": float(index),
        "index_stderr": float(index_se),
        "index_lower": float(lower),
        "index_upper": float(upper),
        "outliers": outliers,
        "gap_ratio": ratio,
    }


def density_on_grid(density, eigvals, sigma_rel):
    """The SLQ density smoothed by a gaussian of width ``sigma_rel`` times the spectral
    range, on 3000 points spanning the Ritz values and the extreme eigenvalues."""
    nodes = np.asarray(density.nodes, np.float64)
    lo = min(float(np.min(nodes)), float(np.min(eigvals)))
    hi = max(float(np.max(nodes)), float(np.max(eigvals)))
    span = max(hi - lo, 1e-12)
    grid = np.linspace(lo - 0.05 * span, hi + 0.05 * span, 3000)
    values = stochtrace.density_on_grid(density, jnp.asarray(grid, density.nodes.dtype),
                                     sigma=sigma_rel * span)
    return grid, np.asarray(values, np.float64)


def layers(problem, config, ops, key):
    """Largest and smallest eigenvalue of the Hessian restricted to each weight leaf, at
    the point of each operator ``ops[phase]`` (its flat parameters ``op.args[0]``)."""
    points = {phase: op.args[0] for phase, op in ops.items()}
    op = ops["init"]
    template = op.unravel(points["init"])
    names = list(problem.layout.weights)
    out: dict[str, Any] = {"name": np.array(names), "size": []}
    for phase in points:
        for field in ("lambda_max", "lambda_min", "residual_max", "residual_min"):
            out[f"{phase}_{field}"] = []
    for i, name in enumerate(names):
        indices = curvature.subset_indices(template, lambda path, leaf, name=name: path == name)
        sub = curvature.restrict(op, indices)
        out["size"].append(sub.size)
        eigs = jax.jit(lanczos.extreme_eigs(num_iters=min(config.layer_iters, sub.size),
                                            num_eigs=1, which="both", tol=config.tol,
                                            num_restarts=5, check_every=5),
                       static_argnums=0)
        v0 = jax.random.normal(jax.random.fold_in(key, i), (sub.size,), points["init"].dtype)
        for phase, x in points.items():
            res = eigs(sub.matvec, v0, sub.args[0], x, *ops[phase].args[1:])
            vals, resid = np.asarray(res.eigvals), np.asarray(res.residuals)
            out[f"{phase}_lambda_max"].append(float(vals[-1]))
            out[f"{phase}_lambda_min"].append(float(vals[0]))
            out[f"{phase}_residual_max"].append(float(resid[-1]))
            out[f"{phase}_residual_min"].append(float(resid[0]))
    return {k: np.asarray(v) for k, v in out.items()}


def sharpness(config, op, trajectory, key, progress):
    sharp = jax.jit(
        lanczos.extreme_eigs(num_iters=min(config.sharpness_iters, op.size), which="largest",
                             tol=1e-4, num_restarts=5, check_every=5),
        static_argnums=0,
    )
    v0 = jax.random.normal(key, (op.size,), trajectory.dtype)
    lmax, resid = [], []
    for x in progress_bar(trajectory, len(trajectory), "lambda_max along training",
                                  progress):
        res = sharp(op.matvec, v0, x, *op.args[1:])
        lmax.append(float(res.eigvals[-1]))
        resid.append(float(res.residuals[-1]))
    return {"lambda_max": np.asarray(lmax), "residual": np.asarray(resid)}


def gauss_newton_top(config, ops, points, key):
    """The ``num_top`` largest eigenvalues of the Gauss-Newton matrix at each point
    (``ops[phase]`` its operator), with residuals and the outlier count (Papyan 2020)."""
    eigs = jax.jit(lanczos.extreme_eigs(num_iters=config.lanczos_iters, num_eigs=config.num_top,
                                        which="largest", tol=config.tol, num_restarts=10,
                                        check_every=10), static_argnums=0)
    out: dict[str, Any] = {}
    for i, (phase, x) in enumerate(points.items()):
        op = ops[phase]
        v0 = jax.random.normal(jax.random.fold_in(key, i), (op.size,), x.dtype)
        res = eigs(op.matvec, v0, x, *op.args[1:])
        top = np.asarray(res.eigvals, np.float64)[::-1]
        outliers, ratio = count_outliers(top)
        out[phase] = {"top": top, "top_residuals": np.asarray(res.residuals, np.float64)[::-1],
                      "outliers": outliers, "gap_ratio": ratio}
    return out
