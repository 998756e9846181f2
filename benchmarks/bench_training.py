"""Benchmark of batched DSM training of score networks (memsep_lib.training) — prints one summary line.

Trains ``G`` score MLPs ``ScoreMLP(d, W, depth)`` as one :class:`~memsep_lib.nets.ScoreMLPStack` with
:func:`~memsep_lib.training.train_score_stack` (the training of the Gaussian-mixture ablations) and reports

- steps/s: optimizer steps per second of the whole stack (each step trains every member on its own batch);
- FLOP ratio: achieved FLOP/s of a training step divided by the FLOP/s of one plain matrix product
  ``(G*B, W) x (W, W)`` (the shape of a hidden layer), both measured in this run with the same
  threads (target >= 0.3 on CPU for W >= 512).

FLOPs of one step, per member and linear layer with fan-in ``i`` and fan-out ``o``: forward
``2 B i o``, weight gradient ``2 B i o``, input gradient ``2 B i o`` (not for the layers fed by ``x_t``
or by the time embedding, whose inputs need none). Elementwise work (activations, Adam) is not counted.

Usage: python benchmarks/bench_training.py [--width 512 --depth 3 --models 4 --batch 256 --dim 8 --steps 40]
"""

from __future__ import annotations

import argparse

import torch

from memsep_lib.config import describe_device, get_device
from memsep_lib.nets import ScoreMLPStack
from memsep_lib.training import train_score_stack
from timing import best_time


def step_flops(G: int, B: int, dim: int, width: int, depth: int, embedding: int) -> float:
    dims = [dim] + [width] * depth + [dim]
    total = sum((4 if l == 0 else 6) * B * i * o for l, (i, o) in enumerate(zip(dims, dims[1:])))
    total += 4 * B * embedding * depth * width                  # time shifts: forward + weight gradient
    return G * total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dim", type=int, default=8)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    device = get_device()
    G, B, W, d = args.models, args.batch, args.width, args.dim
    gen = torch.Generator(device=device).manual_seed(0)
    data = torch.randn(G, 4096, d, generator=gen, device=device)
    a = torch.randn(G * B, W, generator=gen, device=device)
    b = torch.randn(W, W, generator=gen, device=device)
    stack = ScoreMLPStack(G, d, W, args.depth, generator=gen)

    t_train = best_time(lambda: train_score_stack(stack, data, steps=args.steps, batch_size=B, generator=gen,
                                                  progress=False, time_distribution="log_uniform", T=8.0),
                        device, args.repeats)
    t_mm = best_time(lambda: [torch.mm(a, b) for _ in range(args.steps)], device, args.repeats)
    flops_train = step_flops(G, B, d, W, args.depth, stack.time_embedding_dim) * args.steps / t_train
    flops_mm = 2.0 * G * B * W * W * args.steps / t_mm
    print(f"bench_training: DSM, {G} score MLPs d={d} W={W} depth={args.depth} batch={B} "
          f"({stack.num_parameters():,} params each) on {describe_device(device)}: "
          f"{args.steps / t_train:.1f} steps/s, {flops_train / 1e9:.2f} GFLOP/s vs matmul "
          f"{flops_mm / 1e9:.2f} GFLOP/s, ratio {flops_train / flops_mm:.2f} (target >= 0.3)")


if __name__ == "__main__":
    main()
