"""MINRES against scipy's iterates, on indefinite and singular systems, with statuses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg as sla

from landscape import status
from landscape.minres import minres

# ------------------------------------------------------------------------------ MINRES


def _indefinite(key, n=30, spectrum=None):
    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**30)))
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    if spectrum is None:
        spectrum = np.concatenate([np.linspace(-3, -0.5, n // 3), np.linspace(0.2, 5, n - n // 3)])
    return q @ np.diag(spectrum) @ q.T, q, rng.standard_normal(n)


@pytest.mark.parametrize("iters", [1, 2, 5, 12, 20])
def test_minres_reproduces_scipy_iterates(iters, key):
    a, _, b = _indefinite(key)
    expected, _ = sla.minres(a, b, maxiter=iters, rtol=0.0)
    res = minres(max_iters=iters)(lambda v: jnp.asarray(a) @ v, jnp.asarray(b))
    assert int(res.num_iters) == iters and int(res.stop) == 6
    assert int(res.status) == status.NOT_CONVERGED and "not converged" in res.message()
    np.testing.assert_allclose(res.x, expected, rtol=0, atol=1e-12)
    # the recurrence's residual estimate is the true residual
    assert abs(float(res.residual_norm) - np.linalg.norm(b - a @ expected)) < 1e-10


def test_minres_solves_indefinite_and_least_squares_singular(key):
    a, q, b = _indefinite(key)
    res = minres(max_iters=200, rtol=1e-13)(lambda v: jnp.asarray(a) @ v, jnp.asarray(b))
    np.testing.assert_allclose(res.x, np.linalg.solve(a, b), rtol=0, atol=1e-10)
    assert int(res.stop) in (1, 3)
    # singular and incompatible: the residual is the part of b in the null space
    spectrum = np.linalg.eigvalsh(a)
    spectrum[[0, 7, 20]] = 0.0
    a0 = q @ np.diag(np.sort(spectrum)) @ q.T
    w, v = np.linalg.eigh(a0)
    null = v[:, np.abs(w) < 1e-12]
    assert null.shape[1] == 3
    res = minres(max_iters=200, rtol=1e-10)(lambda u: jnp.asarray(a0) @ u, jnp.asarray(b))
    assert int(res.stop) == 2  # least-squares stop
    x = np.asarray(res.x)
    r = b - a0 @ x
    assert np.linalg.norm(a0 @ r) < 1e-7 * np.linalg.norm(b)  # normal equations
    assert np.linalg.norm(x) < 10 * np.linalg.norm(np.linalg.pinv(a0) @ b)  # no run-off
    assert abs(np.linalg.norm(r) - np.linalg.norm(null.T @ b)) < 1e-9
    assert abs(float(res.residual_norm) - np.linalg.norm(r)) < 1e-9


@pytest.mark.slow
def test_minres_plain_jitted_vmapped(key):
    a, _, _ = _indefinite(key, n=12)
    bs = jax.random.normal(key, (4, 12))
    solve = minres(max_iters=8)
    mv = lambda v, m: m @ v
    plain = jnp.stack([solve(mv, b, jnp.asarray(a)).x for b in bs])
    jitted = jnp.stack([jax.jit(solve, static_argnums=0)(mv, b, jnp.asarray(a)).x for b in bs])
    vmapped = jax.vmap(lambda b: solve(mv, b, jnp.asarray(a)).x)(bs)
    np.testing.assert_allclose(jitted, plain, rtol=0, atol=1e-13)
    np.testing.assert_allclose(vmapped, plain, rtol=0, atol=1e-13)
    for b, x in zip(bs, plain, strict=True):
        expected = sla.minres(a, np.asarray(b), maxiter=8, rtol=0.0)[0]
        np.testing.assert_allclose(x, expected, rtol=0, atol=1e-12)


def test_minres_zero_rhs_and_bad_input():
    res = minres(max_iters=5)(lambda v: 2.0 * v, jnp.zeros(3))
    assert int(res.stop) == 5 and int(res.num_iters) == 0 and float(jnp.abs(res.x).max()) == 0.0
    assert int(res.status) == status.OK
    with pytest.raises(ValueError, match="max_iters"):
        minres(max_iters=0)
    with pytest.raises(ValueError, match="rtol"):
        minres(max_iters=3, rtol=-1.0)


def test_minres_refuses_a_dtype_mismatch_and_reports_non_finite():
    """A float32 right-hand side for a float64 operator is an error, not a silent cast;
    NaN in the operator gives the NON_FINITE status."""
    a = jnp.eye(4, dtype=jnp.float64)
    with pytest.raises(TypeError, match="b:.*float32.*float64"):
        minres(max_iters=3)(lambda v: a @ v, jnp.ones(4, jnp.float32))
    res = minres(max_iters=3)(lambda v: a.at[0, 0].set(jnp.nan) @ v, jnp.ones(4))
    assert int(res.status) == status.NON_FINITE, res.message()
