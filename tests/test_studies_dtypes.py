"""Studies on float32 data with float64 parameters (x64 and strict promotion, as conftest
sets them): the inputs are cast to the parameters' dtype, and the numbers agree with the
loss on the cast data; the critical-point study on a Flax Linen MLP with BatchNorm. A
whole study compiles training, the finder or the slices: 20-25 CPU-s each on a tiny
network, so those runs are marked slow."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape import data, problem, results
from landscape.studies import critical_points as cp
from landscape.studies import landscape_plot as lp


def _mlp_init(sizes):
    def init(key):
        keys = jax.random.split(key, len(sizes) - 1)
        return [{"w": jax.random.normal(k, (m, n), jnp.float64) / jnp.sqrt(m),
                 "b": jnp.zeros(n, jnp.float64)}
                for k, m, n in zip(keys, sizes[:-1], sizes[1:], strict=True)]

    return init


def _apply(params, x):
    h = jnp.tanh(x @ params[0]["w"] + params[0]["b"][None])
    return h @ params[1]["w"] + params[1]["b"][None]


def test_dataset_batch_casts_to_the_parameters_dtype():
    ds = data.teacher_student(num_samples=64, in_dim=2, teacher_hidden=(2,), seed=0)
    assert ds.x_train.dtype == ds.y_train.dtype == np.float32
    batch = ds.batch("train", jnp.float64)
    assert batch.x.dtype == batch.y.dtype == jnp.float64  # regression targets cast too
    labels = data.xor(num_samples=40, seed=0).batch("val", jnp.float64)
    assert labels.x.dtype == jnp.float64
    assert labels.y.dtype == jax.dtypes.canonicalize_dtype(jnp.int_)


@pytest.mark.slow
def test_critical_points_on_float32_data():
    """A 2-2-1 tanh student on float32 regression data (inputs and targets)."""
    ds = data.teacher_student(num_samples=64, in_dim=2, teacher_hidden=(2,), seed=0).subset(32)
    prob = problem.from_functions(_mlp_init((2, 2, 1)), _apply, ds, loss="mse",
                                  name="float32 data")
    config = cp.Config(num_seeds=1, num_steps=20, eval_every=10, num_trajectory_points=2,
                       num_random=1, max_iters=20, minres_iters=20, stall_iters=5,
                       chunk_size=3)
    result = cp.run(prob, config, progress=False)
    s = result.starts
    assert len(s["kind"]) == 3 and result.info["dtype"] == "float64"
    assert np.all(np.isfinite(s["loss"])) and np.all(np.isfinite(s["grad_norm"]))
    # the stored losses are the objective on the data cast to float64
    objective = prob.loss_fn(l2=config.l2)
    batch = ds.batch("train", jnp.float64)
    _, unravel = ravel_pytree(prob.init(jax.random.key(0)))
    for i in range(len(s["loss"])):
        want = float(objective(unravel(jnp.asarray(result.points[i])), batch))
        assert s["loss"][i] == pytest.approx(want, rel=1e-12)


@pytest.mark.slow
def test_landscape_plot_on_float32_data(tmp_path):
    """A 2-3-2 tanh MLP on float32 xor (classification)."""
    ds = data.xor(num_samples=40, seed=0)
    weights = {"[0]['w']": -1, "[1]['w']": -1}
    prob = problem.from_functions(_mlp_init((2, 3, 2)), _apply, ds, name="float32 data",
                                  layout=problem.Layout(weights))
    config = lp.Config(num_steps=20, eval_every=10, batch_size=None, learning_rate=0.05,
                       grid_points=3, num_interp_points=3, bezier_steps=2)
    result = lp.run(prob, config, tmp_path, progress=False)
    assert result.summary["skipped"] == {}
    for plane in (result.random_plane, result.pca_plane, result.curve_plane):
        assert np.all(np.isfinite(plane.losses))
    # the centre of the random plane and the curve's start are solution a, whose loss is
    # the loss on the data cast to float64
    x_a = jnp.asarray(results.load_part(tmp_path, "train")["final"][0])
    _, unravel = ravel_pytree(prob.init(jax.random.key(0)))
    want = float(prob.loss_fn()(unravel(x_a), ds.batch("train", jnp.float64)))
    assert result.random_plane.losses[1, 1] == pytest.approx(want, rel=1e-12)
    assert result.bezier.curve.losses[0] == pytest.approx(want, rel=1e-12)
    assert result.summary["a_train_loss"] == pytest.approx(want, rel=1e-12)


@pytest.mark.slow
def test_critical_points_on_a_flax_mlp_with_batchnorm():
    """A Flax Linen MLP with BatchNorm (float64 parameters, float32 data) through the
    adapter: every start gets a kind, and a point is called critical only where its
    gradient is small."""
    nn = pytest.importorskip("flax.linen")
    from landscape import critical
    from landscape.adapters.flax_linen import from_linen

    class BatchNormMLP(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            x = nn.Dense(3, param_dtype=jnp.float64)(x)
            x = nn.BatchNorm(use_running_average=not train, param_dtype=jnp.float64)(x)
            return nn.Dense(3, param_dtype=jnp.float64)(jnp.tanh(x))

    ds = data.gaussian_mixture(num_samples=40, num_classes=3, dim=2, seed=0)
    prob = from_linen(BatchNormMLP(), ds, name="flax MLP with BatchNorm")
    assert prob.has_state
    config = cp.Config(num_seeds=1, num_steps=20, eval_every=10, num_trajectory_points=2,
                       num_random=1, max_iters=40, minres_iters=30, stall_iters=10,
                       chunk_size=3)
    result = cp.run(prob, config, progress=False)
    s, e = result.starts, result.endpoints
    assert result.info["num_params"] == (2 * 3 + 3) + 2 * 3 + (3 * 3 + 3)
    assert len(s["kind"]) == 3 and set(s["kind"]) <= set(critical.KINDS)
    for column in ("start_loss", "loss", "data_loss", "grad_norm", "lambda_min", "lambda_max"):
        assert np.all(np.isfinite(s[column])), column
    assert np.all(s["loss"] >= s["data_loss"])  # the L2 penalty is non-negative
    assert s["critical"].any()  # Newton-MR reaches saddles from the trajectory points
    assert np.all(s["grad_norm"][s["critical"]] <= config.tol)
    assert np.all(s["status"][s["critical"]] == "converged")
    assert len(e["kind"]) == 1 and set(e["kind"]) <= set(critical.KINDS)
    claimed = e["kind"] != "not_critical"
    assert np.all(e["grad_norm"][claimed] <= e["grad_threshold"][claimed])
