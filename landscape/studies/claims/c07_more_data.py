"""C7: you want thousands of training samples; more data helps.

A learning curve: the same MLP trained on nested training sets of growing size
(each a prefix of the next), several seeds, for the same number of steps. Every
training set is repeated to the length of the largest (:func:`._family.repeat_train`),
so all sizes share one compiled program; test accuracy on a fixed held-out set
is read at the end of training.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from landscape import models, plots, train
from landscape.problem import from_model
from landscape.studies.claims import _common, _family
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C7"
TITLE = "You want thousands of training samples; more data helps."
RULE = (
    "Learning curve: test accuracy after a fixed number of steps for training sets of doubling "
    "size (the largest in the thousands), several seeds; se = standard error over seeds of a "
    "difference. **Supported** if the last doubling still gains more than 2 se and no doubling "
    "loses more than 2 se. **Not supported** if the largest set is not better than the "
    "smallest by more than 2 se, or some doubling loses more than 2 se. **Inconclusive** "
    "otherwise (accuracy rises overall, but the last doubling gains within the noise)."
)


@dataclasses.dataclass(frozen=True)
class Config:
    task: _common.Task = _common.Task(num_samples=6000)
    sizes: tuple[int, ...] = (250, 500, 1000, 2000, 4000)
    hidden: tuple[int, ...] = (100, 100)
    num_seeds: int = 4
    training: train.TrainConfig = train.TrainConfig(
        optimizer="adam", learning_rate=3e-3, num_steps=1500, batch_size=64, eval_every=1500
    )
    seed: int = 7


PROFILES = {
    "quick": Config(),
    "full": Config(
        task=_common.Task(num_samples=12000), sizes=(125, 250, 500, 1000, 2000, 4000, 8000),
        num_seeds=10,
        training=train.TrainConfig(optimizer="adam", learning_rate=3e-3, num_steps=6000,
                                   batch_size=64, eval_every=1000),
    ),
}


# The second task: scikit-learn's digits (real 8x8 images), the same experiment and rule
# (its 1258 training images: training sets up to 1000).
OTHER_TASKS = {
    "digits": {profile: dataclasses.replace(
        config, task=dataclasses.replace(config.task, dataset="digits"),
        sizes=(125, 250, 500, 1000))
        for profile, config in PROFILES.items()},
}


def _check_sizes(sizes: tuple[int, ...], available: int) -> tuple[int, ...]:
    sizes = tuple(sorted(int(n) for n in sizes))
    if len(sizes) < 2 or sizes[0] < 1:
        raise ValueError(f"sizes: need at least two positive sizes, got {sizes}")
    if sizes[-1] > available:
        raise ValueError(f"sizes: the largest ({sizes[-1]}) exceeds the {available} training "
                         f"examples of the task")
    if any(sizes[-1] % n for n in sizes):
        raise ValueError(f"sizes: every size must divide the largest ({sizes[-1]}), got {sizes}")
    return sizes


def measure(config: Config, *, progress: bool = False) -> Measurement:
    ds = config.task.load()
    sizes = _check_sizes(config.sizes, ds.num_train)
    model = models.mlp(ds.in_dim, config.hidden, ds.out_dim)
    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    init = jax.vmap(lambda k: model.init(jax.random.split(k, 3)[0]))(keys)
    test_acc, test_loss, val_acc, train_acc, diverged = [], [], [], [], []
    for n in sizes:  # one compiled program: every training split has sizes[-1] examples
        ds_n = _family.repeat_train(ds, ds.x_train[:n], ds.y_train[:n], length=sizes[-1])
        result = train.train_seeds(from_model(model, ds_n), config.training, keys=keys,
                                   init_params=init, progress=progress)
        test = _family.evaluate(model, result.params, ds.test)
        test_acc.append(test["accuracy"])
        test_loss.append(test["loss"])
        val_acc.append(np.asarray(result.curves.val_accuracy)[:, -1])
        train_acc.append(np.asarray(result.curves.train_accuracy)[:, -1])
        diverged.append(np.asarray(result.diverged))
    test_acc = np.asarray(test_acc, float)  # (N, S)
    mean, _ = _family.mean_and_se(test_acc)
    # paired by seed: the same initialisation and minibatch key at every size
    steps, steps_se = _family.mean_and_se(np.diff(test_acc, axis=0))  # (N - 1,)
    total, total_se = _family.mean_and_se(test_acc[-1] - test_acc[0])
    drops = steps + 2 * steps_se  # < 0: a doubling that loses more than 2 se
    near = np.flatnonzero(mean >= mean[-1] - 0.02)
    numbers = {
        "last_gain_points": 100 * float(steps[-1]),
        "last_gain_se_points": 100 * float(steps_se[-1]),
        "total_gain_points": 100 * float(total),
        "total_gain_se_points": 100 * float(total_se),
        "worst_step_points": 100 * float(steps[np.argmin(drops)]),
        "worst_step_se_points": 100 * float(steps_se[np.argmin(drops)]),
        "test_accuracy_smallest": float(mean[0]),
        "test_accuracy_largest": float(mean[-1]),
        "smallest_size_within_2_points": float(sizes[int(near[0])]),
        "num_diverged": float(np.sum(diverged)),
        "num_seeds": float(config.num_seeds),
    }
    arrays = {
        "sizes": np.asarray(sizes),
        "test_accuracy": test_acc,
        "test_loss": np.asarray(test_loss, float),
        "val_accuracy": np.asarray(val_acc, float),
        "train_accuracy": np.asarray(train_acc, float),
    }
    settings = (
        f"MLP {config.hidden} (relu) on the first n of the {config.task.describe(ds)}, "
        f"n in {list(sizes)}; {_common.describe_training(config.training)} at every n; "
        f"{config.num_seeds} seeds"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    last, last_se = numbers["last_gain_points"], numbers["last_gain_se_points"]
    total, total_se = numbers["total_gain_points"], numbers["total_gain_se_points"]
    worst, worst_se = numbers["worst_step_points"], numbers["worst_step_se_points"]
    if not all(np.isfinite(v) for v in (last, last_se, total, total_se, worst, worst_se)):
        return Verdict(INCONCLUSIVE, "some runs did not give finite accuracies")
    text = (f"test accuracy goes from {100 * numbers['test_accuracy_smallest']:.1f}% to "
            f"{100 * numbers['test_accuracy_largest']:.1f}% ({total:+.1f} +- {total_se:.1f} "
            f"points); the last doubling gains {last:+.1f} +- {last_se:.1f} points")
    if worst < -2 * worst_se:
        return Verdict(NOT_SUPPORTED, text + f"; a doubling loses {worst:.1f} +- {worst_se:.1f} "
                                             f"points")
    if total <= 2 * total_se:
        return Verdict(NOT_SUPPORTED, text + ": no gain beyond 2 se")
    if last > 2 * last_se:
        return Verdict(SUPPORTED, text + " (> 2 se): the curve has not saturated")
    return Verdict(INCONCLUSIVE, text + ", within 2 se: the curve may be saturating")


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    sizes = a["sizes"]
    with plots.style():
        fig, (ax, ax_gain) = plt.subplots(
            1, 2, figsize=plots.figure_size(columns=2, aspect=0.4), width_ratios=(1.5, 1))
        for key, label, color, marker in (("train_accuracy", "train", plots.COLORS[1], "s"),
                                          ("val_accuracy", "validation", plots.COLORS[2], "^"),
                                          ("test_accuracy", "test", plots.COLORS[0], "o")):
            mean, se = _family.mean_and_se(100 * a[key])
            ax.errorbar(sizes, mean, yerr=2 * se, marker=marker, capsize=2, color=color,
                        label=f"{label}, mean +- 2 se")
        test = 100 * a["test_accuracy"]
        for seed in range(test.shape[1]):
            ax.plot(sizes * 1.04, test[:, seed], ".", color=plots.COLORS[0], alpha=0.5, ms=3,
                    label="test, one seed" if seed == 0 else None)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.set(xlabel="training examples", ylabel="accuracy (%)",
               title="learning curve (same steps at every size)")
        # below both panels: the curves cross every corner of the panel on some task
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=4)
        gain, gain_se = _family.mean_and_se(np.diff(test, axis=0))
        labels = [f"{m}→{n}" for m, n in zip(sizes[:-1], sizes[1:], strict=True)]
        x = np.arange(len(labels))
        ax_gain.bar(x, gain, yerr=2 * gain_se, capsize=3, color=plots.COLORS[0], alpha=0.75,
                    label="mean +- 2 se (paired by seed)")
        ax_gain.axhline(0, color="0.3", lw=0.8)
        top = float(np.max(gain + 2 * gain_se))
        ax_gain.set_ylim(top=max(top, 0.0) * 1.3 + 0.5)
        ax_gain.set_xticks(x, labels, rotation=30, ha="right")
        ax_gain.set(xlabel="doubling of the training set", ylabel="test accuracy gain (points)",
                    title="gain per doubling")
        ax_gain.legend(loc="upper right")
    return fig
