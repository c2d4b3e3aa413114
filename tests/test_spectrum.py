"""The spectrum study on tiny problems: its eigenvalues against dense float64 Hessians
(whole network, one layer, one data subsample), the run directory read back, a killed
run resumed without recomputing its finished phases, and a flipped x64 refused."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from _kill import kill_when
from jax.flatten_util import ravel_pytree

from landscape import curvature, data, objectives, problem, registry, results
from landscape.plots import spectrum as plots_spectrum
from landscape.studies import cli, spectrum

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
_HESSIANS = {}


def _hessian(loss, unravel):
    """The dense Hessian of the flat loss, compiled once per test module."""
    if "h" not in _HESSIANS:
        _HESSIANS["h"] = jax.jit(jax.hessian(lambda y, b: loss(unravel(y), b)))
    return _HESSIANS["h"]

TINY = spectrum.Config(num_steps=6, eval_every=3, num_top=3, lanczos_iters=20, slq_iters=8,
                       slq_probes=2, sharpness_iters=12, layer_iters=12, spread_subsamples=2,
                       spread_size=16)


def plain_problem():
    """A hand-written tanh MLP in plain JAX, with its layout declared."""
    ds = data.gaussian_mixture(num_samples=80, seed=0).astype(np.float64)

    def init(key):
        k1, k2 = jax.random.split(key)
        return {"w1": 0.5 * jax.random.normal(k1, (ds.in_dim, 5), jnp.float64),
                "b1": jnp.zeros(5, jnp.float64),
                "w2": 0.5 * jax.random.normal(k2, (5, ds.out_dim), jnp.float64),
                "b2": jnp.zeros(ds.out_dim, jnp.float64)}

    def apply(params, x):
        return jnp.tanh(x @ params["w1"] + params["b1"][None]) @ params["w2"] + params["b2"][None]

    layout = problem.Layout({"['w1']": -1, "['w2']": -1})
    return problem.from_functions(init, apply, ds, name="plain tanh mlp", layout=layout)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("spectrum") / "run"
    prob = plain_problem()
    return prob, spectrum.run(prob, TINY, run_dir, progress=False), run_dir


def _dense(prob, x, unravel, indices=None, batch=None):
    batch = prob.data.train if batch is None else batch
    h = np.asarray(_hessian(prob.loss_fn(), unravel)(jnp.asarray(x), batch))
    if indices is not None:
        h = h[np.ix_(indices, indices)]
    return np.linalg.eigvalsh(h)


@pytest.mark.slow
def test_eigenvalues_match_dense_hessians(plain_run):
    prob, result, run_dir = plain_run
    trajectory = results.read_arrays(run_dir / "parts" / "train.npz")["trajectory"]
    params0 = prob.init(jax.random.key(0))
    _, unravel = ravel_pytree(params0)
    assert result.num_params == trajectory.shape[1] == 79
    for phase, x in (("init", trajectory[0]), ("trained", trajectory[-1])):
        w = _dense(prob, x, unravel)
        s = result.spectra[phase]
        # every Ritz value lies within its residual bound of an eigenvalue (1e-8: rounding)
        np.testing.assert_allclose(s["top"], w[::-1][:3], atol=1e-8 + s["top_residuals"].max())
        np.testing.assert_allclose(s["bottom"], w[:3], atol=1e-8 + s["bottom_residuals"].max())
        assert s["outliers"] == spectrum.count_outliers(s["top"])[0]
        assert result.summary[phase]["lambda_max"] == pytest.approx(w[-1], rel=1e-6)
    # the Gauss-Newton matrix J^T H_out J: the Hessian of the loss of the linearised network
    outputs, x_train = prob.outputs_fn(), jnp.asarray(prob.data.x_train)
    for phase, x in (("init", trajectory[0]), ("trained", trajectory[-1])):
        x0 = jnp.asarray(x)

        def linearised(y, x0=x0):
            f0, df = jax.jvp(lambda z: outputs(unravel(z), x_train), (x0,), (y - x0,))
            return objectives.cross_entropy(f0 + df, jnp.asarray(prob.data.y_train))

        w = np.linalg.eigvalsh(np.asarray(jax.hessian(linearised)(x0)))
        g = result.gauss_newton[phase]
        np.testing.assert_allclose(g["top"], w[::-1][:3], atol=1e-8 + g["top_residuals"].max())
        assert w[0] > -1e-10  # positive semi-definite
        assert result.summary["gauss_newton"][phase]["outliers"] == g["outliers"]
    # per layer: the Hessian restricted to one weight matrix
    layers = result.layers
    assert list(layers["name"]) == ["['w1']", "['w2']"]
    for i, name in enumerate(layers["name"]):
        idx = curvature.subset_indices(params0, lambda path, leaf, n=name: path == n)
        w = _dense(prob, trajectory[-1], unravel, idx)
        assert layers["size"][i] == len(idx)
        assert layers["trained_lambda_max"][i] == pytest.approx(w[-1], rel=1e-6, abs=1e-9)
        assert layers["trained_lambda_min"][i] == pytest.approx(w[0], rel=1e-6, abs=1e-6)
    # the spread: lambda_max on each data subsample
    for pick, value in zip(result.spread["indices"], result.spread["values"], strict=True):
        sub = data.Batch(prob.data.x_train[pick], prob.data.y_train[pick])
        assert value == pytest.approx(_dense(prob, trajectory[-1], unravel, batch=sub)[-1],
                                      rel=1e-6)
    # the sharpness at step 0 and at the end is lambda_max there
    sharp = result.sharpness["lambda_max"]
    assert sharp[0] == pytest.approx(result.summary["init"]["lambda_max"], rel=1e-6)
    assert sharp[-1] == pytest.approx(result.summary["trained"]["lambda_max"], rel=1e-6)
    assert result.summary["skipped"] == {}
    assert result.summary["curvature_mode"] == "eval"


@pytest.mark.slow
def test_run_directory_reads_back_and_draws(plain_run, tmp_path):
    _, result, run_dir = plain_run
    back = spectrum.load(run_dir)
    assert back.config == TINY and back.summary == result.summary
    np.testing.assert_array_equal(back.sharpness["lambda_max"], result.sharpness["lambda_max"])
    np.testing.assert_array_equal(back.layers["trained_lambda_max"],
                                  result.layers["trained_lambda_max"])
    np.testing.assert_array_equal(back.spectra["init"]["nodes"], result.spectra["init"]["nodes"])
    assert back.problem["name"] == "plain tanh mlp"
    text = spectrum.format_summary(back.summary)
    assert "layer ['w1']" in text and "subsamples" in text and "outliers" in text
    assert "Gauss-Newton trained" in text
    np.testing.assert_array_equal(back.gauss_newton["trained"]["top"],
                                  result.gauss_newton["trained"]["top"])
    fig = plots_spectrum.figure(back)
    for ax in fig.axes[:4]:
        assert ax.get_xlabel() and ax.get_ylabel()
    matplotlib.pyplot.close(fig)
    # the command line redraws from the run directory, writing only under --out
    cli.main("spectrum", ["--plot-only", "--run-dir", str(run_dir), "--out", str(tmp_path)])
    assert (tmp_path / "spectrum.png").exists() and (tmp_path / "spectrum.pdf").exists()


@pytest.mark.slow
def test_flipped_x64_is_refused(plain_run):
    prob, _, run_dir = plain_run
    refused = "float_dtype: 'float64' -> 'float32'"
    with jax.enable_x64(False), pytest.raises(ValueError, match=refused):
        spectrum.run(prob, TINY, run_dir, progress=False)


@pytest.mark.slow
def test_cnn1d_layers_are_its_weights():
    prob = registry.builtin("cnn1d", dataset="mnist1d", num_samples=60, channels=(2,))
    config = dataclasses.replace(TINY, spread_subsamples=0, num_top=2, lanczos_iters=12,
                                 gauss_newton=False)
    result = spectrum.run(prob, config, progress=False)
    assert list(result.layers["name"]) == ["[0]['w']", "[1]['w']"]
    assert result.summary["skipped"] == {"spread": "spread_subsamples = 0",
                                         "gauss_newton": "gauss_newton = False"}
    assert np.all(result.layers["trained_lambda_max"] >= result.layers["trained_lambda_min"])
    assert np.isfinite(result.summary["trained"]["lambda_max"])


def _parts(run_dir):
    return sorted(p.stem for p in (run_dir / "parts").glob("*.npz"))


def test_killed_run_resumes_without_recomputing(tmp_path):
    """The study killed after training and resumed: finished parts are loaded, the rest
    computed once."""
    run_dir, log = tmp_path / "run", tmp_path / "log.txt"
    cmd = [sys.executable, str(HERE / "_spectrum_worker.py"), str(run_dir), str(log)]
    kill_when(cmd, lambda: "train" in _parts(run_dir))
    assert _parts(run_dir) == ["train"]  # killed before the next phase finished
    first = log.read_text().split()
    assert first[0] == "train"
    subprocess.run(cmd, check=True, timeout=600, capture_output=True)
    second = log.read_text().split()[len(first):]
    assert "train" not in second  # loaded, not recomputed
    assert set(second) == {"spectrum_init", "spectrum_trained", "sharpness"}
    result = spectrum.load(run_dir)
    skipped = result.summary["skipped"]
    assert set(skipped) == {"layers", "spread", "gauss_newton"}
    assert "no layout" in skipped["layers"]
    assert result.sharpness["lambda_max"].shape == (3,)


def test_config_validation():
    with pytest.raises(ValueError, match="num_top"):
        spectrum.Config(num_top=20, lanczos_iters=30)
    with pytest.raises(ValueError, match="spread_subsamples"):
        spectrum.Config(spread_subsamples=1)
    with pytest.raises(ValueError, match="learning_rate"):
        spectrum.Config(learning_rate=-1.0)
    with pytest.raises(ValueError, match="spread_size"):
        spectrum.run(plain_problem(), spectrum.Config(spread_size=10_000), progress=False)
