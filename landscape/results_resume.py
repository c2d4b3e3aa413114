"""Resuming a study: the cells of a sweep (:func:`run_sweep`) and the parts of a study
(:func:`cached_part`), each written atomically as it finishes so that an interrupted run
recomputes only what it had not written. Re-exported by :mod:`landscape.results`.

Examples
--------
>>> import tempfile
>>> run_dir = tempfile.mkdtemp()
>>> cached_part(run_dir, "train", lambda: {"loss": np.array([0.5])})["loss"].tolist()
[0.5]
>>> load_part(run_dir, "train")["loss"].tolist()
[0.5]
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from landscape.results import (
    _CELL_NAME,
    _PARAMS_KEY,
    CELLS_DIR,
    PARTS_DIR,
    _as_savable,
    _clean_temporaries,
    atomic_write,
    read_arrays,
    to_jsonable,
    write_arrays,
    write_config,
)

__all__ = ["cached_part", "load_part", "read_sweep", "run_sweep", "save_part"]


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
