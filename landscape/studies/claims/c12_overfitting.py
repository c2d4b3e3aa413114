"""C12: overfitting shows as a low training loss with a rising validation loss
(a U-shaped validation curve); early stopping at the validation minimum, an L2
penalty and dropout reduce it.

A wide MLP trained for a long time on a few hundred examples (mnist1d, and digits
as the second task), three
ways: plain, with an L2 penalty ``l2 * |theta|^2 / 2`` added to the loss, and
with dropout after every hidden layer. The generalisation gap is validation
loss minus training loss (both without the penalty, dropout off). Early
stopping is read off the plain runs' curves: the gap at each seed's
validation-loss minimum.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from landscape import models, plots, train
from landscape.problem import from_model
from landscape.studies.claims import _common, _starts
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C12"
TITLE = ("Overfitting shows as low training loss with a rising validation loss (a U shape); "
         "early stopping at the validation minimum, L2 and dropout reduce it.")
RULE = (
    "Train a wide MLP long on a small training set: plain, with an L2 penalty, with dropout "
    "(the same seeds). The gap is final validation loss minus final training loss (mean over "
    "seeds). **Supported** if the plain runs show the U (final validation loss above 1.2 times "
    "its minimum while the training loss at the end is below its value at that minimum), and "
    "L2, dropout and early stopping (the gap at the validation minimum) each reduce the plain "
    "gap by more than 2 standard errors. **Not supported** if there is no U (final validation "
    "loss at most 1.05 times its minimum), or L2 or dropout does not reduce the gap at all. "
    "**Inconclusive** otherwise."
)

VARIANTS = ("plain", "l2", "dropout")


@dataclasses.dataclass(frozen=True)
class Config:
    task: _common.Task = _common.Task(standardize=True)
    num_train: int = 300
    hidden: tuple[int, ...] = (128, 128)
    l2: float = 1e-3
    dropout: float = 0.5
    num_seeds: int = 4
    training: train.TrainConfig = train.TrainConfig(
        optimizer="adam", learning_rate=1e-3, num_steps=1000, batch_size=50, eval_every=25
    )
    seed: int = 12


PROFILES = {
    "quick": Config(),
    "full": Config(
        task=_common.Task(num_samples=5000, standardize=True), hidden=(512, 512), num_seeds=10,
        training=train.TrainConfig(optimizer="adam", learning_rate=1e-3, num_steps=5000,
                                   batch_size=50, eval_every=50),
    ),
}


# The second task: scikit-learn's digits (real 8x8 images), the same experiment and rule.
OTHER_TASKS = {
    "digits": {profile: dataclasses.replace(
        config, task=dataclasses.replace(config.task, dataset="digits"))
        for profile, config in PROFILES.items()},
}


def _check(config: Config) -> None:
    if config.num_seeds < 2:
        raise ValueError(f"num_seeds: need at least 2 for a standard error, got {config.num_seeds}")
    if config.l2 <= 0:
        raise ValueError(f"l2: must be positive (the L2 variant), got {config.l2}")
    if not 0 < config.dropout < 1:
        raise ValueError(f"dropout: must be in (0, 1), got {config.dropout}")
    if config.training.l2 or config.training.weight_decay:
        raise ValueError("training: the plain runs must have l2 = weight_decay = 0")


def _se(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))


def measure(config: Config, *, progress: bool = False) -> Measurement:
    _check(config)
    ds = config.task.load()
    ds = ds.subset(min(config.num_train, ds.num_train))
    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    base = models.mlp(ds.in_dim, config.hidden, ds.out_dim)
    runs = {
        "plain": (base, config.training),
        "l2": (base, config.training.replace(l2=config.l2)),
        "dropout": (models.mlp(ds.in_dim, config.hidden, ds.out_dim, dropout=config.dropout),
                    config.training),
    }
    curves = {}
    init = _starts.stacked_init(base, keys)  # dropout does not change the parameters
    for name, (model, cfg) in runs.items():
        result = train.train_seeds(from_model(model, ds), cfg, keys=keys, init_params=init,
                                    progress=progress)
        curves[name] = (np.asarray(result.curves.train_loss, dtype=float),
                        np.asarray(result.curves.val_loss, dtype=float),
                        np.asarray(result.curves.val_accuracy, dtype=float))
    step = np.asarray(config.training.eval_steps)
    gap = {name: c[1][:, -1] - c[0][:, -1] for name, c in curves.items()}
    train_loss, val_loss, _ = curves["plain"]
    rows = np.arange(config.num_seeds)
    at_min = np.argmin(val_loss, axis=1)  # each seed's early-stopping point
    early_gap = val_loss[rows, at_min] - train_loss[rows, at_min]
    val_min, val_final = val_loss[rows, at_min], val_loss[:, -1]
    numbers = {
        "val_final_over_min": float(val_final.mean() / val_min.mean()),
        "gap_plain": float(gap["plain"].mean()),
        "gap_reduction_l2": float(gap["plain"].mean() - gap["l2"].mean()),
        "gap_reduction_dropout": float(gap["plain"].mean() - gap["dropout"].mean()),
        "gap_reduction_early_stopping": float(gap["plain"].mean() - early_gap.mean()),
        "se_l2": float(np.hypot(_se(gap["plain"]), _se(gap["l2"]))),
        "se_dropout": float(np.hypot(_se(gap["plain"]), _se(gap["dropout"]))),
        "se_early_stopping": _se(gap["plain"] - early_gap),  # paired: the same runs
        "train_loss_at_val_min": float(train_loss[rows, at_min].mean()),
        "train_loss_final": float(train_loss[:, -1].mean()),
        "val_loss_min": float(val_min.mean()),
        "val_loss_final": float(val_final.mean()),
        "early_stopping_step": float(np.mean(step[at_min])),
        **{f"gap_{name}": float(gap[name].mean()) for name in ("l2", "dropout")},
        "gap_early_stopping": float(early_gap.mean()),
        **{f"val_loss_final_{name}": float(curves[name][1][:, -1].mean()) for name in VARIANTS},
        **{f"val_accuracy_final_{name}": float(curves[name][2][:, -1].mean()) for name in VARIANTS},
        "val_accuracy_early_stopping": float(curves["plain"][2][rows, at_min].mean()),
        "num_seeds": float(config.num_seeds),
    }
    arrays = {"step": step, "early_stopping_index": at_min}
    for name, (tl, vl, _) in curves.items():
        arrays[f"train_loss_{name}"], arrays[f"val_loss_{name}"] = tl, vl
        arrays[f"gap_{name}"] = gap[name]
    arrays["gap_early_stopping"] = early_gap
    t = config.training
    settings = (
        f"MLP {config.hidden} on {ds.num_train} {config.task.dataset} training examples "
        "(inputs standardised), "
        f"{len(ds.x_val)} validation examples; {_common.describe_training(t)}; variants: plain, "
        f"L2 penalty {config.l2:g}, dropout {config.dropout:g}; {config.num_seeds} seeds, the "
        f"same initialisation and minibatch order in every variant"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    ratio = numbers["val_final_over_min"]
    still_falling = numbers["train_loss_final"] < numbers["train_loss_at_val_min"]
    red = {k: numbers[f"gap_reduction_{k}"] for k in ("l2", "dropout", "early_stopping")}
    se = {k: numbers[f"se_{k}"] for k in ("l2", "dropout", "early_stopping")}
    values = [ratio, *red.values(), *se.values()]
    if not all(np.isfinite(values)):
        return Verdict(INCONCLUSIVE, "a measurement is not finite")
    said = (f"final validation loss is {ratio:.2f}x its minimum (training loss "
            f"{numbers['train_loss_at_val_min']:.3f} -> {numbers['train_loss_final']:.3f}); the "
            f"gap of {numbers['gap_plain']:.2f} nats shrinks by {red['l2']:.2f} with L2 (SE "
            f"{se['l2']:.2f}), {red['dropout']:.2f} with dropout (SE {se['dropout']:.2f}) and "
            f"{red['early_stopping']:.2f} with early stopping (SE {se['early_stopping']:.2f})")
    if ratio <= 1.05 or red["l2"] <= 0 or red["dropout"] <= 0:
        return Verdict(NOT_SUPPORTED, said)
    u_shape = ratio > 1.2 and still_falling
    if u_shape and all(red[k] > 2 * se[k] for k in red):
        return Verdict(SUPPORTED, said)
    return Verdict(INCONCLUSIVE, said)


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    step = a["step"]
    colors = dict(zip(VARIANTS, plots.COLORS, strict=False))
    with plots.style():
        fig, (ax_u, ax_var, ax_gap) = plt.subplots(
            1, 3, figsize=plots.figure_size(columns=2, aspect=0.32)
        )
        train_loss, val_loss = a["train_loss_plain"], a["val_loss_plain"]
        for s in range(len(train_loss)):
            ax_u.plot(step, train_loss[s], color=colors["plain"], ls="--", alpha=0.6,
                      label="training" if s == 0 else None)
            ax_u.plot(step, val_loss[s], color=colors["plain"], alpha=0.8,
                      label="validation" if s == 0 else None)
        idx = a["early_stopping_index"]
        rows = np.arange(len(idx))
        ax_u.scatter(step[idx], val_loss[rows, idx], color="black", zorder=3, s=10,
                     label="validation minimum")
        ax_u.set(xlabel="training step", ylabel="loss (nats)", title="plain: the U shape")
        ax_u.legend(loc="center right")
        for name in VARIANTS:
            ax_var.plot(step, a[f"val_loss_{name}"].mean(axis=0), color=colors[name],
                        label={"l2": "L2"}.get(name, name))
            ax_var.plot(step, a[f"train_loss_{name}"].mean(axis=0), color=colors[name], ls="--")
        ax_var.set(xlabel="training step", ylabel="loss (nats), mean of seeds",
                   title="validation (solid), training (dashed)")
        ax_var.legend(loc="upper left")  # above the start, left of the rising curves
        names = [*VARIANTS, "early_stopping"]
        labels = ["plain", "L2", "dropout", "early\nstopping"]
        gaps = [a[f"gap_{name}"] for name in names]
        x = np.arange(len(names))
        means = [g.mean() for g in gaps]
        errors = [g.std(ddof=1) / np.sqrt(len(g)) for g in gaps]
        ax_gap.bar(x, means, yerr=errors, capsize=2,
                   color=[*(colors[n] for n in VARIANTS), plots.COLORS[3]], label="mean +- SE")
        for i, g in enumerate(gaps):
            ax_gap.scatter(np.full(len(g), x[i]), g, color="black", s=6, zorder=3,
                           label="seeds" if i == 0 else None)
        ax_gap.set_xticks(x, labels)
        ax_gap.set(ylabel="validation - training loss (nats)", title="generalisation gap")
        ax_gap.set_ylim(top=1.4 * float(max(np.max(g) for g in gaps)))  # room for the legend
        ax_gap.legend(loc="upper center", ncol=2)
    return fig
