"""The reproductions: each pass rule on constructed numbers (both ways), and each entry
run end to end at its tiny size (smoke: numbers, verdict, figure)."""

import math

import numpy as np
import pytest

from landscape.studies import reproductions
from landscape.studies.reproductions import (
    alignment_width,
    critical_batch,
    edge_of_stability,
    index_vs_loss,
    interpolation,
    mode_connectivity,
    outliers,
    reparametrisation,
)

NAN = math.nan


# ----------------------------------------------------------------------------- rules


def test_outliers_rule():
    good = {
        "mixture K=3 width=32: outliers": 2.0,
        "mixture K=3 width=128: outliers": 3.0,
        "digits K=10 width=64: outliers": 9.0,
        "mixture K=3 width=32: Gauss-Newton outliers": 0.0,
        "median GN/Hessian relative difference (top K-1)": 0.05,
    }
    assert outliers.verdict(good)[0]
    assert not outliers.verdict({**good, "digits K=10 width=64: outliers": 4.0})[0]
    assert not outliers.verdict({**good, "median GN/Hessian relative difference (top K-1)": 0.3})[0]
    # widths must agree within one
    bad = {**good, "mixture K=6 width=32: outliers": 5.0, "mixture K=6 width=128: outliers": 7.0}
    assert not outliers.verdict(bad)[0]


def test_edge_of_stability_rule():
    good = {"eta=0.1: median ratio after crossing": 1.05,
            "eta=0.2: median ratio after crossing": 0.9,
            "eta=0.05: median ratio after crossing": NAN}
    passed, text = edge_of_stability.verdict(good)
    assert passed and "2 of 3" in text
    assert not edge_of_stability.verdict({**good, "eta=0.2: median ratio after crossing": 1.3})[0]
    assert not edge_of_stability.verdict({**good, "eta=0.2: median ratio after crossing": NAN})[0]


def test_first_crossing_counts_upward_crossings_only():
    assert edge_of_stability.first_crossing(np.array([1.0, 2.0, 3.0, 2.5]), 2.5) == 2
    # starts above (unstable first steps), falls back, crosses again at index 4
    assert edge_of_stability.first_crossing(np.array([3.0, 2.0, 1.0, 2.0, 2.6]), 2.5) == 4
    assert edge_of_stability.first_crossing(np.array([3.0, 3.0]), 2.5) is None
    assert edge_of_stability.first_crossing(np.array([1.0, 2.0]), 2.5) is None


def test_interpolation_rule_and_bump():
    assert interpolation.bump([3.0, 2.0, 1.0]) == 0.0
    assert interpolation.bump([3.0, 1.0, 2.0, 1.0]) == pytest.approx(0.5)  # rise 1 over drop 2
    good = {"SGD lr 0.02: non-monotone paths": 0.0, "Adam lr 0.01: non-monotone paths": 2.0,
            "seeds per optimizer": 4.0}
    assert interpolation.verdict(good)[0]
    assert not interpolation.verdict({**good, "SGD lr 0.02: non-monotone paths": 1.0})[0]
    assert not interpolation.verdict({**good, "Adam lr 0.01: non-monotone paths": 1.0})[0]


def test_mode_connectivity_rule():
    good = {"same init, spawn k=0: error barrier": 0.05,
            "same init, spawn k=100: error barrier": 0.01,
            "different init: error barrier": 0.2}
    assert mode_connectivity.verdict(good)[0]
    assert not mode_connectivity.verdict({**good, "different init: error barrier": 0.01})[0]
    assert not mode_connectivity.verdict({**good, "same init, spawn k=100: error barrier": 0.03})[0]
    grows = {**good, "same init, spawn k=0: error barrier": 0.0}
    assert not mode_connectivity.verdict(grows)[0]


def test_alignment_width_rule():
    good = {"width 16: naive barrier": 1.0, "width 16: aligned barrier": 0.5,
            "width 256: naive barrier": 0.9, "width 256: aligned barrier": 0.1,
            "aligned ratio (largest/smallest width)": 0.2,
            "naive ratio (largest/smallest width)": 0.9}
    assert alignment_width.verdict(good)[0]
    assert not alignment_width.verdict({**good, "aligned ratio (largest/smallest width)": 0.8})[0]
    assert not alignment_width.verdict({**good, "naive ratio (largest/smallest width)": 0.2})[0]
    assert not alignment_width.verdict({**good, "width 256: aligned barrier": 1.0})[0]


def test_reparametrisation_rule():
    good = {"max_output_change": 1e-15, "lambda_max_span": 100.0, "lambda_max_min": 1.0,
            "lambda_max_max": 100.0, "filter_slice_change": 1e-14, "plain_slice_change": 1.0}
    assert reparametrisation.verdict(good)[0]
    for key, value in (("max_output_change", 1e-3), ("lambda_max_span", 3.0),
                       ("filter_slice_change", 1e-2), ("plain_slice_change", 1e-4)):
        assert not reparametrisation.verdict({**good, key: value})[0], key


def test_rescaled_relu_network_is_the_same_function(key):
    import jax

    from landscape import models

    model = models.mlp(3, (5,), 2, activation="relu")
    params = model.init(key)
    params[0]["b"] = params[0]["b"] + 0.3
    x = jax.random.normal(jax.random.fold_in(key, 1), (7, 3))
    for alpha in (0.1, 7.0):
        out = model.apply(reparametrisation.rescale(params, alpha), x)
        np.testing.assert_allclose(out, model.apply(params, x), rtol=1e-12, atol=1e-12)


def test_index_vs_loss_rule_and_fit():
    # index = 0.2 * ((loss - 1) / 1) ** 1.5 exactly: the fit recovers 1.5
    loss = np.array([1.0, 1.5, 2.0, 3.0, 5.0])
    index = np.where(loss > 1, 0.2 * (loss - 1) ** 1.5, 0.0)
    p, se, count = index_vs_loss.fit_exponent(loss, index, 1.0)
    assert p == pytest.approx(1.5, abs=1e-10) and count == 4
    good = {"spearman(loss, index)": 0.8, "fitted exponent": 1.4, "exponent stderr": 0.1,
            "distinct critical points": 12.0}
    assert index_vs_loss.verdict(good)[0]
    assert not index_vs_loss.verdict({**good, "spearman(loss, index)": 0.2})[0]
    assert not index_vs_loss.verdict({**good, "fitted exponent": 2.6})[0]
    assert not index_vs_loss.verdict({**good, "distinct critical points": 3.0})[0]


def test_critical_batch_rule():
    good = {"fitted B_crit": 100.0, "B_simple at the target": 50.0, "B_crit / B_simple": 2.0,
            "B_simple first point": 10.0, "B_simple last point": 80.0,
            "spearman(loss, B_simple)": -0.9}
    assert critical_batch.verdict(good)[0]
    assert not critical_batch.verdict({**good, "B_crit / B_simple": 8.0})[0]
    assert not critical_batch.verdict({**good, "B_crit / B_simple": NAN})[0]
    assert not critical_batch.verdict({**good, "B_simple last point": 15.0})[0]
    assert not critical_batch.verdict({**good, "spearman(loss, B_simple)": 0.1})[0]


def test_unknown_entry_and_size_name_the_argument():
    with pytest.raises(ValueError, match="name"):
        reproductions.load("nope")
    with pytest.raises(ValueError, match="size"):
        reproductions.reproduce("outliers", size="huge", echo=lambda *a: None)


# ----------------------------------------------------------------------------- smoke


@pytest.mark.parametrize("name", reproductions.ENTRIES)
@pytest.mark.slow
def test_tiny_run_prints_rule_numbers_verdict_and_writes_figure(name, tmp_path):
    lines = []
    result, passed, text, path = reproductions.reproduce(
        name, size="tiny", out_dir=tmp_path, progress=False, echo=lines.append)
    module = reproductions.load(name)
    assert result.name == name == module.NAME
    assert result.numbers and all(isinstance(v, float) for v in result.numbers.values())
    assert module.verdict(result.numbers) == (passed, text)
    assert isinstance(passed, bool) and text
    assert path == tmp_path / f"{name}.png" and path.stat().st_size > 1000
    report = "\n".join(lines)
    for piece in (module.CLAIM, module.RULE, "verdict:", "numbers:"):
        assert piece in report
