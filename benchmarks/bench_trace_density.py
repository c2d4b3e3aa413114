"""Hutchinson trace and SLQ spectral density: ours against PyHessian, equal probe counts.

For an MLP on the full mnist1d training set (float32; at initialisation, or after
``--steps`` Adam steps), the same weights go to

* ``landscape.stochtrace.hutchinson_trace`` and ``landscape.stochtrace.slq`` (jitted,
  forward-over-reverse HVPs, probes in a ``lax.map``),
* PyHessian's ``hessian.trace`` and ``hessian.density`` on a ``torch.nn.Sequential``
  holding the same weights (PyTorch double-backward HVPs, Python loops).

Both sides use Rademacher probes, the same number of probes and, for the density, the
same number of Lanczos steps with full reorthogonalisation. PyHessian's ``trace``
stops when the running mean changes by less than ``tol``; it runs here with
``tol=-1`` so that it takes exactly ``--trace-probes`` probes. Its ``density`` calls
``torch.eig``, which PyTorch 2 removed; a shim with ``torch.linalg.eigh`` (the
tridiagonal matrix is symmetric) stands in for it and nothing else is changed.

Printed: wall time (compile and warm-up excluded: every jitted function runs once
first), the trace estimate with its standard error over probes, and from the
densities the first two normalised moments ``tr(H)/n`` and ``tr(H^2)/n`` and the
largest Ritz value.

    python benchmarks/bench_trace_density.py [--sizes 85k] [--trace-probes 20]
        [--slq-probes 4] [--slq-iters 40] [--steps 0] [--rounds 5]

With ``--rounds R`` the trace is timed R times on each side, alternating call by call,
and the medians are reported (the load of a shared machine then falls on both alike).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, data, models, objectives, stochtrace

try:  # run as a script or imported from run_all
    from bench_torch_hvp import torch_mlp
except ImportError:  # pragma: no cover
    from benchmarks.bench_torch_hvp import torch_mlp

SIZES = {"85k": (280, 250), "1.1M": (1024, 1024)}


def _eig_shim(torch):
    """``torch.eig(T, eigenvectors=True)`` for a symmetric ``T``, in the old return format."""

    def eig(mat, eigenvectors=False):
        vals, vecs = torch.linalg.eigh(mat)
        return torch.stack([vals, torch.zeros_like(vals)], dim=1), vecs

    return eig


def _timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start


def _params(hidden, ds, steps, seed):
    model = models.mlp(ds.in_dim, hidden, ds.out_dim)
    if steps <= 0:
        return model, model.init(jax.random.key(seed))
    from landscape.problem import from_model
    from landscape.train import TrainConfig, train

    config = TrainConfig(optimizer="adam", learning_rate=1e-3, num_steps=steps, batch_size=128,
                         eval_every=steps)
    prob = from_model(model, ds)
    return model, train(prob, config, key=jax.random.key(seed), progress=False).params


def _moments(nodes, weights):
    nodes, weights = np.asarray(nodes, np.float64), np.asarray(weights, np.float64)
    m1 = np.sum(weights * nodes, axis=1)
    m2 = np.sum(weights * nodes**2, axis=1)
    return m1, m2


def _mean_se(x):
    x = np.asarray(x, np.float64)
    return float(np.mean(x)), float(np.std(x, ddof=1) / np.sqrt(len(x))) if len(x) > 1 else np.inf


def run_size(label, hidden, ds, *, trace_probes, slq_probes, slq_iters, steps, seed=0,
             rounds=1):
    import torch
    from pyhessian.hessian import hessian as pyhessian_hessian

    model, params = _params(hidden, ds, steps, seed)
    loss = objectives.make_loss(model.apply)
    batch = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    op = curvature.hessian_operator(loss, params, batch)
    n = op.size
    key = jax.random.key(seed + 1)

    trace_fn = jax.jit(
        lambda k, *a: stochtrace.hutchinson_trace(op.matvec, k, *a, num_probes=trace_probes,
                                                 size=n))
    slq_fn = jax.jit(
        lambda k, *a: stochtrace.slq(num_iters=slq_iters, num_probes=slq_probes)(
            op.matvec, k, *a, size=n))
    _, trace_first = _timed(lambda: trace_fn(key, *op.args))
    est, trace_s = _timed(lambda: trace_fn(jax.random.fold_in(key, 1), *op.args))
    _, slq_first = _timed(lambda: slq_fn(key, *op.args))
    dens, slq_s = _timed(lambda: slq_fn(jax.random.fold_in(key, 2), *op.args))

    torch.manual_seed(seed)
    net = torch_mlp(params, hidden)
    x = torch.from_numpy(np.asarray(ds.x_train, np.float32))
    y = torch.from_numpy(np.asarray(ds.y_train, np.int64))
    start = time.perf_counter()
    hess = pyhessian_hessian(net, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)
    setup_s = time.perf_counter() - start  # forward + first backward with the graph kept
    start = time.perf_counter()
    ph_trace = hess.trace(maxIter=trace_probes, tol=-1.0)
    ph_trace_s = time.perf_counter() - start
    if rounds > 1:  # the two traces again, interleaved call by call; medians of all rounds
        ours_times, ph_times = [trace_s], [ph_trace_s]
        for r in range(1, rounds):
            ours_times.append(_timed(lambda r=r: trace_fn(jax.random.fold_in(key, 10 + r),
                                                          *op.args))[1])
            start = time.perf_counter()
            hess.trace(maxIter=trace_probes, tol=-1.0)
            ph_times.append(time.perf_counter() - start)
        trace_s, ph_trace_s = float(np.median(ours_times)), float(np.median(ph_times))
        print(f"trace seconds per round, ours: {np.round(ours_times, 2).tolist()}, "
              f"PyHessian: {np.round(ph_times, 2).tolist()}")
    old_eig = getattr(torch, "eig", None)
    torch.eig = _eig_shim(torch)
    try:
        start = time.perf_counter()
        ph_nodes, ph_weights = hess.density(iter=slq_iters, n_v=slq_probes)
        ph_density_s = time.perf_counter() - start
    finally:
        if old_eig is None:
            del torch.eig
        else:
            torch.eig = old_eig

    ours_m1, ours_m2 = _moments(dens.nodes, dens.weights)
    ph_m1, ph_m2 = _moments(ph_nodes, ph_weights)
    row = {
        "model": label, "params": int(n), "steps": steps, "trace_probes": trace_probes,
        "slq_probes": slq_probes, "slq_iters": slq_iters,
        "ours_trace": float(est.trace), "ours_trace_se": float(est.stderr),
        "pyhessian_trace": _mean_se(ph_trace)[0], "pyhessian_trace_se": _mean_se(ph_trace)[1],
        "ours_trace_s": trace_s, "ours_trace_compile_s": trace_first - trace_s,
        "pyhessian_setup_s": setup_s, "pyhessian_trace_s": ph_trace_s,
        "ours_slq_s": slq_s, "ours_slq_compile_s": slq_first - slq_s,
        "pyhessian_density_s": ph_density_s,
        "ours_m1": _mean_se(ours_m1)[0], "ours_m1_se": _mean_se(ours_m1)[1],
        "pyhessian_m1": _mean_se(ph_m1)[0], "pyhessian_m1_se": _mean_se(ph_m1)[1],
        "ours_m2": _mean_se(ours_m2)[0], "ours_m2_se": _mean_se(ours_m2)[1],
        "pyhessian_m2": _mean_se(ph_m2)[0], "pyhessian_m2_se": _mean_se(ph_m2)[1],
        "ours_top_node": float(np.max(dens.nodes)),
        "pyhessian_top_node": float(np.max(ph_nodes)),
    }
    row["trace_speedup"] = ph_trace_s / trace_s
    row["density_speedup"] = ph_density_s / slq_s
    return row


def main(sizes=("85k",), trace_probes=20, slq_probes=4, slq_iters=40, steps=0,
         threads=2, rounds=1) -> list[dict]:
    import torch

    torch.set_num_threads(threads)
    ds = data.mnist1d()
    print(f"jax {jax.__version__}, torch {torch.__version__} ({threads} threads); "
          f"{len(ds.x_train)} examples, float32; trace {trace_probes} probes, "
          f"SLQ {slq_probes} probes x {slq_iters} steps")
    rows = [run_size(label, SIZES[label], ds, trace_probes=trace_probes, slq_probes=slq_probes,
                     slq_iters=slq_iters, steps=steps, rounds=rounds) for label in sizes]
    for r in rows:
        print(f"\n== {r['model']} ({r['params']} parameters, {r['steps']} training steps)")
        print(f"{'':<22} {'ours':>22} {'PyHessian':>22}")
        print(f"{'trace seconds':<22} {r['ours_trace_s']:>22.2f} {r['pyhessian_trace_s']:>22.2f}")
        print(f"{'trace estimate':<22} {r['ours_trace']:>12.4g} +- {r['ours_trace_se']:<7.2g}"
              f" {r['pyhessian_trace']:>12.4g} +- {r['pyhessian_trace_se']:<7.2g}")
        print(f"{'density seconds':<22} {r['ours_slq_s']:>22.2f} "
              f"{r['pyhessian_density_s']:>22.2f}")
        for m in ("m1", "m2"):
            name = "tr(H)/n" if m == "m1" else "tr(H^2)/n"
            print(f"{name:<22} {r['ours_' + m]:>12.4g} +- {r['ours_' + m + '_se']:<7.2g}"
                  f" {r['pyhessian_' + m]:>12.4g} +- {r['pyhessian_' + m + '_se']:<7.2g}")
        print(f"{'largest Ritz value':<22} {r['ours_top_node']:>22.5g} "
              f"{r['pyhessian_top_node']:>22.5g}")
        print(f"time PyHessian / ours: trace {r['trace_speedup']:.2f}x, "
              f"density {r['density_speedup']:.2f}x (our compile: trace "
              f"{r['ours_trace_compile_s']:.1f} s, SLQ {r['ours_slq_compile_s']:.1f} s)")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["85k"], choices=list(SIZES))
    parser.add_argument("--trace-probes", type=int, default=20)
    parser.add_argument("--slq-probes", type=int, default=4)
    parser.add_argument("--slq-iters", type=int, default=40)
    parser.add_argument("--steps", type=int, default=0, help="Adam steps before measuring")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    parser.add_argument("--rounds", type=int, default=1,
                        help="trace timings, ours and PyHessian interleaved; medians")
    args = parser.parse_args()
    main(tuple(args.sizes), args.trace_probes, args.slq_probes, args.slq_iters, args.steps,
         args.threads, args.rounds)
