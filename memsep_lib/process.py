"""The Ornstein-Uhlenbeck (variance-preserving) forward process.

``X_t = a_t X_0 + s_t Z`` with ``a_t = exp(-t/2)``, ``s_t^2 = 1 - exp(-t)``, ``Z ~ N(0, I)``.
``s_t`` is computed as ``sqrt(-expm1(-t))`` so that it stays accurate for tiny ``t``
(``1 - exp(-t)`` loses all digits below ``t ~ 1e-8`` in float64).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special

from .validation import check_points, check_positive_int, check_time


def _check_time_tensor(t: torch.Tensor, name: str = "t") -> torch.Tensor:
    if not torch.is_floating_point(t):
        raise TypeError(f"{name} must be a floating tensor, got {t.dtype}")
    if not torch.isfinite(t).all() or (t <= 0).any():
        raise ValueError(f"{name} must be finite and > 0 everywhere")
    return t


def alpha(t):
    """Signal scale ``a_t = exp(-t/2)``. Float in, float out; tensor in, tensor out."""
    if isinstance(t, torch.Tensor):
        return torch.exp(-0.5 * _check_time_tensor(t))
    return math.exp(-0.5 * check_time(t))


def sigma(t):
    """Noise scale ``s_t = sqrt(1 - exp(-t))``, computed as ``sqrt(-expm1(-t))``."""
    if isinstance(t, torch.Tensor):
        return torch.sqrt(-torch.expm1(-_check_time_tensor(t)))
    return math.sqrt(-math.expm1(-check_time(t)))


def add_noise(x0: torch.Tensor, t, *, noise: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``X_t = a_t x0 + s_t z``; returns ``(x_t, z)``.

    ``t`` is a scalar or a tensor of shape ``(B,)`` (one time per row of ``x0``).
    """
    check_points(x0, "x0")
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    elif noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    if isinstance(t, torch.Tensor) and t.numel() > 1:
        if t.shape != (x0.shape[0],):
            raise ValueError(f"t must be a scalar or have shape ({x0.shape[0]},), got {tuple(t.shape)}")
        t = t.to(device=x0.device, dtype=x0.dtype)
        return alpha(t)[:, None] * x0 + sigma(t)[:, None] * noise, noise
    return alpha(t) * x0 + sigma(t) * noise, noise


def _check_interval(n: int, t0, T) -> tuple[float, float]:
    """Validate a sample count and a time interval ``0 < t0 < T``; return ``(t0, T)`` as floats."""
    check_positive_int(n, "n")
    t0, T = check_time(t0, "t0"), check_time(T, "T")
    if t0 >= T:
        raise ValueError(f"t0 must be smaller than T, got t0={t0}, T={T}")
    return t0, T


def sample_uniform_time(n: int, t0: float, T: float, *, generator: torch.Generator | None = None,
                        device=None, dtype=torch.float32) -> torch.Tensor:
    """``n`` times drawn uniformly from ``[t0, T]`` (the DSM training time distribution)."""
    t0, T = _check_interval(n, t0, T)
    u = torch.rand(n, generator=generator, device=device, dtype=dtype)
    return t0 + (T - t0) * u


def sample_log_uniform_time(n: int, t0: float, T: float, *, generator: torch.Generator | None = None,
                            device=None, dtype=torch.float32) -> torch.Tensor:
    """``n`` times with ``log t`` uniform on ``[log t0, log T]`` (equal weight per decade of ``t``)."""
    t0, T = _check_interval(n, t0, T)
    u = torch.rand(n, generator=generator, device=device, dtype=dtype)
    return torch.exp(math.log(t0) + (math.log(T) - math.log(t0)) * u)


def sample_small_time(n: int, horizon: float, *, a: float = 0.8, b: float = 2.0,
                      t_min: float = 1e-5, generator: torch.Generator | None = None,
                      device=None, dtype=torch.float32) -> torch.Tensor:
    """Small-t times of Algorithm 1: ``t = horizon * B`` with ``B ~ Beta(a, b)`` (default ``Beta(0.8, 2)``).

    Drawn by inverse CDF from uniforms of ``generator`` (so the draw is reproducible), and
    clipped below at ``t_min`` since ``t = 0`` is not a valid diffusion time.
    """
    check_positive_int(n, "n")
    horizon = check_time(horizon, "horizon")
    if not (a > 0 and b > 0):
        raise ValueError(f"Beta parameters must be positive, got a={a}, b={b}")
    u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
    beta = special.betaincinv(a, b, u.cpu().numpy())
    t = torch.from_numpy(np.maximum(horizon * beta, t_min))
    return t.to(device=u.device, dtype=dtype)
