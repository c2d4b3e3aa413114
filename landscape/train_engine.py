"""The compiled engine behind :func:`landscape.train.train` and
:func:`landscape.train.train_seeds`.

Three jitted functions per problem and config, each cached on the settings it
depends on alone (:func:`compile_engine`): ``init`` (parameters, optimizer state, the
divergence threshold), ``chunk`` (``eval_every`` steps in one ``lax.scan``) and
``evaluate`` (the curves in evaluation mode). A run is ``init``, then ``chunk`` and
``evaluate`` in turn (:func:`run_chunks`), so a progress bar moves between chunks
and compile time does not grow with the number of steps; :func:`assemble` stacks
the evaluations into a :class:`~landscape.train_config.TrainResult`.

The seed axis is ``"single"`` (none), ``"vmap"`` or ``"map"`` (``lax.map`` inside one
program). A step that diverges freezes its run's parameters and optimizer state
with ``jnp.where``, so the other seeds of a batch go on.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from landscape.curvature import grad_norm as _grad_norm
from landscape.data import Batch, Dataset, get_batch
from landscape.problem import Problem
from landscape.train_config import Curves, TrainConfig, TrainResult

PyTree = Any
Array = jax.Array

__all__ = ["TRACES", "assemble", "compile_engine", "epoch_permutation", "prepare_data",
           "run_chunks"]

# Number of times each jitted function of this module has been traced (a Python
# side effect runs once per trace); tests use it to check that a run compiles once.
TRACES: collections.Counter = collections.Counter()

# ----------------------------------------------------------------------------- engine


class _State(NamedTuple):
    params: PyTree
    model_state: PyTree  # the problem's model state (None when stateless); never differentiated
    opt_state: PyTree
    data_key: Array  # PRNG key for the minibatch order
    perm: Array | None  # (num_train,) this epoch's permutation; None for full batch
    dropout_key: Array  # PRNG key for dropout, folded with the step
    threshold: Array  # () loss above which the run counts as diverged
    diverged: Array  # () bool
    diverged_step: Array  # () int32


class _Eval(NamedTuple):
    train_loss: Array
    val_loss: Array
    val_accuracy: Array
    train_accuracy: Array
    grad_norm: Array
    flat_params: Array | None


class _Data(NamedTuple):
    x_train: Array
    y_train: Array
    x_val: Array
    y_val: Array


def _tree_where(cond, a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.where(cond, x, y), a, b)


def _all_finite(tree) -> Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


class _Engine(NamedTuple):
    init: Callable  # (key, lr, init_params | None, init_state | None, data) -> (state, params)
    chunk: Callable  # (state, start, lr, data) -> state
    evaluate: Callable  # (params, model_state, data) -> _Eval


# Compiled functions, cached on what the traced program depends on: for the problem,
# the functions it is built from and its loss (two Problems built from the same model
# share programs; its data are arguments, not constants); for the config, the fields
# each function reads. Bounded, oldest dropped first.
_CACHE: collections.OrderedDict = collections.OrderedDict()
_CACHE_SIZE = 64


def _problem_key(problem: Problem) -> tuple:
    return (problem.init, problem.apply, problem.init_state, problem.loss,
            problem.is_classification)


def _cached(key: tuple, build: Callable[[], Callable]) -> Callable:
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    fn = _CACHE[key] = build()
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return fn


def compile_engine(problem: Problem, config: TrainConfig, num_train: int, has_val: bool,
                   seeds: str):
    """Jitted init / chunk / evaluate functions for one problem and config.

    Each is cached on the settings it depends on alone (the learning rate is a
    traced argument), so repeated runs with the same problem and data shapes
    compile once, and a sweep over, say, learning rates, optimizers or batch
    sizes shares the initialisation and evaluation programs.

    ``seeds`` is ``"single"`` (no seed axis), ``"vmap"`` (the seed axis vectorised) or
    ``"map"`` (one program that runs the seeds one after another with ``lax.map``)."""
    init_config = TrainConfig(
        optimizer=config.optimizer, momentum=config.momentum, weight_decay=config.weight_decay,
        l2=config.l2, divergence_factor=config.divergence_factor,
        batch_size=None if config.batch_size is None else 1,  # only whether there are batches
    )
    chunk_config = config.replace(learning_rate=1.0, record_params=False)
    pkey = _problem_key(problem)
    return _Engine(
        init=_cached(("init", pkey, init_config, seeds),
                     lambda: _init_fn(problem, init_config, seeds)),
        chunk=_cached(("chunk", pkey, chunk_config, num_train, seeds),
                      lambda: _chunk_fn(problem, chunk_config, num_train, seeds)),
        evaluate=_cached(("evaluate", pkey, config.l2, config.record_params, has_val, seeds),
                         lambda: _evaluate_fn(problem, config.l2, config.record_params, has_val,
                                              seeds)),
    )


def epoch_permutation(data_key, epoch, num_train):
    """The order of the examples in ``epoch``: the permutation
    :func:`landscape.data.batch_indices` draws (computed once per epoch here, not per step)."""
    return jax.random.permutation(jax.random.fold_in(data_key, epoch), num_train)


def _init_fn(problem: Problem, config: TrainConfig, seeds: str):
    minibatch = config.batch_size is not None

    def init_one(key, lr, init_params, init_state, data):
        TRACES["init"] += 1
        init_key, data_key, dropout_key = jax.random.split(key, 3)
        num_train = data.x_train.shape[0]
        perm = epoch_permutation(data_key, 0, num_train) if minibatch else None
        params = problem.init(init_key) if init_params is None else init_params
        model_state = init_state
        if problem.has_state and init_state is None:
            model_state = problem.init_state(init_key)
        with jax.numpy_dtype_promotion("standard"):  # optax mixes int and float scalars
            opt_state = config.make_optimizer(lr, dtype=lr.dtype).init(params)
        # the loss training sees (batch statistics), without dropout
        loss0, _ = problem.train_loss(params, model_state, Batch(data.x_train, data.y_train),
                                      None, l2=config.l2)
        threshold = jnp.where(
            jnp.isfinite(loss0) & (loss0 > 0), config.divergence_factor * loss0, jnp.inf
        )
        state = _State(
            params, model_state, opt_state, data_key, perm, dropout_key, threshold,
            jnp.asarray(False), jnp.asarray(-1, jnp.int32),
        )
        return state, params

    if seeds == "single":
        return jax.jit(init_one)
    return jax.jit(jax.vmap(init_one, in_axes=(0, 0, 0, 0, None)))  # cheap: always vectorised


def _chunk_fn(problem: Problem, config: TrainConfig, num_train: int, seeds: str):
    steps, every, batch_size, l2 = config.num_steps, config.eval_every, config.batch_size, config.l2
    grad_fn = jax.value_and_grad(problem.train_loss, has_aux=True)

    def step_one(state, step, lr, data):
        full = Batch(data.x_train, data.y_train)
        if batch_size is None:
            batch = full
        else:
            # the indices of data.batch_indices(data_key, step, ...), with the epoch's
            # permutation drawn once per epoch (the predicate depends on the step alone,
            # so under vmap this stays a conditional)
            epoch, position = jnp.divmod(step, num_train // batch_size)
            perm = jax.lax.cond(
                position == 0,
                lambda: epoch_permutation(state.data_key, epoch, num_train),
                lambda: state.perm,
            )
            idx = jax.lax.dynamic_slice_in_dim(perm, position * batch_size, batch_size)
            batch = get_batch(full, idx)
            state = state._replace(perm=perm)
        dropout_key = jax.random.fold_in(state.dropout_key, step)
        (loss, model_state), grads = grad_fn(state.params, state.model_state, batch, dropout_key,
                                             l2=l2)
        # the state keeps its dtypes (Flax keeps float32 running statistics of float64 layers)
        model_state = jax.tree_util.tree_map(
            lambda new, old: jnp.asarray(new, jnp.result_type(old)), model_state, state.model_state
        )
        with jax.numpy_dtype_promotion("standard"):  # optax mixes int and float scalars
            updates, opt_state = config.make_optimizer(lr, dtype=lr.dtype).update(
                grads, state.opt_state, state.params
            )
        # parameters keep their dtype (float32 layers under 64-bit mode)
        updates = jax.tree_util.tree_map(lambda u, p: u.astype(p.dtype), updates, state.params)
        params = optax.apply_updates(state.params, updates)
        bad = (~jnp.isfinite(loss) | (loss > state.threshold) | ~_all_finite(params)
               | ~_all_finite(model_state))
        keep = state.diverged | bad
        return state._replace(
            params=_tree_where(keep, state.params, params),
            model_state=_tree_where(keep, state.model_state, model_state),
            opt_state=_tree_where(keep, state.opt_state, opt_state),
            diverged=keep,
            diverged_step=jnp.where(bad & ~state.diverged, step, state.diverged_step),
        )

    def chunk_one(state, start, lr, data):
        TRACES["chunk"] += 1

        def body(s, i):
            step = start + i
            if steps % every == 0:  # every chunk is full: no masking needed
                return step_one(s, step, lr, data), None
            # the last chunk is shorter: skip the steps past the end (predicate is not batched)
            s = jax.lax.cond(step < steps, lambda t: step_one(t, step, lr, data), lambda t: t, s)
            return s, None

        state, _ = jax.lax.scan(body, state, jnp.arange(every, dtype=jnp.int32))
        return state

    if seeds == "vmap":
        return jax.jit(jax.vmap(chunk_one, in_axes=(0, None, 0, None)))
    if seeds == "map":
        return jax.jit(
            lambda states, start, lrs, data: jax.lax.map(
                lambda sl: chunk_one(sl[0], start, sl[1], data), (states, lrs)
            )
        )
    return jax.jit(chunk_one)


def _evaluate_fn(problem: Problem, l2: float, record_params: bool, has_val: bool, seeds: str):
    classification = problem.is_classification

    def evaluate_one(params, model_state, data):
        TRACES["evaluate"] += 1
        metrics = problem.metrics_fn(model_state)  # evaluation mode, no penalty
        objective = problem.loss_fn(model_state, mode="eval", l2=l2)
        train_batch = Batch(data.x_train, data.y_train)
        m = metrics(params, train_batch)
        dtype = m["loss"].dtype
        nan = jnp.full((), jnp.nan, dtype)
        if has_val:
            mv = metrics(params, Batch(data.x_val, data.y_val))
            val_loss = mv["loss"]
            val_acc = mv["accuracy"].astype(dtype) if classification else nan
        else:
            val_loss, val_acc = nan, nan
        return _Eval(
            train_loss=m["loss"],
            val_loss=val_loss,
            val_accuracy=val_acc,
            train_accuracy=m["accuracy"].astype(dtype) if classification else nan,
            grad_norm=_grad_norm(objective, params, train_batch).astype(dtype),
            flat_params=ravel_pytree(params)[0] if record_params else None,
        )

    if seeds == "vmap":
        return jax.jit(jax.vmap(evaluate_one, in_axes=(0, 0, None)))
    if seeds == "map":
        return jax.jit(lambda params, states, data: jax.lax.map(
            lambda ps: evaluate_one(ps[0], ps[1], data), (params, states)))
    return jax.jit(evaluate_one)


def prepare_data(dataset: Dataset, dtype) -> _Data:
    """Device arrays of the training and validation splits in the parameters' dtype
    (:meth:`landscape.data.Dataset.batch`)."""
    return _Data(*dataset.batch("train", dtype), *dataset.batch("val", dtype))


# ----------------------------------------------------------------------------- drivers


def run_chunks(engine, state, lr, data, config, *, progress: bool, desc: str):
    from tqdm.auto import tqdm

    evals = [engine.evaluate(state.params, state.model_state, data)]
    num_chunks = config.num_evals - 1
    with tqdm(total=num_chunks, desc=desc, unit="chunk", disable=not progress, leave=False) as bar:
        for i in range(num_chunks):
            start = jnp.asarray(i * config.eval_every, jnp.int32)
            state = engine.chunk(state, start, lr, data)
            evals.append(engine.evaluate(state.params, state.model_state, data))
            if progress:
                bar.set_postfix(train_loss=f"{float(jnp.nanmedian(evals[-1].train_loss)):.4g}")
                bar.update()
    return state, evals


def assemble(state, init_params, evals, config, axis: int) -> TrainResult:
    def stack(name):
        return jnp.stack([getattr(e, name) for e in evals], axis=axis)

    curves = Curves(
        step=jnp.asarray(config.eval_steps),
        train_loss=stack("train_loss"),
        val_loss=stack("val_loss"),
        val_accuracy=stack("val_accuracy"),
        train_accuracy=stack("train_accuracy"),
        grad_norm=stack("grad_norm"),
    )
    trajectory = stack("flat_params") if config.record_params else None
    return TrainResult(
        params=state.params,
        init_params=init_params,
        curves=curves,
        diverged=state.diverged,
        diverged_step=state.diverged_step,
        trajectory=trajectory,
        state=state.model_state,
    )
