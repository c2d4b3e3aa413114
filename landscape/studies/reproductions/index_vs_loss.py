"""Index against loss at critical points (Dauphin et al. 2014; Pennington & Bahri 2017).

Dauphin et al. found that the critical points of a network's loss with a high
loss are saddles with many negative eigenvalues, and that the index (fraction of
negative eigenvalues) falls as the loss falls, so the low critical points are
minima or nearly so. Pennington & Bahri derived, from random-matrix theory, that
near the loss ``eps_c`` where the index vanishes it grows as
``alpha ~ |(eps - eps_c) / eps_c|^(3/2)``. Here exact critical points come from
the critical-point study (:mod:`landscape.studies.critical_points`: Newton-MR from
trajectory points and random starts, dense ``eigh`` for the exact index, copies
removed) and the exponent is fitted on the distinct saddles.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from landscape import registry
from landscape.studies import critical_points
from landscape.studies.reproductions import _common

NAME = "index_vs_loss"
CLAIM = (
    "The index (fraction of negative Hessian eigenvalues) of critical points rises with their "
    "loss (Dauphin, Pascanu, Gulcehre, Cho, Ganguli & Bengio 2014, 'Identifying and attacking "
    "the saddle point problem', NeurIPS), as |(eps - eps_c)/eps_c|^(3/2) near the minima "
    "(Pennington & Bahri 2017, 'Geometry of neural network loss surfaces via random matrix "
    "theory', ICML)."
)
SETTING = (
    "A tanh MLP student on teacher-student regression with a small L2 penalty (squared loss); "
    "Newton-MR from points of training trajectories and from scaled random initialisations; "
    "exact index by dense eigh at every converged critical point; copies (same loss and "
    "index) removed; eps_c = the lowest loss among the distinct minima; exponent = the slope "
    "of log(index) against log((eps - eps_c)/eps_c) over the distinct saddles."
)
RULE = (
    "Reproduced if (a) the Spearman rank correlation between loss and index over the distinct "
    "critical points is at least 0.5 (with at least 5 of them), and (b) the fitted exponent "
    "lies in [1, 2], i.e. within 1/2 of Pennington & Bahri's 3/2."
)


@dataclasses.dataclass(frozen=True)
class Config:
    """The critical-points study (its config) on a built-in problem (keyword arguments of
    :func:`landscape.registry.builtin`)."""

    study: critical_points.Config = critical_points.PROFILES["quick"].config
    problem: tuple[tuple[str, Any], ...] = tuple(critical_points.PROFILES["quick"].problem.items())


_TINY_PROBLEM = dict(
    model="mlp", dataset="teacher_student", num_samples=48, num_train=24, hidden=(2,),
    activation="tanh", data_options=dict(in_dim=3, teacher_hidden=(2,), noise=0.0, seed=0),
)

SIZES = {
    "tiny": Config(critical_points.Config(
        num_seeds=1, num_steps=20, eval_every=10, num_trajectory_points=2, num_random=2,
        init_scales=(1.0,), max_iters=10, minres_iters=20, stall_iters=5, chunk_size=4),
        tuple(_TINY_PROBLEM.items())),
    "default": Config(),
}


def fit_exponent(loss, index, minima_loss: float):
    """``(exponent, stderr, count)`` of ``log(index) = c + p log((loss - eps_c) / eps_c)``
    over the points with positive index above ``eps_c = minima_loss``.

    Examples
    --------
    >>> loss = np.array([1.0, 1.5, 2.0, 3.0, 5.0])
    >>> p, stderr, count = fit_exponent(loss, 0.2 * (loss - 1.0) ** 1.5, 1.0)
    >>> round(p, 6), count
    (1.5, 4)
    """
    loss, index = np.asarray(loss, np.float64), np.asarray(index, np.float64)
    ok = (index > 0) & (loss > minima_loss) & np.isfinite(loss)
    if ok.sum() < 3 or not minima_loss > 0:
        return float("nan"), float("nan"), int(ok.sum())
    x = np.log((loss[ok] - minima_loss) / minima_loss)
    y = np.log(index[ok])
    if np.ptp(x) == 0:
        return float("nan"), float("nan"), int(ok.sum())
    (slope, _), cov = np.polyfit(x, y, 1, cov="unscaled" if ok.sum() < 4 else True)
    return float(slope), float(np.sqrt(cov[0, 0])), int(ok.sum())


def run(config: Config, *, progress: bool = True) -> _common.Result:
    with _common.Timer() as timer:
        problem = registry.builtin(**dict(config.problem))
        result = critical_points.run(problem, config.study, progress=progress)
        s = result.starts
        distinct = np.asarray(s["distinct"], bool)
        loss = np.asarray(s["loss"], np.float64)[distinct]
        index = np.asarray(s["index"], np.float64)[distinct]
        minima = loss[index == 0]
        eps_c = float(np.min(minima)) if minima.size else float("nan")
        exponent, stderr, count = fit_exponent(loss, index, eps_c)
        numbers = {
            "starts": float(len(distinct)),
            "critical points found": float(np.sum(np.asarray(s["critical"], bool))),
            "distinct critical points": float(distinct.sum()),
            "distinct minima": float(minima.size),
            "spearman(loss, index)": _common.spearman(loss, index),
            "eps_c (lowest minimum loss)": eps_c,
            "fitted exponent": exponent,
            "exponent stderr": stderr,
            "saddles in the fit": float(count),
            "largest index": float(np.max(index)) if index.size else float("nan"),
        }
        c = config.study
        setting = (f"{problem.name} ({result.info.get('num_params', '?')} "
                   f"parameters, {problem.data.num_train} examples), L2 {c.l2:g}; "
                   f"{c.num_seeds} Adam runs x {c.num_trajectory_points} points and "
                   f"{c.num_random} random starts; Newton-MR {c.max_iters} steps")
    arrays = {"loss": loss, "index": index, "eps_c": np.asarray(eps_c)}
    return _common.Result(NAME, numbers, arrays, setting, timer.seconds)


def verdict(numbers: dict[str, float]) -> tuple[bool, str]:
    rho = numbers["spearman(loss, index)"]
    p = numbers["fitted exponent"]
    enough = numbers["distinct critical points"] >= 5
    parts = {
        "(a) index rises with loss": enough and np.isfinite(rho) and rho >= 0.5,
        "(b) exponent within 1/2 of 3/2": np.isfinite(p) and 1.0 <= p <= 2.0,
    }
    return _common.verdict_text(parts, (
        f"Spearman {_common.fmt(rho)} over {int(numbers['distinct critical points'])} "
        f"distinct critical points; exponent {_common.fmt(p)} +- "
        f"{_common.fmt(numbers['exponent stderr'], 2)} against 3/2 of Pennington & Bahri"))


def figure(result: _common.Result, out_dir=None):
    from landscape import plots

    a = result.arrays
    eps_c = float(a["eps_c"])
    with _common.panels() as (fig, axes):
        axes[0].plot(a["loss"], a["index"], "o", color=plots.COLORS[0], ms=3)
        axes[0].set(xlabel="loss at the critical point", ylabel="index (fraction negative)",
                    xscale="log", title="distinct critical points")
        ok = (a["index"] > 0) & (a["loss"] > eps_c) if np.isfinite(eps_c) else a["index"] < 0
        if ok.any():
            x = (a["loss"][ok] - eps_c) / eps_c
            axes[1].loglog(x, a["index"][ok], "o", color=plots.COLORS[0], ms=3, label="saddles")
            p = result.numbers["fitted exponent"]
            grid = np.geomspace(x.min(), x.max(), 20)
            if np.isfinite(p):
                c = np.exp(np.mean(np.log(a["index"][ok]) - p * np.log(x)))
                axes[1].loglog(grid, c * grid**p, "-", color=plots.COLORS[1],
                               label=f"fit: exponent {p:.2f}")
            c32 = np.exp(np.mean(np.log(a["index"][ok]) - 1.5 * np.log(x)))
            axes[1].loglog(grid, c32 * grid**1.5, ":", color="gray", label="exponent 3/2")
            axes[1].legend(loc="upper left")
        axes[1].set(xlabel="(eps - eps_c) / eps_c", ylabel="index (fraction negative)",
                    title="near the minima")
    return _common.save_figure(fig, NAME, out_dir)
