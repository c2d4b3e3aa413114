"""C11: bigger minibatches mean less gradient noise but more cost per step; SGD's step cost
does not grow with the data set while full-batch GD's does; too-big batches waste examples.

The batch-size study (:mod:`landscape.studies.batch_size`) at a reduced size: steps and
examples to a target training loss per batch size (best learning rate of a small
grid per size), the measured time per step, the step time against the data-set
size for a fixed small batch and for the full batch, and the gradient noise scale
(McCandlish et al. 2018).

The fourth part of the folklore, that growing the batch during training gets the
best of both, is not measured here and the report says so.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from landscape import plots, registry
from landscape.studies import batch_size
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C11"
TITLE = (
    "Bigger minibatches mean less gradient noise but more cost per step; SGD's step cost does "
    "not grow with the data set while full-batch GD's does; too-big batches waste examples."
)
RULE = (
    "Four parts, each a number: (a) steps to the target fall with the batch size (median steps "
    "at the smallest batch / at the largest batch > 2); (b) the step time grows with the batch "
    "size (log-log slope > 0.1); (c) the step time of a fixed small batch is flat in the data-set "
    "size (slope < 0.2) while full-batch GD's grows (slope > 0.5); (d) too-big batches waste "
    "examples (examples to target at the largest batch > 2x the fewest over batch sizes). "
    "**Supported** if all four hold, **not supported** if two or more fail, inconclusive "
    "otherwise. Growing the batch during training is not measured."
)


@dataclasses.dataclass(frozen=True)
class Config:
    problem: dict = dataclasses.field(
        default_factory=lambda: dict(batch_size.PROFILES["quick"].problem))
    study: batch_size.Config = batch_size.Config(
        num_seeds=2,
        min_batch_size=4,
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


PROFILES = {
    "quick": Config(),
    "full": Config(problem=dict(batch_size.PROFILES["full"].problem),
                   study=batch_size.PROFILES["full"].config),
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
    c = config.study
    settings = (
        f"{result.info.get('model', 'MLP')} on {result.info.get('dataset', '?')} "
        f"({result.info.get('num_train', '?')} training examples); {c.optimizer}, batch sizes "
        f"{int(sizes[0])}..{int(sizes[-1])} "
        f"(x{c.batch_factor}), best of {len(c.lr_factors)} learning rates per size, "
        f"{c.num_seeds} seeds; target {c.target_metric} <= {c.target:g}; step times on this "
        f"machine's {result.info.get('backend', 'cpu')}"
    )
    return Measurement(numbers, arrays, settings)


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
    }


def verdict(numbers: dict[str, float]) -> Verdict:
    parts = _parts(numbers)
    failed = [name for name, ok in parts.items() if ok is False]
    unknown = [name for name, ok in parts.items() if ok is None]
    text = "; ".join(
        f"{name}: {'yes' if ok else 'no' if ok is False else 'not measured'}"
        for name, ok in parts.items()
    )
    text += (
        f" (steps ratio {numbers['steps_ratio_small_to_large']:.3g}, step-time slope "
        f"{numbers['step_time_slope_vs_batch']:.2f}, SGD/GD slopes vs data "
        f"{numbers['sgd_step_time_slope_vs_data']:.2f}/"
        f"{numbers['gd_step_time_slope_vs_data']:.2f}, examples ratio "
        f"{numbers['examples_largest_over_min']:.3g}); growing batches not measured"
    )
    if not failed and not unknown:
        return Verdict(SUPPORTED, text)
    if len(failed) >= 2:
        return Verdict(NOT_SUPPORTED, text)
    return Verdict(INCONCLUSIVE, text)


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

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

        ax = axes[2]
        ax.plot(
            a["num_examples"],
            a["sgd_step_time"] * 1e3,
            "o-",
            color=plots.COLORS[2],
            label="SGD, fixed small batch",
        )
        ax.plot(
            a["num_examples"],
            a["gd_step_time"] * 1e3,
            "s-",
            color=plots.COLORS[3],
            label="GD, full batch",
        )
        ax.set(
            xlabel="training-set size (examples)",
            ylabel="time per step (ms)",
            title="cost per step",
        )
        for ax in axes:
            if ax.has_data():
                ax.set(xscale="log", yscale="log")
                ax.legend()
            else:
                ax.text(0.5, 0.5, "target not reached", transform=ax.transAxes, ha="center")
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_minor_formatter(NullFormatter())
    return fig
