"""``python -m memsep_lib.experiments <name> --profile <p>``: run one experiment, write its results file.

The profile comes from ``--profile``, else ``$MEMSEP_PROFILE`` (checked here, at start): ``ci``, ``cpu`` or
``paper``, which every experiment has, or one that only some have (``gpu``: ``config.ALL_PROFILES``); the run's
checkpoints and finished stages live in ``<results-dir>/checkpoints/<name>-<profile>/``, so an
interrupted run resumes where it stopped. That folder is locked while a run uses it (a second run exits
with code 3) and stamped with the run's config (a run of another config exits with code 2 at once).

Sharding (experiments with ``units``/``merge``, :mod:`.sharding`): ``--shard i/N`` runs ``units[i::N]``,
``--units a,b`` (or ``--seeds``) the named ones, each writing a shard file; ``merge <name>`` (or
``--merge``) builds the results file from them. Under ``torchrun`` the ranks split the selected units,
``--ranks-per-unit k`` ranks per unit (data-parallel inside, where the experiment supports it), and
rank 0 merges at the end when every unit was selected.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import sys
import time
from pathlib import Path

from .. import distributed
from ..config import ALL_PROFILES, get_device, get_profile
from ..results import (RESULTS_DIR, FolderInUseError, StageCache, config_dict, results_path, run_folder_lock,
                       save_results)
from . import experiment_names, get_experiment
from .sharding import merge_shards, parse_shard, save_shard, select_units, supports_sharding


def _cost_text(cost: dict) -> str:
    return ", ".join(f"{p} ~{cost[p]['minutes']:g} min ({cost[p]['hardware']})" for p in ALL_PROFILES if p in cost)


def _describe(name: str) -> str:
    exp = get_experiment(name)
    return f"{name:22s} {exp.DESCRIPTION}\n{'':22s} cost: {_cost_text(exp.COST)}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m memsep_lib.experiments",
                                     description="Run a registered experiment and save book/results/<name>-<profile>.json")
    parser.add_argument("name", nargs="?", help="experiment name (see --list)")
    parser.add_argument("--profile", choices=ALL_PROFILES, default=None,
                        help="run profile (default: $MEMSEP_PROFILE or ci); gpu: only experiments that have one")
    parser.add_argument("--list", action="store_true", help="list the registered experiments (or describe NAME)")
    parser.add_argument("--results-dir", default=None,
                        help="where to write the JSON and the checkpoints (default: book/results)")
    parser.add_argument("--shard", default=None, metavar="i/N", help="run units[i::N] only and write a shard file")
    parser.add_argument("--units", "--seeds", dest="units", default=None, metavar="A,B",
                        help="run these units only (seeds, grid cells) and write a shard file")
    parser.add_argument("--merge", action="store_true", help="merge the shard files into the results file")
    parser.add_argument("--ranks-per-unit", type=int, default=1, metavar="K",
                        help="under torchrun: K ranks train each unit together (DDP); default 1")
    parser.add_argument("--compile", action="store_true", help="torch.compile the training forward")
    return parser


def _plan(args, exp, config, device, launched: bool):
    """``(world, shard, group index, number of groups, group info, this group's units)``; ValueError if bad."""
    shard = parse_shard(args.shard) if args.shard else None
    selected = select_units(exp.units(config), shard=shard,
                            units=None if args.units is None else [u for u in args.units.split(",") if u])
    world = distributed.init(device.type) if launched else distributed.single(device)
    index, num_groups, group = world.split(args.ranks_per_unit)
    return world, shard, selected, index, num_groups, group


def _run_sharded(args, exp, profile, config, device, results_dir, workdir, plan) -> int:
    """Run this process's share of the selected units, write its shard file, merge at the end if complete."""
    world, shard, selected, index, num_groups, group = plan
    mine = selected[index::num_groups]
    label = (f"shard-{shard[0]}-of-{shard[1]}" if shard else f"units-{'_'.join(map(str, selected))}" if args.units
             else "all") + (f".group-{index}-of-{num_groups}" if world.distributed else "")
    kwargs = {"units": mine}
    if group.distributed:
        kwargs["dist"] = group
    if args.compile:
        kwargs["compile"] = True
    device = group.device if world.distributed else device
    if group.is_main:
        print(f"running {args.name!r} units {mine} (profile {profile}, device {device}, {label})", flush=True)
    with contextlib.ExitStack() as locks:
        if group.is_main:
            locks.enter_context(run_folder_lock(workdir, shared=True))
            locks.enter_context(run_folder_lock(workdir / ".shards" / label))
        start = time.perf_counter()
        result = exp.run(config, device=device, progress=profile != "ci" and group.is_main, workdir=workdir,
                         **kwargs)
        wall = time.perf_counter() - start
    if group.is_main:
        path = save_shard(args.name, profile, config, result, label, wall_time_s=wall, device=device,
                          results_dir=results_dir)
        print(f"wrote {path} in {wall:.1f} s", flush=True)
    distributed.wait_all(world)       # ranks with fewer units wait here, possibly for hours
    if world.is_main and shard is None and args.units is None:
        print(f"wrote {merge_shards(exp, args.name, profile, results_dir)}", flush=True)
    distributed.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["merge"]:                      # `merge <name> ...` is `<name> --merge ...`
        argv = argv[1:] + ["--merge"]
    parser = _parser()
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
        launched = distributed.env() is not None and distributed.env()[1] > 1
    except ValueError as err:
        parser.error(str(err))
    exp = get_experiment(args.name)
    results_dir = Path(args.results_dir) if args.results_dir else RESULTS_DIR
    if results_dir.exists() and not results_dir.is_dir():
        parser.error(f"--results-dir {results_dir} is not a folder")
    if args.ranks_per_unit < 1:
        parser.error(f"--ranks-per-unit must be >= 1, got {args.ranks_per_unit}")
    if profile not in exp.CONFIGS:
        parser.error(f"experiment {args.name!r} has no {profile!r} profile; its profiles: {', '.join(exp.CONFIGS)}")
    try:       # a profile that results files cannot hold is refused now, not after the run
        results_path(args.name, profile, results_dir)
    except ValueError as err:
        parser.error(str(err))
    workdir = results_dir / "checkpoints" / f"{args.name}-{profile}"
    config = exp.CONFIGS[profile]
    sharded = args.shard is not None or args.units is not None or launched
    if (sharded or args.merge) and not supports_sharding(exp):
        parser.error(f"experiment {args.name!r} cannot be sharded (it has no units/merge); run it whole")
    accepts = inspect.signature(exp.run).parameters
    if args.compile and "compile" not in accepts:
        parser.error(f"experiment {args.name!r} has no --compile switch")
    if args.ranks_per_unit != 1 and "dist" not in accepts:
        parser.error(f"experiment {args.name!r} runs each unit in one process: --ranks-per-unit must be 1")
    if args.merge:
        try:
            path = merge_shards(exp, args.name, profile, results_dir)
        except (FileNotFoundError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"wrote {path}", flush=True)
        return 0
    if sharded:
        try:
            plan = _plan(args, exp, config, device, launched)
        except ValueError as err:      # a bad --shard, --units or --ranks-per-unit
            parser.error(str(err))
        try:
            return _run_sharded(args, exp, profile, config, device, results_dir, workdir, plan)
        except FolderInUseError as err:
            print(f"error: {err}", file=sys.stderr)
            return 3
    print(f"running {args.name!r} (profile {profile}, device {device}); checkpoints in {workdir}", flush=True)
    try:
        with run_folder_lock(workdir):
            try:       # the folder's config stamp: a folder of another config is refused now, not after hours
                StageCache(workdir, config=config)
            except ValueError as err:
                print(f"error: {err}", file=sys.stderr)
                return 2
            start = time.perf_counter()
            results = exp.run(config, device=device, progress=profile != "ci", workdir=workdir,
                              **({"compile": True} if args.compile else {}))
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
