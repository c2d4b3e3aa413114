"""Growing the batch during training (Smith et al. 2018), against fixed batches.

Three schedules share one examples budget, one learning rate and one model:

- *fixed small*: batch ``B`` throughout;
- *fixed large*: batch ``B * 2**K`` throughout;
- *growing*: ``K + 1`` phases of equal examples, the batch doubling at the start of
  each phase (``B, 2B, ..., 2**K B``), the learning rate held constant: "don't decay
  the learning rate, increase the batch size".

Every schedule is run as ``K + 1`` phases of equal examples, each phase a call of
:func:`landscape.train.train_seeds` started from the previous phase's parameters
(plain SGD keeps no optimizer state, so a phase boundary changes nothing else; each
phase draws its minibatch order from its own key). A phase at batch ``b`` has the
same training configuration in all three schedules, so the programs compile once per
batch size. Steps and examples to the target are counts read off the joined curves,
not seconds, so they do not depend on the machine's load.

References
----------
Smith, Kindermans, Ying & Le (2018), "Don't decay the learning rate, increase the
batch size", ICLR.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from landscape import train
from landscape.problem import Problem
from landscape.studies import batch_size

SCHEDULES = ("small", "large", "growing")


class GrowingResult(NamedTuple):
    """Per schedule (``small``, ``large``, ``growing``): median steps and examples to the
    target over seeds (NaN when a seed never reached it), and the joined curves."""

    steps: dict[str, float]
    examples: dict[str, float]
    batch_sizes: dict[str, tuple[int, ...]]  # batch of each phase
    curve_examples: dict[str, np.ndarray]  # (E,) examples seen at each evaluation
    curve_loss: dict[str, np.ndarray]  # (S, E) training loss


def phase_batches(schedule: str, min_batch: int, doublings: int) -> tuple[int, ...]:
    """The batch size of each phase.

    >>> phase_batches("growing", 16, 3), phase_batches("large", 16, 3)
    ((16, 32, 64, 128), (128, 128, 128, 128))
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: choose one of {SCHEDULES}, got {schedule!r}")
    if min_batch < 1 or doublings < 1:
        raise ValueError(f"min_batch, doublings: must be >= 1, got {min_batch}, {doublings}")
    phases = doublings + 1
    if schedule == "small":
        return (min_batch,) * phases
    if schedule == "large":
        return (min_batch * 2**doublings,) * phases
    return tuple(min_batch * 2**k for k in range(phases))


def run(
    problem: Problem, *, min_batch: int, doublings: int,
    phase_examples: int, learning_rate: float, target: float, key: jax.Array, num_seeds: int,
    evals_per_phase: int = 8, progress: bool = False,
) -> GrowingResult:
    """Train the three schedules for ``num_seeds`` seeds and count steps and examples
    to a training loss of ``target``.

    ``phase_examples`` must be a multiple of ``min_batch * 2**doublings *
    evals_per_phase`` so that every phase has whole steps and evaluations.
    """
    largest = min_batch * 2**doublings
    if phase_examples % (largest * evals_per_phase):
        raise ValueError(f"phase_examples: must be a multiple of {largest * evals_per_phase} "
                         f"(largest batch x evaluations per phase), got {phase_examples}")
    seed_keys = jax.random.split(key, num_seeds)
    start = jax.vmap(lambda k: problem.init(jax.random.split(k, 3)[0]))(seed_keys)
    out = GrowingResult({}, {}, {}, {}, {})
    for schedule in SCHEDULES:
        params, seen, xs, losses = start, 0, [], []
        batches = phase_batches(schedule, min_batch, doublings)
        for phase, b in enumerate(batches):
            steps = phase_examples // b
            config = train.TrainConfig(optimizer="sgd", learning_rate=learning_rate,
                                       num_steps=steps, batch_size=b,
                                       eval_every=steps // evals_per_phase)
            keys = jax.vmap(lambda k, p=phase: jax.random.fold_in(k, p))(seed_keys)
            result = train.train_seeds(problem, config, keys=keys, init_params=params,
                                       progress=progress)
            params = result.params
            c = result.curves
            first = 0 if phase == 0 else 1  # step 0 of a later phase repeats the last point
            xs.append(seen + np.asarray(c.step)[first:] * b)
            losses.append(np.asarray(c.train_loss)[:, first:])
            seen += steps * b
        x, y = np.concatenate(xs), np.concatenate(losses, axis=1)
        examples = np.array([batch_size.steps_to_target(x, row, target, higher_is_better=False)
                             for row in y])
        examples = np.where(np.isfinite(examples), examples, np.nan)
        out.examples[schedule] = float(np.median(examples))
        out.steps[schedule] = float(np.median(_steps_from_examples(examples, batches,
                                                                   phase_examples)))
        out.batch_sizes[schedule] = batches
        out.curve_examples[schedule], out.curve_loss[schedule] = x, y
    return out


def _steps_from_examples(examples: np.ndarray, batches: tuple[int, ...],
                         phase_examples: int) -> np.ndarray:
    """Steps taken to see ``examples`` examples under a schedule of ``batches`` per phase.

    >>> _steps_from_examples(np.array([100.0, 300.0]), (10, 20), 200)
    array([10., 25.])
    """
    steps = np.zeros_like(examples, dtype=float)
    left = np.asarray(examples, float).copy()
    for b in batches:
        take = np.clip(left, 0, phase_examples)
        steps += take / b
        left -= take
    return np.where(np.isfinite(examples), steps, np.nan)
