"""C11: bigger minibatches mean less gradient noise but more cost per step; SGD's step cost
does not grow with the data set while full-batch GD's does; too-big batches waste examples.

The batch-size study (:mod:`landscape.studies.batch_size`) at a reduced size: steps and
examples to a target training loss per batch size (best learning rate of a small
grid per size), the measured time per step, the step time against the data-set
size for a fixed small batch and for the full batch, and the gradient noise scale
(McCandlish et al. 2018).

The fourth part of the folklore, that growing the batch during training gets the
best of both, is measured by :mod:`landscape.studies.claims._growing` (a doubling
schedule against fixed small and large batches at the same examples budget) and
judged on counts of steps and examples. The wall-clock parts (b) and (c) take the
least step time over interleaved repeats (the batch-size study's estimate); their
values go to ``TIMINGS.md``, not to the report, since they move with the machine's load.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from landscape import plots, registry
from landscape.studies import batch_size
from landscape.studies.claims import _growing, _rules
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C11"
TITLE = (
    "Bigger minibatches mean less gradient noise but more cost per step; SGD's step cost does "
    "not grow with the data set while full-batch GD's does; too-big batches waste examples; "
    "growing the batch during training gets the best of both."
)
RULE = (
    "Five parts, each a number: (a) steps to the target fall with the batch size (median steps "
    "at the smallest batch / at the largest batch > 2); (b) the step time grows with the batch "
    "size (log-log slope > 0.1); (c) the step time of a fixed small batch is flat in the data-set "
    "size (slope < 0.2) while full-batch GD's grows (slope > 0.5); (d) too-big batches waste "
    "examples (examples to target at the largest batch > 2x the fewest over batch sizes); "
    + _rules.GROWING_RULE
    + " Step times are the least over repeats (interleaved with the runs they time). "
    "**Supported** if all five hold, **not supported** if two or more fail, inconclusive "
    "otherwise."
)
TIMING_KEYS = (
    "step_time_slope_vs_batch",
    "sgd_step_time_slope_vs_data",
    "gd_step_time_slope_vs_data",
    "best_wall_time_batch",
)


@dataclasses.dataclass(frozen=True)
class Config:
    problem: dict = dataclasses.field(
        default_factory=lambda: dict(batch_size.PROFILES["quick"].problem))
    study: batch_size.Config = batch_size.Config(
        num_seeds=2,
        min_batch_size=16,  # 16..3500: batch 4 (4000 steps a run) added CPU, not a verdict
        batch_factor=4,
        lr_factors=(0.5, 1.0, 2.0),
        max_epochs=10.0,
        min_steps=300,
        max_steps=20_000,
        num_evals=60,
        dataset_sizes=(500, 2000, 8000),
        timing_repeats=3,
        noise_points=3,
        noise_samples=128,
        two_batch_count=50,
    )
    growing_min_batch: int = 16
    growing_doublings: int = 3
    growing_phase_examples: int = 6144  # examples per phase (4 phases: ~7 epochs of 3500)
    growing_evals: int = 8  # evaluations per phase
    growing_seed: int = 11


PROFILES = {
    "quick": Config(),
    # the batch-size study's quick profile (B = 1, 4, ..., 1024 and 3500, 3 seeds, 5 rates,
    # 7 data-set sizes): its full profile (every power of two, 8 seeds, 10 rates, up to
    # 200k steps a run) takes hours on 2 cores, past the report's ~20 minutes a claim
    "full": Config(problem=dict(batch_size.PROFILES["quick"].problem),
                   study=batch_size.PROFILES["quick"].config),
}


def _ratio(a: float, b: float) -> float:
    """a / b, NaN unless both are finite and b is positive."""
    return float(a / b) if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def measure(config: Config, *, progress: bool = False) -> Measurement:
    result = batch_size.run(registry.builtin(**config.problem), config.study, progress=progress)
    s, b = result.summary, result.batch
    sizes = np.asarray(b["batch_size"], float)
    steps = np.asarray(b["steps"], float)
    examples = np.asarray(b["examples"], float)
    reached = np.isfinite(steps)
    fit = s.get("fit", {})
    noise_at = s.get("noise", {}).get("at_target", {})
    best = s.get("best_wall_time") or {}
    numbers = {
        "steps_ratio_small_to_large": _ratio(steps[0], steps[-1]),
        "step_time_slope_vs_batch": s["step_time_slopes"]["vs_batch_size"],
        "sgd_step_time_slope_vs_data": s["step_time_slopes"]["sgd_vs_dataset_size"],
        "gd_step_time_slope_vs_data": s["step_time_slopes"]["gd_vs_dataset_size"],
        "examples_largest_over_min": _ratio(examples[-1], np.min(examples[reached]))
        if reached.any()
        else float("nan"),
        "b_crit_fit": float(fit.get("b_crit", np.nan)),
        "b_simple": float(noise_at.get("b_simple", np.nan)),
        "b_noise": float(noise_at.get("b_noise", np.nan)),
        "best_wall_time_batch": float(best.get("batch_size", np.nan)),
        "num_batch_sizes_reached": float(s["num_batch_sizes_reached"]),
        "num_diverged_runs": float(s["num_diverged_runs"]),
    }
    arrays = {
        "batch_size": sizes,
        "steps": steps,
        "examples": examples,
        "wall_time": np.asarray(b["wall_time"], float),
        "step_time": np.asarray(b["step_time"], float),
        "num_examples": np.asarray(result.sizes["num_examples"], float),
        "sgd_step_time": np.asarray(result.sizes["sgd_step_time"], float),
        "gd_step_time": np.asarray(result.sizes["gd_step_time"], float),
    }
    lr = _growing_learning_rate(config, sizes, np.asarray(b["learning_rate"], float))
    g = _growing.run(
        registry.builtin(**config.problem),
        min_batch=config.growing_min_batch, doublings=config.growing_doublings,
        phase_examples=config.growing_phase_examples, learning_rate=lr,
        target=config.study.target, key=jax.random.key(config.growing_seed),
        num_seeds=config.study.num_seeds, evals_per_phase=config.growing_evals,
    ) if config.growing_doublings > 0 else None
    if g is not None:
        for name in _growing.SCHEDULES:
            numbers[f"growing_steps_{name}"] = g.steps[name]
            numbers[f"growing_examples_{name}"] = g.examples[name]
            arrays[f"growing_examples_seen_{name}"] = g.curve_examples[name]
            arrays[f"growing_train_loss_{name}"] = g.curve_loss[name]
        numbers["growing_learning_rate"] = lr
        arrays["target"] = np.asarray(config.study.target)
    c = config.study
    grow = (f"; growing batch {' -> '.join(map(str, g.batch_sizes['growing']))} against fixed "
            f"{config.growing_min_batch} and {g.batch_sizes['large'][0]}, "
            f"{config.growing_phase_examples} examples per phase, SGD lr {lr:.3g} (the rate "
            f"chosen at batch {config.growing_min_batch}, or the nearest size)"
            if g is not None else "")
    settings = (
        f"{result.info.get('model', 'MLP')} on {result.info.get('dataset', '?')} "
        f"({result.info.get('num_train', '?')} training examples); {c.optimizer}, batch sizes "
        f"{int(sizes[0])}..{int(sizes[-1])} "
        f"(x{c.batch_factor}), best of {len(c.lr_factors)} learning rates per size, "
        f"{c.num_seeds} seeds; target {c.target_metric} <= {c.target:g}; step times on this "
        f"machine's {result.info.get('backend', 'cpu')}{grow}"
    )
    return Measurement(numbers, arrays, settings)


def _growing_learning_rate(config: Config, sizes: np.ndarray, rates: np.ndarray) -> float:
    """The rate the batch-size study chose at the batch size nearest the growing
    schedule's first batch (log scale), or the study's rule when none is there."""
    ok = np.isfinite(rates) & (rates > 0)
    if not ok.any():
        return float(config.study.base_lr
                     * np.sqrt(config.growing_min_batch / config.study.base_batch))
    distance = np.abs(np.log(sizes[ok]) - np.log(config.growing_min_batch))
    return float(rates[ok][int(np.argmin(distance))])


def _parts(numbers: dict[str, float]) -> dict[str, bool | None]:
    """Each part's outcome: True, False, or None when it could not be measured."""

    def check(value, condition):
        return None if not np.isfinite(value) else bool(condition(value))

    sgd, gd = numbers["sgd_step_time_slope_vs_data"], numbers["gd_step_time_slope_vs_data"]
    return {
        "fewer steps with bigger batches": check(
            numbers["steps_ratio_small_to_large"], lambda r: r > 2
        ),
        "costlier steps with bigger batches": check(
            numbers["step_time_slope_vs_batch"], lambda s: s > 0.1
        ),
        "SGD step cost flat, GD's growing": None
        if not (np.isfinite(sgd) and np.isfinite(gd))
        else bool(sgd < 0.2 and gd > 0.5),
        "too-big batches waste examples": check(
            numbers["examples_largest_over_min"], lambda r: r > 2
        ),
        "growing the batch gets the best of both": _growing_part(numbers),
    }


def _growing_part(numbers: dict[str, float]) -> bool | None:
    if "growing_steps_growing" not in numbers:
        return None
    return _rules.growing_batch_part(
        {k: numbers[f"growing_steps_{k}"] for k in _growing.SCHEDULES},
        {k: numbers[f"growing_examples_{k}"] for k in _growing.SCHEDULES},
    )


_SCHEDULE_NAMES = {"small": "fixed small batch", "large": "fixed large batch",
                   "growing": "growing batch"}


def explain_missing(numbers: dict[str, float]) -> dict[str, str]:
    """Why a number is NaN: a schedule or batch size that never reached the target."""
    out = {}
    for name, label in _SCHEDULE_NAMES.items():
        for what in ("steps", "examples"):
            key = f"growing_{what}_{name}"
            if key in numbers and np.isnan(numbers[key]):
                out[key] = (f"the {label} did not reach the target training loss within the "
                            f"examples budget in every seed")
    for key in ("steps_ratio_small_to_large", "examples_largest_over_min", "b_crit_fit"):
        out[key] = "a batch size at the end of the range did not reach the target"
    for key in ("b_simple", "b_noise"):
        out[key] = "the noise-scale run did not reach the target"
    return {k: v for k, v in out.items() if k in numbers and np.isnan(numbers[k])}


def _to_target(numbers: dict[str, float], name: str) -> str:
    steps, examples = numbers[f"growing_steps_{name}"], numbers[f"growing_examples_{name}"]
    if not (np.isfinite(steps) and np.isfinite(examples)):
        return f"{name} did not reach it within the budget"
    return f"{name} {steps:.0f} steps / {examples:.0f} examples"


def verdict(numbers: dict[str, float]) -> Verdict:
    parts = _parts(numbers)
    failed = [name for name, ok in parts.items() if ok is False]
    unknown = [name for name, ok in parts.items() if ok is None]
    undecided = "undecided" if "growing_steps_growing" in numbers else "not measured"

    def say(name, ok):
        if ok is not None:
            return "yes" if ok else "no"
        return undecided if name.startswith("growing") else "not measured"

    text = "; ".join(f"{name}: {say(name, ok)}" for name, ok in parts.items())
    text += (
        f" (steps ratio {numbers['steps_ratio_small_to_large']:.3g}, examples ratio "
        f"{numbers['examples_largest_over_min']:.3g}; the wall-clock slopes of (b) and (c) are "
        f"in TIMINGS.md)"
    )
    if "growing_steps_growing" in numbers:
        text += "; to the target, " + ", ".join(
            _to_target(numbers, name) for name in _growing.SCHEDULES
        )
    if not failed and not unknown:
        return Verdict(SUPPORTED, text)
    if len(failed) >= 2:
        return Verdict(NOT_SUPPORTED, text)
    return Verdict(INCONCLUSIVE, text)


def _readable_log_axis(axis) -> None:
    """Log ticks labelled at 1, 1.5, 2, 3, 5 and 7 times powers of ten when the data span
    less than a decade, at 1, 2 and 5 times when they span less than two (one labelled tick
    per decade otherwise), plain numbers, no minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    low, high = axis.get_view_interval()
    if low > 0 and high / low < 10:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    elif low > 0 and high / low < 100:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    b = a["batch_size"]
    with plots.style():
        fig, axes = plt.subplots(1, 3, figsize=plots.figure_size(columns=2, aspect=0.3))
        ax = axes[0]
        ok = np.isfinite(a["steps"]) & (a["steps"] > 0)
        if ok.any():
            i = int(np.argmax(ok))
            ax.plot(b[ok], a["steps"][ok], "o-", color=plots.COLORS[0], label="measured (median)")
            ax.plot(b, a["steps"][i] * b[i] / b, ":", color="gray", label="perfect scaling")
        ax.set(xlabel="batch size B (examples)", ylabel="steps to target", title="steps")

        ax = axes[1]
        ok = np.isfinite(a["examples"]) & (a["examples"] > 0)
        if ok.any():
            ax.plot(
                b[ok], a["examples"][ok], "o-", color=plots.COLORS[1], label="examples to target"
            )
        ax.set(xlabel="batch size B (examples)", ylabel="examples processed", title="examples")
        for ax in axes[:2]:
            if ax.has_data():
                ax.set(xscale="log", yscale="log")
                ax.legend()
                ax.autoscale_view()
                ax.set_xticks(b, plots.spaced_labels(b, min_log_gap=0.55))  # measured sizes
                ax.xaxis.set_minor_locator(plt.NullLocator())
                _readable_log_axis(ax.yaxis)
            else:
                ax.text(0.5, 0.5, "target not reached", transform=ax.transAxes, ha="center")

        ax = axes[2]
        if "growing_train_loss_growing" in a:
            labels = {"small": "fixed small batch", "large": "fixed large batch",
                      "growing": "growing batch"}
            for k, name in enumerate(_growing.SCHEDULES):
                loss = np.median(a[f"growing_train_loss_{name}"], axis=0)
                ax.plot(a[f"growing_examples_seen_{name}"], loss, color=plots.COLORS[k],
                        label=labels[name])
            ax.axhline(float(a["target"]), color="black", lw=0.6, ls=":", label="target")
            ax.set_yscale("log")
            ax.legend()
            _readable_log_axis(ax.yaxis)
        else:
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
        ax.set(xlabel="examples seen", ylabel="training loss (nats, median)",
               title="growing the batch")
    return fig


def plot_timing(measurement: Measurement):
    """The wall-clock panels (they change from run to run; not committed)."""
    import matplotlib.pyplot as plt

    a = measurement.arrays
    with plots.style():
        fig, axes = plt.subplots(1, 2, figsize=plots.figure_size(columns=2, aspect=0.35))
        ax = axes[0]
        ax.plot(a["batch_size"], a["step_time"] * 1e3, "o-", color=plots.COLORS[0],
                label="least over repeats")
        ax.set(xlabel="batch size B (examples)", ylabel="time per step (ms)",
               title="cost per step against batch size")
        ax = axes[1]
        ax.plot(a["num_examples"], a["sgd_step_time"] * 1e3, "o-", color=plots.COLORS[2],
                label="SGD, fixed small batch")
        ax.plot(a["num_examples"], a["gd_step_time"] * 1e3, "s-", color=plots.COLORS[3],
                label="GD, full batch")
        ax.set(xlabel="training-set size (examples)", ylabel="time per step (ms)",
               title="cost per step against data size")
        for ax in axes:
            ax.set(xscale="log", yscale="log")
            ax.legend()
            ax.autoscale_view()
            _readable_log_axis(ax.xaxis)
            _readable_log_axis(ax.yaxis)
    return fig
