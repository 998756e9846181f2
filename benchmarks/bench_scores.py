"""Benchmark of memsep_lib.scores.empirical_score (float32, CPU) — prints one summary line.

- speed: time of empirical_score for B=1024 queries against n=50,000 points in d=3072, divided by
  the time of the two matrix products of the same shapes ((B,d)x(d,n) and (B,n)x(n,d)), measured in
  this run (target <= 1.5);
- memory: peak resident memory added by the call, measured in a fresh subprocess (target well under 2 GB);
- accuracy: worst error against float64 (evaluated at the same float32 inputs) at t=1e-3, in units of
  sqrt(d)/s_t, on midpoints a_t (x_i + x_j)/2 (target <= 1e-3) and relative on draws from P^_t (<= 1e-4).

Usage: python benchmarks/bench_scores.py [--n 50000 --d 3072 --batch 1024]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time

import torch

from memsep_lib.process import alpha, sigma
from memsep_lib.scores import empirical_score

T_EVAL = 1e-3


def _problem(n, d, B, seed=0):
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(n, d, generator=g)
    i = torch.randint(n, (B,), generator=g)
    x = alpha(T_EVAL) * data[i] + sigma(T_EVAL) * torch.randn(B, d, generator=g)
    j = (i + 1) % n
    mid = alpha(T_EVAL) * (data[i] + data[j]) / 2
    return data, x, mid


def _best_times(fns, repeats=4):
    """Best-of-``repeats`` wall time of each function, interleaved so that load on the machine hits all alike."""
    best = [math.inf] * len(fns)
    for fn in fns:
        fn()
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def _vm_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def memory_probe(n, d, B):
    """Run in a fresh process: peak RSS growth (MiB) caused by one empirical_score call."""
    data, x, _ = _problem(n, d, B)
    before = _vm_kib("VmRSS")
    empirical_score(x, T_EVAL, data)
    print((_vm_kib("VmHWM") - before) / 1024)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=3072)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        return memory_probe(args.n, args.d, args.batch)

    n, d, B = args.n, args.d, args.batch
    data, x, mid = _problem(n, d, B)
    weights = torch.rand(B, n)
    t_matmul, t_score = _best_times([lambda: (x @ data.T, weights @ data),
                                     lambda: empirical_score(x, T_EVAL, data)])
    del weights

    probe = subprocess.run([sys.executable, __file__, "--memory-probe", f"--n={n}", f"--d={d}",
                            f"--batch={B}"], capture_output=True, text=True, check=True)
    peak_mib = float(probe.stdout.strip())

    m = min(B, 256)
    data64 = data.double()
    unit = math.sqrt(d) / sigma(T_EVAL)
    ref_mid = empirical_score(mid[:m].double(), T_EVAL, data64)
    err_mid = (empirical_score(mid[:m], T_EVAL, data).double() - ref_mid).norm(dim=1).max().item() / unit
    ref_x = empirical_score(x[:m].double(), T_EVAL, data64)
    err_x = ((empirical_score(x[:m], T_EVAL, data).double() - ref_x).norm() / ref_x.norm()).item()

    print(f"bench_scores: B={B} n={n} d={d} float32 cpu({torch.get_num_threads()} threads) | "
          f"empirical_score / two matmuls = {t_score / t_matmul:.2f} (target <= 1.5) | "
          f"peak extra memory = {peak_mib:.0f} MiB | "
          f"error at t=1e-3: midpoints {err_mid:.1e} sqrt(d)/s_t (<= 1e-3), "
          f"P^_t queries {err_x:.1e} relative (<= 1e-4)")


if __name__ == "__main__":
    main()
