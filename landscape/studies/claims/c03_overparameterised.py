"""C3: networks with more parameters than training points still generalise.

A width sweep of a one-hidden-layer MLP on a small training set takes the ratio
of parameters to training points from about 0.2 to about 30, every width
trained to (near) zero training error for several seeds in one compiled
program (:mod:`._family`). Classical capacity arguments predict that the widest
nets, which can memorise the training set many times over, generalise worst.
Near the interpolation threshold a test-error bump ("double descent",
Belkin et al. 2019) may appear; it is reported, not part of the verdict.

References
----------
Belkin, M., Hsu, D., Ma, S. & Mandal, S. (2019). Reconciling modern machine-learning
practice and the classical bias-variance trade-off. PNAS 116(32).
Zhang, C., Bengio, S., Hardt, M., Recht, B. & Vinyals, O. (2017). Understanding deep
learning requires rethinking generalization. ICLR.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from landscape import plots, train
from landscape.studies.claims import _common, _family
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C3"
TITLE = "Networks with more parameters than training points still generalise."
CHANCE = 0.1  # ten classes
ABOVE_CHANCE = 0.2  # "well above chance": at least 20 points above it
MIN_RATIO = 10.0  # the widest net must have >= 10 parameters per training point
RULE = (
    "Width sweep of a one-hidden-layer MLP on a small training set, several seeds. Let over = "
    "mean test accuracy of the widest net (which must have >= 10 parameters per training "
    "point), under = the best mean test accuracy among nets with fewer parameters than "
    "training points, and se the standard error of over - under. **Supported** if "
    "over >= under - 2 se and over >= chance + 20 points. **Not supported** if "
    "over < under - 2 se. **Inconclusive** otherwise (no net well above chance, or the sweep "
    "does not reach 10 parameters per point)."
)


@dataclasses.dataclass(frozen=True)
class Config:
    task: _common.Task = _common.Task(num_samples=5000)
    num_train: int = 500
    widths: tuple[int, ...] = (2, 5, 10, 40, 100, 300)
    num_seeds: int = 4
    training: train.TrainConfig = train.TrainConfig(
        optimizer="adam", learning_rate=3e-3, num_steps=2000, batch_size=50, eval_every=500
    )
    seed: int = 3


PROFILES = {
    "quick": Config(),
    "full": Config(
        widths=(1, 2, 5, 10, 20, 40, 100, 200, 300, 600), num_seeds=10,
        training=train.TrainConfig(optimizer="adam", learning_rate=3e-3, num_steps=8000,
                                   batch_size=50, eval_every=1000),
    ),
}


# The second task: scikit-learn's digits (real 8x8 images), the same sweep and training
# (the widest net has 45 parameters per training point there).
OTHER_TASKS = {
    "digits": {profile: dataclasses.replace(config, task=_common.Task("digits"))
               for profile, config in PROFILES.items()},
}


def measure(config: Config, *, progress: bool = False) -> Measurement:
    widths = tuple(sorted(config.widths))
    ds = config.task.load().subset(config.num_train)
    members = [_family.Member(1, w) for w in widths]
    runs = _family.train_family(members, ds, config.training, key=jax.random.key(config.seed),
                                num_seeds=config.num_seeds, progress=progress)
    ratio = runs.num_params / ds.num_train
    test_mean, _ = _family.mean_and_se(runs.test_accuracy)
    under = np.flatnonzero(ratio < 1)
    over = len(widths) - 1
    nan = float("nan")
    under_acc = diff = diff_se = under_ratio = under_loss = nan
    if len(under):
        best_under = int(under[np.argmax(test_mean[under])])
        # paired by seed: seed s draws the same minibatch order at every width
        diff, diff_se = _family.mean_and_se(runs.test_accuracy[over]
                                            - runs.test_accuracy[best_under])
        under_acc, under_ratio = float(test_mean[best_under]), float(ratio[best_under])
        under_loss = float(np.mean(runs.test_loss[best_under]))
    numbers = {
        "test_accuracy_widest": float(test_mean[over]),
        "test_accuracy_best_under": under_acc,
        "difference_points": 100 * float(diff),
        "difference_se_points": 100 * float(diff_se),
        "params_per_point_widest": float(ratio[over]),
        "params_per_point_best_under": under_ratio,
        "train_accuracy_widest": float(np.mean(runs.train_accuracy[over])),
        "test_loss_widest": float(np.mean(runs.test_loss[over])),
        "test_loss_best_under": under_loss,
    }
    # a local dip of test accuracy at an interior width (a double-descent bump), in points
    dips = [min(test_mean[i - 1], test_mean[i + 1]) - test_mean[i] for i in range(1, over)]
    numbers |= {
        "largest_dip_points": 100 * float(max(dips)) if dips else float("nan"),
        "num_train": float(ds.num_train),
        "num_diverged": float(np.sum(runs.diverged)),
        "num_seeds": float(config.num_seeds),
    }
    arrays = {
        "widths": np.asarray(widths),
        "num_classes": np.asarray(ds.num_classes),
        "num_params": runs.num_params,
        "params_per_point": ratio,
        "train_accuracy": runs.train_accuracy,
        "test_accuracy": runs.test_accuracy,
        "train_loss": runs.train_loss,
        "test_loss": runs.test_loss,
    }
    settings = (
        f"MLP {ds.in_dim}-w-{ds.out_dim} (relu), w in {list(widths)}, on "
        f"{config.task.describe(ds)}; "
        f"{_common.describe_training(config.training)}; {config.num_seeds} seeds"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    ratio = numbers["params_per_point_widest"]
    over, under = numbers["test_accuracy_widest"], numbers["test_accuracy_best_under"]
    diff, se = numbers["difference_points"], numbers["difference_se_points"]
    if not all(np.isfinite(v) for v in (over, under, diff, se)):
        return Verdict(INCONCLUSIVE, "no finite comparison (no net with fewer parameters than "
                                     "points, or non-finite accuracies)")
    if ratio < MIN_RATIO:
        return Verdict(INCONCLUSIVE, f"the widest net has only {ratio:.1f} parameters per "
                                     f"training point (< {MIN_RATIO:.0f})")
    compare = (f"the widest net ({ratio:.0f} parameters per training point) reaches "
               f"{100 * over:.1f}% test accuracy against {100 * under:.1f}% for the best net "
               f"with fewer parameters than points (difference {diff:+.1f} +- {se:.1f} points)")
    if diff < -2 * se:
        return Verdict(NOT_SUPPORTED, compare + ": worse by more than 2 se")
    if over >= CHANCE + ABOVE_CHANCE:
        loss = (f"; in test loss the widest net is {numbers['test_loss_widest']:.2f} nats "
                f"against {numbers['test_loss_best_under']:.2f} (confident mistakes)"
                if numbers["test_loss_widest"] > numbers["test_loss_best_under"] else "")
        return Verdict(SUPPORTED, compare + f"; chance is {100 * CHANCE:.0f}%" + loss)
    return Verdict(INCONCLUSIVE, compare + f", but not {100 * ABOVE_CHANCE:.0f} points above "
                                            f"chance ({100 * CHANCE:.0f}%)")


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    ratio = a["params_per_point"]
    with plots.style():
        size = plots.figure_size(columns=2, aspect=0.42)
        fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=size)
        k = int(a["num_classes"])
        for ax, key, label in ((ax_acc, "accuracy", "accuracy (%)"),
                               (ax_loss, "loss", "cross-entropy loss (nats)")):
            scale = 100.0 if key == "accuracy" else 1.0
            for split, color, marker in (("train", plots.COLORS[1], "s"),
                                         ("test", plots.COLORS[0], "o")):
                values = scale * a[f"{split}_{key}"]
                mean, se = _family.mean_and_se(values)
                ax.errorbar(ratio, mean, yerr=2 * se, color=color, marker=marker, capsize=2,
                            label=f"{split}, mean +- 2 se")
                ax.plot(np.repeat(ratio[:, None], values.shape[1], axis=1), values, ".",
                        color=color, alpha=0.35, ms=2)
            ax.axvline(1.0, color="0.3", ls="--", lw=0.8, label="parameters = training points")
            ax.axvline(k, color="0.3", ls="-.", lw=0.8,
                       label=f"parameters = points x {k} classes")
            ax.set_xscale("log")
            ax.set(xlabel="parameters per training point", ylabel=label)
            # the hidden width of each point, on a second axis along the top
            top = ax.secondary_xaxis("top")
            top.set_xticks(ratio, plots.spaced_labels(a["widths"], min_log_gap=0.25))
            top.xaxis.set_minor_locator(plt.NullLocator())
            top.tick_params(labelsize=6)
            top.set_xlabel("hidden units", fontsize=7)
        ax_acc.axhline(100 * CHANCE, color="0.5", ls=":", lw=0.8, label="chance")
        ax_acc.set_ylim(0, 105)
        ax_acc.set_title("accuracy vs width (1 hidden layer)")
        ax_loss.set_title("loss vs width")
        ax_loss.set_yscale("log")
        # one legend for both panels, below them, so that it covers no data
        entries = dict(zip(*reversed(ax_acc.get_legend_handles_labels()), strict=True))
        order = sorted(entries, key=lambda label: not label.startswith(("train", "test")))
        fig.legend([entries[label] for label in order], order, loc="outside lower center",
                   ncols=5)
    return fig
