"""Outliers of the Hessian spectrum: as many as classes, set by the classes, not the width.

Sagun et al. (2017) and Papyan (2019, 2020) found that the Hessian of a trained
K-class classifier is a bulk near zero plus about K (or K - 1) outliers, which
come from the Gauss-Newton term ``J^T H_out J`` (class means of the logit
gradients) and are matched by the Gauss-Newton operator's own outliers. Here
the number of classes is swept on a gaussian-mixture task at two widths, plus
digits (K = 10); the top eigenvalues of the Hessian and of the Gauss-Newton
operator come from Lanczos (the Gauss-Newton operator is
:func:`landscape.curvature.gauss_newton_operator`), and the outliers are those above the largest gap
(ratio of consecutive eigenvalues) among the top ones.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from landscape import curvature, data, models, objectives
from landscape.studies.reproductions import _common
from landscape.studies.spectrum import count_outliers

NAME = "outliers"
CLAIM = (
    "The Hessian of a trained classifier on a K-class task has about K (or K-1) outliers "
    "above the bulk; they follow the classes, not the width; the Gauss-Newton operator's "
    "outliers match the Hessian's (Sagun, Evci, Guney, Dauphin & Bottou 2017, 'Empirical "
    "analysis of the Hessian of over-parametrized neural networks'; Papyan 2019, 'Measurements "
    "of three-level hierarchical structure in the outliers'; Papyan 2020, JMLR)."
)
SETTING = (
    "One-hidden-layer ReLU MLPs trained with Adam (full batch, cross-entropy) on gaussian "
    "mixtures with K classes at two widths, and on sklearn digits (K = 10); top eigenvalues "
    "of the training-loss Hessian and of the Gauss-Newton operator by Lanczos; outliers = "
    "the eigenvalues above the largest ratio between consecutive top eigenvalues."
)
RULE = (
    "Reproduced if (a) every task and width has K-1 or K Hessian outliers, (b) the two widths "
    "of each mixture give counts within 1 of each other, and (c) the top K-1 eigenvalues of "
    "the Gauss-Newton operator match the Hessian's within 10% (median relative difference "
    "over every task and eigenvalue <= 0.1)."
)


@dataclasses.dataclass(frozen=True)
class Config:
    classes: tuple[int, ...] = (3, 6, 10)
    widths: tuple[int, ...] = (32, 128)
    digits_width: int = 64
    num_samples: int = 1500
    dim: int = 20
    separation: float = 3.0
    num_steps: int = 300
    learning_rate: float = 0.01
    num_top: int = 24
    lanczos_iters: int = 80
    seed: int = 0


SIZES = {
    "tiny": Config(classes=(3,), widths=(8,), digits_width=0, num_samples=200, num_steps=30,
                   num_top=6, lanczos_iters=20),
    "default": Config(),
}


def _task(config: Config, k: int) -> data.Dataset:
    if k == 0:
        return data.digits()
    return data.gaussian_mixture(num_samples=config.num_samples, num_classes=k, dim=config.dim,
                                 separation=config.separation, seed=config.seed)


def _spectra(config, ds, width, key, progress):
    model = models.mlp(ds.in_dim, (width,), ds.out_dim, activation="relu")
    k_train, k_eig = jax.random.split(key)
    params, loss, batch = _common.train_one(
        model, ds, key=k_train, optimizer="adam", learning_rate=config.learning_rate,
        num_steps=config.num_steps, progress=progress)
    op = curvature.hessian_operator(loss, params, batch)
    gn = curvature.gauss_newton_operator(model.apply, objectives.cross_entropy, params, batch)
    top = min(config.num_top, op.size)
    hess, _, h_conv = _common.top_eigenvalues(op.matvec, op.args, op.size, op.dtype, key=k_eig,
                                              num_eigs=top, num_iters=config.lanczos_iters)
    gauss, _, g_conv = _common.top_eigenvalues(gn.matvec, gn.args, gn.size, gn.dtype, key=k_eig,
                                               num_eigs=top, num_iters=config.lanczos_iters)
    acc = float(objectives.accuracy(model.apply(params, batch.x), batch.y))
    return model, params, hess, gauss, h_conv and g_conv, acc


def run(config: Config, *, progress: bool = True) -> _common.Result:
    with _common.Timer() as timer:
        key = jax.random.key(config.seed)
        cases = [(k, w) for k in config.classes for w in config.widths]
        if config.digits_width:
            cases.append((0, config.digits_width))
        numbers, hess_all, gn_all, labels, gn_rel = {}, [], [], [], []
        descriptions = []
        for i, (k, width) in enumerate(cases):
            ds = _task(config, k).astype(_common.float_dtype())
            model, params, hess, gauss, conv, acc = _spectra(
                config, ds, width, jax.random.fold_in(key, i), progress)
            classes = ds.num_classes
            count, gap = count_outliers(hess)
            gn_count, _ = count_outliers(gauss)
            m = max(classes - 1, 1)
            rel = np.abs(gauss[:m] - hess[:m]) / np.abs(hess[:m])
            gn_rel.extend(rel.tolist())
            tag = f"{'digits' if k == 0 else 'mixture'} K={classes} width={width}"
            labels.append(tag)
            numbers[f"{tag}: outliers"] = float(count)
            numbers[f"{tag}: gap ratio"] = gap
            numbers[f"{tag}: Gauss-Newton outliers"] = float(gn_count)
            numbers[f"{tag}: train accuracy"] = acc
            numbers[f"{tag}: converged"] = float(conv)
            hess_all.append(hess)
            gn_all.append(gauss)
            descriptions.append(_common.describe_problem(model, ds, params))
        numbers["median GN/Hessian relative difference (top K-1)"] = float(np.median(gn_rel))
        setting = (f"{'; '.join(descriptions)}; Adam lr {config.learning_rate:g}, "
                   f"{config.num_steps} full-batch steps; top {config.num_top} eigenvalues")
    width = max(len(h) for h in hess_all)
    pad = lambda rows: np.stack([np.pad(r, (0, width - len(r)), constant_values=np.nan)
                                 for r in rows])
    arrays = {"hessian": pad(hess_all), "gauss_newton": pad(gn_all),
              "classes": np.asarray([10 if k == 0 else k for k, _ in cases]),
              "widths": np.asarray([w for _, w in cases]), "labels": np.asarray(labels)}
    return _common.Result(NAME, numbers, arrays, setting, timer.seconds)


def verdict(numbers: dict[str, float]) -> tuple[bool, str]:
    counts = {k[: -len(": outliers")]: v for k, v in numbers.items() if k.endswith(": outliers")
              and "Gauss" not in k}
    in_range, by_task = {}, {}
    for tag, count in counts.items():
        classes = int(tag.split("K=")[1].split()[0])
        in_range[tag] = classes - 1 <= count <= classes
        by_task.setdefault(tag.split(" width")[0], []).append(count)
    widths_agree = all(max(c) - min(c) <= 1 for c in by_task.values())
    rel = numbers["median GN/Hessian relative difference (top K-1)"]
    gn_ok = rel <= 0.1
    passed = all(in_range.values()) and widths_agree and gn_ok
    text = (f"(a) K-1 or K outliers in {sum(in_range.values())} of {len(in_range)} cases ("
            + ", ".join(f"{t}: {int(c)}" for t, c in counts.items()) + f"); (b) widths agree "
            f"within 1: {'yes' if widths_agree else 'no'}; (c) Gauss-Newton matches the Hessian "
            f"(median relative difference {_common.fmt(rel)}): {'yes' if gn_ok else 'no'}")
    return passed, text


def figure(result: _common.Result, out_dir=None):
    from landscape import plots

    a = result.arrays
    n = len(a["labels"])
    with _common.panels(aspect=0.42) as (fig, axes):
        for i in range(n):
            c = plots.COLORS[i % len(plots.COLORS)]
            h = a["hessian"][i]
            rank = np.arange(1, len(h) + 1)
            axes[0].semilogy(rank, h, "o-", color=c, ms=2.5, label=a["labels"][i])
            axes[0].plot(a["classes"][i], h[a["classes"][i] - 1], "k|", ms=10)
            axes[1].loglog(h, a["gauss_newton"][i], "o", color=c, ms=2.5)
        axes[0].set(xlabel="rank i of the eigenvalue", ylabel="lambda_i of the Hessian",
                    title="top eigenvalues; bar at i = K")
        axes[0].legend(loc="upper right", fontsize=5.5)
        lim = np.nanmax(np.abs(a["hessian"]))
        axes[1].plot([lim * 1e-3, lim], [lim * 1e-3, lim], ":", color="gray", label="equal")
        axes[1].set(xlabel="Hessian eigenvalue lambda_i", ylabel="Gauss-Newton eigenvalue",
                    title="Gauss-Newton against Hessian (same rank)")
        axes[1].legend(loc="upper left")
    return _common.save_figure(fig, NAME, out_dir)
