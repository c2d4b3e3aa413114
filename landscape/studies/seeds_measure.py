"""The measurements of the seed study (:mod:`landscape.studies.seeds`) on trained seeds:
distances, weight matching and straight-line barriers between pairs, and the curvature
of every endpoint.

Examples
--------
>>> import numpy as np
>>> round(relative_distance(np.array([3.0, 0.0]), np.array([0.0, 3.0])), 6)  # sqrt(2)
1.414214
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from landscape import alignment, critical, curvature, data, paths, stochtrace
from landscape.layout import Layout, dense_layers, with_dense_layers
from landscape.studies._common import index_tree, progress_bar

__all__ = ["compare_pairs", "endpoint_curvature", "flat64", "relative_distance"]

CURVATURE_COLUMNS = ("grad_norm", "lambda_max", "lambda_min", "residual_max", "residual_min",
                     "trace", "trace_stderr", "index")


def flat64(tree: Any) -> np.ndarray:
    """The leaves of ``tree`` (no batch axis) as one float64 vector, in leaf order."""
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        return np.zeros(0)
    return np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in leaves])


def flat64_stacked(stacked: Any) -> np.ndarray:
    """``(S, n)`` float64 flat parameters of a pytree with a leading seed axis."""
    leaves = jax.tree_util.tree_leaves(stacked)
    num = np.shape(leaves[0])[0]
    return np.concatenate([np.asarray(leaf, np.float64).reshape(num, -1) for leaf in leaves],
                          axis=1)


def relative_distance(x: np.ndarray, y: np.ndarray) -> float:
    """``|x - y| / sqrt(|x| |y|)`` of two flat vectors (as
    :func:`landscape.alignment.relative_distance`)."""
    return float(np.linalg.norm(x - y) / math.sqrt(np.linalg.norm(x) * np.linalg.norm(y)))


def _aligned(params_a, params_b, layout: Layout, key, max_iters: int):
    """``params_b`` with the hidden units of its dense chain permuted to match ``params_a``;
    returns ``(flat float64 vector, passes of weight matching)``."""
    match = alignment.weight_matching(dense_layers(params_a, layout),
                                      dense_layers(params_b, layout), key=key,
                                      max_iters=max_iters)
    return flat64(with_dense_layers(params_b, layout, match.params)), match.num_iters


def compare_pairs(
    params: Any,
    init_params: Any,
    train_loss: np.ndarray,
    ok: np.ndarray,
    loss_fn: Callable,
    batch: data.Batch,
    *,
    key: jax.Array,
    layout: Layout | None,
    num_align_pairs: int | None,
    num_interp_pairs: int,
    num_interp_points: int,
    align_iters: int = 100,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    """Distances, aligned distances and straight-line barriers between pairs of seeds.

    Parameters
    ----------
    params, init_params : pytree with a leading (S,) axis
        Solutions and their initialisations.
    train_loss : (S,)
        Final training loss of each seed (for ``loss_diff``).
    ok : (S,) bool
        Seeds to compare (those that did not diverge).
    loss_fn : callable
        ``loss(params, batch)``, evaluated on the straight lines.
    batch : Batch
        The data of the lines (the full training set).
    key : PRNG key
        Which pairs are aligned and interpolated, and the layer order of weight matching.
    layout : Layout or None
        Weight matching permutes the hidden units of ``layout.dense_chain``; without a
        dense chain no pair is aligned.
    num_align_pairs : int or None
        Pairs aligned by weight matching; ``None`` for all, ``0`` for none.
    num_interp_pairs, num_interp_points : int
        Lines and points per line; the lines are drawn among the aligned pairs when
        there are any.

    Returns
    -------
    pairs : dict of (P,) arrays
        ``seed_a``, ``seed_b``, ``distance``, ``init_distance``, ``loss_diff``,
        ``aligned``, ``aligned_distance``, ``aligned_init_distance``, ``align_iters``,
        ``interpolated``, ``barrier``, ``aligned_barrier`` (NaN where not computed).
    interp : dict
        ``ts`` (m,), ``pairs`` (Q, 2), ``losses`` and ``aligned_losses`` (Q, m).
    timings : dict
        Seconds spent on ``distances``, ``alignment``, ``interpolation``.
    """
    timings = {}
    t0 = time.perf_counter()
    flat, flat0 = flat64_stacked(params), flat64_stacked(init_params)
    good = np.flatnonzero(np.asarray(ok, bool))
    pair_list = list(itertools.combinations(good.tolist(), 2))
    P = len(pair_list)
    train_loss = np.asarray(train_loss, np.float64)
    rel = relative_distance
    pairs: dict[str, np.ndarray] = {
        "seed_a": np.array([a for a, _ in pair_list], np.int64),
        "seed_b": np.array([b for _, b in pair_list], np.int64),
        "distance": np.array([rel(flat[a], flat[b]) for a, b in pair_list]),
        "init_distance": np.array([rel(flat0[a], flat0[b]) for a, b in pair_list]),
        "loss_diff": np.array([abs(train_loss[a] - train_loss[b]) for a, b in pair_list]),
    }
    if layout is None or layout.dense_chain is None:
        num_align_pairs = 0
    k_order, k_align = jax.random.split(key)
    order = np.asarray(jax.random.permutation(k_order, P)) if P else np.zeros(0, np.int64)
    num_align = P if num_align_pairs is None else min(int(num_align_pairs), P)
    chosen_align = np.sort(order[:num_align])
    pool = num_align if num_align else P
    chosen_interp = np.sort(order[: min(int(num_interp_pairs), pool)])
    for name in ("aligned_distance", "aligned_init_distance", "barrier", "aligned_barrier"):
        pairs[name] = np.full(P, np.nan)
    pairs["align_iters"] = np.zeros(P, np.int64)
    pairs["aligned"] = np.isin(np.arange(P), chosen_align)
    pairs["interpolated"] = np.isin(np.arange(P), chosen_interp)
    timings["distances"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    host_params = jax.tree_util.tree_map(np.asarray, params)
    host_init = jax.tree_util.tree_map(np.asarray, init_params)
    aligned_flat: dict[int, np.ndarray] = {}
    for i in progress_bar(chosen_align.tolist(), len(chosen_align), "weight matching",
                          progress):
        a, b = pair_list[i]
        k = jax.random.fold_in(k_align, i)
        aligned_flat[i], pairs["align_iters"][i] = _aligned(
            index_tree(host_params, a), index_tree(host_params, b), layout, k, align_iters)
        pairs["aligned_distance"][i] = rel(flat[a], aligned_flat[i])
        aligned0, _ = _aligned(index_tree(host_init, a), index_tree(host_init, b), layout, k,
                               align_iters)
        pairs["aligned_init_distance"][i] = rel(flat0[a], aligned0)
    timings["alignment"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    f, x_template, _ = curvature.flat_loss(loss_fn, index_tree(params, 0))
    dtype = x_template.dtype
    m = int(num_interp_points)
    losses, aligned_losses = [], []
    for i in progress_bar(chosen_interp.tolist(), len(chosen_interp), "interpolation",
                          progress):
        a, b = pair_list[i]
        xa = jnp.asarray(flat[a], dtype)
        line = paths.interpolate(f, xa, jnp.asarray(flat[b], dtype), batch, num_points=m,
                                    chunk_size=m)
        pairs["barrier"][i] = float(line.barrier)
        losses.append(np.asarray(line.losses, np.float64))
        if i in aligned_flat:
            line = paths.interpolate(f, xa, jnp.asarray(aligned_flat[i], dtype), batch,
                                        num_points=m, chunk_size=m)
            pairs["aligned_barrier"][i] = float(line.barrier)
            aligned_losses.append(np.asarray(line.losses, np.float64))
        else:
            aligned_losses.append(np.full(m, np.nan))
    interp = {
        "ts": np.asarray(jnp.linspace(0.0, 1.0, m, dtype=dtype), np.float64),
        "pairs": np.array([pair_list[i] for i in chosen_interp.tolist()], np.int64).reshape(-1, 2),
        "losses": np.array(losses).reshape(-1, m),
        "aligned_losses": np.array(aligned_losses).reshape(-1, m),
    }
    timings["interpolation"] = time.perf_counter() - t0
    return pairs, interp, timings


def endpoint_curvature(config, loss_of_state: Callable, params, states, batch, ok, key,
                       progress: bool) -> dict[str, np.ndarray]:
    """The curvature of each endpoint ``s`` where ``ok[s]``: the classification of
    :func:`landscape.critical.classify` (``lambda_max``, ``lambda_min`` with residuals,
    SLQ index) and a Hutchinson trace, of ``loss_of_state(state_s)`` at ``params[s]``
    (``states`` ``None`` for a network without state; one loss, compiled once)."""
    S = len(ok)
    out: dict[str, Any] = {name: np.full(S, np.nan) for name in CURVATURE_COLUMNS}
    out["kind"] = np.array([""] * S, dtype=object)
    out["curvature"] = np.array([""] * S, dtype=object)
    out["certified_min"] = np.zeros(S, bool)
    shared = loss_of_state(None) if states is None else None
    cache: list = []  # the operator of the shared loss, built once

    def operator(loss_fn, template):
        if loss_fn is not shared or not cache:
            if config.curvature_batch_size is None:
                op = curvature.hessian_operator(loss_fn, template, batch)
            else:
                op = curvature.dataset_hessian_operator(loss_fn, template, batch,
                                                        batch_size=config.curvature_batch_size)
            num_probes, matvec, size = config.trace_probes, op.matvec, op.size

            @jax.jit
            def trace_fn(k, *args):
                est = stochtrace.hutchinson_trace(matvec, k, *args, num_probes=num_probes,
                                                 size=size, dtype=op.dtype)
                return est.trace, est.stderr

            if loss_fn is not shared:
                return op, trace_fn
            cache.append((op, trace_fn))
        return cache[0]

    for s in progress_bar(np.flatnonzero(ok).tolist(), int(np.sum(ok)), "curvature",
                          progress):
        p = index_tree(params, s)
        loss_fn = shared if shared is not None else loss_of_state(index_tree(states, s))
        op, trace_fn = operator(loss_fn, p)
        k_cls, k_tr = jax.random.split(jax.random.fold_in(key, s))
        c = critical.classify(
            loss_fn, p, batch, key=k_cls, rtol=config.classify_rtol,
            num_iters=config.lanczos_iters, num_probes=config.slq_probes,
            slq_iters=config.slq_iters, batch_size=config.curvature_batch_size,
        )
        for name in CURVATURE_COLUMNS[:-3]:
            out[name][s] = float(getattr(c, name))
        out["index"][s] = float(c.index)
        out["certified_min"][s] = bool(c.certified_min)
        out["kind"][s] = str(c.kind)
        out["curvature"][s] = str(c.curvature)
        tr, se = trace_fn(k_tr, ravel_pytree(p)[0], *op.args[1:])
        out["trace"][s], out["trace_stderr"][s] = float(tr), float(se)
    out["kind"] = out["kind"].astype(str)
    out["curvature"] = out["curvature"].astype(str)
    return out
