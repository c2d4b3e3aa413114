"""Loss surfaces: the loss on the points of a low-dimensional subspace, 1-D and 2-D slices.

Everything works on flat parameter vectors: ``f, x0, unravel =
curvature.flat_loss(loss, params)`` gives ``f(x, *args)`` on vectors of ``n``
entries, and :func:`evaluate_subspace` evaluates ``f`` at points
``x0 + sum_k c_k d_k`` of a low-dimensional subspace: in chunks of points of one
shape (one compile however many chunks), vmapped on accelerators with a chunk size
that :func:`chunk_size_for` derives from a memory budget, one after another in a
compiled ``lax.map`` on CPU. With several devices the points of a chunk are split over
them (:mod:`landscape.sharding`; ``devices``, default ``jax.devices()``), each device
evaluating ``chunk_size`` points per call; with one device nothing changes.
:func:`slice_1d` and :func:`slice_2d` are the line and the grid (Li et al. 2018).

Directions live in :mod:`landscape.directions` (random and filter-normalised, Hessian,
PCA of a path, the plane through three points) and paths in :mod:`landscape.paths`
(interpolation, barriers, Bezier curves); their names stay importable from here.

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
Li, H., Xu, Z., Taylor, G., Studer, C. and Goldstein, T. (2018). Visualizing the
loss landscape of neural nets. NeurIPS.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from landscape import sharding

Array = jax.Array

_MOVED = {  # names that live in landscape.directions and landscape.paths
    **dict.fromkeys(("HessianDirections", "PCADirections", "Plane", "filter_normalize",
                     "hessian_directions", "plane_through", "random_directions",
                     "trajectory_pca"), "directions"),
    **dict.fromkeys(("BezierCurve", "Interpolation", "barrier", "bezier_curve",
                     "bezier_points", "interpolate"), "paths"),
}

__all__ = sorted([
    "SEQUENTIAL_CHUNK",
    "Slice1D",
    "Surface2D",
    "chunk_size_for",
    "default_vectorize",
    "evaluate_subspace",
    "slice_1d",
    "slice_2d",
    *_MOVED,
])

DEFAULT_MEMORY_BYTES = 2**30  # 1 GiB per chunk of grid points, unless told otherwise


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
    chunk_size : int  grid points evaluated per compiled call (and device)
    """

    alphas: Array
    betas: Array
    losses: Array
    chunk_size: int


@functools.partial(jax.jit, static_argnames=("f", "vectorize", "mesh"))
def _evaluate_chunk(f, x0, directions, coeffs, args, vectorize=True, mesh=None):
    one = lambda c: f(x0 + c @ directions, *args)
    block = jax.vmap(one) if vectorize else functools.partial(jax.lax.map, one)
    return sharding.map_rows(block, coeffs, mesh=mesh)


def _per_device(chunk_size: int, num: int, mesh) -> int:
    """Points per device and call: ``chunk_size``, or fewer when ``num`` points do not
    fill one call on every device."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size: must be positive, got {chunk_size}")
    return min(int(chunk_size), -(-num // sharding.num_devices(mesh)))


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
                      progress: bool = False,
                      devices: Sequence[jax.Device] | None = None) -> Array:
    """``f(x0 + coeffs[i] @ directions, *args)`` for every row of ``coeffs``, ``(m,)``.

    The points are evaluated ``chunk_size`` at a time, vmapped, in a loop over
    chunks of one shape (the last is padded), so memory is ``chunk_size``
    points' worth whatever ``m`` is and there is one compile per ``f``,
    argument shapes and ``chunk_size``, however many chunks. Without
    ``vectorize`` the points of a chunk run one after another inside one
    compiled ``lax.map`` instead (memory of one point; no Python per point). With
    several ``devices`` each call splits ``chunk_size`` points per device over them
    (the last call padded to one shape too).

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> scalar`` on flat vectors, e.g. from ``curvature.flat_loss``.
        Pass the same function object each time to reuse the compiled program.
    x0 : (n,)
    directions : (k, n)
    coeffs : (m, k)
    chunk_size : int, optional
        Points per chunk and device; by default :func:`chunk_size_for` with
        ``memory_bytes`` (a budget per device).
    vectorize : bool, optional
        vmap the points of a chunk; :func:`default_vectorize` by default (yes on
        accelerators, no on CPU).
    progress : bool
        Show a tqdm bar over chunks.
    devices : sequence of jax.Device, optional
        Split the points over these (default every device; one device: unchanged).
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
    num = coeffs.shape[0]
    mesh = sharding.mesh(devices)
    per_call = _per_device(chunk_size, num, mesh) * sharding.num_devices(mesh)
    # Pad to whole chunks (repeating the last point) so every chunk has one shape.
    coeffs, _ = sharding.pad(coeffs, per_call)
    chunks = coeffs.reshape(-1, per_call, coeffs.shape[1])
    args = tuple(args)
    out = [
        _evaluate_chunk(f, x0, directions, chunks[i], args, vectorize, mesh)
        for i in _progress_range(chunks.shape[0], progress, "grid chunks")
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
             vectorize: bool | None = None, progress: bool = False,
             devices: Sequence[jax.Device] | None = None) -> Slice1D:
    """The loss along ``x0 + alpha * direction`` for each of ``alphas`` (m,)
    (evaluated by :func:`evaluate_subspace`)."""
    x0 = jnp.asarray(x0)
    d = _as_vector("direction", direction, x0.size, x0.dtype)
    alphas = jnp.asarray(alphas, x0.dtype)
    if alphas.ndim != 1:
        raise ValueError(f"alphas: expected shape (m,), got {alphas.shape}")
    losses = evaluate_subspace(f, x0, d[None, :], alphas[:, None], *args,
                               chunk_size=chunk_size, memory_bytes=memory_bytes,
                               vectorize=vectorize, progress=progress, devices=devices)
    return Slice1D(alphas, losses)


def slice_2d(f: Callable, x0: Array, d1: Array, d2: Array, alphas: Array, betas: Array, *args,
             chunk_size: int | None = None, memory_bytes: int = DEFAULT_MEMORY_BYTES,
             vectorize: bool | None = None, progress: bool = False,
             devices: Sequence[jax.Device] | None = None) -> Surface2D:
    """The loss on the grid ``x0 + alphas[i] d1 + betas[j] d2`` (Li et al. 2018).

    The ``a * b`` grid points are evaluated in chunks of ``chunk_size`` points,
    vmapped on accelerators (by default as many as fit in ``memory_bytes``, see
    :func:`chunk_size_for`), with one compile, split over ``devices`` (default every
    device; :func:`evaluate_subspace`).

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
    chunk_size = _per_device(chunk_size, coeffs.shape[0], sharding.mesh(devices))
    losses = evaluate_subspace(f, x0, jnp.stack([d1, d2]), coeffs, *args,
                               chunk_size=chunk_size, vectorize=vectorize, progress=progress,
                               devices=devices)
    return Surface2D(alphas, betas, losses.reshape(alphas.size, betas.size), chunk_size)


def __getattr__(name):  # the names of landscape.directions and landscape.paths
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"landscape.{_MOVED[name]}"), name)
    raise AttributeError(f"module 'landscape.surfaces' has no attribute {name!r}")
