"""Lanczos with full reorthogonalisation: extreme eigenpairs with residuals, and SLQ.

Every solver here follows one shape: a constructor fixes the integers and flags and
returns a pure function of arrays, ``solve(matvec, v0, *args)``, that jits (with
``matvec`` static) and vmaps over ``v0``. ``matvec(v, *args) -> H v`` acts on flat
vectors, as :class:`~landscape.curvature.FlatOperator` provides.

* :func:`tridiagonalize`: ``k`` Lanczos steps with full reorthogonalisation
  (Gram-Schmidt twice, "twice is enough"), in a ``lax.fori_loop`` so compile time
  does not grow with ``k``. A breakdown (an invariant subspace found early, e.g.
  an operator of rank < k) continues with a new vector orthogonal to the basis,
  so the tridiagonal matrix stays exact and block diagonal.
* :func:`extreme_eigs`: Ritz pairs at one or both ends of the spectrum from a
  single run, each with the residual norm ``|H x - theta x|`` and a converged
  flag. When ``num_iters`` vectors are not enough (the bottom of a Hessian
  spectrum is crowded, so lambda_min converges slowly) the basis is restarted
  thick (Wu & Simon 2000): the wanted Ritz vectors are kept and the Krylov space
  grows again from the residual direction, so nothing already learned is lost.
  Convergence is checked every ``check_every`` steps, and the run stops as soon
  as every requested Ritz value is converged.
* :func:`slq`: stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017): the
  spectral density as nodes and weights per probe; :func:`density_on_grid`,
  :func:`negative_fraction` (the index) and :func:`trace_estimate` (Hutchinson's
  trace from the same probes), each with a standard error across probes.
* :func:`restrict`: the Hessian of a subset of the parameters (one layer, the
  weights without the biases) as a smaller operator; :func:`subset_indices`
  builds the subset from the parameter pytree.
* :func:`lambda_max_spread`: lambda_max on independent data subsamples, with the
  spread across them (a single minibatch gives a point estimate that can vary
  several-fold between batches).

Memory is ``num_iters`` vectors of the operator's size; a run that will not fit
raises :class:`MemoryError` before it starts (:func:`landscape.curvature.check_memory`).

Residuals are honest: a Ritz value ``theta`` with residual ``r`` has an
eigenvalue of ``H`` in ``[theta - r, theta + r]`` (Kahan/Parlett). The residual
reported is the Lanczos bound ``|beta_k y_k|`` plus every part of the Krylov
relation a breakdown or a restart dropped, so it bounds the true residual up to
rounding (tested). A Ritz value is a Rayleigh quotient, so ``theta_min`` below
``-tau`` already proves ``lambda_min < -tau``.

References
----------
Lanczos, C. (1950). An iteration method for the solution of the eigenvalue problem
of linear differential and integral operators. J. Res. Nat. Bur. Standards 45.
Parlett, B. N. (1998). The Symmetric Eigenvalue Problem. SIAM.
Wu, K. and Simon, H. (2000). Thick-restart Lanczos method for large symmetric
eigenvalue problems. SIAM J. Matrix Anal. Appl. 22(2).
Giraud, L., Langou, J. and Rozloznik, M. (2005). The loss of orthogonality in the
Gram-Schmidt orthogonalization process. Comput. Math. Appl. 50.
Ubaru, S., Chen, J. and Saad, Y. (2017). Fast estimation of tr(f(A)) via stochastic
Lanczos quadrature. SIAM J. Matrix Anal. Appl. 38(4).
Ghorbani, B., Krishnan, S. and Xiao, Y. (2019). An investigation into neural net
optimization via Hessian eigenvalue density. ICML.
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

PyTree = Any
Array = jax.Array

__all__ = [
    "STATUS_BREAKDOWN",
    "STATUS_NOT_CONVERGED",
    "STATUS_OK",
    "LanczosResult",
    "SpectralDensity",
    "SubsampleSpread",
    "Tridiagonal",
    "density_on_grid",
    "extreme_eigs",
    "lambda_max_spread",
    "negative_fraction",
    "negative_fraction_bounds",
    "restrict",
    "slq",
    "status_message",
    "subset_indices",
    "trace_estimate",
    "tridiagonalize",
]

STATUS_OK = 0
STATUS_BREAKDOWN = 1
STATUS_NOT_CONVERGED = 2

_MESSAGES = {
    STATUS_OK: "ok: every requested Ritz value converged",
    STATUS_BREAKDOWN: (
        "ok, with breakdown: an invariant subspace was found early (the operator has fewer "
        "distinct eigenvalues than Lanczos steps, or v0 lies in an invariant subspace); the run "
        "continued with new vectors orthogonal to it and every requested Ritz value converged"
    ),
    STATUS_NOT_CONVERGED: (
        "not converged: the budget of matvecs (num_iters, num_restarts) was spent before every "
        "requested residual fell below tol * max|theta|; raise num_iters or num_restarts"
    ),
}

_WHICH = ("both", "largest", "smallest", "magnitude")
_FRESH_SEED = 0x1A2C05  # the deterministic vectors that continue a run after a breakdown


def status_message(status) -> str | list:
    """The readable message of a status code (or a list of them for a batch of codes)."""
    codes = np.asarray(status)
    if codes.ndim == 0:
        return _MESSAGES[int(codes)]
    return [status_message(c) for c in codes]


class LanczosResult(NamedTuple):
    """Extreme Ritz pairs of a symmetric operator.

    Attributes
    ----------
    eigvals : (m,)
        Ritz values, ascending: for ``which="both"`` the ``num_eigs`` smallest
        followed by the ``num_eigs`` largest.
    eigvecs : (n, m)
        Unit Ritz vectors as columns.
    residuals : (m,)
        Bounds on ``|H x - theta x|`` (the Lanczos estimate plus every dropped part of
        the Krylov relation); an eigenvalue of ``H`` lies within each of them.
    converged : (m,) bool
        ``residuals <= tol * max|theta|`` over all Ritz values of the final basis
        (an estimate of the spectral norm).
    num_matvecs : () int
        Products with the operator used.
    status : () int
        :data:`STATUS_OK`, :data:`STATUS_BREAKDOWN` or :data:`STATUS_NOT_CONVERGED`;
        :meth:`message` reads it.
    num_restarts : () int
        Thick restarts performed.
    num_breakdowns : () int
        Steps at which an invariant subspace was found.
    """

    eigvals: Array
    eigvecs: Array
    residuals: Array
    converged: Array
    num_matvecs: Array
    status: Array
    num_restarts: Array
    num_breakdowns: Array

    def message(self):
        """The status as text (a list for a batched result)."""
        return status_message(self.status)


class Tridiagonal(NamedTuple):
    """A Lanczos decomposition ``H V^T = V^T T + r e_k^T`` with ``V`` orthonormal rows.

    Attributes
    ----------
    basis : (k, n)
        Orthonormal Lanczos vectors as rows; ``basis[0]`` is ``v0 / |v0|``.
    alphas : (k,)
        Diagonal of ``T``.
    betas : (k - 1,)
        Off-diagonal of ``T`` (zero where a breakdown occurred).
    remainder_norm : ()
        ``|r|``, the norm of what the last step left outside the basis.
    num_breakdowns : () int
        Steps at which an invariant subspace was found.
    """

    basis: Array
    alphas: Array
    betas: Array
    remainder_norm: Array
    num_breakdowns: Array


# ----------------------------------------------------------------------------------
# the Krylov machinery shared by tridiagonalize and extreme_eigs


class _Krylov(NamedTuple):
    basis: Array  # (k, n) rows; rows >= j are unused
    proj: Array  # (k, k) the projected matrix V H V^T (active block [:j, :j])
    dropped: Array  # (k,) norm of the residual part dropped from each column
    offdiag: Array  # (k,) offdiag[i] = |remainder| after step i (0 at a breakdown)
    pending: Array  # (n,) the next basis vector
    coupling: Array  # () |remainder| after the last step (0 after a breakdown)
    j: Array  # () int, vectors in use
    scale: Array  # () running max of |H v|, for the breakdown test
    num_matvecs: Array  # () int
    num_breakdowns: Array  # () int


def _check_v0(v0, field="v0"):
    if jnp.ndim(v0) != 1:
        raise ValueError(
            f"{field}: expected a flat vector of shape (n,), got shape {jnp.shape(v0)}"
        )
    if not jnp.issubdtype(jnp.result_type(v0), jnp.floating):
        raise ValueError(f"{field}: expected a floating-point vector, got {jnp.result_type(v0)}")


def _orthonormalize(z, basis, mask):
    """``z`` made orthogonal to the rows of ``basis`` selected by ``mask`` (twice) and
    normalised."""
    for _ in range(2):
        z = z - jnp.where(mask, basis @ z, 0.0) @ basis
    return z / jnp.linalg.norm(z)


def _fresh_vector(basis, mask, step):
    """A deterministic pseudo-random unit vector orthogonal to the active basis.

    Entries come from an integer hash of (position, step) (lowbias32), cheap to
    compile and the same on every run."""
    n = basis.shape[1]
    h = jnp.arange(n, dtype=jnp.uint32) * jnp.uint32(0x9E3779B1)
    salt = jnp.asarray(step).astype(jnp.uint32) * jnp.uint32(0x85EBCA6B)
    h = h ^ (salt + jnp.uint32(_FRESH_SEED))
    for shift, mult in ((16, 0x7FEB352D), (15, 0x846CA68B)):
        h = (h ^ (h >> shift)) * jnp.uint32(mult)
    h = h ^ (h >> 16)
    z = h.astype(basis.dtype) / 2.0**32 - 0.5
    return _orthonormalize(z, basis, mask)


def _init_krylov(v0, k: int) -> _Krylov:
    n, dtype = v0.shape[0], v0.dtype
    basis = jnp.zeros((k, n), dtype)
    norm = jnp.linalg.norm(v0)
    start = jax.lax.cond(
        norm > 0,
        lambda: v0 / jnp.where(norm > 0, norm, 1.0),
        lambda: _fresh_vector(basis, jnp.zeros((k,), bool), 0),
    )
    zero, izero = jnp.zeros((), dtype), jnp.zeros((), jnp.arange(0).dtype)
    return _Krylov(
        basis=basis,
        proj=jnp.zeros((k, k), dtype),
        dropped=jnp.zeros((k,), dtype),
        offdiag=jnp.zeros((k,), dtype),
        pending=start,
        coupling=zero,
        j=izero,
        scale=zero,
        num_matvecs=izero,
        num_breakdowns=izero,
    )


def _lanczos_step(matvec: Callable, args: tuple, s: _Krylov) -> _Krylov:
    """One step: add ``pending`` as basis vector ``j``, apply the operator once,
    orthogonalise against every active vector (twice) and store the coefficients as
    column/row ``j`` of the projected matrix."""
    k = s.basis.shape[0]
    dtype = s.basis.dtype
    idx = jnp.arange(k)
    v = s.pending
    basis = s.basis.at[s.j].set(v)
    w = jnp.asarray(matvec(v, *args))
    if w.shape != v.shape:
        raise ValueError(f"matvec: returned shape {w.shape} for a vector of shape {v.shape}")
    w = w.astype(dtype)
    scale = jnp.maximum(s.scale, jnp.linalg.norm(w))
    mask = idx <= s.j
    col = jnp.zeros((k,), dtype)
    for _ in range(2):  # classical Gram-Schmidt, twice
        c = jnp.where(mask, basis @ w, 0.0)
        w = w - c @ basis
        col = col + c
    beta = jnp.linalg.norm(w)
    breakdown = beta <= k * jnp.finfo(dtype).eps * scale
    pending = jax.lax.cond(
        breakdown,
        lambda: _fresh_vector(basis, mask, s.num_matvecs + 1),
        lambda: w / jnp.where(breakdown, 1.0, beta),
    )
    coupling = jnp.where(breakdown, 0.0, beta).astype(dtype)
    nxt = s.j + 1
    proj = s.proj.at[:, s.j].set(col).at[s.j, :].set(col)
    proj = proj.at[nxt, s.j].set(coupling, mode="drop").at[s.j, nxt].set(coupling, mode="drop")
    return _Krylov(
        basis=basis,
        proj=proj,
        dropped=s.dropped.at[s.j].set(jnp.where(breakdown, beta, 0.0).astype(dtype)),
        offdiag=s.offdiag.at[s.j].set(coupling),
        pending=pending,
        coupling=coupling,
        j=nxt,
        scale=scale,
        num_matvecs=s.num_matvecs + 1,
        num_breakdowns=s.num_breakdowns + breakdown.astype(s.num_breakdowns.dtype),
    )


def _ritz(s: _Krylov):
    """Eigen-decomposition of the active block of the projected matrix.

    Returns ascending ``theta`` (k,) whose first ``j`` entries are the Ritz values and
    ``Y`` (k, k) whose first ``j`` columns are their coordinate vectors (zero outside
    the active rows). Inactive rows are given a diagonal above every active Ritz value,
    which keeps the shapes static."""
    k = s.proj.shape[0]
    active = jnp.arange(k) < s.j
    both = active[:, None] & active[None, :]
    block = jnp.where(both, s.proj, 0.0)
    block = 0.5 * (block + block.T)
    bound = jnp.max(jnp.sum(jnp.abs(block), axis=1))  # >= every |eigenvalue| (Gershgorin)
    filler = jnp.where(bound > 0, 2.0 * bound, 1.0)
    theta, y = jnp.linalg.eigh(block + jnp.diag(jnp.where(active, 0.0, filler)))
    y = jnp.where(active[:, None], y, 0.0)
    return theta, y


def _residual_bounds(s: _Krylov, y):
    """``|H V^T y - theta V^T y| <= coupling |y_{j-1}| + sum_i dropped_i |y_i|``."""
    last = jnp.take(y, s.j - 1, axis=0)
    return s.coupling * jnp.abs(last) + s.dropped @ jnp.abs(y)


def _check_memory(num_vectors, size, dtype):
    curvature.check_memory(num_vectors, size, dtype)


# ----------------------------------------------------------------------------------
# tridiagonalisation


def tridiagonalize(*, num_iters: int, reortho: str = "full") -> Callable:
    """Lanczos tridiagonalisation with full reorthogonalisation.

    Parameters
    ----------
    num_iters : int
        Number of Lanczos vectors ``k`` (matvecs used); at most the operator size.
    reortho : {"full"}
        Reorthogonalisation against every previous vector, twice (Giraud et al. 2005).

    Returns
    -------
    callable
        ``tridiag(matvec, v0, *args) -> Tridiagonal``; jit with ``matvec`` static,
        vmap over ``v0``. Memory: ``k`` vectors of ``v0``'s size.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> d = jnp.arange(1.0, 6.0)
    >>> t = tridiagonalize(num_iters=5)(lambda v: d * v, jnp.ones(5))
    >>> jnp.round(jnp.linalg.eigvalsh(jnp.diag(t.alphas) + jnp.diag(t.betas, 1)
    ...     + jnp.diag(t.betas, -1)), 6)
    Array([1., 2., 3., 4., 5.], dtype=float32)

    References
    ----------
    Lanczos (1950); Paige, C. C. (1972). Computational variants of the Lanczos method
    for the eigenproblem. IMA J. Appl. Math. 10.
    """
    k = _check_int("num_iters", num_iters, minimum=1)
    _check_reortho(reortho)

    def tridiag(matvec: Callable, v0: Array, *args) -> Tridiagonal:
        _check_v0(v0)
        n = v0.shape[0]
        if k > n:
            raise ValueError(f"num_iters: {k} Lanczos vectors exceed the operator size {n}")
        _check_memory(k + 3, n, v0.dtype)
        state = _init_krylov(v0, k)
        state = jax.lax.fori_loop(0, k, lambda _, st: _lanczos_step(matvec, args, st), state)
        alphas = jnp.diagonal(state.proj)
        return Tridiagonal(
            basis=state.basis,
            alphas=alphas,
            betas=state.offdiag[: k - 1],
            remainder_norm=state.offdiag[k - 1],
            num_breakdowns=state.num_breakdowns,
        )

    return tridiag


def _check_int(field, value, *, minimum):
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{field}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{field}: must be at least {minimum}, got {value}")
    return int(value)


def _check_reortho(reortho):
    if reortho != "full":
        raise ValueError(
            f"reortho: only 'full' reorthogonalisation is implemented, got {reortho!r} "
            "(without it, Lanczos produces spurious copies of converged eigenvalues)"
        )


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
    (True, 'ok: every requested Ritz value converged')

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
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol: must be a finite non-negative number, got {tol!r}")
    if keep_rule not in ("dynamic", "fixed"):
        raise ValueError(f"keep_rule: unknown {keep_rule!r}; choose 'dynamic' or 'fixed'")
    if not (isinstance(rtol, int | float) and math.isfinite(rtol) and 0 <= rtol < 1):
        raise ValueError(f"rtol: must be a finite number in [0, 1), got {rtol!r}")
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
                return (st.j < k) & ((st.j % every != 0) | (st.j == r.krylov.j))

            return evaluate(r._replace(krylov=jax.lax.while_loop(cond, body, r.krylov)))

        def cond(r):
            stop = r.all_conv
            if check_multiplicity:
                stop = stop & ~r.verifying  # a verifying cycle runs to the end
            return (r.krylov.j < k) & ~stop

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
        give_up = ~all_conv & full & ~budget
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
        _check_v0(v0)
        n = v0.shape[0]
        if k > n:
            raise ValueError(f"num_iters: {k} Lanczos vectors exceed the operator size {n}")
        _check_memory(k + 4, n, v0.dtype)
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
            done=false,
            num_restarts=izero,
            verifying=false,
            reference=jnp.zeros((wanted,), v0.dtype),
        )
        run = jax.lax.while_loop(lambda r: ~r.done, lambda r: outer(r, matvec, args), run)
        s = run.krylov
        sel = pick(run.theta, s.j)
        status = jnp.where(
            run.all_conv,
            jnp.where(s.num_breakdowns > 0, STATUS_BREAKDOWN, STATUS_OK),
            STATUS_NOT_CONVERGED,
        )
        vecs = s.basis.T @ run.y[:, sel]
        theta, res, conv = run.theta, run.res, run.conv
        return LanczosResult(
            eigvals=theta[sel],
            eigvecs=vecs,
            residuals=res[sel],
            converged=conv[sel],
            num_matvecs=s.num_matvecs,
            status=status,
            num_restarts=run.num_restarts,
            num_breakdowns=s.num_breakdowns,
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


# ----------------------------------------------------------------------------------
# stochastic Lanczos quadrature


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
    """

    nodes: Array
    weights: Array
    size: Array


def slq(*, num_iters: int, num_probes: int, kind: str = "rademacher") -> Callable:
    """Stochastic Lanczos quadrature: the spectral density ``phi(t) = sum_i
    delta(t - lambda_i) / n`` as one Gauss quadrature rule per random probe.

    For a unit probe ``v``, ``v^T f(H) v = sum_i w_i f(theta_i)`` exactly for
    polynomials ``f`` of degree up to ``2k - 1``, with ``theta`` the Ritz values and
    ``w`` the squared first components of the Ritz vectors; averaging over probes
    estimates ``tr f(H) / n``.

    Parameters
    ----------
    num_iters : int
        Lanczos steps per probe (``k``).
    num_probes : int
        Number of probes from :func:`landscape.curvature.sample_probes`.
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
    >>> dens = slq(num_iters=10, num_probes=4)(lambda v: d * v, jax.random.key(0), size=10)
    >>> round(float(trace_estimate(dens)[0]), 3)  # exact for a diagonal operator
    55.0

    References
    ----------
    Golub, G. H. and Meurant, G. (2009). Matrices, Moments and Quadrature with
    Applications. Princeton. Ubaru, Chen & Saad (2017). Ghorbani et al. (2019).
    """
    k = _check_int("num_iters", num_iters, minimum=1)
    probes_count = _check_int("num_probes", num_probes, minimum=1)
    tridiag = tridiagonalize(num_iters=k)

    def density(matvec: Callable, key: Array, *args, size: int, dtype=None) -> SpectralDensity:
        size = _check_int("size", size, minimum=1)
        if k > size:
            raise ValueError(f"num_iters: {k} Lanczos vectors exceed the operator size {size}")
        probes = curvature.sample_probes(
            key, num_probes=probes_count, size=size, dtype=dtype, kind=kind
        )

        def one(z):
            t = tridiag(matvec, z, *args)
            mat = jnp.diag(t.alphas) + jnp.diag(t.betas, 1) + jnp.diag(t.betas, -1)
            theta, y = jnp.linalg.eigh(mat)
            return theta, jnp.square(y[0])

        nodes, weights = jax.lax.map(one, probes)
        return SpectralDensity(nodes, weights, jnp.asarray(size))

    return density


def density_on_grid(density: SpectralDensity, grid: Array, *, sigma: float) -> Array:
    """The density smoothed with a gaussian of width ``sigma``, on ``grid`` (g,).

    ``mean_probes sum_i w_i N(t; theta_i, sigma^2)``: a probability density that
    integrates to 1 over the real line (check the grid covers the spectrum plus a
    few ``sigma``). Plot it on a log scale to see the outliers (Ghorbani et al. 2019).
    """
    if not sigma > 0:
        raise ValueError(f"sigma: must be positive, got {sigma}")
    grid = jnp.asarray(grid)
    nodes, weights = density.nodes, density.weights
    diff = (grid[None, None, :] - nodes[:, :, None]) / sigma  # (p, k, g)
    kernel = jnp.exp(-0.5 * jnp.square(diff)) / (sigma * math.sqrt(2 * math.pi))
    return jnp.mean(jnp.sum(weights[:, :, None] * kernel, axis=1), axis=0)


def _mean_stderr(samples):
    count = samples.shape[0]
    mean = jnp.mean(samples)
    if count < 2:
        return mean, jnp.full((), jnp.inf, samples.dtype)
    return mean, jnp.std(samples, ddof=1) / math.sqrt(count)


def negative_fraction(density: SpectralDensity, *, threshold: float) -> tuple[Array, Array]:
    """The fraction of eigenvalues below ``-threshold`` (the index), with its
    standard error across probes: ``(estimate, stderr)``."""
    if not threshold >= 0:
        raise ValueError(f"threshold: must be non-negative, got {threshold}")
    per_probe = jnp.sum(jnp.where(density.nodes < -threshold, density.weights, 0.0), axis=1)
    return _mean_stderr(per_probe)


def negative_fraction_bounds(
    density: SpectralDensity, *, threshold: float
) -> tuple[Array, Array]:
    """Guaranteed bounds on each probe's fraction below ``-threshold``, averaged over probes:
    ``(lower, upper)``.

    A Gauss rule cannot resolve spectral mass closer to the threshold than its nodes.
    The Chebyshev-Markov-Stieltjes inequalities bound the distribution function of each
    probe's spectral measure between the weights up to the node below the threshold
    and up to the node above it: with ``E`` the weight of the nodes below ``t``,
    ``E - w_below <= F(t) <= E + w_above``. The estimate of :func:`negative_fraction`
    lies inside; a wide bracket means the spectrum has mass near the threshold that
    ``num_iters`` nodes cannot place (add iterations or move the threshold).

    References
    ----------
    Szego, G. (1939). Orthogonal Polynomials, section 3.41 (the Chebyshev-Markov-Stieltjes
    separation theorem). Golub & Meurant (2009).
    """
    if not threshold >= 0:
        raise ValueError(f"threshold: must be non-negative, got {threshold}")
    below = density.nodes < -threshold  # nodes ascending: a prefix of each row
    count = jnp.sum(below, axis=1)
    estimate = jnp.sum(jnp.where(below, density.weights, 0.0), axis=1)
    k = density.nodes.shape[1]
    rows = jnp.arange(density.nodes.shape[0])
    last_below = density.weights[rows, jnp.maximum(count - 1, 0)]
    first_above = density.weights[rows, jnp.minimum(count, k - 1)]
    lower = estimate - jnp.where(count > 0, last_below, 0.0)
    upper = estimate + jnp.where(count < k, first_above, 0.0)
    return jnp.mean(lower), jnp.mean(upper)


def trace_estimate(density: SpectralDensity, *, power: int = 1) -> tuple[Array, Array]:
    """``tr(H^power)`` from the same probes, ``n * sum_i w_i theta_i^power`` per probe:
    ``(estimate, stderr)``. For ``power=1`` and Rademacher probes each probe gives
    Hutchinson's ``z^T H z`` exactly (Hutchinson 1989)."""
    power = _check_int("power", power, minimum=0)
    size = jnp.asarray(density.size, density.nodes.dtype)
    per_probe = size * jnp.sum(density.weights * density.nodes**power, axis=1)
    return _mean_stderr(per_probe)


# ----------------------------------------------------------------------------------
# parameter subsets


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
        return jnp.asarray(matvec(full, *args))[indices].astype(v.dtype)

    return sub


def restrict(op: curvature.FlatOperator, indices) -> curvature.FlatOperator:
    """The operator restricted to a subset of the coordinates: ``H[S, S]``.

    ``indices`` are flat positions (e.g. from :func:`subset_indices`); the result is a
    :class:`~landscape.curvature.FlatOperator` of size ``len(indices)`` whose
    ``unravel`` puts a subset vector back into a full pytree (zeros elsewhere). Its
    eigenvalues are the curvature of the loss in those parameters alone, the others
    held fixed.
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

    return curvature.FlatOperator(
        matvec=_restricted_matvec(op.matvec, size),
        args=(idx, *op.args),
        size=int(indices.size),
        dtype=op.dtype,
        unravel=unravel,
    )


# ----------------------------------------------------------------------------------
# lambda_max across data subsamples


class SubsampleSpread(NamedTuple):
    """lambda_max of the Hessian on independent data subsamples.

    Attributes
    ----------
    values : (s,)      lambda_max on each subsample
    residuals : (s,)   its residual bound
    indices : (s, b)   the examples of each subsample
    mean, std : ()     across subsamples (std with ddof=1)
    min, max : ()
    ratio : ()         max / min, the several-fold spread a single batch hides
    """

    values: Array
    residuals: Array
    indices: Array
    mean: Array
    std: Array
    min: Array
    max: Array
    ratio: Array


def lambda_max_spread(
    loss: Callable,
    params: PyTree,
    batch,
    *,
    key: Array,
    num_subsamples: int,
    subsample_size: int,
    num_iters: int = 30,
    tol: float = 1e-6,
    num_restarts: int = 5,
) -> SubsampleSpread:
    """lambda_max of ``loss`` on ``num_subsamples`` random subsets of ``batch``.

    Each subsample draws ``subsample_size`` examples without replacement,
    independently of the others (``key``); each runs :func:`extreme_eigs` with
    ``which="largest"`` on that subsample's Hessian, one after another.
    """
    count = _check_int("num_subsamples", num_subsamples, minimum=1)
    total = len(jax.tree_util.tree_leaves(batch)[0])
    size = _check_int("subsample_size", subsample_size, minimum=1)
    if size > total:
        raise ValueError(f"subsample_size: {size} exceeds the {total} examples in batch")
    op = curvature.hessian_operator(loss, params, batch)
    x0 = op.args[0]
    k_sub, k_v0 = jax.random.split(key)
    picks = jax.vmap(lambda kk: jax.random.choice(kk, total, (size,), replace=False))(
        jax.random.split(k_sub, count)
    )
    v0s = jax.random.normal(k_v0, (count, op.size), x0.dtype)
    eigs = extreme_eigs(
        num_iters=min(num_iters, op.size), num_eigs=1, which="largest", tol=tol,
        num_restarts=num_restarts,
    )
    arrays = jax.tree_util.tree_map(jnp.asarray, batch)

    @jax.jit
    def run(picks, v0s, x0, arrays):
        def one(inputs):
            pick, v0 = inputs
            sub = jax.tree_util.tree_map(lambda a: a[pick], arrays)
            res = eigs(op.matvec, v0, x0, sub)
            return res.eigvals[-1], res.residuals[-1]

        return jax.lax.map(one, (picks, v0s))

    values, residuals = run(picks, v0s, x0, arrays)
    std = jnp.std(values, ddof=1) if count > 1 else jnp.zeros((), values.dtype)
    return SubsampleSpread(
        values=values,
        residuals=residuals,
        indices=picks,
        mean=jnp.mean(values),
        std=std,
        min=jnp.min(values),
        max=jnp.max(values),
        ratio=jnp.max(values) / jnp.min(values),
    )
