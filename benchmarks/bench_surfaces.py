"""A 51x51 loss grid: compiled chunks of points against a Python loop over grid points.

An MLP of 84k parameters (40-280-250-10) on the full mnist1d training set (3500
examples), two filter-normalised random directions, the grid ``[-1, 1]^2`` with
51x51 = 2601 points. Ways to evaluate it, compile time kept apart from every
steady-state figure (``block_until_ready`` throughout):

* ``lax.map``: :func:`landscape.surfaces.slice_2d` with the points of each chunk
  run one after another inside one compiled program (the default on CPU);
* ``vmap``: the same with the points of a chunk vmapped, at the chunk size that
  :func:`landscape.surfaces.chunk_size_for` derives from a memory budget (the
  default on accelerators), and at the sizes of ``--chunk-sizes``;
* ``loop``: a jitted loss of one point called from a Python loop over all grid
  points, the way loss-landscape tools evaluate grids;
* ``loop+batches``: the same loop, each point evaluated over minibatches of 128
  examples and averaged, as those tools do with a data loader. It is timed on
  ``--batched-points`` points and extrapolated to the grid; the printout says so.

The methods run in ``--rounds`` rounds, in turn, and each reports its best round,
so that a machine whose load changes over time treats them alike. The loop's
values are checked against the chunked grid.

    python benchmarks/bench_surfaces.py [--grid 51] [--rounds 2] [--chunk-sizes 16]
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, data, directions, models, objectives, surfaces

HIDDEN = (280, 250)


def _timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - start, out


def main(grid: int = 51, rounds: int = 2, batched_points: int = 40, memory_mib: int = 1024,
         chunk_sizes: tuple[int, ...] = ()) -> dict:
    ds = data.mnist1d()
    batch = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    model = models.mlp(ds.in_dim, HIDDEN, ds.out_dim)
    params = model.init(jax.random.key(0))
    loss = objectives.make_loss(model.apply)
    f, x0, _ = curvature.flat_loss(loss, params)
    d = directions.random_directions(jax.random.key(1), params, num=2)
    alphas = betas = jnp.linspace(-1.0, 1.0, grid)
    num = grid * grid
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind} "
          f"({platform.processor() or platform.machine()}, {jax.local_device_count()} device), "
          f"{x0.dtype}; {model.name}: {x0.size} parameters; {len(ds.x_train)} training "
          f"examples; {grid}x{grid} = {num} points; best of {rounds} rounds")

    # The compiled program of a chunk depends on the chunk size, not on the grid, so
    # a grid of just over one chunk compiles it before the full grid is timed.
    auto = surfaces.chunk_size_for(f, x0, batch, memory_bytes=memory_mib * 2**20,
                                   max_chunk=num, vectorize=True)
    methods = {}
    compile_s = {}
    for vectorize, c in [(False, surfaces.SEQUENTIAL_CHUNK),
                         *[(True, c) for c in dict.fromkeys([auto, *chunk_sizes])]]:
        c = min(c, num)
        name = f"vmap, chunk {c}" + (" (auto)" if c == auto else "") if vectorize \
            else f"lax.map, chunk {c}"
        warm = jnp.linspace(-1.0, 1.0, int(np.ceil(np.sqrt(c))))
        compile_s[name], _ = _timed(lambda c=c, v=vectorize, warm=warm: surfaces.slice_2d(
            f, x0, d[0], d[1], warm, warm, batch, chunk_size=c, vectorize=v).losses)
        methods[name] = lambda c=c, v=vectorize: surfaces.slice_2d(
            f, x0, d[0], d[1], alphas, betas, batch, chunk_size=c, vectorize=v).losses

    point = jax.jit(lambda x, d1, d2, a, b, part: f(x + a * d1 + b * d2, part))
    ga, gb = np.meshgrid(np.asarray(alphas), np.asarray(betas), indexing="ij")
    coords = np.stack([ga.ravel(), gb.ravel()], axis=1)
    compile_s["loop"], _ = _timed(lambda: point(x0, d[0], d[1], 0.0, 0.0, batch))
    # float() waits for each point, as a loop that stores or logs every value does.
    methods["loop"] = lambda: np.array(
        [float(point(x0, d[0], d[1], a, b, batch)) for a, b in coords])

    size = 128
    stacked, remainder = curvature.split_batches(batch, size)
    nb = jax.tree_util.tree_leaves(stacked)[0].shape[0]
    parts = [jax.tree_util.tree_map(lambda a, j=j: a[j], stacked) for j in range(nb)]
    if remainder is not None:
        parts.append(remainder)
    weights = [len(p.y) / len(batch.y) for p in parts]
    sub = np.linspace(0, num - 1, min(batched_points, num)).astype(int)

    def loop_batches():
        return np.array([sum(w * float(point(x0, d[0], d[1], *coords[i], p))
                             for w, p in zip(weights, parts, strict=True)) for i in sub])

    compile_s["loop+batches"], _ = _timed(loop_batches)  # compiles the remainder's shape
    methods["loop+batches"] = loop_batches

    times = {name: [] for name in methods}
    values = {}
    for _ in range(rounds):
        for name, fn in methods.items():
            t, values[name] = _timed(fn)
            times[name].append(t)
            print(f"  {name:<22} {t:8.2f} s", flush=True)
    best = {name: min(ts) for name, ts in times.items()}
    best["loop+batches"] *= num / len(sub)  # extrapolated to the whole grid

    reference = np.asarray(values[next(iter(methods))]).ravel()
    print(f"{'method':<22} {'compile s':>9} {'grid s':>8} {'ms/point':>9}")
    for name in methods:
        note = f"  (timed on {len(sub)} points, extrapolated)" if name == "loop+batches" else ""
        print(f"{name:<22} {compile_s[name]:9.2f} {best[name]:8.2f} "
              f"{1e3 * best[name] / num:9.2f}{note}")
    err = float(np.max(np.abs(values["loop"] - reference)))
    err_b = float(np.max(np.abs(values["loop+batches"] - reference[sub])))
    print(f"max |loop - chunks| = {err:.1e}, max |loop+batches - chunks| = {err_b:.1e} "
          f"({x0.dtype} rounding)")
    default = (f"vmap, chunk {auto} (auto)" if surfaces.default_vectorize()
               else f"lax.map, chunk {surfaces.SEQUENTIAL_CHUNK}")
    chunked = [n for n in methods if n.startswith(("vmap", "lax.map"))]
    fastest = min(chunked, key=best.get)
    for name in dict.fromkeys([default, fastest]):
        print(f"ratio loop / [{name}]: {best['loop'] / best[name]:.2f}x; "
              f"loop+batches / [{name}]: {best['loop+batches'] / best[name]:.2f}x")
    return {"num_params": int(x0.size), "auto_chunk": auto, "grid_s": best,
            "compile_s": compile_s}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", type=int, default=51, help="points per axis")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every method")
    parser.add_argument("--batched-points", type=int, default=40,
                        help="points the minibatched loop is timed on (then extrapolated)")
    parser.add_argument("--memory-mib", type=int, default=1024,
                        help="memory for one vmapped chunk")
    parser.add_argument("--chunk-sizes", default="",
                        help="vmapped chunk sizes timed besides the automatic one, e.g. 1,16")
    args = parser.parse_args()
    sizes = tuple(int(c) for c in args.chunk_sizes.split(",") if c)
    main(args.grid, args.rounds, args.batched_points, args.memory_mib, sizes)
