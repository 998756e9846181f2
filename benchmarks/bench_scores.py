"""Benchmark of memsep_lib.scores.empirical_score (float32, CPU) — one summary line per dataset.

Datasets: synthetic standard normal points, and the CIFAR-10 training images (scaled to [-1, 1],
flattened to d = 3072) when ``MEMSEP_DATA_DIR`` holds ``cifar10_train.npz``. For each, in one run:

- speed: time of empirical_score for B=1024 queries against n=50,000 points in d=3072 at t=1e-3,
  divided by the time of the two matrix products of the same shapes ((B,d)x(d,n) and (B,n)x(n,d))
  (target <= 1.1); the same at t=1 (weights spread over many points: the dense path); and the naive
  float32 kernel of public code (cdist -> softmax -> matmul) against the same two matmuls;
- memory: peak resident memory added by one empirical_score call, in a fresh subprocess;
- accuracy at t=1e-3, against a float64 reference evaluated at the same float32 inputs (energies of
  the points near the top from explicit differences): the worst error on midpoints a_t (x_i + x_j)/2,
  where two weights tie, in units of sqrt(d)/s_t (target <= 1e-3), and the relative error on draws
  from P^_t (target <= 1e-4), for memsep and for the naive kernel.

Timings are best-of-k with the candidates interleaved, so that load on a shared machine hits all alike.

Usage: python benchmarks/bench_scores.py [--n 50000 --d 3072 --batch 1024 --repeats 3]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from memsep_lib.process import alpha, sigma
from memsep_lib.scores import empirical_score

T_EVAL = 1e-3          # small t: the weights sit on one or two points (midpoints: an exact tie)
T_DENSE = 1.0          # large t: on CIFAR-10 the weights spread over many images
CHECKED = 256          # queries in the accuracy comparison


def _synthetic(n, d, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _cifar10(n, d):
    """The first ``n`` CIFAR-10 training images in [-1, 1], flattened (HWC order) to ``(n, 3072)``."""
    from memsep_lib.data import load_cifar10

    if d != 3072:
        raise SystemExit(f"CIFAR-10 images have d=3072, got --d {d}")
    images, _ = load_cifar10("train", data_dir=os.environ["MEMSEP_DATA_DIR"], allow_download=False)
    if n > len(images):
        raise SystemExit(f"--n {n} exceeds the {len(images)} CIFAR-10 training images")
    return torch.from_numpy(images[:n]).reshape(n, -1).float().div_(127.5).sub_(1.0)


def _datasets(n, d):
    out = {"synthetic": lambda: _synthetic(n, d)}
    data_dir = os.environ.get("MEMSEP_DATA_DIR")
    if data_dir and (Path(data_dir) / "cifar10_train.npz").exists():
        out["cifar10"] = lambda: _cifar10(n, d)
    return out


def _queries(data, t, B, seed=1):
    """Draws ``a_t x_i + s_t z`` from P^_t and midpoints ``a_t (x_i + x_j) / 2`` of random pairs."""
    g = torch.Generator().manual_seed(seed)
    n, d = data.shape
    i = torch.randint(n, (B,), generator=g)
    j = (i + 1 + torch.randint(n - 1, (B,), generator=g)) % n
    x = alpha(t) * data[i] + sigma(t) * torch.randn(B, d, generator=g)
    mid = alpha(t) * (data[i] + data[j]) / 2
    return x, mid


def naive_score(x, t, data):
    """What public code does: squared distances by ``torch.cdist`` (the expanded matmul form in float32),
    softmax, one more matmul. Fast, but the logits lose ``~1e-7 d / s_t^2`` to cancellation."""
    a, s2 = alpha(t), sigma(t) ** 2
    scaled = a * data
    w = torch.softmax(torch.cdist(x, scaled).square().div_(-2 * s2), dim=1)
    return (w @ scaled - x) / s2


def reference_score(x, t, data, k=64):
    """Float64 reference at the (float32) inputs: float64 expanded energies for every point, replaced by
    explicit float64 differences for the ``k`` lowest of each query (checked to leave > 60 logits to the rest)."""
    a, s2 = alpha(t), sigma(t) ** 2
    x64, data64 = x.double(), data.double()
    energy = 0.5 * (x64.square().sum(1, keepdim=True) + a * a * data64.square().sum(1)) - a * (x64 @ data64.T)
    k = min(k, data.shape[0])
    low, idx = energy.topk(k, dim=1, largest=False)
    if k < data.shape[0]:
        gap = (energy.kthvalue(k + 1, dim=1).values - low[:, 0]) / s2
        assert bool((gap > 60).all()), "reference: more than k points near the top; raise k"
    for b in range(0, x.shape[0], 16):                      # (16, k, d) float64 at a time
        diff = x64[b:b + 16, None, :] - a * data64[idx[b:b + 16]]
        energy[b:b + 16].scatter_(1, idx[b:b + 16], 0.5 * diff.square().sum(-1))
    w = torch.softmax((energy.amin(1, keepdim=True) - energy) / s2, dim=1)
    return (a * (w @ data64) - x64) / s2


def _errors(score_fn, x, mid, ref_x, ref_mid, t):
    """(worst midpoint error in sqrt(d)/s_t, relative error on draws) against the float64 references."""
    unit = math.sqrt(x.shape[1]) / sigma(t)
    err_mid = (score_fn(mid).double() - ref_mid).norm(dim=1).max().item() / unit
    err_x = ((score_fn(x).double() - ref_x).norm() / ref_x.norm()).item()
    return err_mid, err_x


def _best_times(fns, repeats):
    """Best-of-``repeats`` wall time of each function, interleaved (after one warm-up call each)."""
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


def memory_probe(name, n, d, B):
    """Run in a fresh process: peak RSS growth (MiB) caused by one empirical_score call."""
    data = _datasets(n, d)[name]()
    x, _ = _queries(data, T_EVAL, B)
    before = _vm_kib("VmRSS")
    empirical_score(x, T_EVAL, data)
    print((_vm_kib("VmHWM") - before) / 1024)


def bench(name, n, d, B, repeats):
    data = _datasets(n, d)[name]().contiguous()
    x, mid = _queries(data, T_EVAL, B)
    x_dense, _ = _queries(data, T_DENSE, B)
    weights = torch.rand(B, n)
    t_floor, t_memsep, t_dense, t_naive = _best_times([
        lambda: (x @ data.T, weights @ data),
        lambda: empirical_score(x, T_EVAL, data),
        lambda: empirical_score(x_dense, T_DENSE, data),
        lambda: naive_score(x, T_EVAL, data),
    ], repeats)
    del weights

    probe = subprocess.run([sys.executable, __file__, f"--memory-probe={name}", f"--n={n}", f"--d={d}",
                            f"--batch={B}"], capture_output=True, text=True, check=True)
    peak_mib = float(probe.stdout.strip())

    x, mid = x[:CHECKED], mid[:CHECKED]
    refs = reference_score(x, T_EVAL, data), reference_score(mid, T_EVAL, data)
    mem_mid, mem_x = _errors(lambda y: empirical_score(y, T_EVAL, data), x, mid, *refs, T_EVAL)
    nai_mid, nai_x = _errors(lambda y: naive_score(y, T_EVAL, data), x, mid, *refs, T_EVAL)
    # the best a float32 result can do: the exact score rounded to float32
    round_mid, _ = _errors(lambda y: reference_score(y, T_EVAL, data).float(), x, mid, *refs, T_EVAL)

    print(f"bench_scores[{name}]: B={B} n={n} d={d} float32 cpu({torch.get_num_threads()} threads) | "
          f"memsep / two matmuls = {t_memsep / t_floor:.2f} at t={T_EVAL:g} (target <= 1.1), "
          f"{t_dense / t_floor:.2f} at t={T_DENSE:g} | naive cdist-softmax-matmul / two matmuls = "
          f"{t_naive / t_floor:.2f} | memsep peak extra memory = {peak_mib:.0f} MiB | error at t={T_EVAL:g} "
          f"(memsep vs naive): midpoints {mem_mid:.1e} vs {nai_mid:.1e} sqrt(d)/s_t (<= 1e-3; float32 "
          f"rounding alone {round_mid:.1e}), "
          f"P^_t draws {mem_x:.1e} vs {nai_x:.1e} relative (<= 1e-4)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=3072)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timed calls each")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        return memory_probe(args.memory_probe, args.n, args.d, args.batch)
    for name in _datasets(args.n, args.d):
        bench(name, args.n, args.d, args.batch, args.repeats)


if __name__ == "__main__":
    main()
