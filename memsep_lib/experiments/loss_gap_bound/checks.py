"""The statistics behind chapter 3's verdict: the two-sided constant ``c`` and slopes with 95% intervals.

The ratio ``r = E_D[Loss-Gap_t] / U_t`` with ``U_t = d s_t^-2 - J(P_t)`` lies in ``[0, 1]`` for any data law (the
chapter's proposition). Over the ``P`` (configuration, ``t``) points of the small-``t`` intervals, each ratio
has a standard error from the spread over ``reps`` training sets; with the simultaneous quantile
``q = t_{reps-1}(1 - alpha / (2P))`` every true ratio lies in ``r_k +- q se_k`` with probability ``>= 1 - alpha``,
so ``c = min_k E_D[r_k]`` lies in ``[min_k (r_k - q se_k), min_k (r_k + q se_k)]``, and the upper side holds
when ``max_k (r_k - 1) / se_k <= q``.
"""

from __future__ import annotations

import math
from typing import Sequence

from scipy import stats as _scipy_stats

__all__ = ["simultaneous_quantile", "two_sided_constant", "with_interval"]


def simultaneous_quantile(num_points: int, reps: int, family_alpha: float = 0.05) -> float:
    """Bonferroni two-sided Student quantile ``t_{reps-1}(1 - alpha/(2 P))`` (normal if ``reps`` is huge)."""
    if num_points < 1 or reps < 2:
        raise ValueError(f"need num_points >= 1 and reps >= 2, got {num_points}, {reps}")
    return float(_scipy_stats.t.ppf(1 - family_alpha / (2 * num_points), reps - 1))


def two_sided_constant(points: Sequence[tuple[float, float, dict]], reps: int, family_alpha: float = 0.05) -> dict:
    """``c`` (smallest ratio), its simultaneous interval and the largest excess over 1 in standard errors.

    ``points``: ``(ratio, stderr, where)``. Returns ``c``, ``c_low``, ``c_high``, ``quantile``, ``where`` (of the
    smallest ratio), ``max_ratio``, ``max_excess_se`` (largest ``(r - 1)/se``), ``points``, ``family_alpha``.
    """
    if not points:
        return {"c": None, "c_low": None, "c_high": None, "quantile": None, "where": None, "max_ratio": None,
                "max_excess_se": None, "points": 0, "family_alpha": family_alpha}
    q = simultaneous_quantile(len(points), reps, family_alpha)
    r, e, where = min(points, key=lambda p: p[0])
    excess = [(p[0] - 1.0) / p[1] if p[1] > 0 else (math.inf if p[0] > 1 else -math.inf) for p in points]
    return {"c": r, "c_stderr": e, "c_low": min(p[0] - q * p[1] for p in points),
            "c_high": min(p[0] + q * p[1] for p in points), "quantile": q, "where": where,
            "max_ratio": max(p[0] for p in points), "max_excess_se": max(excess), "points": len(points),
            "family_alpha": family_alpha}


def with_interval(fit: dict | None, level: float = 0.95) -> dict | None:
    """``fit`` (from :func:`memsep_lib.fits.power_law_fit`) plus ``ci95 = exponent +- t_{k-2} stderr``."""
    if fit is None:
        return None
    k = fit.get("num_points", 0)
    half = float(_scipy_stats.t.ppf(0.5 + level / 2, k - 2)) * fit["stderr"] if k > 2 else math.inf
    return {**fit, "ci95": [fit["exponent"] - half, fit["exponent"] + half]}
