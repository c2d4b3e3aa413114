"""Seeds of an Equinox MLP, aligned by weight matching (seconds at this size).

``problem()`` returns the Problem, so scripts take it as
``--problem examples.equinox_mlp:problem``. ``main()`` trains a few seeds and
compares every pair before and after weight matching: the relative distance and
the loss barrier on the straight line between the two solutions.

Run: ``python -m examples.equinox_mlp``.
"""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from landscape import alignment, data, surfaces, train
from landscape.adapters.equinox import from_equinox
from landscape.problem import Problem


def problem(num_samples: int = 300, width: int = 16, depth: int = 2) -> Problem:
    """An Equinox MLP (tanh) on a 4-class gaussian mixture."""
    ds = data.gaussian_mixture(num_samples=num_samples, num_classes=4, dim=6, seed=0)
    return from_equinox(
        lambda key: eqx.nn.MLP(ds.in_dim, ds.out_dim, width, depth, activation=jnp.tanh,
                               key=key),
        ds, name=f"equinox MLP {width}x{depth}",
    )


def main(num_seeds: int = 3, num_steps: int = 300, progress: bool = False) -> list[dict]:
    prob = problem()
    config = train.TrainConfig(optimizer="adam", learning_rate=0.01, num_steps=num_steps,
                               eval_every=num_steps // 3, batch_size=32)
    runs = train.train_seeds(prob, config, keys=jax.random.split(jax.random.key(0), num_seeds),
                             progress=progress)
    alignment.require_dense_chain(prob.layout)
    loss = prob.loss_fn()
    x = jnp.asarray(prob.data.x_train, jax.tree_util.tree_leaves(runs.params)[0].dtype)
    batch = data.Batch(x, jnp.asarray(prob.data.y_train))
    seeds = [jax.tree_util.tree_map(lambda a, i=i: a[i], runs.params) for i in range(num_seeds)]
    unravel = ravel_pytree(seeds[0])[1]

    def f(v, b):
        return loss(unravel(v), b)

    rows = []
    for i, j in itertools.combinations(range(num_seeds), 2):
        match = alignment.weight_matching(seeds[i], seeds[j], key=jax.random.key(1),
                                          layout=prob.layout)
        row = {"pair": (i, j)}
        for name, other in (("before", seeds[j]), ("after", match.params)):
            line = surfaces.interpolate(f, ravel_pytree(seeds[i])[0], ravel_pytree(other)[0],
                                        batch, num_points=11)
            row[f"distance_{name}"] = float(alignment.relative_distance(seeds[i], other))
            row[f"barrier_{name}"] = float(surfaces.barrier(line.ts, line.losses)[0])
        rows.append(row)
        print(f"seeds {i}-{j}: distance {row['distance_before']:.3f} -> "
              f"{row['distance_after']:.3f}, barrier {row['barrier_before']:.4f} -> "
              f"{row['barrier_after']:.4f} nats")
    return rows


if __name__ == "__main__":
    main(progress=True)
