"""Critical points: classify a point by the certified signs of its curvature; find exact ones.

:func:`classify` says what a point of ``loss(params, batch)`` is: a minimum, a strict
or weak saddle, a maximum, degenerate (no curvature of either sign), undetermined (the
numbers cannot say), or not a critical point at all. It works on any
:class:`~landscape.curvature.FlatOperator` (the Hessian by default) and gives the
evidence: the gradient norm against its threshold, the extreme eigenvalues with
residuals that bound the truth, the index with an interval that covers it, and how much
of the gradient lies in the near-null space (gradient flatness, Frye et al. 2021).

:func:`find_critical_point` converges to exact critical points of any index by
Newton-MR: MINRES (:mod:`landscape.minres`) on ``H p = -g`` with Hessian-vector
products and a backtracking line search on ``|g|^2`` (Roosta et al. 2018; Frye et al.
2019). It reports ``"converged"`` only when ``|g| <= tol``.

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
from landscape.minres import _minres, minres
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

STATUSES = ("converged", "gradient_flat", "stalled", "diverged")
"""How :func:`find_critical_point` stopped; ``FinderResult.status_code`` indexes this tuple."""
CONVERGED, GRADIENT_FLAT, STALLED, DIVERGED = range(4)

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


# --------------------------------------------------------------------------------------
# Newton-MR critical-point finder
# --------------------------------------------------------------------------------------


class FinderResult(NamedTuple):
    """Result of :func:`find_critical_point`.

    Attributes
    ----------
    params : pytree        the final point
    status_code : ()       int32 index into :data:`STATUSES`
    loss : ()              loss at the final point
    grad_norm : ()         ``|g|`` at the final point
    num_iters : ()         int32, Newton steps taken
    num_matvecs : ()       int32, Hessian-vector products used (MINRES plus one per step)
    num_grads : ()         int32, gradient evaluations (line-search trials included)
    flat_ratio : ()        ``|g + H p|^2 / |g|^2`` for the last MINRES direction ``p``:
                           the fraction of ``|g|^2`` the Newton step cannot remove,
                           i.e. the gradient's weight in the near-null space of ``H``
    grad_norms : (max_iters + 1,)  ``|g|`` at the start and after each step (NaN after the stop)
    losses : (max_iters + 1,)      the loss at the same points
    step_sizes : (max_iters,)      accepted line-search step ``t`` (NaN after the stop)
    """

    params: PyTree
    status_code: Array
    loss: Array
    grad_norm: Array
    num_iters: Array
    num_matvecs: Array
    num_grads: Array
    flat_ratio: Array
    grad_norms: Array
    losses: Array
    step_sizes: Array

    @property
    def status(self):
        """The name in :data:`STATUSES` (a numpy array of names for a batch of results)."""
        return _names(STATUSES, self.status_code)

    @property
    def converged(self):
        return self.status_code == CONVERGED

    def message(self):
        """Why the finder stopped, as text (a list for a batched result)."""
        names = _names(STATUSES, self.status_code)
        text = lambda name: f"{name}: {_FINDER_MESSAGES[name]}"
        return text(names) if isinstance(names, str) else [text(nm) for nm in names]


_FINDER_MESSAGES = {
    "converged": "|g| <= tol, a critical point",
    "gradient_flat": "stopped where most of |g|^2 lies in the near-null space of H; not critical",
    "stalled": "the line search failed or progress stalled; not critical",
    "diverged": "a non-finite value, or |theta| above max_norm",
}


def find_critical_point(
    loss: Callable[..., Array],
    params: PyTree,
    batch,
    *,
    max_iters: int = 100,
    tol: float | None = None,
    minres_iters: int = 200,
    minres_rtol: float = 1e-10,
    max_backtracks: int = 30,
    armijo: float = 1e-4,
    shrink: float = 0.5,
    memory: int = 10,
    flat_threshold: float = 0.5,
    stall_iters: int = 50,
    max_norm: float = 1e6,
) -> FinderResult:
    """Find a critical point (of any index) of ``loss(params, batch)`` by Newton-MR.

    Each step solves ``H p = -g`` approximately with at most ``minres_iters`` MINRES
    iterations (Hessian-vector products only; on a singular or indefinite ``H`` this
    is the least-squares step), then backtracks ``t = 1, shrink, shrink^2, ...``
    until ``|g(theta + t p)|^2 <= R + 2 armijo t <g, H p>``, where ``R`` is the
    largest ``|g|^2`` of the last ``memory`` iterates (a non-monotone line search,
    Grippo, Lampariello & Lucidi 1986, which lets full Newton steps through curved
    valleys; ``memory=1`` is the monotone Armijo rule). The MINRES step is a descent
    direction for ``|g|^2`` (``<g, H p> = -|H p|^2``), so the iteration converges to
    critical points of every index, not only minima; near a non-degenerate critical
    point (or a manifold of them) it converges quadratically.

    The status says why it stopped:

    * ``converged``: ``|g| <= tol``; the only status that means a critical point.
    * ``gradient_flat``: the line search failed or progress stalled while
      ``flat_ratio >= flat_threshold``, i.e. most of ``|g|^2`` lies in the
      near-null space of ``H``: ``|g|^2`` is (nearly) stationary but ``g`` is not
      zero (Frye et al. 2021). Such a point is not critical.
    * ``stalled``: the line search failed, or the best ``|g|`` fell by less than a
      factor 2 over ``stall_iters`` steps, or ``max_iters`` ran out, without a flat
      gradient.
    * ``diverged``: a non-finite value, or ``|theta|`` above ``max_norm``.

    Parameters
    ----------
    loss : callable
        ``loss(params, batch) -> scalar``.
    params : pytree
        The starting point.
    batch : Batch
    max_iters : int
        Newton steps at most (the trajectories have this many entries plus one).
    tol : float, optional
        Absolute gradient-norm tolerance; the default ``0.01 * sqrt(eps)``
        (1.5e-10 in float64, 3.5e-6 in float32) is near what the arithmetic allows.
    minres_iters, minres_rtol : int, float
        MINRES budget per step and its tolerance (see :func:`minres`).
    max_backtracks, armijo, shrink, memory : int, float, float, int
        The line search.
    flat_threshold : float
        ``flat_ratio`` above which a stop is called gradient-flat.
    stall_iters : int
        Window of the stall test. Near a critical point at the end of a flat valley
        the line search may take short steps for tens of iterations before the
        quadratic convergence sets in; a short window gives up too early.
    max_norm : float
        ``|theta|`` above which the run is called diverged.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> loss = lambda p, b: (p[0] ** 2 - 1) ** 2 + p[1] ** 2   # minima at (+-1, 0), saddle at 0
    >>> res = find_critical_point(loss, jnp.array([0.1, 0.3]), None)
    >>> res.status, [round(float(t), 6) + 0.0 for t in res.params]
    ('converged', [0.0, 0.0])

    References
    ----------
    Roosta et al. (2018), Newton-MR; Frye et al. (2019), Numerically recognizing
    and characterizing the critical points of neural network loss functions;
    Frye et al. (2021), gradient-flat regions; Grippo, L., Lampariello, F. &
    Lucidi, S. (1986), A nonmonotone line search technique for Newton's method,
    SIAM J. Numer. Anal. 23(4).
    """
    for name, value in (("max_iters", max_iters), ("minres_iters", minres_iters),
                        ("max_backtracks", max_backtracks), ("stall_iters", stall_iters),
                        ("memory", memory)):
        _checks.check_int(name, value, minimum=1)
    _checks.check_floating_params(params)
    _checks.check_nonempty(batch)
    _checks.check_scalar_loss(loss, params, batch)
    if not 0 < shrink < 1:
        raise ValueError(f"shrink: must be in (0, 1), got {shrink}")
    if not 0 < armijo < 1:
        raise ValueError(f"armijo: must be in (0, 1), got {armijo}")
    if not 0 <= flat_threshold <= 1:
        raise ValueError(f"flat_threshold: must be in [0, 1], got {flat_threshold}")
    if tol is not None and not tol > 0:
        raise ValueError(f"tol: must be positive, got {tol}")
    f, x0, unravel = curvature.flat_loss(loss, params)
    dtype = x0.dtype
    if tol is None:
        tol = 0.01 * math.sqrt(float(jnp.finfo(dtype).eps))
    settings = dict(
        max_iters=int(max_iters), minres_iters=int(minres_iters),
        max_backtracks=int(max_backtracks), stall_iters=int(stall_iters), memory=int(memory),
    )
    floats = tuple(
        jnp.asarray(v, dtype) for v in (tol, minres_rtol, armijo, shrink, flat_threshold, max_norm)
    )
    out = _newton_mr(f, x0, batch, *floats, **settings)
    return out._replace(params=unravel(out.params))


@functools.partial(
    jax.jit,
    static_argnames=("f", "max_iters", "minres_iters", "max_backtracks", "stall_iters", "memory"),
)
def _newton_mr(
    f, x0, batch, tol, minres_rtol, armijo, shrink, flat_threshold, max_norm, *,
    max_iters, minres_iters, max_backtracks, stall_iters, memory,
):
    dtype = x0.dtype
    tiny = jnp.finfo(dtype).tiny
    value_and_grad = lambda x: jax.value_and_grad(f)(x, batch)
    hvp = lambda v, x: curvature.hvp(f, x, batch, v)
    nan = jnp.asarray(jnp.nan, dtype)

    value0, g0 = value_and_grad(x0)
    gn0 = jnp.linalg.norm(g0)
    finite0 = jnp.isfinite(value0) & jnp.all(jnp.isfinite(g0))
    status0 = jnp.where(~finite0, DIVERGED, jnp.where(gn0 <= tol, CONVERGED, -1)).astype(jnp.int32)
    init = dict(
        x=x0, value=value0, g=g0, gn=gn0, it=jnp.int32(0), status=status0,
        matvecs=jnp.int32(0), grads=jnp.int32(1), flat=jnp.zeros((), dtype),
        best=gn0, checkpoint=gn0,
        history=jnp.full((memory,), -jnp.inf, dtype).at[0].set(0.5 * gn0**2),
        grad_norms=jnp.full((max_iters + 1,), nan).at[0].set(gn0),
        losses=jnp.full((max_iters + 1,), nan).at[0].set(value0),
        steps=jnp.full((max_iters,), nan),
    )

    def cond(s):
        return s["status"] < 0

    def body(s):
        x, g, gn = s["x"], s["g"], s["gn"]
        sol = _minres(lambda v: hvp(v, x), -g, (), max_iters=minres_iters, rtol=minres_rtol,
                      shift=0.0)
        p = sol.x
        hp = hvp(p, x)
        slope = jnp.vdot(g, hp)  # d/dt 0.5 |g(x + t p)|^2 at t = 0; -|H p|^2 for MINRES
        r = g + hp
        flat = jnp.vdot(r, r) / jnp.maximum(gn**2, tiny)
        reference = jnp.max(s["history"])

        def ls_cond(c):
            return (~c[4]) & (c[1] < max_backtracks)

        def ls_body(c):
            t, k = c[0], c[1]
            t = jnp.where(k == 0, jnp.ones((), dtype), t * shrink)
            v_new, g_new = value_and_grad(x + t * p)
            half = 0.5 * jnp.vdot(g_new, g_new)
            ok = jnp.isfinite(v_new) & (half <= reference + armijo * t * slope)
            return t, k + 1, v_new, g_new, ok

        t, k, v_new, g_new, ok = jax.lax.while_loop(
            ls_cond, ls_body,
            (jnp.zeros((), dtype), jnp.int32(0), s["value"], g, jnp.asarray(False)),
        )
        ok = ok & (slope < 0)
        x_new = jnp.where(ok, x + t * p, x)
        v_new = jnp.where(ok, v_new, s["value"])
        g_new = jnp.where(ok, g_new, g)
        gn_new = jnp.linalg.norm(g_new)
        it = s["it"] + 1
        finite = jnp.isfinite(v_new) & jnp.all(jnp.isfinite(g_new)) & jnp.all(jnp.isfinite(x_new))
        best = jnp.minimum(s["best"], gn_new)
        # stalled: the best |g| fell by less than a factor 2 over the last window
        at_check = it % stall_iters == 0
        slow = at_check & (best > 0.5 * s["checkpoint"])
        checkpoint = jnp.where(at_check, best, s["checkpoint"])
        stuck = (~ok) | slow | (it >= max_iters)
        stop_kind = jnp.where(flat >= flat_threshold, GRADIENT_FLAT, STALLED)
        status = jnp.where(
            ~finite | (jnp.linalg.norm(x_new) > max_norm), DIVERGED,
            jnp.where(gn_new <= tol, CONVERGED, jnp.where(stuck, stop_kind, -1)),
        ).astype(jnp.int32)
        return dict(
            x=x_new, value=v_new, g=g_new, gn=gn_new, it=it, status=status,
            matvecs=s["matvecs"] + sol.num_iters + 1, grads=s["grads"] + k, flat=flat,
            best=best, checkpoint=checkpoint,
            history=s["history"].at[it % memory].set(0.5 * gn_new**2),
            grad_norms=s["grad_norms"].at[it].set(gn_new),
            losses=s["losses"].at[it].set(v_new),
            steps=s["steps"].at[it - 1].set(jnp.where(ok, t, 0.0)),
        )

    s = jax.lax.while_loop(cond, body, init)
    return FinderResult(
        params=s["x"], status_code=s["status"], loss=s["value"], grad_norm=s["gn"],
        num_iters=s["it"], num_matvecs=s["matvecs"], num_grads=s["grads"], flat_ratio=s["flat"],
        grad_norms=s["grad_norms"], losses=s["losses"], step_sizes=s["steps"],
    )
