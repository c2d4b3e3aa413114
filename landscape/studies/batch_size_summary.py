"""Tables and summary of the batch-size study (:mod:`landscape.studies.batch_size`): the
chosen learning rate per batch size, the summary computed from the stored tables alone,
and its text.

Examples
--------
>>> import numpy as np
>>> runs = {"batch_size": np.array([8, 8]), "learning_rate": np.array([0.1, 0.2]),
...         "steps_to_target": np.array([50.0, 30.0]), "final_val_loss": np.array([1.0, 1.1]),
...         "final_train_loss": np.array([1.0, 1.1]), "diverged": np.array([False, False]),
...         "full_batch": np.array([False, False])}
>>> float(select_learning_rates(runs)["learning_rate"][0])
0.2
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from landscape import tradeoff
from landscape.studies._common import fmt

__all__ = ["format_summary", "select_learning_rates", "summarize"]


def select_learning_rates(runs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The chosen rate of each batch size, from the per-run table alone.

    For each batch size: the rate with the lowest median (over seeds) steps to
    target, a seed that did not reach it counting as ``inf``; ties, and batch sizes
    where no rate reaches the target (median ``inf``), go to the lowest median final
    validation loss (training loss when there is no validation split). Returns
    columns ``batch_size``, ``full_batch``, ``learning_rate``, ``lr_at_edge``
    (the chosen rate is the smallest or largest tried, of more than one),
    ``num_seeds``, ``num_reached``, ``num_diverged``, ``num_diverged_any_lr``,
    ``steps``, ``steps_min``, ``steps_max``, ``examples``.
    """
    b = np.asarray(runs["batch_size"], np.int64)
    lr = np.asarray(runs["learning_rate"], np.float64)
    steps = np.asarray(runs["steps_to_target"], np.float64)
    val = np.asarray(runs["final_val_loss"], np.float64)
    if not np.any(np.isfinite(val)):
        val = np.asarray(runs["final_train_loss"], np.float64)
    diverged = np.asarray(runs["diverged"], bool)
    full = np.asarray(runs["full_batch"], bool)
    out: dict[str, list] = {k: [] for k in (
        "batch_size", "full_batch", "learning_rate", "lr_at_edge", "num_seeds", "num_reached",
        "num_diverged", "num_diverged_any_lr", "steps", "steps_min", "steps_max", "examples")}
    for size in sorted(set(b.tolist())):
        at = b == size
        rates = sorted(set(lr[at].tolist()))
        scores = []
        for r in rates:
            sel = at & (lr == r)
            s = np.where(np.isfinite(steps[sel]), steps[sel], np.inf)
            v = np.where(np.isfinite(val[sel]) & ~diverged[sel], val[sel], np.inf)
            scores.append((float(np.median(s)), float(np.median(v)), r))
        best = min(scores)
        r = best[2]
        sel = at & (lr == r)
        s = steps[sel]
        reached = np.isfinite(s)
        out["batch_size"].append(size)
        out["full_batch"].append(bool(full[at][0]))
        out["learning_rate"].append(r)
        out["lr_at_edge"].append(len(rates) > 1 and r in (rates[0], rates[-1]))
        out["num_seeds"].append(int(sel.sum()))
        out["num_reached"].append(int(reached.sum()))
        out["num_diverged"].append(int(diverged[sel].sum()))
        out["num_diverged_any_lr"].append(int(diverged[at].sum()))
        out["steps"].append(best[0])
        out["steps_min"].append(float(np.min(s[reached])) if reached.any() else math.inf)
        out["steps_max"].append(float(np.max(np.where(reached, s, np.inf))))
        out["examples"].append(best[0] * size)
    return {k: np.asarray(v) for k, v in out.items()}


def _loglog_slope(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def summarize(
    batch: Mapping[str, Any], noise_table: Mapping[str, Any], sizes: Mapping[str, Any],
    runs: Mapping[str, Any], *, skipped: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The study's numbers, computed from the stored tables alone.

    ``fit``: :func:`landscape.tradeoff.fit_tradeoff` of the median steps to target at
    the chosen rates (``S_min``, ``E_min``, ``B_crit`` and the standard error of
    ``log B_crit``); ``noise``: ``B_simple``, ``B_noise`` and the two-batch
    ``B_simple`` at the target (the last point of the reference run) and their
    range over the points; ``best_wall_time``: the batch size with the least wall
    time to target; ``step_time_slopes``: log-log slopes of the step time against
    the batch size and, for SGD and GD, against the data-set size (0: constant,
    1: proportional); counts of runs, diverged runs and batch sizes that reached
    the target; ``skipped`` (part -> reason; the study runs every part on any problem).
    """
    b = np.asarray(batch["batch_size"], np.float64)
    steps = np.asarray(batch["steps"], np.float64)
    out: dict[str, Any] = {
        "num_runs": int(len(np.asarray(runs["seed"]))),
        "num_diverged_runs": int(np.sum(np.asarray(runs["diverged"], bool))),
        "num_batch_sizes": int(len(b)),
        "num_batch_sizes_reached": int(np.sum(np.isfinite(steps))),
        "batch_sizes_lr_at_edge": [int(x) for x, e in zip(b, batch["lr_at_edge"], strict=True)
                                   if bool(e)],
    }
    try:
        fit = tradeoff.fit_tradeoff(b, steps)
        out["fit"] = {
            "s_min": fit.s_min, "e_min": fit.e_min, "b_crit": fit.b_crit,
            "log_b_crit_stderr": float(fit.log_stderr[2]),
            "rms_log_residual": fit.rms_log_residual, "num_points": fit.num_points,
            "num_dropped": fit.num_dropped, "success": fit.success,
        }
    except ValueError as error:
        out["fit"] = {"error": str(error)}
    nt = noise_table
    if nt and len(np.asarray(nt["step"])):
        last = {k: float(np.asarray(nt[k])[-1]) for k in (
            "b_simple", "b_noise", "b_simple_two_batch", "train_loss", "step")}
        out["noise"] = {
            "reference_batch_size": int(np.asarray(nt["batch_size"])[0]),
            "reference_learning_rate": float(np.asarray(nt["learning_rate"])[0]),
            "at_target": last,
            "b_simple_range": [float(np.nanmin(nt["b_simple"])), float(np.nanmax(nt["b_simple"]))],
            "b_noise_range": [float(np.nanmin(nt["b_noise"])), float(np.nanmax(nt["b_noise"]))],
        }
        if "b_crit" in out["fit"]:
            out["noise"]["b_crit_over_b_simple"] = out["fit"]["b_crit"] / last["b_simple"]
            out["noise"]["b_crit_over_b_noise"] = out["fit"]["b_crit"] / last["b_noise"]
    wall = np.asarray(batch["wall_time"], np.float64)
    if np.any(np.isfinite(wall)):
        i = int(np.nanargmin(np.where(np.isfinite(wall), wall, np.nan)))
        out["best_wall_time"] = {
            "batch_size": int(b[i]), "wall_time": float(wall[i]), "steps": float(steps[i]),
            "step_time": float(np.asarray(batch["step_time"])[i]),
            "learning_rate": float(np.asarray(batch["learning_rate"])[i]),
        }
    else:
        out["best_wall_time"] = None
    n = np.asarray(sizes.get("num_examples", []), np.float64)
    out["step_time_slopes"] = {
        "vs_batch_size": _loglog_slope(b, batch["step_time"]),
        "sgd_vs_dataset_size": _loglog_slope(n, sizes.get("sgd_step_time", [])),
        "gd_vs_dataset_size": _loglog_slope(n, sizes.get("gd_step_time", [])),
    }
    out["skipped"] = dict(skipped or {})
    return out


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as text; its first line reads "B_crit = b (fit of S = S_min (1 + B_crit/B)),
    B_simple = s at the target (B_noise = h); least wall time at B = w"."""
    s = summary
    fit, nz, best = s.get("fit", {}), s.get("noise", {}), s.get("best_wall_time")
    at = nz.get("at_target", {})
    crit = fit.get("b_crit", math.nan)
    spread = math.exp(fit.get("log_b_crit_stderr", math.nan)) if "b_crit" in fit else math.nan
    lines = [
        f"B_crit = {fmt(crit)} (x/ {fmt(spread, 2)}; fit of S = S_min (1 + B_crit/B)), "
        f"B_simple = {fmt(at.get('b_simple'))} at the target (B_noise = "
        f"{fmt(at.get('b_noise'))}, two-batch B_simple = {fmt(at.get('b_simple_two_batch'))}); "
        f"least wall time at B = {best['batch_size'] if best else 'none'}",
        f"  fit: S_min = {fmt(fit.get('s_min'))} steps, E_min = {fmt(fit.get('e_min'))} "
        f"examples, rms log residual {fmt(fit.get('rms_log_residual'), 2)} over "
        f"{fit.get('num_points', 0)} batch sizes ({fit.get('num_dropped', 0)} did not reach "
        f"the target)",
        f"  noise scale over training (reference B = {nz.get('reference_batch_size')}): "
        f"B_simple {fmt(nz.get('b_simple_range', [math.nan])[0])} -> "
        f"{fmt(nz.get('b_simple_range', [0, math.nan])[1])}, B_noise "
        f"{fmt(nz.get('b_noise_range', [math.nan])[0])} -> "
        f"{fmt(nz.get('b_noise_range', [0, math.nan])[1])}",
    ]
    if best:
        lines.append(
            f"  wall time to target: least {fmt(best['wall_time'])} s at B = "
            f"{best['batch_size']} ({fmt(best['steps'])} steps of {fmt(1e3 * best['step_time'])}"
            f" ms, lr {fmt(best['learning_rate'])})"
        )
    sl = s.get("step_time_slopes", {})
    lines.append(
        f"  step time ~ B^{fmt(sl.get('vs_batch_size'), 2)}; against the data-set size: SGD ~ "
        f"n^{fmt(sl.get('sgd_vs_dataset_size'), 2)}, full-batch GD ~ "
        f"n^{fmt(sl.get('gd_vs_dataset_size'), 2)}"
    )
    edge = s.get("batch_sizes_lr_at_edge", [])
    lines.append(
        f"  {s.get('num_runs')} runs, {s.get('num_diverged_runs')} diverged; "
        f"{s.get('num_batch_sizes_reached')}/{s.get('num_batch_sizes')} batch sizes reached the "
        f"target" + (f"; chosen rate at the edge of the grid for B = {edge}" if edge else "")
    )
    return "\n".join(lines)



# ----------------------------------------------------------------------------- tables


def _runs_table(config, train_cells, cell_results, num_train) -> dict[str, np.ndarray]:
    rows: dict[str, list] = {k: [] for k in (
        "batch_size", "full_batch", "learning_rate", "seed", "num_steps", "diverged",
        "diverged_step", "reached", "steps_to_target", "examples_to_target",
        "final_train_loss", "final_val_loss", "final_val_accuracy")}
    for name, params in train_cells:
        r = cell_results[name]
        b = params["batch_size"]
        for s in range(config.num_seeds):
            steps = float(np.asarray(r["steps_to_target"])[s])
            rows["batch_size"].append(b)
            rows["full_batch"].append(b >= num_train)
            rows["learning_rate"].append(params["learning_rate"])
            rows["seed"].append(s)
            rows["num_steps"].append(int(r["num_steps"]))
            rows["diverged"].append(bool(np.asarray(r["diverged"])[s]))
            rows["diverged_step"].append(int(np.asarray(r["diverged_step"])[s]))
            rows["reached"].append(math.isfinite(steps))
            rows["steps_to_target"].append(steps)
            rows["examples_to_target"].append(steps * b)
            for k in ("final_train_loss", "final_val_loss", "final_val_accuracy"):
                rows[k].append(float(np.asarray(r[k])[s]))
    return {k: np.asarray(v) for k, v in rows.items()}


def _add_step_times(batch: dict[str, np.ndarray], cell: Mapping[str, Any]) -> None:
    index = {int(b): i for i, b in enumerate(np.asarray(cell["batch_size"]))}
    rows = [index[int(b)] for b in batch["batch_size"]]
    for k in ("step_time", "step_time_median", "step_time_q75"):
        batch[k] = np.asarray(cell[k], np.float64)[rows]
    batch["wall_time"] = batch["steps"] * batch["step_time"]


def _noise_table(cell: Mapping[str, Any]) -> dict[str, np.ndarray]:
    k = len(np.asarray(cell["step"]))
    table = {name: np.asarray(cell[name]) for name in (
        "fraction", "step", "train_loss", "b_simple", "b_noise", "b_simple_two_batch",
        "trace_cov", "grad_sq_norm", "trace_h_cov", "trace_h_cov_stderr", "grad_h_grad")}
    table["batch_size"] = np.full(k, int(cell["batch_size"]))
    table["learning_rate"] = np.full(k, float(cell["learning_rate"]))
    return table


def _sizes_table(config, cell: Mapping[str, Any]) -> dict[str, np.ndarray]:
    out = {"num_examples": np.asarray(cell["num_examples"]),
           "size_batch": np.full(len(np.asarray(cell["num_examples"])), config.size_batch)}
    for prefix in ("sgd", "gd"):
        for k in ("step_time", "step_time_median", "step_time_q75"):
            out[f"{prefix}_{k}"] = np.asarray(cell[f"{prefix}_{k}"], np.float64)
    return out


def _curves(batch, cell_results) -> dict[str, np.ndarray]:
    curves = {}
    for b, lr in zip(batch["batch_size"], batch["learning_rate"], strict=True):
        r = cell_results[f"train,B={int(b)},lr={float(lr):.4g}"]
        curves[f"b{int(b)}.step"] = np.asarray(r["curve_step"])
        curves[f"b{int(b)}.train_loss"] = np.asarray(r["curve_train_loss"])
        curves[f"b{int(b)}.val_accuracy"] = np.asarray(r["curve_val_accuracy"])
    return curves
