"""Critical points: classify a point by the certified signs of its curvature; find exact ones.

:func:`classify` says what a point of ``loss(params, batch)`` is: a minimum, a strict
or weak saddle, a maximum, degenerate (no curvature of either sign), undetermined (the
numbers cannot say), or not a critical point at all. It works on any
:class:`~landscape.curvature.FlatOperator` (the Hessian by default) and gives the
evidence: the gradient norm against its threshold, the extreme eigenvalues with
residuals that bound the truth, the index with an interval that covers it, and how much
of the gradient lies in the near-null space (gradient flatness, Frye et al. 2021).

:func:`find_critical_point` (from :mod:`landscape.finder`, importable from here)
converges to exact critical points of any index by Newton-MR: MINRES on ``H p = -g``
with Hessian-vector products and a backtracking line search on ``|g|^2`` (Roosta et
al. 2018; Frye et al. 2019). It reports ``"converged"`` only when ``|g| <= tol``.

The rules
---------
* ``|H| = max(|lambda_min|, |lambda_max|)``. The *floor* is what the arithmetic can
  certify: dense ``eigh``: the residual of the eigenpair (computed, plus rounding
  ``10 (|H - H^T|_F / 2 + sqrt(n) eps |H|)``); Lanczos: the rounding of a Rayleigh
  quotient ``20 (sqrt(n) eps + a) |H|`` with ``a`` the operator's measured asymmetry
  (a Ritz value is a Rayleigh quotient, so ``theta_min`` below the floor proves a
  negative eigenvalue at once). ``floor = max(atol, that)``.
* An eigenvalue is *certified negative* when ``lambda_min < -floor`` and *certified
  positive* when ``lambda_max > floor``. ``tau = max(rtol |H|, floor)`` splits them:
  beyond ``tau`` they are *strict*.
* The kind: ``saddle`` with strict eigenvalues of both signs; ``weak_saddle`` with
  certified ones of both signs, one of them within ``tau`` (e.g. the ``-1e-4 |H|``
  of a linear autoencoder's saddle: never called a minimum); ``minimum`` with a
  certified positive one and no eigenvalue below ``-floor`` (no negative one within
  the bottom's residual either, for Lanczos); ``maximum`` the mirror image;
  ``degenerate`` when none is certified; ``undetermined`` when the status is not
  usable (non-finite values, a non-symmetric operator) or Lanczos did not converge
  at the bottom without having found a certified negative value.
* Null eigenvalues (``|lambda| <= tau``) are counted (``num_null``) but do not change the
  kind: networks have exact symmetries whose directions have zero curvature, so a
  positive semi-definite Hessian is called a minimum.
* A point is *critical* when ``|g| <= grad_tol + grad_rtol |H| |theta|``: one
  gradient step at the stable learning rate ``1/|H|`` would move the parameters by less
  than ``grad_rtol`` of their norm (invariant to rescaling the loss). The defaults
  (1e-10, 1e-8) are made for float64; in float32 raise ``grad_rtol`` to about 1e-6.
* The index (fraction of eigenvalues below ``-tau``) comes with ``[index_lower,
  index_upper]``: for dense ``eigh`` the eigenvalues whose residual interval lies below
  ``-tau`` and those that reach it; for Lanczos the SLQ interval with the quadrature
  bias (:func:`landscape.stochtrace.negative_fraction_interval`, ``z`` standard errors).

References
----------
Baldi, P. & Hornik, K. (1989). Neural networks and principal component analysis:
learning from examples without local minima. Neural Networks 2(1).
Dauphin, Y. et al. (2014). Identifying and attacking the saddle point problem in
high-dimensional non-convex optimization. NeurIPS.
Frye, C. G., Wadia, N. S., DeWeese, M. R. & Bouchard, K. E. (2019). Numerically
recognizing and characterizing the critical points of neural network loss
functions. arXiv:1902.10268.
Frye, C. G. et al. (2021). Critical point-finding methods reveal gradient-flat regions
of deep network losses. Neural Computation 33(6).
Roosta, F., Liu, Y., Xu, P. & Mahoney, M. W. (2018). Newton-MR: Newton's method
without smoothness or convexity. arXiv:1810.00303.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landscape import _checks, curvature, lanczos, status, stochtrace
from landscape.finder import STATUSES, FinderResult, find_critical_point
from landscape.minres import minres
from landscape.typing import Array, Key, PyTree

__all__ = [
    "KINDS",
    "STATUSES",
    "Classification",
    "FinderResult",
    "classify",
    "find_critical_point",
]

KINDS = ("minimum", "saddle", "maximum", "degenerate", "not_critical", "weak_saddle",
         "undetermined")
"""The kinds :func:`classify` reports; ``Classification.code`` indexes this tuple."""
MINIMUM, SADDLE, MAXIMUM, DEGENERATE, NOT_CRITICAL, WEAK_SADDLE, UNDETERMINED = range(7)


METHODS = ("auto", "dense", "lanczos")
DENSE_AUTO_MAX = 2000  # method="auto" uses dense eigh up to this many parameters


def _names(table, code):
    code = np.asarray(code)
    if code.ndim == 0:
        return table[int(code)]
    return np.asarray(table, dtype=object)[code]


# --------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------


class Classification(NamedTuple):
    """What :func:`classify` found at a point. All fields are arrays (vmap adds a
    leading axis); ``kind``, ``curvature`` and ``message()`` give the names.

    Attributes
    ----------
    code : ()             int32 index into :data:`KINDS`: ``not_critical`` when the
                          gradient is above threshold, else ``curvature_code``
    curvature_code : ()   int32 index into :data:`KINDS`: what the spectrum alone says
    status : ()           :mod:`landscape.status` code of the computation
    loss, grad_norm : ()  at the point
    grad_threshold : ()   ``grad_tol + grad_rtol * |H| * |theta|``
    lambda_min, lambda_max : ()  extreme eigenvalues (dense) or Ritz values (Lanczos)
    residual_min, residual_max : ()  bounds on ``|H v - lambda v|`` of their vectors,
                          rounding included: an eigenvalue lies within each
    certified_min : ()    bool, ``lambda_min`` certified negative or positive
                          (``|lambda_min| > floor``)
    certified_max : ()    bool, the same for ``lambda_max``
    floor : ()            what the arithmetic certifies (module docstring)
    tau : ()              ``max(rtol * |H|, floor)``: strict beyond it
    rtol : ()             the relative tolerance used for ``tau``
    num_negative : ()     eigenvalues below ``-tau``: exact count (dense) or SLQ
                          estimate ``index * n`` (Lanczos, not an integer)
    num_null : ()         eigenvalues in ``[-tau, tau]``, exact or SLQ estimate
    index : ()            ``num_negative / n``
    index_stderr : ()     Monte Carlo standard error of ``index`` (0 when dense)
    index_lower, index_upper : ()  an interval that covers the true index (quadrature
                          bias included for Lanczos)
    flatness : ()         fraction of ``|g|^2`` in the near-null space of ``H``
    hg_ratio : ()         ``|H g| / (|H| |g|)``: near 0 when ``g`` is in the near-null space
    num_params : ()       int32, ``n``
    exact : ()            bool, True for dense ``eigh``, False for Lanczos
    """

    code: Array
    curvature_code: Array
    loss: Array
    grad_norm: Array
    grad_threshold: Array
    lambda_min: Array
    lambda_max: Array
    residual_min: Array
    residual_max: Array
    certified_min: Array
    certified_max: Array
    tau: Array
    rtol: Array
    num_negative: Array
    num_null: Array
    index: Array
    index_stderr: Array
    flatness: Array
    hg_ratio: Array
    num_params: Array
    exact: Array
    status: Array
    floor: Array
    index_lower: Array
    index_upper: Array

    @property
    def kind(self):
        """The name in :data:`KINDS` (a numpy array of names for a batch of results)."""
        return _names(KINDS, self.code)

    @property
    def curvature(self):
        """The name of ``curvature_code``."""
        return _names(KINDS, self.curvature_code)

    @property
    def is_critical(self):
        return self.code != NOT_CRITICAL

    def message(self):
        """The status as text (a list for a batched result)."""
        return status.message(self.status)


def _kind_codes(lam_min, lam_max, floor, tau, known, no_hidden_negative, critical):
    neg, pos = lam_min < -floor, lam_max > floor
    strict = (lam_min < -tau) & (lam_max > tau)
    curv = jnp.where(
        neg & pos, jnp.where(strict, SADDLE, WEAK_SADDLE),
        jnp.where(pos & no_hidden_negative, MINIMUM,
                  jnp.where(pos, UNDETERMINED, jnp.where(neg, MAXIMUM, DEGENERATE))),
    )
    curv = jnp.where(known | neg, curv, UNDETERMINED).astype(jnp.int32)
    return jnp.where(critical, curv, NOT_CRITICAL).astype(jnp.int32), curv, neg, pos


def _ratio(num, den):
    """``num / den``, and 0 where ``den`` is 0."""
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


def _grad_threshold(grad_tol, grad_rtol, hnorm, x):
    return grad_tol + grad_rtol * hnorm * jnp.linalg.norm(x)


def _finite(*values):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in values]))


@functools.partial(jax.jit, static_argnames=("matvec",))
def _classify_dense(matvec, args, x, value, g, rtol, atol, grad_tol, grad_rtol):
    n = x.size
    eps = jnp.finfo(x.dtype).eps
    h = jax.lax.map(lambda e: matvec(e, *args), jnp.eye(n, dtype=x.dtype)).T
    skew = 0.5 * jnp.linalg.norm(h - h.T)
    finite = _finite(value, g, h)
    h = jnp.where(finite, 0.5 * (h + h.T), 0.0)
    w, vecs = jnp.linalg.eigh(h)
    hnorm = jnp.maximum(jnp.abs(w[0]), jnp.abs(w[-1]))
    rounding = 10 * (skew + math.sqrt(n) * eps * hnorm)
    residuals = jnp.linalg.norm(h @ vecs - vecs * w[None, :], axis=0) + rounding
    asym = _ratio(skew, jnp.linalg.norm(h))
    code = jnp.where(~finite, status.NON_FINITE,
                     jnp.where(asym > jnp.sqrt(eps), status.NOT_SYMMETRIC, status.OK))
    floor = jnp.maximum(atol, jnp.maximum(residuals[0], residuals[-1]))
    tau = jnp.maximum(rtol * hnorm, floor)
    neg, pos = w < -tau, w > tau
    null = ~(neg | pos)
    gnorm = jnp.linalg.norm(g)
    coef = vecs.T @ g
    g2 = jnp.maximum(gnorm**2, jnp.finfo(x.dtype).tiny)
    flatness = jnp.where(gnorm > 0, jnp.sum(jnp.where(null, coef**2, 0.0)) / g2, 0.0)
    hg_ratio = _ratio(jnp.linalg.norm(h @ g), hnorm * gnorm)
    threshold = _grad_threshold(grad_tol, grad_rtol, hnorm, x)
    known = code == status.OK
    kind, curv, cert_min, cert_max = _kind_codes(
        w[0], w[-1], floor, tau, known, w[0] - residuals[0] >= -floor, gnorm <= threshold)
    kind, curv = jnp.where(known, kind, UNDETERMINED), jnp.where(known, curv, UNDETERMINED)
    num_neg = jnp.sum(neg).astype(x.dtype)
    lower = jnp.sum(w + residuals < -tau).astype(x.dtype) / n
    upper = jnp.sum(w - residuals < -tau).astype(x.dtype) / n
    nan = jnp.asarray(jnp.nan, x.dtype)
    keep = lambda v: jnp.where(finite, v, nan)
    return Classification(
        code=kind, curvature_code=curv, loss=value, grad_norm=gnorm, grad_threshold=threshold,
        lambda_min=keep(w[0]), lambda_max=keep(w[-1]), residual_min=keep(residuals[0]),
        residual_max=keep(residuals[-1]), certified_min=cert_min | (w[0] - residuals[0] > floor),
        certified_max=cert_max | (w[-1] + residuals[-1] < -floor), tau=keep(tau),
        rtol=jnp.asarray(rtol, x.dtype), num_negative=keep(num_neg),
        num_null=keep(jnp.sum(null).astype(x.dtype)), index=keep(num_neg / n),
        index_stderr=jnp.zeros((), x.dtype), flatness=keep(flatness), hg_ratio=keep(hg_ratio),
        num_params=jnp.int32(n), exact=jnp.asarray(True), status=code.astype(jnp.int32),
        floor=keep(floor), index_lower=keep(lower), index_upper=keep(upper),
    )


@functools.partial(
    jax.jit,
    static_argnames=("matvec", "num_iters", "num_probes", "slq_iters", "num_restarts", "z"),
)
def _classify_lanczos(matvec, args, x, value, g, key, rtol, atol, grad_tol, grad_rtol, *,
                      num_iters, num_probes, slq_iters, num_restarts, z):
    n = x.size
    eps = jnp.finfo(x.dtype).eps
    k_start, k_probes = jax.random.split(key)
    v0 = jax.random.normal(k_start, x.shape, x.dtype)
    eigs = lanczos.extreme_eigs(
        num_iters=num_iters, num_eigs=1, which="both", num_restarts=num_restarts
    )
    res = eigs(matvec, v0, *args)
    lam_min, lam_max = res.eigvals[0], res.eigvals[-1]
    r_min, r_max = res.residuals[0], res.residuals[-1]
    hnorm = jnp.maximum(jnp.abs(lam_min), jnp.abs(lam_max))
    floor = jnp.maximum(atol, 20 * (math.sqrt(n) * eps + res.asymmetry) * hnorm)
    tau = jnp.maximum(rtol * hnorm, floor)
    density = stochtrace.slq(num_iters=slq_iters, num_probes=num_probes)(
        matvec, k_probes, *args, size=n, dtype=x.dtype
    )
    null = jnp.sum(jnp.where(jnp.abs(density.nodes) <= tau, density.weights, 0.0), axis=1)
    index, index_err = stochtrace.negative_fraction(density, threshold=tau)
    lower, upper = stochtrace.negative_fraction_interval(density, threshold=tau, z=z)
    gnorm = jnp.linalg.norm(g)
    sol = minres(max_iters=num_iters, rtol=0.0)(matvec, -g, *args)
    flatness = _ratio(sol.residual_norm, gnorm) ** 2
    hg_ratio = _ratio(jnp.linalg.norm(matvec(g, *args)), hnorm * gnorm)
    threshold = _grad_threshold(grad_tol, grad_rtol, hnorm, x)
    finite = _finite(value, g) & (density.status != status.NON_FINITE)
    code = jnp.where(~finite, status.NON_FINITE, res.status)
    code = jnp.where((code == status.OK) | (code == status.BREAKDOWN), density.status, code)
    usable = status.is_usable(code) | (code == status.NOT_CONVERGED)
    bottom_known = res.converged[0] & status.is_usable(code)
    kind, curv, cert_min, cert_max = _kind_codes(
        lam_min, lam_max, floor, tau, usable & bottom_known, lam_min - r_min >= -floor,
        gnorm <= threshold)
    kind = jnp.where(usable, kind, UNDETERMINED)
    curv = jnp.where(usable, curv, UNDETERMINED)
    nan = jnp.asarray(jnp.nan, x.dtype)
    keep = lambda v: jnp.where(usable, v, nan)
    return Classification(
        code=kind.astype(jnp.int32), curvature_code=curv.astype(jnp.int32), loss=value,
        grad_norm=gnorm, grad_threshold=threshold, lambda_min=lam_min, lambda_max=lam_max,
        residual_min=r_min, residual_max=r_max, certified_min=cert_min | (lam_min - r_min > floor),
        certified_max=cert_max, tau=keep(tau), rtol=jnp.asarray(rtol, x.dtype),
        num_negative=keep(index * n), num_null=keep(jnp.mean(null) * n), index=keep(index),
        index_stderr=keep(jnp.asarray(index_err, x.dtype)),
        flatness=keep(jnp.clip(flatness, 0.0, 1.0)), hg_ratio=keep(hg_ratio),
        num_params=jnp.int32(n), exact=jnp.asarray(False), status=code.astype(jnp.int32),
        floor=keep(floor), index_lower=keep(lower), index_upper=keep(upper),
    )


def classify(
    loss: Callable[..., Array],
    params: PyTree,
    batch,
    *,
    key: Key,
    rtol: float = 1e-3,
    atol: float = 0.0,
    grad_tol: float = 1e-10,
    grad_rtol: float = 1e-8,
    method: str = "auto",
    num_iters: int = 100,
    num_probes: int = 20,
    slq_iters: int | None = None,
    num_restarts: int = 0,
    batch_size: int | None = None,
    reduction: str | None = None,
    operator: curvature.FlatOperator | None = None,
    z: float = 3.0,
) -> Classification:
    """Classify the point ``params`` of ``loss(params, batch)`` (rules in the module
    docstring).

    Parameters
    ----------
    loss : callable
        ``loss(params, batch) -> scalar``, the mean loss over ``batch``.
    params : pytree of floating-point arrays
        The point.
    batch : pytree of arrays
        The data (all of it: the landscape is that of the full-data loss).
    key : PRNG key
        Start vector of Lanczos and SLQ probes (required, also for ``"dense"``).
    rtol : float
        Strict versus weak: ``tau = max(rtol * |H|, floor)``.
    atol : float
        Lowest floor for a certified sign.
    grad_tol, grad_rtol : float
        Gradient threshold ``grad_tol + grad_rtol * |H| * |theta|``.
    method : {"auto", "dense", "lanczos"}
        ``"dense"``: the operator as a matrix and ``eigh`` (exact index; n up to a few
        thousand). ``"lanczos"``: extreme eigenpairs by Lanczos, the index by SLQ with
        an interval. ``"auto"``: dense up to ``DENSE_AUTO_MAX = 2000`` parameters.
    num_iters : int
        Lanczos basis for the extreme eigenvalues, and MINRES iterations for the
        flatness (Lanczos only).
    num_probes, slq_iters : int
        SLQ probes and steps for the index (Lanczos only; ``slq_iters`` defaults to
        ``num_iters``).
    num_restarts : int
        Thick restarts of the extreme-eigenvalue run
        (:func:`landscape.lanczos.extreme_eigs`).
    batch_size, reduction
        Evaluate gradient and curvature over ``batch`` this many examples at a time;
        the loss is checked to be a mean unless ``reduction`` says otherwise
        (:func:`landscape.curvature.hessian_operator`).
    operator : FlatOperator, optional
        The curvature to classify by (default the Hessian of ``loss``), e.g. a
        Gauss-Newton operator; it must have the parameters' size and dtype.
    z : float
        Standard errors in the Lanczos index interval.

    Returns
    -------
    Classification

    Notes
    -----
    Gradient flatness (Frye et al. 2021) is the fraction of ``|g|^2`` in the
    eigenspace ``|lambda| <= tau``; exact with ``eigh``, and with Lanczos the squared
    relative residual of ``num_iters`` MINRES iterations on ``H p = -g`` (an upper
    bound). ``hg_ratio = |H g| / (|H| |g|)`` is reported by both methods.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> loss = lambda p, b: 0.5 * p[0] ** 2 - 0.5 * p[1] ** 2
    >>> c = classify(loss, jnp.zeros(2), None, key=jax.random.key(0))
    >>> c.kind, int(c.num_negative), c.message()
    ('saddle', 1, 'ok: every requested quantity converged')
    """
    _checks.check_key(key)
    _checks.check_choice("method", method, METHODS)
    tols = tuple(_checks.check_float(name, value, minimum=0.0) for name, value in
                 (("rtol", rtol), ("atol", atol), ("grad_tol", grad_tol),
                  ("grad_rtol", grad_rtol)))
    z = _checks.check_float("z", z, positive=True)
    num_iters = _checks.check_int("num_iters", num_iters, minimum=2)
    num_probes = _checks.check_int("num_probes", num_probes, minimum=1)
    num_restarts = _checks.check_int("num_restarts", num_restarts, minimum=0)
    if slq_iters is not None:
        slq_iters = _checks.check_int("slq_iters", slq_iters, minimum=1)
    op = curvature.hessian_operator(loss, params, batch, batch_size=batch_size,
                                    reduction=reduction)
    if operator is not None:
        if operator.size != op.size or jnp.dtype(operator.dtype) != jnp.dtype(op.dtype):
            raise ValueError(
                f"operator: size {operator.size} and dtype {operator.dtype} must match the "
                f"parameters' {op.size} and {op.dtype}"
            )
        op = operator
    value, g = curvature.value_and_grad(loss, params, batch, batch_size=batch_size,
                                        reduction=reduction or "mean")
    x = curvature.flat_loss(loss, params)[1]
    n = int(x.size)
    if method == "auto":
        method = "dense" if n <= DENSE_AUTO_MAX else "lanczos"
    tols = tuple(jnp.asarray(t, x.dtype) for t in tols)
    if method == "dense":
        curvature.check_dense_size(n)
        return _classify_dense(op.matvec, op.args, x, value, g, *tols)
    num_iters = min(num_iters, n)
    slq_iters = num_iters if slq_iters is None else min(slq_iters, n)
    return _classify_lanczos(
        op.matvec, op.args, x, value, g, key, *tols, z=z, num_iters=num_iters,
        num_probes=num_probes, slq_iters=slq_iters, num_restarts=num_restarts,
    )
