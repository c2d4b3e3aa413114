"""A :class:`Problem`: what a study needs to know about a task, and nothing else.

A study trains, measures curvature and draws slices of *some* network on *some*
data. The :class:`Problem` is that network and data in one normal form, whatever
framework the network was written in:

- ``init(key) -> params``: the parameters, the only thing ever differentiated;
- ``init_state(key) -> state`` (optional): model state kept apart from the
  parameters and never differentiated (BatchNorm running statistics);
- ``apply(params, state, x, *, train, key) -> (outputs, new_state)``: the forward
  map. ``train=False`` is evaluation mode (running statistics, no dropout) and
  must not need a key; ``train=True`` uses batch statistics and returns the
  updated state, and applies dropout when given a ``key``;
- ``data``: the :class:`~landscape.data.Dataset` splits;
- ``loss``: a name from :data:`landscape.objectives.LOSSES` or a callable
  ``loss(outputs, targets) -> scalar`` that is a *mean* over the batch;
- ``layout`` (optional): which leaves are weights and which axis indexes the
  output units (filter normalisation, weight matching): a
  :class:`~landscape.layout.Layout` (:mod:`landscape.layout`, its names importable
  from here too).

Users rarely build a Problem by hand: :func:`from_functions` wraps a plain
``(init, apply)`` pair, :func:`from_model` a built-in :class:`~landscape.models.Model`,
and the adapters in :mod:`landscape.adapters` wrap Flax Linen, Flax NNX and
Equinox models. Every study then takes the Problem:
``run(problem, config, run_dir)``.

Curvature (Hessians, slices, noise scales) is measured on the *deterministic*
loss :meth:`Problem.loss_fn`: dropout off, and model state in evaluation mode
(running statistics) unless ``curvature_mode="batch_stats"``, which normalises
with the statistics of the batch the loss sees (the network training sees).
Training uses :meth:`Problem.train_loss`: batch statistics, dropout on with an
explicit key, and the updated state returned.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from landscape import data, problem
>>> ds = data.gaussian_mixture(num_samples=60, seed=0)
>>> def init(key):
...     return {"w": 0.1 * jax.random.normal(key, (ds.in_dim, ds.out_dim))}
>>> def apply(params, x):
...     return x @ params["w"]
>>> prob = problem.from_functions(init, apply, ds, name="linear")
>>> params = prob.init(jax.random.key(0))
>>> loss = prob.loss_fn()                  # loss(params, batch), deterministic
>>> bool(loss(params, ds.train) > 0)
True
>>> prob.num_params(params)
40
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landscape import objectives
from landscape.data import Batch, Dataset
from landscape.layout import (
    DenseLayer,
    Layout,
    check_layout,
    dense_layers,
    dense_list_layout,
    leaf_paths,
    weight_axes,
    with_dense_layers,
)

PyTree = Any
Array = jax.Array

__all__ = [
    "CURVATURE_MODES",
    "DenseLayer",
    "Layout",
    "Problem",
    "check_layout",
    "check_params",
    "dense_layers",
    "default_loss",
    "dense_list_layout",
    "from_functions",
    "from_model",
    "leaf_paths",
    "load",
    "weight_axes",
    "with_dense_layers",
]

CURVATURE_MODES = ("eval", "batch_stats")


# ----------------------------------------------------------------------------- params


def _framework_of(obj) -> str:
    return type(obj).__module__.split(".")[0]


def _is_nnx_graph(obj) -> bool:
    return any(c.__module__.startswith("flax.nnx") and c.__name__ == "Module"
               for c in type(obj).__mro__)


def check_params(params: PyTree, *, field: str = "params") -> np.dtype:
    """Check that ``params`` is a pytree of floating-point arrays and nothing else, and
    return their dtype (the first leaf's).

    Parameters are what is differentiated; a model passed whole, or with its
    state inside, is refused with what to pass instead: a whole Equinox module
    (``eqx.partition(model, eqx.is_inexact_array)``, or
    :func:`landscape.adapters.equinox.from_equinox`), an NNX graph
    (``nnx.split(model, nnx.Param, ...)``, or :func:`landscape.adapters.flax_nnx.from_nnx`),
    Flax variables with ``batch_stats`` (``variables["params"]``, with the rest as
    state, or :func:`landscape.adapters.flax_linen.from_linen`), PRNG keys (RNG
    state). ``params`` may hold arrays or ``jax.ShapeDtypeStruct`` (from
    :func:`jax.eval_shape`).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> check_params({"w": jnp.ones((2, 2))})
    dtype('float32')
    >>> check_params({"params": {"w": jnp.ones(2)}, "batch_stats": {"mean": jnp.zeros(2)}})
    Traceback (most recent call last):
    ...
    ValueError: params: holds 'batch_stats' (BatchNorm running statistics), ...
    """
    leaves = jax.tree_util.tree_leaves(params)
    if _framework_of(params) == "equinox" and not all(
        jnp.issubdtype(getattr(leaf, "dtype", np.dtype(object)), jnp.inexact) for leaf in leaves
    ):
        raise ValueError(
            f"{field}: got a whole Equinox module ({type(params).__name__}); pass its arrays, "
            "eqx.partition(model, eqx.is_inexact_array)[0], or use "
            "landscape.adapters.equinox.from_equinox(lambda key: Model(..., key=key), data)"
        )
    if _is_nnx_graph(params):
        raise ValueError(
            f"{field}: got an NNX module ({type(params).__name__}); pass its parameters, "
            "nnx.split(model, nnx.Param, nnx.BatchStat, ...)[1], or use "
            "landscape.adapters.flax_nnx.from_nnx(lambda key: Model(..., rngs=nnx.Rngs(key)), data)"
        )
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    for path, _ in flat:
        names = [getattr(k, "key", getattr(k, "name", None)) for k in path]
        if "batch_stats" in names:
            raise ValueError(
                f"{field}: holds 'batch_stats' (BatchNorm running statistics), which must not "
                "be differentiated; pass variables['params'] as params and the other "
                "collections as model state, or use "
                "landscape.adapters.flax_linen.from_linen(module, data)"
            )
    if not flat:
        raise ValueError(f"{field}: no arrays (a network without parameters?)")
    for path, leaf in flat:
        dtype = getattr(leaf, "dtype", None)
        if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
            raise ValueError(
                f"{field}: leaf {jax.tree_util.keystr(path)} is a PRNG key (RNG state is not a "
                "parameter); with NNX split it off, nnx.split(model, nnx.Param, nnx.BatchStat, "
                "...), or use landscape.adapters.flax_nnx.from_nnx"
            )
    for path, leaf in flat:
        where = jax.tree_util.keystr(path)
        dtype = getattr(leaf, "dtype", None)
        if dtype is None:
            hint = ""
            if callable(leaf):
                hint = (" (a function among the parameters: a whole Equinox module? use "
                        "landscape.adapters.equinox.from_equinox)")
            raise ValueError(f"{field}: leaf {where} is a {type(leaf).__name__}, not an "
                             f"array{hint}")
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(
                f"{field}: leaf {where} has dtype {dtype}; parameters must be floating-point "
                "arrays (keep integers, flags and model state out of them)"
            )
    return np.dtype(flat[0][1].dtype)


# ----------------------------------------------------------------------------- problem


def _no_state(key):
    del key
    return None


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """A network, its data and its loss, in the normal form every study takes.

    Attributes
    ----------
    init : callable
        ``init(key) -> params``: a pytree of floating-point arrays, the only thing
        differentiated.
    apply : callable
        ``apply(params, state, x, *, train, key) -> (outputs, new_state)``.
        ``train=False``: evaluation mode (running statistics, no dropout;
        ``key`` is ``None``). ``train=True``: batch statistics (``new_state``
        holds the updated running statistics) and dropout when ``key`` is given.
    data : Dataset
        Train / validation / test splits.
    loss : str or callable
        A name in :data:`landscape.objectives.LOSSES`, or ``loss(outputs,
        targets) -> scalar``, the mean over the batch (the data-set Hessian is
        a weighted mean of chunk Hessians, which a sum would break).
    name : str
        Recorded in every run directory.
    init_state : callable, optional
        ``init_state(key) -> state``; ``None`` for a stateless network.
    layout : Layout, optional
        Weight leaves and dense chain (see :class:`Layout`); without it, filter
        normalisation and weight matching are skipped with a stated reason.
    curvature_mode : {"eval", "batch_stats"}
        Which state the deterministic loss (curvature, slices, noise scales)
        uses: the running statistics (``"eval"``, the default) or the
        statistics of the batch it is given (``"batch_stats"``). Only matters
        for networks with state.
    source : str, optional
        ``"package.module:function"`` for a problem loaded by :func:`load`.
    info : mapping
        Anything else to record (framework, versions, options).
    """

    init: Callable[[Array], PyTree]
    apply: Callable[..., tuple[Array, PyTree]]
    data: Dataset
    loss: str | Callable[[Array, Array], Array] = "cross_entropy"
    name: str = "problem"
    init_state: Callable[[Array], PyTree] | None = None
    layout: Layout | None = None
    curvature_mode: str = "eval"
    source: str | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not callable(self.init):
            raise ValueError(f"init: expected a function init(key) -> params, got {self.init!r}")
        if not callable(self.apply):
            raise ValueError(
                "apply: expected a function apply(params, state, x, *, train, key) -> "
                f"(outputs, new_state), got {self.apply!r}"
            )
        if not isinstance(self.data, Dataset):
            raise ValueError(
                f"data: expected a landscape.data.Dataset, got {type(self.data).__name__}; "
                "build one with landscape.data.split(x, y, ...) or Dataset(...)"
            )
        if isinstance(self.loss, str):
            objectives.get_loss(self.loss)  # raises, naming the field
        elif not callable(self.loss):
            raise ValueError(f"loss: expected a loss name or loss(outputs, targets), got "
                             f"{self.loss!r}")
        if self.curvature_mode not in CURVATURE_MODES:
            raise ValueError(
                f"curvature_mode: unknown mode {self.curvature_mode!r}; choose one of "
                f"{CURVATURE_MODES}"
            )
        if self.layout is not None and not isinstance(self.layout, Layout):
            raise ValueError(
                f"layout: expected a landscape.layout.Layout, got {type(self.layout).__name__}"
            )

    # -- the pieces studies use --------------------------------------------------------

    def replace(self, **changes) -> Problem:
        return dataclasses.replace(self, **changes)

    @property
    def has_state(self) -> bool:
        return self.init_state is not None

    @property
    def loss_name(self) -> str:
        """The loss's name, or ``"custom"`` for a user callable."""
        return self.loss if isinstance(self.loss, str) else "custom"

    @property
    def is_classification(self) -> bool:
        return self.data.num_classes is not None

    def init_all(self, key: Array) -> tuple[PyTree, PyTree]:
        """``(params, state)`` from one key (state ``None`` for a stateless network)."""
        return self.init(key), (self.init_state or _no_state)(key)

    def _base_loss(self):
        return objectives.get_loss(self.loss) if isinstance(self.loss, str) else self.loss

    def outputs_fn(self, state: PyTree = None, *, mode: str | None = None) -> Callable:
        """``outputs(params, x)``: the deterministic forward map (dropout off), with
        ``state`` in ``mode`` (default :attr:`curvature_mode`)."""
        mode = self.curvature_mode if mode is None else mode
        if mode not in CURVATURE_MODES:
            raise ValueError(f"mode: unknown mode {mode!r}; choose one of {CURVATURE_MODES}")
        self._check_state(state)
        apply = self.apply
        train = mode == "batch_stats"

        def outputs(params, x):
            return apply(params, state, x, train=train, key=None)[0]

        return outputs

    def loss_fn(self, state: PyTree = None, *, mode: str | None = None, l2: float = 0.0):
        """``loss(params, batch)``: the deterministic mean loss (dropout off, ``state`` in
        ``mode``), what curvature, slices and noise scales differentiate."""
        outputs = self.outputs_fn(state, mode=mode)
        base = self._base_loss()

        def loss(params, batch: Batch):
            value = base(outputs(params, batch.x), batch.y)
            if l2:
                value = value + l2 * objectives.l2_penalty(params)
            return value

        return loss

    def metrics_fn(self, state: PyTree = None) -> Callable:
        """``metrics(params, batch) -> {"loss", "accuracy"?}`` in evaluation mode, without
        any penalty (accuracy only for classification)."""
        outputs = self.outputs_fn(state, mode="eval")
        base, classification = self._base_loss(), self.is_classification

        def metrics(params, batch: Batch):
            out = outputs(params, batch.x)
            result = {"loss": base(out, batch.y)}
            if classification:
                result["accuracy"] = objectives.accuracy(out, batch.y)
            return result

        return metrics

    def train_loss(self, params: PyTree, state: PyTree, batch: Batch, key: Array | None,
                   *, l2: float = 0.0) -> tuple[Array, PyTree]:
        """``(loss, new_state)`` of one training step: batch statistics, dropout with
        ``key`` (``None``: no dropout). Differentiate with ``has_aux=True``."""
        out, new_state = self.apply(params, state, batch.x, train=True, key=key)
        value = self._base_loss()(out, batch.y)
        if l2:
            value = value + l2 * objectives.l2_penalty(params)
        return value, new_state

    def num_params(self, params: PyTree) -> int:
        """Number of parameters (model state excluded)."""
        return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))

    def _check_state(self, state):
        if self.has_state and state is None:
            raise ValueError(
                f"state: problem {self.name!r} has model state (e.g. BatchNorm statistics); "
                "pass the state that goes with the parameters (problem.init_all(key) or the "
                "state training returned)"
            )

    def describe(self) -> dict[str, Any]:
        """What a run directory records about the problem."""
        return {
            "name": self.name,
            "source": self.source,
            "loss": self.loss_name,
            "data": self.data.name,
            "num_train": int(self.data.num_train),
            "has_state": self.has_state,
            "curvature_mode": self.curvature_mode,
            "layout": None if self.layout is None else self.layout.describe(),
            **dict(self.info),
        }


# ----------------------------------------------------------------------------- builders


def _accepts_key(fn: Callable) -> bool:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "key" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def from_functions(
    init: Callable[[Array], PyTree],
    apply: Callable[..., Array],
    data: Dataset,
    *,
    loss: str | Callable | None = None,
    name: str = "model",
    layout: Layout | None = None,
    info: Mapping[str, Any] | None = None,
) -> Problem:
    """A Problem from a plain ``(init, apply)`` pair (stax's shape).

    ``apply(params, x)`` or ``apply(params, x, *, key=None)``: with a ``key``
    parameter, training passes a fresh key every step (dropout) and evaluation
    passes ``None``. ``loss`` defaults to :func:`default_loss` of ``data``.
    """
    if not callable(apply):
        raise ValueError(f"apply: expected a function apply(params, x), got {apply!r}")
    return Problem(init=init, apply=_StatelessApply(apply, _accepts_key(apply)), data=data,
                   loss=default_loss(data) if loss is None else loss, name=name, layout=layout,
                   info={"framework": "jax", **dict(info or {})})


@dataclasses.dataclass(frozen=True)
class _StatelessApply:
    """``apply(params, x[, key=])`` in the Problem's form. A value (equal when built from
    the same function), so that Problems made from one model share compiled programs."""

    fn: Callable[..., Array]
    takes_key: bool

    def __call__(self, params, state, x, *, train, key):
        if self.takes_key:
            return self.fn(params, x, key=key if train else None), state
        return self.fn(params, x), state


def default_loss(data: Dataset) -> str:
    """``"cross_entropy"`` for a classification data set, ``"mse"`` for regression."""
    if not isinstance(data, Dataset):
        raise ValueError(f"data: expected a landscape.data.Dataset, got {type(data).__name__}")
    return "cross_entropy" if data.num_classes is not None else "mse"


def from_model(model, data: Dataset, *, loss: str | Callable | None = None) -> Problem:
    """A Problem from a built-in :class:`~landscape.models.Model` (its layout included
    when its parameters are a list of layers, as :func:`landscape.models.mlp` makes them;
    otherwise none is declared); ``loss`` defaults to :func:`default_loss` of ``data``."""
    shapes = jax.eval_shape(model.init, jax.random.key(0))
    layout = dense_list_layout(shapes) if isinstance(shapes, (list, tuple)) else None
    return from_functions(model.init, model.apply, data, loss=loss, name=model.name,
                          layout=layout, info={"framework": "landscape"})


def load(spec: str, **kwargs) -> Problem:
    """The Problem returned by ``package.module:function`` (called with ``kwargs``).

    The import path is recorded as :attr:`Problem.source`, so a run directory
    says which function built its problem.
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(
            f"problem: expected 'package.module:function' (a function returning a "
            f"landscape.problem.Problem), got {spec!r}"
        )
    module_name, func_name = spec.split(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # a console script does not search the working directory
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"problem: cannot import module {module_name!r} ({err})") from err
    try:
        func = getattr(module, func_name)
    except AttributeError:
        raise ValueError(f"problem: module {module_name!r} has no function {func_name!r}") from None
    result = func(**kwargs)
    if not isinstance(result, Problem):
        raise ValueError(
            f"problem: {spec} returned {type(result).__name__}, expected a "
            "landscape.problem.Problem (build one with landscape.problem.from_functions or an "
            "adapter in landscape.adapters)"
        )
    return result.replace(source=spec)
