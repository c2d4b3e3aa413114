"""Run directories: JSON config, CSV tables, npz arrays, atomic writes, resumable sweeps."""

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pytest
from _kill import kill_when

from landscape import results
from landscape.results import (
    atomic_write,
    read_arrays,
    read_config,
    read_sweep,
    read_table,
    run_sweep,
    tidy_rows,
    to_jsonable,
    write_arrays,
    write_config,
    write_table,
)
from landscape.train import TrainConfig

HERE = Path(__file__).parent


class Point(NamedTuple):
    x: float
    y: np.ndarray


@dataclasses.dataclass(frozen=True)
class Study:
    name: str = "demo"
    sizes: tuple = (1, 2)
    rate: float = 0.5


# ----------------------------------------------------------------------------- JSON


def test_to_jsonable_handles_configs_tuples_and_numpy():
    obj = {
        "config": TrainConfig(optimizer="adam", batch_size=32),
        "point": Point(np.float32(0.25), np.arange(3)),
        "scalars": (np.int64(3), np.bool_(True), jnp.asarray(1.5), np.float64("nan")),
        "path": Path("a") / "b",
        "dtype": np.dtype("float32"),
    }
    out = to_jsonable(obj)
    assert out["config"]["optimizer"] == "adam" and out["config"]["batch_size"] == 32
    assert out["config"]["decay_every"] is None
    assert out["point"] == {"x": 0.25, "y": [0, 1, 2]}
    assert out["scalars"][:3] == [3, True, 1.5] and math.isnan(out["scalars"][3])
    assert type(out["scalars"][0]) is int and type(out["scalars"][1]) is bool
    assert out["path"] == os.path.join("a", "b") and out["dtype"] == "float32"
    json.dumps(out)  # plain JSON types only
    with pytest.raises(TypeError, match="to_jsonable"):
        to_jsonable(object())


# ----------------------------------------------------------------------------- config


def test_config_has_versions_and_refuses_a_different_config(tmp_path):
    content = write_config(tmp_path, Study())
    stored = read_config(tmp_path)
    assert stored == content
    assert stored["config"] == {"name": "demo", "sizes": [1, 2], "rate": 0.5}
    assert stored["config_type"].endswith("Study")
    for name in ("landscape", "jax", "numpy", "python"):
        assert stored["versions"][name], name
    assert stored["devices"] and stored["devices"][0]["platform"] == "cpu"
    # the same config again: accepted, file untouched
    mtime = (tmp_path / "config.json").stat().st_mtime_ns
    assert write_config(tmp_path, Study()) == stored
    assert (tmp_path / "config.json").stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match=r"^config: .*different config.*rate: 0.5 -> 0.1"):
        write_config(tmp_path, Study(rate=0.1))
    assert read_config(tmp_path)["config"]["rate"] == 0.5  # untouched by the refusal
    write_config(tmp_path, Study(rate=0.1), overwrite=True)
    assert read_config(tmp_path)["config"]["rate"] == 0.1


def test_config_records_problem_dtype_versions_and_commit(tmp_path):
    from landscape import registry

    prob = registry.builtin("mlp", dataset="gaussian_mixture", hidden=(4,), num_samples=60)
    stored = write_config(tmp_path, Study(), problem=prob)
    assert stored["problem"]["name"] == prob.name
    assert stored["problem"]["builtin"]["hidden"] == [4]
    assert stored["float_dtype"] == "float64" and stored["x64"] is True  # conftest: x64 on
    assert set(stored["versions"]) >= {"jax", "numpy", "landscape"}
    git = stored["git"]
    assert git is None or len(git["commit"]) == 40
    # another problem into the same directory: refused, naming the problem field
    other = registry.builtin("mlp", dataset="gaussian_mixture", hidden=(5,), num_samples=60)
    with pytest.raises(ValueError, match=r"problem: .*hidden: \[4\] -> \[5\]"):
        write_config(tmp_path, Study(), problem=other)


def test_config_refuses_a_rerun_with_x64_flipped(tmp_path):
    import jax

    write_config(tmp_path, Study(), dtype="float32")
    with pytest.raises(ValueError, match="float_dtype: 'float32' -> 'float64'"):
        write_config(tmp_path, Study())  # x64 is on in the tests
    saved = jax.config.jax_enable_x64
    try:
        jax.config.update("jax_enable_x64", False)
        assert results.float_dtype() == "float32"
        assert write_config(tmp_path, Study())["float_dtype"] == "float32"  # same dtype: resumes
    finally:
        jax.config.update("jax_enable_x64", saved)
    with pytest.raises(ValueError, match="dtype: must be"):
        write_config(tmp_path / "b", Study(), dtype="float16")


def test_files_are_readable_by_others(tmp_path):
    write_config(tmp_path, Study())
    write_table(tmp_path / "t.csv", [{"a": 1}])
    write_arrays(tmp_path / "a.npz", {"x": np.arange(3)})
    results.save_part(tmp_path, "train", {"x": np.arange(2)})
    for path in ("config.json", "t.csv", "a.npz", "parts/train.npz"):
        assert (tmp_path / path).stat().st_mode & 0o777 == 0o644, path


def test_cached_part_computes_once_and_round_trips(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"table": {"loss": np.array([0.5, np.nan]), "kind": np.array(["min", "saddle"],
                                                                            dtype=object)},
                "count": 3, "name": "x"}

    assert results.load_part(tmp_path, "train") is None
    assert results.load_part(None, "train") is None
    first = results.cached_part(tmp_path, "train", compute)
    second = results.cached_part(tmp_path, "train", compute)
    assert len(calls) == 1
    for value in (first, second):
        np.testing.assert_array_equal(value["table"]["loss"], [0.5, np.nan])
        assert value["table"]["kind"].tolist() == ["min", "saddle"]
        assert value["count"] == 3 and value["name"] == "x"
    results.cached_part(None, "train", compute)  # no run directory: always computed
    assert len(calls) == 2
    with pytest.raises(ValueError, match="name: part name"):
        results.save_part(tmp_path, "../escape", {"x": 1})


# ----------------------------------------------------------------------------- tables and arrays


def test_table_round_trip(tmp_path):
    rows = [
        {"cell": "a", "seed": 0, "loss": 0.1 + 0.2, "ok": True, "note": "x,y \"quoted\""},
        {"cell": "b", "seed": np.int64(1), "loss": np.float32(1e-30), "ok": False},
        {"cell": "c", "seed": 2, "loss": float("nan"), "ok": True, "note": "", "extra": 7},
    ]
    path = tmp_path / "table.csv"
    write_table(path, rows)
    back = read_table(path)
    assert [r["cell"] for r in back] == ["a", "b", "c"]
    assert [r["seed"] for r in back] == [0, 1, 2] and all(type(r["seed"]) is int for r in back)
    assert back[0]["loss"] == 0.1 + 0.2  # repr round trip: exact
    assert back[1]["loss"] == float(np.float32(1e-30))
    assert math.isnan(back[2]["loss"])
    assert [r["ok"] for r in back] == [True, False, True]
    assert back[0]["note"] == 'x,y "quoted"' and back[1]["note"] is None
    assert back[0]["extra"] is None and back[2]["extra"] == 7
    assert list(back[0]) == ["cell", "seed", "loss", "ok", "note", "extra"]
    with pytest.raises(ValueError, match="^rows:"):
        write_table(tmp_path / "bad.csv", [{"a": [1, 2]}])
    assert not (tmp_path / "bad.csv").exists()


def test_table_to_pandas(tmp_path):
    pd = pytest.importorskip("pandas")
    write_table(tmp_path / "t.csv", [{"a": 1, "b": 0.5}, {"a": 2, "b": 1.5}])
    frame = read_table(tmp_path / "t.csv", pandas=True)
    assert isinstance(frame, pd.DataFrame)
    assert frame["a"].tolist() == [1, 2] and frame["b"].tolist() == [0.5, 1.5]


def test_arrays_round_trip_without_pickle(tmp_path):
    arrays = {
        "loss": np.linspace(0, 1, 7),
        "labels": np.arange(5, dtype=np.int32),
        "flags": np.array([True, False]),
        "names": np.array(["relu", "tanh"]),
        "scalar": np.float64(3.5),
        "from_jax": jnp.ones((2, 3)),
    }
    path = tmp_path / "arrays.npz"
    write_arrays(path, arrays)
    back = read_arrays(path)
    assert set(back) == set(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(back[name], np.asarray(value))
        assert back[name].dtype == np.asarray(value).dtype
    with np.load(path, allow_pickle=False) as f:  # loads without pickle
        assert f["names"].tolist() == ["relu", "tanh"]
    with pytest.raises(ValueError, match="without pickle"):
        write_arrays(tmp_path / "obj.npz", {"bad": np.array([{"a": 1}], dtype=object)})
    assert not (tmp_path / "obj.npz").exists()


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "data.json"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(path) as f:
            f.write("half written")
            raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json"]  # no temporary left
    with atomic_write(path) as f:
        f.write("new")
    assert path.read_text() == "new"


# ----------------------------------------------------------------------------- sweeps


def test_sweep_computes_each_cell_once_and_loads_back(tmp_path):
    calls = []

    def compute(params):
        calls.append(params["x"])
        x = params["x"]
        return {"square": x**2, "half": x / 2, "per_seed": np.arange(3) * x,
                "kind": "even" if x % 2 == 0 else "odd"}

    cells = [(f"x={x}", {"x": x}) for x in range(4)]
    first = run_sweep(tmp_path, cells, compute, config=Study(), progress=False)
    assert calls == [0, 1, 2, 3]
    again = run_sweep(tmp_path, cells, compute, config=Study(), progress=False)
    assert calls == [0, 1, 2, 3]  # nothing recomputed
    assert list(again) == [name for name, _ in cells]
    for name in first:
        assert first[name].keys() == again[name].keys()
        assert first[name]["square"] == again[name]["square"] and type(again[name]["square"]) is int
        assert again[name]["kind"] == first[name]["kind"]
        np.testing.assert_array_equal(again[name]["per_seed"], first[name]["per_seed"])
    # a new cell is computed alone
    run_sweep(tmp_path, [*cells, ("x=9", {"x": 9})], compute, progress=False)
    assert calls == [0, 1, 2, 3, 9]
    # same name, other params: refused rather than silently reused
    with pytest.raises(ValueError, match="^cells: .*computed with params"):
        run_sweep(tmp_path, [("x=1", {"x": 5})], compute, progress=False)
    with pytest.raises(ValueError, match="^config:"):
        run_sweep(tmp_path, cells, compute, config=Study(name="other"), progress=False)
    rows = tidy_rows(cells, again, per_seed=["per_seed"])
    assert len(rows) == 12 and rows[4] == {
        "cell": "x=1", "x": 1, "square": 1, "half": 0.5, "kind": "odd", "seed": 1, "per_seed": 1,
    }
    assert tidy_rows(cells[:1], again)[0] == {"cell": "x=0", "x": 0, "square": 0, "half": 0.0,
                                              "kind": "even"}
    stored_cells, stored = read_sweep(tmp_path)  # everything on disk, nothing computed
    assert stored_cells == [*cells, ("x=9", {"x": 9})]
    assert stored["x=2"]["square"] == 4 and calls == [0, 1, 2, 3, 9]


@pytest.mark.parametrize(
    "cells, match",
    [
        ([("a", {}), ("a", {})], "duplicate"),
        ([("../escape", {})], "must start"),
        ([("a b", {})], "must start"),
        ([("", {})], "must start"),
    ],
)
def test_sweep_rejects_bad_cell_names(tmp_path, cells, match):
    with pytest.raises(ValueError, match=f"^cells: .*{match}"):
        run_sweep(tmp_path, cells, lambda p: {"v": 1}, progress=False)


def test_sweep_rejects_unstorable_results(tmp_path):
    with pytest.raises(ValueError, match="without pickle"):
        run_sweep(tmp_path, [("a", {})], lambda p: {"v": {"nested": 1}}, progress=False)
    with pytest.raises(ValueError, match="^compute:"):
        run_sweep(tmp_path, [("a", {})], lambda p: [1, 2], progress=False)
    assert list((tmp_path / "cells").iterdir()) == []


def test_sweep_removes_leftover_temporaries(tmp_path):
    cells_dir = tmp_path / "cells"
    cells_dir.mkdir()
    (cells_dir / ".tmp-a.npz.123").write_bytes(b"PK\x03\x04 truncated")
    out = run_sweep(tmp_path, [("a", {"x": 1})], lambda p: {"v": p["x"]}, progress=False)
    assert out == {"a": {"v": 1}}
    assert sorted(p.name for p in cells_dir.iterdir()) == ["a.npz"]


def _cell_files(run_dir):
    cells = Path(run_dir) / "cells"
    return sorted(p for p in cells.glob("*.npz")) if cells.is_dir() else []


@pytest.mark.slow
def test_sweep_killed_midway_resumes_without_recomputing(tmp_path):
    run_dir, log = tmp_path / "run", tmp_path / "log.txt"
    num_cells = 6
    cmd = [sys.executable, str(HERE / "_sweep_worker.py"), str(run_dir), str(log),
           str(num_cells), "0.4"]
    kill_when(cmd, lambda: len(_cell_files(run_dir)) >= 2, timeout=120)  # two finished cells
    finished = _cell_files(run_dir)
    assert 2 <= len(finished) < num_cells, finished
    for path in finished:  # every file present is complete
        arrays = read_arrays(path)
        x = int(path.stem.split("-")[1])
        assert arrays["square"] == x * x
        np.testing.assert_array_equal(arrays["curve"], np.arange(200_000, dtype=np.float64) * x)
    started_first = log.read_text().split()
    done_names = {p.stem for p in finished}
    assert done_names <= set(started_first)

    subprocess.run(cmd, check=True, timeout=300, capture_output=True)
    started_second = log.read_text().split()[len(started_first):]
    all_names = {f"cell-{i:02d}" for i in range(num_cells)}
    assert set(started_second) == all_names - done_names  # only the unfinished cells
    assert len(started_second) == len(set(started_second))
    assert {p.stem for p in _cell_files(run_dir)} == all_names
    assert not list((run_dir / "cells").glob(".tmp-*"))
    assert read_config(run_dir)["config"] == {"study": "kill-test", "num_cells": num_cells}
    for path in _cell_files(run_dir):
        x = int(path.stem.split("-")[1])
        arrays = read_arrays(path)
        assert arrays["square"] == x * x and str(arrays["tag"]) == f"x{x}"


def test_module_exports():
    for name in results.__all__:
        assert hasattr(results, name), name
