"""Extreme Hessian eigenvalues of a trained MLP: our Lanczos vs scipy eigsh vs PyHessian.

For MLPs of about 85k and 1.1M parameters trained briefly on mnist1d (Adam), the
Hessian of the training loss (float32) is handed, with the same weights and the same
start vector, to

* ``landscape.lanczos.extreme_eigs`` (full reorthogonalisation, thick restarts,
  convergence checked every step),
* scipy's ``eigsh`` (ARPACK, implicit restarts) on the *same* jitted HVP
  (``FlatOperator.to_scipy``),
* PyHessian's ``hessian.eigenvalues`` (power iteration with deflation) on a PyTorch
  module holding the same weights, with PyTorch's double-backward HVP on CPU.

For the top-1 and top-10 eigenvalues and the most negative one it prints the
number of HVPs, the wall time (compile excluded: every jitted function is called
once before timing) and the error against a reference, relative to lambda_max. Our
solver and eigsh stop on the same criterion, ``|H x - theta x| <= 1e-4 lambda_max``
(eigsh's ``tol`` is relative to each Ritz value, so it is scaled to match), which
bounds the eigenvalue error by 1e-4 lambda_max. PyHessian stops when an eigenvalue
changes by less than ``tol`` (relative) between iterations: it runs at its default
``tol=1e-3`` (``maxIter=100``) and, for the top eigenvalue, at ``tol=1e-5``
(``maxIter=500``); it cannot compute the most negative eigenvalue.

Memory is not equal here: our solver holds 60 vectors for the top eigenvalues and 200
for lambda_min, eigsh its default 20 (21 for k = 10). The comparison at equal memory,
with accuracy relative to each eigenvalue and the unrestarted Krylov limit, is
``--lambda-min`` (``bench_lambda_min.py``); BENCHMARKS.md quotes that one.

The reference for the top ten is eigsh at ``tol=1e-6``. For lambda_min it is the most
negative Ritz value any run produced: every Ritz value is a Rayleigh quotient, so the
smallest of them is the best upper bound on lambda_min at hand.

    python benchmarks/bench_lanczos.py [--sizes 85k 1.1M] [--steps 2000] [--examples N]
    python benchmarks/bench_lanczos.py --lambda-min     # equal memory: bench_lambda_min.py
    python benchmarks/bench_lanczos.py --sizes 85k --pyhessian-seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.sparse.linalg import eigsh

from landscape import curvature, data, lanczos, models, objectives
from landscape.train import TrainConfig, train

SIZES = {"85k": (280, 250), "1.1M": (1024, 1024)}
TARGET = 1e-4  # relative to lambda_max


def _trained(hidden, ds, steps):
    model = models.mlp(ds.in_dim, hidden, ds.out_dim)
    config = TrainConfig(optimizer="adam", learning_rate=1e-3, num_steps=steps, batch_size=128,
                         eval_every=max(1, steps // 4))
    result = train(model, ds, config, key=jax.random.key(0), progress=False)
    return model, result.params, result.curves




def _ours(op, v0, *, which, num_eigs, tol, num_iters, num_restarts):
    eigs = jax.jit(
        lanczos.extreme_eigs(num_iters=num_iters, num_eigs=num_eigs, which=which, tol=tol,
                             num_restarts=num_restarts, check_every=1),
        static_argnums=0,
    )
    jax.block_until_ready(eigs(op.matvec, v0, *op.args))  # compile
    start = time.perf_counter()
    res = jax.block_until_ready(eigs(op.matvec, v0, *op.args))
    return res, time.perf_counter() - start


def _eigsh(op, v0, *, k, which, tol):
    lin = op.to_scipy()
    lin.matvec(np.asarray(v0, np.float64))  # compile the jitted HVP
    lin.num_matvecs = 0
    start = time.perf_counter()
    vals = eigsh(lin, k=k, which=which, tol=tol, v0=np.asarray(v0, np.float64),
                 return_eigenvectors=False, maxiter=100_000)
    return np.sort(vals), lin.num_matvecs, time.perf_counter() - start


def _torch_model(params, hidden):
    import torch

    layers = []
    sizes = [params[0]["w"].shape[0], *hidden, params[-1]["w"].shape[1]]
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        linear = torch.nn.Linear(fan_in, fan_out)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.asarray(params[i]["w"]).T.copy()))
            linear.bias.copy_(torch.from_numpy(np.asarray(params[i]["b"]).copy()))
        layers.append(linear)
        if i < len(hidden):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _pyhessian(params, hidden, batch, *, top_n, tol, seed):
    import importlib

    import torch

    ph = importlib.import_module("pyhessian.hessian")  # the module, not the class

    torch.manual_seed(seed)
    model = _torch_model(params, hidden)
    x = torch.from_numpy(np.array(batch.x, np.float32))
    y = torch.from_numpy(np.array(batch.y, np.int64))
    count = [0]
    original = ph.hessian_vector_product

    def counted(grads, ps, v):
        count[0] += 1
        return original(grads, ps, v)

    ph.hessian_vector_product = counted
    try:
        start = time.perf_counter()
        hess = ph.hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)
        vals, _ = hess.eigenvalues(maxIter=500 if tol < 1e-3 else 100, tol=tol, top_n=top_n)
        elapsed = time.perf_counter() - start
    finally:
        ph.hessian_vector_product = original
    return np.sort(np.asarray(vals)), count[0], elapsed


def run_size(label, hidden, ds, *, steps, examples, pyhessian=True):
    model, params, curves = _trained(hidden, ds, steps)
    loss = objectives.make_loss(model.apply)
    batch = data.Batch(jnp.asarray(ds.x_train[:examples]), jnp.asarray(ds.y_train[:examples]))
    op = curvature.hessian_operator(loss, params, batch)
    n = op.size
    v0 = jax.random.normal(jax.random.key(1), (n,), jnp.float32)
    print(f"\n== {label}: {n} parameters, {examples} examples, trained {steps} Adam steps "
          f"(train loss {float(curves.train_loss[-1]):.3g}, "
          f"val acc {float(curves.val_accuracy[-1]):.3f})")

    ref_top, ref_top_hvps, _ = _eigsh(op, v0, k=10, which="LA", tol=1e-6)
    lmax = float(ref_top[-1])
    print(f"reference top-10 (eigsh tol=1e-6, {ref_top_hvps} HVPs): {np.round(ref_top[::-1], 5)}")
    rows = []
    print(f"{'method':<22} {'quantity':<11} {'HVPs':>6} {'seconds':>9} {'error/lmax':>11}",
          flush=True)

    def row(method, quantity, hvps, seconds, values, ref):
        err = float(np.max(np.abs(np.asarray(values) - ref)) / lmax)
        rows.append(dict(method=method, quantity=quantity, hvps=int(hvps), seconds=seconds,
                         error=err, values=np.asarray(values)))
        print(f"{method:<22} {quantity:<11} {int(hvps):>6} {seconds:>9.2f} {err:>11.2e}",
              flush=True)

    for num in (1, 10):
        ref = ref_top[-num:]
        res, sec = _ours(op, v0, which="largest", num_eigs=num, tol=TARGET, num_iters=60,
                         num_restarts=5)
        row("landscape.lanczos", f"top-{num}", res.num_matvecs, sec, res.eigvals, ref)
        vals, hvps, sec = _eigsh(op, v0, k=num, which="LA", tol=TARGET)
        row("scipy eigsh", f"top-{num}", hvps, sec, vals, ref)

    # the most negative eigenvalue: both stop at |r| <= 1e-4 lambda_max
    res, sec = _ours(op, v0, which="smallest", num_eigs=1, tol=TARGET, num_iters=200,
                     num_restarts=10)
    ours_min = float(res.eigvals[0])
    guess = min(ours_min, -1e-12)
    vals, hvps, sec_e = _eigsh(op, v0, k=1, which="SA", tol=TARGET * lmax / abs(guess))
    eigsh_min = float(vals[0])
    tight, _ = _ours(op, v0, which="smallest", num_eigs=1, tol=1e-6, num_iters=300,
                     num_restarts=0)
    ref_min = min(ours_min, eigsh_min, float(tight.eigvals[0]))
    print(f"reference lambda_min {ref_min:.6g} (tight run: residual "
          f"{float(tight.residuals[0]):.2g}, {int(tight.num_matvecs)} HVPs); "
          f"ours {ours_min:.6g}, eigsh {eigsh_min:.6g}", flush=True)
    row("landscape.lanczos", "lambda_min", res.num_matvecs, sec, [ours_min], ref_min)
    row("scipy eigsh", "lambda_min", hvps, sec_e, [eigsh_min], ref_min)

    if pyhessian:
        # its default tol, and (top-1 only: ten deflated power iterations at tol=1e-5
        # run to thousands of HVPs) a tighter one
        for num, tol in ((1, 1e-3), (10, 1e-3), (1, 1e-5)):
            vals, hvps, sec = _pyhessian(params, hidden, batch, top_n=num, tol=tol, seed=0)
            row(f"PyHessian tol={tol:g}", f"top-{num}", hvps, sec, vals, ref_top[-num:])

    for quantity in ("top-1", "top-10", "lambda_min"):
        ours = next(
            r for r in rows if r["method"] == "landscape.lanczos" and r["quantity"] == quantity
        )
        for other in rows:
            if other["quantity"] == quantity and other is not ours:
                hvp_ratio = ours["hvps"] / other["hvps"]
                time_ratio = ours["seconds"] / other["seconds"]
                print(f"ratio {quantity:<10} ours/{other['method']:<22} HVPs {hvp_ratio:.2f}"
                      f"  time {time_ratio:.2f}")
    return rows


def pyhessian_seeds(label, ds, *, seeds, steps, examples, top_n=10, tol=1e-3):
    """PyHessian's top-``top_n`` HVP count and error over several seeds (its power
    iterations start from random vectors, so the count varies), against eigsh at tol 1e-6."""
    hidden = SIZES[label]
    model, params, _ = _trained(hidden, ds, steps)
    loss = objectives.make_loss(model.apply)
    batch = data.Batch(jnp.asarray(ds.x_train[:examples]), jnp.asarray(ds.y_train[:examples]))
    op = curvature.hessian_operator(loss, params, batch)
    v0 = jax.random.normal(jax.random.key(1), (op.size,), jnp.float32)
    ref, _, _ = _eigsh(op, v0, k=top_n, which="LA", tol=1e-6)
    res, _ = _ours(op, v0, which="largest", num_eigs=top_n, tol=TARGET, num_iters=60,
                   num_restarts=5)
    print(f"\n== {label}: {op.size} parameters, {examples} examples, {steps} Adam steps; "
          f"ours top-{top_n}: {int(res.num_matvecs)} HVPs")
    rows = []
    for seed in seeds:
        vals, hvps, sec = _pyhessian(params, hidden, batch, top_n=top_n, tol=tol, seed=seed)
        err = float(np.max(np.abs(vals - ref) / np.abs(ref)))
        rows.append(dict(seed=seed, hvps=hvps, seconds=sec, rel_error=err))
        print(f"PyHessian tol={tol:g} top-{top_n} seed {seed}: {hvps} HVPs, {sec:.1f} s, "
              f"max relative error {err:.1e}", flush=True)
    counts = [r["hvps"] for r in rows]
    print(f"PyHessian HVPs over {len(seeds)} seeds: min {min(counts)}, median "
          f"{int(np.median(counts))}, max {max(counts)}")
    return rows


def main(sizes=("85k", "1.1M"), steps=2000, examples=None, pyhessian=True):
    ds = data.mnist1d()
    examples = examples or len(ds.x_train)
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind} "
          f"({platform.processor() or platform.machine()}), float32")
    out = {}
    for label in sizes:
        out[label] = run_size(label, SIZES[label], ds, steps=steps, examples=examples,
                              pyhessian=pyhessian)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--steps", type=int, default=2000, help="Adam steps of training")
    parser.add_argument("--examples", type=int, default=None,
                        help="training examples in the Hessian (default: all)")
    parser.add_argument("--no-pyhessian", action="store_true", help="skip PyHessian")
    parser.add_argument("--lambda-min", action="store_true",
                        help="only lambda_min at equal memory (bench_lambda_min)")
    import bench_lambda_min

    bench_lambda_min.add_arguments(parser)
    parser.add_argument("--pyhessian-seeds", type=int, nargs="+", default=None,
                        help="only PyHessian's top-10 HVP count over these seeds")
    args = parser.parse_args()
    if args.pyhessian_seeds:
        mnist = data.mnist1d()
        for size in args.sizes:
            pyhessian_seeds(size, mnist, seeds=args.pyhessian_seeds, steps=args.steps,
                            examples=args.examples or len(mnist.x_train))
        raise SystemExit(0)
    if args.lambda_min:
        bench_lambda_min.from_args(args)
        raise SystemExit(0)
    main(tuple(args.sizes), args.steps, args.examples, not args.no_pyhessian)
