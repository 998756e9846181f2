import math

import numpy as np
import pytest
import torch

from memsep_lib import loss_gap_bound as lgb
from memsep_lib.mixtures import well_separated_mixture
from memsep_lib.process import alpha, sigma
from memsep_lib.symbolic import isolated_loss_gap_derivation, isolated_loss_gap_numeric


def test_isolated_formula_matches_sympy_and_closed_form():
    der = isolated_loss_gap_derivation()
    import sympy as sp
    assert sp.simplify(der.total - der.closed_form) == 0
    assert der.cross_term == 0
    assert sp.simplify(der.noise_term + der.variance_term - der.total) == 0
    assert der.noise_raw == 1 / der.s ** 2
    for t, lam, d in [(1e-3, 1.0, 7), (0.3, 0.25, 3), (2.0, 4.0, 1)]:
        a2, s2 = alpha(t) ** 2, sigma(t) ** 2
        closed = d / s2 - d / (a2 * lam + s2)                # d/s^2 - tr C_t^-1
        assert lgb.isolated_loss_gap(t, lam, d) == pytest.approx(closed, rel=1e-10)
        assert isolated_loss_gap_numeric(t, lam, d) == pytest.approx(closed, rel=1e-10)
    lams = [0.5, 1.0, 3.0]
    assert lgb.isolated_loss_gap(0.1, lams) == pytest.approx(sum(lgb.isolated_loss_gap(0.1, l, 1) for l in lams))


@pytest.mark.parametrize("lam", [0.05, 0.3, 1.0, 4.0, 20.0])
def test_isolated_formula_is_a_quarter_of_the_bound_on_the_interval(lam):
    """s^2 <= a^2 lambda and s^2 lambda <= 1  =>  LG_iso >= (d s^-2 + tr Sigma) / 4."""
    t_end = lgb.small_t_end(spacing=1e9, lambda_min=lam, lambda_max=lam)
    for t in np.geomspace(1e-5, t_end, 20):
        t = min(float(t), t_end)
        assert lgb.isolated_loss_gap(t, lam, 5) >= 0.25 * lgb.bound_scale(t, 5, 5 * lam) * (1 - 1e-12)


def test_small_t_end_meets_each_condition():
    for spacing, lmin, lmax in [(0.1, 1.0, 1.0), (10.0, 0.04, 0.04), (10.0, 1.0, 9.0)]:
        t = lgb.small_t_end(spacing, lmin, lmax)
        u = sigma(t) / alpha(t)
        assert u <= spacing * (1 + 1e-9) and u <= math.sqrt(lmin) * (1 + 1e-9)
        assert sigma(t) ** 2 * lmax <= 1 + 1e-9
        assert any(math.isclose(u, v, rel_tol=1e-9) for v in (spacing, math.sqrt(lmin))) or \
            math.isclose(sigma(t) ** 2 * lmax, 1.0, rel_tol=1e-9)
    assert lgb.in_small_t_interval([1e-3, 1.0], 0.5) == [True, False]
    with pytest.raises(ValueError, match="spacing"):
        lgb.small_t_end(0.0, 1.0, 1.0)


def test_bound_scale_and_input_errors():
    t = 0.2
    assert lgb.bound_scale(t, 3, 1.5) == pytest.approx(3 / sigma(t) ** 2 + 1.5)
    with pytest.raises(ValueError, match="trace_sigma"):
        lgb.bound_scale(t, 3, -1.0)
    with pytest.raises(ValueError, match="cov_eigenvalues"):
        lgb.isolated_loss_gap(t, [1.0, -1.0])
    with pytest.raises(ValueError, match="cov_eigenvalues"):
        lgb.isolated_loss_gap(t, [1.0, 2.0], d=3)
    with pytest.raises(ValueError, match="t must be"):
        lgb.isolated_loss_gap(0.0, 1.0, 2)


def test_spacing_scale_on_a_lattice():
    n = 50
    data = torch.zeros(n, 2, dtype=torch.float64)
    data[:, 0] = torch.arange(n, dtype=torch.float64) * 0.5          # nearest-neighbour distance 0.5
    rho = lgb.spacing_scale(data, num_queries=20, generator=torch.Generator().manual_seed(0))
    assert rho == pytest.approx(0.5 / (2 * math.sqrt(2 * math.log(n))))
    with pytest.raises(ValueError, match="two points"):
        lgb.spacing_scale(data[:1])


def test_own_posterior_weight_limits(gen):
    data = torch.randn(30, 6, generator=gen, dtype=torch.float64) * 3
    assert lgb.own_posterior_weight(data, 1e-4, num_samples=200, generator=gen) > 0.99
    assert lgb.own_posterior_weight(data, 20.0, num_samples=200, generator=gen) < 0.1


def test_crossover_scale():
    ts = [0.01, 0.1, 1.0]
    u = [sigma(t) / alpha(t) for t in ts]
    c = lgb.crossover_scale(ts, [1.0, 0.5, 0.0])
    assert c == pytest.approx(u[1])
    assert u[0] < lgb.crossover_scale(ts, [0.9, 0.4, 0.0]) < u[1]
    assert lgb.crossover_scale(ts, [0.4, 0.3, 0.2]) is None
    assert lgb.crossover_scale(ts, [1.0, 0.9, 0.8]) is None


def test_loss_gap_over_datasets_matches_isolated_formula_at_small_t():
    """Small t, well-spaced samples: E_D[LG_t] agrees with d/s^2 - tr C_t^-1 (here within 5%)."""
    g = torch.Generator().manual_seed(7)
    d = 12
    mix = well_separated_mixture(3, d, separation=4.0, generator=g, dtype=torch.float32)
    ts = [1e-3, 0.02]
    res = lgb.loss_gap_over_datasets(mix, 200, ts, reps=2, num_samples=512, generator=g, own_weight_samples=64)
    assert len(res["mean"]) == len(res["stderr"]) == len(res["own_weight"]) == 2
    assert res["spacing"] > 0.2
    for t, m in zip(ts, res["mean"]):
        assert m == pytest.approx(lgb.isolated_loss_gap(t, 1.0, d), rel=0.05)
    assert min(res["own_weight"]) > 0.98


def test_configs_per_profile():
    ci, cpu, paper = (lgb.experiment_config(p) for p in ("ci", "cpu", "paper"))
    assert max(paper["n_decay"]["d_values"]) >= 256 and max(paper["n_decay"]["n_values"]) >= 100_000
    assert max(paper["t_curves"]["d_values"]) >= 256
    for part in ("t_curves", "d_sigma", "n_decay"):
        assert ci[part]["reps"] <= cpu[part]["reps"] <= paper[part]["reps"]
        assert ci[part]["num_samples"] <= cpu[part]["num_samples"] <= paper[part]["num_samples"]
    import json
    json.dumps(paper)


def _tiny_config():
    cfg = lgb.experiment_config("ci")
    cfg["t_curves"].update(d_values=[2, 16], n=100, t_values=[1e-4, 1e-2, 1.0], reps=2, num_samples=128,
                           own_weight_samples=32)
    cfg["d_sigma"].update(d_values=[4, 16], std_values=[0.05, 1.0], n=100, reps=2, num_samples=128)
    cfg["n_decay"].update(d_values=[2, 16], n_values=[50, 200, 800], t_values=[1e-4, 1e-2, 0.3, 3.0],
                          reps=2, num_samples=128)
    return cfg


def test_experiment_parts_constant_and_verdict():
    cfg = _tiny_config()
    dev = torch.device("cpu")
    results = {"std": cfg["std"], "t_curves": lgb.t_curves(cfg, device=dev),
               "d_sigma": lgb.d_sigma_dependence(cfg, device=dev), "n_decay": lgb.n_dependence(cfg, device=dev)}
    assert [c["d"] for c in results["t_curves"]["curves"]] == [2, 16]
    assert results["d_sigma"]["fit_d"]["exponent"] == pytest.approx(1.0, abs=0.1)     # LG ~ d / s_t^2
    assert not results["d_sigma"]["by_sigma"][0]["in_interval"]                          # std 0.05: t=0.01 too large
    assert 0.01 in results["n_decay"]["t_values"]
    const = lgb.empirical_constant(results)
    assert const["configs"] >= 5 and 0.125 < const["min_ratio"] <= const["median_ratio"] < 1.2
    results["constant"] = const
    v = lgb.verdict(results)
    assert v["ratio_above_floor_everywhere"] and v["decay_slower_for_largest_d"]
    assert set(v) >= {"configurations_checked", "decay_exponents_nonincreasing_in_d"}
    # A broken gap (e.g. an estimator returning a tenth of the value) must fail the verdict.
    for cur in results["t_curves"]["curves"]:
        cur["ratio"] = [r / 10 for r in cur["ratio"]]
    assert not lgb.verdict({**results, "constant": lgb.empirical_constant(results)})["ratio_above_floor_everywhere"]


def test_explore_is_small_and_consistent():
    ex = lgb.explore(d=6, n=80, K=2, separation=4.0, t=0.01, reps=1, num_samples=64, num_t=4,
                     device=torch.device("cpu"))
    assert 0.01 in ex["t_values"] and len(ex["ratio"]) == len(ex["t_values"])
    assert ex["ratio_at_t"] == pytest.approx(ex["loss_gap_at_t"] / ex["bound_at_t"])
    assert 0.5 < ex["ratio_at_t"] < 1.2
