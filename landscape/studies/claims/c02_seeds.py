"""C2: runs from different seeds end at very different parameters but almost the same loss.

The seed study (:mod:`landscape.studies.seeds`) at a reduced size: several seeds of
one MLP trained at once, the spread of their final losses, the relative distance
between solutions against the same distance between initialisations (the
yardstick: two independent random vectors of equal norm are sqrt(2) apart), the
distance left after aligning hidden units by weight matching (so a relabelling
does not count as "different"), and the loss barrier on the straight line
between solutions.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from landscape import plots, registry
from landscape.studies import seeds
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C2"
TITLE = "Runs from different seeds end at very different parameters but almost the same loss."
LOSS_CV_MAX = 0.10
DISTANCE_MIN = 0.5
DISTANCE_SAME = 0.2
RULE = (
    f"Train several seeds of one configuration. **Supported** if the coefficient of variation "
    f"(CV) of the final validation loss across seeds is below {LOSS_CV_MAX:.0%} *and* the mean "
    f"relative distance |a - b| / sqrt(|a| |b|) between solutions, after aligning hidden units "
    f"by weight matching, exceeds {DISTANCE_MIN}. The rule reads the validation loss because "
    f"\"almost the same loss\" matters for the loss a model is judged by, on data it did not "
    f"train on; the training loss of these nets ends near zero, where a large CV is a spread "
    f"of a few thousandths of a nat (the report gives it too). **Not supported** if the CV "
    f"is at least "
    f"{LOSS_CV_MAX:.0%} or the aligned distance is below {DISTANCE_SAME} (the solutions are one "
    f"solution, relabelled). Inconclusive otherwise."
)


@dataclasses.dataclass(frozen=True)
class Config:
    problem: dict = dataclasses.field(default_factory=lambda: dict(seeds.PROFILES["quick"].problem))
    study: seeds.Config = seeds.Config(
        num_seeds=8,
        num_steps=1000,
        eval_every=50,
        num_interp_pairs=6,
        num_interp_points=15,
        num_align_pairs=12,
        align_iters=30,
        measure_curvature=False,
    )


PROFILES = {
    "quick": Config(),
    # the seed study's full model and schedule with half its seeds and two thirds of its
    # steps, no curvature (the verdict reads losses): its full profile (64 seeds, 6000
    # steps, 400 aligned pairs, Lanczos at every seed) takes 35 minutes a task on 2 cores
    "full": Config(problem=dict(seeds.PROFILES["full"].problem),
                   study=seeds.Config(num_seeds=32, num_steps=4000, eval_every=100,
                                      schedule="cosine", num_align_pairs=100,
                                      num_interp_pairs=16, num_interp_points=21,
                                      measure_curvature=False)),
}


# The second task: scikit-learn's digits (real 8x8 images), the same seeds and training.
OTHER_TASKS = {
    "digits": {profile: dataclasses.replace(config, problem={**config.problem,
                                                             "dataset": "digits"})
               for profile, config in PROFILES.items()},
}


def measure(config: Config, *, progress: bool = False) -> Measurement:
    result = seeds.run(registry.builtin(**config.problem), config.study, progress=progress)
    s = result.summary
    numbers = {
        "val_loss_cv": s["val_loss"]["cv"],
        "train_loss_cv": s["train_loss"]["cv"],
        "aligned_distance": s["aligned_distance"]["mean"],
        "distance": s["distance"]["mean"],
        "init_distance": s["init_distance"]["mean"],
        "val_loss_mean": s["val_loss"]["mean"],
        "train_loss_mean": s["train_loss"]["mean"],
        "val_accuracy_mean": s["val_accuracy"]["mean"],
        "max_barrier": s["barrier"]["max"],
        "max_aligned_barrier": s["aligned_barrier"]["max"],
        "num_seeds": float(s["num_converged"]),
        "num_diverged": float(s["num_diverged"]),
    }
    pairs = result.pairs
    arrays = {
        "step": result.curves["step"],
        "val_loss_curves": result.curves["val_loss"],
        "final_val_loss": result.seeds["val_loss"],
        "final_train_loss": result.seeds["train_loss"],
        "distance": np.asarray(pairs["distance"], float),
        "init_distance": np.asarray(pairs["init_distance"], float),
        "aligned_distance": np.asarray(pairs["aligned_distance"], float),
        "ts": result.interp["ts"],
        "interp_losses": result.interp["losses"],
        "aligned_interp_losses": result.interp["aligned_losses"],
    }
    c = config.study
    settings = (
        f"{result.info['model']} ({result.info['num_params']} parameters) on "
        f"{result.info['dataset']} "
        f"({result.info['num_train']} training examples); {c.optimizer} lr {c.learning_rate:g}, "
        f"batch {c.batch_size}, {c.num_steps} steps; {c.num_seeds} seeds, "
        f"{s['num_aligned_pairs']} aligned pairs, {s['num_interpolated_pairs']} interpolated lines"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    cv, aligned = numbers["val_loss_cv"], numbers["aligned_distance"]
    if not (np.isfinite(cv) and np.isfinite(aligned)):
        return Verdict(INCONCLUSIVE, "too few converged seeds to measure the spread")
    train_mean, train_cv = numbers["train_loss_mean"], numbers["train_loss_cv"]
    val_mean = numbers["val_loss_mean"]
    text = (
        f"validation-loss CV {100 * cv:.1f}% of {val_mean:.3g} nats (a spread of "
        f"{cv * val_mean:.2g} nats; the rule reads the validation loss, the loss a model is "
        f"judged by, because the training loss ends near zero, {train_mean:.2g} nats, where "
        f"its CV of {100 * train_cv:.0f}% is a spread of only {train_cv * train_mean:.2g} "
        f"nats); aligned distance between solutions {aligned:.2f} (unaligned "
        f"{numbers['distance']:.2f}, inits {numbers['init_distance']:.2f})"
    )
    if cv < LOSS_CV_MAX and aligned > DISTANCE_MIN:
        return Verdict(SUPPORTED, text)
    if cv >= LOSS_CV_MAX or aligned < DISTANCE_SAME:
        return Verdict(NOT_SUPPORTED, text)
    return Verdict(INCONCLUSIVE, text)


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    with plots.style():
        fig, axes = plt.subplots(1, 3, figsize=plots.figure_size(columns=2, aspect=0.3))
        ax = axes[0]
        for i, curve in enumerate(a["val_loss_curves"]):
            ax.plot(
                a["step"],
                curve,
                color=plots.COLORS[0],
                alpha=0.5,
                lw=0.8,
                label=f"one line per seed ({len(a['val_loss_curves'])})" if i == 0 else None,
            )
        ax.set(xlabel="training step", ylabel="validation loss (nats)", title="training curves")
        ax.legend()

        ax = axes[1]
        groups = [
            ("inits", a["init_distance"]),
            ("solutions", a["distance"]),
            ("aligned\nsolutions", a["aligned_distance"]),
        ]
        for i, (label, values) in enumerate(groups):
            values = values[np.isfinite(values)]
            jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
            ax.scatter(
                i + jitter, values, s=8, color=plots.COLORS[i], label=label.replace("\n", " ")
            )
        ax.set_xticks(range(3), [g[0] for g in groups])
        ax.set(
            ylabel="relative distance |a-b|/sqrt(|a||b|)", title="pairs of seeds", ylim=(0, None)
        )

        ax = axes[2]
        for i, (plain, aligned) in enumerate(
            zip(a["interp_losses"], a["aligned_interp_losses"], strict=True)
        ):
            ax.plot(
                a["ts"],
                plain,
                color=plots.COLORS[0],
                lw=0.8,
                alpha=0.7,
                label="straight line" if i == 0 else None,
            )
            ax.plot(
                a["ts"],
                aligned,
                color=plots.COLORS[2],
                lw=0.8,
                alpha=0.7,
                ls="--",
                label="after alignment" if i == 0 else None,
            )
        top = max(np.nanmax(a["interp_losses"]), np.nanmax(a["aligned_interp_losses"]))
        ax.set(
            xlabel="interpolation t (solution a -> b)",
            ylabel="training loss (nats)",
            title="between solutions",
            ylim=(0, 1.4 * top),  # headroom: the legend sits above the curves
        )
        ax.legend(loc="upper left", ncols=2)
    return fig
