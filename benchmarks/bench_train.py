"""Seeds as a batch axis: ``train_seeds`` (one vmapped program) against a Python loop of
single jitted ``train`` runs, on an MLP of about 85k parameters on mnist1d.

Three ways to train the same seeds: ``train_seeds(vectorize=True)`` (vmap over seeds),
``train_seeds(vectorize=False)`` (one program, seeds one after another with
``lax.map``) and a Python loop of ``train`` calls. Compile time is measured apart
from steady state: each runs once to compile (timed), then again with fresh keys
(timed, ``block_until_ready``). Throughput is seed-steps per second of steady state;
the ratios are over the loop.

    python benchmarks/bench_train.py                 # 16 seeds, 300 steps
    python benchmarks/bench_train.py --steps 1000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from landscape import data, models
from landscape.problem import from_model
from landscape.train import TrainConfig, train, train_seeds

_CPU_SECONDS: dict[int, float] = {}


def _timed(fn):
    """``(fn(), wall seconds)``; the process CPU seconds go to ``_CPU_SECONDS[id(result)]``
    (on a shared machine wall time depends on the other load, CPU time much less)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(fn())
    _CPU_SECONDS[id(out)] = time.process_time() - cpu
    return out, time.perf_counter() - start


def main(
    *,
    num_seeds: int = 16,
    num_steps: int = 300,
    batch_size: int = 128,
    eval_every: int = 100,
    hidden: tuple[int, ...] = (268, 268),
    seed: int = 0,
    quiet: bool = False,
) -> dict:
    ds = data.standardize(data.mnist1d())
    model = models.mlp(ds.in_dim, hidden, ds.num_classes)
    num_params = models.num_params(jax.eval_shape(model.init, jax.random.key(0)))
    config = TrainConfig(optimizer="momentum", learning_rate=0.05, num_steps=num_steps,
                         batch_size=batch_size, eval_every=eval_every)
    prob = from_model(model, ds)
    key = jax.random.key(seed)
    warm_keys = jax.random.split(jax.random.fold_in(key, 0), num_seeds)
    run_keys = jax.random.split(jax.random.fold_in(key, 1), num_seeds)
    progress = not quiet

    # train_seeds: first call compiles, second call is steady state
    def seeds(keys, vectorize):
        return train_seeds(prob, config, keys=keys, vectorize=vectorize, progress=progress)

    _, vmap_first = _timed(lambda: seeds(warm_keys, True))
    vmapped, vmap_steady = _timed(lambda: seeds(run_keys, True))
    _, map_first = _timed(lambda: seeds(warm_keys, False))
    mapped, map_steady = _timed(lambda: seeds(run_keys, False))

    # loop: one run compiles, then num_seeds runs of the same compiled program
    _, loop_first = _timed(lambda: train(prob, config, key=warm_keys[0], progress=progress))
    singles, loop_steady = _timed(
        lambda: [train(prob, config, key=k, progress=progress) for k in run_keys]
    )
    loop_one = loop_steady / num_seeds

    # both sides train the same seeds: check that they agree
    final_vmapped = np.asarray(vmapped.curves.train_loss[:, -1])
    final_loop = np.array([float(r.curves.train_loss[-1]) for r in singles])

    seed_steps = num_seeds * num_steps
    report = {
        "device": str(jax.devices()[0]),
        "backend": jax.default_backend(),
        "num_devices": jax.device_count(),
        "num_params": num_params,
        "num_seeds": num_seeds,
        "num_steps": num_steps,
        "batch_size": batch_size,
        "eval_every": eval_every,
        "vmapped_compile_s": vmap_first - vmap_steady,
        "vmapped_steady_s": vmap_steady,
        "mapped_compile_s": map_first - map_steady,
        "mapped_steady_s": map_steady,
        "loop_compile_s": loop_first - loop_one,
        "loop_steady_s": loop_steady,
        "vmapped_seed_steps_per_s": seed_steps / vmap_steady,
        "mapped_seed_steps_per_s": seed_steps / map_steady,
        "loop_seed_steps_per_s": seed_steps / loop_steady,
        "throughput_ratio": loop_steady / vmap_steady,
        "mapped_throughput_ratio": loop_steady / map_steady,
        "vmapped_steady_cpu_s": _CPU_SECONDS[id(vmapped)],
        "mapped_steady_cpu_s": _CPU_SECONDS[id(mapped)],
        "loop_steady_cpu_s": _CPU_SECONDS[id(singles)],
        "final_loss_max_abs_diff": float(np.max(np.abs(final_vmapped - final_loop))),
        "mapped_final_loss_max_abs_diff": float(
            np.max(np.abs(np.asarray(mapped.curves.train_loss[:, -1]) - final_loop))
        ),
        "final_train_loss_mean": float(final_vmapped.mean()),
    }
    return report


def _cli():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--hidden", type=int, nargs="+", default=[268, 268])
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()
    report = main(num_seeds=args.seeds, num_steps=args.steps, batch_size=args.batch_size,
                  eval_every=args.eval_every, hidden=tuple(args.hidden), quiet=args.quiet)
    width = max(map(len, report))
    for name, value in report.items():
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{name:<{width}}  {text}")
    print(f"\nthroughput over the loop: vmapped {report['throughput_ratio']:.2f}x, "
          f"lax.map {report['mapped_throughput_ratio']:.2f}x "
          f"({report['num_seeds']} seeds, {report['num_params']} parameters, {report['backend']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    _cli()
