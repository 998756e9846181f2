"""Summaries over repetitions (seeds, training sets) and intervals for paired comparisons.

- :func:`mean_std`: ``{"mean", "std"}`` of repeated measurements (sample std, ``ddof = 1``).
- :func:`paired_difference`: mean of ``a_r - b_r`` over repetitions ``r`` with a 95% Student-t interval
  ``mean +- t_{0.975, R-1} * sd / sqrt(R)``.
- :func:`welch_difference`: the same for two independent groups (Welch's unequal-variance interval).
- :func:`format_difference`: either as ``"+m [+lo, +hi]"``.
- :func:`bonferroni_z`: the per-test two-sided normal bound of a family of tests.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Sequence

from scipy import stats as _scipy_stats

from .validation import check_positive_int, check_real

__all__ = ["mean_std", "paired_difference", "welch_difference", "format_difference", "bonferroni_z"]


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


def welch_difference(a: Sequence[float], b: Sequence[float], *, level: float = 0.95) -> dict:
    """``mean(a) - mean(b)`` of two independent groups with Welch's Student-t ``level`` interval
    (``se^2 = s_a^2/n_a + s_b^2/n_b``, Welch-Satterthwaite degrees of freedom): the keys of
    :func:`paired_difference`, ``"n"`` the smaller group size. Unbounded when a group has one value."""
    a, b = _finite_values(a, "a"), _finite_values(b, "b")
    level = check_real(level, "level")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    sa, sb = mean_std(a), mean_std(b)
    diff, n = sa["mean"] - sb["mean"], min(len(a), len(b))
    va, vb = sa["std"] ** 2 / len(a), sb["std"] ** 2 / len(b)
    if n < 2:
        half = math.inf
    elif va + vb == 0:
        half = 0.0
    else:
        dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
        half = float(_scipy_stats.t.ppf(0.5 + level / 2, dof)) * math.sqrt(va + vb)
    return {"mean_diff": diff, "ci95": [diff - half, diff + half], "n": n}


def format_difference(entry: dict, scale: float = 1.0, digits: int = 1) -> str:
    """``"+m [+lo, +hi]"``: a :func:`paired_difference` or :func:`welch_difference` entry times ``scale`` (an unbounded end, stored as
    ``None`` in JSON, as ``-∞`` / ``+∞``)."""
    def fmt(v, unbounded="∞"):
        return unbounded if v is None or abs(v) == math.inf else f"{scale * v:+.{digits}f}"
    lo, hi = entry["ci95"]
    return f"{fmt(entry['mean_diff'])} [{fmt(lo, '-∞')}, {fmt(hi, '+∞')}]"


def bonferroni_z(num_tests: int, family_alpha: float) -> float:
    """Two-sided per-test bound ``z`` with ``P(max_k |Z_k| > z) <= family_alpha`` for ``num_tests`` normal ``Z_k``."""
    check_positive_int(num_tests, "num_tests")
    family_alpha = check_real(family_alpha, "family_alpha")
    if not 0 < family_alpha < 1:
        raise ValueError(f"family_alpha must be in (0, 1), got {family_alpha}")
    return NormalDist().inv_cdf(1 - family_alpha / (2 * num_tests))
