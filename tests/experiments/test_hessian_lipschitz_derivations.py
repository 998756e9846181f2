"""Chapter 5's sympy: the Hessian of log p_t equals -I/s_t^2 + (a_t^2/s_t^4) Cov[X_0 | X_t]."""

import pytest
import sympy as sp

from memsep_lib.experiments.hessian_lipschitz import derivations as sym


@pytest.mark.parametrize("dim,K,gaussian", [(1, 2, False), (1, 3, False), (1, 2, True),
                                            (2, 2, False), (2, 3, False), (2, 2, True)])
def test_hessian_is_minus_identity_plus_posterior_covariance(dim, K, gaussian):
    assert sym.check_hessian_covariance_identity(dim, K, gaussian=gaussian)


def test_identity_check_can_fail():
    m = sym.noised_mixture(1, 2)
    wrong = sym.log_density_hessian(m)[0, 0] - (-1 / m.s ** 2 + m.a ** 2 / m.s ** 2 * m.posterior_cov[0, 0])
    assert not sym.mixture_expr_is_zero(wrong, m)


def test_posterior_covariance_of_two_points_is_w1_w2_delta_squared():
    m = sym.noised_mixture(1, 2)
    w1, w2 = m.responsibilities
    delta = m.means[0, 0] - m.means[1, 0]
    assert sym.mixture_expr_is_zero(m.posterior_cov[0, 0] - w1 * w2 * delta ** 2, m)


def test_two_point_midpoint_hessian():
    h = sym.two_point_midpoint_hessian()
    a, s = sp.Symbol("a_t", positive=True), sp.Symbol("s_t", positive=True)
    m1, m2 = sp.Symbol("m_1", real=True), sp.Symbol("m_2", real=True)
    assert sp.simplify(h - (a ** 2 * (m1 - m2) ** 2 / (4 * s ** 4) - 1 / s ** 2)) == 0


def test_gaussian_hessian_closed_form_and_eigenvalues():
    g = sym.noised_gaussian(2)
    assert sp.simplify(g.hessian - g.closed_form) == sp.zeros(2, 2)
    assert sp.simplify(g.tweedie - g.closed_form) == sp.zeros(2, 2)
    rotated, (l1, l2, _) = sym.gaussian_hessian_eigenvalues_2d()
    a, s = g.a, g.s
    assert sp.simplify(rotated - sp.diag(-1 / (a ** 2 * l1 + s ** 2), -1 / (a ** 2 * l2 + s ** 2))) == sp.zeros(2, 2)


def test_bad_inputs():
    with pytest.raises(ValueError, match="dim"):
        sym.noised_mixture(0, 2)
    with pytest.raises(TypeError, match="num_components"):
        sym.noised_mixture(1, True)
    with pytest.raises(ValueError, match="dim"):
        sym.noised_gaussian(0)
    with pytest.raises(ValueError, match="num_points"):
        sym.popoviciu_gap(0)


def test_two_point_posterior_covariance_is_rank_one_along_the_pair():
    cov, rank_one, model = sym.two_point_posterior_cov(2)
    assert all(sym.mixture_expr_is_zero(entry, model) for entry in cov - rank_one)
    assert not all(sym.mixture_expr_is_zero(entry, model) for entry in cov - 2 * rank_one)   # a wrong factor fails


def test_two_point_variance_is_largest_at_equal_weights():
    assert sym.max_two_point_weight() == (sp.Rational(1, 2), sp.Rational(1, 4))


@pytest.mark.parametrize("K", [2, 3, 4])
def test_popoviciu_identity(K):
    lhs, rhs = sym.popoviciu_gap(K)
    assert sp.expand(lhs - rhs) == 0
    assert sp.expand(lhs - rhs - sp.Symbol("M")) != 0


def test_square_mixture_factorises_and_its_curvature():
    parts = sym.square_mixture_curvature()
    assert set(parts) == {"factorises", "cosh_form", "curvature"}
    assert all(sp.simplify(v) == 0 for v in parts.values())
    x = sp.Symbol("x", real=True)
    assert sp.simplify(parts["curvature"] + sp.sech(x) ** 2) != 0           # a wrong curvature does not vanish
