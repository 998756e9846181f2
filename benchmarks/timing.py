"""Timing shared by the benchmark scripts: best-of-``repeats`` wall time after a warm-up, synchronised on CUDA."""

from __future__ import annotations

import math
import time

import torch


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn, device, repeats: int = 3) -> float:
    """Smallest wall time of ``fn()`` over ``repeats`` calls, after one warm-up call (seconds)."""
    fn()
    sync(device)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best
