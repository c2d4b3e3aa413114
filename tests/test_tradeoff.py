"""The steps/examples trade-off fit (McCandlish et al. 2018) against synthetic data."""

import numpy as np
import pytest

from landscape import noise, tradeoff

BATCH_SIZES = 2.0 ** np.arange(15)
S_MIN, B_NOISE = 200.0, 300.0


def test_fit_is_exact_on_the_formula():
    steps = S_MIN * (1 + B_NOISE / BATCH_SIZES)
    fit = tradeoff.fit_tradeoff(BATCH_SIZES, steps)
    np.testing.assert_allclose(
        [fit.s_min, fit.e_min, fit.b_crit], [S_MIN, S_MIN * B_NOISE, B_NOISE], rtol=1e-8
    )
    assert fit.success and fit.rms_log_residual < 1e-8 and fit.num_points == 15
    curve_s, curve_e = tradeoff.tradeoff_curve(fit, BATCH_SIZES)
    np.testing.assert_allclose(curve_s, steps, rtol=1e-8)
    np.testing.assert_allclose(curve_e, steps * BATCH_SIZES, rtol=1e-8)
    # the hyperbola (S/S_min - 1)(E/E_min - 1) = 1 of McCandlish et al. Eq. 2.11
    np.testing.assert_allclose(
        (curve_s / fit.s_min - 1) * (curve_e / fit.e_min - 1), 1.0, rtol=1e-8
    )


def test_fit_recovers_parameters_from_noisy_points():
    rng = np.random.default_rng(0)
    errors, z = [], []
    for _ in range(200):
        steps = S_MIN * (1 + B_NOISE / BATCH_SIZES) * np.exp(0.05 * rng.standard_normal(15))
        fit = tradeoff.fit_tradeoff(BATCH_SIZES, steps)
        errors.append(
            [fit.s_min / S_MIN - 1, fit.e_min / (S_MIN * B_NOISE) - 1, fit.b_crit / B_NOISE - 1]
        )
        z.append(np.log(fit.b_crit / B_NOISE) / fit.log_stderr[2])
    errors = np.abs(np.array(errors))
    # 5 % multiplicative noise on 15 points: measured median errors 1.5 / 1.3 / 2.2 % and
    # 95th percentiles 4.7 / 3.8 / 7.2 % for S_min / E_min / B_crit; tolerances about 2x
    assert np.all(np.median(errors, axis=0) < 0.04), np.median(errors, axis=0)
    assert np.all(np.percentile(errors, 95, axis=0) < 0.15), np.percentile(errors, 95, axis=0)
    # the reported standard error is calibrated: z-scores have unit spread (+-30 %)
    assert 0.7 < np.std(z) < 1.3, np.std(z)


def test_fit_with_separate_examples_and_dropped_points():
    rng = np.random.default_rng(1)
    steps = S_MIN * (1 + B_NOISE / BATCH_SIZES) * np.exp(0.05 * rng.standard_normal(15))
    examples = (
        S_MIN * B_NOISE * (1 + BATCH_SIZES / B_NOISE) * np.exp(0.05 * rng.standard_normal(15))
    )
    steps[:2] = np.inf  # the smallest batches never reached the target
    examples[:2] = np.nan
    fit = tradeoff.fit_tradeoff(BATCH_SIZES, steps, examples)
    assert fit.num_points == 13 and fit.num_dropped == 2
    assert fit.b_crit == pytest.approx(B_NOISE, rel=0.15)  # 5 % noise on 26 residuals
    assert fit.s_min == pytest.approx(S_MIN, rel=0.10)


def test_robust_fit_resists_one_outlier():
    steps = S_MIN * (1 + B_NOISE / BATCH_SIZES)
    steps[7] *= 3.0  # one badly tuned batch size
    robust = tradeoff.fit_tradeoff(BATCH_SIZES, steps)
    plain = tradeoff.fit_tradeoff(BATCH_SIZES, steps, robust=False)
    assert abs(robust.b_crit / B_NOISE - 1) < 0.02  # soft-l1 nearly ignores it
    assert abs(plain.b_crit / B_NOISE - 1) > 2 * abs(robust.b_crit / B_NOISE - 1)


def test_fit_bad_input():
    with pytest.raises(ValueError, match="batch_sizes"):
        tradeoff.fit_tradeoff([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="steps"):
        tradeoff.fit_tradeoff([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="batch_sizes"):
        tradeoff.fit_tradeoff([1.0, 2.0, 4.0], [np.inf, np.inf, 3.0])
    with pytest.raises(ValueError, match="steps"):
        tradeoff.fit_tradeoff([1.0, 2.0, 4.0], [1.0, -2.0, 3.0])


def test_noise_keeps_the_trade_off_names():
    assert noise.fit_tradeoff is tradeoff.fit_tradeoff
    assert noise.TradeoffFit is tradeoff.TradeoffFit
