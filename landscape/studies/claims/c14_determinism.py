"""C14: randomness (shuffling, initialisation, dropout) makes training hard to debug.

We separate the two halves of the claim. Randomness that is *seeded* is not
randomness a debugger has to live with: with explicit PRNG keys the same config
and seed must give bit-identical parameters, minibatch order and dropout masks
included. What randomness does contribute is the seed-to-seed spread, measured
here on the same configuration.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from landscape import models, plots, train
from landscape.studies.claims import _common
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C14"
TITLE = "Randomness (shuffling, initialisation, dropout) makes training hard to debug."
RULE = (
    "Train the same configuration (minibatch shuffling, random init and dropout all on) twice "
    "with the same seed, and once per seed for several seeds. **Not supported** if the two "
    "same-seed runs end with bit-identical parameters (max |difference| = 0): seeded randomness "
    "is reproducible, so it need not hamper debugging. **Supported** if they differ. The "
    "seed-to-seed coefficient of variation (CV) of the final validation loss is reported as "
    "the part randomness does contribute."
)


@dataclasses.dataclass(frozen=True)
class Config:
    task: _common.Task = _common.Task(num_samples=2000)
    hidden: tuple[int, ...] = (100, 100)
    dropout: float = 0.2
    num_seeds: int = 8
    training: train.TrainConfig = train.TrainConfig(
        optimizer="adam", learning_rate=1e-3, num_steps=600, batch_size=64, eval_every=50
    )
    seed: int = 14


PROFILES = {
    "quick": Config(),
    "full": Config(
        task=_common.Task(num_samples=5000),
        num_seeds=32,
        training=train.TrainConfig(
            optimizer="adam", learning_rate=1e-3, num_steps=3000, batch_size=64, eval_every=100
        ),
    ),
}


def measure(config: Config, *, progress: bool = False) -> Measurement:
    ds = config.task.load()
    model = models.mlp(ds.in_dim, config.hidden, ds.out_dim, dropout=config.dropout)
    run = lambda: _common.train_and_evaluate(
        model, ds, config.training, seed=config.seed, num_seeds=config.num_seeds, progress=progress
    )
    first, second = run(), run()
    leaves = zip(
        jax.tree_util.tree_leaves(first.result.params),
        jax.tree_util.tree_leaves(second.result.params),
        strict=True,
    )
    max_diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in leaves)
    curves = first.result.curves
    numbers = {
        "same_seed_max_param_diff": max_diff,
        "seed_cv_val_loss": _common.coefficient_of_variation(first.val_loss),
        "seed_range_val_accuracy": float(np.ptp(first.val_accuracy)),
        "mean_val_accuracy": float(np.mean(first.val_accuracy)),
        "num_seeds": float(config.num_seeds),
    }
    arrays = {
        "step": np.asarray(curves.step),
        "val_loss": np.asarray(curves.val_loss),
        "rerun_val_loss": np.asarray(second.result.curves.val_loss),
        "final_val_loss": first.val_loss,
    }
    settings = (
        f"MLP {config.hidden}, dropout {config.dropout}, on {config.task.describe(ds)}; "
        f"{_common.describe_training(config.training)}; {config.num_seeds} seeds, each run twice"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    diff, cv = numbers["same_seed_max_param_diff"], numbers["seed_cv_val_loss"]
    if not np.isfinite(diff):
        return Verdict(INCONCLUSIVE, "the runs did not finish with finite parameters")
    if diff == 0.0:
        return Verdict(
            NOT_SUPPORTED,
            f"the same seed reproduced every parameter bit for bit (max difference 0); "
            f"what randomness adds is a seed-to-seed CV of {100 * cv:.1f}% in validation loss",
        )
    return Verdict(SUPPORTED, f"the same seed gave parameters differing by up to {diff:.2e}")


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    with plots.style():
        fig, (ax_curve, ax_hist) = plt.subplots(
            1, 2, figsize=plots.figure_size(columns=2, aspect=0.35)
        )
        for i, curve in enumerate(a["val_loss"]):
            ax_curve.plot(
                a["step"],
                curve,
                color=plots.COLORS[0],
                alpha=0.5,
                lw=1,
                label="seeds (first run)" if i == 0 else None,
            )
            ax_curve.plot(
                a["step"],
                a["rerun_val_loss"][i],
                color=plots.COLORS[1],
                ls=":",
                lw=1.2,
                label="same seeds, second run" if i == 0 else None,
            )
        ax_curve.set(
            xlabel="training step",
            ylabel="validation loss (nats)",
            title="same seed: curves coincide",
        )
        ax_curve.legend()
        ax_hist.hist(
            a["final_val_loss"],
            bins=min(10, len(a["final_val_loss"])),
            color=plots.COLORS[0],
            alpha=0.8,
            label="one run per seed",
        )
        ax_hist.set(
            xlabel="final validation loss (nats)",
            ylabel="seeds (count)",
            title="different seeds: the spread",
        )
        ax_hist.yaxis.get_major_locator().set_params(integer=True)
        ax_hist.legend()
    return fig
