"""The folklore check: one experiment per claim, a numeric verdict, one report.

Each claim of ``FAQ_CLAIMS.md`` is a module in :mod:`landscape.studies.claims`
that defines

- ``ID``, ``TITLE`` (the claim in our words) and ``RULE`` (the verdict rule,
  stated before anything is measured);
- ``Config``, a frozen dataclass, and ``PROFILES = {"quick": ..., "full": ...}``;
- ``measure(config, *, progress) -> Measurement`` (numbers, arrays, settings);
- ``verdict(numbers) -> Verdict``, a pure function of the measured numbers;
- ``plot(measurement) -> matplotlib Figure``.

:func:`run` measures the requested claims (a claim already measured with the same
config in the run directory is loaded, not recomputed, so an interrupted report
resumes where it stopped), saves each figure, and writes a Markdown report whose
rows read: claim, settings, measured numbers, verdict, figure.

A claim is checked *at these settings*, never proved: the report says so.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from landscape import results

__all__ = [
    "CLAIM_IDS",
    "ClaimResult",
    "Measurement",
    "Verdict",
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
    id: str
    title: str
    rule: str
    settings: str
    numbers: dict[str, float]
    verdict: Verdict
    figure: str  # file name of the PNG, relative to the report
    seconds: float


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


def _load_stored(claim_dir: Path, config_dict: dict) -> tuple[Measurement, float] | None:
    """The stored measurement of a claim, if it was made with the same config."""
    saved = claim_dir / "result.json"
    if not saved.exists():
        return None
    stored = results.read_json(saved)
    if stored.get("config") != config_dict:
        return None
    arrays = results.read_arrays(claim_dir / "arrays.npz")
    return Measurement(stored["numbers"], arrays, stored["settings"]), stored["seconds"]


def _measure_one(module, config, run_dir: Path, figure_dir: Path, *, progress: bool) -> ClaimResult:
    from landscape import plots

    claim_dir = run_dir / module.ID
    config_dict = results.to_jsonable(config)
    stored = _load_stored(claim_dir, config_dict)
    if stored is None:
        start = time.perf_counter()
        measurement = module.measure(config, progress=progress)
        seconds = time.perf_counter() - start
        claim_dir.mkdir(parents=True, exist_ok=True)
        results.write_arrays(claim_dir / "arrays.npz", measurement.arrays)
        results.write_json(
            claim_dir / "result.json",
            {
                "config": config_dict,
                "numbers": measurement.numbers,
                "settings": measurement.settings,
                "seconds": seconds,
            },
        )
    else:
        measurement, seconds = stored
    verdict = module.verdict(measurement.numbers)
    plots.save(module.plot(measurement), module.ID, out_dir=figure_dir)
    return ClaimResult(
        module.ID,
        module.TITLE,
        module.RULE,
        measurement.settings,
        {k: float(v) for k, v in measurement.numbers.items()},
        verdict,
        f"{module.ID}.png",
        seconds,
    )


def run(
    claims: Sequence[str] | None = None,
    *,
    profile: str = "quick",
    run_dir: str | Path = "runs/faq",
    figure_dir: str | Path = "figures/faq",
    progress: bool = True,
) -> list[ClaimResult]:
    """Measure ``claims`` (all by default) at ``profile`` and write the report.

    Results are stored per claim under ``run_dir/<profile>/``; the figures and
    ``REPORT.md`` go to ``figure_dir``. Returns one :class:`ClaimResult` per claim.
    """
    from tqdm.auto import tqdm

    ids = parse_claims(claims)
    if profile not in ("quick", "full"):
        raise ValueError(f"profile: choose 'quick' or 'full', got {profile!r}")
    run_dir, figure_dir = Path(run_dir) / profile, Path(figure_dir)
    figure_dir.mkdir(parents=True, exist_ok=True)
    done: list[ClaimResult] = []
    bar = tqdm(ids, desc="claims", disable=not progress, unit="claim")
    for claim_id in bar:
        bar.set_postfix_str(claim_id)
        module = load_claim(claim_id)
        done.append(
            _measure_one(module, module.PROFILES[profile], run_dir, figure_dir, progress=progress)
        )
        write_report(_merge_previous(done, figure_dir), figure_dir / "REPORT.md", profile=profile)
    return done


def _merge_previous(done: list[ClaimResult], figure_dir: Path) -> list[ClaimResult]:
    """Rows of earlier runs (a subset run keeps the other claims' rows)."""
    store = figure_dir / "claims.json"
    rows = {}
    if store.exists():
        rows = {r["id"]: r for r in results.read_json(store)}
    for r in done:
        rows[r.id] = {**r._asdict(), "verdict": r.verdict._asdict()}
    ordered = [rows[i] for i in CLAIM_IDS if i in rows]
    results.write_json(store, ordered)
    return [ClaimResult(**{**r, "verdict": Verdict(**r["verdict"])}) for r in ordered]


def _format_number(value: float) -> str:
    if not np.isfinite(value):
        return str(value)  # nan, inf, -inf
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.3g}"


def write_report(rows: Sequence[ClaimResult], path: str | Path, *, profile: str) -> Path:
    """The Markdown report: a summary table, then one section per claim."""
    path = Path(path)
    counts = {
        label: sum(r.verdict.label == label for r in rows)
        for label in (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)
    }
    lines = [
        "# Training folklore, checked by experiment",
        "",
        f"Profile `{profile}`. Each claim is checked *at the stated settings* with a verdict rule "
        "fixed before the measurement; a verdict is evidence at these settings, not a proof. "
        "Regenerate with `landscape-faq --profile "
        + profile
        + "` (`--claims C1,C11` for a subset).",
        "",
        f"**{counts[SUPPORTED]} supported, {counts[NOT_SUPPORTED]} not supported, "
        f"{counts[INCONCLUSIVE]} inconclusive** of {len(rows)} claims.",
        "",
        "| id | claim | verdict | key numbers | time |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        key = ", ".join(f"{k} = {_format_number(v)}" for k, v in list(r.numbers.items())[:3])
        lines.append(
            f"| [{r.id}](#{r.id.lower()}) | {r.title} | **{r.verdict.label}** | {key} "
            f"| {r.seconds:.0f} s |"
        )
    for r in rows:
        lines += [
            "",
            f"## {r.id}",
            "",
            f"**Claim.** {r.title}",
            "",
            f"**Settings.** {r.settings}",
            "",
            f"**Rule (fixed before measuring).** {r.rule}",
            "",
            "**Measured.**",
            "",
            "| quantity | value |",
            "|---|---|",
            *[f"| {k} | {_format_number(v)} |" for k, v in r.numbers.items()],
            "",
            f"**Verdict: {r.verdict.label}.** {r.verdict.reason}",
            "",
            f"![{r.id}]({r.figure})",
        ]
    with results.atomic_write(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``landscape-faq`` and ``scripts/faq_report.py``)."""
    parser = argparse.ArgumentParser(
        prog="landscape-faq",
        description="Check the training folklore of FAQ_CLAIMS.md by experiment and write "
        "a Markdown report with numbers, verdicts and figures.",
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
    parser.add_argument("--out", default="figures/faq", help="where the figures and REPORT.md go")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
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
    )
    for r in rows:
        print(f"{r.id:>4}  {r.verdict.label:<14} {r.title}")
    print(f"report: {Path(args.out) / 'REPORT.md'}  ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
