"""The Krylov machinery: Lanczos steps with full reorthogonalisation, the symmetry probe,
and tridiagonalisation.

:func:`tridiagonalize` runs ``k`` Lanczos steps (Gram-Schmidt twice, "twice is enough")
in a ``lax.fori_loop``, so compile time does not grow with ``k``; a breakdown (an
invariant subspace found early) continues with a new vector orthogonal to the basis,
so the tridiagonal matrix stays exact and block diagonal. :func:`symmetry_probe` is the
cheap test every solver runs first: ``u^T H v - v^T H u`` on two fixed pseudo-random
unit vectors, relative to ``|H v| + |H u|``. :mod:`landscape.lanczos` (extreme
eigenpairs, thick restarts) and :mod:`landscape.stochtrace` (SLQ) are built on this
module.

References
----------
Lanczos, C. (1950). J. Res. Nat. Bur. Standards 45. Paige, C. C. (1972). Computational
variants of the Lanczos method for the eigenproblem. IMA J. Appl. Math. 10. Giraud, L.,
Langou, J. and Rozloznik, M. (2005). Comput. Math. Appl. 50.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from landscape import _checks, status
from landscape.status import BREAKDOWN, NON_FINITE, NOT_SYMMETRIC, OK
from landscape.typing import Array

__all__ = ["Tridiagonal", "symmetry_probe", "tridiagonalize"]

_FRESH_SEED = 0x1A2C05  # the deterministic vectors that continue a run after a breakdown
_PROBE_STEPS = (0x7FFFFFF0, 0x7FFFFFF1)  # the symmetry probe's two vectors


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
    status : () int
        ``OK``, ``BREAKDOWN``, ``NON_FINITE`` or ``NOT_SYMMETRIC`` (when probed).
    asymmetry : ()
        The symmetry probe (0 when ``check_symmetry=False``).
    """

    basis: Array
    alphas: Array
    betas: Array
    remainder_norm: Array
    num_breakdowns: Array
    status: Array
    asymmetry: Array

    def message(self):
        """The status as text (a list for a batched result)."""
        return status.message(self.status)


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
    finite: Array  # () bool, every operator output so far was finite


def _check_start(matvec, v0, args, field="v0"):
    """``v0`` is a flat floating vector that the operator maps to its own dtype and shape."""
    if jnp.ndim(v0) != 1:
        raise ValueError(
            f"{field}: expected a flat vector of shape (n,), got shape {jnp.shape(v0)}"
        )
    if not jnp.issubdtype(jnp.result_type(v0), jnp.floating):
        raise TypeError(f"{field}: expected a floating-point vector, got {jnp.result_type(v0)}")
    try:
        out = jax.eval_shape(matvec, v0, *args)
    except (TypeError, jax.dtypes.TypePromotionError) as err:  # the dtype refused
        raise TypeError(f"{field}: dtype {v0.dtype} refused by the operator: {err}") from None
    if getattr(out, "shape", None) != v0.shape:
        raise ValueError(f"matvec: returned {out} for a vector of shape {v0.shape}")
    if out.dtype != v0.dtype:
        raise TypeError(
            f"{field}: dtype {v0.dtype} does not match the operator's {out.dtype}; create it "
            f"with dtype={out.dtype.name} (nothing is cast silently)"
        )


def symmetry_probe(matvec: Callable, n: int, dtype, *args) -> tuple[Array, Array]:
    """``(asymmetry, finite)``: ``|u^T H v - v^T H u| / (|H v| + |H u|)`` for two fixed
    pseudo-random unit vectors (0 for the zero operator), and whether both outputs were
    finite. Two matvecs; exact symmetry gives rounding only (about ``eps``).

    >>> import jax.numpy as jnp
    >>> a = jnp.triu(jnp.ones((4, 4)))
    >>> float(symmetry_probe(lambda v: a @ v, 4, a.dtype)[0]) > 0.01
    True
    """
    empty = jnp.zeros((1, n), dtype)
    u, v = (_fresh_vector(empty, jnp.zeros((1,), bool), step) for step in _PROBE_STEPS)
    hu, hv = matvec(u, *args), matvec(v, *args)
    finite = jnp.all(jnp.isfinite(hu)) & jnp.all(jnp.isfinite(hv))
    den = jnp.linalg.norm(hv) + jnp.linalg.norm(hu)
    asym = jnp.abs(jnp.vdot(u, hv) - jnp.vdot(v, hu))
    return jnp.where(den > 0, asym / jnp.where(den > 0, den, 1.0), 0.0), finite


def _probe_status(matvec, v0, args, symmetry_tol):
    n, dtype = v0.shape[0], v0.dtype
    tol = math.sqrt(float(jnp.finfo(dtype).eps)) if symmetry_tol is None else symmetry_tol
    asym, finite = symmetry_probe(matvec, n, dtype, *args)
    code = jnp.where(~finite, NON_FINITE, jnp.where(asym > tol, NOT_SYMMETRIC, OK))
    return asym, code


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
        finite=jnp.ones((), bool),
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
    ok = jnp.all(jnp.isfinite(w))
    w = jnp.where(ok, w, 0.0)  # stop cleanly; the status says why
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
        finite=s.finite & ok,
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


def _explicit_pairs(matvec, args, vecs, asym):
    """Rayleigh quotients of the unit columns of ``vecs`` and their residuals computed
    with one matvec each, plus the rounding floor ``10 (sqrt(n) eps + asym) (|H x| +
    |theta|)`` that covers the rounding of the matvec and of the subtraction."""
    hx = jax.lax.map(lambda x: matvec(x, *args), vecs.T).T  # (n, m)
    theta = jnp.sum(vecs * hx, axis=0)
    n, eps = vecs.shape[0], jnp.finfo(vecs.dtype).eps
    floor = 10 * (math.sqrt(n) * eps + asym) * (jnp.linalg.norm(hx, axis=0) + jnp.abs(theta))
    res = jnp.linalg.norm(hx - vecs * theta[None, :], axis=0) + floor
    return theta, res, floor, jnp.all(jnp.isfinite(hx))


def _check_memory(num_vectors, size, dtype):
    _checks.check_memory(num_vectors, size, dtype)


# ----------------------------------------------------------------------------------
# tridiagonalisation


def tridiagonalize(*, num_iters: int, reortho: str = "full", check_symmetry: bool = True,
                   symmetry_tol: float | None = None) -> Callable:
    """Lanczos tridiagonalisation with full reorthogonalisation.

    Parameters
    ----------
    num_iters : int
        Number of Lanczos vectors ``k`` (matvecs used); at most the operator size.
    reortho : {"full"}
        Reorthogonalisation against every previous vector, twice (Giraud et al. 2005).
    check_symmetry : bool
        Run the symmetry probe first (two matvecs; see the module docstring).
    symmetry_tol : float, optional
        Largest relative asymmetry accepted (default ``sqrt(eps)`` of the dtype).

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
    if symmetry_tol is not None:
        symmetry_tol = _checks.check_float("symmetry_tol", symmetry_tol, minimum=0.0)

    def tridiag(matvec: Callable, v0: Array, *args) -> Tridiagonal:
        _check_start(matvec, v0, args)
        n = v0.shape[0]
        if k > n:
            raise ValueError(f"num_iters: {k} Lanczos vectors exceed the operator size {n}")
        _check_memory(k + 3, n, v0.dtype)
        if check_symmetry:
            asym, code = _probe_status(matvec, v0, args, symmetry_tol)
        else:
            asym, code = jnp.zeros((), v0.dtype), jnp.asarray(OK)
        state = _init_krylov(v0, k)
        state = jax.lax.fori_loop(0, k, lambda _, st: _lanczos_step(matvec, args, st), state)
        code = jnp.where(code != OK, code, jnp.where(~state.finite, NON_FINITE, jnp.where(
            state.num_breakdowns > 0, BREAKDOWN, OK)))
        return Tridiagonal(
            basis=state.basis,
            alphas=jnp.diagonal(state.proj),
            betas=state.offdiag[: k - 1],
            remainder_norm=state.offdiag[k - 1],
            num_breakdowns=state.num_breakdowns,
            status=code.astype(jnp.int32),
            asymmetry=asym,
        )

    return tridiag


_check_int = _checks.check_int


def _check_reortho(reortho):
    if reortho != "full":
        raise ValueError(
            f"reortho: only 'full' reorthogonalisation is implemented, got {reortho!r} "
            "(without it, Lanczos produces spurious copies of converged eigenvalues)"
        )
