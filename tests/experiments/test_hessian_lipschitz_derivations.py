# ---- chapter 5: Hessian of log p_t and the posterior covariance --------------------------

import pytest as _pytest5
import sympy as _sp5

from memsep_lib import symbolic as _sym5


@_pytest5.mark.parametrize("dim,K,gaussian", [(1, 2, False), (1, 3, False), (1, 2, True),
                                              (2, 2, False), (2, 3, False), (2, 2, True)])
def test_hessian_is_minus_identity_plus_posterior_covariance(dim, K, gaussian):
    assert _sym5.check_hessian_covariance_identity(dim, K, gaussian=gaussian)


def test_identity_check_can_fail():
    m = _sym5.noised_mixture(1, 2)
    wrong = _sym5.log_density_hessian(m)[0, 0] - (-1 / m.s ** 2 + m.a ** 2 / m.s ** 2 * m.posterior_cov[0, 0])
    assert not _sym5.mixture_expr_is_zero(wrong, m)


def test_posterior_covariance_of_two_points_is_w1_w2_delta_squared():
    m = _sym5.noised_mixture(1, 2)
    w1, w2 = m.responsibilities
    delta = m.means[0, 0] - m.means[1, 0]
    assert _sym5.mixture_expr_is_zero(m.posterior_cov[0, 0] - w1 * w2 * delta ** 2, m)


def test_two_point_midpoint_hessian():
    h = _sym5.two_point_midpoint_hessian()
    a, s = _sp5.Symbol("a_t", positive=True), _sp5.Symbol("s_t", positive=True)
    m1, m2 = _sp5.Symbol("m_1", real=True), _sp5.Symbol("m_2", real=True)
    assert _sp5.simplify(h - (a ** 2 * (m1 - m2) ** 2 / (4 * s ** 4) - 1 / s ** 2)) == 0


def test_gaussian_hessian_closed_form_and_eigenvalues():
    g = _sym5.noised_gaussian(2)
    assert _sp5.simplify(g.hessian - g.closed_form) == _sp5.zeros(2, 2)
    assert _sp5.simplify(g.tweedie - g.closed_form) == _sp5.zeros(2, 2)
    rotated, (l1, l2, _) = _sym5.gaussian_hessian_eigenvalues_2d()
    a, s = g.a, g.s
    assert _sp5.simplify(rotated - _sp5.diag(-1 / (a ** 2 * l1 + s ** 2), -1 / (a ** 2 * l2 + s ** 2))) == _sp5.zeros(2, 2)


def test_symbolic_bad_inputs():
    with _pytest5.raises(ValueError, match="dim"):
        _sym5.noised_mixture(0, 2)
    with _pytest5.raises(ValueError, match="num_components"):
        _sym5.noised_mixture(1, True)


