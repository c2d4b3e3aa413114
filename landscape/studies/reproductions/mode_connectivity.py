"""Linear mode connectivity and stability to SGD noise (Frankle et al. 2020).

Two copies of a network trained from the same point with different data orders
(SGD noise) are *stable* when the error does not rise along the straight line
between them. Frankle et al. found networks unstable at initialisation for all
but small tasks, and stable once spawned after a few steps of shared training;
two networks from different initialisations are separated by a large barrier.
Here a parent run records its parameters; at each spawn step ``k`` two children
start from the parent's parameters with different data orders; a pair from two
different initialisations is trained the same way. Every child and the pair are
one compiled program (:func:`landscape.train.train_seeds` with starting points).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from landscape import models, objectives
from landscape.studies.reproductions import _common

NAME = "mode_connectivity"
CLAIM = (
    "Two copies trained from the same initialisation with different data orders are "
    "linearly connected (small error barrier) once spawned after k steps of shared training, "
    "while networks from different initialisations are separated by a large barrier "
    "(Frankle, Dziugaite, Roy & Carbin 2020, 'Linear mode connectivity and the lottery "
    "ticket hypothesis', ICML)."
)
SETTING = (
    "A ReLU MLP on mnist1d trained with minibatch SGD; a parent run is spawned at steps k "
    "into two children with different data orders, each trained the same number of steps; "
    "a pair from two initialisations as the reference. Barrier = the largest rise of the "
    "test error above the straight line between the endpoints, on 25 points of the path."
)
RULE = (
    "Stable means an error barrier <= 2 percentage points (Frankle et al.'s threshold). "
    "Reproduced if (a) the pair from different initialisations is unstable (barrier > 2 pp), "
    "(b) the same-init pair spawned at the last k is stable, and (c) the barrier at the last "
    "k is at most the barrier at k = 0 (the barrier does not grow with shared training)."
)

STABLE = 0.02


@dataclasses.dataclass(frozen=True)
class Config:
    num_samples: int = 4000
    hidden: tuple[int, ...] = (128, 128)
    learning_rate: float = 0.1
    batch_size: int = 32
    num_steps: int = 3000
    spawn_steps: tuple[int, ...] = (0, 25, 100, 400)
    record_every: int = 25
    num_points: int = 25
    seed: int = 0


SIZES = {
    "tiny": Config(num_samples=300, hidden=(16,), num_steps=20, spawn_steps=(0, 10),
                   record_every=10, num_points=5, batch_size=16),
    "default": Config(),
}


def run(config: Config, *, progress: bool = True) -> _common.Result:
    if any(k % config.record_every for k in config.spawn_steps):
        raise ValueError(f"spawn_steps: must be multiples of record_every={config.record_every}")
    with _common.Timer() as timer:
        ds = _common.mnist1d(config.num_samples)
        model = models.mlp(ds.in_dim, config.hidden, ds.out_dim, activation="relu")
        key = jax.random.key(config.seed)
        k_parent, k_children, k_other = jax.random.split(key, 3)
        sgd = dict(optimizer="sgd", learning_rate=config.learning_rate,
                   batch_size=config.batch_size, progress=progress)
        last = max(config.spawn_steps)
        parent = _common.train_runs(
            model, ds, loss="cross_entropy", keys=k_parent[None], num_steps=max(last, 1),
            eval_every=config.record_every, record_params=True, **sgd,
        )
        unravel = _common.unravel(_common.seed_params(parent.init_params, 0))
        rows = [int(np.flatnonzero(np.asarray(parent.curves.step) == k)[0])
                for k in config.spawn_steps]
        spawn = np.asarray(parent.trajectory[0])[rows]  # (K, n)
        other = jax.vmap(model.init)(jax.random.split(k_other, 2))
        other_flat = np.stack([_common.flat(_common.seed_params(other, i)) for i in range(2)])
        starts = np.concatenate([np.repeat(spawn, 2, axis=0), other_flat])
        init = jax.vmap(unravel)(jnp.asarray(starts))
        children = _common.train_runs(
            model, ds, loss="cross_entropy", keys=jax.random.split(k_children, len(starts)),
            init_params=init, num_steps=config.num_steps, eval_every=config.num_steps, **sgd,
        )
        loss = objectives.make_loss(model.apply)
        error = _common.error_fn(model.apply)
        train_b, test_b = _common.batch_of(ds), _common.batch_of(ds, "test")
        barriers, loss_barriers, paths = [], [], []
        for j in range(len(config.spawn_steps) + 1):
            a = _common.seed_params(children.params, 2 * j)
            b = _common.seed_params(children.params, 2 * j + 1)
            lp, ep = _common.path_barriers(loss, error, a, b, train_b, test_b,
                                           num_points=config.num_points)
            barriers.append(float(ep.barrier))
            loss_barriers.append(float(lp.barrier))
            paths.append(np.asarray(ep.losses))
        numbers = {}
        for k, eb, lb in zip(config.spawn_steps, barriers, loss_barriers, strict=False):
            numbers[f"same init, spawn k={k}: error barrier"] = eb
            numbers[f"same init, spawn k={k}: loss barrier"] = lb
        numbers["different init: error barrier"] = barriers[-1]
        numbers["different init: loss barrier"] = loss_barriers[-1]
        final = np.asarray(children.curves.val_accuracy)[:, -1]
        numbers["median final validation accuracy"] = float(np.median(final))
        one = _common.seed_params(parent.init_params, 0)
        setting = (f"{_common.describe_problem(model, ds, one)}; SGD lr "
                   f"{config.learning_rate:g}, batch {config.batch_size}; spawn at k in "
                   f"{list(config.spawn_steps)}, then {config.num_steps} steps per child")
    arrays = {"spawn_steps": np.asarray(config.spawn_steps), "error_barriers": np.asarray(barriers),
              "loss_barriers": np.asarray(loss_barriers), "error_paths": np.stack(paths),
              "ts": np.linspace(0.0, 1.0, config.num_points)}
    return _common.Result(NAME, numbers, arrays, setting, timer.seconds)


def verdict(numbers: dict[str, float]) -> tuple[bool, str]:
    same = {int(k.split("k=")[1].split(":")[0]): v for k, v in numbers.items()
            if k.startswith("same init") and k.endswith("error barrier")}
    first, last = same[min(same)], same[max(same)]
    other = numbers["different init: error barrier"]
    parts = {
        "(a) different inits unstable": other > STABLE,
        f"(b) same init stable at k={max(same)}": last <= STABLE,
        "(c) barrier does not grow with k": last <= first,
    }
    return _common.verdict_text(parts, (
        f"error barriers: different inits {100 * other:.1f} pp; same init "
        + ", ".join(f"k={k}: {100 * v:.1f} pp" for k, v in sorted(same.items()))))


def figure(result: _common.Result, out_dir=None):
    from landscape import plots

    a = result.arrays
    with _common.panels() as (fig, axes):
        ks = a["spawn_steps"]
        for i, k in enumerate(ks):
            axes[0].plot(a["ts"], 100 * a["error_paths"][i], color=plots.COLORS[i % 6],
                         label=f"same init, spawn k = {k}")
        axes[0].plot(a["ts"], 100 * a["error_paths"][-1], "k--", label="different inits")
        axes[0].set(xlabel="interpolation t between the two endpoints",
                    ylabel="test error (%)", title="error along the straight line")
        top = 100 * float(np.max(a["error_paths"]))
        axes[0].set_ylim(top=top + 0.45 * (top - 100 * float(np.min(a["error_paths"]))))
        axes[0].legend(loc="upper left", ncols=2)
        x = np.maximum(ks, 1)
        axes[1].semilogx(x, 100 * a["error_barriers"][:-1], "o-", color=plots.COLORS[0],
                         label="same init, different data order")
        axes[1].axhline(100 * a["error_barriers"][-1], color="k", ls="--",
                        label="different inits")
        axes[1].axhline(100 * STABLE, color="gray", ls=":", label="stability threshold (2 pp)")
        axes[1].set(xlabel="spawn step k (k = 0 drawn at 1)", ylabel="error barrier (pp)",
                    title="instability against k")
        axes[1].legend(loc="center right")
    return _common.save_figure(fig, NAME, out_dir)
