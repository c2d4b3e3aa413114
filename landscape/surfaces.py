"""Loss-landscape geometry: directions, 1-D and 2-D slices, interpolations and
mode-connecting curves.

Everything works on flat parameter vectors: ``f, x0, unravel =
curvature.flat_loss(loss, params)`` gives ``f(x, *args)`` on vectors of ``n``
entries, and the functions here evaluate ``f`` at points
``x0 + sum_k c_k d_k`` of a low-dimensional subspace.

Directions (each returns vectors of ``n`` entries in the order of
``jax.flatten_util.ravel_pytree``, the order ``flat_loss`` uses):

- :func:`random_directions`: gaussian directions, filter-normalised as in
  Li et al. (2018) by default (:func:`filter_normalize`);
- :func:`hessian_directions`: the top eigenvectors of the Hessian;
- :func:`trajectory_pca`: the principal components of an optimisation path.

Evaluations: :func:`slice_1d` and :func:`slice_2d` (a grid in chunks of points,
vmapped on accelerators with a chunk size that :func:`chunk_size_for` derives
from a memory budget, one after another in a compiled ``lax.map`` on CPU; one
compile however many chunks); :func:`interpolate` (the straight line between two parameter sets,
Goodfellow et al. 2015) with its loss barrier; :func:`bezier_curve` (a
quadratic Bezier curve whose control point is trained to lower the loss along
it, Garipov et al. 2018), compared with the straight line; :func:`plane_through`
(the plane through three points, for pictures of a curve and its endpoints).

The barrier of a path ``phi`` from ``phi(0)`` to ``phi(1)`` is
``max_t [L(phi(t)) - ((1 - t) L(phi(0)) + t L(phi(1)))]`` over the evaluated
``t`` (Entezari et al. 2022): zero for a path along which the loss is convex or
flat, positive when the path climbs over a ridge.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> f = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
>>> d = jnp.eye(2)
>>> s = slice_2d(f, jnp.zeros(2), d[0], d[1], jnp.linspace(-1.0, 1.0, 3),
...              jnp.linspace(-1.0, 1.0, 3))
>>> s.losses.shape, float(s.losses[2, 2])
((3, 3), 2.5)

References
----------
Goodfellow, I. J., Vinyals, O. and Saxe, A. M. (2015). Qualitatively
characterizing neural network optimization problems. ICLR.
Li, H., Xu, Z., Taylor, G., Studer, C. and Goldstein, T. (2018). Visualizing the
loss landscape of neural nets. NeurIPS.
Garipov, T., Izmailov, P., Podoprikhin, D., Vetrov, D. and Wilson, A. G. (2018).
Loss surfaces, mode connectivity, and fast ensembling of DNNs. NeurIPS.
Draxler, F., Veschgini, K., Salmhofer, M. and Hamprecht, F. (2018). Essentially
no barriers in neural network energy landscape. ICML.
Entezari, R., Sedghi, H., Saukh, O. and Neyshabur, B. (2022). The role of
permutation invariance in linear mode connectivity of neural networks. ICLR.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

PyTree = Any
Array = jax.Array

__all__ = [
    "BezierCurve",
    "HessianDirections",
    "Interpolation",
    "PCADirections",
    "Plane",
    "Slice1D",
    "Surface2D",
    "barrier",
    "bezier_curve",
    "bezier_points",
    "chunk_size_for",
    "default_vectorize",
    "evaluate_subspace",
    "filter_normalize",
    "hessian_directions",
    "interpolate",
    "plane_through",
    "random_directions",
    "slice_1d",
    "slice_2d",
    "trajectory_pca",
]

DEFAULT_MEMORY_BYTES = 2**30  # 1 GiB per chunk of grid points, unless told otherwise


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


class Slice1D(NamedTuple):
    """Loss along ``x0 + alpha d``.

    Attributes
    ----------
    alphas : (m,)  steps along the direction
    losses : (m,)  loss at each step
    """

    alphas: Array
    losses: Array


class Surface2D(NamedTuple):
    """Loss on the grid ``x0 + alphas[i] d1 + betas[j] d2``.

    Attributes
    ----------
    alphas : (a,)  steps along ``d1``
    betas : (b,)   steps along ``d2``
    losses : (a, b)  ``losses[i, j]`` at ``(alphas[i], betas[j])``
    chunk_size : int  grid points evaluated per compiled call
    """

    alphas: Array
    betas: Array
    losses: Array
    chunk_size: int


class Interpolation(NamedTuple):
    """Loss along a path from ``t = 0`` to ``t = 1`` and its barrier.

    Attributes
    ----------
    ts : (m,)       path parameter, ``ts[0] = 0``, ``ts[-1] = 1``
    losses : (m,)   loss at each ``t``
    barrier : ()    ``max_t [loss(t) - ((1 - t) loss(0) + t loss(1))]``
    argmax : ()     index of ``ts`` where the barrier is attained
    """

    ts: Array
    losses: Array
    barrier: Array
    argmax: Array


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


class BezierCurve(NamedTuple):
    """A trained quadratic Bezier curve between two solutions, against the straight line.

    Attributes
    ----------
    control : (n,)             the trained control point ``theta``
    curve : Interpolation      loss along ``(1-t)^2 a + 2 t (1-t) theta + t^2 b``
    line : Interpolation       loss along the straight line ``(1-t) a + t b``
    train_losses : (steps,)    mean loss over the sampled ``t`` at each training step
    """

    control: Array
    curve: Interpolation
    line: Interpolation
    train_losses: Array


# ---------------------------------------------------------------------------
# Directions
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# Evaluation on a subspace
# ---------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("f", "vectorize"))
def _evaluate_chunk(f, x0, directions, coeffs, args, vectorize=True):
    one = lambda c: f(x0 + c @ directions, *args)
    return jax.vmap(one)(coeffs) if vectorize else jax.lax.map(one, coeffs)


def default_vectorize() -> bool:
    """Whether grid points are vmapped by default: on accelerators yes; on CPU no,
    where a compiled sequential ``lax.map`` over the points of a chunk is as fast or
    faster (one point's loss is already a matrix product that fills the cores, and
    the batched version only adds memory traffic; see ``benchmarks/bench_surfaces.py``)."""
    return jax.default_backend() != "cpu"


SEQUENTIAL_CHUNK = 64  # points per compiled call when points are not vmapped


def chunk_size_for(f: Callable, x0: Array, *args, memory_bytes: int = DEFAULT_MEMORY_BYTES,
                   probe: int = 8, max_chunk: int | None = None,
                   vectorize: bool | None = None) -> int:
    """How many points to evaluate at once so that one chunk fits in ``memory_bytes``.

    The memory of one point is measured, not guessed: the vmapped evaluation of
    ``probe`` points is compiled and XLA's memory analysis gives its temporary
    buffers; one point costs that over ``probe`` plus its parameter vector (``n``
    entries). Where the backend reports no analysis, a point is charged ``4 n``
    entries. The result is at least 1 and at most ``max_chunk``.

    When the points are not vmapped (``vectorize`` false, or its default
    :func:`default_vectorize` on CPU), memory is one point's whatever the chunk,
    and the chunk is :data:`SEQUENTIAL_CHUNK` points (capped by ``max_chunk``).
    """
    if memory_bytes <= 0:
        raise ValueError(f"memory_bytes: must be positive, got {memory_bytes}")
    if probe < 1:
        raise ValueError(f"probe: must be positive, got {probe}")
    if not (default_vectorize() if vectorize is None else vectorize):
        size = SEQUENTIAL_CHUNK
        return size if max_chunk is None else max(1, min(size, int(max_chunk)))
    itemsize = jnp.dtype(x0.dtype).itemsize
    per_point = 4 * x0.size * itemsize
    try:
        xs = jax.ShapeDtypeStruct((probe, x0.size), x0.dtype)
        compiled = jax.jit(jax.vmap(f, in_axes=(0,) + (None,) * len(args))).lower(
            xs, *args).compile()
        stats = compiled.memory_analysis()
        if stats is not None:
            per_point = max(per_point, stats.temp_size_in_bytes / probe + x0.size * itemsize)
    except (AttributeError, NotImplementedError, TypeError):
        pass
    size = max(1, int(memory_bytes // per_point))
    return size if max_chunk is None else max(1, min(size, int(max_chunk)))


def evaluate_subspace(f: Callable, x0: Array, directions: Array, coeffs: Array, *args,
                      chunk_size: int | None = None,
                      memory_bytes: int = DEFAULT_MEMORY_BYTES,
                      vectorize: bool | None = None,
                      progress: bool = False) -> Array:
    """``f(x0 + coeffs[i] @ directions, *args)`` for every row of ``coeffs``, ``(m,)``.

    The points are evaluated ``chunk_size`` at a time, vmapped, in a loop over
    chunks of one shape (the last is padded), so memory is ``chunk_size``
    points' worth whatever ``m`` is and there is one compile per ``f``,
    argument shapes and ``chunk_size``, however many chunks. Without
    ``vectorize`` the points of a chunk run one after another inside one
    compiled ``lax.map`` instead (memory of one point; no Python per point).

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> scalar`` on flat vectors, e.g. from ``curvature.flat_loss``.
        Pass the same function object each time to reuse the compiled program.
    x0 : (n,)
    directions : (k, n)
    coeffs : (m, k)
    chunk_size : int, optional
        Points per chunk; by default :func:`chunk_size_for` with ``memory_bytes``.
    vectorize : bool, optional
        vmap the points of a chunk; :func:`default_vectorize` by default (yes on
        accelerators, no on CPU).
    progress : bool
        Show a tqdm bar over chunks.
    """
    x0 = jnp.asarray(x0)
    directions = jnp.asarray(directions, x0.dtype)
    coeffs = jnp.asarray(coeffs, x0.dtype)
    if x0.ndim != 1:
        raise ValueError(f"x0: expected a flat vector (n,), got shape {x0.shape}")
    if directions.ndim != 2 or directions.shape[1] != x0.size:
        raise ValueError(f"directions: expected shape (k, {x0.size}), got {directions.shape}")
    if coeffs.ndim != 2 or coeffs.shape[1] != directions.shape[0]:
        raise ValueError(f"coeffs: expected shape (m, {directions.shape[0]}), got {coeffs.shape}")
    vectorize = default_vectorize() if vectorize is None else bool(vectorize)
    if chunk_size is None:
        chunk_size = chunk_size_for(f, x0, *args, memory_bytes=memory_bytes,
                                    max_chunk=coeffs.shape[0], vectorize=vectorize)
    if chunk_size < 1:
        raise ValueError(f"chunk_size: must be positive, got {chunk_size}")
    num = coeffs.shape[0]
    chunk_size = min(int(chunk_size), num)
    num_chunks = -(-num // chunk_size)
    # Pad to whole chunks (repeating the last point) so every chunk has one shape.
    pad = num_chunks * chunk_size - num
    if pad:
        coeffs = jnp.concatenate([coeffs, jnp.repeat(coeffs[-1:], pad, axis=0)])
    chunks = coeffs.reshape(num_chunks, chunk_size, coeffs.shape[1])
    args = tuple(args)
    out = [
        _evaluate_chunk(f, x0, directions, chunks[i], args, vectorize)
        for i in _progress_range(num_chunks, progress, "grid chunks")
    ]
    return jnp.concatenate(out)[:num]


def _progress_range(num, progress, desc):
    if not progress:
        return range(num)
    from tqdm.auto import trange

    return trange(num, desc=desc, leave=False)


def _as_vector(name, d, n, dtype):
    d = jnp.asarray(d, dtype)
    if d.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), got {d.shape}")
    return d


def slice_1d(f: Callable, x0: Array, direction: Array, alphas: Array, *args,
             chunk_size: int | None = None, memory_bytes: int = DEFAULT_MEMORY_BYTES,
             vectorize: bool | None = None, progress: bool = False) -> Slice1D:
    """The loss along ``x0 + alpha * direction`` for each of ``alphas`` (m,)
    (evaluated by :func:`evaluate_subspace`)."""
    x0 = jnp.asarray(x0)
    d = _as_vector("direction", direction, x0.size, x0.dtype)
    alphas = jnp.asarray(alphas, x0.dtype)
    if alphas.ndim != 1:
        raise ValueError(f"alphas: expected shape (m,), got {alphas.shape}")
    losses = evaluate_subspace(f, x0, d[None, :], alphas[:, None], *args,
                               chunk_size=chunk_size, memory_bytes=memory_bytes,
                               vectorize=vectorize, progress=progress)
    return Slice1D(alphas, losses)


def slice_2d(f: Callable, x0: Array, d1: Array, d2: Array, alphas: Array, betas: Array, *args,
             chunk_size: int | None = None, memory_bytes: int = DEFAULT_MEMORY_BYTES,
             vectorize: bool | None = None, progress: bool = False) -> Surface2D:
    """The loss on the grid ``x0 + alphas[i] d1 + betas[j] d2`` (Li et al. 2018).

    The ``a * b`` grid points are evaluated in chunks of ``chunk_size`` points,
    vmapped on accelerators (by default as many as fit in ``memory_bytes``, see
    :func:`chunk_size_for`), with one compile (:func:`evaluate_subspace`).

    Returns
    -------
    Surface2D
        ``losses[i, j]`` at ``(alphas[i], betas[j])``.
    """
    x0 = jnp.asarray(x0)
    d1 = _as_vector("d1", d1, x0.size, x0.dtype)
    d2 = _as_vector("d2", d2, x0.size, x0.dtype)
    alphas = jnp.asarray(alphas, x0.dtype)
    betas = jnp.asarray(betas, x0.dtype)
    if alphas.ndim != 1 or betas.ndim != 1:
        raise ValueError(f"alphas/betas: expected 1-D arrays, got {alphas.shape}, {betas.shape}")
    ga, gb = jnp.meshgrid(alphas, betas, indexing="ij")
    coeffs = jnp.stack([ga.ravel(), gb.ravel()], axis=1)
    vectorize = default_vectorize() if vectorize is None else bool(vectorize)
    if chunk_size is None:
        chunk_size = chunk_size_for(f, x0, *args, memory_bytes=memory_bytes,
                                    max_chunk=coeffs.shape[0], vectorize=vectorize)
    chunk_size = min(int(chunk_size), coeffs.shape[0])
    losses = evaluate_subspace(f, x0, jnp.stack([d1, d2]), coeffs, *args,
                               chunk_size=chunk_size, vectorize=vectorize, progress=progress)
    return Surface2D(alphas, betas, losses.reshape(alphas.size, betas.size), chunk_size)


# ---------------------------------------------------------------------------
# Paths between two parameter sets
# ---------------------------------------------------------------------------


def barrier(ts: Array, losses: Array) -> tuple[Array, Array]:
    """``(barrier, argmax)``: ``max_t [loss(t) - ((1 - t) loss(0) + t loss(1))]`` over a
    path sampled at ``ts`` (with ``ts[0] = 0``, ``ts[-1] = 1``), and where it is attained.
    Jit- and vmap-compatible.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> b, i = barrier(jnp.linspace(0.0, 1.0, 5), jnp.array([1.0, 2.0, 4.0, 2.0, 0.0]))
    >>> float(b), int(i)
    (3.5, 2)
    """
    ts = jnp.asarray(ts)
    losses = jnp.asarray(losses)
    if ts.ndim != 1 or losses.shape != ts.shape:
        raise ValueError(f"losses: expected the shape of ts {ts.shape}, got {losses.shape}")
    chord = (1 - ts) * losses[0] + ts * losses[-1]
    gap = losses - chord
    i = jnp.argmax(gap)
    return gap[i], i


def _path_ts(num_points, dtype):
    if num_points < 2:
        raise ValueError(f"num_points: need at least 2 (the endpoints), got {num_points}")
    return jnp.linspace(0.0, 1.0, num_points, dtype=dtype)


def _check_pair(x_a, x_b):
    x_a = jnp.asarray(x_a)
    if x_a.ndim != 1:
        raise ValueError(f"x_a: expected a flat vector (n,), got shape {x_a.shape}")
    return x_a, _as_vector("x_b", x_b, x_a.size, x_a.dtype)


def interpolate(f: Callable, x_a: Array, x_b: Array, *args, num_points: int = 25,
                chunk_size: int | None = None, memory_bytes: int = DEFAULT_MEMORY_BYTES,
                vectorize: bool | None = None, progress: bool = False) -> Interpolation:
    """The loss along the straight line ``(1 - t) x_a + t x_b``, ``t`` in [0, 1], and
    its barrier (Goodfellow et al. 2015; Entezari et al. 2022).

    ``x_a`` may be an initialisation and ``x_b`` the solution trained from it, or
    two solutions (linear mode connectivity).
    """
    x_a, x_b = _check_pair(x_a, x_b)
    ts = _path_ts(num_points, x_a.dtype)
    losses = evaluate_subspace(f, x_a, (x_b - x_a)[None, :], ts[:, None], *args,
                               chunk_size=chunk_size, memory_bytes=memory_bytes,
                               vectorize=vectorize, progress=progress)
    b, i = barrier(ts, losses)
    return Interpolation(ts, losses, b, i)


def bezier_points(ts: Array, x_a: Array, control: Array, x_b: Array) -> Array:
    """Points of the quadratic Bezier curve ``(1-t)^2 x_a + 2t(1-t) control + t^2 x_b``,
    ``(m, n)`` for ``ts`` (m,)."""
    ts = jnp.asarray(ts)[:, None]
    return (jnp.square(1 - ts) * x_a[None, :] + 2 * ts * (1 - ts) * control[None, :]
            + jnp.square(ts) * x_b[None, :])


@functools.partial(jax.jit, static_argnames=("f", "num_ts", "optimizer"))
def _train_segment(f, x_a, x_b, carry, keys, steps, num_steps, args, *, num_ts, optimizer):
    """A ``lax.scan`` over one segment of training steps; steps at or beyond
    ``num_steps`` leave the state unchanged (so every segment has one shape)."""

    def mean_loss(theta, ts):
        pts = bezier_points(ts, x_a, theta, x_b)
        return jnp.mean(jax.vmap(lambda x: f(x, *args))(pts))

    def step(carry, inputs):
        theta, state = carry
        k, i = inputs
        # Stratified uniform t in (0, 1): one draw in each of num_ts equal bins.
        u = jax.random.uniform(k, (num_ts,), x_a.dtype)
        ts = (jnp.arange(num_ts, dtype=x_a.dtype) + u) / num_ts
        value, grad = jax.value_and_grad(mean_loss)(theta, ts)
        # optax mixes Python floats and int32 step counts (Adam's bias correction),
        # which strict dtype promotion rejects; standard promotion is what it expects.
        with jax.numpy_dtype_promotion("standard"):
            updates, new_state = optimizer.update(grad, state, theta)
        active = i < num_steps
        theta = jnp.where(active, theta + updates, theta)
        state = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new_state, state)
        return (theta, state), value

    return jax.lax.scan(step, carry, (keys, steps))


def bezier_curve(f: Callable, x_a: Array, x_b: Array, *args, key: Array, num_steps: int = 500,
                 learning_rate: float = 1e-2, num_ts: int = 4, init: Array | None = None,
                 optimizer=None, num_points: int = 41, chunk_size: int | None = None,
                 num_segments: int = 20, vectorize: bool | None = None,
                 progress: bool = False) -> BezierCurve:
    """Connect two solutions by a quadratic Bezier curve of low loss (Garipov et al. 2018).

    The control point ``theta`` of ``phi(t) = (1-t)^2 x_a + 2t(1-t) theta + t^2 x_b``
    minimises ``E_{t ~ U[0, 1]} f(phi(t), *args)``: each step draws ``num_ts``
    stratified values of ``t`` and takes an optimizer step on the mean loss. The
    steps run as ``lax.scan`` over ``num_segments`` equal segments (one compile;
    the progress bar advances per segment). The curve and the straight line are
    then evaluated at ``num_points`` values of ``t`` and their barriers compared.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` on flat vectors, e.g. from ``curvature.flat_loss``.
    x_a, x_b : (n,)
        The two endpoints (solutions); they stay fixed.
    key : PRNG key
        Draws the values of ``t``.
    num_steps, learning_rate : int, float
        Training of the control point (Adam by default).
    num_ts : int
        Values of ``t`` per step.
    init : (n,), optional
        Starting control point; the midpoint ``(x_a + x_b) / 2`` (the straight
        line), as Garipov et al. do, by default. On a loss exactly symmetric
        about the line the gradient has no component off the line there; pass a
        perturbed start in that case.
    optimizer : optax.GradientTransformation, optional
        Replaces ``optax.adam(learning_rate)``.
    num_points : int
        Values of ``t`` at which the trained curve and the line are evaluated.
    chunk_size, vectorize : optional
        How the evaluated points are batched (:func:`evaluate_subspace`).
    progress : bool
        Show a tqdm bar over training segments.

    Returns
    -------
    BezierCurve
        ``curve.barrier`` against ``line.barrier``.
    """
    import optax

    x_a, x_b = _check_pair(x_a, x_b)
    if num_steps < 1:
        raise ValueError(f"num_steps: must be positive, got {num_steps}")
    if num_ts < 1:
        raise ValueError(f"num_ts: must be positive, got {num_ts}")
    if num_segments < 1:
        raise ValueError(f"num_segments: must be positive, got {num_segments}")
    if optimizer is None:
        if not learning_rate > 0:
            raise ValueError(f"learning_rate: must be positive, got {learning_rate}")
        optimizer = optax.adam(learning_rate)
    control = (0.5 * (x_a + x_b) if init is None
               else _as_vector("init", init, x_a.size, x_a.dtype))
    num_segments = min(num_segments, num_steps)
    length = -(-num_steps // num_segments)
    keys = jax.random.split(key, num_segments * length).reshape(num_segments, length)
    steps = jnp.arange(num_segments * length).reshape(num_segments, length)
    carry = (control, optimizer.init(control))
    args = tuple(args)
    values = []
    for s in _progress_range(num_segments, progress, "bezier control point"):
        carry, v = _train_segment(f, x_a, x_b, carry, keys[s], steps[s], num_steps, args,
                                  num_ts=int(num_ts), optimizer=optimizer)
        values.append(v)
    control = carry[0]
    train_losses = jnp.concatenate(values)[:num_steps]
    ts = _path_ts(num_points, x_a.dtype)
    # Points of the curve are combinations of the rows of (x_a, control, x_b).
    basis = jnp.stack([x_a, control, x_b])
    coeffs = jnp.stack([jnp.square(1 - ts), 2 * ts * (1 - ts), jnp.square(ts)], axis=1)
    curve_losses = evaluate_subspace(f, jnp.zeros_like(x_a), basis, coeffs, *args,
                                     chunk_size=chunk_size, vectorize=vectorize)
    cb, ci = barrier(ts, curve_losses)
    line = interpolate(f, x_a, x_b, *args, num_points=num_points, chunk_size=chunk_size,
                       vectorize=vectorize)
    return BezierCurve(control, Interpolation(ts, curve_losses, cb, ci), line, train_losses)
