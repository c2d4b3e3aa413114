"""A Flax NNX MLP with Dropout: steps to a target loss across batch sizes.

``problem()`` returns the Problem (``--problem examples.flax_nnx_model:problem``).
``main()`` runs the batch-size study (:func:`landscape.studies.batch_size.run`) at a
tiny size: a few batch sizes, two seeds each, the learning rate of each batch size
chosen from a short grid, and the median number of steps (and examples) until the
training loss first falls below the target.

Run: ``python -m examples.flax_nnx_model``.
"""

from __future__ import annotations

from flax import nnx

from landscape import data
from landscape.adapters.flax_nnx import from_nnx
from landscape.problem import Problem
from landscape.studies import batch_size


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


def main(min_batch_size: int = 8, batch_factor: int = 4, max_batch_size: int | None = 128,
         target: float = 0.5, max_steps: int = 400, lr_factors=(0.5, 1.0), run_dir=None,
         progress: bool = False) -> batch_size.Result:
    """Run the batch-size study at a tiny size (batch sizes ``min_batch_size *
    batch_factor**k`` up to ``max_batch_size``; ``run_dir``: where to save it, none to
    keep it in memory; ``lr_factors``: the rates tried, multiples of 0.05 at batch
    size 32 scaled by the square root of the batch size) and print its summary."""
    config = batch_size.Config(
        optimizer="momentum", min_batch_size=min_batch_size, batch_factor=batch_factor,
        max_batch_size=max_batch_size, num_seeds=2, base_lr=0.05, base_batch=32,
        lr_factors=tuple(lr_factors), lr_extensions=0, target=target, min_steps=20,
        max_epochs=2.0, max_steps=max_steps, num_evals=10, timing_steps=5,
        timing_repeats=2, timing_min_seconds=0.001, dataset_sizes=(100,),
        size_batch=min_batch_size, noise_batch=min_batch_size, noise_points=2,
        noise_samples=8, two_batch_sizes=(4, 32), two_batch_count=4, chunk_size=64)
    result = batch_size.run(problem(), config, run_dir, progress=progress)
    print(batch_size.format_summary(result.summary))
    return result


if __name__ == "__main__":
    main(progress=True)
