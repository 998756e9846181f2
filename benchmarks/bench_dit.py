"""Benchmark of DiT training and of physical head pruning — prints one summary line.

- training throughput (images/s) of the `cpu`-profile DiT of the pruning experiment, and the ratio
  of its achieved FLOP/s (FLOPs counted by torch.utils.flop_counter for one training step) to the
  FLOP/s of a plain square matmul measured in the same run (target >= 0.3 on CPU);
- the speed-up of a physically pruned model (20% of heads removed) over the same model with those
  heads gated off, for a sampling-sized forward pass.

Usage: python benchmarks/bench_dit.py [--profile cpu] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch.utils.flop_counter import FlopCounterMode

from memsep_lib.config import make_generator
from memsep_lib.dit import DiT, FlatScore
from memsep_lib.experiments.dit_pruning import CONFIGS
from memsep_lib.pruning import random_heads_to_prune
from memsep_lib.training import train_score_net
from timing import best_time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=sorted(CONFIGS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    cfg = CONFIGS[args.profile]
    torch.manual_seed(0)
    model = DiT.from_config(cfg.dit, input_size=cfg.resolution).to(device)
    net = FlatScore(model)
    data = torch.randn(max(cfg.batch_size, 256), net.dim, device=device)
    gen = make_generator(0, device)

    with FlopCounterMode(display=False) as counter:
        train_score_net(net, data, steps=1, batch_size=cfg.batch_size, generator=gen, progress=False)
    flops_per_step = counter.get_total_flops()
    t_train = best_time(lambda: train_score_net(net, data, steps=args.steps, batch_size=cfg.batch_size,
                                                 generator=gen, progress=False), device) / args.steps
    m = 1024 if device.type == "cpu" else 8192
    a, b = torch.randn(m, m, device=device), torch.randn(m, m, device=device)
    t_mm = best_time(lambda: a @ b, device)
    ratio = (flops_per_step / t_train) / (2 * m ** 3 / t_mm)

    remove = random_heads_to_prune(model.heads_per_layer(), cfg.prune_ratio, generator=make_generator(0))
    gated, pruned = copy.deepcopy(model).eval(), copy.deepcopy(model).eval()
    for layer, heads in remove.items():
        gated.head_gates()[layer][heads] = 0.0
    pruned.prune_heads(remove)
    x = torch.randn(256, 3, cfg.resolution, cfg.resolution, device=device)
    with torch.no_grad():
        t_gated = best_time(lambda: gated(x, 0.1), device)
        t_pruned = best_time(lambda: pruned(x, 0.1), device)

    print(f"bench_dit: {args.profile}-profile DiT ({model.num_parameters():,} params, {cfg.resolution}px, "
          f"batch {cfg.batch_size}) on {device} ({torch.get_num_threads()} threads) | "
          f"training {cfg.batch_size / t_train:.0f} images/s | achieved / matmul FLOP/s = {ratio:.2f} (target >= 0.3) | "
          f"pruned ({sum(pruned.heads_per_layer())}/{sum(model.heads_per_layer())} heads) vs gated forward "
          f"speed-up = {t_gated / t_pruned:.2f}x")


if __name__ == "__main__":
    main()
