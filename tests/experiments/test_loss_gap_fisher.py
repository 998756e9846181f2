import math

import pytest
import torch

import memsep_lib.losses as losses
from memsep_lib import process
from memsep_lib.config import PROFILES
from memsep_lib.prop41 import (MODELS, Prop41Config, Prop41Result, Prop41Row, bonferroni_z, fisher_asymmetry,
                               fisher_under_true_law, make_model, prop41_check, prop41_config)
from memsep_lib.scores import empirical_score

SMALL = Prop41Config(ts=(1e-2, 0.3), ds=(2, 4), n=32, num_samples=2000)


@pytest.fixture(scope="module")
def small_result():
    return prop41_check(SMALL, device="cpu")


def test_check_agrees_for_the_true_score(small_result):
    assert small_result.num_cells == SMALL.num_cells == 8
    assert small_result.all_agree and small_result.all_agree_family
    for r in small_result.rows:
        assert r.loss_gap > 0 and r.fisher > 0 and r.loss_gap_se > 0 and r.fisher_se > 0
        assert r.z == pytest.approx((r.loss_gap - r.fisher) / math.hypot(r.loss_gap_se, r.fisher_se))
    assert "all agree within 3 SE: True" in small_result.verdict()


def test_check_is_reproducible(small_result):
    again = prop41_check(SMALL, device="cpu")
    assert again.rows == small_result.rows


def test_wrong_score_is_flagged():
    """Loss-Gap of the score of N(0, I) instead of the mixture's: the check must report disagreement."""
    res = prop41_check(SMALL, score_for=lambda mixture: (lambda x, t: -x), device="cpu")
    assert not res.all_agree and not res.all_agree_family
    assert res.num_beyond >= 2
    assert "all agree within 3 SE: False" in res.verdict()


def test_wrong_empirical_score_in_the_library_is_flagged(monkeypatch):
    """If memsep_lib.losses used a wrong empirical score (the one of time 2t), the check must fail."""
    monkeypatch.setattr(losses, "empirical_score", lambda x, t, data: empirical_score(x, 2 * t, data))
    res = prop41_check(SMALL, device="cpu")
    assert not res.all_agree_family


def test_wrong_dsm_target_in_the_library_is_flagged(monkeypatch):
    """A classic bug: conditional score -z/s_t^2 instead of -z/s_t inside loss_gap."""
    monkeypatch.setattr(losses, "sigma", lambda t: process.sigma(t) ** 2)
    res = prop41_check(SMALL, device="cpu")
    assert not res.all_agree_family


def _rows(zs):
    return tuple(Prop41Row("m", 2, 0.1, 1.0, 0.1, 1.0, 0.1, z) for z in zs)


def test_result_counts_and_bonferroni():
    res = Prop41Result(_rows([0.5, -3.5, 2.9, 3.2]), 3.0, 0.01)
    assert res.num_cells == 4 and res.num_beyond == 2 and not res.all_agree
    assert res.max_abs_z == 3.5
    assert res.expected_beyond == pytest.approx(4 * 0.0026998, rel=1e-3)
    assert res.family_z == pytest.approx(bonferroni_z(4, 0.01)) and 3.0 < res.family_z < 3.5
    assert not res.all_agree_family
    assert "**!**" in res.to_markdown() and res.to_markdown().count("\n") == 5
    ok = Prop41Result(_rows([0.5, -2.5]), 3.0, 0.01)   # family bound for 2 cells: 2.81
    assert ok.all_agree and ok.all_agree_family and ok.num_beyond == 0


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


def test_config_per_profile_and_validation():
    for p in PROFILES:
        cfg = prop41_config(p)
        assert min(cfg.ts) <= 1e-3 and max(cfg.ts) >= 1.0 and min(cfg.ds) <= 2 and max(cfg.ds) >= 64
    assert max(prop41_config("cpu").ds) > 64 and max(prop41_config("paper").ds) > 64
    assert prop41_config("ci").num_cells == 56
    with pytest.raises(ValueError, match="ts"):
        Prop41Config(ts=(0.0, 1.0))
    with pytest.raises(ValueError, match="models"):
        Prop41Config(models=("cauchy",))
    with pytest.raises(TypeError, match="config"):
        prop41_check({"ts": (1.0,)})


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
