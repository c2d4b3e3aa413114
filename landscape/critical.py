"""Critical points: classify a point by the signs of its curvature, and find exact ones.

:func:`classify` says what a point of ``loss(params, batch)`` is — a minimum, a
saddle, a maximum, degenerate (no curvature of either sign), or not a critical
point at all — with the evidence: the gradient norm against its threshold, the
extreme eigenvalues of the Hessian with their residuals, the number and fraction
of negative eigenvalues (the index), and how much of the gradient lies in the
near-null space of the Hessian (gradient flatness, Frye et al. 2021).

:func:`find_critical_point` converges to exact critical points of any index
(minima, saddles, maxima) by Newton-MR: MINRES (:func:`minres`) on ``H p = -g``
with Hessian-vector products and a backtracking line search on ``|g|^2``
(Roosta et al. 2018; Frye et al. 2019). It never calls a gradient-flat point
critical: it reports ``"converged"`` only when ``|g| <= tol``.

The rules
---------
All thresholds are relative to the scale of the Hessian, so that multiplying the
loss by a constant changes no classification:

* ``tau = max(atol, rtol * |H|)`` with ``|H| = max(|lambda_min|, |lambda_max|)``,
  the spectral norm (equal to ``|lambda_max|`` whenever the largest eigenvalue
  dominates, as it does at the points training reaches). An eigenvalue is
  *negative* when ``lambda < -tau``, *positive* when ``lambda > tau`` and *null*
  otherwise. The default ``rtol = 1e-3`` reports the small negative eigenvalues
  common at the end of training (Sagun et al. 2017; Ghorbani et al. 2019) instead
  of hiding them: at ``lambda_max = 10`` any eigenvalue below ``-0.01`` counts.
* A point is *critical* when ``|g| <= grad_tol + grad_rtol * |H| * |theta|``. The
  relative term says that one gradient step at the stable learning rate
  ``1 / |H|`` would move the parameters by less than ``grad_rtol`` of their norm;
  it is invariant to rescaling the loss. The absolute floor ``grad_tol`` serves
  points where ``|H| |theta|`` vanishes. The defaults (``grad_tol = 1e-10``,
  ``grad_rtol = 1e-8``) are made for float64: they accept the points the finder
  converges to (``|g|`` of 1e-10 and below, while rounding alone leaves about
  ``1e-15 |H| |theta|``) and reject the endpoints of ordinary training, whose
  gradient norms are 1e-4 to 1e-1 and whose gradient steps still move the
  parameters: those are not critical points, whatever their curvature (reported
  apart as ``curvature``). In float32 rounding leaves ``|g|`` near
  ``1e-7 |H| |theta|``; raise ``grad_rtol`` to about 1e-6 there, or better,
  classify in float64.
* The kind, from the eigenvalues: ``saddle`` when there are negative and positive
  eigenvalues, ``minimum`` when there are positive ones and no negative one,
  ``maximum`` when there are negative ones and no positive one, ``degenerate``
  when all are null. Null eigenvalues are counted (``num_null``) but do not change
  the kind: networks have exact symmetries (rescalings, the ``GL(p)`` of a linear
  autoencoder) whose directions have zero curvature at every critical point, so a
  positive semi-definite Hessian is called a minimum. The second-order test
  cannot rule out a higher-order saddle along null directions; ``num_null`` says
  how many there are.

Certificates
------------
Every reported eigenvalue comes with the residual ``|H v - lambda v|`` of its
vector; a sign is *certified* when ``|lambda|`` exceeds that residual (there is
then an eigenvalue of that sign within the residual of ``lambda``). With Lanczos
the two ends differ: a Ritz value is a Rayleigh quotient, so a bottom Ritz value
below ``-tau`` proves ``lambda_min < -tau`` at once (a saddle is cheap to prove),
while a minimum needs the bottom Ritz value converged, and even then Lanczos from
one random start could in principle miss an eigenvalue below it. Dense ``eigh``
(``method="dense"``) is exact up to rounding.

References
----------
Baldi, P. & Hornik, K. (1989). Neural networks and principal component analysis:
learning from examples without local minima. Neural Networks 2(1).
Dauphin, Y. et al. (2014). Identifying and attacking the saddle point problem in
high-dimensional non-convex optimization. NeurIPS.
Frye, C. G., Wadia, N. S., DeWeese, M. R. & Bouchard, K. E. (2019). Numerically
recognizing and characterizing the critical points of neural network loss
functions. arXiv:1902.10268.
Frye, C. G., Simon, J., Wadia, N. S., Ligeralde, A., DeWeese, M. R. & Bouchard,
K. E. (2021). Critical point-finding methods reveal gradient-flat regions of deep
network losses. Neural Computation 33(6).
Ghorbani, B., Krishnan, S. & Xiao, Y. (2019). An investigation into neural net
optimization via Hessian eigenvalue density. ICML.
Paige, C. C. & Saunders, M. A. (1975). Solution of sparse indefinite systems of
linear equations. SIAM J. Numer. Anal. 12(4).
Roosta, F., Liu, Y., Xu, P. & Mahoney, M. W. (2018). Newton-MR: Newton's method
without smoothness or convexity. arXiv:1810.00303.
Sagun, L., Evci, U., Guney, V. U., Dauphin, Y. & Bottou, L. (2017). Empirical
analysis of the Hessian of over-parametrized neural networks. arXiv:1706.04454.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature
from landscape.data import Batch

PyTree = Any
Array = jax.Array

__all__ = [
    "KINDS",
    "STATUSES",
    "Classification",
    "FinderResult",
    "MinresResult",
    "classify",
    "find_critical_point",
    "minres",
]

KINDS = ("minimum", "saddle", "maximum", "degenerate", "not_critical")
"""The kinds :func:`classify` reports; ``Classification.code`` indexes this tuple."""
MINIMUM, SADDLE, MAXIMUM, DEGENERATE, NOT_CRITICAL = range(5)

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
# MINRES
# --------------------------------------------------------------------------------------


class MinresResult(NamedTuple):
    """Result of :func:`minres`.

    Attributes
    ----------
    x : (n,)            the approximate solution: the last iterate, or the one before
                        it when the least-squares test certified that one (``stop``
                        2) or the last pivot vanished (``stop`` 7)
    residual_norm : ()  estimate of ``|b - A x|`` (exact in exact arithmetic)
    ar_norm : ()        estimate of ``|A r|`` for the residual of the previous iterate;
                        small when ``x`` solves the least-squares problem
    anorm : ()          estimate of the Frobenius norm of the projected operator
    acond : ()          estimate of the condition number of ``A``
    num_iters : ()      int32, iterations done (one matvec each)
    stop : ()           int32: 1 ``|r| <= rtol |A| |x|`` (a solution), 2 ``|A r| <=
                        rtol |A| |r|`` (a least-squares solution of a singular
                        system), 3 ``|r| <= rtol |b|``, 4 the Krylov space is
                        exhausted, 5 ``b = 0``, 6 ``max_iters`` reached, 7 a
                        vanishing pivot (the projected operator is singular:
                        the previous iterate is returned)
    """

    x: Array
    residual_norm: Array
    ar_norm: Array
    anorm: Array
    acond: Array
    num_iters: Array
    stop: Array


def minres(*, max_iters: int, rtol: float = 0.0, shift: float = 0.0) -> Callable[..., MinresResult]:
    """MINRES for symmetric, possibly indefinite or singular ``(A - shift I) x = b``.

    Returns ``solve(matvec, b, *args) -> MinresResult`` with ``matvec(v, *args) = A v``:
    a pure function that jits and vmaps, one ``lax.while_loop`` of at most
    ``max_iters`` matvecs, starting from ``x = 0``. The recurrences are those of
    Paige & Saunders (1975) as in ``scipy.sparse.linalg.minres`` (without a
    preconditioner), whose iterates it reproduces.

    Iterate ``k`` minimises ``|b - A x|`` over the Krylov space
    ``span{b, A b, ..., A^(k-1) b}``. On a singular system it converges to a
    least-squares solution; its residual then measures the part of ``b`` that
    lies in (or near) the null space of ``A``, which :func:`classify` and the
    finder use as a gradient-flatness measure.

    Parameters
    ----------
    max_iters : int
        Largest number of iterations (matvecs).
    rtol : float
        Stop when ``|r| <= rtol |A| |x|`` or ``|A r| <= rtol |A| |r|`` (scipy's
        tests) or ``|r| <= rtol |b|``. ``0`` runs all ``max_iters`` iterations
        unless the Krylov space is exhausted or a pivot vanishes first.
    shift : float
        Solve with ``A - shift I``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> a = jnp.diag(jnp.array([2.0, -1.0, 0.5]))
    >>> res = minres(max_iters=10, rtol=1e-6)(lambda v: a @ v, jnp.ones(3))
    >>> [round(float(t), 4) for t in res.x]
    [0.5, -1.0, 2.0]

    References
    ----------
    Paige, C. C. & Saunders, M. A. (1975). Solution of sparse indefinite systems
    of linear equations. SIAM J. Numer. Anal. 12(4), 617-629.
    """
    if int(max_iters) < 1:
        raise ValueError(f"max_iters: need at least 1, got {max_iters}")
    if not rtol >= 0:
        raise ValueError(f"rtol: must be non-negative, got {rtol}")
    max_iters = int(max_iters)

    def solve(matvec: Callable[..., Array], b: Array, *args) -> MinresResult:
        return _minres(matvec, b, args, max_iters=max_iters, rtol=rtol, shift=shift)

    return solve


def _minres(matvec, b, args, *, max_iters, rtol, shift):
    dtype = b.dtype
    eps = jnp.finfo(dtype).eps
    pivot_tol = eps ** (2.0 / 3.0)
    zero = jnp.zeros((), dtype)
    beta1 = jnp.linalg.norm(b)
    safe = lambda d: jnp.where(d == 0, 1.0, d)

    init = dict(
        itn=jnp.int32(0), stop=jnp.where(beta1 == 0, 5, 0).astype(jnp.int32),
        x=jnp.zeros_like(b), x_prev=jnp.zeros_like(b), phibar_prev=beta1, r1=b, r2=b, y=b,
        w=jnp.zeros_like(b), w2=jnp.zeros_like(b),
        oldb=zero, beta=beta1, dbar=zero, epsln=zero, phibar=beta1, tnorm2=zero,
        gmax=zero, gmin=jnp.asarray(jnp.finfo(dtype).max, dtype), cs=-jnp.ones((), dtype),
        sn=zero, arnorm=zero, anorm=zero,
    )

    def cond(s):
        return s["stop"] == 0

    def body(s):
        itn = s["itn"] + 1
        beta, oldb = s["beta"], s["oldb"]
        v = s["y"] / safe(beta)
        y = matvec(v, *args).astype(dtype) - shift * v
        y = jnp.where(itn >= 2, y - (beta / safe(oldb)) * s["r1"], y)
        alfa = jnp.vdot(v, y)
        y = y - (alfa / safe(beta)) * s["r2"]
        r1, r2 = s["r2"], y
        oldb, beta = beta, jnp.linalg.norm(r2)
        tnorm2 = s["tnorm2"] + alfa**2 + oldb**2 + beta**2
        # apply the previous rotation, then compute the next one
        oldeps = s["epsln"]
        cs, sn, dbar = s["cs"], s["sn"], s["dbar"]
        delta = cs * dbar + sn * alfa
        gbar = sn * dbar - cs * alfa
        epsln = sn * beta
        dbar = -cs * beta
        root = jnp.hypot(gbar, dbar)
        arnorm = s["phibar"] * root
        gamma_raw = jnp.hypot(gbar, beta)
        # a vanishing pivot: the Krylov space now holds a null vector of A and the
        # new iterate would run off along it; stop and keep the previous iterate
        singular = gamma_raw <= pivot_tol * jnp.sqrt(tnorm2)
        gamma = jnp.maximum(gamma_raw, eps)
        cs, sn = gbar / gamma, beta / gamma
        phi, phibar = cs * s["phibar"], sn * s["phibar"]
        w1, w2 = s["w2"], s["w"]
        w = (v - oldeps * w1 - delta * w2) / gamma
        x = s["x"] + phi * w
        gmax, gmin = jnp.maximum(s["gmax"], gamma), jnp.minimum(s["gmin"], gamma)
        anorm = jnp.sqrt(tnorm2)
        ynorm = jnp.linalg.norm(x)
        rnorm = phibar
        test1 = jnp.where((ynorm == 0) | (anorm == 0), jnp.inf, rnorm / safe(anorm * ynorm))
        test2 = jnp.where(anorm == 0, jnp.inf, root / safe(anorm))
        stop = jnp.int32(0)
        stop = jnp.where(itn >= max_iters, 6, stop)
        stop = jnp.where(beta <= 10 * eps * anorm, 4, stop)
        stop = jnp.where(rnorm <= rtol * beta1, 3, stop)
        stop = jnp.where(test2 <= rtol, 2, stop)
        stop = jnp.where(test1 <= rtol, 1, stop)
        stop = jnp.where(singular, 7, stop)
        return dict(
            itn=itn, stop=stop.astype(jnp.int32), x=x, x_prev=s["x"], phibar_prev=s["phibar"],
            r1=r1, r2=r2, y=r2, w=w, w2=w2,
            oldb=oldb, beta=beta, dbar=dbar, epsln=epsln, phibar=phibar, tnorm2=tnorm2,
            gmax=gmax, gmin=gmin, cs=cs, sn=sn, arnorm=arnorm, anorm=anorm,
        )

    s = jax.lax.while_loop(cond, body, init)
    acond = jnp.where(s["itn"] > 0, s["gmax"] / s["gmin"], 1.0).astype(dtype)
    # |A r| is known one iterate late: when that test stops the loop it certifies the
    # previous iterate, which is returned (on a singular system the next one may
    # already have run off along the null space)
    ls = (s["stop"] == 2) | (s["stop"] == 7)
    return MinresResult(
        x=jnp.where(ls, s["x_prev"], s["x"]),
        residual_norm=jnp.where(ls, s["phibar_prev"], s["phibar"]),
        ar_norm=s["arnorm"], anorm=s["anorm"],
        acond=acond, num_iters=s["itn"], stop=s["stop"],
    )


# --------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------


class Classification(NamedTuple):
    """What :func:`classify` found at a point. All fields are arrays (vmap adds a
    leading axis); ``kind`` and ``curvature`` give the names.

    Attributes
    ----------
    code : ()             int32 index into :data:`KINDS`: ``not_critical`` when the
                          gradient is above threshold, else ``curvature_code``
    curvature_code : ()   int32 index into :data:`KINDS`: the kind the spectrum alone
                          says (what the point would be were it critical)
    loss : ()             loss at the point
    grad_norm : ()        ``|g|`` over all parameters
    grad_threshold : ()   ``grad_tol + grad_rtol * |H| * |theta|``, what ``|g|`` is compared with
    lambda_min : ()       smallest eigenvalue (dense) or bottom Ritz value (Lanczos)
    lambda_max : ()       largest eigenvalue or top Ritz value
    residual_min : ()     ``|H v - lambda_min v|`` of its (Ritz) vector
    residual_max : ()     ``|H v - lambda_max v|``
    certified_min : ()    bool, ``|lambda_min| > residual_min``: its sign is certain
    certified_max : ()    bool, ``|lambda_max| > residual_max``
    tau : ()              eigenvalue threshold ``max(atol, rtol * |H|)``
    rtol : ()             the relative tolerance used for ``tau``
    num_negative : ()     eigenvalues below ``-tau``: exact count (dense) or SLQ
                          estimate ``index * n`` (Lanczos, not an integer)
    num_null : ()         eigenvalues in ``[-tau, tau]``, exact or SLQ estimate
    index : ()            ``num_negative / n``, the fraction of negative eigenvalues
    index_stderr : ()     standard error of ``index`` over SLQ probes (0 when exact)
    flatness : ()         fraction of ``|g|^2`` in the near-null space of ``H``
                          (``|lambda| <= tau``); see :func:`classify`
    hg_ratio : ()         ``|H g| / (|H| |g|)``: near 0 when ``g`` is in the near-null space
    num_params : ()       int32, ``n``
    exact : ()            bool, True for dense ``eigh`` (exact spectrum), False for Lanczos
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


def _kind_codes(has_neg, has_pos, critical):
    curv = jnp.where(
        has_neg & has_pos,
        SADDLE,
        jnp.where(has_pos, MINIMUM, jnp.where(has_neg, MAXIMUM, DEGENERATE)),
    ).astype(jnp.int32)
    return jnp.where(critical, curv, NOT_CRITICAL).astype(jnp.int32), curv


def _ratio(num, den):
    """``num / den``, and 0 where ``den`` is 0."""
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


def _gradient(f, x, batch, batch_size):
    """Loss and flat gradient over ``batch``, chunked when ``batch_size`` is given."""
    if batch_size is None:
        return jax.value_and_grad(f)(x, batch)
    stacked, remainder = curvature.split_batches(batch, batch_size)
    num_full = jax.tree_util.tree_leaves(stacked)[0].shape[0]

    def body(total, chunk):
        value, grad = jax.value_and_grad(f)(x, chunk)
        return (total[0] + value, total[1] + grad), None

    zero = (jnp.zeros((), x.dtype), jnp.zeros_like(x))
    (value, grad), _ = jax.lax.scan(body, zero, stacked)
    value, grad, count = value * batch_size, grad * batch_size, num_full * batch_size
    if remainder is not None:
        r = jax.tree_util.tree_leaves(remainder)[0].shape[0]
        rv, rg = jax.value_and_grad(f)(x, remainder)
        value, grad, count = value + r * rv, grad + r * rg, count + r
    return value / count, grad / count


def _grad_threshold(grad_tol, grad_rtol, hnorm, x):
    return grad_tol + grad_rtol * hnorm * jnp.linalg.norm(x)


@functools.partial(jax.jit, static_argnames=("f", "batch_size"))
def _classify_dense(f, x, batch, rtol, atol, grad_tol, grad_rtol, *, batch_size):
    value, g = _gradient(f, x, batch, batch_size)
    if batch_size is None:
        h = jax.hessian(f)(x, batch)
    else:
        stacked, remainder = curvature.split_batches(batch, batch_size)
        one = lambda v: _chunked_hvp(f, x, stacked, remainder, batch_size, v)
        h = jax.lax.map(one, jnp.eye(x.size, dtype=x.dtype)).T
    h = 0.5 * (h + h.T)
    w, vecs = jnp.linalg.eigh(h)
    residuals = jnp.linalg.norm(h @ vecs - vecs * w[None, :], axis=0)
    hnorm = jnp.maximum(jnp.abs(w[0]), jnp.abs(w[-1]))
    tau = jnp.maximum(atol, rtol * hnorm)
    neg, pos = w < -tau, w > tau
    null = ~(neg | pos)
    gnorm = jnp.linalg.norm(g)
    coef = vecs.T @ g
    g2 = jnp.maximum(gnorm**2, jnp.finfo(x.dtype).tiny)
    flatness = jnp.where(gnorm > 0, jnp.sum(jnp.where(null, coef**2, 0.0)) / g2, 0.0)
    hg_ratio = _ratio(jnp.linalg.norm(h @ g), hnorm * gnorm)
    threshold = _grad_threshold(grad_tol, grad_rtol, hnorm, x)
    code, curv = _kind_codes(jnp.any(neg), jnp.any(pos), gnorm <= threshold)
    n = x.size
    num_neg = jnp.sum(neg).astype(x.dtype)
    return Classification(
        code=code, curvature_code=curv, loss=value, grad_norm=gnorm, grad_threshold=threshold,
        lambda_min=w[0], lambda_max=w[-1], residual_min=residuals[0], residual_max=residuals[-1],
        certified_min=jnp.abs(w[0]) > residuals[0], certified_max=jnp.abs(w[-1]) > residuals[-1],
        tau=tau, rtol=jnp.asarray(rtol, x.dtype), num_negative=num_neg,
        num_null=jnp.sum(null).astype(x.dtype), index=num_neg / n,
        index_stderr=jnp.zeros((), x.dtype), flatness=flatness, hg_ratio=hg_ratio,
        num_params=jnp.int32(n), exact=jnp.asarray(True),
    )


def _chunked_hvp(f, x, stacked, remainder, batch_size, v):
    """Mean Hessian-vector product over chunks (as ``curvature.dataset_hessian_operator``)."""
    hvp = lambda b: jax.jvp(lambda y: jax.grad(f)(y, b), (x,), (v,))[1]
    num_full = jax.tree_util.tree_leaves(stacked)[0].shape[0]
    total, _ = jax.lax.scan(lambda t, b: (t + hvp(b), None), jnp.zeros_like(x), stacked)
    total, count = total * batch_size, num_full * batch_size
    if remainder is not None:
        r = jax.tree_util.tree_leaves(remainder)[0].shape[0]
        total, count = total + r * hvp(remainder), count + r
    return total / count


def classify(
    loss: Callable[..., Array],
    params: PyTree,
    batch: Batch,
    *,
    key: Array,
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
) -> Classification:
    """Classify the point ``params`` of ``loss(params, batch)``.

    The rules (relative thresholds ``tau`` and the gradient threshold) are stated in
    the module docstring: an eigenvalue is negative when below ``-tau``,
    ``tau = max(atol, rtol * |H|)``; the point is critical when
    ``|g| <= grad_tol + grad_rtol * |H| * |theta|``.

    Parameters
    ----------
    loss : callable
        ``loss(params, batch) -> scalar``, the mean loss over ``batch``.
    params : pytree
        The point.
    batch : Batch
        The data (all of it: the landscape is that of the full-data loss).
    key : PRNG key
        Start vector of Lanczos and SLQ probes; unused by ``method="dense"``.
    rtol, atol : float
        Eigenvalue threshold ``tau = max(atol, rtol * |H|)``.
    grad_tol, grad_rtol : float
        Gradient threshold ``grad_tol + grad_rtol * |H| * |theta|``.
    method : {"auto", "dense", "lanczos"}
        ``"dense"``: the full Hessian and ``eigh`` (exact index, n up to a few
        thousand). ``"lanczos"``: Lanczos with full reorthogonalisation for the
        extreme eigenpairs and stochastic Lanczos quadrature for the index (an
        estimate with its standard error). ``"auto"``: dense up to
        ``DENSE_AUTO_MAX = 2000`` parameters, Lanczos above.
    num_iters : int
        Lanczos iterations for the extreme eigenvalues, and MINRES iterations for
        the flatness estimate (Lanczos method only).
    num_probes, slq_iters : int
        SLQ probes and iterations for the index (Lanczos method only);
        ``slq_iters`` defaults to ``num_iters``.
    num_restarts : int
        Thick restarts of the extreme-eigenvalue Lanczos run (the bottom of a
        Hessian spectrum is crowded and converges slowly); see
        :func:`landscape.lanczos.extreme_eigs`.
    batch_size : int, optional
        Evaluate gradient and Hessian over ``batch`` this many examples at a time
        (exact means; for data that do not fit at once).

    Returns
    -------
    Classification

    Notes
    -----
    Gradient flatness. Frye et al. (2021) showed that critical-point finders often
    stop where the gradient lies (nearly) in the kernel of the Hessian, so that
    ``|g|^2`` is stationary while ``g`` is not zero. ``flatness`` measures it as
    the fraction of ``|g|^2`` in the eigenspace of ``|lambda| <= tau``. With dense
    ``eigh`` this is exact. With Lanczos it is the squared relative residual of
    ``num_iters`` MINRES iterations on ``H p = -g``, i.e. the part of ``|g|^2``
    that no Krylov polynomial of that degree can remove: an upper bound on the
    exact-kernel fraction, close to the near-null fraction when the Krylov space
    resolves the spectrum away from zero, larger when it does not.
    ``hg_ratio = |H g| / (|H| |g|)`` (one Hessian-vector product) is near zero in
    a gradient-flat region; it is reported by both methods.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> loss = lambda p, b: 0.5 * p[0] ** 2 - 0.5 * p[1] ** 2
    >>> c = classify(loss, jnp.zeros(2), None, key=jax.random.key(0))
    >>> c.kind, int(c.num_negative)
    ('saddle', 1)

    References
    ----------
    Dauphin et al. (2014); Frye et al. (2021); Ubaru, Chen & Saad (2017), Fast
    estimation of tr(f(A)) via stochastic Lanczos quadrature, SIAM J. Matrix
    Anal. Appl. 38(4).
    """
    if method not in METHODS:
        raise ValueError(f"method: unknown method {method!r}; choose one of {METHODS}")
    tolerances = {"rtol": rtol, "atol": atol, "grad_tol": grad_tol, "grad_rtol": grad_rtol}
    for name, value in tolerances.items():
        if not value >= 0:
            raise ValueError(f"{name}: must be non-negative, got {value}")
    if int(num_iters) < 1:
        raise ValueError(f"num_iters: need at least 1, got {num_iters}")
    if int(num_probes) < 1:
        raise ValueError(f"num_probes: need at least 1, got {num_probes}")
    f, x, _ = curvature.flat_loss(loss, params)
    n = int(x.size)
    if method == "auto":
        method = "dense" if n <= DENSE_AUTO_MAX else "lanczos"
    dtype = x.dtype
    tols = tuple(jnp.asarray(t, dtype) for t in (rtol, atol, grad_tol, grad_rtol))
    if method == "dense":
        curvature.check_dense_size(n)
        return _classify_dense(f, x, batch, *tols, batch_size=batch_size)
    num_iters = min(int(num_iters), n)
    slq_iters = num_iters if slq_iters is None else min(int(slq_iters), n)
    curvature.check_memory(max(num_iters, slq_iters) + 2, n, dtype)
    return _classify_lanczos(
        f, x, batch, key, *tols, batch_size=batch_size, num_iters=num_iters,
        num_probes=int(num_probes), slq_iters=slq_iters, num_restarts=int(num_restarts),
    )


@functools.partial(
    jax.jit,
    static_argnames=("f", "batch_size", "num_iters", "num_probes", "slq_iters", "num_restarts"),
)
def _classify_lanczos(
    f, x, batch, key, rtol, atol, grad_tol, grad_rtol, *, batch_size, num_iters, num_probes,
    slq_iters, num_restarts,
):
    from landscape import lanczos

    value, g = _gradient(f, x, batch, batch_size)
    if batch_size is None:
        matvec = lambda v: jax.jvp(lambda y: jax.grad(f)(y, batch), (x,), (v,))[1]
    else:
        stacked, remainder = curvature.split_batches(batch, batch_size)
        matvec = lambda v: _chunked_hvp(f, x, stacked, remainder, batch_size, v)
    k_start, k_probes = jax.random.split(key)
    v0 = jax.random.normal(k_start, x.shape, x.dtype)
    eigs = lanczos.extreme_eigs(
        num_iters=num_iters, num_eigs=1, which="both", num_restarts=num_restarts
    )
    res = eigs(matvec, v0)
    lam_min, lam_max = res.eigvals[0], res.eigvals[-1]
    r_min, r_max = res.residuals[0], res.residuals[-1]
    hnorm = jnp.maximum(jnp.abs(lam_min), jnp.abs(lam_max))
    tau = jnp.maximum(atol, rtol * hnorm)
    density = lanczos.slq(num_iters=slq_iters, num_probes=num_probes)(
        matvec, k_probes, size=x.size, dtype=x.dtype
    )
    # per probe, the quadrature weight below -tau (the index) and within [-tau, tau]
    neg = jnp.sum(jnp.where(density.nodes < -tau, density.weights, 0.0), axis=1)
    null = jnp.sum(jnp.where(jnp.abs(density.nodes) <= tau, density.weights, 0.0), axis=1)
    index = jnp.mean(neg)
    index_err = jnp.std(neg, ddof=1) / math.sqrt(num_probes) if num_probes > 1 else jnp.inf
    n = x.size
    gnorm = jnp.linalg.norm(g)
    solve = minres(max_iters=num_iters, rtol=0.0)
    sol = solve(matvec, -g)
    flatness = _ratio(sol.residual_norm, gnorm) ** 2
    hg = matvec(g)
    hg_ratio = _ratio(jnp.linalg.norm(hg), hnorm * gnorm)
    threshold = _grad_threshold(grad_tol, grad_rtol, hnorm, x)
    code, curv = _kind_codes(lam_min < -tau, lam_max > tau, gnorm <= threshold)
    return Classification(
        code=code, curvature_code=curv, loss=value, grad_norm=gnorm, grad_threshold=threshold,
        lambda_min=lam_min, lambda_max=lam_max, residual_min=r_min, residual_max=r_max,
        certified_min=jnp.abs(lam_min) > r_min, certified_max=jnp.abs(lam_max) > r_max,
        tau=tau, rtol=rtol, num_negative=index * n,
        num_null=jnp.mean(null) * n, index=index,
        index_stderr=jnp.asarray(index_err, x.dtype), flatness=jnp.clip(flatness, 0.0, 1.0),
        hg_ratio=hg_ratio, num_params=jnp.int32(n), exact=jnp.asarray(False),
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


def find_critical_point(
    loss: Callable[..., Array],
    params: PyTree,
    batch: Batch,
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
        if int(value) < 1:
            raise ValueError(f"{name}: need at least 1, got {value}")
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
    hvp = lambda v, x: jax.jvp(lambda y: jax.grad(f)(y, batch), (x,), (v,))[1]
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
