"""Units of work (seeds, grid cells) split over processes, and the merge back into one results file.

An experiment supports sharding when it has, besides the four names,

- ``units(config) -> list``: its units (ints or strings) in the order of the whole run;
- ``run(config, ..., units=[...])``: a *partial* result (:func:`partial`) for those units only;
- ``merge(partials) -> results``: equal (after a JSON round trip) to ``run(config)`` when the partials
  cover every unit, whatever the split.

Shard ``i/N`` takes ``units[i::N]``; under ``torchrun`` rank group ``g`` of ``G`` takes its share of
that again. Partial results are written to ``<results-dir>/shards/<name>-<profile>/<label>.json``;
:func:`merge_shards` reads every file there and writes ``<results-dir>/<name>-<profile>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import describe_device
from ..results import RESULTS_DIR, config_dict, jsonable, save_results, write_atomically

__all__ = ["supports_sharding", "parse_shard", "select_units", "partial", "gather", "shard_dir", "save_shard",
           "load_shards", "merge_shards"]

_OWN = ("units", "all_units", "values")


def supports_sharding(experiment) -> bool:
    return all(callable(getattr(experiment, name, None)) for name in ("units", "merge"))


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)`` with ``0 <= i < N``."""
    try:
        i, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ValueError(f"a shard is 'i/N' with integers 0 <= i < N, got {text!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"a shard is 'i/N' with 0 <= i < N, got {text!r}")
    return i, n


def select_units(all_units: list, *, shard: tuple[int, int] | None = None, units: list | None = None) -> list:
    """``all_units[i::N]`` for ``shard=(i, N)``, or the named ``units`` (matched as strings), in run order."""
    if shard is not None and units is not None:
        raise ValueError("give a shard or a list of units, not both")
    if units is not None:
        names = [str(u) for u in units]
        unknown = sorted(set(names) - {str(u) for u in all_units})
        if unknown:
            raise ValueError(f"unknown unit(s) {unknown}; this config has {[str(u) for u in all_units]}")
        return [u for u in all_units if str(u) in names]
    return list(all_units) if shard is None else list(all_units)[shard[0]::shard[1]]


def partial(all_units: list, done: list, values: list, **common) -> dict:
    """A partial result: the ``values`` of the units ``done`` (of ``all_units``) and the fields every shard shares."""
    if len(done) != len(values):
        raise ValueError(f"{len(done)} units but {len(values)} values")
    if set(map(json.dumps, done)) - set(map(json.dumps, all_units)):
        raise ValueError(f"units {done} are not all in {all_units}")
    return {"units": list(done), "all_units": list(all_units), "values": list(values), **common}


def _key(value) -> str:
    return json.dumps(jsonable(value, str_keys=True), sort_keys=True)


def gather(partials: list[dict]) -> tuple[list, dict]:
    """``(values in run order, shared fields)`` of partial results that together cover every unit.

    A ``ValueError`` for: no partials, different ``all_units`` or shared fields (shards of different
    configs), a unit done twice with different values (stale shard files), or units missing.
    """
    if not partials:
        raise ValueError("no partial results to merge")
    for p in partials:
        if not isinstance(p, dict) or any(k not in p for k in _OWN) or len(p["units"]) != len(p["values"]):
            raise ValueError("a partial result must be a dict with 'units', 'all_units' and as many 'values'")
    first = partials[0]
    common = {k: v for k, v in first.items() if k not in _OWN}
    by_unit = {}
    for p in partials:
        if _key(p["all_units"]) != _key(first["all_units"]):
            raise ValueError(f"partials of different unit lists: {p['all_units']} and {first['all_units']}")
        if _key({k: v for k, v in p.items() if k not in _OWN}) != _key(common):
            raise ValueError("partials disagree on their shared fields (shards of different configs or versions?)")
        for unit, value in zip(p["units"], p["values"]):
            if _key(unit) in by_unit and _key(by_unit[_key(unit)]) != _key(value):
                raise ValueError(f"unit {unit!r} was done twice with different results; delete the stale shard file")
            by_unit[_key(unit)] = value
    missing = [u for u in first["all_units"] if _key(u) not in by_unit]
    if missing:
        raise ValueError(f"units {missing} are in no shard yet; run them first (e.g. --units "
                         f"{','.join(map(str, missing))})")
    return [by_unit[_key(u)] for u in first["all_units"]], common


def shard_dir(name: str, profile: str, results_dir: Path | str | None = None) -> Path:
    return Path(results_dir or RESULTS_DIR) / "shards" / f"{name}-{profile}"


def save_shard(name: str, profile: str, config, result: dict, label: str, *, wall_time_s: float, device=None,
               results_dir: Path | str | None = None) -> Path:
    """Write one shard's partial result with its config, device and wall time (atomically)."""
    if not label or "/" in label:
        raise ValueError(f"label must be a plain name, got {label!r}")
    path = shard_dir(name, profile, results_dir) / f"{label}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"experiment": name, "profile": profile, "shard": label, "device": describe_device(device),
              "wall_time_s": round(float(wall_time_s), 3), "config": config_dict(config), "results": result}
    write_atomically(path, json.dumps(jsonable(record), indent=1, allow_nan=False) + "\n")
    return path


def load_shards(name: str, profile: str, results_dir: Path | str | None = None) -> list[dict]:
    """Every shard record of ``name``/``profile``, sorted by file name."""
    folder = shard_dir(name, profile, results_dir)
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not paths:
        raise FileNotFoundError(f"no shard files in {folder}; run shards with --shard i/N or --units first")
    return [json.loads(p.read_text()) for p in paths]


def merge_shards(experiment, name: str, profile: str, results_dir: Path | str | None = None) -> Path:
    """Merge the shard files of ``name``/``profile`` into its results file (wall time: the sum over shards)."""
    config = config_dict(experiment.CONFIGS[profile])
    records = load_shards(name, profile, results_dir)
    stale = [r["shard"] for r in records if r["config"] != config]
    if stale:
        raise ValueError(f"shard(s) {stale} of {name}-{profile} were run with another config; delete them")
    results = experiment.merge([r["results"] for r in records])
    devices = sorted({r["device"] for r in records})
    return save_results(name, profile, config, results, wall_time_s=sum(r["wall_time_s"] for r in records),
                        device=None, results_dir=results_dir, device_label=", ".join(devices))
