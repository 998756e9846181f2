"""Closed forms of Theorem 4.3 (chapter 3): the bound's scale, the isolated-sample gap, the small-``t`` interval.

With ``C_t = a_t^2 Sigma + s_t^2 I`` and ``lambda_j`` the eigenvalues of ``Sigma``:

    bound scale   d s_t^-2 + tr Sigma
    LG_iso(t)   = d / s_t^2 - tr(C_t^-1) = sum_j a_t^2 lambda_j / (s_t^2 (a_t^2 lambda_j + s_t^2))

and ``LG_iso >= (d s_t^-2 + tr Sigma) / 4`` once ``s_t^2 <= a_t^2 lambda_min`` and ``s_t^2 lambda_max <= 1``.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from memsep_lib.process import alpha, sigma
from memsep_lib.validation import check_positive_int, check_time

__all__ = ["bound_scale", "isolated_loss_gap", "isolated_ratio", "small_t_end", "in_small_t_interval",
           "predicted_crossover_exponent"]


def _eigenvalues(cov_eigenvalues, d: int | None) -> np.ndarray:
    lam = np.atleast_1d(np.asarray(cov_eigenvalues, dtype=np.float64))
    if lam.ndim != 1 or lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError("cov_eigenvalues must be finite positive numbers (the eigenvalues of Sigma)")
    if d is not None:
        check_positive_int(d, "d")
        if lam.size == 1:
            lam = np.full(d, lam[0])
        elif lam.size != d:
            raise ValueError(f"cov_eigenvalues must have 1 or d={d} entries, got {lam.size}")
    return lam


def bound_scale(t, d: int, trace_sigma: float) -> float:
    """The scale of Theorem 4.3, ``d s_t^-2 + tr Sigma``."""
    t = check_time(t)
    check_positive_int(d, "d")
    if not (math.isfinite(trace_sigma) and trace_sigma >= 0):
        raise ValueError(f"trace_sigma must be finite and >= 0, got {trace_sigma}")
    return d / sigma(t) ** 2 + float(trace_sigma)


def isolated_loss_gap(t, cov_eigenvalues, d: int | None = None) -> float:
    """``LG_iso(t) = sum_j a_t^2 lambda_j / (s_t^2 (a_t^2 lambda_j + s_t^2)) = d/s_t^2 - tr C_t^-1``.

    ``cov_eigenvalues``: eigenvalues ``lambda_j`` of ``Sigma`` (one value and ``d`` for ``Sigma = lambda I``).
    """
    t = check_time(t)
    lam = _eigenvalues(cov_eigenvalues, d)
    a2, s2 = alpha(t) ** 2, sigma(t) ** 2
    return float(np.sum(a2 * lam / (s2 * (a2 * lam + s2))))


def isolated_ratio(t_values: Iterable[float], d: int, lam: float) -> list[float]:
    """``LG_iso(t) / (d s_t^-2 + tr Sigma)`` at each ``t``, for ``Sigma = lam I`` in dimension ``d``."""
    return [isolated_loss_gap(t, lam, d) / bound_scale(t, d, d * lam) for t in t_values]


def small_t_end(spacing: float, lambda_min: float, lambda_max: float) -> float:
    """Largest ``t`` meeting conditions (i)-(iii): ``s_t/a_t <= min(rho, sqrt(lambda_min))``, ``s_t^2 lambda_max <= 1``.

    With ``u = s_t / a_t`` one has ``s_t^2 = u^2 / (1 + u^2)`` and ``t = log(1 + u^2)``.
    """
    for name, v in (("spacing", spacing), ("lambda_min", lambda_min), ("lambda_max", lambda_max)):
        if not (v > 0):
            raise ValueError(f"{name} must be > 0, got {v}")
    u2 = min(spacing, math.sqrt(lambda_min)) ** 2
    if lambda_max > 1.0:                       # s^2 lambda_max <= 1  <=>  u^2 <= 1 / (lambda_max - 1)
        u2 = min(u2, 1.0 / (lambda_max - 1.0))
    return math.log1p(u2)


def in_small_t_interval(t_values: Iterable[float], t_end: float) -> list[bool]:
    """Which of ``t_values`` lie in the small-``t`` interval ``(0, t_end]``."""
    return [check_time(t) <= t_end for t in t_values]


def predicted_crossover_exponent(d: int, n_values: Sequence[int]) -> float:
    """Log-log slope of ``rho(D) = r_NN / (2 sqrt(2 log n))`` in ``n`` if ``r_NN ~ n^(-1/d)``.

    ``-(1/d + 1/(2 log n_bar))``, ``n_bar`` the geometric mean of ``n_values``: the ``n^(-1/d)`` rate plus
    the slowly varying ``sqrt(log n)`` of the union bound.
    """
    check_positive_int(d, "d")
    n = np.asarray(n_values, dtype=np.float64)
    if n.size == 0 or np.any(n < 2):
        raise ValueError("n_values must be a non-empty sequence of numbers >= 2")
    return -(1.0 / d + 1.0 / (2.0 * float(np.mean(np.log(n)))))
