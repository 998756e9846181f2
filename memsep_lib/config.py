"""Run configuration: compute device, run profile and seeding.

- device: CUDA when available; the environment variable ``MEMSEP_DEVICE`` overrides
  (``cpu``, ``cuda``, ``cuda:1``, ``mps``, ...); a device this machine lacks is an error.
- profile: ``MEMSEP_PROFILE`` in ``{"ci", "cpu", "paper"}`` (default ``ci``) selects the scale of
  every experiment; :func:`by_profile` picks a value for the active profile. ``ALL_PROFILES`` adds, in
  order of size, the profiles only some experiments have (``gpu``: ``dit_pruning`` on one GPU in
  minutes), which the CLI runs with ``--profile``.
"""

from __future__ import annotations

import numbers
import os
import random
from typing import TypeVar

import numpy as np
import torch

from .validation import check_device

__all__ = ["PROFILES", "ALL_PROFILES", "get_device", "describe_device", "get_profile", "by_profile", "make_generator",
           "seed_everything", "run_label"]

PROFILES = ("ci", "cpu", "paper")
ALL_PROFILES = ("ci", "cpu", "gpu", "paper")
T = TypeVar("T")


def get_device() -> torch.device:
    """The device experiments run on: ``$MEMSEP_DEVICE`` if set, else CUDA if available, else CPU."""
    requested = os.environ.get("MEMSEP_DEVICE", "").strip()
    if requested:
        return check_device(requested, "MEMSEP_DEVICE")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: torch.device | None = None) -> str:
    """A short human label for a device, e.g. ``'cpu (2 threads)'`` or ``'cuda (NVIDIA H100)'``."""
    device = get_device() if device is None else check_device(device, "device")
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def get_profile() -> str:
    """The active run profile, from ``$MEMSEP_PROFILE`` (default ``'ci'``)."""
    profile = os.environ.get("MEMSEP_PROFILE", "ci").strip().lower() or "ci"
    if profile not in PROFILES:
        raise ValueError(f"MEMSEP_PROFILE must be one of {PROFILES}, got {profile!r}")
    return profile


def by_profile(*, ci: T, cpu: T, paper: T, profile: str | None = None) -> T:
    """Return the value given for the active (or the given) profile."""
    profile = get_profile() if profile is None else profile
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return {"ci": ci, "cpu": cpu, "paper": paper}[profile]


def _check_seed(seed) -> int:
    """An integer seed (Python or NumPy, not a bool) in torch's range ``[-2^63, 2^64)``."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if not -2**63 <= seed < 2**64:
        raise ValueError(f"seed must lie in [-2**63, 2**64), got {seed}")
    return seed


def make_generator(seed: int, device: torch.device | str | None = None) -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` (default CPU) seeded with ``seed`` (global RNGs untouched)."""
    seed = _check_seed(seed)
    device = torch.device("cpu") if device is None else check_device(device, "device")
    return torch.Generator(device=device).manual_seed(seed)


def seed_everything(seed: int, device: torch.device | str | None = None) -> torch.Generator:
    """Seed Python, NumPy and torch; return a fresh ``torch.Generator`` on ``device`` seeded with ``seed``."""
    seed = _check_seed(seed)
    device = get_device() if device is None else check_device(device, "device")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator(device=device).manual_seed(seed)


def run_label(device: torch.device | None = None, profile: str | None = None) -> str:
    """The label every reported number carries, e.g. ``'profile ci, cpu (2 threads)'``."""
    profile = get_profile() if profile is None else profile
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return f"profile {profile}, {describe_device(device)}"
