"""The book's experiments: one package per chapter, each with the same four names.

``get_experiment(name)`` returns an experiment: an object (a module, or for the five Gaussian-mixture
ablations an instance) with

- ``NAME``, ``DESCRIPTION`` (one line) and ``COST`` (``{profile: {"minutes", "hardware", "basis"}}``),
- ``CONFIGS``: ``{"ci": ..., "cpu": ..., "paper": ...}``, one frozen dataclass per profile,
- ``run(config, *, device=None, progress=False, workdir=None) -> results`` (a JSON-serialisable dict;
  ``workdir`` holds checkpoints and finished stages, so an interrupted run resumes),
- ``verdict(results) -> {claim: bool}`` and ``facts(results) -> {name: value}`` (what the chapter glues).

``python -m memsep_lib.experiments <name> --profile <p>`` runs one and writes
``book/results/<name>-<profile>.json``. This module is the registry only: name -> where it lives
(``"module"`` or ``"module:attribute"``), imported on first use.
"""

from __future__ import annotations

import importlib

__all__ = ["REGISTRY", "register", "get_experiment", "experiment_names"]

_PKG = "memsep_lib.experiments"
REGISTRY: dict[str, object] = {
    "dsm_minimiser": f"{_PKG}.dsm_minimiser.experiment",
    "loss_gap_fisher": f"{_PKG}.loss_gap_fisher.experiment",
    "loss_gap_bound": f"{_PKG}.loss_gap_bound.experiment",
    "approximation_width": f"{_PKG}.approximation_width.experiment",
    "hessian_lipschitz": f"{_PKG}.hessian_lipschitz.experiment",
    **{f"mixture_{name}": f"{_PKG}.mixture_memorization.experiment:{name.upper()}"
       for name in ("scale", "sample_size", "dimension", "weight_decay", "phase_2d")},
    "dit_pruning": f"{_PKG}.dit_pruning",
}


def register(name: str, where, *, replace: bool = False) -> None:
    """Add an experiment under ``name``: an object with the four names, or ``"module[:attribute]"``."""
    if not isinstance(name, str) or not name or "/" in name or name != name.strip():
        raise ValueError(f"name must be a plain non-empty string, got {name!r}")
    if not isinstance(where, str) and not all(hasattr(where, a) for a in ("CONFIGS", "run", "verdict", "facts")):
        raise TypeError(f"where must be a 'module[:attribute]' string or an object with CONFIGS, run, verdict "
                        f"and facts, got {where!r}")
    if name in REGISTRY and not replace:
        raise ValueError(f"an experiment named {name!r} is already registered")
    REGISTRY[name] = where


def experiment_names() -> list[str]:
    """The registered names, in chapter order."""
    return list(REGISTRY)


def get_experiment(name: str):
    """The experiment registered as ``name``; a ``KeyError`` listing the known names otherwise."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise KeyError(f"unknown experiment {name!r}; registered: {', '.join(REGISTRY)}")
    where = REGISTRY[name]
    if not isinstance(where, str):
        return where
    module, _, attribute = where.partition(":")
    found = importlib.import_module(module)
    return getattr(found, attribute) if attribute else found
