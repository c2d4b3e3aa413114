"""The folklore report: framework, resumption, and claim C14 end to end at a tiny size."""

import dataclasses

import numpy as np
import pytest

from landscape import train
from landscape.studies import faq
from landscape.studies.claims import _common, c14_determinism


def test_parse_claims():
    assert faq.parse_claims("c1, C11") == ["C1", "C11"]
    assert faq.parse_claims(None) == list(faq.CLAIM_IDS)
    with pytest.raises(ValueError, match="claims: unknown claim 'C99'"):
        faq.parse_claims("C99")


def test_every_claim_module_has_the_shape(monkeypatch):
    for claim_id in faq.CLAIM_IDS:
        try:
            module = faq.load_claim(claim_id)
        except ModuleNotFoundError:
            continue  # claims not written yet are skipped by this check
        assert module.ID == claim_id
        assert module.TITLE and module.RULE
        assert set(module.PROFILES) == {"quick", "full"}
        assert callable(module.measure) and callable(module.verdict) and callable(module.plot)


def test_c14_verdict_both_ways():
    same = {"same_seed_max_param_diff": 0.0, "seed_cv_val_loss": 0.02}
    assert c14_determinism.verdict(same).label == faq.NOT_SUPPORTED
    differ = {"same_seed_max_param_diff": 1e-6, "seed_cv_val_loss": 0.02}
    assert c14_determinism.verdict(differ).label == faq.SUPPORTED
    broken = {"same_seed_max_param_diff": float("nan"), "seed_cv_val_loss": 0.02}
    assert c14_determinism.verdict(broken).label == faq.INCONCLUSIVE


TINY_C14 = c14_determinism.Config(
    task=_common.Task(num_samples=300),
    hidden=(8,),
    num_seeds=2,
    training=train.TrainConfig(
        optimizer="adam", learning_rate=1e-2, num_steps=20, batch_size=16, eval_every=10
    ),
)


def test_c14_end_to_end_and_resume(tmp_path, monkeypatch):
    monkeypatch.setitem(c14_determinism.PROFILES, "quick", TINY_C14)
    rows = faq.run(
        ["C14"],
        profile="quick",
        run_dir=tmp_path / "runs",
        figure_dir=tmp_path / "fig",
        progress=False,
    )
    assert rows[0].verdict.label == faq.NOT_SUPPORTED  # explicit keys: bit-identical reruns
    assert rows[0].numbers["same_seed_max_param_diff"] == 0.0
    report = (tmp_path / "fig" / "REPORT.md").read_text()
    assert "## C14" in report and "C14.png" in report and "not supported" in report
    assert (tmp_path / "fig" / "C14.png").stat().st_size > 1000

    # a second run loads the stored measurement instead of training again
    def refuse(*args, **kwargs):
        raise AssertionError("measured again although the result was stored")

    monkeypatch.setattr(c14_determinism, "measure", refuse)
    again = faq.run(
        ["C14"],
        profile="quick",
        run_dir=tmp_path / "runs",
        figure_dir=tmp_path / "fig",
        progress=False,
    )
    assert again[0].numbers == rows[0].numbers

    # a different config is measured anew
    changed = dataclasses.replace(TINY_C14, num_seeds=3)
    monkeypatch.setitem(c14_determinism.PROFILES, "quick", changed)
    with pytest.raises(AssertionError, match="measured again"):
        faq.run(
            ["C14"],
            profile="quick",
            run_dir=tmp_path / "runs",
            figure_dir=tmp_path / "fig",
            progress=False,
        )


def test_report_keeps_rows_of_other_claims(tmp_path):
    row = faq.ClaimResult(
        "C5",
        "title",
        "rule",
        "settings",
        {"x": 1.0},
        faq.Verdict(faq.SUPPORTED, "because"),
        "C5.png",
        1.0,
    )
    faq._merge_previous([row], tmp_path)
    other = row._replace(id="C2", figure="C2.png")
    merged = faq._merge_previous([other], tmp_path)
    assert [r.id for r in merged] == ["C2", "C5"]
    path = faq.write_report(merged, tmp_path / "REPORT.md", profile="quick")
    assert "**2 supported, 0 not supported, 0 inconclusive** of 2 claims" in path.read_text()


def test_coefficient_of_variation():
    assert _common.coefficient_of_variation([1.0, 1.0, 1.0]) == 0.0
    assert _common.coefficient_of_variation([1.0, 3.0]) == pytest.approx(np.std([1, 3], ddof=1) / 2)


def test_command_line_exits_zero_and_rejects_unknown_claims(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(c14_determinism.PROFILES, "quick", TINY_C14)
    status = faq.main(["--claims", "C14", "--run-dir", str(tmp_path / "r"), "--out",
                       str(tmp_path / "f"), "--quiet"])
    assert status == 0
    assert "C14  not supported" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        faq.main(["--claims", "C99"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.0, "3"), (0.1234, "0.123"), (1e-5, "1.00e-05"), (float("inf"), "inf"),
     (float("nan"), "nan"), (-float("inf"), "-inf")],
)
def test_format_number(value, text):
    assert faq._format_number(value) == text
