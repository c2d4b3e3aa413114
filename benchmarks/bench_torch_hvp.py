"""HVP / gradient cost: ours (JAX, forward-over-reverse) against PyTorch double backward.

For MLPs of about 85k and 1.1M parameters on the full mnist1d training set (3500
examples, float32), the same weights are loaded into a ``torch.nn.Sequential`` and
both sides time, in one process,

* a gradient of the mean cross-entropy (ours: jitted ``jax.grad``; PyTorch: forward
  and ``torch.autograd.grad``),
* a Hessian-vector product (ours: the jitted ``hessian_operator`` matvec; PyTorch:
  ``torch.autograd.grad(create_graph=True)`` then a second ``autograd.grad`` of
  ``g . v``, the double backward that PyHessian and most PyTorch tools use).

The PyTorch HVP is timed from scratch (forward, first backward with the graph kept,
second backward), as one HVP costs when the parameters change between calls; the
figure with the first gradient cached (PyHessian's single-batch trick) is reported
as well. The two HVPs are checked against each other. The methods run interleaved,
``--repeats`` times each, and each figure is the median with its interquartile
range. PyTorch runs with ``--threads`` intra-op threads.

    python benchmarks/bench_torch_hvp.py [--sizes 85k 1.1M] [--repeats 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, data, models, objectives

SIZES = {"85k": (280, 250), "1.1M": (1024, 1024)}


def torch_mlp(params, hidden):
    """A ``torch.nn.Sequential`` of Linear/ReLU layers holding the MLP weights ``params``."""
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


def torch_flat(tensors):
    """Concatenate a list of torch tensors in the ``ravel_pytree`` order of our MLP
    params (per layer: bias, then weight transposed, as the dict keys sort)."""
    import torch

    parts = []
    for i in range(0, len(tensors), 2):
        w, b = tensors[i], tensors[i + 1]
        parts += [b.reshape(-1), w.T.reshape(-1)]
    return torch.cat(parts)


def torch_unflat(vec, module):
    """Split a flat vector in our ordering into tensors shaped like ``module``'s params."""
    import torch

    out, start = [], 0
    params = list(module.parameters())
    for i in range(0, len(params), 2):
        w, b = params[i], params[i + 1]
        vb = vec[start:start + b.numel()]
        start += b.numel()
        vw = vec[start:start + w.numel()].reshape(w.shape[1], w.shape[0]).T
        start += w.numel()
        out += [torch.as_tensor(vw).contiguous(), torch.as_tensor(vb)]
    return [t.to(torch.float32) for t in out]


def _median_iqr(times):
    t = np.asarray(times) * 1e3
    q75, q25 = np.percentile(t, [75, 25])
    return float(np.median(t)), float(q75 - q25)


def run_size(label, hidden, ds, *, repeats, seed=0):
    import torch

    model = models.mlp(ds.in_dim, hidden, ds.out_dim)
    params = model.init(jax.random.key(seed))
    loss = objectives.make_loss(model.apply)
    batch = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    op = curvature.hessian_operator(loss, params, batch)
    f, x0, _ = curvature.flat_loss(loss, params)
    grad = jax.jit(jax.grad(f))
    hvp = jax.jit(op.matvec)
    v = jax.random.normal(jax.random.key(seed + 1), x0.shape, x0.dtype)

    net = torch_mlp(params, hidden)
    tparams = list(net.parameters())
    x = torch.from_numpy(np.asarray(ds.x_train, np.float32))
    y = torch.from_numpy(np.asarray(ds.y_train, np.int64))
    criterion = torch.nn.CrossEntropyLoss()
    tv = torch_unflat(torch.from_numpy(np.array(v)), net)

    def t_grad():
        return torch.autograd.grad(criterion(net(x), y), tparams)

    def t_hvp():
        g = torch.autograd.grad(criterion(net(x), y), tparams, create_graph=True)
        dot = sum(torch.sum(gi * vi) for gi, vi in zip(g, tv, strict=True))
        return torch.autograd.grad(dot, tparams)

    cached_g = torch.autograd.grad(criterion(net(x), y), tparams, create_graph=True)

    def t_hvp_cached():
        return torch.autograd.grad(cached_g, tparams, grad_outputs=tv, retain_graph=True)

    methods = {
        "jax grad": lambda: jax.block_until_ready(grad(x0, batch)),
        "jax hvp": lambda: jax.block_until_ready(hvp(v, *op.args)),
        "torch grad": t_grad,
        "torch hvp": t_hvp,
        "torch hvp (cached grad)": t_hvp_cached,
    }
    compile_s = {}
    for name, fn in methods.items():  # first call: compile / warm-up
        start = time.perf_counter()
        fn()
        compile_s[name] = time.perf_counter() - start
    times = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)

    ours = np.asarray(hvp(v, *op.args))
    theirs = torch_flat(list(t_hvp())).detach().numpy()
    hvp_rel_diff = float(np.linalg.norm(ours - theirs) / np.linalg.norm(ours))
    ours_g = np.asarray(grad(x0, batch))
    theirs_g = torch_flat(list(t_grad())).detach().numpy()
    grad_rel_diff = float(np.linalg.norm(ours_g - theirs_g) / np.linalg.norm(ours_g))

    row = {"model": label, "params": int(x0.size), "repeats": repeats}
    for name in methods:
        key = name.replace(" (cached grad)", "_cached").replace(" ", "_")
        row[f"{key}_ms"], row[f"{key}_iqr_ms"] = _median_iqr(times[name])
        row[f"{key}_first_s"] = compile_s[name]
    row["jax_ratio"] = row["jax_hvp_ms"] / row["jax_grad_ms"]
    row["torch_ratio"] = row["torch_hvp_ms"] / row["torch_grad_ms"]
    row["torch_cached_ratio"] = row["torch_hvp_cached_ms"] / row["torch_grad_ms"]
    row["hvp_speedup_vs_torch"] = row["torch_hvp_ms"] / row["jax_hvp_ms"]
    row["grad_speedup_vs_torch"] = row["torch_grad_ms"] / row["jax_grad_ms"]
    row["hvp_rel_diff"] = hvp_rel_diff
    row["grad_rel_diff"] = grad_rel_diff
    return row


def main(sizes=("85k", "1.1M"), repeats: int = 10, threads: int = 2) -> list[dict]:
    import torch

    torch.set_num_threads(threads)
    ds = data.mnist1d()
    print(f"jax {jax.__version__} ({jax.devices()[0].device_kind}), torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); {len(ds.x_train)} examples, float32, "
          f"{repeats} repeats, median +- IQR")
    rows = [run_size(label, SIZES[label], ds, repeats=repeats) for label in sizes]
    print(f"{'model':>6} {'params':>8} {'jax grad ms':>15} {'jax hvp ms':>15} {'ratio':>6} "
          f"{'torch grad ms':>15} {'torch hvp ms':>15} {'ratio':>6} {'cached':>7} {'|dHv|':>8}")
    for r in rows:
        print(f"{r['model']:>6} {r['params']:>8} "
              f"{r['jax_grad_ms']:>8.1f} +-{r['jax_grad_iqr_ms']:<5.1f}"
              f"{r['jax_hvp_ms']:>8.1f} +-{r['jax_hvp_iqr_ms']:<5.1f}{r['jax_ratio']:>6.2f} "
              f"{r['torch_grad_ms']:>8.1f} +-{r['torch_grad_iqr_ms']:<5.1f}"
              f"{r['torch_hvp_ms']:>8.1f} +-{r['torch_hvp_iqr_ms']:<5.1f}{r['torch_ratio']:>6.2f} "
              f"{r['torch_cached_ratio']:>7.2f} {r['hvp_rel_diff']:>8.1e}")
    for r in rows:
        print(f"{r['model']}: HVP time torch / ours {r['hvp_speedup_vs_torch']:.2f}x, "
              f"gradient time torch / ours {r['grad_speedup_vs_torch']:.2f}x")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--repeats", type=int, default=10, help="timed calls of each method")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    args = parser.parse_args()
    main(tuple(args.sizes), args.repeats, args.threads)
