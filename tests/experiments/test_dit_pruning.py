import dataclasses
import json

import pytest
import torch

from memsep_lib.dit_pruning import (CONFIGS, PAPER_TABLE, config_for, load_stage_model, results_table, run_seed,
                                    summarize_seeds)
from memsep_lib.features import CifarFeatureNet, extract_features


@pytest.mark.parametrize("profile", sorted(CONFIGS))
def test_configs_are_consistent(profile):
    cfg = CONFIGS[profile]
    assert config_for(profile) == cfg
    assert 32 % cfg.resolution == 0 and cfg.resolution % cfg.patch_size == 0
    assert cfg.hidden_size % cfg.num_heads == 0 and cfg.hidden_size % 4 == 0
    steps = list(cfg.memorization_milestones)
    assert steps == sorted(set(steps)) and steps[-1] == cfg.train_steps
    assert 0 < cfg.prune_ratio < 1 and round(cfg.prune_ratio * cfg.depth * cfg.num_heads) >= 1
    assert len(set(cfg.seeds)) == len(cfg.seeds)


def test_cpu_profile_is_sized_to_memorise():
    # the cpu profile must be a scale where the original model can memorise: few images per parameter
    cpu = CONFIGS["cpu"]
    assert cpu.subset_size <= 128 and cpu.train_steps >= 1000
    assert len(cpu.seeds) >= 3


def _fake_seed(mem, fid):
    row = lambda m: {"memorization": m, "precision": 0.5, "recall": 0.25, "fid": fid, "num_heads": 16,
                     "num_parameters": 1000, "sampling_seconds_per_image": 0.01}
    return {"original": row(mem), "pruned": row(mem / 2), "random": row(mem / 4)}


def test_summarize_seeds_and_table():
    table = summarize_seeds([_fake_seed(0.8, 10.0), _fake_seed(0.6, 12.0)])
    assert table["original"]["memorization"]["mean"] == pytest.approx(0.7)
    assert table["original"]["memorization"]["std"] == pytest.approx(0.1414213, rel=1e-5)
    assert table["pruned"]["fid"]["mean"] == pytest.approx(11.0)
    text = results_table(table)
    assert "| Original | 70.0 ± 14.1 | 73.82 |" in text
    assert text.count("\n") == 4 and f"{PAPER_TABLE['random']['fid']:.2f}" in text
    single = summarize_seeds([_fake_seed(0.8, 10.0)])
    assert single["random"]["memorization"]["std"] == 0.0


def test_run_seed_tiny_resumes(tmp_path):
    cfg = dataclasses.replace(CONFIGS["ci"], subset_size=12, resolution=8, patch_size=4, hidden_size=16, depth=2,
                              num_heads=2, train_steps=10, batch_size=4, memorization_milestones=(5, 10),
                              importance_draws=8, prune_ratio=0.25, finetune_steps=5, num_samples=6,
                              milestone_samples=4, sample_steps=3, seeds=(0,))
    torch.manual_seed(0)
    train = torch.rand(12, 3, 8, 8) * 2 - 1
    net = CifarFeatureNet().eval()
    real = extract_features(net, train)
    out = run_seed(cfg, 0, train, real, net, tmp_path / "seed0", torch.device("cpu"))
    assert set(out["memorization_over_steps"]) == {5, 10}
    assert out["original"]["num_heads"] == 4 and out["pruned"]["num_heads"] == 3 == out["random"]["num_heads"]
    assert all(0 <= out[m]["memorization"] <= 1 for m in ("original", "pruned", "random"))
    assert torch.tensor(out["importance_small_ablation"]).shape == (2, 2)
    stages = json.loads((tmp_path / "seed0" / "stages.json").read_text())
    assert {"eval_original", "eval_pruned", "eval_random", "remove_pruned"} <= set(stages)
    again = run_seed(cfg, 0, train, real, net, tmp_path / "seed0", torch.device("cpu"))   # resumed: nothing recomputed
    same = lambda key: json.loads(json.dumps(again[key])) == json.loads(json.dumps(out[key]))
    assert same("original") and same("removed_random") and same("importance_small_taylor")
    pruned = load_stage_model(cfg, tmp_path / "seed0", "pruned")
    assert sum(pruned.heads_per_layer()) == 3
    with pytest.raises(ValueError, match="stage"):
        load_stage_model(cfg, tmp_path / "seed0", "other")


def test_seed_comparisons_counts_paired_seeds():
    from memsep_lib.dit_pruning import seed_comparisons
    seeds = [_fake_seed(0.8, 10.0), _fake_seed(0.6, 12.0)]
    seeds[0]["pruned"]["fid"], seeds[1]["pruned"]["fid"] = 9.0, 20.0     # better than random on seed 0 only
    counts = seed_comparisons(seeds)
    assert counts["seeds"] == 2
    assert counts["memorization: pruned < original"] == 2 and counts["memorization: random < pruned"] == 2
    assert counts["fid: pruned < random"] == 1
    with pytest.raises(ValueError, match="per_seed"):
        seed_comparisons([])
