"""Families of runs that share one compiled training program.

Compiling a training program costs seconds on a CPU, more than training a small
net, and every distinct model shape or data shape is a new program. The claims
about sizes (widths, depths, activations, amounts of data) therefore train a
whole family of variants as one batch of runs:

- :func:`mlp_family` is one MLP of the largest depth and width in the family
  whose parameters carry three constant leaves: a width mask, a depth gate and
  an activation selector. A member of depth ``d``, width ``w`` and activation
  ``a`` is the big net with units ``>= w`` masked to zero, hidden layers
  ``> d`` replaced by the identity, and ``a`` selected. The constants pass
  through ``lax.stop_gradient``, so their gradients are zero; so are the
  gradients of the masked weights (their units are zero, their layers gated
  off), and zero gradients give zero Adam, SGD and momentum updates. A
  member therefore trains exactly as ``models.mlp(in_dim, (w,) * d, out_dim,
  activation=a)`` started from :func:`extract` of its initial parameters
  (:func:`init_runs` draws them from the plain net's initialiser), up to the
  rounding of sums with extra zero terms. :func:`train_family` trains members
  times seeds in one call. Penalties on the parameters (``l2``, ``weight_decay``) would move
  the constants and are refused by :func:`check_training`.
- :func:`repeat_train` replaces a training split by copies of a smaller one,
  so that every training-set size has the same array shape (and program).
  The full-batch loss and gradient are those of the smaller set exactly when
  the length is a multiple of its size; minibatches are drawn uniformly from
  it (an example may appear twice in a batch).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landscape import data, models, objectives, train
from landscape.problem import from_model

__all__ = [
    "Family",
    "Member",
    "check_training",
    "evaluate",
    "extract",
    "FamilyRuns",
    "train_family",
    "init_runs",
    "mean_and_se",
    "mlp_family",
    "repeat_train",
    "run_keys",
]


class Member(NamedTuple):
    """One architecture of a family: ``depth`` hidden layers of ``width`` units."""

    depth: int
    width: int
    activation: str = "relu"

    def num_params(self, in_dim: int, out_dim: int) -> int:
        """Parameters of the plain MLP ``in_dim -> (width,) * depth -> out_dim`` with biases."""
        sizes = (in_dim, *(self.width,) * self.depth, out_dim)
        return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


class Family(NamedTuple):
    """The padded model of a family and its static sizes."""

    model: models.Model
    in_dim: int
    out_dim: int
    max_depth: int
    max_width: int
    activations: tuple[str, ...]
    init: str


def mlp_family(
    in_dim: int, out_dim: int, members: Sequence[Member], *, init: str = "glorot_normal"
) -> Family:
    """One padded MLP that can act as every member of ``members``.

    Parameters
    ----------
    in_dim, out_dim : int
        Input features and outputs.
    members : sequence of Member
        The architectures; the padded net has the largest depth and width among
        them and every activation they name.
    init : str
        Weight initialiser of the plain nets (:func:`landscape.models.get_initialiser`).

    Returns
    -------
    Family
        ``model.init(key)`` gives the padded net for the first member (useful for
        shapes); start real runs from :func:`init_runs`.
    """
    members = tuple(Member(*m) for m in members)
    if not members:
        raise ValueError("members: need at least one architecture")
    for m in members:
        if m.depth < 1 or m.width < 1:
            raise ValueError(f"members: depth and width must be positive, got {m}")
        models.get_activation(m.activation)  # raises ValueError naming the field
    max_depth = max(m.depth for m in members)
    max_width = max(m.width for m in members)
    activations = tuple(dict.fromkeys(m.activation for m in members))
    functions = tuple(models.get_activation(a) for a in activations)

    def act(z, select):
        if len(functions) == 1:
            return functions[0](z)
        return sum(select[k] * f(z) for k, f in enumerate(functions))

    def apply_fn(params, x, *, key=None):
        del key  # no dropout in a family
        if x.shape[-1] != in_dim:
            raise ValueError(f"x: expected {in_dim} input features, got shape {x.shape}")
        mask = jax.lax.stop_gradient(params["width_mask"])
        gate = jax.lax.stop_gradient(params["depth_gate"])
        select = jax.lax.stop_gradient(params["select"])
        layers = params["layers"]
        h = act(x @ layers[0]["w"] + layers[0]["b"][None, :], select) * mask[None, :]
        for i in range(1, max_depth):
            new = act(h @ layers[i]["w"] + layers[i]["b"][None, :], select) * mask[None, :]
            h = gate[i - 1] * new + (1 - gate[i - 1]) * h
        return h @ layers[-1]["w"] + layers[-1]["b"][None, :]

    fam = Family(None, in_dim, out_dim, max_depth, max_width, activations, init)

    def init_fn(key):
        return _init_one(fam, members[0], key)

    name = (f"mlp family ({in_dim}-[<={max_depth} x <={max_width}]-{out_dim}, "
            f"{'/'.join(activations)})")
    return fam._replace(model=models.Model(init_fn, apply_fn, name))


def run_keys(key: jax.Array, *, num_members: int, num_seeds: int) -> jax.Array:
    """Keys of ``num_members * num_seeds`` runs, member-major: run ``m * S + s`` has
    the key of seed ``s`` for every member (paired comparisons: the same seeds
    draw the same minibatch order)."""
    seeds = jax.random.split(key, num_seeds)
    return jnp.concatenate([seeds] * num_members)


def init_runs(fam: Family, members: Sequence[Member], *, keys: jax.Array):
    """Stacked starting parameters of runs ``members[i]`` with ``keys[i]``.

    Run ``i`` draws from ``jax.random.split(keys[i], 3)[0]``, the initialisation
    key :func:`landscape.train.train` derives from ``keys[i]``: layer ``l`` is
    the family's initialiser at the padded shape with the member's fan-in and
    fan-out (so its entries have the plain net's distribution), cut to the
    member's units. All draws have padded shapes, so a family of any size
    compiles its initialisers once. :func:`extract` recovers the plain net.
    """
    members = [Member(*m) for m in members]
    if len(members) != len(keys):
        raise ValueError(f"keys: {len(keys)} keys for {len(members)} members")
    runs = [_init_one(fam, m, key) for m, key in zip(members, keys, strict=True)]
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *runs)


def _init_one(fam: Family, m: Member, key: jax.Array) -> dict:
    D, W = fam.max_depth, fam.max_width
    if m.depth > D or m.width > W or m.activation not in fam.activations:
        raise ValueError(f"members: {m} does not fit the family (depth <= {D}, "
                         f"width <= {W}, activations {fam.activations})")
    w_init = models.get_initialiser(fam.init)
    dtype = jnp.result_type(float)
    shapes = [(fam.in_dim, W)] + [(W, W)] * (D - 1) + [(W, fam.out_dim)]
    layer_keys = jax.random.split(jax.random.split(key, 3)[0], D + 1)
    sizes = (fam.in_dim, *(m.width,) * m.depth, fam.out_dim)
    units = np.arange(W) < m.width
    layers = []
    for i, shape in enumerate(shapes):
        if i == D:  # output layer
            fans, rows, cols = (m.width, fam.out_dim), units, np.ones(fam.out_dim, bool)
        elif i < m.depth:
            fans = (sizes[i], m.width)
            rows, cols = (np.ones(fam.in_dim, bool) if i == 0 else units), units
        else:  # gated off
            fans, rows, cols = (W, W), np.zeros(W, bool), np.zeros(W, bool)
        draw = w_init(layer_keys[i], shape, fans[0], fans[1], dtype)
        keep = jnp.asarray(rows[:, None] & cols[None, :])
        layers.append({"w": jnp.where(keep, draw, 0), "b": jnp.zeros(shape[1], dtype)})
    return {
        "layers": layers,
        "width_mask": jnp.asarray(units, dtype),
        "depth_gate": jnp.asarray(np.arange(1, D) < m.depth, dtype),
        "select": jnp.asarray([a == m.activation for a in fam.activations], dtype),
    }


def extract(fam: Family, member: Member, params) -> list[dict]:
    """The plain ``models.mlp`` parameters of ``member`` inside padded ``params`` (one run)."""
    member = Member(*member)
    w, layers = member.width, params["layers"]
    plain = []
    for i in range(member.depth):
        rows = fam.in_dim if i == 0 else w
        plain.append({"w": layers[i]["w"][:rows, :w], "b": layers[i]["b"][:w]})
    plain.append({"w": layers[-1]["w"][:w, :], "b": layers[-1]["b"]})
    return plain


class FamilyRuns(NamedTuple):
    """Final metrics of ``M`` members times ``S`` seeds, as numpy arrays of shape (M, S)."""

    members: tuple[Member, ...]
    num_params: np.ndarray  # (M,) int: parameters of each member's plain net
    train_loss: np.ndarray  # (M, S)
    train_accuracy: np.ndarray  # (M, S)
    val_loss: np.ndarray  # (M, S)
    val_accuracy: np.ndarray  # (M, S)
    test_loss: np.ndarray  # (M, S)
    test_accuracy: np.ndarray  # (M, S)
    diverged: np.ndarray  # (M, S) bool


def train_family(
    members: Sequence[Member], ds: data.Dataset, config: train.TrainConfig, *, key: jax.Array,
    num_seeds: int, learning_rates: Sequence[float] | None = None, progress: bool = False,
) -> FamilyRuns:
    """Train every member for ``num_seeds`` seeds in one compiled program.

    Parameters
    ----------
    members : sequence of Member
        May repeat an architecture (e.g. with different ``learning_rates``).
    ds : Dataset
        A classification data set.
    config : TrainConfig
        Shared by all runs; no ``l2`` or ``weight_decay`` (:func:`check_training`).
    key : PRNG key
        Split into the seeds; seed ``s`` of every member uses the same key.
    learning_rates : sequence of float, optional
        One peak learning rate per member (default ``config.learning_rate``).
    """
    members = tuple(Member(*m) for m in members)
    check_training(config)
    if learning_rates is not None and len(learning_rates) != len(members):
        raise ValueError(f"learning_rates: {len(learning_rates)} rates for {len(members)} members")
    fam = mlp_family(ds.in_dim, ds.out_dim, members)
    keys = run_keys(key, num_members=len(members), num_seeds=num_seeds)
    runs = [m for m in members for _ in range(num_seeds)]
    lrs = None
    if learning_rates is not None:
        lrs = np.repeat(np.asarray(learning_rates, float), num_seeds)
    prob = from_model(fam.model, ds)
    result = train.train_seeds(prob, config, keys=keys, learning_rates=lrs,
                               init_params=init_runs(fam, runs, keys=keys), progress=progress)
    test = evaluate(fam.model, result.params, ds.test, loss=prob.loss)
    shape = (len(members), num_seeds)

    def last(curve):
        return np.asarray(curve)[:, -1].reshape(shape)

    c = result.curves
    return FamilyRuns(
        members, np.asarray([m.num_params(ds.in_dim, ds.out_dim) for m in members]),
        last(c.train_loss), last(c.train_accuracy), last(c.val_loss), last(c.val_accuracy),
        test["loss"].reshape(shape), test["accuracy"].reshape(shape),
        np.asarray(result.diverged).reshape(shape),
    )


def check_training(config: train.TrainConfig) -> None:
    """Refuse penalties that would act on a family's constant leaves."""
    for field in ("l2", "weight_decay"):
        if getattr(config, field):
            raise ValueError(f"{field}: must be 0 for a model family (the penalty would move "
                             f"its masks); got {getattr(config, field)}")


@functools.lru_cache(maxsize=32)
def _metrics(apply, loss: str):
    return jax.jit(jax.vmap(objectives.make_metrics(apply, loss=loss), in_axes=(0, None)))


def evaluate(model: models.Model, params, batch: data.Batch, *, loss: str = "cross_entropy"):
    """Loss and accuracy of every run (leading axis of ``params``) on ``batch``, as numpy."""
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    m = _metrics(model.apply, loss)(params, data.as_dtype(batch, dtype, labels=True))
    return {k: np.asarray(v) for k, v in m.items()}


def repeat_train(ds: data.Dataset, x: np.ndarray, y: np.ndarray, *, length: int) -> data.Dataset:
    """``ds`` with the training split replaced by ``(x, y)`` repeated to ``length`` examples.

    ``length`` must be a multiple of ``len(x)``, so that every example appears
    equally often and full-training-set means equal those over ``(x, y)``.
    """
    n = len(x)
    if n == 0 or length % n:
        raise ValueError(f"length: must be a positive multiple of the {n} examples, got {length}")
    reps = length // n
    return ds.replace(x_train=np.concatenate([x] * reps), y_train=np.concatenate([y] * reps))


def mean_and_se(values, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error (sample std / sqrt(n)) along ``axis``."""
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    se = np.std(values, axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(
        np.mean(values, axis=axis))
    return np.mean(values, axis=axis), se
