"""C13: a wider hidden expansion (4x rather than 2x the input dimension) gives a
smoother landscape that is easier to optimise.

One-hidden-layer MLPs whose hidden width is ``k`` times the input dimension
(``k`` = 1, 2, 4, 8 in the quick profile) train as one family in one compiled
program (:mod:`._family`: the widest net with the units beyond ``k * d``
masked). Three measurements per width:

- *steps to a target training loss* (from the curves; a run that never gets
  there counts as the step budget, a lower bound);
- *sharpness* ``lambda_max`` of the training-loss Hessian (Lanczos) at the
  point where each run first reaches the target loss, so that every width is
  compared at the same loss (a wider net trained for the same number of steps
  sits lower, and sharpness changes along training); the masked parameters do
  not enter the loss, so their Hessian rows are zero and ``lambda_max`` is that
  of the plain net. Its value at initialisation is reported too: with Glorot
  initialisation it is about the same for every width, so the matched-loss
  values need no further normalisation;
- *barrier* on the straight line between the matched-loss parameters of two
  independent seeds (disjoint pairs), ``max_t`` of the loss above the chord.

Every width uses the same seeds and minibatch order (paired runs).

References
----------
Keskar, N. S. et al. (2017). On large-batch training for deep learning: generalization
gap and sharp minima. ICLR.
Garipov, T. et al. (2018). Loss surfaces, mode connectivity, and fast ensembling of DNNs.
NeurIPS.
Entezari, R. et al. (2022). The role of permutation invariance in linear mode
connectivity of neural networks. ICLR.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, data, lanczos, objectives, plots, train
from landscape.paths import interpolate
from landscape.problem import from_model
from landscape.studies.claims import _common, _family
from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Measurement, Verdict

ID = "C13"
TITLE = ("A wider hidden expansion (4x rather than 2x the input dimension) gives a smoother "
         "landscape that is easier to optimise.")
RULE = (
    "One-hidden-layer MLPs of width k x input dimension, trained alike. Compare k = 4 with "
    "k = 2 on three measures, each at the same training loss (the target): lambda_max of the "
    "Hessian where a run first reaches the target, the loss barrier on the straight line "
    "between two seeds' parameters at that point, and the steps to reach it. A measure favours "
    "one width when its mean is lower by more than 2 standard errors of the difference. "
    "**Supported** if all three favour 4x. **Not supported** if any favours 2x, or neither "
    "smoothness measure (lambda_max, barrier) favours 4x. **Inconclusive** otherwise, or when "
    "2x does not reach the target in every run."
)

MEASURES = ("lambda_max", "barrier", "steps")
FAVOURS_WIDER, TIE, FAVOURS_NARROWER = 1.0, 0.0, -1.0


@dataclasses.dataclass(frozen=True)
class Config:
    task: _common.Task = _common.Task(standardize=True)
    expansions: tuple[int, ...] = (1, 2, 4, 8)
    compare: tuple[int, int] = (2, 4)  # (narrower, wider): the claim's comparison
    target_loss: float = 0.8
    num_seeds: int = 6  # disjoint pairs for the barriers
    hessian_examples: int = 1024
    lanczos_iters: int = 30
    num_points: int = 11  # along each interpolation path
    training: train.TrainConfig = train.TrainConfig(
        optimizer="adam", learning_rate=3e-3, num_steps=1500, batch_size=64, eval_every=50
    )
    seed: int = 13


PROFILES = {
    "quick": Config(),
    "full": Config(
        task=_common.Task(num_samples=5000, standardize=True), expansions=(1, 2, 3, 4, 6, 8),
        num_seeds=8, target_loss=0.5, hessian_examples=3500, lanczos_iters=50, num_points=25,
        training=train.TrainConfig(optimizer="adam", learning_rate=3e-3, num_steps=6000,
                                   batch_size=64, eval_every=100),
    ),
}


# The second task: scikit-learn's digits (real 8x8 images), the same experiment and rule.
OTHER_TASKS = {
    "digits": {profile: dataclasses.replace(
        config, task=dataclasses.replace(config.task, dataset="digits"))
        for profile, config in PROFILES.items()},
}


def _check(config: Config) -> None:
    narrow, wide = config.compare
    if narrow not in config.expansions or wide not in config.expansions or narrow >= wide:
        raise ValueError(f"compare: need two expansions of {config.expansions}, narrower first, "
                         f"got {config.compare}")
    if config.num_seeds < 4 or config.num_seeds % 2:
        raise ValueError(f"num_seeds: need an even number >= 4 (disjoint pairs), got "
                         f"{config.num_seeds}")
    if not config.target_loss > 0:
        raise ValueError(f"target_loss: must be positive, got {config.target_loss}")


def first_reached(curves: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first evaluation with ``curve <= target`` for each row of ``curves``
    (R, E), and whether the row ever gets there."""
    below = curves <= target
    return np.argmax(below, axis=1), below.any(axis=1)


def top_eigenvalues(loss, params, flat: np.ndarray, batch: data.Batch, *, num_iters: int,
                    key) -> lanczos.LanczosResult:
    """``lambda_max`` of the Hessian of ``loss`` at each row of ``flat`` (R, n): one
    vmapped Lanczos run per row. ``params`` gives the structure of one point."""
    op = curvature.hessian_operator(loss, params, batch)
    eigs = lanczos.extreme_eigs(num_iters=min(num_iters, op.size), which="largest", tol=1e-4)
    solve = jax.jit(jax.vmap(lambda v0, x, b: eigs(op.matvec, v0, x, b), in_axes=(0, 0, None)))
    v0 = jax.random.normal(key, flat.shape, op.dtype)
    return solve(v0, jnp.asarray(flat, op.dtype), batch)


def _compare(narrow: np.ndarray, wide: np.ndarray, *, paired: bool) -> tuple[float, float, float]:
    """(mean difference narrow - wide, its standard error, judgement)."""
    if paired:
        diff = narrow - wide
        mean, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))
    else:
        mean = float(narrow.mean() - wide.mean())
        se = float(np.hypot(narrow.std(ddof=1) / np.sqrt(len(narrow)),
                            wide.std(ddof=1) / np.sqrt(len(wide))))
    if not np.isfinite(mean):
        return mean, se, float("nan")
    judged = FAVOURS_WIDER if mean > 2 * se else FAVOURS_NARROWER if mean < -2 * se else TIE
    return mean, se, judged


def measure(config: Config, *, progress: bool = False) -> Measurement:
    _check(config)
    ds = config.task.load()
    ks = tuple(config.expansions)
    members = [_family.Member(1, k * ds.in_dim) for k in ks]
    S, M = config.num_seeds, len(members)
    fam = _family.mlp_family(ds.in_dim, ds.out_dim, members)
    keys = _family.run_keys(jax.random.key(config.seed), num_members=M, num_seeds=S)
    runs = [m for m in members for _ in range(S)]
    cfg = config.training.replace(record_params=True)
    _family.check_training(cfg)
    # the trajectories of every run are kept (the matched-loss points): refuse what will not fit
    shapes = jax.eval_shape(fam.model.init, keys[0])
    size = sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(shapes))
    curvature.check_memory(2 * M * S * cfg.num_evals, size, jnp.result_type(float))
    result = train.train_seeds(from_model(fam.model, ds), cfg, keys=keys,
                               init_params=_family.init_runs(fam, runs, keys=keys),
                               progress=progress)
    curves = np.asarray(result.curves.train_loss, dtype=float)  # (R, E)
    trajectory = np.asarray(result.trajectory)  # (R, E, n)
    steps_axis = np.asarray(cfg.eval_steps)
    index, reached = first_reached(curves, config.target_loss)
    steps = np.where(reached, steps_axis[index], cfg.num_steps).astype(float)

    # sharpness at initialisation, at the matched loss, and at the end
    loss = objectives.make_loss(fam.model.apply)
    n = min(config.hessian_examples, ds.num_train)
    batch = data.Batch(jnp.asarray(ds.x_train[:n]), jnp.asarray(ds.y_train[:n]))
    one = jax.tree_util.tree_map(lambda a: a[0], result.params)
    R = M * S
    points = np.concatenate([trajectory[:, 0], trajectory[np.arange(R), index],
                             trajectory[:, -1]])
    eig = top_eigenvalues(loss, one, points, batch, num_iters=config.lanczos_iters,
                          key=jax.random.fold_in(jax.random.key(config.seed), 1))
    lam = np.asarray(eig.eigvals[:, -1], dtype=float).reshape(3, R)
    lam_init, lam_matched, lam_end = lam[0], np.where(reached, lam[1], np.nan), lam[2]

    # barriers between disjoint pairs of seeds, at the matched loss and at the end
    f, _, _ = curvature.flat_loss(loss, one)
    barrier = np.full((2, M, S // 2), np.nan)
    paths = np.full((M, config.num_points), np.nan)
    for m in range(M):
        for p in range(S // 2):
            a, b = m * S + 2 * p, m * S + 2 * p + 1
            for j, (xa, xb, ok) in enumerate((
                (trajectory[a, index[a]], trajectory[b, index[b]], reached[a] and reached[b]),
                (trajectory[a, -1], trajectory[b, -1], True),
            )):
                if not ok:
                    continue
                path = interpolate(f, xa, xb, batch, num_points=config.num_points)
                barrier[j, m, p] = float(path.barrier)
                if j == 0 and p == 0:
                    paths[m] = np.asarray(path.losses, dtype=float)

    shape = (M, S)
    steps, lam_init, lam_matched, lam_end = (x.reshape(shape) for x in
                                             (steps, lam_init, lam_matched, lam_end))
    reached = reached.reshape(shape)
    i_narrow, i_wide = ks.index(config.compare[0]), ks.index(config.compare[1])
    compared = {
        "lambda_max": _compare(lam_matched[i_narrow], lam_matched[i_wide], paired=True),
        "barrier": _compare(barrier[0, i_narrow], barrier[0, i_wide], paired=False),
        "steps": _compare(steps[i_narrow], steps[i_wide], paired=True),
    }
    narrow, wide = config.compare
    numbers = {
        **{f"{name}_{narrow}x_minus_{wide}x": v[0] for name, v in compared.items()},
        **{f"{name}_difference_se": v[1] for name, v in compared.items()},
        **{f"{name}_judged": v[2] for name, v in compared.items()},
        "narrower_runs_reaching_target": float(reached[i_narrow].sum()),
    }
    for i, k in enumerate(ks):
        numbers[f"steps_to_target_{k}x"] = float(steps[i].mean())
        numbers[f"lambda_max_matched_{k}x"] = float(np.mean(lam_matched[i]))
        numbers[f"lambda_max_init_{k}x"] = float(lam_init[i].mean())
        numbers[f"lambda_max_end_{k}x"] = float(lam_end[i].mean())
        numbers[f"barrier_matched_{k}x"] = float(np.mean(barrier[0, i]))
        numbers[f"barrier_end_{k}x"] = float(np.mean(barrier[1, i]))
        numbers[f"final_train_loss_{k}x"] = float(curves.reshape(M, S, -1)[i, :, -1].mean())
    numbers["lanczos_not_converged"] = float(np.sum(~np.asarray(eig.converged)[:, -1]))
    numbers["num_seeds"] = float(S)
    arrays = {
        "expansions": np.asarray(ks), "step": steps_axis,
        "train_loss": curves.reshape(M, S, -1), "steps": steps, "reached": reached,
        "lambda_init": lam_init, "lambda_matched": lam_matched, "lambda_end": lam_end,
        "barrier_matched": barrier[0], "barrier_end": barrier[1],
        "path_ts": np.linspace(0.0, 1.0, config.num_points), "path_losses": paths,
        "target_loss": np.asarray(config.target_loss), "compare": np.asarray(config.compare),
    }
    settings = (
        f"one-hidden-layer ReLU MLPs of width k x {ds.in_dim} for k in {list(ks)} (Glorot "
        f"init) on {config.task.describe(ds)}, inputs standardised; "
        f"{_common.describe_training(config.training)}; target training loss "
        f"{config.target_loss:g}; Hessian (Lanczos, {config.lanczos_iters} vectors) and "
        f"interpolation paths ({config.num_points} points) on {n} training examples; {S} seeds "
        f"({S // 2} disjoint pairs for barriers)"
    )
    return Measurement(numbers, arrays, settings)


def _never_reached(numbers: dict[str, float]) -> str:
    """A sentence for each width none of whose runs reached the target (its matched-loss
    measures are NaN and its steps to the target are the step budget), or ""."""
    widths = [k[len("lambda_max_matched_"):] for k, v in numbers.items()
              if k.startswith("lambda_max_matched_") and not np.isfinite(v)]
    return "".join(
        f". {w} never reached the target training loss within its budget (final training "
        f"loss {numbers.get(f'final_train_loss_{w}', float('nan')):.3g}), so its "
        f"steps_to_target_{w} = {numbers.get(f'steps_to_target_{w}', float('nan')):.0f} is the "
        f"budget, not a measured time, and it has no point at the target on which to measure "
        f"lambda_max_matched_{w} and barrier_matched_{w}; it does not enter the verdict, which "
        f"compares 4x with 2x"
        for w in widths
    )


def explain_missing(numbers: dict[str, float]) -> dict[str, str]:
    """Why a number is NaN: a width none of whose runs reached the target has no point
    at the target loss to measure."""
    out = {}
    for key, value in numbers.items():
        if key.startswith(("lambda_max_matched_", "barrier_matched_")) and np.isnan(value):
            w = key.rsplit("_", 1)[1]
            out[key] = (f"no {w} run reached the target training loss within the step budget, "
                        f"so there is no point at the target to measure")
    return out


def verdict(numbers: dict[str, float]) -> Verdict:
    names = [k for k in numbers if k.endswith("_judged")]
    judged = {name[: -len("_judged")]: numbers[name] for name in names}
    diffs = {m: next(v for k, v in numbers.items() if k.startswith(f"{m}_") and "_minus_" in k)
             for m in MEASURES}
    ses = {m: numbers[f"{m}_difference_se"] for m in MEASURES}
    said = "; ".join(
        f"{m}: narrower minus wider {diffs[m]:+.3g} (SE {ses[m]:.2g})" for m in MEASURES
    )
    said += _never_reached(numbers)
    if any(not np.isfinite(judged[m]) for m in MEASURES):
        return Verdict(INCONCLUSIVE, f"the narrower width did not reach the target in every "
                                     f"run, so the matched-loss comparison is incomplete ({said})")
    if any(judged[m] == FAVOURS_NARROWER for m in MEASURES):
        return Verdict(NOT_SUPPORTED, f"a measure favours the narrower net: {said}")
    if all(judged[m] == FAVOURS_WIDER for m in MEASURES):
        return Verdict(SUPPORTED, f"all three favour the wider net: {said}")
    if judged["lambda_max"] != FAVOURS_WIDER and judged["barrier"] != FAVOURS_WIDER:
        easier = ("it is easier to optimise" if judged["steps"] == FAVOURS_WIDER
                  else "the steps do not differ either")
        return Verdict(NOT_SUPPORTED, f"at the same training loss the wider net is not smoother "
                                      f"beyond the seed spread ({easier}): {said}")
    return Verdict(INCONCLUSIVE, said)


def plot(measurement: Measurement):
    import matplotlib.pyplot as plt

    a = measurement.arrays
    ks = a["expansions"]
    colors = [plots.COLORS[i % len(plots.COLORS)] for i in range(len(ks))]

    def mean_se(values):
        values = np.asarray(values, dtype=float)
        count = np.sum(np.isfinite(values), axis=1)
        mean = np.nanmean(np.where(count[:, None] > 0, values, 0.0), axis=1)
        mean = np.where(count > 0, mean, np.nan)
        sd = np.array([np.nanstd(v, ddof=1) if c > 1 else 0.0 for v, c in zip(values, count,
                                                                              strict=True)])
        return mean, sd / np.sqrt(np.maximum(count, 1))

    with plots.style():
        fig, axes = plt.subplots(2, 2, figsize=plots.figure_size(columns=2, aspect=0.62))
        fig.get_layout_engine().set(hspace=0.08)  # room between a row's labels and the next
        ax = axes[0, 0]
        for i, k in enumerate(ks):
            ax.plot(a["step"], a["train_loss"][i].mean(axis=0), color=colors[i], label=f"{k}x")
        ax.axhline(float(a["target_loss"]), color="black", lw=0.6, ls=":", label="target")
        ax.set(xlabel="training step", ylabel="training loss (nats)",
               title="training curves (mean of seeds)")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(plt.MultipleLocator(0.5))
        ax.legend(ncols=2)
        ax = axes[0, 1]
        for name, label, marker in (("lambda_matched", "at the target loss", "o"),
                                    ("lambda_init", "at initialisation", "s"),
                                    ("lambda_end", "at the end", "^")):
            mean, se = mean_se(a[name])
            ax.errorbar(ks, mean, yerr=se, marker=marker, capsize=2, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [f"{k}x" for k in ks])
        ax.set(xlabel="hidden width / input dimension", ylabel="Hessian lambda_max",
               title="sharpness")
        ax.legend()
        ax = axes[1, 0]
        highest = 0.0
        for name, label, marker in (("barrier_matched", "at the target loss", "o"),
                                    ("barrier_end", "at the end", "^")):
            mean, se = mean_se(a[name])
            ax.errorbar(ks, mean, yerr=se, marker=marker, capsize=2, label=label)
            if np.any(np.isfinite(mean + se)):
                highest = max(highest, float(np.nanmax(mean + se)))
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [f"{k}x" for k in ks])
        ax.set(xlabel="hidden width / input dimension", ylabel="barrier between seeds (nats)",
               title="straight-line barrier")
        # the data in the lower 60%, the legend and the inset above it
        ax.set_ylim(0, 1.7 * highest if highest > 0 else 1.0)
        ax.legend(loc="upper right")
        inset = ax.inset_axes([0.09, 0.66, 0.19, 0.24])
        for i in range(len(ks)):
            if np.all(np.isfinite(a["path_losses"][i])):
                inset.plot(a["path_ts"], a["path_losses"][i], color=colors[i], lw=0.8)
        inset.set_title("path loss (nats)", fontsize=5, pad=2)
        inset.set_xticks([0, 1])
        inset.tick_params(labelsize=4.5, pad=1, length=2)
        ax = axes[1, 1]
        steps, reached = a["steps"], a["reached"]
        mean, se = mean_se(steps)
        ax.errorbar(ks, mean, yerr=se, marker="o", capsize=2, color=plots.COLORS[0],
                    label="mean +- SE")
        jitter = np.linspace(-0.08, 0.08, steps.shape[1])
        for i, k in enumerate(ks):
            ax.scatter(k * 2.0 ** jitter, steps[i], s=6, alpha=0.7, zorder=3,
                       color=np.where(reached[i], "black", plots.COLORS[1]).tolist())
        ax.scatter([], [], s=6, color="black", label="runs")
        ax.scatter([], [], s=6, color=plots.COLORS[1], label="not reached (budget)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [f"{k}x" for k in ks])
        ax.set(xlabel="hidden width / input dimension", ylabel="steps to the target loss",
               title="ease of optimisation")
        ax.legend()
    return fig
