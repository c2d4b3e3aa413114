"""Training with optax: one seed, or many seeds at once as a batch axis, of any Problem.

A run is fixed by a :class:`~landscape.problem.Problem` (network, data, loss),
a frozen :class:`TrainConfig` (optimizer, learning rate and schedule, steps,
batch size, penalties, evaluation interval) and a PRNG key.
The key is split into three: the initialisation key, the data-order key (the
minibatch of step ``t`` is ``data.batch_indices(data_key, t, ...)``) and the
dropout key (step ``t`` uses ``fold_in(dropout_key, t)``). The same config and
key give bit-identical results.

A training step differentiates :meth:`Problem.train_loss
<landscape.problem.Problem.train_loss>`: batch statistics, dropout with the
step's key, and the updated model state (BatchNorm running statistics), which
is threaded from step to step and never differentiated. The curves evaluate in
evaluation mode (:meth:`Problem.metrics_fn <landscape.problem.Problem.metrics_fn>`:
running statistics, no dropout). Optimizers and schedules come from
:mod:`landscape.optim`.

Steps run in ``lax.scan`` chunks of ``eval_every`` steps. One jitted chunk
function is compiled once and called for every chunk, so a progress bar can be
updated between chunks and compile time does not grow with the number of
steps. After every chunk (and at step 0) the full training set and the
validation set are evaluated: the curves of a run.

:func:`train_seeds` runs ``S`` seeds as a ``vmap`` over keys. With more than one
device the seed axis is sharded with :mod:`jax.sharding` (a 1-D mesh named
``"seed"``); the number of seeds is padded up to a multiple of the device
count and the padding is dropped from the result. On a single CPU device the
seeds run one after another inside one compiled program (``lax.map``) by
default, because XLA's batched matrix products on CPU were measured slower than
separate ones (``vectorize=True`` forces the ``vmap``). Several hosts work the same
way once ``jax.distributed.initialize()`` has been called on each, since
``jax.devices()`` then lists the devices of every host; fetch results with
``jax.experimental.multihost_utils.process_allgather``.

Divergence: a step whose training loss is not finite or exceeds
``divergence_factor`` times the initial training loss, or whose update makes a
parameter non-finite, marks the run diverged at that step. Its parameters and
optimizer state are frozen (``jnp.where`` on the state), while the other seeds
in the batch go on.

Examples
--------
>>> import jax
>>> from landscape import data, models, problem
>>> ds = data.xor(num_samples=200, seed=0)
>>> prob = problem.from_model(models.mlp(2, (16,), 2), ds)
>>> config = TrainConfig(optimizer="adam", learning_rate=0.01, num_steps=200, eval_every=50)
>>> result = train(prob, config, key=jax.random.key(0), progress=False)
>>> result.curves.step.tolist()
[0, 50, 100, 150, 200]
>>> bool(result.curves.train_loss[-1] < result.curves.train_loss[0])
True
>>> runs = train_seeds(prob, config, keys=jax.random.split(jax.random.key(0), 4),
...                    progress=False)
>>> runs.curves.train_loss.shape
(4, 5)

References
----------
Loshchilov, I. & Hutter, F. (2019). Decoupled weight decay regularization. ICLR.
Kingma, D. P. & Ba, J. (2015). Adam: a method for stochastic optimization. ICLR.
Sutskever, I. et al. (2013). On the importance of initialization and momentum in
deep learning. ICML.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from landscape import optim
from landscape.curvature import grad_norm as _grad_norm
from landscape.data import Batch, Dataset, get_batch
from landscape.optim import OPTIMIZERS, SCHEDULES
from landscape.problem import Problem, check_params

PyTree = Any
Array = jax.Array

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "Curves",
    "TrainConfig",
    "TrainResult",
    "train",
    "train_seeds",
]

# Number of times each jitted function of this module has been traced (a Python
# side effect runs once per trace); tests use it to check that a run compiles once.
_TRACES: collections.Counter = collections.Counter()


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that fixes a training run except the problem (network, data, loss) and
    the key.

    Attributes
    ----------
    optimizer : {"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"}
        ``momentum`` / ``nesterov`` use the ``momentum`` coefficient; ``adam`` and
        ``adamw`` use (0.9, 0.999, 1e-8); ``rmsprop`` uses decay 0.9, eps 1e-8.
    learning_rate : float
        Peak learning rate, > 0.
    num_steps : int
        Optimizer steps, >= 1.
    batch_size : int or None
        ``None`` for full-batch training; otherwise minibatches drawn without
        replacement within each epoch (:func:`landscape.data.batch_indices`).
    schedule : {"constant", "step", "cosine", "warmup_cosine"}
        Learning-rate schedule over ``num_steps`` (see
        :func:`landscape.optim.make_schedule`).
    warmup_steps : int
        Linear warm-up steps before the schedule (required by ``warmup_cosine``,
        allowed with every schedule).
    decay_rate, decay_every : float, int
        Step decay: the rate is multiplied by ``decay_rate`` every ``decay_every``
        steps (``decay_every`` is required by ``schedule="step"``).
    momentum : float
        Momentum coefficient in [0, 1) for ``momentum`` and ``nesterov``.
    weight_decay : float
        Decoupled weight decay (Loshchilov & Hutter 2019): the update is
        ``-lr_t * (direction + weight_decay * params)`` for every optimizer; for
        ``sgd`` it equals an L2 penalty of ``weight_decay``.
    l2 : float
        Coefficient of ``0.5 * |params|^2`` added to the training loss.
    eval_every : int
        Curves are recorded every ``eval_every`` steps, at step 0 and at the end.
    divergence_factor : float
        A run diverges when its training loss is not finite or exceeds
        ``divergence_factor`` times its initial training loss (> 1; ``inf``
        keeps only the finiteness check).
    record_params : bool
        Store the flat parameters at every evaluation point (the trajectory).
    """

    optimizer: str = "sgd"
    learning_rate: float = 0.1
    num_steps: int = 1000
    batch_size: int | None = None
    schedule: str = "constant"
    warmup_steps: int = 0
    decay_rate: float = 0.1
    decay_every: int | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    l2: float = 0.0
    eval_every: int = 100
    divergence_factor: float = 1e3
    record_params: bool = False

    def __post_init__(self):
        optim.check_settings(
            optimizer=self.optimizer, schedule=self.schedule, num_steps=self.num_steps,
            warmup_steps=self.warmup_steps, decay_rate=self.decay_rate,
            decay_every=self.decay_every, momentum=self.momentum, weight_decay=self.weight_decay,
        )
        if not optim._is_real(self.learning_rate) or not (
            math.isfinite(self.learning_rate) and self.learning_rate > 0
        ):
            raise ValueError(
                f"learning_rate: must be a positive finite number, got {self.learning_rate!r}"
            )
        if self.batch_size is not None and (
            not optim._is_int(self.batch_size) or self.batch_size < 1
        ):
            raise ValueError(
                f"batch_size: must be a positive integer or None (full batch), "
                f"got {self.batch_size!r}"
            )
        if not optim._is_int(self.eval_every) or self.eval_every < 1:
            raise ValueError(f"eval_every: must be a positive integer, got {self.eval_every!r}")
        if not optim._is_real(self.l2) or not (math.isfinite(self.l2) and self.l2 >= 0):
            raise ValueError(f"l2: must be a non-negative finite number, got {self.l2!r}")
        if not optim._is_real(self.divergence_factor) or not self.divergence_factor > 1:
            raise ValueError(
                f"divergence_factor: must be > 1 (inf to check finiteness only), "
                f"got {self.divergence_factor!r}"
            )
        if not isinstance(self.record_params, bool | np.bool_):
            raise ValueError(f"record_params: must be a bool, got {self.record_params!r}")

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def make_schedule(self, learning_rate=None) -> Callable[[Array], Array]:
        """The learning-rate schedule of this config (:func:`landscape.optim.make_schedule`),
        peaking at ``learning_rate`` (default :attr:`learning_rate`; may be traced).

        Examples
        --------
        >>> lr = TrainConfig(learning_rate=1.0, schedule="step", decay_every=10,
        ...                  decay_rate=0.5).make_schedule()
        >>> [float(lr(c)) for c in (0, 9, 10, 25)]
        [1.0, 1.0, 0.5, 0.25]
        """
        return optim.make_schedule(
            self.learning_rate if learning_rate is None else learning_rate,
            schedule=self.schedule, num_steps=self.num_steps, warmup_steps=self.warmup_steps,
            decay_rate=self.decay_rate, decay_every=self.decay_every,
        )

    def make_optimizer(self, learning_rate=None, *, dtype=None) -> optax.GradientTransformation:
        """The optax optimizer of this config (:func:`landscape.optim.make_optimizer` with
        :meth:`make_schedule`), peaking at ``learning_rate`` (default :attr:`learning_rate`),
        with the learning rate held in ``dtype`` (default: optax's choice).

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> opt = TrainConfig(learning_rate=0.5, weight_decay=0.1).make_optimizer()
        >>> params = {"w": jnp.array([1.0, 2.0])}
        >>> updates, _ = opt.update({"w": jnp.array([1.0, 1.0])}, opt.init(params), params)
        >>> [round(float(u), 4) for u in updates["w"]]
        [-0.55, -0.6]
        """
        return optim.make_optimizer(
            self.optimizer, self.make_schedule(learning_rate), momentum=self.momentum,
            weight_decay=self.weight_decay, dtype=dtype,
        )

    @property
    def num_evals(self) -> int:
        """Number of evaluation points ``E``: step 0, every ``eval_every`` steps, the end."""
        return 1 + -(-self.num_steps // self.eval_every)

    @property
    def eval_steps(self) -> np.ndarray:
        """The steps at which curves are recorded, shape ``(E,)``."""
        chunks = np.arange(1, self.num_evals, dtype=np.int64) * self.eval_every
        return np.concatenate([[0], np.minimum(chunks, self.num_steps)]).astype(np.int32)


class Curves(NamedTuple):
    """Training curves at ``E`` evaluation points.

    From :func:`train_seeds` every field but ``step`` has a leading ``(S,)`` axis.
    Accuracies are NaN for regression; validation entries are NaN when the data
    set has no validation split.
    """

    step: Array  # (E,) int32, steps taken before the evaluation
    train_loss: Array  # (E,) or (S, E): full training-set loss, without the l2 penalty
    val_loss: Array  # (E,) or (S, E)
    val_accuracy: Array  # (E,) or (S, E)
    train_accuracy: Array  # (E,) or (S, E)
    grad_norm: Array  # (E,) or (S, E): |grad| of the full-batch training objective (with l2)


class TrainResult(NamedTuple):
    """What a run returns; from :func:`train_seeds` every field has a leading ``(S,)`` axis
    (except ``curves.step``).

    A run that diverged keeps the parameters at which the bad loss was measured
    (step ``diverged_step``, i.e. after ``diverged_step`` updates): the update that
    would have followed is refused, so no non-finite update ever reaches them, and
    its later curve points all repeat the values at those parameters."""

    params: PyTree  # final parameters; if diverged, those at diverged_step (see below)
    init_params: PyTree  # parameters at step 0
    curves: Curves
    diverged: Array  # () or (S,) bool
    diverged_step: Array  # () or (S,) int32: step at which divergence was detected, -1 if none
    trajectory: Array | None  # (E, n) or (S, E, n) flat params at eval points, if record_params
    state: PyTree = None  # final model state (seed-stacked); None for a stateless problem


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


def _engine(problem: Problem, config: TrainConfig, num_train: int, has_val: bool, seeds: str):
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


def _epoch_permutation(data_key, epoch, num_train):
    """The order of the examples in ``epoch``: the permutation
    :func:`landscape.data.batch_indices` draws (computed once per epoch here, not per step)."""
    return jax.random.permutation(jax.random.fold_in(data_key, epoch), num_train)


def _init_fn(problem: Problem, config: TrainConfig, seeds: str):
    minibatch = config.batch_size is not None

    def init_one(key, lr, init_params, init_state, data):
        _TRACES["init"] += 1
        init_key, data_key, dropout_key = jax.random.split(key, 3)
        num_train = data.x_train.shape[0]
        perm = _epoch_permutation(data_key, 0, num_train) if minibatch else None
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
                lambda: _epoch_permutation(state.data_key, epoch, num_train),
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
        _TRACES["chunk"] += 1

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
        _TRACES["evaluate"] += 1
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


# ----------------------------------------------------------------------------- checks


def _float_dtype(problem: Problem, key) -> np.dtype:
    try:
        shapes = jax.eval_shape(problem.init, key)
    except TypeError as err:
        raise ValueError(
            f"params: problem.init(key) must return a pytree of arrays ({err}); for a whole "
            "Equinox module or NNX graph use landscape.adapters (from_equinox, from_nnx)"
        ) from err
    return check_params(shapes, field="params")


def _check_run(problem: Problem, config: TrainConfig) -> None:
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config: expected a TrainConfig, got {type(config).__name__}")
    if not isinstance(problem, Problem):
        raise ValueError(
            f"problem: expected a landscape.problem.Problem, got {type(problem).__name__} "
            "(wrap a model with landscape.problem.from_functions, from_model or an adapter in "
            "landscape.adapters)"
        )
    dataset = problem.data
    if config.batch_size is not None and config.batch_size > dataset.num_train:
        raise ValueError(
            f"batch_size: {config.batch_size} is larger than the training set "
            f"({dataset.num_train} examples)"
        )
    if problem.loss == "cross_entropy" and dataset.num_classes is None:
        raise ValueError(
            f"loss: 'cross_entropy' needs a classification data set; {dataset.name!r} is "
            f"regression (use loss='mse')"
        )


def _prepare_data(dataset: Dataset, dtype) -> _Data:
    """Device arrays of the training and validation splits in the parameters' dtype
    (:meth:`landscape.data.Dataset.batch`)."""
    return _Data(*dataset.batch("train", dtype), *dataset.batch("val", dtype))


def _check_params(init_params, expected, field: str, leading: tuple[int, ...] = ()) -> None:
    got_def = jax.tree_util.tree_structure(init_params)
    want_def = jax.tree_util.tree_structure(expected)
    if got_def != want_def:
        raise ValueError(f"{field}: structure {got_def} does not match the problem's {want_def}")
    for got, want in zip(
        jax.tree_util.tree_leaves(init_params), jax.tree_util.tree_leaves(expected), strict=True
    ):
        if tuple(jnp.shape(got)) != leading + tuple(want.shape):
            raise ValueError(
                f"{field}: a leaf has shape {tuple(jnp.shape(got))}, expected "
                f"{leading + tuple(want.shape)}"
            )


def _check_state(problem: Problem, init_state, key, leading: tuple[int, ...]) -> None:
    if init_state is None:
        return
    if not problem.has_state:
        raise ValueError(f"init_state: problem {problem.name!r} has no model state; pass None")
    _check_params(init_state, jax.eval_shape(problem.init_state, key), "init_state", leading)


def _key_count(keys, field: str) -> int:
    keys = jnp.asarray(keys) if not isinstance(keys, jax.Array) else keys
    if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        if keys.ndim != 1:
            raise ValueError(f"{field}: expected a 1-D array of PRNG keys, got shape {keys.shape}")
        return int(keys.shape[0])
    if keys.dtype == jnp.uint32 and keys.ndim == 2:
        return int(keys.shape[0])
    raise ValueError(
        f"{field}: expected PRNG keys with a leading seed axis (e.g. jax.random.split(key, S)), "
        f"got dtype {keys.dtype} and shape {keys.shape}"
    )


def _check_key(key) -> None:
    if not isinstance(key, jax.Array):
        raise ValueError(
            f"key: expected a PRNG key (jax.random.key(seed)), got {type(key).__name__}"
        )
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    if (typed and key.ndim != 0) or (not typed and (key.dtype != jnp.uint32 or key.ndim != 1)):
        raise ValueError(
            f"key: expected one PRNG key, got dtype {key.dtype} and shape {key.shape} "
            f"(use train_seeds for several keys)"
        )


# ----------------------------------------------------------------------------- drivers


def _run_chunks(engine, state, lr, data, config, *, progress: bool, desc: str):
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


def _assemble(state, init_params, evals, config, axis: int) -> TrainResult:
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


def train(
    problem: Problem,
    config: TrainConfig,
    *,
    key: Array,
    init_params: PyTree | None = None,
    init_state: PyTree | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``problem`` for one seed.

    Parameters
    ----------
    problem : Problem
        The network, its data and its loss (:mod:`landscape.problem`). Each step
        differentiates :meth:`~landscape.problem.Problem.train_loss` with a fresh
        dropout key and threads the model state it returns; curves are measured
        in evaluation mode. Inputs are cast to the parameters' floating dtype.
    config : TrainConfig
    key : PRNG key
        Split into initialisation, data-order and dropout keys.
    init_params : pytree, optional
        Start here instead of ``problem.init(init_key)``.
    init_state : pytree, optional
        Model state to start from (default ``problem.init_state(init_key)``).
    progress : bool
        Show a tqdm bar over the chunks of ``eval_every`` steps.

    Returns
    -------
    TrainResult
        Curves have ``E = config.num_evals`` points; ``state`` is the final model
        state (``None`` for a stateless problem).

    Raises
    ------
    ValueError
        Before any compute, for a batch size larger than the training set, a loss
        that does not fit the task, or ``init_params`` / ``init_state`` of the wrong
        structure.
    """
    _check_run(problem, config)
    _check_key(key)
    dtype = _float_dtype(problem, key)
    if init_params is not None:
        _check_params(init_params, jax.eval_shape(problem.init, key), "init_params")
    _check_state(problem, init_state, key, ())
    data = _prepare_data(problem.data, dtype)
    has_val = len(problem.data.x_val) > 0
    engine = _engine(problem, config.replace(learning_rate=1.0), problem.data.num_train, has_val,
                     "single")
    lr = jnp.asarray(config.learning_rate, dtype)
    state, start_params = engine.init(key, lr, init_params, init_state, data)
    state, evals = _run_chunks(
        engine, state, lr, data, config, progress=progress, desc=f"train {problem.name}"
    )
    return _assemble(state, start_params, evals, config, axis=0)


def train_seeds(
    problem: Problem,
    config: TrainConfig,
    *,
    keys: Array,
    init_params: PyTree | None = None,
    init_state: PyTree | None = None,
    learning_rates: Array | Sequence[float] | None = None,
    progress: bool = True,
    shard: bool = True,
    devices: Sequence[jax.Device] | None = None,
    vectorize: bool | None = None,
) -> TrainResult:
    """Train ``S`` seeds of ``problem`` at once: a ``vmap`` of :func:`train` over ``keys``.

    Parameters
    ----------
    problem : Problem
        As in :func:`train`.
    config : TrainConfig
    keys : PRNG keys, shape ``(S,)``
        One key per seed, e.g. ``jax.random.split(key, S)``; seed ``s`` gives the
        same result as ``train(..., key=keys[s])`` up to rounding.
    init_params : pytree with a leading ``(S,)`` axis, optional
        Starting points, one per seed.
    init_state : pytree with a leading ``(S,)`` axis, optional
        Starting model states, one per seed.
    learning_rates : array ``(S,)``, optional
        Per-seed peak learning rates replacing ``config.learning_rate`` (a
        learning-rate sweep in one compiled program).
    shard : bool
        With more than one device, shard the seed axis over ``devices``
        (default ``jax.devices()``) on a 1-D mesh named ``"seed"``; data are
        replicated. ``S`` is padded up to a multiple of the device count by
        repeating the last seed; the padding is dropped from the result.
    vectorize : bool, optional
        ``vmap`` the seeds (True) or run them one after another inside the same
        compiled program with ``lax.map`` (False). The default vectorises on
        accelerators and whenever the seeds are sharded over several devices, and
        maps on a single CPU device, where XLA's batched matrix products do not use
        the intra-op thread pool and the vectorised step was measured slower than
        separate runs (``benchmarks/bench_train.py``). Both give the same numbers up
        to rounding.
    progress : bool
        Show a tqdm bar over the chunks.

    Returns
    -------
    TrainResult
        Every field has a leading ``(S,)`` axis, except ``curves.step`` ``(E,)``.
    """
    _check_run(problem, config)
    num_seeds = _key_count(keys, "keys")
    if num_seeds < 1:
        raise ValueError("keys: need at least one key")
    one_key = keys[0]
    dtype = _float_dtype(problem, one_key)
    if init_params is not None:
        _check_params(init_params, jax.eval_shape(problem.init, one_key), "init_params",
                      (num_seeds,))
    _check_state(problem, init_state, one_key, (num_seeds,))
    if learning_rates is None:
        lrs = np.full((num_seeds,), config.learning_rate)
    else:
        lrs = np.asarray(learning_rates, dtype=np.float64)
        if lrs.shape != (num_seeds,):
            raise ValueError(f"learning_rates: expected shape ({num_seeds},), got {lrs.shape}")
        if not np.all(np.isfinite(lrs) & (lrs > 0)):
            raise ValueError(f"learning_rates: must be positive and finite, got {lrs}")
    dataset = problem.data
    data = _prepare_data(dataset, dtype)

    devices = list(jax.devices() if devices is None else devices)
    num_devices = len(devices) if shard else 1
    if vectorize is None:
        vectorize = num_devices > 1 or devices[0].platform != "cpu"
    elif not vectorize and num_devices > 1:
        raise ValueError(
            "vectorize: seeds sharded over several devices are vectorised; pass shard=False "
            "(or one device) to run them one after another"
        )
    padded = -(-num_seeds // num_devices) * num_devices
    index = np.minimum(np.arange(padded), num_seeds - 1)

    def pad(tree):
        return tree if padded == num_seeds else jax.tree_util.tree_map(lambda a: a[index], tree)

    keys_p = pad(keys)
    lrs_p = jnp.asarray(lrs[index], dtype)
    init_p = None if init_params is None else pad(init_params)
    state_p = None if init_state is None else pad(init_state)
    if num_devices > 1:
        mesh = Mesh(np.asarray(devices), ("seed",))
        seed_sharding, replicated = NamedSharding(mesh, P("seed")), NamedSharding(mesh, P())
        keys_p, lrs_p, init_p, state_p = jax.device_put((keys_p, lrs_p, init_p, state_p),
                                                        seed_sharding)
        data = jax.device_put(data, replicated)

    engine = _engine(
        problem, config.replace(learning_rate=1.0), dataset.num_train, len(dataset.x_val) > 0,
        "vmap" if vectorize else "map",
    )
    state, start_params = engine.init(keys_p, lrs_p, init_p, state_p, data)
    state, evals = _run_chunks(
        engine, state, lrs_p, data, config, progress=progress,
        desc=f"train {num_seeds} seeds of {problem.name}",
    )
    result = _assemble(state, start_params, evals, config, axis=1)
    if padded != num_seeds:
        step = result.curves.step
        result = jax.tree_util.tree_map(lambda a: a[:num_seeds], result)
        result = result._replace(curves=result.curves._replace(step=step))
    return result
