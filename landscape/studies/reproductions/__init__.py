"""Published landscape results, reproduced: one module per entry, each with a numeric
pass rule fixed before measuring.

Every entry module defines

- ``NAME``; ``CLAIM`` (the published claim, with its reference); ``SETTING`` (what
  runs here); ``RULE`` (the pass rule, as text);
- ``Config``, a frozen dataclass, and ``SIZES = {"tiny": ..., "default": ...}``:
  ``tiny`` is a smoke test of a few seconds, ``default`` the reproduction (a few
  minutes on two CPU cores);
- ``run(config, *, progress=True) -> Result`` (:class:`~._common.Result`: numbers,
  arrays, setting, seconds);
- ``verdict(numbers) -> (passed, text)``, a pure function of the numbers;
- ``figure(result, out_dir=None)``, which writes ``<out_dir>/<NAME>.png`` (default
  ``runs/reproductions``; the committed gallery is ``figures/reproductions``).

The command ``landscape-reproduce NAME|all [--size tiny|default] [--out DIR]``
(:func:`main`) prints the claim, setting, rule, numbers and verdict of each. A
reproduction that does not reproduce at its size is reported as such, with the
numbers. Everything runs in float64 (``jax_enable_x64``): the critical-point
entry needs it, and the others are small enough not to mind.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Sequence
from types import ModuleType

__all__ = ["ENTRIES", "load", "main", "reproduce"]

ENTRIES = (
    "outliers",
    "edge_of_stability",
    "interpolation",
    "mode_connectivity",
    "alignment_width",
    "reparametrisation",
    "index_vs_loss",
    "critical_batch",
)


def load(name: str) -> ModuleType:
    """The module of entry ``name`` (one of :data:`ENTRIES`)."""
    if name not in ENTRIES:
        raise ValueError(f"name: unknown reproduction {name!r}; choose one of {list(ENTRIES)}")
    return importlib.import_module(f"landscape.studies.reproductions.{name}")


def reproduce(name: str, *, size: str = "default", out_dir=None, progress: bool = True,
              echo=print):
    """Run entry ``name`` at ``size``, write its figure, and print its report with ``echo``.

    Returns ``(result, passed, text, figure_path)``.
    """
    module = load(name)
    if size not in module.SIZES:
        raise ValueError(f"size: unknown size {size!r}; choose one of {sorted(module.SIZES)}")
    echo(f"== {name} ({size})")
    echo(f"claim:   {module.CLAIM}")
    echo(f"rule:    {module.RULE}")
    start = time.process_time()
    result = module.run(module.SIZES[size], progress=progress)
    cpu = time.process_time() - start
    passed, text = module.verdict(result.numbers)
    path = module.figure(result, out_dir)
    from landscape.studies.reproductions._common import format_numbers

    echo(f"setting: {module.SETTING}")
    echo(f"ran:     {result.setting}")
    echo("numbers:")
    echo(format_numbers(result.numbers))
    echo(f"verdict: {'REPRODUCED' if passed else 'NOT REPRODUCED'} at this size: {text}")
    echo(f"figure:  {path}")
    echo(f"time:    {result.seconds:.1f} s wall, {cpu:.1f} s CPU (this process)")
    return result, passed, text, path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="landscape-reproduce",
        description="Reproduce published loss-landscape results, each with a numeric pass "
        "rule fixed before measuring.",
    )
    parser.add_argument("name", choices=(*ENTRIES, "all"), help="the entry, or all of them")
    parser.add_argument("--size", choices=("tiny", "default"), default="default",
                        help="tiny: a quick smoke test; default: the reproduction")
    parser.add_argument("--out", default=None,
                        help="directory for the figures (default runs/reproductions; the "
                        "committed gallery is figures/reproductions)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    names = ENTRIES if args.name == "all" else (args.name,)
    rows = []
    for name in names:
        _, passed, _, _ = reproduce(name, size=args.size, out_dir=args.out,
                                    progress=not args.quiet)
        rows.append((name, passed))
        print()
    if len(rows) > 1:
        for name, passed in rows:
            print(f"{name:<20} {'reproduced' if passed else 'not reproduced'}")
    return 0
