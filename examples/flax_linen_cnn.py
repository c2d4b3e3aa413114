"""A Flax Linen CNN with BatchNorm and Dropout: spectrum, classification of the end
point and a 2-D filter-normalised slice.

``problem()`` returns the Problem (``--problem examples.flax_linen_cnn:problem``).
``main()`` runs, at a tiny size, the spectrum study
(:func:`landscape.studies.spectrum.run`: curvature in evaluation mode, running
statistics and no dropout), the landscape study
(:func:`landscape.studies.landscape_plot.run`, whose random plane is spanned by two
filter-normalised directions, Li et al. 2018, normalised along the kernels' output
axis from the problem's layout), and classifies the trained point with
:func:`landscape.critical.classify` (dense Hessian of the eval-mode loss).

Run: ``python -m examples.flax_linen_cnn``.
"""

from __future__ import annotations

from pathlib import Path

import flax.linen as nn
import jax

from landscape import critical, data, train
from landscape.adapters.flax_linen import from_linen
from landscape.problem import Problem
from landscape.studies import landscape_plot, spectrum


class CNN(nn.Module):
    """Conv (1-D, 4 channels) -> BatchNorm -> ReLU -> Dropout -> Dense."""

    channels: int = 4

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(self.channels, kernel_size=(3,))(x[..., None])
        x = nn.BatchNorm(use_running_average=not train)(x)
        x = nn.Dropout(0.1, deterministic=not train)(nn.relu(x))
        return nn.Dense(3)(x.reshape((x.shape[0], -1)))


def problem(num_samples: int = 200) -> Problem:
    ds = data.gaussian_mixture(num_samples=num_samples, num_classes=3, dim=6, seed=1)
    return from_linen(CNN(), ds, name="flax CNN (BatchNorm, Dropout)")


def main(num_steps: int = 200, grid: int = 9, run_dir=None, progress: bool = False) -> dict:
    """Run both studies and the classification at a tiny size (``run_dir``: where to save
    the studies, in sub-directories, none to keep them in memory); return
    ``{"spectrum": Result, "landscape": Result, "classification": Classification}``."""
    prob = problem()
    sub = (lambda name: None) if run_dir is None else (lambda name: Path(run_dir) / name)
    spec = spectrum.run(prob, spectrum.Config(
        learning_rate=0.1, num_steps=num_steps, eval_every=max(1, num_steps // 4), num_top=3,
        lanczos_iters=20, slq_iters=10, slq_probes=2, layer_iters=10, spread_subsamples=0,
        gauss_newton=False), sub("spectrum"), progress=progress)
    print(spectrum.format_summary(spec.summary))
    plot = landscape_plot.run(prob, landscape_plot.Config(
        learning_rate=0.01, num_steps=num_steps, eval_every=max(1, num_steps // 4),
        batch_size=32, grid_points=grid, num_interp_points=5, bezier_steps=5),
        sub("landscape"), progress=progress)
    print(landscape_plot.format_summary(plot.summary))
    # the trained point: one seed (batch statistics and dropout in training), then the
    # eval-mode loss (running statistics, dropout off)
    config = train.TrainConfig(optimizer="adam", learning_rate=0.01, num_steps=num_steps,
                               eval_every=max(1, num_steps // 4), batch_size=32)
    run = train.train(prob, config, key=jax.random.key(0), progress=progress)
    loss = prob.loss_fn(run.state)
    dtype = jax.tree_util.tree_leaves(run.params)[0].dtype
    batch = prob.data.batch("train", dtype)
    found = critical.classify(loss, run.params, batch, key=jax.random.key(1), method="dense")
    print(f"{prob.name}: the trained point is {found.kind} (lambda_min "
          f"{float(found.lambda_min):.3g}, lambda_max {float(found.lambda_max):.4g}, "
          f"{float(found.num_negative):.0f} eigenvalues below -tau, |grad| "
          f"{float(found.grad_norm):.3g})")
    return {"spectrum": spec, "landscape": plot, "classification": found}


if __name__ == "__main__":
    main(progress=True)
