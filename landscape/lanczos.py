"""Lanczos with full reorthogonalisation: tridiagonalisation and extreme eigenpairs.

Every solver follows one shape: a constructor fixes the integers and flags and returns
a pure function of arrays, ``solve(matvec, v0, *args)``, that jits (with ``matvec``
static) and vmaps over ``v0``. ``matvec(v, *args) -> H v`` acts on flat vectors, as
:class:`~landscape.curvature.FlatOperator` provides (Hessian, Gauss-Newton, Fisher).

* :func:`tridiagonalize` and :func:`symmetry_probe` (from :mod:`landscape.krylov`, where
  the Lanczos steps live): ``k`` steps with full reorthogonalisation; SLQ
  (:func:`landscape.stochtrace.slq`) is built on it.
* :func:`extreme_eigs`: Ritz pairs at one or both ends of the spectrum with residuals,
  thick-restarted (Wu & Simon 2000) when ``num_iters`` vectors are not enough.

lambda_max on independent data subsamples (``lambda_max_spread``) is in
:mod:`landscape.subsamples`, and importable from here.

What a result promises
----------------------
* Before the first step a *symmetry probe* applies the operator to two fixed
  pseudo-random unit vectors ``u, v`` and compares ``u^T H v`` with ``v^T H u``
  relative to ``|H v| + |H u|``; above ``symmetry_tol`` (default ``sqrt(eps)``:
  1.5e-8 in float64, 3.5e-4 in float32) the status is ``NOT_SYMMETRIC``: Lanczos on a
  non-symmetric matrix returns numbers that mean nothing. Two extra matvecs.
* A non-finite operator output stops the run with status ``NON_FINITE`` and NaN values.
* The residuals of :func:`extreme_eigs` are computed *explicitly* at the end, with one
  extra block of matvecs: ``|H x - theta x|`` of the returned unit vector ``x`` and its
  Rayleigh quotient ``theta``, plus a rounding floor ``10 (sqrt(n) eps + a) (|H x| +
  |theta|)`` where ``a`` is the asymmetry the probe measured (the operator's own
  rounding). So each residual bounds the true residual of the returned pair in the
  dtype the run used, float32 included, and an eigenvalue of ``H`` lies within it of
  ``theta`` (Kahan/Parlett). A Ritz value is a Rayleigh quotient, so ``theta_min``
  below ``-tau`` proves ``lambda_min < -tau``.
* Start vectors must have the operator's dtype (``TypeError`` otherwise: no silent
  down-cast), and a basis larger than the memory available now raises ``MemoryError``
  with both numbers (:func:`landscape._checks.check_memory`).
* Every result has ``status`` (:mod:`landscape.status`) and ``message()``.

References
----------
Lanczos, C. (1950). An iteration method for the solution of the eigenvalue problem
of linear differential and integral operators. J. Res. Nat. Bur. Standards 45.
Parlett, B. N. (1998). The Symmetric Eigenvalue Problem. SIAM.
Wu, K. and Simon, H. (2000). Thick-restart Lanczos method for large symmetric
eigenvalue problems. SIAM J. Matrix Anal. Appl. 22(2).
Giraud, L., Langou, J. and Rozloznik, M. (2005). The loss of orthogonality in the
Gram-Schmidt orthogonalization process. Comput. Math. Appl. 50.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from landscape import _checks, status
from landscape.krylov import (
    Tridiagonal,
    _check_int,
    _check_memory,
    _check_reortho,
    _check_start,
    _explicit_pairs,
    _fresh_vector,
    _init_krylov,
    _Krylov,
    _lanczos_step,
    _probe_status,
    _residual_bounds,
    _ritz,
    symmetry_probe,
    tridiagonalize,
)
from landscape.status import BREAKDOWN, NON_FINITE, NOT_CONVERGED, OK
from landscape.typing import Array

__all__ = [
    "STATUS_BREAKDOWN",
    "STATUS_NOT_CONVERGED",
    "STATUS_OK",
    "LanczosResult",
    "Tridiagonal",
    "extreme_eigs",
    "status_message",
    "symmetry_probe",
    "tridiagonalize",
]

STATUS_OK, STATUS_BREAKDOWN, STATUS_NOT_CONVERGED = OK, BREAKDOWN, NOT_CONVERGED
status_message = status.message

_WHICH = ("both", "largest", "smallest", "magnitude")


class LanczosResult(NamedTuple):
    """Extreme Ritz pairs of a symmetric operator.

    Attributes
    ----------
    eigvals : (m,)
        Rayleigh quotients of the returned vectors, ascending: for ``which="both"`` the
        ``num_eigs`` smallest followed by the ``num_eigs`` largest (NaN unless the
        status is usable).
    eigvecs : (n, m)
        Unit Ritz vectors as columns.
    residuals : (m,)
        ``|H x - theta x|`` computed explicitly for each returned pair plus the rounding
        floor (module docstring): an eigenvalue of ``H`` lies within each of them.
    converged : (m,) bool
        ``residual <= tol * max|theta| + 2 * floor``: converged as far as ``tol`` or the
        arithmetic allows.
    num_matvecs : () int
        Products with the operator used (probe and final residuals included).
    status : () int
        :mod:`landscape.status` code (``OK``, ``BREAKDOWN``, ``NOT_CONVERGED``,
        ``NON_FINITE``, ``NOT_SYMMETRIC``); :meth:`message` reads it.
    num_restarts : () int
        Thick restarts performed.
    num_breakdowns : () int
        Steps at which an invariant subspace was found.
    asymmetry : ()
        The symmetry probe ``|u^T H v - v^T H u| / (|H v| + |H u|)``.
    """

    eigvals: Array
    eigvecs: Array
    residuals: Array
    converged: Array
    num_matvecs: Array
    status: Array
    num_restarts: Array
    num_breakdowns: Array
    asymmetry: Array

    def message(self):
        """The status as text (a list for a batched result)."""
        return status.message(self.status)


# ----------------------------------------------------------------------------------
# extreme eigenpairs


class _Run(NamedTuple):
    krylov: _Krylov
    theta: Array  # (k,) Ritz values at the last check (ascending, first j active)
    y: Array  # (k, k) their coordinate vectors
    res: Array  # (k,) their residual bounds
    conv: Array  # (k,) bool
    all_conv: Array  # () bool: every wanted Ritz value converged at the last check
    done: Array  # () bool
    num_restarts: Array  # () int
    verifying: Array  # () bool: the last restart started a fresh Krylov space
    reference: Array  # (m,) wanted Ritz values before that fresh restart


def extreme_eigs(
    *,
    num_iters: int,
    num_eigs: int = 1,
    which: str = "both",
    tol: float = 1e-6,
    reortho: str = "full",
    num_restarts: int = 0,
    num_keep: int | None = None,
    check_every: int = 5,
    check_multiplicity: bool = False,
    symmetry_tol: float | None = None,
    rtol: float = 0.0,
    keep_rule: str = "dynamic",
) -> Callable:
    """Extreme eigenpairs of a symmetric operator by (thick-restarted) Lanczos.

    Parameters
    ----------
    num_iters : int
        Size ``k`` of the Krylov basis: memory is ``k`` vectors. Without restarts it is
        also the most matvecs used; more ``k`` converges in fewer matvecs, because a
        restart forgets part of the Krylov space.
    num_eigs : int
        Eigenpairs wanted (from each end for ``which="both"``).
    which : {"both", "largest", "smallest", "magnitude"}
        Algebraically smallest and largest, largest only, smallest only, or largest
        in absolute value.
    tol : float
        Convergence: residual ``<= tol * max|theta| + rtol * |theta|``. With ``rtol=0``
        (the default) the residual is measured against ``max|theta|``, an estimate of
        the spectral norm: a small eigenvalue (lambda_min of a Hessian whose
        lambda_max is large) then comes out to a poor *relative* accuracy. The
        eigenvalue error is at most the residual, and usually about its square divided
        by the gap to the rest of the spectrum.
    reortho : {"full"}
        Full reorthogonalisation (twice) at every step.
    num_restarts : int
        Thick restarts allowed once the basis is full (Wu & Simon 2000): at most
        ``num_iters + num_restarts * (num_iters - num_keep)`` matvecs in all. With
        ``keep_rule="dynamic"`` the same budget counts matvecs (a restart may add
        fewer new vectors), and a cycle under way when it runs out completes.
    num_keep : int, optional
        Ritz vectors kept at a restart. By default, for ``"smallest"`` and
        ``"largest"`` the counts follow ``keep_rule``; otherwise about half the basis.
        For ``"both"`` they are split between the ends, most going to the end that has
        not converged yet.
    check_every : int
        Convergence is checked every this many steps (and when the basis is full);
        the run stops as soon as every requested Ritz value is converged.
    check_multiplicity : bool
        A Krylov space from one start vector holds one direction per distinct
        eigenvalue, so copies of a repeated eigenvalue are not seen. With this flag,
        once the wanted Ritz values converge the run restarts from a fresh vector
        orthogonal to them (keeping the converged vectors) and stops only when a
        whole fresh cycle leaves the wanted values unchanged: copies and any
        eigenvalue ``v0`` missed are found, at the cost of extra cycles.
    rtol : float
        Tolerance relative to each wanted Ritz value, in [0, 1): ``rtol=1e-3`` with
        ``tol=0`` stops when ``|H x - theta x| <= 1e-3 |theta|``, so lambda_min is
        known to 0.1 % of itself (the interval ``theta +- residual`` holds an
        eigenvalue). Set both to stop at whichever bound is the looser.
    keep_rule : {"dynamic", "fixed"}
        What a restart keeps for ``"smallest"`` and ``"largest"`` when ``num_keep`` is
        not given. ``"dynamic"`` (thick restart with dynamic counts, Stathopoulos,
        Saad & Wu 1998; Yamazaki et al. 2010): at each restart, the numbers of Ritz
        vectors kept at the wanted end and at the *other* end that maximise the
        convergence the next cycle buys, ``(new steps) * sqrt(gap ratio)``, the gap
        ratio being the wanted value's distance to the unresolved spectrum over that
        spectrum's width. Keeping the converged outliers of the far end (the large
        eigenvalues of a Hessian) takes them out of the width, which is what
        unrestarted Lanczos gains for free. At a 20-vector basis this needs about half
        the matvecs of scipy's ``eigsh`` (ARPACK, which keeps half the basis at the
        wanted end) for lambda_min of Hessian-like spectra (``benchmarks/
        bench_lambda_min.py``). ``"fixed"``: half the basis at the wanted end.
    symmetry_tol : float, optional
        Largest relative asymmetry the probe accepts (default ``sqrt(eps)``).

    Returns
    -------
    callable
        ``eigs(matvec, v0, *args) -> LanczosResult``. ``matvec(v, *args)`` returns
        ``H v``; jit with ``jax.jit(eigs, static_argnums=0)``, vmap over ``v0``.

    Raises
    ------
    ValueError
        For bad settings (naming the field), or ``num_iters`` above the operator size.
    MemoryError
        When ``num_iters`` vectors will not fit in memory.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> d = jnp.linspace(-1.0, 4.0, 50)
    >>> eigs = extreme_eigs(num_iters=50, num_eigs=2, which="both")
    >>> res = eigs(lambda v: d * v, jnp.ones(50))
    >>> [round(float(x), 4) for x in res.eigvals]
    [-1.0, -0.898, 3.898, 4.0]
    >>> bool(res.converged.all()), res.message()
    (True, 'ok: every requested quantity converged')

    References
    ----------
    Lanczos (1950); Parlett (1998), ch. 13; Wu & Simon (2000); Stathopoulos, A.,
    Saad, Y. and Wu, K. (1998). Dynamic thick restarting of the Davidson, and the
    implicitly restarted Arnoldi methods. SIAM J. Sci. Comput. 19(1). Yamazaki, I.,
    Bai, Z., Simon, H., Wang, L.-W. and Wu, K. (2010). Adaptive projection subspace
    dimension for the thick-restart Lanczos method. ACM Trans. Math. Softw. 37(3).
    """
    k = _check_int("num_iters", num_iters, minimum=2)
    m = _check_int("num_eigs", num_eigs, minimum=1)
    if which not in _WHICH:
        raise ValueError(f"which: unknown {which!r}; choose one of {_WHICH}")
    _check_reortho(reortho)
    r_max = _check_int("num_restarts", num_restarts, minimum=0)
    every = _check_int("check_every", check_every, minimum=1)
    tol = _checks.check_float("tol", tol, minimum=0.0)
    if symmetry_tol is not None:
        symmetry_tol = _checks.check_float("symmetry_tol", symmetry_tol, minimum=0.0)
    rtol = _checks.check_float("rtol", rtol, minimum=0.0)
    if not rtol < 1:
        raise ValueError(f"rtol: must be below 1, got {rtol}")
    if keep_rule not in ("dynamic", "fixed"):
        raise ValueError(f"keep_rule: unknown {keep_rule!r}; choose 'dynamic' or 'fixed'")
    ends = 2 if which == "both" else 1
    wanted = ends * m
    if wanted > k:
        raise ValueError(
            f"num_eigs: {wanted} Ritz values wanted but num_iters={k} gives only {k}"
        )
    if num_keep is None:
        p = min(k - 2, max(wanted + ends, k // 2))
    else:
        p = _check_int("num_keep", num_keep, minimum=1)
    if r_max > 0 and not (wanted <= p <= k - 2):
        raise ValueError(
            f"num_keep: must lie in [{wanted}, num_iters - 2 = {k - 2}] so that a restart "
            f"keeps the wanted vectors and still adds new ones, got {p}"
        )
    p = max(min(p, k - 2), wanted) if r_max > 0 else p
    dynamic = (
        keep_rule == "dynamic"
        and num_keep is None
        and which in ("smallest", "largest")
        and not check_multiplicity
    )

    def wanted_idx(j):
        lo = jnp.arange(m)
        hi = j - m + jnp.arange(m)
        if which == "smallest":
            return lo
        if which == "largest":
            return hi
        if which == "both":
            return jnp.concatenate([lo, hi])
        return None  # magnitude: needs theta

    def select(j, count_lo, count_hi, total):
        """``total`` indices, ascending: the ``count_lo`` smallest and ``count_hi`` largest
        active Ritz values (counts may be traced), and which of them are valid (fewer
        than ``total`` when the active block is small)."""
        idx = jnp.arange(k)
        keep = ((idx < count_lo) | (idx >= j - count_hi)) & (idx < j)
        chosen = jnp.argsort(~keep, stable=True)[:total]
        return chosen, keep[chosen]

    def magnitude_idx(theta, j, total):
        score = jnp.where(jnp.arange(k) < j, jnp.abs(theta), -1.0)
        chosen = jnp.sort(jax.lax.top_k(score, total)[1]).astype(jnp.result_type(j))
        return chosen, chosen < j

    def pick(theta, j):
        if which == "magnitude":
            return magnitude_idx(theta, j, m)[0]
        return wanted_idx(j)

    def evaluate(run: _Run) -> _Run:
        s = run.krylov
        theta, y = _ritz(s)
        res = _residual_bounds(s, y)
        active = jnp.arange(k) < s.j
        scale = jnp.max(jnp.where(active, jnp.abs(theta), 0.0))
        conv = res <= tol * scale + rtol * jnp.abs(theta)
        all_conv = jnp.all(conv[pick(theta, s.j)]) & (s.j >= wanted)
        return run._replace(theta=theta, y=y, res=res, conv=conv, all_conv=all_conv)

    def cycle(run: _Run, matvec, args) -> _Run:
        """Lanczos steps until the basis is full or the wanted Ritz values converge
        (checked every ``every`` steps); ends with a fresh evaluation."""

        def steps(r):
            def body(st):
                return _lanczos_step(matvec, args, st)

            def cond(st):
                return (st.j < k) & ((st.j % every != 0) | (st.j == r.krylov.j)) & st.finite

            return evaluate(r._replace(krylov=jax.lax.while_loop(cond, body, r.krylov)))

        def cond(r):
            stop = r.all_conv
            if check_multiplicity:
                stop = stop & ~r.verifying  # a verifying cycle runs to the end
            return (r.krylov.j < k) & ~stop & r.krylov.finite

        return jax.lax.while_loop(cond, steps, run._replace(all_conv=jnp.zeros((), bool)))

    def restart(run: _Run, theta, y, conv, fresh) -> _Run:
        """Thick restart: keep ``p`` Ritz vectors (or, with ``dynamic``, the counts at
        each end that :func:`_dynamic_counts` picks) and go on from the residual direction
        or, when ``fresh`` (only with ``check_multiplicity``), keep the converged ones
        and go on from a new vector orthogonal to them."""
        s = run.krylov
        width, count = p, p
        if which == "magnitude":
            keep, valid = magnitude_idx(theta, s.j, p)
        else:
            sel = wanted_idx(s.j)
            if dynamic:
                width = k - 2
                count_lo, count_hi = _dynamic_counts(theta, s.j, m, lowest=which == "smallest")
                if which == "largest":
                    count_lo, count_hi = count_hi, count_lo
                count = count_lo + count_hi
            elif which == "both":
                lo_conv = jnp.all(conv[sel[:m]])
                hi_conv = jnp.all(conv[sel[m:]])
                count_hi = jnp.where(
                    lo_conv & ~hi_conv, p - m, jnp.where(hi_conv & ~lo_conv, m, p - p // 2)
                )
                count_lo = p - count_hi
            elif which == "smallest":
                count_lo, count_hi = p, 0
            else:
                count_lo, count_hi = 0, p
            keep, valid = select(s.j, count_lo, count_hi, width)
        if dynamic:
            return _restart_dynamic(run, theta, y, keep, valid, count)
        ykeep = y[:, keep]  # (k, p)
        carried = s.dropped @ jnp.abs(ykeep)
        arrow = s.coupling * jnp.take(ykeep, s.j - 1, axis=0)
        theta_keep = theta[keep]
        j_new = jnp.asarray(p, s.j.dtype)
        if check_multiplicity:
            # a fresh restart keeps only converged vectors and drops their residual parts
            good = jnp.where(fresh, conv[keep] & valid, True)
            order = jnp.argsort(~good, stable=True)
            ykeep, theta_keep = ykeep[:, order], theta_keep[order]
            carried = (carried + jnp.where(fresh, jnp.abs(arrow), 0.0))[order]
            arrow = jnp.where(fresh, 0.0, arrow[order])
            j_new = jnp.where(fresh, jnp.sum(good).astype(s.j.dtype), j_new)
        basis = s.basis.at[:p].set(ykeep.T @ s.basis)
        idx = jnp.arange(k)
        proj = jnp.zeros_like(s.proj).at[idx[:p], idx[:p]].set(theta_keep)
        proj = proj.at[p, :p].set(arrow).at[:p, p].set(arrow)
        dropped = jnp.zeros_like(s.dropped).at[:p].set(carried)
        pending, coupling = s.pending, s.coupling
        if check_multiplicity:
            pending = jax.lax.cond(
                fresh,
                lambda: _fresh_vector(basis, idx < j_new, s.num_matvecs + k),
                lambda: pending,
            )
            coupling = jnp.where(fresh, 0.0, coupling).astype(coupling.dtype)
        krylov = s._replace(
            basis=basis, proj=proj, dropped=dropped, pending=pending, coupling=coupling, j=j_new
        )
        return run._replace(krylov=krylov, num_restarts=run.num_restarts + 1)

    def _restart_dynamic(run: _Run, theta, y, keep, valid, count) -> _Run:
        """The thick restart of ``restart`` with a traced number ``count`` of kept vectors
        (the first ``count`` of ``keep``, in a static width of ``k - 2``)."""
        s = run.krylov
        ykeep = jnp.where(valid[None, :], y[:, keep], 0.0)  # (k, k - 2)
        carried = s.dropped @ jnp.abs(ykeep)
        arrow = s.coupling * jnp.take(ykeep, s.j - 1, axis=0)
        theta_keep = jnp.where(valid, theta[keep], 0.0)
        width = keep.shape[0]
        idx = jnp.arange(k)
        basis = s.basis.at[:width].set(ykeep.T @ s.basis)
        proj = jnp.zeros_like(s.proj).at[idx[:width], idx[:width]].set(theta_keep)
        proj = proj.at[count, :width].set(arrow).at[:width, count].set(arrow)
        dropped = jnp.zeros_like(s.dropped).at[:width].set(carried)
        j_new = jnp.asarray(count, s.j.dtype)
        krylov = s._replace(basis=basis, proj=proj, dropped=dropped, j=j_new)
        return run._replace(krylov=krylov, num_restarts=run.num_restarts + 1)

    def outer(run: _Run, matvec, args) -> _Run:
        run = cycle(run, matvec, args)
        s = run.krylov
        theta, y, conv, all_conv = run.theta, run.y, run.conv, run.all_conv
        sel = pick(theta, s.j)
        scale = jnp.max(jnp.where(jnp.arange(k) < s.j, jnp.abs(theta), 0.0))
        if dynamic:  # the same budget in matvecs as the fixed rule's restarts
            budget = s.num_matvecs < k + r_max * (k - p)
        else:
            budget = run.num_restarts < r_max
        full = s.j >= k
        if check_multiplicity:
            eps = jnp.finfo(s.basis.dtype).eps
            close = jnp.abs(theta[sel] - run.reference) <= max(2 * tol, 100 * eps) * scale
            finished = all_conv & ((run.verifying & jnp.all(close)) | ~budget)
            go_fresh = all_conv & ~finished
        else:
            finished = all_conv
            go_fresh = jnp.zeros((), bool)
        go_normal = ~all_conv & full & budget
        give_up = (~all_conv & full & ~budget) | ~s.finite
        action = jnp.where(finished | give_up, 0, jnp.where(go_normal | go_fresh, 1, 2))

        def do_restart(r):
            r = restart(r, theta, y, conv, go_fresh)
            if check_multiplicity:
                r = r._replace(
                    verifying=r.verifying | go_fresh,
                    reference=jnp.where(go_fresh, theta[sel], r.reference),
                )
            return r

        def finish(r):
            return r._replace(done=jnp.ones((), bool))

        if r_max == 0:  # nothing to restart: no restart code to compile
            return jax.lax.cond(action == 0, finish, lambda r: r, run)
        return jax.lax.switch(action, [finish, do_restart, lambda r: r], run)

    def eigs(matvec: Callable, v0: Array, *args) -> LanczosResult:
        _check_start(matvec, v0, args)
        n = v0.shape[0]
        if k > n:
            raise ValueError(f"num_iters: {k} Lanczos vectors exceed the operator size {n}")
        _check_memory(k + 4, n, v0.dtype)
        asym, probe = _probe_status(matvec, v0, args, symmetry_tol)
        krylov = _init_krylov(v0, k)
        izero = jnp.zeros((), krylov.j.dtype)
        false = jnp.zeros((), bool)
        run = _Run(
            krylov=krylov,
            theta=jnp.zeros((k,), v0.dtype),
            y=jnp.zeros((k, k), v0.dtype),
            res=jnp.zeros((k,), v0.dtype),
            conv=jnp.zeros((k,), bool),
            all_conv=false,
            done=probe != OK,  # nothing to run on a non-symmetric or non-finite operator
            num_restarts=izero,
            verifying=false,
            reference=jnp.zeros((wanted,), v0.dtype),
        )
        run = jax.lax.while_loop(lambda r: ~r.done, lambda r: outer(r, matvec, args), run)
        s = run.krylov
        sel = pick(run.theta, s.j)
        vecs = s.basis.T @ run.y[:, sel]
        vecs = vecs / jnp.where(s.j > 0, jnp.linalg.norm(vecs, axis=0), 1.0)[None, :]
        theta, res, floor, finite = _explicit_pairs(matvec, args, vecs, asym)
        scale = jnp.max(jnp.abs(jnp.where(jnp.arange(k) < s.j, run.theta, 0.0)))
        conv = res <= tol * scale + rtol * jnp.abs(theta) + 2 * floor
        order = jnp.argsort(theta) if which != "both" else jnp.arange(theta.shape[0])
        theta, res, conv, vecs = theta[order], res[order], conv[order], vecs[:, order]
        finite = finite & s.finite
        code = jnp.where(
            probe != OK, probe,
            jnp.where(~finite, NON_FINITE,
                      jnp.where(~jnp.all(conv), NOT_CONVERGED,
                                jnp.where(s.num_breakdowns > 0, BREAKDOWN, OK))),
        ).astype(jnp.int32)
        usable = status.is_usable(code) | (code == NOT_CONVERGED)
        nan = jnp.asarray(jnp.nan, v0.dtype)
        return LanczosResult(
            eigvals=jnp.where(usable, theta, nan),
            eigvecs=vecs,
            residuals=jnp.where(usable, res, nan),
            converged=conv & usable,
            num_matvecs=s.num_matvecs + 2 + theta.shape[0],
            status=code,
            num_restarts=run.num_restarts,
            num_breakdowns=s.num_breakdowns,
            asymmetry=asym,
        )

    return eigs


def _dynamic_counts(theta, j, m: int, *, lowest: bool):
    """How many Ritz vectors a thick restart keeps at the wanted end and at the other.

    Among ``(near, far)`` with ``near >= m`` wanted-end vectors, ``far >= 0`` other-end
    vectors and at least two new steps, the pair that maximises the convergence the
    next cycle buys, ``(k - near - far) * sqrt(gap)`` with ``gap = (theta_near -
    theta_{m-1}) / (theta_{j-1-far} - theta_near)``: the number of new steps times the
    rate of a Chebyshev polynomial on the part of the spectrum left unresolved
    (Stathopoulos, Saad & Wu 1998; Yamazaki et al. 2010). Keeping vectors at the far
    end deflates outliers there (the large eigenvalues of a Hessian), which widens the
    relative gap at the wanted end. Returns ``(near, far)`` (traced), counted from the
    wanted end (``lowest``: the smallest Ritz values)."""
    k = theta.shape[0]
    active = jnp.arange(k) < j
    t = jnp.where(active, theta, 0.0)
    if not lowest:  # mirror: the wanted end first, in ascending order of -theta
        t = -jnp.roll(t[::-1], j - k)
    near = jnp.arange(k)[:, None]
    far = jnp.arange(k)[None, :]
    ok = (near >= m) & (near + far <= j - 2)
    top = jnp.take(t, jnp.clip(j - 1 - far, 0, k - 1))
    bottom = jnp.take(t, jnp.clip(near, 0, k - 1))
    ref = t[m - 1]
    num = jnp.maximum(bottom - ref, 0.0)
    den = jnp.maximum(top - bottom, jnp.finfo(t.dtype).tiny)
    steps = (k - near - far).astype(t.dtype)
    score = jnp.where(ok, steps * jnp.sqrt(num / den), -1.0)
    best = jnp.argmax(score.ravel())
    near_best, far_best = best // k, best % k
    default = jnp.minimum(jnp.maximum(m + 1, k // 2), j - 2)
    good = jnp.max(score) > 0
    return (
        jnp.where(good, near_best, default).astype(jnp.result_type(j)),
        jnp.where(good, far_best, 0).astype(jnp.result_type(j)),
    )


_MOVED = {
    "SpectralDensity": "stochtrace", "slq": "stochtrace", "density_on_grid": "stochtrace",
    "negative_fraction": "stochtrace", "negative_fraction_bounds": "stochtrace",
    "trace_estimate": "stochtrace", "restrict": "curvature", "subset_indices": "curvature",
    "SubsampleSpread": "subsamples", "lambda_max_spread": "subsamples",
}


def __getattr__(name):  # names that moved stay importable from here
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"landscape.{_MOVED[name]}"), name)
    raise AttributeError(f"module 'landscape.lanczos' has no attribute {name!r}")
