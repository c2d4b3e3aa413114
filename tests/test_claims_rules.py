"""Verdict rules of the new parts (C1 across dimension, C11 growing batch, C14 disagreement)
and the per-task combination, on constructed numbers both ways."""

import pytest

from landscape.studies import faq
from landscape.studies.claims import _rules

NAN = float("nan")


def test_combine_tasks_each_way():
    S, N, U = faq.SUPPORTED, faq.NOT_SUPPORTED, faq.INCONCLUSIVE
    assert faq.combine_tasks([S, S]) == "supported on both"
    assert faq.combine_tasks([N, N]) == "not supported on both"
    assert faq.combine_tasks([S, N]) == faq.combine_tasks([N, S]) == "depends on the task"
    assert faq.combine_tasks([S, U]) == faq.combine_tasks([U, N]) == U
    assert faq.combine_tasks([S]) == S  # one task: its own label
    with pytest.raises(ValueError, match="labels"):
        faq.combine_tasks([])
    with pytest.raises(ValueError, match="labels"):
        faq.combine_tasks(["maybe", S])


def test_dimension_supported_when_minima_are_few_and_not_growing():
    v = _rules.dimension_verdict([40, 200, 1000], [0.3, 0.2, 0.1], [0.0, 0.05, 0.0])
    assert v.label == faq.SUPPORTED
    assert "1000 parameters: 10% minima" in v.reason


def test_dimension_not_supported_when_minima_common_or_bad_at_the_largest_size():
    assert _rules.dimension_verdict([40, 1000], [0.1, 0.6], [0.0, 0.0]).label == faq.NOT_SUPPORTED
    assert _rules.dimension_verdict([40, 1000], [0.1, 0.1], [0.0, 0.3]).label == faq.NOT_SUPPORTED


def test_dimension_inconclusive_when_worse_than_at_the_smallest_or_missing():
    assert _rules.dimension_verdict([40, 1000], [0.1, 0.4], [0.0, 0.0]).label == faq.INCONCLUSIVE
    assert _rules.dimension_verdict([40, 1000], [NAN, 0.1], [0.0, 0.0]).label == faq.INCONCLUSIVE


def test_dimension_rejects_bad_input():
    with pytest.raises(ValueError, match="sizes: must increase"):
        _rules.dimension_verdict([1000, 40], [0.1, 0.1], [0.0, 0.0])
    with pytest.raises(ValueError, match="sizes"):
        _rules.dimension_verdict([40], [0.1], [0.0])


def _counts(small, large, growing):
    return dict(zip(("small", "large", "growing"), (small, large, growing), strict=True))


def test_growing_batch_holds_with_few_examples_and_few_steps():
    steps, examples = _counts(800, 100, 300), _counts(12800, 25600, 14000)
    assert _rules.growing_batch_part(steps, examples) is True


def test_growing_batch_fails_each_way():
    examples = _counts(12800, 25600, 14000)
    assert _rules.growing_batch_part(_counts(800, 100, 800), examples) is False  # no fewer steps
    assert _rules.growing_batch_part(_counts(800, 100, 300),
                                     _counts(12800, 25600, 30000)) is False  # > 2x examples
    assert _rules.growing_batch_part(_counts(800, 100, NAN),
                                     _counts(12800, 25600, NAN)) is False  # never reached


def test_growing_batch_undecided():
    # 1.5x the examples: neither within 1.25x nor beyond 2x
    assert _rules.growing_batch_part(_counts(800, 100, 300), _counts(12800, 25600, 19200)) is None
    # the small batch never reached the target: nothing to compare with
    assert _rules.growing_batch_part(_counts(NAN, 100, 300), _counts(NAN, 25600, 9600)) is None
    with pytest.raises(ValueError, match="steps"):
        _rules.growing_batch_part({"small": 1.0}, _counts(1, 1, 1))


def test_disagreement_weighs_both_sides():
    S, N, U = faq.SUPPORTED, faq.NOT_SUPPORTED, faq.INCONCLUSIVE
    # reproducible, but seeds disagree far beyond their accuracy gap
    v = _rules.disagreement_verdict(0.0, 0.30, 0.02, {"init only": 0.25})
    assert v.label == S and "30.0%" in v.reason and "init only 25.0%" in v.reason
    # reproducible and seeds agree up to their accuracy gap
    assert _rules.disagreement_verdict(0.0, 0.04, 0.02).label == N
    # in between: 3x the gap not reached, but more than 1.5x + 2 points
    assert _rules.disagreement_verdict(0.0, 0.10, 0.04).label == U
    # above 3x the gap but below the 5% floor: not "different things", and not "the same"
    # unless within 2 points
    assert _rules.disagreement_verdict(0.0, 0.04, 0.0).label == U
    assert _rules.disagreement_verdict(0.0, 0.015, 0.0).label == N
    # not reproducible at all
    assert _rules.disagreement_verdict(1e-6, 0.0, 0.0).label == S
    assert _rules.disagreement_verdict(NAN, 0.3, 0.02).label == U
