"""The folklore report (faq_store) reuses a stored measurement only when config and code match."""

from landscape import results
from landscape.studies import faq, faq_store

MODULE = '''
"""Docstring."""
import numpy as np
ID = "C0"
RULE = "a rule"
MARGIN = 0.1


def _helper(x):
    return 2 * x


def measure(config, *, progress=False):
    return _helper(config)


def verdict(numbers):
    return numbers["x"] > MARGIN


def plot(measurement):
    return None
'''


def test_measuring_part_ignores_wording_figures_and_verdicts():
    base = faq_store._measuring_part(MODULE)
    for old, new in [('RULE = "a rule"', 'RULE = "another rule"'),
                     ("MARGIN = 0.1", "MARGIN = 0.2"),  # read by the verdict only
                     ("return None", "return 1"),  # the figure
                     ('"""Docstring."""', '"""Another docstring."""')]:
        assert faq_store._measuring_part(MODULE.replace(old, new)) == base, old
    for old, new in [("return 2 * x", "return 3 * x"), ("import numpy as np", "import math")]:
        assert faq_store._measuring_part(MODULE.replace(old, new)) != base, old


def test_stored_result_of_other_code_is_not_loaded(tmp_path):
    config = {"n": 1}
    results.write_arrays(tmp_path / "arrays.npz", {})
    results.write_json(tmp_path / "result.json", {"config": config, "code": "abc",
                                                  "numbers": {"x": 1.0}, "settings": "s",
                                                  "seconds": 2.0})
    assert faq_store._load_stored(tmp_path, config, "abc") is not None
    assert faq_store._load_stored(tmp_path, config, "def") is None  # older code: measure again
    assert faq_store._load_stored(tmp_path, {"n": 2}, "abc") is None


def test_code_fingerprint_is_stable():
    module = faq.load_claim("C4")
    assert faq_store.code_fingerprint(module) == faq_store.code_fingerprint(module)
    assert faq_store.code_fingerprint(module) != faq_store.code_fingerprint(faq.load_claim("C5"))
