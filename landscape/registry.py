"""The built-in problems by name: a built-in model on a bundled data set, as a Problem.

Scripts take ``--problem NAME`` for one of these, or ``--problem
package.module:function`` for a user's own (see :func:`resolve`). Options
(widths, activation, data-set size) are keyword arguments, recorded in
:attr:`Problem.info` so a run directory says exactly what ran.

Examples
--------
>>> prob = builtin("mlp", dataset="gaussian_mixture", hidden=(8,), num_samples=100)
>>> prob.name
'mlp(10-8-4, relu) on gaussian_mixture'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from landscape import data, models, problem

__all__ = ["MODELS", "builtin", "resolve"]

MODELS = ("mlp", "deep_linear", "cnn1d")


def builtin(
    model: str = "mlp",
    *,
    dataset: str = "mnist1d",
    num_samples: int | None = None,
    standardize: bool = False,
    hidden: Sequence[int] = (100, 100),
    activation: str = "relu",
    init: str | None = None,
    dropout: float = 0.0,
    channels: Sequence[int] = (25, 25, 25),
    loss: str | None = None,
    dtype=None,
) -> problem.Problem:
    """A built-in model (:data:`MODELS`) sized for a bundled data set.

    Parameters
    ----------
    model : {"mlp", "deep_linear", "cnn1d"}
    dataset : str
        A name for :func:`landscape.data.load` (``mnist1d``, ``digits``,
        ``teacher_student``, ``gaussian_mixture``, ...).
    num_samples, standardize, dtype
        See :func:`landscape.data.prepare`.
    hidden, activation, init, dropout
        The MLP / deep linear network (``cnn1d`` uses ``channels``, ``activation``
        and ``init``); ``init`` defaults to each model's own (glorot_normal, he for cnn1d).
    loss : str, optional
        Default: cross-entropy for classification, mean squared error for regression.
    """
    if model not in MODELS:
        raise ValueError(f"model: unknown built-in model {model!r}; choose one of {MODELS}")
    ds = data.prepare(dataset, num_samples=num_samples, standardize=standardize, dtype=dtype)
    hidden = tuple(int(h) for h in hidden)
    init = init or ("he" if model == "cnn1d" else "glorot_normal")
    if model == "mlp":
        net = models.mlp(ds.in_dim, hidden, ds.out_dim, activation=activation, init=init,
                         dropout=dropout)
    elif model == "deep_linear":
        net = models.deep_linear(ds.in_dim, hidden, ds.out_dim, init=init)
    else:
        if len(ds.input_shape) != 1:
            raise ValueError(f"model: cnn1d needs 1-D inputs, got shape {ds.input_shape}")
        net = models.cnn1d(ds.input_shape[0], ds.out_dim, channels=tuple(channels),
                           activation=activation, init=init)
    loss = loss or problem.default_loss(ds)
    prob = problem.from_model(net, ds, loss=loss)
    options: dict[str, Any] = {
        "model": model, "dataset": dataset, "num_samples": num_samples,
        "standardize": standardize, "init": init,
    }
    if model == "cnn1d":
        options.update(channels=list(channels), activation=activation)
    else:
        options.update(hidden=list(hidden))
        if model == "mlp":
            options.update(activation=activation, dropout=dropout)
    return prob.replace(name=f"{net.name} on {dataset}",
                        info={**prob.info, "builtin": options})


def resolve(spec: str | problem.Problem, **builtin_options) -> problem.Problem:
    """The problem a script's ``--problem`` names: a :class:`~landscape.problem.Problem`
    as it is, ``package.module:function`` (:func:`landscape.problem.load`), or a built-in
    model name with ``builtin_options``."""
    if isinstance(spec, problem.Problem):
        return spec
    if isinstance(spec, str) and ":" in spec:
        return problem.load(spec)
    return builtin(spec, **builtin_options)
