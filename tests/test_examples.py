"""The examples run at a tiny size: each builds its Problem, and its main() runs."""

import numpy as np
import pytest

pytest.importorskip("flax")
pytest.importorskip("equinox")

from examples import equinox_mlp, flax_linen_cnn, flax_nnx_model  # noqa: E402
from landscape.problem import Problem, load  # noqa: E402


def test_equinox_seeds_with_weight_matching():
    prob = load("examples.equinox_mlp:problem")
    assert isinstance(prob, Problem) and prob.source == "examples.equinox_mlp:problem"
    assert prob.layout.dense_chain is not None
    rows = equinox_mlp.main(num_seeds=2, num_steps=30)
    assert len(rows) == 1
    row = rows[0]
    assert row["distance_after"] <= row["distance_before"] + 1e-12  # matching never moves away
    assert np.isfinite(row["barrier_before"]) and np.isfinite(row["barrier_after"])


def test_flax_linen_cnn_spectrum_classification_and_slice():
    prob = flax_linen_cnn.problem()
    assert prob.has_state and prob.layout.dense_chain is None
    out = flax_linen_cnn.main(num_steps=20, grid=3)
    assert out["num_params"] == (3 * 4 + 4) + 2 * 4 + (6 * 4 * 3 + 3)  # conv, BN, dense
    assert out["lambda_max"] > 0 and 0 <= out["index"] < out["num_params"]
    assert out["slice_min"] <= out["slice_center"]


def test_flax_nnx_batch_size_sweep():
    prob = flax_nnx_model.problem()
    assert not prob.has_state and prob.layout.dense_chain is not None
    out = flax_nnx_model.main(batch_sizes=(8, 32), num_steps=40, target=1.2)
    assert set(out) == {8, 32}
