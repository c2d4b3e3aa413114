"""C9: identical (e.g. all-zero) initialisation never breaks symmetry; random
initialisation does; Glorot/Xavier is a good default.

One MLP trained from several initialisations: Glorot, He, a small gaussian,
all zeros and a constant. Every (initialisation, seed) pair starts from its own
parameters, passed as ``init_params``, so all of them run in one compiled
program; the same seeds give the same minibatch order for every
initialisation (paired comparison).

After training we count the *distinct* hidden units of every layer: two units
are the same when their signatures (incoming weights, bias and outgoing
weights) differ by at most ``tol`` times the mean signature norm of the layer.
Units that start identical receive identical gradients, so plain SGD with
momentum keeps them identical (minibatch noise is shared by all units;
dropout, which is off here, would break the tie).

References
----------
Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep
feedforward neural networks. AISTATS.
He, K., Zhang, X., Ren, S. and Sun, J. (2015). Delving deep into rectifiers. ICCV.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from landscape import models, plots, train
from landscape.problem import from_model
from landscape.studies.claims import _common, _starts
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C9"
TITLE = ("Identical (e.g. all-zero) initialisation never breaks symmetry; random initialisation "
         "does; Glorot/Xavier is a good default.")
RULE = (
    "Train one MLP from constant initialisations (all zeros, a constant) and random ones "
    "(Glorot, He, a small gaussian), several seeds each, and count the distinct hidden units "
    "per layer after training (signatures differing by more than 1e-3 of their mean norm). "
    "**Supported** if every constant-init run ends with 1 distinct unit in every hidden layer, "
    "every random-init run keeps at least 90% of its units distinct, and Glorot's mean final "
    "validation accuracy is within 2 standard errors (of the difference) of the best random "
    "initialisation's. **Not supported** if a constant-init run ends with more than one distinct "
    "unit in a layer, or a random-init run with fewer than 50%, or Glorot trails the best by "
    "more than 2 standard errors and more than 3 accuracy points. **Inconclusive** otherwise."
)

CONSTANT_PREFIXES = ("zeros", "constant(")


@dataclasses.dataclass(frozen=True)
class Config:
    task: _common.Task = _common.Task(standardize=True)
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    inits: tuple[str, ...] = ("glorot_normal", "he", "normal(0.01)", "zeros", "constant(0.05)")
    num_seeds: int = 4
    tol: float = 1e-3
    training: train.TrainConfig = train.TrainConfig(
        optimizer="momentum", learning_rate=0.05, num_steps=800, batch_size=64, eval_every=50
    )
    seed: int = 9


PROFILES = {
    "quick": Config(),
    "full": Config(
        task=_common.Task(num_samples=5000, standardize=True), hidden=(100, 100, 100),
        inits=("glorot_normal", "glorot_uniform", "he", "lecun", "normal(0.01)", "normal(0.1)",
               "zeros", "constant(0.05)"),
        num_seeds=10,
        training=train.TrainConfig(optimizer="momentum", learning_rate=0.05, num_steps=6000,
                                   batch_size=64, eval_every=250),
    ),
}


# The second task: scikit-learn's digits (real 8x8 images), the same experiment and rule.
OTHER_TASKS = {
    "digits": {profile: dataclasses.replace(
        config, task=dataclasses.replace(config.task, dataset="digits"))
        for profile, config in PROFILES.items()},
}


def is_constant(init: str) -> bool:
    """Whether ``init`` gives every weight of a layer the same value."""
    return init.startswith(CONSTANT_PREFIXES)


def distinct_units(w_in, b, w_out, *, tol: float) -> tuple[int, float]:
    """Number of distinct hidden units of one layer, and the largest distance between
    two units that were merged (relative to the mean signature norm).

    Unit ``j`` has the signature ``(w_in[:, j], b[j], w_out[j, :])``; units are taken in
    order and a unit is new when it lies farther than ``tol * mean norm`` from every
    unit kept so far.
    """
    sig = np.concatenate([np.asarray(w_in).T, np.asarray(b)[:, None], np.asarray(w_out)], axis=1)
    sig = sig.astype(np.float64)
    scale = float(np.mean(np.linalg.norm(sig, axis=1)))
    if scale == 0.0:  # every unit is the zero vector
        return 1, 0.0
    kept: list[np.ndarray] = []
    merged = 0.0
    for row in sig:
        dists = [float(np.linalg.norm(row - k)) / scale for k in kept]
        if kept and min(dists) <= tol:
            merged = max(merged, min(dists))
        else:
            kept.append(row)
    return len(kept), merged


def count_distinct(params, *, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Distinct units and merged distances for every run and hidden layer, ``(R, L)``
    each, from MLP parameters stacked over ``R`` runs."""
    num_runs = len(np.asarray(params[0]["w"]))
    num_hidden = len(params) - 1
    counts = np.zeros((num_runs, num_hidden), dtype=int)
    merged = np.zeros((num_runs, num_hidden))
    for r in range(num_runs):
        for i in range(num_hidden):
            counts[r, i], merged[r, i] = distinct_units(
                params[i]["w"][r], params[i]["b"][r], params[i + 1]["w"][r], tol=tol
            )
    return counts, merged


def _check(config: Config) -> None:
    if config.num_seeds < 2:
        raise ValueError(f"num_seeds: need at least 2 for a standard error, got {config.num_seeds}")
    if "glorot_normal" not in config.inits:
        raise ValueError(f"inits: must include 'glorot_normal', got {config.inits}")
    if not any(is_constant(i) for i in config.inits):
        raise ValueError(f"inits: need at least one constant initialisation, got {config.inits}")
    for init in config.inits:
        models.get_initialiser(init)  # raises ValueError naming the field


def measure(config: Config, *, progress: bool = False) -> Measurement:
    _check(config)
    ds = config.task.load()
    inits, S = tuple(config.inits), config.num_seeds
    seed_keys = jax.random.split(jax.random.key(config.seed), S)
    plain = {
        name: models.mlp(ds.in_dim, config.hidden, ds.out_dim, activation=config.activation,
                         init=name)
        for name in inits
    }
    # seed s draws its initialisation and minibatch order from the same key for every init
    starts = [_starts.stacked_init(plain[name], seed_keys) for name in inits]
    init_params = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *starts)
    model = plain[inits[0]]  # every member has the same apply; only init differs
    run_keys = jnp.concatenate([seed_keys] * len(inits))
    result = train.train_seeds(from_model(model, ds), config.training, keys=run_keys,
                               init_params=init_params, progress=progress)
    curves = result.curves
    val_acc = np.asarray(curves.val_accuracy, dtype=float)[:, -1].reshape(len(inits), S)
    diverged = np.asarray(result.diverged).reshape(len(inits), S)
    counts, merged = count_distinct(jax.device_get(result.params), tol=config.tol)
    counts = counts.reshape(len(inits), S, -1)
    merged = merged.reshape(len(inits), S, -1)

    constant = np.array([is_constant(i) for i in inits])
    widths = np.asarray(config.hidden)
    mean_acc = val_acc.mean(axis=1)
    se_acc = val_acc.std(axis=1, ddof=1) / np.sqrt(S)
    random_idx = np.flatnonzero(~constant)
    best = int(random_idx[np.argmax(mean_acc[random_idx])])
    glorot = inits.index("glorot_normal")
    numbers = {
        "constant_max_distinct_units": float(counts[constant].max()),
        "random_min_distinct_fraction": float((counts[~constant] / widths[None, None, :]).min())
        if (~constant).any() else float("nan"),
        "glorot_gap_to_best_accuracy": float(mean_acc[best] - mean_acc[glorot]),
        "gap_se": float(np.hypot(se_acc[best], se_acc[glorot])) if best != glorot else 0.0,
        "constant_max_merged_distance": float(merged[constant].max()),
        **{f"val_accuracy_{name}": float(mean_acc[i]) for i, name in enumerate(inits)},
        **{f"val_accuracy_se_{name}": float(se_acc[i]) for i, name in enumerate(inits)},
        "num_diverged": float(diverged.sum()),
        "num_seeds": float(S),
    }
    arrays = {
        "inits": np.asarray(inits),
        "hidden": widths,
        "val_accuracy": val_acc,  # (init, seed) final
        "distinct_units": counts,  # (init, seed, hidden layer)
        "step": np.asarray(curves.step),
        "val_loss": np.asarray(curves.val_loss, dtype=float).reshape(len(inits), S, -1),
        "train_loss": np.asarray(curves.train_loss, dtype=float).reshape(len(inits), S, -1),
    }
    settings = (
        f"MLP {config.hidden} ({config.activation}) on {config.task.describe(ds)}, inputs "
        f"standardised; initialisations {list(inits)} (biases 0); "
        f"{_common.describe_training(config.training)}; {S} seeds each (the same seeds and "
        f"minibatch order for every initialisation); units distinct beyond {config.tol:g} of "
        f"the mean signature norm"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    const = numbers["constant_max_distinct_units"]
    frac = numbers["random_min_distinct_fraction"]
    gap, se = numbers["glorot_gap_to_best_accuracy"], numbers["gap_se"]
    if not all(np.isfinite([const, frac, gap, se])):
        return Verdict(INCONCLUSIVE, "a measurement is not finite")
    glorot = ("Glorot's is the best validation accuracy of the random inits" if gap <= 0 else
              f"Glorot's validation accuracy is {100 * gap:.1f} points below the best random "
              f"init (SE {100 * se:.1f})")
    said = (f"constant inits end with at most {_common.plural(const, 'distinct unit')} per layer; "
            + ("random inits keep every unit distinct" if frac >= 1 else
               f"random inits keep at least {100 * frac:.0f}% of their units distinct")
            + f"; {glorot}")
    if const > 1 or frac < 0.5 or (gap > 2 * se and gap > 0.03):
        return Verdict(NOT_SUPPORTED, said)
    if const == 1 and frac >= 0.9 and gap <= 2 * se:
        return Verdict(SUPPORTED, said)
    return Verdict(INCONCLUSIVE, said)


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    inits = [str(i) for i in a["inits"]]
    x = np.arange(len(inits))
    with plots.style():
        fig, (ax_acc, ax_units, ax_curve) = plt.subplots(
            1, 3, figsize=plots.figure_size(columns=2, aspect=0.32)
        )
        acc = 100 * a["val_accuracy"]
        for i in range(len(inits)):
            color = plots.COLORS[i % len(plots.COLORS)]
            ax_acc.scatter(np.full(acc.shape[1], x[i]), acc[i], color=color, s=8, alpha=0.7,
                           label="seeds" if i == 0 else None)
            ax_acc.errorbar(x[i], acc[i].mean(), yerr=acc[i].std(ddof=1) / np.sqrt(acc.shape[1]),
                            color="black", marker="_", ms=10, capsize=2,
                            label="mean +- SE" if i == 0 else None)
            mean_loss = a["val_loss"][i].mean(axis=0)
            ax_curve.plot(a["step"], mean_loss, color=color, label=inits[i],
                          ls="-" if i < len(plots.COLORS) else "--")  # colours repeat
        ax_acc.set_xticks(x, inits, rotation=30, ha="right")
        ax_acc.set(ylabel="final validation accuracy (%)", title="accuracy by initialisation")
        ax_acc.legend(loc="lower left")  # below the good inits, left of the poor ones
        counts = a["distinct_units"]
        num_layers = counts.shape[2]
        width = 0.8 / num_layers
        for layer in range(num_layers):
            offset = (layer - (num_layers - 1) / 2) * width
            ax_units.bar(x + offset, counts[:, :, layer].min(axis=1), width=width,
                         color=plots.COLORS[layer % len(plots.COLORS)],
                         label=f"hidden layer {layer + 1} ({int(a['hidden'][layer])} units)")
        ax_units.set_yscale("log")
        ax_units.set_ylim(0.7, 60 * float(np.max(a["hidden"])))  # room for the legend
        ax_units.set_xticks(x, inits, rotation=30, ha="right")
        ax_units.set(ylabel="distinct units (min over seeds)", title="symmetry after training")
        ax_units.legend(loc="upper right")
        ax_curve.set(xlabel="training step", ylabel="validation loss (nats)",
                     title="validation loss (mean of seeds)")
        ax_curve.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=6.5)  # beside
    return fig
