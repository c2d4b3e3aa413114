"""Training engine: optimizers and schedules against optax, the chunked engine against a
plain reference loop, determinism, vmap over seeds, divergence, sharding, compile count."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from landscape import data, models, objectives, optim
from landscape import train as train_mod
from landscape.curvature import grad_norm
from landscape.problem import from_model
from landscape.train import (
    Curves,
    TrainConfig,
    TrainResult,
    train,
    train_seeds,
)

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def problem():
    """A 4-class gaussian mixture (160 training examples) and a small MLP with dropout."""
    ds = data.gaussian_mixture(num_samples=250, num_classes=4, dim=5, seed=0).astype(np.float64)
    model = models.mlp(5, (12,), 4, activation="tanh", dropout=0.2)
    return model, ds


# One config for the problem above, shared by several tests so that it compiles once:
# minibatches, dropout, nesterov momentum, weight decay, l2, a schedule with warm-up,
# and a last chunk shorter than eval_every.
CONFIG = TrainConfig(
    optimizer="nesterov", learning_rate=0.2, num_steps=23, eval_every=10, batch_size=16,
    schedule="warmup_cosine", warmup_steps=3, weight_decay=1e-3, l2=1e-3, record_params=True,
)


def leaves_equal(a, b):
    return all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    )


def max_rel_diff(a, b):
    worst = 0.0
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        both_nan = np.isnan(x) & np.isnan(y)
        scale = np.maximum(np.abs(y), 1.0)
        diff = np.where(both_nan, 0.0, np.abs(x - y) / scale)
        worst = max(worst, float(np.max(diff)) if diff.size else 0.0)
    return worst


# ----------------------------------------------------------------------------- config checks


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"num_steps": 0}, "num_steps"),
        ({"num_steps": 2.5}, "num_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"schedule": "linear"}, "schedule"),
        ({"schedule": "step"}, "decay_every"),
        ({"schedule": "warmup_cosine"}, "warmup_steps"),
        ({"warmup_steps": 1000}, "warmup_steps"),
        ({"decay_rate": 0.0}, "decay_rate"),
        ({"momentum": 1.0}, "momentum"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"l2": -1.0}, "l2"),
        ({"eval_every": 0}, "eval_every"),
        ({"divergence_factor": 1.0}, "divergence_factor"),
    ],
)
def test_bad_config_raises_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        TrainConfig(**changes)


def test_bad_runs_raise_before_any_compute(key, problem):
    _, ds = problem
    calls = {"init": 0, "apply": 0}
    base = models.mlp(5, (4,), 4)

    def init(k):
        calls["init"] += 1
        return base.init(k)

    def apply(params, x, *, key=None):
        calls["apply"] += 1
        return base.apply(params, x, key=key)

    model = models.Model(init, apply, "counting")
    prob = from_model(model, ds)
    regression = from_model(model, data.teacher_student(num_samples=50, seed=0),
                            loss="cross_entropy")
    calls["init"] = 0  # from_model reads the parameter shapes once
    traces = dict(train_mod._TRACES)
    two = jax.random.split(key, 2)
    with pytest.raises(ValueError, match="^batch_size:.*larger than the training set"):
        train(prob, TrainConfig(batch_size=ds.num_train + 1), key=key, progress=False)
    with pytest.raises(ValueError, match="^batch_size:"):
        train_seeds(prob, TrainConfig(batch_size=10_000), keys=two, progress=False)
    with pytest.raises(ValueError, match="^loss:"):
        train(regression, TrainConfig(), key=key, progress=False)
    with pytest.raises(ValueError, match="^key:"):
        train(prob, TrainConfig(), key=two, progress=False)
    with pytest.raises(ValueError, match="^keys:"):
        train_seeds(prob, TrainConfig(), keys=key, progress=False)
    with pytest.raises(ValueError, match="^problem:"):
        train(model, TrainConfig(), key=key, progress=False)
    with pytest.raises(ValueError, match="^init_state:.*no model state"):
        train(prob, TrainConfig(), key=key, init_state={"mean": jnp.zeros(3)}, progress=False)
    assert calls == {"init": 0, "apply": 0}
    assert dict(train_mod._TRACES) == traces
    params = base.init(key)
    bad = jax.tree_util.tree_map(lambda a: a[:1], params)
    with pytest.raises(ValueError, match="^init_params:"):
        train(prob, TrainConfig(), key=key, init_params=bad, progress=False)
    with pytest.raises(ValueError, match="^init_params:"):  # no seed axis
        train_seeds(prob, TrainConfig(), keys=two, init_params=params, progress=False)
    with pytest.raises(ValueError, match="^vectorize:"):
        train_seeds(prob, TrainConfig(), keys=two, vectorize=False,
                    devices=[jax.devices()[0]] * 2, progress=False)
    with pytest.raises(ValueError, match="^learning_rates:"):
        train_seeds(prob, TrainConfig(), keys=two, learning_rates=[0.1, -0.1], progress=False)
    assert calls["apply"] == 0


# ----------------------------------------------------------------------------- optimizers


OPTAX_REFERENCE = {
    "sgd": lambda lr, c: optax.sgd(lr),
    "momentum": lambda lr, c: optax.sgd(lr, momentum=c.momentum),
    "nesterov": lambda lr, c: optax.sgd(lr, momentum=c.momentum, nesterov=True),
    "adam": lambda lr, c: optax.adam(lr),
    "adamw": lambda lr, c: optax.adamw(lr, weight_decay=c.weight_decay),
    "rmsprop": lambda lr, c: optax.rmsprop(lr),
}


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_optimizers_match_optax(name, key):
    config = TrainConfig(
        optimizer=name, learning_rate=0.05, momentum=0.8,
        weight_decay=0.01 if name == "adamw" else 0.0,
    )
    ours, ref = config.make_optimizer(), OPTAX_REFERENCE[name](0.05, config)
    params = {"w": jax.random.normal(key, (3, 4)), "b": jnp.arange(4.0)}
    p1, p2, s1, s2 = params, params, ours.init(params), ref.init(params)
    with jax.numpy_dtype_promotion("standard"):
        for t in range(6):
            g = jax.tree_util.tree_map(lambda a, t=t: jnp.sin(a * (t + 1)), p1)
            u1, s1 = ours.update(g, s1, p1)
            u2, s2 = ref.update(g, s2, p2)
            p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    assert max_rel_diff(p1, p2) < 1e-14  # same arithmetic up to rounding, float64


def test_sgd_weight_decay_is_l2_gradient(key):
    """For sgd, decoupled weight decay equals the gradient of an L2 penalty."""
    params = {"w": jax.random.normal(key, (5,))}
    g = {"w": jnp.linspace(-1.0, 1.0, 5)}
    opt = TrainConfig(learning_rate=0.3, weight_decay=0.1).make_optimizer()
    with jax.numpy_dtype_promotion("standard"):
        updates, _ = opt.update(g, opt.init(params), params)
    expected = -0.3 * (g["w"] + 0.1 * params["w"])
    np.testing.assert_allclose(updates["w"], expected, rtol=1e-15)


def test_schedules_match_optax_and_closed_forms():
    lr, total = 0.3, 50
    counts = jnp.arange(total + 1)
    cosine = TrainConfig(learning_rate=lr, num_steps=total, schedule="cosine").make_schedule()
    ref = optax.cosine_decay_schedule(lr, total)
    with jax.numpy_dtype_promotion("standard"):  # optax mixes int and float scalars
        expected = ref(counts)
    np.testing.assert_allclose(cosine(counts), expected, rtol=1e-12, atol=1e-15)
    step = TrainConfig(learning_rate=lr, schedule="step", decay_every=7,
                       decay_rate=0.5).make_schedule()
    ref = optax.exponential_decay(lr, transition_steps=7, decay_rate=0.5, staircase=True)
    with jax.numpy_dtype_promotion("standard"):
        expected = ref(counts)
    np.testing.assert_allclose(step(counts), expected, rtol=1e-14)
    np.testing.assert_allclose(
        TrainConfig(learning_rate=lr).make_schedule()(counts), np.full(total + 1, lr), rtol=1e-15
    )
    warm = TrainConfig(learning_rate=lr, num_steps=total, schedule="warmup_cosine",
                       warmup_steps=10).make_schedule()
    c = np.arange(total + 1, dtype=np.float64)
    expected = np.where(
        c < 10, lr * (c + 1) / 10, lr * 0.5 * (1 + np.cos(np.pi * np.clip((c - 10) / 40, 0, 1)))
    )
    np.testing.assert_allclose(warm(counts), expected, rtol=1e-14, atol=1e-16)
    assert float(warm(9)) == pytest.approx(lr, rel=1e-15)  # warm-up ends at the peak
    assert float(warm(total)) == pytest.approx(0.0, abs=1e-15)  # cosine ends at zero
    # warm-up in front of a constant schedule
    const_warm = TrainConfig(learning_rate=lr, num_steps=total, warmup_steps=4).make_schedule()
    np.testing.assert_allclose(const_warm(jnp.arange(6)), lr * np.array([1, 2, 3, 4, 4, 4]) / 4,
                               rtol=1e-15)


# ----------------------------------------------------------------------------- engine vs reference


def reference_run(model, ds, config, key, loss="cross_entropy"):
    """A plain Python loop over jitted single steps: what the chunked engine must reproduce."""
    loss_fn = objectives.make_loss(model.apply, loss=loss, l2=config.l2)
    opt = config.make_optimizer()
    init_key, data_key, dropout_key = jax.random.split(key, 3)
    params = model.init(init_key)
    state = opt.init(params)
    full = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))

    @jax.jit
    def step(params, state, t):
        if config.batch_size is None:
            batch = full
        else:
            idx = data.batch_indices(
                data_key, t, num_examples=ds.num_train, batch_size=config.batch_size
            )
            batch = data.get_batch(full, idx)
        loss, g = jax.value_and_grad(loss_fn)(params, batch, key=jax.random.fold_in(dropout_key, t))
        with jax.numpy_dtype_promotion("standard"):
            updates, state = opt.update(g, state, params)
        return optax.apply_updates(params, updates), state, loss

    history, losses = [params], []
    for t in range(config.num_steps):
        params, state, loss = step(params, state, jnp.asarray(t, jnp.int32))
        history.append(params)
        losses.append(float(loss))
    return history, np.array(losses), float(loss_fn(history[0], full))


def test_engine_matches_reference_loop(problem, key):
    model, ds = problem
    config = CONFIG
    result = train(from_model(model, ds), config, key=key, progress=False)
    history, _, _ = reference_run(model, ds, config, key)
    assert isinstance(result, TrainResult) and isinstance(result.curves, Curves)
    np.testing.assert_array_equal(result.curves.step, [0, 10, 20, 23])
    assert max_rel_diff(result.params, history[-1]) < 1e-12  # float64 rounding only
    assert max_rel_diff(result.init_params, history[0]) < 1e-15  # jitted vs eager init
    metrics = objectives.make_metrics(model.apply)
    objective = objectives.make_loss(model.apply, l2=config.l2)
    label = jax.dtypes.canonicalize_dtype(jnp.int_)  # the dtype of argmax
    train_batch = data.Batch(ds.x_train, ds.y_train.astype(label))
    val_batch = data.Batch(ds.x_val, ds.y_val.astype(label))
    for e, t in enumerate([0, 10, 20, 23]):
        p = history[t]
        np.testing.assert_allclose(result.trajectory[e], ravel_pytree(p)[0], rtol=1e-12, atol=1e-14)
        m, mv = metrics(p, train_batch), metrics(p, val_batch)
        np.testing.assert_allclose(result.curves.train_loss[e], m["loss"], rtol=1e-12)
        np.testing.assert_allclose(result.curves.train_accuracy[e], m["accuracy"], rtol=1e-12)
        np.testing.assert_allclose(result.curves.val_loss[e], mv["loss"], rtol=1e-12)
        np.testing.assert_allclose(result.curves.val_accuracy[e], mv["accuracy"], rtol=1e-12)
        np.testing.assert_allclose(
            result.curves.grad_norm[e], grad_norm(objective, p, train_batch), rtol=1e-10
        )
    assert not bool(result.diverged) and int(result.diverged_step) == -1


# ----------------------------------------------------------------------------- determinism, seeds


def test_same_seed_bit_identical_and_seeds_differ(problem, key):
    model, ds = problem
    config = CONFIG
    a = train(from_model(model, ds), config, key=key, progress=False)
    b = train(from_model(model, ds), config, key=key, progress=False)
    assert leaves_equal(a, b)  # bit for bit: params, curves, flags
    c = train(from_model(model, ds), config, key=jax.random.fold_in(key, 1), progress=False)
    assert not np.array_equal(np.asarray(a.curves.train_loss), np.asarray(c.curves.train_loss))
    diff = ravel_pytree(a.params)[0] - ravel_pytree(c.params)[0]
    assert float(jnp.linalg.norm(diff)) > 0.1 * float(jnp.linalg.norm(ravel_pytree(a.params)[0]))
    # the same init but another data order and dropout still differ
    d = train(from_model(model, ds), config, key=jax.random.fold_in(key, 1),
              init_params=a.init_params,
              progress=False)
    assert not leaves_equal(a.params, d.params)


@pytest.mark.parametrize("vectorize", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_vmapped_seeds_equal_separate_runs(problem, key, vectorize):
    """Seeds vmapped (vectorize=True) or run one after another in one program (False)."""
    model, ds = problem
    config = CONFIG
    keys = jax.random.split(key, 3)
    many = train_seeds(from_model(model, ds), config, keys=keys, vectorize=vectorize,
                       progress=False)
    assert many.curves.train_loss.shape == (3, 4) and many.curves.step.shape == (4,)
    assert many.diverged.shape == (3,) and many.trajectory.shape[:2] == (3, 4)
    for s in range(3):
        one = train(from_model(model, ds), config, key=keys[s], progress=False)
        mine = jax.tree_util.tree_map(lambda a, s=s: a[s], many._replace(curves=many.curves[1:]))
        assert max_rel_diff(mine.params, one.params) < 1e-10  # vmap vs plain: rounding only
        assert max_rel_diff(mine.curves, one.curves[1:]) < 1e-10
        assert max_rel_diff(mine.trajectory, one.trajectory) < 1e-10
        assert leaves_equal(mine.init_params, one.init_params)


# ----------------------------------------------------------------------------- divergence


@pytest.mark.slow
def test_diverging_learning_rate_marks_only_that_seed(key):
    """Full-batch regression (mse) with step decay; one seed of three has a learning rate
    that blows up."""
    ds = data.teacher_student(num_samples=100, in_dim=3, seed=2).astype(np.float64)
    model = models.mlp(3, (5,), 1, activation="tanh")
    config = TrainConfig(learning_rate=0.05, num_steps=40, eval_every=10,
                         divergence_factor=100.0, schedule="step", decay_every=15, decay_rate=0.5)
    prob = from_model(model, ds, loss="mse")
    keys = jax.random.split(key, 3)
    rates = [0.05, 50.0, 0.05]
    result = train_seeds(prob, config, keys=keys, learning_rates=rates, vectorize=True,
                         progress=False)
    np.testing.assert_array_equal(result.diverged, [False, True, False])
    # the blown-up seed: marked at the first step whose loss passes 100x the initial loss
    history, losses, loss0 = reference_run(model, ds, config.replace(learning_rate=50.0), keys[1],
                                           "mse")
    first_bad = int(np.argmax(~np.isfinite(losses) | (losses > 100.0 * loss0)))
    assert losses[first_bad] > 100 * loss0 and np.all(losses[:first_bad] <= 100 * loss0)
    assert int(result.diverged_step[1]) == first_bad
    frozen = jax.tree_util.tree_map(lambda a: a[1], result.params)
    assert max_rel_diff(frozen, history[first_bad]) < 1e-10
    curve = np.asarray(result.curves.train_loss[1])
    assert np.all(np.isfinite(curve))
    after = np.asarray(result.curves.step) > first_bad
    assert np.all(curve[after] == curve[after][0])  # frozen: the same loss ever after
    assert list(np.asarray(result.diverged_step)[[0, 2]]) == [-1, -1]
    # the other seeds went on exactly as if trained alone
    for s in (0, 2):
        alone = train(prob, config, key=keys[s], progress=False)
        mine = jax.tree_util.tree_map(lambda a, s=s: a[s], result.params)
        assert max_rel_diff(mine, alone.params) < 1e-10
        assert float(alone.curves.train_loss[-1]) < float(alone.curves.train_loss[0])
    # a full-batch run is the reference loop's result
    history, _, _ = reference_run(model, ds, config, keys[0], "mse")
    seed0 = jax.tree_util.tree_map(lambda a: a[0], result.params)
    assert max_rel_diff(seed0, history[-1]) < 1e-10
    assert np.all(np.isnan(np.asarray(result.curves.train_accuracy)))  # regression
    assert np.all(np.isnan(np.asarray(result.curves.val_accuracy)))
    assert result.trajectory is None


def test_non_finite_loss_diverges_with_finite_params(key):
    """Huge initial weights in one seed: the loss overflows to inf; the check on
    finiteness alone (divergence_factor=inf) still catches it and keeps finite params."""
    ds = data.teacher_student(num_samples=60, in_dim=3, seed=3).astype(np.float64)
    model = models.mlp(3, (4,), 1, activation="identity")
    config = TrainConfig(learning_rate=0.5, num_steps=60, eval_every=20,
                         divergence_factor=float("inf"))
    prob = from_model(model, ds, loss="mse")
    keys = jax.random.split(key, 2)
    init = jax.vmap(model.init)(jax.random.split(jax.random.fold_in(key, 7), 2))
    scale = jnp.array([1.0, 30.0])
    init = jax.tree_util.tree_map(lambda a: a * scale.reshape((2,) + (1,) * (a.ndim - 1)), init)
    result = train_seeds(prob, config, keys=keys, init_params=init, progress=False)
    np.testing.assert_array_equal(result.diverged, [False, True])
    assert int(result.diverged_step[1]) > 0
    leaves = jax.tree_util.tree_leaves(result.params)
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves)
    assert float(result.curves.train_loss[0, -1]) < float(result.curves.train_loss[0, 0])


# ------------------------------------------------------------------------ optimizers x schedules


@pytest.fixture(scope="module")
def tiny():
    ds = data.gaussian_mixture(num_samples=150, num_classes=3, dim=4, seed=1).astype(np.float64)
    return models.mlp(4, (8,), 3, activation="tanh"), ds


@pytest.mark.parametrize(
    "optimizer, schedule, lr",
    [
        ("sgd", "constant", 0.5),
        pytest.param("momentum", "constant", 0.1, marks=pytest.mark.slow),
        pytest.param("nesterov", "constant", 0.1, marks=pytest.mark.slow),
        ("adam", "constant", 0.02),
        pytest.param("adamw", "constant", 0.02, marks=pytest.mark.slow),
        pytest.param("rmsprop", "constant", 0.005, marks=pytest.mark.slow),
        pytest.param("sgd", "step", 0.5, marks=pytest.mark.slow),
        ("sgd", "cosine", 0.5),
        pytest.param("adam", "warmup_cosine", 0.02, marks=pytest.mark.slow),
    ],
)
def test_every_optimizer_and_schedule_lowers_the_loss(optimizer, schedule, lr, tiny, key):
    model, ds = tiny
    config = TrainConfig(
        optimizer=optimizer, learning_rate=lr, num_steps=60, eval_every=30,
        schedule=schedule, decay_every=20, warmup_steps=5 if schedule == "warmup_cosine" else 0,
        weight_decay=1e-3 if optimizer == "adamw" else 0.0,
    )
    result = train(from_model(model, ds), config, key=key, progress=False)
    loss = np.asarray(result.curves.train_loss)
    assert loss[-1] < 0.7 * loss[0], loss  # clear progress in 60 steps
    assert not bool(result.diverged)


# ----------------------------------------------------------------------------- compile count


@pytest.mark.slow
def test_chunk_function_traces_once(key):
    ds = data.xor(num_samples=80, seed=4).astype(np.float64)
    model = models.mlp(2, (3,), 2)
    config = TrainConfig(num_steps=50, eval_every=10, batch_size=8)
    before = train_mod._TRACES["chunk"]
    train(from_model(model, ds), config, key=key, progress=False)  # 5 chunks
    assert train_mod._TRACES["chunk"] - before == 1
    # another seed, learning rate and init: the same compiled program
    train(from_model(model, ds), config.replace(learning_rate=0.05), key=jax.random.fold_in(key, 1),
          init_params=model.init(key), progress=False)
    assert train_mod._TRACES["chunk"] - before == 1
    before = train_mod._TRACES["chunk"]
    train_seeds(from_model(model, ds), config, keys=jax.random.split(key, 3), progress=False)
    train_seeds(from_model(model, ds), config, keys=jax.random.split(key, 3), learning_rates=[0.1,
                0.2, 0.3],
                progress=False)
    assert train_mod._TRACES["chunk"] - before == 1


def test_progress_bar_and_no_validation_split(key, capsys):
    ds = data.xor(num_samples=60, seed=5).astype(np.float64)
    ds = ds.replace(x_val=ds.x_val[:0], y_val=ds.y_val[:0])
    model = models.mlp(2, (3,), 2)
    result = train(from_model(model, ds), TrainConfig(num_steps=20, eval_every=10), key=key,
                   progress=True)
    assert "chunk" in capsys.readouterr().err
    assert np.all(np.isnan(np.asarray(result.curves.val_loss)))
    assert np.all(np.isfinite(np.asarray(result.curves.train_loss)))


# ----------------------------------------------------------------------------- sharding


@pytest.mark.slow
def test_sharded_over_four_host_devices_equals_unsharded(tmp_path):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4")
    env["JAX_PLATFORMS"] = "cpu"
    out = tmp_path / "shard.json"
    proc = subprocess.run(
        [sys.executable, str(HERE / "_shard_worker.py"), str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["device_count"] == 4
    for case in report["cases"]:
        assert case["devices_used"] == 4, case
        assert case["shape_ok"], case
        assert case["max_rel_diff"] < 1e-12, case  # same per-seed program; rounding only
        assert case["diverged_equal"], case
