"""Hessian-vector products against dense float64 Hessians and finite differences; the one
chunked batch mean; the data-set operator's mean check; parameter subsets."""

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _core_fixtures import mlp_dense, mlp_problem
from jax.flatten_util import ravel_pytree

from landscape import curvature, data, lanczos, models, objectives, stochtrace


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
@pytest.mark.slow
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


@pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=pytest.mark.slow) if k in ("cnn", "deep_linear") else k
             for k in KINDS])
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


@pytest.mark.parametrize("batch_size", [pytest.param(5, marks=pytest.mark.slow), 7, 20])
def test_dataset_operator_equals_full_batch(batch_size, key):
    loss, params, batch = _problem("mlp", key)
    full = curvature.hessian_operator(loss, params, batch)
    chunked = curvature.dataset_hessian_operator(loss, params, batch, batch_size=batch_size)
    v = jax.random.normal(key, (full.size,))
    np.testing.assert_allclose(chunked(v), full(v), rtol=1e-11, atol=1e-13)


@pytest.mark.slow
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
        lambda k: stochtrace.hutchinson_trace(op.matvec, k, *op.args, num_probes=10, size=op.size)
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
    est = stochtrace.hutchinson_trace(lambda v: d * v, key, num_probes=3, size=10)
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
        curvature.check_memory(100, 10**9, np.float64, available=2**30)


def test_one_hvp_formula_in_one_core_module():
    """``jax.jvp`` appears in curvature.py and in no other module of the package."""
    root = pathlib.Path(curvature.__file__).parent
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if re.search(r"jax\.jvp\b", p.read_text()))
    assert users == ["curvature.py"], users


def test_sum_loss_is_refused_by_the_chunked_operator(key):
    """A sum loss used to give v'Hv 6,431 against 28,173 unbatched, silently. Now the
    operator refuses it, or with reduction='sum' adds the chunk Hessians (exact)."""
    loss, params, batch = _problem("mlp", key)
    sum_loss = lambda p, b: loss(p, b) * b.x.shape[0]
    with pytest.raises(ValueError, match="loss: is not a mean over its batch"):
        curvature.dataset_hessian_operator(sum_loss, params, batch, batch_size=6)
    summed = curvature.hessian_operator(sum_loss, params, batch, batch_size=6, reduction="sum")
    full = curvature.hessian_operator(sum_loss, params, batch)
    v = jax.random.normal(key, (full.size,))
    np.testing.assert_allclose(summed(v), full(v), rtol=1e-11, atol=1e-12)
    with pytest.raises(ValueError, match="reduction: unknown 'max'"):
        curvature.hessian_operator(loss, params, batch, batch_size=6, reduction="max")


def test_chunked_mean_weights_chunks_by_size():
    x = jnp.arange(11.0)
    assert float(curvature.chunked_mean(jnp.mean, x, batch_size=4)) == pytest.approx(5.0)
    assert float(curvature.chunked_mean(jnp.sum, x, batch_size=4, reduction="sum")) == 55.0
    pair = curvature.chunked_mean(lambda c: (jnp.mean(c), jnp.max(c)), x, batch_size=11)
    assert (float(pair[0]), float(pair[1])) == (5.0, 10.0)


@pytest.mark.slow
def test_subset_hessian_is_the_dense_block(key):
    """Per-layer curvature: restrict the operator to one layer's weights."""
    _, params, _, op, _ = mlp_problem()
    dense = mlp_dense()
    idx = curvature.subset_indices(params, lambda path, leaf: path == "[1]['w']")
    assert len(idx) == 8 * 6
    by_tree = curvature.subset_indices(
        params, [{"w": False, "b": False}, {"w": True, "b": False}, {"w": False, "b": False}]
    )
    np.testing.assert_array_equal(idx, by_tree)
    sub = curvature.restrict(op, idx)
    block = dense[np.ix_(idx, idx)]
    np.testing.assert_allclose(sub.dense(), block, rtol=1e-12, atol=1e-14)
    eigs = lanczos.extreme_eigs(num_iters=40, num_eigs=3, tol=1e-11, num_restarts=10)
    res = jax.jit(eigs, static_argnums=0)(sub.matvec, jax.random.normal(key, (sub.size,)),
                                          *sub.args)
    exact = np.linalg.eigvalsh(block)
    np.testing.assert_allclose(res.eigvals, np.concatenate([exact[:3], exact[-3:]]),
                               atol=1e-10 * np.max(np.abs(exact)))
    tree = sub.unravel(jnp.ones(sub.size))
    assert float(jnp.sum(tree[1]["w"])) == 48.0 and float(jnp.sum(tree[0]["w"])) == 0.0
    with pytest.raises(ValueError, match="indices"):
        curvature.restrict(op, np.array([0, 0]))
    with pytest.raises(ValueError, match="select"):
        curvature.subset_indices(params, lambda path, leaf: False)
