import mpmath
import pytest
import sympy as sp

from memsep_lib.experiments.dsm_minimiser.derivations import vector_is_zero
from memsep_lib.experiments.loss_gap_fisher import derivations as der


def test_loss_gap_split_and_cross_term():
    split = der.loss_gap_split()
    assert split.residual == 0
    assert sp.expand(split.gap - (split.s_hat - split.s) * (2 * split.g - split.s - split.s_hat)) == 0
    for n, dim in ((2, 1), (3, 1), (2, 2)):
        assert vector_is_zero(der.cross_term(n, dim).integrand)
    # with a wrong "empirical score" (twice the right one) the integrand does not vanish
    ct = der.cross_term(2, 1)
    es = ct.derivation
    wrong = sum(q * (g - 2 * es.grad_log_density[0]) for q, g in
                zip(es.densities, (gi[0] for gi in es.conditional_scores))) / 2
    assert not vector_is_zero([wrong])


def test_two_point_example():
    ex = der.two_point_example(-1, 2)
    assert ex.cross_integrand_is_zero
    assert abs(ex.cross_parts[0] - ex.cross_parts[1]) < mpmath.mpf(10) ** -25
    assert abs(ex.cross_parts[0]) > 0.01
    assert abs(ex.loss_gap - ex.fisher_empirical) < mpmath.mpf(10) ** -25
    assert abs(ex.fisher_true - ex.fisher_empirical) > 1e-3
    # symmetric data at another time
    ex2 = der.two_point_example(-1, 1, t=0.5, digits=20)
    assert ex2.cross_integrand_is_zero
    assert abs(ex2.loss_gap - ex2.fisher_empirical) < mpmath.mpf(10) ** -15
    assert not der.gaussian_expr_is_zero(ex.cross_integrand + sp.exp(-ex.x ** 2) / 1000)


def test_bad_inputs():
    with pytest.raises(ValueError, match="t must"):
        der.two_point_example(t=-1)
    with pytest.raises(ValueError, match="digits"):
        der.two_point_example(digits=2)
    with pytest.raises(TypeError, match="digits"):
        der.two_point_example(digits=30.0)
