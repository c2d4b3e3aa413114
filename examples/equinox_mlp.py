"""Seeds of an Equinox MLP, aligned by weight matching through the Equinox layout.

``problem()`` returns the Problem, so scripts take it as
``--problem examples.equinox_mlp:problem``. ``main()`` runs the seed study
(:func:`landscape.studies.seeds.run`) at a tiny size: a few seeds, every pair
compared before and after weight matching (relative distance and the loss barrier
on the straight line between the two solutions).

Run: ``python -m examples.equinox_mlp``.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from landscape import data
from landscape.adapters.equinox import from_equinox
from landscape.problem import Problem
from landscape.studies import seeds


def problem(num_samples: int = 300, width: int = 16, depth: int = 2) -> Problem:
    """An Equinox MLP (tanh) on a 4-class gaussian mixture."""
    ds = data.gaussian_mixture(num_samples=num_samples, num_classes=4, dim=6, seed=0)
    return from_equinox(
        lambda key: eqx.nn.MLP(ds.in_dim, ds.out_dim, width, depth, activation=jnp.tanh,
                               key=key),
        ds, name=f"equinox MLP {width}x{depth}",
    )


def main(num_seeds: int = 3, num_steps: int = 300, run_dir=None, progress: bool = False,
         measure_curvature: bool = False) -> seeds.Result:
    """Run the seed study at a tiny size (``run_dir``: where to save it, none to keep it
    in memory) and print its summary."""
    config = seeds.Config(num_seeds=num_seeds, optimizer="adam", learning_rate=0.01,
                          num_steps=num_steps, batch_size=32,
                          eval_every=max(1, num_steps // 3), num_interp_pairs=1,
                          num_interp_points=11, lanczos_iters=10, slq_probes=1, slq_iters=10,
                          trace_probes=4, measure_curvature=measure_curvature)
    result = seeds.run(problem(), config, run_dir, progress=progress)
    print(seeds.format_summary(result.summary))
    return result


if __name__ == "__main__":
    main(progress=True)
