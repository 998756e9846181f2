"""Command-line runners for the book's long experiments.

``python -m memsep_lib.experiments <name> --profile <ci|cpu|paper>`` runs a registered experiment and
writes ``book/results/<name>-<profile>.json`` (:func:`memsep_lib.results.save_results`, with the wall
time); ``--list`` prints the names.

An experiment is a function ``fn(profile) -> (config, results)`` with JSON-serialisable dicts. The
registry maps a name to the function, or to ``"module:function"`` (imported on first use, so that
listing the names does not import every experiment).
"""

from __future__ import annotations

import importlib
from typing import Callable, Iterable

from ..config import PROFILES

Experiment = Callable[[str], tuple]

__all__ = ["REGISTRY", "EXPECTED_COST", "register", "get_experiment", "experiment_names", "expected_cost",
           "progress"]

REGISTRY: dict[str, Experiment | str] = {
    "loss_gap_bound": "memsep_lib.loss_gap_bound:run",
    "dit_pruning": "memsep_lib.dit_pruning:run",
    "approximation_width": "memsep_lib.approximation:run",
    "mixture_scale": "memsep_lib.mixture_memorization:run_scale",
    "mixture_sample_size": "memsep_lib.mixture_memorization:run_sample_size",
    "mixture_dimension": "memsep_lib.mixture_memorization:run_dimension",
    "mixture_weight_decay": "memsep_lib.mixture_memorization:run_weight_decay",
    "mixture_phase_2d": "memsep_lib.mixture_memorization:run_phase_2d",
}

# Expected cost of one run, per experiment and profile (the book's "Reproducing at scale" page shows
# it next to the results files that exist): wall-clock `minutes` on `hardware`, and the `basis` of
# the figure (measured, or how it was estimated). Add an entry when registering an experiment.
EXPECTED_COST: dict[str, dict[str, dict]] = {
    "loss_gap_bound": {
        "ci": {"minutes": 0.5, "hardware": "2 CPU cores", "basis": "measured: 23 s"},
        "cpu": {"minutes": 5, "hardware": "2 CPU cores", "basis": "measured: 292 s"},
        "paper": {"minutes": 15, "hardware": "1 GPU", "basis": "estimate: cpu run scaled by the sizes, not measured"},
    },
    "dit_pruning": {
        "ci": {"minutes": 0.5, "hardware": "1 CPU thread",
               "basis": "measured: 29 s (chapter notebook, feature net cached, shared machine)"},
        "cpu": {"minutes": 50, "hardware": "1 CPU thread",
                "basis": "measured: 3007 s (1 thread, shared machine), 5 seeds"},
        "paper": {"minutes": 5900, "hardware": "1 H200 GPU",
                  "basis": "extrapolated from benchmarks/gpu_check.sh on an H200 (0.16 s per training step of "
                           "batch 128, 3.3e-4 s per image and sampling step), 5 seeds"},
    },
    "approximation_width": {
        "ci": {"minutes": 0.3, "hardware": "2 CPU cores", "basis": "measured: 18 s"},
        "cpu": {"minutes": 20, "hardware": "2 CPU cores", "basis": "measured: 1212 s (1 training thread, shared machine)"},
        "paper": {"minutes": 10, "hardware": "1 GPU",
                  "basis": "estimate: bounded by the config's 420 s time budget plus the last width; not measured"},
    },
}



def _mixture_cost(ci_seconds: int, cpu_seconds: int, paper_minutes: float) -> dict:
    """Cost entry of a Gaussian-mixture ablation: measured ``ci``/``cpu`` wall times (1 thread), a ``paper`` estimate."""
    measured = lambda seconds, where: {"minutes": round(seconds / 60, 2), "hardware": "1 CPU thread",
                                       "basis": f"measured: {seconds} s ({where})"}
    return {"ci": measured(ci_seconds, "1 thread"), "cpu": measured(cpu_seconds, "1 thread, shared machine"),
            "paper": {"minutes": paper_minutes, "hardware": "1 GPU",
                      "basis": "estimate: training FLOPs at 50 TFLOP/s (sampling not counted); not measured"}}


# (ci seconds, cpu seconds, paper minutes) of each ablation of memsep_lib.mixture_memorization
EXPECTED_COST.update({f"mixture_{name}": _mixture_cost(*costs) for name, costs in {
    "scale": (12, 773, 35), "sample_size": (18, 481, 35), "dimension": (21, 613, 30),
    "weight_decay": (24, 727, 70), "phase_2d": (10, 83, 2)}.items()})

def register(name: str, fn: Experiment | str, *, replace: bool = False) -> None:
    """Add an experiment under ``name`` (a callable or a ``"module:function"`` path)."""
    if not isinstance(name, str) or not name or "/" in name or name != name.strip():
        raise ValueError(f"name must be a plain non-empty string, got {name!r}")
    if not (callable(fn) or (isinstance(fn, str) and ":" in fn)):
        raise TypeError(f"fn must be callable or a 'module:function' string, got {fn!r}")
    if name in REGISTRY and not replace:
        raise ValueError(f"an experiment named {name!r} is already registered")
    REGISTRY[name] = fn


def experiment_names() -> list[str]:
    return sorted(REGISTRY)


def get_experiment(name: str) -> Experiment:
    """The function registered as ``name``; a ``KeyError`` listing the known names otherwise."""
    if name not in REGISTRY:
        raise KeyError(f"unknown experiment {name!r}; registered: {', '.join(experiment_names()) or '(none)'}")
    fn = REGISTRY[name]
    if isinstance(fn, str):
        module, _, attr = fn.partition(":")
        fn = getattr(importlib.import_module(module), attr)
    return fn


def expected_cost(name: str) -> dict[str, dict]:
    """``{profile: {"minutes", "hardware", "basis"}}`` for a registered experiment (``{}`` if not recorded)."""
    if name not in REGISTRY:
        raise KeyError(f"unknown experiment {name!r}; registered: {', '.join(experiment_names()) or '(none)'}")
    return {p: dict(c) for p, c in EXPECTED_COST.get(name, {}).items()}


def progress(iterable: Iterable, *, profile: str, desc: str | None = None, **kwargs):
    """``tqdm`` progress bar, silent in the ``ci`` profile."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, disable=profile == "ci", **kwargs)
