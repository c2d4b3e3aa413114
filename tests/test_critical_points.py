"""The critical-point study on tiny problems: consistency of its tables with the library
and with dense float64 Hessians, the rank correlation, files written and read back, a
rerun that loads its finished parts, the figure, and a CNN."""

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from landscape import critical, data, problem, registry, results  # noqa: E402
from landscape.plots import critical_points as plots_cp  # noqa: E402
from landscape.studies import cli  # noqa: E402
from landscape.studies import critical_points as cp  # noqa: E402

TINY = cp.Config(num_seeds=2, num_steps=200, eval_every=20, num_trajectory_points=5,
                 num_random=4, max_iters=60, chunk_size=8)


def plain_problem():
    """A 3-3-1 tanh MLP written by hand in plain JAX, on a tanh teacher (squared loss)."""
    ds = data.teacher_student(num_samples=128, in_dim=3, teacher_hidden=(3,), seed=0)
    ds = ds.subset(64).astype(np.float64)

    def init(key):
        k1, k2 = jax.random.split(key)
        return [{"w": jax.random.normal(k1, (3, 3), jnp.float64) / jnp.sqrt(3.0),
                 "b": jnp.zeros(3, jnp.float64)},
                {"w": jax.random.normal(k2, (3, 1), jnp.float64) / jnp.sqrt(3.0),
                 "b": jnp.zeros(1, jnp.float64)}]

    def apply(params, x):
        h = jnp.tanh(x @ params[0]["w"] + params[0]["b"][None])
        return h @ params[1]["w"] + params[1]["b"][None]

    return problem.from_functions(init, apply, ds, loss="mse", name="plain 3-3-1 tanh")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cp") / "run"
    prob = plain_problem()
    return prob, cp.run(prob, TINY, out, progress=False), out


@pytest.mark.slow
def test_study_tables_are_consistent(tiny_run):
    _, result, _ = tiny_run
    s = result.starts
    n_starts = TINY.num_seeds * TINY.num_trajectory_points + TINY.num_random
    assert len(s["status"]) == n_starts == result.grad_norms.shape[0]
    assert result.grad_norms.shape[1] == TINY.max_iters + 1
    assert set(s["status"]) <= set(critical.STATUSES)
    assert sorted(set(s["source"])) == ["random", "trajectory"]
    # a critical point is a converged run classified critical, with |g| <= tol
    crit = s["critical"]
    assert crit.any()
    assert np.all(s["grad_norm"][crit] <= TINY.tol)
    assert np.all(s["status"][crit] == "converged")
    assert np.all(s["kind"][~crit & (s["status"] != "converged")] == "not_critical")
    # the index is the exact fraction: an integer count over the parameter count
    n = result.info["num_params"]
    assert n == 16
    np.testing.assert_allclose(s["index"] * n, np.round(s["index"] * n), atol=1e-9)
    # distinct points: one per (loss, index) group, and the correlation is recomputable
    d = s["distinct"]
    assert d.sum() == result.summary["num_distinct"] and np.all(crit[d])
    pairs = {(round(float(a), 6), float(b)) for a, b in zip(s["loss"][d], s["num_negative"][d],
                                                              strict=True)}
    assert len(pairs) == d.sum()
    sp = result.summary["spearman"]
    if sp["count"] >= 3 and np.isfinite(sp["rho"]):
        assert abs(spearmanr(s["loss"][d], s["index"][d]).statistic - sp["rho"]) < 1e-12
    assert sum(result.summary["status_counts"].values()) == n_starts
    assert len(result.endpoints["kind"]) == TINY.num_seeds
    assert sum(result.summary["endpoint_kind_counts"].values()) == TINY.num_seeds
    assert result.summary["skipped"] == {}


@pytest.mark.slow
def test_study_matches_dense_hessians(tiny_run, key):
    """Critical points of the table, classified again from their stored parameters, and
    their index counted from a dense float64 Hessian."""
    prob, result, _ = tiny_run
    objective = prob.loss_fn(l2=TINY.l2)
    batch = data.Batch(jnp.asarray(prob.data.x_train), jnp.asarray(prob.data.y_train))
    _, unravel = ravel_pytree(prob.init(key))
    hessian = jax.jit(jax.hessian(lambda x: objective(unravel(x), batch)))
    s = result.starts
    for i in np.flatnonzero(s["critical"])[:2]:
        params = unravel(jnp.asarray(result.points[i]))
        c = critical.classify(objective, params, batch, key=key)
        assert c.kind == s["kind"][i] and int(c.num_negative) == int(s["num_negative"][i])
        assert abs(float(c.loss) - s["loss"][i]) < 1e-12
        assert float(c.grad_norm) <= TINY.tol
        w = np.linalg.eigvalsh(np.asarray(hessian(jnp.asarray(result.points[i]))))
        assert int(np.sum(w < -TINY.rtol * np.abs(w).max())) == int(s["num_negative"][i])
        assert s["lambda_min"][i] == pytest.approx(w[0], abs=1e-9)
        assert s["lambda_max"][i] == pytest.approx(w[-1], rel=1e-9)
    e = result.endpoints
    assert np.all(e["loss"] >= e["data_loss"])  # the L2 penalty is non-negative
    assert np.all(e["lambda_max"] > 0)


@pytest.mark.slow
def test_files_round_trip_rerun_loads_and_figure(tiny_run, tmp_path, monkeypatch):
    prob, result, out = tiny_run
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
    assert loaded.info["problem"]["name"] == "plain 3-3-1 tanh"
    assert "Spearman" in cp.format_summary(loaded.summary)
    # a rerun into the directory loads every finished part; without the endpoints part
    # it computes that part alone
    (out / "parts" / "endpoints.npz").unlink()
    computed = []
    cached_part = results.cached_part

    def logged(run_dir, name, compute):
        return cached_part(run_dir, name, lambda: computed.append(name) or compute())

    monkeypatch.setattr(results, "cached_part", logged)
    again = cp.run(prob, TINY, out, progress=False)
    assert computed == ["endpoints"]
    assert again.summary == result.summary
    fig = plots_cp.figure(loaded)
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel()
    matplotlib.pyplot.close(fig)
    cli.main("critical_points", ["--plot-only", "--run-dir", str(out), "--out", str(tmp_path)])
    for suffix in ("png", "pdf"):
        assert (tmp_path / f"critical_points.{suffix}").exists()


@pytest.mark.slow
def test_cnn1d_end_to_end():
    prob = registry.builtin("cnn1d", dataset="mnist1d", num_samples=60, channels=(1,),
                            num_train=24)
    config = cp.Config(num_seeds=1, num_steps=20, eval_every=10, num_trajectory_points=2,
                       num_random=1, max_iters=4, minres_iters=20, chunk_size=3)
    result = cp.run(prob, config, progress=False)
    assert len(result.starts["status"]) == 3 and result.points.shape == (3, 216)
    assert set(result.starts["status"]) <= set(critical.STATUSES)
    assert result.endpoints["lambda_max"][0] > 0
    assert result.summary["num_starts"] == 3


def test_needs_float64():
    with jax.enable_x64(False), pytest.raises(ValueError, match="x64"):
        cp.run(plain_problem(), TINY, progress=False)


def test_config_validation():
    with pytest.raises(ValueError, match="eval_every"):
        cp.Config(num_steps=105, eval_every=10)
    with pytest.raises(ValueError, match="init_scales"):
        cp.Config(init_scales=(0.0,))
    with pytest.raises(ValueError, match="optimizer"):
        cp.Config(optimizer="lbfgs")
    assert cp.PROFILES["full"].config.num_seeds == 16
    assert cp.PROFILES["quick"].problem["num_train"] == 256


def test_log_spaced_indices():
    picks = cp._log_spaced(151, 12)
    assert len(picks) == 12 and picks[0] == 0 and picks[-1] == 150
    assert np.all(np.diff(picks) > 0)
    np.testing.assert_array_equal(cp._log_spaced(5, 12), np.arange(5))
