"""Hessian-vector products against dense float64 Hessians and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape import curvature, data, models, objectives


def _problem(kind, key):
    k_data, k_init = jax.random.split(key)
    if kind == "mlp":
        model, x = models.mlp(6, (7, 5), 3, activation="tanh"), jax.random.normal(k_data, (20, 6))
        y, loss = jax.random.randint(k_data, (20,), 0, 3), "cross_entropy"
    elif kind == "cnn":
        model = models.cnn1d(12, 3, channels=(3, 4), kernel_size=3, activation="softplus")
        x, y, loss = (
            jax.random.normal(k_data, (10, 12)),
            jax.random.randint(k_data, (10,), 0, 3),
            "cross_entropy",
        )
    else:
        model, x = models.deep_linear(4, (3, 3), 2), jax.random.normal(k_data, (15, 4))
        y, loss = jax.random.normal(k_init, (15, 2)), "mse"
    params = model.init(k_init)
    return objectives.make_loss(model.apply, loss=loss), params, data.Batch(x, y)


KINDS = ["mlp", "cnn", "deep_linear"]


@pytest.mark.parametrize("kind", KINDS)
def test_hvp_equals_dense_hessian(kind, key):
    loss, params, batch = _problem(kind, key)
    flat, unravel = ravel_pytree(params)
    dense = jax.hessian(lambda x: loss(unravel(x), batch))(flat)
    v = jax.random.normal(key, flat.shape)
    got = ravel_pytree(curvature.hvp(loss, params, batch, unravel(v)))[0]
    expected = dense @ v
    rel = float(jnp.linalg.norm(got - expected) / jnp.linalg.norm(expected))
    assert rel < 1e-10, rel
    op = curvature.hessian_operator(loss, params, batch)
    assert float(jnp.linalg.norm(op(v) - expected) / jnp.linalg.norm(expected)) < 1e-10
    np.testing.assert_allclose(
        curvature.dense_hessian(loss, params, batch), dense, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(op.dense(), dense, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_hvp_matches_central_difference_to_second_order(kind, key):
    loss, params, batch = _problem(kind, key)
    op = curvature.hessian_operator(loss, params, batch)
    f, x0, _ = curvature.flat_loss(loss, params)
    g = jax.jit(jax.grad(f))
    v = jax.random.normal(key, x0.shape)
    hv = op(v)
    errors = []
    for eps in (2e-3, 1e-3):
        fd = (g(x0 + eps * v, batch) - g(x0 - eps * v, batch)) / (2 * eps)
        errors.append(float(jnp.linalg.norm(fd - hv) / jnp.linalg.norm(hv)))
    # central differences are O(eps^2): halving eps divides the error by ~4
    assert errors[0] < 1e-3
    if kind != "deep_linear" or errors[0] > 1e-11:
        assert 3.0 < errors[0] / errors[1] < 5.0, errors


@pytest.mark.parametrize("batch_size", [5, 7, 20])
def test_dataset_operator_equals_full_batch(batch_size, key):
    loss, params, batch = _problem("mlp", key)
    full = curvature.hessian_operator(loss, params, batch)
    chunked = curvature.dataset_hessian_operator(loss, params, batch, batch_size=batch_size)
    v = jax.random.normal(key, (full.size,))
    np.testing.assert_allclose(chunked(v), full(v), rtol=1e-11, atol=1e-13)


def test_operator_works_plain_jitted_and_vmapped(key):
    loss, params, batch = _problem("mlp", key)
    op = curvature.hessian_operator(loss, params, batch)
    vs = jax.random.normal(key, (4, op.size))
    plain = jnp.stack([op(v) for v in vs])
    jitted = jax.jit(op.matvec)
    np.testing.assert_allclose(jnp.stack([jitted(v, *op.args) for v in vs]), plain, rtol=1e-12)
    vmapped = jax.vmap(op.matvec, in_axes=(0, None, None))(vs, *op.args)
    np.testing.assert_allclose(vmapped, plain, rtol=1e-12)
    # the matvec is one cached function: a second operator at new parameters reuses it
    other = curvature.hessian_operator(
        loss, jax.tree_util.tree_map(lambda p: p + 1.0, params), batch
    )
    assert other.matvec is op.matvec
    # vmapped over parameters (e.g. seeds) as well
    stacked = jnp.stack([op.args[0], other.args[0]])
    both = jax.vmap(op.matvec, in_axes=(None, 0, None))(vs[0], stacked, batch)
    np.testing.assert_allclose(both[1], other(vs[0]), rtol=1e-12)


def test_scipy_view_matches(key):
    loss, params, batch = _problem("mlp", key)
    op = curvature.hessian_operator(loss, params, batch)
    lin = op.to_scipy()
    v = np.asarray(jax.random.normal(key, (op.size,)))
    np.testing.assert_allclose(lin @ v, op(jnp.asarray(v)), rtol=1e-12)
    assert lin.num_matvecs == 1


def test_hutchinson_is_unbiased(key):
    """Mean of many independent estimates within 4 standard errors of the exact trace."""
    loss, params, batch = _problem("mlp", key)
    op = curvature.hessian_operator(loss, params, batch)
    exact = float(jnp.trace(op.dense()))
    estimate = jax.jit(
        lambda k: curvature.hutchinson_trace(op.matvec, k, *op.args, num_probes=10, size=op.size)
    )
    keys = jax.random.split(key, 200)
    runs = jax.vmap(estimate)(keys)
    grand_mean = float(jnp.mean(runs.trace))
    stderr = float(jnp.std(runs.trace, ddof=1) / np.sqrt(len(keys)))
    assert abs(grand_mean - exact) < 4 * stderr, (grand_mean, exact, stderr)
    # each run's own standard error is an honest scale for its error (median |z| < 2)
    z = jnp.abs(runs.trace - exact) / runs.stderr
    assert float(jnp.median(z)) < 2.0


def test_hutchinson_exact_for_diagonal(key):
    d = jnp.arange(1.0, 11.0)
    est = curvature.hutchinson_trace(lambda v: d * v, key, num_probes=3, size=10)
    assert float(est.trace) == pytest.approx(55.0, rel=1e-14)


def test_grad_norm_matches_dense(key):
    loss, params, batch = _problem("mlp", key)
    f, x0, _ = curvature.flat_loss(loss, params)
    expected = float(jnp.linalg.norm(jax.grad(f)(x0, batch)))
    assert float(curvature.grad_norm(loss, params, batch)) == pytest.approx(expected, rel=1e-12)


def test_bad_inputs_are_refused(key):
    loss, params, batch = _problem("mlp", key)
    with pytest.raises(ValueError, match="dense Hessian"):
        curvature.dense_hessian(loss, params, batch, max_size=10)
    with pytest.raises(ValueError, match="v: leaf of shape"):
        curvature.hvp(loss, params, batch, [{"w": jnp.ones((2, 2)), "b": p["b"]} for p in params])
    with pytest.raises(ValueError, match="batch_size"):
        curvature.dataset_hessian_operator(loss, params, batch, batch_size=1000)
    with pytest.raises(MemoryError, match="GiB"):
        curvature.check_memory(100, 10**9, np.float64, limit_bytes=2**30)
