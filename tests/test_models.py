import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape import models


def test_mlp_shapes_and_count(key):
    model = models.mlp(40, (100, 100), 10)
    params = model.init(key)
    assert models.num_params(params) == 40 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10
    assert model.apply(params, jnp.ones((7, 40))).shape == (7, 10)


def test_cnn_shapes(key):
    model = models.cnn1d(40, 10)
    params = model.init(key)
    assert model.apply(params, jnp.ones((3, 40))).shape == (3, 10)
    # 3 stride-2 'SAME' convolutions: 40 -> 20 -> 10 -> 5 positions of 25 channels
    assert params[-1]["w"].shape == (5 * 25, 10)


def test_deep_linear_is_product_of_matrices(key):
    model = models.deep_linear(5, (4, 3), 2)
    params = model.init(key)
    x = jax.random.normal(key, (6, 5))
    product = params[0]["w"] @ params[1]["w"] @ params[2]["w"]
    np.testing.assert_allclose(model.apply(params, x), x @ product, rtol=1e-12)
    assert all("b" not in layer for layer in params)


@pytest.mark.parametrize("activation", sorted(models.ACTIVATIONS))
def test_every_activation_runs(key, activation):
    model = models.mlp(3, (5,), 2, activation=activation)
    out = model.apply(model.init(key), jnp.ones((2, 3)))
    assert out.shape == (2, 2) and bool(jnp.all(jnp.isfinite(out)))


@pytest.mark.parametrize(
    ("init", "expected_std"),
    [("glorot_normal", np.sqrt(2 / (400 + 300))), ("he", np.sqrt(2 / 400)),
     ("lecun", np.sqrt(1 / 400)), ("glorot_uniform", np.sqrt(2 / (400 + 300))),
     ("normal(0.05)", 0.05)],
)
def test_initialiser_scale(key, init, expected_std):
    w = models.mlp(400, (), 300, init=init).init(key)[0]["w"]
    assert abs(float(jnp.std(w)) / expected_std - 1) < 0.02  # 120k samples: std error ~0.2%


def test_constant_and_zero_init(key):
    assert float(jnp.abs(models.mlp(3, (4,), 2, init="zeros").init(key)[0]["w"]).max()) == 0.0
    w = models.mlp(3, (4,), 2, init="constant(0.5)").init(key)[0]["w"]
    np.testing.assert_array_equal(w, 0.5)


def test_dropout_only_with_key(key):
    model = models.mlp(10, (50,), 3, dropout=0.5)
    params = model.init(key)
    x = jnp.ones((4, 10))
    a = model.apply(params, x)
    np.testing.assert_array_equal(a, model.apply(params, x))
    assert not np.allclose(model.apply(params, x, key=key), a)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: models.mlp(3, (4,), 2, activation="swishy"), "activation"),
        (lambda: models.mlp(3, (4,), 2, init="orthogonalish"), "init"),
        (lambda: models.mlp(3, (0,), 2), "hidden"),
        (lambda: models.mlp(3, (4,), 2, dropout=1.0), "dropout"),
    ],
)
def test_bad_input_names_the_field(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_shape_mismatch_is_clear(key):
    model = models.mlp(3, (4,), 2)
    with pytest.raises(ValueError, match="expected 3 input features"):
        model.apply(model.init(key), jnp.ones((2, 5)))
