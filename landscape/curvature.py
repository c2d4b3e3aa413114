"""Exact Hessian-vector products and the flat operators the eigen-solvers share.

``hvp(loss, params, batch, v)`` is forward-over-reverse (``jax.jvp`` of
``jax.grad``) on pytrees: its cost is a small constant times one gradient.

Solvers work on flat vectors. :func:`hessian_operator` returns a
:class:`FlatOperator`: a pure ``matvec(v, *args)`` and the arrays ``args`` it
needs, so the same operator feeds our Lanczos, scipy's ``eigsh``
(:meth:`FlatOperator.to_scipy`) and dense ``eigh`` (:func:`dense_hessian`). The
``matvec`` function object is cached per loss and parameter structure, so
``jax.jit`` compiles it once and reuses it for new parameter values.

For data that does not fit in one batch, :func:`dataset_hessian_operator` is
the exact mean of per-batch Hessians, weighted by batch size, accumulated with
``lax.scan`` in a fixed order (deterministic).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from landscape.data import Batch

PyTree = Any
Array = jax.Array

__all__ = [
    "FlatOperator",
    "check_memory",
    "dataset_hessian_operator",
    "dense_hessian",
    "flat_loss",
    "grad_norm",
    "hessian_operator",
    "hutchinson_trace",
    "hvp",
    "sample_probes",
    "split_batches",
]


def hvp(loss: Callable, params: PyTree, batch: Batch, v: PyTree) -> PyTree:
    """Hessian-vector product ``H(params) v`` of ``loss(params, batch)`` on pytrees.

    Forward-over-reverse: ``jax.jvp`` of ``jax.grad``; ``v`` has the structure of
    ``params``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> loss = lambda p, b: 0.5 * jnp.sum(b * p ** 2)
    >>> hvp(loss, jnp.ones(3), jnp.array([1.0, 2.0, 3.0]), jnp.ones(3))
    Array([1., 2., 3.], dtype=float32)
    """
    p_struct, v_struct = jax.tree_util.tree_structure(params), jax.tree_util.tree_structure(v)
    if p_struct != v_struct:
        raise ValueError(f"v: structure {v_struct} does not match params {p_struct}")
    for p, t in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(v), strict=True):
        if jnp.shape(p) != jnp.shape(t):
            raise ValueError(f"v: leaf of shape {jnp.shape(t)} where params has {jnp.shape(p)}")
    grad_fn = lambda p: jax.grad(loss)(p, batch)
    return jax.jvp(grad_fn, (params,), (v,))[1]


def _spec(params: PyTree):
    leaves, treedef = jax.tree_util.tree_flatten(params)
    return treedef, tuple((tuple(jnp.shape(x)), jnp.result_type(x).name) for x in leaves)


@functools.lru_cache(maxsize=256)
def _unravel_for(spec):
    treedef, shapes = spec
    example = jax.tree_util.tree_unflatten(
        treedef, [np.zeros(shape, dtype) for shape, dtype in shapes]
    )
    return ravel_pytree(example)[1]


def flat_loss(loss: Callable, params: PyTree) -> tuple[Callable, Array, Callable]:
    """``(f, x0, unravel)`` with ``f(x, batch) = loss(unravel(x), batch)`` and ``x0`` the
    flat parameters. ``f`` is the same object for the same loss and parameter structure."""
    spec = _spec(params)
    return _flat_loss_for(loss, spec), ravel_pytree(params)[0], _unravel_for(spec)


@functools.lru_cache(maxsize=256)
def _flat_loss_for(loss, spec):
    unravel = _unravel_for(spec)
    return lambda x, batch: loss(unravel(x), batch)


@functools.lru_cache(maxsize=256)
def _flat_hvp_for(loss, spec):
    f = _flat_loss_for(loss, spec)

    def matvec(v, x, batch):
        return jax.jvp(lambda y: jax.grad(f)(y, batch), (x,), (v.astype(x.dtype),))[1]

    return matvec


@functools.lru_cache(maxsize=256)
def _dataset_hvp_for(loss, spec, with_remainder):
    one = _flat_hvp_for(loss, spec)

    def matvec(v, x, stacked, remainder=None):
        num_full, size = jax.tree_util.tree_leaves(stacked)[0].shape[:2]

        def body(total, batch):
            return total + one(v, x, batch), None

        total, _ = jax.lax.scan(body, jnp.zeros_like(x), stacked)
        total = total * size
        count = num_full * size
        if with_remainder:
            r = jax.tree_util.tree_leaves(remainder)[0].shape[0]
            total = total + r * one(v, x, remainder)
            count = count + r
        return total / count

    return matvec


class FlatOperator(NamedTuple):
    """A symmetric linear operator on flat vectors.

    Attributes
    ----------
    matvec : callable
        ``matvec(v, *args) -> H v`` with ``v`` of shape (size,); pure, jit- and vmap-able.
    args : tuple
        The arrays ``matvec`` needs (flat parameters, data).
    size : int
        Dimension ``n`` of the operator.
    dtype : numpy dtype
    unravel : callable
        Maps a flat vector back to the parameter pytree.
    """

    matvec: Callable[..., Array]
    args: tuple
    size: int
    dtype: Any
    unravel: Callable[[Array], PyTree]

    def __call__(self, v: Array) -> Array:
        return self.matvec(v, *self.args)

    def to_scipy(self):
        """A ``scipy.sparse.linalg.LinearOperator`` over the jitted matvec (float64 numpy
        in and out), for reference solvers such as ``eigsh``. Counts its products in
        the attribute ``num_matvecs``."""
        from scipy.sparse.linalg import LinearOperator

        jitted = jax.jit(self.matvec)
        dtype = np.dtype(self.dtype)

        class _Counted(LinearOperator):
            num_matvecs = 0

            def _matvec(inner, v):
                inner.num_matvecs += 1
                out = jitted(jnp.asarray(np.ravel(v), dtype), *self.args)
                return np.asarray(out, dtype=np.float64)

        return _Counted(dtype=np.float64, shape=(self.size, self.size))

    def dense(self) -> Array:
        """The operator as an (n, n) matrix, built column by column (small n only)."""
        check_dense_size(self.size)
        eye = jnp.eye(self.size, dtype=self.dtype)
        return jax.lax.map(lambda e: self.matvec(e, *self.args), eye).T


def hessian_operator(loss: Callable, params: PyTree, batch: Batch) -> FlatOperator:
    """The Hessian of ``loss(params, batch)`` as a :class:`FlatOperator`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> loss = lambda p, b: 0.5 * jnp.sum(b * p["w"] ** 2)
    >>> op = hessian_operator(loss, {"w": jnp.ones(3)}, jnp.array([1.0, 2.0, 3.0]))
    >>> op(jnp.ones(3))
    Array([1., 2., 3.], dtype=float32)
    """
    spec = _spec(params)
    x0 = ravel_pytree(params)[0]
    return FlatOperator(
        matvec=_flat_hvp_for(loss, spec),
        args=(x0, batch),
        size=int(x0.size),
        dtype=x0.dtype,
        unravel=_unravel_for(spec),
    )


def split_batches(batch: Batch, batch_size: int) -> tuple[Batch, Batch | None]:
    """``batch`` cut into equal chunks stacked on a leading axis, plus the remainder
    (``None`` when ``batch_size`` divides the number of examples)."""
    n = len(jax.tree_util.tree_leaves(batch)[0])
    if not 0 < batch_size <= n:
        raise ValueError(
            f"batch_size: must be in [1, {n}] (the number of examples), got {batch_size}"
        )
    num_full = n // batch_size
    cut = num_full * batch_size
    stacked = jax.tree_util.tree_map(
        lambda a: jnp.reshape(a[:cut], (num_full, batch_size, *a.shape[1:])), batch
    )
    remainder = None if cut == n else jax.tree_util.tree_map(lambda a: jnp.asarray(a[cut:]), batch)
    return stacked, remainder


def dataset_hessian_operator(
    loss: Callable, params: PyTree, batch: Batch, *, batch_size: int
) -> FlatOperator:
    """The Hessian of the mean loss over all of ``batch``, computed ``batch_size``
    examples at a time: ``H v = sum_i n_i H_i v / N``, exact for a mean loss.

    Use it when the whole data set does not fit in memory at once; the result
    equals :func:`hessian_operator` on the full batch up to rounding.
    """
    spec = _spec(params)
    x0 = ravel_pytree(params)[0]
    stacked, remainder = split_batches(batch, batch_size)
    args = (x0, stacked) if remainder is None else (x0, stacked, remainder)
    return FlatOperator(
        matvec=_dataset_hvp_for(loss, spec, remainder is not None),
        args=args,
        size=int(x0.size),
        dtype=x0.dtype,
        unravel=_unravel_for(spec),
    )


DENSE_MAX_SIZE = 6000


def check_dense_size(size: int, *, max_size: int = DENSE_MAX_SIZE) -> None:
    if size > max_size:
        gib = size * size * 8 / 2**30
        raise ValueError(
            f"params: a dense Hessian of {size} parameters needs {size}x{size} entries "
            f"({gib:.1f} GiB in float64), above max_size={max_size}; use Lanczos "
            f"(landscape.lanczos) instead, or raise max_size if you have the memory"
        )


def dense_hessian(
    loss: Callable, params: PyTree, batch: Batch, *, max_size: int = DENSE_MAX_SIZE
) -> Array:
    """The (n, n) Hessian of ``loss`` in flat coordinates, for small models only.

    Raises
    ------
    ValueError
        If ``n`` exceeds ``max_size``.
    """
    f, x0, _ = flat_loss(loss, params)
    check_dense_size(int(x0.size), max_size=max_size)
    return jax.hessian(f)(x0, batch)


def grad_norm(loss: Callable, params: PyTree, batch: Batch) -> Array:
    """Euclidean norm of the gradient of ``loss(params, batch)`` over all parameters."""
    g = jax.grad(loss)(params, batch)
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree_util.tree_leaves(g)))


def check_memory(num_vectors: int, size: int, dtype, *, limit_bytes: int | None = None) -> None:
    """Raise a clear error when ``num_vectors`` vectors of ``size`` entries will not fit.

    The default limit is half of the host's physical memory.
    """
    need = num_vectors * size * np.dtype(dtype).itemsize
    if limit_bytes is None:
        try:
            limit_bytes = os_physical_memory() // 2
        except (OSError, ValueError, AttributeError):
            return
    if need > limit_bytes:
        raise MemoryError(
            f"num_iters: storing {num_vectors} vectors of {size} {np.dtype(dtype).name} entries "
            f"needs {need / 2**30:.2f} GiB, above the limit of {limit_bytes / 2**30:.2f} GiB; "
            f"use fewer iterations or a smaller parameter subset"
        )


def os_physical_memory() -> int:
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def sample_probes(key: Array, *, num_probes: int, size: int, dtype=None, kind: str = "rademacher"):
    """``num_probes`` random vectors of ``size`` with E[z z^T] = I.

    ``kind`` is ``"rademacher"`` (entries +-1, the minimum-variance choice for
    Hutchinson) or ``"normal"``.
    """
    dtype = dtype or jnp.result_type(float)
    if num_probes < 1:
        raise ValueError(f"num_probes: need at least 1, got {num_probes}")
    shape = (num_probes, size)
    if kind == "rademacher":
        return jax.random.rademacher(key, shape, dtype=dtype)
    if kind == "normal":
        return jax.random.normal(key, shape, dtype=dtype)
    raise ValueError(f"kind: unknown probe distribution {kind!r}; choose 'rademacher' or 'normal'")


class TraceEstimate(NamedTuple):
    """Hutchinson trace estimate.

    Attributes
    ----------
    trace : ()   mean of z^T H z over probes
    stderr : ()  standard error of that mean (sample std / sqrt(num_probes))
    samples : (num_probes,)  the individual z^T H z
    """

    trace: Array
    stderr: Array
    samples: Array


def hutchinson_trace(
    matvec: Callable,
    key: Array,
    *args,
    num_probes: int,
    size: int,
    dtype=None,
    kind: str = "rademacher",
) -> TraceEstimate:
    """Hutchinson's estimator of ``tr(H)`` with its standard error (Hutchinson 1989).

    ``tr(H) ~ mean_i z_i^T H z_i`` over ``num_probes`` probes from
    :func:`sample_probes`; unbiased for any symmetric ``H``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> d = jnp.arange(1.0, 6.0)
    >>> est = hutchinson_trace(lambda v: d * v, jax.random.key(0), num_probes=4, size=5)
    >>> float(est.trace)  # exact for a diagonal operator with Rademacher probes
    15.0
    """
    probes = sample_probes(key, num_probes=num_probes, size=size, dtype=dtype, kind=kind)
    samples = jax.lax.map(lambda z: jnp.vdot(z, matvec(z, *args)), probes)
    stderr = jnp.std(samples, ddof=1) / math.sqrt(num_probes) if num_probes > 1 else jnp.inf
    return TraceEstimate(jnp.mean(samples), jnp.asarray(stderr, samples.dtype), samples)
