"""The steps/examples trade-off of batch size: fit and curve.

Steps ``S`` and examples ``E = S B`` needed to reach a target at batch size ``B``
follow ``S = S_min (1 + B_crit / B)`` and ``E = E_min (1 + B / B_crit)`` with
``B_crit = E_min / S_min`` (McCandlish et al. 2018, Eq. 2.11): :func:`fit_tradeoff`
fits the two parameters to measured points, :func:`tradeoff_curve` evaluates the fit.
The noise scales that predict ``B_crit`` are in :mod:`landscape.noise`.

References
----------
McCandlish, Kaplan, Amodei and the OpenAI Dota Team (2018), "An Empirical Model of
Large-Batch Training", arXiv:1812.06162.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["TradeoffFit", "fit_tradeoff", "tradeoff_curve"]


class TradeoffFit(NamedTuple):
    """The fitted steps/examples trade-off ``S = S_min + E_min/B``, ``E = E_min + S_min B``.

    Equivalently ``S = S_min (1 + B_crit/B)`` and ``E = E_min (1 + B/B_crit)`` with
    ``B_crit = E_min / S_min`` (McCandlish et al. 2018, Eq. 2.11).

    Attributes
    ----------
    s_min : float             fewest steps (the limit B -> infinity)
    e_min : float             fewest examples (the limit B -> 0)
    b_crit : float            E_min / S_min
    log_stderr : (3,) array   standard errors of log S_min, log E_min, log B_crit
                              (linearised, from the fit's Jacobian; NaN with too few points)
    rms_log_residual : float  root mean square of the log-space residuals
    num_points : int          finite (B, S, E) points used
    num_dropped : int         points left out because S or E was not finite (target not reached)
    success : bool            the optimiser's convergence flag
    message : str
    """

    s_min: float
    e_min: float
    b_crit: float
    log_stderr: np.ndarray
    rms_log_residual: float
    num_points: int
    num_dropped: int
    success: bool
    message: str


def tradeoff_curve(fit: TradeoffFit, batch_sizes) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, examples)`` on the fitted curve at ``batch_sizes``."""
    b = np.asarray(batch_sizes, dtype=np.float64)
    return fit.s_min + fit.e_min / b, fit.e_min + fit.s_min * b


def fit_tradeoff(
    batch_sizes: Sequence[float],
    steps: Sequence[float],
    examples: Sequence[float] | None = None,
    *,
    robust: bool = True,
) -> TradeoffFit:
    """Fit ``S = S_min (1 + B_crit/B)`` and ``E = E_min (1 + B/B_crit)`` to measurements.

    Method: the model is ``S = S_min + E_min/B`` and ``E = E_min + S_min B``, two
    positive parameters. Both are fitted in log space (``log S_min``,
    ``log E_min``) to the residuals ``log S_i - log S(B_i)`` and
    ``log E_i - log E(B_i)`` with :func:`scipy.optimize.least_squares`: log space
    because steps to target span decades and their scatter is multiplicative;
    both residual sets so that measured examples may differ from ``S B`` (when
    ``E = S B`` the two sets coincide and only the steps residuals are used, so
    that the standard errors count each point once).
    With ``robust`` the loss is ``soft_l1`` with scale 0.1 (about 10 %), so that
    one bad point (a learning rate poorly tuned at one batch size) pulls the fit
    less than under squares. The start is the linear least-squares fit of
    ``S = a + b/B`` weighted by ``1/S`` (relative errors), or ``(min S, min E)``
    when that gives a non-positive coefficient. Points where ``S`` or ``E`` is not
    finite (target never reached, diverged) are dropped and counted.

    Parameters
    ----------
    batch_sizes : (m,) positive
    steps : (m,) steps to target
    examples : (m,) examples to target, or None for ``steps * batch_sizes``
    robust : bool

    Returns
    -------
    TradeoffFit

    Examples
    --------
    >>> import numpy as np
    >>> b = 2.0 ** np.arange(10)
    >>> fit = fit_tradeoff(b, 100 * (1 + 32 / b))
    >>> round(fit.s_min, 6), round(fit.e_min, 6), round(fit.b_crit, 6)
    (100.0, 3200.0, 32.0)

    References
    ----------
    McCandlish et al. (2018), "An Empirical Model of Large-Batch Training", Sec. 2.3.
    """
    from scipy.optimize import least_squares

    b = np.asarray(batch_sizes, dtype=np.float64).ravel()
    s = np.asarray(steps, dtype=np.float64).ravel()
    if examples is None:
        if b.shape != s.shape:
            raise ValueError(
                f"steps: length {s.shape[0]} does not match batch_sizes ({b.shape[0]})"
            )
        e = b * s
    else:
        e = np.asarray(examples, dtype=np.float64).ravel()
        if not (b.shape == s.shape == e.shape):
            raise ValueError(
                f"steps/examples: lengths {s.shape[0]} and {e.shape[0]} do not match "
                f"batch_sizes ({b.shape[0]})"
            )
    if np.any(~np.isfinite(b)) or np.any(b <= 0):
        raise ValueError(f"batch_sizes: must be positive and finite, got {b}")
    ok = np.isfinite(s) & np.isfinite(e)
    if np.any(ok & ((s <= 0) | (e <= 0))):
        raise ValueError("steps/examples: must be positive where finite")
    b, s, e = b[ok], s[ok], e[ok]
    num_dropped = int(np.sum(~ok))
    if len(np.unique(b)) < 2:
        raise ValueError(
            f"batch_sizes: need finite steps at two or more distinct batch sizes, got {len(b)}"
        )
    design = np.stack([np.ones_like(b), 1.0 / b], axis=1) / s[:, None]
    (a0, b0), *_ = np.linalg.lstsq(design, np.ones_like(s), rcond=None)
    if not (a0 > 0 and b0 > 0):
        a0, b0 = float(np.min(s)), float(np.min(e))
    log_s, log_e, log_b = np.log(s), np.log(e), np.log(b)

    # with E = S B the two residual sets are the same numbers: count them once, or the
    # standard errors would come out sqrt(2) too small
    both = not np.allclose(e, b * s, rtol=1e-12, atol=0.0)

    def residuals(theta):
        ls, le = theta
        r_steps = log_s - np.logaddexp(ls, le - log_b)
        if not both:
            return r_steps
        return np.concatenate([r_steps, log_e - np.logaddexp(le, ls + log_b)])

    result = least_squares(
        residuals,
        np.log([a0, b0]),
        loss="soft_l1" if robust else "linear",
        f_scale=0.1,
        method="trf",
        x_scale="jac",
    )
    ls, le = result.x
    r = residuals(result.x)
    dof = r.size - 2
    log_stderr = np.full(3, np.nan)
    jac = result.jac
    if dof > 0:
        try:
            cov = np.linalg.inv(jac.T @ jac) * float(np.sum(r**2)) / dof
            lin = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
            log_stderr = np.sqrt(np.maximum(np.diag(lin @ cov @ lin.T), 0.0))
        except np.linalg.LinAlgError:
            pass
    return TradeoffFit(
        s_min=float(np.exp(ls)),
        e_min=float(np.exp(le)),
        b_crit=float(np.exp(le - ls)),
        log_stderr=log_stderr,
        rms_log_residual=float(np.sqrt(np.mean(r**2))),
        num_points=int(b.size),
        num_dropped=num_dropped,
        success=bool(result.success),
        message=str(result.message),
    )
