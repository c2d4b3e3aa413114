"""Training a :class:`~landscape.problem.Problem` for the spectrum, critical-point and
landscape studies: one place that calls :mod:`landscape.train`.

:func:`train_one` and :func:`train_many` return the :class:`~landscape.train.TrainResult`
and the model state at the end of training (``None`` for a stateless network).
"""

from __future__ import annotations

import inspect

import jax

from landscape import models, train
from landscape.problem import Problem

__all__ = ["train_many", "train_one"]


def _takes_problem() -> bool:
    return next(iter(inspect.signature(train.train).parameters)) == "problem"


def _as_model(problem: Problem) -> models.Model:
    if problem.has_state:
        raise ValueError(
            f"problem: {problem.name!r} has model state (BatchNorm statistics), which this "
            "training engine does not thread through the step"
        )

    def apply(params, x, *, key=None):
        return problem.apply(params, None, x, train=key is not None, key=key)[0]

    return models.Model(problem.init, apply, problem.name)


def _config(problem: Problem, config: train.TrainConfig) -> train.TrainConfig:
    if not isinstance(problem.loss, str):
        raise ValueError(f"problem: {problem.name!r} has a custom loss, which this training "
                         "engine does not take")
    return config.replace(loss=problem.loss)


def train_one(problem: Problem, config: train.TrainConfig, *, key, progress: bool):
    """``(result, state)`` of one run of ``problem`` from ``key``."""
    if _takes_problem():
        result = train.train(problem, config, key=key, progress=progress)
        return result, getattr(result, "state", None)
    result = train.train(_as_model(problem), problem.data, _config(problem, config), key=key,
                         progress=progress)
    return result, None


def train_many(problem: Problem, config: train.TrainConfig, *, keys, progress: bool):
    """``(result, state)`` of one run per key, stacked on a leading axis."""
    if _takes_problem():
        result = train.train_seeds(problem, config, keys=keys, progress=progress)
        return result, getattr(result, "state", None)
    result = train.train_seeds(_as_model(problem), problem.data, _config(problem, config),
                               keys=keys, progress=progress)
    return result, None


def index(tree, i: int):
    """Entry ``i`` of a pytree stacked on a leading axis (``None`` stays ``None``)."""
    return None if tree is None else jax.tree_util.tree_map(lambda a: a[i], tree)
