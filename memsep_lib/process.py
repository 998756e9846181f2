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

from .validation import (FLOAT_DTYPES, check_device, check_float_dtype, check_generator, check_points,
                         check_positive_int, check_real, check_time)


__all__ = ["alpha", "sigma", "add_noise", "sample_uniform_time", "sample_log_uniform_time", "sample_small_time"]


def _check_time_tensor(t: torch.Tensor, name: str = "t") -> torch.Tensor:
    """A tensor of diffusion times: floating, non-empty, finite, and ``>= smallest_time(t.dtype)`` everywhere."""
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a floating tensor, got {t.dtype}")
    if t.numel() == 0:
        raise ValueError(f"{name} is an empty tensor; at least one time is needed")
    lo, hi = torch.stack(torch.aminmax(t.detach())).tolist()          # one device sync
    if not (math.isfinite(lo) and math.isfinite(hi) and lo > 0):
        raise ValueError(f"{name} must be finite and > 0 everywhere")
    check_time(lo, name, dtype=t.dtype)                                 # 1/s_t^2 finite in t's dtype
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
    """Sample ``X_t = a_t x0 + s_t z`` with ``z ~ N(0, I)``.

    Args:
        x0: clean points, shape ``(B, d)``.
        t: diffusion time ``> 0``: a scalar, or a tensor of shape ``(B,)`` (one time per row of ``x0``).
        noise: the ``z`` to use (shape, dtype and device of ``x0``); drawn from ``generator`` if None.
        generator: source of ``z`` when ``noise`` is None, on ``x0``'s device.

    Returns:
        tuple: ``(x_t, z)``, both of ``x0``'s shape, dtype and device.
    """
    check_points(x0, "x0")
    if noise is None:
        check_generator(generator, x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    else:
        if not isinstance(noise, torch.Tensor):
            raise TypeError(f"noise must be a torch.Tensor of the shape of x0, got {type(noise).__name__}")
        if noise.shape != x0.shape:
            raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
        if noise.dtype != x0.dtype or noise.device != x0.device:
            raise TypeError(f"noise must have the dtype and device of x0 ({x0.dtype} on {x0.device}), "
                            f"got {noise.dtype} on {noise.device}")
        check_points(noise, "noise")
    if isinstance(t, torch.Tensor) and t.numel() == 0:
        raise ValueError(f"t must be a scalar or have shape ({x0.shape[0]},), got an empty tensor")
    if isinstance(t, torch.Tensor) and t.numel() > 1:
        if t.shape != (x0.shape[0],):
            raise ValueError(f"t must be a scalar or have shape ({x0.shape[0]},), got {tuple(t.shape)}")
        t = t.to(device=x0.device, dtype=x0.dtype)
        return alpha(t)[:, None] * x0 + sigma(t)[:, None] * noise, noise
    t = check_time(t)               # a scalar (a one-element tensor too: no dtype promotion of x0)
    return alpha(t) * x0 + sigma(t) * noise, noise


def _check_interval(n: int, t0, T, dtype, generator, device) -> tuple[float, float]:
    """Validate a sample count, a float ``dtype`` and a time interval ``0 < t0 < T``; return ``(t0, T)``."""
    check_positive_int(n, "n")
    check_float_dtype(dtype)
    t0, T = check_time(t0, "t0", dtype=dtype), check_time(T, "T")
    check_generator(generator, check_device(device))
    if t0 >= T:
        raise ValueError(f"t0 must be smaller than T, got t0={t0}, T={T}")
    return t0, T


def sample_uniform_time(n: int, t0: float, T: float, *, generator: torch.Generator | None = None,
                        device=None, dtype=torch.float32) -> torch.Tensor:
    """``n`` times drawn uniformly from ``[t0, T]`` (the DSM training time distribution)."""
    t0, T = _check_interval(n, t0, T, dtype, generator, device)
    u = torch.rand(n, generator=generator, device=device, dtype=dtype)
    return t0 + (T - t0) * u


def sample_log_uniform_time(n: int, t0: float, T: float, *, generator: torch.Generator | None = None,
                            device=None, dtype=torch.float32) -> torch.Tensor:
    """``n`` times with ``log t`` uniform on ``[log t0, log T]`` (equal weight per decade of ``t``)."""
    t0, T = _check_interval(n, t0, T, dtype, generator, device)
    u = torch.rand(n, generator=generator, device=device, dtype=dtype)
    return torch.exp(math.log(t0) + (math.log(T) - math.log(t0)) * u)


def sample_small_time(n: int, horizon: float, *, a: float = 0.8, b: float = 2.0,
                      t_min: float = 1e-5, generator: torch.Generator | None = None,
                      device=None, dtype=torch.float32) -> torch.Tensor:
    """Small-t times of Algorithm 1: ``t = horizon * B`` with ``B ~ Beta(a, b)`` (default ``Beta(0.8, 2)``).

    Drawn by inverse CDF from uniforms of ``generator`` (so the draw is reproducible), and
    clipped below at ``t_min`` (``0 < t_min < horizon``) since ``t = 0`` is not a valid diffusion time.
    """
    check_positive_int(n, "n")
    check_float_dtype(dtype)
    horizon = check_time(horizon, "horizon")
    a, b = check_real(a, "a", positive=True), check_real(b, "b", positive=True)
    t_min = check_time(t_min, "t_min", dtype=dtype)
    if t_min >= horizon:
        raise ValueError(f"t_min must be smaller than horizon, got t_min={t_min}, horizon={horizon}")
    check_generator(generator, check_device(device))
    u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
    beta = special.betaincinv(a, b, u.cpu().numpy())
    t = torch.from_numpy(np.maximum(horizon * beta, t_min))
    return t.to(device=u.device, dtype=dtype)
