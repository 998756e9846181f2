import copy
import dataclasses

import pytest
import torch

import memsep_lib.experiments.dsm_minimiser.experiment as dm
from memsep_lib.config import PROFILES
from memsep_lib.mixtures import GaussianMixture, well_separated_mixture
from memsep_lib.process import sigma
from memsep_lib.scores import empirical_log_prob, empirical_score

EPS = (-1.0, -0.25, 0.25, 1.0)
SMALL = dataclasses.replace(dm.CONFIGS["ci"], pert_n=12, pert_noise=32, pert_fields=2, pert_ts=(1e-2, 1.0),
                            grad_n=16, grad_ds=(1, 3), grad_queries=32, grad_ts=(1e-3, 1.0))


@pytest.fixture
def problem():
    g = torch.Generator().manual_seed(0)
    data = well_separated_mixture(3, 2, generator=g).sample(24, g)
    fields = dm.constant_fields(2, 2, generator=g) + dm.smooth_random_fields(2, 2, generator=g)
    return data, fields


@pytest.fixture(scope="module")
def small_results():
    return dm.run(SMALL)


@pytest.mark.parametrize("t", [1e-3, 0.1, 1.0])
def test_every_perturbation_raises_the_loss(problem, t):
    data, fields = problem
    st = dm.perturbation_study(data, t, fields, EPS, num_noise=128, generator=torch.Generator().manual_seed(1))
    # four fields and the score direction v = s_t s
    assert torch.tensor(st["increase"]).shape == (5, 4) and torch.tensor(st["quadratic"]).shape == (5, 4)
    assert st["score_direction"] and dm.all_increase(st)
    assert dm.max_relative_deviation(st) < 0.5
    assert (torch.tensor(st["increase_se"]) > 0).all() and st["base_loss"] > 0


@pytest.mark.parametrize("t", [1e-3, 1e-2, 0.1, 1.0])
def test_a_wrong_empirical_score_is_not_the_minimiser(problem, monkeypatch, t):
    """If the library's empirical score were wrong (here: the one of time 2t), both checks must show it, at every t."""
    data, fields = problem
    ok = dm.perturbation_study(data, t, fields, EPS, num_noise=128, generator=torch.Generator().manual_seed(1))
    assert max(abs(z) for z in dm.first_order_z(ok)) < 3.5 and dm.all_increase(ok)
    monkeypatch.setattr(dm, "empirical_score", lambda x, t, d: empirical_score(x, 2 * t, d))
    st = dm.perturbation_study(data, t, fields, EPS, num_noise=128, generator=torch.Generator().manual_seed(1))
    assert max(abs(z) for z in dm.first_order_z(st)) > 10
    assert not dm.all_increase(st)                      # some perturbation lowers the loss of the wrong score
    assert max(map(abs, dm.tilt(st))) > 2 * min(map(abs, EPS))


def test_generic_fields_alone_miss_the_wrong_score_at_small_t(problem):
    """The issue-17 finding: constant and tanh fields tilt the parabola by O(s_t) only, so at small t no eps
    of the study lowers the loss of the wrong score; the score direction v = s_t s (tilt about -2) does."""
    data, fields = problem
    wrong = dm.time_scaled_score(data, 2.0)
    kwargs = dict(num_noise=128, score_fn=wrong)
    generic = dm.perturbation_study(data, 1e-2, fields, EPS, score_direction=False,
                                    generator=torch.Generator().manual_seed(1), **kwargs)
    both = dm.perturbation_study(data, 1e-2, fields, EPS, generator=torch.Generator().manual_seed(1), **kwargs)
    assert dm.all_increase(generic) and max(map(abs, dm.tilt(generic))) < min(map(abs, EPS))
    assert both["increase"][:-1] == generic["increase"] and dm.all_increase(both, generic_only=True)
    assert not dm.all_increase(both) and dm.tilt(both)[-1] == pytest.approx(-2, abs=0.2)


def test_tilt_and_resolution():
    st = {"eps": [-0.5, 0.5], "first_order": [0.3, 1e-20], "first_order_se": [0.1, 1e-22],
          "quadratic": [[2.0, 2.0], [4.0, 4.0]]}
    assert dm.tilt(st) == pytest.approx([0.0375, 6.25e-22])
    assert dm.first_order_z(st) == pytest.approx([3.0, 100.0]) and dm.resolved(st, 1e-12) == [True, False]
    st["first_order_se"] = [0.0, 0.0]
    assert dm.first_order_z(st) == [float("inf"), float("inf")]
    st["first_order"] = [0.0, 0.0]
    assert dm.first_order_z(st) == [0.0, 0.0]


def test_increase_is_quadratic_plus_first_order_term(problem):
    data, fields = problem
    st = dm.perturbation_study(data, 0.3, fields, EPS, num_noise=64, generator=torch.Generator().manual_seed(6))
    eps = torch.tensor(EPS, dtype=torch.float64)
    increase, quadratic, first_order = (torch.tensor(st[k], dtype=torch.float64)
                                        for k in ("increase", "quadratic", "first_order"))
    assert torch.allclose(increase, quadratic + eps[None] * first_order[:, None], rtol=1e-9, atol=1e-9)
    assert (torch.tensor(st["first_order_se"]) > 0).all()


def test_quadratic_term_is_exact_for_constant_fields(problem):
    data, _ = problem
    u = dm.constant_fields(2, 1, generator=torch.Generator().manual_seed(5))
    st = dm.perturbation_study(data, 0.05, u, (0.5,), num_noise=64, generator=torch.Generator().manual_seed(2))
    assert st["quadratic"][0][0] == pytest.approx(0.25 / sigma(0.05) ** 2)


def test_fields():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g, dtype=torch.float64)
    for v in dm.constant_fields(3, 4, generator=g):
        out = v(x)
        assert out.shape == x.shape and torch.allclose(out.norm(dim=1), torch.ones(50, dtype=torch.float64))
    for v in dm.smooth_random_fields(3, 4, generator=g):
        out = v(x)
        assert out.shape == x.shape and out.abs().max() <= 1 and out.std(0).min() > 0.01
    with pytest.raises(ValueError, match="num"):
        dm.constant_fields(3, 0)


def test_autograd_score_reproduces_exact_scores():
    g = torch.Generator().manual_seed(4)
    data = torch.randn(40, 3, generator=g, dtype=torch.float64)
    x = torch.randn(30, 3, generator=g, dtype=torch.float64)
    for t in (1e-3, 0.1, 2.0):
        auto = dm.autograd_score(lambda xx, tt: empirical_log_prob(xx, tt, data), x, t)
        assert torch.allclose(auto, empirical_score(x, t, data), rtol=1e-9, atol=1e-9)
    gm = GaussianMixture(torch.zeros(1, 3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)[None])
    assert torch.allclose(dm.autograd_score(gm.log_prob, x, 0.3), -x)     # P_t = N(0, I): score -x
    assert not x.requires_grad


def test_bad_inputs(problem):
    data, fields = problem
    with pytest.raises(ValueError, match="eps"):
        dm.perturbation_study(data, 0.1, fields, (0.0,), num_noise=4)
    with pytest.raises(TypeError, match="fields"):
        dm.perturbation_study(data, 0.1, ["v"], EPS, num_noise=4)
    with pytest.raises(ValueError, match="t must be"):
        dm.perturbation_study(data, -1.0, fields, EPS, num_noise=4)
    with pytest.raises(TypeError, match="log_prob_fn"):
        dm.autograd_score(3, data, 0.1)
    with pytest.raises(ValueError, match="shape"):
        dm.autograd_score(lambda x, t: x, data, 0.1)
    with pytest.raises(TypeError, match="DSMMinimiserConfig"):
        dm.run({"pert_n": 3})
    with pytest.raises(TypeError, match="score_fn"):
        dm.perturbation_study(data, 0.1, fields, EPS, num_noise=4, score_fn="s")
    with pytest.raises(ValueError, match="score_fn"):
        dm.perturbation_study(data, 0.1, fields, EPS, num_noise=4, score_fn=lambda x, t: x[:, :1])
    with pytest.raises(TypeError, match="score_direction"):
        dm.perturbation_study(data, 0.1, fields, EPS, num_noise=4, score_direction="yes")
    with pytest.raises(ValueError, match="factor"):
        dm.time_scaled_score(data, 0.0)


def test_configs():
    assert set(dm.CONFIGS) == set(PROFILES)
    assert all(type(c) is dm.DSMMinimiserConfig for c in dm.CONFIGS.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        dm.CONFIGS["ci"].pert_n = 3
    assert dm.CONFIGS["cpu"].pert_n > dm.CONFIGS["ci"].pert_n and max(dm.CONFIGS["paper"].grad_ds) > 128
    with pytest.raises(ValueError, match="pert_ts"):
        dataclasses.replace(dm.CONFIGS["ci"], pert_ts=(0.0,))
    with pytest.raises(ValueError, match="eps"):
        dataclasses.replace(dm.CONFIGS["ci"], eps=(0.0, 1.0))
    with pytest.raises(ValueError, match="control_time_factor"):
        dataclasses.replace(dm.CONFIGS["ci"], control_time_factor=1.0)
    with pytest.raises(ValueError, match="resolution"):
        dataclasses.replace(dm.CONFIGS["ci"], resolution=0.0)


def test_run_verdict_and_facts(small_results):
    res = small_results
    assert all(dm.verdict(res).values())
    f = dm.facts(res)
    assert f["ch01_num_perturbations"] == 5 * 6 * 2 and f["ch01_num_first"] == 10 and f["ch01_num_draws"] == 12 * 32
    assert f["ch01_num_rounding"] == 0 and f["ch01_control_min_tilt"] > f["ch01_min_eps"] == 0.25
    assert f["ch01_control_min_z"] > f["ch01_family_z"] and f["ch01_control_time"] == "2t"
    assert len(res["perturbation"]["controls"]) == len(res["perturbation"]["studies"]) == 2
    assert f["ch01_num_grad_cases"] == 4 and f["ch01_grad_t_min"] == 1e-3 and f["ch01_max_grad_err"] < 1e-11
    assert all(c["max_scaled_err"] <= c["max_rel_err"] for c in res["gradient"])
    assert dm.run(SMALL) == res                                    # reproducible


def test_run_resumes_from_its_stages(small_results, tmp_path):
    assert dm.run(SMALL, workdir=tmp_path) == small_results
    assert (tmp_path / "stages.json").exists()
    assert dm.run(SMALL, workdir=tmp_path) == small_results         # read back, not recomputed


def test_verdict_fails_on_wrong_results(small_results):
    """Each claim fails when its numbers are wrong: a decrease, a first-order term, a control that passes,
    a gradient mismatch."""
    keys = list(dm.verdict(small_results))
    res = copy.deepcopy(small_results)
    res["perturbation"]["studies"][0]["increase"][0][0] *= -1
    assert not dm.verdict(res)[keys[0]]
    res = copy.deepcopy(small_results)
    st = res["perturbation"]["studies"][1]
    st["first_order"] = [m + 10 * se for m, se in zip(st["first_order"], st["first_order_se"])]
    assert not dm.verdict(res)[keys[1]]
    res = copy.deepcopy(small_results)           # a check without power: the control is the true score again
    res["perturbation"]["controls"][0] = copy.deepcopy(res["perturbation"]["studies"][0])
    assert not dm.verdict(res)[keys[2]]
    res = copy.deepcopy(small_results)
    res["gradient"][-1]["max_scaled_err"] = 1e-9
    assert not dm.verdict(res)[keys[3]]


def test_verdict_fails_on_a_wrong_empirical_score(small_results, monkeypatch):
    """A deliberately wrong input: with the library's empirical score replaced by the one of time 2t, the run's
    perturbation claims fail (at every t of the config), while the true score passes them."""
    keys = list(dm.verdict(small_results))
    monkeypatch.setattr(dm, "empirical_score", lambda x, t, d: empirical_score(x, 2 * t, d))
    res = dm.run(dataclasses.replace(SMALL, grad_ds=(1,)))
    bad = dm.verdict(res)
    assert not bad[keys[0]] and not bad[keys[1]]
    for st in res["perturbation"]["studies"]:
        assert not dm.all_increase(st) and max(map(abs, dm.first_order_z(st))) > dm.facts(res)["ch01_family_z"]


def test_gradient_check_fails_on_a_slightly_wrong_score(monkeypatch):
    """A deliberately wrong input: the library's score off by a relative 1e-7 fails the scaled-error check."""
    monkeypatch.setattr(dm, "empirical_score", lambda x, t, d: empirical_score(x, t, d) * (1 + 1e-7))
    cases = dm.gradient_check(SMALL)
    assert max(c["max_scaled_err"] for c in cases) > SMALL.grad_tol

