"""Directions in parameter space for pictures of the loss: random, Hessian, PCA, planes.

Each returns vectors of ``n`` entries in the order of ``jax.flatten_util.ravel_pytree``
(the order :func:`landscape.curvature.flat_loss` uses), ready for the slices of
:mod:`landscape.surfaces` and the paths of :mod:`landscape.paths`:

- :func:`random_directions`: gaussian directions, filter-normalised as in Li et al.
  (2018) by default (:func:`filter_normalize`);
- :func:`hessian_directions`: the top eigenvectors of the Hessian;
- :func:`trajectory_pca`: the principal components of an optimisation path;
- :func:`plane_through`: the plane through three points (a curve and its endpoints).

Examples
--------
>>> import jax, jax.numpy as jnp
>>> d = random_directions(jax.random.key(0), {"w": jnp.ones((3, 2))}, num=2)
>>> d.shape
(2, 6)

References
----------
Li, H., Xu, Z., Taylor, G., Studer, C. and Goldstein, T. (2018). Visualizing the
loss landscape of neural nets. NeurIPS.
Garipov, T., Izmailov, P., Podoprikhin, D., Vetrov, D. and Wilson, A. G. (2018).
Loss surfaces, mode connectivity, and fast ensembling of DNNs. NeurIPS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

PyTree = Any
Array = jax.Array

__all__ = [
    "HessianDirections",
    "PCADirections",
    "Plane",
    "filter_normalize",
    "hessian_directions",
    "plane_through",
    "random_directions",
    "trajectory_pca",
]


class HessianDirections(NamedTuple):
    """Top eigenpairs of a Hessian, largest first.

    Attributes
    ----------
    eigvals : (k,)      eigenvalues, descending
    vectors : (k, n)    unit eigenvectors, ``vectors[i]`` for ``eigvals[i]``
    residuals : (k,)    ``|H v - lambda v|`` of each pair
    num_matvecs : int   Hessian-vector products used
    """

    eigvals: Array
    vectors: Array
    residuals: Array
    num_matvecs: int


class PCADirections(NamedTuple):
    """Principal directions of an optimisation path (Li et al. 2018, Sec. 7).

    Attributes
    ----------
    directions : (k, n)               orthonormal principal directions
    explained_variance_ratio : (k,)   share of the path's variance along each
    coords : (E, k)                   each point of the path, minus ``origin``,
                                      projected on the directions
    origin : (n,)                     the point the path is measured from (its end)
    """

    directions: Array
    explained_variance_ratio: Array
    coords: Array
    origin: Array


class Plane(NamedTuple):
    """The plane through three points ``p0, p1, p2``, with an orthonormal basis.

    Attributes
    ----------
    origin : (n,)       ``p0``
    directions : (2, n) orthonormal; the first along ``p1 - p0``
    coords : (3, 2)     the three points in plane coordinates
    """

    origin: Array
    directions: Array
    coords: Array


_BIAS_OPTIONS = ("zero", "copy", "keep")


def _check_weight_axes(weight_axes, params) -> list[int | None]:
    leaves = jax.tree_util.tree_leaves(params)
    if weight_axes is None:  # the built-in convention: output units on the last axis
        return [-1 if jnp.ndim(w) >= 2 else None for w in leaves]
    axes = list(weight_axes)
    if len(axes) != len(leaves):
        raise ValueError(f"weight_axes: {len(axes)} entries for {len(leaves)} leaves of params "
                         "(use landscape.layout.weight_axes(params, problem.layout))")
    for i, (axis, w) in enumerate(zip(axes, leaves, strict=True)):
        if axis is not None and not -jnp.ndim(w) <= axis < 0:
            raise ValueError(f"weight_axes: entry {i} is axis {axis} for a leaf of shape "
                             f"{jnp.shape(w)} (count axes from the end, -1 = last)")
    return axes


def filter_normalize(direction: PyTree, params: PyTree, *, bias: str = "zero",
                     eps: float = 1e-10, weight_axes: Sequence[int | None] | None = None
                     ) -> PyTree:
    """Rescale ``direction`` filter by filter to the norms of ``params`` (Li et al. 2018).

    A weight leaf has one filter per output unit: for a dense ``w`` of shape
    ``(fan_in, fan_out)`` one per column, for a convolution one per output
    channel. Each filter ``d_i`` of the direction becomes
    ``d_i * |w_i| / max(|d_i|, eps)``, so that its norm is that of ``w_i`` to
    rounding. Every other leaf (biases, norm scales) is treated according to ``bias``.

    Parameters
    ----------
    direction, params : pytree
        Same structure and shapes.
    bias : {"zero", "copy", "keep"}
        ``"zero"``: biases are not perturbed (Li et al.'s ``ignore='biasbn'``);
        ``"copy"``: the bias direction is the bias itself (their default);
        ``"keep"``: the random bias direction is left as it is.
    eps : float
        Smallest filter norm divided by (a zero filter stays zero); Li et al.'s
        code adds it to the norm instead, which leaves short filters up to
        ``eps / |d_i|`` short of their weight's norm.
    weight_axes : sequence of int or None, optional
        For each leaf of ``params`` (in :func:`jax.tree_util.tree_leaves` order)
        the axis that indexes its output units, counted from the end, or
        ``None`` for a bias: :func:`landscape.layout.weight_axes` of a
        problem's layout (an Equinox ``Linear`` weight ``(out, in)`` has axis
        ``-2``). Default: every leaf with two or more axes is a weight with its
        output units on the last axis (Flax and the built-in models).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> d = filter_normalize({"w": jnp.ones((2, 2))}, {"w": jnp.array([[3.0, 0.0], [4.0, 1.0]])})
    >>> [round(float(v), 4) for v in jnp.linalg.norm(d["w"], axis=0)]  # column norms of w
    [5.0, 1.0]
    >>> d = filter_normalize({"w": jnp.ones((2, 2))}, {"w": jnp.array([[3.0, 4.0], [0.0, 1.0]])},
    ...                      weight_axes=[-2])  # (out, in): one filter per row
    >>> [round(float(v), 4) for v in jnp.linalg.norm(d["w"], axis=1)]
    [5.0, 1.0]
    """
    if bias not in _BIAS_OPTIONS:
        raise ValueError(f"bias: unknown option {bias!r}; choose one of {_BIAS_OPTIONS}")
    d_struct = jax.tree_util.tree_structure(direction)
    p_struct = jax.tree_util.tree_structure(params)
    if d_struct != p_struct:
        raise ValueError(f"direction: structure {d_struct} does not match params {p_struct}")
    axes = _check_weight_axes(weight_axes, params)

    def one(d, w, out_axis):
        if jnp.shape(d) != jnp.shape(w):
            raise ValueError(f"direction: leaf of shape {jnp.shape(d)} where params has "
                             f"{jnp.shape(w)}")
        if out_axis is None:
            return _bias_direction(d, w, bias)
        out_axis = jnp.ndim(w) + out_axis
        others = tuple(a for a in range(jnp.ndim(w)) if a != out_axis)
        w_norm = jnp.sqrt(jnp.sum(jnp.square(w), axis=others, keepdims=True))
        d_norm = jnp.sqrt(jnp.sum(jnp.square(d), axis=others, keepdims=True))
        return d * (w_norm / jnp.maximum(d_norm, eps)).astype(d.dtype)

    d_leaves = jax.tree_util.tree_leaves(direction)
    p_leaves = jax.tree_util.tree_leaves(params)
    out = [one(d, w, a) for d, w, a in zip(d_leaves, p_leaves, axes, strict=True)]
    return jax.tree_util.tree_unflatten(d_struct, out)


def _bias_direction(d, w, bias):
    if bias == "zero":
        return jnp.zeros_like(d)
    if bias == "copy":
        return jnp.asarray(w, d.dtype)
    return d


_NORMS = ("filter", "layer", "none")


def random_directions(key: Array, params: PyTree, *, num: int = 2, norm: str = "filter",
                      bias: str = "zero",
                      weight_axes: Sequence[int | None] | None = None) -> Array:
    """``num`` random gaussian directions in flat coordinates, ``(num, n)``.

    Parameters
    ----------
    key : PRNG key
    params : pytree
        The point the directions are for; fixes the structure, and the scale
        when normalising.
    num : int
        How many directions.
    norm : {"filter", "layer", "none"}
        ``"filter"``: :func:`filter_normalize` (Li et al. 2018, the default);
        ``"layer"``: each weight leaf scaled to the norm of the matching leaf of
        ``params``; ``"none"``: plain standard normal entries.
    bias : {"zero", "copy", "keep"}
        Treatment of biases (leaves that are not weights) when normalising,
        see :func:`filter_normalize`.
    weight_axes : sequence of int or None, optional
        Which leaves are weights and their output axes (see
        :func:`filter_normalize`; from a problem:
        ``landscape.layout.weight_axes(params, problem.layout)``).

    Notes
    -----
    The directions are not orthogonalised: in high dimension two independent
    gaussian vectors are nearly orthogonal already, as Li et al. note.
    """
    if num < 1:
        raise ValueError(f"num: need at least 1 direction, got {num}")
    if norm not in _NORMS:
        raise ValueError(f"norm: unknown normalisation {norm!r}; choose one of {_NORMS}")
    if bias not in _BIAS_OPTIONS:
        raise ValueError(f"bias: unknown option {bias!r}; choose one of {_BIAS_OPTIONS}")
    axes = _check_weight_axes(weight_axes, params)
    x0, unravel = ravel_pytree(params)
    raw = jax.random.normal(key, (num, x0.size), x0.dtype)
    if norm == "none":
        return raw

    def normalise(v):
        d = unravel(v)
        if norm == "filter":
            d = filter_normalize(d, params, bias=bias, weight_axes=axes)
        else:
            leaves = [_layer_normalise(t, w, a, bias) for t, w, a in zip(
                jax.tree_util.tree_leaves(d), jax.tree_util.tree_leaves(params), axes, strict=True)]
            d = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(d), leaves)
        return ravel_pytree(d)[0]

    return jax.vmap(normalise)(raw)


def _layer_normalise(d, w, out_axis, bias):
    if out_axis is None:
        return _bias_direction(d, w, bias)
    return d * (jnp.linalg.norm(w) / (jnp.linalg.norm(d) + 1e-10)).astype(d.dtype)


def hessian_directions(operator, *, key: Array, num: int = 2, method: str = "eigsh",
                       tol: float = 1e-8, num_iters: int | None = None,
                       num_restarts: int = 10) -> HessianDirections:
    """The ``num`` eigenvectors of the largest (algebraic) Hessian eigenvalues.

    Parameters
    ----------
    operator : curvature.FlatOperator
        The Hessian, e.g. ``curvature.hessian_operator(loss, params, batch)``.
    key : PRNG key
        Draws the starting vector (so the result is reproducible).
    num : int
        How many eigenpairs.
    method : {"eigsh", "lanczos"}
        ``"eigsh"``: scipy's implicitly restarted Lanczos (ARPACK) on
        ``operator.to_scipy()`` with tolerance ``tol``; ``"lanczos"``:
        :func:`landscape.lanczos.extreme_eigs` with a basis of ``num_iters``
        vectors (default ``max(4 num, 80)``), up to ``num_restarts`` thick
        restarts and tolerance ``tol``.

    Returns
    -------
    HessianDirections
        Eigenvalues descending, unit eigenvectors, and residuals ``|Hv - lambda v|``.
    """
    if num < 1:
        raise ValueError(f"num: need at least 1 eigenvector, got {num}")
    n = int(operator.size)
    if num >= n:
        raise ValueError(f"num: must be below the operator size {n}, got {num}")
    dtype = jnp.dtype(operator.dtype)
    v0 = jax.random.normal(key, (n,), dtype)
    if method == "eigsh":
        from scipy.sparse.linalg import eigsh

        linop = operator.to_scipy()
        vals, vecs = eigsh(linop, k=num, which="LA", v0=np.asarray(v0, np.float64), tol=tol)
        order = np.argsort(vals)[::-1]
        eigvals = jnp.asarray(vals[order], dtype)
        vectors = jnp.asarray(vecs[:, order].T, dtype)
        num_matvecs = int(linop.num_matvecs)
    elif method == "lanczos":
        from landscape import lanczos

        iters = num_iters if num_iters is not None else min(n, max(4 * num, 80))
        eigs = lanczos.extreme_eigs(num_iters=iters, num_eigs=num, which="largest",
                                    tol=tol, num_restarts=num_restarts)
        res = eigs(operator.matvec, v0, *operator.args)
        eigvals = jnp.asarray(res.eigvals, dtype)[::-1]
        vectors = jnp.asarray(res.eigvecs, dtype).T[::-1]
        num_matvecs = int(res.num_matvecs)
    else:
        raise ValueError(f"method: unknown method {method!r}; choose 'eigsh' or 'lanczos'")
    hv = jax.lax.map(lambda v: operator.matvec(v, *operator.args), vectors)
    residuals = jnp.linalg.norm(hv - eigvals[:, None] * vectors, axis=1)
    return HessianDirections(eigvals, vectors, residuals, num_matvecs)


def trajectory_pca(trajectory: Array, *, num_components: int = 2, origin: Array | None = None,
                   center: bool = True) -> PCADirections:
    """Principal directions of an optimisation path (Li et al. 2018, Sec. 7).

    Parameters
    ----------
    trajectory : (E, n)
        Flat parameters at ``E`` points of training, in order.
    num_components : int
        How many directions (at most ``E``).
    origin : (n,), optional
        The point coordinates are measured from; the last point of the path by
        default (the solution).
    center : bool
        Subtract the mean of the rows ``trajectory - origin`` before the SVD, as
        Li et al. do (they use scikit-learn's PCA). The explained variance ratio
        is then that of the centred path.

    Returns
    -------
    PCADirections
        Orthonormal directions, each with its explained-variance ratio, and the
        path's coordinates ``(trajectory - origin) @ directions.T``. Signs are
        fixed so that the first point of the path has non-positive coordinates
        (training runs towards increasing coordinates).
    """
    traj = jnp.asarray(trajectory)
    if traj.ndim != 2:
        raise ValueError(f"trajectory: expected shape (E, n), got {traj.shape}")
    num_points = traj.shape[0]
    if not 1 <= num_components <= num_points:
        raise ValueError(f"num_components: must be in [1, {num_points}] (the number of path "
                         f"points), got {num_components}")
    origin = traj[-1] if origin is None else jnp.asarray(origin, traj.dtype)
    if origin.shape != traj.shape[1:]:
        raise ValueError(f"origin: expected shape {traj.shape[1:]}, got {origin.shape}")
    rel = traj - origin[None, :]
    m = rel - jnp.mean(rel, axis=0, keepdims=True) if center else rel
    _, s, vt = jnp.linalg.svd(m, full_matrices=False)
    total = jnp.sum(jnp.square(s))
    ratio = jnp.square(s) / jnp.where(total > 0, total, 1.0)
    directions = vt[:num_components]
    coords = rel @ directions.T
    sign = jnp.where(coords[0] > 0, -1.0, 1.0).astype(traj.dtype)
    directions = directions * sign[:, None]
    coords = coords * sign[None, :]
    return PCADirections(directions, ratio[:num_components], coords, origin)


def plane_through(p0: Array, p1: Array, p2: Array) -> Plane:
    """The plane through ``p0, p1, p2`` (Garipov et al. 2018, Fig. 1): origin ``p0``,
    first direction along ``p1 - p0``, second the part of ``p2 - p0`` orthogonal to it
    (both unit), so plane coordinates are distances in parameter space."""
    p0, p1, p2 = (jnp.asarray(p) for p in (p0, p1, p2))
    if not p0.shape == p1.shape == p2.shape or p0.ndim != 1:
        raise ValueError(f"p0/p1/p2: expected three vectors of one shape (n,), got "
                         f"{p0.shape}, {p1.shape}, {p2.shape}")
    u = p1 - p0
    u_norm = jnp.linalg.norm(u)
    if float(u_norm) == 0.0:
        raise ValueError("p1: coincides with p0, so the plane is undefined")
    u = u / u_norm
    v = (p2 - p0) - jnp.vdot(p2 - p0, u) * u
    v_norm = jnp.linalg.norm(v)
    if float(v_norm) <= 1e-12 * float(u_norm):
        raise ValueError("p2: lies on the line through p0 and p1, so the plane is undefined")
    v = v / v_norm
    directions = jnp.stack([u, v])
    coords = jnp.stack([p0 - p0, p1 - p0, p2 - p0]) @ directions.T
    return Plane(p0, directions, coords)
