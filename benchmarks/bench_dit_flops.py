"""DiT training FLOP/s against a matmul of the same shape, sampling FLOP/s, and the cost estimates they give:
prints one summary line.

- training: the profile's DiT trained as the experiment trains it (``train_score_net`` with the switches of
  ``memsep_lib.speed``: bf16 autocast and TF32 on CUDA, float32 on the CPU; the EMA updated every step), its
  FLOPs counted from the config (``memsep_lib.dit.dit_flops``) over the wall time of ``--steps`` steps, against
  the matmul of its MLP's first layer, ``(batch x tokens, D) @ (D, 4D)``, in bf16 on CUDA (float32 on the CPU);
- sampling: the forward pass of one sampling block in float32 without autocast (as ``memsep_lib.sampling``
  runs it), against the float32 matmul of the same shape;
- the ``gpu`` and ``paper`` profiles' times estimated at the measured rates (``dit_pruning.cost``), beside
  ``COST``'s estimates at the paper profile's stated float32 rates. Estimates, not measurements.

Usage: python benchmarks/bench_dit_flops.py [--profile gpu] [--device cuda] [--steps 20] [--compile] [--json PATH]
"""

from __future__ import annotations

import argparse
import json

import torch

from memsep_lib.config import describe_device, make_generator
from memsep_lib.dit import DIT_CONFIGS, DiT, FlatScore
from memsep_lib.experiments.dit_pruning import COST, CONFIGS
from memsep_lib.experiments.dit_pruning.cost import estimate_seconds
from memsep_lib.speed import speed_for
from memsep_lib.training import EMA, train_score_net
from timing import best_time


def matmul_rate(m: int, k: int, n: int, dtype: torch.dtype, device, reps: int) -> float:
    """FLOP/s of ``(m, k) @ (k, n)`` in ``dtype``, ``reps`` products per timing (launch overhead amortised)."""
    a, b = torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype)
    return 2 * m * k * n * reps / best_time(lambda: [a @ b for _ in range(reps)], device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="gpu", choices=sorted(CONFIGS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=20, help="training steps per timing")
    parser.add_argument("--compile", action="store_true", help="torch.compile the training forward")
    parser.add_argument("--json", default=None, help="also write the measured numbers to this file")
    args = parser.parse_args()
    device, cfg = torch.device(args.device), CONFIGS[args.profile]
    arch = DIT_CONFIGS[cfg.dit]
    torch.manual_seed(0)
    model = DiT.from_config(cfg.dit, input_size=cfg.resolution).to(device)
    net, speed = FlatScore(model), speed_for(device, compile=args.compile)
    data = torch.rand(cfg.subset_size, net.dim, device=device) * 2 - 1
    ema, gen = EMA(net, cfg.ema_decay), make_generator(0, device)

    def train():
        train_score_net(net, data, steps=args.steps, batch_size=cfg.batch_size, lr=cfg.lr, t0=cfg.t0, T=cfg.T,
                        generator=gen, time_distribution="log_uniform", speed=speed,
                        callbacks=[lambda step, m, loss: ema.update(m)])

    step_s = best_time(train, device, repeats=2) / args.steps
    train_flops = model.flops_per_image(training=True)
    train_rate = cfg.batch_size * train_flops / step_s
    tokens, D = (cfg.resolution // arch["patch_size"]) ** 2, arch["hidden_size"]
    mm_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    reps = 50 if device.type == "cuda" else 2
    mm_train = matmul_rate(cfg.batch_size * tokens, D, 4 * D, mm_dtype, device, reps)

    block = min(cfg.num_samples, 512)
    x = torch.rand(block, net.dim, device=device) * 2 - 1
    model.eval()
    with torch.no_grad():
        forward_s = best_time(lambda: net(x, 0.1), device)
    forward_rate = block * model.flops_per_image() / forward_s
    mm_forward = matmul_rate(block * tokens, D, 4 * D, torch.float32, device, reps)

    estimate = {p: estimate_seconds(CONFIGS[p], train_rate=train_rate, forward_rate=forward_rate) / 60
                for p in ("gpu", "paper")}
    switches = "float32" if speed is None else "+".join(k for k in ("bf16", "tf32", "compile") if getattr(speed, k))
    numbers = {"profile": args.profile, "device": describe_device(device), "switches": switches,
               "train_flops_per_image": train_flops, "step_seconds": step_s, "train_flop_per_s": train_rate,
               "matmul_flop_per_s": mm_train, "matmul_dtype": str(mm_dtype), "forward_flop_per_s": forward_rate,
               "float32_matmul_flop_per_s": mm_forward, "estimated_minutes": estimate}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(numbers, f, indent=1)
    print(f"bench_dit_flops: {args.profile}-profile {cfg.dit} ({model.num_parameters() / 1e6:.1f}M params, "
          f"{cfg.resolution}px, batch {cfg.batch_size}) on {describe_device(device)}, {switches} | training "
          f"{_rate(train_rate)} ({train_flops / 1e9:.2f} GFLOP/image x {cfg.batch_size} in {1e3 * step_s:.1f} ms "
          f"per step, EMA included) vs {str(mm_dtype)[6:]} matmul {cfg.batch_size * tokens}x{D}x{4 * D} "
          f"{_rate(mm_train)} = {train_rate / mm_train:.2f} | sampling forward (float32, block {block}) "
          f"{_rate(forward_rate)} vs float32 matmul {_rate(mm_forward)} = {forward_rate / mm_forward:.2f} | "
          f"estimates at these rates: gpu profile {estimate['gpu']:,.1f} min (COST: {COST['gpu']['minutes']:g} min "
          f"at the stated float32 rates), paper {estimate['paper'] / 60:,.1f} h (COST: "
          f"{COST['paper']['minutes'] / 60:,.1f} GPU-h)")


def _rate(flop_per_s: float) -> str:
    return f"{flop_per_s / 1e12:.1f} TFLOP/s" if flop_per_s >= 1e12 else f"{flop_per_s / 1e9:.1f} GFLOP/s"

if __name__ == "__main__":
    main()
