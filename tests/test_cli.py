"""The command line built from a study's Config: help text, overrides, --problem."""

import dataclasses
import re

import pytest

from landscape.studies import cli
from landscape.studies._common import Profile


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of a demo study.

    Attributes
    ----------
    num_seeds : int
        Seeds trained at once. More text that is not shown.
    batch_size : int or None
        Examples per step; none for the full batch.
    hidden : tuple of int
        Widths.
    measure_curvature : bool
        Measure the curvature of the endpoints.
    learning_rate, momentum : float
        The optimizer's settings.
    """

    num_seeds: int = 4
    batch_size: int | None = 32
    hidden: tuple[int, ...] = (8,)
    measure_curvature: bool = True
    learning_rate: float = 0.1
    momentum: float = 0.9


PROFILES = {
    "quick": Profile({"model": "mlp", "dataset": "gaussian_mixture", "num_samples": 60},
                     Config()),
    "full": Profile({"model": "mlp", "dataset": "gaussian_mixture"}, Config(num_seeds=64)),
}


def _help(capsys) -> str:
    parser = cli.build_parser("demo", Config, PROFILES, description="A demo study.")
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_help_shows_each_default_once_and_correctly(capsys):
    text = _help(capsys)
    assert "(default: None)" not in text and "(default:" not in text
    assert "--num-seeds INT Seeds trained at once; default 4 (quick), 64 (full)" in text
    assert "More text" not in text
    assert "--batch-size INT|none Examples per step; none for the full batch; default 32" in text
    assert "--hidden INT [INT ...] Widths; default 8" in text
    assert "--measure-curvature, --no-measure-curvature" in text
    assert "--momentum FLOAT The optimizer's settings; default 0.9" in text
    assert "default runs/demo-PROFILE" in text
    assert "package.module:function" in text
    for flag in ("--num-seeds", "--batch-size", "--run-dir", "--out", "--learning-rate"):
        entry = text.split("options:", 1)[1].split(flag, 1)[1].split(" --", 1)[0]
        assert len(re.findall(r"\bdefault\b", entry)) == 1, (flag, entry)


def test_overrides_only_what_was_given():
    parser = cli.build_parser("demo", Config, PROFILES)
    args = parser.parse_args(["--profile", "full", "--hidden", "3", "4", "--batch-size", "none",
                              "--no-measure-curvature"])
    overrides = cli.config_overrides(args, Config)
    assert overrides == {"hidden": (3, 4), "batch_size": None, "measure_curvature": False}
    config = dataclasses.replace(PROFILES[args.profile].config, **overrides)
    assert config.num_seeds == 64 and config.hidden == (3, 4)
    with pytest.raises(SystemExit):
        parser.parse_args(["--num-seeds", "x"])


def test_problem_module_function_loads_and_is_recorded():
    prob = cli.resolve_problem("_problems:tiny_mlp", PROFILES["quick"],
                               cli.parse_problem_options(["hidden=5"]))
    assert prob.source == "_problems:tiny_mlp"
    assert prob.describe()["source"] == "_problems:tiny_mlp"
    assert prob.name == "tiny tanh mlp (5)"
    builtin = cli.resolve_problem(None, PROFILES["quick"], {"hidden": (3,)})
    assert builtin.info["builtin"]["hidden"] == [3]
    assert builtin.data.name.startswith("gaussian_mixture")
    other = cli.resolve_problem("deep_linear", PROFILES["quick"])
    assert other.info["builtin"]["model"] == "deep_linear"
    with pytest.raises(ValueError, match="problem: cannot import module"):
        cli.resolve_problem("no_such_module_xyz:make", PROFILES["quick"])
    with pytest.raises(ValueError, match="--problem-option: expected KEY=VALUE"):
        cli.parse_problem_options(["hidden"])


def test_field_help_reads_the_attributes_section():
    docs = cli.field_help(Config)
    assert docs["num_seeds"] == "Seeds trained at once"
    assert docs["learning_rate"] == docs["momentum"] == "The optimizer's settings"
