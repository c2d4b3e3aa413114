"""C14: randomness (shuffling, initialisation, dropout) makes training hard to debug.

Both sides of the claim are measured. Randomness that is *seeded* can be replayed:
with explicit PRNG keys the same config and seed must give bit-identical
parameters, minibatch order and dropout masks included. What randomness does
change is *which* examples a model gets right: for pairs of seeds we measure the
fraction of test examples on which their predicted classes differ against the
difference of their accuracies, first with every source of randomness varied, then
with one source at a time (the initial parameters only, the minibatch order only,
the dropout masks only; the other two fixed). The rule
(:data:`landscape.studies.claims._rules.DISAGREEMENT_RULE`) weighs both.

One source at a time: every such run uses the same training key (so the same
minibatch order and dropout masks); *init only* starts the runs from parameters
drawn with different keys; *dropout only* folds a per-run constant into the
dropout key (a parameter leaf behind ``stop_gradient``, so it never moves);
*data order only* permutes the training set differently per run, so the same
key draws a different sequence of examples.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from landscape import models, plots, train
from landscape.problem import from_functions
from landscape.studies.claims import _common, _rules
from landscape.studies.faq import Measurement, Verdict

ID = "C14"
TITLE = "Randomness (shuffling, initialisation, dropout) makes training hard to debug."
RULE = _rules.DISAGREEMENT_RULE
OTHER_TASKS: dict = {}  # filled below, after PROFILES

SOURCES = ("init only", "data order only", "dropout only")


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
    source_runs: int = 4  # runs per single source of randomness (0: skip that part)


PROFILES = {
    "quick": Config(),
    "full": Config(
        task=_common.Task(num_samples=5000),
        num_seeds=32,
        training=train.TrainConfig(
            optimizer="adam", learning_rate=1e-3, num_steps=3000, batch_size=64, eval_every=100
        ),
        source_runs=8,
    ),
}

OTHER_TASKS["digits"] = {
    "quick": dataclasses.replace(PROFILES["quick"], task=_common.Task("digits")),
    "full": dataclasses.replace(PROFILES["full"], task=_common.Task("digits")),
}


@functools.lru_cache(maxsize=16)
def _predict(apply):
    """Predicted classes of every run (leading axis of ``params``) on inputs ``x``."""
    return jax.jit(jax.vmap(lambda p, x: jnp.argmax(apply(p, x), axis=-1), in_axes=(0, None)))


def pairwise(predictions: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean over pairs of runs of (fraction of examples predicted differently,
    |accuracy difference|).

    >>> pairwise(np.array([[0, 1, 1, 0], [0, 1, 0, 1]]), np.array([0, 1, 1, 1]))
    (0.5, 0.0)
    """
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.ndim != 2 or len(predictions) < 2:
        raise ValueError(f"predictions: need (runs >= 2, examples), got {predictions.shape}")
    accuracy = np.mean(predictions == labels[None, :], axis=1)
    pairs = list(itertools.combinations(range(len(predictions)), 2))
    disagree = [float(np.mean(predictions[a] != predictions[b])) for a, b in pairs]
    gap = [abs(float(accuracy[a] - accuracy[b])) for a, b in pairs]
    return float(np.mean(disagree)), float(np.mean(gap))


def _salted(model: models.Model) -> models.Model:
    """``model`` whose dropout key is folded with a constant parameter ``salt``."""

    def init(key):
        return {"net": model.init(key), "salt": jnp.zeros((), jnp.result_type(float))}

    def apply(params, x, *, key=None):
        if key is not None:
            salt = jax.lax.stop_gradient(params["salt"]).astype(jnp.uint32)
            key = jax.random.fold_in(key, salt)
        return model.apply(params["net"], x, key=key)

    return models.Model(init, apply, f"{model.name} (salted dropout)")


def _problem(model: models.Model, ds):
    """The salted model as a Problem (no layout: its parameters are not a list of layers)."""
    return from_functions(model.init, model.apply, ds, name=model.name)


def _one_source_at_a_time(model, ds, config: Config, *, progress: bool) -> dict[str, np.ndarray]:
    """Test predictions of ``config.source_runs`` runs per source of randomness."""
    runs = config.source_runs
    salted = _salted(model)
    base = jax.random.key(config.seed + 1000)
    same_keys = jnp.stack([base] * runs)
    init_keys = jax.random.split(jax.random.fold_in(base, 1), runs)
    nets = [model.init(jax.random.split(k, 3)[0]) for k in init_keys]
    fixed_net = model.init(jax.random.split(base, 3)[0])

    def stack(trees):
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *trees)

    def salted_params(net, salt):
        return {"net": net, "salt": jnp.asarray(salt, jnp.result_type(float))}

    x_test = jnp.asarray(ds.x_test)
    predict = _predict(salted.apply)
    out = {}
    # init only and dropout only: one program, same key for every run
    starts = ([salted_params(n, 0) for n in nets]
              + [salted_params(fixed_net, s) for s in range(runs)])
    result = train.train_seeds(_problem(salted, ds), config.training,
                               keys=jnp.stack([base] * 2 * runs),
                               init_params=stack(starts), progress=progress)
    pred = np.asarray(predict(result.params, x_test))
    out["init only"], out["dropout only"] = pred[:runs], pred[runs:]
    # data order only: the training set permuted per run, the same key
    rng = np.random.default_rng(config.seed)
    order = []
    for _ in range(runs):
        perm = rng.permutation(ds.num_train)
        shuffled = ds.replace(x_train=ds.x_train[perm], y_train=ds.y_train[perm])
        r = train.train_seeds(_problem(salted, shuffled), config.training, keys=same_keys[:1],
                              init_params=stack([salted_params(fixed_net, 0)]), progress=False)
        order.append(np.asarray(predict(r.params, x_test))[0])
    out["data order only"] = np.stack(order)
    return out


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
    labels = np.asarray(ds.y_test)
    predictions = np.asarray(_predict(model.apply)(first.result.params, jnp.asarray(ds.x_test)))
    disagreement, gap = pairwise(predictions, labels)
    numbers = {
        "same_seed_max_param_diff": max_diff,
        "seed_cv_val_loss": _common.coefficient_of_variation(first.val_loss),
        "seed_range_val_accuracy": float(np.ptp(first.val_accuracy)),
        "mean_val_accuracy": float(np.mean(first.val_accuracy)),
        "num_seeds": float(config.num_seeds),
        "test_disagreement": disagreement,
        "test_accuracy_gap": gap,
        "mean_test_accuracy": float(np.mean(first.test_accuracy)),
    }
    arrays = {
        "step": np.asarray(curves.step),
        "val_loss": np.asarray(curves.val_loss),
        "rerun_val_loss": np.asarray(second.result.curves.val_loss),
        "final_val_loss": first.val_loss,
        "sources": np.asarray(["all", *SOURCES] if config.source_runs > 1 else ["all"]),
        "source_disagreement": np.asarray([disagreement]),
        "source_accuracy_gap": np.asarray([gap]),
    }
    if config.source_runs > 1:
        by_source = _one_source_at_a_time(model, ds, config, progress=progress)
        for name in SOURCES:
            d, g = pairwise(by_source[name], labels)
            key = name.replace(" only", "").replace(" ", "_")
            numbers[f"disagreement_{key}_only"] = d
            numbers[f"accuracy_gap_{key}_only"] = g
            arrays["source_disagreement"] = np.append(arrays["source_disagreement"], d)
            arrays["source_accuracy_gap"] = np.append(arrays["source_accuracy_gap"], g)
    settings = (
        f"MLP {config.hidden}, dropout {config.dropout}, on {config.task.describe(ds)}; "
        f"{_common.describe_training(config.training)}; {config.num_seeds} seeds, each run twice; "
        f"predictions on the {len(labels)} test examples; one source of randomness at a time: "
        f"{config.source_runs} runs each"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    by_source = {name: numbers[f"disagreement_{name.replace(' only', '').replace(' ', '_')}_only"]
                 for name in SOURCES
                 if f"disagreement_{name.replace(' only', '').replace(' ', '_')}_only" in numbers}
    v = _rules.disagreement_verdict(
        numbers["same_seed_max_param_diff"],
        numbers.get("test_disagreement", float("nan")),
        numbers.get("test_accuracy_gap", float("nan")),
        by_source,
    )
    cv = numbers["seed_cv_val_loss"]
    return v._replace(reason=f"{v.reason}; the seed-to-seed CV of the validation loss is "
                             f"{100 * cv:.1f}%")


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    with plots.style():
        fig, (ax_curve, ax_hist, ax_src) = plt.subplots(
            1, 3, figsize=plots.figure_size(columns=2, aspect=0.33)
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
            ylabel="seeds (count, one run each)",
            title="different seeds: the spread",
        )
        ax_hist.yaxis.get_major_locator().set_params(integer=True)
        names = [str(n).replace(" only", "").replace("data order", "data\norder")
                 for n in a["sources"]]
        x = np.arange(len(names))
        ax_src.bar(x - 0.2, 100 * a["source_disagreement"], width=0.4, color=plots.COLORS[2],
                   label="predictions differ")
        ax_src.bar(x + 0.2, 100 * a["source_accuracy_gap"], width=0.4, color=plots.COLORS[3],
                   label="accuracy gap")
        ax_src.set_xticks(x, names)
        ax_src.set(xlabel="randomness varied (others fixed)", ylabel="test examples (%)",
                   title="two seeds: what changes")
        ax_src.set_ylim(0, 1.3 * max(1e-3, 100 * float(np.max(a["source_disagreement"]))))
        ax_src.legend(loc="upper right")
    return fig
