"""Chapter 5's experiment: the Lipschitz-vs-time search, the trained networks, CONFIGS, run, verdict and facts."""

import copy
import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch

from memsep_lib.experiments.hessian_lipschitz import experiment as ex
from memsep_lib.experiments.hessian_lipschitz.theory import pair_midpoints
from memsep_lib.fits import power_law_fit
from memsep_lib.mixtures import GaussianMixture
from memsep_lib.nets import ScoreMLP
from memsep_lib.process import sigma

D = torch.float64
NOTEBOOK = Path(__file__).resolve().parents[2] / "book" / "ch05_hessian_lipschitz.ipynb"


@pytest.fixture
def mixture():
    means = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], dtype=D)
    return GaussianMixture(means, 0.25 * torch.eye(2, dtype=D).expand(4, 2, 2).clone())


@pytest.fixture
def data(mixture):
    return mixture.sample(12, torch.Generator().manual_seed(0))


def test_sweep_shows_the_s_minus_4_law(data, mixture, gen):
    times = [1e-6, 1e-5, 1e-4, 0.5]
    sw = ex.lipschitz_vs_time(data, times, true_hessian=mixture.hessian,
                              true_starts=torch.cat([mixture.means, pair_midpoints(mixture.means, 1e-12)]),
                              num_restarts=4, steps=15, generator=gen)
    assert sw.empirical_max.shape == (4,)
    assert (sw.empirical_max >= sw.closest_midpoint * (1 - 1e-12)).all()
    p = power_law_fit(sw.s[:3], sw.empirical_max[:3])["exponent"]
    assert abs(p + 4) < 0.05
    # closest-pair midpoint / (s^-4 Dmin^2) -> a_t^2 / 4
    assert (sw.closest_midpoint[0] / sw.reference[0]).item() == pytest.approx(0.25, rel=1e-2)
    # the true score stays bounded (its sup at t -> 0 is that of log p_0: 12 for this mixture)
    assert (sw.true_max < 13).all() and sw.true_max[0].item() == pytest.approx(12, rel=1e-3)


def test_continuation_only_adds_starts(data):
    """Carrying the best points from larger t adds starts, so it can only raise what is found."""
    times = [1e-5, 1e-3, 0.1]
    plain = ex.lipschitz_vs_time(data, times, num_restarts=4, steps=10, num_carried=0,
                                 generator=torch.Generator().manual_seed(5))
    carried = ex.lipschitz_vs_time(data, times, num_restarts=4, steps=10, num_carried=8,
                                   generator=torch.Generator().manual_seed(5))
    assert (carried.empirical_max >= plain.empirical_max * (1 - 1e-12)).all()
    assert torch.equal(carried.closest_midpoint, plain.closest_midpoint)
    assert carried.times.tolist() == times                        # results in the order given
    assert torch.isnan(plain.true_max).all()                      # no true Hessian given
    with pytest.raises(ValueError, match="num_carried"):
        ex.lipschitz_vs_time(data, times, num_carried=-1)
    with pytest.raises(ValueError, match="true_starts is required"):
        ex.lipschitz_vs_time(data, [0.1], true_hessian=lambda x, t: x)
    with pytest.raises(ValueError, match="at least one time"):
        ex.lipschitz_vs_time(data, [])


def test_evaluate_score_net_and_score_mse():
    means = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=D)
    gm = GaussianMixture(means, 0.1 * torch.eye(2, dtype=D).expand(2, 2, 2).clone())
    data = gm.sample(8, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    net = ScoreMLP(2, width=16, depth=2, time_embedding_dim=8)
    res = ex.evaluate_score_net(net, data, gm.score, [0.05, 0.5], num_points=64,
                                generator=torch.Generator().manual_seed(3))
    assert res["times"] == [0.05, 0.5]
    assert all(0 < lip <= b for lip, b in zip(res["lipschitz"], res["lipschitz_bound"]))
    assert all(v > 0 for v in res["mse_empirical"] + res["mse_true"] + res["mse_empirical_true"])
    x = torch.randn(10, 2, dtype=D)
    assert ex.score_mse(gm.score, gm.score, x, 0.1) == 0.0
    assert ex.score_mse(lambda y, t: y, lambda y, t: torch.zeros_like(y), x, 0.1) == pytest.approx(
        (x ** 2).sum(1).mean().item())
    with pytest.raises(TypeError, match="ScoreMLP"):
        ex.evaluate_score_net(gm, data, gm.score, [0.1])


def test_configs():
    assert set(ex.CONFIGS) == {"ci", "cpu", "paper"}
    assert {type(c) for c in ex.CONFIGS.values()} == {ex.HessianLipschitzConfig}
    ci = ex.CONFIGS["ci"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ci.n = 3
    # the sizes the chapter's ci numbers were made with
    assert (ci.n, ci.sweep_times, ci.restarts, ci.search_steps, ci.net_steps, ci.eval_points) == (16, 13, 32, 40, 2000, 512)
    assert ci.weight_decays == (0.0, 0.5) and ci.net_times == (0.003, 0.01, 0.03, 0.1, 0.3)
    assert all(ex.CONFIGS["cpu"].net_steps <= c.net_steps for c in [ex.CONFIGS["paper"]])
    assert set(ex.COST) == {"ci", "cpu", "paper"}


TINY = ex.HessianLipschitzConfig(check_times=(1e-3, 0.5), sweep_times=4, true_starts=4, restarts=2, search_steps=3,
                                 net_width=8, net_depth=1, net_steps=5, batch_size=16, eval_points=8,
                                 net_times=(0.01, 0.3))


def test_a_tiny_run_is_json_and_resumes_from_its_workdir(tmp_path):
    results = ex.run(TINY, workdir=tmp_path)
    assert json.loads(json.dumps(results, allow_nan=False)) == results
    assert list(results["networks"]) == ["weight decay 0", "weight decay 0.5"]
    assert len(results["sweep"]["times"]) == 4 and results["net_times"] == [0.01, 0.3]
    v = ex.verdict(results)
    assert all(v[k] for k in v if k.startswith(("autograd", "mixture Hessian", "Gaussian")))
    assert (tmp_path / "stages.json").exists()
    assert ex.run(TINY, workdir=tmp_path) == results           # the networks come back from the stage cache
    assert ex.run(TINY) == results                              # ... and equal a run without one
    with pytest.raises(ValueError, match="weight_decays"):
        ex.run(dataclasses.replace(TINY, weight_decays=(0.5,)))


def _good_results():
    """Results for which every claim holds (exact s^-4 laws, nets below their bounds and the empirical score)."""
    times = [1e-6, 1e-5, 1e-4, 1e-2, 1.0]
    s = [sigma(t) for t in times]
    ref = [0.01 / x ** 4 for x in s]
    net = lambda lip, bound, mse_true, product: {
        "times": [0.003, 0.3], "lipschitz": lip, "lipschitz_bound": bound, "mse_empirical": [500.0, 0.05],
        "mse_true": mse_true, "mse_empirical_true": [600.0, 1.0], "final_loss": 0.7, "spectral_norm_product": product,
        "num_parameters": 100}
    return {
        "n": 16, "d_min": 0.1, "closest_pair": [0, 1],
        "errors": dict.fromkeys(("empirical", "Gaussian", "mixture", "mixture covariance identity",
                                 "Gaussian norm formula"), 1e-14),
        "sweep": {"times": times, "s": s, "closest_midpoint": [0.25 * r for r in ref],
                  "empirical_max": [200 * r for r in ref], "reference": ref, "true_max": [12.0] * 5},
        "gaussian": {"lipschitz": [1.0, 5.0], "bound": 20.0},
        "net_width": 8, "net_depth": 1, "net_steps": 5, "net_times": [0.003, 0.3],
        "networks": {"weight decay 0": net([100.0, 5.0], [1000.0, 100.0], [50.0, 1.0], 20.0),
                     "weight decay 0.5": net([50.0, 5.5], [300.0, 30.0], [40.0, 1.0], 5.0)},
        "net_sweep": {"empirical_max": [1e5, 10.0], "true_max": [10.0, 5.0]},
    }


def test_verdict_holds_on_consistent_results_and_facts_cover_the_prose():
    good = _good_results()
    assert all(ex.verdict(good).values())
    facts = ex.facts(good)
    assert facts["ch05_slope_max"] == -4.0 and facts["ch05_ratio_mid"] == 0.25 and facts["ch05_ratio_max"] == 200
    assert facts["ch05_steep_times"] == "0.003" and facts["ch05_wd_factor"] == 4.0 and facts["ch05_emp_over_net"] == 1000
    regimes = ex.network_regimes(good)
    assert regimes["steep"] == [0.003] and regimes["closer_to_empirical"]["weight decay 0"] == [0.3]
    assert ex.network_table(good).count("\n| weight decay") == 4
    markdown = "".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"]
                       if c["cell_type"] == "markdown")
    glued = {m.split(":")[0] for m in re.findall(r"\{glue:text\}`([^`]+)`", markdown)}
    assert glued - set(facts) == {"ch05_label"}                  # the label comes from stored_or_live


def _scale(key, factor_of_s):
    def corrupt(r):
        sw = r["sweep"]
        sw[key] = [v * factor_of_s(s) for v, s in zip(sw[key], sw["s"])]
    return corrupt


def _set(path, value):
    def corrupt(r):
        *head, last = path
        for k in head:
            r = r[k]
        r[last] = value
    return corrupt


@pytest.mark.parametrize("corrupt,claim", [
    (_set(("errors", "empirical"), 1e-6), "autograd Jacobian == analytic Hessian: empirical"),
    (_set(("errors", "mixture covariance identity"), 1e-6), "mixture Hessian == -I/s^2 + (a^2/s^4) Cov (err < 1e-10 of 1/s^2)"),
    (_scale("empirical_max", lambda s: s ** 2), "fitted exponent (largest found, t <= 1e-4) within 0.05 of -4"),
    (_scale("empirical_max", lambda s: s ** 2), "fitted exponent of empirical / true (t <= 1e-4) within 0.05 of -4"),
    (_scale("closest_midpoint", lambda s: s), "fitted exponent (closest midpoint, t <= 1e-4) within 0.05 of -4"),
    (_scale("closest_midpoint", lambda s: 2.0), "closest-midpoint constant / (s^-4 Dmin^2) -> 1/4 (within 1%)"),
    (_scale("closest_midpoint", lambda s: 1000.0), "largest found >= closest midpoint at every t"),
    (_scale("true_max", lambda s: 2.0), "true score constant bounded by 13 at every t (sup of |Hessian log p_0| = 12)"),
    (_set(("gaussian", "bound"), 1.0), "Gaussian |Hessian|_2 <= max(1, 1/lambda_min) at every t"),
    (_set(("networks", "weight decay 0", "lipschitz"), [2000.0, 5.0]), "measured Lipschitz <= spectral-norm bound (both nets, all t)"),
    (_set(("networks", "weight decay 0.5", "lipschitz_bound"), [900.0, 90.0]), "weight decay lowers the spectral-norm product by > 2x"),
    (_set(("net_sweep", "empirical_max"), [1e5, 5.2]), "both nets less steep than the empirical score at every t"),
    (_set(("networks", "weight decay 0.5", "lipschitz"), [150.0, 5.5]), "in the small-t regime: weight decay lowers the measured constant"),
])
def test_verdict_fails_on_wrong_results(corrupt, claim):
    bad = copy.deepcopy(_good_results())
    corrupt(bad)
    v = ex.verdict(bad)
    assert claim in v and not v[claim]
