"""Pieces every reproduction shares: the result type, the data, training, top eigenvalues,
the verdict's text, figures."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from landscape import curvature, data, lanczos, models, objectives, paths, problem, train
from landscape.studies._common import fmt  # noqa: F401  (the one number format)

PyTree = Any

DEFAULT_OUT = Path("runs") / "reproductions"


class Result(NamedTuple):
    """What a reproduction measured.

    Attributes
    ----------
    name : str
        The entry's name (``"outliers"``, ...).
    numbers : dict[str, float]
        The scalars the pass rule reads (and the command prints).
    arrays : dict[str, np.ndarray]
        What the figure draws.
    setting : str
        What ran, with its size.
    seconds : float
        Wall time of :func:`run`.
    """

    name: str
    numbers: dict[str, float]
    arrays: dict[str, np.ndarray]
    setting: str
    seconds: float


class Timer:
    """``with Timer() as t: ...``; ``t.seconds`` afterwards."""

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start


def float_dtype():
    """JAX's default float type (float64 once ``jax_enable_x64`` is on)."""
    return jnp.result_type(float)


def batch_of(ds: data.Dataset, split: str = "train") -> data.Batch:
    """A split of ``ds`` as device arrays."""
    b = getattr(ds, split)
    return data.Batch(jnp.asarray(b.x), jnp.asarray(b.y))


def mnist1d(num_samples: int) -> data.Dataset:
    """Standardised mnist1d of ``num_samples`` examples in JAX's default float type."""
    return data.standardize(data.mnist1d(num_samples=num_samples)).astype(float_dtype())


def train_runs(
    model: models.Model,
    ds: data.Dataset,
    *,
    loss: str,
    keys,
    init_params: PyTree | None = None,
    learning_rates=None,
    progress: bool = False,
    **settings,
) -> train.TrainResult:
    """:func:`landscape.train.train_seeds` of ``model`` on ``ds`` with ``loss``, one run per
    key; ``settings`` are :class:`landscape.train.TrainConfig` fields."""
    config = train.TrainConfig(**settings)
    return train.train_seeds(problem.from_model(model, ds, loss=loss), config, keys=keys,
                             init_params=init_params, learning_rates=learning_rates,
                             progress=progress)


def train_one(model: models.Model, ds: data.Dataset, *, key, num_steps: int,
              progress: bool = False, **settings) -> tuple[PyTree, Callable, data.Batch]:
    """One cross-entropy run of ``num_steps`` steps of ``model`` on ``ds`` from ``key``
    (``settings``: more :class:`landscape.train.TrainConfig` fields), evaluated at its end
    only: its final parameters, the loss ``loss(params, batch)`` and the training batch."""
    trained = train_runs(model, ds, loss="cross_entropy", keys=key[None], progress=progress,
                         num_steps=num_steps, eval_every=num_steps, **settings)
    return seed_params(trained.params, 0), objectives.make_loss(model.apply), batch_of(ds)


def seed_params(stacked: PyTree, i: int) -> PyTree:
    """Seed ``i`` of parameters stacked on a leading seed axis."""
    return jax.tree_util.tree_map(lambda a: a[i], stacked)


def top_eigenvalues(matvec: Callable, args: tuple, size: int, dtype, *, key, num_eigs: int,
                    num_iters: int, tol: float = 1e-6, num_restarts: int = 10):
    """The ``num_eigs`` largest eigenvalues of a flat operator, descending, with their
    residual bounds and a converged flag (:func:`landscape.lanczos.extreme_eigs`)."""
    num_iters = min(num_iters, size)
    eigs = _jitted_eigs(num_iters, num_eigs, tol, num_restarts if num_iters < size else 0)
    v0 = jax.random.normal(key, (size,), dtype)
    res = eigs(matvec, v0, *args)
    vals = np.asarray(res.eigvals, np.float64)[::-1]
    resid = np.asarray(res.residuals, np.float64)[::-1]
    return vals, resid, bool(np.all(np.asarray(res.converged)))


@functools.lru_cache(maxsize=32)
def _jitted_eigs(num_iters, num_eigs, tol, num_restarts):
    """One compiled Lanczos per setting (and per operator, the static ``matvec``)."""
    eigs = lanczos.extreme_eigs(num_iters=num_iters, num_eigs=num_eigs, which="largest",
                                tol=tol, num_restarts=num_restarts)
    return jax.jit(eigs, static_argnums=0)


def describe_problem(model: models.Model, ds: data.Dataset, params: PyTree) -> str:
    n = problem.from_model(model, ds).num_params(params)
    return f"{model.name} ({n} parameters) on {ds.name} ({ds.num_train} training examples)"


def spearman(x, y) -> float:
    """Spearman's rank correlation (NaN with fewer than three finite pairs)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)


def verdict_text(parts: Mapping[str, bool], detail: str) -> tuple[bool, str]:
    """A verdict from the parts of its rule: passed when every part holds; the text names
    each part with yes or no, then ``detail`` (the numbers) in parentheses."""
    text = "; ".join(f"{k}: {'yes' if v else 'no'}" for k, v in parts.items())
    return bool(all(parts.values())), f"{text} ({detail})"


def format_numbers(numbers: Mapping[str, float]) -> str:
    width = max((len(k) for k in numbers), default=0)
    return "\n".join(f"  {k:<{width}}  {fmt(v, 4)}" for k, v in numbers.items())


@contextlib.contextmanager
def panels(num: int = 2, *, aspect: float = 0.38, **subplots):
    """``with panels() as (fig, axes):`` ``num`` panels side by side, two columns wide, drawn
    in the figure style (:func:`landscape.plots.style`); ``subplots`` go to
    ``plt.subplots``."""
    import matplotlib.pyplot as plt

    from landscape import plots

    with plots.style():
        yield plt.subplots(1, num, figsize=plots.figure_size(columns=2, aspect=aspect),
                           **subplots)


def save_figure(fig, name: str, out_dir: str | Path | None) -> Path:
    """Write ``fig`` as ``out_dir/name.png`` (default ``runs/reproductions``) and close it."""
    import matplotlib.pyplot as plt

    from landscape import plots

    out = DEFAULT_OUT if out_dir is None else Path(out_dir)
    path = plots.save(fig, name, out, formats=("png",))[0]
    plt.close(fig)
    return path


def replace(config, **changes):
    return dataclasses.replace(config, **changes)


@functools.lru_cache(maxsize=32)
def error_fn(apply):
    """``error(params, batch)``: the fraction of misclassified examples."""

    def error(params, batch):
        return 1.0 - objectives.accuracy(apply(params, batch.x), batch.y)

    return error


def path_barriers(loss, error, params_a, params_b, train_batch, test_batch, *, num_points):
    """Loss (training set) and error (test set, skipped when ``error`` is None) along the
    straight line between two parameter sets (:func:`landscape.paths.interpolate`):
    ``(loss_path, error_path or None)``."""
    f_loss, x_a, _ = curvature.flat_loss(loss, params_a)
    x_b = ravel_pytree(params_b)[0]
    loss_path = paths.interpolate(f_loss, x_a, x_b, train_batch, num_points=num_points)
    if error is None:
        return loss_path, None
    f_err = curvature.flat_loss(error, params_a)[0]
    return loss_path, paths.interpolate(f_err, x_a, x_b, test_batch, num_points=num_points)


def flat(params) -> np.ndarray:
    """The parameters as one flat vector (``ravel_pytree`` order)."""
    return np.asarray(ravel_pytree(params)[0])


def unravel(params) -> Callable:
    """Flat vector -> a pytree shaped like ``params`` (one seed's parameters)."""
    return ravel_pytree(params)[1]


def ratio(a: float, b: float) -> float:
    """``a / b``, NaN unless both are finite and ``b > 0``."""
    a, b = float(a), float(b)
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")
