import math

import mpmath
import pytest
import sympy as sp
import torch

from memsep_lib import process
from memsep_lib.experiments.dsm_minimiser import derivations as der
from memsep_lib.scores import empirical_score


def test_ou_moments_give_alpha_sigma_and_variance_preservation():
    mom = der.ou_moments()
    t = mom.t
    assert sp.simplify(mom.alpha - sp.exp(-t / 2)) == 0
    assert sp.simplify(mom.sigma2 - (1 - sp.exp(-t))) == 0
    assert mom.identity == 1
    assert sp.simplify(mom.mean - mom.x0 * sp.exp(-t / 2)) == 0
    # the ODEs themselves: m' = -m/2 and v' = 1 - v
    m, v = mom.mean_ode.lhs.args[0], mom.variance_ode.lhs.args[0]
    assert sp.simplify(mom.mean_ode.rhs + m / 2) == 0
    assert sp.simplify(mom.variance_ode.rhs - (1 - v)) == 0
    for tt in (1e-6, 0.3, 7.0):
        assert float(mom.alpha.subs(t, tt)) == pytest.approx(process.alpha(tt), rel=1e-14)
        assert math.sqrt(float(mom.sigma2.subs(t, tt))) == pytest.approx(process.sigma(tt), rel=1e-8)


def test_ou_generator():
    x = sp.Symbol("x")
    assert der.ou_generator(x, x) == -x / 2
    assert sp.expand(der.ou_generator(x ** 3, x) - (-3 * x ** 3 / 2 + 3 * x)) == 0


@pytest.mark.parametrize("dim", [1, 3])
def test_conditional_score(dim):
    cs = der.conditional_score(dim)
    assert cs.score.shape == (dim, 1)
    assert der.vector_is_zero(cs.score - cs.closed_form)
    assert not der.vector_is_zero(cs.score + cs.closed_form)       # the check can fail


def test_dsm_pointwise_minimiser():
    mn = der.dsm_pointwise_minimiser(4)
    expected = sum(q * g for q, g in zip(mn.q, mn.g)) / sum(mn.q)
    assert sp.simplify(mn.minimiser - expected) == 0
    assert sp.simplify(mn.stationarity.subs(mn.s, mn.minimiser)) == 0
    assert sp.simplify(mn.curvature - sum(mn.q) / 2) == 0


@pytest.mark.parametrize("n,dim", [(2, 1), (3, 1), (2, 2)])
def test_empirical_score_three_ways(n, dim):
    es = der.empirical_score_derivation(n, dim)
    assert len(es.data) == n and es.x.shape == (dim, 1) and len(es.weights) == n
    assert der.vector_is_zero(es.from_minimiser - es.softmax_form)
    assert der.vector_is_zero(es.grad_log_density - es.softmax_form)
    assert sp.simplify(sum(es.weights) - 1) == 0


def test_empirical_score_closed_form_matches_the_library():
    es = der.empirical_score_derivation(3, 1)
    f = sp.lambdify((es.x[0], *[xi[0] for xi in es.data], es.t), es.in_time(es.softmax_form[0]), "mpmath")
    pts = (-0.7, 0.2, 1.9)
    data = torch.tensor([[p] for p in pts], dtype=torch.float64)
    xq = torch.linspace(-2.5, 3.0, 23, dtype=torch.float64)[:, None]
    for t in (1e-3, 0.2, 3.0):
        lib = empirical_score(xq, t, data)[:, 0]
        with mpmath.workdps(30):
            ref = torch.tensor([float(f(mpmath.mpf(x), *pts, mpmath.mpf(t))) for x in xq[:, 0].tolist()],
                               dtype=torch.float64)
        assert torch.allclose(lib, ref, rtol=1e-10, atol=1e-10 * ref.abs().max().item())


def test_shared_symbols():
    assert der.A_T.is_positive and der.S_T.is_positive and der.T.is_nonnegative
    assert der.conditional_score(1).a is der.A_T and der.empirical_score_derivation(2, 1).t is der.T


def test_bad_inputs():
    with pytest.raises(ValueError, match="dim"):
        der.conditional_score(0)
    with pytest.raises(ValueError, match="n must"):
        der.dsm_pointwise_minimiser(0)
    with pytest.raises(TypeError, match="dim"):
        der.empirical_score_derivation(2, True)
