"""The one Hessian-vector product, the one chunked batch mean, and the flat operators.

``hvp(loss, params, batch, v)`` is forward-over-reverse (the JVP of the gradient) on
pytrees: a small constant times one gradient. Every curvature product in the package
is built from it or, for the Gauss-Newton and Fisher matrices, from the network's
Jacobian products written next to it here.

Solvers see a :class:`FlatOperator`: a pure ``matvec(v, *args)`` on flat vectors and
the arrays ``args`` it needs, so our Lanczos, SLQ, trace estimators, ``classify``,
scipy's ``eigsh`` (:meth:`FlatOperator.to_scipy`) and dense ``eigh``
(:meth:`FlatOperator.dense`) see the same thing. Three curvature matrices share it:

* :func:`hessian_operator` ``H`` of the loss;
* :func:`gauss_newton_operator` ``G = J^T H_out J`` (``J`` the Jacobian of the network
  outputs, ``H_out`` the Hessian of the loss in the outputs), positive semi-definite
  for a convex output loss, and :func:`gauss_newton_residual_operator` the rest
  ``R = H - G``, the outputs' curvature weighted by the output gradient (Papyan 2020);
* :func:`fisher_operator` the empirical Fisher ``F = mean_i g_i g_i^T`` of the
  per-example gradients.

Each takes ``batch_size`` to evaluate over data too large for one batch:
:func:`chunked_mean` is the size-weighted mean over chunks, in a fixed order. A loss
must be a mean over its batch for that to be the data set's Hessian, so the
constructors check it on a sample (or take an explicit ``reduction``). The ``matvec``
function objects are cached per loss and parameter structure, so ``jax.jit`` compiles
one operator once and reuses it for new parameter values.

References
----------
Pearlmutter, B. A. (1994). Fast exact multiplication by the Hessian. Neural Comput. 6(1).
Schraudolph, N. N. (2002). Fast curvature matrix-vector products for second-order
gradient descent. Neural Comput. 14(7).
Papyan, V. (2020). Traces of class/cross-class structure pervade deep learning spectra.
JMLR 21.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh

from landscape import _checks, sharding
from landscape._checks import check_memory
from landscape.typing import Array, PyTree

__all__ = [
    "DENSE_MAX_SIZE",
    "REDUCTIONS",
    "FlatOperator",
    "check_dense_size",
    "check_memory",
    "chunked_mean",
    "dataset_hessian_operator",
    "dense_hessian",
    "fisher_operator",
    "flat_loss",
    "gauss_newton_operator",
    "gauss_newton_residual_operator",
    "grad_norm",
    "hessian_operator",
    "hvp",
    "restrict",
    "split_batches",
    "subset_indices",
    "value_and_grad",
]

REDUCTIONS = ("mean", "sum")
DENSE_MAX_SIZE = 6000


def hvp(loss: Callable, params: PyTree, batch, v: PyTree) -> PyTree:
    """Hessian-vector product ``H(params) v`` of ``loss(params, batch)`` on pytrees.

    Forward-over-reverse: the JVP of ``jax.grad``; ``v`` has the structure, shapes and
    dtypes of ``params`` (a mismatch is an error, never a silent cast).

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
        _checks.check_dtype("v", t, jnp.result_type(p))
    return jax.jvp(lambda p: jax.grad(loss)(p, batch), (params,), (v,))[1]


# ------------------------------------------------------------------ batches and chunks


def split_batches(batch, batch_size: int):
    """``batch`` cut into equal chunks stacked on a leading axis, plus the remainder
    (``None`` when ``batch_size`` divides the number of examples)."""
    n = _checks.num_examples(batch)
    _checks.check_int("batch_size", batch_size, minimum=1, maximum=max(n, 1))
    num_full = n // batch_size
    cut = num_full * batch_size
    stacked = jax.tree_util.tree_map(
        lambda a: jnp.reshape(a[:cut], (num_full, batch_size, *a.shape[1:])), batch
    )
    remainder = None if cut == n else jax.tree_util.tree_map(lambda a: jnp.asarray(a[cut:]), batch)
    return stacked, remainder


def chunked_mean(fn: Callable, batch, *, batch_size: int | None, reduction: str = "mean",
                 mesh: Mesh | None = None):
    """``fn`` over ``batch`` evaluated ``batch_size`` examples at a time and combined:
    the size-weighted mean of ``fn(chunk)`` (``reduction="mean"``, right for a function
    that is a mean over its chunk) or their sum (``"sum"``). ``lax.scan`` in a fixed
    order: deterministic, and memory of one chunk. ``batch_size=None`` is ``fn(batch)``.

    With a ``mesh`` (:func:`landscape.sharding.mesh`) the whole chunks are split over its
    devices, each scanning its own; their count is padded to a multiple of the devices
    with chunks of weight zero, and the last, smaller chunk (the examples left over) is
    evaluated apart, as on one device: every example counts once.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> float(chunked_mean(jnp.mean, jnp.arange(10.0), batch_size=3))
    4.5
    """
    _checks.check_choice("reduction", reduction, REDUCTIONS)
    if batch_size is None:
        return fn(batch)
    stacked, remainder = split_batches(batch, batch_size)
    num_full = jax.tree_util.tree_leaves(stacked)[0].shape[0]
    weights = None
    if mesh is not None:
        stacked, weights = sharding.pad(stacked, sharding.num_devices(mesh))
    total = sharding.sum_rows(fn, stacked, weights=weights, mesh=mesh)
    add = lambda t, o: jax.tree_util.tree_map(jnp.add, t, o)
    if reduction == "sum":
        return total if remainder is None else add(total, fn(remainder))
    count = num_full * batch_size
    total = jax.tree_util.tree_map(lambda t: t * batch_size, total)
    if remainder is not None:
        r = _checks.num_examples(remainder)
        total = add(total, jax.tree_util.tree_map(lambda o: r * o, fn(remainder)))
        count += r
    return jax.tree_util.tree_map(lambda t: t / count, total)


def _check_mean(loss: Callable, params: PyTree, batch, batch_size: int) -> None:
    """The weighted mean of chunk losses must equal the loss of the whole sample (two
    chunks, or one and the remainder); a sum loss fails by a factor of two or more."""
    n = _checks.num_examples(batch)
    size = min(n, 2 * batch_size)
    if size <= batch_size or _checks.is_traced(params, batch):
        return  # one chunk is the plain operator; traced values cannot be compared here
    sample = jax.tree_util.tree_map(lambda a: jnp.asarray(a[:size]), batch)
    whole = float(loss(params, sample))
    pieces = float(chunked_mean(lambda c: loss(params, c), sample, batch_size=batch_size))
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
    tol = 1e3 * float(jnp.finfo(dtype).eps) * (abs(whole) + abs(pieces))
    if not abs(whole - pieces) <= tol:
        raise ValueError(
            f"loss: is not a mean over its batch: on the first {size} examples it is "
            f"{whole:.6g}, while the size-weighted mean over chunks of {batch_size} is "
            f"{pieces:.6g}; a chunked operator would then not be the data set's Hessian. "
            f"Return the mean over examples, or pass reduction='sum' for a sum loss"
        )


# ------------------------------------------------------------------ flat coordinates


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


@functools.lru_cache(maxsize=256)
def _flat_loss_for(loss, spec):
    unravel = _unravel_for(spec)
    return lambda x, batch: loss(unravel(x), batch)


def flat_loss(loss: Callable, params: PyTree) -> tuple[Callable, Array, Callable]:
    """``(f, x0, unravel)`` with ``f(x, batch) = loss(unravel(x), batch)`` and ``x0`` the
    flat parameters. ``f`` is the same object for the same loss and parameter structure."""
    spec = _spec(params)
    return _flat_loss_for(loss, spec), ravel_pytree(params)[0], _unravel_for(spec)


def value_and_grad(loss: Callable, params: PyTree, batch, *, batch_size: int | None = None,
                   reduction: str = "mean", devices: Sequence[jax.Device] | None = None):
    """``(loss, flat gradient)`` over ``batch``, ``batch_size`` examples at a time when
    given, split over ``devices`` (default every device; :func:`chunked_mean`)."""
    f, x, _ = flat_loss(loss, params)
    return chunked_mean(lambda c: jax.value_and_grad(f)(x, c), batch, batch_size=batch_size,
                        reduction=reduction, mesh=sharding.mesh(devices))


def grad_norm(loss: Callable, params: PyTree, batch) -> Array:
    """Euclidean norm of the gradient of ``loss(params, batch)`` over all parameters."""
    return jnp.linalg.norm(value_and_grad(loss, params, batch)[1])


# ------------------------------------------------------------------ the operators


class FlatOperator(NamedTuple):
    """A symmetric linear operator on flat vectors.

    Attributes
    ----------
    matvec : callable
        ``matvec(v, *args) -> H v`` with ``v`` of shape (size,) and dtype ``dtype``;
        pure, jit- and vmap-able (pass it as a static argument).
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

    def dense(self, *, max_size: int | None = None) -> Array:
        """The operator as an (n, n) matrix, built column by column (small n only: at
        most ``max_size``, default :data:`DENSE_MAX_SIZE`)."""
        check_dense_size(self.size, max_size=max_size or DENSE_MAX_SIZE)
        eye = jnp.eye(self.size, dtype=self.dtype)
        return jax.lax.map(lambda e: self.matvec(e, *self.args), eye).T


def _typed(matvec):
    """``matvec`` that refuses a vector whose dtype differs from the parameters'."""

    def typed(v, x, *rest):
        _checks.check_dtype("v", v, x.dtype)
        return matvec(v, x, *rest)

    return typed


@functools.lru_cache(maxsize=256)
def _hessian_for(loss, spec):
    f = _flat_loss_for(loss, spec)
    return _typed(lambda v, x, batch: hvp(f, x, batch, v))


@functools.lru_cache(maxsize=256)
def _chunked_for(one, batch_size, reduction, mesh):
    def matvec(v, x, batch):
        fn = lambda chunk: one(v, x, chunk)
        return chunked_mean(fn, batch, batch_size=batch_size, reduction=reduction, mesh=mesh)

    return matvec


def _prepare(loss, params, batch, batch_size, reduction, *, mean_check=True):
    """Checks shared by every constructor; the flat point and its structure."""
    _checks.check_floating_params(params)
    n = _checks.check_nonempty(batch)
    if loss is not None:
        _checks.check_scalar_loss(loss, params, batch)
    if reduction is not None:
        _checks.check_choice("reduction", reduction, REDUCTIONS)
    if batch_size is not None:
        _checks.check_int("batch_size", batch_size, minimum=1, maximum=n)
        if reduction is None and mean_check and loss is not None:
            _check_mean(loss, params, batch, batch_size)
    x0 = ravel_pytree(params)[0]
    return _spec(params), x0


def _operator(one, spec, x0, batch, batch_size, reduction, devices) -> FlatOperator:
    if batch_size is None:
        matvec = one
    else:
        matvec = _chunked_for(one, batch_size, reduction or "mean", sharding.mesh(devices))
    return FlatOperator(matvec, (x0, batch), int(x0.size), x0.dtype, _unravel_for(spec))


def hessian_operator(loss: Callable, params: PyTree, batch, *, batch_size: int | None = None,
                     reduction: str | None = None,
                     devices: Sequence[jax.Device] | None = None) -> FlatOperator:
    """The Hessian of ``loss(params, batch)`` as a :class:`FlatOperator`.

    Parameters
    ----------
    loss : callable
        ``loss(params, batch) -> scalar``, the mean over the examples of ``batch``.
    params : pytree of floating-point arrays
    batch : pytree of arrays with a leading example axis (or ``None``)
    batch_size : int, optional
        Evaluate ``batch_size`` examples at a time (:func:`chunked_mean`): the
        Hessian of the whole data set when it does not fit in memory at once.
    reduction : {"mean", "sum"}, optional
        How chunks combine. By default the loss is *checked* to be a mean (the
        weighted mean of two chunks' losses equals the loss of both, else
        ``ValueError``); ``"sum"`` adds the chunk Hessians for a sum loss.
    devices : sequence of jax.Device, optional
        With ``batch_size``, split the chunks over these (default ``jax.devices()``;
        :func:`chunked_mean`); at most ``n / len(devices)`` gives each device work.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> loss = lambda p, b: 0.5 * jnp.sum(b * p["w"] ** 2)
    >>> op = hessian_operator(loss, {"w": jnp.ones(3)}, jnp.array([1.0, 2.0, 3.0]))
    >>> op(jnp.ones(3))
    Array([1., 2., 3.], dtype=float32)
    """
    spec, x0 = _prepare(loss, params, batch, batch_size, reduction)
    return _operator(_hessian_for(loss, spec), spec, x0, batch, batch_size, reduction, devices)


def dataset_hessian_operator(loss: Callable, params: PyTree, batch, *, batch_size: int,
                             reduction: str | None = None,
                             devices: Sequence[jax.Device] | None = None) -> FlatOperator:
    """:func:`hessian_operator` over ``batch`` evaluated ``batch_size`` examples at a time:
    ``H v = sum_i n_i H_i v / N``, exact for a mean loss (checked, see there), the
    chunks split over ``devices`` (default every device)."""
    return hessian_operator(loss, params, batch, batch_size=batch_size, reduction=reduction,
                            devices=devices)


def _xy(batch):
    try:
        x, y = batch
    except (TypeError, ValueError):
        raise ValueError(
            "batch: the Gauss-Newton operator needs a pair (inputs, targets), e.g. a Batch"
        ) from None
    return x, y


@functools.lru_cache(maxsize=256)
def _gauss_newton_for(outputs, output_loss, spec):
    unravel = _unravel_for(spec)

    def matvec(v, x, batch):
        inputs, targets = _xy(batch)
        net = lambda p: outputs(unravel(p), inputs)
        z, jv = jax.jvp(net, (x,), (v,))
        hjv = hvp(output_loss, z, targets, jv)
        return jax.vjp(net, x)[1](hjv)[0]

    return _typed(matvec)


@functools.lru_cache(maxsize=256)
def _residual_for(outputs, output_loss, spec):
    unravel = _unravel_for(spec)

    def surrogate(y, point_and_batch):
        x, (inputs, targets) = point_and_batch
        net = lambda p: outputs(unravel(p), inputs)
        weight = jax.grad(output_loss)(net(x), targets)  # fixed at the point
        return jnp.vdot(weight, net(y))

    return _typed(lambda v, x, batch: hvp(surrogate, x, (x, _xy(batch)), v))


def _output_checks(outputs, output_loss, params, batch):
    inputs, targets = _xy(batch)
    try:
        z = jax.eval_shape(outputs, params, inputs)
    except Exception as err:
        raise ValueError(f"outputs: calling outputs(params, inputs) failed: {err}") from err
    _checks.check_scalar_loss(output_loss, z, targets, field="output_loss")


def gauss_newton_operator(outputs: Callable, output_loss: Callable, params: PyTree, batch, *,
                          batch_size: int | None = None, reduction: str | None = None,
                          devices: Sequence[jax.Device] | None = None) -> FlatOperator:
    """The generalised Gauss-Newton matrix ``G = J^T H_out J`` as a :class:`FlatOperator`.

    ``J`` is the Jacobian of ``outputs(params, inputs)`` in the parameters and ``H_out``
    the Hessian of ``output_loss(outputs, targets)`` in the outputs (``batch`` is the
    pair ``(inputs, targets)``, e.g. a :class:`~landscape.data.Batch`). These are
    :meth:`landscape.problem.Problem.outputs_fn` and the losses of
    :mod:`landscape.objectives`. ``G`` is positive semi-definite when the output loss
    is convex (cross-entropy, mse), and ``H = G + R`` with ``R``
    :func:`gauss_newton_residual_operator`. Cost: one JVP, one output HVP, one VJP.
    ``batch_size``, ``reduction`` and ``devices`` are as in :func:`hessian_operator`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from landscape import objectives
    >>> outputs = lambda w, x: x @ w
    >>> batch = (jnp.array([[1.0, 0.0], [0.0, 2.0]]), jnp.zeros((2, 1)))
    >>> op = gauss_newton_operator(outputs, objectives.mse, jnp.ones((2, 1)), batch)
    >>> op(jnp.array([1.0, 1.0]))  # X^T X / 2 for mse on a linear model
    Array([0.5, 2. ], dtype=float32)
    """
    spec, x0 = _prepare(None, params, batch, batch_size, reduction)
    _output_checks(outputs, output_loss, params, batch)
    if batch_size is not None and reduction is None:
        loss = lambda p, b: output_loss(outputs(p, b[0]), b[1])
        _check_mean(loss, params, batch, batch_size)
    one = _gauss_newton_for(outputs, output_loss, spec)
    return _operator(one, spec, x0, batch, batch_size, reduction, devices)


def gauss_newton_residual_operator(outputs: Callable, output_loss: Callable, params: PyTree,
                                   batch, *, batch_size: int | None = None,
                                   reduction: str | None = None,
                                   devices: Sequence[jax.Device] | None = None
                                   ) -> FlatOperator:
    """``R = H - G = sum_k (dL/dz_k) d^2 z_k / dtheta^2``: the curvature of the outputs
    weighted by the output gradient, computed on its own (the HVP of
    ``theta -> <dL/dz(theta0), z(theta)>`` at ``theta0``), so that ``G + R = H`` is a
    check, not a definition. Arguments as in :func:`gauss_newton_operator`."""
    spec, x0 = _prepare(None, params, batch, batch_size, reduction)
    _output_checks(outputs, output_loss, params, batch)
    one = _residual_for(outputs, output_loss, spec)
    return _operator(one, spec, x0, batch, batch_size, reduction, devices)


def _one_example(example):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[None], example)


@functools.lru_cache(maxsize=256)
def _fisher_for(loss, spec):
    f = _flat_loss_for(loss, spec)

    def matvec(v, x, batch):
        losses = lambda y: jax.vmap(lambda ex: f(y, _one_example(ex)))(batch)
        u = jax.jvp(losses, (x,), (v,))[1]  # g_i . v for every example
        return jax.vjp(losses, x)[1](u)[0] / u.shape[0]

    return _typed(matvec)


def fisher_operator(loss: Callable, params: PyTree, batch, *, batch_size: int | None = None,
                    devices: Sequence[jax.Device] | None = None) -> FlatOperator:
    """The empirical Fisher matrix ``F = mean_i g_i g_i^T`` of per-example gradients
    ``g_i`` (the gradient of ``loss`` on the batch made of example ``i`` alone).

    Positive semi-definite, of rank at most the number of examples; ``F v`` costs one
    per-example JVP and one VJP. Not the Hessian, nor the true Fisher (Kunstner,
    Hennig & Balles 2019): compare its spectrum with :func:`hessian_operator`'s.
    ``batch_size`` and ``devices`` are as in :func:`hessian_operator`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> loss = lambda w, b: jnp.mean(b @ w)
    >>> op = fisher_operator(loss, jnp.zeros(2), jnp.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> op(jnp.array([1.0, 1.0]))  # mean of x x^T
    Array([0.5, 2. ], dtype=float32)
    """
    spec, x0 = _prepare(loss, params, batch, batch_size, "mean")
    if batch_size is not None:
        _check_mean(loss, params, batch, batch_size)
    return _operator(_fisher_for(loss, spec), spec, x0, batch, batch_size, "mean", devices)


# ------------------------------------------------------------------ dense, subsets


def check_dense_size(size: int, *, max_size: int = DENSE_MAX_SIZE) -> None:
    """A ``ValueError`` when a dense ``size x size`` matrix exceeds ``max_size``."""
    if size > max_size:
        gib = size * size * 8 / 2**30
        raise ValueError(
            f"params: a dense Hessian of {size} parameters needs {size}x{size} entries "
            f"({gib:.1f} GiB in float64), above max_size={max_size}; use Lanczos "
            f"(landscape.lanczos) instead, or raise max_size if you have the memory"
        )


def dense_hessian(loss: Callable, params: PyTree, batch, *,
                  max_size: int = DENSE_MAX_SIZE) -> Array:
    """The (n, n) Hessian of ``loss`` in flat coordinates from ``n`` HVPs (small n only).

    Raises ``ValueError`` if ``n`` exceeds ``max_size``.
    """
    return hessian_operator(loss, params, batch).dense(max_size=max_size)


def subset_indices(params: PyTree, select) -> np.ndarray:
    """Flat indices (in ``ravel_pytree`` order) of the parameters ``select`` picks.

    ``select`` is either a pytree of bools with the structure of ``params`` (one per
    leaf) or a function ``select(path, leaf) -> bool`` of the leaf's key path as a
    string (``jax.tree_util.keystr``, e.g. ``"[1]['w']"``) and the leaf.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> params = [{"w": jnp.ones((2, 3)), "b": jnp.zeros(3)},
    ...           {"w": jnp.ones((3, 1)), "b": jnp.zeros(1)}]
    >>> subset_indices(params, lambda path, leaf: path == "[1]['w']").tolist()  # "b" sorts first
    [10, 11, 12]
    """
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(params)
    if callable(select):
        flags = [bool(select(jax.tree_util.keystr(path), leaf)) for path, leaf in leaves_with_path]
    else:
        sel_leaves, sel_def = jax.tree_util.tree_flatten(select)
        if sel_def != treedef:
            raise ValueError(f"select: structure {sel_def} does not match params {treedef}")
        flags = [bool(f) for f in sel_leaves]
    out, offset = [], 0
    for (_, leaf), flag in zip(leaves_with_path, flags, strict=True):
        size = int(np.size(leaf))
        if flag:
            out.append(np.arange(offset, offset + size))
        offset += size
    if not out:
        raise ValueError("select: no parameter was selected")
    return np.concatenate(out)


@functools.lru_cache(maxsize=256)
def _restricted_matvec(matvec, size):
    def sub(v, indices, *args):
        full = jnp.zeros((size,), v.dtype).at[indices].set(v)
        return jnp.asarray(matvec(full, *args))[indices]

    return sub


def restrict(op: FlatOperator, indices) -> FlatOperator:
    """The operator restricted to a subset of the coordinates: ``H[S, S]``.

    ``indices`` are flat positions (e.g. from :func:`subset_indices`); the result is a
    :class:`FlatOperator` of size ``len(indices)`` whose ``unravel`` puts a subset
    vector back into a full pytree (zeros elsewhere). Its eigenvalues are the
    curvature of the loss in those parameters alone (one layer: per-layer curvature),
    the others held fixed.
    """
    indices = np.asarray(indices)
    if indices.ndim != 1 or indices.size == 0 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"indices: expected a non-empty 1-d integer array, got {indices!r}")
    if indices.min() < 0 or indices.max() >= op.size or np.unique(indices).size != indices.size:
        raise ValueError(f"indices: must be distinct positions in [0, {op.size})")
    size = op.size
    idx = jnp.asarray(indices)

    def unravel(v):
        return op.unravel(jnp.zeros((size,), v.dtype).at[idx].set(v))

    return FlatOperator(
        matvec=_restricted_matvec(op.matvec, size),
        args=(idx, *op.args),
        size=int(indices.size),
        dtype=op.dtype,
        unravel=unravel,
    )
