"""C5: any nonlinear monotone activation works about equally well; ReLU is a fine default.

The same MLP is trained with each activation, several seeds each, all in one
compiled program (:mod:`._family`). An activation is not held to a learning
rate tuned for another: each gets the better of a few rates by mean validation
accuracy, and the verdict reads the held-out test accuracy at that rate.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from landscape import plots, train
from landscape.studies.claims import _common, _family
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C5"
TITLE = "Any nonlinear monotone activation works about equally well; ReLU is a fine default."
MARGIN = 0.03  # "about equally well": within 3 accuracy points of the best
RULE = (
    "Train the same MLP with relu, tanh, gelu, elu, softplus and sigmoid (several seeds; for "
    "each activation the better of a few Adam learning rates by mean validation accuracy). Let "
    "gap(a) = best mean test accuracy - mean test accuracy of a, and se(a) the standard error "
    "of that difference over seeds. **Supported** if every gap(a) <= 3 points (this includes "
    "relu). **Not supported** if some gap(a) > 3 points + 2 se(a), unless that activation's "
    "chosen learning rate is the largest tried (its best rate may lie beyond the grid). "
    "**Inconclusive** otherwise (a gap above 3 points but within the seed noise of it, or at "
    "the edge of the learning-rate grid)."
)

ACTIVATIONS = ("relu", "tanh", "gelu", "elu", "softplus", "sigmoid")


@dataclasses.dataclass(frozen=True)
class Config:
    task: _common.Task = _common.Task(num_samples=5000)
    hidden: tuple[int, ...] = (100, 100)
    activations: tuple[str, ...] = ACTIVATIONS
    learning_rates: tuple[float, ...] = (3e-3, 1e-2, 3e-2)
    num_seeds: int = 3
    training: train.TrainConfig = train.TrainConfig(
        optimizer="adam", learning_rate=3e-3, num_steps=1000, batch_size=64, eval_every=1000
    )
    seed: int = 5


PROFILES = {
    "quick": Config(),
    "full": Config(
        learning_rates=(1e-3, 3e-3, 1e-2, 3e-2, 1e-1), num_seeds=8,
        training=train.TrainConfig(optimizer="adam", learning_rate=3e-3, num_steps=4000,
                                   batch_size=64, eval_every=500),
    ),
}


# The second task: scikit-learn's digits (real 8x8 images), the same experiment and rule.
OTHER_TASKS = {
    "digits": {profile: dataclasses.replace(
        config, task=dataclasses.replace(config.task, dataset="digits"))
        for profile, config in PROFILES.items()},
}


def measure(config: Config, *, progress: bool = False) -> Measurement:
    if len(set(config.hidden)) != 1:
        raise ValueError(f"hidden: layers of one width are needed here, got {config.hidden}")
    ds = config.task.load()
    depth, width = len(config.hidden), config.hidden[0]
    combos = [(a, lr) for a in config.activations for lr in config.learning_rates]
    members = [_family.Member(depth, width, a) for a, _ in combos]
    runs = _family.train_family(
        members, ds, config.training, key=jax.random.key(config.seed),
        num_seeds=config.num_seeds, learning_rates=[lr for _, lr in combos], progress=progress,
    )
    A, R, S = len(config.activations), len(config.learning_rates), config.num_seeds

    def grid(values):  # (A * R, S) -> (A, R, S)
        return np.asarray(values, float).reshape(A, R, S)

    val = grid(runs.val_accuracy)
    chosen = np.argmax(val.mean(axis=2), axis=1)  # (A,) index of the chosen learning rate
    pick = np.arange(A)
    test = grid(runs.test_accuracy)[pick, chosen]  # (A, S)
    val_chosen = val[pick, chosen]
    diverged = grid(runs.diverged)[pick, chosen]
    mean, se = _family.mean_and_se(test)
    best = int(np.argmax(mean))
    # paired by seed: the same seed draws the same minibatch order for every activation
    diffs = test[best][None, :] - test
    gap, gap_se = _family.mean_and_se(diffs)
    worst = int(np.argmax(gap))
    relu = config.activations.index("relu") if "relu" in config.activations else None
    numbers = {
        "max_gap_points": 100 * float(gap[worst]),
        "max_gap_se_points": 100 * float(gap_se[worst]),
        "relu_gap_points": 100 * float(gap[relu]) if relu is not None else float("nan"),
        "relu_gap_se_points": 100 * float(gap_se[relu]) if relu is not None else float("nan"),
        "best_test_accuracy": float(mean[best]),
        "worst_test_accuracy": float(mean[worst]),
        "worst_at_top_learning_rate": float(
            config.learning_rates[chosen[worst]] == max(config.learning_rates)),
        "num_diverged": float(np.sum(diverged)),
        "num_seeds": float(S),
    }
    for i, a in enumerate(config.activations):
        numbers[f"test_accuracy_{a}"] = float(mean[i])
    arrays = {
        "activations": np.asarray(config.activations),
        "learning_rates": np.asarray(config.learning_rates, float),
        "chosen_learning_rate": np.asarray(config.learning_rates, float)[chosen],
        "test_accuracy": test,
        "val_accuracy": val_chosen,
        "val_accuracy_all": val,
        "best": np.asarray(config.activations[best]),
        "worst": np.asarray(config.activations[worst]),
    }
    settings = (
        f"MLP {config.hidden} on {config.task.describe(ds)}; "
        f"{_common.describe_training(config.training)}, learning rate chosen per activation "
        f"from {list(config.learning_rates)} by validation accuracy; {S} seeds"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    gap, se = numbers["max_gap_points"], numbers["max_gap_se_points"]
    margin = 100 * MARGIN
    if not (np.isfinite(gap) and np.isfinite(se)):
        return Verdict(INCONCLUSIVE, "some runs did not give finite accuracies")
    relu = numbers.get("relu_gap_points", float("nan"))
    relu_text = f"; relu is {relu:.1f} points below the best" if np.isfinite(relu) else ""
    if gap <= margin:
        return Verdict(
            SUPPORTED,
            f"every activation is within {gap:.1f} points (<= {margin:.0f}) of the best test "
            f"accuracy{relu_text}",
        )
    if gap > margin + 2 * se and numbers["worst_at_top_learning_rate"]:
        return Verdict(
            INCONCLUSIVE,
            f"the worst activation is {gap:.1f} +- {se:.1f} points below the best, but at the "
            f"largest learning rate tried: its best rate may lie beyond the grid{relu_text}",
        )
    if gap > margin + 2 * se:
        return Verdict(
            NOT_SUPPORTED,
            f"the worst activation is {gap:.1f} +- {se:.1f} points below the best, beyond "
            f"{margin:.0f} points + 2 se{relu_text}",
        )
    return Verdict(
        INCONCLUSIVE,
        f"the worst activation is {gap:.1f} +- {se:.1f} points below the best: above "
        f"{margin:.0f} points but within 2 se of it{relu_text}",
    )


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    names = [str(n) for n in a["activations"]]
    test, val = a["test_accuracy"], a["val_accuracy"]
    mean, se = _family.mean_and_se(test)
    x = np.arange(len(names))
    with plots.style():
        fig, (ax, ax_lr) = plt.subplots(
            1, 2, figsize=plots.figure_size(columns=2, aspect=0.4), width_ratios=(1.6, 1))
        best = float(np.max(mean))
        ax.axhspan(100 * (best - MARGIN), 100 * best, color="0.88", zorder=0,
                   label=f"within {100 * MARGIN:.0f} points of the best")
        ax.errorbar(x, 100 * mean, yerr=200 * se, fmt="o", ms=5, capsize=3,
                    color=plots.COLORS[0], label="test, mean +- 2 se")
        for i in range(len(names)):
            ax.plot(np.full(test.shape[1], x[i]) + 0.18, 100 * test[i], ".", ms=3,
                    color=plots.COLORS[0], alpha=0.6, label="test, one seed" if i == 0 else None)
            ax.plot(np.full(val.shape[1], x[i]) - 0.18, 100 * val[i], "^", ms=2.5,
                    color=plots.COLORS[2], label="validation, one seed" if i == 0 else None)
        ax.set_xticks(x, [f"{n}\nlr {lr:g}" for n, lr in zip(names, a["chosen_learning_rate"],
                                                                strict=True)])
        lo = 100 * min(float(np.min(test)), float(np.min(val)))
        hi = 100 * max(float(np.max(test)), float(np.max(val)))
        ax.set_ylim(lo - 6, hi + 0.45 * (hi - lo + 6))
        ax.set(xlabel="activation and its chosen Adam learning rate", ylabel="accuracy (%)",
               title="same MLP, each activation at its best learning rate")
        ax.legend(loc="upper right", ncols=2)
        lrs = a["learning_rates"]
        val_all = a["val_accuracy_all"]  # (A, R, S)
        for i, n in enumerate(names):
            ax_lr.plot(lrs, 100 * val_all[i].mean(axis=1), "o-", label=n,
                       color=plots.COLORS[i % len(plots.COLORS)])
        ax_lr.set_xscale("log")
        ax_lr.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
        ax_lr.minorticks_off()
        ax_lr.set(xlabel="Adam learning rate", ylabel="mean validation accuracy (%)",
                  title="learning-rate choice")
        ax_lr.legend(ncols=2)
    return fig
