"""Reverse-time samplers for the OU process, for any ``score_fn(x, t)``.

Forward SDE ``dX = -X/2 dt + dW``. Run backwards from ``T`` to ``t0`` on a time grid ``t_0 > t_1 > ...``
with steps ``h = t_k - t_{k+1}``:

    reverse SDE (Euler-Maruyama):  X <- X + h (X/2 + score(X, t_k)) + sqrt(h) Z
    probability-flow ODE (Euler):  X <- X + h (X/2 + score(X, t_k) / 2)

started from ``X_T ~ N(0, I)`` (``P_T`` is within ``e^{-T}`` of it). The grid is geometric in ``t``
(uniform in ``log t``), which spends steps where the score changes fastest, near ``t0``.
Optionally the last step is replaced by Tweedie's denoiser ``(x + s_t0^2 score(x, t0)) / a_t0``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from tqdm.auto import tqdm

from .process import alpha, sigma
from .validation import (check_bool, check_device, check_float_dtype, check_generator, check_positive_int,
                         check_score_output, check_time)

ScoreFn = Callable[[torch.Tensor, float], torch.Tensor]

__all__ = ["time_grid", "sample"]

METHODS = ("sde", "ode")


def time_grid(T: float, t0: float, steps: int) -> list[float]:
    """``steps + 1`` times from ``T`` down to ``t0``, uniform in ``log t``."""
    T, t0 = check_time(T, "T"), check_time(t0, "t0")
    check_positive_int(steps, "steps")
    if t0 >= T:
        raise ValueError(f"t0 must be smaller than T, got t0={t0}, T={T}")
    return [math.exp(math.log(T) + (math.log(t0) - math.log(T)) * k / steps) for k in range(steps + 1)]


@torch.no_grad()
def sample(score_fn: ScoreFn, num_samples: int, dim: int, *, method: str = "sde", T: float = 8.0,
           t0: float = 1e-3, steps: int = 200, denoise: bool = False, batch_size: int = 4096,
           generator: torch.Generator | None = None, device=None, dtype=torch.float32,
           progress: bool = False) -> torch.Tensor:
    """Draw ``num_samples`` points in ``R^dim`` by integrating the reverse SDE or the probability-flow ODE.

    Args:
        score_fn: callable ``score_fn(x, t) -> (B, dim)``, ``t`` a float.
        method: ``"sde"`` (Euler-Maruyama) or ``"ode"`` (Euler on the probability-flow ODE).
        T, t0, steps: start time, stopping time (early stopping) and number of steps.
        denoise: finish with Tweedie's posterior mean at ``t0`` instead of returning ``X_t0``.
        progress: show a tqdm bar over batches x steps.

    Every output of ``score_fn`` is checked: exactly ``(B, dim)`` (a broadcastable ``(B, 1)`` is an
    error), the samples' dtype and device, and finite.
    """
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable as score_fn(x, t), got {type(score_fn).__name__}")
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_positive_int(num_samples, "num_samples")
    check_positive_int(dim, "dim")
    check_positive_int(batch_size, "batch_size")
    check_float_dtype(dtype)
    check_bool(denoise, "denoise")
    check_bool(progress, "progress")
    grid = time_grid(T, t0, steps)
    check_time(t0, "t0", dtype=dtype)
    if device is None:
        check_generator(generator)
        device = generator.device if generator is not None else torch.device("cpu")
    device = check_device(device)
    check_generator(generator, device)
    batches = range(0, num_samples, batch_size)
    bar = tqdm(total=len(batches) * steps, desc=f"sampling ({method})", disable=not progress)
    out = []
    for start in batches:
        x = torch.randn(min(batch_size, num_samples - start), dim, generator=generator, device=device, dtype=dtype)
        for t_now, t_next in zip(grid[:-1], grid[1:]):
            h = t_now - t_next
            score = check_score_output(score_fn(x, t_now), x, t=t_now)
            if method == "sde":
                noise = torch.randn(x.shape, generator=generator, device=device, dtype=dtype)
                x = x + h * (0.5 * x + score) + math.sqrt(h) * noise
            else:
                x = x + h * (0.5 * x + 0.5 * score)
            bar.update()
        if denoise:
            x = (x + sigma(t0) ** 2 * check_score_output(score_fn(x, t0), x, t=t0)) / alpha(t0)
        out.append(x)
    bar.close()
    return torch.cat(out)
