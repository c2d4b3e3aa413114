"""Small problems shared by the core's tests (built once per process, cached)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, data, models, objectives


@functools.cache
def mlp_problem(dtype=jnp.float64, trained=False):
    """A tanh MLP 5-8-6-3 (123 parameters) on 40 examples: at its initialisation (a
    saddle) or after 300 steps of full-batch gradient descent. Returns ``(loss, params,
    batch, op, model)``; data and parameters are float32-representable, so the float64
    problem is exactly the float32 one evaluated in float64."""
    k_data, k_init, k_lab = jax.random.split(jax.random.key(11), 3)
    model = models.mlp(5, (8, 6), 3, activation="tanh", dtype=jnp.float64)
    x = jax.random.normal(k_data, (40, 5), jnp.float64).astype(jnp.float32)
    y = jax.random.randint(k_lab, (40,), 0, 3)
    loss = objectives.make_loss(model.apply)
    params = model.init(k_init)
    if trained:
        batch64 = data.Batch(x.astype(jnp.float64), y)
        step = lambda _, p: jax.tree_util.tree_map(
            lambda a, g: a - 0.5 * g, p, jax.grad(loss)(p, batch64))
        params = jax.jit(lambda p: jax.lax.fori_loop(0, 300, step, p))(params)
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32).astype(dtype), params)
    batch = data.Batch(x.astype(dtype), y)
    op = curvature.hessian_operator(loss, params, batch)
    return loss, params, batch, op, model


@functools.cache
def mlp_dense(trained=False):
    """The float64 dense Hessian of :func:`mlp_problem`, from HVP columns."""
    return np.asarray(mlp_problem(jnp.float64, trained)[3].dense())
