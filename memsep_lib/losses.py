"""Denoising score matching, the Loss-Gap and the Fisher divergence (Proposition 4.1).

DSM loss of a score ``s`` at a training point ``x_i`` (``X_t = a_t x_i + s_t Z``):

    l_t(x_i, s) = E_Z | -(X_t - a_t x_i)/s_t^2 - s(X_t, t) |^2 = E_Z | -Z/s_t - s(X_t, t) |^2

Loss-Gap of ``s`` against the empirical score (the DSM minimiser), and the Fisher divergence:

    Loss-Gap_t(s) = (1/n) sum_i [ l_t(x_i, s) - l_t(x_i, grad log p^_t) ]
    Fisher_t(s)   = E_{X ~ P^_t} | grad log p^_t(X) - s(X, t) |^2

Proposition 4.1 says they are equal. Both are estimated by Monte Carlo from draws
``(i, Z)`` with ``i`` cycling through the data in random order (stratified) and ``X = a_t x_i + s_t Z``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .process import add_noise, sigma
from .scores import empirical_score
from .validation import check_points, check_positive_int, check_time

ScoreFn = Callable[[torch.Tensor, float], torch.Tensor]

__all__ = ["MonteCarloEstimate", "dsm_loss", "loss_gap", "fisher_divergence"]


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A Monte-Carlo mean with its standard error ``std / sqrt(num_samples)``."""

    value: float
    stderr: float
    num_samples: int

    def __str__(self) -> str:
        return f"{self.value:.4g} ± {self.stderr:.2g}"


def _call_score(score_fn: ScoreFn, x: torch.Tensor, t) -> torch.Tensor:
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable as score_fn(x, t), got {type(score_fn).__name__}")
    out = score_fn(x, t)
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"score_fn must return a tensor of shape {tuple(x.shape)}, got {shape}")
    return out


def dsm_loss(score_fn: ScoreFn, x0: torch.Tensor, t, *, noise: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample DSM loss ``| -z/s_t - score_fn(a_t x0 + s_t z, t) |^2``, shape ``(B,)``.

    One noise draw ``z`` per row (pass ``noise`` to pair draws between two scores). Its mean over
    draws is ``l_t(x0, score_fn)``. ``t`` is a scalar or a tensor of shape ``(B,)`` (one time per
    row, as in training); a per-row ``t`` is passed to ``score_fn`` as that tensor.
    """
    if isinstance(t, torch.Tensor) and t.numel() > 1:
        x_t, z = add_noise(x0, t, noise=noise, generator=generator)     # checks t's shape and values
        s_t = sigma(t.to(device=x0.device, dtype=x0.dtype))[:, None]
    else:
        t = check_time(t)
        x_t, z = add_noise(x0, t, noise=noise, generator=generator)
        s_t = sigma(t)
    residual = -z / s_t - _call_score(score_fn, x_t, t)
    return (residual * residual).sum(1)


def _draws(data: torch.Tensor, t: float, num_samples: int, generator, batch_size: int):
    """Yield batches ``(x_i, z, x_t)``, ``i`` stratified over the data, ``x_t = a_t x_i + s_t z``."""
    check_points(data, "data")
    check_positive_int(num_samples, "num_samples")
    n = data.shape[0]
    order = torch.randperm(n, generator=generator, device=generator.device if generator else data.device)
    idx = order.repeat(math.ceil(num_samples / n))[:num_samples].to(data.device)
    for start in range(0, num_samples, batch_size):
        x0 = data[idx[start:start + batch_size]]
        x_t, z = add_noise(x0, t, generator=generator)
        yield x0, z, x_t


def _estimate(values: list[torch.Tensor]) -> MonteCarloEstimate:
    v = torch.cat(values).double()
    std = v.std().item() if v.numel() > 1 else math.inf
    return MonteCarloEstimate(v.mean().item(), std / math.sqrt(v.numel()), v.numel())


def loss_gap(data: torch.Tensor, score_fn: ScoreFn, t, *, num_samples: int,
             generator: torch.Generator | None = None, batch_size: int = 4096) -> MonteCarloEstimate:
    """Paired Monte-Carlo estimate of ``Loss-Gap_t(score_fn)``.

    Both DSM terms use the same draws; per draw, with ``g = -z/s_t`` the conditional score,
    ``|g - s|^2 - |g - s^|^2 = (s^ - s).(2g - s - s^)`` (the factored form avoids cancellation).
    """
    t = check_time(t)
    values = []
    for _, z, x_t in _draws(data, t, num_samples, generator, batch_size):
        g = (-z / sigma(t)).double()
        s_emp = empirical_score(x_t, t, data).double()
        s_fn = _call_score(score_fn, x_t, t).double()
        values.append(((s_emp - s_fn) * (2 * g - s_fn - s_emp)).sum(1))
    return _estimate(values)


def fisher_divergence(data: torch.Tensor, score_fn: ScoreFn, t, *, num_samples: int,
                      generator: torch.Generator | None = None, batch_size: int = 4096) -> MonteCarloEstimate:
    """Monte-Carlo estimate of ``E_{X ~ P^_t} | grad log p^_t(X) - score_fn(X, t) |^2``."""
    t = check_time(t)
    values = []
    for _, _, x_t in _draws(data, t, num_samples, generator, batch_size):
        diff = empirical_score(x_t, t, data).double() - _call_score(score_fn, x_t, t).double()
        values.append((diff * diff).sum(1))
    return _estimate(values)
