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
        assert 0.0 <= r["memorization_true_samples"] <= 1.0 and r["steps"] == cfg.steps
        assert r["log_likelihood_se_true_samples"] > 0 and 0.5 < r["spread_true_samples"] < 1.5
        assert set(mm.analysis.METRICS) <= set(r)
        assert r["num_parameters"] == ScoreMLPStack(1, 8, 16, cfg.depth).num_parameters()
    assert mm.run_members(cfg, workdir=tmp_path) == rows               # finished groups are read back
    (tmp_path / "stages.json").unlink()                                 # only the checkpoint is left
    assert mm.run_members(cfg, workdir=tmp_path) == rows
    with pytest.raises(ValueError, match="different config"):          # never the old run's rows
        mm.run_members(dataclasses.replace(cfg, steps=300), workdir=tmp_path)


def test_memorising_net_beats_the_criterion_floor():
    """A wide net on 8 points memorises far more than fresh mixture samples do (the floor)."""
    row, = mm.run_members(_tiny(mm.SCALE, n=(8,), width=(128,), steps=600, num_samples=100, sample_steps=50))
    assert row["memorization"] > row["memorization_true_samples"] + 0.2


def test_matched_epochs_members_see_their_set_equally_often():
    cfg = mm.SAMPLE_SIZE.CONFIGS["cpu"]
    steps = {(m["schedule"], m["n"]): m["steps"] for m in mm.members(cfg)}
    assert {n: steps[mm.FIXED, n] for n in cfg.n} == {n: cfg.steps for n in cfg.n}
    epochs = {n: steps[mm.MATCHED, n] * cfg.batch_size / n for n in cfg.n}
    assert all(abs(e - cfg.matched_epochs) / cfg.matched_epochs < 0.01 for e in epochs.values())
    assert steps[mm.MATCHED, 800] == cfg.steps                        # the schedules meet at n = 800
    assert all(m["schedule"] == mm.FIXED for m in mm.members(mm.SCALE.CONFIGS["cpu"]))
    with pytest.raises(ValueError, match="matched_epochs must be"):
        mm.MixtureConfig("sample_size", d=(8,), n=(10,), width=(4,), matched_epochs=0)


def test_spread_is_one_for_p_and_shrinks_with_the_samples():
    mix = mm.mixture_for(8, 16, 2.0)
    y = mix.sample(4000, generator=torch.Generator().manual_seed(0))
    assert mm.spread_around_means(y, mix.means) == pytest.approx(1.0, abs=0.03)
    nearest = mix.means[torch.cdist(y, mix.means).argmin(dim=1)]
    shrunk = nearest + 0.8 * (y - nearest)
    assert mm.spread_around_means(shrunk, mix.means) == pytest.approx(0.64, abs=0.02)


def test_phase_picture_keeps_the_points():
    cfg = _tiny(mm.PHASE_2D, width=(8,))
    results = mm.PHASE_2D.run(cfg)
    row, = results["rows"]
    assert len(row["samples"]) == cfg.num_samples and len(row["train"]) == cfg.n[0]
    assert results["factor"] == "width" and results["summary"][0]["width"] == 8
    assert json.loads(json.dumps(results)) == results                   # JSON-serialisable as it stands
    with pytest.raises(ValueError, match="MixtureConfig of ablation 'scale'"):
        mm.SCALE.run(cfg)


@pytest.mark.parametrize("exp", mm.ABLATIONS, ids=lambda e: e.NAME)
def test_committed_verdicts_fail_on_reversed_results(exp):
    """The memorisation claims the stored cpu results support fail with the grid reversed."""
    results = load_results(exp.NAME, "cpu")["results"]
    verdict = exp.verdict(results)
    claims = [c for c in verdict if "memorisation" in c and verdict[c]]
    assert claims
    key = lambda e: tuple(e[k] for k in exp.by)
    reversed_summary = []
    for group in sorted({key(e) for e in results["summary"]}):
        entries = [e for e in results["summary"] if key(e) == group]
        # each grid point keeps its factor value but takes the metrics of the opposite end of the grid
        reversed_summary += [{**e, **{k: r[k] for k in mm.analysis.METRICS}}
                             for e, r in zip(entries, entries[::-1])]
    bad = exp.verdict({**results, "summary": reversed_summary})
    assert not all(bad[c] for c in claims)


def test_facts_of_the_committed_results():
    facts = {k: v for exp in mm.ABLATIONS for k, v in exp.facts(load_results(exp.NAME, "cpu")["results"]).items()}
    assert facts["ch06_scale_n"] == 200 and facts["ch06_scale_substantial_width"] == 256
    assert facts["ch06_scale_substantial_params"] == 161_288 and facts["ch06_scale_degraded"] == "16, 32, 64"
    assert facts["ch06_wd_n_small"] == 320 and facts["ch06_dimension_clean"] == "8, 64"
    assert facts["ch06_sample_size_matched_first_steps"] == 188 and facts["ch06_sample_size_last_steps"] == 3000
    assert facts["ch06_phase_first_width"] == 8 and facts["ch06_phase_last_width"] == 512
    assert all(isinstance(v, (int, float, str)) for v in facts.values())


def test_committed_verdicts():
    """What the stored cpu runs say (the chapter's prose depends on it)."""
    verdicts = {k: v for exp in mm.ABLATIONS for k, v in exp.verdict(load_results(exp.NAME, "cpu")["results"]).items()}
    assert verdicts["memorisation falls with n (fixed steps), samples not degraded"]
    assert not verdicts["memorisation falls with n (matched epochs)"]
    assert verdicts["memorisation falls with d (d >= 8), samples not degraded"]
    assert verdicts["n = 320, width 512: memorisation falls with the weight decay, samples not degraded"]
    assert not verdicts["n = 320: some decay raises the log-likelihood (Bonferroni over 3 decays)"]


def test_progress_shows_the_group_training_and_sampling_bars(capsys):
    mm.run_members(_tiny(), progress=True)
    err = capsys.readouterr().err
    assert all(bar in err for bar in ("weight_decay groups", "DSM training", "sampling (sde)")), err[-500:]
    mm.run_members(_tiny())
    assert capsys.readouterr().err == ""
