import math

import pytest
import torch

from memsep_lib.fits import power_law_fit

from memsep_lib.lipschitz import (
    autograd_jacobian,
    closest_pairs,
    empirical_hessian_fn,
    empirical_lipschitz_scale,
    gaussian_lipschitz,
    hessian_eigenvalues_on_segment,
    jacobian_fn,
    lipschitz_vs_time,
    local_lipschitz,
    maximize_local_lipschitz,
    mixture_posterior_cov,
    pair_midpoints,
    spectral_norm,
    two_point_midpoint_lipschitz,
)
from memsep_lib.mixtures import GaussianMixture
from memsep_lib.process import alpha, sigma
from memsep_lib.scores import empirical_score, empirical_score_hessian

D = torch.float64


def _rel(a, b):
    return ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).max().item()


@pytest.fixture
def mixture():
    means = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], dtype=D)
    return GaussianMixture(means, 0.25 * torch.eye(2, dtype=D).expand(4, 2, 2).clone())


@pytest.fixture
def data(mixture):
    return mixture.sample(12, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("t", [1e-4, 0.05, 1.5])
def test_analytic_hessians_are_autograd_jacobians(data, mixture, t, gen):
    x = torch.cat([alpha(t) * data + sigma(t) * torch.randn(data.shape, generator=gen, dtype=D),
                   pair_midpoints(data, t, 5)])
    emp = autograd_jacobian(lambda y, tt: empirical_score(y, tt, data), x, t)
    assert _rel(emp, empirical_score_hessian(x, t, data)) < 1e-10
    assert _rel(autograd_jacobian(mixture.score, x, t), mixture.hessian(x, t)) < 1e-10
    assert _rel(jacobian_fn(mixture.score)(x, t), mixture.hessian(x, t)) < 1e-10


def test_autograd_jacobian_of_a_linear_map():
    A = torch.tensor([[1.0, 2.0], [-3.0, 0.5]], dtype=D)
    x = torch.randn(4, 2, dtype=D)
    J = autograd_jacobian(lambda y, t: y @ A.T, x, 0.1)
    assert torch.allclose(J, A.expand(4, 2, 2))
    assert torch.allclose(spectral_norm(J), torch.linalg.svdvals(A)[0].expand(4))


@pytest.mark.parametrize("t", [1e-3, 0.1, 1.0])
def test_mixture_hessian_is_minus_identity_plus_posterior_covariance(t, gen):
    means = torch.randn(3, 2, generator=gen, dtype=D)
    A = torch.randn(3, 2, 2, generator=gen, dtype=D)
    gm = GaussianMixture(means, A @ A.transpose(1, 2) + 0.1 * torch.eye(2, dtype=D))
    x = alpha(t) * gm.sample(20, gen) + sigma(t) * torch.randn(20, 2, generator=gen, dtype=D)
    a, s2 = alpha(t), sigma(t) ** 2
    cov = mixture_posterior_cov(gm, x, t)
    rhs = -torch.eye(2, dtype=D) / s2 + (a * a / s2 ** 2) * cov
    # error relative to the size of the two cancelling terms, ~1/s^2
    assert ((rhs - gm.hessian(x, t)).abs().max() * s2).item() < 1e-10
    assert (torch.linalg.eigvalsh(cov) > -1e-12).all()


def test_gaussian_norm_formula(gen):
    A = torch.randn(3, 3, generator=gen, dtype=D)
    cov = A @ A.T + 0.05 * torch.eye(3, dtype=D)
    g = GaussianMixture(torch.zeros(1, 3, dtype=D), cov[None])
    lam_min = torch.linalg.eigvalsh(cov)[0].item()
    for t in (1e-4, 0.1, 3.0):
        x = torch.randn(7, 3, generator=gen, dtype=D)
        L = local_lipschitz(g.hessian, x, t)
        expected = 1 / (sigma(t) ** 2 + alpha(t) ** 2 * lam_min)
        assert gaussian_lipschitz(cov, t) == pytest.approx(expected, rel=1e-14)
        assert torch.allclose(L, torch.full_like(L, expected), rtol=1e-10)
        assert expected <= max(1.0, 1 / lam_min) * (1 + 1e-12)   # bounded uniformly in t


def test_two_point_midpoint_formula_matches_the_empirical_hessian():
    data = torch.tensor([[0.0, 0.0], [0.3, 0.4]], dtype=D)        # distance 0.5
    for t in (1e-4, 1e-2, 0.5):
        mid = pair_midpoints(data, t)
        assert local_lipschitz(empirical_hessian_fn(data), mid, t).item() == pytest.approx(
            two_point_midpoint_lipschitz(0.5, t), rel=1e-10)
    # tensor input, and the -1/s^2 floor when the pair term is small
    L = two_point_midpoint_lipschitz(torch.tensor([0.0, 0.5], dtype=D), 0.5)
    assert L[0].item() == pytest.approx(1 / sigma(0.5) ** 2)


def test_closest_pairs_and_scale():
    data = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 1.0], [10.0, 10.0]], dtype=D)
    i, j, dist = closest_pairs(data, 2)
    assert (i[0].item(), j[0].item(), dist[0].item()) == (0, 2, 1.0)
    assert dist[1].item() == pytest.approx(3.0)
    assert closest_pairs(data)[0].numel() == 6
    assert torch.allclose(pair_midpoints(data, 0.2, 1), alpha(0.2) * torch.tensor([[0.0, 0.5]], dtype=D))
    assert empirical_lipschitz_scale(data, 0.01) == pytest.approx(1.0 / sigma(0.01) ** 4)


def test_search_never_decreases_and_finds_the_two_point_maximum(gen):
    data = torch.tensor([[0.0, 0.0], [0.5, 0.0]], dtype=D)
    t = 1e-3
    hess = empirical_hessian_fn(data)
    # start off the midpoint, along the segment and off it
    starts = alpha(t) * torch.tensor([[0.2, 0.05], [0.3, -0.1], [0.26, 0.0]], dtype=D)
    res = maximize_local_lipschitz(hess, starts, t, steps=60)
    assert (res.values >= local_lipschitz(hess, starts, t) * (1 - 1e-12)).all()
    # for two points, sup_x L(x) is reached on the bisector: a^2 D^2 / (4 s^4) - 1/s^2
    assert res.value == pytest.approx(two_point_midpoint_lipschitz(0.5, t), rel=1e-6)
    assert abs(res.argmax[0].item() - alpha(t) * 0.25) < 1e-4


def test_segment_eigenvalues():
    data = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=D)
    t = 0.01
    a = alpha(t)
    u, eigs = hessian_eigenvalues_on_segment(empirical_hessian_fn(data), a * data[0], a * data[1], t, num=11)
    assert u.shape == (11,) and eigs.shape == (11, 2)
    assert (eigs[:, 0] <= eigs[:, 1]).all()
    # across the segment the eigenvalue is exactly -1/s^2 everywhere
    assert torch.allclose(eigs[:, 0], torch.full((11,), -1 / sigma(t) ** 2, dtype=D))
    assert eigs[5, 1].item() == pytest.approx(two_point_midpoint_lipschitz(1.0, t), rel=1e-10)


def test_sweep_shows_the_s_minus_4_law(data, mixture, gen):
    times = [1e-6, 1e-5, 1e-4, 0.5]
    sw = lipschitz_vs_time(data, times, true_hessian=mixture.hessian,
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


def test_bad_inputs(data):
    with pytest.raises(TypeError, match="score_fn must be callable"):
        autograd_jacobian("f", data, 0.1)
    with pytest.raises(ValueError, match="shape"):
        local_lipschitz(lambda x, t: x, data, 0.1)
    with pytest.raises(ValueError, match="at least two"):
        closest_pairs(data[:1])
    with pytest.raises(ValueError, match="step_size"):
        maximize_local_lipschitz(empirical_hessian_fn(data), data, 0.1, step_size=-1.0)
    with pytest.raises(ValueError, match="t must be finite"):
        pair_midpoints(data, 0.0)
    with pytest.raises(ValueError, match="true_starts is required"):
        lipschitz_vs_time(data, [0.1], true_hessian=lambda x, t: x)
    with pytest.raises(ValueError, match="positive semi-definite"):
        gaussian_lipschitz(-torch.eye(2, dtype=D), 0.1)


def test_continuation_only_adds_starts(data, gen):
    """Carrying the best points from larger t adds starts, so it can only raise what is found."""
    times = [1e-5, 1e-3, 0.1]
    plain = lipschitz_vs_time(data, times, num_restarts=4, steps=10, num_carried=0,
                              generator=torch.Generator().manual_seed(5))
    carried = lipschitz_vs_time(data, times, num_restarts=4, steps=10, num_carried=8,
                                generator=torch.Generator().manual_seed(5))
    assert (carried.empirical_max >= plain.empirical_max * (1 - 1e-12)).all()
    assert torch.equal(carried.closest_midpoint, plain.closest_midpoint)
    assert carried.times.tolist() == times                        # results in the order given
    with pytest.raises(ValueError, match="num_carried"):
        lipschitz_vs_time(data, times, num_carried=-1)
