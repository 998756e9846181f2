"""Theorem 4.3: the Loss-Gap of the true score does not vanish at small ``t``.

For a mixture ``P = (1/K) sum_k N(mu_k, Sigma)`` and training data ``D = (x_1..x_n)``, the Loss-Gap of
the true score (Proposition 4.1) is ``Fisher(P^_t, P_t) = E_{X ~ P^_t} |grad log p^_t - grad log p_t|^2``.
Theorem 4.3: for well-separated components and ``log n = O(d)``, on a small-``t`` interval,

    E_D[Loss-Gap_t] = Omega(d s_t^-2 + tr Sigma).

Isolated-sample formula. While ``s_t`` is small next to the spacing of the samples, the posterior of
``X_0`` given ``X_t = a_t x_i + s_t Z`` sits on ``x_i``, the empirical score is ``-Z/s_t`` and the true
score is the component's Gaussian score ``-C_t^-1 (X_t - a_t mu_k)``, ``C_t = a_t^2 Sigma + s_t^2 I``.
Averaging over ``Z`` and ``x_i ~ N(mu_k, Sigma)`` (derived with sympy in :mod:`memsep_lib.symbolic`):

    LG_iso(t) = d / s_t^2 - tr(C_t^-1) = sum_j a_t^2 lambda_j / (s_t^2 (a_t^2 lambda_j + s_t^2)),

``lambda_j`` the eigenvalues of ``Sigma``. If ``s_t^2 <= a_t^2 lambda_min`` and ``s_t^2 lambda_max <= 1``,
``LG_iso >= (d s_t^-2 + tr Sigma) / 4``.

Small-``t`` interval used here (all three conditions):

    (i)   s_t / a_t <= rho(D) = r_NN(D) / (2 sqrt(2 log n))   noise below half the sample spacing
                                                              (median nearest-neighbour distance
                                                              r_NN, union bound over n samples)
    (ii)  s_t / a_t <= sqrt(lambda_min(Sigma))                noise below the component width
    (iii) s_t^2 lambda_max(Sigma) <= 1                        so that tr Sigma <= d s_t^-2

The experiment (:func:`run`, registered as ``loss_gap_bound``) measures ``E_D[Loss-Gap_t]`` with
``score_fn = GaussianMixture.score`` averaged over independent training sets: (1) the ratio to
``d s_t^-2 + tr Sigma`` against ``t``, (2) the dependence on ``d`` and ``tr Sigma``, (3) the dependence on
``n`` (fitted decay; crossover scale against the ``n^(-1/d)`` rate), (4) the smallest ratio observed on
the small-``t`` interval. Sizes per profile live in :func:`experiment_config`.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import torch

from .config import by_profile, get_device
from .fits import power_law_fit
from .losses import loss_gap
from .mixtures import GaussianMixture, well_separated_mixture
from .process import alpha, sigma
from .results import jsonable
from .scores import empirical_log_prob
from .validation import check_points, check_positive_int, check_time

__all__ = [
    "EXPERIMENT",
    "RATIO_FLOOR",
    "experiment_config",
    "bound_scale",
    "isolated_loss_gap",
    "spacing_scale",
    "own_posterior_weight",
    "small_t_end",
    "in_small_t_interval",
    "loss_gap_over_datasets",
    "predicted_crossover_exponent",
    "crossover_scale",
    "t_curves",
    "d_sigma_dependence",
    "n_dependence",
    "empirical_constant",
    "verdict",
    "run",
    "explore",
]

EXPERIMENT = "loss_gap_bound"
# Constant checked by the verdict: 1/4 from the isolated-sample formula on the interval, times 1/2
# allowance for a posterior that is not fully concentrated at the interval's edge and for noise.
RATIO_FLOOR = 0.125
_LOG_GRID = lambda lo, hi, num: [float(v) for v in np.geomspace(lo, hi, num)]   # noqa: E731


# ----------------------------------------------------------------------------------------------
# Sizes (the one place they are defined)
# ----------------------------------------------------------------------------------------------
def experiment_config(profile: str | None = None) -> dict:
    """Grid of every part of the experiment for a profile (``ci``, ``cpu``, ``paper``); JSON-serialisable."""
    p = dict(profile=profile)
    return {
        "seed": 20260403,
        "K": 4,
        "separation": 4.0,        # Delta_min = separation * sqrt(d)
        "std": 1.0,               # Sigma = std^2 I unless varied
        "dtype": "float32",
        "t_curves": {
            "d_values": by_profile(ci=[2, 8, 32], cpu=[2, 8, 32, 128], paper=[2, 8, 32, 128, 256], **p),
            "n": by_profile(ci=400, cpu=2000, paper=10_000, **p),
            "t_values": by_profile(ci=_LOG_GRID(1e-4, 3.0, 9), cpu=_LOG_GRID(1e-4, 3.0, 15),
                                   paper=_LOG_GRID(1e-4, 3.0, 25), **p),
            "reps": by_profile(ci=2, cpu=3, paper=8, **p),
            "num_samples": by_profile(ci=384, cpu=768, paper=4096, **p),
            "own_weight_samples": by_profile(ci=96, cpu=128, paper=1024, **p),
        },
        "d_sigma": {
            "t": 0.01,
            "d_values": by_profile(ci=[4, 16, 64], cpu=[4, 8, 16, 32, 64, 128, 256],
                                   paper=[4, 8, 16, 32, 64, 128, 256, 512], **p),
            "d_for_sigma": 16,
            "std_values": by_profile(ci=[0.05, 0.25, 1.0, 4.0], cpu=[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0],
                                     paper=[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0], **p),
            "n": by_profile(ci=400, cpu=2000, paper=10_000, **p),
            "reps": by_profile(ci=2, cpu=3, paper=8, **p),
            "num_samples": by_profile(ci=384, cpu=768, paper=4096, **p),
        },
        "n_decay": {
            "d_values": by_profile(ci=[2, 4, 8], cpu=[2, 4, 8, 16, 32],
                                   paper=[2, 4, 8, 16, 32, 64, 128, 256], **p),
            "n_values": by_profile(ci=[100, 300, 1000, 3000],
                                   cpu=[100, 316, 1000, 3162, 10_000, 31_623],
                                   paper=[100, 316, 1000, 3162, 10_000, 31_623, 100_000], **p),
            "t_values": by_profile(ci=_LOG_GRID(1e-4, 8.0, 8), cpu=_LOG_GRID(1e-4, 8.0, 12),
                                   paper=_LOG_GRID(1e-4, 8.0, 22), **p),
            "t_fix": 0.01,
            "reps": by_profile(ci=2, cpu=3, paper=5, **p),
            "num_samples": by_profile(ci=256, cpu=512, paper=4096, **p),
        },
    }


# ----------------------------------------------------------------------------------------------
# Closed forms and scales
# ----------------------------------------------------------------------------------------------
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


def spacing_scale(data: torch.Tensor, *, num_queries: int = 512,
                  generator: torch.Generator | None = None) -> float:
    """``rho(D) = r_NN / (2 sqrt(2 log n))``, ``r_NN`` the median nearest-neighbour distance in ``D``.

    The median is estimated from ``num_queries`` random points of ``D`` (all of them if ``n`` is smaller).
    Condition (i) of the small-``t`` interval is ``s_t / a_t <= rho(D)``.
    """
    check_points(data, "data")
    check_positive_int(num_queries, "num_queries")
    n = data.shape[0]
    if n < 2:
        raise ValueError("data must contain at least two points")
    if n > num_queries:
        dev = generator.device if generator is not None else data.device
        idx = torch.randperm(n, generator=generator, device=dev)[:num_queries].to(data.device)
    else:
        idx = torch.arange(n, device=data.device)
    q = data[idx].double()
    best = torch.full((q.shape[0],), math.inf, dtype=torch.float64, device=data.device)
    for start in range(0, n, 8192):
        dist = torch.cdist(q, data[start:start + 8192].double())
        own = (idx >= start) & (idx < start + dist.shape[1])
        dist[own.nonzero()[:, 0], (idx[own] - start)] = math.inf
        best = torch.minimum(best, dist.min(1).values)
    r_nn = best.median().item()
    return r_nn / (2.0 * math.sqrt(2.0 * math.log(n))) if n > 1 else math.inf


def own_posterior_weight(data: torch.Tensor, t, *, num_samples: int,
                         generator: torch.Generator | None = None) -> float:
    """``E_{i, Z} w_i(a_t x_i + s_t Z)``: mean posterior weight of the sample that was noised.

    ``log w_i(x) = -|Z|^2/2 - logsumexp_j(-|x - a_t x_j|^2 / (2 s_t^2))``, via :func:`empirical_log_prob`.
    Near 1 the empirical score at ``X_t`` is the conditional score ``-Z/s_t``.
    """
    t = check_time(t)
    check_points(data, "data")
    check_positive_int(num_samples, "num_samples")
    n, d = data.shape
    dev = generator.device if generator is not None else data.device
    idx = torch.randint(0, n, (num_samples,), generator=generator, device=dev).to(data.device)
    z = torch.randn(num_samples, d, generator=generator, device=dev, dtype=data.dtype).to(data.device)
    s = sigma(t)
    x = alpha(t) * data[idx] + s * z
    log_norm = empirical_log_prob(x, t, data).double() + math.log(n) + 0.5 * d * math.log(2 * math.pi * s * s)
    log_w = -0.5 * (z.double() ** 2).sum(1) - log_norm
    return log_w.clamp_max(0.0).exp().mean().item()


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


# ----------------------------------------------------------------------------------------------
# Averaging over training sets
# ----------------------------------------------------------------------------------------------
def loss_gap_over_datasets(mixture: GaussianMixture, n: int, t_values: Sequence[float], *, reps: int,
                           num_samples: int, generator: torch.Generator,
                           own_weight_samples: int = 0) -> dict:
    """``E_D[Loss-Gap_t]`` over ``reps`` independent training sets ``D ~ P^n`` (score_fn = true score).

    Returns lists over ``t_values``: ``mean``, ``stderr`` (std over the ``D`` / sqrt(reps); includes the
    Monte-Carlo error of each estimate), ``spacing`` (mean ``rho(D)``), and, if ``own_weight_samples > 0``,
    ``own_weight`` (mean over ``D``).
    """
    check_positive_int(n, "n")
    check_positive_int(reps, "reps")
    if n < 2:
        raise ValueError("n must be >= 2")
    values = np.zeros((reps, len(t_values)))
    weights = np.zeros((reps, len(t_values)))
    spacing = []
    for r in range(reps):
        data = mixture.sample(n, generator=generator)
        spacing.append(spacing_scale(data, generator=generator))
        for j, t in enumerate(t_values):
            values[r, j] = loss_gap(data, mixture.score, t, num_samples=num_samples, generator=generator).value
            if own_weight_samples:
                weights[r, j] = own_posterior_weight(data, t, num_samples=own_weight_samples, generator=generator)
    out = {
        "mean": values.mean(0).tolist(),
        "stderr": (values.std(0, ddof=1) / math.sqrt(reps)).tolist() if reps > 1 else [math.nan] * len(t_values),
        "spacing": float(np.mean(spacing)),
    }
    if own_weight_samples:
        out["own_weight"] = weights.mean(0).tolist()
    return out


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


def crossover_scale(t_values: Sequence[float], fraction_of_isolated: Sequence[float],
                    level: float = 0.5) -> float | None:
    """Noise-to-signal ratio ``s_t/a_t`` where ``E_D[LG] / LG_iso`` first falls below ``level``.

    Linear interpolation in ``log(s_t/a_t)`` between grid points; None if the curve starts below
    ``level`` or never falls below it on the grid.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if len(t_values) != len(fraction_of_isolated) or len(t_values) < 2:
        raise ValueError("t_values and fraction_of_isolated must have the same length (>= 2)")
    u = [math.log(sigma(t) / alpha(t)) for t in t_values]
    q = list(fraction_of_isolated)
    if q[0] < level:
        return None
    for j in range(1, len(q)):
        if q[j] < level:
            w = (q[j - 1] - level) / (q[j - 1] - q[j])
            return math.exp(u[j - 1] + w * (u[j] - u[j - 1]))
    return None


# ----------------------------------------------------------------------------------------------
# The four parts of the experiment
# ----------------------------------------------------------------------------------------------
def _mixture(d: int, cfg: dict, generator: torch.Generator, *, std: float | None = None,
             K: int | None = None, separation: float | None = None) -> GaussianMixture:
    dtype = getattr(torch, cfg["dtype"])
    return well_separated_mixture(K or cfg["K"], d, separation=separation or cfg["separation"],
                                  std=std or cfg["std"], generator=generator, dtype=dtype,
                                  device=generator.device)


def _generator(seed: int, device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _ratios(t_values, d: int, std: float, mean: Sequence[float]) -> tuple[list, list]:
    lam = std ** 2
    bound = [bound_scale(t, d, d * lam) for t in t_values]
    iso = [isolated_loss_gap(t, lam, d) for t in t_values]
    return [m / b for m, b in zip(mean, bound)], [m / i for m, i in zip(mean, iso)]


def _progress(iterable, profile: str, desc: str):
    from .experiments import progress
    return progress(iterable, profile=profile, desc=desc)


def t_curves(cfg: dict, *, device=None, profile: str = "ci") -> dict:
    """Part 1: ``E_D[LG_t] / (d s_t^-2 + tr Sigma)`` against ``t`` for several ``d`` (fixed ``n``)."""
    c = cfg["t_curves"]
    device = get_device() if device is None else device
    ts, out = c["t_values"], []
    for i, d in enumerate(_progress(c["d_values"], profile, "t-curves")):
        gen = _generator(cfg["seed"] + 1000 + i, device)
        mix = _mixture(d, cfg, gen)
        res = loss_gap_over_datasets(mix, c["n"], ts, reps=c["reps"], num_samples=c["num_samples"],
                                     generator=gen, own_weight_samples=c["own_weight_samples"])
        lam = cfg["std"] ** 2
        ratio, frac_iso = _ratios(ts, d, cfg["std"], res["mean"])
        t_end = small_t_end(res["spacing"], lam, lam)
        out.append({"d": d, "n": c["n"], "std": cfg["std"], **res, "ratio": ratio,
                    "ratio_stderr": [e / bound_scale(t, d, d * lam) for e, t in zip(res["stderr"], ts)],
                    "fraction_of_isolated": frac_iso, "t_end": t_end,
                    "in_interval": in_small_t_interval(ts, t_end),
                    "log_n_over_d": math.log(c["n"]) / d})
    return {"t_values": ts, "curves": out}


def d_sigma_dependence(cfg: dict, *, device=None, profile: str = "ci") -> dict:
    """Part 2: ``E_D[LG_t]`` at fixed small ``t`` against ``d`` (``Sigma = I``) and against ``tr Sigma`` (fixed ``d``)."""
    c = cfg["d_sigma"]
    device = get_device() if device is None else device
    t = c["t"]

    def one(d, std, seed):
        gen = _generator(seed, device)
        mix = _mixture(d, cfg, gen, std=std)
        res = loss_gap_over_datasets(mix, c["n"], [t], reps=c["reps"], num_samples=c["num_samples"], generator=gen)
        lam = std ** 2
        t_end = small_t_end(res["spacing"], lam, lam)
        return {"d": d, "std": std, "trace_sigma": d * lam, "mean": res["mean"][0], "stderr": res["stderr"][0],
                "spacing": res["spacing"], "bound": bound_scale(t, d, d * lam),
                "isolated": isolated_loss_gap(t, lam, d), "ratio": res["mean"][0] / bound_scale(t, d, d * lam),
                "ratio_stderr": res["stderr"][0] / bound_scale(t, d, d * lam),
                "t_end": t_end, "in_interval": t <= t_end}

    by_d = [one(d, cfg["std"], cfg["seed"] + 2000 + i)
            for i, d in enumerate(_progress(c["d_values"], profile, "d-dependence"))]
    by_sigma = [one(c["d_for_sigma"], std, cfg["seed"] + 3000 + i)
                for i, std in enumerate(_progress(c["std_values"], profile, "tr-Sigma dependence"))]
    fit_d = power_law_fit([r["d"] for r in by_d], [r["mean"] for r in by_d])
    return {"t": t, "n": c["n"], "by_d": by_d, "by_sigma": by_sigma, "fit_d": fit_d}


def n_dependence(cfg: dict, *, device=None, profile: str = "ci") -> dict:
    """Part 3: ``E_D[LG_t]`` against ``n`` for several ``d``: decay at fixed ``t`` and crossover scale.

    Per ``d``: the log-log slope of ``E_D[LG_{t_fix}]`` in ``n`` and of the crossover noise-to-signal
    ratio ``(s/a)*(n)`` (where ``E_D[LG] / LG_iso`` falls below 1/2), to compare with ``-1/d``.
    """
    c = cfg["n_decay"]
    device = get_device() if device is None else device
    ts, lam = sorted(set(c["t_values"]) | {float(c["t_fix"])}), cfg["std"] ** 2
    t_fix_index = ts.index(float(c["t_fix"]))
    per_d = []
    for i, d in enumerate(_progress(c["d_values"], profile, "n-dependence")):
        rows = []
        for j, n in enumerate(c["n_values"]):
            gen = _generator(cfg["seed"] + 4000 + 100 * i + j, device)
            mix = _mixture(d, cfg, gen)
            res = loss_gap_over_datasets(mix, n, ts, reps=c["reps"], num_samples=c["num_samples"], generator=gen)
            ratio, frac_iso = _ratios(ts, d, cfg["std"], res["mean"])
            t_end = small_t_end(res["spacing"], lam, lam)
            rows.append({"n": n, **res, "ratio": ratio, "fraction_of_isolated": frac_iso,
                         "crossover": crossover_scale(ts, frac_iso), "t_end": t_end,
                         "in_interval": in_small_t_interval(ts, t_end), "log_n_over_d": math.log(n) / d})
        ns = [r["n"] for r in rows]
        at_fix = [r["mean"][t_fix_index] for r in rows]
        fit_fix = power_law_fit(ns, at_fix) if min(at_fix) > 0 else None
        cross = [(r["n"], r["crossover"]) for r in rows if r["crossover"] is not None]
        fit_cross = power_law_fit(*zip(*cross)) if len(cross) >= 2 else None
        per_d.append({"d": d, "rows": rows, "at_t_fix": at_fix, "fit_t_fix": fit_fix,
                      "fit_crossover": fit_cross, "rate_one_over_d": 1.0 / d,
                      "predicted_crossover_exponent": predicted_crossover_exponent(d, ns)})
    return {"t_values": ts, "t_fix": ts[t_fix_index], "n_values": c["n_values"], "per_d": per_d}


def empirical_constant(results: dict) -> dict:
    """Part 4: the smallest ``E_D[LG_t] / (d s_t^-2 + tr Sigma)`` over every configuration's small-``t`` interval.

    Returns the minimum, its standard error (over training sets) and where it occurred, plus the number of
    configurations with a non-empty interval and the number of (configuration, t) points checked.
    """
    points = []   # (ratio, stderr, description)
    configs = 0
    tc = results["t_curves"]
    for cur in tc["curves"]:
        pts = [(r, e, {"part": "t_curves", "d": cur["d"], "n": cur["n"], "t": t})
               for r, e, t, ok in zip(cur["ratio"], cur["ratio_stderr"], tc["t_values"], cur["in_interval"]) if ok]
        configs += bool(pts)
        points += pts
    ds = results["d_sigma"]
    for row in ds["by_d"] + ds["by_sigma"]:
        if row["in_interval"]:
            configs += 1
            points.append((row["ratio"], row["ratio_stderr"],
                           {"part": "d_sigma", "d": row["d"], "std": row["std"], "t": ds["t"]}))
    nd = results["n_decay"]
    for per in nd["per_d"]:
        d = per["d"]
        for row in per["rows"]:
            pts = []
            for j, (r, t, ok) in enumerate(zip(row["ratio"], nd["t_values"], row["in_interval"])):
                if ok:
                    se = row["stderr"][j] / bound_scale(t, d, d * results["std"] ** 2)
                    pts.append((r, se, {"part": "n_decay", "d": d, "n": row["n"], "t": t}))
            configs += bool(pts)
            points += pts
    if not points:
        return {"min_ratio": None, "stderr": None, "where": None, "configs": 0, "points": 0}
    r, e, where = min(points, key=lambda p: p[0])
    return {"min_ratio": r, "stderr": e, "where": where, "configs": configs, "points": len(points),
            "median_ratio": float(np.median([p[0] for p in points]))}


def verdict(results: dict, floor: float = RATIO_FLOOR) -> dict:
    """Machine-stable verdict: ratio above ``floor`` on every small-``t`` interval; slower ``n``-decay for larger ``d``.

    The ``n``-decay is measured twice: the log-log slope of ``E_D[LG_{t_fix}]`` in ``n`` and that of the
    crossover scale ``(s/a)*``; "slower" compares the largest ``d`` with the smallest (margin 0.1).
    """
    const = results["constant"]
    per_d = results["n_decay"]["per_d"]
    decay = [-(p["fit_t_fix"]["exponent"]) if p["fit_t_fix"] else 0.0 for p in per_d]
    small_d, large_d = decay[0], decay[-1]
    # |slope| of the crossover scale (s/a)*(n), for the d where it was measured (None elsewhere).
    cross = [-p["fit_crossover"]["exponent"] for p in per_d if p["fit_crossover"]]
    return {
        "configurations_checked": const["configs"],
        "ratio_above_floor_everywhere": const["min_ratio"] is not None and const["min_ratio"] > floor,
        "floor": floor,
        "decay_exponent_smallest_d_over_0.2": small_d > 0.2,
        "decay_slower_for_largest_d": large_d < small_d - 0.1,
        "decay_exponents_nonincreasing_in_d": all(b <= a + 0.05 for a, b in zip(decay, decay[1:])),
        "crossover_decay_slower_for_largest_d": len(cross) >= 2 and cross[-1] < cross[0] - 0.1,
    }


def run(profile: str) -> tuple[dict, dict]:
    """The registered experiment: ``(config, results)`` for a profile (sizes from :func:`experiment_config`)."""
    cfg = experiment_config(profile)
    device = get_device()
    results = {"std": cfg["std"],
               "t_curves": t_curves(cfg, device=device, profile=profile),
               "d_sigma": d_sigma_dependence(cfg, device=device, profile=profile),
               "n_decay": n_dependence(cfg, device=device, profile=profile)}
    results["constant"] = empirical_constant(results)
    results["verdict"] = verdict(results)
    return cfg, jsonable(results)


# ----------------------------------------------------------------------------------------------
# Interactive explorer
# ----------------------------------------------------------------------------------------------
def explore(d: int = 8, n: int = 500, K: int = 4, separation: float = 4.0, t: float = 0.01, *,
            std: float = 1.0, reps: int = 2, num_samples: int = 256, num_t: int = 9, seed: int = 0,
            device=None) -> dict:
    """Small, fast version of part 1 for one configuration (the chapter's widget): ratio curve and value at ``t``."""
    check_positive_int(d, "d")
    check_positive_int(K, "K")
    t = check_time(t)
    device = get_device() if device is None else device
    ts = sorted(set(_LOG_GRID(1e-4, 3.0, num_t)) | {t})
    gen = _generator(seed, device)
    mix = well_separated_mixture(K, d, separation=separation, std=std, generator=gen, device=device,
                                 dtype=torch.float32)
    res = loss_gap_over_datasets(mix, n, ts, reps=reps, num_samples=num_samples, generator=gen)
    ratio, frac_iso = _ratios(ts, d, std, res["mean"])
    t_end = small_t_end(res["spacing"], std ** 2, std ** 2)
    j = ts.index(t)
    return {"d": d, "n": n, "K": K, "separation": separation, "std": std, "t": t, "t_values": ts,
            "ratio": ratio, "fraction_of_isolated": frac_iso, "t_end": t_end, "ratio_at_t": ratio[j],
            "loss_gap_at_t": res["mean"][j], "bound_at_t": bound_scale(t, d, d * std ** 2)}
