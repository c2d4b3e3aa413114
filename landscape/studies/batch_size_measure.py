"""The measurements of the batch-size study (:mod:`landscape.studies.batch_size`): the
learning rates tried, steps to a target, the wall time of a training step, the cells
of the sweep (training at one batch size and rate, step times, the noise-scale run),
each a function of a :class:`Context` (config, problem, keys), and the list of cells with
the search that extends the grid of rates past a chosen rate at its end.

Examples
--------
>>> import numpy as np
>>> steps_to_target(np.array([0, 10]), np.array([2.0, 0.5]), 1.0, higher_is_better=False)
5.0
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from landscape import data, noise, results, train, train_engine
from landscape.problem import Problem
from landscape.studies.batch_size_summary import _runs_table, select_learning_rates

__all__ = [
    "Context",
    "StepTime",
    "learning_rates",
    "measure_step_time",
    "measure_step_times",
    "steps_to_target",
    "tile_dataset",
]


def learning_rates(config, batch_size: int) -> tuple[float, ...]:
    """The rates tried at ``batch_size`` under ``config.lr_policy`` (rounded to 4
    significant digits, so that they name cells reproducibly).

    Examples
    --------
    >>> import dataclasses
    >>> from landscape.studies.batch_size import Config
    >>> cfg = Config(base_lr=0.4, base_batch=64, lr_factors=(0.5, 1.0, 2.0))
    >>> learning_rates(cfg, 16)
    (0.1, 0.2, 0.4)
    >>> learning_rates(dataclasses.replace(cfg, lr_policy="linear"), 16)
    (0.1,)
    """
    ratio = batch_size / config.base_batch
    if config.lr_policy == "linear":
        rates = [config.base_lr * ratio]
    elif config.lr_policy == "sqrt":
        rates = [config.base_lr * math.sqrt(ratio)]
    else:
        center = config.base_lr * math.sqrt(ratio)
        rates = [center * f for f in sorted(config.lr_factors)]
    if config.max_lr is not None:
        rates = [min(r, config.max_lr) for r in rates]
    return tuple(dict.fromkeys(float(f"{r:.4g}") for r in rates))


def tile_dataset(dataset: data.Dataset, num_examples: int) -> data.Dataset:
    """``dataset`` with its training split repeated (or cut) to ``num_examples``
    examples: the same shapes a larger data set has, for timing."""
    if num_examples < 1:
        raise ValueError(f"num_examples: must be positive, got {num_examples}")
    idx = np.arange(num_examples) % dataset.num_train
    return dataset.replace(x_train=dataset.x_train[idx], y_train=dataset.y_train[idx])


# ----------------------------------------------------------------------------- measurements


def steps_to_target(
    step: np.ndarray, values: np.ndarray, target: float, *, higher_is_better: bool
) -> float:
    """The first step at which ``values`` reach ``target``, interpolated between
    evaluation points; ``inf`` when never reached.

    Losses (``higher_is_better=False``, positive) are interpolated linearly in
    ``log(value)``, accuracies linearly in the value. A curve that starts at the
    target gives ``step[0]``; NaN entries count as not reached.

    Examples
    --------
    >>> steps_to_target(np.array([0, 10, 20]), np.array([4.0, 2.0, 0.5]), 1.0,
    ...                 higher_is_better=False)
    15.0
    """
    step = np.asarray(step, np.float64)
    values = np.asarray(values, np.float64)
    with np.errstate(invalid="ignore"):
        ok = values >= target if higher_is_better else values <= target
    ok &= np.isfinite(values)
    if not ok.any():
        return math.inf
    i = int(np.argmax(ok))
    if i == 0:
        return float(step[0])
    y0, y1, t = values[i - 1], values[i], target
    if not np.isfinite(y0):
        return float(step[i])
    if not higher_is_better and y0 > 0 and y1 > 0 and t > 0:
        y0, y1, t = math.log(y0), math.log(y1), math.log(t)
    frac = 1.0 if y0 == y1 else (y0 - t) / (y0 - y1)
    frac = min(max(frac, 0.0), 1.0)
    return float(step[i - 1] + frac * (step[i] - step[i - 1]))


class StepTime(NamedTuple):
    """Wall time of one optimizer step, steady state.

    Attributes
    ----------
    seconds : float          least time per step over the repeats (the estimate of the
                             uncontended cost, as :mod:`timeit` advises)
    median, q75 : float      median and upper quartile over the repeats
    compile_seconds : float  the first call (tracing, compilation, one call), excluded above
    steps_per_call : int     steps in one jitted call (a ``lax.scan``)
    calls_per_repeat : int   calls in one timed repeat
    """

    seconds: float
    median: float
    q75: float
    compile_seconds: float
    steps_per_call: int
    calls_per_repeat: int


@functools.lru_cache(maxsize=64)
def _timed_steps_fn(problem: Problem, config: train.TrainConfig, num_train: int,
                    steps_per_call: int):
    """``run(carry, start, x, y) -> carry``: ``steps_per_call`` steps of training as
    :func:`landscape.train.train` takes them (minibatch from the epoch's permutation,
    drawn once per epoch; value and gradient; the optax update), without evaluation
    or divergence checks). The loss is :meth:`Problem.train_loss` without dropout, with
    the model state the step is given (not updated: the cost is the same)."""
    l2 = config.l2

    def objective(params, state, batch):
        return problem.train_loss(params, state, batch, None, l2=l2)[0]

    optimizer = config.make_optimizer()
    batch_size = config.batch_size

    def step(carry, count, x, y):
        params, opt_state, perm, key, state = carry
        full = data.Batch(x, y)
        if batch_size is None:
            batch = full
        else:
            epoch, position = jnp.divmod(count, num_train // batch_size)
            perm = jax.lax.cond(
                position == 0,
                lambda: train_engine.epoch_permutation(key, epoch, num_train),
                lambda: perm,
            )
            idx = jax.lax.dynamic_slice_in_dim(perm, position * batch_size, batch_size)
            batch = data.get_batch(full, idx)
        _, grads = jax.value_and_grad(objective)(params, state, batch)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimizer.update(grads, opt_state, params)
        updates = jax.tree_util.tree_map(lambda u, p: u.astype(p.dtype), updates, params)
        return (optax.apply_updates(params, updates), opt_state, perm, key, state)

    def run_steps(carry, start, x, y):
        def body(c, i):
            return step(c, start + i, x, y), None

        carry, _ = jax.lax.scan(body, carry, jnp.arange(steps_per_call, dtype=jnp.int32))
        return carry

    return jax.jit(run_steps)


def measure_step_time(
    problem: Problem,
    dataset: data.Dataset,
    config: train.TrainConfig,
    *,
    key: jax.Array,
    steps_per_call: int = 20,
    repeats: int = 7,
    min_seconds: float = 0.05,
) -> StepTime:
    """Seconds per training step of one run at ``config.batch_size`` on this machine.

    One jitted call runs ``steps_per_call`` steps in a ``lax.scan``; the first call
    (compilation) is timed apart; each of ``repeats`` repeats then runs as many
    calls as make it last at least ``min_seconds`` and ends with
    ``block_until_ready``. The least time per step over repeats is reported, with the
    median and upper quartile. The step is the one :func:`landscape.train.train`
    takes, without its evaluations; its cost does not depend on the learning rate.
    """
    return measure_step_times(problem, [(dataset, config)], key=key, steps_per_call=steps_per_call,
                              repeats=repeats, min_seconds=min_seconds)[0]


def measure_step_times(
    problem: Problem,
    cases: Sequence[tuple[data.Dataset, train.TrainConfig]],
    *,
    key: jax.Array,
    steps_per_call: int = 20,
    repeats: int = 7,
    min_seconds: float = 0.05,
) -> list[StepTime]:
    """:func:`measure_step_time` for several ``(dataset, config)`` cases, interleaved.

    Every case is compiled and calibrated first; then each repeat times every case
    once, in turn, so that a burst of load from other processes falls on all cases
    alike rather than on whichever was being timed.
    """
    if steps_per_call < 1 or repeats < 1 or not min_seconds > 0:
        raise ValueError(
            f"steps_per_call/repeats/min_seconds: must be positive, got {steps_per_call}, "
            f"{repeats}, {min_seconds}"
        )
    setups, carries, calls, compile_seconds, counts = [], [], [], [], []
    for dataset, config in cases:
        fn, carry, x, y = _timing_setup(problem, dataset, config, key, steps_per_call)
        t0 = time.perf_counter()
        carry = jax.block_until_ready(fn(carry, jnp.asarray(0, jnp.int32), x, y))
        compile_seconds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        carry = jax.block_until_ready(fn(carry, jnp.asarray(steps_per_call, jnp.int32), x, y))
        one = max(time.perf_counter() - t0, 1e-6)
        setups.append((fn, x, y))
        carries.append(carry)
        calls.append(max(1, math.ceil(min_seconds / one)))
        counts.append(2)
    per_step = [[] for _ in cases]
    for _ in range(repeats):
        for j, (fn, x, y) in enumerate(setups):
            carry = carries[j]
            t0 = time.perf_counter()
            for _ in range(calls[j]):
                carry = fn(carry, jnp.asarray(counts[j] * steps_per_call, jnp.int32), x, y)
                counts[j] += 1
            jax.block_until_ready(carry)
            per_step[j].append((time.perf_counter() - t0) / (calls[j] * steps_per_call))
            carries[j] = carry
    return [
        StepTime(float(np.min(t)), float(np.median(t)), float(np.percentile(t, 75)), c,
                 int(steps_per_call), int(k))
        for t, c, k in zip(per_step, compile_seconds, calls, strict=True)
    ]


def _timing_setup(problem, dataset, config, key, steps_per_call):
    """The jitted ``steps_per_call``-step function, its starting carry and the data
    (``dataset``: the problem's or a tiled copy). The key is split as
    :func:`landscape.train.train` splits it, so that the timed steps are the steps of
    training ``problem`` with ``key``."""
    n = dataset.num_train
    if config.batch_size is not None and config.batch_size > n:
        raise ValueError(f"batch_size: {config.batch_size} is larger than the training set ({n})")
    x, y = dataset.batch("train", jnp.result_type(float))
    init_key, data_key, _ = jax.random.split(key, 3)
    params, state = problem.init_all(init_key)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = config.make_optimizer().init(params)
    perm = jnp.arange(n)  # replaced by the epoch-0 permutation at step 0
    fn = _timed_steps_fn(problem, config, n, int(steps_per_call))
    return fn, (params, opt_state, perm, data_key, state), x, y


# ----------------------------------------------------------------------------- cells


def _fmt_lr(lr: float) -> str:
    return f"{lr:.4g}"


class Context(NamedTuple):
    """What every cell of the study needs: the config, the problem and the keys."""

    config: Any
    problem: Problem
    keys: jax.Array
    timing_key: jax.Array
    noise_key: jax.Array


def _train_config(ctx: Context, batch_size: int, lr: float, **changes) -> train.TrainConfig:
    c, n = ctx.config, ctx.problem.data.num_train
    return train.TrainConfig(
        optimizer=c.optimizer, learning_rate=lr, momentum=c.momentum,
        num_steps=c.num_steps(batch_size, n), batch_size=None if batch_size >= n else batch_size,
        eval_every=c.eval_every(batch_size, n), divergence_factor=c.divergence_factor,
    ).replace(**changes)


def _train_cell(ctx: Context, batch_size: int, lr: float) -> dict[str, Any]:
    cfg = ctx.config
    tcfg = _train_config(ctx, batch_size, lr)
    result = train.train_seeds(ctx.problem, tcfg, keys=ctx.keys, progress=False)
    c = result.curves
    step = np.asarray(c.step)
    metric = np.asarray(getattr(c, cfg.target_metric), np.float64)
    higher = cfg.target_metric == "val_accuracy"
    steps = np.array([steps_to_target(step, m, cfg.target, higher_is_better=higher)
                      for m in metric])
    return {
        "steps_to_target": steps,
        "diverged": np.asarray(result.diverged, bool),
        "diverged_step": np.asarray(result.diverged_step, np.int64),
        "final_train_loss": np.asarray(c.train_loss[:, -1], np.float64),
        "final_val_loss": np.asarray(c.val_loss[:, -1], np.float64),
        "final_val_accuracy": np.asarray(c.val_accuracy[:, -1], np.float64),
        "num_steps": tcfg.num_steps,
        "curve_step": step,
        "curve_train_loss": np.asarray(c.train_loss, np.float64),
        "curve_val_accuracy": np.asarray(c.val_accuracy, np.float64),
    }


def _timing_config(ctx: Context, batch_size: int | None) -> train.TrainConfig:
    c = ctx.config
    return train.TrainConfig(optimizer=c.optimizer, learning_rate=1e-3, momentum=c.momentum,
                             num_steps=1, batch_size=batch_size)


def _measure(ctx: Context, cases) -> list[StepTime]:
    c = ctx.config
    return measure_step_times(ctx.problem, cases, key=ctx.timing_key,
                              steps_per_call=c.timing_steps, repeats=c.timing_repeats,
                              min_seconds=c.timing_min_seconds)


def _time_cell(ctx: Context, batch_sizes: Sequence[int]) -> dict[str, Any]:
    """Step times at every batch size, measured in turn (one cell)."""
    n = ctx.problem.data.num_train
    cases = [(ctx.problem.data, _timing_config(ctx, None if b >= n else b)) for b in batch_sizes]
    times = _measure(ctx, cases)
    return {"batch_size": np.asarray(batch_sizes),
            "step_time": np.array([t.seconds for t in times]),
            "step_time_median": np.array([t.median for t in times]),
            "step_time_q75": np.array([t.q75 for t in times]),
            "compile_seconds": np.array([t.compile_seconds for t in times])}


def _size_cell(ctx: Context, sizes: Sequence[int]) -> dict[str, Any]:
    """Step times of minibatch SGD and full-batch GD at every data-set size (one cell)."""
    cases, where = [], []
    for i, n in enumerate(sizes):
        tiled = tile_dataset(ctx.problem.data, int(n))
        if ctx.config.size_batch <= n:
            cases.append((tiled, _timing_config(ctx, ctx.config.size_batch)))
            where.append(("sgd", i))
        cases.append((tiled, _timing_config(ctx, None)))
        where.append(("gd", i))
    times = _measure(ctx, cases)
    out = {f"{p}_{k}": np.full(len(sizes), np.nan) for p in ("sgd", "gd")
           for k in ("step_time", "step_time_median", "step_time_q75")}
    for (prefix, i), t in zip(where, times, strict=True):
        out[f"{prefix}_step_time"][i] = t.seconds
        out[f"{prefix}_step_time_median"][i] = t.median
        out[f"{prefix}_step_time_q75"][i] = t.q75
    out["num_examples"] = np.asarray(sizes)
    return out


def _noise_cell(ctx: Context, batch_size: int, lr: float, steps: float) -> dict[str, Any]:
    cfg, ds = ctx.config, ctx.problem.data
    n = ds.num_train
    k = cfg.noise_points - 1
    total = cfg.num_steps(batch_size, n) if not math.isfinite(steps) else max(k, math.ceil(steps))
    every = math.ceil(total / k)
    tcfg = _train_config(ctx, batch_size, lr, num_steps=every * k, eval_every=every,
                         record_params=True)
    result = train.train(ctx.problem, tcfg, key=ctx.keys[0], progress=False)
    unravel = ravel_pytree(result.init_params)[1]
    loss_fn = ctx.problem.loss_fn(result.state)  # the final model state of the run
    batch = ds.batch("train", jnp.result_type(float))
    small, big = cfg.two_batch_sizes
    rows: dict[str, list] = {name: [] for name in (
        "b_simple", "b_noise", "b_simple_two_batch", "trace_cov", "grad_sq_norm",
        "trace_h_cov", "trace_h_cov_stderr", "grad_h_grad")}
    keys = jax.random.split(ctx.noise_key, 3 * (k + 1)).reshape(k + 1, 3)
    for i in range(k + 1):
        params = unravel(result.trajectory[i])
        hn = noise.hessian_noise_scale(
            loss_fn, params, batch, key=keys[i, 0], num_samples=min(cfg.noise_samples, n),
            chunk_size=cfg.chunk_size,
        )
        two = [np.nan]
        if big <= n:
            sq_s = noise.minibatch_grad_sq_norms(loss_fn, params, batch, key=keys[i, 1],
                                                 batch_size=small,
                                                 num_batches=cfg.two_batch_count)
            sq_b = noise.minibatch_grad_sq_norms(loss_fn, params, batch, key=keys[i, 2],
                                                 batch_size=big, num_batches=cfg.two_batch_count)
            two = noise.two_batch_noise_scale(sq_s, sq_b, small_batch_size=small,
                                              big_batch_size=big, num_examples=n)
            two = [two.b_simple]
        for name in rows:
            value = two[0] if name == "b_simple_two_batch" else getattr(hn, name)
            rows[name].append(float(value))
    step = np.asarray(result.curves.step)
    return {
        "step": step,
        "fraction": step / step[-1],
        "train_loss": np.asarray(result.curves.train_loss, np.float64),
        "batch_size": batch_size,
        "learning_rate": lr,
        **{name: np.asarray(v) for name, v in rows.items()},
    }


# ----------------------------------------------------------------------------- the sweep


def _train_cell_spec(batch_size: int, lr: float):
    return (f"train,B={batch_size},lr={lr:.4g}",
            {"kind": "train", "batch_size": batch_size, "learning_rate": lr})


def _search_rates(config, batch_size, num_train, out, compute, progress):
    """Train the rates of ``batch_size``, extending the grid past a chosen rate at its
    end (see ``lr_extensions``). Deterministic given the cells' results, so a resumed
    run replays the same extensions from the stored cells."""
    rates = list(learning_rates(config, batch_size))
    factors = sorted(config.lr_factors)
    ratio = factors[-1] / factors[-2] if len(factors) > 1 else 2.0
    extended = {"up": 0, "down": 0}
    cell_results: dict[str, Any] = {}
    while True:
        cells = [_train_cell_spec(batch_size, lr) for lr in sorted(rates)]
        todo = [c for c in cells if c[0] not in cell_results]
        cell_results.update(results.run_sweep(out, todo, compute, progress=progress))
        if config.lr_policy != "grid" or len(rates) < 2:
            return cells, cell_results
        chosen = float(select_learning_rates(
            _runs_table(config, cells, cell_results, num_train))["learning_rate"][0])
        if chosen == max(rates) and extended["up"] < config.lr_extensions:
            new, side = float(f"{chosen * ratio:.4g}"), "up"
            if config.max_lr is not None:
                new = min(new, config.max_lr)
        elif chosen == min(rates) and extended["down"] < config.lr_extensions:
            new, side = float(f"{chosen / ratio:.4g}"), "down"
        else:
            return cells, cell_results
        if new in rates:
            return cells, cell_results
        rates.append(new)
        extended[side] += 1


def _cells(config, num_train: int):
    train_cells = []
    for b in config.batch_sizes(num_train):
        for lr in learning_rates(config, b):
            train_cells.append(_train_cell_spec(b, lr))
    sizes = config.batch_sizes(num_train)
    time_cells = [("step_times", {"kind": "time", "batch_sizes": list(sizes)})]
    size_cells = [("dataset_sizes", {"kind": "size",
                                     "num_examples": [int(n) for n in config.dataset_sizes]})]
    return train_cells, time_cells, size_cells
