"""The folklore check: one experiment per claim, a numeric verdict, one report.

Each claim of ``docs/claims.md`` is a module in :mod:`landscape.studies.claims`
that defines

- ``ID``, ``TITLE`` (the claim in our words) and ``RULE`` (the verdict rule,
  stated before anything is measured);
- ``Config``, a frozen dataclass, and ``PROFILES = {"quick": ..., "full": ...}``;
- ``measure(config, *, progress) -> Measurement`` (numbers, arrays, settings);
- ``verdict(numbers) -> Verdict``, a pure function of the measured numbers;
- ``plot(measurement) -> matplotlib Figure``;

and may define

- ``TASK``, the name of the task ``PROFILES`` measure on (default ``"mnist1d"``), and
  ``OTHER_TASKS = {task: {"quick": Config, "full": Config}}``: the same experiment on
  further tasks, each judged by the same rule; :func:`combine_tasks` joins the verdicts;
- ``TIMING_KEYS``, the numbers that are wall-clock times (they change from run to run
  and with the machine's load), and ``plot_timing(measurement)``, a figure of them;
- ``explain_missing(numbers) -> dict[str, str]``: why a number is NaN (e.g. a run that
  never reached its target); the report prints the reason in place of a bare ``nan``.

Run times and timing numbers go to ``TIMINGS.md`` beside the report, a file that is
not meant to be committed; ``REPORT.md``, ``claims.json`` and the other figures depend
only on the measured numbers, so rerunning an unchanged report rewrites them unchanged.

:func:`run` measures the requested claims (a claim already measured with the same
config *and the same code* in the run directory is loaded, not recomputed, so an
interrupted report resumes where it stopped), saves each figure, and writes a Markdown
report whose rows read: claim, settings, measured numbers, verdict, figure. "The same
code" is :func:`~landscape.studies.faq_store.code_fingerprint`: a hash of the sources a
measurement depends on and of the numerical packages' versions, so that a stored result
made by older code is measured again rather than mixed into a report of the current code.

A claim is checked *at these settings*, never proved: the report says so.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from landscape import results
from landscape.studies.faq_store import measured

__all__ = [
    "CLAIM_IDS",
    "ClaimResult",
    "Measurement",
    "Verdict",
    "combine_tasks",
    "load_claim",
    "main",
    "run",
    "write_report",
]

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"

CLAIM_MODULES = {
    "C1": "c01_saddles",
    "C2": "c02_seeds",
    "C3": "c03_overparameterised",
    "C4": "c04_architecture",
    "C5": "c05_activations",
    "C6": "c06_vanishing_gradients",
    "C7": "c07_more_data",
    "C8": "c08_pretraining",
    "C9": "c09_initialisation",
    "C10": "c10_optimisation_tricks",
    "C11": "c11_batch_size",
    "C12": "c12_overfitting",
    "C13": "c13_expansion",
    "C14": "c14_determinism",
}
CLAIM_IDS = tuple(CLAIM_MODULES)


class Verdict(NamedTuple):
    """``label`` is "supported", "not supported" or "inconclusive"; ``reason`` says
    which numbers decided it."""

    label: str
    reason: str


class Measurement(NamedTuple):
    """What one claim's experiment measured.

    Attributes
    ----------
    numbers : dict[str, float]
        The scalars the verdict rule reads (and the report prints).
    arrays : dict[str, np.ndarray]
        What the figure needs (curves, grids), saved as ``.npz``.
    settings : str
        One line: model, data, optimizer, steps, seeds.
    """

    numbers: dict[str, float]
    arrays: dict[str, np.ndarray]
    settings: str


class ClaimResult(NamedTuple):
    """One claim measured on one task."""

    id: str
    title: str
    rule: str
    settings: str
    numbers: dict[str, float]  # without the timing numbers
    verdict: Verdict
    figure: str  # file name of the PNG, relative to the report
    seconds: float
    task: str = "mnist1d"
    timings: dict[str, float] = {}  # noqa: RUF012 (a NamedTuple default, never mutated)
    cpu_seconds: float = float("nan")  # CPU time of the process (all threads) while measuring


BOTH_SUPPORTED, BOTH_NOT_SUPPORTED, DEPENDS = (
    "supported on both", "not supported on both", "depends on the task"
)


def combine_tasks(labels: Sequence[str]) -> str:
    """The verdict of one claim over several tasks, from the verdict on each.

    Parameters
    ----------
    labels : sequence of str
        One label per task: "supported", "not supported" or "inconclusive".

    Returns
    -------
    str
        The single label for one task; for several, "supported on both" (on every
        task), "not supported on both", "depends on the task" (supported on one,
        not supported on another), or "inconclusive" (some task inconclusive and
        no two tasks disagree).

    Examples
    --------
    >>> combine_tasks(["supported", "supported"])
    'supported on both'
    >>> combine_tasks(["supported", "not supported"])
    'depends on the task'
    >>> combine_tasks(["supported", "inconclusive"])
    'inconclusive'
    """
    labels = list(labels)
    allowed = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)
    if not labels or any(label not in allowed for label in labels):
        raise ValueError(f"labels: need one or more of {allowed}, got {labels}")
    if len(labels) == 1:
        return labels[0]
    if SUPPORTED in labels and NOT_SUPPORTED in labels:
        return DEPENDS
    if all(label == SUPPORTED for label in labels):
        return BOTH_SUPPORTED
    if all(label == NOT_SUPPORTED for label in labels):
        return BOTH_NOT_SUPPORTED
    return INCONCLUSIVE


def _summary_class(label: str) -> str:
    """Which count of the summary a (combined) label goes to."""
    return {BOTH_SUPPORTED: SUPPORTED, BOTH_NOT_SUPPORTED: NOT_SUPPORTED}.get(label, label)


def load_claim(claim_id: str):
    """The module implementing ``claim_id`` (e.g. ``"C5"``)."""
    try:
        name = CLAIM_MODULES[claim_id.upper()]
    except KeyError:
        raise ValueError(
            f"claims: unknown claim {claim_id!r}; choose from {', '.join(CLAIM_IDS)}"
        ) from None
    return importlib.import_module(f"landscape.studies.claims.{name}")


def parse_claims(text: str | Sequence[str] | None) -> list[str]:
    """``"C1,C11"`` (or a list) -> ``["C1", "C11"]``, validated; ``None`` means all."""
    if text is None:
        return list(CLAIM_IDS)
    items = text.split(",") if isinstance(text, str) else list(text)
    ids = [item.strip().upper() for item in items if item.strip()]
    unknown = [claim_id for claim_id in ids if claim_id not in CLAIM_MODULES]
    if unknown or not ids:
        raise ValueError(
            f"claims: unknown claim {unknown[0]!r}; choose from {', '.join(CLAIM_IDS)}"
            if unknown
            else "claims: the list is empty"
        )
    return ids


def _task_configs(module, profile: str) -> list[tuple[str, str, object]]:
    """``(name, task, config)`` for every task the claim is measured on, its own task
    first; ``name`` (``C2``, ``C2-digits``) names its stored result and its figure."""
    tasks = [(module.ID, getattr(module, "TASK", "mnist1d"), module.PROFILES[profile])]
    for task, profiles in getattr(module, "OTHER_TASKS", {}).items():
        tasks.append((f"{module.ID}-{task}", task, profiles[profile]))
    return tasks


def _measure_one(
    module, config, run_dir: Path, figure_dir: Path, *, name: str, task: str, progress: bool
) -> ClaimResult:
    import matplotlib.pyplot as plt

    from landscape import plots

    measurement, seconds, cpu_seconds = measured(module, config, run_dir / name,
                                                 progress=progress)
    verdict = module.verdict(measurement.numbers)
    figures = {name: module.plot(measurement)}
    if hasattr(module, "plot_timing"):
        figures[f"{name}-timing"] = module.plot_timing(measurement)
    for file_name, fig in figures.items():
        plots.save(fig, file_name, out_dir=figure_dir)
        plt.close(fig)  # a report draws dozens: pyplot keeps every open figure
    timing_keys = set(getattr(module, "TIMING_KEYS", ()))
    numbers = {k: float(v) for k, v in measurement.numbers.items()}
    return ClaimResult(
        module.ID,
        module.TITLE,
        module.RULE,
        measurement.settings,
        {k: v for k, v in numbers.items() if k not in timing_keys},
        verdict,
        f"{name}.png",
        seconds,
        task,
        {k: v for k, v in numbers.items() if k in timing_keys},
        cpu_seconds,
    )


def run(
    claims: Sequence[str] | None = None,
    *,
    profile: str = "quick",
    run_dir: str | Path = "runs/faq",
    figure_dir: str | Path = "figures/faq",
    progress: bool = True,
    jobs: int = 1,
) -> list[ClaimResult]:
    """Measure ``claims`` (all by default) at ``profile`` and write the report.

    With ``jobs`` > 1 the claims are first measured in that many processes
    (:func:`landscape.studies.faq_jobs.measure`; a claim with wall-clock numbers runs
    alone), then assembled here in order.

    Results are stored per claim and task under ``run_dir/<profile>/``; the figures,
    ``REPORT.md`` and ``claims.json`` go to ``figure_dir``, and so do ``TIMINGS.md``
    and ``timings.json`` (run times and wall-clock numbers, not meant to be committed).
    Returns one :class:`ClaimResult` per claim and task.
    """
    from tqdm.auto import tqdm

    ids = parse_claims(claims)
    if profile not in ("quick", "full"):
        raise ValueError(f"profile: choose 'quick' or 'full', got {profile!r}")
    if jobs < 1:
        raise ValueError(f"jobs: expected a positive number of processes, got {jobs}")
    run_dir, figure_dir = Path(run_dir) / profile, Path(figure_dir)
    figure_dir.mkdir(parents=True, exist_ok=True)
    if jobs > 1:
        from landscape.studies import faq_jobs

        faq_jobs.measure(ids, profile=profile, run_dir=run_dir, jobs=jobs, progress=progress)
    done: list[ClaimResult] = []
    bar = tqdm(ids, desc="claims", disable=not progress, unit="claim")
    for claim_id in bar:
        bar.set_postfix_str(claim_id)
        module = load_claim(claim_id)
        for name, task, config in _task_configs(module, profile):
            done.append(_measure_one(module, config, run_dir, figure_dir, name=name, task=task,
                                     progress=progress))
        merged = _merge_previous(done, figure_dir)
        write_report(merged, figure_dir / "REPORT.md", profile=profile)
        write_timings(merged, figure_dir / "TIMINGS.md", profile=profile)
    return done


def _merge_previous(done: list[ClaimResult], figure_dir: Path) -> list[ClaimResult]:
    """Rows of earlier runs (a subset run keeps the other claims' rows), stored as
    ``claims.json`` (numbers and verdicts) and ``timings.json`` (times)."""
    store, timing_store = figure_dir / "claims.json", figure_dir / "timings.json"
    rows, times = {}, {}
    if store.exists():
        rows = {(r["id"], r.get("task", "mnist1d")): r for r in results.read_json(store)}
    if timing_store.exists():
        times = {(t["id"], t["task"]): t for t in results.read_json(timing_store)}
    done_ids = {r.id for r in done}
    rows = {k: v for k, v in rows.items() if k[0] not in done_ids}  # a claim's tasks as now
    for r in done:
        row = {**r._asdict(), "verdict": r.verdict._asdict()}
        del row["seconds"], row["timings"], row["cpu_seconds"]
        rows[(r.id, r.task)] = row
        times[(r.id, r.task)] = {"id": r.id, "task": r.task, "seconds": r.seconds,
                                 "cpu_seconds": r.cpu_seconds, "timings": r.timings}
    order = {claim_id: i for i, claim_id in enumerate(CLAIM_IDS)}
    keys = sorted(rows, key=lambda k: order[k[0]])  # stable: a claim's tasks keep their order
    results.write_json(store, [rows[k] for k in keys])
    results.write_json(timing_store, [times[k] for k in keys if k in times])
    out = []
    for k in keys:
        t = times.get(k, {"seconds": float("nan"), "timings": {}})
        out.append(ClaimResult(**{**rows[k], "verdict": Verdict(**rows[k]["verdict"]),
                                  "seconds": t["seconds"], "timings": t["timings"],
                                  "cpu_seconds": t.get("cpu_seconds", float("nan"))}))
    return out


def _format_number(value: float) -> str:
    if not np.isfinite(value):
        return str(value)  # nan, inf, -inf
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.3g}"


def _group(rows: Sequence[ClaimResult]) -> list[list[ClaimResult]]:
    """Rows grouped by claim, in the order of ``rows``."""
    groups: dict[str, list[ClaimResult]] = {}
    for r in rows:
        groups.setdefault(r.id, []).append(r)
    return list(groups.values())


def _measured_table(
    r: ClaimResult, timing_keys: Sequence[str], missing: dict[str, str] | None = None
) -> list[str]:
    """The numbers of one claim and task; a NaN prints with the reason ``missing`` gives."""
    missing = missing or {}

    def value(k: str, v: float) -> str:
        if np.isnan(v):
            return f"not measured: {missing.get(k, 'the part it belongs to could not run')}"
        return _format_number(v)

    return [
        "| quantity | value |",
        "|---|---|",
        *[f"| {k} | {value(k, v)} |" for k, v in r.numbers.items()],
        *[f"| {k} | wall clock, in TIMINGS.md |" for k in timing_keys],
    ]


def write_report(rows: Sequence[ClaimResult], path: str | Path, *, profile: str) -> Path:
    """The Markdown report: a summary table, then one section per claim.

    A claim measured on several tasks gets one block per task and a combined
    verdict (:func:`combine_tasks`). The report holds no run times, so that it
    changes only when a measured number does.
    """
    path = Path(path)
    groups = _group(rows)
    combined = [combine_tasks([r.verdict.label for r in g]) for g in groups]
    counts = {
        label: sum(_summary_class(c) == label for c in combined)
        for label in (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)
    }
    depends = sum(c == DEPENDS for c in combined)
    lines = [
        "# Training folklore, checked by experiment",
        "",
        f"Profile `{profile}`. The claims and their sources are stated in `docs/claims.md`. "
        "Each claim is checked *at the stated settings* with a verdict rule "
        "fixed before the measurement; a verdict is evidence at these settings, not a proof. "
        "A claim about networks in general is checked on two tasks of different kinds, "
        "with the same rule on each. Regenerate with `landscape-faq --profile "
        + profile
        + "` (`--claims C1,C11` for a subset); run times are written to `TIMINGS.md`.",
        "",
        f"**{counts[SUPPORTED]} supported, {counts[NOT_SUPPORTED]} not supported, "
        f"{counts[INCONCLUSIVE]} inconclusive"
        + (f", {depends} depending on the task" if depends else "")
        + f"** of {len(groups)} claims.",
        "",
        "| id | claim | task | verdict | key numbers |",
        "|---|---|---|---|---|",
    ]
    for g, label in zip(groups, combined, strict=True):
        for k, r in enumerate(g):
            key = ", ".join(f"{n} = {_format_number(v)}" for n, v in list(r.numbers.items())[:3])
            head = f"[{r.id}](#{r.id.lower()}) | {r.title}" if k == 0 else " | "
            lines.append(f"| {head} | {r.task} | **{r.verdict.label}** | {key} |")
        if len(g) > 1:
            lines.append(f"| | | *combined* | **{label}** | |")
    for g, label in zip(groups, combined, strict=True):
        r0 = g[0]
        try:
            module = load_claim(r0.id)
        except ImportError:
            module = None
        timing_keys = tuple(getattr(module, "TIMING_KEYS", ()))
        explain = getattr(module, "explain_missing", lambda numbers: {})
        lines += [
            "",
            f"## {r0.id}",
            "",
            f"**Claim.** {r0.title}",
            "",
            f"**Rule (fixed before measuring).** {r0.rule}",
        ]
        for r in g:
            if len(g) > 1:
                lines += ["", f"### {r0.id} on {r.task}"]
            lines += [
                "",
                f"**Settings.** {r.settings}",
                "",
                "**Measured.**",
                "",
                *_measured_table(r, timing_keys, explain(r.numbers)),
                "",
                f"**Verdict{' on ' + r.task if len(g) > 1 else ''}: {r.verdict.label}.** "
                f"{r.verdict.reason}",
                "",
                f"![{r.id} on {r.task}]({r.figure})",
            ]
        if len(g) > 1:
            lines += ["", f"**Combined verdict: {label}** "
                      f"({'; '.join(f'{r.task}: {r.verdict.label}' for r in g)})."]
    with results.atomic_write(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_timings(rows: Sequence[ClaimResult], path: str | Path, *, profile: str) -> Path:
    """Run time of every claim and task, and the wall-clock numbers, as Markdown.

    These change with the machine and its load; the file is not meant to be
    committed (the repository ignores it).
    """
    path = Path(path)
    lines = [
        f"# Run times of the `{profile}` report",
        "",
        "Seconds of measurement per claim and task on this machine: wall clock, and the CPU "
        "time of the process (all its threads; on a machine shared with other jobs the wall "
        "clock grows with the load, the CPU time much less). A stored measurement that was "
        "loaded keeps the times it took when it was made. The wall-clock numbers are the "
        "measured quantities that are times.",
        "",
        "| id | task | time (wall) | wall-clock numbers | CPU time |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        timing = ", ".join(f"{k} = {_format_number(v)}" for k, v in r.timings.items())
        cpu = f"{r.cpu_seconds:.0f} s" if np.isfinite(r.cpu_seconds) else "not recorded"
        lines.append(f"| {r.id} | {r.task} | {r.seconds:.0f} s | {timing} | {cpu} |")
    total = sum(r.seconds for r in rows if np.isfinite(r.seconds))
    cpu_total = sum(r.cpu_seconds for r in rows if np.isfinite(r.cpu_seconds))
    lines += ["", f"Total: {total:.0f} s wall ({total / 60:.1f} min), {cpu_total:.0f} s CPU "
                  f"({cpu_total / 60:.1f} min)."]
    with results.atomic_write(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


# XLA:CPU flags for the report's many small programs: they cut its compile time by about a
# quarter (quick report on 2 cores: 506 -> 380 s) without slowing what runs, and change
# numbers in the last bits only (the code fingerprint includes XLA_FLAGS). Only on a
# CPU-only install (the flags would be wrong for GPU kernels), only where jaxlib knows
# them (an unknown flag aborts XLA), and never over a flag the user set.
_CHEAP_COMPILES = ("--xla_cpu_use_fusion_emitters=false",
                   "--xla_llvm_disable_expensive_passes=true")
_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin",
                        "jax_rocm7_plugin", "libtpu")


def cheap_compile_flags() -> None:
    """Add :data:`_CHEAP_COMPILES` to ``XLA_FLAGS`` (before JAX starts its backend)."""
    import importlib.util
    from importlib.metadata import version

    if any(importlib.util.find_spec(name) for name in _ACCELERATOR_PLUGINS):
        return
    if tuple(int(p) for p in version("jaxlib").split(".")[:2]) < (0, 7):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    extra = [f for f in _CHEAP_COMPILES if f.split("=")[0] not in flags]
    os.environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``landscape-faq`` and ``scripts/faq_report.py``)."""
    parser = argparse.ArgumentParser(
        prog="landscape-faq",
        description="Check the training folklore stated in docs/claims.md by experiment and "
        "write a Markdown report with numbers, verdicts and figures (run times go to "
        "TIMINGS.md beside it).",
    )
    parser.add_argument(
        "--claims", default=None, help="comma-separated subset, e.g. C1,C11 (default: all)"
    )
    parser.add_argument(
        "--profile",
        default="quick",
        choices=["quick", "full"],
        help="quick: minutes on a laptop CPU; full: larger models, more seeds",
    )
    parser.add_argument(
        "--run-dir", default="runs/faq", help="where per-claim results are stored (resumable)"
    )
    parser.add_argument(
        "--out", default=None,
        help="where the figures and REPORT.md go (default: figures/faq for the quick profile, "
        "figures/faq-full for the full one)",
    )
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1),
        help="claims measured at once, one process each (default: 2, or 1 on one core); a "
        "claim with wall-clock numbers runs alone",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    cheap_compile_flags()
    if args.out is None:
        args.out = "figures/faq" if args.profile == "quick" else f"figures/faq-{args.profile}"
    if args.jobs < 1:
        parser.error(f"--jobs: expected a positive number of processes, got {args.jobs}")
    try:
        claims = parse_claims(args.claims)
    except ValueError as err:
        parser.error(str(err))
    start = time.perf_counter()
    rows = run(
        claims,
        profile=args.profile,
        run_dir=args.run_dir,
        figure_dir=args.out,
        progress=not args.quiet,
        jobs=args.jobs,
    )
    for g in _group(rows):
        label = combine_tasks([r.verdict.label for r in g])
        tasks = "/".join(r.task for r in g)
        print(f"{g[0].id:>4}  {label:<21} [{tasks}] {g[0].title}")
    print(f"report: {Path(args.out) / 'REPORT.md'}  ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
