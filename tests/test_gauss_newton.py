"""Gauss-Newton, its residual and the empirical Fisher against dense float64 references:
G = J^T H_out J, G + R = H, F = mean g_i g_i^T; plain, jitted, vmapped and chunked."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _core_fixtures import mlp_dense, mlp_problem
from jax.flatten_util import ravel_pytree

from landscape import critical, curvature, lanczos, objectives, status, stochtrace


def _gn_setup():
    loss, params, batch, op, model = mlp_problem()
    outputs = lambda p, x: model.apply(p, x)
    return outputs, objectives.cross_entropy, params, batch


def _dense_gn():
    outputs, out_loss, params, batch = _gn_setup()
    x0, unravel = ravel_pytree(params)
    jac = jax.jacfwd(lambda x: outputs(unravel(x), batch.x).ravel())(x0)  # (N * C, n)
    z = outputs(params, batch.x)
    h_out = jax.hessian(lambda zz: out_loss(zz.reshape(z.shape), batch.y))(z.ravel())
    return np.asarray(jac.T @ h_out @ jac)


def test_gauss_newton_equals_dense_jt_hout_j_and_g_plus_r_is_h():
    outputs, out_loss, params, batch = _gn_setup()
    g_op = curvature.gauss_newton_operator(outputs, out_loss, params, batch)
    r_op = curvature.gauss_newton_residual_operator(outputs, out_loss, params, batch)
    g, r, h = np.asarray(g_op.dense()), np.asarray(r_op.dense()), mlp_dense()
    np.testing.assert_allclose(g, _dense_gn(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(g + r, h, rtol=0, atol=1e-10)
    assert np.linalg.eigvalsh(g)[0] > -1e-12  # positive semi-definite (convex output loss)
    assert np.linalg.eigvalsh(h)[0] < -1e-3  # while the Hessian is indefinite here
    # chunked over the data: the same matrix
    chunked = curvature.gauss_newton_operator(outputs, out_loss, params, batch, batch_size=12)
    np.testing.assert_allclose(chunked.dense(), g, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_gauss_newton_plain_jitted_vmapped(key):
    outputs, out_loss, params, batch = _gn_setup()
    op = curvature.gauss_newton_operator(outputs, out_loss, params, batch)
    vs = jax.random.normal(key, (3, op.size))
    plain = jnp.stack([op(v) for v in vs])
    jitted = jax.jit(op.matvec)(vs[0], *op.args)
    vmapped = jax.vmap(op.matvec, in_axes=(0, None, None))(vs, *op.args)
    np.testing.assert_allclose(jitted, plain[0], rtol=0, atol=1e-13)
    np.testing.assert_allclose(vmapped, plain, rtol=0, atol=1e-13)
    np.testing.assert_allclose(plain.T, _dense_gn() @ np.asarray(vs).T, rtol=0, atol=1e-10)
    # vmapped over parameter sets (seeds as a batch axis): one operator per point
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 1.1 * a]), params)
    per_point = jax.vmap(
        lambda p: curvature.gauss_newton_operator(outputs, out_loss, p, batch)(vs[0]))(stacked)
    np.testing.assert_allclose(per_point[0], plain[0], rtol=0, atol=1e-13)


@pytest.mark.slow
def test_empirical_fisher_is_the_mean_outer_product():
    loss, params, batch, _, _ = mlp_problem()
    one = lambda i: jax.tree_util.tree_map(lambda a: a[i:i + 1], batch)
    grads = np.stack([np.asarray(ravel_pytree(jax.grad(loss)(params, one(i)))[0])
                      for i in range(40)])
    f_op = curvature.fisher_operator(loss, params, batch)
    np.testing.assert_allclose(f_op.dense(), grads.T @ grads / 40, rtol=0, atol=1e-12)
    chunked = curvature.fisher_operator(loss, params, batch, batch_size=16)
    np.testing.assert_allclose(chunked.dense(), grads.T @ grads / 40, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_every_solver_takes_the_gauss_newton_operator(key):
    """Lanczos, SLQ, Hutchinson and classify on G: Hessian outliers against G's."""
    outputs, out_loss, params, batch = _gn_setup()
    loss = mlp_problem()[0]
    op = curvature.gauss_newton_operator(outputs, out_loss, params, batch)
    exact = np.linalg.eigvalsh(_dense_gn())
    res = jax.jit(lanczos.extreme_eigs(num_iters=60, num_eigs=2, which="largest", tol=1e-10,
                                       num_restarts=5), static_argnums=0)(
        op.matvec, jax.random.normal(key, (op.size,)), *op.args)
    assert int(res.status) in (status.OK, status.BREAKDOWN), res.message()
    np.testing.assert_allclose(res.eigvals, exact[-2:], rtol=1e-9)
    trace = stochtrace.hutchinson_trace(op.matvec, key, *op.args, num_probes=200, size=op.size)
    assert abs(float(trace.trace) - exact.sum()) < 4 * float(trace.stderr)
    dens = stochtrace.slq(num_iters=30, num_probes=4)(op.matvec, key, *op.args, size=op.size)
    assert int(dens.status) == status.OK and float(jnp.min(dens.nodes)) > -1e-8
    c = critical.classify(loss, params, batch, key=key, operator=op)
    assert c.curvature in ("minimum", "degenerate") and int(c.status) == status.OK
    with pytest.raises(ValueError, match="operator: size"):
        critical.classify(loss, params, batch, key=key,
                          operator=curvature.restrict(op, np.arange(5)))


def test_gauss_newton_input_checks():
    outputs, out_loss, params, batch = _gn_setup()
    with pytest.raises(ValueError, match="batch: the Gauss-Newton operator needs a pair"):
        curvature.gauss_newton_operator(outputs, out_loss, params, batch.x)
    vector_loss = lambda z, y: jnp.sum(z, axis=1)
    with pytest.raises(ValueError, match="output_loss: must return a floating-point scalar"):
        curvature.gauss_newton_operator(outputs, vector_loss, params, batch)
    sum_loss = lambda z, y: 40.0 * out_loss(z, y) * z.shape[0] / 40.0
    with pytest.raises(ValueError, match="loss: is not a mean"):
        curvature.gauss_newton_operator(outputs, sum_loss, params, batch, batch_size=10)
