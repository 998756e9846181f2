"""Benchmark of batched MLP training (memsep_lib.approximation) — prints one summary line.

Trains ``G`` ReLU MLPs ``d -> W (x depth) -> d`` as one :class:`BatchedMLP` with
:func:`fit_batched` (Adam, minibatch MSE) and reports

- steps/s: optimizer steps per second of the whole batch of models;
- FLOP ratio: achieved FLOP/s of a training step divided by the FLOP/s of one plain matrix product
  ``(G*B, W) x (W, W)`` (the shape of the hidden layer), both measured in this run with the same
  threads (target >= 0.3 on CPU).

FLOPs of one step, per model and layer with fan-in ``i`` and fan-out ``o``: forward ``2 B i o``, weight
gradient ``2 B i o``, input gradient ``2 B i o`` (not for the first layer, whose input needs none).

Usage: python benchmarks/bench_training.py [--width 512 --depth 2 --models 4 --batch 256 --dim 8 --steps 40]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from memsep_lib.approximation import BatchedMLP, fit_batched
from memsep_lib.config import describe_device, get_device


def step_flops(G: int, B: int, dim: int, width: int, depth: int) -> float:
    dims = [dim] + [width] * depth + [dim]
    total = 0.0
    for l, (i, o) in enumerate(zip(dims, dims[1:])):
        total += (4 if l == 0 else 6) * B * i * o
    return G * total


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dim", type=int, default=8)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    device = get_device()
    G, B, W, d = args.models, args.batch, args.width, args.dim
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(G, 4096, d, generator=gen, device=device)
    y = torch.tanh(x @ torch.randn(d, d, generator=gen, device=device))
    xv, yv = x[:, :64], y[:, :64]
    a = torch.randn(G * B, W, generator=gen, device=device)
    b = torch.randn(W, W, generator=gen, device=device)

    def train():
        model = BatchedMLP([W] * G, args.depth, d, generator=gen)
        _sync(device)
        res = fit_batched(model, x, y, xv, yv, max_steps=args.steps, batch_size=B, lr=1e-3,
                          eval_every=args.steps, patience=10, generator=gen)
        _sync(device)
        return res.wall_time_s

    def matmul():
        _sync(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            torch.mm(a, b)
        _sync(device)
        return time.perf_counter() - start

    train(), matmul()                                  # warm-up
    t_train, t_mm = math.inf, math.inf
    for _ in range(args.repeats):                      # interleaved best-of: load on the machine hits both
        t_train = min(t_train, train())
        t_mm = min(t_mm, matmul())
    flops_train = step_flops(G, B, d, W, args.depth) * args.steps / t_train
    flops_mm = 2.0 * G * B * W * W * args.steps / t_mm
    print(f"bench_training: {G} MLPs d={d} W={W} depth={args.depth} batch={B} on {describe_device(device)}: "
          f"{args.steps / t_train:.1f} steps/s, {flops_train / 1e9:.2f} GFLOP/s vs matmul "
          f"{flops_mm / 1e9:.2f} GFLOP/s, ratio {flops_train / flops_mm:.2f} (target >= 0.3)")


if __name__ == "__main__":
    main()
