"""A Flax Linen CNN with BatchNorm and Dropout: spectrum, classification of the end
point and a 2-D filter-normalised slice (seconds at this size).

``problem()`` returns the Problem (``--problem examples.flax_linen_cnn:problem``).
``main()`` trains one seed (batch statistics and dropout in training), then, in
evaluation mode (running statistics, no dropout): the dense Hessian spectrum of
the training loss at the end point, its index (negative eigenvalues beyond a
tolerance) with the gradient norm, and the loss on a plane spanned by two
filter-normalised random directions (Li et al. 2018), normalised along the
kernels' output axis from the problem's layout.

Run: ``python -m examples.flax_linen_cnn``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from landscape import curvature, data, surfaces, train
from landscape.adapters.flax_linen import from_linen
from landscape.problem import Problem, weight_axes


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


def main(num_steps: int = 200, grid: int = 9, progress: bool = False) -> dict:
    prob = problem()
    config = train.TrainConfig(optimizer="adam", learning_rate=0.01, num_steps=num_steps,
                               eval_every=num_steps // 4, batch_size=32)
    run = train.train(prob, config, key=jax.random.key(0), progress=progress)
    params, state = run.params, run.state
    loss = prob.loss_fn(state)  # evaluation mode: running statistics, dropout off
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    batch = data.Batch(jnp.asarray(prob.data.x_train, dtype), jnp.asarray(prob.data.y_train))
    hessian = np.asarray(curvature.dense_hessian(loss, params, batch), np.float64)
    eigs = np.linalg.eigvalsh(0.5 * (hessian + hessian.T))
    tol = 1e-4 * max(abs(eigs).max(), 1e-12)
    index = int(np.sum(eigs < -tol))
    grad = float(curvature.grad_norm(loss, params, batch))
    x0, unravel = ravel_pytree(params)
    d = surfaces.random_directions(jax.random.key(1), params, num=2,
                                   weight_axes=weight_axes(params, prob.layout))
    alphas = jnp.linspace(-1.0, 1.0, grid, dtype=dtype)
    plane = surfaces.slice_2d(lambda v, b: loss(unravel(v), b), x0, d[0], d[1], alphas, alphas,
                              batch)
    out = {"num_params": prob.num_params(params), "lambda_max": float(eigs[-1]),
           "lambda_min": float(eigs[0]), "index": index, "grad_norm": grad,
           "slice_min": float(jnp.min(plane.losses)), "slice_center": float(
               plane.losses[grid // 2, grid // 2])}
    print(f"{prob.name}: {out['num_params']} parameters; lambda_max {out['lambda_max']:.4g}, "
          f"lambda_min {out['lambda_min']:.3g}, {index} negative eigenvalues beyond "
          f"{tol:.2g}, |grad| {grad:.3g}; slice loss at the centre {out['slice_center']:.4f}")
    return out


if __name__ == "__main__":
    main(progress=True)
