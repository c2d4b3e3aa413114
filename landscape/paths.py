"""Paths between two parameter sets: the straight line, a trained Bezier curve, barriers.

:func:`interpolate` evaluates the loss along the straight line between two parameter
sets (Goodfellow et al. 2015) and its barrier; :func:`bezier_curve` trains the control
point of a quadratic Bezier curve to lower the loss along it (Garipov et al. 2018) and
compares it with the line. Points are evaluated by
:func:`landscape.surfaces.evaluate_subspace` (in chunks, split over the devices).

The barrier of a path ``phi`` from ``phi(0)`` to ``phi(1)`` is
``max_t [L(phi(t)) - ((1 - t) L(phi(0)) + t L(phi(1)))]`` over the evaluated
``t`` (Entezari et al. 2022): zero for a path along which the loss is convex or
flat, positive when the path climbs over a ridge.

Examples
--------
>>> import jax.numpy as jnp
>>> path = interpolate(lambda x: jnp.sum(x ** 2), jnp.array([-1.0]), jnp.array([1.0]),
...                    num_points=5)
>>> float(path.barrier)
0.0

References
----------
Goodfellow, I. J., Vinyals, O. and Saxe, A. M. (2015). Qualitatively
characterizing neural network optimization problems. ICLR.
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
from typing import NamedTuple

import jax
import jax.numpy as jnp

from landscape.surfaces import (
    DEFAULT_MEMORY_BYTES,
    _as_vector,
    _progress_range,
    evaluate_subspace,
)

Array = jax.Array

__all__ = ["BezierCurve", "Interpolation", "barrier", "bezier_curve", "bezier_points",
           "interpolate"]


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
                vectorize: bool | None = None, progress: bool = False,
                devices: Sequence[jax.Device] | None = None) -> Interpolation:
    """The loss along the straight line ``(1 - t) x_a + t x_b``, ``t`` in [0, 1], and
    its barrier (Goodfellow et al. 2015; Entezari et al. 2022).

    ``x_a`` may be an initialisation and ``x_b`` the solution trained from it, or
    two solutions (linear mode connectivity). The points are evaluated by
    :func:`landscape.surfaces.evaluate_subspace` (``chunk_size``, ``vectorize``,
    ``devices`` as there).
    """
    x_a, x_b = _check_pair(x_a, x_b)
    ts = _path_ts(num_points, x_a.dtype)
    losses = evaluate_subspace(f, x_a, (x_b - x_a)[None, :], ts[:, None], *args,
                               chunk_size=chunk_size, memory_bytes=memory_bytes,
                               vectorize=vectorize, progress=progress, devices=devices)
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
                 progress: bool = False,
                 devices: Sequence[jax.Device] | None = None) -> BezierCurve:
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
    chunk_size, vectorize, devices : optional
        How the evaluated points are batched and split over devices
        (:func:`landscape.surfaces.evaluate_subspace`).
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
                                     chunk_size=chunk_size, vectorize=vectorize,
                                     devices=devices)
    cb, ci = barrier(ts, curve_losses)
    line = interpolate(f, x_a, x_b, *args, num_points=num_points, chunk_size=chunk_size,
                       vectorize=vectorize, devices=devices)
    return BezierCurve(control, Interpolation(ts, curve_losses, cb, ci), line, train_losses)
