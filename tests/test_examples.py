"""The examples run their studies at a tiny size: each builds its Problem, and its
main() returns the studies' Results."""

import numpy as np
import pytest

pytest.importorskip("flax")
pytest.importorskip("equinox")

from examples import equinox_mlp, flax_linen_cnn, flax_nnx_model  # noqa: E402
from landscape import critical  # noqa: E402
from landscape.problem import Problem, load  # noqa: E402


def test_equinox_seed_study_with_weight_matching(tmp_path):
    prob = load("examples.equinox_mlp:problem")
    assert isinstance(prob, Problem) and prob.source == "examples.equinox_mlp:problem"
    assert prob.layout.dense_chain is not None
    result = equinox_mlp.main(num_seeds=2, num_steps=30, run_dir=tmp_path)
    s, p = result.summary, result.pairs
    assert "weight_matching" not in s["skipped"] and s["num_aligned_pairs"] == 1
    assert bool(p["aligned"].all())
    assert np.all(p["aligned_distance"] <= p["distance"] + 1e-12)  # matching never moves away
    assert np.all(np.isfinite(p["aligned_distance"]))
    assert (tmp_path / "config.json").exists()


@pytest.mark.slow
def test_flax_linen_cnn_spectrum_slice_and_classification():
    prob = flax_linen_cnn.problem()
    assert prob.has_state and prob.layout.dense_chain is None
    out = flax_linen_cnn.main(num_steps=20, grid=3)
    spec, plot, found = out["spectrum"], out["landscape"], out["classification"]
    n = (3 * 4 + 4) + 2 * 4 + (6 * 4 * 3 + 3)  # conv, BN scale and bias, dense
    assert spec.num_params == n
    assert spec.summary["curvature_mode"] == "eval"
    assert "sharpness" in spec.summary["skipped"]  # no model state along the path
    top, bottom = spec.spectra["trained"]["top"], spec.spectra["trained"]["bottom"]
    assert top[0] > 0 and bottom[0] <= top[0]
    assert "random_plane" not in plot.summary["skipped"]
    plane = plot.random_plane.losses
    assert plane.shape == (3, 3) and np.all(np.isfinite(plane))
    assert float(found.lambda_max) > 0 and float(found.lambda_min) <= float(found.lambda_max)
    assert 0 <= float(found.num_negative) < n
    assert found.kind in critical.KINDS and found.kind != "undetermined"
    if found.kind == "not_critical":  # 20 steps: the gradient is above its threshold
        assert float(found.grad_norm) > float(found.grad_threshold)


@pytest.mark.slow
def test_flax_nnx_batch_size_study():
    prob = flax_nnx_model.problem()
    assert not prob.has_state and prob.layout.dense_chain is not None
    result = flax_nnx_model.main(min_batch_size=8, batch_factor=4, max_batch_size=32,
                                 max_steps=60, target=1.2, lr_factors=(1.0,))
    assert list(result.batch["batch_size"]) == [8, 32]
    assert set(np.asarray(result.runs["batch_size"]).tolist()) == {8, 32}
    assert np.all(np.asarray(result.runs["num_steps"]) >= 20)
