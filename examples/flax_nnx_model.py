"""A Flax NNX MLP with Dropout: steps to a target loss across batch sizes (seconds at
this size).

``problem()`` returns the Problem (``--problem examples.flax_nnx_model:problem``).
``main()`` trains two seeds at each batch size with the same learning rate and
reports the median number of steps (and examples) until the training loss first
falls below the target.

Run: ``python -m examples.flax_nnx_model``.
"""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from landscape import data, train
from landscape.adapters.flax_nnx import from_nnx
from landscape.problem import Problem


class MLP(nnx.Module):
    def __init__(self, in_dim: int, out_dim: int, rngs: nnx.Rngs, width: int = 32):
        self.hidden = nnx.Linear(in_dim, width, rngs=rngs)
        self.drop = nnx.Dropout(0.1, rngs=rngs)
        self.out = nnx.Linear(width, out_dim, rngs=rngs)

    def __call__(self, x):
        return self.out(self.drop(nnx.relu(self.hidden(x))))


def problem(num_samples: int = 400) -> Problem:
    ds = data.gaussian_mixture(num_samples=num_samples, num_classes=4, dim=8, seed=2)
    return from_nnx(lambda key: MLP(ds.in_dim, ds.out_dim, nnx.Rngs(key)), ds,
                    name="nnx MLP (dropout)")


def main(batch_sizes=(8, 32, 128), target: float = 0.5, num_steps: int = 400,
         progress: bool = False) -> dict:
    prob = problem()
    keys = jax.random.split(jax.random.key(0), 2)
    out = {}
    for b in batch_sizes:
        config = train.TrainConfig(optimizer="momentum", learning_rate=0.05,
                                   num_steps=num_steps, eval_every=10, batch_size=b)
        runs = train.train_seeds(prob, config, keys=keys, progress=progress)
        loss = np.asarray(runs.curves.train_loss)
        steps = np.asarray(runs.curves.step)
        first = [int(steps[np.argmax(row < target)]) if np.any(row < target) else np.inf
                 for row in loss]
        out[b] = float(np.median(first))
        print(f"batch {b:4d}: {out[b]:.0f} steps ({out[b] * b:.0f} examples) to loss {target}")
    return out


if __name__ == "__main__":
    main(progress=True)
