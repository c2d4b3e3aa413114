"""Per-example gradients and the gradient noise scales.

The gradient noise scale of McCandlish et al. (2018) predicts the batch size
beyond which larger minibatches stop buying fewer steps. With ``G`` the mean
gradient and ``Sigma`` the covariance of per-example gradients:

* ``B_simple = tr(Sigma) / |G|^2`` (:func:`simple_noise_scale` from per-example
  gradients; :func:`two_batch_noise_scale` from gradient norms at two batch
  sizes, their Appendix A.1);
* ``B_noise = tr(H Sigma) / (G^T H G)``, weighted by the Hessian ``H``
  (:func:`hessian_noise_scale`, with exact Hessian-vector products);
* the trade-off ``S = S_min (1 + B_noise / B)``, ``E = E_min (1 + B / B_noise)``
  between the steps ``S`` and examples ``E = S B`` needed to reach a target,
  fitted by :func:`landscape.tradeoff.fit_tradeoff` (also importable from here), with
  ``B_crit = E_min / S_min``.

Which gradient is "the" gradient
--------------------------------
The training set of ``n`` examples can be seen two ways, chosen by
``population``:

``"dataset"`` (default)
    The data set is what one trains on: ``G = G_n`` is the full-batch gradient and
    ``Sigma`` the per-example sample covariance (divisor ``n - 1``). A minibatch
    of ``B`` examples drawn without replacement then has
    ``E|G_B|^2 = |G_n|^2 + tr(Sigma) (1/B - 1/n)`` exactly.
``"distribution"``
    The examples are i.i.d. draws from a distribution whose gradient ``G`` and
    covariance ``Sigma`` are wanted. ``Sigma`` keeps the divisor ``n - 1``
    (unbiased) and the squared norms lose their sampling bias:
    ``|G|^2 ~ |G_n|^2 - tr(Sigma)/n`` and ``G^T H G ~ G_n^T H G_n - tr(H Sigma)/n``
    (``H`` held fixed). This is what McCandlish et al.'s two-batch estimator
    estimates, and what a closed form for the data distribution gives.

The two differ by ``O(B_simple / n)`` relative: little early in training, much
when ``|G_n|`` becomes small.

Memory
------
Per-example gradients are never all held at once: they are computed
``chunk_size`` at a time (a ``vmap`` inside a ``lax.scan`` / ``lax.map``), so
memory is ``chunk_size`` times one gradient (plus, for :func:`hessian_noise_scale`,
``chunk_size`` Hessian-vector products over the Hessian's batch).

Devices
-------
With several devices (``devices``, default ``jax.devices()``) the examples are split
over them (:mod:`landscape.sharding`): the sums over examples run a block per device
and are combined with one ``psum``, per-example gradients and minibatch norms are
mapped a block per device, and the Hessian of :func:`hessian_noise_scale` is the
data set's, its chunks split over the devices
(:func:`landscape.curvature.dataset_hessian_operator`). The chunk shrinks to at most
``n / num_devices`` examples so that every device has work. With one device nothing
changes.

References
----------
McCandlish, Kaplan, Amodei and the OpenAI Dota Team (2018), "An Empirical Model of
Large-Batch Training", arXiv:1812.06162.
Shallue, Lee, Antognini, Sohl-Dickstein, Frostig and Dahl (2019), "Measuring the
Effects of Data Parallelism on Neural Network Training", JMLR 20.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landscape import sharding
from landscape._checks import num_examples as _num_examples
from landscape.curvature import (
    _one_example,
    chunked_mean,
    dataset_hessian_operator,
    flat_loss,
    hessian_operator,
)
from landscape.tradeoff import TradeoffFit, fit_tradeoff, tradeoff_curve

PyTree = Any
Array = jax.Array
Devices = Sequence[jax.Device] | None

__all__ = [
    "HessianNoiseScale",
    "NoiseScale",
    "TradeoffFit",
    "fit_tradeoff",
    "hessian_noise_scale",
    "minibatch_grad_sq_norms",
    "per_example_grads",
    "simple_noise_scale",
    "tradeoff_curve",
    "two_batch_noise_scale",
]

POPULATIONS = ("dataset", "distribution")


class NoiseScale(NamedTuple):
    """The simple gradient noise scale and its parts.

    Attributes
    ----------
    b_simple : ()       tr(Sigma) / |G|^2
    trace_cov : ()      tr(Sigma), trace of the per-example gradient covariance
    grad_sq_norm : ()   |G|^2, squared norm of the mean gradient
    """

    b_simple: Array
    trace_cov: Array
    grad_sq_norm: Array


class HessianNoiseScale(NamedTuple):
    """The Hessian-weighted noise scale, with the simple one computed alongside.

    Attributes
    ----------
    b_noise : ()              tr(H Sigma) / (G^T H G)
    trace_h_cov : ()          tr(H Sigma)
    trace_h_cov_stderr : ()   standard error of tr(H Sigma) from sampling examples
                              (0 when every example is used)
    grad_h_grad : ()          G^T H G
    b_simple : ()             tr(Sigma) / |G|^2
    trace_cov : ()            tr(Sigma)
    grad_sq_norm : ()         |G|^2
    """

    b_noise: Array
    trace_h_cov: Array
    trace_h_cov_stderr: Array
    grad_h_grad: Array
    b_simple: Array
    trace_cov: Array
    grad_sq_norm: Array


# --------------------------------------------------------------------------- validation


def _check_chunk(chunk_size: int, n: int, mesh=None) -> int:
    """``chunk_size`` checked, and cut to ``n / num_devices`` so every device has work."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer):
        raise ValueError(f"chunk_size: must be a positive integer, got {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size: must be a positive integer, got {chunk_size}")
    return int(min(chunk_size, max(1, n // sharding.num_devices(mesh))))


def _check_population(population: str) -> None:
    if population not in POPULATIONS:
        raise ValueError(f"population: choose one of {POPULATIONS}, got {population!r}")


# --------------------------------------------------------------------------- per-example


def _example_grad(f, x, example):
    """Flat gradient of ``f(x, batch)`` on the batch made of one example."""
    return jax.grad(f)(x, _one_example(example))


def _chunked_sum(fn, batch, chunk_size: int, mesh):
    """``sum_i fn(example_i)`` over the leading axis of ``batch``, ``chunk_size`` at a time,
    in a fixed order (deterministic): :func:`landscape.curvature.chunked_mean` with
    ``reduction="sum"`` over chunks, each the sum of a ``vmap``, split over ``mesh``."""
    per_chunk = lambda chunk: jax.tree_util.tree_map(
        lambda o: jnp.sum(o, axis=0), jax.vmap(fn)(chunk))
    return chunked_mean(per_chunk, batch, batch_size=chunk_size, reduction="sum", mesh=mesh)


def _map_examples(fn, rows, chunk_size: int | None, mesh):
    """``fn`` on each row of ``rows`` (a ``lax.map``, ``chunk_size`` rows vmapped at once),
    the rows split over the devices of ``mesh``; the outputs stacked in order."""
    n = _num_examples(rows)
    padded, _ = sharding.pad(rows, sharding.num_devices(mesh))
    size = lambda b: None if chunk_size is None else min(chunk_size, _num_examples(b))
    block = lambda b: jax.lax.map(fn, b, batch_size=size(b))
    out = sharding.map_rows(block, padded, mesh=mesh)
    return jax.tree_util.tree_map(lambda a: a[:n], out)


def per_example_grads(loss: Callable, params: PyTree, batch, *, chunk_size: int = 128,
                      devices: Devices = None) -> PyTree:
    """Gradients of ``loss`` on each example of ``batch`` separately.

    ``loss(params, batch)`` must be a mean over the examples of ``batch`` (as
    :func:`landscape.objectives.make_loss` builds it); each example is fed as a
    batch of one. The result has the structure of ``params`` with a leading axis
    of length ``n``; the gradients are computed ``chunk_size`` at a time
    (``lax.map`` over chunks of a ``vmap``), which bounds the memory of the
    backward passes, but the (n, ...) result itself is stored: for statistics
    over large data sets use :func:`simple_noise_scale`, which never stores it.
    The examples are split over ``devices`` (default every device).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from landscape.data import Batch
    >>> loss = lambda w, b: 0.5 * jnp.mean((b.x @ w - b.y) ** 2)
    >>> batch = Batch(jnp.array([[1.0, 0.0], [0.0, 2.0]]), jnp.array([1.0, 0.0]))
    >>> per_example_grads(loss, jnp.ones(2), batch)
    Array([[0., 0.],
           [0., 4.]], dtype=float32)
    """
    n = _num_examples(batch)
    mesh = sharding.mesh(devices)
    return _per_example_impl(loss, params, batch, chunk_size=_check_chunk(chunk_size, n, mesh),
                             mesh=mesh)


@functools.partial(jax.jit, static_argnames=("loss", "chunk_size", "mesh"))
def _per_example_impl(loss, params, batch, *, chunk_size, mesh):
    grad_one = lambda ex: jax.grad(loss)(params, _one_example(ex))
    return _map_examples(grad_one, batch, chunk_size, mesh)


@functools.partial(jax.jit, static_argnames=("loss", "chunk_size", "population", "mesh"))
def _simple_impl(loss, params, batch, *, chunk_size, population, mesh):
    n = _num_examples(batch)
    f, x0, _ = flat_loss(loss, params)
    mean = _chunked_sum(lambda ex: _example_grad(f, x0, ex), batch, chunk_size, mesh) / n

    def centred_sq(ex):
        d = _example_grad(f, x0, ex) - mean
        return jnp.vdot(d, d)

    # two passes: subtracting the mean first avoids the cancellation of
    # sum|g_i|^2 - n|G|^2 when the noise is small against the gradient
    trace_cov = _chunked_sum(centred_sq, batch, chunk_size, mesh) / (n - 1)
    grad_sq = jnp.vdot(mean, mean)
    if population == "distribution":
        grad_sq = grad_sq - trace_cov / n
    return mean, NoiseScale(trace_cov / grad_sq, trace_cov, grad_sq)


def simple_noise_scale(
    loss: Callable, params: PyTree, batch, *, chunk_size: int = 128, population: str = "dataset",
    devices: Devices = None,
) -> NoiseScale:
    """``B_simple = tr(Sigma) / |G|^2`` from per-example gradients (McCandlish et al. 2018).

    ``G`` is the mean of the per-example gradients over ``batch`` and ``Sigma``
    their sample covariance (divisor ``n - 1``); see the module notes for
    ``population``. Two passes over the data, ``chunk_size`` examples at a
    time; nothing of size ``n x num_params`` is stored. Jit-compiled once per
    ``loss`` and settings; vmaps over ``params``.

    Parameters
    ----------
    loss : callable
        ``loss(params, batch)``, a mean over the examples of ``batch``.
    params : pytree
    batch : pytree of arrays with a common leading axis of ``n >= 2`` examples
    chunk_size : int
        Per-example gradients computed at once.
    population : {"dataset", "distribution"}
        ``"distribution"`` subtracts the sampling bias ``tr(Sigma)/n`` from ``|G|^2``.
    devices : sequence of jax.Device, optional
        Split the examples over these (default every device; module notes).

    Returns
    -------
    NoiseScale

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from landscape.data import Batch
    >>> loss = lambda w, b: 0.5 * jnp.mean((b.x @ w - b.y) ** 2)
    >>> batch = Batch(jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), jnp.zeros(3))
    >>> ns = simple_noise_scale(loss, jnp.ones(2), batch)
    >>> round(float(ns.b_simple), 4)  # tr(cov of [1,0],[0,4],[2,2]) / |[1,2]|^2 = 5 / 5
    1.0

    References
    ----------
    McCandlish et al. (2018), "An Empirical Model of Large-Batch Training", Sec. 2.2.
    """
    n = _num_examples(batch)
    if n < 2:
        raise ValueError(f"batch: need at least 2 examples for a covariance, got {n}")
    _check_population(population)
    mesh = sharding.mesh(devices)
    return _simple_impl(loss, params, batch, chunk_size=_check_chunk(chunk_size, n, mesh),
                        population=population, mesh=mesh)[1]


# --------------------------------------------------------------------------- two batch sizes


def minibatch_grad_sq_norms(
    loss: Callable, params: PyTree, batch, *, key: Array, batch_size: int, num_batches: int,
    devices: Devices = None,
) -> Array:
    """``|G_B|^2`` for ``num_batches`` minibatches of ``batch_size`` examples, shape (num_batches,).

    The minibatches are those :func:`landscape.data.batch_indices` draws (each
    a slice of a fresh permutation per epoch, so no example repeats within a
    minibatch), the way training draws them. Feed two such arrays to
    :func:`two_batch_noise_scale`. The minibatches are split over ``devices`` (default
    every device).
    """
    n = _num_examples(batch)
    if not isinstance(batch_size, int | np.integer) or not 0 < batch_size <= n:
        raise ValueError(f"batch_size: must be in [1, {n}], got {batch_size!r}")
    if not isinstance(num_batches, int | np.integer) or num_batches < 1:
        raise ValueError(f"num_batches: must be a positive integer, got {num_batches!r}")
    return _minibatch_impl(loss, params, batch, key, batch_size=int(batch_size),
                           num_batches=int(num_batches), mesh=sharding.mesh(devices))


def _minibatch_index_table(key, *, num_examples: int, batch_size: int, num_batches: int):
    """The indices :func:`landscape.data.batch_indices` gives at steps ``0..num_batches-1``,
    shape (num_batches, batch_size), with one permutation per epoch instead of one per step."""
    steps_per_epoch = num_examples // batch_size
    num_epochs = -(-num_batches // steps_per_epoch)
    perms = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(key, e), num_examples))(
        jnp.arange(num_epochs)
    )
    table = perms[:, : steps_per_epoch * batch_size].reshape(-1, batch_size)
    return table[:num_batches]


@functools.partial(jax.jit, static_argnames=("loss", "batch_size", "num_batches", "mesh"))
def _minibatch_impl(loss, params, batch, key, *, batch_size, num_batches, mesh):
    n = _num_examples(batch)
    f, x0, _ = flat_loss(loss, params)
    table = _minibatch_index_table(
        key, num_examples=n, batch_size=batch_size, num_batches=num_batches
    )

    def one(idx):
        sub = jax.tree_util.tree_map(lambda a: jnp.take(jnp.asarray(a), idx, axis=0), batch)
        g = jax.grad(f)(x0, sub)
        return jnp.vdot(g, g)

    return _map_examples(one, table, None, mesh)


def two_batch_noise_scale(
    small_sq_norms,
    big_sq_norms,
    *,
    small_batch_size: int,
    big_batch_size: int,
    num_examples: int | None = None,
) -> NoiseScale:
    """``B_simple`` from squared gradient norms measured at two batch sizes.

    With ``E|G_B|^2 = |G|^2 + tr(Sigma)/B`` (McCandlish et al. 2018, App. A.1),

    ``|G|^2   ~ (B_big |G_big|^2 - B_small |G_small|^2) / (B_big - B_small)``,
    ``tr(Sigma) ~ (|G_small|^2 - |G_big|^2) / (1/B_small - 1/B_big)``,

    both unbiased; the inputs are averaged first (as the paper averages over
    steps) and ``B_simple`` is the ratio of the averages (consistent, not
    unbiased). For minibatches drawn *without replacement* from a finite set,
    ``E|G_B|^2 = |G_n|^2 + tr(Sigma) (1/B - 1/n)``: ``tr(Sigma)`` is unchanged
    and the ``|G|^2`` above is ``|G_n|^2 - tr(Sigma)/n`` (the ``"distribution"``
    view of the module notes). Give ``num_examples = n`` to get ``|G_n|^2``
    itself (the ``"dataset"`` view).

    Parameters
    ----------
    small_sq_norms, big_sq_norms : arrays
        Measured ``|G_B|^2`` at the two batch sizes (any shape; averaged).
    small_batch_size, big_batch_size : int
        ``B_small < B_big``.
    num_examples : int or None
        Size of the finite set the minibatches were drawn from without replacement.

    Examples
    --------
    >>> ns = two_batch_noise_scale(5.0, 1.4, small_batch_size=10, big_batch_size=100)
    >>> [round(float(v), 4) for v in (ns.grad_sq_norm, ns.trace_cov, ns.b_simple)]
    [1.0, 40.0, 40.0]

    References
    ----------
    McCandlish et al. (2018), "An Empirical Model of Large-Batch Training", App. A.1.
    """
    for name, b in (("small_batch_size", small_batch_size), ("big_batch_size", big_batch_size)):
        if isinstance(b, bool) or not isinstance(b, int | np.integer) or b < 1:
            raise ValueError(f"{name}: must be a positive integer, got {b!r}")
    if not small_batch_size < big_batch_size:
        raise ValueError(
            f"big_batch_size: must exceed small_batch_size ({small_batch_size}), "
            f"got {big_batch_size}"
        )
    if num_examples is not None and num_examples < big_batch_size:
        raise ValueError(
            f"num_examples: must be at least big_batch_size ({big_batch_size}), got {num_examples}"
        )
    small = jnp.mean(jnp.asarray(small_sq_norms))
    big = jnp.mean(jnp.asarray(big_sq_norms))
    bs, bb = float(small_batch_size), float(big_batch_size)
    grad_sq = (bb * big - bs * small) / (bb - bs)
    trace_cov = (small - big) / (1.0 / bs - 1.0 / bb)
    if num_examples is not None:
        grad_sq = grad_sq + trace_cov / float(num_examples)
    return NoiseScale(trace_cov / grad_sq, trace_cov, grad_sq)


# --------------------------------------------------------------------------- Hessian-weighted


@functools.partial(
    jax.jit,
    static_argnames=("loss", "chunk_size", "population", "num_samples", "hessian_batch_size",
                     "mesh"),
)
def _hessian_impl(
    loss, params, batch, key, *, chunk_size, population, num_samples, hessian_batch_size, mesh
):
    n = _num_examples(batch)
    mean, simple = _simple_impl(loss, params, batch, chunk_size=chunk_size, population="dataset",
                                mesh=mesh)
    f, x0, _ = flat_loss(loss, params)
    if hessian_batch_size is None:
        op = hessian_operator(loss, params, batch)
    else:
        op = dataset_hessian_operator(loss, params, batch, batch_size=hessian_batch_size,
                                      devices=sharding.devices_of(mesh))

    def quad(ex):
        d = _example_grad(f, x0, ex) - mean
        return jnp.vdot(d, op.matvec(d, *op.args))

    if num_samples is None:
        examples, m = batch, n
    else:
        idx = jax.random.choice(key, n, (num_samples,), replace=False)
        examples = jax.tree_util.tree_map(lambda a: jnp.take(jnp.asarray(a), idx, axis=0), batch)
        m = num_samples
    q = jax.lax.map(quad, examples, batch_size=min(chunk_size, m))
    correction = n / (n - 1)
    trace_h_cov = jnp.mean(q) * correction
    if m < n and m > 1:
        # sampling without replacement: finite-population correction sqrt(1 - m/n)
        stderr = jnp.std(q, ddof=1) / math.sqrt(m) * math.sqrt(1.0 - m / n) * correction
    elif m < n:
        stderr = jnp.asarray(jnp.inf, q.dtype)
    else:
        stderr = jnp.zeros((), q.dtype)
    grad_h_grad = jnp.vdot(mean, op.matvec(mean, *op.args))
    grad_sq, trace_cov = simple.grad_sq_norm, simple.trace_cov
    if population == "distribution":
        grad_sq = grad_sq - trace_cov / n
        grad_h_grad = grad_h_grad - trace_h_cov / n
    return HessianNoiseScale(
        b_noise=trace_h_cov / grad_h_grad,
        trace_h_cov=trace_h_cov,
        trace_h_cov_stderr=stderr,
        grad_h_grad=grad_h_grad,
        b_simple=trace_cov / grad_sq,
        trace_cov=trace_cov,
        grad_sq_norm=grad_sq,
    )


def hessian_noise_scale(
    loss: Callable,
    params: PyTree,
    batch,
    *,
    key: Array | None = None,
    num_samples: int | None = None,
    chunk_size: int = 32,
    hessian_batch_size: int | None = None,
    population: str = "dataset",
    devices: Devices = None,
) -> HessianNoiseScale:
    """``B_noise = tr(H Sigma) / (G^T H G)`` with exact Hessian-vector products.

    ``H`` is the Hessian of the mean loss over ``batch`` (the data set), ``G`` the
    mean gradient and ``Sigma`` the per-example covariance (divisor ``n - 1``):

    ``tr(H Sigma) = n/(n-1) * mean_i (g_i - G)^T H (g_i - G)``,

    one HVP per example. With ``num_samples = m`` the mean runs over ``m``
    examples drawn without replacement with ``key`` (unbiased; the standard
    error, with the finite-population factor ``sqrt(1 - m/n)``, is reported),
    otherwise over all ``n`` (exact, ``n`` HVPs). ``G^T H G`` costs one HVP.
    ``B_simple`` is computed alongside. ``B_noise`` is the batch size at which
    the optimal step of a quadratic model of the loss gains half what the
    noise-free step gains (McCandlish et al. 2018, Eq. 2.8); it equals
    ``B_simple`` when ``H`` is a multiple of the identity.

    Parameters
    ----------
    loss : callable
        ``loss(params, batch)``, a mean over the examples of ``batch``.
    params : pytree
    batch : pytree of arrays with a common leading axis of ``n >= 2`` examples
    key : PRNG key
        Required when ``num_samples`` is given, and only then.
    num_samples : int or None
        Examples used for ``tr(H Sigma)``; ``None`` uses all of them.
    chunk_size : int
        Per-example gradients (and HVPs) computed at once.
    hessian_batch_size : int or None
        Evaluate each HVP over the data ``hessian_batch_size`` examples at a time
        (:func:`landscape.curvature.dataset_hessian_operator`); ``None`` uses the
        whole batch at once on one device, and ``n / num_devices`` with several.
    population : {"dataset", "distribution"}
        See the module notes.
    devices : sequence of jax.Device, optional
        Split the examples over these (default every device; module notes).

    Returns
    -------
    HessianNoiseScale

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from landscape.data import Batch
    >>> loss = lambda w, b: 0.5 * jnp.mean((b.x @ w - b.y) ** 2)
    >>> batch = Batch(jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), jnp.zeros(3))
    >>> ns = hessian_noise_scale(loss, jnp.ones(2), batch)
    >>> bool(ns.b_noise > 0), float(ns.trace_h_cov_stderr)
    (True, 0.0)

    References
    ----------
    McCandlish et al. (2018), "An Empirical Model of Large-Batch Training", Sec. 2.2
    and App. A.
    """
    n = _num_examples(batch)
    if n < 2:
        raise ValueError(f"batch: need at least 2 examples for a covariance, got {n}")
    _check_population(population)
    mesh = sharding.mesh(devices)
    chunk = _check_chunk(chunk_size, n, mesh)
    if num_samples is not None:
        if isinstance(num_samples, bool) or not isinstance(num_samples, int | np.integer):
            raise ValueError(f"num_samples: must be an integer or None, got {num_samples!r}")
        if not 1 <= num_samples <= n:
            raise ValueError(f"num_samples: must be in [1, {n}], got {num_samples}")
        if key is None:
            raise ValueError("key: a PRNG key is needed to sample examples (num_samples is set)")
        num_samples = int(num_samples)
    elif key is not None:
        raise ValueError("key: given but unused; set num_samples to sample examples")
    if hessian_batch_size is not None and not 0 < hessian_batch_size <= n:
        raise ValueError(f"hessian_batch_size: must be in [1, {n}], got {hessian_batch_size}")
    if hessian_batch_size is None and mesh is not None:
        hessian_batch_size = max(1, n // sharding.num_devices(mesh))
    return _hessian_impl(
        loss,
        params,
        batch,
        key,
        chunk_size=chunk,
        population=population,
        num_samples=num_samples,
        hessian_batch_size=hessian_batch_size,
        mesh=mesh,
    )
