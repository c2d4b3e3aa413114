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
:mod:`landscape.optim`; :class:`TrainConfig`, :class:`Curves` and :class:`TrainResult`
are defined in :mod:`landscape.train_config` and the compiled steps in
:mod:`landscape.train_engine` (both importable from here).

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

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landscape import sharding
from landscape.optim import OPTIMIZERS, SCHEDULES
from landscape.problem import Problem, check_params
from landscape.train_config import Curves, TrainConfig, TrainResult
from landscape.train_engine import TRACES as _TRACES  # noqa: F401  (tests count traces)
from landscape.train_engine import assemble, compile_engine, prepare_data, run_chunks

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
    data = prepare_data(problem.data, dtype)
    has_val = len(problem.data.x_val) > 0
    engine = compile_engine(problem, config.replace(learning_rate=1.0), problem.data.num_train,
                            has_val, "single")
    lr = jnp.asarray(config.learning_rate, dtype)
    state, start_params = engine.init(key, lr, init_params, init_state, data)
    state, evals = run_chunks(
        engine, state, lr, data, config, progress=progress, desc=f"train {problem.name}"
    )
    return assemble(state, start_params, evals, config, axis=0)


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
    data = prepare_data(dataset, dtype)

    devices = list(jax.devices() if devices is None else devices)
    sharded = shard and len(devices) > 1
    if vectorize is None:
        vectorize = sharded or devices[0].platform != "cpu"
    elif not vectorize and sharded:
        raise ValueError(
            "vectorize: seeds sharded over several devices are vectorised; pass shard=False "
            "(or one device) to run them one after another"
        )
    mesh = sharding.mesh(devices if sharded else devices[:1], axis="seed")
    (keys_p, lrs_p, init_p, state_p), weights = sharding.pad(
        (keys, jnp.asarray(lrs, dtype), init_params, init_state), sharding.num_devices(mesh))
    padded = weights.shape[0]
    keys_p, lrs_p, init_p, state_p = sharding.put((keys_p, lrs_p, init_p, state_p), mesh,
                                                  split=True)
    data = sharding.put(data, mesh, split=False)

    engine = compile_engine(
        problem, config.replace(learning_rate=1.0), dataset.num_train, len(dataset.x_val) > 0,
        "vmap" if vectorize else "map",
    )
    state, start_params = engine.init(keys_p, lrs_p, init_p, state_p, data)
    state, evals = run_chunks(
        engine, state, lrs_p, data, config, progress=progress,
        desc=f"train {num_seeds} seeds of {problem.name}",
    )
    result = assemble(state, start_params, evals, config, axis=1)
    if padded != num_seeds:
        step = result.curves.step
        result = jax.tree_util.tree_map(lambda a: a[:num_seeds], result)
        result = result._replace(curves=result.curves._replace(step=step))
    return result
