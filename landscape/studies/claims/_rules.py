"""Verdict rules of the new parts of claims C1, C11 and C14, as pure functions of numbers.

Each rule is stated here before anything is measured and is tested on constructed
numbers both ways (``tests/test_claims_rules.py``). A rule returns a
:class:`~landscape.studies.faq.Verdict` (or, for a part of a claim, ``True``,
``False`` or ``None`` when the part could not be decided) and never reads a
measurement it was not given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from landscape.studies.faq import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Verdict

__all__ = [
    "DIMENSION_RULE",
    "DISAGREEMENT_RULE",
    "GROWING_RULE",
    "dimension_verdict",
    "disagreement_verdict",
    "growing_batch_part",
]

# --- C1 across dimension -------------------------------------------------------------

MINIMA_FRACTION_MAX = 0.5  # at the largest size at most half the critical points are minima
EXCESS_MAX = 0.1  # the worst minimum within 10% of the loss range above the best critical loss
TREND_SLACK = 0.05  # "does not grow": largest-size value <= smallest-size value + slack

DIMENSION_RULE = (
    "Critical points of one family at several sizes (from tens to hundreds of parameters, "
    "or to about a thousand in the full profile; the settings list them). "
    "Per size: f = the fraction of distinct critical points that are minima, and e = the "
    "loss of the worst minimum above the best critical loss, as a fraction of the loss range "
    "of the distinct critical points (0 when no minimum is found). **Supported** if at the "
    f"largest size f <= {MINIMA_FRACTION_MAX} and e <= {EXCESS_MAX}, and neither grows from "
    f"the smallest to the largest size (by more than {TREND_SLACK}). **Not supported** if at "
    f"the largest size f > {MINIMA_FRACTION_MAX} or e > {EXCESS_MAX}. **Inconclusive** "
    "otherwise (good at the largest size but worse than at the smallest), or when a size "
    "found no critical point."
)


def dimension_verdict(
    sizes: Sequence[float], minima_fraction: Sequence[float], worst_excess: Sequence[float]
) -> Verdict:
    """C1 across dimension: how minima and bad minima move with the number of parameters.

    Parameters
    ----------
    sizes : sequence of float
        Parameters of each size, increasing.
    minima_fraction : sequence of float
        Fraction of distinct critical points that are minima, per size.
    worst_excess : sequence of float
        (worst minimum's loss - best critical loss) / loss range, per size.

    Examples
    --------
    >>> dimension_verdict([50, 200, 1000], [0.4, 0.2, 0.1], [0.05, 0.0, 0.0]).label
    'supported'
    >>> dimension_verdict([50, 1000], [0.2, 0.8], [0.0, 0.0]).label
    'not supported'
    """
    sizes = np.asarray(sizes, float)
    f = np.asarray(minima_fraction, float)
    e = np.asarray(worst_excess, float)
    if not (sizes.ndim == 1 and len(sizes) >= 2 and f.shape == e.shape == sizes.shape):
        raise ValueError(f"sizes: need two or more sizes with one value each, got {sizes.shape}, "
                         f"{f.shape}, {e.shape}")
    if np.any(np.diff(sizes) <= 0):
        raise ValueError(f"sizes: must increase, got {sizes.tolist()}")
    table = ", ".join(f"{s:.0f} parameters: {100 * a:.0f}% minima, worst excess {b:.2g}"
                      for s, a, b in zip(sizes, f, e, strict=True))
    if not (np.all(np.isfinite(f)) and np.all(np.isfinite(e))):
        return Verdict(INCONCLUSIVE, f"a size found no critical point ({table})")
    if f[-1] > MINIMA_FRACTION_MAX or e[-1] > EXCESS_MAX:
        return Verdict(NOT_SUPPORTED, f"at the largest size minima are common or bad ({table})")
    if f[-1] <= f[0] + TREND_SLACK and e[-1] <= e[0] + TREND_SLACK:
        return Verdict(SUPPORTED, f"minima are few and none is bad at the largest size, and "
                                  f"neither grows with size ({table})")
    return Verdict(INCONCLUSIVE, f"good at the largest size, but worse than at the smallest "
                                 f"({table})")


# --- C11 growing batch ---------------------------------------------------------------

EXAMPLES_SLACK = 1.25  # growing may use up to 25% more examples than the small batch
STEPS_GAIN = 0.5  # and must need at most half the small batch's steps
EXAMPLES_FAIL = 2.0  # fails when it needs over twice the small batch's examples

GROWING_RULE = (
    "(e) growing the batch gets the best of both: a schedule that doubles the batch at fixed "
    "points, against fixed small and fixed large batches with the same examples budget and "
    "learning rate; judged on counts, not seconds. It holds if the growing schedule reaches "
    f"the target with at most {EXAMPLES_SLACK}x the examples of the fixed small batch and at "
    f"most {STEPS_GAIN}x its steps; it fails if it does not reach the target while the small "
    f"batch does, needs more than {EXAMPLES_FAIL}x the small batch's examples, or no fewer "
    "steps than it; otherwise it is undecided."
)


def growing_batch_part(
    steps: dict[str, float], examples: dict[str, float]
) -> bool | None:
    """Part (e) of C11 from the steps and examples each schedule needed to reach the target.

    Parameters
    ----------
    steps, examples : dict
        Keys ``"small"``, ``"large"``, ``"growing"``; NaN where the target was not reached.

    Returns
    -------
    bool or None
        True (holds), False (fails), None (undecided or not measurable).

    Examples
    --------
    >>> growing_batch_part({"small": 800, "large": 100, "growing": 300},
    ...                    {"small": 12800, "large": 25600, "growing": 14000})
    True
    >>> growing_batch_part({"small": 800, "large": 100, "growing": 900},
    ...                    {"small": 12800, "large": 25600, "growing": 40000})
    False
    """
    for name, table in (("steps", steps), ("examples", examples)):
        if set(table) != {"small", "large", "growing"}:
            raise ValueError(f"{name}: need keys small, large, growing; got {sorted(table)}")
    small_ok = np.isfinite(steps["small"]) and np.isfinite(examples["small"])
    grow_ok = np.isfinite(steps["growing"]) and np.isfinite(examples["growing"])
    if not small_ok:
        return None  # no reference to compare with
    if not grow_ok:
        return False
    if (examples["growing"] > EXAMPLES_FAIL * examples["small"]
            or steps["growing"] >= steps["small"]):
        return False
    if (examples["growing"] <= EXAMPLES_SLACK * examples["small"]
            and steps["growing"] <= STEPS_GAIN * steps["small"]):
        return True
    return None


# --- C14 disagreement ----------------------------------------------------------------

DISAGREE_FACTOR = 3.0  # seeds learn different things: disagreement >= 3x the accuracy gap
DISAGREE_MIN = 0.05  # ... and at least 5% of the test examples
SAME_FACTOR = 1.5  # seeds learn the same thing: disagreement <= 1.5x the gap + 2 points
SAME_SLACK = 0.02

DISAGREEMENT_RULE = (
    "Both sides weighed. (i) Reproducibility: train the same configuration (shuffling, random "
    "init and dropout all on) twice with the same seed. (ii) What randomness changes: for "
    "pairs of seeds, d = the fraction of test examples on which their predicted classes "
    "differ, and g = the difference of their test accuracies (means over pairs); also with "
    "one source of randomness varied at a time (init only, data order only, dropout only). "
    "**Supported** if the same-seed runs differ (randomness cannot be replayed), or if they "
    f"are bit-identical but d >= {DISAGREE_FACTOR:g} g and d >= {DISAGREE_MIN:g}: a seed can "
    "be replayed, but which examples a model gets right is an accident of its seed, so a "
    "specific behaviour of one model cannot be explained from one run. **Not supported** if "
    f"the runs are bit-identical and d <= {SAME_FACTOR:g} g + {SAME_SLACK:g} (seeds learn the "
    "same predictions up to their accuracy). **Inconclusive** otherwise."
)


def disagreement_verdict(
    max_param_diff: float, disagreement: float, accuracy_gap: float,
    by_source: dict[str, float] | None = None,
) -> Verdict:
    """C14: reproducibility of a seed against how much seeds disagree on test predictions.

    Parameters
    ----------
    max_param_diff : float
        Max |difference| between the parameters of two runs with the same seed.
    disagreement : float
        Mean fraction of test examples on which two seeds' predictions differ.
    accuracy_gap : float
        Mean |test accuracy difference| over the same pairs.
    by_source : dict, optional
        Mean disagreement with one source of randomness varied (reported only).

    Examples
    --------
    >>> disagreement_verdict(0.0, 0.30, 0.02).label
    'supported'
    >>> disagreement_verdict(0.0, 0.03, 0.02).label
    'not supported'
    >>> disagreement_verdict(1e-7, 0.0, 0.0).label
    'supported'
    """
    sources = ""
    if by_source:
        sources = "; varying one source at a time: " + ", ".join(
            f"{name} {100 * value:.1f}%" for name, value in by_source.items())
    if not np.isfinite(max_param_diff):
        return Verdict(INCONCLUSIVE, "the runs did not finish with finite parameters")
    if max_param_diff > 0:
        return Verdict(SUPPORTED, f"the same seed gave parameters differing by up to "
                                  f"{max_param_diff:.2e}: the randomness cannot be replayed")
    if not (np.isfinite(disagreement) and np.isfinite(accuracy_gap)):
        return Verdict(INCONCLUSIVE, "the same seed reproduced every bit, but the seeds' "
                                     "disagreement could not be measured")
    said = (f"the same seed reproduced every parameter bit for bit, so a run can be replayed; "
            f"two seeds disagree on {100 * disagreement:.1f}% of the test examples against an "
            f"accuracy gap of {100 * accuracy_gap:.1f} points{sources}")
    if disagreement >= DISAGREE_FACTOR * accuracy_gap and disagreement >= DISAGREE_MIN:
        return Verdict(SUPPORTED, said + ": seeds learn different things, so why one model "
                                         "learned a specific behaviour depends on its seed")
    if disagreement <= SAME_FACTOR * accuracy_gap + SAME_SLACK:
        return Verdict(NOT_SUPPORTED, said + ": seeds learn the same predictions")
    return Verdict(INCONCLUSIVE, said)
