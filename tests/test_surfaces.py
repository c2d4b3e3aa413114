"""Landscape geometry against closed forms, dense eigh, scikit-learn's PCA and loops."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from landscape import curvature, data, directions, models, objectives, paths, surfaces


def _quadratic(key, n=12):
    """loss(p, (A, b)) = 0.5 p^T A p + b^T p with a known spectrum."""
    k1, k2, k3 = jax.random.split(key, 3)
    q, _ = jnp.linalg.qr(jax.random.normal(k1, (n, n)))
    spectrum = jnp.concatenate([jnp.array([9.0, 5.0]), jnp.linspace(-1.0, 2.0, n - 2)])
    a = (q * spectrum[None, :]) @ q.T
    a = 0.5 * (a + a.T)
    b = jax.random.normal(k2, (n,))
    x0 = jax.random.normal(k3, (n,))
    loss = lambda p, batch: 0.5 * p @ (batch[0] @ p) + batch[1] @ p
    return loss, x0, (a, b)


def _tiny_mlp_problem(key, *, activation="tanh"):
    k_data, k_init, k_y = jax.random.split(key, 3)
    model = models.mlp(5, (6,), 3, activation=activation)
    x = jax.random.normal(k_data, (40, 5))
    y = jax.random.randint(k_y, (40,), 0, 3)
    return model, objectives.make_loss(model.apply), model.init(k_init), data.Batch(x, y)


# --------------------------------------------------------------------------- slices


def test_2d_slice_along_eigenvectors_equals_closed_form(key):
    loss, x0, batch = _quadratic(key)
    op = curvature.hessian_operator(loss, x0, batch)
    hd = directions.hessian_directions(op, key=key, num=2)
    # Eigenpairs against dense float64 eigh.
    evals, evecs = np.linalg.eigh(np.asarray(batch[0]))
    np.testing.assert_allclose(hd.eigvals, [9.0, 5.0], rtol=1e-10)
    np.testing.assert_allclose(hd.eigvals, evals[::-1][:2], rtol=1e-10)
    for i in range(2):
        assert abs(abs(float(hd.vectors[i] @ evecs[:, -1 - i])) - 1.0) < 1e-8
    assert float(jnp.max(hd.residuals)) < 1e-7
    f, x, _ = curvature.flat_loss(loss, x0)
    alphas = jnp.linspace(-1.5, 1.0, 7)
    betas = jnp.linspace(-0.5, 2.0, 5)
    s = surfaces.slice_2d(f, x, hd.vectors[0], hd.vectors[1], alphas, betas, batch,
                          chunk_size=4)
    g = batch[0] @ x + batch[1]
    ga, gb = jnp.meshgrid(alphas, betas, indexing="ij")
    expected = (f(x, batch) + ga * (g @ hd.vectors[0]) + gb * (g @ hd.vectors[1])
                + 0.5 * (hd.eigvals[0] * ga**2 + hd.eigvals[1] * gb**2))
    assert s.losses.shape == (7, 5)
    np.testing.assert_allclose(s.losses, expected, rtol=1e-9, atol=1e-9)  # float64 rounding


def test_slice_1d_closed_form_and_chunking_is_invisible(key):
    loss, x0, batch = _quadratic(key)
    f, x, _ = curvature.flat_loss(loss, x0)
    d = jax.random.normal(key, x.shape)
    alphas = jnp.linspace(-2.0, 2.0, 11)
    expected = jax.vmap(lambda a: f(x + a * d, batch))(alphas)
    for vectorize in (True, False):
        for chunk in (1, 3, 11, None):  # 3 does not divide 11: the last chunk is padded
            got = surfaces.slice_1d(f, x, d, alphas, batch, chunk_size=chunk,
                                    vectorize=vectorize)
            np.testing.assert_allclose(got.losses, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("vectorize", [True, False])
@pytest.mark.slow
def test_grid_matches_python_loop_and_compiles_once(vectorize, key):
    model, loss, params, batch = _tiny_mlp_problem(key)
    f, x, _ = curvature.flat_loss(loss, params)
    traces = []

    def counted(v, b):
        traces.append(1)
        return f(v, b)

    k1, k2 = jax.random.split(key)
    dirs = directions.random_directions(k1, params, num=2)
    alphas, betas = jnp.linspace(-1.0, 1.0, 5), jnp.linspace(-1.0, 1.0, 4)
    s = surfaces.slice_2d(counted, x, dirs[0], dirs[1], alphas, betas, batch, chunk_size=6,
                          vectorize=vectorize)
    reference = np.array([[float(f(x + a * dirs[0] + b * dirs[1], batch)) for b in betas]
                          for a in alphas])
    np.testing.assert_allclose(s.losses, reference, rtol=1e-12)
    assert s.chunk_size == 6 and len(traces) == 1
    # New directions and grid values, same shapes: no new compile.
    dirs2 = directions.random_directions(k2, params, num=2)
    s2 = surfaces.slice_2d(counted, x, dirs2[0], dirs2[1], alphas + 0.5, betas, batch,
                           chunk_size=6, vectorize=vectorize)
    assert len(traces) == 1
    assert float(s2.losses[0, 0]) == pytest.approx(
        float(f(x + (alphas[0] + 0.5) * dirs2[0] + betas[0] * dirs2[1], batch)), rel=1e-12)


def test_chunk_size_follows_memory_budget(key):
    model, loss, params, batch = _tiny_mlp_problem(key)
    f, x, _ = curvature.flat_loss(loss, params)
    small = surfaces.chunk_size_for(f, x, batch, memory_bytes=1, vectorize=True)
    large = surfaces.chunk_size_for(f, x, batch, memory_bytes=2**26, vectorize=True)
    point_bytes = x.size * 8
    assert small == 1
    # One point costs at least its parameter vector, so the chunk is bounded by that.
    assert 1 < large <= 2**26 // point_bytes
    assert surfaces.chunk_size_for(f, x, batch, memory_bytes=2**26, max_chunk=7,
                                   vectorize=True) == 7
    # Sequential evaluation holds one point at a time: a fixed chunk, no budget needed.
    assert surfaces.chunk_size_for(f, x, batch, memory_bytes=1, vectorize=False) == \
        surfaces.SEQUENTIAL_CHUNK
    with pytest.raises(ValueError, match="memory_bytes"):
        surfaces.chunk_size_for(f, x, batch, memory_bytes=0)


# --------------------------------------------------------------------------- directions


def _filters(w):
    """Per-filter norms: one per slice along the last axis."""
    return np.sqrt(np.sum(np.square(np.asarray(w)), axis=tuple(range(w.ndim - 1))))


@pytest.mark.parametrize("kind", [pytest.param("mlp", marks=pytest.mark.slow), "cnn1d"])
def test_filter_normalisation_gives_each_filter_the_weight_norm(kind, key):
    k_init, k_bias, k_dir = jax.random.split(key, 3)
    if kind == "mlp":
        model = models.mlp(40, (16, 12), 10)
    else:
        model = models.cnn1d(40, 10, channels=(4, 6), kernel_size=5)
    params = model.init(k_init)
    # Non-zero biases, so that "copy" is distinguishable from "zero".
    params = [dict(layer, b=jax.random.normal(jax.random.fold_in(k_bias, i), layer["b"].shape))
              for i, layer in enumerate(params)]
    _, unravel = ravel_pytree(params)
    for bias in ("zero", "copy", "keep"):
        dirs = directions.random_directions(k_dir, params, num=2, bias=bias)
        assert dirs.shape == (2, models.num_params(params))
        for v in dirs:
            d = unravel(v)
            for dl, pl in zip(d, params, strict=True):
                # |d_i| = |w_i| |r_i| / (|r_i| + 1e-10): relative error below 1e-10.
                np.testing.assert_allclose(_filters(dl["w"]), _filters(pl["w"]), rtol=1e-9)
                if kind == "cnn1d" and dl["w"].ndim == 3:
                    assert _filters(dl["w"]).shape == (dl["w"].shape[2],)  # one per out channel
                if bias == "zero":
                    assert not np.any(np.asarray(dl["b"]))
                elif bias == "copy":
                    np.testing.assert_array_equal(dl["b"], pl["b"])
                else:
                    assert np.all(np.asarray(dl["b"]) != 0)
        # The random part differs per direction.
        assert float(jnp.abs(dirs[0] @ dirs[1])) < float(dirs[0] @ dirs[0])


@pytest.mark.slow
def test_filter_normalize_plain_jit_vmap(key):
    model = models.cnn1d(20, 3, channels=(2, 3), kernel_size=3)
    params = model.init(key)
    x, unravel = ravel_pytree(params)
    raw = jax.random.normal(key, (3, x.size))
    fn = lambda v: ravel_pytree(directions.filter_normalize(unravel(v), params))[0]
    plain = np.stack([np.asarray(fn(v)) for v in raw])
    np.testing.assert_allclose(jax.jit(fn)(raw[0]), plain[0], rtol=1e-14)
    np.testing.assert_allclose(jax.vmap(fn)(raw), plain, rtol=1e-14)
    # Layer normalisation: each weight leaf has the norm of the matching weight.
    lay = directions.random_directions(key, params, num=1, norm="layer")[0]
    for dl, pl in zip(unravel(lay), params, strict=True):
        assert float(jnp.linalg.norm(dl["w"])) == pytest.approx(float(jnp.linalg.norm(pl["w"])),
                                                              rel=1e-9)
    raw_dir = directions.random_directions(key, params, num=1, norm="none")[0]
    np.testing.assert_array_equal(raw_dir, jax.random.normal(key, (1, x.size))[0])


def test_direction_errors_name_the_field(key):
    params = models.mlp(3, (4,), 2).init(key)
    with pytest.raises(ValueError, match="bias"):
        directions.random_directions(key, params, bias="ignore")
    with pytest.raises(ValueError, match="norm"):
        directions.random_directions(key, params, norm="unit")
    with pytest.raises(ValueError, match="num"):
        directions.random_directions(key, params, num=0)
    with pytest.raises(ValueError, match="direction"):
        directions.filter_normalize(params[0], params)
    op = curvature.hessian_operator(lambda p, b: jnp.sum(p**2), jnp.ones(3), None)
    with pytest.raises(ValueError, match="method"):
        directions.hessian_directions(op, key=key, method="power")
    with pytest.raises(ValueError, match="num"):
        directions.hessian_directions(op, key=key, num=3)


def test_hessian_directions_of_an_mlp_against_dense_eigh(key):
    model, loss, params, batch = _tiny_mlp_problem(key)
    op = curvature.hessian_operator(loss, params, batch)
    dense = np.asarray(curvature.dense_hessian(loss, params, batch))
    evals, evecs = np.linalg.eigh(dense)
    hd = directions.hessian_directions(op, key=key, num=3)
    np.testing.assert_allclose(hd.eigvals, evals[::-1][:3], rtol=1e-8)
    overlaps = np.abs(np.asarray(hd.vectors) @ evecs[:, ::-1][:, :3])
    np.testing.assert_allclose(np.diag(overlaps), 1.0, atol=1e-6)
    assert hd.num_matvecs > 0


@pytest.mark.slow
def test_hessian_directions_by_lanczos_match_eigsh(key):
    lanczos = pytest.importorskip("landscape.lanczos")
    if not hasattr(lanczos, "extreme_eigs"):
        pytest.skip("landscape.lanczos.extreme_eigs not available")
    loss, x0, batch = _quadratic(key, n=30)
    op = curvature.hessian_operator(loss, x0, batch)
    ref = directions.hessian_directions(op, key=key, num=2)
    got = directions.hessian_directions(op, key=key, num=2, method="lanczos", num_iters=30)
    np.testing.assert_allclose(got.eigvals, ref.eigvals, rtol=1e-8)
    np.testing.assert_allclose(np.abs(np.sum(got.vectors * ref.vectors, axis=1)), 1.0, atol=1e-6)


# --------------------------------------------------------------------------- trajectory PCA


def test_trajectory_pca_against_sklearn_on_a_planar_path(key):
    from sklearn.decomposition import PCA

    n, num = 50, 30
    k1, k2 = jax.random.split(key)
    basis, _ = jnp.linalg.qr(jax.random.normal(k1, (n, 2)))
    u, v = basis[:, 0], basis[:, 1]
    t = jnp.linspace(0.0, 1.0, num)
    # A path that curves in the (u, v) plane and ends at `end`.
    a = 3.0 * (1 - t) ** 2
    b = 0.8 * jnp.sin(3.0 * t) * (1 - t)
    end = jax.random.normal(k2, (n,))
    traj = end[None, :] + a[:, None] * u[None, :] + b[:, None] * v[None, :]
    res = directions.trajectory_pca(traj, num_components=2)
    sk = PCA(n_components=2).fit(np.asarray(traj - end[None, :]))
    np.testing.assert_allclose(res.explained_variance_ratio, sk.explained_variance_ratio_,
                               rtol=1e-9)
    assert float(jnp.sum(res.explained_variance_ratio)) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(np.asarray(res.directions) * sk.components_, 1)),
                               1.0, atol=1e-10)
    # Orthonormal directions spanning (u, v); coordinates reconstruct the path exactly.
    np.testing.assert_allclose(res.directions @ res.directions.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(jnp.linalg.norm(res.directions @ basis, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(res.coords @ res.directions + end[None, :], traj, atol=1e-12)
    np.testing.assert_allclose(res.coords[-1], 0.0, atol=1e-12)
    assert np.all(np.asarray(res.coords[0]) <= 0)  # sign convention: start at non-positive


def test_trajectory_pca_of_a_straight_path(key):
    d = jax.random.normal(key, (20,))
    traj = jnp.linspace(1.0, 0.0, 9)[:, None] * d[None, :]
    res = directions.trajectory_pca(traj, num_components=2, center=False)
    np.testing.assert_allclose(res.explained_variance_ratio, [1.0, 0.0], atol=1e-12)
    assert abs(float(res.directions[0] @ d) / float(jnp.linalg.norm(d))) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="num_components"):
        directions.trajectory_pca(traj, num_components=10)
    with pytest.raises(ValueError, match="trajectory"):
        directions.trajectory_pca(d)


def test_plane_through_three_points(key):
    p = jax.random.normal(key, (3, 7))
    plane = directions.plane_through(p[0], p[1], p[2])
    np.testing.assert_allclose(plane.directions @ plane.directions.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(plane.coords @ plane.directions + plane.origin[None, :], p,
                               atol=1e-12)
    assert abs(float(plane.coords[1, 1])) < 1e-12  # p1 lies on the first axis
    with pytest.raises(ValueError, match="p2"):
        directions.plane_through(p[0], p[1], 2 * p[1] - p[0])


# --------------------------------------------------------------------------- paths


def test_barrier_plain_jit_vmap():
    ts = jnp.linspace(0.0, 1.0, 5)
    losses = jnp.array([[1.0, 2.0, 4.0, 2.0, 0.0], [0.0, -1.0, -1.0, -1.0, 0.0]])
    # By hand: gap = losses - chord; row 0 chord (1, .75, .5, .25, 0) -> max 3.5 at 2;
    # row 1 chord 0 -> max 0 at the endpoint 0.
    expected = [(3.5, 2), (0.0, 0)]
    for row, (b, i) in zip(losses, expected, strict=True):
        assert tuple(map(float, paths.barrier(ts, row))) == (b, i)
        assert tuple(map(float, jax.jit(paths.barrier)(ts, row))) == (b, i)
    bs, idx = jax.vmap(paths.barrier, in_axes=(None, 0))(ts, losses)
    np.testing.assert_array_equal(bs, [3.5, 0.0])
    np.testing.assert_array_equal(idx, [2, 0])


def test_interpolation_barrier_on_a_double_well():
    # f(x) = (x_0^2 - 1)^2 + x_1^2: minima at (+-1, 0), ridge of height 1 at x_0 = 0.
    f = lambda x: (x[0] ** 2 - 1) ** 2 + x[1] ** 2
    res = paths.interpolate(f, jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.0]), num_points=21)
    expected = (jnp.square(jnp.square(-1 + 2 * res.ts) - 1))
    np.testing.assert_allclose(res.losses, expected, atol=1e-14)
    assert float(res.barrier) == pytest.approx(1.0, abs=1e-14)
    assert int(res.argmax) == 10
    # A convex loss has no barrier.
    convex = paths.interpolate(lambda x: jnp.sum(x**2), jnp.array([-1.0, 2.0]),
                                  jnp.array([3.0, 0.5]), num_points=11)
    assert float(convex.barrier) == pytest.approx(0.0, abs=1e-14)
    with pytest.raises(ValueError, match="num_points"):
        paths.interpolate(f, jnp.zeros(2), jnp.ones(2), num_points=1)
    with pytest.raises(ValueError, match="x_b"):
        paths.interpolate(f, jnp.zeros(2), jnp.ones(3))


def test_bezier_goes_around_a_ridge(key):
    # A ring of minima |x| = 1 with a peak at the centre: the straight line from
    # (-1, 0) to (1, 0) crosses the peak (barrier 1); a curve can follow the ring.
    f = lambda x: jnp.square(jnp.sum(jnp.square(x)) - 1.0)
    x_a, x_b = jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.0])
    # The loss is symmetric about the line, so start slightly off it.
    res = paths.bezier_curve(f, x_a, x_b, key=key, num_steps=400, learning_rate=0.05,
                                init=jnp.array([0.0, 0.2]), num_points=41)
    assert float(res.line.barrier) == pytest.approx(1.0, abs=1e-12)
    assert float(res.curve.barrier) < 0.1 * float(res.line.barrier)
    assert abs(float(res.control[1])) > 1.0  # the control point moved off the line
    # The curve's losses are f at the Bezier points; endpoints coincide with the line's.
    pts = paths.bezier_points(res.curve.ts, x_a, res.control, x_b)
    np.testing.assert_allclose(res.curve.losses, jax.vmap(f)(pts), atol=1e-12)
    np.testing.assert_allclose(jnp.stack([pts[0], pts[-1]]), jnp.stack([x_a, x_b]), atol=1e-15)
    assert res.train_losses.shape == (400,)
    assert float(jnp.mean(res.train_losses[-50:])) < float(jnp.mean(res.train_losses[:10]))


@pytest.mark.slow
def test_bezier_connects_permuted_copies_of_an_mlp_solution(key):
    # Two functionally identical solutions: a trained net and its copy with the
    # hidden units permuted. The straight line between them averages unrelated
    # units and loses the fit; a trained curve keeps the loss low.
    k_init, k_curve = jax.random.split(key)
    ds = data.xor(num_samples=300, seed=3).astype(np.float64)
    width = 4  # narrow: averaging unrelated units loses much of the fit
    model = models.mlp(ds.in_dim, (width,), ds.out_dim, activation="tanh")
    loss = objectives.make_loss(model.apply)
    f, x, unravel = curvature.flat_loss(loss, model.init(k_init))
    batch = ds.train
    opt = optax.adam(0.05)

    def step(carry, _):
        x, s = carry
        g = jax.grad(f)(x, batch)
        with jax.numpy_dtype_promotion("standard"):  # optax's int32 step count
            u, s = opt.update(g, s)
        return (x + u, s), None

    (x, _), _ = jax.lax.scan(step, (x, opt.init(x)), None, length=500)
    params = unravel(x)
    perm = jnp.roll(jnp.arange(width), 1)  # a cycle: every hidden unit moves
    permuted = [{"w": params[0]["w"][:, perm], "b": params[0]["b"][perm]},
                {"w": params[1]["w"][perm, :], "b": params[1]["b"]}]
    x_b = ravel_pytree(permuted)[0]
    assert float(f(x_b, batch)) == pytest.approx(float(f(x, batch)), rel=1e-12)
    res = paths.bezier_curve(f, x, x_b, batch, key=k_curve, num_steps=300,
                                learning_rate=0.02, num_points=21)
    assert float(f(x, batch)) < 0.05  # a solution
    assert float(res.line.barrier) > 0.3  # the construction has a barrier
    assert float(res.curve.barrier) < 0.2 * float(res.line.barrier)


def test_bezier_errors_name_the_field(key):
    f = lambda x: jnp.sum(x**2)
    with pytest.raises(ValueError, match="num_steps"):
        paths.bezier_curve(f, jnp.zeros(2), jnp.ones(2), key=key, num_steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        paths.bezier_curve(f, jnp.zeros(2), jnp.ones(2), key=key, learning_rate=0.0)
    with pytest.raises(ValueError, match="init"):
        paths.bezier_curve(f, jnp.zeros(2), jnp.ones(2), key=key, init=jnp.zeros(3))
