"""Benchmark of memsep_lib.scores.empirical_score (float32, CPU) against the two-matmul floor and the naive kernel.

Datasets: synthetic standard normal points, and the CIFAR-10 training images (``to_model_range``: [-1, 1],
flattened to d = 3072) when ``MEMSEP_DATA_DIR`` holds ``cifar10_train.npz``. For each, in one run:

- speed: time of empirical_score for B=1024 queries (draws from P^_t) against n=50,000 points in d=3072,
  divided by the time of the two matrix products of the same shapes ((B,d)x(d,n) and (B,n)x(n,d)), at
  t=1e-3 (the weights sit on one or two points), t=1 and t=3 (on CIFAR-10 the weights spread over many
  images: the dense path and its second matrix product); target <= 1.1. Beside it the naive float32 kernel
  of public code (cdist -> softmax -> matmul) at t=1e-3;
- memory: peak resident memory added by one empirical_score call (the largest over the three t), in a
  fresh subprocess;
- accuracy against a float64 reference evaluated at the same float32 inputs, for memsep and for the naive
  kernel: the worst error on midpoints a_t (x_i + x_j)/2, where two weights tie, in units of sqrt(d)/s_t
  (target <= 1e-3 at t=1e-3), and the relative error on draws from P^_t (target <= 1e-4).

Timings: the candidates run interleaved, ``--repeats`` times each after one warm-up call, so that load on a
shared machine hits all alike; the ratios are medians, in wall time and in CPU time (the CPU time of this
process, steadier under load; with one thread the two agree on an idle machine). Set OMP_NUM_THREADS.

The run ends with one summary line per dataset.

Usage: python benchmarks/bench_scores.py [--n 50000 --d 3072 --batch 1024 --repeats 3]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from memsep_lib.process import alpha, sigma
from memsep_lib.scores import empirical_score

T_EVAL = 1e-3             # small t: the weights sit on one or two points (midpoints: an exact tie)
T_TIMED = (T_EVAL, 1.0, 3.0)
CHECKED = 256             # queries in the accuracy comparison
REFERENCE_TOP = 64        # reference: explicit float64 differences for this many points per query


def _synthetic(n, d, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _cifar10(n, d):
    """The first ``n`` CIFAR-10 training images in [-1, 1], flattened to ``(n, 3072)``."""
    from memsep_lib.data import load_cifar10, to_model_range

    if d != 3072:
        raise SystemExit(f"CIFAR-10 images have d=3072, got --d {d}")
    images, _ = load_cifar10("train", data_dir=os.environ["MEMSEP_DATA_DIR"], allow_download=False)
    if n > len(images):
        raise SystemExit(f"--n {n} exceeds the {len(images)} CIFAR-10 training images")
    return to_model_range(images[:n]).reshape(n, -1).contiguous()


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


def reference_score(x, t, data):
    """Float64 reference at the (float32) inputs: float64 energies ``|x|^2/2 - a x.x_i + a^2 |x_i|^2/2`` for
    every point, replaced by explicit float64 differences for the ``REFERENCE_TOP`` lowest of each query.
    The expanded energies are off by at most ~``1e-16 (sqrt(d) + 16) |x|^2`` (checked below: under 1e-9
    logits, or the point is more than 60 logits below the top)."""
    a, s2 = alpha(t), sigma(t) ** 2
    x64, data64 = x.double(), data.double()
    energy = 0.5 * (x64.square().sum(1, keepdim=True) + a * a * data64.square().sum(1)) - a * (x64 @ data64.T)
    k = min(REFERENCE_TOP, data.shape[0])
    low, idx = energy.topk(k, dim=1, largest=False)
    if k < data.shape[0]:
        gap = (energy.kthvalue(k + 1, dim=1).values - low[:, 0]) / s2
        bound = 1.2e-16 * (math.sqrt(x.shape[1]) + 16) * energy.abs().amax(1) / s2
        assert bool(((gap > 60) | (bound < 1e-9)).all()), "reference: raise REFERENCE_TOP"
    for b in range(0, x.shape[0], 16):                      # (16, k, d) float64 at a time
        diff = x64[b:b + 16, None, :] - a * data64[idx[b:b + 16]]
        energy[b:b + 16].scatter_(1, idx[b:b + 16], 0.5 * diff.square().sum(-1))
    w = torch.softmax((energy.amin(1, keepdim=True) - energy) / s2, dim=1)
    return (a * (w @ data64) - x64) / s2


def _errors(score, ref, t, midpoints):
    """Worst error in sqrt(d)/s_t (midpoints) or relative error (draws) against the float64 reference."""
    if midpoints:
        return (score.double() - ref).norm(dim=1).max().item() * sigma(t) / math.sqrt(ref.shape[1])
    return ((score.double() - ref).norm() / ref.norm()).item()


def _median_times(fns, repeats):
    """Median wall and CPU times of each function, interleaved, after one warm-up call each."""
    for fn in fns:
        fn()
    wall, cpu = [[] for _ in fns], [[] for _ in fns]
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            cpu[k].append(time.process_time() - c0)
            wall[k].append(time.perf_counter() - w0)
    return [statistics.median(v) for v in wall], [statistics.median(v) for v in cpu]


def _vm_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def memory_probe(name, n, d, B):
    """Run in a fresh process: peak RSS growth (MiB) caused by empirical_score calls at each timed t."""
    data = _datasets(n, d)[name]()
    queries = [_queries(data, t, B)[0] for t in T_TIMED]
    with open("/proc/self/clear_refs", "w") as f:                # reset the peak (loading the data had one)
        f.write("5")
    before = _vm_kib("VmRSS")
    for t, x in zip(T_TIMED, queries):
        empirical_score(x, t, data)
    print((_vm_kib("VmHWM") - before) / 1024)


def bench(name, n, d, B, repeats):
    data = _datasets(n, d)[name]()
    queries = {t: _queries(data, t, B) for t in T_TIMED}
    x0 = queries[T_EVAL][0]
    weights = torch.rand(B, n)
    fns = [lambda: (x0 @ data.T, weights @ data)]
    fns += [(lambda t: lambda: empirical_score(queries[t][0], t, data))(t) for t in T_TIMED]
    fns += [lambda: naive_score(x0, T_EVAL, data)]
    wall, cpu = _median_times(fns, repeats)
    del weights
    ratio_wall = [w / wall[0] for w in wall[1:]]
    ratio_cpu = [c / cpu[0] for c in cpu[1:]]

    probe = subprocess.run([sys.executable, __file__, f"--memory-probe={name}", f"--n={n}", f"--d={d}",
                            f"--batch={B}"], capture_output=True, text=True, check=True)
    peak_mib = float(probe.stdout.strip())

    errors = {}
    for t in T_TIMED:
        x, mid = (q[:CHECKED] for q in queries[t])
        for label, q, is_mid in (("midpoints", mid, True), ("draws", x, False)):
            ref = reference_score(q, t, data)
            errors[t, label] = tuple(_errors(score, ref, t, is_mid) for score in (
                empirical_score(q, t, data), naive_score(q, t, data), ref.float()))   # memsep, naive, rounding
        print(f"bench_scores[{name}] accuracy at t={t:g} (memsep vs naive, float32 rounding alone): midpoints "
              "{:.1e} vs {:.1e} ({:.1e}) sqrt(d)/s_t, draws {:.1e} vs {:.1e} ({:.1e}) relative".format(
                  *errors[t, "midpoints"], *errors[t, "draws"]), flush=True)

    threads = torch.get_num_threads()
    speed = ", ".join(f"{rw:.2f} (cpu {rc:.2f}) at t={t:g}" for t, rw, rc in zip(T_TIMED, ratio_wall, ratio_cpu))
    mid, draws = errors[T_EVAL, "midpoints"], errors[T_EVAL, "draws"]
    return (f"bench_scores[{name}]: B={B} n={n} d={d} float32 cpu({threads} thread{'s' * (threads > 1)}), "
            f"median of {repeats} | memsep / two matmuls = {speed} (target <= 1.1) | naive cdist-softmax-matmul / "
            f"two matmuls = {ratio_wall[-1]:.2f} (cpu {ratio_cpu[-1]:.2f}) | two matmuls {wall[0]:.1f} s | memsep "
            f"peak extra memory {peak_mib:.0f} MiB | error at t={T_EVAL:g}, memsep vs naive: midpoints {mid[0]:.1e} "
            f"vs {mid[1]:.1e} sqrt(d)/s_t (target <= 1e-3; float32 rounding alone {mid[2]:.1e}), P^_t draws "
            f"{draws[0]:.1e} vs {draws[1]:.1e} relative (target <= 1e-4)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=3072)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of each candidate (median)")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        return memory_probe(args.memory_probe, args.n, args.d, args.batch)
    summaries = [bench(name, args.n, args.d, args.batch, args.repeats) for name in _datasets(args.n, args.d)]
    print("\n".join(summaries), flush=True)


if __name__ == "__main__":
    main()
