"""Chapter 4's width statistics with the censoring modelled, and the duplication comparison with a tolerance.

``W*`` is right-censored at the largest width trained (a task that never reaches ``eps``). The power law
``log W* = a + p log n + sigma e`` (``e`` standard normal) is fitted by maximum likelihood with censored
points contributing ``P(log W* > log cap)`` (a Tobit model); the 95% interval of ``p`` is the profile-likelihood
one (``2 (l_max - l(p)) <= chi2_1(0.95)``). The duplication tolerance is the spread of ``W*`` between
repetitions of the same distinct-point task: two independent runs of one task differ by that much.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import optimize as _opt
from scipy import special as _special
from scipy import stats as _st

__all__ = ["censored_power_law_fit", "repetition_tolerance", "duplication_comparison"]

_CHI2_95 = float(_st.chi2.ppf(0.95, 1))
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _loglik(p, a, log_sigma, lx, ly, cens, log_cap):
    """Tobit log-likelihood: normal log-density of the uncensored points, ``log P(e > (log cap - mu)/sigma)`` of the rest."""
    sig = max(math.exp(log_sigma), 1e-3)          # floor: exact synthetic data would send sigma to 0
    mu = a + p * lx
    z = (ly[~cens] - mu[~cens]) / sig
    ll = -0.5 * float(z @ z) - z.size * (math.log(sig) + _HALF_LOG_2PI)
    return ll + float(_special.log_ndtr((mu[cens] - log_cap) / sig).sum())


def _profile(p, lx, ly, cens, log_cap, start):
    res = _opt.minimize(lambda v: -_loglik(p, v[0], v[1], lx, ly, cens, log_cap), start, method="Nelder-Mead",
                        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
    return -res.fun, res.x


def censored_power_law_fit(n: Sequence[float], w_star: Sequence[float], cap: float) -> dict | None:
    """Tobit fit of ``log W*`` on ``log n``, ``W* = inf`` read as censored at ``cap``.

    Returns ``exponent``, ``ci95`` (profile likelihood; an end is ``+-inf`` where the likelihood does not
    fall by ``chi2/2`` within ``+-20``), ``sigma``, ``uncensored``, ``censored``; None with fewer than 2
    distinct ``n`` among the uncensored points or fewer than 3 uncensored points.
    """
    x, w = np.asarray(n, float), np.asarray(w_star, float)
    cens = ~np.isfinite(w)
    if (~cens).sum() < 3 or len(np.unique(x[~cens])) < 2:
        return None
    lx, log_cap = np.log(x), math.log(cap)
    ly = np.where(cens, log_cap, np.log(np.where(cens, 1.0, w)))
    p0, a0 = np.polyfit(lx[~cens], ly[~cens], 1)
    s0 = math.log(max(np.std(ly[~cens] - (a0 + p0 * lx[~cens])), 0.05))
    best = _opt.minimize(lambda v: -_loglik(v[0], v[1], v[2], lx, ly, cens, log_cap), [p0, a0, s0],
                         method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 8000})
    p_hat, a_hat, ls_hat = best.x
    l_max = -best.fun

    def drop(p):
        return 2 * (l_max - _profile(p, lx, ly, cens, log_cap, [a_hat + (p_hat - p) * lx.mean(), ls_hat])[0]) \
            - _CHI2_95

    ends = []
    for direction in (-1, 1):
        far = p_hat + direction * 20.0
        ends.append(_opt.brentq(drop, *sorted((p_hat, far))) if drop(far) > 0 else direction * math.inf)
    return {"exponent": float(p_hat), "ci95": [float(ends[0]), float(ends[1])], "sigma": math.exp(ls_hat),
            "uncensored": int((~cens).sum()), "censored": int(cens.sum()), "cap": float(cap)}


def repetition_tolerance(tasks: Sequence[dict], w_star: Sequence[float]) -> dict:
    """Largest ``|log W*_a - log W*_b|`` between repetitions of one distinct-point empirical task (same ``n``, ``t``).

    Returns ``log_tolerance``, ``factor`` (``exp`` of it) and ``pairs`` (how many finite pairs it rests on).
    """
    groups: dict = {}
    for task, w in zip(tasks, w_star):
        if task["kind"] == "empirical" and task["m"] == 0 and math.isfinite(w):
            groups.setdefault((task["n"], task["t"]), []).append(w)
    diffs = [abs(math.log(a) - math.log(b)) for ws in groups.values() for i, a in enumerate(ws) for b in ws[i + 1:]]
    tol = max(diffs) if diffs else math.inf
    return {"log_tolerance": tol, "factor": math.exp(tol) if math.isfinite(tol) else math.inf, "pairs": len(diffs)}


def duplication_comparison(duplicates: Sequence[dict], tolerance: dict) -> dict:
    """Each duplicated set ``(n, m)``: ``W*(dup)`` against ``W*(n - m distinct)`` and ``W*(n distinct)`` directly.

    ``matches_n_minus_m``: ``|log W_dup - log W_{n-m}| <= log_tolerance`` (both finite);
    ``below_n``: ``log W_n - log W_dup > log_tolerance`` (``W_n`` may be censored: then it is above the cap).
    """
    tol = tolerance["log_tolerance"]
    rows = []
    for r in duplicates:
        w_dup, w_nm, w_n = (r[k] if r[k] is not None else math.inf
                            for k in ("W_dup", "W_distinct_n_minus_m", "W_distinct_n"))
        finite = math.isfinite(w_dup) and math.isfinite(w_nm)
        log_ratio = math.log(w_dup / w_nm) if finite else None
        rows.append({"n": r["n"], "m": r["m"], "rep": r["rep"], "W_dup": w_dup, "W_n_minus_m": w_nm, "W_n": w_n,
                     "log_ratio_n_minus_m": log_ratio,
                     "matches_n_minus_m": finite and abs(log_ratio) <= tol,
                     "below_n": math.isfinite(w_dup) and (not math.isfinite(w_n) or math.log(w_n / w_dup) > tol)})
    return {"rows": rows, "tolerance": tolerance, "detects_3x": tol < math.log(3.0)}
