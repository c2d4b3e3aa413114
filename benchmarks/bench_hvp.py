"""Cost of one Hessian-vector product against one gradient, on mnist1d-sized data.

For MLPs of about 2k, 85k and 1.1M parameters on the mnist1d training set (3500
examples of 40 features), times a jitted gradient and a jitted forward-over-reverse
HVP: the first call (compile) apart, then the median and spread of steady-state calls
with ``block_until_ready``. Prints the ratio HVP / gradient, which theory puts at
a small constant (2-4).

    python benchmarks/bench_hvp.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, data, models, objectives

SIZES = {"2k": (40,), "85k": (280, 250), "1.1M": (1024, 1024)}


def _time(fn, *args, repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return compile_s, np.array(times)


def main(repeats: int = 20) -> list[dict]:
    ds = data.mnist1d()
    batch = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    print(
        f"jax {jax.__version__} on {jax.devices()[0].device_kind} "
        f"({platform.processor() or platform.machine()}), "
        f"{len(ds.x_train)} examples, float32, {repeats} repeats"
    )
    print(f"{'model':>6} {'params':>9} {'grad ms':>16} {'hvp ms':>16} {'hvp/grad':>9}")
    rows = []
    for label, hidden in SIZES.items():
        model = models.mlp(ds.in_dim, hidden, ds.out_dim)
        params = model.init(jax.random.key(0))
        loss = objectives.make_loss(model.apply)
        op = curvature.hessian_operator(loss, params, batch)
        f, x0, _ = curvature.flat_loss(loss, params)
        grad = jax.jit(jax.grad(f))
        hvp = jax.jit(op.matvec)
        v = jax.random.normal(jax.random.key(1), x0.shape, x0.dtype)
        g_compile, g_times = _time(grad, x0, batch, repeats=repeats)
        h_compile, h_times = _time(hvp, v, *op.args, repeats=repeats)
        g_med, h_med = np.median(g_times), np.median(h_times)
        iqr = lambda t: np.subtract(*np.percentile(t, [75, 25])) * 1e3
        row = dict(
            model=label,
            params=int(x0.size),
            grad_ms=g_med * 1e3,
            grad_iqr_ms=iqr(g_times),
            hvp_ms=h_med * 1e3,
            hvp_iqr_ms=iqr(h_times),
            ratio=h_med / g_med,
            grad_compile_s=g_compile,
            hvp_compile_s=h_compile,
        )
        rows.append(row)
        print(
            f"{label:>6} {row['params']:>9} {row['grad_ms']:>9.2f} +-{row['grad_iqr_ms']:<5.2f}"
            f"{row['hvp_ms']:>9.2f} +-{row['hvp_iqr_ms']:<5.2f} {row['ratio']:>9.2f}"
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeats", type=int, default=20, help="steady-state calls per measurement"
    )
    main(**vars(parser.parse_args()))
