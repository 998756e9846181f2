"""``python -m memsep_lib.experiments <name> --profile <p>``: run one experiment, write its results file.

The profile comes from ``--profile``, else ``$MEMSEP_PROFILE`` (checked here, at start); the run's
checkpoints and finished stages live in ``<results-dir>/checkpoints/<name>-<profile>/``, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..config import PROFILES, get_device, get_profile
from ..results import RESULTS_DIR, FolderInUseError, config_dict, run_folder_lock, save_results
from . import experiment_names, get_experiment


def _cost_text(cost: dict) -> str:
    return ", ".join(f"{p} ~{cost[p]['minutes']:g} min ({cost[p]['hardware']})" for p in PROFILES if p in cost)


def _describe(name: str) -> str:
    exp = get_experiment(name)
    return f"{name:22s} {exp.DESCRIPTION}\n{'':22s} cost: {_cost_text(exp.COST)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memsep_lib.experiments",
                                     description="Run a registered experiment and save book/results/<name>-<profile>.json")
    parser.add_argument("name", nargs="?", help="experiment name (see --list)")
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="run profile (default: $MEMSEP_PROFILE or ci)")
    parser.add_argument("--list", action="store_true", help="list the registered experiments (or describe NAME)")
    parser.add_argument("--results-dir", default=None,
                        help="where to write the JSON and the checkpoints (default: book/results)")
    args = parser.parse_args(argv)

    if args.name is not None and args.name not in experiment_names():
        parser.error(f"unknown experiment {args.name!r}; registered: {', '.join(experiment_names())}")
    if args.list:
        print("\n".join(_describe(n) for n in ([args.name] if args.name else experiment_names())))
        return 0
    if not args.name:
        parser.error(f"an experiment name is required; registered: {', '.join(experiment_names())}")
    try:   # the environment is checked even when --profile is given: a bad value is an error now, not later
        profile = args.profile or get_profile()
        get_profile()
        device = get_device()
    except ValueError as err:
        parser.error(str(err))
    exp = get_experiment(args.name)
    results_dir = Path(args.results_dir) if args.results_dir else RESULTS_DIR
    workdir = results_dir / "checkpoints" / f"{args.name}-{profile}"
    config = exp.CONFIGS[profile]
    print(f"running {args.name!r} (profile {profile}, device {device}); checkpoints in {workdir}", flush=True)
    try:
        with run_folder_lock(workdir):
            start = time.perf_counter()
            results = exp.run(config, device=device, progress=profile != "ci", workdir=workdir)
            wall = time.perf_counter() - start
    except FolderInUseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    path = save_results(args.name, profile, config_dict(config), results, wall_time_s=wall, device=device,
                        results_dir=results_dir)
    print(f"wrote {path} in {wall:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
