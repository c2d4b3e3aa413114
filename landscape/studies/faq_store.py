"""What the folklore report stores, and when a stored measurement is reused.

A claim measured on one task is stored in its own directory (``result.json``: config, code
fingerprint, numbers, settings, run times; ``arrays.npz``: what its figure needs). It is
reused only when both its config and :func:`code_fingerprint` match, so a report never
mixes numbers of older code into those of the current one.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from landscape import results

if TYPE_CHECKING:
    from landscape.studies.faq import Measurement

__all__ = ["code_fingerprint", "is_stored", "measured"]


# Sources that never change a measured number: figures, the report, the verdict rules
# (pure functions of the numbers), the reproductions; and the other claims' modules.
_NOT_MEASURING = ("plots/", "studies/reproductions/", "studies/faq.py", "studies/faq_jobs.py",
                  "studies/faq_store.py",
                  "studies/claims/_rules.py", "studies/claims/c")
# Names in a claim module that only word or judge the result.
_WORDING = frozenset({"ID", "TITLE", "RULE", "verdict", "plot", "plot_timing"})


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _defined(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _measuring_part(source: str) -> str:
    """A claim module's code without docstrings and without what only words or judges
    the result: the top-level statements reachable from ``measure``, ``Config`` and
    ``PROFILES`` (imports and other statements are kept)."""
    tree = _strip_docstrings(ast.parse(source))
    named = {n: node for node in tree.body for n in _defined(node)}
    keep, todo = set(), ["measure", "Config", "PROFILES", "OTHER_TASKS", "TASK"]
    while todo:
        name = todo.pop()
        if name in keep or name not in named or name in _WORDING:
            continue
        keep.add(name)
        todo += [n.id for n in ast.walk(named[name]) if isinstance(n, ast.Name)]
        todo += [n.value.id for n in ast.walk(named[name])  # OTHER_TASKS["digits"] = ...
                 if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name)]
    body = [node for node in tree.body
            if (_defined(node) & keep) or not _defined(node)]
    return ast.dump(ast.Module(body=body, type_ignores=[]))


@functools.lru_cache(maxsize=1)
def _core_fingerprint() -> str:
    from importlib import metadata

    root = Path(__file__).resolve().parent.parent  # the landscape package
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(_NOT_MEASURING):
            continue
        digest.update(rel.encode())
        digest.update(ast.dump(_strip_docstrings(ast.parse(path.read_text("utf-8")))).encode())
    digest.update(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')}".encode())  # codegen: last bits
    for name in ("jax", "jaxlib", "numpy", "scipy", "optax", "scikit-learn"):
        try:
            digest.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=none".encode())
    return digest.hexdigest()


def code_fingerprint(module) -> str:
    """A hash of the code a claim's measurement runs: the package's sources (without
    figures, report, verdict rules, docstrings and comments), the measuring part of the
    claim's module, the versions of jax, jaxlib, numpy, scipy, optax and scikit-learn,
    and ``XLA_FLAGS`` (code generation moves the last bits). A stored measurement is
    reused only when this matches, so a report never mixes numbers of older code into
    those of the current one; editing a figure, a verdict or its wording does not
    invalidate a measurement."""
    source = Path(module.__file__).read_text("utf-8")
    digest = hashlib.sha256(_core_fingerprint().encode())
    digest.update(_measuring_part(source).encode())
    return digest.hexdigest()[:16]


def _stored_record(claim_dir: Path, config_dict: dict, code: str | None) -> dict | None:
    """``result.json`` of a claim, if it was made with the same config and code."""
    saved = claim_dir / "result.json"
    if not saved.exists():
        return None
    stored = results.read_json(saved)
    if stored.get("config") != config_dict or stored.get("code") != code:
        return None
    return stored


def is_stored(module, config, claim_dir: Path) -> bool:
    """Whether ``claim_dir`` holds a measurement of ``module`` at ``config`` by this code."""
    return _stored_record(Path(claim_dir), results.to_jsonable(config),
                          code_fingerprint(module)) is not None


def _load_stored(
    claim_dir: Path, config_dict: dict, code: str | None = None
) -> tuple[Measurement, float] | None:
    """The stored measurement of a claim, if it was made with the same config and code."""
    stored = _stored_record(claim_dir, config_dict, code)
    if stored is None:
        return None
    arrays = results.read_arrays(claim_dir / "arrays.npz")
    seconds = (stored["seconds"], stored.get("cpu_seconds", float("nan")))
    from landscape.studies.faq import Measurement  # noqa: F811 (the class itself, at run time)

    return Measurement(stored["numbers"], arrays, stored["settings"]), seconds


def measured(module, config, claim_dir: Path, *, progress: bool = False):
    """``(measurement, seconds, cpu_seconds)`` of ``module`` at ``config``: loaded from
    ``claim_dir`` when it holds a measurement of the same config and code, else measured
    and stored there."""
    config_dict = results.to_jsonable(config)
    code = code_fingerprint(module)
    stored = _load_stored(claim_dir, config_dict, code)
    if stored is None:
        start, cpu_start = time.perf_counter(), time.process_time()
        measurement = module.measure(config, progress=progress)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
        claim_dir.mkdir(parents=True, exist_ok=True)
        results.write_arrays(claim_dir / "arrays.npz", measurement.arrays)
        results.write_json(
            claim_dir / "result.json",
            {
                "config": config_dict,
                "code": code,
                "numbers": measurement.numbers,
                "settings": measurement.settings,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
            },
        )
    else:
        measurement, (seconds, cpu_seconds) = stored
    return measurement, seconds, cpu_seconds
