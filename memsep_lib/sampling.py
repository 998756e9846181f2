"""Reverse-time samplers for the OU process, for any ``score_fn(x, t)``.

Forward SDE ``dX = -X/2 dt + dW``. Run backwards from ``T`` to ``t0`` on a time grid ``t_0 > t_1 > ...``
with steps ``h = t_k - t_{k+1}``:

    reverse SDE (Euler-Maruyama):  X <- X + h (X/2 + score(X, t_k)) + sqrt(h) Z
    probability-flow ODE (Euler):  X <- X + h (X/2 + score(X, t_k) / 2)

started from ``X_T ~ N(0, I)`` (``P_T`` is within ``e^{-T}`` of it). The grid is geometric in ``t``
(uniform in ``log t``), which spends steps where the score changes fastest, near ``t0``.
Optionally the last step is replaced by Tweedie's denoiser ``(x + s_t0^2 score(x, t0)) / a_t0``.
:func:`sample_blocks` draws in fixed blocks, each from its own seed, so that several ranks can share the
work and return what one process would.

Dtype: the samplers run in the dtype given, by default the dtype of the model behind ``score_fn``
(:func:`memsep_lib.validation.model_dtype`: a ``GaussianMixture``'s, a network's parameters), and float32
when that cannot be seen (a plain function or lambda); never under autocast (see :mod:`memsep_lib.speed`).
So ``sample(gm.score, n, gm.dim)`` draws in the mixture's float64 and a float32 network samples in float32.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from tqdm.auto import tqdm

from .process import alpha, sigma
from .validation import (call_score_fn, check_bool, check_device, check_float_dtype, check_generator,
                         check_positive_int, check_time, model_dtype)

ScoreFn = Callable[[torch.Tensor, float], torch.Tensor]

__all__ = ["time_grid", "sample", "sample_blocks", "block_seed"]

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
           generator: torch.Generator | None = None, device=None, dtype: torch.dtype | None = None,
           progress: bool = False) -> torch.Tensor:
    """Draw ``num_samples`` points in ``R^dim`` by integrating the reverse SDE or the probability-flow ODE.

    From ``X_T ~ N(0, I)`` down a time grid uniform in ``log t`` from ``T`` to ``t0``, with steps
    ``h = t_k - t_{k+1}``: ``X <- X + h (X/2 + score_fn(X, t_k)) + sqrt(h) Z`` (``"sde"``) or
    ``X <- X + h (X/2 + score_fn(X, t_k)/2)`` (``"ode"``).

    Args:
        score_fn: the score, a callable ``score_fn(x, t) -> Tensor`` with ``x`` of shape ``(B, dim)``
            and ``t`` a float, returning a tensor of ``x``'s shape, dtype and device.
        num_samples: number of points drawn.
        dim: dimension ``d`` of the points.
        method: ``"sde"`` (Euler-Maruyama) or ``"ode"`` (Euler on the probability-flow ODE).
        T: start time (``P_T`` is within ``e^{-T}`` of ``N(0, I)``).
        t0: stopping time (early stopping), ``0 < t0 < T``.
        steps: number of steps of the time grid.
        denoise: finish with Tweedie's denoiser ``(x + s_t0^2 score_fn(x, t0)) / a_t0`` instead of
            returning ``X_t0``.
        batch_size: points integrated together (one ``score_fn`` call per batch and step).
        generator: source of the noise; its device is the default ``device``.
        device: where the points live (default: the generator's device, else CPU).
        dtype: the points' dtype; default: the dtype of the model behind ``score_fn``
            (:func:`memsep_lib.validation.model_dtype`), float32 when it cannot be seen.
        progress: show a tqdm bar over batches x steps.

    Returns:
        Tensor: the samples, shape ``(num_samples, dim)``, in ``dtype`` on ``device``.

    Raises:
        TypeError: ``score_fn`` returns another type or dtype than its input, or fails on points of
            ``dtype`` while its model has another dtype (the message names ``dtype`` and ``score_fn``).
        ValueError: ``score_fn`` returns another shape (a broadcastable ``(B, 1)`` too) or non-finite
            values, or its model has another dimension than ``dim``.
    """
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable as score_fn(x, t), got {type(score_fn).__name__}")
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_positive_int(num_samples, "num_samples")
    check_positive_int(dim, "dim")
    check_positive_int(batch_size, "batch_size")
    dtype = (model_dtype(score_fn) or torch.float32) if dtype is None else check_float_dtype(dtype)
    check_bool(denoise, "denoise")
    check_bool(progress, "progress")
    grid = time_grid(T, t0, steps)
    check_time(t0, "t0", dtype=dtype)
    if device is None:
        check_generator(generator)
        device = generator.device if generator is not None else torch.device("cpu")
    device = check_device(device)
    check_generator(generator, device)

    def score(x, t):
        return call_score_fn(score_fn, x, t, dtype_arg="dtype", dim_arg="dim")

    batches = range(0, num_samples, batch_size)
    bar = tqdm(total=len(batches) * steps, desc=f"sampling ({method})", disable=not progress)
    out = []
    for start in batches:
        x = torch.randn(min(batch_size, num_samples - start), dim, generator=generator, device=device, dtype=dtype)
        for t_now, t_next in zip(grid[:-1], grid[1:]):
            h = t_now - t_next
            s = score(x, t_now)
            if method == "sde":
                noise = torch.randn(x.shape, generator=generator, device=device, dtype=dtype)
                x = x + h * (0.5 * x + s) + math.sqrt(h) * noise
            else:
                x = x + h * (0.5 * x + 0.5 * s)
            bar.update()
        if denoise:
            x = (x + sigma(t0) ** 2 * score(x, t0)) / alpha(t0)
        out.append(x)
    bar.close()
    return torch.cat(out)


BLOCK_SEED_STRIDE = 2 ** 32


def block_seed(seed: int, block: int) -> int:
    """The seed of block ``b``: ``seed + b * 2^32`` (distinct for ``0 <= seed < 2^32``; block 0 is ``seed``)."""
    return seed + block * BLOCK_SEED_STRIDE


@torch.no_grad()
def sample_blocks(score_fn: ScoreFn, num_samples: int, dim: int, *, seed: int, block_size: int = 512,
                  dist=None, device=None, progress: bool = False, **sample_kwargs) -> torch.Tensor:
    """:func:`sample` in blocks of ``block_size``: block ``b`` (samples ``[b B, (b+1) B)``) is one batch drawn
    from its own generator, ``make_generator(block_seed(seed, b), device)``.

    With ``dist`` (a :class:`memsep_lib.distributed.DistInfo`) rank ``r`` draws blocks ``r, r + R, ...``
    and every rank gets all blocks, in order. The score sees the same batches whatever ``R``, so the
    samples do not depend on the number of ranks; one block equals
    ``sample(..., batch_size=block_size, generator=make_generator(seed, device))``. ``sample_kwargs``:
    ``method``, ``T``, ``t0``, ``steps``, ``denoise``, ``dtype``.
    """
    from .config import _check_seed, make_generator
    from .distributed import all_gather_object, single

    seed = _check_seed(seed)
    if not 0 <= seed < BLOCK_SEED_STRIDE:
        raise ValueError(f"seed must lie in [0, 2**32) for distinct block seeds, got {seed}")
    check_positive_int(num_samples, "num_samples")
    check_positive_int(block_size, "block_size")
    check_bool(progress, "progress")
    if {"generator", "batch_size"} & set(sample_kwargs):
        raise TypeError("sample_blocks seeds each block itself: pass seed= and block_size=, not generator/batch_size")
    device = check_device(torch.device("cpu") if device is None else device)
    dist = single(device) if dist is None else dist
    blocks = range(0, num_samples, block_size)
    mine = list(range(dist.rank, len(blocks), dist.world_size))
    bar = tqdm(total=len(mine), desc="sampling (blocks)", disable=not progress)
    drawn = []
    for b in mine:
        n_b = min(block_size, num_samples - blocks[b])
        x = sample(score_fn, n_b, dim, batch_size=n_b, generator=make_generator(block_seed(seed, b), device),
                   device=device, **sample_kwargs)
        drawn.append((b, x if not dist.distributed else x.cpu()))
        bar.update()
    bar.close()
    if not dist.distributed:
        return torch.cat([x for _, x in drawn])
    gathered = dict(pair for part in all_gather_object(drawn, dist) for pair in part)
    return torch.cat([gathered[b] for b in range(len(blocks))]).to(device)
