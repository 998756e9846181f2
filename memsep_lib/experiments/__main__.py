"""``python -m memsep_lib.experiments <name> --profile <p>``: run one experiment, write its results file."""

from __future__ import annotations

import argparse
import sys
import time

from ..config import PROFILES, get_device, get_profile
from ..results import save_results
from . import experiment_names, get_experiment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memsep_lib.experiments",
                                     description="Run a registered experiment and save book/results/<name>-<profile>.json")
    parser.add_argument("name", nargs="?", help="experiment name (see --list)")
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="run profile (default: $MEMSEP_PROFILE or ci)")
    parser.add_argument("--list", action="store_true", help="list the registered experiments and exit")
    parser.add_argument("--results-dir", default=None, help="where to write the JSON (default: book/results)")
    args = parser.parse_args(argv)

    if args.list:
        print("\n".join(experiment_names()))
        return 0
    if not args.name:
        parser.error(f"an experiment name is required; registered: {', '.join(experiment_names())}")
    try:
        fn = get_experiment(args.name)
    except KeyError as err:
        parser.error(err.args[0])
    profile = args.profile or get_profile()
    device = get_device()
    print(f"running {args.name!r} (profile {profile}, device {device})", flush=True)
    start = time.perf_counter()
    config, results = fn(profile)
    wall = time.perf_counter() - start
    path = save_results(args.name, profile, config, results, wall_time_s=wall, device=device,
                        results_dir=args.results_dir)
    print(f"wrote {path} in {wall:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
