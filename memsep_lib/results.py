"""Experiment results on disk: ``book/results/<experiment>-<profile>.json`` with provenance.

Every file records the experiment's config and results together with the library version, the
profile, the device, the wall time and the date, so the book can say where each number came from.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import math
import numbers
import os
import platform
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .config import ALL_PROFILES, describe_device
from .validation import check_device, check_real

__all__ = ["RESULTS_DIR", "REQUIRED_FIELDS", "PROVENANCE_FIELDS", "jsonable", "config_dict", "results_path",
           "save_results", "write_atomically", "read_record", "load_results", "largest_available_profile", "Outcome",
           "stored_or_live", "FolderInUseError", "run_folder_lock", "list_results", "StageCache"]

RESULTS_DIR = Path(__file__).resolve().parent.parent / "book" / "results"


def jsonable(obj, *, str_keys: bool = False):
    """Strict-JSON form of a results structure: NaN / inf -> None, numpy scalars -> Python numbers,
    tuples -> lists, and (with ``str_keys``) dict keys -> ``str`` as a JSON round trip would make them."""
    if isinstance(obj, dict):
        return {(str(k) if str_keys else k): jsonable(v, str_keys=str_keys) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, str_keys=str_keys) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def config_dict(config) -> dict:
    """A config (frozen dataclass or dict) as the strict-JSON dict a results file records."""
    if is_dataclass(config) and not isinstance(config, type):
        config = asdict(config)
    elif not isinstance(config, Mapping):
        raise TypeError(f"config must be a dataclass instance or a dict, got {type(config).__name__}")
    try:
        return json.loads(json.dumps(jsonable(dict(config), str_keys=True), allow_nan=False))
    except (TypeError, ValueError) as err:
        raise TypeError(f"config is not JSON-serialisable: {err}") from err


def results_path(experiment: str, profile: str, results_dir: Path | str | None = None) -> Path:
    """``<results_dir>/<experiment>-<profile>.json`` (default folder: ``book/results``)."""
    if not isinstance(profile, str) or profile not in ALL_PROFILES:
        raise ValueError(f"profile must be one of {ALL_PROFILES}, got {profile!r}")
    if not isinstance(experiment, str):
        raise TypeError(f"experiment must be a string, got {type(experiment).__name__}")
    if not experiment or "/" in experiment or os.sep in experiment or experiment != experiment.strip():
        raise ValueError(f"experiment must be a plain name, got {experiment!r}")
    return Path(results_dir or RESULTS_DIR) / f"{experiment}-{profile}.json"


def save_results(experiment: str, profile: str, config: dict, results: dict, *, wall_time_s: float,
                 device: torch.device | str | None = None, results_dir: Path | str | None = None,
                 device_label: str | None = None) -> Path:
    """Write results and provenance as JSON (atomically: a temp file, then rename).

    Args:
        experiment: the experiment's name (a plain file-name part, e.g. ``"loss_gap_fisher"``).
        profile: one of ``config.ALL_PROFILES`` (``"ci"``, ``"cpu"``, ``"gpu"``, ``"paper"``).
        config: the config as a dict (:func:`config_dict` of the config dataclass).
        results: the results, a dict of JSON-serialisable values (NaN / inf are written as null).
        wall_time_s: the run's wall time in seconds, ``>= 0``.
        device: the device the run used (described in the file; default: the default device).
        results_dir: the folder (default ``book/results``).
        device_label: replaces the description of ``device`` (e.g. the devices of merged shards).

    Returns:
        Path: the file written, ``<results_dir>/<experiment>-<profile>.json``.
    """
    path = results_path(experiment, profile, results_dir)
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict (config_dict of the config dataclass), got {type(config).__name__}")
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict, got {type(results).__name__}")
    wall_time_s = check_real(wall_time_s, "wall_time_s")
    if wall_time_s < 0:
        raise ValueError(f"wall_time_s must be >= 0, got {wall_time_s}")
    if device_label is not None and not isinstance(device_label, str):
        raise TypeError(f"device_label must be a string or None, got {type(device_label).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "experiment": experiment,
        "profile": profile,
        "device": device_label or describe_device(None if device is None else torch.device(device)),
        "library_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(float(wall_time_s), 3),
        "config": config,
        "results": results,
    }
    try:
        text = json.dumps(jsonable(record), indent=1, allow_nan=False) + "\n"
    except (TypeError, ValueError) as err:
        raise ValueError(f"results for {experiment!r} are not strict-JSON serialisable: {err}") from err
    write_atomically(path, text)
    return path


def write_atomically(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file of its own in the same folder, then rename.

    A reader never sees a half-written file, and two writers never share a temp file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


REQUIRED_FIELDS = ("experiment", "profile", "device", "library_version", "date", "wall_time_s", "config", "results")


def _reject_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def read_record(path: Path | str) -> dict:
    """Read and validate a results file: strict JSON (no NaN/Infinity), the fields of ``REQUIRED_FIELDS``,
    and ``experiment``/``profile`` matching the file name ``<experiment>-<profile>.json``. Errors name the path."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no results file at {path}")
    try:
        record = json.loads(path.read_text(), parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError, ValueError) as err:   # JSONDecodeError is a ValueError
        raise ValueError(f"results file {path} is not readable strict JSON (truncated or corrupt?): {err}") from err
    if not isinstance(record, dict):
        raise ValueError(f"results file {path} must hold a JSON object, got {type(record).__name__}")
    missing = [f for f in REQUIRED_FIELDS if f not in record]
    if missing:
        raise ValueError(f"results file {path} lacks field(s) {missing}")
    if not isinstance(record["results"], dict) or not isinstance(record["config"], dict):
        raise ValueError(f"results file {path}: 'results' and 'config' must be JSON objects")
    for field in ("experiment", "profile", "device", "library_version", "date"):
        if not isinstance(record[field], str):
            raise ValueError(f"results file {path}: {field!r} must be a string, got {record[field]!r}")
    wall = record["wall_time_s"]
    if isinstance(wall, bool) or not isinstance(wall, numbers.Real) or not math.isfinite(wall) or wall < 0:
        raise ValueError(f"results file {path}: 'wall_time_s' must be a number >= 0, got {wall!r}")
    if record["profile"] not in ALL_PROFILES:
        raise ValueError(f"results file {path} has profile {record['profile']!r}; profiles are {ALL_PROFILES}")
    expected = f"{record['experiment']}-{record['profile']}.json"
    if path.name != expected:
        raise ValueError(f"results file {path} holds experiment {record['experiment']!r}, profile "
                         f"{record['profile']!r}: its name should be {expected}")
    return record


def load_results(experiment: str, profile: str, results_dir: Path | str | None = None) -> dict:
    """Read one results file, validated by :func:`read_record`.

    Args:
        experiment: the experiment's name.
        profile: one of ``config.ALL_PROFILES`` (``"ci"``, ``"cpu"``, ``"gpu"``, ``"paper"``).
        results_dir: the folder (default ``book/results``).

    Returns:
        dict: the record, with the fields of ``REQUIRED_FIELDS`` (``config`` and ``results`` among them).

    Raises:
        FileNotFoundError: no such file; the message gives the command that makes it.
        ValueError: the file is not a valid results record.
    """
    path = results_path(experiment, profile, results_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"no results at {path}; run `python -m memsep_lib.experiments {experiment} --profile {profile}`")
    return read_record(path)


def largest_available_profile(experiment: str, results_dir: Path | str | None = None) -> str | None:
    """The largest profile with a results file for ``experiment`` (paper > gpu > cpu > ci: ``ALL_PROFILES``), or None."""
    for profile in reversed(ALL_PROFILES):
        if results_path(experiment, profile, results_dir).exists():
            return profile
    return None


@dataclass(frozen=True)
class Outcome:
    """An experiment's results as a chapter shows them: stored (largest profile on disk) or computed live."""

    results: dict
    config: dict
    profile: str
    stored: bool
    label: str   # what every number from these results is labelled with


def stored_or_live(experiment, *, profile: str | None = None, device=None, results_dir: Path | str | None = None,
                   progress: bool = False) -> Outcome:
    """The results of the largest stored profile at least as large as ``profile``, else a live run.

    A live run's results go through the same JSON round trip as a stored file's, so both look alike
    (tuples as lists, string keys).

    Args:
        experiment: what :func:`memsep_lib.experiments.get_experiment` returns (``NAME``, ``CONFIGS``, ``run``).
        profile: the smallest acceptable profile; default the active one (``MEMSEP_PROFILE``).
        device: the device of a live run (default :func:`memsep_lib.config.get_device`).
        results_dir: where stored results are looked for (default ``book/results``).
        progress: show progress bars during a live run.

    Returns:
        Outcome: ``results``, ``config``, the ``profile`` they come from, ``stored``, and the ``label``
        every number from them carries.
    """
    from .config import get_device, get_profile

    if not all(hasattr(experiment, name) for name in ("NAME", "CONFIGS", "run")):
        raise TypeError(f"experiment must have NAME, CONFIGS and run (what get_experiment returns), "
                        f"got {type(experiment).__name__}")
    profile = get_profile() if profile is None else profile
    if not isinstance(profile, str) or profile not in ALL_PROFILES:
        raise ValueError(f"profile must be one of {ALL_PROFILES}, got {profile!r}")
    device = None if device is None else check_device(device)
    stored = largest_available_profile(experiment.NAME, results_dir)
    if stored is not None and ALL_PROFILES.index(stored) >= ALL_PROFILES.index(profile):
        record = load_results(experiment.NAME, stored, results_dir)
        label = (f"profile {stored}, {record['device']}: stored results from {record['date'][:10]} "
                 f"({record['wall_time_s']:.0f} s wall time)")
        return Outcome(record["results"], record["config"], stored, True, label)
    device = get_device() if device is None else device
    config = experiment.CONFIGS[profile]
    results = experiment.run(config, device=device, progress=progress)
    return Outcome(json.loads(json.dumps(jsonable(results, str_keys=True))), config_dict(config), profile,
                   False, f"profile {profile}, {describe_device(device)}: computed live")


PROVENANCE_FIELDS = ("experiment", "profile", "device", "date", "wall_time_s", "library_version")


class FolderInUseError(RuntimeError):
    """A run folder is locked by another run."""


@contextlib.contextmanager
def run_folder_lock(folder: Path | str, *, shared: bool = False):
    """Hold an exclusive lock on a run folder (``folder/.lock``) for the duration of the block.

    A second run on the same folder gets a :class:`FolderInUseError` at once instead of corrupting the first
    run's checkpoints; the lock is the operating system's (``flock``), so a killed run releases it.
    ``shared=True``: a shared lock (the shards of one run hold it together; a whole run then waits for none).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise FolderInUseError(f"run folder {folder} is in use by another run ({handle.read().strip() or 'pid ?'}); "
                               f"wait for it to finish or use another --results-dir") from None
        if not shared:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
        try:
            yield folder
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def list_results(results_dir: Path | str | None = None) -> list[dict]:
    """Provenance of every results file ``<experiment>-<profile>.json`` in ``results_dir``.

    One dict per file, sorted by experiment then profile (ci < cpu < gpu < paper), with the fields of
    ``PROVENANCE_FIELDS`` plus ``file`` (the file name); a file that is not a valid results record is a
    ``ValueError`` naming it (:func:`read_record`).
    """
    folder = Path(results_dir or RESULTS_DIR)
    rows = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        record = read_record(path)
        rows.append({**{f: record[f] for f in PROVENANCE_FIELDS}, "file": path.name})
    order = {p: i for i, p in enumerate(ALL_PROFILES)}
    return sorted(rows, key=lambda r: (r["experiment"], order.get(r["profile"], len(order)), r["file"]))


class StageCache:
    """Results of the finished stages of a long run, in ``folder/stages.json``, so a rerun skips them.

    A folder belongs to one config: with ``config`` given, its strict-JSON form is stamped into
    ``folder/config.json`` on first use, and a folder stamped by another config is a ``ValueError``
    (reusing it would return the other run's results under this run's config).

    ``get(name, compute)`` returns the stored value of stage ``name``, or runs ``compute()``, stores its
    (JSON-serialisable) value atomically and returns it as read back from JSON (so a fresh and a
    resumed run see the same value: tuples as lists, dict keys as strings).
    Several processes may share a folder: a write re-reads the file under a lock and adds its stage.
    ``write=False`` keeps new stages in memory only (the ranks other than 0 of a group).
    """

    def __init__(self, folder: Path | str, *, config=None, write: bool = True):
        self.folder, self.write = Path(folder), bool(write)
        self.folder.mkdir(parents=True, exist_ok=True)
        if config is not None:
            stamp = self.folder / "config.json"
            current = json.dumps(config_dict(config), sort_keys=True)
            if stamp.exists() and stamp.read_text() != current:
                raise ValueError(f"folder {self.folder} holds a run of a different config; use another folder "
                                 f"or delete it")
            if self.write and not stamp.exists():
                write_atomically(stamp, current)
        self.path = self.folder / "stages.json"
        self.done = self._read()

    def _read(self) -> dict:
        try:
            done = json.loads(self.path.read_text()) if self.path.exists() else {}
        except (OSError, ValueError) as err:        # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ValueError(f"stage cache {self.path} is corrupt ({err}); delete it to recompute") from err
        if not isinstance(done, dict):
            raise ValueError(f"stage cache {self.path} must hold a JSON object, got {type(done).__name__}; "
                             f"delete it to recompute")
        return done

    def get(self, name: str, compute):
        if not isinstance(name, str) or not name:
            raise TypeError(f"stage name must be a non-empty string, got {type(name).__name__}")
        if not callable(compute):
            raise TypeError(f"compute must be callable, got {type(compute).__name__}")
        if name not in self.done:
            computed = compute()
            try:
                value = json.loads(json.dumps(jsonable(computed), allow_nan=False))
            except (TypeError, ValueError) as err:
                raise TypeError(f"stage {name!r} returned a value that is not JSON-serialisable: {err}") from err
            if self.write:
                with open(self.folder / ".stages.lock", "a+") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX)      # released when the file closes
                    self.done.update({k: v for k, v in self._read().items() if k not in self.done})
                    self.done[name] = value
                    write_atomically(self.path, json.dumps(self.done))
            self.done[name] = value
        return self.done[name]
