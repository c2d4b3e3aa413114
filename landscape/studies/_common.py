"""Helpers every study shares, written once: profiles, progress bars, number formatting,
tables as rows or columns, statistics over seeds, timing, and the run-directory files
of a study (config, tables, summary, arrays).

Examples
--------
>>> import numpy as np
>>> table = {"seed": np.arange(2), "loss": np.array([0.5, np.nan]), "ok": np.array([True, False])}
>>> rows = to_rows(table)
>>> rows[1]
{'seed': 1, 'loss': nan, 'ok': False}
>>> to_columns(rows, bool_columns=("ok",))["ok"].tolist()
[True, False]
>>> stats([1.0, 2.0, 3.0, np.nan])["mean"], fmt(2 / 3), fmt(float("nan"))
(2.0, '0.667', 'nan')
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

__all__ = [
    "Profile",
    "block",
    "config_from_json",
    "fmt",
    "index_tree",
    "progress_bar",
    "stats",
    "timed",
    "to_columns",
    "to_rows",
]


class Profile(NamedTuple):
    """A named setting of a study: the built-in problem and the study's config.

    Attributes
    ----------
    problem : mapping
        Keyword arguments of :func:`landscape.registry.builtin` (model, data set,
        widths, ...): the problem the profile runs when no ``--problem`` is given.
    config : dataclass
        The study's frozen ``Config``.
    """

    problem: Mapping[str, Any]
    config: Any

    def build_problem(self, **overrides):
        """The built-in problem of this profile (``overrides`` replace its options)."""
        from landscape import registry

        return registry.builtin(**{**dict(self.problem), **overrides})


def check_inputs(problem, config, config_cls: type, study: str) -> None:
    """Raise, naming the argument, unless ``problem`` is a Problem and ``config`` a
    ``config_cls`` (the first lines of every study's ``run``)."""
    from landscape.problem import Problem

    if not isinstance(problem, Problem):
        raise ValueError(f"problem: expected a landscape.problem.Problem, got "
                         f"{type(problem).__name__} (see landscape.registry.builtin)")
    if not isinstance(config, config_cls):
        raise ValueError(f"config: expected a {study}.{config_cls.__name__}, got "
                         f"{type(config).__name__}")


def progress_bar(iterable: Iterable, total: int | None, desc: str, enabled: bool):
    """A tqdm bar over ``iterable`` (none when ``enabled`` is false); it disappears when
    done (``leave=False``)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not enabled, leave=False)


@contextlib.contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the block to ``timings[name]`` (seconds)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def block(tree):
    """Wait for every array of ``tree`` (for honest timings)."""
    return jax.tree_util.tree_map(lambda x: x.block_until_ready(), tree)


def params_dtype(params) -> np.dtype:
    """The parameters' floating dtype (the first leaf's): the dtype a study casts its
    inputs to (:meth:`landscape.data.Dataset.batch`)."""
    return np.dtype(jax.tree_util.tree_leaves(params)[0].dtype)


def index_tree(tree, i):
    """Entry ``i`` of the leading axis of every leaf (one seed of a seed-stacked pytree)."""
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def fmt(x: Any, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits; ``"nan"``/``"inf"`` for non-finite values
    and ``str(x)`` for anything that is not a number."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def stats(values: Any) -> dict[str, float]:
    """Mean, sample std (``ddof=1``), ``cv = std / mean``, min, max and count of the finite
    entries of ``values`` (NaN where undefined: no entries, or one for ``std``)."""
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": math.nan, "std": math.nan, "cv": math.nan, "min": math.nan,
                "max": math.nan, "count": 0}
    mean = float(np.mean(v))
    std = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
    return {
        "mean": mean,
        "std": std,
        "cv": std / mean if mean != 0 else math.nan,
        "min": float(np.min(v)),
        "max": float(np.max(v)),
        "count": int(v.size),
    }


def to_rows(table: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A table of equal-length columns as a list of rows (dicts of Python scalars)."""
    names = list(table)
    n = len(np.asarray(table[names[0]])) if names else 0
    return [{k: np.asarray(table[k])[i].item() for k in names} for i in range(n)]


def to_columns(rows: Sequence[Mapping[str, Any]], *, bool_columns: Iterable[str] = (),
               str_columns: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """Rows (as :func:`landscape.results.read_table` gives them) as numpy columns: strings
    and the ``str_columns`` stay strings (missing: ``""``), numbers become floats or
    ints (missing: NaN), and the ``bool_columns`` booleans."""
    if not rows:
        return {}
    bool_columns, str_columns = set(bool_columns), set(str_columns)
    out = {}
    for k in rows[0]:
        values = [r[k] for r in rows]
        if k in bool_columns:
            out[k] = np.array([bool(v) for v in values])
        elif k in str_columns or (all(isinstance(v, str) or v is None for v in values)
                                  and any(isinstance(v, str) for v in values)):
            out[k] = np.array(["" if v is None else v for v in values])
        else:
            out[k] = np.array([np.nan if v is None else v for v in values])
    return out


def _field_value(kind: Any, value: Any) -> Any:
    """A JSON value back in the type of a Config field (lists -> tuples)."""
    if isinstance(value, list):
        return tuple(_field_value(None, v) for v in value)
    return value


def config_from_json(cls: type, stored: Mapping[str, Any]):
    """The frozen dataclass ``cls`` from its JSON form (as ``config.json`` stores it)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(stored) - names)
    if unknown:
        raise ValueError(f"config: fields {unknown} are not fields of {cls.__name__}")
    return cls(**{k: _field_value(hints.get(k), v) for k, v in stored.items()})


def optional_type(hint: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, else ``(hint, False)``."""
    args = typing.get_args(hint)
    if (typing.get_origin(hint) in (typing.Union, types.UnionType)
            and type(None) in args and len(args) == 2):
        return next(a for a in args if a is not type(None)), True
    return hint, False


# ----------------------------------------------------------------------------- run files


def write_run(run_dir: str | Path, *, config: Any, problem_info: Mapping[str, Any] | None,
              dtype: str | None, tables: Mapping[str, Mapping[str, Any]],
              json_files: Mapping[str, Any], arrays: Mapping[str, Mapping[str, Any]]) -> None:
    """Write a study's files: ``config.json`` (kept when it is already there with the same
    config, problem and dtype), ``<name>.csv`` for each table, ``<name>.json`` and one
    ``arrays.npz`` holding each group of ``arrays`` as ``group.name``."""
    from landscape import results

    out = Path(run_dir)
    results.write_config(out, config, problem=problem_info, dtype=dtype)
    for name, table in tables.items():
        results.write_table(out / f"{name}.csv", to_rows(table))
    for name, value in json_files.items():
        results.write_json(out / f"{name}.json", value)
    flat = {f"{group}.{k}": np.asarray(v) for group, values in arrays.items()
            for k, v in values.items()}
    results.write_arrays(out / "arrays.npz", flat)


def read_run(run_dir: str | Path, config_cls: type, *, tables: Sequence[str],
             json_files: Sequence[str], bool_columns: Iterable[str] = (),
             str_columns: Iterable[str] = ()):
    """Read back what :func:`write_run` wrote: ``(config, problem_info, dtype, tables,
    json_files, arrays)`` with ``arrays`` grouped by the prefix before the first dot."""
    from landscape import results

    out = Path(run_dir)
    if not (out / "config.json").exists():
        raise ValueError(f"run_dir: {out} holds no config.json (not a finished run)")
    stored = results.read_config(out)
    config = config_from_json(config_cls, stored["config"])
    bool_columns, str_columns = tuple(bool_columns), tuple(str_columns)
    read_tables = {name: to_columns(results.read_table(out / f"{name}.csv"),
                                    bool_columns=bool_columns, str_columns=str_columns)
                   for name in tables}
    read_json = {name: results.read_json(out / f"{name}.json") for name in json_files}
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for key, value in results.read_arrays(out / "arrays.npz").items():
        group, name = key.split(".", 1)
        arrays.setdefault(group, {})[name] = value
    return (config, stored.get("problem"), stored.get("float_dtype"), read_tables, read_json,
            arrays)


def leaves(tree) -> dict[str, np.ndarray]:
    """The leaves of ``tree`` as ``{"0000": ..., "0001": ...}`` (a part of a run directory
    stores a pytree this way; empty for ``None``)."""
    return {f"{i:04d}": np.asarray(x) for i, x in enumerate(jax.tree_util.tree_leaves(tree))}


def unleaves(treedef, stored: Mapping[str, Any] | None):
    """The pytree of structure ``treedef`` from what :func:`leaves` gave."""
    stored = stored or {}
    return jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(stored[k])
                                                  for k in sorted(stored)])
