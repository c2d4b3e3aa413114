"""The status convention every result of the numerical core shares.

A result (:class:`~landscape.lanczos.LanczosResult`,
:class:`~landscape.lanczos.Tridiagonal`, :class:`~landscape.stochtrace.SpectralDensity`,
:class:`~landscape.minres.MinresResult`, :class:`~landscape.critical.Classification`)
carries ``status``, an integer array (vmap gives one per batch element) indexing
:data:`NAMES`, and a ``message()`` method that reads it. ``OK`` and ``BREAKDOWN`` mean
the numbers can be used; every other code names why they cannot. Bad *static* input
(a wrong shape, a loss that is not a scalar, an empty batch) never gets a status: it
raises at once, naming the argument.

Examples
--------
>>> message(NOT_SYMMETRIC)[:29]
'not symmetric: the probe u^TH'
>>> name([0, 3])
['ok', 'non_finite']
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BREAKDOWN",
    "MESSAGES",
    "NAMES",
    "NON_FINITE",
    "NOT_CONVERGED",
    "NOT_SYMMETRIC",
    "OK",
    "is_usable",
    "message",
    "name",
]

OK, BREAKDOWN, NOT_CONVERGED, NON_FINITE, NOT_SYMMETRIC = range(5)

NAMES = ("ok", "breakdown", "not_converged", "non_finite", "not_symmetric")

MESSAGES = (
    "ok: every requested quantity converged",
    "ok, with breakdown: an invariant subspace was found early (the operator has fewer "
    "distinct eigenvalues than Lanczos steps, or the start vector lies in an invariant "
    "subspace); the run went on with new vectors orthogonal to it and converged",
    "not converged: the budget of matvecs (num_iters, num_restarts) was spent before every "
    "requested residual fell below tol * max|theta|; raise num_iters or num_restarts",
    "non-finite: the operator (or the loss or gradient) returned NaN or infinity; check the "
    "parameters and the data for NaN, and the loss for overflow",
    "not symmetric: the probe u^THv - v^THu on two random vectors exceeded the stated "
    "tolerance relative to |u||Hv| + |v||Hu|; Lanczos, SLQ and the trace estimators need a "
    "symmetric operator (a Hessian, Gauss-Newton or Fisher matrix)",
)


def _table(table, code):
    codes = np.asarray(code)
    if codes.ndim == 0:
        return table[int(codes)]
    return [_table(table, c) for c in codes]


def message(code) -> str | list:
    """The readable message of a status code (a nested list for an array of codes)."""
    return _table(MESSAGES, code)


def name(code) -> str | list:
    """The short name in :data:`NAMES` of a status code (a list for an array of codes)."""
    return _table(NAMES, code)


def is_usable(code):
    """True where the status is ``OK`` or ``BREAKDOWN`` (works on arrays and tracers)."""
    return code <= BREAKDOWN
