"""The studies end to end on models of the framework adapters, at a tiny size.

The Flax Linen CNN with BatchNorm and Dropout runs the spectrum and landscape studies
(and the classification of its trained point) in tests/test_examples.py; here the
Equinox MLP runs spectrum, critical_points and landscape_plot, each part run or
skipped as its layout allows, and the summary says which.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from landscape import data
from landscape.studies import batch_size as bs
from landscape.studies import critical_points as cp
from landscape.studies import landscape_plot as lp
from landscape.studies import spectrum

eqx = pytest.importorskip("equinox")

from landscape.adapters.equinox import from_equinox  # noqa: E402


def _equinox_mlp(num_samples=60, width=4):
    # float64 inputs: critical_points and landscape_plot do not cast float32 inputs to an
    # Equinox model's float64 parameters under x64 (the loss fails on strict promotion)
    ds = data.gaussian_mixture(num_samples=num_samples, num_classes=3, dim=4,
                               seed=0).astype(np.float64)
    prob = from_equinox(lambda key: eqx.nn.MLP(ds.in_dim, ds.out_dim, width, 1,
                                               activation=jnp.tanh, key=key),
                        ds, name=f"equinox MLP {width}x1")
    n = (4 * width + width) + (width * 3 + 3)
    return prob, n


@pytest.mark.slow
def test_spectrum_on_an_equinox_mlp():
    prob, n = _equinox_mlp()
    config = spectrum.Config(num_steps=6, eval_every=3, num_top=2, lanczos_iters=8, slq_iters=6,
                             slq_probes=1, sharpness_iters=4, layer_iters=4,
                             spread_subsamples=0, gauss_newton=False)
    result = spectrum.run(prob, config, progress=False)
    s = result.summary
    assert result.num_params == n and s["curvature_mode"] == "eval"
    assert set(s["skipped"]) == {"spread", "gauss_newton"}  # both turned off, nothing else
    assert result.layers is not None and len(result.layers["name"]) == 2  # the two weights
    assert result.sharpness is not None and len(result.sharpness["lambda_max"]) == 3
    top = result.spectra["trained"]["top"]
    assert np.all(np.diff(top) <= 1e-12) and top[0] > 0
    # the largest eigenvalue bounds every layer's (a principal submatrix's) from above
    assert np.all(result.layers["trained_lambda_max"] <= top[0] * (1 + 1e-6) + 1e-9)


@pytest.mark.slow
def test_critical_points_on_an_equinox_mlp():
    prob, _ = _equinox_mlp(num_samples=40, width=3)
    config = cp.Config(num_seeds=2, num_steps=40, eval_every=10, num_trajectory_points=3,
                       num_random=1, max_iters=15, chunk_size=8)
    result = cp.run(prob, config, progress=False)
    s = result.summary
    assert s["skipped"] == {}
    assert len(result.endpoints["kind"]) == 2
    assert sum(s["endpoint_kind_counts"].values()) == 2


@pytest.mark.slow
def test_landscape_plot_on_an_equinox_mlp_uses_its_layout():
    prob, n = _equinox_mlp()
    assert prob.layout is not None
    config = lp.Config(num_steps=20, eval_every=10, batch_size=None, learning_rate=0.05,
                       grid_points=3, num_interp_points=3, bezier_steps=2)
    result = lp.run(prob, config, progress=False)
    assert "random_plane" not in result.summary["skipped"]  # filter-normalised via the layout
    plane = result.random_plane.losses
    assert plane.shape == (3, 3) and np.all(np.isfinite(plane))
    assert result.pca_plane.losses.shape == (3, 3) and result.bezier is not None


@pytest.mark.slow
def test_batch_size_study_on_an_equinox_mlp():
    prob, _ = _equinox_mlp(num_samples=120, width=4)
    config = bs.Config(
        optimizer="momentum", min_batch_size=8, batch_factor=4, max_batch_size=32, num_seeds=2,
        base_lr=0.05, base_batch=32, lr_factors=(1.0,), lr_extensions=0, target=1.2,
        min_steps=20, max_epochs=2.0, max_steps=60, num_evals=5, timing_steps=3,
        timing_repeats=1, timing_min_seconds=0.001, dataset_sizes=(40,), size_batch=8,
        noise_batch=8, noise_points=2, noise_samples=4, two_batch_sizes=(4, 16),
        two_batch_count=2, chunk_size=32)
    result = bs.run(prob, config, progress=False)
    assert list(result.batch["batch_size"]) == [8, 32]
    assert set(np.asarray(result.runs["batch_size"]).tolist()) == {8, 32}
    assert np.all(np.asarray(result.runs["num_steps"]) >= config.min_steps)
    assert result.info["problem"]["name"] == "equinox MLP 4x1"
