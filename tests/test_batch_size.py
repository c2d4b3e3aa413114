"""Batch-size study: steps to target, learning-rate choice, timed steps, a sweep that
resumes after interruption, and a summary that matches the stored tables."""

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape import data, models, problem, registry, results, tradeoff, train
from landscape.plots import batch_size as bs_plots
from landscape.studies import batch_size as bs
from landscape.studies import batch_size_measure as bs_measure
from landscape.studies import cli

# --------------------------------------------------------------------------- pure pieces


def test_steps_to_target_interpolates():
    step = np.array([0, 10, 20, 30])
    # a loss exp(-t/10) sampled every 10 steps: log-linear interpolation is exact
    loss = np.exp(-step / 10.0)
    got = bs.steps_to_target(step, loss, math.exp(-1.7), higher_is_better=False)
    assert got == pytest.approx(17.0, rel=1e-12)
    acc = np.array([0.1, 0.3, 0.5, 0.9])
    assert bs.steps_to_target(step, acc, 0.7, higher_is_better=True) == pytest.approx(25.0)
    assert bs.steps_to_target(step, loss, 1e-6, higher_is_better=False) == math.inf
    assert bs.steps_to_target(step, loss, 2.0, higher_is_better=False) == 0.0
    nan = np.array([1.0, np.nan, np.nan, np.nan])
    assert bs.steps_to_target(step, nan, 0.5, higher_is_better=False) == math.inf
    # the first crossing counts, not a later one
    bumpy = np.array([1.0, 0.4, 0.8, 0.3])
    assert bs.steps_to_target(step, bumpy, 0.5, higher_is_better=False) < 10.0


def test_batch_sizes_budget_and_rates():
    cfg = bs.Config(min_batch_size=1, batch_factor=4, base_lr=0.4, base_batch=64,
                             lr_factors=(0.5, 1.0, 2.0), min_steps=100, max_epochs=2.0,
                             max_steps=5000)
    assert cfg.batch_sizes(3500) == (1, 4, 16, 64, 256, 1024, 3500)
    assert dataclasses.replace(cfg, max_batch_size=256).batch_sizes(3500) == (1, 4, 16, 64, 256)
    assert dataclasses.replace(cfg, max_batch_size=300).batch_sizes(3500) == (1, 4, 16, 64, 256)
    assert cfg.num_steps(1, 3500) == 5000  # capped
    assert cfg.num_steps(64, 3500) == 100 + math.ceil(2 * 3500 / 64)
    assert bs.learning_rates(cfg, 256) == (0.4, 0.8, 1.6)  # centre 0.4 * sqrt(4)
    assert bs.learning_rates(dataclasses.replace(cfg, lr_policy="linear"), 256) == (1.6,)
    assert bs.learning_rates(dataclasses.replace(cfg, lr_policy="sqrt"), 16) == (0.2,)
    assert bs.learning_rates(dataclasses.replace(cfg, max_lr=1.0), 256) == (0.4, 0.8, 1.0)


@pytest.mark.parametrize(
    "field, value",
    [("batch_factor", 3), ("lr_policy", "cubic"), ("target_metric", "test_loss"),
     ("min_batch_size", 0), ("lr_factors", (1.0, -1.0)), ("max_steps", 10),
     ("two_batch_sizes", (8, 4)), ("noise_points", 1), ("base_lr", 0.0),
     ("optimizer", "lbfgs"), ("max_lr", -1.0)],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        bs.Config(**{field: value})


def test_profile_and_batch_size_errors():
    with pytest.raises(ValueError, match="min_batch_size"):
        bs.Config(min_batch_size=64).batch_sizes(32)
    quick = bs.PROFILES["quick"]
    assert quick.config.batch_sizes(3500)[-1] == 3500
    assert quick.problem["hidden"] == (64,) and quick.problem["standardize"] is True
    with pytest.raises(ValueError, match="problem: expected a landscape.problem.Problem"):
        bs.run(quick.config, quick.config)


def _runs_table(entries):
    """entries: (batch, lr, seed, steps, val_loss, diverged)."""
    cols = list(zip(*entries, strict=True))
    return {
        "batch_size": np.array(cols[0]), "learning_rate": np.array(cols[1], float),
        "seed": np.array(cols[2]), "steps_to_target": np.array(cols[3], float),
        "final_val_loss": np.array(cols[4], float), "final_train_loss": np.array(cols[4], float),
        "diverged": np.array(cols[5], bool), "full_batch": np.array([b == 100 for b in cols[0]]),
    }


def test_select_learning_rates_by_steps_then_validation():
    inf = math.inf
    runs = _runs_table([
        # B = 4: lr 0.1 median 30, lr 0.2 median 20 (one seed never reaches), lr 0.4 diverges
        (4, 0.1, 0, 30, 1.0, False), (4, 0.1, 1, 31, 1.0, False), (4, 0.1, 2, 29, 1.0, False),
        (4, 0.2, 0, 20, 1.1, False), (4, 0.2, 1, inf, 1.1, False), (4, 0.2, 2, 19, 1.1, False),
        (4, 0.4, 0, inf, 9.0, True), (4, 0.4, 1, inf, 9.0, True), (4, 0.4, 2, inf, 9.0, True),
        # B = 100 (full): no rate reaches the target; the lower validation loss wins
        (100, 1.0, 0, inf, 0.9, False), (100, 1.0, 1, inf, 0.9, False),
        (100, 1.0, 2, inf, 0.9, False),
        (100, 2.0, 0, inf, 0.7, False), (100, 2.0, 1, inf, 0.7, False),
        (100, 2.0, 2, inf, 0.7, False),
    ])
    sel = bs.select_learning_rates(runs)
    np.testing.assert_array_equal(sel["batch_size"], [4, 100])
    np.testing.assert_allclose(sel["learning_rate"], [0.2, 2.0])
    np.testing.assert_array_equal(sel["lr_at_edge"], [False, True])
    np.testing.assert_array_equal(sel["num_reached"], [2, 0])
    np.testing.assert_array_equal(sel["num_diverged_any_lr"], [3, 0])
    np.testing.assert_allclose(sel["steps"], [20.0, inf])
    np.testing.assert_allclose(sel["steps_min"], [19.0, inf])
    np.testing.assert_allclose(sel["steps_max"], [inf, inf])
    np.testing.assert_allclose(sel["examples"], [80.0, inf])
    np.testing.assert_array_equal(sel["full_batch"], [False, True])


def _fake_compute(lr_opt, calls):
    """A stand-in for training: the median steps to target are smallest at ``lr_opt`` and
    grow with |log(lr / lr_opt)|; rates above 8 lr_opt diverge."""

    def compute(params):
        calls.append(params["learning_rate"])
        lr = params["learning_rate"]
        diverged = lr > 8 * lr_opt
        steps = math.inf if diverged else 100.0 * (1.0 + abs(math.log(lr / lr_opt)))
        return {"steps_to_target": np.full(2, steps), "diverged": np.full(2, diverged),
                "diverged_step": np.full(2, 3 if diverged else -1),
                "final_train_loss": np.full(2, 1.0), "final_val_loss": np.full(2, 1.0),
                "final_val_accuracy": np.full(2, 0.5), "num_steps": 500}

    return compute


@pytest.mark.parametrize(
    "lr_opt, extensions, expected_chosen, edge",
    [(0.4, 3, 0.4, False),   # inside the grid 0.1 ... 1.6: no extension
     (5.0, 3, 6.4, False),   # above: 3.2 -> 6.4 -> 12.8 brackets it
     (0.02, 3, 0.025, False),  # below: 0.05 -> 0.025 -> 0.0125
     (50.0, 2, 6.4, True)],  # far above: two extensions are not enough
)
def test_rate_grid_extends_past_its_end(tmp_path, lr_opt, extensions, expected_chosen, edge):
    cfg = bs.Config(num_seeds=2, base_lr=0.4, base_batch=64, lr_extensions=extensions)
    calls = []
    cells, res = bs._search_rates(cfg, 64, 3500, tmp_path, _fake_compute(lr_opt, calls), False)
    table = bs.select_learning_rates(bs._runs_table(cfg, cells, res, 3500))
    assert float(table["learning_rate"][0]) == pytest.approx(expected_chosen)
    assert bool(table["lr_at_edge"][0]) == edge
    assert len(calls) == len(cells) == len(set(calls))
    assert len(cells) - 5 <= extensions
    # replayed from the stored cells: the same rates, nothing computed again
    again_calls = []
    cells_again, _ = bs._search_rates(cfg, 64, 3500, tmp_path, _fake_compute(lr_opt, again_calls),
                                      False)
    assert cells_again == cells and again_calls == []


def test_tile_dataset():
    ds = data.xor(num_samples=50, seed=0)
    tiled = bs.tile_dataset(ds, 3 * ds.num_train + 2)
    assert tiled.num_train == 3 * ds.num_train + 2
    np.testing.assert_array_equal(tiled.x_train[ds.num_train : 2 * ds.num_train], ds.x_train)
    np.testing.assert_array_equal(tiled.y_val, ds.y_val)


# --------------------------------------------------------------------------- timed steps


@pytest.mark.parametrize("batch_size", [8, None])
@pytest.mark.slow
def test_timed_steps_are_the_training_steps(batch_size, key):
    """The timed function takes the steps train.train takes (same minibatches, same
    updates), so the time measured is the time of training."""
    ds = data.xor(num_samples=60, seed=1).astype(np.float64)  # 42 training examples
    prob = problem.from_model(models.mlp(2, (5,), 2), ds)
    cfg = train.TrainConfig(optimizer="momentum", learning_rate=0.1, num_steps=12,
                               batch_size=batch_size, eval_every=12)
    fn, carry, x, y = bs_measure._timing_setup(prob, ds, cfg, key, 12)
    timed = fn(carry, jnp.asarray(0, jnp.int32), x, y)[0]
    trained = train.train(prob, cfg, key=key, progress=False).params
    np.testing.assert_allclose(ravel_pytree(timed)[0], ravel_pytree(trained)[0], rtol=1e-12,
                               atol=1e-14)


def test_measure_step_time_reports_positive_times(key):
    ds = data.xor(num_samples=60, seed=1).astype(np.float64)
    model = problem.from_model(models.mlp(2, (5,), 2), ds)
    cfg = train.TrainConfig(learning_rate=0.1, num_steps=1, batch_size=8)
    st = bs.measure_step_time(model, ds, cfg, key=key, steps_per_call=5, repeats=3,
                              min_seconds=0.001)
    assert 0 < st.seconds <= st.median <= st.q75
    assert st.compile_seconds > 0 and st.steps_per_call == 5 and st.calls_per_repeat >= 1
    both = bs.measure_step_times(model, [(ds, cfg), (ds, cfg.replace(batch_size=None))],
                                 key=key, steps_per_call=5, repeats=2, min_seconds=0.001)
    assert len(both) == 2 and all(0 < t.seconds <= t.median for t in both)
    with pytest.raises(ValueError, match="batch_size"):
        bs.measure_step_time(model, ds, cfg.replace(batch_size=43), key=key)
    with pytest.raises(ValueError, match="repeats"):
        bs.measure_step_time(model, ds, cfg, key=key, repeats=0)


# --------------------------------------------------------------------------- a small sweep

TINY_PROBLEM = dict(model="mlp", dataset="xor", num_samples=400, hidden=(6,), standardize=True)
TINY = dict(
    min_batch_size=16, batch_factor=8,
    num_seeds=2, base_lr=0.5, base_batch=16, lr_factors=(1.0, 400.0), lr_extensions=0,
    target=0.6,
    min_steps=30, max_epochs=2.0, max_steps=400, num_evals=10, timing_steps=5,
    timing_repeats=2, timing_min_seconds=0.001, dataset_sizes=(100,), size_batch=16,
    noise_batch=16, noise_points=2, noise_samples=8, two_batch_sizes=(4, 32),
    two_batch_count=4, chunk_size=64,
)


class _Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A small sweep interrupted after two training cells, then resumed; returns the run
    directory, what was stored before the interruption, the calls of the resumed run and
    its result."""
    run_dir = tmp_path_factory.mktemp("batch") / "run"
    config = bs.Config(**TINY)
    prob = registry.builtin(**TINY_PROBLEM)
    original = bs._train_cell
    calls = []

    def interrupted(ctx, batch_size, lr):
        if len(calls) == 2:
            raise _Interrupt
        calls.append((batch_size, lr))
        return original(ctx, batch_size, lr)

    bs._train_cell = interrupted
    try:
        with pytest.raises(_Interrupt):
            bs.run(prob, config, run_dir, progress=False)
    finally:
        bs._train_cell = original
    before = {p.name: results.read_arrays(p) for p in (run_dir / "cells").glob("*.npz")}

    resumed_calls = []

    def counted(ctx, batch_size, lr):
        resumed_calls.append((batch_size, lr))
        return original(ctx, batch_size, lr)

    bs._train_cell = counted
    try:
        result = bs.run(prob, config, run_dir, progress=False)
    finally:
        bs._train_cell = original
    return run_dir, config, calls, before, resumed_calls, result


@pytest.mark.slow
def test_sweep_resumes_after_interruption(sweep):
    run_dir, config, first_calls, before, resumed_calls, result = sweep
    all_cells = [(b, lr) for b in config.batch_sizes(280) for lr in bs.learning_rates(config, b)]
    assert len(all_cells) == 6  # B = 16, 128, 280 (full) x two rates
    # the two cells written before the interruption were kept and not recomputed
    assert len(before) == 2 and len(first_calls) == 2
    assert sorted(resumed_calls) == sorted(set(all_cells) - set(first_calls))
    for name, stored in before.items():
        again = results.read_arrays(run_dir / "cells" / name)
        for k, v in stored.items():
            np.testing.assert_array_equal(again[k], v)
    # every cell is in the tables, and the huge rate diverged without stopping the sweep
    assert len(result.runs["seed"]) == 6 * config.num_seeds
    big = result.runs["learning_rate"] > 50
    assert np.all(result.runs["diverged"][big]) and not np.any(result.runs["reached"][big])
    assert result.summary["num_diverged_runs"] >= big.sum()
    # a cell recomputed from scratch equals the stored one (same config, same numbers)
    ctx = bs.Context(config, registry.builtin(**TINY_PROBLEM),
                     jax.random.split(jax.random.split(jax.random.key(config.seed), 3)[0],
                                      config.num_seeds), None, None)
    b, lr = first_calls[0]
    fresh = bs._train_cell(ctx, b, lr)
    stored = results.read_arrays(run_dir / "cells" / f"train,B={b},lr={lr:.4g}.npz")
    np.testing.assert_array_equal(fresh["steps_to_target"], stored["steps_to_target"])
    np.testing.assert_array_equal(fresh["curve_train_loss"], stored["curve_train_loss"])
    # a third run computes nothing and returns the same tables
    again = bs.run(registry.builtin(**TINY_PROBLEM), config, run_dir, progress=False)
    for k in result.runs:
        np.testing.assert_array_equal(again.runs[k], result.runs[k])


def _equal(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, float | int) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or a == b
    return a == b


@pytest.mark.slow
def test_summary_matches_stored_tables(sweep):
    run_dir, config, *_, result = sweep
    loaded = bs.load(run_dir)
    stored = json.loads((run_dir / "summary.json").read_text())["summary"]
    # the summary is a function of the tables on disk
    recomputed = json.loads(json.dumps(results.to_jsonable(
        bs.summarize(loaded.batch, loaded.noise, loaded.sizes, loaded.runs))))
    assert _equal(recomputed, stored), (recomputed, stored)
    # the per-batch table is the selection from the per-run table, with the step times
    selected = bs.select_learning_rates(loaded.runs)
    for k, v in selected.items():
        np.testing.assert_array_equal(loaded.batch[k], v)
    np.testing.assert_allclose(loaded.batch["wall_time"],
                               loaded.batch["steps"] * loaded.batch["step_time"], rtol=1e-12)
    # the fit and the optimum are those of the table
    finite = np.isfinite(loaded.batch["steps"])
    if finite.sum() >= 2:
        fit = tradeoff.fit_tradeoff(loaded.batch["batch_size"], loaded.batch["steps"])
        assert stored["fit"]["b_crit"] == pytest.approx(fit.b_crit, rel=1e-9)
        i = int(np.nanargmin(np.where(finite, loaded.batch["wall_time"], np.nan)))
        assert stored["best_wall_time"]["batch_size"] == int(loaded.batch["batch_size"][i])
    assert stored["noise"]["at_target"]["b_simple"] == pytest.approx(
        float(loaded.noise["b_simple"][-1]), rel=1e-12)
    # the runs table is what the cells hold
    cell = results.read_arrays(run_dir / "cells" / "train,B=16,lr=0.5.npz")
    sel = (loaded.runs["batch_size"] == 16) & (loaded.runs["learning_rate"] == 0.5)
    np.testing.assert_array_equal(loaded.runs["steps_to_target"][sel], cell["steps_to_target"])
    # the tables read back equal the result in memory
    for name in ("runs", "batch", "noise", "sizes"):
        mem, disk = getattr(result, name), getattr(loaded, name)
        assert mem.keys() == disk.keys()
        for k in mem:
            np.testing.assert_array_equal(np.asarray(disk[k]), np.asarray(mem[k]))
    text = bs.format_summary(stored)
    assert text.startswith("B_crit = ") and "least wall time at B = " in text


@pytest.mark.slow
def test_noise_scale_of_the_reference_run(sweep):
    *_, result = sweep
    nz = result.noise
    assert len(nz["step"]) == 2 and nz["fraction"][0] == 0.0 and nz["fraction"][-1] == 1.0
    assert np.all(nz["b_simple"] > 0) and np.all(np.isfinite(nz["b_noise"]))
    np.testing.assert_allclose(nz["b_simple"], nz["trace_cov"] / nz["grad_sq_norm"], rtol=1e-6)
    np.testing.assert_allclose(nz["b_noise"], nz["trace_h_cov"] / nz["grad_h_grad"], rtol=1e-6)


@pytest.mark.slow
def test_figures_render(sweep, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landscape import plots

    *_, result = sweep
    fig = bs_plots.figure(result)
    assert len(fig.axes) == 6
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel()
    paths = plots.save(fig, "batch", tmp_path) + plots.save(bs_plots.plot_lr_figure(result), "lr",
                                                            tmp_path)
    assert all(p.stat().st_size > 0 for p in paths)
    plt.close("all")


def test_script_help():
    script = Path(__file__).resolve().parents[1] / "scripts" / "batch_size.py"
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                         check=True, timeout=120)
    assert "--profile" in out.stdout and "--quiet" in out.stdout and "--out" in out.stdout
    text = " ".join(out.stdout.split())
    assert "(default: None)" not in text and "package.module:function" in text
    assert "--num-seeds INT Seeds per batch size and rate, trained at once; default 3 (quick), " \
        "8 (full)" in text


@pytest.mark.slow
def test_a_rerun_with_another_problem_is_refused(sweep):
    run_dir, config, *_ = sweep
    other = registry.builtin(**{**TINY_PROBLEM, "hidden": (7,)})
    with pytest.raises(ValueError, match=r"problem: .*hidden: \[6\] -> \[7\]"):
        bs.run(other, config, run_dir, progress=False)
    assert results.read_config(run_dir)["problem"]["builtin"]["hidden"] == [6]


@pytest.mark.slow
def test_tiny_sweep_on_a_plain_jax_mlp_through_the_command_line(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["--problem", "_problems:tiny_mlp", "--problem-option", "num_samples=200",
            "--run-dir", str(run_dir), "--quiet"]
    for field, value in {**TINY, "lr_factors": (1.0,), "dataset_sizes": (60,),
                         "two_batch_sizes": (4, 16)}.items():
        flag = "--" + field.replace("_", "-")
        args += [flag, *map(str, value)] if isinstance(value, tuple) else [flag, str(value)]
    result = cli.main("batch_size", args)
    text = capsys.readouterr().out
    assert text.startswith("B_crit = ")
    for name in ("config.json", "runs.csv", "batch_sizes.csv", "summary.json",
                 "figures/batch_size.png", "figures/batch_size_lr.pdf"):
        assert f"wrote {run_dir / name}" in text, name
    assert result.info["problem"]["source"] == "_problems:tiny_mlp"
    assert len(result.batch["batch_size"]) == 3  # 16, 128 and the full batch (140)
    assert result.summary["skipped"] == {}


@pytest.mark.slow
def test_the_sweep_on_a_flax_nnx_model():
    nnx = pytest.importorskip("flax.nnx")
    from landscape.adapters.flax_nnx import from_nnx

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.hidden = nnx.Linear(2, 6, rngs=rngs, param_dtype=jnp.float64)
            self.drop = nnx.Dropout(0.1, rngs=rngs)
            self.out = nnx.Linear(6, 2, rngs=rngs, param_dtype=jnp.float64)

        def __call__(self, x):
            return self.out(self.drop(nnx.relu(self.hidden(x))))

    ds = data.xor(num_samples=200, seed=1).astype(np.float64)
    prob = from_nnx(lambda key: MLP(nnx.Rngs(key)), ds, name="nnx MLP")
    config = bs.Config(**{**TINY, "max_steps": 100})
    result = bs.run(prob, config, progress=False)
    assert result.info["problem"]["name"] == "nnx MLP"
    assert set(result.runs["batch_size"]) == set(config.batch_sizes(ds.num_train))
    nz = result.noise
    assert np.all(nz["b_simple"] > 0)
    np.testing.assert_allclose(nz["b_simple"], nz["trace_cov"] / nz["grad_sq_norm"], rtol=1e-6)
    assert bs.format_summary(result.summary)
