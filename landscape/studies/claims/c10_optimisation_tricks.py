"""C10: standardise the inputs; decay the learning rate; momentum gets through
plateaus; Adam is a good default and beats plain SGD on ill-conditioned problems.

Four sub-claims, four small experiments, each with its own numbers:

(a) *Standardisation.* Linear least squares on gaussian features scaled by
    ``10 ** linspace(-orders/2, orders/2)``. The Hessian is exact and constant
    (dense, float64 eigenvalues), so its condition number is known; gradient
    descent runs with ``1 / lambda_max`` (the usual safe step) on the raw and on
    the standardised features, and we count the steps until the excess loss
    falls below ``target_excess`` of its initial value (the minimum comes from
    ``numpy.linalg.lstsq``).
(b) *Learning-rate decay.* Minibatch SGD on an MLP of the task (mnist1d; digits as
    the second task) with a constant and
    with a cosine schedule, the peak rate of each tuned over the same grid;
    final training loss.
(c) *Momentum on a plateau.* A deep linear net from a small initialisation
    (Saxe et al. 2014) passes plateaus (saddles) before it learns; full-batch
    gradient descent with and without heavy-ball momentum (0.9), each with its
    best rate from the same grid; steps until the loss falls below a tenth of
    its initial value. A rate counts only if every seed gets there and stays
    there: a rate at the edge of stability can dip below the target once and
    then oscillate.
(d) *Adam on an ill-conditioned problem.* The badly scaled regression of (a),
    minibatch SGD against Adam, each with its best rate from a small grid;
    final excess loss (log10, relative to the initial one).

Each learning-rate grid runs as one compiled program with per-run learning
rates; the seeds are the same for every rate (paired).

References
----------
LeCun, Y., Bottou, L., Orr, G. and Mueller, K.-R. (1998). Efficient BackProp. In
Neural Networks: Tricks of the Trade. Springer.
Saxe, A. M., McClelland, J. L. and Ganguli, S. (2014). Exact solutions to the
nonlinear dynamics of learning in deep linear neural networks. ICLR.
Sutskever, I., Martens, J., Dahl, G. and Hinton, G. (2013). On the importance of
initialization and momentum in deep learning. ICML.
Kingma, D. P. and Ba, J. (2015). Adam: a method for stochastic optimization. ICLR.
Loshchilov, I. and Hutter, F. (2017). SGDR: stochastic gradient descent with warm
restarts. ICLR.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, data, models, objectives, plots, train
from landscape.problem import from_model
from landscape.studies.claims import _common, _starts
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C10"
TITLE = ("Standardise the inputs; decay the learning rate; momentum gets through plateaus; Adam "
         "is a good default and beats plain SGD on ill-conditioned problems.")
RULE = (
    "Four sub-claims, each holding, failing or unclear. (a) standardisation holds if it lowers "
    "the Hessian condition number of badly scaled least squares at least 100-fold and gradient "
    "descent (step 1/lambda_max) reaches the target excess loss in at most a tenth of the steps"
    " (a run that never reaches it counts as the step budget); fails if the condition number "
    "falls less than 10-fold or standardised takes as many steps. (b) decay holds if the cosine"
    " schedule's final training loss is below the constant rate's by more than 2 standard "
    "errors (each with its best peak rate); fails if it is not below. (c) momentum holds if its"
    " steps until the loss of a deep linear net started near zero falls below a tenth of its "
    "initial value (through the plateaus) are fewer than plain gradient descent's by more than "
    "2 standard errors (each with its best rate among those where every seed gets there and "
    "stays); fails if not fewer. (d) Adam holds if its final log10 relative excess loss on the "
    "badly scaled problem is below minibatch SGD's by more than 2 standard errors (each with "
    "its best rate); fails if not below. **Supported** if all four hold; **not supported** if "
    "two or more fail; **inconclusive** otherwise."
)

PARTS = ("standardise", "decay", "momentum", "adam")
HOLDS, FAILS, UNCLEAR = 1.0, -1.0, 0.0


@dataclasses.dataclass(frozen=True)
class Config:
    num_seeds: int = 3
    # (a) and (d): badly scaled least squares
    regression_samples: int = 1000
    regression_dim: int = 20
    scale_orders: float = 2.0  # features scaled over this many orders of magnitude
    regression_noise: float = 0.1
    target_excess: float = 1e-2
    gd_steps: int = 1000
    # (b): schedules on mnist1d
    task: _common.Task = _common.Task(standardize=True)
    hidden: tuple[int, ...] = (64, 64)
    schedule_rates: tuple[float, ...] = (0.2, 0.4, 0.8, 1.6)
    schedule_training: train.TrainConfig = train.TrainConfig(
        optimizer="sgd", learning_rate=0.1, num_steps=800, batch_size=32, eval_every=100
    )
    # (c): deep linear plateau
    plateau_dim: int = 10
    plateau_depth: int = 3
    plateau_init: str = "normal(0.01)"
    plateau_rates: tuple[float, ...] = tuple(float(r) for r in np.round(np.logspace(-2, 0, 9), 4))
    plateau_steps: int = 1000
    plateau_eval_every: int = 10
    plateau_fraction: float = 0.1  # "through the plateaus": loss below this fraction of the start
    momentum: float = 0.9
    # (d): Adam against SGD
    adam_rates: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
    sgd_rate_fractions: tuple[float, ...] = (0.5, 1.0, 1.9)  # times 1 / lambda_max
    adam_training: train.TrainConfig = train.TrainConfig(
        optimizer="adam", learning_rate=0.01, num_steps=1000, batch_size=32, eval_every=50,
    )
    seed: int = 10


PROFILES = {
    "quick": Config(),
    "full": Config(
        num_seeds=8, scale_orders=4.0, gd_steps=10000,
        task=_common.Task(num_samples=5000, standardize=True), hidden=(100, 100),
        schedule_rates=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6),
        schedule_training=train.TrainConfig(optimizer="sgd", learning_rate=0.1, num_steps=5000,
                                            batch_size=32, eval_every=250),
        plateau_depth=4, plateau_steps=5000,
        adam_rates=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
        sgd_rate_fractions=(0.1, 0.25, 0.5, 1.0, 1.5, 1.9),
        adam_training=train.TrainConfig(optimizer="adam", learning_rate=0.01, num_steps=10000,
                                        batch_size=32, eval_every=250),
    ),
}


# The second task: scikit-learn's digits (real 8x8 images), the same experiment and rule.
OTHER_TASKS = {
    "digits": {profile: dataclasses.replace(
        config, task=dataclasses.replace(config.task, dataset="digits"))
        for profile, config in PROFILES.items()},
}


# ----------------------------------------------------------------------------- helpers


def badly_scaled_regression(*, num_samples: int, dim: int, orders: float, noise: float,
                            seed: int) -> data.Dataset:
    """Linear regression ``y = x w + noise`` on gaussian features, then feature ``i``
    multiplied by ``10 ** linspace(-orders / 2, orders / 2, dim)[i]``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((num_samples, dim))
    w = rng.standard_normal((dim, 1))
    y = x @ w + noise * rng.standard_normal((num_samples, 1))
    scales = 10.0 ** np.linspace(-orders / 2, orders / 2, dim)
    dtype = jnp.result_type(float)
    return data.split((x * scales[None, :]).astype(dtype), y.astype(dtype),
                      name="badly_scaled_regression", num_classes=None, seed=seed)


def linear_teacher(*, num_samples: int, dim: int, seed: int) -> data.Dataset:
    """Noise-free regression ``y = x A`` with gaussian ``x`` and a gaussian ``A / sqrt(dim)``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((num_samples, dim))
    a = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    dtype = jnp.result_type(float)
    return data.split(x.astype(dtype), (x @ a).astype(dtype), name="linear_teacher",
                      num_classes=None, seed=seed)


def least_squares_minimum(ds: data.Dataset) -> float:
    """The minimum of ``0.5 * mean |x w + b - y|^2`` over ``(w, b)`` on the training split."""
    x = np.c_[ds.x_train.astype(np.float64), np.ones(ds.num_train)]
    y = ds.y_train.astype(np.float64).reshape(ds.num_train, -1)
    solution = np.linalg.lstsq(x, y, rcond=None)[0]
    return float(0.5 * np.mean(np.sum((x @ solution - y) ** 2, axis=1)))


def hessian_eigenvalues(model: models.Model, ds: data.Dataset, *, key) -> np.ndarray:
    """Eigenvalues (float64, ascending) of the dense training-loss Hessian at
    ``model.init(key)``."""
    loss = objectives.make_loss(model.apply, loss="mse")
    batch = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    hessian = curvature.dense_hessian(loss, model.init(key), batch)
    return np.linalg.eigvalsh(np.asarray(hessian, dtype=np.float64))


def first_step_below(curves: np.ndarray, steps: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """For each row of ``curves`` (R, E), the first step whose value is ``<= threshold[r]``;
    ``inf`` where it never is."""
    below = curves <= threshold[:, None]
    first = np.asarray(steps, dtype=float)[np.argmax(below, axis=1)]
    return np.where(below.any(axis=1), first, np.inf)


def best_rate(score: np.ndarray, bad: np.ndarray) -> int:
    """Index of the rate (rows of ``score`` (L, S), lower is better) with the lowest mean
    score among rates where no seed is ``bad``."""
    mean = np.where(bad.any(axis=1), np.inf, np.mean(score, axis=1))
    return int(np.argmin(mean))


def _se(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))


def _grid_keys(key, *, num_rates: int, num_seeds: int):
    return jnp.concatenate([jax.random.split(key, num_seeds)] * num_rates)


def _judge_difference(better: float, worse: float, se: float) -> float:
    """HOLDS if ``better`` is below ``worse`` by more than 2 ``se``, FAILS if not below."""
    if not np.isfinite(better):
        return FAILS
    if better < worse - 2 * se:
        return HOLDS
    return FAILS if better >= worse else UNCLEAR


# ----------------------------------------------------------------------------- the four parts


def _standardise(config: Config, raw: data.Dataset, key, progress):
    std = data.standardize(raw)
    model = models.mlp(raw.in_dim, (), raw.out_dim)
    gd = train.TrainConfig(optimizer="sgd", learning_rate=1.0, num_steps=config.gd_steps,
                           eval_every=10)
    S = config.num_seeds
    out = {}
    for name, ds in (("raw", raw), ("std", std)):
        eig = hessian_eigenvalues(model, ds, key=key)
        keys = jax.random.split(key, S)
        result = train.train_seeds(from_model(model, ds, loss="mse"), gd, keys=keys,
                                   init_params=_starts.stacked_init(model, keys),
                                   learning_rates=np.full(S, 1.0 / eig[-1]), progress=progress)
        loss = np.asarray(result.curves.train_loss, dtype=np.float64)
        best = least_squares_minimum(ds)
        excess = (loss - best) / (loss[:, :1] - best)
        steps = first_step_below(excess, gd.eval_steps, np.full(S, config.target_excess))
        out[name] = {"kappa": float(eig[-1] / eig[0]), "lambda_max": float(eig[-1]),
                     "steps": np.minimum(steps, config.gd_steps), "reached": np.isfinite(steps),
                     "excess": excess}
    ratio = out["raw"]["kappa"] / out["std"]["kappa"]
    steps_raw, steps_std = out["raw"]["steps"].mean(), out["std"]["steps"].mean()
    if ratio >= 100 and steps_std <= steps_raw / 10:
        judged = HOLDS
    elif ratio < 10 or steps_std >= steps_raw:
        judged = FAILS
    else:
        judged = UNCLEAR
    numbers = {
        "a_condition_raw": out["raw"]["kappa"],
        "a_condition_standardised": out["std"]["kappa"],
        "a_steps_raw": float(steps_raw),
        "a_steps_standardised": float(steps_std),
        "a_raw_runs_reaching_target": float(out["raw"]["reached"].sum()),
    }
    arrays = {"a_step": np.asarray(gd.eval_steps), "a_excess_raw": out["raw"]["excess"],
              "a_excess_std": out["std"]["excess"], "a_target": np.asarray(config.target_excess)}
    return judged, numbers, arrays, out["raw"]["lambda_max"]


def _decay(config: Config, key, progress):
    ds = config.task.load()
    model = models.mlp(ds.in_dim, config.hidden, ds.out_dim)
    rates = np.asarray(config.schedule_rates, dtype=float)
    S, L = config.num_seeds, len(rates)
    keys = _grid_keys(key, num_rates=L, num_seeds=S)
    starts = _starts.stacked_init(model, keys)
    final, curves, chosen = {}, {}, {}
    for schedule in ("constant", "cosine"):
        cfg = config.schedule_training.replace(schedule=schedule)
        result = train.train_seeds(from_model(model, ds), cfg, keys=keys,
                                   learning_rates=np.repeat(rates, S), init_params=starts,
                                   progress=progress)
        loss = np.asarray(result.curves.train_loss, dtype=float).reshape(L, S, -1)
        bad = np.asarray(result.diverged).reshape(L, S) | ~np.isfinite(loss[:, :, -1])
        best = best_rate(loss[:, :, -1], bad)
        final[schedule], curves[schedule] = loss[best, :, -1], loss[best]
        chosen[schedule] = rates[best]
        val = np.asarray(result.curves.val_accuracy, dtype=float).reshape(L, S, -1)[best, :, -1]
        final[f"{schedule}_val_accuracy"] = val
    se = float(np.hypot(_se(final["constant"]), _se(final["cosine"])))
    judged = _judge_difference(final["cosine"].mean(), final["constant"].mean(), se)
    numbers = {
        "b_final_train_loss_constant": float(final["constant"].mean()),
        "b_final_train_loss_cosine": float(final["cosine"].mean()),
        "b_difference_se": se,
        "b_best_rate_constant": float(chosen["constant"]),
        "b_best_rate_cosine": float(chosen["cosine"]),
        "b_val_accuracy_constant": float(final["constant_val_accuracy"].mean()),
        "b_val_accuracy_cosine": float(final["cosine_val_accuracy"].mean()),
    }
    arrays = {"b_step": np.asarray(config.schedule_training.eval_steps),
              "b_loss_constant": curves["constant"], "b_loss_cosine": curves["cosine"]}
    return judged, numbers, arrays


def _momentum(config: Config, key, progress):
    dim = config.plateau_dim
    ds = linear_teacher(num_samples=500, dim=dim, seed=config.seed)
    model = models.deep_linear(dim, (dim,) * (config.plateau_depth - 1), dim,
                               init=config.plateau_init)
    rates = np.asarray(config.plateau_rates, dtype=float)
    S, L = config.num_seeds, len(rates)
    keys = _grid_keys(key, num_rates=L, num_seeds=S)
    starts = _starts.stacked_init(model, keys)
    steps, curves, chosen = {}, {}, {}
    for optimizer in ("sgd", "momentum"):
        cfg = train.TrainConfig(optimizer=optimizer, learning_rate=1.0, momentum=config.momentum,
                                num_steps=config.plateau_steps,
                                eval_every=config.plateau_eval_every)
        result = train.train_seeds(from_model(model, ds, loss="mse"), cfg, keys=keys,
                                   learning_rates=np.repeat(rates, S), init_params=starts,
                                   progress=progress)
        loss = np.asarray(result.curves.train_loss, dtype=float)
        target = config.plateau_fraction * loss[:, 0]
        escape = first_step_below(loss, cfg.eval_steps, target).reshape(L, S)
        # a rate counts only if every seed gets through and stays through (no oscillation back)
        stays = (loss[:, -1] <= target).reshape(L, S)
        bad = np.asarray(result.diverged).reshape(L, S) | ~np.isfinite(escape) | ~stays
        best = best_rate(escape, bad)
        steps[optimizer], chosen[optimizer] = escape[best], rates[best]
        curves[optimizer] = loss.reshape(L, S, -1)[best]
    se = float(np.hypot(_se(steps["sgd"]), _se(steps["momentum"])))
    judged = _judge_difference(steps["momentum"].mean(), steps["sgd"].mean(), se)
    numbers = {
        "c_steps_through_plateaus_gd": float(steps["sgd"].mean()),
        "c_steps_through_plateaus_momentum": float(steps["momentum"].mean()),
        "c_difference_se": se,
        "c_best_rate_gd": float(chosen["sgd"]),
        "c_best_rate_momentum": float(chosen["momentum"]),
    }
    arrays = {"c_step": np.asarray(cfg.eval_steps), "c_loss_gd": curves["sgd"],
              "c_loss_momentum": curves["momentum"],
              "c_target": np.asarray(config.plateau_fraction * float(loss[:, 0].mean()))}
    return judged, numbers, arrays


def _adam(config: Config, raw: data.Dataset, lambda_max: float, key, progress):
    model = models.mlp(raw.in_dim, (), raw.out_dim)
    best_loss = least_squares_minimum(raw)
    S = config.num_seeds
    grids = {"adam": np.asarray(config.adam_rates, dtype=float),
             "sgd": np.asarray(config.sgd_rate_fractions, dtype=float) / lambda_max}
    final, curves, chosen = {}, {}, {}
    for optimizer, rates in grids.items():
        L = len(rates)
        cfg = config.adam_training.replace(optimizer=optimizer)
        keys = _grid_keys(key, num_rates=L, num_seeds=S)
        result = train.train_seeds(from_model(model, raw, loss="mse"), cfg, keys=keys,
                                   init_params=_starts.stacked_init(model, keys),
                                   learning_rates=np.repeat(rates, S), progress=progress)
        loss = np.asarray(result.curves.train_loss, dtype=np.float64)
        excess = np.maximum((loss - best_loss) / (loss[:, :1] - best_loss), 1e-12)
        log_excess = np.log10(excess).reshape(L, S, -1)
        bad = np.asarray(result.diverged).reshape(L, S) | ~np.isfinite(log_excess[:, :, -1])
        best = best_rate(log_excess[:, :, -1], bad)
        final[optimizer], curves[optimizer] = log_excess[best, :, -1], log_excess[best]
        chosen[optimizer] = rates[best]
    se = float(np.hypot(_se(final["adam"]), _se(final["sgd"])))
    judged = _judge_difference(final["adam"].mean(), final["sgd"].mean(), se)
    numbers = {
        "d_log10_excess_sgd": float(final["sgd"].mean()),
        "d_log10_excess_adam": float(final["adam"].mean()),
        "d_difference_se": se,
        "d_best_rate_sgd": float(chosen["sgd"]),
        "d_best_rate_adam": float(chosen["adam"]),
    }
    arrays = {"d_step": np.asarray(config.adam_training.eval_steps),
              "d_log_excess_sgd": curves["sgd"], "d_log_excess_adam": curves["adam"]}
    return judged, numbers, arrays


def _check(config: Config) -> None:
    if config.num_seeds < 2:
        raise ValueError(f"num_seeds: need at least 2 for a standard error, got {config.num_seeds}")
    if config.plateau_depth < 2:
        raise ValueError(f"plateau_depth: a plateau needs at least 2 layers, got "
                         f"{config.plateau_depth}")
    if not 0 < config.plateau_fraction < 1:
        raise ValueError(f"plateau_fraction: must be in (0, 1), got {config.plateau_fraction}")
    if not 0 < config.target_excess < 1:
        raise ValueError(f"target_excess: must be in (0, 1), got {config.target_excess}")
    for field in ("schedule_rates", "plateau_rates", "adam_rates", "sgd_rate_fractions"):
        rates = getattr(config, field)
        if not rates or any(r <= 0 for r in rates):
            raise ValueError(f"{field}: need positive rates, got {rates}")


def measure(config: Config, *, progress: bool = False) -> Measurement:
    _check(config)
    key = jax.random.key(config.seed)
    raw = badly_scaled_regression(num_samples=config.regression_samples, dim=config.regression_dim,
                                  orders=config.scale_orders, noise=config.regression_noise,
                                  seed=config.seed)
    a, numbers_a, arrays_a, lambda_max = _standardise(config, raw, jax.random.fold_in(key, 0),
                                                      progress)
    b, numbers_b, arrays_b = _decay(config, jax.random.fold_in(key, 1), progress)
    c, numbers_c, arrays_c = _momentum(config, jax.random.fold_in(key, 2), progress)
    d, numbers_d, arrays_d = _adam(config, raw, lambda_max, jax.random.fold_in(key, 3), progress)
    judged = np.array([a, b, c, d])
    numbers = {
        "subclaims_holding": float(np.sum(judged == HOLDS)),
        "subclaims_failing": float(np.sum(judged == FAILS)),
        **{f"{part}_judged": float(j) for part, j in zip(PARTS, judged, strict=True)},
        **numbers_a, **numbers_b, **numbers_c, **numbers_d,
        "num_seeds": float(config.num_seeds),
    }
    # the report prints numbers as JSON: an infinite value (a rate at which every run failed)
    # is stored as NaN, which the verdict treats as not measured
    numbers = {k: v if np.isfinite(v) else float("nan") for k, v in numbers.items()}
    arrays = {**arrays_a, **arrays_b, **arrays_c, **arrays_d}
    t = config.schedule_training
    settings = (
        f"(a, d) least squares, {config.regression_dim} gaussian features scaled over "
        f"{config.scale_orders:g} orders of magnitude, {raw.num_train} training examples; (a) "
        f"full-batch GD at 1/lambda_max for {config.gd_steps} steps, target excess "
        f"{config.target_excess:g}; (b) MLP {config.hidden} on {config.task.dataset}, SGD batch "
        f"{t.batch_size}, {t.num_steps} steps, peak rate best of {list(config.schedule_rates)}; "
        f"(c) deep linear net of {config.plateau_depth} layers of width {config.plateau_dim}, "
        f"init {config.plateau_init}, full batch, rates {min(config.plateau_rates):g} to "
        f"{max(config.plateau_rates):g}, momentum {config.momentum}; (d) batch "
        f"{config.adam_training.batch_size}, {config.adam_training.num_steps} steps, Adam rates "
        f"{list(config.adam_rates)}, SGD rates {list(config.sgd_rate_fractions)} / lambda_max; "
        f"{config.num_seeds} seeds"
    )
    return Measurement(numbers, arrays, settings)


def verdict(numbers: dict[str, float]) -> Verdict:
    judged = {part: numbers[f"{part}_judged"] for part in PARTS}
    words = {HOLDS: "holds", FAILS: "fails", UNCLEAR: "unclear"}
    said = "; ".join([
        f"(a) standardising: condition {numbers['a_condition_raw']:.3g} -> "
        f"{numbers['a_condition_standardised']:.3g}, steps {numbers['a_steps_raw']:.0f} -> "
        f"{numbers['a_steps_standardised']:.0f} ({words[judged['standardise']]})",
        f"(b) final loss constant {numbers['b_final_train_loss_constant']:.3f} vs cosine "
        f"{numbers['b_final_train_loss_cosine']:.3f} (SE {numbers['b_difference_se']:.3f}, "
        f"{words[judged['decay']]})",
        f"(c) steps through the plateaus GD {numbers['c_steps_through_plateaus_gd']:.0f} vs "
        f"momentum {numbers['c_steps_through_plateaus_momentum']:.0f} "
        f"(SE {numbers['c_difference_se']:.1f}, "
        f"{words[judged['momentum']]})",
        f"(d) log10 excess SGD {numbers['d_log10_excess_sgd']:.2f} vs Adam "
        f"{numbers['d_log10_excess_adam']:.2f} (SE {numbers['d_difference_se']:.2f}, "
        f"{words[judged['adam']]})",
    ])
    fails = sum(j == FAILS for j in judged.values())
    if all(j == HOLDS for j in judged.values()):
        return Verdict(SUPPORTED, said)
    if fails >= 2:
        return Verdict(NOT_SUPPORTED, said)
    return Verdict(INCONCLUSIVE, said)


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    blue, red = plots.COLORS[0], plots.COLORS[1]

    def curves(ax, step, rows, color, label, log=False):
        for i, row in enumerate(rows):
            values = np.maximum(row, 1e-12) if log else row
            ax.plot(step, values, color=color, alpha=0.7, label=label if i == 0 else None)

    with plots.style():
        fig, axes = plt.subplots(2, 2, figsize=plots.figure_size(columns=2, aspect=0.62))
        fig.get_layout_engine().set(hspace=0.08)  # room between a row's labels and the next
        ax = axes[0, 0]
        curves(ax, a["a_step"], a["a_excess_raw"], blue, "raw features", log=True)
        curves(ax, a["a_step"], a["a_excess_std"], red, "standardised", log=True)
        ax.axhline(float(a["a_target"]), color="black", lw=0.6, ls=":", label="target")
        ax.set_yscale("log")
        ax.set(xlabel="gradient-descent step", ylabel="relative excess loss",
               title="(a) standardising inputs (GD at 1/lambda_max)")
        ax.legend()
        ax = axes[0, 1]
        curves(ax, a["b_step"], a["b_loss_constant"], blue, "constant rate")
        curves(ax, a["b_step"], a["b_loss_cosine"], red, "cosine decay")
        ax.set(xlabel="SGD step", ylabel="training loss (nats)",
               title="(b) learning-rate decay (best peak rates)")
        ax.legend()
        ax = axes[1, 0]
        curves(ax, a["c_step"], a["c_loss_gd"], blue, "gradient descent")
        curves(ax, a["c_step"], a["c_loss_momentum"], red, "momentum 0.9")
        ax.axhline(float(a["c_target"]), color="black", lw=0.6, ls=":", label="target")
        ax.set_yscale("log")
        ax.set(xlabel="step (full batch)", ylabel="training loss (squared error)",
               title="(c) a deep-linear plateau (best rates)")
        ax.legend()
        ax = axes[1, 1]
        curves(ax, a["d_step"], a["d_log_excess_sgd"], blue, "SGD")
        curves(ax, a["d_step"], a["d_log_excess_adam"], red, "Adam")
        ax.set(xlabel="minibatch step", ylabel="log10 relative excess loss",
               title="(d) badly scaled least squares (best rates)")
        ax.legend()
    return fig
