# ---- chapters 1-2: forward process, DSM minimiser, empirical score, Proposition 4.1 ----------

import math as _math12

import mpmath as _mpmath12
import pytest as _pytest12
import sympy as _sp12
import torch as _torch12

from memsep_lib import process as _process12
from memsep_lib import symbolic as _sym12
from memsep_lib.scores import empirical_score as _empirical_score12


def test_ou_moments_give_alpha_sigma_and_variance_preservation():
    mom = _sym12.ou_moments()
    t = mom.t
    assert _sp12.simplify(mom.alpha - _sp12.exp(-t / 2)) == 0
    assert _sp12.simplify(mom.sigma2 - (1 - _sp12.exp(-t))) == 0
    assert mom.identity == 1
    assert _sp12.simplify(mom.mean - mom.x0 * _sp12.exp(-t / 2)) == 0
    # the ODEs themselves: m' = -m/2 and v' = 1 - v
    m, v = mom.mean_ode.lhs.args[0], mom.variance_ode.lhs.args[0]
    assert _sp12.simplify(mom.mean_ode.rhs + m / 2) == 0
    assert _sp12.simplify(mom.variance_ode.rhs - (1 - v)) == 0
    for tt in (1e-6, 0.3, 7.0):
        assert float(mom.alpha.subs(t, tt)) == _pytest12.approx(_process12.alpha(tt), rel=1e-14)
        assert _math12.sqrt(float(mom.sigma2.subs(t, tt))) == _pytest12.approx(_process12.sigma(tt), rel=1e-8)


def test_ou_generator():
    x = _sp12.Symbol("x")
    assert _sym12.ou_generator(x, x) == -x / 2
    assert _sp12.expand(_sym12.ou_generator(x ** 3, x) - (-3 * x ** 3 / 2 + 3 * x)) == 0


@_pytest12.mark.parametrize("dim", [1, 3])
def test_conditional_score(dim):
    cs = _sym12.conditional_score(dim)
    assert cs.score.shape == (dim, 1)
    assert _sym12.vector_is_zero(cs.score - cs.closed_form)
    assert not _sym12.vector_is_zero(cs.score + cs.closed_form)       # the check can fail


def test_dsm_pointwise_minimiser():
    mn = _sym12.dsm_pointwise_minimiser(4)
    expected = sum(q * g for q, g in zip(mn.q, mn.g)) / sum(mn.q)
    assert _sp12.simplify(mn.minimiser - expected) == 0
    assert _sp12.simplify(mn.stationarity.subs(mn.s, mn.minimiser)) == 0
    assert _sp12.simplify(mn.curvature - sum(mn.q) / 2) == 0


@_pytest12.mark.parametrize("n,dim", [(2, 1), (3, 1), (2, 2)])
def test_empirical_score_three_ways(n, dim):
    der = _sym12.empirical_score_derivation(n, dim)
    assert len(der.data) == n and der.x.shape == (dim, 1) and len(der.weights) == n
    assert _sym12.vector_is_zero(der.from_minimiser - der.softmax_form)
    assert _sym12.vector_is_zero(der.grad_log_density - der.softmax_form)
    assert _sp12.simplify(sum(der.weights) - 1) == 0


def test_empirical_score_closed_form_matches_the_library():
    der = _sym12.empirical_score_derivation(3, 1)
    f = _sp12.lambdify((der.x[0], *[xi[0] for xi in der.data], der.t), der.in_time(der.softmax_form[0]), "mpmath")
    pts = (-0.7, 0.2, 1.9)
    data = _torch12.tensor([[p] for p in pts], dtype=_torch12.float64)
    xq = _torch12.linspace(-2.5, 3.0, 23, dtype=_torch12.float64)[:, None]
    for t in (1e-3, 0.2, 3.0):
        lib = _empirical_score12(xq, t, data)[:, 0]
        with _mpmath12.workdps(30):
            ref = _torch12.tensor([float(f(_mpmath12.mpf(x), *pts, _mpmath12.mpf(t))) for x in xq[:, 0].tolist()],
                                  dtype=_torch12.float64)
        assert _torch12.allclose(lib, ref, rtol=1e-10, atol=1e-10 * ref.abs().max().item())


def test_loss_gap_split_and_cross_term():
    split = _sym12.loss_gap_split()
    assert split.residual == 0
    assert _sp12.expand(split.gap - (split.s_hat - split.s) * (2 * split.g - split.s - split.s_hat)) == 0
    for n, dim in ((2, 1), (3, 1), (2, 2)):
        assert _sym12.vector_is_zero(_sym12.cross_term(n, dim).integrand)
    # with a wrong "empirical score" (twice the right one) the integrand does not vanish
    ct = _sym12.cross_term(2, 1)
    der = ct.derivation
    wrong = sum(q * (g - 2 * der.grad_log_density[0]) for q, g in
                zip(der.densities, (gi[0] for gi in der.conditional_scores))) / 2
    assert not _sym12.vector_is_zero([wrong])


def test_two_point_example():
    ex = _sym12.two_point_example(-1, 2)
    assert ex.cross_integrand_is_zero
    assert abs(ex.cross_parts[0] - ex.cross_parts[1]) < _mpmath12.mpf(10) ** -25
    assert abs(ex.cross_parts[0]) > 0.01
    assert abs(ex.loss_gap - ex.fisher_empirical) < _mpmath12.mpf(10) ** -25
    assert abs(ex.fisher_true - ex.fisher_empirical) > 1e-3
    # symmetric data at another time
    ex2 = _sym12.two_point_example(-1, 1, t=0.5, digits=20)
    assert ex2.cross_integrand_is_zero
    assert abs(ex2.loss_gap - ex2.fisher_empirical) < _mpmath12.mpf(10) ** -15
    assert not _sym12.gaussian_expr_is_zero(ex.cross_integrand + _sp12.exp(-ex.x ** 2) / 1000)


def test_symbolic_chapter12_bad_inputs():
    with _pytest12.raises(ValueError, match="dim"):
        _sym12.conditional_score(0)
    with _pytest12.raises(ValueError, match="n must"):
        _sym12.dsm_pointwise_minimiser(0)
    with _pytest12.raises(ValueError, match="dim"):
        _sym12.empirical_score_derivation(2, True)
    with _pytest12.raises(ValueError, match="t must"):
        _sym12.two_point_example(t=-1)
    with _pytest12.raises(ValueError, match="digits"):
        _sym12.two_point_example(digits=2)

