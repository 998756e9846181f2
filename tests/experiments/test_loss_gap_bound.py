import dataclasses
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from memsep_lib.experiments import loss_gap_bound as ch3
from memsep_lib.experiments.loss_gap_bound import estimators, experiment, theory
from memsep_lib.mixtures import well_separated_mixture
from memsep_lib.process import alpha, sigma
from memsep_lib.results import load_results

RATIO_CLAIM = f"ratio to d s^-2 + tr Sigma > {ch3.RATIO_FLOOR} on every small-t interval (simultaneous 95%)"
UPPER_CLAIM = "E_D[LG]/U <= 1 on every small-t interval (simultaneous 95%)"
C_CLAIM = f"c > {ch3.C_FLOOR} (lower end of its simultaneous 95% interval)"
VIA_CLAIM = "J(P^_t) - J(P_t) agrees with loss_gap on the small-t intervals"


# ---- theory ---------------------------------------------------------------------------------

def test_isolated_loss_gap_sums_over_eigenvalues_and_ratio():
    lams = [0.5, 1.0, 3.0]
    assert theory.isolated_loss_gap(0.1, lams) == pytest.approx(sum(theory.isolated_loss_gap(0.1, l, 1) for l in lams))
    ts = [1e-3, 0.1, 2.0]
    assert theory.isolated_ratio(ts, 4, 0.5) == pytest.approx(
        [theory.isolated_loss_gap(t, 0.5, 4) / theory.bound_scale(t, 4, 2.0) for t in ts])


@pytest.mark.parametrize("lam", [0.05, 0.3, 1.0, 4.0, 20.0])
def test_isolated_formula_is_a_quarter_of_the_bound_on_the_interval(lam):
    """s^2 <= a^2 lambda and s^2 lambda <= 1  =>  LG_iso >= (d s^-2 + tr Sigma) / 4."""
    t_end = theory.small_t_end(spacing=1e9, lambda_min=lam, lambda_max=lam)
    for t in np.geomspace(1e-5, t_end, 20):
        t = min(float(t), t_end)
        assert theory.isolated_loss_gap(t, lam, 5) >= 0.25 * theory.bound_scale(t, 5, 5 * lam) * (1 - 1e-12)


def test_small_t_end_meets_each_condition():
    for spacing, lmin, lmax in [(0.1, 1.0, 1.0), (10.0, 0.04, 0.04), (10.0, 1.0, 9.0)]:
        t = theory.small_t_end(spacing, lmin, lmax)
        u = sigma(t) / alpha(t)
        assert u <= spacing * (1 + 1e-9) and u <= math.sqrt(lmin) * (1 + 1e-9)
        assert sigma(t) ** 2 * lmax <= 1 + 1e-9
        assert any(math.isclose(u, v, rel_tol=1e-9) for v in (spacing, math.sqrt(lmin))) or \
            math.isclose(sigma(t) ** 2 * lmax, 1.0, rel_tol=1e-9)
    assert theory.in_small_t_interval([1e-3, 1.0], 0.5) == [True, False]
    with pytest.raises(ValueError, match="spacing"):
        theory.small_t_end(0.0, 1.0, 1.0)


def test_bound_scale_and_input_errors():
    t = 0.2
    assert theory.bound_scale(t, 3, 1.5) == pytest.approx(3 / sigma(t) ** 2 + 1.5)
    with pytest.raises(ValueError, match="trace_sigma"):
        theory.bound_scale(t, 3, -1.0)
    with pytest.raises(ValueError, match="cov_eigenvalues"):
        theory.isolated_loss_gap(t, [1.0, -1.0])
    with pytest.raises(ValueError, match="cov_eigenvalues"):
        theory.isolated_loss_gap(t, [1.0, 2.0], d=3)
    with pytest.raises(ValueError, match="t must be"):
        theory.isolated_loss_gap(0.0, 1.0, 2)


def test_predicted_crossover_exponent():
    n = [100, 10_000]
    assert theory.predicted_crossover_exponent(4, n) == pytest.approx(-(0.25 + 1 / (2 * math.log(1000))))
    with pytest.raises(ValueError, match="n_values"):
        theory.predicted_crossover_exponent(4, [1])


# ---- estimators -----------------------------------------------------------------------------

def test_spacing_scale_on_a_lattice():
    n = 50
    data = torch.zeros(n, 2, dtype=torch.float64)
    data[:, 0] = torch.arange(n, dtype=torch.float64) * 0.5          # nearest-neighbour distance 0.5
    rho = estimators.spacing_scale(data, num_queries=20, generator=torch.Generator().manual_seed(0))
    assert rho == pytest.approx(0.5 / (2 * math.sqrt(2 * math.log(n))))
    with pytest.raises(ValueError, match="two points"):
        estimators.spacing_scale(data[:1])


def test_own_posterior_weight_limits(gen):
    data = torch.randn(30, 6, generator=gen, dtype=torch.float64) * 3
    assert estimators.own_posterior_weight(data, 1e-4, num_samples=200, generator=gen) > 0.99
    assert estimators.own_posterior_weight(data, 20.0, num_samples=200, generator=gen) < 0.1


def test_crossover_scale():
    ts = [0.01, 0.1, 1.0]
    u = [sigma(t) / alpha(t) for t in ts]
    assert estimators.crossover_scale(ts, [1.0, 0.5, 0.0]) == pytest.approx(u[1])
    assert u[0] < estimators.crossover_scale(ts, [0.9, 0.4, 0.0]) < u[1]
    assert estimators.crossover_scale(ts, [0.4, 0.3, 0.2]) is None
    assert estimators.crossover_scale(ts, [1.0, 0.9, 0.8]) is None


def test_loss_gap_over_datasets_matches_isolated_formula_at_small_t():
    """Small t, well-spaced samples: E_D[LG_t] agrees with d/s^2 - tr C_t^-1 (here within 5%)."""
    g = torch.Generator().manual_seed(7)
    d = 12
    mix = well_separated_mixture(3, d, separation=4.0, generator=g, dtype=torch.float32)
    ts = [1e-3, 0.02]
    res = estimators.loss_gap_over_datasets(mix, 200, ts, reps=2, num_samples=512, generator=g,
                                            own_weight_samples=64)
    assert len(res["mean"]) == len(res["stderr"]) == len(res["own_weight"]) == 2
    assert res["spacing"] > 0.2
    for t, m in zip(ts, res["mean"]):
        assert m == pytest.approx(theory.isolated_loss_gap(t, 1.0, d), rel=0.05)
    assert min(res["own_weight"]) > 0.98


# ---- configs, run, verdict, facts ------------------------------------------------------------

def test_configs_per_profile():
    assert set(ch3.CONFIGS) == {"ci", "cpu", "paper"}
    assert {type(c) for c in ch3.CONFIGS.values()} == {ch3.LossGapBoundConfig}
    ci, cpu, paper = (ch3.CONFIGS[p] for p in ("ci", "cpu", "paper"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ci.curves_n = 1
    assert max(paper.decay_d_values) >= 256 and max(paper.decay_n_values) >= 100_000
    assert max(paper.curves_d_values) >= 256
    for part in ("curves", "ds", "decay"):
        assert getattr(ci, f"{part}_reps") <= getattr(cpu, f"{part}_reps") <= getattr(paper, f"{part}_reps")
        assert (getattr(ci, f"{part}_num_samples") <= getattr(cpu, f"{part}_num_samples")
                <= getattr(paper, f"{part}_num_samples"))
    assert ci.curves_t_values == experiment.log_grid(1e-4, 3.0, 9) and ci.curves_t_values[-1] == 3.0
    json.dumps(dataclasses.asdict(paper))


def _tiny_config():
    return dataclasses.replace(
        ch3.CONFIGS["ci"], curves_d_values=(2, 16), curves_n=100, curves_t_values=(1e-4, 1e-2, 1.0), curves_reps=3,
        curves_num_samples=128, own_weight_samples=32, curves_fisher_samples=128, fisher_samples=512,
        ds_d_values=(4, 16), std_values=(0.05, 1.0), ds_n=100, ds_reps=3, ds_num_samples=128,
        decay_d_values=(2, 16), decay_n_values=(50, 200, 800), decay_t_values=(1e-4, 1e-2, 0.3, 3.0),
        decay_reps=3, decay_num_samples=128)


@pytest.fixture(scope="module")
def tiny_results():
    return ch3.run(_tiny_config(), device=torch.device("cpu"))


def test_two_sided_constant_and_intervals():
    from memsep_lib.experiments.loss_gap_bound import checks
    pts = [(0.9, 0.01, {"k": 0}), (1.0, 0.001, {"k": 1}), (1.02, 0.01, {"k": 2})]
    out = checks.two_sided_constant(pts, reps=8)
    q = checks.simultaneous_quantile(3, 8)
    assert out["c"] == 0.9 and out["where"] == {"k": 0} and out["quantile"] == pytest.approx(q)
    assert out["c_low"] == pytest.approx(min(r - q * e for r, e, _ in pts))
    assert out["c_high"] == pytest.approx(0.9 + q * 0.01)
    assert out["max_excess_se"] == pytest.approx(2.0)
    assert checks.two_sided_constant([], 8)["c"] is None
    fit = checks.with_interval({"exponent": -0.5, "stderr": 0.1, "num_points": 6})
    assert fit["ci95"] == pytest.approx([-0.5 - 0.2776, -0.5 + 0.2776], abs=1e-3)
    assert checks.with_interval({"exponent": -0.5, "stderr": math.inf, "num_points": 2})["ci95"][0] == -math.inf


def test_upper_bound_is_d_over_s2_minus_the_fisher_information():
    g = torch.Generator().manual_seed(3)
    mix = well_separated_mixture(2, 8, separation=4.0, generator=g, dtype=torch.float32)
    up = estimators.upper_bound(mix, [1e-3, 0.1], num_samples=4096, generator=g)
    for t, u, j in zip([1e-3, 0.1], up["value"], up["j_true"]):
        assert u == pytest.approx(8 / sigma(t) ** 2 - j)
        assert u == pytest.approx(theory.isolated_loss_gap(t, 1.0, 8), rel=0.02)     # separated: J ~ tr C_t^-1


def test_experiment_parts_constant_and_verdict(tiny_results):
    results = json.loads(json.dumps(tiny_results))                    # strict JSON, as stored
    assert [c["d"] for c in results["t_curves"]["curves"]] == [2, 16]
    assert results["d_sigma"]["fit_d"]["exponent"] == pytest.approx(1.0, abs=0.1)     # LG ~ d / s_t^2
    assert not results["d_sigma"]["by_sigma"][0]["in_interval"]                          # std 0.05: t=0.01 too large
    assert 0.01 in results["n_decay"]["t_values"]
    const = results["constant"]
    assert const == experiment.empirical_constant(results)
    assert const["configs"] >= 5 and const["c_low"] <= const["c"] <= const["c_high"]
    assert 0.5 < const["c"] <= const["median_ratio"] < 1.1 and const["max_ratio"] < 1.15
    assert "ci95" in results["n_decay"]["per_d"][0]["fit_crossover"]
    v = ch3.verdict(results)
    assert all(isinstance(h, bool) for h in v.values())
    assert v[UPPER_CLAIM] and v[VIA_CLAIM]
    # Twice the gap breaks the upper side; a tenth breaks the lower side.
    for factor, claim in ((2.0, UPPER_CLAIM), (0.1, C_CLAIM)):
        broken = json.loads(json.dumps(results))
        for cur in broken["t_curves"]["curves"]:
            cur["ratio_upper"] = [r * factor for r in cur["ratio_upper"]]
            cur["ratio_upper_stderr"] = [e * factor for e in cur["ratio_upper_stderr"]]
        broken["constant"] = experiment.empirical_constant(broken)
        assert not ch3.verdict(broken)[claim]


def test_verdict_fails_for_a_loss_gap_estimator_scaled_by_two(monkeypatch):
    """An estimator returning twice the Loss-Gap puts the ratio to U above 1 and off the third estimator."""
    true_loss_gap = estimators.loss_gap

    def doubled(*a, **k):
        est = true_loss_gap(*a, **k)
        return SimpleNamespace(value=2 * est.value, stderr=2 * est.stderr)

    monkeypatch.setattr(estimators, "loss_gap", doubled)
    config = dataclasses.replace(_tiny_config(), curves_d_values=(16,), ds_d_values=(16, 32), std_values=(1.0, 2.0),
                                 decay_d_values=(16,), decay_n_values=(50, 200))
    v = ch3.verdict(ch3.run(config))
    assert not v[UPPER_CLAIM] and not v[VIA_CLAIM]


def test_run_resumes_finished_parts_from_workdir(tmp_path, tiny_results, monkeypatch):
    config = _tiny_config()
    first = ch3.run(config, workdir=tmp_path)
    assert json.loads(json.dumps(first)) == json.loads(json.dumps(tiny_results))
    monkeypatch.setattr(estimators, "loss_gap", None)                # a rerun computes nothing
    assert ch3.run(config, workdir=tmp_path) == first


def test_facts_are_formatted_strings(tiny_results):
    f = ch3.facts(json.loads(json.dumps(tiny_results)))
    assert all(isinstance(v, str) for v in f.values())
    assert f["lgb_floor"] == "0.125" and f["lgb_c_floor"] == "0.5" and f["lgb_t_small_d"] == "2"
    assert f["lgb_n_d_hi"] == "16" and f["lgb_reps"] == "3"
    assert f["lgb_c_configs"] == str(tiny_results["constant"]["configs"])


def test_committed_cpu_results_show_the_same_numbers():
    results = load_results(ch3.NAME, "cpu")["results"]
    v = ch3.verdict(results)
    assert all(v.values()), v
    assert results["t_curves"]["reps"] >= 8 and results["n_decay"]["reps"] >= 8
    f = ch3.facts(results)
    assert f["lgb_c_configs"] == str(results["constant"]["configs"])
    const = results["constant"]
    assert ch3.C_FLOOR < const["c_low"] <= const["c"] <= const["c_high"] and const["max_excess_se"] <= const["quantile"]
    assert f["lgb_c"] == f"{const['c']:.3f}" and f["lgb_c_points"] == str(const["points"])


def test_explore_is_small_and_consistent():
    ex = ch3.explore(d=6, n=80, K=2, separation=4.0, t=0.01, reps=1, num_samples=64, num_t=4)
    assert 0.01 in ex["t_values"] and len(ex["ratio"]) == len(ex["t_values"])
    assert ex["ratio_at_t"] == pytest.approx(ex["loss_gap_at_t"] / ex["bound_at_t"])
    assert 0.5 < ex["ratio_at_t"] < 1.2
    assert len(ex["t_fine"]) == len(ex["isolated"]) == 200 and ex["isolated"][0] == pytest.approx(1.0, abs=0.01)
