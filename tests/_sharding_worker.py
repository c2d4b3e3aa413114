"""Subprocess for test_sharding: the data-set operators, Lanczos, noise scales and a
landscape grid split over forced host devices, against one device, in float64.

Run with XLA_FLAGS=--xla_force_host_platform_device_count=4; writes a JSON report:
for each quantity the largest difference relative to max(|reference|, 1), and the
number of devices its result lives on.
"""

import json
import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from landscape import (  # noqa: E402
    curvature,
    data,
    lanczos,
    models,
    noise,
    objectives,
    surfaces,
)

N = 43  # examples: not a multiple of the 4 devices


def rel_diff(a, b):
    worst = 0.0
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        assert x.shape == y.shape, (x.shape, y.shape)
        scale = max(float(np.max(np.abs(y))) if y.size else 0.0, 1.0)
        worst = max(worst, float(np.max(np.abs(x - y))) / scale if x.size else 0.0)
    return worst


def num_devices(tree):
    return len(jax.tree_util.tree_leaves(tree)[0].sharding.device_set)


def main(path):
    k_x, k_y, k_init, k_v, k_dir = jax.random.split(jax.random.key(0), 5)
    model = models.mlp(3, (4,), 2, activation="tanh")  # 26 parameters
    batch = data.Batch(jax.random.normal(k_x, (N, 3)), jax.random.randint(k_y, (N,), 0, 2))
    loss = objectives.make_loss(model.apply)
    params = model.init(k_init)
    one = jax.devices()[:1]
    diffs, used = {}, {}

    def compare(name, sharded, single):
        diffs[name] = rel_diff(sharded, single)
        used[name] = num_devices(sharded)

    # the data-set Hessian over chunks of 4 examples: 10 chunks padded to 12 on 4 devices,
    # and the 3 examples left over; Lanczos on it with a full Krylov space gives the
    # extreme eigenvalues to rounding, against the single-device operator's dense ones
    ops = [curvature.dataset_hessian_operator(loss, params, batch, batch_size=4, devices=d)
           for d in (None, one)]
    whole = curvature.hessian_operator(loss, params, batch)
    v = jax.random.normal(k_v, (whole.size,))
    eigs = lanczos.extreme_eigs(num_iters=whole.size, num_eigs=2, which="both",
                                check_every=whole.size)
    op = ops[0]
    hv, res = jax.jit(lambda v: (op.matvec(v, *op.args), eigs(op.matvec, v, *op.args)))(v)
    single = ops[1]
    hv_single, hv_whole, dense = jax.jit(lambda v: (
        single.matvec(v, *single.args), whole.matvec(v, *whole.args), single.dense()))(v)
    compare("hessian_hvp", hv, hv_single)
    diffs["hessian_hvp_vs_whole_batch"] = rel_diff(hv, hv_whole)
    lam = np.linalg.eigvalsh(np.asarray(dense))
    compare("lanczos_eigvals", res.eigvals, np.concatenate([lam[:2], lam[-2:]]))
    diffs["lanczos_status"] = float(res.status)

    # noise scales and per-example gradients
    compare("simple_noise_scale", noise.simple_noise_scale(loss, params, batch, chunk_size=4),
            noise.simple_noise_scale(loss, params, batch, chunk_size=4, devices=one))
    compare("per_example_grads", noise.per_example_grads(loss, params, batch, chunk_size=4),
            noise.per_example_grads(loss, params, batch, chunk_size=4, devices=one))

    # a 5 x 3 grid: 15 points, 2 per device and call, padded to 16
    f, x0, _ = curvature.flat_loss(loss, params)
    d1, d2 = jax.random.normal(k_dir, (2, x0.size))
    grid = [surfaces.slice_2d(f, x0, d1, d2, jnp.linspace(-1.0, 1.0, 5),
                              jnp.linspace(-0.5, 0.5, 3), batch, chunk_size=2, devices=d)
            for d in (None, one)]
    compare("grid_2d", grid[0].losses, grid[1].losses)
    diffs["grid_2d_shape_ok"] = float(grid[0].losses.shape == (5, 3))

    with open(path, "w") as out:
        json.dump({"device_count": jax.device_count(), "diffs": diffs, "devices_used": used},
                  out, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
