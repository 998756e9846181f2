"""The regime probe that chose the ``cpu`` scale: memorisation of the original DiT over training, per subset size.

The pruning comparison means something only where the original memorises clearly but is not saturated
(the paper's original: 74%). The probe trains one seed of the base config for each candidate subset size
and measures the EMA model's memorisation fraction every ``every`` steps, so the run's ``train_steps``
can be read off the curves. Candidates run as parallel single-thread processes; each resumes from its
folder. ``python -m memsep_lib.experiments.dit_pruning.probe --profile cpu`` writes
``book/results/probes/dit_pruning_probe-<profile>.json`` (beside, not among, the runners' results files).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from memsep_lib.config import make_generator
from memsep_lib.metrics import memorization_fraction
from memsep_lib.results import RESULTS_DIR, StageCache, config_dict, save_results
from memsep_lib.validation import check_positive_int

from .experiment import CONFIGS, DiTPruningConfig, _generate, _new_model, _train, load_data

__all__ = ["NAME", "PROBES", "PROBE_DIR", "probe_subset_size", "run_probe"]

NAME = "dit_pruning_probe"
PROBE_DIR = RESULTS_DIR / "probes"
PROBES = {  # profile -> candidate subset sizes, the longest training, the milestone interval, samples, seed
    "cpu": dict(subset_sizes=(32, 48), steps=4000, every=500, samples=200, seed=0),
}


def probe_subset_size(base: DiTPruningConfig, subset_size: int, *, steps: int, every: int, samples: int,
                      seed: int, folder: Path | str, progress: bool = False) -> dict[int, float]:
    """Memorisation fraction of the EMA model (``samples`` images) at steps ``every, 2 every, ..., steps``."""
    for value, name in ((subset_size, "subset_size"), (steps, "steps"), (every, "every"), (samples, "samples")):
        check_positive_int(value, name)
    milestones = tuple(range(every, steps + 1, every))
    if not milestones:
        raise ValueError(f"every={every} must be at most steps={steps}")
    cfg = dataclasses.replace(base, subset_size=subset_size, train_steps=steps, memorization_milestones=milestones)
    folder = Path(folder)
    store = StageCache(folder, config=cfg)
    device = torch.device("cpu")
    train = load_data(cfg.subset_size, cfg.resolution, cfg.subset_seed)
    torch.manual_seed(seed)
    model, gen = _new_model(cfg), make_generator(seed, device)
    curve = {}
    for m in milestones:
        ema = _train(model, cfg, train.flatten(1), steps=m, interval=steps, generator=gen,
                     checkpoint=folder / "original.pt", progress=progress)
        curve[m] = store.get(f"memorization@{m}", lambda: memorization_fraction(
            _generate(ema.model.model, cfg, samples, seed, device).flatten(1), train.flatten(1)))
    return curve


def _one(args) -> tuple[int, dict, float]:
    base, n, probe, folder = args
    torch.set_num_threads(1)
    start = time.perf_counter()
    curve = probe_subset_size(base, n, folder=Path(folder) / f"n{n}", **probe)
    return n, curve, time.perf_counter() - start


def run_probe(profile: str = "cpu", *, jobs: int = 2, workdir: Path | str | None = None,
              results_dir: Path | str | None = None) -> Path:
    """Every candidate of ``PROBES[profile]`` (``jobs`` at once, one thread each); writes the probe's results file
    in ``results_dir`` (default :data:`PROBE_DIR`)."""
    if profile not in PROBES:
        raise ValueError(f"profile must be one of {sorted(PROBES)}, got {profile!r}")
    check_positive_int(jobs, "jobs")
    probe, base = PROBES[profile], CONFIGS[profile]
    workdir = Path(workdir or RESULTS_DIR / "checkpoints" / f"{NAME}-{profile}")
    start = time.perf_counter()
    tasks = [(base, n, {k: v for k, v in probe.items() if k != "subset_sizes"}, workdir) for n in probe["subset_sizes"]]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        done = list(pool.map(_one, tasks))
    results = {"memorization": {str(n): curve for n, curve, _ in done},
               "seconds": {str(n): s for n, _, s in done}, "resolution": base.resolution, "dit": base.dit}
    config = {**probe, "base": config_dict(base), "jobs": jobs}
    return save_results(NAME, profile, config, results, wall_time_s=time.perf_counter() - start,
                        results_dir=results_dir or PROBE_DIR, device_label=f"cpu ({jobs} processes, 1 thread each)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=sorted(PROBES))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--results-dir", default=None)
    args = parser.parse_args()
    print(run_probe(args.profile, jobs=args.jobs, results_dir=args.results_dir))
