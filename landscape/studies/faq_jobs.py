"""The folklore report's claims measured in several processes at once.

A claim is measured by one process, start to end, exactly as :func:`landscape.studies.faq.run`
measures it in its own process (same config, same seeds, same code; nothing is shared
between claims), and stored in the run directory; ``run`` then loads every stored
measurement and writes the report. Most of a quick claim is XLA compiling small
programs, one core at a time, so two processes on two cores take about half the time.

A claim with wall-clock numbers (``TIMING_KEYS``, C11's step times) is measured first,
alone, so that no other claim competes with the times it takes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

__all__ = ["measure"]


def _start_worker(x64: bool) -> None:
    """A worker measures with this process's float width (``jax_enable_x64``)."""
    import jax

    jax.config.update("jax_enable_x64", x64)


def _measure_task(claim_id: str, name: str, config, run_dir: str) -> str:
    """Measure (or load) one claim at ``config`` into ``run_dir / name``; ``name``."""
    from landscape.studies import faq, faq_store

    faq_store.measured(faq.load_claim(claim_id), config, Path(run_dir) / name)
    return name


def measure(ids: Sequence[str], *, profile: str, run_dir: str | Path, jobs: int,
            progress: bool = True) -> None:
    """Measure every task of the claims ``ids`` not yet stored in ``run_dir`` (the
    profile's directory), ``jobs`` processes at a time; claims with wall-clock numbers
    first and alone, in this process."""
    import jax
    from tqdm.auto import tqdm

    from landscape.studies import faq, faq_store

    timed, rest = [], []
    for claim_id in ids:
        module = faq.load_claim(claim_id)
        for name, _, config in faq._task_configs(module, profile):
            if not faq_store.is_stored(module, config, Path(run_dir) / name):
                (timed if getattr(module, "TIMING_KEYS", ()) else rest).append(
                    (claim_id, name, config))
    with tqdm(total=len(timed) + len(rest), desc="claims", unit="task",
              disable=not progress) as bar:
        for task in timed:
            bar.set_postfix_str(task[1])
            _measure_task(*task, str(run_dir))
            bar.update()
        if not rest:
            return
        # spawn: a fresh interpreter per worker (forking a process that has started
        # XLA's threads is unsafe)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                                 initializer=_start_worker,
                                 initargs=(bool(jax.config.jax_enable_x64),)) as pool:
            futures = [pool.submit(_measure_task, *task, str(run_dir)) for task in rest]
            for future in as_completed(futures):
                bar.set_postfix_str(future.result())
                bar.update()
