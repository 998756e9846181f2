import copy
import dataclasses
import math

import pytest
import sympy as sp
import torch

import memsep_lib.losses as losses
from memsep_lib import process
from memsep_lib.config import PROFILES
from memsep_lib.experiments.loss_gap_fisher import experiment
from memsep_lib.experiments.loss_gap_fisher.experiment import (CONFIGS, MODELS, WRONG_SCORES, LossGapFisherConfig,
                                                               facts, fisher_asymmetry, fisher_under_true_law,
                                                               make_model, prop41_check, prop41_table, run, summarize,
                                                               verdict)
from memsep_lib.scores import empirical_score
from memsep_lib.stats import bonferroni_z

SMALL = dataclasses.replace(CONFIGS["ci"], ts=(1e-2, 0.3), ds=(2, 4), n=32, num_samples=2000, asym_ds=(2,),
                            asym_n=32, asym_samples=1000, asym_ts=(1e-3, 1.0), wrong_ts=(1e-2, 0.3), wrong_d=4)


@pytest.fixture(scope="module")
def small_rows():
    return prop41_check(SMALL, device="cpu")


@pytest.fixture(scope="module")
def small_results():
    return run(SMALL)


def test_check_agrees_for_the_true_score(small_rows):
    summary = summarize(small_rows, SMALL.z_threshold, SMALL.family_alpha)
    assert summary["num_cells"] == SMALL.num_cells == 8
    assert summary["all_agree"] and summary["all_agree_family"]
    for r in small_rows:
        assert r["loss_gap"] > 0 and r["fisher"] > 0 and r["loss_gap_se"] > 0 and r["fisher_se"] > 0
        assert r["z"] == pytest.approx((r["loss_gap"] - r["fisher"]) / math.hypot(r["loss_gap_se"], r["fisher_se"]))


def test_check_is_reproducible(small_rows):
    assert prop41_check(SMALL, device="cpu") == small_rows


def test_wrong_score_is_flagged():
    """Loss-Gap of the score of N(0, I) instead of the mixture's: the check must report disagreement,
    while the general form (the right side for that score) agrees."""
    rows = prop41_check(SMALL, score_for=lambda mixture: (lambda x, t: -x), device="cpu")
    summary = summarize(rows, SMALL.z_threshold, SMALL.family_alpha)
    assert not summary["all_agree"] and not summary["all_agree_family"]
    assert summary["num_beyond"] >= 2
    for r in rows:
        assert r["fisher_s"] > r["fisher"] and abs(r["z_general"]) < 3.5
        assert r["z_general"] == pytest.approx((r["loss_gap"] - r["fisher_s"]) / math.hypot(r["loss_gap_se"],
                                                                                            r["fisher_s_se"]))
    assert "fisher_s" not in prop41_check(dataclasses.replace(SMALL, ds=(2,), ts=(0.3,)), device="cpu")[0]


def test_wrong_empirical_score_in_the_library_is_flagged(monkeypatch):
    """If memsep_lib.losses used a wrong empirical score (the one of time 2t), the check must fail."""
    monkeypatch.setattr(losses, "empirical_score", lambda x, t, data: empirical_score(x, 2 * t, data))
    assert not summarize(prop41_check(SMALL, device="cpu"), 3.0, 0.01)["all_agree_family"]


def test_wrong_dsm_target_in_the_library_is_flagged(monkeypatch):
    """A classic bug: conditional score -z/s_t^2 instead of -z/s_t inside loss_gap."""
    monkeypatch.setattr(losses, "sigma", lambda t: process.sigma(t) ** 2)
    assert not summarize(prop41_check(SMALL, device="cpu"), 3.0, 0.01)["all_agree_family"]


def _rows(zs):
    return [dict(model="m", d=2, t=0.1, loss_gap=1.0, loss_gap_se=0.1, fisher=1.0, fisher_se=0.1, z=z) for z in zs]


def test_summary_counts_and_bonferroni():
    summary = summarize(_rows([0.5, -3.5, 2.9, 3.2]), 3.0, 0.01)
    assert summary["num_cells"] == 4 and summary["num_beyond"] == 2 and not summary["all_agree"]
    assert summary["max_abs_z"] == 3.5
    assert summary["expected_beyond"] == pytest.approx(4 * 0.0026998, rel=1e-3)
    assert summary["family_z"] == pytest.approx(bonferroni_z(4, 0.01)) and 3.0 < summary["family_z"] < 3.5
    assert not summary["all_agree_family"]
    table = prop41_table(_rows([0.5, -3.5, 2.9, 3.2]), 3.0)
    assert "**!**" in table and table.count("\n") == 5
    ok = summarize(_rows([0.5, -2.5]), 3.0, 0.01)   # family bound for 2 cells: 2.81
    assert ok["all_agree"] and ok["all_agree_family"] and ok["num_beyond"] == 0


def test_bonferroni_z():
    assert bonferroni_z(1, 0.05) == pytest.approx(1.959964, abs=1e-5)
    assert bonferroni_z(56, 0.01) == pytest.approx(3.7475, abs=1e-3)
    with pytest.raises(ValueError, match="family_alpha"):
        bonferroni_z(3, 1.5)
    with pytest.raises(ValueError, match="num_tests"):
        bonferroni_z(0, 0.01)


def test_models():
    g = torch.Generator().manual_seed(0)
    gauss = make_model("gaussian", 5)
    ev = torch.linalg.eigvalsh(gauss.covs[0])
    assert gauss.num_components == 1 and ev.min() == pytest.approx(0.25) and ev.max() == pytest.approx(4.0)
    mix = make_model("mixture", 6, generator=g)
    assert mix.num_components == 4 and mix.dim == 6
    assert set(MODELS) == {"gaussian", "mixture"}
    with pytest.raises(ValueError, match="name"):
        make_model("cauchy", 3)


def test_configs_per_profile_and_validation():
    assert set(CONFIGS) == set(PROFILES)
    for cfg in CONFIGS.values():
        assert type(cfg) is LossGapFisherConfig
        assert min(cfg.ts) <= 1e-3 and max(cfg.ts) >= 1.0 and min(cfg.ds) <= 2 and max(cfg.ds) >= 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        CONFIGS["ci"].n = 3
    assert max(CONFIGS["cpu"].ds) > 64 and max(CONFIGS["paper"].ds) > 64
    for big in ("cpu", "paper"):      # the larger profiles cover the ci grid and go beyond it in d
        assert set(CONFIGS["ci"].ds) <= set(CONFIGS[big].ds) and max(CONFIGS[big].ds) >= 4 * max(CONFIGS["ci"].ds)
        assert set(CONFIGS["ci"].asym_ds) <= set(CONFIGS[big].asym_ds) and max(CONFIGS[big].asym_ds) > 16
    assert CONFIGS["ci"].num_cells == 56
    with pytest.raises(ValueError, match="ts"):
        dataclasses.replace(CONFIGS["ci"], ts=(0.0, 1.0))
    with pytest.raises(ValueError, match="models"):
        dataclasses.replace(CONFIGS["ci"], models=("cauchy",))
    with pytest.raises(TypeError, match="config"):
        prop41_check({"ts": (1.0,)})
    with pytest.raises(TypeError, match="config"):
        run({"ts": (1.0,)})


def test_fisher_under_true_law_is_larger_at_small_t():
    g = torch.Generator().manual_seed(3)
    mix = make_model("mixture", 4, generator=g)
    data = mix.sample(64, g)
    rows = fisher_asymmetry(data, mix, (1e-3, 1.0), num_samples=2000, seed=1)
    assert rows[0]["ratio"] > 10
    assert 0.3 < rows[1]["ratio"] < 3
    est = fisher_under_true_law(data, mix, 0.1, num_samples=500, generator=torch.Generator().manual_seed(0))
    again = fisher_under_true_law(data, mix, 0.1, num_samples=500, generator=torch.Generator().manual_seed(0))
    assert est == again and est.value > 0 and est.num_samples == 500
    with pytest.raises(ValueError, match="data"):
        fisher_under_true_law(data[:, :3], mix, 0.1, num_samples=10)


def test_run_verdict_and_facts(small_results, small_rows):
    res = small_results
    assert res["prop41"] == small_rows
    v = verdict(res)
    assert len(v) == 8 and all(isinstance(b, bool) for b in v.values())
    assert all(v.values()), v
    f = facts(res)
    assert f["ch02_num_cells"] == 8 and f["ch02_n"] == 32 and f["ch02_num_samples"] == 2000
    assert f["ch02_big_d"] == 4 and f["ch02_big_t"] == 1e-2 and f["ch02_ds"] == (2, 4) and f["ch02_asym_ds"] == (2,)
    assert f["ch02_two_point_lg"] == pytest.approx(0.862409) and f["ch02_family_z"] == round(bonferroni_z(8, 0.01), 2)
    tenth = res["wrong_scores"]["1.1 x true score"][-1]
    assert f["ch02_tenth_t"] == 0.3 and f["ch02_tenth_z"] == round(tenth["z"], 1)
    assert f["ch02_tenth_flagged"] == ("flagged" if abs(tenth["z"]) > 3 else "not flagged")
    assert f["ch02_tenth_small_t_max_abs_z"] == round(abs(res["wrong_scores"]["1.1 x true score"][0]["z"]), 1)
    assert f["ch02_asym_t_max"] == 1.0
    assert f["ch02_asym_ratio_t_max"] == round(res["asymmetry"]["d = 2"][-1]["ratio"], 2)
    assert f["ch02_general_max_abs_z"] == round(max(abs(r["z_general"]) for rows in res["wrong_scores"].values()
                                                    for r in rows), 2)


def test_verdict_fails_on_wrong_results(small_results):
    """Each claim fails on results that contradict it."""
    def broken(edit):
        res = copy.deepcopy(small_results)
        edit(res)
        return verdict(res)

    def scaled_loss_gap(res):                         # a Loss-Gap estimator 20% too large
        for r in res["prop41"]:
            r["loss_gap"] *= 1.2
            r["z"] = (r["loss_gap"] - r["fisher"]) / math.hypot(r["loss_gap_se"], r["fisher_se"])
    v = broken(scaled_loss_gap)
    assert not v["all cells agree within z_threshold SE"] and not v["all cells agree within the family-wise bound"]
    v = broken(lambda res: res["two_point"].update(fisher_true=res["two_point"]["fisher_empirical"],
                                                   loss_gap="0.862408740102512"))
    assert not v["two points: the same expectation under P_t differs (by more than 1e-3)"]
    assert not v["two points: hence Loss-Gap == Fisher(P^_t, P_t), to 25 digits by quadrature"]
    v = broken(lambda res: [r.update(ratio=2.0) for rows in res["asymmetry"].values() for r in rows])
    assert not v["smallest t: E under P_t exceeds E under P^_t more than tenfold for every d"]
    v = broken(lambda res: res["wrong_scores"].update({"score of N(0, I)": [dict(r, z_general=0.0)
                                                                            for r in res["prop41"]]}))
    assert not v["score of N(0, I) flagged (some cell beyond z_threshold SE)"]

    def doubled_general_side(res):                    # the general form's right side estimated 2x too large
        for rows in res["wrong_scores"].values():
            for r in rows:
                r["fisher_s"] *= 2
                r["z_general"] = (r["loss_gap"] - r["fisher_s"]) / math.hypot(r["loss_gap_se"], r["fisher_s_se"])
    assert not broken(doubled_general_side)[GENERAL]


GENERAL = "wrong scores: Loss-Gap(s) == E under P^_t of |s^ - s|^2 within the family-wise bound (general form)"


def test_verdicts_fail_on_a_fisher_estimator_scaled_by_two(monkeypatch, small_results):
    """fisher_divergence returning twice its value: the Monte-Carlo claims fail (the two points are exact)."""
    def doubled(*args, **kwargs):
        est = losses.fisher_divergence(*args, **kwargs)
        return losses.MonteCarloEstimate(2 * est.value, 2 * est.stderr, est.num_samples)
    monkeypatch.setattr(experiment, "fisher_divergence", doubled)
    cells = prop41_check(SMALL, device="cpu")
    wrong = {name: prop41_check(dataclasses.replace(SMALL, ts=SMALL.wrong_ts, ds=(SMALL.wrong_d,), models=("mixture",)),
                                score_for=fn, device="cpu") for name, fn in WRONG_SCORES.items()}
    v = verdict(dict(small_results, prop41=cells, wrong_scores=wrong))
    assert not v["all cells agree within z_threshold SE"] and not v["all cells agree within the family-wise bound"]
    assert not v[GENERAL]


def test_asymmetry_verdict_fails_when_both_sides_use_the_same_law(monkeypatch, small_results):
    """fisher_under_true_law computed under P^_t instead of P_t: the ratio is about 1 and the claim fails."""
    monkeypatch.setattr(experiment, "fisher_under_true_law",
                        lambda data, mixture, t, **kw: losses.fisher_divergence(data, mixture.score, t, **kw))
    asym = experiment._asymmetry(SMALL, torch.device("cpu"), False)
    assert all(0.8 < r["ratio"] < 1.25 for rows in asym.values() for r in rows)
    v = verdict(dict(small_results, asymmetry=asym))
    assert not v["smallest t: E under P_t exceeds E under P^_t more than tenfold for every d"]


def test_two_point_verdicts_fail_on_a_wrong_empirical_score(monkeypatch, small_results):
    """The two-point example built with twice the empirical score: the integrand is not zero, and the
    Loss-Gap is no longer the Fisher divergence."""
    diff = sp.diff
    monkeypatch.setattr(sp, "diff", lambda *args, **kwargs: 2 * diff(*args, **kwargs))
    v = verdict(dict(small_results, two_point=experiment._two_point()))
    assert not v["two points: cross-term integrand is exactly zero"]
    assert not v["two points: hence Loss-Gap == Fisher(P^_t, P_t), to 25 digits by quadrature"]
