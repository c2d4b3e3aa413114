"""Every benchmark in one process, with quick settings by default: a table and a JSON.

Sections (each a function of a ``bench_*.py`` module in this folder, run in turn; a
section that fails is reported and the others go on):

* ``hvp``: HVP / gradient time of our jitted operators (``bench_hvp``);
* ``torch_hvp``: the same ratio in PyTorch (double backward) on the same weights,
  next to ours, at each of ``--torch-threads`` (``bench_torch_hvp``);
* ``trace_density``: Hutchinson trace and SLQ density, ours vs PyHessian at equal
  probe counts (``bench_trace_density``), PyTorch at the thread count that gave it
  the faster HVP in ``torch_hvp``;
* ``lanczos``: top-1, top-10 and lambda_min, ours vs scipy ``eigsh`` vs PyHessian
  (``bench_lanczos``);
* ``train``: 16 seeds vmapped / ``lax.map`` vs a Python loop (``bench_train``);
* ``surfaces``: a 51x51 grid, compiled chunks vs a loop over points (``bench_surfaces``);
* ``large``: a CNN and a small transformer of about 10M parameters on random data of
  CIFAR-10 and text shapes: HVP/gradient, top-10, lambda_min, 16 seeds vmapped vs a loop,
  a 51x51 grid (``bench_large``). It runs by default when JAX sees an accelerator
  (``jax.devices()[0].platform != "cpu"``), and with ``--smoke`` at a reduced size on
  any machine (the tests run it so, so that it does not rot).

    python benchmarks/run_all.py                       # quick settings
    python benchmarks/run_all.py --full                # the sizes and repeats of BENCHMARKS.md
    python benchmarks/run_all.py --only hvp torch_hvp --json results.json
    python benchmarks/run_all.py --only large          # the GPU table (full size)
    python benchmarks/run_all.py --smoke               # the GPU table at CPU test size

The JSON is rewritten after every section, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SECTIONS = ("hvp", "torch_hvp", "trace_density", "lanczos", "train", "surfaces", "large")
CPU_SECTIONS = SECTIONS[:-1]  # "large" is for an accelerator (or --smoke)

QUICK = {
    "hvp": {"repeats": 7},
    "torch_hvp": {"sizes": ("85k", "1.1M"), "repeats": 5},
    "trace_density": {"sizes": ("85k",), "trace_probes": 10, "slq_probes": 3, "slq_iters": 30,
                      "steps": 0},
    "lanczos": {"sizes": ("85k",), "steps": 300, "examples": None, "pyhessian": False},
    "train": {"num_seeds": 16, "num_steps": 100, "eval_every": 50},
    "surfaces": {"grid": 51, "rounds": 1, "batched_points": 20},
    "large": {"smoke": False},
}
FULL = {
    "hvp": {"repeats": 15},
    "torch_hvp": {"sizes": ("85k", "1.1M"), "repeats": 15},
    "trace_density": {"sizes": ("85k", "1.1M"), "trace_probes": 30, "slq_probes": 5,
                      "slq_iters": 60, "steps": 0},
    "lanczos": {"sizes": ("85k", "1.1M"), "steps": 2000, "examples": None},
    "train": {"num_seeds": 16, "num_steps": 300, "eval_every": 100},
    "surfaces": {"grid": 51, "rounds": 2, "batched_points": 40},
    "large": {"smoke": False},
}


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "tolist"):  # jax arrays
        return np.asarray(obj).tolist()
    return obj


def _environment():
    import jax

    env = {"python": platform.python_version(), "platform": platform.platform(),
           "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
           "jax": jax.__version__, "backend": jax.default_backend(),
           "devices": [str(d) for d in jax.devices()]}
    for name in ("jaxlib", "numpy", "scipy", "torch", "pyhessian"):
        try:
            from importlib.metadata import version

            env[name] = version(name)
        except Exception:  # noqa: BLE001 - optional packages
            env[name] = None
    try:
        env["load_average"] = os.getloadavg()
    except OSError:
        pass
    return env


def _accelerator() -> bool:
    """Whether JAX's first device is an accelerator (GPU or TPU)."""
    import jax

    return jax.devices()[0].platform != "cpu"


def _summary(name, result):
    """(quantity, value) lines for the table."""
    lines = []
    if name == "hvp":
        for r in result:
            lines.append((f"HVP/grad ours, {r['model']} ({r['params']})",
                          f"{r['ratio']:.2f}  (grad {r['grad_ms']:.1f}+-{r['grad_iqr_ms']:.1f} ms, "
                          f"hvp {r['hvp_ms']:.1f}+-{r['hvp_iqr_ms']:.1f} ms)"))
    elif name == "torch_hvp":
        for threads, rows in result.items():
            for r in rows:
                lines.append((f"HVP/grad {r['model']}, torch {threads} thr",
                              f"ours {r['jax_ratio']:.2f}, torch {r['torch_ratio']:.2f} "
                              f"(cached grad {r['torch_cached_ratio']:.2f}); HVP time torch/ours "
                              f"{r['hvp_speedup_vs_torch']:.2f}x"))
    elif name == "trace_density":
        for r in result:
            lines.append((f"trace {r['model']}, {r['trace_probes']} probes",
                          f"ours {r['ours_trace']:.4g}+-{r['ours_trace_se']:.2g} in "
                          f"{r['ours_trace_s']:.2f} s; PyHessian {r['pyhessian_trace']:.4g}+-"
                          f"{r['pyhessian_trace_se']:.2g} in {r['pyhessian_trace_s']:.2f} s "
                          f"({r['trace_speedup']:.2f}x)"))
            lines.append((f"SLQ {r['model']}, {r['slq_probes']}x{r['slq_iters']}",
                          f"ours {r['ours_slq_s']:.2f} s, PyHessian {r['pyhessian_density_s']:.2f}"
                          f" s ({r['density_speedup']:.2f}x); tr(H)/n {r['ours_m1']:.3g} vs "
                          f"{r['pyhessian_m1']:.3g}"))
    elif name == "lanczos":
        for size, rows in result.items():
            for r in rows:
                lines.append((f"{r['quantity']} {size}: {r['method']}",
                              f"{r['hvps']} HVPs, {r['seconds']:.2f} s, error/lmax "
                              f"{r['error']:.1e}"))
    elif name == "train":
        lines.append((f"train {result['num_seeds']} seeds x {result['num_steps']} steps "
                      f"({result['num_params']})",
                      f"vmapped {result['throughput_ratio']:.2f}x, lax.map "
                      f"{result['mapped_throughput_ratio']:.2f}x the loop's throughput"))
    elif name == "large":
        for r in result:
            label = f"{r['model']} ({r['params']:,})"
            lines.append((f"HVP/grad {label}", f"{r['hvp_over_grad']:.2f}  (grad "
                          f"{1e3 * r['grad_s']:.1f} ms, HVP {1e3 * r['hvp_s']:.1f} ms)"))
            lines.append((f"top-10 / lambda_min {label}",
                          f"{r['top10_hvps']} HVPs {r['top10_s']:.2f} s / {r['lambda_min_hvps']} "
                          f"HVPs {r['lambda_min_s']:.2f} s"))
            lines.append((f"{r['num_seeds']} seeds {label}",
                          f"vmap {r['seeds_vmap_s']:.2f} s, loop {r['seeds_loop_s']:.2f} s "
                          f"({r['seeds_vmap_speedup']:.2f}x)"))
            lines.append((f"{r['grid']}x{r['grid']} grid {label}",
                          f"chunks {r['grid_s']:.2f} s, loop {r['grid_loop_s']:.2f} s "
                          f"({r['grid_loop_over_chunks']:.2f}x)"))
    elif name == "surfaces":
        best = result["grid_s"]
        for method, seconds in best.items():
            lines.append((f"grid {method}", f"{seconds:.2f} s"))
        chunked = {k: v for k, v in best.items() if k.startswith(("vmap", "lax.map"))}
        fastest = min(chunked, key=chunked.get)
        lines.append(("grid loop / fastest chunks", f"{best['loop'] / chunked[fastest]:.2f}x "
                      f"({fastest})"))
        lines.append(("grid loop+batches / fastest chunks",
                      f"{best['loop+batches'] / chunked[fastest]:.2f}x"))
    return lines


def run_section(name, settings, results):
    if name == "hvp":
        import bench_hvp

        return bench_hvp.main(**settings)
    if name == "torch_hvp":
        import bench_torch_hvp

        return {str(t): bench_torch_hvp.main(threads=t, **settings) for t in settings_threads}
    if name == "trace_density":
        import bench_trace_density

        threads = settings_threads[0]
        if "torch_hvp" in results and isinstance(results["torch_hvp"], dict):
            first = {t: rows[0]["torch_hvp_ms"] for t, rows in results["torch_hvp"].items()}
            threads = int(min(first, key=first.get))
        print(f"PyTorch threads for PyHessian: {threads}")
        return bench_trace_density.main(threads=threads, **settings)
    if name == "lanczos":
        import bench_lanczos

        try:
            import pyhessian

            # pyhessian/__init__.py rebinds the name ``pyhessian.hessian`` to the class,
            # so ``import pyhessian.hessian as ph`` (as bench_lanczos does) gets the class;
            # point the name back at the module, whose ``hessian`` is the class again.
            pyhessian.hessian = sys.modules["pyhessian.hessian"]
            with_pyhessian = settings.pop("pyhessian", True)
        except (ImportError, KeyError):
            with_pyhessian = False
        if not with_pyhessian:
            print("bench_lanczos: running without PyHessian")
        return bench_lanczos.main(tuple(settings["sizes"]), settings["steps"],
                                  settings["examples"], with_pyhessian)
    if name == "train":
        import bench_train

        return bench_train.main(quiet=True, **settings)
    if name == "surfaces":
        import bench_surfaces

        return bench_surfaces.main(**settings)
    if name == "large":
        import bench_large

        return bench_large.main(**settings)
    raise ValueError(f"section: unknown {name!r}")


settings_threads: tuple[int, ...] = (2, 1)


def main(argv=None):
    global settings_threads
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="full sizes and repeats")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=None,
                        help="sections to run (default: all; 'large' only on an accelerator)")
    parser.add_argument("--smoke", action="store_true",
                        help="only the 'large' section, at a reduced size (for tests on CPU)")
    parser.add_argument("--torch-threads", type=int, nargs="+", default=[2, 1],
                        help="PyTorch intra-op thread counts to time")
    parser.add_argument("--lanczos-pyhessian", action="store_true",
                        help="include PyHessian in the lanczos section (slow; on with --full)")
    parser.add_argument("--json", default="benchmark_results.json", help="output file")
    args = parser.parse_args(argv)
    settings_threads = tuple(args.torch_threads)
    config = FULL if args.full else QUICK
    if args.only is None:
        accelerator = _accelerator()
        args.only = ["large"] if args.smoke else list(SECTIONS if accelerator else CPU_SECTIONS)
    if args.smoke:
        config = {**config, "large": {"smoke": True}}
    if args.lanczos_pyhessian:
        config = {**config, "lanczos": {**config["lanczos"], "pyhessian": True}}

    mode = "smoke" if args.smoke else "full" if args.full else "quick"
    out = {"environment": _environment(), "mode": mode,
           "settings": {k: config[k] for k in args.only}, "torch_threads": settings_threads,
           "seconds": {}, "results": {}, "errors": {}}
    print(json.dumps(out["environment"], indent=1))
    for name in args.only:
        print(f"\n######## {name} {config[name]}", flush=True)
        start = time.perf_counter()
        try:
            out["results"][name] = run_section(name, dict(config[name]), out["results"])
        except Exception as exc:  # noqa: BLE001 - report and go on with the next section
            traceback.print_exc()
            out["errors"][name] = f"{type(exc).__name__}: {exc}"
        out["seconds"][name] = time.perf_counter() - start
        with open(args.json, "w") as f:
            json.dump(_jsonable(out), f, indent=1)

    print("\n" + "=" * 100)
    print(f"{'quantity':<44} value")
    for name, result in out["results"].items():
        for quantity, value in _summary(name, result):
            print(f"{quantity:<44} {value}")
    for name, err in out["errors"].items():
        print(f"{name:<44} FAILED: {err}")
    print(f"\nwritten {args.json}; section seconds: "
          + ", ".join(f"{k} {v:.0f}" for k, v in out["seconds"].items()))
    return out


if __name__ == "__main__":
    main()
