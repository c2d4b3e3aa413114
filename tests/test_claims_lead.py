"""Claims built on the seed, batch-size and critical-point studies: verdict rules both
ways, and a tiny end-to-end run."""

import dataclasses

import numpy as np
import pytest

from landscape.studies import faq, seeds
from landscape.studies.claims import c02_seeds

C2_BASE = {
    "val_loss_cv": 0.03,
    "train_loss_cv": 0.2,
    "train_loss_mean": 0.05,
    "val_loss_mean": 1.6,
    "aligned_distance": 1.0,
    "distance": 1.4,
    "init_distance": 1.41,
}


@pytest.mark.parametrize(
    ("changes", "label"),
    [
        ({}, faq.SUPPORTED),
        ({"val_loss_cv": 0.25}, faq.NOT_SUPPORTED),
        ({"aligned_distance": 0.05}, faq.NOT_SUPPORTED),
        ({"aligned_distance": 0.3}, faq.INCONCLUSIVE),
        ({"val_loss_cv": float("nan")}, faq.INCONCLUSIVE),
    ],
)
def test_c2_verdict(changes, label):
    v = c02_seeds.verdict({**C2_BASE, **changes})
    assert v.label == label
    if np.isfinite(changes.get("val_loss_cv", 0.0)):
        assert "reads the validation loss" in v.reason  # why not the training loss's CV


@pytest.mark.slow
def test_c2_end_to_end(tmp_path, monkeypatch):
    tiny = c02_seeds.Config(
        problem={"model": "mlp", "dataset": "xor", "hidden": (6,), "standardize": True},
        study=seeds.Config(
            num_seeds=3,
            num_steps=30,
            eval_every=10,
            batch_size=32,
            num_interp_pairs=2,
            num_interp_points=5,
            num_align_pairs=3,
            align_iters=5,
            measure_curvature=False,
        )
    )
    monkeypatch.setitem(c02_seeds.PROFILES, "quick", tiny)
    row = faq.run(
        ["C2"], profile="quick", run_dir=tmp_path / "r", figure_dir=tmp_path / "f", progress=False
    )[0]
    assert np.isfinite(row.numbers["val_loss_cv"]) and row.numbers["num_seeds"] == 3
    assert row.numbers["init_distance"] == pytest.approx(np.sqrt(2), rel=0.3)
    assert (tmp_path / "f" / "C2.png").exists()
    assert dataclasses.is_dataclass(c02_seeds.PROFILES["full"])


from landscape.studies import batch_size  # noqa: E402
from landscape.studies.claims import c11_batch_size  # noqa: E402

C11_BASE = {
    "steps_ratio_small_to_large": 40.0,
    "step_time_slope_vs_batch": 0.7,
    "sgd_step_time_slope_vs_data": 0.01,
    "gd_step_time_slope_vs_data": 1.0,
    "examples_largest_over_min": 20.0,
    "growing_steps_small": 800.0, "growing_steps_large": 100.0, "growing_steps_growing": 300.0,
    "growing_examples_small": 12800.0, "growing_examples_large": 25600.0,
    "growing_examples_growing": 14000.0,
}


@pytest.mark.parametrize(
    ("changes", "label"),
    [
        ({}, faq.SUPPORTED),
        ({"steps_ratio_small_to_large": 1.2}, faq.INCONCLUSIVE),
        ({"steps_ratio_small_to_large": 1.2, "examples_largest_over_min": 1.1}, faq.NOT_SUPPORTED),
        ({"gd_step_time_slope_vs_data": 0.1, "step_time_slope_vs_batch": 0.0}, faq.NOT_SUPPORTED),
        ({"examples_largest_over_min": float("nan")}, faq.INCONCLUSIVE),
        ({"growing_steps_growing": 900.0}, faq.INCONCLUSIVE),  # growing fails alone
        ({"growing_steps_growing": 900.0, "steps_ratio_small_to_large": 1.2}, faq.NOT_SUPPORTED),
        ({"growing_examples_growing": 19200.0}, faq.INCONCLUSIVE),  # growing undecided
    ],
)
def test_c11_verdict(changes, label):
    v = c11_batch_size.verdict({**C11_BASE, **changes})
    assert v.label == label
    assert "0.7" not in v.reason  # wall-clock values stay out of the report


def test_c11_growing_steps_from_examples():
    from landscape.studies.claims import _growing

    assert _growing.phase_batches("small", 4, 2) == (4, 4, 4)
    steps = _growing._steps_from_examples(np.array([48.0, np.nan]), (4, 8, 16), 32)
    np.testing.assert_allclose(steps, [8.0 + 2.0, np.nan])  # 32 at batch 4, 16 at batch 8
    with pytest.raises(ValueError, match="schedule"):
        _growing.phase_batches("huge", 4, 2)


@pytest.mark.slow
def test_c11_end_to_end(tmp_path, monkeypatch):
    tiny = c11_batch_size.Config(
        problem={"model": "mlp", "dataset": "xor", "num_samples": 200, "hidden": (4,),
                 "standardize": True},
        study=batch_size.Config(
            num_seeds=1,
            min_batch_size=16,
            batch_factor=4,
            lr_factors=(1.0,),
            target=0.69,
            max_epochs=2.0,
            min_steps=10,
            max_steps=200,
            num_evals=5,
            dataset_sizes=(100, 400),
            timing_repeats=1,
            timing_steps=2,
            noise_points=2,
            noise_samples=16,
            two_batch_sizes=(4, 16),
            two_batch_count=4,
        ),
        growing_min_batch=4,
        growing_doublings=1,
        growing_phase_examples=32,
        growing_evals=2,
    )
    monkeypatch.setitem(c11_batch_size.PROFILES, "quick", tiny)
    row = faq.run(
        ["C11"], profile="quick", run_dir=tmp_path / "r", figure_dir=tmp_path / "f", progress=False
    )[0]
    assert row.verdict.label in (faq.SUPPORTED, faq.NOT_SUPPORTED, faq.INCONCLUSIVE)
    assert np.isfinite(row.timings["gd_step_time_slope_vs_data"])
    assert "gd_step_time_slope_vs_data" not in row.numbers
    assert row.numbers["growing_examples_growing"] > 0 or np.isnan(
        row.numbers["growing_examples_growing"])
    assert (tmp_path / "f" / "C11.png").exists() and (tmp_path / "f" / "C11-timing.png").exists()
