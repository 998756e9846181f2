"""Several processes: torchrun (gloo, 2 CPU processes) against one process; shards merged against a serial run.

The torchrun tests launch ``tests/distributed_worker.py`` with ``python -m torch.distributed.run``.
"""

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from memsep_lib import distributed
from memsep_lib.experiments import REGISTRY
from memsep_lib.experiments import mixture_memorization as mm
from memsep_lib.experiments import sharding
from memsep_lib.experiments.__main__ import main
from memsep_lib.speed import Speed, speed_for

HERE = Path(__file__).resolve().parent
WORKER = HERE / "distributed_worker.py"
sys.path.insert(0, str(HERE))
import distributed_worker as worker  # noqa: E402


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                            "MASTER_PORT")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent), "MEMSEP_DEVICE": "cpu"}


def _launch(*args, nproc: int | None = 2, timeout: int = 240):
    """``torchrun --nproc_per_node=nproc worker ARGS`` (``nproc=None``: a plain process); fails on a nonzero exit."""
    launcher = [] if nproc is None else ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    done = subprocess.run([sys.executable, *launcher, str(WORKER), *map(str, args)], env=_env(), cwd=HERE.parent,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


# ---- one process: the helpers are the identity ------------------------------------------------------

def test_single_process_info_and_helpers(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.env() is None
    info = distributed.init("cpu")
    assert (info.rank, info.world_size, info.is_main, info.distributed) == (0, 1, True, False)
    assert distributed.shard(list(range(5)), info) == [0, 1, 2, 3, 4]
    assert distributed.all_gather_object("x", info) == ["x"] and distributed.broadcast_object(3, info) == 3
    assert distributed.main_first(lambda: 7, info) == 7
    assert info.split(1)[:2] == (0, 1)
    two = dataclasses.replace(info, rank=1, world_size=2)
    assert distributed.shard(list(range(5)), two) == [1, 3]
    assert distributed.batch_rows(8, two) == slice(4, 8)
    with pytest.raises(ValueError, match="divisible by the world size"):
        distributed.batch_rows(7, two)
    with pytest.raises(ValueError, match="must divide"):
        two.split(3)
    with pytest.raises(ValueError, match="device_type"):
        distributed.init("mps")


def test_torchrun_environment_is_checked(monkeypatch):
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="0 <= RANK < WORLD_SIZE"):
        distributed.env()
    monkeypatch.setenv("RANK", "one")
    with pytest.raises(ValueError, match="integers"):
        distributed.env()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert distributed.env() == (0, 1, 0) and not distributed.init("cpu").distributed


def test_speed_switches_are_cuda_only():
    assert speed_for("cpu") is None and speed_for("cpu", compile=True) == Speed(False, False, True)
    assert speed_for("cuda") == Speed(bf16=True, tf32=True, compile=False)
    with pytest.raises(ValueError, match="CUDA-only"):
        Speed().check(torch.device("cpu"))
    with pytest.raises(TypeError, match="compile"):
        speed_for("cpu", compile="yes")
    with pytest.raises(TypeError, match="DistInfo"):
        from memsep_lib.training import train_score_net
        train_score_net(worker.tiny_net(), worker.DATA, steps=1, dist="two ranks")


def test_sample_blocks_one_block_is_sample_and_blocks_have_their_own_seeds():
    from memsep_lib.config import make_generator
    from memsep_lib.sampling import block_seed, sample, sample_blocks

    score = lambda x, t: -x
    one = sample_blocks(score, 5, 2, seed=3, block_size=8, steps=4)
    assert torch.equal(one, sample(score, 5, 2, steps=4, batch_size=8, generator=make_generator(3)))
    blocks = sample_blocks(score, 5, 2, seed=3, block_size=2, steps=4)
    assert torch.equal(blocks[:2], sample(score, 2, 2, steps=4, generator=make_generator(3)))   # block 0: seed 3
    assert torch.equal(blocks[2:4], sample(score, 2, 2, steps=4, generator=make_generator(block_seed(3, 1))))
    with pytest.raises(ValueError, match="2\\*\\*32"):
        sample_blocks(score, 5, 2, seed=-1)
    with pytest.raises(TypeError, match="seed= and block_size="):
        sample_blocks(score, 5, 2, seed=0, generator=make_generator(0))


# ---- torchrun, 2 processes --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """The worker's DDP training and block sampling, on 2 ranks; the folder with its outputs."""
    folder = tmp_path_factory.mktemp("ddp")
    _launch("ddp", folder)
    return folder


@pytest.mark.slow
def test_ddp_steps_equal_one_process_with_the_global_batch(tmp_path, ddp_run):
    """8 steps of global batch 8 on 2 ranks (4 rows each; 4 steps, then resumed from rank 0's checkpoint)."""
    ddp = torch.load(ddp_run / "train.pt")
    net, log, ema = worker.train(None, tmp_path / "single.pt")
    for p, q in zip(net.parameters(), ddp["params"]):
        torch.testing.assert_close(p.detach(), q, rtol=1e-5, atol=1e-6)
    for p, q in zip(ema.model.parameters(), ddp["ema"]):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert log.steps == ddp["steps"] == [2, 4, 6, 8]
    assert log.losses == pytest.approx(ddp["losses"], rel=1e-6)      # the log: the mean over ranks


@pytest.mark.slow
def test_samples_do_not_depend_on_the_number_of_processes(ddp_run):
    one = worker.samples(None)
    assert one.shape == (10, 3) and torch.equal(one, torch.load(ddp_run / "samples.pt"))


def _strip_timings(record: dict) -> dict:
    """The results without wall-clock fields (they differ between any two runs)."""
    results = copy.deepcopy(record["results"])
    for s in results["per_seed"]:
        for m in [*s["arms"].values(), *s["random_masks"]]:
            m.pop("sampling_seconds_per_image")
    for table in [results["table"], *results["tables"].values()]:
        for row in table.values():
            row.pop("sampling_seconds_per_image", None)
    return results


@pytest.fixture(scope="module")
def serial_dit(tmp_path_factory):
    """The tiny DiT-pruning config run serially, through the CLI, in a plain process."""
    folder = tmp_path_factory.mktemp("serial")
    _launch("cli", folder, nproc=None)
    return json.loads((folder / "dit_pruning-ci.json").read_text())


@pytest.mark.slow
def test_sharded_dit_run_merges_to_the_serial_results(tmp_path, serial_dit):
    """torchrun, 2 ranks, one seed each: rank 0 merges the two shard files into the results file."""
    _launch("cli", tmp_path)
    shards = sorted(p.name for p in (tmp_path / "shards" / "dit_pruning-ci").glob("*.json"))
    assert shards == ["all.group-0-of-2.json", "all.group-1-of-2.json"]
    merged = json.loads((tmp_path / "dit_pruning-ci.json").read_text())
    assert merged["config"] == serial_dit["config"]
    assert _strip_timings(merged) == _strip_timings(serial_dit)


@pytest.mark.slow
def test_a_seed_trained_by_two_ranks_matches_one_process(tmp_path, serial_dit):
    """--ranks-per-unit 2: DDP over both ranks, samples drawn in blocks split over them."""
    _launch("cli", tmp_path, "--units", "0", "--ranks-per-unit", "2")
    record = json.loads(next((tmp_path / "shards" / "dit_pruning-ci").glob("*.json")).read_text())
    ddp, serial = record["results"], serial_dit["results"]
    assert ddp["units"] == [0] and ddp["all_units"] == [0, 1]
    got, want = ddp["values"][0], serial["per_seed"][0]
    assert got["removed"] == want["removed"]
    for m in ("original", "finetune_only", "pruned_small_t", "random"):
        assert got["arms"][m]["memorization"] == want["arms"][m]["memorization"]
        for space, metrics in want["arms"][m]["spaces"].items():
            assert got["arms"][m]["spaces"][space]["fid"] == pytest.approx(metrics["fid"], rel=1e-4)


# ---- shards in one process: the mixture grid ---------------------------------------------------------

def _tiny_mixture(monkeypatch):
    cfg = dataclasses.replace(mm.PHASE_2D.CONFIGS["ci"], width=(8, 16, 32), steps=20, batch_size=16,
                              num_samples=20, sample_steps=5)
    exp = mm.Ablation("phase_2d", "width", description="tiny", cost=mm.PHASE_2D.COST,
                      configs={"ci": cfg, "cpu": cfg, "paper": cfg},
                      facts=mm.PHASE_2D._facts)
    monkeypatch.setitem(REGISTRY, "mixture_tiny", exp)
    return exp, cfg


def test_mixture_shards_merge_to_the_serial_run(tmp_path, monkeypatch):
    exp, cfg = _tiny_mixture(monkeypatch)
    assert exp.units(cfg) == ["K4-d2-W8-S20", "K4-d2-W16-S20", "K4-d2-W32-S20"]
    for i in range(2):
        assert main(["mixture_tiny", "--profile", "ci", "--shard", f"{i}/2", "--results-dir", str(tmp_path)]) == 0
    assert main(["merge", "mixture_tiny", "--profile", "ci", "--results-dir", str(tmp_path)]) == 0
    merged = json.loads((tmp_path / "mixture_tiny-ci.json").read_text())
    serial = json.loads(json.dumps(exp.run(cfg)))
    assert merged["results"] == serial
    # the groups were cached as they finished: a second shard run recomputes nothing
    stages = json.loads((tmp_path / "checkpoints" / "mixture_tiny-ci" / "stages.json").read_text())
    assert sorted(stages) == sorted(exp.units(cfg))


def test_merge_refuses_missing_or_conflicting_units(tmp_path, monkeypatch):
    exp, cfg = _tiny_mixture(monkeypatch)
    assert main(["mixture_tiny", "--profile", "ci", "--units", "K4-d2-W8-S20", "--results-dir", str(tmp_path)]) == 0
    assert main(["merge", "mixture_tiny", "--profile", "ci", "--results-dir", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main(["mixture_tiny", "--profile", "ci", "--shard", "2/2", "--results-dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["mixture_tiny", "--profile", "ci", "--units", "K4-d2-W9-S20", "--results-dir", str(tmp_path)])
    with pytest.raises(SystemExit):        # the mixture groups train in one process each
        main(["mixture_tiny", "--profile", "ci", "--shard", "0/2", "--ranks-per-unit", "2"])
    with pytest.raises(SystemExit):        # a chapter without units cannot be sharded
        main(["loss_gap_fisher", "--profile", "ci", "--shard", "0/2", "--results-dir", str(tmp_path)])
    part = sharding.partial(["a", "b"], ["a"], [1], factor="w")
    with pytest.raises(ValueError, match="in no shard"):
        sharding.gather([part])
    with pytest.raises(ValueError, match="twice with different"):
        sharding.gather([part, sharding.partial(["a", "b"], ["a", "b"], [2, 3], factor="w")])
    with pytest.raises(ValueError, match="shared fields"):
        sharding.gather([part, sharding.partial(["a", "b"], ["b"], [3], factor="d")])
    assert sharding.gather([part, sharding.partial(["a", "b"], ["b", "a"], [3, 1], factor="w")]) == (
        [1, 3], {"factor": "w"})
    with pytest.raises(ValueError, match="i/N"):
        sharding.parse_shard("1of2")
