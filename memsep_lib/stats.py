"""Summaries over repetitions (seeds, training sets) and intervals for paired comparisons.

- :func:`mean_std`: ``{"mean", "std"}`` of repeated measurements (sample std, ``ddof = 1``).
- :func:`paired_difference`: mean of ``a_r - b_r`` over repetitions ``r`` with a 95% Student-t interval
  ``mean +- t_{0.975, R-1} * sd / sqrt(R)``.
- :func:`bonferroni_z`: the per-test two-sided normal bound of a family of tests.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Sequence

from scipy import stats as _scipy_stats

from .validation import check_positive_int, check_real

__all__ = ["mean_std", "paired_difference", "bonferroni_z"]


def _finite_values(values, name: str) -> list[float]:
    """``values`` as a list of floats: real numbers only (no bools, no strings), non-empty, finite."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    try:
        items = list(values)
    except TypeError as err:
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from err
    out = [check_real(v, f"{name} entries", finite=False) for v in items]
    if not out:
        raise ValueError(f"{name} must not be empty")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite, got {out}")
    return out


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """``{"mean": mean, "std": sample std (ddof = 1; 0 for one value)}`` of ``values``."""
    vals = _finite_values(values, "values")
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1) if len(vals) > 1 else 0.0
    return {"mean": mean, "std": math.sqrt(var)}


def paired_difference(a: Sequence[float], b: Sequence[float], *, level: float = 0.95) -> dict:
    """Mean of ``a_r - b_r`` with a Student-t ``level`` interval: ``{"mean_diff", "ci95": [lo, hi], "n"}``.

    With one pair the interval is unbounded (``[-inf, inf]``, written as two ``None`` in JSON).

    Args:
        a, b: paired measurements (the same repetitions ``r`` in the same order), finite.
        level: the interval's coverage, in ``(0, 1)``.

    Returns:
        dict: ``{"mean_diff": mean of a_r - b_r, "ci95": [lo, hi], "n": number of pairs}``.
    """
    a, b = _finite_values(a, "a"), _finite_values(b, "b")
    if len(a) != len(b):
        raise ValueError(f"a and b must pair up, got {len(a)} and {len(b)} values")
    level = check_real(level, "level")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    diffs = [x - y for x, y in zip(a, b)]
    summary = mean_std(diffs)
    n = len(diffs)
    if n < 2:
        half = math.inf
    else:
        half = float(_scipy_stats.t.ppf(0.5 + level / 2, n - 1)) * summary["std"] / math.sqrt(n)
    return {"mean_diff": summary["mean"], "ci95": [summary["mean"] - half, summary["mean"] + half], "n": n}


def bonferroni_z(num_tests: int, family_alpha: float) -> float:
    """Two-sided per-test bound ``z`` with ``P(max_k |Z_k| > z) <= family_alpha`` for ``num_tests`` normal ``Z_k``."""
    check_positive_int(num_tests, "num_tests")
    family_alpha = check_real(family_alpha, "family_alpha")
    if not 0 < family_alpha < 1:
        raise ValueError(f"family_alpha must be in (0, 1), got {family_alpha}")
    return NormalDist().inv_cdf(1 - family_alpha / (2 * num_tests))
