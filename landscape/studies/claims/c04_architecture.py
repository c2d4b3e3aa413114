"""C4: two or three hidden layers of ~100 units are a good start; results are
robust to the exact sizes; at a fixed parameter budget depth and width trade off.

A depth x width grid of ReLU MLPs and a depth sweep at a fixed parameter budget
are trained as one family in one compiled program (:mod:`._family`), several
seeds each, and compared by validation accuracy.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from landscape import plots, train
from landscape.studies.claims import _common, _family
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C4"
TITLE = ("Two or three hidden layers of ~100 units are a good start, and results are robust to "
         "the exact sizes; at a fixed parameter budget depth and width trade off.")
GAP_MARGIN = 0.03  # "a good start": within 3 points of the best cell
RANGE_MARGIN = 0.05  # "robust": 2-3 layers of half to twice the width stay within 5 points
RULE = (
    "Depth x width grid of ReLU MLPs (depths 1-3, widths around 100), several seeds, mean "
    "validation accuracy per cell. gap = best cell - the better of (2 x 100, 3 x 100); range = "
    "max - min over the cells with 2-3 layers of 50-200 units; se = the median standard error "
    "of a cell mean. **Supported** if gap <= 3 points and range <= 5 points. **Not "
    "supported** if gap > 3 points + 2.8 se or range > 5 points + 2.8 se (2.8 se ~ 2 standard "
    "errors of a difference of two cell means). **Inconclusive** otherwise. The fixed-budget "
    "depth sweep is reported (best depth, range) but does not enter the verdict: the claim "
    "says only that depth and width trade off."
)


@dataclasses.dataclass(frozen=True)
class Config:
    task: _common.Task = _common.Task(num_samples=5000)
    depths: tuple[int, ...] = (1, 2, 3)
    widths: tuple[int, ...] = (50, 100, 200)
    recommended: tuple[tuple[int, int], ...] = ((2, 100), (3, 100))  # (depth, width)
    robust_depths: tuple[int, ...] = (2, 3)
    robust_widths: tuple[int, ...] = (50, 100, 200)  # half to twice the recommended width
    budget_width: int = 200  # budget = parameters of one hidden layer of this width
    num_seeds: int = 3
    training: train.TrainConfig = train.TrainConfig(
        optimizer="adam", learning_rate=3e-3, num_steps=600, batch_size=64, eval_every=600
    )
    seed: int = 4


PROFILES = {
    "quick": Config(),
    "full": Config(
        depths=(1, 2, 3, 4), widths=(25, 50, 100, 200), num_seeds=6,
        training=train.TrainConfig(optimizer="adam", learning_rate=3e-3, num_steps=2000,
                                   batch_size=64, eval_every=500),
    ),
}


# The second task: scikit-learn's digits (real 8x8 images), the same experiment and rule.
OTHER_TASKS = {
    "digits": {profile: dataclasses.replace(
        config, task=dataclasses.replace(config.task, dataset="digits"))
        for profile, config in PROFILES.items()},
}


def budget_width(depth: int, budget: int, in_dim: int, out_dim: int) -> int:
    """The width whose ``depth``-layer MLP has the number of parameters closest to ``budget``."""
    if depth < 1 or budget < 1:
        raise ValueError(f"depth/budget: must be positive, got {depth}, {budget}")
    best, width = 1, 1
    while True:
        count = _family.Member(depth, width).num_params(in_dim, out_dim)
        if abs(count - budget) < abs(_family.Member(depth, best).num_params(in_dim, out_dim)
                                     - budget):
            best = width
        if count > budget:
            return best
        width += 1


def measure(config: Config, *, progress: bool = False) -> Measurement:
    for depth, width in config.recommended:
        if depth not in config.depths or width not in config.widths:
            raise ValueError(f"recommended: ({depth}, {width}) is not in the grid "
                             f"{config.depths} x {config.widths}")
    if not set(config.robust_depths) <= set(config.depths):
        raise ValueError(f"robust_depths: {config.robust_depths} not all in {config.depths}")
    if not set(config.robust_widths) <= set(config.widths):
        raise ValueError(f"robust_widths: {config.robust_widths} not all in {config.widths}")
    ds = config.task.load()
    grid = [_family.Member(d, w) for d in config.depths for w in config.widths]
    budget = _family.Member(1, config.budget_width).num_params(ds.in_dim, ds.out_dim)
    budget_members = [_family.Member(d, budget_width(d, budget, ds.in_dim, ds.out_dim))
                      for d in config.depths]
    extra = [m for m in budget_members if m not in grid]
    runs = _family.train_family(grid + extra, ds, config.training,
                                key=jax.random.key(config.seed), num_seeds=config.num_seeds,
                                progress=progress)
    index = {m: i for i, m in enumerate(runs.members)}
    val_mean, val_se = _family.mean_and_se(runs.val_accuracy)
    test_mean, _ = _family.mean_and_se(runs.test_accuracy)
    D, W = len(config.depths), len(config.widths)
    cells = val_mean[:D * W].reshape(D, W)
    recommended = [index[_family.Member(d, w)] for d, w in config.recommended]
    best_rec = max(recommended, key=lambda i: val_mean[i])
    best = int(np.argmax(val_mean[:D * W]))
    block = [index[_family.Member(d, w)] for d in config.robust_depths
             for w in config.robust_widths]
    budget_idx = [index[m] for m in budget_members]
    budget_acc = val_mean[budget_idx]
    best_budget = budget_members[int(np.argmax(budget_acc))]
    numbers = {
        "gap_points": 100 * float(val_mean[best] - val_mean[best_rec]),
        "range_points": 100 * float(np.ptp(val_mean[block])),
        "cell_se_points": 100 * float(np.median(val_se[:D * W])),
        "val_accuracy_recommended": float(val_mean[best_rec]),
        "val_accuracy_best_cell": float(val_mean[best]),
        "best_depth": float(runs.members[best].depth),
        "best_width": float(runs.members[best].width),
        "budget_params": float(budget),
        "budget_range_points": 100 * float(np.ptp(budget_acc)),
        "budget_best_depth": float(best_budget.depth),
        "test_accuracy_recommended": float(test_mean[best_rec]),
        "num_diverged": float(np.sum(runs.diverged)),
        "num_seeds": float(config.num_seeds),
    }
    arrays = {
        "depths": np.asarray(config.depths),
        "widths": np.asarray(config.widths),
        "val_accuracy_grid": cells,
        "val_se_grid": val_se[:D * W].reshape(D, W),
        "test_accuracy_grid": test_mean[:D * W].reshape(D, W),
        "budget_widths": np.asarray([m.width for m in budget_members]),
        "budget_num_params": runs.num_params[budget_idx],
        "budget_val_accuracy": runs.val_accuracy[budget_idx],
        "recommended": np.asarray(config.recommended),
        "robust_depths": np.asarray(config.robust_depths),
    }
    settings = (
        f"ReLU MLPs, depths {list(config.depths)} x widths {list(config.widths)}, plus depths "
        f"{list(config.depths)} at {budget} parameters (widths "
        f"{[m.width for m in budget_members]}), on {config.task.describe(ds)}; "
        f"{_common.describe_training(config.training)}; {config.num_seeds} seeds"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    gap, spread, se = numbers["gap_points"], numbers["range_points"], numbers["cell_se_points"]
    if not all(np.isfinite(v) for v in (gap, spread, se)):
        return Verdict(INCONCLUSIVE, "some runs did not give finite accuracies")
    g, r, noise = 100 * GAP_MARGIN, 100 * RANGE_MARGIN, 2.8 * se
    text = (f"the recommended size is {gap:.1f} points below the best cell "
            f"({int(numbers['best_depth'])} x {int(numbers['best_width'])}); validation accuracy "
            f"spans {spread:.1f} points over 2-3 layers of half to twice the width (cell se "
            f"{se:.1f} points)")
    if gap <= g and spread <= r:
        return Verdict(SUPPORTED, text + f": within {g:.0f} and {r:.0f} points")
    if gap > g + noise or spread > r + noise:
        which = "gap" if gap > g + noise else "range"
        return Verdict(NOT_SUPPORTED, text + f": the {which} exceeds its margin by more than "
                                             f"2.8 se")
    return Verdict(INCONCLUSIVE, text + ": above a margin, but within 2.8 se of it")


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    depths, widths = a["depths"], a["widths"]
    with plots.style():
        fig, (ax_grid, ax_budget) = plt.subplots(
            1, 2, figsize=plots.figure_size(columns=2, aspect=0.4), width_ratios=(1.3, 1))
        for i, d in enumerate(depths):
            ax_grid.errorbar(widths, 100 * a["val_accuracy_grid"][i],
                             yerr=200 * a["val_se_grid"][i], marker="o", capsize=2,
                             color=plots.COLORS[i % len(plots.COLORS)],
                             label=f"{d} hidden layer{'s' if d > 1 else ''}")
        for d, w in a["recommended"]:
            i = list(depths).index(d)
            j = list(widths).index(w)
            ax_grid.plot(w, 100 * a["val_accuracy_grid"][i, j], "*", ms=9, mfc="none",
                         color="0.2", label="recommended start" if (d, w) == tuple(
                             a["recommended"][0]) else None)
        ax_grid.set_xscale("log")
        ax_grid.set_xticks(widths, [str(w) for w in widths])
        ax_grid.minorticks_off()
        ax_grid.set(xlabel="hidden units per layer", ylabel="validation accuracy (%)",
                    title="depth x width (mean +- 2 se)")
        ax_grid.legend()
        budget = a["budget_val_accuracy"]
        mean, se = _family.mean_and_se(budget)
        ax_budget.errorbar(depths, 100 * mean, yerr=200 * se, marker="o", capsize=2,
                           color=plots.COLORS[0], label="mean +- 2 se")
        for seed in range(budget.shape[1]):
            ax_budget.plot(depths + 0.06, 100 * budget[:, seed], ".", color=plots.COLORS[0],
                           alpha=0.5, ms=3, label="one seed" if seed == 0 else None)
        for d, w, m in zip(depths, a["budget_widths"], mean, strict=True):
            ax_budget.annotate(f"width {w}", (d, 100 * m), textcoords="offset points",
                               xytext=(8, 2), fontsize=6, color="0.3")
        ax_budget.set_xticks(depths)
        n = int(np.median(a["budget_num_params"]))
        ax_budget.set(xlabel="hidden layers", ylabel="validation accuracy (%)",
                      title=f"fixed budget (~{n} parameters)")
        ax_budget.legend()
    return fig
