"""Gradient noise scales against dense float64 references and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape import data, models, noise, objectives

# --------------------------------------------------------------------------- a small MLP


def _mlp_problem(key, n=30):
    k_data, k_label, k_init = jax.random.split(key, 3)
    model = models.mlp(5, (6,), 3, activation="tanh")
    x = jax.random.normal(k_data, (n, 5))
    y = jax.random.randint(k_label, (n,), 0, 3)
    loss = objectives.make_loss(model.apply)
    return loss, model, model.init(k_init), data.Batch(x, y)


def _dense_reference(model, params, batch):
    """Per-example gradients as the Jacobian of the vector of per-example cross-entropies
    (written out row by row from the logits: no batch-of-one, no vmap), their mean and
    covariance (numpy, divisor n - 1) and the dense Hessian of the mean loss."""
    flat, unravel = ravel_pytree(params)

    def losses(x):
        log_p = jax.nn.log_softmax(model.apply(unravel(x), batch.x))
        return -jnp.take_along_axis(log_p, batch.y[:, None], axis=1)[:, 0]

    g = np.asarray(jax.jacrev(losses)(flat))
    h = np.asarray(jax.hessian(lambda x: jnp.mean(losses(x)))(flat))
    return g, g.mean(axis=0), np.cov(g, rowvar=False, ddof=1), h


@pytest.fixture(scope="module")
def mlp_case():
    """A small tanh MLP on 30 examples with its dense float64 reference (built once)."""
    loss, model, params, batch = _mlp_problem(jax.random.key(7))
    return loss, model, params, batch, _dense_reference(model, params, batch)


@pytest.mark.slow
def test_per_example_grads_match_the_jacobian(mlp_case):
    loss, _, params, batch, (g_ref, *_) = mlp_case
    for chunk in (1, 7, 30, 100):
        got = noise.per_example_grads(loss, params, batch, chunk_size=chunk)
        flat = jax.vmap(lambda t: ravel_pytree(t)[0])(got)
        np.testing.assert_allclose(flat, g_ref, rtol=1e-12, atol=1e-14)


def _assert_equal_dense(simple, hess, mlp_case, rtol=1e-10):
    """Both noise scales at the reference point against the dense float64 reference
    (numpy's covariance and jax.hessian), every example used."""
    _, _, _, _, (_, mean, cov, h) = mlp_case
    tr_cov, g2 = np.trace(cov), mean @ mean
    tr_hcov, ghg = np.trace(h @ cov), mean @ h @ mean
    np.testing.assert_allclose(simple.trace_cov, tr_cov, rtol=rtol)
    np.testing.assert_allclose(simple.grad_sq_norm, g2, rtol=rtol)
    np.testing.assert_allclose(simple.b_simple, tr_cov / g2, rtol=rtol)
    np.testing.assert_allclose(hess.trace_h_cov, tr_hcov, rtol=rtol)
    np.testing.assert_allclose(hess.grad_h_grad, ghg, rtol=rtol)
    np.testing.assert_allclose(hess.b_noise, tr_hcov / ghg, rtol=rtol)
    np.testing.assert_allclose(hess.b_simple, tr_cov / g2, rtol=rtol)
    assert float(hess.trace_h_cov_stderr) == 0.0  # every example used


def test_noise_scales_equal_dense_reference(mlp_case):
    loss, _, params, batch, (_, mean, cov, h) = mlp_case
    n = batch.x.shape[0]
    tr_cov, g2 = np.trace(cov), mean @ mean
    tr_hcov, ghg = np.trace(h @ cov), mean @ h @ mean
    rtol = 1e-10  # float64 against numpy's covariance and jax.hessian
    _assert_equal_dense(noise.simple_noise_scale(loss, params, batch, chunk_size=7),
                        noise.hessian_noise_scale(loss, params, batch, chunk_size=4), mlp_case)

    # the "distribution" view removes the sampling bias of the squared norms; the
    # Hessian averaged over chunks of the data gives the same numbers
    d = noise.hessian_noise_scale(
        loss, params, batch, chunk_size=4, hessian_batch_size=7, population="distribution"
    )
    np.testing.assert_allclose(d.grad_sq_norm, g2 - tr_cov / n, rtol=rtol)
    np.testing.assert_allclose(d.grad_h_grad, ghg - tr_hcov / n, rtol=rtol)
    np.testing.assert_allclose(d.b_noise, tr_hcov / (ghg - tr_hcov / n), rtol=rtol)
    np.testing.assert_allclose(d.b_simple, tr_cov / (g2 - tr_cov / n), rtol=rtol)
    d_simple = noise.simple_noise_scale(
        loss, params, batch, chunk_size=7, population="distribution"
    )
    np.testing.assert_allclose(d_simple.b_simple, tr_cov / (g2 - tr_cov / n), rtol=rtol)


@pytest.mark.slow
def test_noise_scales_jit_and_vmap_over_parameters(mlp_case):
    loss, model, params, batch, (_, mean, cov, h) = mlp_case
    simple = jax.jit(lambda p, b: noise.simple_noise_scale(loss, p, b, chunk_size=7))
    hess = jax.jit(lambda p, b: noise.hessian_noise_scale(loss, p, b, chunk_size=4))
    _assert_equal_dense(simple(params, batch), hess(params, batch), mlp_case)  # jitted
    # a batch of three parameter sets: the reference point and two rescalings of it
    scales = jnp.array([1.0, 0.5, 2.0])
    stacked = jax.tree_util.tree_map(
        lambda a: scales.reshape((3,) + (1,) * a.ndim) * a[None], params
    )
    got = jax.vmap(lambda p: noise.hessian_noise_scale(loss, p, batch, chunk_size=4))(stacked)
    np.testing.assert_allclose(got.b_noise[0], np.trace(h @ cov) / (mean @ h @ mean), rtol=1e-10)
    np.testing.assert_allclose(got.b_simple[0], np.trace(cov) / (mean @ mean), rtol=1e-10)
    for i in (1, 2):
        p = jax.tree_util.tree_map(lambda a, i=i: a[i], stacked)
        _, m_i, c_i, h_i = _dense_reference(model, p, batch)
        np.testing.assert_allclose(
            got.b_noise[i], np.trace(h_i @ c_i) / (m_i @ h_i @ m_i), rtol=1e-10
        )
        np.testing.assert_allclose(got.b_simple[i], np.trace(c_i) / (m_i @ m_i), rtol=1e-10)


@pytest.mark.slow
def test_sampled_trace_is_unbiased_with_calibrated_stderr(key):
    loss, _, params, batch = _mlp_problem(key, n=80)
    exact = noise.hessian_noise_scale(loss, params, batch, chunk_size=8)
    keys = jax.random.split(key, 200)
    sampled = jax.vmap(
        lambda k: noise.hessian_noise_scale(
            loss, params, batch, key=k, num_samples=30, chunk_size=8
        )
    )(keys)
    z = np.asarray((sampled.trace_h_cov - exact.trace_h_cov) / sampled.trace_h_cov_stderr)
    # 200 estimates: the mean z-score has standard error 1/sqrt(200) ~ 0.07 (4 sigma: 0.3);
    # stderr from a sample of 30 skewed values is itself noisy, so the spread of z is
    # allowed +-35 % around 1
    assert abs(np.mean(z)) < 0.3, np.mean(z)
    assert 0.65 < np.std(z) < 1.35, np.std(z)
    # m = n uses every example: the exact value, and no sampling error
    full = noise.hessian_noise_scale(loss, params, batch, key=key, num_samples=80, chunk_size=8)
    np.testing.assert_allclose(full.trace_h_cov, exact.trace_h_cov, rtol=1e-10)
    assert float(full.trace_h_cov_stderr) == 0.0


# --------------------------------------------------------------------------- linear regression
#
# x ~ N(0, C) with C = diag(c), y = w*.x + eps, eps ~ N(0, s^2), loss 0.5 (w.x - y)^2,
# r = w - w*. The per-example gradient is g = (r.x - eps) x, so by Isserlis' theorem
#   G = E[g] = C r,   E[g g^T] = (r^T C r + s^2) C + 2 C r r^T C,
#   Sigma = (r^T C r + s^2) C + C r r^T C,   H = C.
# Hence tr(Sigma) = (r^T C r + s^2) tr(C) + |C r|^2,  |G|^2 = |C r|^2,
#       tr(H Sigma) = (r^T C r + s^2) tr(C^2) + r^T C^3 r,  G^T H G = r^T C^3 r.
# For C = I: B_simple = B_noise = (d (|r|^2 + s^2) + |r|^2) / |r|^2.

NOISE_STD = 0.5
W_STAR = np.array([1.0, -1.0, 0.5, 0.0])
CASES = {
    # isotropic inputs: B_simple = B_noise = (4 (1 + 0.25) + 1) / 1 = 6
    "isotropic": (np.ones(4), np.array([0.5, -0.5, 0.5, 0.5])),
    # anisotropic inputs: B_simple ~ 11.1, B_noise ~ 20.5
    "anisotropic": (np.array([0.25, 0.5, 1.0, 4.0]), np.array([1.0, 0.8, 0.5, 0.1])),
}


def _closed_form(c, r):
    s2 = NOISE_STD**2
    rcr, cr = r @ (c * r), c * r
    return dict(
        trace_cov=float((rcr + s2) * np.sum(c) + cr @ cr),
        grad_sq_norm=float(cr @ cr),
        trace_h_cov=float((rcr + s2) * np.sum(c**2) + r @ (c**3 * r)),
        grad_h_grad=float(r @ (c**3 * r)),
    )


def _linear_problem(key, n, c, r):
    k_x, k_eps = jax.random.split(key)
    x = jax.random.normal(k_x, (n, 4)) * jnp.sqrt(jnp.asarray(c))[None, :]
    y = x @ jnp.asarray(W_STAR) + NOISE_STD * jax.random.normal(k_eps, (n,))
    model = models.mlp(4, (), 1, bias=False)
    loss = objectives.make_loss(model.apply, loss="mse")  # Hessian (1/n) X^T X -> C
    return loss, [{"w": jnp.asarray(W_STAR + r)[:, None]}], data.Batch(x, y[:, None])


def test_closed_form_sanity():
    iso = _closed_form(*CASES["isotropic"])
    assert iso["trace_cov"] / iso["grad_sq_norm"] == pytest.approx(6.0, rel=1e-12)
    assert iso["trace_h_cov"] / iso["grad_h_grad"] == pytest.approx(6.0, rel=1e-12)
    aniso = _closed_form(*CASES["anisotropic"])
    assert (
        aniso["trace_h_cov"] / aniso["grad_h_grad"]
        > 1.5 * aniso["trace_cov"] / aniso["grad_sq_norm"]
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_simple_noise_scale_recovers_closed_form(case, key):
    c, r = CASES[case]
    truth = _closed_form(c, r)
    loss, params, batch = _linear_problem(key, 100_000, c, r)
    got = noise.simple_noise_scale(loss, params, batch, chunk_size=4096, population="distribution")
    # n = 100k: the relative standard deviation of B_simple is about 0.7 % here
    # (measured over independent data sets); 3 % is over 4 standard deviations
    tol = 0.03
    assert float(got.b_simple) == pytest.approx(truth["trace_cov"] / truth["grad_sq_norm"], rel=tol)
    assert float(got.trace_cov) == pytest.approx(truth["trace_cov"], rel=tol)
    assert float(got.grad_sq_norm) == pytest.approx(truth["grad_sq_norm"], rel=tol)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.slow
def test_hessian_noise_scale_recovers_closed_form(case, key):
    c, r = CASES[case]
    truth = _closed_form(c, r)
    b_noise = truth["trace_h_cov"] / truth["grad_h_grad"]

    def estimate(k):
        k_data, k_sample = jax.random.split(k)
        loss, params, batch = _linear_problem(k_data, 20_000, c, r)
        return noise.hessian_noise_scale(
            loss,
            params,
            batch,
            key=k_sample,
            num_samples=512,
            chunk_size=128,
            population="distribution",
        )

    got = jax.vmap(estimate)(jax.random.split(key, 16))
    rel = np.asarray(got.b_noise) / b_noise - 1
    # one estimate (n = 20k, 512 sampled examples) has a relative standard deviation of
    # about 11 % (numerator ~10 %, denominator ~2 sqrt(B_noise/n)); over 16 data sets the
    # mean has ~3 %: tolerance 10 % on the mean, 20 % on the median absolute error
    assert abs(np.mean(rel)) < 0.10, rel
    assert np.median(np.abs(rel)) < 0.20, rel
    assert abs(float(np.mean(got.trace_h_cov)) / truth["trace_h_cov"] - 1) < 0.10


def test_two_batch_estimator_recovers_closed_form(key):
    c, r = CASES["anisotropic"]
    truth = _closed_form(c, r)
    k_data, k_small, k_big = jax.random.split(key, 3)
    loss, params, batch = _linear_problem(k_data, 100_000, c, r)
    small = noise.minibatch_grad_sq_norms(
        loss, params, batch, key=k_small, batch_size=4, num_batches=4000
    )
    big = noise.minibatch_grad_sq_norms(
        loss, params, batch, key=k_big, batch_size=256, num_batches=1000
    )
    got = noise.two_batch_noise_scale(small, big, small_batch_size=4, big_batch_size=256)
    # relative standard deviation about 2.5 % (4000 small and 1000 big batches):
    # tolerance 10 %
    assert float(got.b_simple) == pytest.approx(
        truth["trace_cov"] / truth["grad_sq_norm"], rel=0.10
    )
    assert float(got.trace_cov) == pytest.approx(truth["trace_cov"], rel=0.10)
    # with num_examples it estimates the per-example "dataset" values of the same data
    per_example = noise.simple_noise_scale(loss, params, batch, chunk_size=4096)
    finite = noise.two_batch_noise_scale(
        small, big, small_batch_size=4, big_batch_size=256, num_examples=100_000
    )
    assert float(finite.b_simple) == pytest.approx(float(per_example.b_simple), rel=0.10)


def test_two_batch_formula_is_exact_on_expectations():
    g2, tr, n = 2.5, 70.0, 1000
    # E|G_B|^2 = |G|^2 + tr/B (independent draws)
    got = noise.two_batch_noise_scale(
        g2 + tr / 8, g2 + tr / 128, small_batch_size=8, big_batch_size=128
    )
    np.testing.assert_allclose(
        [got.grad_sq_norm, got.trace_cov, got.b_simple], [g2, tr, tr / g2], rtol=1e-12
    )
    # without replacement from n examples: E|G_B|^2 = |G_n|^2 + tr (1/B - 1/n)
    got = noise.two_batch_noise_scale(
        g2 + tr * (1 / 8 - 1 / n),
        g2 + tr * (1 / 128 - 1 / n),
        small_batch_size=8,
        big_batch_size=128,
        num_examples=n,
    )
    np.testing.assert_allclose([got.grad_sq_norm, got.trace_cov], [g2, tr], rtol=1e-12)
    # jitted and vmapped too
    f = jax.jit(
        lambda s, b: noise.two_batch_noise_scale(s, b, small_batch_size=8, big_batch_size=128)
    )
    np.testing.assert_allclose(f(g2 + tr / 8, g2 + tr / 128).b_simple, tr / g2, rtol=1e-12)
    vm = jax.vmap(
        lambda s, b: noise.two_batch_noise_scale(s, b, small_batch_size=8, big_batch_size=128)
    )
    out = vm(
        jnp.array([g2 + tr / 8, 2 * g2 + tr / 8]), jnp.array([g2 + tr / 128, 2 * g2 + tr / 128])
    )
    np.testing.assert_allclose(out.b_simple, [tr / g2, tr / (2 * g2)], rtol=1e-12)


def test_minibatches_are_those_training_draws(mlp_case, key):
    loss, _, params, batch, _ = mlp_case
    got = noise.minibatch_grad_sq_norms(loss, params, batch, key=key, batch_size=8, num_batches=10)
    expected = []
    for step in range(10):
        idx = data.batch_indices(key, step, num_examples=30, batch_size=8)
        g = ravel_pytree(jax.grad(loss)(params, data.get_batch(batch, idx)))[0]
        expected.append(float(g @ g))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_bad_input_names_the_field(mlp_case, key):
    loss, _, params, batch, _ = mlp_case
    with pytest.raises(ValueError, match="chunk_size"):
        noise.simple_noise_scale(loss, params, batch, chunk_size=0)
    with pytest.raises(ValueError, match="population"):
        noise.simple_noise_scale(loss, params, batch, population="world")
    with pytest.raises(ValueError, match="batch"):
        noise.simple_noise_scale(loss, params, data.Batch(batch.x[:1], batch.y[:1]))
    with pytest.raises(ValueError, match="key"):
        noise.hessian_noise_scale(loss, params, batch, num_samples=5)
    with pytest.raises(ValueError, match="key"):
        noise.hessian_noise_scale(loss, params, batch, key=key)
    with pytest.raises(ValueError, match="num_samples"):
        noise.hessian_noise_scale(loss, params, batch, key=key, num_samples=31)
    with pytest.raises(ValueError, match="hessian_batch_size"):
        noise.hessian_noise_scale(loss, params, batch, hessian_batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        noise.minibatch_grad_sq_norms(loss, params, batch, key=key, batch_size=31, num_batches=2)
    with pytest.raises(ValueError, match="num_batches"):
        noise.minibatch_grad_sq_norms(loss, params, batch, key=key, batch_size=3, num_batches=0)
    with pytest.raises(ValueError, match="big_batch_size"):
        noise.two_batch_noise_scale(1.0, 1.0, small_batch_size=8, big_batch_size=8)
    with pytest.raises(ValueError, match="num_examples"):
        noise.two_batch_noise_scale(
            1.0, 1.0, small_batch_size=8, big_batch_size=16, num_examples=10
        )
