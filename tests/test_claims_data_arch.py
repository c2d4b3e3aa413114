"""Claims C3, C4, C5, C7, C8 (sizes, activations, data) and the model family they share:
the family against plain MLPs, the data helpers against closed forms, every verdict rule
both ways, and each claim end to end at a tiny size."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats

from landscape import data, models, objectives, train
from landscape.problem import from_model
from landscape.studies import faq
from landscape.studies.claims import (
    _common,
    _family,
    c03_overparameterised,
    c04_architecture,
    c05_activations,
    c07_more_data,
    c08_pretraining,
)

# ----------------------------------------------------------------------------- the family

MEMBERS = [_family.Member(1, 5, "relu"), _family.Member(3, 7, "sigmoid"),
           _family.Member(2, 3, "tanh"), _family.Member(2, 7, "relu")]


@pytest.fixture(scope="module")
def small():
    return data.mnist1d(num_samples=300, seed=42).astype(np.float64)


@pytest.mark.slow
def test_family_trains_exactly_like_the_plain_nets(small, key):
    # one plain net (a compile each) that uses every device of the family at once: a gated
    # layer, masked units and an activation other than the first
    members = [MEMBERS[2]]
    fam = _family.mlp_family(40, 10, MEMBERS)
    keys = jax.random.split(key, len(members))
    start = _family.init_runs(fam, members, keys=keys)
    config = train.TrainConfig(optimizer="adam", learning_rate=1e-2, num_steps=30,
                               batch_size=16, eval_every=10)
    runs = train.train_seeds(from_model(fam.model, small), config, keys=keys, init_params=start,
                             progress=False)
    for i, member in enumerate(members):
        plain = models.mlp(40, (member.width,) * member.depth, 10, activation=member.activation)
        one = jax.tree_util.tree_map(lambda a, i=i: a[i], start)
        ref = train.train(from_model(plain, small), config, key=keys[i],
                          init_params=_family.extract(fam, member, one), progress=False)
        # same minibatches, same function: equal up to the rounding of extra zero terms
        np.testing.assert_allclose(runs.curves.train_loss[i], ref.curves.train_loss,
                                   rtol=1e-12, atol=1e-12)
        final = jax.tree_util.tree_map(lambda a, i=i: a[i], runs.params)
        np.testing.assert_allclose(fam.model.apply(final, small.x_test),
                                   plain.apply(ref.params, small.x_test), atol=1e-10)
        # the constants never move and the padded weights stay exactly zero
        for name in ("width_mask", "depth_gate", "select"):
            np.testing.assert_array_equal(final[name], one[name])
        for layer, layer0 in zip(final["layers"], one["layers"], strict=True):
            np.testing.assert_array_equal(layer["w"][layer0["w"] == 0], 0.0)


@pytest.mark.slow
def test_family_apply_jit_and_vmap_agree(small, key):
    fam = _family.mlp_family(40, 10, MEMBERS)
    params = _family.init_runs(fam, MEMBERS, keys=jax.random.split(key, len(MEMBERS)))
    x = jnp.asarray(small.x_val)
    plain_out = jnp.stack([
        models.mlp(40, (m.width,) * m.depth, 10, activation=m.activation).apply(
            _family.extract(fam, m, jax.tree_util.tree_map(lambda a, i=i: a[i], params)), x)
        for i, m in enumerate(MEMBERS)
    ])
    vmapped = jax.vmap(fam.model.apply, in_axes=(0, None))(params, x)
    jitted = jax.jit(jax.vmap(fam.model.apply, in_axes=(0, None)))(params, x)
    np.testing.assert_allclose(vmapped, plain_out, atol=1e-12)  # float64
    np.testing.assert_allclose(jitted, plain_out, atol=1e-12)
    assert jax.eval_shape(fam.model.init, key)["layers"][1]["w"].shape == (7, 7)


def test_family_init_has_the_plain_distribution(key):
    member = _family.Member(1, 200)
    fam = _family.mlp_family(40, 10, [member, _family.Member(2, 250)])
    params = _family.init_runs(fam, [member], keys=key[None])
    w = np.asarray(params["layers"][0]["w"][0])
    assert np.all(w[:, 200:] == 0) and np.all(params["layers"][1]["w"][0] == 0)  # gated off
    # glorot normal: std sqrt(2 / (40 + 200)); 8000 draws give a relative se of ~0.8%
    np.testing.assert_allclose(np.std(w[:, :200]), np.sqrt(2 / 240), rtol=0.04)
    out = np.asarray(params["layers"][-1]["w"][0])
    np.testing.assert_allclose(np.std(out[:200]), np.sqrt(2 / 210), rtol=0.08)
    assert np.all(out[200:] == 0)


def test_member_num_params_matches_models():
    for depth, width in [(1, 1), (1, 37), (2, 10), (3, 64)]:
        plain = models.mlp(40, (width,) * depth, 10)
        expected = models.num_params(jax.eval_shape(plain.init, jax.random.key(0)))
        assert _family.Member(depth, width).num_params(40, 10) == expected


def test_family_refuses_bad_input():
    with pytest.raises(ValueError, match="members"):
        _family.mlp_family(40, 10, [])
    with pytest.raises(ValueError, match="activation"):
        _family.mlp_family(40, 10, [_family.Member(1, 3, "swish?")])
    fam = _family.mlp_family(40, 10, [_family.Member(1, 3)])
    with pytest.raises(ValueError, match="members"):
        _family.init_runs(fam, [_family.Member(2, 3)], keys=jax.random.split(jax.random.key(0), 1))
    with pytest.raises(ValueError, match="keys"):
        _family.init_runs(fam, [_family.Member(1, 3)], keys=jax.random.split(jax.random.key(0), 2))
    for field in ("l2", "weight_decay"):
        with pytest.raises(ValueError, match=field):
            _family.check_training(train.TrainConfig(**{field: 1e-4}))


def test_repeat_train_keeps_full_batch_means(small, key):
    model = models.mlp(40, (8,), 10)
    params = model.init(key)
    loss = objectives.make_loss(model.apply)
    x, y = small.x_train[:30], small.y_train[:30]
    repeated = _family.repeat_train(small, x, y, length=120)
    assert repeated.num_train == 120 and len(repeated.x_test) == len(small.x_test)
    np.testing.assert_allclose(loss(params, repeated.train), loss(params, data.Batch(x, y)),
                               rtol=1e-13)
    with pytest.raises(ValueError, match="length"):
        _family.repeat_train(small, x, y, length=100)


def test_mean_and_se_matches_scipy():
    values = np.random.default_rng(0).normal(size=(3, 7))
    mean, se = _family.mean_and_se(values)
    np.testing.assert_allclose(mean, values.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(se, scipy.stats.sem(values, axis=1), rtol=1e-12)


def test_evaluate_matches_a_numpy_reference(small, key):
    model = models.mlp(40, (8,), 10)
    params = jax.vmap(model.init)(jax.random.split(key, 2))
    got = _family.evaluate(model, params, small.test)
    logits = np.asarray(jax.vmap(model.apply, in_axes=(0, None))(params, small.x_test))
    log_probs = logits - scipy.special.logsumexp(logits, axis=2, keepdims=True)
    labels = small.y_test.astype(int)
    ce = -np.mean(np.take_along_axis(log_probs, labels[None, :, None], axis=2)[..., 0], axis=1)
    np.testing.assert_allclose(got["loss"], ce, rtol=1e-12)  # float64
    np.testing.assert_allclose(got["accuracy"], np.mean(logits.argmax(2) == labels, axis=1),
                               rtol=1e-12)


# ----------------------------------------------------------------------------- data helpers


def test_budget_width_is_the_closest_by_brute_force():
    for depth, budget in [(1, 10_210), (2, 10_210), (3, 5000), (4, 777)]:
        got = c04_architecture.budget_width(depth, budget, 40, 10)
        counts = [_family.Member(depth, w).num_params(40, 10) for w in range(1, 400)]
        assert got == 1 + int(np.argmin(np.abs(np.asarray(counts) - budget)))
    with pytest.raises(ValueError, match="depth/budget"):
        c04_architecture.budget_width(0, 100, 40, 10)


def test_shift_signals_closed_form():
    x = np.arange(1.0, 6.0)[None, :].repeat(3, axis=0)
    out = c08_pretraining.shift_signals(x, np.array([1, -2, 0]))
    np.testing.assert_array_equal(out, [[0, 1, 2, 3, 4], [3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    with pytest.raises(ValueError, match="offsets"):
        c08_pretraining.shift_signals(x, np.array([1, 2]))


def test_augment_layout():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 40)), np.arange(6)
    xa, ya = c08_pretraining.augment(x, y, copies=4, max_shift=3, seed=0)
    assert xa.shape == (24, 40) and np.array_equal(ya, np.tile(y, 4))
    np.testing.assert_array_equal(xa[:6], x)
    for copy in xa.reshape(4, 6, 40)[1:]:  # every copy is a shift of the original by <= 3
        for a, b in zip(copy, x, strict=True):
            assert any(np.array_equal(a, c08_pretraining.shift_signals(b[None], [s])[0])
                       for s in range(-3, 4))
    with pytest.raises(ValueError, match="copies"):
        c08_pretraining.augment(x, y, copies=0, max_shift=1, seed=0)


def test_simulated_mnist1d_honours_settings():
    state = np.random.get_state()
    x, y = c08_pretraining.simulated_mnist1d(50, seed=3, settings=c08_pretraining.SIMULATOR)
    assert np.array_equal(np.random.get_state()[1], state[1])  # global numpy state restored
    assert x.shape == (50, 40) and set(np.unique(y)) == set(range(10))
    x2, _ = c08_pretraining.simulated_mnist1d(50, seed=3, settings=c08_pretraining.SIMULATOR)
    np.testing.assert_array_equal(x, x2)
    # without noise, each signal is flat (constant) outside the translated template
    real, _ = c08_pretraining.simulated_mnist1d(50, seed=3, settings=())
    flat = lambda s: np.mean(np.isclose(np.diff(s, axis=1), 0))  # noqa: E731
    assert flat(x) > 0.3 > flat(real)
    with pytest.raises(ValueError, match="simulator"):
        c08_pretraining.simulated_mnist1d(50, seed=3, settings=(("no_such_setting", 1.0),))


def test_c04_grid_is_checked():
    config = c04_architecture.PROFILES["quick"]
    for field, bad in [("recommended", ((2, 64),)), ("robust_depths", (5,)),
                       ("robust_widths", (64,))]:
        with pytest.raises(ValueError, match=field):
            c04_architecture.measure(dataclasses.replace(config, **{field: bad}))


def test_c07_sizes_are_checked():
    assert c07_more_data._check_sizes((400, 100, 200), 500) == (100, 200, 400)
    for bad in [(100,), (100, 250), (100, 1000)]:
        with pytest.raises(ValueError, match="sizes"):
            c07_more_data._check_sizes(bad, 500)


# ----------------------------------------------------------------------------- verdicts


def test_c03_verdict():
    base = {"params_per_point_widest": 30.0, "test_accuracy_widest": 0.40,
            "test_accuracy_best_under": 0.30, "difference_points": 10.0,
            "difference_se_points": 1.0, "test_loss_widest": 3.0, "test_loss_best_under": 1.5}
    v = c03_overparameterised.verdict(base)
    assert v.label == faq.SUPPORTED and "confident mistakes" in v.reason
    worse = base | {"test_accuracy_widest": 0.25, "difference_points": -5.0}
    assert c03_overparameterised.verdict(worse).label == faq.NOT_SUPPORTED
    near_chance = base | {"test_accuracy_widest": 0.2, "test_accuracy_best_under": 0.2,
                          "difference_points": 0.0}
    assert c03_overparameterised.verdict(near_chance).label == faq.INCONCLUSIVE
    assert c03_overparameterised.verdict(base | {"params_per_point_widest": 5.0}).label == (
        faq.INCONCLUSIVE)
    # within the noise: -1.5 points with se 1 is not "worse"
    assert c03_overparameterised.verdict(base | {"difference_points": -1.5}).label == (
        faq.SUPPORTED)
    assert c03_overparameterised.verdict(base | {"difference_points": float("nan")}).label == (
        faq.INCONCLUSIVE)


def test_c04_verdict():
    base = {"gap_points": 2.0, "range_points": 4.0, "cell_se_points": 1.0,
            "best_depth": 3.0, "best_width": 200.0}
    assert c04_architecture.verdict(base).label == faq.SUPPORTED
    assert c04_architecture.verdict(base | {"range_points": 12.0}).label == faq.NOT_SUPPORTED
    assert c04_architecture.verdict(base | {"gap_points": 7.0}).label == faq.NOT_SUPPORTED
    assert c04_architecture.verdict(base | {"range_points": 6.0}).label == faq.INCONCLUSIVE
    assert c04_architecture.verdict(base | {"gap_points": float("nan")}).label == (
        faq.INCONCLUSIVE)


def test_c05_verdict():
    base = {"max_gap_points": 2.5, "max_gap_se_points": 1.0, "relu_gap_points": 1.0,
            "worst_at_top_learning_rate": 0.0}
    assert c05_activations.verdict(base).label == faq.SUPPORTED
    bad = base | {"max_gap_points": 12.0}
    assert c05_activations.verdict(bad).label == faq.NOT_SUPPORTED
    assert c05_activations.verdict(bad | {"worst_at_top_learning_rate": 1.0}).label == (
        faq.INCONCLUSIVE)
    assert c05_activations.verdict(base | {"max_gap_points": 4.0}).label == faq.INCONCLUSIVE


def test_c07_verdict():
    base = {"last_gain_points": 5.0, "last_gain_se_points": 1.0, "total_gain_points": 30.0,
            "total_gain_se_points": 1.0, "worst_step_points": 5.0, "worst_step_se_points": 1.0,
            "test_accuracy_smallest": 0.3, "test_accuracy_largest": 0.6}
    assert c07_more_data.verdict(base).label == faq.SUPPORTED
    saturated = base | {"last_gain_points": 1.0, "worst_step_points": 1.0}
    assert c07_more_data.verdict(saturated).label == faq.INCONCLUSIVE
    drop = base | {"worst_step_points": -4.0}
    assert c07_more_data.verdict(drop).label == faq.NOT_SUPPORTED
    flat = base | {"total_gain_points": 1.0, "last_gain_points": 0.5, "worst_step_points": 0.1}
    assert c07_more_data.verdict(flat).label == faq.NOT_SUPPORTED


def test_c08_verdict():
    base = {"augmentation_gain_points": 10.0, "augmentation_gain_se_points": 1.0,
            "pretraining_gain_points": 8.0, "pretraining_gain_se_points": 1.0,
            "test_accuracy_scratch": 0.25}
    assert c08_pretraining.verdict(base).label == faq.SUPPORTED
    assert c08_pretraining.verdict(base | {"pretraining_gain_points": 1.0}).label == (
        faq.INCONCLUSIVE)
    assert c08_pretraining.verdict(base | {"pretraining_gain_points": -3.0}).label == (
        faq.NOT_SUPPORTED)
    neither = base | {"pretraining_gain_points": 1.0, "augmentation_gain_points": 0.5}
    assert c08_pretraining.verdict(neither).label == faq.NOT_SUPPORTED


# ----------------------------------------------------------------------------- end to end

TINY_TASK = _common.Task(num_samples=300)
TINY_TRAINING = train.TrainConfig(optimizer="adam", learning_rate=1e-2, num_steps=20,
                                  batch_size=10, eval_every=20)
TINY = {
    c03_overparameterised: c03_overparameterised.Config(
        task=TINY_TASK, num_train=100, widths=(1, 3, 40), num_seeds=2, training=TINY_TRAINING),
    c04_architecture: c04_architecture.Config(
        task=TINY_TASK, depths=(1, 2), widths=(4, 8), recommended=((2, 8),),
        robust_depths=(2,), robust_widths=(4, 8), budget_width=8, num_seeds=2,
        training=TINY_TRAINING),
    c05_activations: c05_activations.Config(
        task=TINY_TASK, hidden=(8, 8), activations=("relu", "sigmoid"),
        learning_rates=(1e-2, 3e-2), num_seeds=2, training=TINY_TRAINING),
    c07_more_data: c07_more_data.Config(
        task=TINY_TASK, sizes=(20, 40, 80), hidden=(8,), num_seeds=2, training=TINY_TRAINING),
    c08_pretraining: c08_pretraining.Config(
        task=TINY_TASK, num_real=20, copies=5, hidden=(8,), num_seeds=2,
        training=TINY_TRAINING),
}


@pytest.mark.parametrize("module", list(TINY), ids=lambda m: m.ID)
@pytest.mark.slow
def test_claim_end_to_end(module, tmp_path, monkeypatch):
    monkeypatch.setitem(module.PROFILES, "quick", TINY[module])
    monkeypatch.setattr(module, "OTHER_TASKS", {}, raising=False)  # the main task only
    rows = faq.run([module.ID], profile="quick", run_dir=tmp_path / "runs",
                   figure_dir=tmp_path / "fig", progress=False)
    (row,) = rows
    assert row.verdict.label in (faq.SUPPORTED, faq.NOT_SUPPORTED, faq.INCONCLUSIVE)
    assert row.verdict.reason
    finite = {k: v for k, v in row.numbers.items() if not np.isfinite(v)}
    assert not finite, f"non-finite numbers: {finite}"
    assert (tmp_path / "fig" / f"{module.ID}.png").stat().st_size > 1000
    assert (tmp_path / "fig" / f"{module.ID}.pdf").exists()
    assert module.verdict(row.numbers) == row.verdict  # a pure function of the numbers


def test_full_profiles_construct():
    for module in TINY:
        full = module.PROFILES["full"]
        quick = module.PROFILES["quick"]
        assert full.num_seeds >= quick.num_seeds
        assert full.training.num_steps >= quick.training.num_steps
