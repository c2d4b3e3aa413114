"""Claims built on the seed, batch-size and critical-point studies: verdict rules both
ways, and a tiny end-to-end run."""

import dataclasses

import numpy as np
import pytest

from landscape.studies import faq, seeds
from landscape.studies.claims import c02_seeds

C2_BASE = {"val_loss_cv": 0.03, "train_loss_cv": 0.2, "train_loss_mean": 0.05,
           "aligned_distance": 1.0, "distance": 1.4, "init_distance": 1.41}


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
    assert c02_seeds.verdict({**C2_BASE, **changes}).label == label


def test_c2_end_to_end(tmp_path, monkeypatch):
    tiny = c02_seeds.Config(study=seeds.SeedConfig(
        num_seeds=3, num_steps=30, eval_every=10, dataset="xor", hidden=(6,), batch_size=32,
        num_interp_pairs=2, num_interp_points=5, num_align_pairs=3, align_iters=5,
        measure_curvature=False,
    ))
    monkeypatch.setitem(c02_seeds.PROFILES, "quick", tiny)
    row = faq.run(["C2"], profile="quick", run_dir=tmp_path / "r", figure_dir=tmp_path / "f",
                  progress=False)[0]
    assert np.isfinite(row.numbers["val_loss_cv"]) and row.numbers["num_seeds"] == 3
    assert row.numbers["init_distance"] == pytest.approx(np.sqrt(2), rel=0.3)
    assert (tmp_path / "f" / "C2.png").exists()
    assert dataclasses.is_dataclass(c02_seeds.PROFILES["full"])
