"""Chapter 5's closed forms: midpoint and Gaussian Lipschitz constants, the mixture posterior covariance."""

import numpy as np
import pytest
import torch

from memsep_lib.experiments.hessian_lipschitz.search import lipschitz_vs_time
from memsep_lib.experiments.hessian_lipschitz.theory import (
    closest_pairs, delaunay_edges, empirical_hessian_fn, empirical_lipschitz_scale, gabriel_edges, gaussian_lipschitz,
    hessian_eigenvalues_on_segment, mixture_posterior_cov, pair_midpoints, segment_eigenvalues, small_t_constants,
    square_mixture_lipschitz, two_point_midpoint_lipschitz, voronoi_neighbours)
from memsep_lib.lipschitz import local_lipschitz, maximize_local_lipschitz
from memsep_lib.mixtures import GaussianMixture
from memsep_lib.process import alpha, sigma

D = torch.float64


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
    # the figure's arrays: u in [-margin, 1 + margin], one (times, num, d) block per Hessian
    seg = segment_eigenvalues({"empirical": empirical_hessian_fn(data)}, data[0], data[1], [t, 0.1], num=11, margin=0.5)
    assert seg["u"][0] == -0.5 and seg["u"][-1] == 1.5 and seg["times"] == [t, 0.1]
    assert seg["eigenvalues"]["empirical"].shape == (2, 11, 2)
    assert seg["eigenvalues"]["empirical"][0, 5, 1] == pytest.approx(eigs[5, 1].item(), rel=1e-10)   # u = 1/2
    assert seg["s"] == [sigma(t), sigma(0.1)] and isinstance(seg["u"], np.ndarray)


# an obtuse triangle: the long edge (0, 1) is a Delaunay edge but not a Gabriel one (x_2 is near its midpoint);
# the Voronoi facet of (0, 1) is the ray {(1, v): v <= -2.4}
OBTUSE = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 0.2]], dtype=D)


@pytest.mark.parametrize("d", [2, 3])
def test_delaunay_edges_agree_with_the_voronoi_linear_programmes(d):
    data = torch.randn(12, d, generator=torch.Generator().manual_seed(d), dtype=D)
    edges = delaunay_edges(data)                                 # Qhull
    assert edges == voronoi_neighbours(data)                     # one LP per pair
    assert set(gabriel_edges(data)) <= set(edges)
    i, j, _ = closest_pairs(data, 1)
    assert (i.item(), j.item()) in gabriel_edges(data)           # the closest pair is always a Gabriel edge


def test_delaunay_edges_small_and_one_dimensional_cases():
    assert delaunay_edges(torch.tensor([[3.0], [0.0], [1.0]], dtype=D)) == [(0, 2), (1, 2)]
    assert delaunay_edges(OBTUSE) == [(0, 1), (0, 2), (1, 2)]    # n = d + 1: the LP path
    assert gabriel_edges(OBTUSE) == [(0, 2), (1, 2)]
    square = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [5.0, 5.0]], dtype=D)
    assert (0, 3) not in voronoi_neighbours(square) and (1, 2) not in voronoi_neighbours(square)  # cells meet at a point


def test_small_t_constant_is_the_longest_delaunay_edge_not_the_longest_gabriel_edge():
    c = small_t_constants(OBTUSE)
    assert c["delaunay"] == pytest.approx(1.0) and c["delaunay_edge"] == [0, 1]
    assert c["gabriel"] == pytest.approx(0.26) and c["min_distance"] == pytest.approx(0.26)
    assert c["diameter"] == pytest.approx(1.0)
    t = 1e-4
    a, s = alpha(t), sigma(t)
    hess = empirical_hessian_fn(OBTUSE)
    # on the facet, far from the midpoint, the two weights are equal: s^4 L / a^2 = E - s^2/a^2
    on_facet = local_lipschitz(hess, a * torch.tensor([[1.0, -3.0]], dtype=D), t).item()
    assert on_facet * s ** 4 / a ** 2 == pytest.approx(1.0 - s ** 2 / a ** 2, rel=1e-12)
    at_midpoint = local_lipschitz(hess, pair_midpoints(OBTUSE, t)[-1:], t).item()    # the (0, 1) midpoint
    assert at_midpoint * s ** 4 / a ** 2 < 0.3
    # the search (from large t down) finds the facet and nothing above it
    sweep = lipschitz_vs_time(OBTUSE, [1e-4, 1e-2, 0.3], num_restarts=8, steps=60,
                              generator=torch.Generator().manual_seed(0))
    assert sweep.empirical_max[0].item() == pytest.approx(two_point_midpoint_lipschitz(2.0, t), rel=1e-9)


def test_square_mixture_lipschitz_is_the_searched_supremum():
    means = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], dtype=D)
    law = GaussianMixture(means, 0.25 * torch.eye(2, dtype=D).expand(4, 2, 2).clone())
    assert square_mixture_lipschitz(1e-12) == pytest.approx(12.0, rel=1e-9)
    starts = torch.randn(32, 2, generator=torch.Generator().manual_seed(1), dtype=D)
    for t in (1e-3, 0.1):                                       # attained at x = 0 (on the axes, in fact)
        found = maximize_local_lipschitz(law.hessian, starts, t, steps=60, step_size=0.1).value
        assert found == pytest.approx(square_mixture_lipschitz(t), rel=1e-9)
        assert local_lipschitz(law.hessian, torch.zeros(1, 2, dtype=D), t).item() == pytest.approx(
            square_mixture_lipschitz(t), rel=1e-12)
    far = local_lipschitz(law.hessian, torch.tensor([[30.0, 30.0]], dtype=D), 1.0).item()
    assert far == pytest.approx(square_mixture_lipschitz(1.0), rel=1e-9)    # above ln(5/4): 1/c, as |x| -> inf
    wrong_variance = square_mixture_lipschitz(0.1, variance=0.5)
    assert abs(wrong_variance / square_mixture_lipschitz(0.1) - 1) > 0.1


def test_bad_inputs():
    data = torch.randn(4, 2, dtype=D)
    with pytest.raises(ValueError, match="at least two"):
        closest_pairs(data[:1])
    with pytest.raises(ValueError, match="t must be finite"):
        pair_midpoints(data, 0.0)
    with pytest.raises(ValueError, match="positive semi-definite"):
        gaussian_lipschitz(-torch.eye(2, dtype=D), 0.1)
    with pytest.raises(TypeError, match="GaussianMixture"):
        mixture_posterior_cov("mixture", data, 0.1)
    with pytest.raises(ValueError, match="same shape"):
        hessian_eigenvalues_on_segment(empirical_hessian_fn(data), data[0], data[:2], 0.1)
    with pytest.raises(ValueError, match="at least one"):
        segment_eigenvalues({}, data[0], data[1], [0.1])
    with pytest.raises(ValueError, match="at least two"):
        delaunay_edges(data[:1])
    with pytest.raises(ValueError, match="data"):
        small_t_constants(torch.zeros(3, dtype=D))
    with pytest.raises(ValueError, match="variance"):
        square_mixture_lipschitz(0.1, variance=-1.0)
