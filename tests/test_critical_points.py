"""The critical-point study on a tiny configuration: consistency of its tables with
the library, the rank correlation, files written and read back, the figure."""

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from landscape import critical, data, models, objectives  # noqa: E402
from landscape.studies import critical_points as cp  # noqa: E402

TINY = cp.CriticalPointsConfig(
    num_train=64, in_dim=3, teacher_hidden=(3,), hidden=(3,), num_seeds=2, num_steps=200,
    eval_every=20, num_trajectory_points=5, num_random=4, max_iters=60, chunk_size=8,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cp")
    return cp.run(TINY, out, progress=False), out


def test_study_tables_are_consistent(tiny_run):
    result, _ = tiny_run
    s = result.starts
    n_starts = TINY.num_seeds * TINY.num_trajectory_points + TINY.num_random
    assert len(s["status"]) == n_starts == result.grad_norms.shape[0]
    assert result.grad_norms.shape[1] == TINY.max_iters + 1
    assert set(s["status"]) <= set(critical.STATUSES)
    assert sorted(set(s["source"])) == ["random", "trajectory"]
    # a critical point is a converged run classified critical, with |g| <= tol
    crit = s["critical"]
    assert np.all(s["grad_norm"][crit] <= TINY.tol)
    assert np.all(s["status"][crit] == "converged")
    assert np.all(s["kind"][~crit & (s["status"] != "converged")] == "not_critical")
    # the index is the exact fraction: an integer count over the parameter count
    n = result.info["num_params"]
    np.testing.assert_allclose(s["index"] * n, np.round(s["index"] * n), atol=1e-9)
    assert crit.any()
    # distinct points: one per (loss, index) group, and the correlation is recomputable
    d = s["distinct"]
    assert d.sum() == result.summary["num_distinct"] and np.all(crit[d])
    pairs = {(round(float(a), 6), float(b)) for a, b in zip(s["loss"][d], s["num_negative"][d],
                                                              strict=True)}
    assert len(pairs) == d.sum()
    sp = result.summary["spearman"]
    if sp["count"] >= 3 and np.isfinite(sp["rho"]):
        assert abs(spearmanr(s["loss"][d], s["index"][d]).statistic - sp["rho"]) < 1e-12
    counts = result.summary["status_counts"]
    assert sum(counts.values()) == n_starts
    # endpoints: one per training run
    assert len(result.endpoints["kind"]) == TINY.num_seeds
    assert sum(result.summary["endpoint_kind_counts"].values()) == TINY.num_seeds


def test_study_matches_a_direct_classification(tiny_run, key):
    """A critical point of the table, classified again from its stored parameters."""
    result, _ = tiny_run
    ds = cp.make_dataset(TINY)
    model = models.mlp(ds.in_dim, TINY.hidden, ds.out_dim, activation="tanh", dtype=jnp.float64)
    objective = objectives.make_loss(model.apply, loss="mse", l2=TINY.l2)
    batch = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    _, unravel = ravel_pytree(model.init(key))
    s = result.starts
    for i in np.flatnonzero(s["critical"])[:2]:
        params = unravel(jnp.asarray(result.points[i]))
        c = critical.classify(objective, params, batch, key=key)
        assert c.kind == s["kind"][i] and int(c.num_negative) == int(s["num_negative"][i])
        assert abs(float(c.loss) - s["loss"][i]) < 1e-12
        assert float(c.grad_norm) <= TINY.tol
        # the Hessian eigenvalues behind the index, from a dense Hessian
        w = np.linalg.eigvalsh(np.asarray(jax.hessian(
            lambda x: objective(unravel(x), batch))(jnp.asarray(result.points[i]))))
        assert int(np.sum(w < -TINY.rtol * np.abs(w).max())) == int(s["num_negative"][i])
    e = result.endpoints
    assert np.all(e["loss"] >= e["data_loss"])  # the L2 penalty is non-negative
    assert np.all(e["lambda_max"] > 0)


def test_study_files_round_trip_and_figure(tiny_run, tmp_path):
    result, out = tiny_run
    loaded = cp.load(out)
    assert loaded.config == TINY
    for name, column in result.starts.items():
        got = loaded.starts[name]
        if column.dtype.kind in "fiub":
            np.testing.assert_allclose(got.astype(float), column.astype(float), rtol=1e-12)
        else:
            assert list(got) == list(column.astype(str)), name
    np.testing.assert_array_equal(loaded.grad_norms, result.grad_norms)
    np.testing.assert_array_equal(loaded.points, result.points)
    assert loaded.summary == result.summary
    fig = cp.plot(loaded)
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel()
    assert "Spearman" in cp.format_summary(loaded.summary)
    matplotlib.pyplot.close(fig)
    # the command line redraws from the run directory
    res = cp.main(["--plot-only", "--run-dir", str(out), "--out", str(tmp_path), "--quiet"])
    for suffix in ("png", "pdf"):
        assert (tmp_path / f"critical_points.{suffix}").exists()
    assert res.summary == result.summary


def test_config_validation():
    with pytest.raises(ValueError, match="dataset"):
        cp.CriticalPointsConfig(dataset="imagenet")
    with pytest.raises(ValueError, match="eval_every"):
        cp.CriticalPointsConfig(num_steps=105, eval_every=10)
    with pytest.raises(ValueError, match="init_scales"):
        cp.CriticalPointsConfig(init_scales=(0.0,))
    with pytest.raises(ValueError, match="profile"):
        cp.CriticalPointsConfig.profile("huge")
    assert cp.CriticalPointsConfig.profile("full").hidden == (16,)


def test_log_spaced_indices():
    picks = cp._log_spaced(151, 12)
    assert len(picks) == 12 and picks[0] == 0 and picks[-1] == 150
    assert np.all(np.diff(picks) > 0)
    np.testing.assert_array_equal(cp._log_spaced(5, 12), np.arange(5))
