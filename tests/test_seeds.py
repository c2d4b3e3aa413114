"""Seed study: distances and barriers on constructed cases with known answers, the
summary against the stored tables, and a tiny end-to-end run with its figure."""

import math
import subprocess
import sys
from pathlib import Path

import _problems
import _seeds_worker
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from _kill import kill_when

from landscape import alignment, data, models, objectives, problem, registry, results
from landscape.plots import seeds as seed_plots
from landscape.studies import cli, seeds

matplotlib.use("Agg")

HERE = Path(__file__).parent
LAYOUT = problem.Layout(
    weights={f"[{i}]['w']": -1 for i in range(3)},
    dense_chain=tuple(problem.DenseLayer(f"[{i}]['w']", f"[{i}]['b']", -1) for i in range(3)),
)
TINY = dict(num_seeds=4, optimizer="adam", learning_rate=0.03, num_steps=60, batch_size=32,
            eval_every=30, num_interp_pairs=3, num_interp_points=9, lanczos_iters=8,
            slq_probes=1, slq_iters=8, trace_probes=4)


def _tiny(**overrides):
    return seeds.Config(**{**TINY, **overrides})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The study on a hand-written plain-JAX MLP (tests/_problems.py), no flax needed."""
    out = tmp_path_factory.mktemp("seeds")
    return seeds.run(_problems.tiny_mlp(), _tiny(), out, progress=False), out


def _stack(trees):
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _problem(key):
    model = models.mlp(3, (7, 5), 2, activation="tanh")
    k_x, k_y = jax.random.split(key)
    batch = data.Batch(jax.random.normal(k_x, (50, 3)), jax.random.randint(k_y, (50,), 0, 2))
    return model, objectives.make_loss(model.apply), batch


@pytest.mark.slow
def test_identical_and_permuted_solutions_have_known_distances_and_barriers(key):
    model, loss_fn, batch = _problem(key)
    k0, k1, k2 = jax.random.split(jax.random.fold_in(key, 1), 3)
    a = model.init(k0)
    a = [{"w": layer["w"], "b": 0.2 * jnp.ones_like(layer["b"])} for layer in a]
    perms = alignment.random_permutations(a, key=k1)
    permuted = alignment.apply_permutation(a, perms)
    other = model.init(k2)
    # seeds: 0 = a, 1 = a (identical), 2 = a with its hidden units permuted, 3 = unrelated
    params = _stack([a, a, permuted, other])
    inits = _stack([model.init(jax.random.fold_in(k2, i)) for i in range(4)])
    train_loss = np.array([float(loss_fn(p, batch)) for p in (a, a, permuted, other)])
    pairs, interp, _ = seeds.compare_pairs(
        params,
        inits,
        train_loss,
        np.ones(4, bool),
        loss_fn,
        batch,
        key=key,
        layout=LAYOUT,
        num_align_pairs=None,
        num_interp_pairs=6,
        num_interp_points=11,
    )
    index = {
        (int(x), int(y)): i
        for i, (x, y) in enumerate(zip(pairs["seed_a"], pairs["seed_b"], strict=True))
    }
    assert len(index) == 6 and pairs["aligned"].all() and pairs["interpolated"].all()
    same, perm, unrelated = index[(0, 1)], index[(0, 2)], index[(0, 3)]
    # identical solutions: zero distance (exactly), zero barrier (up to rounding of the chord)
    assert pairs["distance"][same] == 0.0
    assert pairs["aligned_distance"][same] == 0.0
    assert abs(pairs["barrier"][same]) <= 1e-14 * train_loss[0]
    row = list(map(tuple, interp["pairs"])).index((0, 1))
    np.testing.assert_allclose(interp["losses"][row], train_loss[0], rtol=1e-14)
    # a permuted copy: far apart before alignment, zero after; same function, same loss
    assert pairs["distance"][perm] > 0.3
    assert pairs["loss_diff"][perm] < 1e-14
    assert pairs["aligned_distance"][perm] < 1e-14
    assert abs(pairs["aligned_barrier"][perm]) <= 1e-12 * train_loss[0]
    # the barrier is the largest gap over the chord; the endpoints' gap is 0, so it is >= 0
    assert np.all(pairs["barrier"] >= -1e-14)
    # alignment never increases a distance; the yardstick is computed for inits too
    assert np.all(pairs["aligned_distance"] <= pairs["distance"] + 1e-15)
    assert np.all(pairs["aligned_init_distance"] <= pairs["init_distance"] + 1e-15)
    assert pairs["aligned_distance"][unrelated] > 0.1
    # the stored distance is alignment.relative_distance
    np.testing.assert_allclose(
        pairs["distance"][unrelated], alignment.relative_distance(a, other), rtol=1e-12
    )
    # the line's endpoints are the losses of the two solutions
    row = list(map(tuple, interp["pairs"])).index((0, 3))
    np.testing.assert_allclose(interp["losses"][row][[0, -1]], train_loss[[0, 3]], rtol=1e-12)


def test_pair_subsets_and_diverged_seeds(key):
    model, loss_fn, batch = _problem(key)
    params = _stack([model.init(jax.random.fold_in(key, i)) for i in range(5)])
    ok = np.array([True, False, True, True, True])
    pairs, interp, _ = seeds.compare_pairs(
        params,
        params,
        np.zeros(5),
        ok,
        loss_fn,
        batch,
        key=key,
        layout=LAYOUT,
        num_align_pairs=3,
        num_interp_pairs=2,
        num_interp_points=5,
    )
    assert len(pairs["distance"]) == 6 and 1 not in set(pairs["seed_a"]) | set(pairs["seed_b"])
    assert pairs["aligned"].sum() == 3 and pairs["interpolated"].sum() == 2
    assert not np.any(pairs["interpolated"] & ~pairs["aligned"])
    assert np.isnan(pairs["aligned_distance"][~pairs["aligned"]]).all()
    assert np.isfinite(pairs["barrier"][pairs["interpolated"]]).all()
    assert interp["losses"].shape == (2, 5) and interp["aligned_losses"].shape == (2, 5)
    # no dense chain (e.g. a convolutional model): nothing aligned, lines still drawn
    pairs, interp, _ = seeds.compare_pairs(
        params,
        params,
        np.zeros(5),
        ok,
        loss_fn,
        batch,
        key=key,
        layout=None,
        num_align_pairs=None,
        num_interp_pairs=2,
        num_interp_points=5,
    )
    assert not pairs["aligned"].any() and pairs["interpolated"].sum() == 2
    assert np.isnan(interp["aligned_losses"]).all()


def test_summarize_leaves_out_diverged_seeds():
    table = {
        "diverged": np.array([False, True, False, False]),
        "train_loss": np.array([1.0, np.inf, 2.0, 3.0]),
        "kind": np.array(["not_critical"] * 4),
        "curvature": np.array(["saddle", "", "minimum", "saddle"]),
    }
    for name in seeds.METRICS[1:] + (
        "distance_from_init",
        "grad_norm",
        "lambda_max",
        "lambda_min",
        "trace",
        "index",
    ):
        table[name] = np.array([1.0, 5.0, 1.0, 1.0])
    pair_table = {
        name: np.array([0.5, 1.5])
        for name in (
            "distance",
            "init_distance",
            "aligned_distance",
            "aligned_init_distance",
            "loss_diff",
            "barrier",
            "aligned_barrier",
        )
    }
    pair_table.update(aligned=np.array([True, False]), interpolated=np.array([True, True]))
    s = seeds.summarize(table, pair_table)
    assert (s["num_seeds"], s["num_converged"], s["num_diverged"]) == (4, 3, 1)
    assert s["train_loss"]["mean"] == 2.0 and s["train_loss"]["std"] == 1.0  # ddof=1
    assert s["train_loss"]["cv"] == 0.5
    assert (s["train_loss"]["min"], s["train_loss"]["max"]) == (1.0, 3.0)
    assert s["val_loss"]["std"] == 0.0
    assert s["curvature_counts"] == {"minimum": 1, "saddle": 2}
    assert s["barrier"]["max"] == 1.5 and s["num_aligned_pairs"] == 1
    assert format_first_line(s).startswith(
        "3 seeds (1 diverged, left out): final train loss 2 +- 1"
    )


def format_first_line(summary):
    return seeds.format_summary(summary).splitlines()[0]




def test_transposed_dense_chain_is_aligned_through_the_layout(key):
    """Weights stored (out, in), as Equinox and PyTorch do: the layout says so, and a
    permuted copy is aligned back exactly."""
    model, loss_fn, batch = _problem(key)
    a = model.init(jax.random.fold_in(key, 3))
    permuted = alignment.apply_permutation(a, alignment.random_permutations(a, key=key))

    def transpose(params):
        return [{"w": layer["w"].T, "b": layer["b"]} for layer in params]

    layout = problem.Layout(LAYOUT.weights, tuple(layer._replace(out_axis=-2)
                                                  for layer in LAYOUT.dense_chain))

    def loss_t(params, b):
        return loss_fn([{"w": layer["w"].T, "b": layer["b"]} for layer in params], b)

    params = _stack([transpose(a), transpose(permuted)])
    pairs, _, _ = seeds.compare_pairs(params, params, np.zeros(2), np.ones(2, bool), loss_t,
                                      batch, key=key, layout=layout, num_align_pairs=None,
                                      num_interp_pairs=1, num_interp_points=5)
    assert pairs["distance"][0] > 0.3
    assert pairs["aligned_distance"][0] < 1e-14  # the permutation is recovered
    assert abs(pairs["aligned_barrier"][0]) < 1e-12


@pytest.mark.slow
def test_summary_matches_the_stored_tables(tiny_run):
    result, out = tiny_run
    rows = results.read_table(out / "seeds.csv")
    pair_rows = results.read_table(out / "pairs.csv")
    stored = results.read_json(out / "summary.json")["summary"]
    assert len(rows) == 4 and len(pair_rows) == 6
    for name in seeds.METRICS + ("lambda_max", "lambda_min", "trace", "distance_from_init"):
        v = np.array([r[name] for r in rows if not r["diverged"]], np.float64)
        expected = {"mean": v.mean(), "std": v.std(ddof=1), "min": v.min(), "max": v.max()}
        expected["cv"] = expected["std"] / expected["mean"]
        for stat, value in expected.items():
            # CSV keeps every float's repr, so the table reproduces the summary to rounding
            np.testing.assert_allclose(stored[name][stat], value, rtol=1e-12, err_msg=name)
    for name in ("distance", "init_distance", "aligned_distance", "barrier", "aligned_barrier"):
        v = np.array([r[name] for r in pair_rows if r[name] is not None], np.float64)
        v = v[np.isfinite(v)]
        np.testing.assert_allclose(stored[name]["mean"], v.mean(), rtol=1e-12, err_msg=name)
    line = format_first_line(stored)
    tl = stored["train_loss"]
    assert line.startswith(
        f"4 seeds: final train loss {tl['mean']:.3g} +- {tl['std']:.2g} (CV {100 * tl['cv']:.2g}%)"
    )
    assert stored["skipped"] == {}


@pytest.mark.slow
def test_tiny_end_to_end_on_a_plain_jax_mlp(tiny_run, tmp_path):
    result, out = tiny_run
    s, p = result.seeds, result.pairs
    assert not s["diverged"].any()
    assert result.curves["step"].tolist() == [0, 30, 60]
    assert np.all(result.curves["train_loss"][:, -1] < result.curves["train_loss"][:, 0])
    for name in seeds.METRICS:
        assert np.isfinite(s[name]).all(), name
    # the first-layer-weight count: 10*6 + 6 + 6*4 + 4
    assert result.info["num_params"] == 94 and result.info["problem"]["name"].startswith("tiny")
    # endpoint curvature: 94 parameters, so classify uses a dense eigh
    assert np.all(s["lambda_max"] >= s["lambda_min"]) and np.all(s["lambda_max"] > 0)
    assert np.all(s["residual_max"] < 1e-8 * s["lambda_max"])
    np.testing.assert_array_equal(s["certified_min"], np.abs(s["lambda_min"]) > s["residual_min"])
    # the curvature is that of problem.loss_fn at each endpoint
    prob = _problems.tiny_mlp()
    p0 = jax.tree_util.tree_map(lambda x: x[0], seeds._unleaves(
        jax.tree_util.tree_structure(prob.init(jax.random.key(0))),
        results.load_part(out, "train")["params"]))
    flat, unravel = jax.flatten_util.ravel_pytree(p0)
    hess = jax.hessian(lambda x: prob.loss_fn()(unravel(x), prob.data.train))(flat)
    eigs = np.linalg.eigvalsh(np.asarray(hess))
    np.testing.assert_allclose([s["lambda_max"][0], s["lambda_min"][0]], [eigs[-1], eigs[0]],
                               rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(s["train_loss"][0], prob.loss_fn()(p0, prob.data.train),
                               rtol=1e-12)
    assert np.all(p["aligned_distance"] <= p["distance"] + 1e-12)
    assert p["interpolated"].sum() == 3 and np.isfinite(p["barrier"][p["interpolated"]]).all()
    # the run directory reads back to the same result
    back = seeds.load(out)
    assert back.config == result.config and back.summary == json_round(result.summary)
    for table, stored in ((result.seeds, back.seeds), (result.pairs, back.pairs)):
        for k, v in table.items():
            if v.dtype.kind in "US":
                assert list(v) == list(stored[k]), k
            else:
                np.testing.assert_array_equal(np.asarray(v, np.float64),
                                              np.asarray(stored[k], np.float64), err_msg=k)
    np.testing.assert_array_equal(back.interp["losses"], result.interp["losses"])
    config = results.read_config(out)
    assert config["problem"]["source"] is None and config["float_dtype"] == "float64"
    fig = seed_plots.figure(back)
    for ax in fig.axes[:6]:
        assert ax.get_xlabel() and ax.get_ylabel()
    matplotlib.pyplot.close(fig)


def json_round(value):
    import json

    return json.loads(json.dumps(results.to_jsonable(value)))


@pytest.mark.slow
def test_a_cnn_skips_weight_matching_and_says_so(tmp_path):
    prob = registry.builtin("cnn1d", dataset="mnist1d", num_samples=150, channels=(3,),
                            standardize=True)
    config = _tiny(num_seeds=3, num_steps=20, eval_every=10, num_interp_pairs=2,
                   num_interp_points=5, measure_curvature=False)
    result = seeds.run(prob, config, progress=False)
    s = result.summary
    assert s["skipped"] == {"weight_matching": seeds.NO_CHAIN}
    assert s["num_aligned_pairs"] == 0 and s["num_interpolated_pairs"] == 2
    assert np.isnan(result.pairs["aligned_distance"]).all()
    assert np.isfinite(result.pairs["barrier"][result.pairs["interpolated"]]).all()
    assert "skipped weight matching: no dense chain declared" in seeds.format_summary(s)
    fig = seed_plots.figure(result)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("weight matching skipped" in t for t in texts)
    matplotlib.pyplot.close(fig)


@pytest.mark.slow
def test_diverged_seeds_still_give_a_summary_and_a_figure(tmp_path):
    config = _tiny(num_seeds=3, optimizer="sgd", learning_rate=1e4, num_steps=20, eval_every=10,
                   num_interp_pairs=2, num_interp_points=5)
    result = seeds.run(_problems.tiny_mlp(), config, tmp_path, progress=False)
    s = result.summary
    assert s["num_diverged"] == 3 and s["num_converged"] == 0 and s["num_pairs"] == 0
    text = seeds.format_summary(s)
    assert text.startswith("0 seeds (3 diverged, left out): final train loss nan")
    assert "curvature not measured" in text
    fig = seed_plots.figure(seeds.load(tmp_path))
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "diverged" in texts and "no pairs" in texts
    fig.savefig(tmp_path / "diverged.png")
    matplotlib.pyplot.close(fig)


def test_a_killed_run_resumes_without_retraining(tmp_path):
    """Kill the study (SIGKILL) after its training part; the rerun does not train again and
    gives the numbers of an uninterrupted run."""
    run_dir, log = tmp_path / "run", tmp_path / "log.txt"
    cmd = [sys.executable, str(HERE / "_seeds_worker.py"), str(run_dir), str(log)]
    kill_when([*cmd, "30"], lambda: (run_dir / "parts" / "train.npz").exists(), poll=0.05)
    assert log.read_text().split() == ["train"]
    assert not (run_dir / "summary.json").exists()
    done = subprocess.run([*cmd, "0"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert log.read_text().split() == ["train", "pairs"]  # trained once, pairs measured now
    assert done.stdout.startswith("3 seeds: final train loss")
    summary = results.read_json(run_dir / "summary.json")["summary"]
    assert summary["num_pairs"] == 3
    # a rerun with x64 flipped is refused, naming the dtype
    refused = "float_dtype: 'float64' -> 'float32'"
    with jax.enable_x64(False), pytest.raises(ValueError, match=refused):
        seeds.run(_problems.tiny_mlp(), _seeds_worker.CONFIG, run_dir, progress=False)


@pytest.mark.slow
def test_script_runs_and_prints_the_summary(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main("seeds", ["--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--problem NAME|MODULE:FUNCTION" in text and "(default: None)" not in text
    assert "--num-seeds INT Seeds trained at once (at least 2); default 12 (quick), 64 (full)" \
        in text
    run_dir = tmp_path / "run"
    cli.main("seeds", [
        "--problem", "_problems:tiny_mlp", "--problem-option", "hidden=5", "--num-seeds", "3",
        "--num-steps", "20", "--eval-every", "10", "--num-interp-pairs", "2",
        "--optimizer", "adam", "--learning-rate", "0.01", "--batch-size", "none",
        "--no-measure-curvature", "--quiet", "--run-dir", str(run_dir),
    ])
    text = capsys.readouterr().out
    assert text.startswith("3 seeds: final train loss ")
    assert "endpoints: curvature not measured" in text
    assert f"run directory: {run_dir}" in text
    for name in ("config.json", "seeds.csv", "pairs.csv", "summary.json", "arrays.npz",
                 "parts/train.npz", "figures/seeds.png", "figures/seeds.pdf"):
        assert f"wrote {run_dir / name}" in text, name
        assert (run_dir / name).stat().st_mode & 0o777 == 0o644, name
    config = results.read_config(run_dir)
    assert config["config"]["batch_size"] is None
    assert config["problem"]["source"] == "_problems:tiny_mlp"
    assert config["problem"]["name"] == "tiny tanh mlp (5)"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_seeds", 1),
        ("num_steps", 0),
        ("num_interp_points", 1),
        ("learning_rate", -1.0),
        ("optimizer", "lbfgs"),
        ("batch_size", 0),
        ("num_align_pairs", 0),
        ("classify_rtol", -1.0),
        ("measure_curvature", "yes"),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field if field != "num_align_pairs" else "num_align"):
        seeds.Config(**{field: value})


def test_profiles_and_bad_arguments():
    quick, full = seeds.PROFILES["quick"], seeds.PROFILES["full"]
    assert 8 <= quick.config.num_seeds <= 16 and full.config.num_seeds >= 32
    assert math.comb(quick.config.num_seeds, 2) >= quick.config.num_interp_pairs
    assert quick.problem["dataset"] == "mnist1d" and quick.problem["standardize"] is True
    with pytest.raises(ValueError, match="num_interp_pairs"):
        seeds.Config(num_align_pairs=2, num_interp_pairs=3)
    with pytest.raises(ValueError, match="problem: expected a landscape.problem.Problem"):
        seeds.run(quick.config, quick.config)
    with pytest.raises(ValueError, match="config: expected a seeds.Config"):
        seeds.run(_problems.tiny_mlp(), {"num_seeds": 2})


# --------------------------------------------------------------------------- adapters


def _equinox_problem():
    eqx = pytest.importorskip("equinox")
    from landscape.adapters.equinox import from_equinox

    ds = data.gaussian_mixture(num_samples=80, num_classes=3, dim=4, seed=0)
    return from_equinox(lambda key: eqx.nn.MLP(ds.in_dim, ds.out_dim, 5, 2,
                                               activation=jnp.tanh, key=key),
                        ds, name="equinox MLP 5x2")


@pytest.mark.slow
def test_an_equinox_mlp_is_matched_through_its_layout(key):
    """The study's pair comparison on Equinox parameters: a permuted copy is found through
    the adapter's layout (distance 0 after matching, same loss)."""
    prob = _equinox_problem()
    assert prob.layout is not None and prob.layout.dense_chain is not None
    a, other = prob.init(jax.random.key(1)), prob.init(jax.random.key(2))
    permuted = alignment.apply_permutation(
        a, alignment.random_permutations(a, key=key, layout=prob.layout), layout=prob.layout)
    loss_fn = prob.loss_fn()
    batch = data.Batch(jnp.asarray(prob.data.x_train, jnp.float64),
                       jnp.asarray(prob.data.y_train))
    train_loss = np.array([float(loss_fn(p, batch)) for p in (a, permuted, other)])
    np.testing.assert_allclose(train_loss[1], train_loss[0], rtol=1e-12)
    pairs, _, _ = seeds.compare_pairs(
        _stack([a, permuted, other]), _stack([other, a, permuted]), train_loss,
        np.ones(3, bool), loss_fn, batch, key=key, layout=prob.layout, num_align_pairs=None,
        num_interp_pairs=1, num_interp_points=5)
    index = {(int(x), int(y)): i for i, (x, y) in enumerate(zip(pairs["seed_a"],
                                                               pairs["seed_b"], strict=True))}
    assert pairs["aligned"].all()
    perm = index[(0, 1)]
    assert pairs["distance"][perm] > 0.1 and pairs["aligned_distance"][perm] < 1e-12
    assert np.all(pairs["aligned_distance"] <= pairs["distance"] + 1e-12)


@pytest.mark.slow
def test_the_seed_study_on_an_equinox_mlp():
    prob = _equinox_problem()
    config = _tiny(num_seeds=3, num_steps=20, eval_every=10, num_interp_pairs=2,
                   num_interp_points=5, measure_curvature=False)
    result = seeds.run(prob, config, progress=False)
    s, p = result.summary, result.pairs
    assert s["skipped"] == {} and s["num_aligned_pairs"] == 3 and s["num_converged"] == 3
    assert np.isfinite(p["aligned_distance"]).all()
    assert np.all(p["aligned_distance"] <= p["distance"] + 1e-12)
    assert "skipped" not in seeds.format_summary(s)


@pytest.mark.slow
def test_a_linen_cnn_with_batchnorm_and_dropout(tmp_path):
    nn = pytest.importorskip("flax.linen")
    from jax.flatten_util import ravel_pytree

    from landscape.adapters.flax_linen import from_linen

    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            f64 = dict(dtype=jnp.float64, param_dtype=jnp.float64)  # a float64 reference
            x = nn.Conv(2, kernel_size=(3,), **f64)(x[..., None])
            x = nn.BatchNorm(use_running_average=not train, **f64)(x)
            x = nn.Dropout(0.2, deterministic=not train)(nn.relu(x))
            return nn.Dense(3, **f64)(x.reshape((x.shape[0], -1)))

    ds = data.gaussian_mixture(num_samples=60, num_classes=3, dim=4, seed=1)
    prob = from_linen(CNN(), ds, name="linen CNN")
    config = _tiny(num_seeds=2, num_steps=20, eval_every=10, batch_size=16,
                   num_interp_pairs=1, num_interp_points=5)
    result = seeds.run(prob, config, tmp_path, progress=False)
    s = result.summary
    assert s["skipped"] == {"weight_matching": seeds.NO_CHAIN}
    assert result.info["curvature_mode"] == "eval"
    assert "skipped weight matching: no dense chain declared" in seeds.format_summary(s)
    # curvature at seed 0 is that of problem.loss_fn(final state of seed 0), eval mode
    key = jax.random.key(0)
    stored = results.load_part(tmp_path, "train")
    params = seeds._unleaves(jax.tree_util.tree_structure(prob.init(key)), stored["params"])
    states = seeds._unleaves(jax.tree_util.tree_structure(prob.init_state(key)),
                             stored["state"])
    p0, st0 = (jax.tree_util.tree_map(lambda x: x[0], t) for t in (params, states))
    init_state = prob.init_state(key)
    moved = [not np.allclose(a, b) for a, b in zip(jax.tree_util.tree_leaves(st0),
                                                   jax.tree_util.tree_leaves(init_state),
                                                   strict=True)]
    assert any(moved)  # the running statistics were trained
    flat, unravel = ravel_pytree(p0)
    batch = data.Batch(jnp.asarray(prob.data.x_train, jnp.float64),
                       jnp.asarray(prob.data.y_train))
    loss = prob.loss_fn(st0)
    eigs = np.linalg.eigvalsh(np.asarray(jax.hessian(lambda v: loss(unravel(v), batch))(flat)))
    rows = result.seeds
    np.testing.assert_allclose([rows["lambda_max"][0], rows["lambda_min"][0]],
                               [eigs[-1], eigs[0]], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(rows["train_loss"][0], loss(p0, batch), rtol=1e-10)
