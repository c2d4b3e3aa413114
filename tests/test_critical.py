"""Critical points against closed forms: quadratics with designed spectra, Himmelblau,
Rosenbrock, and the linear autoencoder of Baldi & Hornik (1989); weak saddles, statuses and
the index interval."""

import doctest
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape import critical, curvature, data, finder, models, objectives, status

# ------------------------------------------------------------------------------ quadratics


def _quadratic(key, spectrum):
    n = len(spectrum)
    k_q, k_c = jax.random.split(key)
    q, _ = jnp.linalg.qr(jax.random.normal(k_q, (n, n)))
    h = q @ jnp.diag(jnp.asarray(spectrum, jnp.float64)) @ q.T
    center = jax.random.normal(k_c, (n,))

    def loss(params, batch):
        d = params["x"] - batch
        return 0.5 * d @ (h @ d) + 3.0

    return loss, {"x": center}, center


SPECTRA = {
    "minimum": ([0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], "minimum", 0, 0),
    "saddle1": ([-1.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "saddle", 1, 0),
    "saddle3": ([-4.0, -2.0, -0.3, 1.0, 2.0, 3.0, 4.0, 5.0], "saddle", 3, 0),
    "maximum": ([-8.0, -6.0, -4.0, -2.0, -1.0, -0.5, -0.25, -0.1], "maximum", 8, 0),
    "psd_null": ([0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "minimum", 0, 2),
    "saddle_null": ([-1.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "saddle", 1, 2),
    "degenerate": ([0.0] * 8, "degenerate", 0, 8),
}


@pytest.mark.parametrize("name", sorted(SPECTRA))
def test_quadratic_with_designed_spectrum(name, key):
    spectrum, kind, num_negative, num_null = SPECTRA[name]
    loss, params, center = _quadratic(key, spectrum)
    c = critical.classify(loss, params, center, key=key)
    assert c.kind == kind and c.curvature == kind
    assert int(c.num_negative) == num_negative and int(c.num_null) == num_null
    assert abs(float(c.index) - num_negative / 8) < 1e-15
    assert abs(float(c.lambda_min) - min(spectrum)) < 1e-12
    assert abs(float(c.lambda_max) - max(spectrum)) < 1e-12
    scale = max(abs(min(spectrum)), abs(max(spectrum)))
    assert abs(float(c.tau) - 1e-3 * scale) < 1e-15
    assert float(c.grad_norm) < 1e-13 and bool(c.exact)
    assert float(c.residual_min) < 1e-12 and float(c.residual_max) < 1e-12
    assert bool(c.certified_min) == (abs(min(spectrum)) > 0)
    if name == "saddle3":  # jitted from the outside: the same result
        jitted = jax.jit(lambda prm: critical.classify(loss, prm, center, key=key))(params)
        for a, b in zip(jitted, c, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # away from the centre: not critical, same curvature
    moved = {"x": params["x"] + 0.1}
    c2 = critical.classify(loss, moved, center, key=key)
    if scale > 0:
        assert c2.kind == "not_critical" and c2.curvature == kind
    else:
        assert c2.kind == "degenerate"  # a constant: every point is critical


@pytest.mark.parametrize("name", ["minimum", "saddle3", "maximum", "psd_null"])
def test_finder_converges_on_quadratics(name, key):
    spectrum = SPECTRA[name][0]
    loss, params, center = _quadratic(key, spectrum)
    start = {"x": params["x"] + jax.random.normal(key, (8,))}
    res = critical.find_critical_point(loss, start, center)
    assert res.status == "converged", res
    assert float(res.grad_norm) < 1e-10
    assert int(res.num_iters) <= 2  # exact Newton on a quadratic
    if 0.0 not in spectrum:
        np.testing.assert_allclose(res.params["x"], center, rtol=0, atol=1e-10)


@pytest.mark.slow
def test_relative_threshold_and_scale_invariance(key):
    # a certified negative eigenvalue within rtol*|H| makes a weak saddle, beyond it a saddle
    for small, expected in ((-0.5e-3, "weak_saddle"), (-2e-3, "saddle")):
        loss, params, center = _quadratic(key, [small, 0.5, 1.0])
        c = critical.classify(loss, params, center, key=key)
        assert c.kind == expected, (small, c)
        # multiplying the loss by a constant changes nothing
        scaled = lambda p, b, ls=loss: 1e6 * ls(p, b)
        assert critical.classify(scaled, params, center, key=key).kind == expected
    # rtol is a knob: with rtol = 1e-2 the -2e-3 eigenvalue is within tau, but still
    # certified negative: a weak saddle, never a minimum
    c = critical.classify(loss, params, center, key=key, rtol=1e-2)
    assert c.kind == "weak_saddle" and int(c.num_null) == 1 and bool(c.certified_min)
    # atol floors tau
    c = critical.classify(loss, params, center, key=key, atol=10.0)
    assert c.kind == "degenerate"


def test_gradient_threshold_rule(key):
    loss, params, center = _quadratic(key, [1.0, 2.0, 4.0])
    norm = float(jnp.linalg.norm(center))
    # move along the top eigenvector so that |g| = 4 * delta
    h = curvature.dense_hessian(loss, params, center)
    w, v = jnp.linalg.eigh(h)
    for rel, critical_expected in ((0.5, True), (2.0, False)):
        threshold = 1e-10 + 1e-8 * 4.0 * norm
        delta = rel * threshold / 4.0
        moved = {"x": params["x"] + delta * v[:, -1]}
        c = critical.classify(loss, moved, center, key=key)
        assert bool(c.is_critical) == critical_expected, (rel, c)
        stated = 1e-10 + 1e-8 * 4.0 * float(jnp.linalg.norm(moved["x"]))
        assert abs(float(c.grad_threshold) / stated - 1) < 1e-12


# ------------------------------------------------------------------------------ Himmelblau


def himmelblau(p, batch=None):
    x, y = p[0], p[1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def rosenbrock(p, batch=None):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


@pytest.mark.slow
def test_himmelblau_all_nine_critical_points(key):
    """The gradient is a pair of cubics, so by Bezout there are at most 9 critical
    points; finding 9 distinct real ones from a grid of starts finds all of them."""
    axis = jnp.linspace(-5.0, 5.0, 9)
    starts = jnp.stack(jnp.meshgrid(axis, axis), -1).reshape(-1, 2)
    find = lambda p: critical.find_critical_point(himmelblau, p, None, max_iters=50, tol=1e-12)
    res = jax.vmap(find)(starts)
    assert np.all(res.status == "converged")
    assert float(jnp.max(res.grad_norm)) < 1e-12
    points = np.asarray(res.params)
    distinct = []
    for p in points:
        if all(np.linalg.norm(p - q) > 1e-6 for q in distinct):
            distinct.append(p)
    assert len(distinct) == 9
    cls = jax.vmap(lambda p: critical.classify(himmelblau, p, None, key=key))(jnp.asarray(distinct))
    kinds = list(cls.kind)
    assert (kinds.count("minimum"), kinds.count("saddle"), kinds.count("maximum")) == (4, 4, 1)
    # the Hessian determinant decides the kind of a 2-D critical point
    for p, kind in zip(distinct, kinds, strict=True):
        h = np.asarray(jax.hessian(himmelblau)(jnp.asarray(p)))
        det = np.linalg.det(h)
        assert kind == ("saddle" if det < 0 else ("minimum" if h[0, 0] > 0 else "maximum"))
        assert abs(float(himmelblau(jnp.asarray(p))) - 0.0) < 1e-12 or kind != "minimum"
    # the closed-form minimum (3, 2) is among them, to rounding
    assert min(np.linalg.norm(p - np.array([3.0, 2.0])) for p in distinct) < 1e-12
    # minima are global (f = 0); the saddles and the maximum lie above
    values = np.array([float(himmelblau(jnp.asarray(p))) for p in distinct])
    assert np.all(values[np.array(kinds) != "minimum"] > 1.0)


def test_rosenbrock(key):
    res = critical.find_critical_point(rosenbrock, jnp.array([-1.2, 1.0]), None, max_iters=100)
    assert res.status == "converged"
    np.testing.assert_allclose(res.params, [1.0, 1.0], rtol=0, atol=1e-8)
    c = critical.classify(rosenbrock, res.params, None, key=key)
    # H(1, 1) = [[802, -400], [-400, 200]]: eigenvalues 501 -+ sqrt(501^2 - 400)
    root = np.sqrt(501.0**2 - 400.0)
    assert c.kind == "minimum"
    assert abs(float(c.lambda_min) - (501 - root)) < 1e-9
    assert abs(float(c.lambda_max) - (501 + root)) < 1e-9
    c0 = critical.classify(rosenbrock, jnp.zeros(2), None, key=key)
    assert c0.kind == "not_critical" and abs(float(c0.grad_norm) - 2.0) < 1e-14
    # every accepted |g|^2 is below the largest of the last `memory` = 10 (non-monotone
    # line search), and full Newton steps get through the curved valley
    g2 = np.asarray(res.grad_norms)[: int(res.num_iters) + 1] ** 2
    for k in range(1, len(g2)):
        assert g2[k] <= g2[max(0, k - 10) : k].max()
    assert np.all(np.isnan(np.asarray(res.grad_norms)[int(res.num_iters) + 1 :]))
    assert int(res.num_iters) <= 20
    mono = critical.find_critical_point(rosenbrock, jnp.array([-1.2, 1.0]), None, memory=1,
                                        max_iters=100)
    g = np.asarray(mono.grad_norms)[: int(mono.num_iters) + 1]
    assert np.all(np.diff(g) <= 0)  # memory=1: monotone Armijo on |g|^2


# ------------------------------------------------------------------------------ gradient-flat


def test_gradient_flat_point_is_never_called_critical(key):
    # f = x + y^2: the gradient (1, 2y) keeps its x part in the kernel of H = diag(0, 2)
    loss = lambda p, b: p[0] + p[1] ** 2
    res = critical.find_critical_point(loss, jnp.array([0.3, 0.7]), None, max_iters=20)
    assert res.status == "gradient_flat"
    assert abs(float(res.grad_norm) - 1.0) < 1e-12 and abs(float(res.params[1])) < 1e-12
    assert float(res.flat_ratio) > 0.99
    c = critical.classify(loss, res.params, None, key=key)
    assert c.kind == "not_critical" and c.curvature == "minimum"
    assert abs(float(c.flatness) - 1.0) < 1e-12 and float(c.hg_ratio) < 1e-12
    # away from y = 0 only part of the gradient is flat: 1 / (1 + 4 y^2)
    c = critical.classify(loss, jnp.array([0.0, 0.5]), None, key=key)
    assert abs(float(c.flatness) - 0.5) < 1e-12


def test_finder_reports_divergence_and_stall():
    runaway = lambda p, b: jnp.exp(-p[0]) + p[1] ** 2
    res = critical.find_critical_point(runaway, jnp.array([0.0, 1.0]), None, max_iters=50,
                                       max_norm=20.0)
    assert res.status in ("diverged", "stalled")  # the infimum lies at infinity
    assert res.status != "converged"
    nan_loss = lambda p, b: jnp.log(p[0]) + p[1] ** 2
    res = critical.find_critical_point(nan_loss, jnp.array([-1.0, 1.0]), None)
    assert res.status == "diverged" and int(res.num_iters) == 0


# ------------------------------------------------------------------------------ linear autoencoder


def _autoencoder(key, d=5, p=2, num=60, lam=None):
    """Data whose covariance X^T X / N is exactly U diag(lam) U^T, and the model
    y = W2 W1 x with squared loss against targets y = x."""
    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**30)))
    if lam is None:
        lam = np.arange(d, 0, -1).astype(float)  # 5, 4, 3, 2, 1: distinct, well separated
    z, _ = np.linalg.qr(rng.standard_normal((num, d)))
    u, _ = np.linalg.qr(rng.standard_normal((d, d)))
    x = np.sqrt(num) * z @ np.diag(np.sqrt(lam)) @ u.T
    model = models.deep_linear(d, (p,), d)
    loss = objectives.make_loss(model.apply, loss="mse")
    return loss, data.Batch(jnp.asarray(x), jnp.asarray(x)), lam, u


def _subset_point(u, subset):
    ui = jnp.asarray(u[:, list(subset)])
    # our model computes x @ w1 @ w2, so W1 = w1^T = U_I^T and W2 = w2^T = U_I
    return [{"w": ui}, {"w": ui.T}]


def _closed_form(lam, subset, p):
    """Spectrum of the Hessian at W2 = U_I, W1 = U_I^T (derivation in the docstring).

    In the eigenbasis of Sigma the second-order term of the loss splits into
    * for each of the p^2 pairs (a, b) of hidden units, (x + y)^2 lam_{i_b} / 2:
      eigenvalues 2 lam_{i_b} and 0 (the GL(p) symmetry gives the p^2 zeros);
    * for each i in I and j not in I, the 2x2 block [[lam_j, -lam_j], [-lam_j, lam_i]]
      with determinant lam_j (lam_i - lam_j): one negative eigenvalue exactly when
      lam_j > lam_i.
    So the index is #{(i in I, j not in I): lam_j > lam_i}, zero only for the top-p subset.
    """
    others = [j for j in range(len(lam)) if j not in subset]
    values = [0.0] * (p * p) + [2 * lam[i] for i in subset for _ in range(p)]
    for i in subset:
        for j in others:
            values += list(np.linalg.eigvalsh(np.array([[lam[j], -lam[j]], [-lam[j], lam[i]]])))
    index = sum(lam[j] > lam[i] for i in subset for j in others)
    return np.sort(values), index


@pytest.mark.slow
def test_linear_autoencoder_subsets_closed_form(key):
    d, p = 5, 2
    loss, batch, lam, u = _autoencoder(key, d, p)
    subsets = list(itertools.combinations(range(d), p))
    f, _, _ = curvature.flat_loss(loss, _subset_point(u, subsets[0]))
    hessian = jax.jit(jax.hessian(f))
    minima = []
    for subset in subsets:
        params = _subset_point(u, subset)
        spectrum, index = _closed_form(lam, subset, p)
        dense = np.linalg.eigvalsh(np.asarray(hessian(ravel_pytree(params)[0], batch)))
        np.testing.assert_allclose(dense, spectrum, rtol=0, atol=1e-12)
        c = critical.classify(loss, params, batch, key=key)
        assert float(c.grad_norm) < 1e-13
        assert int(c.num_negative) == index and int(c.num_null) == p * p
        assert c.kind == ("minimum" if index == 0 else "saddle")
        if c.kind == "minimum":
            minima.append(subset)
    assert minima == [(0, 1)]  # only the top-p eigenvectors
    # vmapped over all subsets at once: the same verdicts
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *[_subset_point(u, s) for s in subsets])
    batched = jax.vmap(lambda prm: critical.classify(loss, prm, batch, key=key))(stacked)
    np.testing.assert_array_equal(
        np.asarray(batched.num_negative), [_closed_form(lam, s, p)[1] for s in subsets]
    )
    assert list(batched.kind).count("minimum") == 1


@pytest.mark.slow
def test_finder_converges_to_every_autoencoder_subset(key):
    d, p = 5, 2
    loss, batch, lam, u = _autoencoder(key, d, p)
    subsets = list(itertools.combinations(range(d), p))
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *[_subset_point(u, s) for s in subsets])
    noise = jax.tree.map(lambda a: 1e-2 * jax.random.normal(key, a.shape), stacked)
    starts = jax.tree.map(jnp.add, stacked, noise)
    res = jax.vmap(lambda prm: critical.find_critical_point(loss, prm, batch, max_iters=30))(starts)
    assert np.all(res.status == "converged")
    assert float(jnp.max(res.grad_norm)) < 1e-10
    for k, subset in enumerate(subsets):
        w1, w2 = res.params[0]["w"][k], res.params[1]["w"][k]
        ui = u[:, list(subset)]
        # the critical set is the GL(p) orbit; the product W2 W1 = U_I U_I^T is unique
        np.testing.assert_allclose(np.asarray(w1 @ w2), ui @ ui.T, rtol=0, atol=1e-8)
        c = critical.classify(loss, jax.tree.map(lambda a, k=k: a[k], res.params), batch, key=key)
        assert int(c.num_negative) == _closed_form(lam, subset, p)[1]


def test_finder_compiles_once_per_structure(key):
    loss, batch, _, u = _autoencoder(key)
    critical.find_critical_point(loss, _subset_point(u, (0, 1)), batch, max_iters=5)
    before = finder._newton_mr._cache_size()
    for subset in ((0, 2), (3, 4)):
        critical.find_critical_point(loss, _subset_point(u, subset), batch, max_iters=5)
    assert finder._newton_mr._cache_size() == before


# ------------------------------------------------------------------------------ small MLP


def _mlp_problem(key):
    k_data, k_init = jax.random.split(key)
    model = models.mlp(4, (5,), 3, activation="tanh")
    x = jax.random.normal(k_data, (24, 4))
    y = jax.random.randint(k_data, (24,), 0, 3)
    loss = objectives.make_loss(model.apply, loss="cross_entropy", l2=1e-2)
    return loss, model.init(k_init), data.Batch(x, y)


@pytest.mark.slow
def test_classify_mlp_matches_dense_eigh_and_chunks(key):
    loss, point, batch = _mlp_problem(key)
    c = critical.classify(loss, point, batch, key=key)
    h = np.asarray(curvature.dense_hessian(loss, point, batch))
    w = np.linalg.eigvalsh(h)
    tau = 1e-3 * np.abs(w).max()
    assert int(c.num_negative) == int(np.sum(w < -tau))
    assert abs(float(c.lambda_min) - w[0]) < 1e-10 and abs(float(c.lambda_max) - w[-1]) < 1e-10
    chunked = critical.classify(loss, point, batch, key=key, batch_size=7)
    for field in ("loss", "grad_norm", "lambda_min", "lambda_max", "num_negative", "flatness"):
        assert abs(float(getattr(chunked, field)) - float(getattr(c, field))) < 1e-10, field


def test_classify_bad_input(key):
    loss, params, batch = _mlp_problem(key)
    with pytest.raises(ValueError, match="method"):
        critical.classify(loss, params, batch, key=key, method="qr")
    with pytest.raises(ValueError, match="rtol"):
        critical.classify(loss, params, batch, key=key, rtol=-1.0)
    with pytest.raises(ValueError, match="num_iters"):
        critical.classify(loss, params, batch, key=key, num_iters=0)
    with pytest.raises(ValueError, match="params"):
        critical.classify(loss, {"x": jnp.zeros(7000)}, None, key=key, method="dense")
    with pytest.raises(ValueError, match="max_iters"):
        critical.find_critical_point(loss, params, batch, max_iters=0)
    with pytest.raises(ValueError, match="shrink"):
        critical.find_critical_point(loss, params, batch, shrink=1.5)
    with pytest.raises(ValueError, match="tol"):
        critical.find_critical_point(loss, params, batch, tol=0.0)


def test_docstring_examples():
    for module in (critical, finder):
        failures, tried = doctest.testmod(module, verbose=False)
        assert tried >= 2 and failures == 0, module


# ------------------------------------------------------------------------------ Lanczos method


def test_lanczos_method_against_designed_spectrum(key):
    """n = 300 with 30 negative, 20 zero and 250 positive eigenvalues: the extreme
    eigenvalues to the residual, the SLQ index within its error bars, and the
    MINRES flatness equal to the exact (dense) one."""
    pytest.importorskip("landscape.lanczos")
    n = 300
    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**30)))
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    spectrum = np.concatenate([-np.linspace(0.5, 3, 30), np.zeros(20), np.linspace(0.1, 10, 250)])
    h = jnp.asarray(q @ np.diag(spectrum) @ q.T)
    center = jnp.asarray(rng.standard_normal(n))
    tilt = jnp.asarray(q[:, 30:50] @ rng.standard_normal(20))  # gradient part in the kernel
    loss = lambda p, b: 0.5 * (p - b[0]) @ (h @ (p - b[0])) + b[1] @ p
    at_center = (center, jnp.zeros(n))
    c = critical.classify(loss, center, at_center, key=key, method="lanczos", num_iters=100,
                          num_probes=16)
    assert c.kind == "saddle" and not bool(c.exact)
    assert abs(float(c.lambda_min) + 3.0) <= max(float(c.residual_min), 1e-10)
    assert abs(float(c.lambda_max) - 10.0) <= max(float(c.residual_max), 1e-10)
    assert bool(c.certified_min) and bool(c.certified_max)
    assert abs(float(c.index) - 0.1) < 4 * float(c.index_stderr) + 0.01, c
    assert float(c.index_lower) <= 0.1 <= float(c.index_upper) and int(c.status) == status.OK
    assert float(c.index_stderr) < 0.02
    assert abs(float(c.num_null) / n - 20 / n) < 0.05
    # a tilted point: dense and Lanczos flatness agree (all Ritz values resolved)
    tilted = (center, tilt)
    moved = center + 0.1 * jnp.asarray(q[:, 100])
    dense = critical.classify(loss, moved, tilted, key=key, method="dense")
    approx = critical.classify(loss, moved, tilted, key=key, method="lanczos", num_iters=100,
                               num_probes=16)
    assert dense.kind == approx.kind == "not_critical"
    assert abs(float(dense.flatness) - float(approx.flatness)) < 1e-6
    assert abs(float(dense.hg_ratio) - float(approx.hg_ratio)) < 1e-8
    # "auto" is dense at this size
    assert bool(critical.classify(loss, center, at_center, key=key).exact)


# ------------------------------------------------------------------------------ honesty


def test_linear_autoencoder_weak_saddle_is_not_a_minimum(key):
    """Two close data eigenvalues (2 and 2 - 2.4e-3): the saddle that keeps the smaller
    one has a negative eigenvalue of -1.2e-4 |lambda_max|, certified by dense eigh. With
    the default rtol = 1e-3 it used to be called a minimum; it is a weak saddle."""
    d, p = 5, 2
    lam = np.array([5.0, 2.0, 2.0 - 2.4e-3, 1.0, 0.5])
    loss, batch, lam, u = _autoencoder(key, d, p, lam=lam)
    spectrum, index = _closed_form(lam, (0, 2), p)
    assert index == 1 and abs(spectrum[0] / spectrum[-1] + 1.2e-4) < 1e-5
    c = critical.classify(loss, _subset_point(u, (0, 2)), batch, key=key)
    assert c.kind == "weak_saddle" and bool(c.certified_min) and int(c.status) == status.OK
    assert float(c.lambda_min) < -float(c.residual_min) and int(c.num_negative) == 0
    assert float(c.floor) < 1e-10 * float(c.lambda_max)  # the floor is rounding, not rtol
    assert critical.classify(loss, _subset_point(u, (0, 1)), batch, key=key).kind == "minimum"


def test_nan_parameters_are_undetermined_not_zero(key):
    """NaN parameters used to give lambda_min = 0.0 from dense classify."""
    loss, params, center = _quadratic(key, [-1.0, 1.0, 2.0])
    bad = {"x": params["x"].at[0].set(jnp.nan)}
    for method in ("dense", "lanczos"):
        c = critical.classify(loss, bad, center, key=key, method=method, num_iters=3,
                              num_probes=2)
        assert int(c.status) == status.NON_FINITE, (method, c.message())
        assert c.kind == "undetermined" and np.isnan(float(c.lambda_min)), method


@pytest.mark.slow
def test_classify_plain_jitted_vmapped_on_both_methods(key):
    """A 40-dimensional quadratic saddle with 4 negative eigenvalues: plain, under jit and
    under vmap (over two points) give the same classification, and the Lanczos index
    interval covers the exact index 0.1."""
    spectrum = np.concatenate([-np.linspace(1.0, 2.0, 4), np.linspace(0.5, 4.0, 36)])
    loss, params, center = _quadratic(key, spectrum)
    for method in ("dense", "lanczos"):
        fn = lambda prm, m=method: critical.classify(loss, prm, center, key=key, method=m,
                                                     num_iters=40, num_probes=6)
        plain = fn(params)
        assert plain.kind == "saddle" and int(plain.status) == status.OK, plain.message()
        assert float(plain.index_lower) <= 0.1 <= float(plain.index_upper)
        jitted = jax.jit(fn)(params)
        np.testing.assert_allclose(float(jitted.lambda_min), float(plain.lambda_min), rtol=1e-10)
        assert int(jitted.code) == int(plain.code)
        moved = {"x": params["x"] + 0.5}
        both = jax.vmap(fn)(jax.tree.map(lambda a, b: jnp.stack([a, b]), params, moved))
        assert list(both.kind) == ["saddle", "not_critical"], both.kind
        np.testing.assert_allclose(float(both.index[0]), float(plain.index), rtol=1e-10)
