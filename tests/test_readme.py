"""The README's Python blocks (the quick start and the "Your own model" snippets) run as
they stand, in a fresh interpreter with JAX's default settings (as a reader would run
them)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(heading: str) -> list[str]:
    """The ```python blocks of the README section under ``## heading``."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def own_model_snippets() -> list[str]:
    return python_blocks("Your own model")


def test_the_section_has_a_snippet_per_framework():
    snippets = own_model_snippets()
    assert len(snippets) == 4
    for adapter in ("from_linen", "from_nnx", "from_equinox", "from_functions"):
        assert sum(adapter in s for s in snippets) == 1, adapter


def test_readme_python_blocks_run_verbatim(tmp_path):
    pytest.importorskip("flax")
    pytest.importorskip("equinox")
    runner = tmp_path / "run_snippets.py"
    checks = {  # what each snippet must have produced
        0: "assert runs.curves.train_loss.shape == (4, 3) and runs.state is not None",
        1: "assert runs.curves.train_loss.shape == (4, 3) and runs.state is None",
        2: "assert len(match.perms) == 2",
        3: "assert op.size == 15",
    }
    (quick_start,) = python_blocks("Quick start from Python")
    lines = ["import warnings", "warnings.simplefilter('error')",
             f"ns = {{}}\nexec({quick_start!r}, ns)",
             "assert ns['trace'].trace > 0 and float(ns['trace'].stderr) >= 0"]
    for i, snippet in enumerate(own_model_snippets()):
        lines.append(f"ns = {{}}\nexec({snippet!r}, ns)\nexec({checks[i]!r}, ns)")
    lines.append("print('ok')")
    runner.write_text("\n".join(lines))
    proc = subprocess.run([sys.executable, str(runner)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={"PYTHONPATH": str(ROOT),
                                                       "JAX_PLATFORMS": "cpu",
                                                       "PATH": "/usr/bin:/bin",
                                                       "XLA_FLAGS": os.environ["XLA_FLAGS"]})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
