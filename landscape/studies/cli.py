"""The one command line of every study, built from the study's ``Config`` dataclass.

``scripts/<study>.py`` is ``cli.main("<study>")``. The options are:

- one option per field of the study's frozen ``Config`` (``--num-seeds 8``,
  ``--batch-size none``, ``--hidden 64 64``, ``--measure-curvature/--no-measure-curvature``),
  with the type of the field, the help from the ``Attributes`` section of its
  docstring and the default of each profile, shown once;
- ``--problem NAME|package.module:function``: a built-in model name of
  :mod:`landscape.registry` (on the profile's data set and options), or a function
  returning a :class:`landscape.problem.Problem`; ``--problem-option KEY=VALUE``
  (repeatable) passes options to either;
- ``--profile quick|full``, ``--run-dir`` (default ``runs/<study>-<profile>``),
  ``--out`` (figures; default ``<run-dir>/figures``: the committed ``figures/`` is
  written only when asked for with ``--out figures``), ``--name`` (figure file name),
  ``--x64``, ``--quiet``, ``--plot-only`` (redraw from the run directory).

It prints the summary, the run directory and every file it wrote.

A study module for :func:`main` has ``Config``, ``PROFILES`` (name ->
:class:`~landscape.studies._common.Profile`), ``run(problem, config, run_dir, *,
progress)``, ``load(run_dir)`` and ``format_summary(summary)``; its plot module
``landscape.plots.<study>`` has ``figure(result) -> Figure`` (saved as
``OUT/NAME.png`` and ``.pdf``) or ``figures(result) -> {suffix: Figure}`` (saved as
``OUT/NAME_suffix``, ``""`` for the main figure).

Examples
--------
>>> import dataclasses
>>> from landscape.studies._common import Profile
>>> @dataclasses.dataclass(frozen=True)
... class Config:
...     '''Demo.
...
...     Attributes
...     ----------
...     num_steps : int
...         Training steps.
...     batch_size : int or None
...         Examples per step; none for the full batch.
...     '''
...     num_steps: int = 100
...     batch_size: int | None = 32
>>> profiles = {"quick": Profile({}, Config()), "full": Profile({}, Config(num_steps=900))}
>>> parser = build_parser("demo", Config, profiles)
>>> args = parser.parse_args(["--num-steps", "5", "--batch-size", "none"])
>>> config_overrides(args, Config)
{'num_steps': 5, 'batch_size': None}
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import os
import re
import sys
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from landscape.studies._common import optional_type

__all__ = ["build_parser", "config_overrides", "field_help", "main", "resolve_problem"]

PROBLEM_HELP = (
    "the network and data: a built-in model name ({models}) on the profile's data set, "
    "or package.module:function, a function returning a landscape.problem.Problem "
    "; default the profile's built-in problem ({default})"
)


# ----------------------------------------------------------------------------- field help


def field_help(cls: type) -> dict[str, str]:
    """The description of each field in the ``Attributes`` section of ``cls``'s NumPy
    docstring (first sentence); a line ``a, b : type`` describes several fields."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    match = re.search(r"^Attributes\n-+\n(.*?)(?:\n\S[^\n]*\n-+\n|\Z)", doc, re.S | re.M)
    if not match:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    text: list[str] = []

    def flush():
        if names:
            sentence = " ".join(text).strip()
            first = re.split(r"(?<=[.!?])\s+(?=[A-Z(])", sentence, maxsplit=1)[0] if sentence \
                else ""
            for name in names:
                out[name] = first.rstrip(".")

    for line in match.group(1).splitlines():
        if line and not line.startswith(" "):
            flush()
            names = [n.strip() for n in line.split(":", 1)[0].split(",")]
            text = []
        elif line.strip():
            text.append(line.strip())
    flush()
    return out


# ----------------------------------------------------------------------------- parser


def _none_or(kind):
    def parse(text: str):
        if text.lower() in ("none", "full"):
            return None
        return kind(text)

    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple | list):
        return " ".join(_show(v) for v in value) if value else "(empty)"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _field_option(field: dataclasses.Field, hint: Any, profiles: Mapping[str, Any],
                  doc: str) -> tuple[str, dict[str, Any]]:
    flag = "--" + field.name.replace("_", "-")
    values = {name: getattr(p.config, field.name) for name, p in profiles.items()}
    shown = {_show(v) for v in values.values()}
    if len(shown) == 1:
        default = f"default {next(iter(shown))}"
    else:
        default = "default " + ", ".join(f"{_show(v)} ({name})" for name, v in values.items())
    base, optional = optional_type(hint)
    kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "dest": field.name}
    choices = field.metadata.get("choices")
    origin = typing.get_origin(base)
    if base is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif origin is tuple:
        args = typing.get_args(base)
        item = args[0] if args else str
        kwargs["type"] = item
        kwargs["nargs"] = "+" if (len(args) == 2 and args[1] is Ellipsis) else len(args)
        kwargs["metavar"] = getattr(item, "__name__", "X").upper()
    elif base in (int, float, str):
        kwargs["type"] = _none_or(base) if optional else base
        kwargs["metavar"] = base.__name__.upper() + ("|none" if optional else "")
    else:
        raise ValueError(f"{field.name}: cannot make an option for a field of type {hint!r}")
    if choices:
        kwargs["choices"] = tuple(choices)
        kwargs.pop("metavar", None)
    help_text = f"{doc}; " if doc else ""
    kwargs["help"] = (help_text + default).replace("%", "%%")
    return flag, kwargs


def build_parser(study: str, config_cls: type, profiles: Mapping[str, Any], *,
                 description: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``study``: the common options and one per field of
    ``config_cls`` (see the module docstring). Every option's default is shown once,
    by the text of its help; unspecified fields keep the profile's value."""
    from landscape import registry

    parser = argparse.ArgumentParser(prog=f"{study}.py", description=description)
    default_problem = {name: p.problem for name, p in profiles.items()}
    problems = "; ".join(f"{name}: " + ", ".join(f"{k}={_show(v)}" for k, v in opts.items())
                         for name, opts in default_problem.items())
    parser.add_argument("--problem", default=None, metavar="NAME|MODULE:FUNCTION",
                        help=PROBLEM_HELP.format(models=", ".join(registry.MODELS),
                                                 default=problems).replace("%", "%%"))
    parser.add_argument("--problem-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the problem (a built-in model's keyword, e.g. "
                             "hidden=64,64 or dataset=digits; or a keyword argument of the "
                             "problem function); repeatable")
    parser.add_argument("--profile", choices=sorted(profiles), default="quick",
                        help="settings of the study and of its built-in problem; default quick")
    parser.add_argument("--run-dir", default=None,
                        help=f"run directory (config, tables, arrays); default "
                             f"runs/{study}-PROFILE")
    parser.add_argument("--out", default=None,
                        help="directory for the figures; default RUN_DIR/figures (the "
                             "committed figures/ only when given explicitly)")
    parser.add_argument("--name", default=study,
                        help=f"figure file name without extension; default {study}")
    parser.add_argument("--x64", action="store_true", help="compute in float64 (default off)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars (default off)")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw the figures from the run directory, computing nothing")
    group = parser.add_argument_group(
        "study settings (unset: the profile's value, shown as the default)")
    hints = typing.get_type_hints(config_cls)
    docs = field_help(config_cls)
    for field in dataclasses.fields(config_cls):
        flag, kwargs = _field_option(field, hints[field.name], profiles,
                                     docs.get(field.name, ""))
        group.add_argument(flag, **kwargs)
    return parser


def config_overrides(args: argparse.Namespace, config_cls: type) -> dict[str, Any]:
    """The Config fields given on the command line (tuples for list options)."""
    out = {}
    for field in dataclasses.fields(config_cls):
        if hasattr(args, field.name):
            value = getattr(args, field.name)
            out[field.name] = tuple(value) if isinstance(value, list) else value
    return out


def _option_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if "," in text:
            return tuple(_option_value(t) for t in text.split(",") if t)
        return text


def parse_problem_options(items: Sequence[str]) -> dict[str, Any]:
    """``["hidden=64,64", "dataset=digits"]`` -> ``{"hidden": (64, 64), "dataset": "digits"}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"--problem-option: expected KEY=VALUE, got {item!r}")
        out[key] = _option_value(value)
    return out


def resolve_problem(spec: str | None, profile, options: Mapping[str, Any] | None = None):
    """The Problem of ``--problem``: the profile's built-in problem when ``spec`` is
    ``None``, a built-in model name on the profile's data set and options, or
    ``package.module:function`` called with ``options``."""
    from landscape import problem as problem_module

    options = dict(options or {})
    if spec is None:
        return profile.build_problem(**options)
    if ":" in spec:
        return problem_module.load(spec, **options)
    return profile.build_problem(model=spec, **options)


# ----------------------------------------------------------------------------- main


def _snapshot(*dirs: Path) -> dict[Path, tuple[int, int]]:
    out = {}
    for d in dirs:
        if d.is_dir():
            for path in d.rglob("*"):
                if path.is_file():
                    stat = path.stat()
                    out[path] = (stat.st_mtime_ns, stat.st_size)
    return out


def _first_paragraph(doc: str | None) -> str:
    return inspect.cleandoc(doc or "").split("\n\n")[0].replace("\n", " ")


def main(study: str, argv: Sequence[str] | None = None):
    """Run ``landscape.studies.<study>`` from the command line (see the module docstring);
    returns the study's Result."""
    module = importlib.import_module(f"landscape.studies.{study}")
    parser = build_parser(study, module.Config, module.PROFILES,
                          description=_first_paragraph(module.__doc__))
    args = parser.parse_args(argv)
    if args.x64:
        import jax

        jax.config.update("jax_enable_x64", True)
    run_dir = Path(args.run_dir or f"runs/{study}-{args.profile}")
    out = Path(args.out) if args.out is not None else run_dir / "figures"
    profile = module.PROFILES[args.profile]
    before = _snapshot(run_dir, out)
    if args.plot_only:
        try:
            result = module.load(run_dir)
        except (OSError, ValueError) as error:
            parser.error(f"--plot-only: cannot read {run_dir}: {error}")
    else:
        try:
            config = dataclasses.replace(profile.config,
                                         **config_overrides(args, module.Config))
            problem = resolve_problem(args.problem, profile,
                                      parse_problem_options(args.problem_option))
        except (ValueError, TypeError) as error:
            parser.error(str(error))
        try:
            result = module.run(problem, config, run_dir, progress=not args.quiet)
        except ValueError as error:
            if str(error).startswith("config: "):  # a different run in the directory
                parser.error(str(error))
            raise
    print(module.format_summary(result.summary))
    figures = _figures(study, result)
    for suffix, fig in figures.items():
        name = args.name if not suffix else f"{args.name}_{suffix}"
        from landscape import plots

        plots.save(fig, name, out)
        import matplotlib.pyplot as plt

        plt.close(fig)
    written = sorted(p for p, s in _snapshot(run_dir, out).items() if before.get(p) != s)
    print(f"run directory: {run_dir}")
    for path in written:
        print(f"  wrote {path}")
    sys.stdout.flush()
    return result


def _figures(study: str, result) -> dict[str, Any]:
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    plot_module = importlib.import_module(f"landscape.plots.{study}")
    if hasattr(plot_module, "figures"):
        return dict(plot_module.figures(result))
    return {"": plot_module.figure(result)}
