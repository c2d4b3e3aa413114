"""Stochastic trace estimation: one probe sampler, integrands over it, one estimator.

The shape is matfree's: an *integrand* maps ``(matvec, z, *args)`` for one probe ``z``
to a number or a small pytree; :func:`estimator` draws ``num_probes`` probes from
:func:`sample_probes` and maps the integrand over them (``lax.map``: memory of one
probe's work). Everything else is composed from these pieces:

* :func:`hutchinson_trace` = the integrand ``z^T H z`` (Hutchinson 1989);
* :func:`hutchpp_trace`, Hutch++ (Meyer et al. 2021): the trace of ``H`` on a sketched
  range exactly, Hutchinson on the rest; at equal matvecs its error falls as ``1/m``
  instead of ``1/sqrt(m)`` when the spectrum decays;
* :func:`slq`, stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017) = the integrand
  "Gauss rule of the probe's spectral measure" from :func:`landscape.krylov.tridiagonalize`;
  from it :func:`density_on_grid`, :func:`trace_estimate`, :func:`negative_fraction`,
  :func:`negative_fraction_bounds` and :func:`negative_fraction_interval`.

Probes take the operator's dtype: pass ``dtype``, or it is read from the first
floating-point array in ``args`` (the flat parameters of a
:class:`~landscape.curvature.FlatOperator`); an operator that maps the probes to another
dtype is a ``TypeError``, never a silent cast. Every result carries a
:mod:`landscape.status` code (``NON_FINITE``, ``NOT_SYMMETRIC`` for SLQ).

References
----------
Hutchinson, M. F. (1989). A stochastic estimator of the trace of the influence matrix
for Laplacian smoothing splines. Commun. Stat. Simul. Comput. 18(3).
Meyer, R. A., Musco, C., Musco, C. and Woodruff, D. P. (2021). Hutch++: optimal
stochastic trace estimation. SOSA.
Ubaru, S., Chen, J. and Saad, Y. (2017). Fast estimation of tr(f(A)) via stochastic
Lanczos quadrature. SIAM J. Matrix Anal. Appl. 38(4).
Golub, G. H. and Meurant, G. (2009). Matrices, Moments and Quadrature with Applications.
Princeton.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from landscape import _checks, krylov, status
from landscape.typing import Array, Key

__all__ = [
    "PROBES",
    "SpectralDensity",
    "TraceEstimate",
    "density_on_grid",
    "estimator",
    "hutchinson_trace",
    "hutchpp_trace",
    "integrand_quadratic_form",
    "integrand_slq",
    "negative_fraction",
    "negative_fraction_bounds",
    "negative_fraction_interval",
    "sample_probes",
    "slq",
    "trace_estimate",
]

PROBES = ("rademacher", "normal")


def sample_probes(key: Key, *, num_probes: int, size: int, dtype=None,
                  kind: str = "rademacher") -> Array:
    """``num_probes`` random vectors of ``size`` entries with ``E[z z^T] = I``, as rows.

    ``kind`` is ``"rademacher"`` (entries +-1: ``|z|^2 = n`` exactly, the least-variance
    choice for Hutchinson) or ``"normal"``. ``dtype`` defaults to the default float.

    >>> import jax
    >>> sample_probes(jax.random.key(0), num_probes=2, size=3).shape
    (2, 3)
    """
    _checks.check_key(key)
    num_probes = _checks.check_int("num_probes", num_probes, minimum=1)
    size = _checks.check_int("size", size, minimum=1)
    _checks.check_choice("kind", kind, PROBES)
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype: probes need a floating-point dtype, got {dtype}")
    shape = (num_probes, size)
    if kind == "rademacher":
        return jax.random.rademacher(key, shape, dtype=dtype)
    return jax.random.normal(key, shape, dtype=dtype)


def _probe_dtype(matvec, size, dtype, args):
    """The probes' dtype (given, or that of the first floating array in ``args``),
    checked against what the operator returns."""
    if dtype is None:
        floats = [a for a in jax.tree_util.tree_leaves(args)
                  if jnp.issubdtype(jnp.result_type(a), jnp.floating)]
        dtype = jnp.result_type(floats[0]) if floats else jnp.result_type(float)
    dtype = jnp.dtype(dtype)
    try:
        out = jax.eval_shape(matvec, jax.ShapeDtypeStruct((size,), dtype), *args)
    except (TypeError, jax.dtypes.TypePromotionError) as err:  # the dtype refused
        raise TypeError(f"dtype: probes of {dtype} refused by the operator: {err}") from None
    if getattr(out, "shape", None) != (size,):
        raise ValueError(f"matvec: returned {out} for a vector of shape ({size},)")
    if out.dtype != dtype:
        raise TypeError(
            f"dtype: probes of {dtype} but the operator returns {out.dtype}; pass "
            f"dtype={out.dtype.name} (nothing is cast silently)"
        )
    return dtype


def estimator(integrand: Callable, *, num_probes: int, kind: str = "rademacher") -> Callable:
    """Monte Carlo over probes: ``estimate(matvec, key, *args, size, dtype=None)`` returns
    ``integrand(matvec, z, *args)`` for each of ``num_probes`` probes, stacked on a
    leading axis (jit with ``matvec``, ``size`` and ``dtype`` static; vmap over ``key``).

    >>> import jax, jax.numpy as jnp
    >>> est = estimator(integrand_quadratic_form(), num_probes=3)
    >>> est(lambda v: 2.0 * v, jax.random.key(0), size=4, dtype=jnp.float32)
    Array([8., 8., 8.], dtype=float32)
    """
    count = _checks.check_int("num_probes", num_probes, minimum=1)
    _checks.check_choice("kind", kind, PROBES)

    def estimate(matvec: Callable, key: Key, *args, size: int, dtype=None):
        size = _checks.check_int("size", size, minimum=1)
        dtype = _probe_dtype(matvec, size, dtype, args)
        probes = sample_probes(key, num_probes=count, size=size, dtype=dtype, kind=kind)
        return jax.lax.map(lambda z: integrand(matvec, z, *args), probes)

    return estimate


def integrand_quadratic_form() -> Callable:
    """The integrand ``z^T H z`` (one matvec): Hutchinson's trace sample."""
    return lambda matvec, z, *args: jnp.vdot(z, matvec(z, *args))


def integrand_slq(*, num_iters: int) -> Callable:
    """The integrand of SLQ: the Gauss rule ``(nodes, weights, status)`` of the spectral
    measure of ``H`` seen from the unit probe (``num_iters`` Lanczos steps, no symmetry
    probe: :func:`slq` probes the operator once for all probes)."""
    tridiag = krylov.tridiagonalize(num_iters=num_iters, check_symmetry=False)

    def integrand(matvec, z, *args):
        t = tridiag(matvec, z, *args)
        mat = jnp.diag(t.alphas) + jnp.diag(t.betas, 1) + jnp.diag(t.betas, -1)
        theta, y = jnp.linalg.eigh(mat)
        return theta, jnp.square(y[0]), t.status

    return integrand


def _mean_stderr(samples):
    count = samples.shape[0]
    mean = jnp.mean(samples)
    if count < 2:
        return mean, jnp.full((), jnp.inf, samples.dtype)
    return mean, jnp.std(samples, ddof=1) / math.sqrt(count)


# ----------------------------------------------------------------------------- traces


class TraceEstimate(NamedTuple):
    """A stochastic trace estimate.

    Attributes
    ----------
    trace : ()   the estimate
    stderr : ()  its standard error (the Monte Carlo part; ``inf`` from one sample)
    samples : (s,)  the per-probe samples whose mean is the Monte Carlo part
    status : ()  ``OK`` or ``NON_FINITE``
    """

    trace: Array
    stderr: Array
    samples: Array
    status: Any = status.OK

    def message(self):
        return status.message(self.status)


def _finite_status(*values):
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in values]))
    return jnp.where(finite, status.OK, status.NON_FINITE).astype(jnp.int32)


def hutchinson_trace(matvec: Callable, key: Key, *args, num_probes: int, size: int,
                     dtype=None, kind: str = "rademacher") -> TraceEstimate:
    """Hutchinson's estimator of ``tr(H)`` with its standard error (Hutchinson 1989).

    ``tr(H) ~ mean_i z_i^T H z_i`` over ``num_probes`` probes; unbiased for any square
    ``H``. Jit with ``matvec`` static; vmap over ``key``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> d = jnp.arange(1.0, 6.0)
    >>> est = hutchinson_trace(lambda v: d * v, jax.random.key(0), num_probes=4, size=5,
    ...                        dtype=jnp.float32)
    >>> float(est.trace)  # exact for a diagonal operator with Rademacher probes
    15.0
    """
    samples = estimator(integrand_quadratic_form(), num_probes=num_probes, kind=kind)(
        matvec, key, *args, size=size, dtype=dtype
    )
    trace, stderr = _mean_stderr(samples)
    return TraceEstimate(trace, stderr, samples, _finite_status(samples))


def hutchpp_trace(matvec: Callable, key: Key, *args, num_matvecs: int, size: int,
                  dtype=None, kind: str = "rademacher") -> TraceEstimate:
    """Hutch++ (Meyer et al. 2021): ``tr(H) = tr(Q^T H Q) + tr((I - QQ^T) H (I - QQ^T))``
    with ``Q`` an orthonormal basis of ``H S`` for ``s = num_matvecs // 3`` probes ``S``;
    the first term exactly (``s`` matvecs), the second by Hutchinson with the remaining
    ``num_matvecs - 2 s`` probes, deflated. Unbiased; ``stderr`` is the Monte Carlo
    error of the second term. All probes come from :func:`sample_probes` (one draw).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> d = jnp.array([100.0, 10.0, 1.0, 0.0, 0.0, 0.0])
    >>> est = hutchpp_trace(lambda v: d * v, jax.random.key(0), num_matvecs=9, size=6,
    ...                     dtype=jnp.float32)
    >>> round(float(est.trace), 3)  # a rank-3 operator is captured by 3 sketch vectors
    111.0
    """
    m = _checks.check_int("num_matvecs", num_matvecs, minimum=3)
    s = m // 3
    g = m - 2 * s
    probes = estimator(lambda mv, z, *a: z, num_probes=s + g, kind=kind)(
        matvec, key, *args, size=size, dtype=dtype
    )
    apply = lambda rows: jax.lax.map(lambda z: matvec(z, *args), rows)
    sketch = apply(probes[:s])  # (s, n): rows of (H S)^T
    q = jnp.linalg.qr(sketch.T)[0]  # (n, s)
    exact = jnp.trace(q.T @ apply(q.T).T)
    rest = probes[s:] - (probes[s:] @ q) @ q.T
    samples = jnp.sum(rest * apply(rest), axis=1)
    mean, stderr = _mean_stderr(samples)
    return TraceEstimate(exact + mean, stderr, samples, _finite_status(exact, samples))


# ----------------------------------------------------------------------------- SLQ


class SpectralDensity(NamedTuple):
    """A spectral density as Gauss quadrature rules, one per probe.

    Attributes
    ----------
    nodes : (probes, k)
        Ritz values of each probe's Lanczos run.
    weights : (probes, k)
        Squared first components of the Ritz vectors; each row sums to 1.
    size : () int
        Dimension ``n`` of the operator.
    status : () int
        ``OK``, ``NON_FINITE`` or ``NOT_SYMMETRIC`` (the operator probed once).
    """

    nodes: Array
    weights: Array
    size: Array
    status: Any = status.OK

    def message(self):
        return status.message(self.status)


def slq(*, num_iters: int, num_probes: int, kind: str = "rademacher",
        symmetry_tol: float | None = None) -> Callable:
    """Stochastic Lanczos quadrature: the spectral density ``phi(t) = sum_i
    delta(t - lambda_i) / n`` as one Gauss quadrature rule per random probe.

    For a unit probe ``v``, ``v^T f(H) v = sum_i w_i f(theta_i)`` exactly for
    polynomials ``f`` of degree up to ``2k - 1``, with ``theta`` the Ritz values and
    ``w`` the squared first components of the Ritz vectors; averaging over probes
    estimates ``tr f(H) / n``. The operator is probed for symmetry once
    (:func:`landscape.krylov.symmetry_probe`, tolerance ``symmetry_tol``, default
    ``sqrt(eps)``).

    Parameters
    ----------
    num_iters : int
        Lanczos steps per probe (``k``).
    num_probes : int
        Number of probes from :func:`sample_probes`.
    kind : {"rademacher", "normal"}
        Probe distribution (Rademacher: the trace estimate equals Hutchinson's
        ``z^T H z`` exactly).

    Returns
    -------
    callable
        ``density(matvec, key, *args, size, dtype=None) -> SpectralDensity``; the
        probes run one after another (memory ``k`` vectors), jit with ``matvec``,
        ``size`` and ``dtype`` static, vmap over ``key``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> d = jnp.arange(1.0, 11.0)
    >>> dens = slq(num_iters=10, num_probes=4)(lambda v: d * v, jax.random.key(0), size=10,
    ...                                        dtype=jnp.float32)
    >>> round(float(trace_estimate(dens)[0]), 3)  # exact for a diagonal operator
    55.0
    """
    k = _checks.check_int("num_iters", num_iters, minimum=1)
    probes = estimator(integrand_slq(num_iters=k), num_probes=num_probes, kind=kind)
    tol = None if symmetry_tol is None else _checks.check_float(
        "symmetry_tol", symmetry_tol, minimum=0.0)

    def density(matvec: Callable, key: Key, *args, size: int, dtype=None) -> SpectralDensity:
        size = _checks.check_int("size", size, minimum=1)
        if k > size:
            raise ValueError(f"num_iters: {k} Lanczos vectors exceed the operator size {size}")
        dtype = _probe_dtype(matvec, size, dtype, args)
        _checks.check_memory(k + 3, size, dtype)
        asym, finite = krylov.symmetry_probe(matvec, size, dtype, *args)
        limit = math.sqrt(float(jnp.finfo(dtype).eps)) if tol is None else tol
        nodes, weights, codes = probes(matvec, key, *args, size=size, dtype=dtype)
        finite = finite & jnp.all(codes != status.NON_FINITE)
        code = jnp.where(~finite, status.NON_FINITE,
                         jnp.where(asym > limit, status.NOT_SYMMETRIC, status.OK))
        return SpectralDensity(nodes, weights, jnp.asarray(size), code.astype(jnp.int32))

    return density


def density_on_grid(density: SpectralDensity, grid: Array, *, sigma: float) -> Array:
    """The density smoothed with a gaussian of width ``sigma``, on ``grid`` (g,).

    ``mean_probes sum_i w_i N(t; theta_i, sigma^2)``: a probability density that
    integrates to 1 over the real line (check the grid covers the spectrum plus a
    few ``sigma``). Plot it on a log scale to see the outliers (Ghorbani et al. 2019).
    """
    sigma = _checks.check_float("sigma", sigma, positive=True)
    grid = jnp.asarray(grid)
    nodes, weights = density.nodes, density.weights
    diff = (grid[None, None, :] - nodes[:, :, None]) / sigma  # (p, k, g)
    kernel = jnp.exp(-0.5 * jnp.square(diff)) / (sigma * math.sqrt(2 * math.pi))
    return jnp.mean(jnp.sum(weights[:, :, None] * kernel, axis=1), axis=0)


def _threshold(threshold):
    """A number checked at once; an array (a threshold computed under jit) as it is."""
    if isinstance(threshold, jax.Array):
        return threshold
    return _checks.check_float("threshold", threshold, minimum=0.0)


def negative_fraction(density: SpectralDensity, *, threshold: float) -> tuple[Array, Array]:
    """The fraction of eigenvalues below ``-threshold`` (the index) with its Monte Carlo
    standard error across probes: ``(estimate, stderr)``. The standard error ignores the
    quadrature bias; :func:`negative_fraction_interval` does not."""
    threshold = _threshold(threshold)
    per_probe = jnp.sum(jnp.where(density.nodes < -threshold, density.weights, 0.0), axis=1)
    return _mean_stderr(per_probe)


def _probe_bounds(density, threshold):
    below = density.nodes < -threshold  # nodes ascending: a prefix of each row
    count = jnp.sum(below, axis=1)
    estimate = jnp.sum(jnp.where(below, density.weights, 0.0), axis=1)
    k = density.nodes.shape[1]
    rows = jnp.arange(density.nodes.shape[0])
    last_below = density.weights[rows, jnp.maximum(count - 1, 0)]
    first_above = density.weights[rows, jnp.minimum(count, k - 1)]
    lower = estimate - jnp.where(count > 0, last_below, 0.0)
    upper = estimate + jnp.where(count < k, first_above, 0.0)
    return lower, upper


def negative_fraction_bounds(density: SpectralDensity, *,
                             threshold: float) -> tuple[Array, Array]:
    """Guaranteed bounds on each probe's fraction below ``-threshold``, averaged over
    probes: ``(lower, upper)``.

    A Gauss rule cannot place spectral mass closer to the threshold than its nodes. The
    Chebyshev-Markov-Stieltjes inequalities bound the distribution function of each
    probe's spectral measure between the weights up to the node below the threshold and
    up to the node above it: with ``E`` the weight of the nodes below ``t``,
    ``E - w_below <= F(t) <= E + w_above``. The expectation over probes of each probe's
    fraction is the true fraction, so the true index lies between the expectations of
    these bounds; :func:`negative_fraction_interval` adds their Monte Carlo error.

    References
    ----------
    Szego, G. (1939). Orthogonal Polynomials, section 3.41. Golub & Meurant (2009).
    """
    lower, upper = _probe_bounds(density, _threshold(threshold))
    return jnp.mean(lower), jnp.mean(upper)


def negative_fraction_interval(density: SpectralDensity, *, threshold: float,
                               z: float = 3.0) -> tuple[Array, Array]:
    """An interval for the fraction of eigenvalues below ``-threshold`` that includes the
    quadrature bias: ``[mean(lower) - z se(lower), mean(upper) + z se(upper)]`` over the
    per-probe bounds of :func:`negative_fraction_bounds`, clipped to ``[0, 1]``.

    It covers the truth at any number of Lanczos steps (the bracket widens when the
    spectrum has mass near the threshold that ``k`` nodes cannot place) up to the Monte
    Carlo tail ``z`` (3: about 0.3% per side for many probes; with few probes the
    standard error is itself uncertain, so use ten or more). One probe gives ``[0, 1]``.
    """
    z = _checks.check_float("z", z, positive=True)
    lower, upper = _probe_bounds(density, _threshold(threshold))
    lo_mean, lo_se = _mean_stderr(lower)
    hi_mean, hi_se = _mean_stderr(upper)
    return jnp.clip(lo_mean - z * lo_se, 0.0, 1.0), jnp.clip(hi_mean + z * hi_se, 0.0, 1.0)


def trace_estimate(density: SpectralDensity, *, power: int = 1) -> tuple[Array, Array]:
    """``tr(H^power)`` from the same probes, ``n * sum_i w_i theta_i^power`` per probe:
    ``(estimate, stderr)``. For ``power=1`` and Rademacher probes each probe gives
    Hutchinson's ``z^T H z`` exactly (Hutchinson 1989)."""
    power = _checks.check_int("power", power, minimum=0)
    size = jnp.asarray(density.size, density.nodes.dtype)
    per_probe = size * jnp.sum(density.weights * density.nodes**power, axis=1)
    return _mean_stderr(per_probe)
