"""Edge of stability: under full-batch gradient descent lambda_max rises to 2/eta and
hovers there.

Cohen et al. (2021) train with full-batch gradient descent at step ``eta`` and
track the largest Hessian eigenvalue. It first rises (progressive sharpening)
until it reaches the stability limit ``2 / eta`` of gradient descent on a
quadratic, then stays near it while the loss keeps falling, non-monotonically.
Here the runs at every step size are one compiled program
(:func:`landscape.train.train_seeds` with per-seed learning rates), the
parameters are recorded along the way and ``lambda_max`` is measured at each
recorded point by Lanczos.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, data, models, objectives
from landscape.studies.reproductions import _common

NAME = "edge_of_stability"
CLAIM = (
    "Under full-batch gradient descent with step eta, lambda_max of the training-loss "
    "Hessian rises (progressive sharpening) and then hovers at about 2/eta (Cohen, Kaur, Li, "
    "Kolter & Talwalkar 2021, 'Gradient descent on neural networks typically occurs at the "
    "edge of stability', ICLR)."
)
SETTING = (
    "A tanh MLP with squared loss on one-hot mnist1d targets (as Cohen et al.'s MSE runs), "
    "full-batch gradient descent at several step sizes; lambda_max by Lanczos at recorded "
    "points of each run."
)
RULE = (
    "For each step size whose lambda_max crosses 2/eta from below: the median of "
    "lambda_max / (2/eta) over the recorded points from the first such crossing on lies in "
    "[0.8, 1.2]. Reproduced if at least two step sizes cross and every crossing step size "
    "passes."
)


@dataclasses.dataclass(frozen=True)
class Config:
    num_samples: int = 1000
    hidden: tuple[int, ...] = (64, 64)
    learning_rates: tuple[float, ...] = (0.1, 0.12, 0.15)
    num_steps: int = 3000
    eval_every: int = 50
    lanczos_iters: int = 20
    seed: int = 0


SIZES = {
    "tiny": Config(num_samples=200, hidden=(16,), learning_rates=(0.1, 0.2), num_steps=40,
                   eval_every=20, lanczos_iters=10),
    "default": Config(),
}


def one_hot_regression(ds: data.Dataset) -> data.Dataset:
    """The classification set ``ds`` as regression on one-hot targets (squared loss)."""
    eye = np.eye(ds.num_classes, dtype=ds.x_train.dtype)
    return ds.replace(name=f"{ds.name} (one-hot)", num_classes=None,
                      **{f"y_{s}": eye[getattr(ds, f"y_{s}")] for s in ("train", "val", "test")})


def sharpness_along(loss, params_fn, trajectory, batch, *, key, num_iters):
    """lambda_max at every row of ``trajectory`` (flat parameters), (E,)."""
    op = curvature.hessian_operator(loss, params_fn(trajectory[0]), batch)
    out = []
    for x in trajectory:
        vals, _, _ = _common.top_eigenvalues(op.matvec, (x, *op.args[1:]), op.size, op.dtype,
                                             key=key, num_eigs=1, num_iters=num_iters)
        out.append(vals[0])
    return np.asarray(out)


def first_crossing(sharpness, limit: float) -> int | None:
    """Index of the first recorded point at or above ``limit`` that follows a point below
    it (an upward crossing; a run that starts above ``limit`` and falls back first, as
    gradient descent does when its first steps are unstable, counts from its return);
    ``None`` when there is no such point.

    Examples
    --------
    >>> first_crossing(np.array([3.0, 2.0, 1.0, 2.6]), 2.5)
    3
    """
    above = np.asarray(sharpness) >= limit
    below = np.flatnonzero(~above)
    if below.size == 0:
        return None
    later = np.flatnonzero(above[below[0]:])
    return int(below[0] + later[0]) if later.size else None


def run(config: Config, *, progress: bool = True) -> _common.Result:
    with _common.Timer() as timer:
        raw = data.standardize(data.mnist1d(num_samples=config.num_samples))
        ds = one_hot_regression(raw).astype(_common.float_dtype())
        model = models.mlp(ds.in_dim, config.hidden, ds.out_dim, activation="tanh")
        key = jax.random.key(config.seed)
        k_train, k_eig = jax.random.split(key)
        lrs = np.asarray(config.learning_rates, float)
        num = len(lrs)
        init = model.init(k_train)
        stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a] * num), init)
        trained = _common.train_runs(
            model, ds, loss="mse", keys=jax.random.split(k_train, num), init_params=stacked,
            learning_rates=lrs, optimizer="sgd", batch_size=None,
            learning_rate=float(lrs[0]), num_steps=config.num_steps,
            eval_every=config.eval_every, record_params=True, divergence_factor=float("inf"),
            progress=progress,
        )
        loss = objectives.make_loss(model.apply, loss="mse")
        batch = _common.batch_of(ds)
        unravel = curvature.flat_loss(loss, init)[2]
        traj = np.asarray(trained.trajectory)
        sharp = np.stack([
            sharpness_along(loss, unravel, jnp.asarray(traj[i]), batch, key=k_eig,
                            num_iters=config.lanczos_iters)
            for i in range(num)
        ])
        steps = np.asarray(trained.curves.step)
        numbers = {"num_step_sizes": float(num)}
        for lr, s in zip(lrs, sharp, strict=True):
            limit = 2.0 / lr
            tag = f"eta={lr:g}"
            crossed = first_crossing(s, limit)
            numbers[f"{tag}: lambda_max at step 0"] = float(s[0])
            numbers[f"{tag}: 2/eta"] = limit
            if crossed is not None:
                first = crossed
                numbers[f"{tag}: first crossing step"] = float(steps[first])
                numbers[f"{tag}: median ratio after crossing"] = float(
                    np.median(s[first:] / limit))
            else:
                numbers[f"{tag}: first crossing step"] = float("nan")
                numbers[f"{tag}: median ratio after crossing"] = float("nan")
                numbers[f"{tag}: max ratio"] = float(np.max(s) / limit)
        numbers["diverged runs"] = float(np.sum(np.asarray(trained.diverged)))
        setting = (f"{_common.describe_problem(model, ds, init)}; full-batch GD at eta in "
                   f"{list(config.learning_rates)}, {config.num_steps} steps, lambda_max every "
                   f"{config.eval_every} steps ({config.lanczos_iters} Lanczos steps)")
    arrays = {"steps": steps, "learning_rates": lrs, "lambda_max": sharp,
              "train_loss": np.asarray(trained.curves.train_loss)}
    return _common.Result(NAME, numbers, arrays, setting, timer.seconds)


def verdict(numbers: dict[str, float]) -> tuple[bool, str]:
    ratios = {k.split(":")[0]: v for k, v in numbers.items()
              if k.endswith("median ratio after crossing")}
    crossing = {k: v for k, v in ratios.items() if np.isfinite(v)}
    ok = {k: 0.8 <= v <= 1.2 for k, v in crossing.items()}
    passed = len(crossing) >= 2 and all(ok.values())
    parts = [f"{k}: median lambda_max/(2/eta) = {_common.fmt(v)} "
             f"({'in' if ok[k] else 'outside'} [0.8, 1.2])" for k, v in crossing.items()]
    parts += [f"{k}: never crossed 2/eta" for k, v in ratios.items() if not np.isfinite(v)]
    return passed, f"{len(crossing)} of {len(ratios)} step sizes crossed; " + "; ".join(parts)


def figure(result: _common.Result, out_dir=None):
    from landscape import plots

    a = result.arrays
    with _common.panels() as (fig, axes):
        for i, lr in enumerate(a["learning_rates"]):
            c = plots.COLORS[i % len(plots.COLORS)]
            axes[0].plot(a["steps"], a["lambda_max"][i], color=c, label=f"eta = {lr:g}")
            axes[0].axhline(2 / lr, color=c, ls=":", lw=1)
            axes[1].plot(a["steps"], a["train_loss"][i], color=c, label=f"eta = {lr:g}")
        axes[0].set(xlabel="step of gradient descent", ylabel="lambda_max (sharpness)",
                    title="sharpness; dotted: 2/eta")
        axes[1].set(xlabel="step of gradient descent", ylabel="training loss (squared error)",
                    yscale="log", title="loss")
        axes[0].legend(loc="lower right")
        axes[1].legend(loc="upper right")
    return _common.save_figure(fig, NAME, out_dir)
