"""Larger models for an accelerator: a CNN and a small transformer of about 10M parameters.

Random data of CIFAR-10 shapes (32x32x3 images, 10 classes) and of text shapes (token
sequences, next-token targets) stand in for the data sets: what is timed does not
depend on the values. For each model, with compile time kept apart from steady state
(``block_until_ready`` throughout):

* ``hvp``: the jitted gradient and the HVP (``curvature.hessian_operator``), median of
  ``repeats`` calls, and their ratio;
* ``top10``: the ten largest eigenvalues, ``lanczos.extreme_eigs(num_iters=30)``;
* ``lambda_min``: the most negative one, ``extreme_eigs(num_iters=20, which="smallest",
  rtol=1e-2)`` (restarted at a 20-vector basis), with its HVP count and status;
* ``seeds``: ``num_seeds`` short SGD runs from their own initialisations, vmapped over
  the seeds against a Python loop of one jitted run per seed;
* ``grid``: a ``grid`` x ``grid`` loss surface (``surfaces.slice_2d``, the default
  chunking of the platform) against a Python loop over points (timed on one row of the
  grid and extrapolated).

The models are plain ``(init, apply)`` pairs written here, not part of the library.
``benchmarks/run_all.py`` runs this section by itself on an accelerator, and at the
``SMOKE`` sizes in the tests (CPU).

    python benchmarks/bench_large.py [--smoke]
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from landscape import curvature, data, lanczos, surfaces

# the accelerator sizes (about 10M parameters each) and a reduced size for CPU tests
FULL = {
    "cnn": dict(width=96, examples=256),
    "transformer": dict(vocab=2048, seq=128, dim=384, depth=5, heads=6, examples=32),
    "run": dict(repeats=10, num_seeds=16, train_steps=20, grid=51, lanczos_restarts=60),
}
SMOKE = {
    "cnn": dict(width=2, examples=8),
    "transformer": dict(vocab=16, seq=8, dim=8, depth=1, heads=2, examples=4),
    "run": dict(repeats=2, num_seeds=2, train_steps=2, grid=5, lanczos_restarts=0),
}


# ----------------------------------------------------------------------------------
# models as (init, apply) pairs


def _lead(v, ndim):
    """``v`` with leading axes of size one up to ``ndim`` (explicit broadcasting)."""
    return jnp.reshape(v, (1,) * (ndim - v.ndim) + v.shape)


def _dense_init(key, fan_in, fan_out):
    return {"w": jax.random.normal(key, (fan_in, fan_out)) / math.sqrt(fan_in),
            "b": jnp.zeros((fan_out,))}


def cnn(width: int, num_classes: int = 10):
    """Six 3x3 convolutions of ``(1, 2, 4, 4, 8, 8) * width`` channels with ReLU, a 2x2
    max-pool after every second one, global average pooling and a dense layer: about
    10M parameters at ``width=96``. Inputs ``(batch, 32, 32, 3)``, NHWC."""
    channels = [3] + [c * width for c in (1, 2, 4, 4, 8, 8)]

    def init(key):
        keys = jax.random.split(key, len(channels))
        convs = [{"w": jax.random.normal(k, (3, 3, cin, cout)) * math.sqrt(2.0 / (9 * cin)),
                  "b": jnp.zeros((cout,))}
                 for k, cin, cout in zip(keys[:-1], channels[:-1], channels[1:], strict=True)]
        return {"convs": convs, "head": _dense_init(keys[-1], channels[-1], num_classes)}

    def apply(params, x):
        for i, layer in enumerate(params["convs"]):
            x = jax.lax.conv_general_dilated(x, layer["w"], (1, 1), "SAME",
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
            x = jax.nn.relu(x + _lead(layer["b"], 4))
            if i % 2 == 1:
                x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1),
                                          (1, 2, 2, 1), "VALID")
        x = jnp.mean(x, axis=(1, 2))
        return x @ params["head"]["w"] + _lead(params["head"]["b"], 2)

    return init, apply


def transformer(vocab: int, seq: int, dim: int, depth: int, heads: int):
    """A decoder-only transformer (pre-layer-norm, causal attention, MLP of 4x width,
    learned positions, output tied to the embedding): about 10M parameters at
    ``dim=384, depth=5, vocab=2048``. Inputs ``(batch, seq)`` token ids."""

    def init(key):
        keys = jax.random.split(key, depth + 2)

        def block(k):
            k1, k2, k3, k4 = jax.random.split(k, 4)
            return {"ln1": jnp.ones((dim,)), "ln2": jnp.ones((dim,)),
                    "qkv": _dense_init(k1, dim, 3 * dim), "out": _dense_init(k2, dim, dim),
                    "up": _dense_init(k3, dim, 4 * dim), "down": _dense_init(k4, 4 * dim, dim)}

        return {"embed": jax.random.normal(keys[0], (vocab, dim)) * 0.02,
                "pos": jax.random.normal(keys[1], (seq, dim)) * 0.02,
                "blocks": [block(k) for k in keys[2:]], "ln_f": jnp.ones((dim,))}

    def norm(x, scale):
        x = x - jnp.mean(x, axis=-1, keepdims=True)
        return _lead(scale, x.ndim) * x / jnp.sqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-5)

    def dense(p, x):
        return x @ p["w"] + _lead(p["b"], x.ndim)

    def apply(params, tokens):
        b, t = tokens.shape
        x = params["embed"][tokens] + _lead(params["pos"][:t], 3)
        mask = _lead(jnp.tril(jnp.ones((t, t), bool)), 4)
        for blk in params["blocks"]:
            q, k, v = jnp.split(dense(blk["qkv"], norm(x, blk["ln1"])), 3, axis=-1)
            q, k, v = (z.reshape(b, t, heads, dim // heads) for z in (q, k, v))
            att = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(dim // heads)
            att = jax.nn.softmax(jnp.where(mask, att, -1e9), axis=-1)
            y = jnp.einsum("bhqk,bkhd->bqhd", att, v).reshape(b, t, dim)
            x = x + dense(blk["out"], y)
            x = x + dense(blk["down"], jax.nn.gelu(dense(blk["up"], norm(x, blk["ln2"]))))
        return norm(x, params["ln_f"]) @ params["embed"].T

    return init, apply


def cross_entropy(apply):
    def loss(params, batch):
        logits = apply(params, batch.x)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch.y))

    return loss


def problems(sizes):
    """``{name: (init, loss, batch)}`` on random data of CIFAR-10 and text shapes."""
    kx, ky, kt = jax.random.split(jax.random.key(0), 3)
    c, t = sizes["cnn"], sizes["transformer"]
    init_c, apply_c = cnn(c["width"])
    images = data.Batch(jax.random.normal(kx, (c["examples"], 32, 32, 3)),
                        jax.random.randint(ky, (c["examples"],), 0, 10))
    init_t, apply_t = transformer(t["vocab"], t["seq"], t["dim"], t["depth"], t["heads"])
    tokens = jax.random.randint(kt, (t["examples"], t["seq"] + 1), 0, t["vocab"])
    text = data.Batch(tokens[:, :-1], tokens[:, 1:])
    return {"cnn": (init_c, cross_entropy(apply_c), images),
            "transformer": (init_t, cross_entropy(apply_t), text)}


# ----------------------------------------------------------------------------------
# measurements


def _timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - start, out


def _median(fn, repeats):
    return float(np.median([_timed(fn)[0] for _ in range(repeats)]))


def run_model(name, init, loss, batch, *, repeats, num_seeds, train_steps, grid,
              lanczos_restarts):
    params = init(jax.random.key(1))
    op = curvature.hessian_operator(loss, params, batch)
    f, x0, _ = curvature.flat_loss(loss, params)
    row = {"model": name, "params": int(op.size), "dtype": str(x0.dtype),
           "examples": int(batch.y.shape[0])}
    print(f"== {name}: {op.size:,} parameters, {row['examples']} examples", flush=True)

    grad = jax.jit(jax.grad(f))
    hvp = jax.jit(op.matvec)
    v = jax.random.normal(jax.random.key(2), (op.size,), x0.dtype)
    row["grad_compile_s"], _ = _timed(lambda: grad(x0, batch))
    row["hvp_compile_s"], _ = _timed(lambda: hvp(v, *op.args))
    row["grad_s"] = _median(lambda: grad(x0, batch), repeats)
    row["hvp_s"] = _median(lambda: hvp(v, *op.args), repeats)
    row["hvp_over_grad"] = row["hvp_s"] / row["grad_s"]
    # a check on the HVP: central differences of the gradient, relative to |Hv|
    # (a small step: ReLU kinks and max-pool ties crossed by the step would spoil it)
    eps = float(jnp.finfo(x0.dtype).eps) ** 0.5 * float(jnp.linalg.norm(x0)) / float(
        jnp.linalg.norm(v))
    hv = hvp(v, *op.args)
    fd = (grad(x0 + eps * v, batch) - grad(x0 - eps * v, batch)) / (2 * eps)
    row["hvp_fd_error"] = float(jnp.linalg.norm(hv - fd) / jnp.linalg.norm(hv))

    for label, kwargs in (
        ("top10", dict(num_iters=min(30, op.size), num_eigs=10, which="largest", tol=1e-3)),
        ("lambda_min", dict(num_iters=min(20, op.size), which="smallest", tol=1e-4,
                            rtol=1e-2)),
    ):
        eigs = jax.jit(lanczos.extreme_eigs(num_restarts=lanczos_restarts, check_every=1,
                                            **kwargs), static_argnums=0)
        row[f"{label}_compile_s"], _ = _timed(lambda e=eigs: e(op.matvec, v, *op.args))
        seconds, res = _timed(lambda e=eigs: e(op.matvec, v, *op.args))
        row[f"{label}_s"] = seconds
        row[f"{label}_hvps"] = int(res.num_matvecs)
        row[f"{label}_values"] = np.asarray(res.eigvals).tolist()
        row[f"{label}_status"] = lanczos.status_message(res.status)

    opt = optax.sgd(1e-2, momentum=0.9)

    def train_one(key):
        x = curvature.flat_loss(loss, init(key))[1]
        state = opt.init(x)

        def step(carry, _):
            x, state = carry
            value, g = jax.value_and_grad(f)(x, batch)
            updates, state = opt.update(g, state)
            return (optax.apply_updates(x, updates), state), value

        (x, _), losses = jax.lax.scan(step, (x, state), None, length=train_steps)
        return losses[-1]

    keys = jax.random.split(jax.random.key(3), num_seeds)
    vmapped = jax.jit(jax.vmap(train_one))
    single = jax.jit(train_one)
    row["seeds_vmap_compile_s"], _ = _timed(lambda: vmapped(keys))
    row["seeds_loop_compile_s"], _ = _timed(lambda: single(keys[0]))
    row["seeds_vmap_s"], vals_v = _timed(lambda: vmapped(keys))
    row["seeds_loop_s"], vals_l = _timed(lambda: jnp.stack([single(k) for k in keys]))
    row["seeds_vmap_speedup"] = row["seeds_loop_s"] / row["seeds_vmap_s"]
    row["seeds_max_diff"] = float(jnp.max(jnp.abs(vals_v - vals_l)))
    row["num_seeds"], row["train_steps"] = num_seeds, train_steps

    d = jax.random.normal(jax.random.key(4), (2, op.size), x0.dtype)
    d = d * (jnp.linalg.norm(x0) / jnp.linalg.norm(d, axis=1, keepdims=True))
    alphas = jnp.linspace(-1.0, 1.0, grid, dtype=x0.dtype)
    def surface(a, b):
        return surfaces.slice_2d(f, x0, d[0], d[1], a, b, batch).losses

    row["grid_compile_s"], _ = _timed(lambda: surface(alphas, alphas))
    row["grid_s"], losses = _timed(lambda: surface(alphas, alphas))
    point = jax.jit(lambda a, b: f(x0 + a * d[0] + b * d[1], batch))
    _timed(lambda: point(alphas[0], alphas[0]))  # compile
    seconds, row_vals = _timed(lambda: jnp.stack([point(alphas[0], b) for b in alphas]))
    row["grid_loop_s"] = seconds * grid  # one row of the grid, extrapolated
    row["grid_loop_over_chunks"] = row["grid_loop_s"] / row["grid_s"]
    row["grid_max_diff"] = float(jnp.max(jnp.abs(row_vals - losses[0])))
    row["grid"] = grid
    for key in ("grad_s", "hvp_s", "hvp_over_grad", "top10_s", "top10_hvps", "lambda_min_s",
                "lambda_min_hvps", "seeds_vmap_s", "seeds_loop_s", "grid_s", "grid_loop_s"):
        print(f"   {key:<18} {row[key]:.4g}", flush=True)
    return row


def main(smoke: bool = False, models=("cnn", "transformer")):
    sizes = SMOKE if smoke else FULL
    print(f"jax {jax.__version__} on {jax.devices()[0].platform} "
          f"({jax.devices()[0].device_kind}), {'smoke' if smoke else 'full'} sizes", flush=True)
    probs = problems(sizes)
    return [run_model(name, *probs[name], **sizes["run"]) for name in models]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="the reduced CPU sizes")
    main(parser.parse_args().smoke)
