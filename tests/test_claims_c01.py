"""C1 (saddles): the verdict rule on constructed numbers and a tiny end-to-end run."""

import dataclasses

import numpy as np
import pytest

from landscape import train
from landscape.studies import critical_points, faq
from landscape.studies.claims import _common, _large_endpoints, c01_saddles

GOOD = {
    "spearman_rho": 0.9, "spearman_p": 1e-4, "num_distinct": 12.0, "num_distinct_minima": 1.0,
    "num_distinct_saddles": 11.0, "max_index_lowest": 0.01, "best_loss": 0.006, "margin": 0.02,
    "num_bad_minima": 0.0, "num_bad_endpoints": 0.0, "num_endpoints": 4.0,
    "endpoint_loss_min": 0.0063, "endpoint_loss_max": 0.0068, "plateau_steps": 35.0,
    "plateau_max_grad_ratio": 0.08, "plateau_max_lambda_min": -1.0, "plateau_escape_ratio": 1e-9,
}


def test_verdict_supported():
    assert c01_saddles.verdict(GOOD).label == faq.SUPPORTED


def test_verdict_not_supported():
    assert c01_saddles.verdict({**GOOD, "num_bad_minima": 1.0}).label == faq.NOT_SUPPORTED
    assert c01_saddles.verdict({**GOOD, "num_bad_endpoints": 2.0}).label == faq.NOT_SUPPORTED
    assert c01_saddles.verdict({**GOOD, "spearman_rho": -0.1}).label == faq.NOT_SUPPORTED
    reason = c01_saddles.verdict({**GOOD, "num_bad_minima": 1.0}).reason
    assert "1 minimum and" in reason and "0.02" in reason
    assert "(1 minimum, 11 saddles)" in c01_saddles.verdict(GOOD).reason


def test_verdict_inconclusive():
    for change in ({"spearman_rho": 0.3}, {"spearman_p": 0.2}, {"max_index_lowest": 0.1},
                   {"plateau_escape_ratio": 0.5}, {"spearman_rho": float("nan")}):
        assert c01_saddles.verdict({**GOOD, **change}).label == faq.INCONCLUSIVE, change


def test_plateau_numbers_find_the_initial_stretch():
    a = {
        "plateau_step": np.arange(6) * 10,
        "plateau_grad_norm": np.array([0.01, 0.02, 0.5, 1.0, 0.1, 0.01]),
        "plateau_loss": np.array([1.0, 1.0, 0.9, 0.5, 0.1, 0.01]),
        "plateau_lambda_min": np.array([-1.0, -0.9, -0.5, -0.2, 0.0, 0.0]),
        "plateau_lambda_max": np.ones(6),
    }
    out = c01_saddles._plateau_numbers(a, 0.1)
    assert out["plateau_steps"] == 10.0  # steps 0 and 10 have |g| <= 0.1 * peak
    assert out["plateau_max_lambda_min"] == -0.9
    assert np.isclose(out["plateau_escape_ratio"], 0.01, rtol=1e-12)


TINY = c01_saddles.Config(
    critical=critical_points.Config(
        num_seeds=2, num_steps=100, eval_every=10, num_trajectory_points=3, num_random=2,
        max_iters=15, minres_iters=30, stall_iters=10, chunk_size=8,
    ),
    critical_problem=dict(model="mlp", dataset="teacher_student", num_samples=64, num_train=32,
                          hidden=(3,), activation="tanh",
                          data_options=dict(in_dim=3, teacher_hidden=(3,), noise=0.0, seed=0)),
    plateau_in_dim=3, plateau_hidden=3, plateau_out_dim=2, plateau_num_train=32,
    plateau_num_steps=100,
    dimension=critical_points.Config(
        num_seeds=1, num_steps=60, eval_every=10, num_trajectory_points=2, num_random=1,
        max_iters=10, minres_iters=20, stall_iters=10, chunk_size=8,
    ),
    dimension_problem=dict(model="mlp", dataset="teacher_student", num_samples=64, num_train=32,
                           activation="tanh",
                           data_options=dict(in_dim=3, teacher_hidden=(3,), noise=0.0, seed=0)),
    dimension_widths=(1, 4),
    large=_large_endpoints.LargeConfig(
        task=_common.Task(num_samples=300), hidden=(6,), num_seeds=2,
        training=train.TrainConfig(optimizer="adam", learning_rate=1e-2, num_steps=20,
                                   batch_size=32, eval_every=10),
        num_examples=64, num_iters=12, num_probes=2,
    ),
)


@pytest.mark.slow
def test_end_to_end_tiny(tmp_path, monkeypatch):
    monkeypatch.setitem(c01_saddles.PROFILES, "quick", TINY)
    rows = faq.run(["C1"], profile="quick", run_dir=tmp_path / "runs",
                   figure_dir=tmp_path / "fig", progress=False)
    numbers = rows[0].numbers
    for name in ("best_loss", "margin", "endpoint_loss_max", "plateau_escape_ratio",
                 "plateau_max_lambda_min", "num_distinct"):
        assert np.isfinite(numbers[name]), name
    assert numbers["num_endpoints"] == 2.0
    assert numbers["plateau_max_lambda_min"] < 0  # started next to the origin: a saddle
    assert rows[0].verdict.label in (faq.SUPPORTED, faq.NOT_SUPPORTED, faq.INCONCLUSIVE)
    assert (tmp_path / "fig" / "C1.png").stat().st_size > 1000
    # across dimension: 3-w-1 students with biases have 5 w + 1 parameters
    assert numbers["dim_num_params_w1"] == 6.0 and numbers["dim_num_params_w4"] == 21.0
    assert "Across dimension" in rows[0].verdict.reason
    # the endpoints at scale (here 40-6-10: 316 parameters) went through the Lanczos path
    assert numbers["large_num_params"] == 316.0 and numbers["large_num_endpoints"] == 2.0
    assert 0.0 <= max(numbers["large_index_low"], 0.0) <= numbers["large_index_high"] <= 1.0
    assert "not critical points" in rows[0].verdict.reason or (
        numbers["large_critical_by_gradient"] > 0)


def test_verdict_joins_the_dimension_part():
    good_dim = {"dim_num_params_w2": 25.0, "dim_num_params_w80": 961.0,
                "dim_minima_fraction_w2": 0.5, "dim_minima_fraction_w80": 0.1,
                "dim_worst_excess_w2": 0.3, "dim_worst_excess_w80": 0.0,
                "dim_num_distinct_w2": 4.0, "dim_num_distinct_w80": 10.0}
    assert c01_saddles.verdict({**GOOD, **good_dim}).label == faq.SUPPORTED
    bad_dim = {**good_dim, "dim_minima_fraction_w80": 0.9}
    assert c01_saddles.verdict({**GOOD, **bad_dim}).label == faq.NOT_SUPPORTED
    worse = {**good_dim, "dim_minima_fraction_w80": 0.5, "dim_minima_fraction_w2": 0.1}
    assert c01_saddles.verdict({**GOOD, **worse}).label == faq.INCONCLUSIVE
    assert c01_saddles.dimension_part(GOOD) is None  # not measured: the base rule alone


def test_profiles_construct():
    assert dataclasses.is_dataclass(c01_saddles.PROFILES["full"])
    assert c01_saddles.PROFILES["full"].critical == critical_points.PROFILES["full"].config
    assert c01_saddles.PROFILES["full"].critical_problem == critical_points.PROFILES["full"].problem
