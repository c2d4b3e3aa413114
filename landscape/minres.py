"""MINRES for symmetric, possibly indefinite or singular systems (Paige & Saunders 1975).

One pure function of arrays, ``solve(matvec, b, *args)``, that jits and vmaps: the
Newton-MR finder and the gradient-flatness measure of :func:`landscape.critical.classify`
use it with Hessian-vector products.

References
----------
Paige, C. C. & Saunders, M. A. (1975). Solution of sparse indefinite systems of
linear equations. SIAM J. Numer. Anal. 12(4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from landscape import _checks, status
from landscape.typing import Array

__all__ = ["MinresResult", "minres"]


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
    status : ()         :mod:`landscape.status` code: ``OK`` for ``stop`` 1-5 and 7
                        (an answer, perhaps least-squares), ``NOT_CONVERGED`` for 6,
                        ``NON_FINITE`` when the operator returned NaN or infinity
    """

    x: Array
    residual_norm: Array
    ar_norm: Array
    anorm: Array
    acond: Array
    num_iters: Array
    stop: Array
    status: Array

    def message(self):
        """The status as text (a list for a batched result)."""
        return status.message(self.status)


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
    lies in (or near) the null space of ``A``, which ``classify`` and the
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
    max_iters = _checks.check_int("max_iters", max_iters, minimum=1)
    rtol = _checks.check_float("rtol", rtol, minimum=0.0)
    shift = _checks.check_float("shift", shift)

    def solve(matvec: Callable[..., Array], b: Array, *args) -> MinresResult:
        if jnp.ndim(b) != 1 or not jnp.issubdtype(jnp.result_type(b), jnp.floating):
            raise ValueError(f"b: expected a floating-point vector of shape (n,), got {b!r}")
        try:
            out = jax.eval_shape(matvec, b, *args)
        except (TypeError, jax.dtypes.TypePromotionError) as err:  # the dtype refused
            raise TypeError(f"b: dtype {b.dtype} refused by the operator: {err}") from None
        if out.shape != b.shape or out.dtype != b.dtype:
            raise TypeError(
                f"b: matvec maps {b.dtype}{list(b.shape)} to {out.dtype}{list(out.shape)}; "
                f"b must have the operator's dtype and size"
            )
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
        y = matvec(v, *args) - shift * v
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
    finite = jnp.isfinite(s["phibar"]) & jnp.all(jnp.isfinite(s["x"]))
    code = jnp.where(~finite, status.NON_FINITE,
                     jnp.where(s["stop"] == 6, status.NOT_CONVERGED, status.OK))
    return MinresResult(
        x=jnp.where(ls, s["x_prev"], s["x"]),
        residual_norm=jnp.where(ls, s["phibar_prev"], s["phibar"]),
        ar_norm=s["arnorm"], anorm=s["anorm"],
        acond=acond, num_iters=s["itn"], stop=s["stop"], status=code.astype(jnp.int32),
    )


