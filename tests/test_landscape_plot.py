"""The landscape study on tiny problems: its slices and paths against the loss evaluated
directly (float64), files read back, a rerun that loads every finished part, the
figures, a problem without a layout (random plane skipped with the reason) and a CNN."""

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

from landscape import data, problem, registry, results  # noqa: E402
from landscape.plots import landscape_plot as plots_lp  # noqa: E402
from landscape.studies import cli  # noqa: E402
from landscape.studies import landscape_plot as lp  # noqa: E402

TINY = lp.Config(num_steps=60, eval_every=20, batch_size=None, learning_rate=0.05,
                 grid_points=5, num_interp_points=5, bezier_steps=10)


def plain_problem(layout=True):
    """A 2-6-2 tanh MLP written by hand in plain JAX, on xor."""
    ds = data.xor(num_samples=200, seed=0).astype(np.float64)

    def init(key):
        k1, k2 = jax.random.split(key)
        return {"hidden": {"kernel": jax.random.normal(k1, (2, 6), jnp.float64),
                           "bias": jnp.zeros(6, jnp.float64)},
                "out": {"kernel": jax.random.normal(k2, (6, 2), jnp.float64) / jnp.sqrt(6.0),
                        "bias": jnp.zeros(2, jnp.float64)}}

    def apply(params, x):
        h = jnp.tanh(x @ params["hidden"]["kernel"] + params["hidden"]["bias"][None])
        return h @ params["out"]["kernel"] + params["out"]["bias"][None]

    weights = {"['hidden']['kernel']": -1, "['out']['kernel']": -1}
    return problem.from_functions(init, apply, ds, name="plain 2-6-2 tanh",
                                  layout=problem.Layout(weights) if layout else None)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lp") / "run"
    prob = plain_problem()
    return prob, lp.run(prob, TINY, out, progress=False), out


@pytest.mark.slow
def test_slices_and_paths_match_the_loss(tiny_run):
    prob, result, out = tiny_run
    trained = results.load_part(out, "train")
    x_init, x_a, x_b = (jnp.asarray(trained["trajectory"][0, 0]), jnp.asarray(trained["final"][0]),
                        jnp.asarray(trained["final"][1]))
    _, unravel = ravel_pytree(prob.init(jax.random.key(0)))
    loss = prob.loss_fn()
    batch = data.Batch(jnp.asarray(prob.data.x_train), jnp.asarray(prob.data.y_train))
    f = jax.jit(lambda x: loss(unravel(x), batch))
    assert result.summary["num_params"] == 2 * 6 + 6 + 6 * 2 + 2
    assert result.random_plane.losses.shape == (5, 5)
    # the centre of the random plane is solution a
    assert result.random_plane.losses[2, 2] == pytest.approx(float(f(x_a)), rel=1e-12)
    assert result.summary["a_train_loss"] == pytest.approx(float(f(x_a)), rel=1e-12)
    # the lines start and end at the points they join
    line = result.init_line.losses
    assert line[0] == pytest.approx(float(f(x_init)), rel=1e-12)
    assert line[-1] == pytest.approx(float(f(x_a)), rel=1e-12)
    for path in (result.bezier.line, result.bezier.curve):
        assert path.losses[0] == pytest.approx(float(f(x_a)), rel=1e-12)
        assert path.losses[-1] == pytest.approx(float(f(x_b)), rel=1e-12)
        assert path.barrier >= -1e-12
    # the PCA coordinates of the path; the curve lies in the plane through a, b and control
    assert result.pca.coords.shape == (4, 2)  # steps 0, 20, 40, 60
    assert result.curve_coords.shape == (5, 2)
    np.testing.assert_allclose(result.curve_coords[[0, -1]], result.plane_coords[:2], atol=1e-9)
    assert result.summary["distance_a_b"] == pytest.approx(float(jnp.linalg.norm(x_b - x_a)))
    assert result.summary["skipped"] == {}


@pytest.mark.slow
def test_files_rerun_and_figures(tiny_run, tmp_path, monkeypatch):
    prob, result, out = tiny_run
    back = lp.load(out)
    assert back.config == TINY and back.summary == result.summary
    np.testing.assert_array_equal(back.pca_plane.losses, result.pca_plane.losses)
    assert float(back.bezier.curve.barrier) == float(result.bezier.curve.barrier)
    assert "barriers" in lp.format_summary(back.summary)
    computed = []
    cached_part = results.cached_part

    def logged(run_dir, name, compute):
        return cached_part(run_dir, name, lambda: computed.append(name) or compute())

    monkeypatch.setattr(results, "cached_part", logged)
    again = lp.run(prob, TINY, out, progress=False)
    assert computed == [] and again.summary["barrier_curve_a_b"] == result.summary[
        "barrier_curve_a_b"]
    figs = plots_lp.figures(back)
    assert sorted(figs) == ["interpolation", "mode_connectivity", "random_plane", "trajectory"]
    for name, fig in figs.items():
        fig.canvas.draw()
        for ax in fig.axes:
            if ax.get_label() != "<colorbar>":
                assert ax.get_xlabel() and ax.get_ylabel(), name
        matplotlib.pyplot.close(fig)
    cli.main("landscape_plot", ["--plot-only", "--run-dir", str(out), "--out", str(tmp_path)])
    assert (tmp_path / "landscape_plot_random_plane.png").exists()


@pytest.mark.slow
def test_without_layout_the_random_plane_is_skipped():
    config = lp.Config(num_steps=20, eval_every=10, batch_size=None, learning_rate=0.05,
                       grid_points=3, num_interp_points=3, bezier_steps=2)
    result = lp.run(plain_problem(layout=False), config, progress=False)
    assert result.random_plane is None
    assert "no layout" in result.summary["skipped"]["random_plane"]
    assert result.pca_plane.losses.shape == (3, 3) and result.bezier is not None
    assert "skipped random_plane" in lp.format_summary(result.summary)
    fig = plots_lp.figures(result)["random_plane"]
    assert "no layout" in fig.axes[0].texts[0].get_text()
    matplotlib.pyplot.close("all")


@pytest.mark.slow
def test_cnn1d_end_to_end():
    prob = registry.builtin("cnn1d", dataset="mnist1d", num_samples=60, channels=(2,))
    config = lp.Config(num_steps=20, eval_every=10, batch_size=None, learning_rate=0.05,
                       grid_points=3, num_interp_points=3, bezier_steps=2)
    result = lp.run(prob, config, progress=False)
    assert result.random_plane.losses.shape == (3, 3)
    assert np.all(np.isfinite(result.random_plane.losses))
    assert result.summary["num_params"] == 422


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="grid_points"):
        lp.Config(grid_points=2)
    with pytest.raises(ValueError, match="span"):
        lp.Config(span=0.0)
    with pytest.raises(ValueError, match="eval_every"):
        lp.Config(num_steps=100, eval_every=100)
    with pytest.raises(ValueError, match="optimizer"):
        lp.Config(optimizer="newton")
