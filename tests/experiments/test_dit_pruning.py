import copy
import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch

from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from memsep_lib.config import make_generator
from memsep_lib.dit import DIT_CONFIGS, DiT, FlatScore
from memsep_lib.evaluation import classifier_space, pixel_space
from memsep_lib.experiments.dit_pruning import (ARMS, COST, CONFIGS, SCORE_CLAIMS, EvaluationSets, average_records,
                                                claims, cost, facts, load_stage_model, results_table, run_seed,
                                                summarize, verdict)
from memsep_lib.features import CifarFeatureNet
from memsep_lib.pruning import random_heads_to_prune
from memsep_lib.results import config_dict, load_results
from memsep_lib.training import train_score_net


SHARED_CIFAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar10"


def test_configs_are_frozen_per_profile():
    assert set(CONFIGS) == {"ci", "cpu", "gpu", "paper"} == set(COST)
    assert len({type(c) for c in CONFIGS.values()}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        CONFIGS["ci"].train_steps = 1


@pytest.mark.parametrize("profile", sorted(CONFIGS))
def test_configs_are_consistent(profile):
    cfg = CONFIGS[profile]
    arch = DIT_CONFIGS[cfg.dit]
    assert 32 % cfg.resolution == 0 and cfg.resolution % arch["patch_size"] == 0
    assert arch["hidden_size"] % arch["num_heads"] == 0 and arch["hidden_size"] % 4 == 0
    steps = list(cfg.memorization_milestones)
    assert steps == sorted(set(steps)) and steps[-1] == cfg.train_steps
    assert 0 < cfg.prune_ratio < 1 and round(cfg.prune_ratio * arch["depth"] * arch["num_heads"]) >= 1
    assert len(set(cfg.seeds)) == len(cfg.seeds)


def test_cpu_profile_is_sized_for_the_comparison():
    # few images per parameter (the original can memorise), a held-out reference of at least 1,000 images with as
    # many samples, three random masks, and enough seeds for a paired interval
    cpu = CONFIGS["cpu"]
    assert cpu.subset_size <= 128 and cpu.train_steps >= 1000
    assert cpu.num_samples >= 1000 and cpu.random_masks >= 3 and len(cpu.seeds) >= 5
    assert cpu.horizon in cpu.horizons


def test_cpu_config_is_the_stored_runs():
    # the committed cpu run recorded exactly the current config (its DiT by name in DIT_CONFIGS)
    assert load_results("dit_pruning", "cpu")["config"] == config_dict(CONFIGS["cpu"])


SPACES = ["space A", "space B"]


def _fake_record(mem, fid, heads=16):
    metrics = {"fid": fid, "precision": 0.5, "recall": 0.25, "train_precision": 0.9, "train_recall": 0.8}
    return {"memorization": mem, "spaces": {name: dict(metrics, space=name) for name in SPACES},
            "num_heads": heads, "num_parameters": 1000, "sampling_seconds_per_image": 0.01}


def _fake_seed(mem, fid, *, pruned_mem=None, discrepancy=0.0):
    """One seed's results: the original memorises ``mem``; pruning halves it (or gives ``pruned_mem``)."""
    pruned_mem = mem / 2 if pruned_mem is None else pruned_mem
    masks = [_fake_record(mem / 4, fid + 1), _fake_record(mem / 4, fid + 3)]
    arms = {"original": _fake_record(mem, fid, heads=20), "finetune_only": _fake_record(mem, fid, heads=20),
            "pruned_small_t": _fake_record(pruned_mem, fid), "pruned_large_t": _fake_record(mem, fid + 0.5),
            "random": average_records(masks)}
    removed = {"pruned_small_t": {"0": [1], "2": [0, 3]}}
    return {"arms": arms, "random_masks": masks, "removed": removed, "gate_prune_discrepancy": discrepancy,
            "removed_by_horizon": {"0.1": {"0": [1]}, "0.3": removed["pruned_small_t"]},
            "memorization_over_steps": {"10": mem}}


def _fake_results(seeds):
    sanity = {name: {"fresh": {"fid": 1.0, "recall": 0.9, "train_recall": 0.7},
                     "copies": {"fid": 5.0, "recall": 0.1, "train_recall": 1.0}} for name in SPACES}
    return {"per_seed": seeds, "setup": {"prune_ratio": 0.2}, "sanity": sanity, **summarize(seeds, SPACES)}


def test_average_records_means_numbers_and_keeps_names():
    mean = average_records([_fake_record(0.2, 10.0), _fake_record(0.4, 12.0)])
    assert mean["memorization"] == pytest.approx(0.3) and mean["spaces"]["space B"]["fid"] == pytest.approx(11.0)
    assert mean["spaces"]["space A"]["space"] == "space A"
    with pytest.raises(ValueError, match="records"):
        average_records([])


def test_summarize_tables_and_paired_intervals():
    seeds = [_fake_seed(0.8, 10.0), _fake_seed(0.6, 12.0), _fake_seed(0.7, 11.0)]
    out = summarize(seeds, SPACES)
    assert out["table"] is out["tables"]["space A"] and set(out["table"]) == set(ARMS)
    assert out["table"]["original"]["memorization"]["mean"] == pytest.approx(0.7)
    assert out["table"]["random"]["fid"]["mean"] == pytest.approx(13.0)
    entry = next(e for e in out["paired"] if (e["metric"], e["a"], e["b"]) == ("memorization", "pruned_small_t",
                                                                               "original"))
    assert entry["mean_diff"] == pytest.approx(-0.35) and entry["ci95"][1] < 0 and entry["n"] == 3
    assert entry["space"].startswith("pixels")
    assert {e["space"] for e in out["paired_by_space"]["space B"]} == {"space B"}
    assert out["horizon_overlap"]["0.3"]["mean"] == 1.0 and out["horizon_overlap"]["0.1"]["mean"] == pytest.approx(1 / 3)
    text = results_table(out["table"], "space A")
    assert "space A" in text and "| Original | 70.0 ± 10.0 | 73.82 |" in text and text.count("\n") == 8
    with pytest.raises(ValueError, match="per_seed"):
        summarize([], SPACES)


def test_claims_follow_the_intervals():
    seeds = [_fake_seed(0.8, 10.0), _fake_seed(0.6, 12.0), _fake_seed(0.7, 11.0)]
    shown = claims(_fake_results(seeds))
    assert shown["pruning lowers memorisation (pruned_small_t < original)"] == "supported at 95%"
    assert shown["better quality than random pruning (FD: pruned_small_t < random)"] == "supported at 95%"
    # a "pruned" model that memorises as much as the original: the claim is not supported
    same = [_fake_seed(m, f, pruned_mem=m + d) for m, f, d in ((0.8, 10.0, 0.01), (0.6, 12.0, -0.02), (0.7, 11.0, 0.0))]
    assert claims(_fake_results(same))["pruning lowers memorisation (pruned_small_t < original)"] == \
        "not supported at 95%"


def _checks(results):
    return dict(zip(("band", "sanity", "heads", "gates"), verdict(results).values()))


def test_verdict_fails_on_wrong_inputs():
    seeds = [_fake_seed(0.8, 10.0), _fake_seed(0.6, 12.0), _fake_seed(0.7, 11.0)]
    assert all(_checks(_fake_results(seeds)).values())
    copying = [_fake_seed(1.0, 10.0) for _ in range(3)]                     # an original that copies everything
    assert _checks(_fake_results(copying))["band"] is False
    fooled = _fake_results(seeds)                                           # a metric that ranks copies best
    fooled["sanity"]["space B"]["copies"]["fid"] = 0.5
    assert _checks(fooled)["sanity"] is False
    unpruned = copy.deepcopy(seeds)
    unpruned[1]["random_masks"][0]["num_heads"] = 20                        # a "random" mask that kept every head
    assert _checks(_fake_results(unpruned))["heads"] is False
    assert _checks(_fake_results(seeds[:2] + [_fake_seed(0.7, 11.0, discrepancy=0.1)]))["gates"] is False


def test_verdict_and_facts_of_the_stored_run():
    results = load_results("dit_pruning", "cpu")["results"]
    assert set(results["arms"]) == set(ARMS) and results["reference"]["kind"] == "held_out"
    assert results["reference"]["size"] == CONFIGS["cpu"].num_samples >= 1000
    assert set(results["table"]) == set(ARMS) and len(results["per_seed"]) == len(CONFIGS["cpu"].seeds)
    assert {"metric", "a", "b", "mean_diff", "ci95"} <= set(results["paired"][0])
    again = summarize(results["per_seed"], results["spaces"], horizon=results["setup"]["horizon"])
    assert again == {k: results[k] for k in again}                          # the stored summaries are the seeds'
    shown = facts(results)
    assert shown["seeds"] == str(len(CONFIGS["cpu"].seeds)) and shown["reference_size"] == "1,000"
    assert set(claims(results).values()) <= {"supported at 95%", "not supported at 95%"}
    checks = _checks(results)
    assert checks["heads"] and checks["gates"]


def _tiny_config():
    return dataclasses.replace(CONFIGS["ci"], subset_size=12, resolution=8, dit="DiT-test/4", train_steps=10,
                               batch_size=4, memorization_milestones=(5, 10), importance_draws=8, prune_ratio=0.25,
                               finetune_steps=5, num_samples=6, milestone_samples=4, sample_steps=3, seeds=(0,),
                               random_masks=2, horizons=(0.1, 0.3))


def _tiny_inputs(monkeypatch):
    """The tiny config, its evaluation sets (random images) and two feature spaces (an untrained classifier)."""
    from memsep_lib.experiments.dit_pruning import experiment

    monkeypatch.setitem(DIT_CONFIGS, "DiT-test/4", dict(hidden_size=16, depth=2, num_heads=2, patch_size=4))
    for name, value in (("SCORE_TIMES", 3), ("SCORE_QUERIES", 16), ("LIPSCHITZ_QUERIES", 4)):   # the mechanism, small
        monkeypatch.setattr(experiment, name, value)
    torch.manual_seed(0)
    images = torch.rand(36, 3, 8, 8) * 2 - 1
    sets = EvaluationSets(images[:12], images[12:18], images[18:24], tuple(range(24)), images[24:])
    return _tiny_config(), sets, [classifier_space(CifarFeatureNet(resolution=8).eval()), pixel_space()]


BARS = ("seed 0", "DSM training", "sampling (blocks)", "training to step 10", "memorization@10", "score_distance",
        "importance_small_ablation", "importance_large_ablation", "remove_horizon_0.1", "fine-tuning finetune_only",
        "fine-tuning pruned_small_t", "fine-tuning random1", "eval_random1")


def test_run_seed_tiny_resumes(tmp_path, monkeypatch, capsys):
    cfg, sets, spaces = _tiny_inputs(monkeypatch)
    out = run_seed(cfg, 0, sets, spaces, tmp_path / "seed0", torch.device("cpu"))
    assert not any(bar in capsys.readouterr().err for bar in BARS)     # progress=False: silent
    assert set(out["memorization_over_steps"]) == {5, 10} and set(out["arms"]) == set(ARMS)
    arms = out["arms"]
    assert arms["original"]["num_heads"] == arms["finetune_only"]["num_heads"] == 4
    assert arms["pruned_small_t"]["num_heads"] == arms["pruned_large_t"]["num_heads"] == 3 == arms["random"]["num_heads"]
    assert len(out["random_masks"]) == 2 and out["removed"]["finetune_only"] == {}
    assert set(arms["pruned_small_t"]["spaces"]) == {s.name for s in spaces}
    assert all(0 <= arms[m]["memorization"] <= 1 for m in ARMS) and out["gate_prune_discrepancy"] < 1e-4
    assert set(out["removed_by_horizon"]) == {"0.1", "0.3"}
    assert set(out["score_distance"]) == {"original", "finetune_only", "pruned_small_t", "pruned_large_t", "random0",
                                          "random1"}
    assert len(out["score_distance"]["original"]["to_empirical"]) == len(out["score_distance"]["original"]["times"])
    assert out["removed_by_horizon"]["0.3"] == json.loads(json.dumps(out["removed"]["pruned_small_t"]))
    stages = json.loads((tmp_path / "seed0" / "stages.json").read_text())
    assert {"eval_original", "eval_pruned_small_t", "eval_random1", "remove_pruned_large_t"} <= set(stages)
    again = run_seed(cfg, 0, sets, spaces, tmp_path / "seed0", torch.device("cpu"))   # resumed: nothing recomputed
    same = lambda key: json.loads(json.dumps(again[key])) == json.loads(json.dumps(out[key]))
    assert same("arms") and same("removed") and same("importance_small_taylor")
    pruned = load_stage_model(cfg, tmp_path / "seed0", "pruned_small_t")
    assert sum(pruned.heads_per_layer()) == 3
    assert sum(load_stage_model(cfg, tmp_path / "seed0", "finetune_only").heads_per_layer()) == 4
    with pytest.raises(ValueError, match="stage"):
        load_stage_model(cfg, tmp_path / "seed0", "other")
    # the folder is stamped with its config: another config's run is refused, not given stale stages
    with pytest.raises(ValueError, match="different config"):
        run_seed(dataclasses.replace(cfg, lr=cfg.lr / 2), 0, sets, spaces, tmp_path / "seed0", torch.device("cpu"))


def test_finetuning_trains_every_weight_of_every_arm(tmp_path, monkeypatch):
    """The fine-tuned models start from the EMA copy (frozen weights): fine-tuning must unfreeze all of them,
    not only the attention layers that pruning rebuilt."""
    cfg, sets, spaces = _tiny_inputs(monkeypatch)
    run_seed(cfg, 0, sets, spaces, tmp_path / "seed0", torch.device("cpu"))
    original = load_stage_model(cfg, tmp_path / "seed0", "original")
    control = load_stage_model(cfg, tmp_path / "seed0", "finetune_only")
    moved = [not torch.equal(a, b) for a, b in zip(original.parameters(), control.parameters())]
    assert sum(moved) >= len(moved) - 4        # all but the position embedding (fixed) and zero-init leftovers


def test_progress_shows_every_stage_of_a_seed(tmp_path, monkeypatch, capsys):
    """progress=True: the seed's stage bar names every stage, and the training and sampling bars appear."""
    cfg, sets, spaces = _tiny_inputs(monkeypatch)
    run_seed(cfg, 0, sets, spaces, tmp_path / "seed0", torch.device("cpu"), progress=True)
    err = capsys.readouterr().err
    assert [bar for bar in BARS if bar not in err] == []
    total = 2 * len(cfg.memorization_milestones) + 4 + len(cfg.horizons) + 2 * (4 + cfg.random_masks)
    assert f"{total}/{total}" in err


def test_gpu_profile_builds_and_trains_a_step_on_the_cpu():
    """The gpu config's DiT (the paper's DiT-S/2 at 16x16) builds, and a training step runs on the CPU, with the
    matmul FLOPs the cost model counts for it (torch.utils.flop_counter, math attention kernel)."""
    cfg = CONFIGS["gpu"]
    torch.manual_seed(0)
    model = DiT.from_config(cfg.dit, input_size=cfg.resolution)
    assert sum(model.heads_per_layer()) == 72 and model.num_parameters() > 3e7
    net = FlatScore(model)
    data = torch.rand(2, net.dim) * 2 - 1
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        log = train_score_net(net, data, steps=1, batch_size=1, lr=cfg.lr, t0=cfg.t0, T=cfg.T,
                              generator=make_generator(0), time_distribution="log_uniform")
    assert torch.isfinite(torch.tensor(log.losses)).all()
    budget = cost.flop_budget(cfg)
    assert counter.get_total_flops() == budget["training_per_image"] == model.flops_per_image(training=True)


def test_cost_model_counts_the_pruned_models_and_the_stated_rate():
    cfg = CONFIGS["gpu"]
    budget = cost.flop_budget(cfg)
    pruned = DiT.from_config(cfg.dit, input_size=cfg.resolution)
    pruned.prune_heads(random_heads_to_prune(pruned.heads_per_layer(), cfg.prune_ratio, generator=make_generator(0)))
    assert budget["training_per_image_pruned"] == pruned.flops_per_image(training=True)
    S, f, f_pruned = cfg.sample_steps + 1, budget["forward_per_image"], pruned.flops_per_image()
    P = 2 + cfg.random_masks                         # pruned arms: small t, large t, the random masks
    assert budget["training"] == cfg.batch_size * (cfg.train_steps * budget["training_per_image"] + cfg.finetune_steps
                                                   * (budget["training_per_image"]
                                                      + P * pruned.flops_per_image(training=True)))
    assert budget["sampling"] == (3 * 100 + 2 * 1000) * S * f + P * 1000 * S * f_pruned
    assert budget["importance"] == ((2 + len(cfg.horizons)) * 73 + 2) * 256 * f
    assert budget["total"] == 2 * (budget["training"] + budget["sampling"] + budget["importance"])
    # the paper profile's 0.16 s per step of batch 128 on an H200 is the "about 29 TFLOP/s"
    train_rate, _ = cost.stated_rates(CONFIGS["paper"])
    assert train_rate == pytest.approx(29.05e12, rel=1e-3)
    with pytest.raises(ValueError, match="train_rate"):
        cost.estimate_seconds(cfg, train_rate=0.0, forward_rate=1e12)


def test_gpu_and_paper_costs_are_estimates_from_the_flop_count():
    assert COST["gpu"]["minutes"] <= 8 and COST["gpu"]["hardware"] == "1 H200 GPU"
    for profile in ("gpu", "paper"):
        entry = cost.cost_entry(CONFIGS[profile], CONFIGS["paper"])
        assert COST[profile] == entry and entry["basis"].startswith("estimate")
        assert f"{cost.flop_budget(CONFIGS[profile])['training']:.2e}" in entry["basis"]
    # ~98 GPU-hours for the paper's three models (issue 19); the control, the large-t arm and three random masks
    # (issue 14) add about 13
    assert COST["paper"]["minutes"] / 60 == pytest.approx(110, abs=1)
    twice = dataclasses.replace(CONFIGS["gpu"], seeds=(0, 1, 2, 3))
    rates = cost.stated_rates(CONFIGS["paper"])
    one = cost.estimate_seconds(CONFIGS["gpu"], train_rate=rates[0], forward_rate=rates[1]) - cost.SETUP_SECONDS
    assert cost.estimate_seconds(twice, train_rate=rates[0], forward_rate=rates[1]) - cost.SETUP_SECONDS == \
        pytest.approx(2 * one)


def test_feature_spaces_add_inception_from_the_environment(monkeypatch, tmp_path):
    """MEMSEP_INCEPTION_WEIGHTS adds the Inception space last; random weights are named a plumbing test."""
    from memsep_lib.experiments.dit_pruning import experiment
    from memsep_lib.inception import INCEPTION_ENV, save_random_inception_weights

    def fake_net(**kwargs):
        net = CifarFeatureNet(resolution=kwargs["resolution"]).eval()
        net.test_accuracy = 0.5
        return net

    monkeypatch.setattr(experiment, "cifar_feature_net", fake_net)
    cfg, sets, _ = _tiny_inputs(monkeypatch)
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    spaces, accuracy = experiment.feature_spaces(cfg, sets, "cpu")
    assert len(spaces) == 3 and accuracy == 0.5 and spaces[0].name.endswith("at 8x8")
    monkeypatch.setenv(INCEPTION_ENV, str(save_random_inception_weights(tmp_path / "random.pth")))
    spaces, _ = experiment.feature_spaces(cfg, sets, "cpu")
    assert len(spaces) == 4 and "PLUMBING TEST" in spaces[-1].name and "not FID" in spaces[-1].name


@pytest.mark.skipif(not (os.environ.get("MEMSEP_DATA_DIR") or SHARED_CIFAR.exists()),
                    reason="real CIFAR-10 npz not available (MEMSEP_DATA_DIR)")
def test_evaluation_sets_are_disjoint_held_out_images_at_the_training_resolution():
    from memsep_lib.data import cifar10_subset
    from memsep_lib.experiments.dit_pruning import load_sets

    data_dir = os.environ.get("MEMSEP_DATA_DIR") or str(SHARED_CIFAR)
    cfg = dataclasses.replace(CONFIGS["cpu"], num_samples=200)
    sets = load_sets(cfg, data_dir=data_dir)
    assert sets.train.shape == (32, 3, 8, 8) and sets.reference.shape == sets.fresh.shape == (200, 3, 8, 8)
    _, _, train_idx = cifar10_subset(cfg.subset_size, cfg.subset_seed, data_dir=data_dir)
    assert len(set(sets.excluded)) == 32 + 400 and set(train_idx.tolist()) <= set(sets.excluded)
    flat = torch.cat([sets.train, sets.reference, sets.fresh]).flatten(1)
    assert torch.cdist(flat, flat).add(torch.eye(len(flat)) * 1e9).min() > 0      # no image in two sets


def _with_scores(seeds, pruned_distance=0.6):
    """Score-distance curves on 3 times: the original near the empirical score (0.1) and far from the held-out one
    (0.9); Algorithm 1 at ``pruned_distance``, the random masks at 0.3."""
    times = [0.001, 0.1, 1.0]
    curve = lambda d, held=0.9, lip=5.0: {"times": times, "to_empirical": [d] * 3, "to_held_out": [held] * 3,
                                          "empirical_to_held_out": [1.0] * 3, "lipschitz": [lip] * 3,
                                          "lipschitz_empirical_scale": [10.0] * 3}
    for k, s in enumerate(seeds):
        s["score_distance"] = {"original": curve(0.1), "finetune_only": curve(0.1), "pruned_large_t": curve(0.2),
                               "pruned_small_t": curve(pruned_distance + 0.01 * k, lip=2.0),
                               "random0": curve(0.3), "random1": curve(0.35)}
    return seeds


def test_score_summary_pairs_the_small_t_means_and_the_measurement_check_can_fail():
    seeds = _with_scores([_fake_seed(0.8, 10.0), _fake_seed(0.6, 12.0), _fake_seed(0.7, 11.0)])
    results = _fake_results(seeds)
    results["setup"]["horizon"] = 0.3
    assert set(results["score_distance"]) == set(ARMS)
    assert results["score_distance"]["random"]["to_empirical"][0] == [pytest.approx(0.325)] * 3
    entry = next(e for e in results["score_paired"] if (e["metric"], e["a"], e["b"]) ==
                 ("to_empirical", "pruned_small_t", "random"))
    assert entry["mean_diff"] == pytest.approx(0.6 + 0.01 - 0.325) and entry["ci95"][0] > 0
    shown = claims(results)
    assert shown[SCORE_CLAIMS["score_vs_random"][0]] == "supported at 95%"
    assert shown[SCORE_CLAIMS["smoother_vs_random"][0]] == "supported at 95%"
    assert list(verdict(results).values())[-1] is True
    # a generalising original (nearer the held-out score than its own training set's): the check fails
    for s in seeds:
        s["score_distance"]["original"]["to_empirical"] = [0.95] * 3
    swapped = _fake_results(seeds)
    swapped["setup"]["horizon"] = 0.3
    assert list(verdict(swapped).values())[-1] is False
    # Algorithm 1 no further from the empirical score than random pruning: not supported
    same = _fake_results(_with_scores([_fake_seed(0.8, 10.0), _fake_seed(0.6, 12.0), _fake_seed(0.7, 11.0)], 0.32))
    same["setup"]["horizon"] = 0.3
    assert claims(same)[SCORE_CLAIMS["score_vs_random"][0]] == "not supported at 95%"
