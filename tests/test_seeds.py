"""Seed study: distances and barriers on constructed cases with known answers, the
summary against the stored tables, and a tiny end-to-end run with its figure."""

import math

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

from landscape import alignment, data, models, objectives, results
from landscape.studies import seeds

matplotlib.use("Agg")


def _tiny(**overrides):
    base = dict(
        num_seeds=4,
        dataset="xor",
        num_samples=240,
        hidden=(6,),
        activation="tanh",
        optimizer="adam",
        learning_rate=0.03,
        num_steps=60,
        batch_size=32,
        eval_every=30,
        num_interp_pairs=3,
        num_interp_points=9,
        lanczos_iters=8,
        slq_probes=1,
        slq_iters=8,
        trace_probes=4,
    )
    base.update(overrides)
    return seeds.SeedConfig.profile("quick", **base)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("seeds")
    return seeds.run(_tiny(), out, progress=False), out


def _stack(trees):
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _problem(key):
    model = models.mlp(3, (7, 5), 2, activation="tanh")
    k_x, k_y = jax.random.split(key)
    batch = data.Batch(jax.random.normal(k_x, (50, 3)), jax.random.randint(k_y, (50,), 0, 2))
    return model, objectives.make_loss(model.apply), batch


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
    # no alignment at all (e.g. a convolutional model): lines are still drawn
    pairs, interp, _ = seeds.compare_pairs(
        params,
        params,
        np.zeros(5),
        ok,
        loss_fn,
        batch,
        key=key,
        num_align_pairs=0,
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


def test_summary_matches_the_stored_tables(tiny_run):
    result, out = tiny_run
    rows = results.read_table(out / seeds.SEEDS_FILE)
    pair_rows = results.read_table(out / seeds.PAIRS_FILE)
    stored = results.read_json(out / seeds.SUMMARY_FILE)["summary"]
    assert len(rows) == 4 and len(pair_rows) == 6
    ok = [not r["diverged"] for r in rows]
    for name in seeds.METRICS + ("lambda_max", "lambda_min", "trace", "distance_from_init"):
        v = np.array([r[name] for r, keep in zip(rows, ok, strict=True) if keep], np.float64)
        expected = {"mean": v.mean(), "std": v.std(ddof=1), "min": v.min(), "max": v.max()}
        expected["cv"] = expected["std"] / expected["mean"]
        for stat, value in expected.items():
            # CSV keeps every float's repr, so the table reproduces the summary to rounding
            np.testing.assert_allclose(stored[name][stat], value, rtol=1e-12, err_msg=name)
            np.testing.assert_allclose(result.summary[name][stat], value, rtol=1e-12)
    for name in ("distance", "init_distance", "aligned_distance", "barrier", "aligned_barrier"):
        v = np.array([r[name] for r in pair_rows if r[name] is not None], np.float64)
        v = v[np.isfinite(v)]
        np.testing.assert_allclose(stored[name]["mean"], v.mean(), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(stored[name]["max"], v.max(), rtol=1e-12, err_msg=name)
    line = format_first_line(stored)
    tl = stored["train_loss"]
    assert line.startswith(
        f"4 seeds: final train loss {tl['mean']:.3g} +- {tl['std']:.2g} (CV {100 * tl['cv']:.2g}%)"
    )
    assert f"relative distance between solutions {stored['distance']['mean']:.3g}" in line
    assert f"largest barrier {stored['barrier']['max']:.3g}" in line


def test_tiny_end_to_end(tiny_run, tmp_path):
    result, out = tiny_run
    s, p = result.seeds, result.pairs
    assert not s["diverged"].any()
    assert result.curves["train_loss"].shape == (4, 3) and result.curves["step"].tolist() == [
        0,
        30,
        60,
    ]
    # training lowered the loss of every seed
    assert np.all(result.curves["train_loss"][:, -1] < result.curves["train_loss"][:, 0])
    for name in seeds.METRICS:
        assert np.isfinite(s[name]).all(), name
    assert np.all((s["train_accuracy"] >= 0) & (s["train_accuracy"] <= 1))
    # endpoint curvature: a 2-6-2 tanh net has 32 parameters, so classify uses dense eigh
    assert np.all(s["lambda_max"] >= s["lambda_min"])
    assert np.all(s["lambda_max"] > 0)
    assert set(s["kind"]) <= {"minimum", "saddle", "maximum", "degenerate", "not_critical"}
    assert np.all(s["residual_max"] < 1e-8 * s["lambda_max"])
    # the certificate column says whether |lambda_min| exceeds its residual
    np.testing.assert_array_equal(s["certified_min"], np.abs(s["lambda_min"]) > s["residual_min"])
    # Hutchinson with 4 probes: within 5 standard errors of the exact trace is not tested here
    # (tests of curvature do that); here: finite and positive at a trained point
    assert np.isfinite(s["trace"]).all()
    # distances: inits of equal scale near sqrt(2) only in high dimension; here in (0, 2]
    assert np.all((p["init_distance"] > 0) & (p["init_distance"] < 2))
    assert np.all(p["aligned_distance"] <= p["distance"] + 1e-12)
    assert p["interpolated"].sum() == 3
    assert np.isfinite(p["barrier"][p["interpolated"]]).all()
    # the run directory reads back to the same result
    back = seeds.load(out)
    assert back.config == result.config
    for table, stored in ((result.seeds, back.seeds), (result.pairs, back.pairs)):
        for k, v in table.items():
            if v.dtype.kind in "US":
                assert list(v) == list(stored[k]), k
            else:
                np.testing.assert_array_equal(
                    np.asarray(v, np.float64), np.asarray(stored[k], np.float64), err_msg=k
                )
    np.testing.assert_array_equal(back.interp["losses"], result.interp["losses"])
    np.testing.assert_array_equal(back.curves["train_loss"], result.curves["train_loss"])
    # the figure renders and is saved as PNG and PDF
    from landscape import plots

    fig = seeds.plot(back)
    assert len(fig.axes) >= 6
    for ax in fig.axes[:6]:
        assert ax.get_xlabel() and ax.get_ylabel()
    paths = plots.save(fig, "seeds_test", tmp_path)
    assert all(path.stat().st_size > 0 for path in paths)
    matplotlib.pyplot.close(fig)


@pytest.mark.slow
def test_same_config_gives_the_same_numbers(tiny_run):
    result, _ = tiny_run
    again = seeds.run(_tiny(), progress=False)
    for name in ("train_loss", "test_loss", "lambda_max", "trace"):
        np.testing.assert_array_equal(again.seeds[name], result.seeds[name])
    for name in ("distance", "aligned_distance", "barrier"):
        np.testing.assert_array_equal(again.pairs[name], result.pairs[name])


def test_script_runs_and_prints_the_summary(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        seeds.main(["--help"])
    assert info.value.code == 0
    assert "--profile" in capsys.readouterr().out
    run_dir = tmp_path / "run"
    seeds.main(
        [
            "--dataset",
            "xor",
            "--num-samples",
            "200",
            "--hidden",
            "5",
            "--num-seeds",
            "3",
            "--steps",
            "40",
            "--eval-every",
            "20",
            "--interp-pairs",
            "2",
            "--lanczos-iters",
            "5",
            "--optimizer",
            "adam",
            "--learning-rate",
            "0.01",
            "--batch-size",
            "full",
            "--no-curvature",
            "--quiet",
            "--run-dir",
            str(run_dir),
            "--out",
            str(tmp_path),
            "--name",
            "fig",
        ]
    )
    text = capsys.readouterr().out
    assert text.startswith("3 seeds: final train loss ")
    assert "endpoints: curvature not measured" in text
    assert (tmp_path / "fig.png").exists() and (tmp_path / "fig.pdf").exists()
    config = results.read_config(run_dir)["config"]
    assert config["batch_size"] is None and config["hidden"] == [5]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_seeds", 1),
        ("num_steps", 0),
        ("model", "resnet"),
        ("hidden", ()),
        ("num_interp_points", 1),
        ("learning_rate", -1.0),
        ("optimizer", "lbfgs"),
        ("batch_size", 0),
        ("num_align_pairs", 0),
        ("classify_rtol", -1.0),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field if field != "num_align_pairs" else "num_align"):
        seeds.SeedConfig(**{field: value})


def test_profiles():
    quick, full = seeds.SeedConfig.profile("quick"), seeds.SeedConfig.profile("full")
    assert 8 <= quick.num_seeds <= 16 and full.num_seeds >= 32
    assert math.comb(quick.num_seeds, 2) >= quick.num_interp_pairs
    with pytest.raises(ValueError, match="profile"):
        seeds.SeedConfig.profile("huge")
    with pytest.raises(ValueError, match="num_interp_pairs"):
        seeds.SeedConfig(num_align_pairs=2, num_interp_pairs=3)
