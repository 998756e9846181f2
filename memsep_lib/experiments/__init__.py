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

__all__ = ["REGISTRY", "register", "get_experiment", "experiment_names", "progress"]

REGISTRY: dict[str, Experiment | str] = {
    "loss_gap_bound": "memsep_lib.loss_gap_bound:run",
    "dit_pruning": "memsep_lib.dit_pruning:run",
}


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


def progress(iterable: Iterable, *, profile: str, desc: str | None = None, **kwargs):
    """``tqdm`` progress bar, silent in the ``ci`` profile."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, disable=profile == "ci", **kwargs)
