import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape import data


def test_mnist1d_is_generated_offline(monkeypatch):
    import requests

    def refuse(*args, **kwargs):
        raise AssertionError("mnist1d tried to download")

    monkeypatch.setattr(requests, "get", refuse)
    data._mnist1d_arrays.cache_clear()
    ds = data.mnist1d(num_samples=500, seed=3)
    assert ds.x_train.shape == (350, 40) and ds.x_val.shape == (50, 40)
    assert ds.x_test.shape == (100, 40) and ds.num_classes == 10
    assert set(np.unique(ds.y_train)) <= set(range(10))


def test_mnist1d_is_reproducible_and_leaves_numpy_state_alone():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    data._mnist1d_arrays.cache_clear()
    a = data.mnist1d(num_samples=200, seed=1)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    data._mnist1d_arrays.cache_clear()
    b = data.mnist1d(num_samples=200, seed=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)


@pytest.mark.parametrize(
    "name", ["digits", "teacher_student", "gaussian_mixture", "spirals", "xor", "circles"]
)
def test_every_dataset_has_three_disjoint_splits(name):
    ds = data.load(name)
    total = len(ds.x_train) + len(ds.x_val) + len(ds.x_test)
    assert len(ds.x_val) > 0 and len(ds.x_test) > 0
    stacked = np.concatenate([ds.x_train, ds.x_val, ds.x_test]).reshape(total, -1)
    assert len(np.unique(stacked, axis=0)) == total  # no example in two splits
    assert ds.out_dim >= 1


def test_standardize_uses_training_statistics():
    ds = data.standardize(data.load("gaussian_mixture"))
    np.testing.assert_allclose(ds.x_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(0), 1, atol=1e-4)
    assert abs(ds.x_val.mean()) > 1e-7  # validation is not re-centred on itself


def test_batch_indices_cover_epoch_without_replacement(key):
    n, b = 20, 5
    f = jax.jit(lambda k, s: data.batch_indices(k, s, num_examples=n, batch_size=b))
    epoch = np.concatenate([np.asarray(f(key, s)) for s in range(4)])
    np.testing.assert_array_equal(np.sort(epoch), np.arange(n))
    next_epoch = np.concatenate([np.asarray(f(key, s)) for s in range(4, 8)])
    assert not np.array_equal(epoch, next_epoch)
    keys = jax.random.split(key, 3)
    vmapped = jax.vmap(lambda k: data.batch_indices(k, 0, num_examples=n, batch_size=b))(keys)
    assert vmapped.shape == (3, b)


def test_batch_larger_than_data_is_refused(key):
    with pytest.raises(ValueError, match="batch_size"):
        data.batch_indices(key, 0, num_examples=10, batch_size=11)


def test_unknown_dataset_and_mismatched_split():
    with pytest.raises(ValueError, match="dataset"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="x_train/y_train"):
        data.Dataset(
            "bad",
            np.ones((3, 2)),
            np.ones(2),
            np.ones((1, 2)),
            np.ones(1),
            np.ones((1, 2)),
            np.ones(1),
        )


def test_get_batch(key):
    batch = data.Batch(jnp.arange(10.0)[:, None], jnp.arange(10))
    sub = data.get_batch(batch, jnp.array([3, 1]))
    np.testing.assert_array_equal(sub.y, [3, 1])


def test_prepare_loads_standardizes_and_casts():
    ds = data.prepare("gaussian_mixture", num_samples=400, standardize=True, dtype=np.float64)
    assert ds.x_train.dtype == np.float64
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 400
    np.testing.assert_allclose(ds.x_train.mean(0), 0, atol=1e-6)  # standardised in float32
    raw = data.prepare("gaussian_mixture", num_samples=400, dtype=np.float64)
    assert abs(raw.x_train.mean()) > 1e-3
