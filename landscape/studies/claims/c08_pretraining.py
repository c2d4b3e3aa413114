"""C8: with little data, pretraining on simulated data or augmenting helps.

A small real training set (a couple of hundred mnist1d examples) is used three
ways, several seeds each, with the same model and the same number of steps:

- from scratch;
- augmented offline with shifted copies of every signal (each copy moved by a
  random whole number of samples, the vacated end filled with zeros);
- after pretraining on a large set from the mnist1d generator run with a
  different seed *and different settings* (no noise, shear or scale changes:
  an idealised simulator whose data differ from the real ones), fine-tuning
  all weights on the real set. The pretrained net's accuracy on real data
  before fine-tuning measures the gap between simulation and reality.

All three training sets have the same length (the real set is repeated,
:func:`._family.repeat_train`), so one compiled program serves every run. The
verdict reads test accuracy on the real held-out split.

References
----------
Greydanus, S. (2020). Scaling down deep learning (mnist1d). arXiv:2011.14439.
Shorten, C. & Khoshgoftaar, T. M. (2019). A survey on image data augmentation for
deep learning. Journal of Big Data 6(60).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from landscape import models, plots, train
from landscape.problem import from_model
from landscape.studies.claims import _common, _family
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C8"
TITLE = "With little data, pretraining on simulated data or augmenting helps."
RULE = (
    "A small real training set, several seeds: test accuracy from scratch, with shift "
    "augmentation, and after pretraining on simulated data (the generator with another seed and "
    "other settings) then fine-tuning. For each remedy, gain = its test accuracy - scratch, "
    "se = standard error of the gain over seeds; it *helps* if gain > 2 se and *hurts* if "
    "gain < -2 se. **Supported** if both remedies help. **Not supported** if either hurts or "
    "neither helps. **Inconclusive** otherwise (one helps, the other is within the noise)."
)

# The simulator: mnist1d's generator idealised, without the nuisances of the real data
# (correlated noise 0.25, white noise 0.02, shear 0.75, scale changes 0.4 by default):
# the digits' templates and random translations only.
SIMULATOR = (("corr_noise_scale", 0.0), ("iid_noise_scale", 0.0), ("shear_scale", 0.0),
             ("scale_coeff", 0.0))


@dataclasses.dataclass(frozen=True)
class Config:
    task: _common.Task = _common.Task(num_samples=5000)
    num_real: int = 200
    copies: int = 20  # augmented set: the real set plus copies - 1 shifted copies
    max_shift: int = 4  # samples
    simulator: tuple[tuple[str, float], ...] = SIMULATOR
    simulator_seed: int = 2024
    hidden: tuple[int, ...] = (100, 100)
    num_seeds: int = 6
    training: train.TrainConfig = train.TrainConfig(
        optimizer="adam", learning_rate=3e-3, num_steps=1000, batch_size=64, eval_every=1000
    )
    seed: int = 8


PROFILES = {
    "quick": Config(),
    "full": Config(
        num_seeds=16,
        training=train.TrainConfig(optimizer="adam", learning_rate=3e-3, num_steps=4000,
                                   batch_size=64, eval_every=500),
    ),
}


def shift_signals(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each row of ``x`` (n, length) moved right by ``offsets`` (n,) samples (left if
    negative); samples shifted in from outside are zero."""
    x = np.asarray(x)
    offsets = np.asarray(offsets, dtype=int)
    if offsets.shape != (len(x),):
        raise ValueError(f"offsets: expected shape ({len(x)},), got {offsets.shape}")
    length = x.shape[1]
    m = int(np.max(np.abs(offsets), initial=0))
    padded = np.pad(x, ((0, 0), (m, m)))
    index = m - offsets[:, None] + np.arange(length)[None, :]
    return np.take_along_axis(padded, index, axis=1)


def augment(x: np.ndarray, y: np.ndarray, *, copies: int, max_shift: int, seed: int):
    """``(x, y)`` followed by ``copies - 1`` copies, each signal shifted by a random
    whole number of samples in ``[-max_shift, max_shift]``."""
    if copies < 1 or max_shift < 0:
        raise ValueError(f"copies/max_shift: need copies >= 1 and max_shift >= 0, got "
                         f"{copies}, {max_shift}")
    rng = np.random.default_rng(seed)
    xs, ys = [x], [y]
    for _ in range(copies - 1):
        xs.append(shift_signals(x, rng.integers(-max_shift, max_shift + 1, size=len(x))))
        ys.append(y)
    return np.concatenate(xs).astype(x.dtype), np.concatenate(ys)


def simulated_mnist1d(num_samples: int, *, seed: int,
                      settings: tuple[tuple[str, float], ...]) -> tuple[np.ndarray, np.ndarray]:
    """``num_samples`` signals and labels from the mnist1d generator with ``settings``
    (names of ``mnist1d.data.get_dataset_args``) replacing its defaults."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    for name, value in settings:
        if not hasattr(args, name):
            raise ValueError(f"simulator: unknown generator setting {name!r}")
        setattr(args, name, value)
    args.num_samples, args.seed, args.train_split = num_samples, seed, 1.0
    state = np.random.get_state()  # the generator seeds numpy's global state
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(state)
    return raw["x"].astype(np.float32), raw["y"].astype(np.int32)


def measure(config: Config, *, progress: bool = False) -> Measurement:
    ds = config.task.load()
    if not 0 < config.num_real <= ds.num_train:
        raise ValueError(f"num_real: must be in [1, {ds.num_train}], got {config.num_real}")
    length = config.num_real * config.copies
    x_real, y_real = ds.x_train[:config.num_real], ds.y_train[:config.num_real]
    x_aug, y_aug = augment(x_real, y_real, copies=config.copies, max_shift=config.max_shift,
                           seed=config.seed)
    x_sim, y_sim = simulated_mnist1d(length, seed=config.simulator_seed, settings=config.simulator)
    if len(x_sim) != length:
        raise ValueError(f"copies: num_real * copies ({length}) must be a multiple of 10 "
                         f"(the generator makes whole classes)")
    sets = {
        "scratch": _family.repeat_train(ds, x_real, y_real, length=length),
        "augmented": ds.replace(x_train=x_aug.astype(ds.x_train.dtype), y_train=y_aug),
        "simulated": ds.replace(x_train=x_sim.astype(ds.x_train.dtype), y_train=y_sim),
    }
    model = models.mlp(ds.in_dim, config.hidden, ds.out_dim)
    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    init = jax.vmap(lambda k: model.init(jax.random.split(k, 3)[0]))(keys)

    def run(name, start):
        result = train.train_seeds(from_model(model, sets[name]), config.training, keys=keys,
                                   init_params=start, progress=progress)
        return result, _family.evaluate(model, result.params, ds.test)["accuracy"]

    (_, scratch), (_, augmented) = run("scratch", init), run("augmented", init)
    pretrained, zero_shot = run("simulated", init)
    _, finetuned = run("scratch", pretrained.params)  # fine-tune on the real set
    accuracy = np.stack([scratch, augmented, finetuned, zero_shot]).astype(float)  # (4, S)
    mean, se = _family.mean_and_se(accuracy)
    # paired by seed: the same initialisation and minibatch order in every condition
    gain_aug, gain_aug_se = _family.mean_and_se(augmented - scratch)
    gain_pre, gain_pre_se = _family.mean_and_se(finetuned - scratch)
    numbers = {
        "augmentation_gain_points": 100 * float(gain_aug),
        "augmentation_gain_se_points": 100 * float(gain_aug_se),
        "pretraining_gain_points": 100 * float(gain_pre),
        "pretraining_gain_se_points": 100 * float(gain_pre_se),
        "test_accuracy_scratch": float(mean[0]),
        "test_accuracy_augmented": float(mean[1]),
        "test_accuracy_pretrained": float(mean[2]),
        "test_accuracy_simulated_only": float(mean[3]),
        "num_real": float(config.num_real),
        "num_seeds": float(config.num_seeds),
    }
    arrays = {
        "conditions": np.asarray(["scratch", "shift\naugmentation", "simulated pretraining\n"
                                  "+ fine-tuning", "simulated only\n(no real data)"]),
        "test_accuracy": accuracy,
        "x_real": x_real[:3],
        "x_augmented": x_aug[config.num_real:config.num_real + 3],  # x_real[:3], shifted
        "x_simulated": x_sim[np.flatnonzero(y_sim == y_real[0])[:1]],  # a simulated y_real[0]
        "y_real": y_real[:3],
    }
    sim = ", ".join(f"{k} {v:g}" for k, v in config.simulator)
    settings = (
        f"MLP {config.hidden} (relu) on {config.num_real} real mnist1d examples (test: "
        f"{len(ds.x_test)}); augmentation: {config.copies - 1} shifted copies (|shift| <= "
        f"{config.max_shift} samples); simulator: {length} generator examples, seed "
        f"{config.simulator_seed}, {sim}; {_common.describe_training(config.training)} for "
        f"each of scratch, augmented, pretraining and fine-tuning; {config.num_seeds} seeds"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    results = {}
    for name in ("augmentation", "pretraining"):
        gain, se = numbers[f"{name}_gain_points"], numbers[f"{name}_gain_se_points"]
        if not (np.isfinite(gain) and np.isfinite(se)):
            return Verdict(INCONCLUSIVE, "some runs did not give finite accuracies")
        state = "helps" if gain > 2 * se else "hurts" if gain < -2 * se else "within noise"
        results[name] = (state, f"{name} {gain:+.1f} +- {se:.1f} points ({state})")
    text = "; ".join(r[1] for r in results.values()) + (
        f" against {100 * numbers['test_accuracy_scratch']:.1f}% from scratch")
    states = [r[0] for r in results.values()]
    if all(s == "helps" for s in states):
        return Verdict(SUPPORTED, text)
    if "hurts" in states or "helps" not in states:
        return Verdict(NOT_SUPPORTED, text)
    return Verdict(INCONCLUSIVE, text)


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    acc = 100 * a["test_accuracy"]
    mean, se = _family.mean_and_se(acc)
    names = [str(n) for n in a["conditions"]]
    x = np.arange(len(names))
    with plots.style():
        fig, (ax, ax_sig) = plt.subplots(
            1, 2, figsize=plots.figure_size(columns=2, aspect=0.4), width_ratios=(1.4, 1))
        colors = [plots.COLORS[i] for i in (0, 2, 1, 5)]
        ax.bar(x, mean, yerr=2 * se, color=colors, alpha=0.75, capsize=3)
        for i in range(len(names)):
            ax.plot(np.full(acc.shape[1], x[i]), acc[i], ".", color="0.25", ms=3,
                    label="one seed" if i == 0 else None)
        ax.axhline(mean[0], color=plots.COLORS[0], ls="--", lw=0.8, label="scratch (mean)")
        ax.set_xticks(x, names, fontsize=6)
        ax.set(ylabel="test accuracy on real data (%)",
               title="little real data: remedies (mean +- 2 se)")
        ax.legend(loc="upper right")
        t = np.arange(a["x_real"].shape[1])
        ax_sig.plot(t, a["x_real"][0], color=plots.COLORS[0],
                    label=f"real (digit {a['y_real'][0]})")
        ax_sig.plot(t, a["x_augmented"][0], color=plots.COLORS[2], ls="--",
                    label="the same, shifted")
        if len(a["x_simulated"]):
            ax_sig.plot(t, a["x_simulated"][0], color=plots.COLORS[1],
                        label="simulated, same digit")
        ax_sig.set(xlabel="position (samples)", ylabel="signal (standardised)",
                   title="example inputs")
        ax_sig.legend(fontsize=5.5)
    return fig
