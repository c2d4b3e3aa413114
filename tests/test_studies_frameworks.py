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


@pytest.mark.slow
def test_spectrum_of_a_batchnorm_network_matches_dense_hessians_at_both_ends(tmp_path):
    """A Flax Linen net with BatchNorm: its state is an argument of the curvature loss,
    so both ends and every layer are measured (eval mode), each against the dense
    float64 Hessian of the loss with that end's running statistics."""
    import jax
    from jax.flatten_util import ravel_pytree

    nn = pytest.importorskip("flax.linen")
    from landscape import curvature, results
    from landscape.adapters.flax_linen import from_linen
    from landscape.studies import _common

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            x = nn.BatchNorm(use_running_average=not train, momentum=0.5)(nn.Dense(5)(x))
            return nn.Dense(3)(jnp.tanh(x))

    ds = data.gaussian_mixture(num_samples=80, num_classes=3, dim=4, seed=0).astype(np.float64)
    prob = from_linen(Net(), ds)
    config = spectrum.Config(num_steps=6, eval_every=3, num_top=3, lanczos_iters=20,
                             slq_iters=8, slq_probes=2, layer_iters=12, spread_subsamples=0,
                             gauss_newton=False)
    result = spectrum.run(prob, config, tmp_path, progress=False)
    assert set(result.summary["skipped"]) == {"spread", "gauss_newton", "sharpness"}
    stored = results.read_arrays(tmp_path / "parts" / "train.npz")
    params0, state0 = prob.init_all(jax.random.key(0))  # BatchNorm starts at mean 0, var 1
    state_end = _common.unleaves(jax.tree_util.tree_structure(state0),
                                 {k.split("/")[1]: v for k, v in stored.items()
                                  if k.startswith("state/")})
    assert not np.allclose(jax.tree_util.tree_leaves(state_end)[0], 0)  # it did move
    _, unravel = ravel_pytree(params0)
    batch = prob.data.batch("train", jnp.float64)
    trajectory = stored["trajectory"]
    for phase, x, state in (("init", trajectory[0], state0),
                            ("trained", trajectory[-1], state_end)):
        loss = prob.loss_fn(state)
        h = np.asarray(jax.hessian(lambda y, loss=loss: loss(unravel(y), batch))(jnp.asarray(x)))
        w = np.linalg.eigvalsh(h)
        s = result.spectra[phase]
        np.testing.assert_allclose(s["top"], w[::-1][:3], atol=1e-8 + s["top_residuals"].max())
        np.testing.assert_allclose(s["bottom"], w[:3], atol=1e-8 + s["bottom_residuals"].max())
        for i, name in enumerate(result.layers["name"]):
            idx = curvature.subset_indices(params0, lambda path, leaf, n=name: path == n)
            wl = np.linalg.eigvalsh(h[np.ix_(idx, idx)])
            assert result.layers[f"{phase}_lambda_max"][i] == pytest.approx(wl[-1], rel=1e-6)
            assert result.layers[f"{phase}_lambda_min"][i] == pytest.approx(wl[0], rel=1e-6,
                                                                          abs=1e-6)
