"""The critical batch size tracks the gradient noise scale (McCandlish et al. 2018).

McCandlish et al. model the steps ``S`` and examples ``E`` needed to reach a
target as ``S = S_min (1 + B_crit / B)`` and ``E = E_min (1 + B / B_crit)``, and
predict ``B_crit`` by the gradient noise scale, whose simple form is
``B_simple = tr(Sigma) / |G|^2``; the noise scale grows as the loss falls. Here
steps to a target training loss are measured at each batch size (best rate of a
small grid, all rates of one batch size in one compiled program), the trade-off
is fitted (:func:`landscape.tradeoff.fit_tradeoff`) and ``B_simple`` is measured from
per-example gradients (:func:`landscape.noise.simple_noise_scale`) along the run
at a reference batch size.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from landscape import models, noise, objectives, tradeoff
from landscape.studies.batch_size import steps_to_target
from landscape.studies.reproductions import _common

NAME = "critical_batch"
CLAIM = (
    "The critical batch size B_crit = E_min / S_min of the steps/examples trade-off is "
    "predicted by the simple gradient noise scale B_simple = tr(Sigma) / |G|^2, and the noise "
    "scale grows as the loss falls (McCandlish, Kaplan, Amodei & OpenAI Dota Team 2018, 'An "
    "empirical model of large-batch training')."
)
SETTING = (
    "A ReLU MLP on mnist1d trained with minibatch SGD at batch sizes 2^k; at each size the "
    "fewest steps to the target training loss over a grid of learning rates (square-root "
    "scaled); the McCandlish fit of the steps; B_simple from per-example gradients at the "
    "point where the reference batch size's best run reaches the target, and along that run."
)
RULE = (
    "Reproduced if (a) the fitted B_crit lies within a factor 5 of B_simple at the target "
    "(1/5 <= B_crit / B_simple <= 5), and (b) B_simple grows as the loss falls along the "
    "reference run: at the last measured point at least twice that at the first, with a "
    "Spearman rank correlation between training loss and B_simple of at most -0.5."
)


@dataclasses.dataclass(frozen=True)
class Config:
    num_samples: int = 3000
    hidden: tuple[int, ...] = (64,)
    batch_sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
    base_lr: float = 0.1
    base_batch: int = 64
    lr_factors: tuple[float, ...] = (0.5, 1.0, 2.0)
    target: float = 1.0
    epochs: float = 20.0
    min_steps: int = 200
    num_evals: int = 40
    reference_batch: int = 64
    noise_points: int = 6
    seed: int = 0


SIZES = {
    "tiny": Config(num_samples=300, hidden=(8,), batch_sizes=(8, 32), lr_factors=(1.0,),
                   target=2.2, epochs=1.0, min_steps=10, num_evals=4, reference_batch=8,
                   noise_points=2),
    "default": Config(),
}


def run(config: Config, *, progress: bool = True) -> _common.Result:
    if config.reference_batch not in config.batch_sizes:
        raise ValueError(f"reference_batch: {config.reference_batch} is not one of "
                         f"batch_sizes {config.batch_sizes}")
    with _common.Timer() as timer:
        ds = _common.mnist1d(config.num_samples)
        model = models.mlp(ds.in_dim, config.hidden, ds.out_dim, activation="relu")
        key = jax.random.key(config.seed)
        n = ds.num_train
        loss = objectives.make_loss(model.apply)
        batch = _common.batch_of(ds)
        steps, best_lr, reference = [], [], None
        for b in config.batch_sizes:
            budget = config.min_steps + math.ceil(config.epochs * n / b)
            every = max(1, budget // config.num_evals)
            budget = every * math.ceil(budget / every)
            lrs = [config.base_lr * math.sqrt(b / config.base_batch) * f
                   for f in config.lr_factors]
            runs = _common.train_runs(
                model, ds, loss="cross_entropy", keys=jax.random.split(key, len(lrs)),
                learning_rates=lrs, optimizer="sgd", learning_rate=lrs[0], batch_size=b,
                num_steps=budget, eval_every=every, record_params=b == config.reference_batch,
                progress=progress,
            )
            step = np.asarray(runs.curves.step)
            curves = np.asarray(runs.curves.train_loss)
            s = [steps_to_target(step, c, config.target, higher_is_better=False)
                 for c in curves]
            i = int(np.argmin(s))
            steps.append(s[i])
            best_lr.append(lrs[i])
            if b == config.reference_batch:
                reference = (step, curves[i], np.asarray(runs.trajectory[i]))
        steps = np.asarray(steps, float)
        sizes = np.asarray(config.batch_sizes, float)
        fit = tradeoff.fit_tradeoff(sizes, steps) if np.isfinite(steps).sum() >= 2 else None
        # B_simple along the reference run, up to its last point
        step, curve, traj = reference
        unravel = _common.unravel(model.init(key))
        points = np.unique(np.linspace(0, len(step) - 1, config.noise_points).round().astype(int))
        reached = np.flatnonzero(curve <= config.target)
        at_target = int(reached[0]) if reached.size else len(step) - 1
        points = np.unique(np.append(points, at_target))
        b_simple = np.asarray([
            float(noise.simple_noise_scale(loss, unravel(jnp.asarray(traj[j])), batch).b_simple)
            for j in points])
        b_at_target = float(b_simple[list(points).index(at_target)])
        numbers = {f"B={int(b)}: steps to target": float(s) for b, s in zip(sizes, steps,
                                                                           strict=True)}
        numbers["fitted B_crit"] = fit.b_crit if fit else float("nan")
        numbers["fitted S_min"] = fit.s_min if fit else float("nan")
        numbers["B_simple at the target"] = b_at_target
        numbers["B_crit / B_simple"] = _common.ratio(numbers["fitted B_crit"], b_at_target)
        numbers["B_simple first point"] = float(b_simple[0])
        numbers["B_simple last point"] = float(b_simple[-1])
        numbers["spearman(loss, B_simple)"] = _common.spearman(curve[points], b_simple)
        setting = (f"{_common.describe_problem(model, ds, model.init(key))}; SGD, batch sizes "
                   f"{list(config.batch_sizes)}, learning rates {config.base_lr:g} x "
                   f"sqrt(B/{config.base_batch}) x {list(config.lr_factors)}; target training "
                   f"loss {config.target:g}; budget {config.min_steps} steps + "
                   f"{config.epochs:g} epochs")
    arrays = {"batch_sizes": sizes, "steps": steps, "best_lr": np.asarray(best_lr),
              "noise_steps": step[points], "noise_loss": curve[points], "b_simple": b_simple,
              "fit": np.asarray([numbers["fitted S_min"], numbers["fitted B_crit"]])}
    return _common.Result(NAME, numbers, arrays, setting, timer.seconds)


def verdict(numbers: dict[str, float]) -> tuple[bool, str]:
    r = numbers["B_crit / B_simple"]
    grow = _common.ratio(numbers["B_simple last point"], numbers["B_simple first point"])
    rho = numbers["spearman(loss, B_simple)"]
    parts = {
        "(a) B_crit within 5x of B_simple": np.isfinite(r) and 0.2 <= r <= 5,
        "(b) B_simple grows as the loss falls": np.isfinite(grow) and grow >= 2
        and np.isfinite(rho) and rho <= -0.5,
    }
    return _common.verdict_text(parts, (
        f"B_crit {_common.fmt(numbers['fitted B_crit'])}, B_simple at target "
        f"{_common.fmt(numbers['B_simple at the target'])}, ratio {_common.fmt(r)}; "
        f"B_simple grew x{_common.fmt(grow)}, Spearman with loss {_common.fmt(rho)}"))


def figure(result: _common.Result, out_dir=None):
    from landscape import plots

    a = result.arrays
    with _common.panels() as (fig, axes):
        b, s = a["batch_sizes"], a["steps"]
        ok = np.isfinite(s)
        axes[0].loglog(b[ok], s[ok], "o", color=plots.COLORS[0], label="measured (best rate)")
        s_min, b_crit = a["fit"]
        if np.isfinite(b_crit):
            grid = np.geomspace(b.min(), b.max(), 50)
            axes[0].loglog(grid, s_min * (1 + b_crit / grid), "-", color=plots.COLORS[1],
                           label=f"fit, B_crit = {b_crit:.3g}")
            axes[0].axvline(b_crit, color=plots.COLORS[1], ls=":", lw=1)
        b_t = result.numbers["B_simple at the target"]
        axes[0].axvline(b_t, color=plots.COLORS[2], ls="--", lw=1,
                        label=f"B_simple at target = {b_t:.3g}")
        axes[0].set(xlabel="batch size B (examples)", ylabel="steps to target loss",
                    title="steps against batch size")
        axes[0].legend(loc="lower left")
        axes[1].loglog(a["noise_loss"], a["b_simple"], "o-", color=plots.COLORS[2])
        axes[1].invert_xaxis()
        axes[1].set(xlabel="training loss (nats), falling to the right",
                    ylabel="B_simple (examples)", title="noise scale along training")
    return _common.save_figure(fig, NAME, out_dir)
