"""C1 at a size where "high dimension" means something: training endpoints of an MLP
with over ten thousand parameters, classified with the Lanczos path.

SGD and Adam endpoints are not critical points: training stops after a step budget,
where the gradient is small but not zero. What the classification says about such a
point is what its curvature is: the bottom Ritz value of the Hessian with its
residual (a negative value beyond its residual certifies a descent direction of
negative curvature; a positive one only says the bottom converged to a positive
value), an interval for the index from stochastic Lanczos quadrature (estimate +-
2 standard errors), and whether the gradient passes the critical-point threshold.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from landscape import critical, data, models, objectives, train
from landscape.studies.claims import _common


@dataclasses.dataclass(frozen=True)
class LargeConfig:
    task: _common.Task = _common.Task(num_samples=4000)
    hidden: tuple[int, ...] = (100, 100)
    num_seeds: int = 2
    training: train.TrainConfig = train.TrainConfig(
        optimizer="adam", learning_rate=1e-3, num_steps=1000, batch_size=128, eval_every=250
    )
    num_examples: int = 1024  # the Hessian's data: the first training examples
    num_iters: int = 60
    num_probes: int = 10
    seed: int = 21


def measure(config: LargeConfig, *, progress: bool = False):
    """Numbers ``large_*`` and arrays ``large_*`` for the report and figure."""
    ds = config.task.load()
    model = models.mlp(ds.in_dim, config.hidden, ds.out_dim)
    final = _common.train_and_evaluate(model, ds, config.training, seed=config.seed,
                                       num_seeds=config.num_seeds, progress=progress)
    loss = objectives.make_loss(model.apply, loss="cross_entropy")
    m = min(config.num_examples, ds.num_train)
    batch = data.Batch(jnp.asarray(ds.x_train[:m]), jnp.asarray(ds.y_train[:m]))
    keys = jax.random.split(jax.random.key(config.seed + 1), config.num_seeds)
    rows = []
    for s in range(config.num_seeds):
        params = jax.tree_util.tree_map(lambda a, s=s: a[s], final.result.params)
        c = critical.classify(loss, params, batch, key=keys[s], method="lanczos",
                              num_iters=config.num_iters, num_probes=config.num_probes)
        rows.append(c)
    stack = {f: np.asarray([getattr(c, f) for c in rows], float)
             for f in ("lambda_min", "lambda_max", "residual_min", "index", "index_stderr",
                       "grad_norm", "grad_threshold", "loss")}
    kinds = [str(c.kind) for c in rows]
    curv = [str(c.curvature) for c in rows]
    certified_negative = np.asarray([bool(c.certified_min) and float(c.lambda_min) < 0
                                     for c in rows])
    numbers = {
        "large_num_params": float(rows[0].num_params),
        "large_num_endpoints": float(len(rows)),
        "large_critical_by_gradient": float(sum(k != "not_critical" for k in kinds)),
        "large_certified_negative": float(certified_negative.sum()),
        "large_curvature_minima": float(sum(k == "minimum" for k in curv)),
        "large_lambda_min_min": float(np.min(stack["lambda_min"])),
        "large_lambda_max_median": float(np.median(stack["lambda_max"])),
        "large_index_low": float(np.min(stack["index"] - 2 * stack["index_stderr"])),
        "large_index_high": float(np.max(stack["index"] + 2 * stack["index_stderr"])),
        "large_grad_over_threshold_median": float(np.median(stack["grad_norm"]
                                                            / stack["grad_threshold"])),
        "large_test_accuracy_mean": float(np.mean(final.test_accuracy)),
    }
    arrays = {f"large_{k}": v for k, v in stack.items()}
    settings = (f"endpoints at scale: MLP {ds.in_dim}-{'-'.join(map(str, config.hidden))}-"
                f"{ds.out_dim} ({int(numbers['large_num_params'])} parameters) on "
                f"{config.task.describe(ds)}, {_common.describe_training(config.training)}, "
                f"{config.num_seeds} seeds; Lanczos ({config.num_iters} iterations) and SLQ "
                f"({config.num_probes} probes) on {m} training examples")
    return numbers, arrays, settings


def describe(numbers: dict[str, float]) -> str:
    """What the endpoints at scale are, in one sentence."""
    n = numbers
    count = int(n["large_num_endpoints"])
    negative = n["large_certified_negative"]
    shape = (f"{negative:.0f} of {count} have certified negative curvature, so they are not "
             f"minima: training stopped on a slope with some downhill directions"
             if negative else
             "none has certified negative curvature: their curvature is that of a minimum, "
             "within what Lanczos resolves")
    return (
        f"at {int(n['large_num_params'])} parameters, {n['large_critical_by_gradient']:.0f} of "
        f"{count} training endpoints pass the gradient test of a critical point (median |g| is "
        f"{n['large_grad_over_threshold_median']:.2g}x the threshold), so "
        + ("they are critical points" if n["large_critical_by_gradient"] == count else
           "they are points where training stopped, not critical points")
        + f"; lambda_min down to "
        f"{n['large_lambda_min_min']:.2g} against lambda_max ~ {n['large_lambda_max_median']:.3g}, "
        f"index in [{max(0.0, n['large_index_low']):.3f}, {n['large_index_high']:.3f}]; {shape}"
    )
