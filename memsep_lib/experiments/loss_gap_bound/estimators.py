"""Estimators of chapter 3's experiment: the sample spacing, the own-sample posterior weight, ``E_D[Loss-Gap_t]``
over training sets (with the third estimator ``E_D[J(P^_t)] - J(P_t)``), the upper bound ``d s_t^-2 - J(P_t)``
and the crossover scale of a measured curve."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from memsep_lib.losses import fisher_information, loss_gap
from memsep_lib.mixtures import GaussianMixture
from memsep_lib.process import add_noise, alpha, sigma
from memsep_lib.scores import empirical_log_prob
from memsep_lib.validation import check_points, check_positive_int, check_time

__all__ = ["spacing_scale", "own_posterior_weight", "loss_gap_over_datasets", "upper_bound", "crossover_scale"]


def spacing_scale(data: torch.Tensor, *, num_queries: int = 512,
                  generator: torch.Generator | None = None) -> float:
    """``rho(D) = r_NN / (2 sqrt(2 log n))``, ``r_NN`` the median nearest-neighbour distance in ``D``.

    The median is estimated from ``num_queries`` random points of ``D`` (all of them if ``n`` is smaller).
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
        dist[own.nonzero()[:, 0], (idx[own] - start)] = math.inf     # a point is not its own neighbour
        best = torch.minimum(best, dist.min(1).values)
    return best.median().item() / (2.0 * math.sqrt(2.0 * math.log(n)))


def own_posterior_weight(data: torch.Tensor, t, *, num_samples: int,
                         generator: torch.Generator | None = None) -> float:
    """``E_{i, Z} w_i(a_t x_i + s_t Z)``: mean posterior weight of the sample that was noised.

    ``log w_i(x) = -|Z|^2/2 - logsumexp_j(-|x - a_t x_j|^2 / (2 s_t^2))``; near 1 the empirical score
    at ``X_t`` is the conditional score ``-Z/s_t``.
    """
    t = check_time(t)
    check_points(data, "data")
    check_positive_int(num_samples, "num_samples")
    n, d = data.shape
    dev = generator.device if generator is not None else data.device
    idx = torch.randint(0, n, (num_samples,), generator=generator, device=dev).to(data.device)
    z = torch.randn(num_samples, d, generator=generator, device=dev, dtype=data.dtype).to(data.device)
    x, _ = add_noise(data[idx], t, noise=z)
    s = sigma(t)
    log_norm = empirical_log_prob(x, t, data).double() + math.log(n) + 0.5 * d * math.log(2 * math.pi * s * s)
    log_w = -0.5 * (z.double() ** 2).sum(1) - log_norm
    return log_w.clamp_max(0.0).exp().mean().item()


def loss_gap_over_datasets(mixture: GaussianMixture, n: int, t_values: Sequence[float], *, reps: int,
                           num_samples: int, generator: torch.Generator,
                           own_weight_samples: int = 0, fisher_samples: int = 0) -> dict:
    """``E_D[Loss-Gap_t]`` over ``reps`` independent training sets ``D ~ P^n`` (score_fn = true score).

    Lists over ``t_values``: ``mean``, ``stderr`` (std over the ``D`` / sqrt(reps), Monte-Carlo error
    included, never below the mean Monte-Carlo error of one set / sqrt(reps)); ``spacing`` (mean ``rho(D)``); with ``own_weight_samples > 0``, ``own_weight`` (mean over ``D``);
    with ``fisher_samples > 0``, ``j_emp`` / ``j_emp_stderr``: ``E_D[J(P^_t)]`` and its between-set error.
    """
    check_positive_int(n, "n")
    check_positive_int(reps, "reps")
    if n < 2:
        raise ValueError("n must be >= 2")
    values = np.zeros((reps, len(t_values)))
    mc_var = np.zeros((reps, len(t_values)))       # each set's own Monte-Carlo variance of its estimate
    weights = np.zeros((reps, len(t_values)))
    j_emp = np.zeros((reps, len(t_values)))
    spacing = []
    for r in range(reps):
        data = mixture.sample(n, generator=generator)
        spacing.append(spacing_scale(data, generator=generator))
        for j, t in enumerate(t_values):
            est = loss_gap(data, mixture.score, t, num_samples=num_samples, generator=generator)
            values[r, j], mc_var[r, j] = est.value, est.stderr ** 2
            if own_weight_samples:
                weights[r, j] = own_posterior_weight(data, t, num_samples=own_weight_samples, generator=generator)
            if fisher_samples:
                j_emp[r, j] = fisher_information(data, None, t, num_samples=fisher_samples, generator=generator).value
    out = {
        "mean": values.mean(0).tolist(),
        # between-set spread, floored by the mean Monte-Carlo variance (which it contains in expectation):
        # a few sets that agree by chance must not give an error bar below the Monte-Carlo error alone
        "stderr": (np.sqrt(np.maximum(values.var(0, ddof=1), mc_var.mean(0)) / reps)).tolist() if reps > 1
        else [math.nan] * len(t_values),
        "spacing": float(np.mean(spacing)),
    }
    if own_weight_samples:
        out["own_weight"] = weights.mean(0).tolist()
    if fisher_samples:
        out["j_emp"] = j_emp.mean(0).tolist()
        out["j_emp_stderr"] = (j_emp.std(0, ddof=1) / math.sqrt(reps)).tolist() if reps > 1 else [math.nan] * len(t_values)
    return out


def upper_bound(mixture: GaussianMixture, t_values: Sequence[float], *, num_samples: int,
                generator: torch.Generator) -> dict:
    """``U_t = d s_t^-2 - J(P_t)`` at each ``t``, with ``J(P_t)`` by Monte Carlo from fresh draws of ``P``.

    ``U_t`` is the minimal DSM loss under the true joint law, and ``E_D[Loss-Gap_t] <= U_t`` for any ``P``
    (the chapter's proposition). Lists ``value``, ``stderr`` (Monte Carlo) and ``j_true`` over ``t_values``.
    """
    check_positive_int(num_samples, "num_samples")
    ref = mixture.sample(num_samples, generator=generator)
    d = ref.shape[1]
    j = [fisher_information(ref, mixture.score, t, num_samples=num_samples, generator=generator) for t in t_values]
    return {"value": [d / sigma(t) ** 2 - e.value for t, e in zip(t_values, j)],
            "stderr": [e.stderr for e in j], "j_true": [e.value for e in j]}


def crossover_scale(t_values: Sequence[float], fraction_of_isolated: Sequence[float],
                    level: float = 0.5) -> float | None:
    """Noise-to-signal ratio ``s_t/a_t`` where ``E_D[LG] / LG_iso`` first falls below ``level``.

    Linear interpolation in ``log(s_t/a_t)``; None if the curve starts below ``level`` or never falls below it.
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
