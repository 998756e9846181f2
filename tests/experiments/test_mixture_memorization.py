import math

import pytest
import torch

from memsep_lib import mixture_memorization as mm


def _tiny(name="weight_decay", **overrides):
    cfg = mm.ablation_config(name, "ci")
    cfg.update(steps=200, num_samples=40, sample_steps=10)
    cfg.update(overrides)
    return cfg


def test_configs_cover_every_ablation_and_profile():
    for name in mm.ABLATIONS:
        for profile in ("ci", "cpu", "paper"):
            cfg = mm.ablation_config(name, profile)
            ms = mm.members(cfg)
            assert ms and all(m["K"] == cfg["K"] for m in ms)
            assert len(ms) == len({tuple(sorted(m.items())) for m in ms})       # no member twice
    assert len(mm.ablation_config("phase_2d", "cpu")["seeds"]) == 1
    with pytest.raises(ValueError, match="name must be one of"):
        mm.ablation_config("no-such-ablation", "ci")
    with pytest.raises(ValueError, match="profile"):
        mm.ablation_config("scale", "laptop")


def test_training_sets_are_fixed_by_seed_and_size():
    mix = mm.mixture_for(8, 4, 2.0)
    a, b = mm.training_set(mix, 30, 0), mm.training_set(mix, 30, 0)
    assert torch.equal(a, b) and a.shape == (30, 4)
    assert not torch.equal(a, mm.training_set(mix, 30, 1))
    assert torch.equal(mix.means, mm.mixture_for(8, 4, 2.0).means)


def test_run_members_measures_every_member_and_resumes(tmp_path):
    cfg = _tiny(width=[16], n=[20, 40], weight_decay=[0.0, 1.0])
    rows = mm.run_members(cfg, folder=tmp_path)
    assert len(rows) == 4
    for r in rows:
        assert 0.0 <= r["memorization"] <= 1.0 and math.isfinite(r["log_likelihood"])
        assert 0.0 <= r["memorization_true_samples"] <= 1.0
        assert r["num_parameters"] == mm.ScoreMLPStack(1, 8, 16, cfg["depth"]).num_parameters()
    assert mm.run_members(cfg, folder=tmp_path) == rows               # finished groups are read back
    (tmp_path / "stages.json").unlink()                                 # only the checkpoint is left
    assert mm.run_members(cfg, folder=tmp_path) == rows
    with pytest.raises(ValueError, match="different config"):                 # never the old run's rows
        mm.run_members(dict(cfg, steps=300), folder=tmp_path)


def test_memorising_net_beats_the_criterion_floor():
    """A wide net on 8 points memorises far more than fresh mixture samples do (the floor)."""
    cfg = _tiny("scale", n=[8], width=[128], steps=600, num_samples=100)
    row, = mm.run_members(cfg)
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


def test_phase_picture_keeps_the_points(monkeypatch):
    cfg = _tiny("phase_2d", width=[8])
    monkeypatch.setattr(mm, "ablation_config", lambda name, profile: cfg)
    config, results = mm.run("phase_2d", "ci")
    row, = results["rows"]
    assert len(row["samples"]) == cfg["num_samples"] and len(row["train"]) == cfg["n"][0]
    assert results["factor"] == "width" and results["summary"][0]["width"] == 8


def _entry(value, mem, ll=0.0, floor=0.0, **fixed):
    stat = lambda v: {"mean": v, "std": 0.0}
    return dict(fixed, **value, seeds=1, num_parameters=1, memorization=stat(mem), log_likelihood=stat(ll),
                memorization_true_samples=stat(floor), log_likelihood_true_samples=stat(0.0))


def test_trend_verdicts_can_fail():
    rising = [_entry({"width": w}, m) for w, m in [(8, 0.0), (16, 0.2), (32, 0.6)]]
    dip = [_entry({"width": w}, m) for w, m in [(8, 0.0), (16, 0.6), (32, 0.3)]]
    flat = [_entry({"width": w}, m) for w, m in [(8, 0.3), (16, 0.3), (32, 0.35)]]
    key = "memorisation rises with network size"
    assert mm.trend_verdicts("scale", rising)[key]
    assert not mm.trend_verdicts("scale", dip)[key] and not mm.trend_verdicts("phase_2d", flat)[key]
    falling_n = [_entry({"n": n}, m) for n, m in [(50, 0.9), (200, 0.5), (800, 0.0)]]
    assert mm.trend_verdicts("sample_size", falling_n) == {"memorisation falls with n": True}
    dims = [_entry({"d": 2}, 0.3, floor=0.1), _entry({"d": 8}, 0.5), _entry({"d": 32}, 0.1)]
    verdict = mm.trend_verdicts("dimension", dims)
    assert verdict["memorisation falls with d (d >= 8)"] and not verdict["d = 2 memorisation within 10 points of the floor"]
    grid = [_entry({"weight_decay": wd}, m, ll, n=n, width=64)
            for n, wd, m, ll in [(100, 0.0, 0.5, -5.0), (100, 1.0, 0.1, -4.0), (900, 0.0, 0.0, -4.0),
                                 (900, 1.0, 0.0, -6.0)]]
    assert all(mm.trend_verdicts("weight_decay", grid).values())
    noisy = [dict(e, log_likelihood={"mean": e["log_likelihood"]["mean"], "std": 2.0}) for e in grid]
    assert not mm.trend_verdicts("weight_decay", noisy)[
        "n = 100: some decay raises the log-likelihood beyond the seed spread"]      # gain 1.0 < std 2.0
    with pytest.raises(ValueError, match="name must be one of"):
        mm.trend_verdicts("nope", grid)


def test_summary_table_lists_every_row():
    table = mm.summary_table([_entry({"width": 8}, 0.25, -3.0, 0.01)], "width")
    assert table.count("\n") == 2 and "| 8 | 1 | 1 | 25.0 ± 0.0 | 1.0 | -3.00 ± 0.00 | 0.00 |" in table
