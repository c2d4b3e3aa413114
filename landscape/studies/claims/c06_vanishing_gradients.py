"""C6: deep sigmoid nets suffer vanishing gradients; ReLU avoids them.

Two measurements. At initialisation, the root-mean-square gradient of the
loss with respect to each weight matrix, on a fixed batch of training
examples, for MLPs of growing depth: the ratio first layer / output layer
(in orders of magnitude, ``log10``) says how much the gradient shrinks on its
way back through the hidden layers. Then, at the largest depth, plain
minibatch SGD for a fixed budget with the learning rate picked from a small
grid (one compiled program per activation, per-run learning rates): the
training loss reached.

Each activation gets the initialisation designed for it: Glorot (Glorot &
Bengio 2010) for the sigmoid, He (He et al. 2015) for ReLU; both are the usual
defaults, and the claim is about the nets people build.

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

from landscape import data, models, objectives, plots, train
from landscape.problem import from_model
from landscape.studies.claims import _common, _starts
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C6"
TITLE = "Deep sigmoid nets suffer vanishing gradients; ReLU avoids them."
RULE = (
    "At initialisation, r(depth) = log10 of the RMS gradient of the first weight matrix over "
    "that of the output weight matrix (mean over seeds), for MLPs of each depth; then, at the "
    "largest depth, the final training loss of minibatch SGD (best learning rate of a small "
    "grid, per activation). **Supported** if the sigmoid's r falls by at least 2 orders of "
    "magnitude from the smallest to the largest depth, ReLU's r stays within 1 order over all "
    "depths (max - min <= 1), and the sigmoid's final loss exceeds ReLU's by more than 2 "
    "standard errors (seeds). **Not supported** if the sigmoid's r falls by less than 1 order, "
    "or ReLU's r spans more than 2 orders, or the sigmoid's final loss is not above ReLU's. "
    "**Inconclusive** otherwise."
)

ACTIVATIONS = ("sigmoid", "relu")


@dataclasses.dataclass(frozen=True)
class Config:
    task: _common.Task = _common.Task(standardize=True)
    depths: tuple[int, ...] = (2, 4, 8, 12)
    width: int = 32
    sigmoid_init: str = "glorot_normal"
    relu_init: str = "he"
    num_gradient_examples: int = 512
    learning_rates: tuple[float, ...] = (0.03, 0.1, 0.3)
    num_seeds: int = 3
    training: train.TrainConfig = train.TrainConfig(
        optimizer="sgd", learning_rate=0.1, num_steps=500, batch_size=64, eval_every=50
    )
    seed: int = 6


PROFILES = {
    "quick": Config(),
    # 80 training runs of a 20-layer net at 5000 steps would take about half an hour on
    # 2 cores: 4 rates (the smallest of 5 dropped) and 3000 steps keep it near 15 min
    "full": Config(
        depths=(1, 2, 4, 6, 8, 12, 16, 20), width=100, num_seeds=8,
        learning_rates=(0.03, 0.1, 0.3, 1.0),
        task=_common.Task(num_samples=5000, standardize=True),
        training=train.TrainConfig(optimizer="sgd", learning_rate=0.1, num_steps=3000,
                                   batch_size=64, eval_every=250),
    ),
}


# The second task: scikit-learn's digits (real 8x8 images), the same experiment and rule.
OTHER_TASKS = {
    "digits": {profile: dataclasses.replace(
        config, task=dataclasses.replace(config.task, dataset="digits"))
        for profile, config in PROFILES.items()},
}


def _check(config: Config) -> None:
    if len(config.depths) < 2 or any(d < 1 for d in config.depths):
        raise ValueError(f"depths: need at least two positive depths, got {config.depths}")
    if config.num_seeds < 2:
        raise ValueError(f"num_seeds: need at least 2 for a standard error, got {config.num_seeds}")
    if not config.learning_rates or any(lr <= 0 for lr in config.learning_rates):
        raise ValueError(f"learning_rates: need positive rates, got {config.learning_rates}")


def _model(config: Config, in_dim: int, out_dim: int, depth: int, activation: str):
    init = config.sigmoid_init if activation == "sigmoid" else config.relu_init
    return models.mlp(in_dim, (config.width,) * depth, out_dim, activation=activation, init=init)


def layer_gradient_rms(model: models.Model, params, batch: data.Batch) -> jax.Array:
    """RMS entry of the loss gradient for each weight matrix, shape ``(S, L)`` for
    parameters stacked over ``S`` seeds and ``L`` layers."""
    loss = objectives.make_loss(model.apply)

    def one(p):
        grads = jax.grad(loss)(p, batch)
        return jnp.stack([jnp.sqrt(jnp.mean(jnp.square(g["w"]))) for g in grads])

    return jax.jit(jax.vmap(one))(params)


def measure(config: Config, *, progress: bool = False) -> Measurement:
    _check(config)
    ds = config.task.load()
    n = min(config.num_gradient_examples, ds.num_train)
    batch = data.Batch(jnp.asarray(ds.x_train[:n]), jnp.asarray(ds.y_train[:n]))
    seed_keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    depths, deepest = tuple(config.depths), max(config.depths)

    log_ratio = np.zeros((len(ACTIVATIONS), len(depths), config.num_seeds))
    deepest_rms = {}
    for a, activation in enumerate(ACTIVATIONS):
        for i, depth in enumerate(depths):
            model = _model(config, ds.in_dim, ds.out_dim, depth, activation)
            params = _starts.stacked_init(model, seed_keys)
            rms = np.asarray(layer_gradient_rms(model, params, batch))
            log_ratio[a, i] = np.log10(rms[:, 0]) - np.log10(rms[:, -1])
            if depth == deepest:
                deepest_rms[activation] = rms

    # training at the largest depth: every (learning rate, seed) pair in one program
    lrs = np.asarray(config.learning_rates, dtype=float)
    num_lr, S = len(lrs), config.num_seeds
    run_keys = jnp.concatenate([jax.random.split(jax.random.fold_in(seed_keys[0], 1), S)] * num_lr)
    final, curves, best_lr = {}, {}, {}
    for activation in ACTIVATIONS:
        model = _model(config, ds.in_dim, ds.out_dim, deepest, activation)
        result = train.train_seeds(from_model(model, ds), config.training, keys=run_keys,
                                   init_params=_starts.stacked_init(model, run_keys),
                                   learning_rates=np.repeat(lrs, S), progress=progress)
        loss = np.asarray(result.curves.train_loss, dtype=float).reshape(num_lr, S, -1)
        bad = np.asarray(result.diverged).reshape(num_lr, S) | ~np.isfinite(loss[:, :, -1])
        score = np.where(bad.any(axis=1), np.inf, loss[:, :, -1].mean(axis=1))
        best = int(np.argmin(score))
        final[activation], curves[activation] = loss[best, :, -1], loss[best]
        best_lr[activation] = float(lrs[best])

    mean_ratio = log_ratio.mean(axis=2)
    se = {a: float(np.std(final[a], ddof=1) / np.sqrt(S)) for a in ACTIVATIONS}
    numbers = {
        "sigmoid_ratio_drop_orders": float(mean_ratio[0, 0] - mean_ratio[0, -1]),
        "relu_ratio_range_orders": float(np.ptp(mean_ratio[1])),
        "loss_gap_sigmoid_minus_relu": float(final["sigmoid"].mean() - final["relu"].mean()),
        "loss_gap_se": float(np.hypot(se["sigmoid"], se["relu"])),
        "sigmoid_final_train_loss": float(final["sigmoid"].mean()),
        "relu_final_train_loss": float(final["relu"].mean()),
        "sigmoid_best_lr": best_lr["sigmoid"],
        "relu_best_lr": best_lr["relu"],
        **{f"sigmoid_log10_ratio_depth{d}": float(mean_ratio[0, i]) for i, d in enumerate(depths)},
        **{f"relu_log10_ratio_depth{d}": float(mean_ratio[1, i]) for i, d in enumerate(depths)},
        "num_seeds": float(S),
    }
    # the report prints numbers as JSON: an infinite value (a rate at which every run failed)
    # is stored as NaN, which the verdict treats as not measured
    numbers = {k: v if np.isfinite(v) else float("nan") for k, v in numbers.items()}
    arrays = {
        "depths": np.asarray(depths),
        "log_ratio": log_ratio,  # (activation, depth, seed)
        "sigmoid_layer_rms": deepest_rms["sigmoid"],  # (seed, layer) at the largest depth
        "relu_layer_rms": deepest_rms["relu"],
        "step": np.asarray(config.training.eval_steps),
        "sigmoid_train_loss": curves["sigmoid"],  # (seed, eval)
        "relu_train_loss": curves["relu"],
        "chance_loss": np.asarray(np.log(ds.out_dim)),  # loss of a uniform prediction
    }
    settings = (
        f"MLPs of width {config.width} and depths {list(depths)} on {config.task.describe(ds)}, "
        f"inputs standardised; sigmoid with {config.sigmoid_init} init, ReLU with "
        f"{config.relu_init} init; gradients at init on {n} training examples; training at depth "
        f"{deepest}: {_common.describe_training(config.training)}, learning rate best of "
        f"{list(config.learning_rates)}; {S} seeds"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    drop = numbers["sigmoid_ratio_drop_orders"]
    spread = numbers["relu_ratio_range_orders"]
    gap, gap_se = numbers["loss_gap_sigmoid_minus_relu"], numbers["loss_gap_se"]
    if not all(np.isfinite([drop, spread, gap, gap_se])):
        return Verdict(INCONCLUSIVE, "a measurement is not finite (a run diverged at every rate?)")
    said = (f"the sigmoid's first/last gradient ratio falls by {drop:.1f} orders of magnitude "
            f"with depth, ReLU's spans {spread:.1f}; at the largest depth the sigmoid's final "
            f"training loss is {gap:+.3f} nats from ReLU's (SE {gap_se:.3f})")
    if drop < 1 or spread > 2 or gap <= 0:
        return Verdict(NOT_SUPPORTED, said)
    if drop >= 2 and spread <= 1 and gap > 2 * gap_se:
        return Verdict(SUPPORTED, said)
    return Verdict(INCONCLUSIVE, said)


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    depths = a["depths"]
    with plots.style():
        fig, axes = plt.subplots(1, 3, figsize=plots.figure_size(columns=2, aspect=0.3))
        ax_ratio, ax_layers, ax_loss = axes
        for k, activation in enumerate(ACTIVATIONS):
            color = plots.COLORS[k]
            ratio = a["log_ratio"][k]
            mean = ratio.mean(axis=1)
            se = ratio.std(axis=1, ddof=1) / np.sqrt(ratio.shape[1])
            ax_ratio.errorbar(depths, mean, yerr=se, marker="o", color=color, capsize=2,
                              label=activation)
            rms = a[f"{activation}_layer_rms"]
            layers = np.arange(1, rms.shape[1] + 1)
            for s, row in enumerate(rms):
                ax_layers.semilogy(layers, row, marker=".", color=color, alpha=0.6,
                                   label=activation if s == 0 else None)
            for s, curve in enumerate(a[f"{activation}_train_loss"]):
                ax_loss.plot(a["step"], curve, color=color, alpha=0.7,
                             label=activation if s == 0 else None)
        ax_ratio.axhline(0.0, color="black", lw=0.6, ls=":")
        ax_ratio.set(xlabel="hidden layers (depth)",
                     ylabel="log10 RMS grad, first / output",
                     title="gradient ratio at initialisation")
        ax_ratio.legend()
        ax_layers.set(xlabel="weight matrix (1 = input side)", ylabel="RMS gradient entry",
                      title=f"per layer at depth {int(depths.max())}")
        ax_layers.legend()
        ax_loss.axhline(float(a["chance_loss"]), color="black", lw=0.6, ls=":",
                        label="uniform guess")
        ax_loss.set(xlabel="training step", ylabel="training loss (nats)",
                    title=f"SGD at depth {int(depths.max())} (best rate)")
        ax_loss.legend()
    return fig
