"""The spectrum study on a tiny configuration: its numbers against direct computations,
the figure rendered to Agg, and the run directory read back."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from landscape.studies import spectrum  # noqa: E402


def test_count_outliers():
    assert spectrum.count_outliers(np.array([10.0, 9.0, 2.0, 1.9, 1.8])) == (2, 4.5)
    count, ratio = spectrum.count_outliers(np.array([3.0, 2.9, 2.8]))
    assert count in (1, 2) and ratio < 1.1  # no clear gap: a ratio near 1 says so


def test_tiny_study_runs_plots_and_reloads(tmp_path):
    config = spectrum.SpectrumConfig(
        num_samples=300, hidden=(8,), num_steps=20, eval_every=10, num_top=3,
        lanczos_iters=20, slq_iters=10, slq_probes=2, sharpness_iters=10,
    )
    result = spectrum.run(config, tmp_path / "run", progress=False)
    s = result.summary
    assert result.sharpness["lambda_max"].shape == (3,)
    for phase in ("init", "trained"):
        sp = result.spectra[phase]
        assert np.all(np.diff(sp["top"]) <= 0) and np.all(np.diff(sp["bottom"]) >= 0)
        assert sp["bottom"][0] <= sp["top"][0]
        np.testing.assert_allclose(np.sum(sp["weights"], axis=1), 1.0, rtol=1e-5)
        assert s[phase]["index_bracket"][0] <= s[phase]["index"] <= s[phase]["index_bracket"][1]
    # the sharpness at step 0 is lambda_max at the initialisation
    assert result.sharpness["lambda_max"][0] == pytest.approx(s["init"]["lambda_max"], rel=1e-3)
    assert s["edge_of_stability"] == pytest.approx(2.0 / config.learning_rate)
    assert "outliers" in spectrum.format_summary(s)
    fig = spectrum.plot(result)
    fig.savefig(tmp_path / "spectrum.png")
    plt.close(fig)
    back = spectrum.load(tmp_path / "run")
    assert back.config == config
    np.testing.assert_allclose(back.sharpness["lambda_max"], result.sharpness["lambda_max"])
    with pytest.raises(ValueError, match="num_top"):
        spectrum.SpectrumConfig(num_top=20, lanczos_iters=30)
    with pytest.raises(ValueError, match="profile"):
        spectrum.SpectrumConfig.profile("huge")
