"""Run directories: a config, tidy tables and arrays on disk, written atomically.

A study writes one directory::

    run_dir/
      config.json        the study's config, the problem (``problem.describe()``), the
                         float dtype, package versions, devices and the git commit
      *.csv              tidy tables: one row per cell (and seed), one column per quantity
      *.npz              arrays, read back with ``allow_pickle=False``
      cells/<name>.npz   one file per finished cell of a sweep (see :func:`run_sweep`)
      parts/<name>.npz   one file per finished part of a study (see :func:`cached_part`)

A rerun into a directory that holds a different config, problem or float dtype
is refused with a message naming what differs (:func:`write_config`): mixing
float32 and float64 cells, or two networks, in one directory would give numbers
that belong to no run. Files are written readable by others (mode 0644).

Every write goes to a temporary file in the same directory, is flushed to disk
and then renamed over the target (``os.replace``, atomic on POSIX and Windows),
so a reader never sees a half-written file and an interrupted sweep loses
nothing already written. Nothing is pickled: configs are JSON, tables CSV,
arrays ``.npz`` of numeric or string dtype.

Examples
--------
>>> import tempfile, numpy as np
>>> run_dir = tempfile.mkdtemp()
>>> def compute(params):
...     return {"square": params["x"] ** 2, "curve": np.arange(3) * params["x"]}
>>> cells = [(f"x={x}", {"x": x}) for x in (1, 2, 3)]
>>> results = run_sweep(run_dir, cells, compute, progress=False)
>>> results["x=3"]["square"]
9
>>> rows = tidy_rows(cells, results)
>>> write_table(f"{run_dir}/sweep.csv", rows)
>>> read_table(f"{run_dir}/sweep.csv")[1]
{'cell': 'x=2', 'x': 2, 'square': 4}
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import platform
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_write",
    "cached_part",
    "environment",
    "float_dtype",
    "git_commit",
    "load_part",
    "read_arrays",
    "read_config",
    "read_json",
    "read_sweep",
    "read_table",
    "run_sweep",
    "save_part",
    "tidy_rows",
    "to_jsonable",
    "write_arrays",
    "write_config",
    "write_json",
    "write_table",
]

CONFIG_FILE = "config.json"
CELLS_DIR = "cells"
PARTS_DIR = "parts"
FILE_MODE = 0o644
# Keys of config.json that change numbers: a rerun must match them exactly.
IDENTITY_KEYS = ("config", "problem", "float_dtype")
# Packages that build data or models, recorded when they have been imported
# (import name -> distribution name).
_OPTIONAL_PACKAGES = {
    "mnist1d": "mnist1d",
    "sklearn": "scikit-learn",
    "flax": "flax",
    "equinox": "equinox",
    "torch": "torch",
}
_TMP_PREFIX = ".tmp-"
_PARAMS_KEY = "__params__"
_CELL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.,=+\-]*$")


# ----------------------------------------------------------------------------- JSON


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types: dicts, lists, str, int, float, bool, None.

    Dataclasses and NamedTuples become dicts of their fields, tuples and sets
    lists, numpy / JAX scalars Python numbers, arrays nested lists, paths and
    dtypes strings. Non-finite floats stay floats (JSON ``NaN``/``Infinity``, as
    Python's :mod:`json` writes them).

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"a": np.float32(0.5), "b": (1, np.int64(2)), "c": np.arange(2)})
    {'a': 0.5, 'b': [1, 2], 'c': [0, 1]}
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int | float):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # NamedTuple
        return {name: to_jsonable(value) for name, value in zip(obj._fields, obj, strict=True)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return [to_jsonable(v) for v in sorted(obj, key=repr)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, np.dtype) or (isinstance(obj, type) and issubclass(obj, np.generic)):
        return np.dtype(obj).name
    if hasattr(obj, "__array__") or isinstance(obj, np.generic):
        array = np.asarray(obj)
        if array.dtype == object:
            return to_jsonable(array.tolist())
        return array.tolist() if array.ndim else array.item()
    raise TypeError(f"to_jsonable: cannot convert {type(obj).__name__} to JSON")


def environment() -> dict[str, Any]:
    """Versions of the package, Python, jax, jaxlib, numpy, optax, scipy and of every
    package that builds data or models and has been imported (mnist1d, scikit-learn,
    flax, equinox), the devices, and the git commit of the package when it runs from
    a git checkout."""
    import sys
    from importlib import metadata

    versions = {"python": platform.python_version()}
    names = ["landscape", "jax", "jaxlib", "numpy", "optax", "scipy"]
    names += [dist for module, dist in _OPTIONAL_PACKAGES.items() if module in sys.modules]
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        import jax

        devices = [
            {"platform": d.platform, "kind": getattr(d, "device_kind", ""), "id": d.id}
            for d in jax.devices()
        ]
        backend = jax.default_backend()
    except RuntimeError as error:  # no backend could be initialised
        devices, backend = [], f"unavailable: {error}"
    return {
        "versions": versions,
        "git": git_commit(),
        "backend": backend,
        "devices": devices,
        "platform": platform.platform(),
    }


def git_commit(path: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding ``path`` (default:
    this package), or ``None`` when it is not in one or git is not installed."""
    import subprocess

    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=where, capture_output=True, text=True, timeout=10,
                                check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": bool(status.strip())} if sha else None


def float_dtype() -> str:
    """The float dtype JAX computes in now: ``"float64"`` with x64 on, else ``"float32"``.

    Examples
    --------
    >>> float_dtype() in ("float32", "float64")
    True
    """
    import jax

    return "float64" if jax.config.jax_enable_x64 else "float32"


# ----------------------------------------------------------------------------- atomic files


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs):
    """Open a temporary file next to ``path``; on success rename it over ``path``.

    The file is flushed and fsynced before ``os.replace`` and given mode 0644
    (readable by others, as git checks files out); on an exception the
    temporary file is removed and ``path`` is left as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode: must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600; others may read results
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _clean_temporaries(directory: Path) -> None:
    """Remove temporary files that an interrupted process left behind."""
    if directory.is_dir():
        for leftover in directory.glob(_TMP_PREFIX + "*"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``to_jsonable(obj)`` as indented JSON, atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False)
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ----------------------------------------------------------------------------- config


def write_config(
    run_dir: str | os.PathLike,
    config: Any,
    *,
    problem: Any = None,
    dtype: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write ``run_dir/config.json``: the config, the problem, the float dtype, and
    :func:`environment` (versions, devices, git commit).

    If the run directory already holds a config, the parts that change numbers
    (:data:`IDENTITY_KEYS`: the study config, ``problem.describe()`` and the float
    dtype) must be the same (compared as JSON); then the file is kept as it is
    and a resumed run goes on in the same directory. Anything different raises,
    naming what differs, unless ``overwrite=True``.

    Parameters
    ----------
    run_dir : path
    config : dataclass, NamedTuple or mapping
        The study's settings.
    problem : Problem or mapping, optional
        Recorded as ``problem.describe()`` (a mapping as it is).
    dtype : {"float32", "float64"}, optional
        The float dtype of the run; default :func:`float_dtype` (x64 on or off).
    overwrite : bool
        Replace a different config.

    Returns
    -------
    dict
        The contents of ``config.json``.

    Raises
    ------
    ValueError
        If ``run_dir`` holds a different config, problem or dtype and ``overwrite``
        is false.

    Examples
    --------
    >>> import tempfile
    >>> run_dir = tempfile.mkdtemp()
    >>> _ = write_config(run_dir, {"steps": 10}, dtype="float32")
    >>> write_config(run_dir, {"steps": 10}, dtype="float64")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: config: ...(float_dtype: 'float32' -> 'float64'); ...
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _clean_temporaries(run_dir)
    path = run_dir / CONFIG_FILE
    if dtype is None:
        dtype = float_dtype()
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype: must be 'float32' or 'float64', got {dtype!r}")
    described = problem.describe() if hasattr(problem, "describe") else problem
    identity = {"config": config, "problem": described, "float_dtype": dtype}
    # JSON round trip so that tuples/lists and NaNs compare like the stored file
    identity = json.loads(json.dumps(to_jsonable(identity)))
    if path.exists() and not overwrite:
        old = read_json(path)
        old_identity = {k: old.get(k) for k in IDENTITY_KEYS}
        if _json_equal(old_identity, identity):
            return old
        changed = "; ".join(
            f"{k}: {_diff(old_identity[k], identity[k])}"
            for k in IDENTITY_KEYS if not _json_equal(old_identity[k], identity[k])
        )
        raise ValueError(
            f"config: {run_dir} already holds a run with a different config ({changed}); "
            "use a new run directory, or overwrite=True to replace it"
        )
    content = {
        "config_type": f"{type(config).__module__}.{type(config).__qualname__}",
        **identity,
        "x64": dtype == "float64",
        **environment(),
    }
    write_json(path, content)
    return json.loads(json.dumps(content))


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The contents of ``run_dir/config.json`` (keys ``config``, ``config_type``,
    ``problem``, ``float_dtype``, ``x64``, ``versions``, ``git``, ``backend``,
    ``devices``, ``platform``)."""
    return read_json(Path(run_dir) / CONFIG_FILE)


def _json_equal(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _diff(old, new, prefix: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = [k for k in {**old, **new} if not _json_equal(old.get(k), new.get(k))]
        parts = []
        for k in keys[:5]:
            a, b = old.get(k), new.get(k)
            if isinstance(a, dict) and isinstance(b, dict):
                parts.append(_diff(a, b, f"{prefix}{k}."))
            else:
                parts.append(f"{prefix}{k}: {a!r} -> {b!r}")
        return ", ".join(parts) + (", ..." if len(keys) > 5 else "")
    return f"{prefix.rstrip('.')}{': ' if prefix else ''}{old!r} -> {new!r}"


# ----------------------------------------------------------------------------- tables


def _cell_value(value: Any) -> Any:
    value = to_jsonable(value)
    if isinstance(value, dict | list):
        raise ValueError(f"rows: a table cell must be a scalar, got {value!r}")
    return value


def write_table(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` (dicts of scalars) as a CSV table, atomically.

    The columns are the union of the rows' keys in order of first appearance; a
    missing entry is written empty and read back as ``None``.
    """
    rows = list(rows)
    columns: dict[str, None] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            raise ValueError(f"rows: expected dicts, got {type(row).__name__}")
        columns.update(dict.fromkeys(str(k) for k in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = {str(k): _cell_value(v) for k, v in row.items()}
        writer.writerow(["" if values.get(c) is None else values[c] for c in columns])
    with atomic_write(path, "w", encoding="utf-8", newline="") as f:
        f.write(buffer.getvalue())


def _parse_column(values: list[str]) -> list[Any]:
    present = [v for v in values if v != ""]
    for kind in (int, float):
        try:
            parsed = [kind(v) for v in present]
        except ValueError:
            continue
        it = iter(parsed)
        return [None if v == "" else next(it) for v in values]
    if present and all(v in ("True", "False") for v in present):
        return [None if v == "" else v == "True" for v in values]
    return [None if v == "" else v for v in values]


def read_table(path: str | os.PathLike, *, pandas: bool = False):
    """Read a CSV table written by :func:`write_table`.

    Returns a list of dicts, one per row, with each column parsed as int, float,
    bool or str (whichever fits every entry; empty entries are ``None``); with
    ``pandas=True``, a :class:`pandas.DataFrame` instead (pandas must be installed).
    """
    if pandas:
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("read_table(pandas=True) needs pandas: pip install pandas") from None
        return pd.read_csv(path)
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            return []
        raw = list(reader)
    columns = [_parse_column([row[i] for row in raw]) for i in range(len(header))]
    return [
        {name: columns[i][r] for i, name in enumerate(header)} for r in range(len(raw))
    ]


def tidy_rows(
    cells: Sequence[tuple[str, Mapping[str, Any]]],
    results: Mapping[str, Mapping[str, Any]],
    *,
    per_seed: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """A tidy table of a sweep: one row per cell, or per cell and seed.

    Each row holds ``cell`` (the name), the cell's parameters and the scalar
    results. Results named in ``per_seed`` are 1-D arrays of one value per seed;
    they give one row per seed with a ``seed`` column. Other arrays are left
    out (store them with :func:`write_arrays`).
    """
    per_seed = list(per_seed)
    rows = []
    for name, params in cells:
        result = results[name]
        base = {"cell": name, **{k: _cell_value(v) for k, v in params.items()}}
        base.update({k: v for k, v in result.items() if k not in per_seed and np.ndim(v) == 0})
        base = {k: _cell_value(v) for k, v in base.items()}
        if not per_seed:
            rows.append(base)
            continue
        seed_values = {k: np.asarray(result[k]) for k in per_seed}
        lengths = {v.shape for v in seed_values.values()}
        if len(lengths) != 1 or len(next(iter(lengths))) != 1:
            raise ValueError(f"per_seed: expected 1-D results of one length, got shapes {lengths}")
        for s in range(next(iter(lengths))[0]):
            rows.append({**base, "seed": s, **{k: v[s].item() for k, v in seed_values.items()}})
    return rows


# ----------------------------------------------------------------------------- arrays


def _as_savable(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind == "V":
        raise ValueError(f"{name}: cannot store dtype {array.dtype} without pickle")
    return array


def write_arrays(path: str | os.PathLike, arrays: Mapping[str, Any]) -> None:
    """Write named arrays (numeric, bool or str) to an ``.npz`` file, atomically."""
    payload = {str(k): _as_savable(str(k), v) for k, v in arrays.items()}
    for k in payload:
        if not k.isidentifier() and not re.fullmatch(r"[A-Za-z0-9_.\-]+", k):
            raise ValueError(f"arrays: name {k!r} must be letters, digits, '_', '.', '-'")
    with atomic_write(path, "wb") as f:
        np.savez(f, **payload)


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, loaded with ``allow_pickle=False``."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


# ----------------------------------------------------------------------------- sweeps


def _normalise(array: np.ndarray) -> Any:
    """0-d arrays become Python scalars; others stay numpy arrays."""
    return array.item() if array.ndim == 0 else array


def _cell_path(run_dir: Path, name: str) -> Path:
    return run_dir / CELLS_DIR / f"{name}.npz"


def run_sweep(
    run_dir: str | os.PathLike,
    cells: Sequence[tuple[str, Mapping[str, Any]]],
    compute: Callable[[dict[str, Any]], Mapping[str, Any]],
    *,
    config: Any = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Compute every cell of a sweep once, resuming where an earlier run stopped.

    For each ``(name, params)`` in ``cells``: if ``run_dir/cells/<name>.npz``
    exists, its result is loaded; otherwise ``compute(params)`` runs and its
    result (a dict of scalars and arrays) is written atomically before the next
    cell starts. A sweep killed at any point therefore resumes by recomputing
    only the cells that had not been written.

    Parameters
    ----------
    run_dir : path
    cells : sequence of (str, dict)
        Unique names (letters, digits, ``_.,=+-``) and JSON-able parameters.
    compute : callable
        ``compute(params) -> {name: scalar or array}`` (no pickled objects).
    config : optional
        Written to ``config.json`` with :func:`write_config` (a different config
        already in ``run_dir`` raises unless ``overwrite``).
    overwrite : bool
        Replace a different config and recompute every cell.
    progress : bool
        A tqdm bar over the cells.

    Returns
    -------
    dict
        ``{name: result}`` in the order of ``cells``; 0-d results are Python
        scalars, others numpy arrays, whether computed now or loaded.

    Raises
    ------
    ValueError
        For duplicate or unsafe cell names, or a stored cell whose parameters
        differ from the requested ones.
    """
    from tqdm.auto import tqdm

    run_dir = Path(run_dir)
    names = [name for name, _ in cells]
    for name in names:
        if not isinstance(name, str) or not _CELL_NAME.match(name):
            raise ValueError(
                f"cells: name {name!r} must start with a letter or digit and contain only "
                f"letters, digits and _.,=+-"
            )
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"cells: duplicate names {duplicates}")
    params_json = {name: json.dumps(to_jsonable(dict(p)), sort_keys=True) for name, p in cells}
    if config is not None:
        write_config(run_dir, config, overwrite=overwrite)
    cell_dir = run_dir / CELLS_DIR
    cell_dir.mkdir(parents=True, exist_ok=True)
    _clean_temporaries(cell_dir)

    results: dict[str, dict[str, Any]] = {}
    todo = []
    for name, _ in cells:
        path = _cell_path(run_dir, name)
        if path.exists() and not overwrite:
            stored = read_arrays(path)
            stored_params = str(stored.pop(_PARAMS_KEY, np.asarray("")).item())
            if stored_params != params_json[name]:
                raise ValueError(
                    f"cells: {path} was computed with params {stored_params}, not "
                    f"{params_json[name]}; use a new run directory or overwrite=True"
                )
            results[name] = {k: _normalise(v) for k, v in stored.items()}
        else:
            todo.append(name)

    params_of = dict(cells)
    with tqdm(total=len(cells), initial=len(cells) - len(todo), desc="cells",
              disable=not progress) as bar:
        for name in todo:
            bar.set_postfix_str(name)
            result = compute(dict(params_of[name]))
            if not isinstance(result, Mapping):
                raise ValueError(
                    "compute: must return a dict of scalars and arrays, "
                    f"got {type(result).__name__}"
                )
            if _PARAMS_KEY in result:
                raise ValueError(f"compute: {_PARAMS_KEY!r} is a reserved result name")
            arrays = {str(k): _as_savable(f"compute result {k!r}", v) for k, v in result.items()}
            write_arrays(
                _cell_path(run_dir, name), {**arrays, _PARAMS_KEY: np.asarray(params_json[name])}
            )
            results[name] = {k: _normalise(v) for k, v in arrays.items()}
            bar.update()
    return {name: results[name] for name in names}


def read_sweep(
    run_dir: str | os.PathLike,
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """The finished cells of a sweep, without computing anything.

    Returns ``(cells, results)`` in the shapes :func:`run_sweep` takes and returns
    (cells sorted by name), so that ``tidy_rows(*read_sweep(run_dir))`` is the
    sweep's table.
    """
    cells, results = [], {}
    for path in sorted((Path(run_dir) / CELLS_DIR).glob("*.npz")):
        stored = read_arrays(path)
        params = json.loads(str(stored.pop(_PARAMS_KEY, np.asarray("{}")).item()))
        cells.append((path.stem, params))
        results[path.stem] = {k: _normalise(v) for k, v in stored.items()}
    return cells, results


# ----------------------------------------------------------------------------- parts


def _part_path(run_dir: Path, name: str) -> Path:
    if not isinstance(name, str) or not _CELL_NAME.match(name):
        raise ValueError(
            f"name: part name {name!r} must start with a letter or digit and contain only "
            "letters, digits and _.,=+-"
        )
    return Path(run_dir) / PARTS_DIR / f"{name}.npz"


def _flatten_part(value: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    flat = {}
    for key, item in value.items():
        key = str(key)
        if "/" in key or not key:
            raise ValueError(f"part: key {key!r} must be non-empty and contain no '/'")
        if isinstance(item, Mapping):
            flat.update(_flatten_part(item, f"{prefix}{key}/"))
        else:
            array = np.asarray(item)
            if array.dtype == object:  # e.g. a column of Python strings
                array = array.astype(str)
            flat[prefix + key] = _as_savable(prefix + key, array)
    return flat


def _unflatten_part(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split("/")
        node = out
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = _normalise(value)
    return out


def save_part(run_dir: str | os.PathLike, name: str, value: Mapping[str, Any]) -> Path:
    """Write one finished part of a study, ``run_dir/parts/<name>.npz``, atomically.

    ``value`` is a dict of arrays and scalars, possibly nested (nested keys are
    stored as ``outer/inner``); strings are stored as numpy strings. Returns the path.
    """
    path = _part_path(Path(run_dir), name)
    payload = _flatten_part(value)
    with atomic_write(path, "wb") as f:
        np.savez(f, **payload)
    return path


def load_part(run_dir: str | os.PathLike | None, name: str) -> dict[str, Any] | None:
    """The part ``name`` of ``run_dir`` as :func:`save_part` wrote it (0-d arrays as Python
    scalars), or ``None`` when it is not finished (or ``run_dir`` is ``None``)."""
    if run_dir is None:
        return None
    path = _part_path(Path(run_dir), name)
    if not path.exists():
        return None
    return _unflatten_part(read_arrays(path))


def cached_part(
    run_dir: str | os.PathLike | None,
    name: str,
    compute: Callable[[], Mapping[str, Any]],
) -> dict[str, Any]:
    """``compute()`` once per run directory: the stored part when ``run_dir`` already has
    it, else computed and written before returning, so that a study killed after this
    part resumes without recomputing it. With ``run_dir=None``, always computed.

    The value comes back in the form :func:`load_part` gives (0-d arrays as scalars,
    strings as numpy strings) whether it was computed now or loaded, so that a
    resumed run goes on with exactly what a fresh one would have.

    Examples
    --------
    >>> import tempfile
    >>> run_dir = tempfile.mkdtemp()
    >>> calls = []
    >>> def train():
    ...     calls.append(1)
    ...     return {"loss": np.array([0.5, 0.25]), "steps": 10, "curves": {"t": np.arange(3)}}
    >>> first = cached_part(run_dir, "train", train)
    >>> again = cached_part(run_dir, "train", train)
    >>> len(calls), again["steps"], again["curves"]["t"].tolist()
    (1, 10, [0, 1, 2])
    """
    stored = load_part(run_dir, name)
    if stored is not None:
        return stored
    value = compute()
    if not isinstance(value, Mapping):
        raise ValueError(f"compute: must return a dict of arrays, got {type(value).__name__}")
    flat = _flatten_part(value)
    if run_dir is not None:
        path = _part_path(Path(run_dir), name)
        path.parent.mkdir(parents=True, exist_ok=True)
        _clean_temporaries(path.parent)
        with atomic_write(path, "wb") as f:
            np.savez(f, **flat)
    return _unflatten_part(flat)
