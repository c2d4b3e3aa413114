"""lambda_min at equal memory: restarted Lanczos vs scipy eigsh vs unrestarted Lanczos.

For each operator, each basis size ``ncv`` (the vectors held: 20, 40) and each relative
accuracy ``rtol`` (1e-2, 1e-3), it counts the matvecs (HVPs) to the most negative
eigenvalue of

* ``landscape.lanczos.extreme_eigs(num_iters=ncv, which="smallest", tol=0, rtol=rtol)``
  (thick restarts, convergence checked every step),
* scipy ``eigsh(k=1, which="SA", ncv=ncv, tol=rtol)`` (ARPACK, implicit restarts) on the
  same jitted operator and start vector; ``ncv=20`` is also eigsh's default for ``k=1``.
  Both stop on the same rule, ``|H x - theta x| <= rtol |theta|``;
* unrestarted Lanczos from the same start vector (one basis of ``--oracle-steps``
  vectors, no restart: the Krylov limit of any single-start method), read off at two
  stopping points: the first step whose Ritz value is within ``rtol`` of lambda_min (the
  step count known in advance; no method can know it) and the first step at which the
  residual rule above holds (a method that must certify its answer).

Each row gives the matvecs and the error relative to lambda_min itself. The reference
lambda_min is exact for the synthetic spectra; for the MLPs it is the smallest Ritz
value of any run (a Rayleigh quotient, hence an upper bound on lambda_min) and the
unrestarted run's residual bound says how far the truth can lie below it.

Operators: the Hessians of the 85k and 1.1M MLPs of ``bench_lanczos`` on mnist1d
(float32; ``--examples`` examples), and two diagonal float64 spectra held out from the
tuning of the restart rule: ``heldout`` (a negative tail down to -0.174, a bulk at zero,
ten outliers up to 9.93, the shape of the 85k MLP's spectrum) and ``tiny`` (the same
with lambda_min = -1e-4 lambda_max).

    python benchmarks/bench_lambda_min.py [--problems heldout tiny 85k 1.1M] [--examples N]
    python benchmarks/bench_lanczos.py --lambda-min ...      # the same
    python benchmarks/bench_lambda_min.py --top --problems 85k --oracle-steps 120

``--top`` does the same for the top-1 and top-10 eigenvalues of the MLPs (relative
accuracy 1e-4, bases of 20/21, eigsh's defaults for k = 1 and 10, and 40).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.sparse.linalg import LinearOperator, eigsh

from landscape import lanczos

NCVS = (20, 40)
RTOLS = (1e-2, 1e-3)
PROBLEMS = ("heldout", "tiny", "85k", "1.1M")


def synthetic(name, n=10_000):
    """A diagonal spectrum (ascending): negative tail, bulk piled up at zero, outliers."""
    rng = np.random.default_rng({"heldout": 11, "tiny": 12}[name])
    lmax = 9.93
    lmin = -0.174 if name == "heldout" else -1e-4 * lmax
    neg = lmin * rng.beta(1.0, 3.0, n // 8)  # denser towards zero than in the tests
    neg[0] = lmin
    outliers = np.sort(lmax * rng.beta(0.5, 0.5, 12) ** 2)
    outliers = np.concatenate([outliers[outliers > 1.0], [lmax]])
    bulk = 1.2 * rng.beta(0.3, 4.0, n - neg.size - outliers.size)
    return np.sort(np.concatenate([neg, bulk, outliers]))


class Problem:
    """A flat operator with its float dtype, jitted matvec and an exact lambda_min if known."""

    def __init__(self, label, matvec, args, size, dtype, exact=None):
        self.label, self.matvec, self.args = label, matvec, args
        self.size, self.dtype, self.exact = size, dtype, exact
        self.jitted = jax.jit(matvec)


def diagonal_problem(name):
    d = synthetic(name)
    dj = jnp.asarray(d)
    return Problem(name, lambda v, diag: diag * v, (dj,), d.size, jnp.float64, float(d[0]))


def mlp_problem(label, *, steps, examples):
    import bench_lanczos

    from landscape import curvature, data, objectives

    ds = data.mnist1d()
    model, params, _ = bench_lanczos._trained(bench_lanczos.SIZES[label], ds, steps)
    loss = objectives.make_loss(model.apply)
    count = examples or len(ds.x_train)
    batch = data.Batch(jnp.asarray(ds.x_train[:count]), jnp.asarray(ds.y_train[:count]))
    op = curvature.hessian_operator(loss, params, batch)
    return Problem(f"{label} MLP ({op.size} params, {count} examples, {steps} Adam steps)",
                   op.matvec, op.args, op.size, jnp.float32)


def ours(prob, v0, *, ncv, rtol, max_matvecs, which="smallest", k=1):
    """(matvecs, the wanted Ritz values, residuals, status, seconds with compile)."""
    eigs = lanczos.extreme_eigs(num_iters=ncv, num_eigs=k, which=which, tol=0.0, rtol=rtol,
                                num_restarts=max_matvecs // 2, check_every=1)
    run = jax.jit(eigs, static_argnums=0)
    start = time.perf_counter()
    res = jax.block_until_ready(run(prob.matvec, v0, *prob.args))
    vals = np.asarray(res.eigvals, np.float64)
    return (int(res.num_matvecs), float(vals[0]) if k == 1 else vals,
            np.asarray(res.residuals), lanczos.status_message(res.status),
            time.perf_counter() - start)


def scipy_eigsh(prob, v0, *, ncv, rtol, max_matvecs, which="SA", k=1):
    count = [0]

    def mv(x):
        count[0] += 1
        out = prob.jitted(jnp.asarray(np.ravel(x), prob.dtype), *prob.args)
        return np.asarray(out, np.float64)

    op = LinearOperator((prob.size, prob.size), matvec=mv, dtype=np.float64)
    start = time.perf_counter()
    try:
        vals = eigsh(op, k=k, which=which, tol=rtol, v0=np.asarray(v0, np.float64), ncv=ncv,
                     return_eigenvectors=False, maxiter=max_matvecs // max(ncv // 2, 1))
    except Exception as exc:  # noqa: BLE001 - ArpackNoConvergence: report the count
        vals = getattr(exc, "eigenvalues", np.full(k, np.nan))
        vals = vals if len(vals) else np.full(k, np.nan)
    vals = np.sort(np.asarray(vals, np.float64))
    return count[0], float(vals[0]) if k == 1 else vals, time.perf_counter() - start


def unrestarted(prob, v0, *, steps):
    """Smallest Ritz value and its residual bound after every step of one unrestarted run."""
    t = jax.jit(lanczos.tridiagonalize(num_iters=steps), static_argnums=0)(
        prob.matvec, v0, *prob.args)
    a = np.asarray(t.alphas, np.float64)
    b = np.asarray(t.betas, np.float64)
    tail = np.append(b, float(t.remainder_norm))
    thetas, resids = [a[0]], [abs(tail[0])]
    for j in range(2, steps + 1):
        w, y = eigh_tridiagonal(a[:j], b[: j - 1], select="i", select_range=(0, 0))
        thetas.append(w[0])
        resids.append(abs(tail[j - 1] * y[-1, 0]))
    return np.array(thetas), np.array(resids)


def unrestarted_top(prob, v0, *, steps, k):
    """The ``k`` largest Ritz values and their residual bounds after every step."""
    t = jax.jit(lanczos.tridiagonalize(num_iters=steps), static_argnums=0)(
        prob.matvec, v0, *prob.args)
    a = np.asarray(t.alphas, np.float64)
    b = np.asarray(t.betas, np.float64)
    tail = np.append(b, float(t.remainder_norm))
    thetas, resids = [], []
    for j in range(k, steps + 1):
        w, y = eigh_tridiagonal(a[:j], b[: j - 1], select="i", select_range=(j - k, j - 1))
        thetas.append(w)
        resids.append(np.abs(tail[j - 1] * y[-1, :]))
    return np.array(thetas), np.array(resids)


def run_top(prob, *, oracle_steps, max_matvecs, seed=1):
    """top-1 and top-10 at equal memory: ours and eigsh at eigsh's default basis for that
    k (20, 21) and at 40, relative accuracy 1e-4 of each eigenvalue; the unrestarted
    limit from the same start vector."""
    v0 = jax.random.normal(jax.random.key(seed), (prob.size,), prob.dtype)
    print(f"\n== top eigenvalues, {prob.label}: n = {prob.size}", flush=True)
    jax.block_until_ready(prob.jitted(v0, *prob.args))
    rtol, rows = 1e-4, []
    thetas, resids = unrestarted_top(prob, v0, steps=oracle_steps, k=10)
    ref = thetas[-1]  # the last step's top ten (their residual bounds are printed)
    print(f"   reference top-10 (unrestarted, {oracle_steps} steps, max residual/theta "
          f"{np.max(resids[-1] / np.abs(ref)):.1e}): {np.round(ref[::-1], 5)}")
    print(f"{'quantity':<8} {'ncv':>4} | {'ours':>5} {'err':>8} | {'eigsh':>5} {'err':>8} | "
          f"{'limit: error':>12} {'residual rule':>13} | {'ours/eigsh':>10}")
    for k, ncvs in ((1, (20, 40)), (10, (21, 40))):
        want = ref[-k:]
        th, rs = thetas[:, -k:], resids[:, -k:]
        lim_err = first(np.all(np.abs(th - want) <= rtol * np.abs(want), axis=1))
        lim_res = first(np.all(rs <= rtol * np.abs(th), axis=1))
        lim_err = None if lim_err is None else lim_err + 9  # thetas start at step 10
        lim_res = None if lim_res is None else lim_res + 9
        for ncv in ncvs:
            o = ours(prob, v0, ncv=ncv, rtol=rtol, max_matvecs=max_matvecs, which="largest",
                     k=k)
            e = scipy_eigsh(prob, v0, ncv=ncv, rtol=rtol, max_matvecs=max_matvecs, which="LA",
                            k=k)
            o_err = float(np.max(np.abs(np.atleast_1d(o[1]) - want) / np.abs(want)))
            e_err = float(np.max(np.abs(np.atleast_1d(e[1]) - want) / np.abs(want)))
            rows.append(dict(problem=prob.label, quantity=f"top-{k}", ncv=ncv, rtol=rtol,
                             ours=o[0], ours_error=o_err, eigsh=e[0], eigsh_error=e_err,
                             limit_error=lim_err, limit_residual=lim_res))
            print(f"top-{k:<4} {ncv:>4} | {o[0]:>5} {o_err:>8.1e} | {e[0]:>5} {e_err:>8.1e} | "
                  f"{lim_err!s:>12} {lim_res!s:>13} | {o[0] / e[0]:>10.2f}", flush=True)
    return rows


def first(mask):
    hits = np.flatnonzero(mask)
    return int(hits[0]) + 1 if hits.size else None


def run_problem(prob, *, oracle_steps, max_matvecs, seed=1):
    v0 = jax.random.normal(jax.random.key(seed), (prob.size,), prob.dtype)
    print(f"\n== {prob.label}: n = {prob.size}, {jnp.dtype(prob.dtype).name}", flush=True)
    jax.block_until_ready(prob.jitted(v0, *prob.args))  # compile the matvec once
    thetas, resids = unrestarted(prob, v0, steps=oracle_steps)
    runs = {}
    for ncv in NCVS:
        for rtol in RTOLS:
            runs[ncv, rtol, "ours"] = ours(prob, v0, ncv=ncv, rtol=rtol, max_matvecs=max_matvecs)
            runs[ncv, rtol, "eigsh"] = scipy_eigsh(prob, v0, ncv=ncv, rtol=rtol,
                                                   max_matvecs=max_matvecs)
            o, e = runs[ncv, rtol, "ours"], runs[ncv, rtol, "eigsh"]
            print(f"   ncv {ncv} rtol {rtol:g}: ours {o[0]} HVPs ({o[1]:.6g}, {o[4]:.1f} s), "
                  f"eigsh {e[0]} ({e[1]:.6g}, {e[2]:.1f} s)", flush=True)
    if prob.exact is not None:
        ref, ref_note = prob.exact, "exact"
    else:
        cands = [thetas.min()] + [r[1] for key, r in runs.items() if np.isfinite(r[1])]
        ref = float(np.min(cands))
        ref_note = (f"smallest Ritz value of any run; unrestarted residual bound at the end "
                    f"{resids[-1]:.2g} ({resids[-1] / abs(ref):.1e} relative)")
    print(f"   lambda_min = {ref:.7g} ({ref_note})")
    rows = []
    header = (f"{'ncv':>4} {'rtol':>6} | {'ours':>6} {'err':>8} | {'eigsh':>6} {'err':>8} | "
              f"{'Krylov limit: error':>19} {'residual rule':>13} | {'ours/eigsh':>10} "
              f"{'ours/limit':>10}")
    print(header)
    for ncv in NCVS:
        for rtol in RTOLS:
            o, e = runs[ncv, rtol, "ours"], runs[ncv, rtol, "eigsh"]
            lim_err = first(np.abs(thetas - ref) <= rtol * abs(ref))
            lim_res = first(resids <= rtol * np.abs(thetas))
            row = dict(problem=prob.label, ncv=ncv, rtol=rtol, ours=o[0],
                       ours_error=abs(o[1] - ref) / abs(ref), ours_status=o[3],
                       eigsh=e[0], eigsh_error=abs(e[1] - ref) / abs(ref),
                       limit_error=lim_err, limit_residual=lim_res, reference=ref)
            rows.append(row)

            def fmt(x):
                return f">{oracle_steps}" if x is None else str(x)

            ratio_lim = f"{o[0] / lim_res:.2f}" if lim_res else "n/a"
            print(f"{ncv:>4} {rtol:>6g} | {o[0]:>6} {row['ours_error']:>8.1e} | {e[0]:>6} "
                  f"{row['eigsh_error']:>8.1e} | {fmt(lim_err):>19} {fmt(lim_res):>13} | "
                  f"{o[0] / e[0]:>10.2f} {ratio_lim:>10}", flush=True)
    return rows


def main(problems=("heldout", "tiny", "85k"), *, steps=300, examples=1000, oracle_steps=400,
         max_matvecs=20_000, top=False):
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}")
    out = []
    for name in problems:
        if name in ("heldout", "tiny"):
            saved = jax.config.jax_enable_x64
            jax.config.update("jax_enable_x64", True)  # the synthetic spectra in float64
            try:
                prob = diagonal_problem(name)
                limit = oracle_steps if name == "heldout" else 3 * oracle_steps
                out += run_problem(prob, oracle_steps=min(limit, prob.size),
                                   max_matvecs=max_matvecs)
            finally:
                jax.config.update("jax_enable_x64", saved)
        else:
            prob = mlp_problem(name, steps=steps, examples=examples)
            if top:
                out += run_top(prob, oracle_steps=min(oracle_steps, prob.size),
                               max_matvecs=max_matvecs)
                continue
            out += run_problem(prob, oracle_steps=min(oracle_steps, prob.size),
                               max_matvecs=max_matvecs)
    return out


def add_arguments(parser):
    parser.add_argument("--problems", nargs="+", default=["heldout", "tiny", "85k"],
                        choices=PROBLEMS)
    parser.add_argument("--lm-steps", type=int, default=300,
                        help="Adam steps that train the MLPs")
    parser.add_argument("--lm-examples", type=int, default=1000,
                        help="training examples in the MLP Hessians (0: all)")
    parser.add_argument("--oracle-steps", type=int, default=400,
                        help="length of the unrestarted run (x3 for the tiny spectrum)")
    parser.add_argument("--top", action="store_true",
                        help="top-1 and top-10 of the MLPs instead of lambda_min")


def from_args(args):
    return main(tuple(args.problems), steps=args.lm_steps, examples=args.lm_examples or None,
                oracle_steps=args.oracle_steps, top=args.top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    from_args(parser.parse_args())
