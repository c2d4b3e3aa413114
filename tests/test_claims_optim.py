"""Claims C6, C9, C10, C12, C13: verdict rules on constructed numbers (every label),
the numerical helpers against references, and each claim end to end at a tiny size."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape import curvature, data, models, objectives, train
from landscape.studies import faq
from landscape.studies.claims import (
    _common,
    _family,
    c06_vanishing_gradients,
    c09_initialisation,
    c10_optimisation_tricks,
    c12_overfitting,
    c13_expansion,
)

TINY_TASK = _common.Task(num_samples=300, standardize=True)


def _run_tiny(monkeypatch, tmp_path, module, config):
    monkeypatch.setitem(module.PROFILES, "quick", config)
    rows = faq.run([module.ID], profile="quick", run_dir=tmp_path / "runs",
                   figure_dir=tmp_path / "fig", progress=False)
    row = rows[0]
    assert row.verdict.label in (faq.SUPPORTED, faq.NOT_SUPPORTED, faq.INCONCLUSIVE)
    assert row.verdict.reason
    assert (tmp_path / "fig" / f"{module.ID}.png").stat().st_size > 5000
    assert (tmp_path / "fig" / f"{module.ID}.pdf").exists()
    return row


# ----------------------------------------------------------------------------- C6


C6_BASE = {
    "sigmoid_ratio_drop_orders": 5.0, "relu_ratio_range_orders": 0.3,
    "loss_gap_sigmoid_minus_relu": 0.8, "loss_gap_se": 0.05,
}


@pytest.mark.parametrize("changes, label", [
    ({}, faq.SUPPORTED),
    ({"sigmoid_ratio_drop_orders": 0.5}, faq.NOT_SUPPORTED),
    ({"relu_ratio_range_orders": 2.5}, faq.NOT_SUPPORTED),
    ({"loss_gap_sigmoid_minus_relu": -0.1}, faq.NOT_SUPPORTED),
    ({"sigmoid_ratio_drop_orders": 1.5}, faq.INCONCLUSIVE),  # falls, but by < 2 orders
    ({"loss_gap_sigmoid_minus_relu": 0.05}, faq.INCONCLUSIVE),  # within 2 SE
    ({"loss_gap_se": float("nan")}, faq.INCONCLUSIVE),
])
def test_c06_verdict(changes, label):
    assert c06_vanishing_gradients.verdict({**C6_BASE, **changes}).label == label


def test_c06_layer_gradient_rms_matches_grad():
    model = models.mlp(5, (4, 4), 3, activation="sigmoid")
    rng = np.random.default_rng(0)  # numpy draws: no random-number program to compile
    sizes = (5, 4, 4, 3)
    params = [{"w": jnp.asarray(rng.standard_normal((2, m, n))), "b": jnp.zeros((2, n))}
              for m, n in zip(sizes[:-1], sizes[1:], strict=True)]
    batch = data.Batch(jnp.asarray(rng.standard_normal((7, 5))), jnp.arange(7) % 3)
    rms = np.asarray(c06_vanishing_gradients.layer_gradient_rms(model, params, batch))
    assert rms.shape == (2, 3)
    loss = objectives.make_loss(model.apply)
    for s in range(2):
        one = jax.tree_util.tree_map(lambda a, s=s: a[s], params)
        grads = jax.grad(loss)(one, batch)
        expected = [np.sqrt(np.mean(np.asarray(g["w"]) ** 2)) for g in grads]
        np.testing.assert_allclose(rms[s], expected, rtol=1e-12)  # float64, same arithmetic


@pytest.mark.slow
def test_c06_end_to_end(monkeypatch, tmp_path):
    config = c06_vanishing_gradients.Config(
        task=TINY_TASK, depths=(1, 2), width=4, num_gradient_examples=64,
        learning_rates=(0.1,), num_seeds=2,
        training=train.TrainConfig(optimizer="sgd", learning_rate=0.1, num_steps=20,
                                   batch_size=16, eval_every=10),
    )
    row = _run_tiny(monkeypatch, tmp_path, c06_vanishing_gradients, config)
    for name in ("sigmoid_ratio_drop_orders", "relu_ratio_range_orders",
                 "loss_gap_sigmoid_minus_relu", "loss_gap_se"):
        assert np.isfinite(row.numbers[name]), name
    # a sigmoid's derivative is at most 1/4: its gradient ratio shrinks with depth
    assert row.numbers["sigmoid_ratio_drop_orders"] > 0


def test_c06_bad_config():
    with pytest.raises(ValueError, match="depths"):
        c06_vanishing_gradients.measure(c06_vanishing_gradients.Config(depths=(4,)))


# ----------------------------------------------------------------------------- C9


C9_BASE = {
    "constant_max_distinct_units": 1.0, "random_min_distinct_fraction": 1.0,
    "glorot_gap_to_best_accuracy": 0.005, "gap_se": 0.01,
}


@pytest.mark.parametrize("changes, label", [
    ({}, faq.SUPPORTED),
    ({"constant_max_distinct_units": 3.0}, faq.NOT_SUPPORTED),
    ({"random_min_distinct_fraction": 0.3}, faq.NOT_SUPPORTED),
    ({"glorot_gap_to_best_accuracy": 0.1}, faq.NOT_SUPPORTED),
    ({"glorot_gap_to_best_accuracy": 0.025}, faq.INCONCLUSIVE),  # > 2 SE but < 3 points
    ({"random_min_distinct_fraction": 0.7}, faq.INCONCLUSIVE),
])
def test_c09_verdict(changes, label):
    assert c09_initialisation.verdict({**C9_BASE, **changes}).label == label


def test_c09_distinct_units():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((5, 3))  # 3 distinct incoming vectors
    w_in = base[:, [0, 1, 0, 2, 1, 0]]
    b = np.zeros(6)
    w_out = rng.standard_normal((3, 2))[[0, 1, 0, 2, 1, 0]]
    count, merged = c09_initialisation.distinct_units(w_in, b, w_out, tol=1e-6)
    assert (count, merged) == (3, 0.0)
    w_in[0, 2] += 1e-3  # unit 2 moves away from unit 0 by 1e-3 (relative ~1e-4 of the norm)
    count, merged = c09_initialisation.distinct_units(w_in, b, w_out, tol=1e-6)
    assert count == 4
    count, merged = c09_initialisation.distinct_units(w_in, b, w_out, tol=1e-2)
    assert count == 3 and 0 < merged < 1e-2
    assert c09_initialisation.distinct_units(np.zeros((5, 4)), np.zeros(4), np.zeros((4, 2)),
                                             tol=1e-3) == (1, 0.0)


def test_c09_is_constant():
    assert c09_initialisation.is_constant("zeros")
    assert c09_initialisation.is_constant("constant(0.1)")
    assert not c09_initialisation.is_constant("normal(0.01)")


@pytest.mark.slow
def test_c09_end_to_end(monkeypatch, tmp_path):
    config = c09_initialisation.Config(
        task=TINY_TASK, hidden=(8, 8), inits=("glorot_normal", "zeros", "constant(0.1)"),
        num_seeds=2,
        training=train.TrainConfig(optimizer="momentum", learning_rate=0.05, num_steps=30,
                                   batch_size=16, eval_every=10),
    )
    row = _run_tiny(monkeypatch, tmp_path, c09_initialisation, config)
    # exact symmetry: identical units get identical updates, whatever the data order
    assert row.numbers["constant_max_distinct_units"] == 1
    assert row.numbers["constant_max_merged_distance"] == 0.0
    assert row.numbers["random_min_distinct_fraction"] == 1.0
    assert row.numbers["glorot_gap_to_best_accuracy"] == 0.0  # the only random init


def test_c09_bad_config():
    with pytest.raises(ValueError, match="inits"):
        c09_initialisation.measure(c09_initialisation.Config(inits=("glorot_normal", "he")))
    with pytest.raises(ValueError, match="init"):
        c09_initialisation.measure(c09_initialisation.Config(inits=("glorot_normal", "zeros",
                                                                    "bogus")))


# ----------------------------------------------------------------------------- C10


def _c10_numbers(a, b, c, d):
    return {
        "standardise_judged": a, "decay_judged": b, "momentum_judged": c, "adam_judged": d,
        "a_condition_raw": 1e4, "a_condition_standardised": 2.0, "a_steps_raw": 1000.0,
        "a_steps_standardised": 10.0, "b_final_train_loss_constant": 0.7,
        "b_final_train_loss_cosine": 0.6, "b_difference_se": 0.02,
        "c_steps_through_plateaus_gd": 400.0, "c_steps_through_plateaus_momentum": 130.0,
        "c_difference_se": 20.0, "d_log10_excess_sgd": -0.8, "d_log10_excess_adam": -4.0,
        "d_difference_se": 0.2,
    }


@pytest.mark.parametrize("judged, label", [
    ((1, 1, 1, 1), faq.SUPPORTED),
    ((1, 1, 1, 0), faq.INCONCLUSIVE),
    ((1, 1, 1, -1), faq.INCONCLUSIVE),
    ((1, -1, 1, -1), faq.NOT_SUPPORTED),
    ((-1, -1, -1, -1), faq.NOT_SUPPORTED),
])
def test_c10_verdict(judged, label):
    numbers = _c10_numbers(*map(float, judged))
    assert c10_optimisation_tricks.verdict(numbers).label == label


def test_c10_judge_difference():
    judge = c10_optimisation_tricks._judge_difference
    assert judge(1.0, 2.0, 0.1) == c10_optimisation_tricks.HOLDS
    assert judge(1.9, 2.0, 0.1) == c10_optimisation_tricks.UNCLEAR
    assert judge(2.0, 2.0, 0.1) == c10_optimisation_tricks.FAILS
    assert judge(float("inf"), 2.0, 0.1) == c10_optimisation_tricks.FAILS


def test_c10_hessian_and_minimum_closed_form(key):
    ds = c10_optimisation_tricks.badly_scaled_regression(num_samples=60, dim=4, orders=2.0,
                                                         noise=0.1, seed=1)
    model = models.mlp(4, (), 1)
    eig = c10_optimisation_tricks.hessian_eigenvalues(model, ds, key=key)
    # 0.5 * mean (x w + b - y)^2 has the constant Hessian A^T A / n with A = [x, 1]
    a = np.c_[ds.x_train, np.ones(ds.num_train)]
    np.testing.assert_allclose(eig, np.linalg.eigvalsh(a.T @ a / ds.num_train), rtol=1e-10)
    solution = np.linalg.solve(a.T @ a, a.T @ ds.y_train)
    expected = 0.5 * np.mean((a @ solution - ds.y_train) ** 2)
    assert c10_optimisation_tricks.least_squares_minimum(ds) == pytest.approx(expected, rel=1e-10)
    # standardising removes the scales: the condition number drops to that of the sample
    std = c10_optimisation_tricks.hessian_eigenvalues(model, data.standardize(ds), key=key)
    assert eig[-1] / eig[0] > 50 and std[-1] / std[0] < 5


def test_c10_first_step_and_best_rate():
    curves = np.array([[3.0, 2.0, 1.0], [3.0, 3.0, 3.0]])
    steps = np.array([0, 10, 20])
    first = c10_optimisation_tricks.first_step_below(curves, steps, np.array([1.5, 1.5]))
    assert first[0] == 20 and np.isinf(first[1])
    score = np.array([[1.0, 1.0], [0.5, 0.6], [0.1, 0.1]])
    bad = np.array([[False, False], [False, False], [True, False]])
    assert c10_optimisation_tricks.best_rate(score, bad) == 1  # the best rate diverged once


TINY_C10 = c10_optimisation_tricks.Config(
    num_seeds=2, regression_samples=100, regression_dim=4, gd_steps=20,
    task=TINY_TASK, hidden=(8,), schedule_rates=(0.1, 0.2),
    schedule_training=train.TrainConfig(optimizer="sgd", learning_rate=0.1, num_steps=20,
                                        batch_size=16, eval_every=10),
    plateau_dim=3, plateau_depth=2, plateau_rates=(0.1, 0.3), plateau_steps=40,
    plateau_init="normal(0.1)", adam_rates=(0.01,), sgd_rate_fractions=(1.0,),
    adam_training=train.TrainConfig(optimizer="adam", learning_rate=0.01, num_steps=20,
                                    batch_size=16, eval_every=10),
)


def test_c10_plot_from_constructed_arrays(tmp_path):
    """The figure alone (the end-to-end run below compiles seven programs: slow)."""
    from landscape import plots

    steps = np.arange(0, 50, 10)
    decay = np.exp(-np.outer([1.0, 1.2], steps / 20.0))
    arrays = {
        "a_step": steps, "a_excess_raw": 0.5 + 0.5 * decay, "a_excess_std": decay ** 4,
        "a_target": np.asarray(1e-2),
        "b_step": steps, "b_loss_constant": 1 + decay, "b_loss_cosine": 0.8 + decay,
        "c_step": steps, "c_loss_gd": 5 * decay, "c_loss_momentum": 5 * decay ** 2,
        "c_target": np.asarray(0.5),
        "d_step": steps, "d_log_excess_sgd": -decay, "d_log_excess_adam": -4 * (1 - decay),
    }
    fig = c10_optimisation_tricks.plot(faq.Measurement({}, arrays, "constructed"))
    paths = plots.save(fig, "c10", out_dir=tmp_path)
    assert paths[0].stat().st_size > 5000
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)


@pytest.mark.slow
def test_c10_end_to_end(monkeypatch, tmp_path):
    row = _run_tiny(monkeypatch, tmp_path, c10_optimisation_tricks, TINY_C10)
    for name in ("a_condition_raw", "a_condition_standardised", "a_steps_raw",
                 "b_final_train_loss_constant", "b_final_train_loss_cosine",
                 "d_log10_excess_sgd", "d_log10_excess_adam"):
        assert np.isfinite(row.numbers[name]), name
    assert row.numbers["a_condition_raw"] > 10 * row.numbers["a_condition_standardised"]
    assert row.numbers["subclaims_holding"] + row.numbers["subclaims_failing"] <= 4


def test_c10_bad_config():
    with pytest.raises(ValueError, match="plateau_rates"):
        c10_optimisation_tricks.measure(dataclasses.replace(TINY_C10, plateau_rates=()))


# ----------------------------------------------------------------------------- C12


C12_BASE = {
    "val_final_over_min": 2.0, "train_loss_at_val_min": 1.0, "train_loss_final": 0.01,
    "gap_plain": 4.0, "gap_reduction_l2": 0.7, "gap_reduction_dropout": 2.0,
    "gap_reduction_early_stopping": 3.0, "se_l2": 0.1, "se_dropout": 0.1,
    "se_early_stopping": 0.1,
}


@pytest.mark.parametrize("changes, label", [
    ({}, faq.SUPPORTED),
    ({"val_final_over_min": 1.01}, faq.NOT_SUPPORTED),
    ({"gap_reduction_l2": -0.1}, faq.NOT_SUPPORTED),
    ({"gap_reduction_dropout": 0.0}, faq.NOT_SUPPORTED),
    ({"val_final_over_min": 1.1}, faq.INCONCLUSIVE),
    ({"gap_reduction_l2": 0.15}, faq.INCONCLUSIVE),
    ({"train_loss_final": 1.5}, faq.INCONCLUSIVE),  # training loss not still falling
])
def test_c12_verdict(changes, label):
    assert c12_overfitting.verdict({**C12_BASE, **changes}).label == label


@pytest.mark.slow
def test_c12_end_to_end(monkeypatch, tmp_path):
    config = c12_overfitting.Config(
        task=TINY_TASK, num_train=50, hidden=(16,), num_seeds=2,
        training=train.TrainConfig(optimizer="adam", learning_rate=1e-2, num_steps=40,
                                   batch_size=10, eval_every=10),
    )
    row = _run_tiny(monkeypatch, tmp_path, c12_overfitting, config)
    for name in ("val_final_over_min", "gap_plain", "gap_reduction_l2", "gap_reduction_dropout",
                 "gap_reduction_early_stopping"):
        assert np.isfinite(row.numbers[name]), name
    assert row.numbers["val_final_over_min"] >= 1.0  # the minimum is a minimum


def test_c12_bad_config():
    with pytest.raises(ValueError, match="dropout"):
        c12_overfitting.measure(c12_overfitting.Config(dropout=0.0))


# ----------------------------------------------------------------------------- C13


def _c13_numbers(lam, bar, steps):
    return {
        "lambda_max_2x_minus_4x": 0.1, "barrier_2x_minus_4x": 0.3, "steps_2x_minus_4x": 300.0,
        "lambda_max_difference_se": 0.1, "barrier_difference_se": 0.1,
        "steps_difference_se": 20.0,
        "lambda_max_judged": lam, "barrier_judged": bar, "steps_judged": steps,
    }


@pytest.mark.parametrize("judged, label", [
    ((1, 1, 1), faq.SUPPORTED),
    ((1, 1, -1), faq.NOT_SUPPORTED),
    ((0, 0, 1), faq.NOT_SUPPORTED),  # easier, but not smoother
    ((0, 1, 1), faq.INCONCLUSIVE),
    ((1, 0, 0), faq.INCONCLUSIVE),
    ((float("nan"), 1, 1), faq.INCONCLUSIVE),  # the narrower net never reached the target
])
def test_c13_verdict(judged, label):
    assert c13_expansion.verdict(_c13_numbers(*map(float, judged))).label == label


def test_c13_compare():
    narrow, wide = np.array([3.0, 3.2, 3.1]), np.array([2.0, 2.1, 2.05])
    diff, se, judged = c13_expansion._compare(narrow, wide, paired=True)
    assert diff == pytest.approx(1.05) and judged == c13_expansion.FAVOURS_WIDER
    _, _, judged = c13_expansion._compare(wide, narrow, paired=False)
    assert judged == c13_expansion.FAVOURS_NARROWER
    _, _, judged = c13_expansion._compare(narrow, narrow + 1e-3 * np.array([1, -1, 0]),
                                          paired=False)
    assert judged == c13_expansion.TIE


@pytest.mark.slow
def test_c13_lambda_max_of_the_family_is_that_of_the_plain_net(key):
    """The padded (masked) net's Hessian has the plain net's spectrum plus zeros, so the
    vmapped Lanczos lambda_max equals dense eigh of the plain net's Hessian."""
    ds = data.gaussian_mixture(num_samples=60, num_classes=3, dim=4, seed=0).astype(np.float64)
    members = [_family.Member(1, 3), _family.Member(1, 6)]
    fam = _family.mlp_family(4, 3, members)
    keys = jax.random.split(key, 2)
    params = _family.init_runs(fam, members, keys=keys)
    loss = objectives.make_loss(fam.model.apply)
    batch = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    flat = jax.vmap(lambda p: jax.flatten_util.ravel_pytree(p)[0])(params)
    one = jax.tree_util.tree_map(lambda a: a[0], params)
    res = c13_expansion.top_eigenvalues(loss, one, np.asarray(flat), batch, num_iters=40,
                                        key=jax.random.fold_in(key, 1))
    assert bool(np.all(res.converged[:, -1]))
    for i, member in enumerate(members):
        plain_model = models.mlp(4, (member.width,), 3)
        run = jax.tree_util.tree_map(lambda a, i=i: a[i], params)
        plain = _family.extract(fam, member, run)
        h = curvature.dense_hessian(objectives.make_loss(plain_model.apply), plain, batch)
        dense = np.linalg.eigvalsh(np.asarray(h))
        assert float(res.eigvals[i, -1]) == pytest.approx(dense[-1], rel=1e-8)  # float64


def test_c13_first_reached():
    index, reached = c13_expansion.first_reached(np.array([[3.0, 1.0, 0.5], [3.0, 2.0, 2.0]]),
                                                 1.0)
    assert index[0] == 1 and reached.tolist() == [True, False]


@pytest.mark.slow
def test_c13_end_to_end(monkeypatch, tmp_path):
    config = c13_expansion.Config(
        task=TINY_TASK, expansions=(1, 2), compare=(1, 2), target_loss=2.2, num_seeds=4,
        hessian_examples=64, lanczos_iters=8, num_points=5,
        training=train.TrainConfig(optimizer="adam", learning_rate=3e-3, num_steps=40,
                                   batch_size=16, eval_every=10),
    )
    row = _run_tiny(monkeypatch, tmp_path, c13_expansion, config)
    for k in (1, 2):
        assert np.isfinite(row.numbers[f"lambda_max_init_{k}x"])
        assert np.isfinite(row.numbers[f"barrier_end_{k}x"])
        assert row.numbers[f"lambda_max_init_{k}x"] > 0


def test_c13_bad_config():
    with pytest.raises(ValueError, match="compare"):
        c13_expansion.measure(c13_expansion.Config(compare=(4, 2)))
    with pytest.raises(ValueError, match="num_seeds"):
        c13_expansion.measure(c13_expansion.Config(num_seeds=5))
