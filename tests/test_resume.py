"""Interrupted and concurrent runs of the DiT pruning experiment through the CLI (issue 18).

- resume after SIGKILL at several stages (mid-training of the original, mid-fine-tuning of the pruned
  model, between seeds) gives the same results file bit for bit as an uninterrupted run (provenance and
  timing fields aside);
- a run folder of another config is refused (the ``StageCache`` config stamp), the results untouched;
- a second run on a folder in use is refused at once while the first finishes intact;
- a results file truncated mid-write is a clear error naming it, and an interrupted write leaves the
  previous file intact.

The runs are real ``python -m memsep_lib.experiments`` processes on CIFAR-10 (``$MEMSEP_DATA_DIR`` or
``/work/shared/data/cifar10``; skipped without it). The ``ci`` profile takes minutes on a loaded
two-core machine, so by default they run a smaller config of the same experiment (``TINY``: fewer images,
steps and samples; two seeds) registered as ``dit_pruning_tiny`` by this file's ``__main__`` block, which
then calls the CLI's ``main``. ``MEMSEP_RESUME_CI=1`` runs the real ``dit_pruning --profile ci`` instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parent.parent
_CANDIDATES = [os.environ.get("MEMSEP_DATA_DIR", ""), "/work/shared/data/cifar10"]
DATA_DIR = next((Path(p) for p in _CANDIDATES if p and (Path(p) / "cifar10_train.npz").exists()), None)
FULL_CI = os.environ.get("MEMSEP_RESUME_CI", "") == "1"
NAME = "dit_pruning" if FULL_CI else "dit_pruning_tiny"
TIMEOUT = 1800 if FULL_CI else 600                     # seconds for one run (a hang fails, not blocks)
IGNORED = {"date", "wall_time_s", "sampling_seconds_per_image"}   # provenance and timing: differ run to run

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(DATA_DIR is None, reason="CIFAR-10 not found: set MEMSEP_DATA_DIR to a folder with "
                                                          "cifar10_train.npz / cifar10_test.npz")]


TINY_DIT = {"DiT-resume/4": dict(hidden_size=32, depth=2, num_heads=4, patch_size=4)}   # 8 heads, 2 pruned


def _tiny_configs():
    from memsep_lib.experiments.dit_pruning import experiment as dp

    tiny = dataclasses.replace(dp.CONFIGS["ci"], dit="DiT-resume/4", subset_size=16, resolution=8, train_steps=40,
                               batch_size=8,
                               memorization_milestones=(20, 40), importance_draws=16, finetune_steps=10,
                               num_samples=8, milestone_samples=4, sample_steps=5, seeds=(0, 1))
    return {"tiny": tiny, "tiny-changed": dataclasses.replace(tiny, num_samples=6),
            "ci-changed": dataclasses.replace(dp.CONFIGS["ci"], num_samples=dp.CONFIGS["ci"].num_samples - 8)}


def _command(results_dir: Path, variant: str = "") -> list[str]:
    if FULL_CI and not variant:
        return [sys.executable, "-m", "memsep_lib.experiments", "dit_pruning", "--profile", "ci",
                "--results-dir", str(results_dir)]
    variant = variant or "tiny"
    return [sys.executable, __file__, variant, NAME, "--profile", "ci", "--results-dir", str(results_dir)]


def _environment() -> dict:
    # one thread: the runs are bit-comparable and do not oversubscribe a shared machine
    return {**os.environ, "MEMSEP_DATA_DIR": str(DATA_DIR), "MEMSEP_DEVICE": "cpu", "MEMSEP_PROFILE": "ci",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def _start(results_dir: Path, variant: str = "") -> subprocess.Popen:
    return subprocess.Popen(_command(results_dir, variant), cwd=REPO, env=_environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = TIMEOUT) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"run did not finish in {timeout} s:\n{out}\n{err}")
    return proc.returncode, out, err


def _main_in_process(results_dir: Path, variant: str = "") -> tuple[int, str, str]:
    """The CLI's ``main`` run here (another open file, so the folder lock treats it as another run), with
    ``variant``'s config registered as ``NAME``: ``(exit code, stdout, stderr)``."""
    import contextlib
    import io
    from unittest import mock

    from memsep_lib import experiments
    from memsep_lib.dit import DIT_CONFIGS

    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(experiments.REGISTRY), mock.patch.dict(DIT_CONFIGS), \
            mock.patch.dict(os.environ, {"MEMSEP_DEVICE": "cpu", "MEMSEP_PROFILE": "ci"}):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = _cli(variant or ("ci" if FULL_CI else "tiny"), [NAME, "--profile", "ci",
                                                                    "--results-dir", str(results_dir)])
    return code, out.getvalue(), err.getvalue()


def _run(results_dir: Path, variant: str = "") -> tuple[int, str, str]:
    return _finish(_start(results_dir, variant))


def _seed_dir(results_dir: Path, seed: int) -> Path:
    return results_dir / "checkpoints" / f"{NAME}-ci" / f"seed{seed}"


def _kill_when(proc: subprocess.Popen, path: Path, *, timeout: float = TIMEOUT) -> None:
    """SIGKILL ``proc`` as soon as ``path`` exists; fail if the run ended first (the kill would test nothing)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before {path} appeared:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path} did not appear in {timeout} s")
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed at {path.name}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def _record(results_dir: Path) -> dict:
    from memsep_lib.results import load_results

    return load_results(NAME, "ci", results_dir)


def _comparable(obj):
    """The record without provenance and timing fields (``IGNORED``), anywhere in it."""
    if isinstance(obj, dict):
        return {k: _comparable(v) for k, v in obj.items() if k not in IGNORED}
    if isinstance(obj, list):
        return [_comparable(v) for v in obj]
    return obj


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, and a second run on its folder while it runs (which must be refused at once).

    Once the first has begun seed 0 it is paused (SIGSTOP) until the second has exited, so that it surely
    still holds the folder (the machine's CPUs are busy either way: overlapping them would gain nothing)."""
    results_dir = tmp_path_factory.mktemp("reference")
    first = _start(results_dir)
    started = time.monotonic()
    stamp = _seed_dir(results_dir, 0) / "config.json"
    while not stamp.exists() and first.poll() is None and time.monotonic() - started < TIMEOUT:
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGSTOP)
    try:
        first_running = first.poll() is None
        code, out, err = _main_in_process(results_dir)     # the CLI's main in this process: no second start-up
    finally:
        os.kill(first.pid, signal.SIGCONT)
    refused = SimpleNamespace(code=code, out=out, err=err, first_running=first_running)
    code, out, err = _finish(first)
    assert code == 0, f"the uninterrupted run failed:\n{out}\n{err}"
    return SimpleNamespace(dir=results_dir, record=_record(results_dir), refused=refused,
                           wall_s=time.monotonic() - started)


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """A run killed (SIGKILL) twice and resumed each time, then run to completion: killed in seed 0's training
    (a checkpoint, no finished stage yet), then in seed 1's fine-tuning of the pruned model (seed 0 done,
    seed 1's training and importance stages done); the last run reads seed 0 back whole."""
    results_dir = tmp_path_factory.mktemp("resumed")
    started = time.monotonic()
    for point in (_seed_dir(results_dir, 0) / "original.pt", _seed_dir(results_dir, 1) / "pruned_small_t.pt"):
        _kill_when(_start(results_dir), point)
    code, out, err = _run(results_dir)
    assert code == 0, f"the resumed run failed:\n{out}\n{err}"
    return SimpleNamespace(dir=results_dir, record=_record(results_dir), wall_s=time.monotonic() - started)


def test_resume_after_sigkill_at_several_stages_is_bit_exact(reference, resumed):
    assert _comparable(resumed.record) == _comparable(reference.record)
    per_seed = resumed.record["results"]["per_seed"]
    assert len(per_seed) == 2 and all(s["arms"]["pruned_small_t"]["num_heads"] < s["arms"]["original"]["num_heads"]
                                     for s in per_seed)
    # a stage value read back from stages.json after a kill is the one an uninterrupted run computed
    stages = json.loads((_seed_dir(resumed.dir, 1) / "stages.json").read_text())
    assert stages["importance_small_ablation"] == reference.record["results"]["per_seed"][1]["importance_small_ablation"]


def test_a_second_run_is_refused_while_the_first_finishes_intact(reference, resumed):
    refused = reference.refused
    assert refused.first_running, "the first run should still have been running"
    assert refused.code == 3, vars(refused)
    assert "is in use by another run" in refused.err and f"{NAME}-ci" in refused.err
    assert not list(reference.dir.glob("**/*.tmp")), "no temp files left behind"
    # intact: its results are those of the (independent) resumed run, bit for bit
    assert _comparable(reference.record) == _comparable(resumed.record)


def test_a_changed_config_is_refused_and_the_results_stay(reference):
    results = reference.dir / f"{NAME}-ci.json"
    before = results.read_bytes()
    code, out, err = _main_in_process(reference.dir, "ci-changed" if FULL_CI else "tiny-changed")
    assert code == 2, (out, err)                         # refused at once by the CLI, before any work
    assert f"{NAME}-ci holds a run of a different config" in err
    assert results.read_bytes() == before
    # and in-process, through the stamp the finished run left
    from memsep_lib.results import StageCache

    config = _tiny_configs()["ci-changed" if FULL_CI else "tiny-changed"]
    for folder in (_seed_dir(reference.dir, 0), _seed_dir(reference.dir, 1)):     # the experiment's own stamps
        with pytest.raises(ValueError, match="different config"):
            StageCache(folder, config=config)


def test_a_results_file_truncated_mid_write_is_a_clear_error(reference, tmp_path):
    from memsep_lib import results as results_mod
    from memsep_lib.results import list_results, load_results, save_results, stored_or_live

    text = (reference.dir / f"{NAME}-ci.json").read_text()
    (tmp_path / f"{NAME}-ci.json").write_text(text[: len(text) // 2])
    pattern = rf"results file .*{NAME}-ci\.json is not readable strict JSON \(truncated"
    with pytest.raises(ValueError, match=pattern):
        load_results(NAME, "ci", tmp_path)
    with pytest.raises(ValueError, match=pattern):
        list_results(tmp_path)
    experiment = SimpleNamespace(NAME=NAME, CONFIGS={}, run=lambda *a, **k: pytest.fail("ran live"))
    with pytest.raises(ValueError, match=pattern):       # not a silent live run, not a bare JSONDecodeError
        stored_or_live(experiment, profile="ci", results_dir=tmp_path)

    # a writer killed mid-write: the previous file stays whole, and no temp file is left
    record = json.loads(text)
    (tmp_path / f"{NAME}-ci.json").write_text(text)

    def dies(*args, **kwargs):
        raise KeyboardInterrupt
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(results_mod.os, "replace", dies)
        with pytest.raises(KeyboardInterrupt):
            save_results(NAME, "ci", record["config"], {"other": 1}, wall_time_s=1.0, device="cpu",
                         results_dir=tmp_path)
    assert load_results(NAME, "ci", tmp_path)["results"] == record["results"]
    assert [p.name for p in tmp_path.iterdir()] == [f"{NAME}-ci.json"]


def _cli(variant: str, argv: list[str]) -> int:
    """``python tests/test_resume.py <variant> <name> [CLI args]``: register the variant's config as ``name``."""
    from memsep_lib import experiments
    from memsep_lib.config import PROFILES
    from memsep_lib.experiments import dit_pruning as dp
    from memsep_lib.experiments.__main__ import main

    from memsep_lib.dit import DIT_CONFIGS

    DIT_CONFIGS.update(TINY_DIT)
    if variant != "ci":                  # the mechanism stage at a test's size: 16 queries (4 for Lipschitz), 3 times
        dp.experiment.SCORE_TIMES, dp.experiment.SCORE_QUERIES, dp.experiment.LIPSCHITZ_QUERIES = 3, 16, 4
    name, rest = argv[0], argv[1:]
    config = dp.CONFIGS["ci"] if variant == "ci" else _tiny_configs()[variant]
    exp = SimpleNamespace(**{k: getattr(dp, k) for k in ("DESCRIPTION", "COST", "run", "units", "merge", "verdict",
                                                          "facts")},
                          NAME=name, CONFIGS={p: config for p in PROFILES})
    experiments.register(name, exp, replace=True)
    return main([name, *rest])


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1], sys.argv[2:]))
