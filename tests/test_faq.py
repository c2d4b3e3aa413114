"""The folklore report: framework, resumption, and claim C14 end to end at a tiny size."""

import dataclasses
import os

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
    base = {"same_seed_max_param_diff": 0.0, "seed_cv_val_loss": 0.02,
            "test_disagreement": 0.03, "test_accuracy_gap": 0.02}
    assert c14_determinism.verdict(base).label == faq.NOT_SUPPORTED
    spread = {**base, "test_disagreement": 0.3, "disagreement_init_only": 0.25}
    v = c14_determinism.verdict(spread)
    assert v.label == faq.SUPPORTED and "init only 25.0%" in v.reason and "CV of" in v.reason
    assert c14_determinism.verdict({**base, "same_seed_max_param_diff": 1e-6}).label == (
        faq.SUPPORTED)
    broken = {**base, "same_seed_max_param_diff": float("nan")}
    assert c14_determinism.verdict(broken).label == faq.INCONCLUSIVE


def test_c14_pairwise_disagreement():
    preds = np.array([[0, 1, 2, 3], [0, 1, 2, 0], [1, 1, 2, 3]])
    labels = np.array([0, 1, 2, 3])
    disagree, gap = c14_determinism.pairwise(preds, labels)
    assert disagree == pytest.approx((1 / 4 + 1 / 4 + 2 / 4) / 3)
    assert gap == pytest.approx((1 / 4 + 1 / 4 + 0) / 3)
    with pytest.raises(ValueError, match="predictions"):
        c14_determinism.pairwise(preds[:1], labels)


TINY_C14 = c14_determinism.Config(
    task=_common.Task(num_samples=300),
    hidden=(8,),
    num_seeds=2,
    source_runs=2,
    training=train.TrainConfig(
        optimizer="adam", learning_rate=1e-2, num_steps=20, batch_size=16, eval_every=10
    ),
)


@pytest.mark.slow
def test_c14_end_to_end_and_resume(tmp_path, monkeypatch):
    monkeypatch.setitem(c14_determinism.PROFILES, "quick", TINY_C14)
    monkeypatch.setattr(c14_determinism, "OTHER_TASKS", {})
    rows = faq.run(
        ["C14"],
        profile="quick",
        run_dir=tmp_path / "runs",
        figure_dir=tmp_path / "fig",
        progress=False,
    )
    assert [r.task for r in rows] == ["mnist1d"]  # the second task is switched off here
    assert rows[0].numbers["same_seed_max_param_diff"] == 0.0  # explicit keys: bit-identical
    n = rows[0].numbers
    assert 0.0 <= n["test_accuracy_gap"] <= n["test_disagreement"] <= 1.0
    for source in ("init", "data_order", "dropout"):
        assert 0.0 <= n[f"disagreement_{source}_only"] <= 1.0
    # with every other source fixed, init only still moves the predictions at this size
    assert n["disagreement_init_only"] > 0.0
    report = (tmp_path / "fig" / "REPORT.md").read_text()
    assert "## C14" in report and "C14.png" in report and rows[0].verdict.label in report
    assert "| time |" not in report and " s |" not in report  # run times live in TIMINGS.md
    assert "C14 | mnist1d" in (tmp_path / "fig" / "TIMINGS.md").read_text()
    assert (tmp_path / "fig" / "C14.png").stat().st_size > 1000

    # measured in a worker process (--jobs 2): the same numbers, bit for bit
    parallel = faq.run(["C14"], profile="quick", run_dir=tmp_path / "runs-jobs",
                       figure_dir=tmp_path / "fig-jobs", progress=False, jobs=2)
    assert parallel[0].numbers == rows[0].numbers

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


@pytest.mark.slow
def test_command_line_exits_zero_and_rejects_unknown_claims(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(c14_determinism.PROFILES, "quick", TINY_C14)
    monkeypatch.setattr(c14_determinism, "OTHER_TASKS", {})
    # one process: the worker path (--jobs 2, the default) is the slow end-to-end test's
    status = faq.main(["--claims", "C14", "--run-dir", str(tmp_path / "r"), "--out",
                       str(tmp_path / "f"), "--quiet", "--jobs", "1"])
    assert status == 0
    assert "C14  " in capsys.readouterr().out
    with pytest.raises(ValueError, match="jobs"):
        faq.run(["C14"], jobs=0, run_dir=tmp_path / "r", figure_dir=tmp_path / "f")
    for bad in (["--claims", "C99"], ["--jobs", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            faq.main(bad)
        assert exit_info.value.code == 2
    assert "--jobs" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.0, "3"), (0.1234, "0.123"), (1e-5, "1.00e-05"), (float("inf"), "inf"),
     (float("nan"), "nan"), (-float("inf"), "-inf")],
)
def test_format_number(value, text):
    assert faq._format_number(value) == text


def test_report_shows_both_tasks_and_the_combined_verdict(tmp_path):
    row = faq.ClaimResult("C5", "title", "rule", "settings", {"x": 1.0},
                          faq.Verdict(faq.SUPPORTED, "because"), "C5.png", 12.0, "mnist1d",
                          {"wall": 0.5})
    other = row._replace(verdict=faq.Verdict(faq.NOT_SUPPORTED, "no"), figure="C5-digits.png",
                         task="digits", timings={})
    merged = faq._merge_previous([row, other], tmp_path)
    assert [(r.id, r.task) for r in merged] == [("C5", "mnist1d"), ("C5", "digits")]
    assert merged[0].seconds == 12.0 and merged[0].timings == {"wall": 0.5}
    assert "12" not in (tmp_path / "claims.json").read_text()  # times are kept apart
    text = faq.write_report(merged, tmp_path / "REPORT.md", profile="quick").read_text()
    assert "### C5 on digits" in text and "| | | *combined* | **depends on the task** | |" in text
    assert "**0 supported, 0 not supported, 0 inconclusive, 1 depending on the task** of 1" in text
    timings = faq.write_timings(merged, tmp_path / "TIMINGS.md", profile="quick").read_text()
    assert "| C5 | mnist1d | 12 s | wall = 0.5 |" in timings


def test_cheap_compile_flags_add_to_the_users_flags_and_never_override_them(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)  # a CPU-only install
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2 "
                       "--xla_cpu_use_fusion_emitters=true")
    faq.cheap_compile_flags()
    flags = os.environ["XLA_FLAGS"].split()
    assert flags == ["--xla_force_host_platform_device_count=2",
                     "--xla_cpu_use_fusion_emitters=true",  # the user's, kept
                     "--xla_llvm_disable_expensive_passes=true"]
    monkeypatch.setattr("importlib.util.find_spec", lambda name: name == "jax_cuda12_plugin")
    monkeypatch.setenv("XLA_FLAGS", "")
    faq.cheap_compile_flags()  # an accelerator install: nothing added
    assert os.environ["XLA_FLAGS"] == ""
