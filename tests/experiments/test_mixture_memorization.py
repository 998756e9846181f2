import dataclasses
import json
import math

import pytest
import torch

from memsep_lib.experiments import get_experiment
from memsep_lib.experiments import mixture_memorization as mm
from memsep_lib.nets import ScoreMLPStack
from memsep_lib.results import config_dict, load_results

NAMES = ("mixture_scale", "mixture_sample_size", "mixture_dimension", "mixture_weight_decay", "mixture_phase_2d")


def _tiny(exp=mm.WEIGHT_DECAY, **overrides):
    return dataclasses.replace(exp.CONFIGS["ci"], **{"steps": 200, "num_samples": 40, "sample_steps": 10,
                                                     **overrides})


def test_registry_finds_the_five_ablations():
    assert [get_experiment(name) for name in NAMES] == list(mm.ABLATIONS)
    for exp in mm.ABLATIONS:
        assert exp.DESCRIPTION and set(exp.COST) == {"ci", "cpu", "paper"}
        assert all({"minutes", "hardware", "basis"} <= set(c) for c in exp.COST.values())


def test_configs_cover_every_profile_and_are_frozen():
    for exp in mm.ABLATIONS:
        assert set(exp.CONFIGS) == {"ci", "cpu", "paper"}
        for cfg in exp.CONFIGS.values():
            assert isinstance(cfg, mm.MixtureConfig) and cfg.ablation == exp.ablation
            ms = mm.members(cfg)
            assert ms and all(m["K"] == cfg.K for m in ms)
            assert len(ms) == len({tuple(sorted(m.items())) for m in ms})       # no member twice
            with pytest.raises(dataclasses.FrozenInstanceError):
                cfg.steps = 1
    assert mm.PHASE_2D.CONFIGS["cpu"].seeds == (0,)                            # one picture per width
    assert mm.MixtureConfig("scale", d=[8], n=[10], width=[4]).d == (8,)       # grids become tuples
    with pytest.raises(ValueError, match="ablation must be one of"):
        mm.MixtureConfig("no-such-ablation", d=(8,), n=(10,), width=(4,))
    with pytest.raises(ValueError, match="must not be empty"):
        mm.MixtureConfig("scale", d=(8,), n=(), width=(4,))
    with pytest.raises(TypeError, match="width must be an int"):
        mm.MixtureConfig("scale", d=(8,), n=(10,), width=(4.0,))


@pytest.mark.parametrize("exp", mm.ABLATIONS, ids=lambda e: e.NAME)
def test_committed_cpu_results_match_the_cpu_config(exp):
    """The committed results were made with CONFIGS["cpu"] (its ``d`` was then a bare int where it was fixed)."""
    stored = load_results(exp.NAME, "cpu")["config"]
    stored["d"] = stored["d"] if isinstance(stored["d"], list) else [stored["d"]]
    assert config_dict(exp.CONFIGS["cpu"]) == stored


def test_training_sets_are_fixed_by_seed_and_size():
    mix = mm.mixture_for(8, 4, 2.0)
    a, b = mm.training_set(mix, 30, 0), mm.training_set(mix, 30, 0)
    assert torch.equal(a, b) and a.shape == (30, 4)
    assert not torch.equal(a, mm.training_set(mix, 30, 1))
    assert torch.equal(mix.means, mm.mixture_for(8, 4, 2.0).means)


def test_run_members_measures_every_member_and_resumes(tmp_path):
    cfg = _tiny(width=(16,), n=(20, 40), weight_decay=(0.0, 1.0))
    rows = mm.run_members(cfg, workdir=tmp_path)
    assert len(rows) == 4
    for r in rows:
        assert 0.0 <= r["memorization"] <= 1.0 and math.isfinite(r["log_likelihood"])
        assert 0.0 <= r["memorization_true_samples"] <= 1.0
        assert r["num_parameters"] == ScoreMLPStack(1, 8, 16, cfg.depth).num_parameters()
    assert mm.run_members(cfg, workdir=tmp_path) == rows               # finished groups are read back
    (tmp_path / "stages.json").unlink()                                 # only the checkpoint is left
    assert mm.run_members(cfg, workdir=tmp_path) == rows
    with pytest.raises(ValueError, match="different config"):          # never the old run's rows
        mm.run_members(dataclasses.replace(cfg, steps=300), workdir=tmp_path)


def test_memorising_net_beats_the_criterion_floor():
    """A wide net on 8 points memorises far more than fresh mixture samples do (the floor)."""
    row, = mm.run_members(_tiny(mm.SCALE, n=(8,), width=(128,), steps=600, num_samples=100))
    assert row["memorization"] > row["memorization_true_samples"] + 0.2


def test_summarize_means_and_stds():
    rows = [dict(width=w, n=10, seed=s, num_parameters=w, memorization=m, log_likelihood=-m,
                 memorization_true_samples=0.0, log_likelihood_true_samples=-1.0)
            for w, s, m in [(8, 0, 0.1), (8, 1, 0.3), (16, 0, 0.5)]]
    table = mm.summarize(rows, "width")
    assert [e["width"] for e in table] == [8, 16] and table[0]["seeds"] == 2
    assert table[0]["memorization"]["mean"] == pytest.approx(0.2)
    assert table[0]["memorization"]["std"] == pytest.approx(math.sqrt(0.02))
    assert table[1]["memorization"]["std"] == 0.0
    assert mm.summarize(rows, "width", by=("n",))[0]["n"] == 10


def test_phase_picture_keeps_the_points():
    cfg = _tiny(mm.PHASE_2D, width=(8,))
    results = mm.PHASE_2D.run(cfg)
    row, = results["rows"]
    assert len(row["samples"]) == cfg.num_samples and len(row["train"]) == cfg.n[0]
    assert results["factor"] == "width" and results["summary"][0]["width"] == 8
    assert json.loads(json.dumps(results)) == results                   # JSON-serialisable as it stands
    with pytest.raises(ValueError, match="MixtureConfig of ablation 'scale'"):
        mm.SCALE.run(cfg)


def _entry(value, mem, ll=0.0, floor=0.0, **fixed):
    stat = lambda v: {"mean": v, "std": 0.0}
    return dict(fixed, **value, seeds=1, num_parameters=1, memorization=stat(mem), log_likelihood=stat(ll),
                memorization_true_samples=stat(floor), log_likelihood_true_samples=stat(0.0))


def _verdict(exp, summary):
    return exp.verdict({"summary": summary})


def test_verdicts_can_fail():
    rising = [_entry({"width": w}, m) for w, m in [(8, 0.0), (16, 0.2), (32, 0.6)]]
    dip = [_entry({"width": w}, m) for w, m in [(8, 0.0), (16, 0.6), (32, 0.3)]]
    flat = [_entry({"width": w}, m) for w, m in [(8, 0.3), (16, 0.3), (32, 0.35)]]
    key = "memorisation rises with network size"
    assert _verdict(mm.SCALE, rising)[key]
    assert not _verdict(mm.SCALE, dip)[key] and not _verdict(mm.PHASE_2D, flat)[key]
    falling_n = [_entry({"n": n}, m) for n, m in [(50, 0.9), (200, 0.5), (800, 0.0)]]
    assert _verdict(mm.SAMPLE_SIZE, falling_n) == {"memorisation falls with n": True}
    dims = [_entry({"d": 2}, 0.3, floor=0.1), _entry({"d": 8}, 0.5), _entry({"d": 32}, 0.1)]
    verdict = _verdict(mm.DIMENSION, dims)
    assert verdict["memorisation falls with d (d >= 8)"] and not verdict["d = 2 memorisation within 10 points of the floor"]
    grid = [_entry({"weight_decay": wd}, m, ll, n=n, width=64)
            for n, wd, m, ll in [(100, 0.0, 0.5, -5.0), (100, 1.0, 0.1, -4.0), (900, 0.0, 0.0, -4.0),
                                 (900, 1.0, 0.0, -6.0)]]
    assert all(_verdict(mm.WEIGHT_DECAY, grid).values())
    noisy = [dict(e, log_likelihood={"mean": e["log_likelihood"]["mean"], "std": 2.0}) for e in grid]
    assert not _verdict(mm.WEIGHT_DECAY, noisy)[
        "n = 100: some decay raises the log-likelihood beyond the seed spread"]      # gain 1.0 < std 2.0


@pytest.mark.parametrize("exp", mm.ABLATIONS, ids=lambda e: e.NAME)
def test_committed_verdicts_fail_on_reversed_results(exp):
    """The stored cpu results pass their memorisation claims; the same rows with the grid reversed do not."""
    results = load_results(exp.NAME, "cpu")["results"]
    verdict = exp.verdict(results)
    claims = [c for c in verdict if "memorisation" in c]
    assert claims and all(verdict[c] for c in claims)
    key = lambda e: tuple(e[k] for k in exp.by)
    reversed_summary = []
    for group in sorted({key(e) for e in results["summary"]}):
        entries = [e for e in results["summary"] if key(e) == group]
        # each grid point keeps its factor value but takes the metrics of the opposite end of the grid
        reversed_summary += [{**e, **{k: r[k] for k in mm.experiment._METRICS}}
                             for e, r in zip(entries, entries[::-1])]
    bad = exp.verdict({**results, "summary": reversed_summary})
    assert not all(bad[c] for c in claims)


def test_facts_of_the_committed_results():
    facts = {k: v for exp in mm.ABLATIONS for k, v in exp.facts(load_results(exp.NAME, "cpu")["results"]).items()}
    assert facts["ch06_scale_n"] == 200 and facts["ch06_scale_substantial_width"] == 256
    assert facts["ch06_scale_substantial_params"] == 161_288
    assert facts["ch06_wd_n_small"] == 320 and facts["ch06_wd_best_gain"] < facts["ch06_wd_best_std"]
    assert facts["ch06_phase_first_width"] == 8 and facts["ch06_phase_last_width"] == 512
    assert all(isinstance(v, (int, float)) for v in facts.values())


def test_summary_table_lists_every_row():
    table = mm.summary_table([_entry({"width": 8}, 0.25, -3.0, 0.01)], "width")
    assert table.count("\n") == 2 and "| 8 | 1 | 1 | 25.0 ± 0.0 | 1.0 | -3.00 ± 0.00 | 0.00 |" in table


def test_progress_shows_the_group_training_and_sampling_bars(capsys):
    mm.run_members(_tiny(), progress=True)
    err = capsys.readouterr().err
    assert all(bar in err for bar in ("weight_decay groups", "DSM training", "sampling (sde)")), err[-500:]
    mm.run_members(_tiny())
    assert capsys.readouterr().err == ""
