"""Barriers after permutation alignment fall with width (Entezari et al. 2022;
Ainsworth et al. 2023).

Two networks trained from different initialisations are separated by a loss
barrier on the straight line between them. Entezari et al. conjectured that
once the hidden units of one are permuted to match the other, the barrier
vanishes for wide enough networks; Ainsworth et al.'s weight matching finds
such permutations, and the aligned barrier falls as the width grows while the
naive one stays. Here a pair of seeds is trained at each width, one is aligned
to the other by :func:`landscape.alignment.weight_matching`, and both barriers
are measured on the training loss.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from landscape import alignment, models, objectives
from landscape.studies.reproductions import _common

NAME = "alignment_width"
CLAIM = (
    "After aligning the hidden units of two independently trained networks by permutation, "
    "the loss barrier between them falls with width, while the naive barrier does not "
    "(Entezari, Sedghi, Saukh & Neyshabur 2022, 'The role of permutation invariance in linear "
    "mode connectivity of neural networks', ICLR; Ainsworth, Hayase & Srinivasa 2023, 'Git "
    "Re-Basin', ICLR)."
)
SETTING = (
    "Two-hidden-layer ReLU MLPs of several widths on mnist1d, two seeds per width (different "
    "initialisations and data orders), minibatch SGD; barrier = the largest rise of the "
    "training loss above the straight line between the endpoints; aligned = after weight "
    "matching (Ainsworth et al., Algorithm 1)."
)
RULE = (
    "Reproduced if (a) the aligned barrier is below the naive one at every width, (b) the "
    "aligned barrier at the largest width is at most half that at the smallest, and (c) the "
    "naive barrier at the largest width is at least half that at the smallest (it does not "
    "fall the same way)."
)


@dataclasses.dataclass(frozen=True)
class Config:
    num_samples: int = 4000
    widths: tuple[int, ...] = (16, 64, 256)
    depth: int = 2
    learning_rate: float = 0.1
    batch_size: int = 64
    num_steps: int = 3000
    num_points: int = 25
    seed: int = 0


SIZES = {
    "tiny": Config(num_samples=300, widths=(4, 8), num_steps=20, batch_size=16, num_points=5),
    "default": Config(),
}


def run(config: Config, *, progress: bool = True) -> _common.Result:
    with _common.Timer() as timer:
        ds = _common.mnist1d(config.num_samples)
        key = jax.random.key(config.seed)
        train_b, test_b = _common.batch_of(ds), _common.batch_of(ds, "test")
        naive, aligned, naive_paths, aligned_paths, sizes, losses = [], [], [], [], [], []
        for i, width in enumerate(config.widths):
            model = models.mlp(ds.in_dim, (width,) * config.depth, ds.out_dim,
                               activation="relu")
            k_train, k_match = jax.random.split(jax.random.fold_in(key, i))
            runs = _common.train_runs(
                model, ds, loss="cross_entropy", keys=jax.random.split(k_train, 2),
                optimizer="sgd", learning_rate=config.learning_rate,
                batch_size=config.batch_size, num_steps=config.num_steps,
                eval_every=config.num_steps, progress=progress,
            )
            a, b = (_common.seed_params(runs.params, s) for s in (0, 1))
            matched = alignment.weight_matching(a, b, key=k_match).params
            loss = objectives.make_loss(model.apply)
            lp, _ = _common.path_barriers(loss, None, a, b, train_b, test_b,
                                          num_points=config.num_points)
            lq, _ = _common.path_barriers(loss, None, a, matched, train_b, test_b,
                                          num_points=config.num_points)
            naive.append(float(lp.barrier))
            aligned.append(float(lq.barrier))
            naive_paths.append(np.asarray(lp.losses))
            aligned_paths.append(np.asarray(lq.losses))
            sizes.append(_common.describe_problem(model, ds, a))
            losses.append(float(np.mean(np.asarray(runs.curves.train_loss)[:, -1])))
        numbers = {}
        for width, n, al, tl in zip(config.widths, naive, aligned, losses, strict=True):
            numbers[f"width {width}: naive barrier"] = n
            numbers[f"width {width}: aligned barrier"] = al
            numbers[f"width {width}: final train loss"] = tl
        numbers["aligned ratio (largest/smallest width)"] = _common.ratio(aligned[-1], aligned[0])
        numbers["naive ratio (largest/smallest width)"] = _common.ratio(naive[-1], naive[0])
        setting = (f"{'; '.join(sizes)}; SGD lr {config.learning_rate:g}, batch "
                   f"{config.batch_size}, {config.num_steps} steps, 2 seeds per width")
    arrays = {"widths": np.asarray(config.widths), "naive": np.asarray(naive),
              "aligned": np.asarray(aligned), "naive_paths": np.stack(naive_paths),
              "aligned_paths": np.stack(aligned_paths),
              "ts": np.linspace(0.0, 1.0, config.num_points)}
    return _common.Result(NAME, numbers, arrays, setting, timer.seconds)


def verdict(numbers: dict[str, float]) -> tuple[bool, str]:
    naive = {k: v for k, v in numbers.items() if k.endswith("naive barrier")}
    aligned = {k: v for k, v in numbers.items() if k.endswith("aligned barrier")}
    below = all(al < n for al, n in zip(aligned.values(), naive.values(), strict=True))
    r_al = numbers["aligned ratio (largest/smallest width)"]
    r_na = numbers["naive ratio (largest/smallest width)"]
    parts = {
        "(a) aligned below naive at every width": below,
        "(b) aligned barrier halves from smallest to largest width": r_al <= 0.5,
        "(c) naive barrier does not": r_na >= 0.5,
    }
    return _common.verdict_text(parts, (
        "barriers naive/aligned: "
        + ", ".join(f"{k.split(':')[0]}: {_common.fmt(n)}/{_common.fmt(al)}"
                    for (k, n), al in zip(naive.items(), aligned.values(), strict=True))
        + f"; ratios aligned {_common.fmt(r_al)}, naive {_common.fmt(r_na)}"))


def figure(result: _common.Result, out_dir=None):
    from matplotlib.ticker import NullFormatter

    from landscape import plots

    a = result.arrays
    with _common.panels() as (fig, axes):
        axes[0].loglog(a["widths"], a["naive"], "o-", color=plots.COLORS[1], label="naive")
        axes[0].loglog(a["widths"], np.maximum(a["aligned"], 1e-6), "s-", color=plots.COLORS[0],
                       label="after weight matching")
        axes[0].set(xlabel="hidden width (units per layer)", ylabel="loss barrier (nats)",
                    title="barrier against width")
        axes[0].set_xticks(a["widths"], [str(int(w)) for w in a["widths"]])
        axes[0].xaxis.set_minor_formatter(NullFormatter())
        axes[0].set_ylim(top=4 * float(np.max(a["naive"])))
        axes[0].legend(loc="upper center", ncols=2)
        for i, w in enumerate(a["widths"]):
            c = plots.COLORS[(i + 2) % len(plots.COLORS)]
            axes[1].plot(a["ts"], a["naive_paths"][i], "--", color=c)
            axes[1].plot(a["ts"], a["aligned_paths"][i], "-", color=c, label=f"width {w}")
        axes[1].set(xlabel="interpolation t between the two solutions",
                    ylabel="training loss (nats)", yscale="log",
                    title="paths: dashed naive, solid aligned")
        axes[1].legend(loc="lower center")
    return _common.save_figure(fig, NAME, out_dir)
