"""Linear interpolation from initialisation to solution (Goodfellow et al. 2015;
Lucas et al. 2021).

Goodfellow et al. found that the training loss falls monotonically along the
straight line from the initial parameters to the solution SGD reaches. Lucas et
al. measured how often this holds and found it broken mostly when the weights
travel far: large steps, and adaptive optimizers such as Adam. Here seeds are
trained with small-step SGD and with Adam at a large step, and the line from each
seed's start to its end is evaluated (:func:`landscape.paths.interpolate`).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from landscape import curvature, models, objectives
from landscape.paths import interpolate
from landscape.studies.reproductions import _common

NAME = "interpolation"
CLAIM = (
    "The training loss decreases monotonically along the straight line from initialisation "
    "to the solution of small-step SGD (Goodfellow, Vinyals & Saxe 2015, 'Qualitatively "
    "characterizing neural network optimization problems', ICLR); the monotonicity breaks "
    "with large steps and Adam (Lucas, Bae, Zhang, Fort, Zemel & Grosse 2021, 'Analyzing "
    "monotonic linear interpolation in neural network loss landscapes', ICML)."
)
SETTING = (
    "A ReLU MLP on mnist1d, several seeds trained with small-step minibatch SGD and with Adam "
    "at a large step; the training loss on 41 points of the line from each seed's "
    "initialisation to its end point. Bump = the largest rise of the loss along the line "
    "above its running minimum, relative to the total drop L(0) - L(1)."
)
RULE = (
    "A path is non-monotone when its bump exceeds 1% of its total drop. Reproduced if every "
    "small-step SGD path is monotone and at least half of the Adam paths are non-monotone."
)

BUMP = 0.01


@dataclasses.dataclass(frozen=True)
class Config:
    num_samples: int = 4000
    hidden: tuple[int, ...] = (128, 128)
    num_seeds: int = 4
    sgd_learning_rate: float = 0.02
    adam_learning_rate: float = 0.01
    batch_size: int = 64
    num_steps: int = 2000
    num_points: int = 41
    seed: int = 0


SIZES = {
    "tiny": Config(num_samples=300, hidden=(8,), num_seeds=2, num_steps=20, batch_size=16,
                   num_points=5),
    "default": Config(),
}


def bump(losses) -> float:
    """The largest rise of ``losses`` above its running minimum, relative to the drop
    ``losses[0] - losses[-1]`` (NaN when the loss does not drop).

    Examples
    --------
    >>> bump([3.0, 2.0, 1.0]), bump([3.0, 1.0, 2.0, 1.0])
    (0.0, 0.5)
    """
    losses = np.asarray(losses, np.float64)
    rise = float(np.max(losses - np.minimum.accumulate(losses)))
    return _common.ratio(rise, losses[0] - losses[-1])


def run(config: Config, *, progress: bool = True) -> _common.Result:
    with _common.Timer() as timer:
        ds = _common.mnist1d(config.num_samples)
        model = models.mlp(ds.in_dim, config.hidden, ds.out_dim, activation="relu")
        keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
        loss = objectives.make_loss(model.apply)
        batch = _common.batch_of(ds)
        numbers, paths, bumps = {}, {}, {}
        for name, opt, lr in (("SGD", "sgd", config.sgd_learning_rate),
                              ("Adam", "adam", config.adam_learning_rate)):
            runs = _common.train_runs(
                model, ds, loss="cross_entropy", keys=keys, optimizer=opt, learning_rate=lr,
                batch_size=config.batch_size, num_steps=config.num_steps,
                eval_every=config.num_steps, progress=progress,
            )
            rows, b = [], []
            for s in range(config.num_seeds):
                start = _common.seed_params(runs.init_params, s)
                f, x0, _ = curvature.flat_loss(loss, start)
                x1 = _common.flat(_common.seed_params(runs.params, s))
                path = interpolate(f, x0, x1, batch, num_points=config.num_points)
                rows.append(np.asarray(path.losses))
                b.append(bump(path.losses))
            paths[name], bumps[name] = np.stack(rows), np.asarray(b)
            tag = f"{name} lr {lr:g}"
            numbers[f"{tag}: non-monotone paths"] = float(np.sum(bumps[name] > BUMP))
            numbers[f"{tag}: largest relative bump"] = float(np.nanmax(bumps[name]))
            numbers[f"{tag}: median final train loss"] = float(
                np.median(np.asarray(runs.curves.train_loss)[:, -1]))
        numbers["seeds per optimizer"] = float(config.num_seeds)
        setting = (f"{_common.describe_problem(model, ds, _common.seed_params(runs.params, 0))};"
                   f" {config.num_seeds} seeds each of SGD lr {config.sgd_learning_rate:g} and "
                   f"Adam lr {config.adam_learning_rate:g}, batch {config.batch_size}, "
                   f"{config.num_steps} steps")
    arrays = {"ts": np.linspace(0.0, 1.0, config.num_points), "sgd_paths": paths["SGD"],
              "adam_paths": paths["Adam"], "sgd_bumps": bumps["SGD"],
              "adam_bumps": bumps["Adam"]}
    return _common.Result(NAME, numbers, arrays, setting, timer.seconds)


def verdict(numbers: dict[str, float]) -> tuple[bool, str]:
    seeds = numbers["seeds per optimizer"]
    sgd = next(v for k, v in numbers.items() if k.startswith("SGD") and "non-monotone" in k)
    adam = next(v for k, v in numbers.items() if k.startswith("Adam") and "non-monotone" in k)
    parts = {
        "small-step SGD monotone": sgd == 0,
        "Adam non-monotone in at least half the seeds": adam >= seeds / 2,
    }
    return _common.verdict_text(parts, f"non-monotone paths: SGD {int(sgd)} of {int(seeds)}, "
                                       f"Adam {int(adam)} of {int(seeds)}")


def figure(result: _common.Result, out_dir=None):
    from landscape import plots

    a = result.arrays
    with _common.panels(sharey=True) as (fig, axes):
        for ax, key, title in ((axes[0], "sgd_paths", "small-step SGD"),
                               (axes[1], "adam_paths", "Adam, large step")):
            for s, row in enumerate(a[key]):
                ax.plot(a["ts"], row, color=plots.COLORS[s % len(plots.COLORS)],
                        label=f"seed {s}")
            ax.set(xlabel="t: (1 - t) init + t solution", title=title, yscale="log")
        axes[0].set_ylabel("training loss (nats)")
        axes[0].legend(loc="lower left")
    return _common.save_figure(fig, NAME, out_dir)
