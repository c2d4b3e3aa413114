"""Pieces the claim experiments share: the default task, a frozen task description,
and training many seeds of one configuration to final metrics."""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landscape import data, models, objectives, train
from landscape.problem import from_model


@dataclasses.dataclass(frozen=True)
class Task:
    """A data set by name plus its size: the thing every claim trains on.

    The claims about networks in general are measured on two tasks of different
    kinds: ``mnist1d`` (10 classes of 40-sample 1-D signals, generated) and
    ``digits`` (scikit-learn's 1797 real 8x8 images of handwritten digits, 64
    pixels; ``num_samples`` does not apply to it).
    """

    dataset: str = "mnist1d"
    num_samples: int = 4000
    standardize: bool = False
    seed: int = 0

    def load(self) -> data.Dataset:
        if self.dataset == "mnist1d":
            ds = data.mnist1d(num_samples=self.num_samples, seed=42 + self.seed)
        elif self.dataset == "digits":  # a fixed set of 1797 images: num_samples is not used
            ds = data.digits(seed=self.seed)
        else:
            ds = data.load(self.dataset, num_samples=self.num_samples, seed=self.seed)
        ds = data.standardize(ds) if self.standardize else ds
        return ds.astype(jnp.result_type(float))  # float32, or float64 when x64 is on

    def describe(self, ds: data.Dataset) -> str:
        return (
            f"{self.dataset} ({ds.num_train} train / {len(ds.x_val)} val / "
            f"{len(ds.x_test)} test examples)"
        )


class Final(NamedTuple):
    """Final metrics per seed (S,), and the curves of the run."""

    train_loss: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray
    diverged: np.ndarray
    result: train.TrainResult


@functools.lru_cache(maxsize=32)
def _seed_metrics(apply, loss: str):
    """Jitted metrics of seed-stacked parameters, one compiled function per model and loss
    (a second call with the same model reuses the compilation)."""
    return jax.jit(jax.vmap(objectives.make_metrics(apply, loss=loss), in_axes=(0, None)))


def train_and_evaluate(
    model: models.Model,
    ds: data.Dataset,
    config: train.TrainConfig,
    *,
    seed: int,
    num_seeds: int,
    init_params=None,
    progress: bool = False,
) -> Final:
    """Train ``num_seeds`` seeds at once and evaluate the final parameters on every split."""
    keys = jax.random.split(jax.random.key(seed), num_seeds)
    prob = from_model(model, ds)
    result = train.train_seeds(prob, config, keys=keys, init_params=init_params, progress=progress)
    metrics = _seed_metrics(model.apply, prob.loss)
    out = {}
    for split in ("train", "val", "test"):
        batch = getattr(ds, split)
        m = metrics(result.params, data.Batch(jnp.asarray(batch.x), jnp.asarray(batch.y)))
        out[f"{split}_loss"] = np.asarray(m["loss"])
        out[f"{split}_accuracy"] = np.asarray(m.get("accuracy", jnp.full(num_seeds, jnp.nan)))
    return Final(
        out["train_loss"],
        out["val_loss"],
        out["val_accuracy"],
        out["test_loss"],
        out["test_accuracy"],
        np.asarray(result.diverged),
        result,
    )


def describe_training(config: train.TrainConfig) -> str:
    batch = "full batch" if config.batch_size is None else f"batch {config.batch_size}"
    return (
        f"{config.optimizer} lr {config.learning_rate:g} ({config.schedule}), "
        f"{config.num_steps} steps, {batch}"
    )


def coefficient_of_variation(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1) / abs(np.mean(values))) if len(values) > 1 else 0.0


def plural(count: float, word: str, many: str | None = None) -> str:
    """``"1 minimum"``, ``"3 minima"``: ``count`` with the right form of ``word``.

    >>> plural(1, "minimum", "minima"), plural(2, "saddle")
    ('1 minimum', '2 saddles')
    """
    n = int(count)
    return f"{n} {word if n == 1 else (many or word + 's')}"
