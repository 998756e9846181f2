import pytest
import torch

import memsep_lib.dsm_minimiser as dm
from memsep_lib.losses import dsm_loss
from memsep_lib.mixtures import GaussianMixture, well_separated_mixture
from memsep_lib.process import sigma
from memsep_lib.scores import empirical_log_prob, empirical_score

EPS = (-1.0, -0.25, 0.25, 1.0)


@pytest.fixture
def problem():
    g = torch.Generator().manual_seed(0)
    data = well_separated_mixture(3, 2, generator=g).sample(24, g)
    fields = dm.constant_fields(2, 2, generator=g) + dm.smooth_random_fields(2, 2, generator=g)
    return data, fields


@pytest.mark.parametrize("t", [1e-3, 0.1, 1.0])
def test_every_perturbation_raises_the_loss(problem, t):
    data, fields = problem
    st = dm.perturbation_study(data, t, fields, EPS, num_noise=128, generator=torch.Generator().manual_seed(1))
    assert st.increase.shape == (4, 4) and st.quadratic.shape == (4, 4)
    assert st.all_increase
    assert st.max_relative_deviation < 0.5
    assert (st.increase_se > 0).all() and st.base_loss > 0


def test_a_wrong_empirical_score_is_not_the_minimiser(problem, monkeypatch):
    """If the library's empirical score were wrong (here: the one of time 2t), the study must show it."""
    data, fields = problem
    ok = dm.perturbation_study(data, 1.0, fields, EPS, num_noise=128, generator=torch.Generator().manual_seed(1))
    assert ok.first_order_z.abs().max() < 3.5
    monkeypatch.setattr(dm, "empirical_score", lambda x, t, d: empirical_score(x, 2 * t, d))
    st = dm.perturbation_study(data, 1.0, fields, EPS, num_noise=128, generator=torch.Generator().manual_seed(1))
    assert st.first_order_z.abs().max() > 10
    assert not st.all_increase or st.max_relative_deviation > 0.5


def test_increase_is_quadratic_plus_first_order_term(problem):
    data, fields = problem
    st = dm.perturbation_study(data, 0.3, fields, EPS, num_noise=64, generator=torch.Generator().manual_seed(6))
    eps = torch.tensor(EPS, dtype=torch.float64)
    assert torch.allclose(st.increase, st.quadratic + eps[None] * st.first_order[:, None], rtol=1e-9, atol=1e-9)
    assert (st.first_order_se > 0).all()


def test_quadratic_term_is_exact_for_constant_fields(problem):
    data, _ = problem
    u = dm.constant_fields(2, 1, generator=torch.Generator().manual_seed(5))
    st = dm.perturbation_study(data, 0.05, u, (0.5,), num_noise=64, generator=torch.Generator().manual_seed(2))
    assert st.quadratic[0, 0].item() == pytest.approx(0.25 / sigma(0.05) ** 2)


def test_empirical_dsm_loss_matches_dsm_loss(problem):
    data, _ = problem
    noise = torch.randn(5, *data.shape, generator=torch.Generator().manual_seed(3), dtype=data.dtype)
    emp = lambda x, t: empirical_score(x, t, data)
    per = dm.empirical_dsm_loss(emp, data, 0.2, noise=noise)
    assert per.shape == (5, 24)
    assert torch.allclose(per[2], dsm_loss(emp, data, 0.2, noise=noise[2]))
    with pytest.raises(ValueError, match="noise"):
        dm.empirical_dsm_loss(emp, data, 0.2, noise=noise[0])


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
