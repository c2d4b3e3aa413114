"""A study in phases: each finished phase is written to the run directory at once, and a
rerun loads it instead of computing it again.

:class:`Store` wraps :func:`landscape.results.run_sweep` with one cell per phase;
without a run directory it just computes. Model state (a pytree, ``None`` for a
stateless network) is stored as numbered leaves and rebuilt on the structure of a
template.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from landscape import results
from landscape.problem import Problem

__all__ = ["Store", "progress_bar", "state_arrays", "state_from_arrays"]

read_arrays, read_json, write_arrays, write_json = (
    results.read_arrays, results.read_json, results.write_arrays, results.write_json
)


def _record(study: str, config: Any, problem: Mapping[str, Any]) -> dict[str, Any]:
    return {"study": study, "study_config": config, "problem": dict(problem),
            "x64": bool(jax.config.jax_enable_x64)}


def write_config(run_dir, study: str, config: Any, problem: Mapping[str, Any] | Problem):
    """``config.json`` with the study config, the problem and the float dtype; a directory
    holding anything else is refused (:func:`landscape.results.write_config`)."""
    describe = problem.describe() if isinstance(problem, Problem) else problem
    return results.write_config(run_dir, _record(study, config, describe))


def read_config(run_dir) -> dict[str, Any]:
    """``{"config": study config fields, "problem": describe(), "x64": bool}``."""
    stored = results.read_config(run_dir)["config"]
    config = {k: tuple(v) if isinstance(v, list) else v
              for k, v in stored["study_config"].items()}
    return {"config": config, "problem": stored["problem"], "x64": stored["x64"]}


class Store:
    """Phases of one study run: ``store.phase(name, compute)`` returns the phase's arrays,
    loaded from ``run_dir/cells/<name>.npz`` when an earlier run finished it."""

    def __init__(self, run_dir: str | Path | None, study: str, config: Any, problem: Problem):
        self.run_dir = None if run_dir is None else Path(run_dir)
        if self.run_dir is not None:
            write_config(self.run_dir, study, config, problem)

    def phase(self, name: str, compute: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
        if self.run_dir is None:
            return dict(compute())
        return results.run_sweep(self.run_dir, [(name, {})], lambda _: compute(),
                                 progress=False)[name]


def state_arrays(prefix: str, state: Any) -> dict[str, np.ndarray]:
    """The leaves of ``state`` as ``{prefix_0: ..., prefix_1: ...}`` (empty for ``None``)."""
    return {f"{prefix}_{i}": np.asarray(leaf)
            for i, leaf in enumerate(jax.tree_util.tree_leaves(state))}


def state_from_arrays(prefix: str, arrays: Mapping[str, Any], template: Any) -> Any:
    """The inverse of :func:`state_arrays` on the structure of ``template``."""
    leaves, treedef = jax.tree_util.tree_flatten(template)
    stored = [np.asarray(arrays[f"{prefix}_{i}"]) for i in range(len(leaves))]
    return jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(a) for a in stored])


def progress_bar(iterable, desc: str, progress: bool):
    """A tqdm bar over ``iterable`` when ``progress``."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, disable=not progress, leave=False)
