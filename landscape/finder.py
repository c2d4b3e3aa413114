"""Newton-MR: converge to exact critical points of any index (minima, saddles, maxima).

MINRES (:mod:`landscape.minres`) on ``H p = -g`` with Hessian-vector products
(:func:`landscape.curvature.hvp`) and a non-monotone backtracking line search on
``|g|^2`` (Roosta et al. 2018; Frye et al. 2019). It reports ``"converged"`` only when
``|g| <= tol``: a gradient-flat point is never called critical (Frye et al. 2021).
:func:`landscape.critical.classify` says what the point found is.

References
----------
Roosta, F., Liu, Y., Xu, P. & Mahoney, M. W. (2018). Newton-MR: Newton's method
without smoothness or convexity. arXiv:1810.00303.
Frye, C. G., Wadia, N. S., DeWeese, M. R. & Bouchard, K. E. (2019). Numerically
recognizing and characterizing the critical points of neural network loss functions.
arXiv:1902.10268.
Frye, C. G. et al. (2021). Critical point-finding methods reveal gradient-flat regions
of deep network losses. Neural Computation 33(6).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landscape import _checks, curvature
from landscape.minres import _minres
from landscape.typing import Array, PyTree

__all__ = ["STATUSES", "FinderResult", "find_critical_point"]

STATUSES = ("converged", "gradient_flat", "stalled", "diverged")
"""How :func:`find_critical_point` stopped; ``FinderResult.status_code`` indexes this tuple."""
CONVERGED, GRADIENT_FLAT, STALLED, DIVERGED = range(4)


def _names(table, code):
    code = np.asarray(code)
    if code.ndim == 0:
        return table[int(code)]
    return np.asarray(table, dtype=object)[code]


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
