import pytest
import sympy as sp

from memsep_lib.experiments.loss_gap_bound import derivations, theory
from memsep_lib.process import alpha, sigma


def test_isolated_formula_matches_sympy_and_closed_form():
    der = derivations.isolated_loss_gap_derivation()
    assert sp.simplify(der.total - der.closed_form) == 0
    assert der.cross_term == 0
    assert sp.simplify(der.noise_term + der.variance_term - der.total) == 0
    assert der.noise_raw == 1 / der.s ** 2
    assert sp.simplify(der.lower_bound_gap - sum(der.lower_bound_split)) == 0
    for t, lam, d in [(1e-3, 1.0, 7), (0.3, 0.25, 3), (2.0, 4.0, 1)]:
        a2, s2 = alpha(t) ** 2, sigma(t) ** 2
        closed = d / s2 - d / (a2 * lam + s2)                # d/s^2 - tr C_t^-1
        assert theory.isolated_loss_gap(t, lam, d) == pytest.approx(closed, rel=1e-10)
        assert derivations.isolated_loss_gap_numeric(t, lam, d) == pytest.approx(closed, rel=1e-10)


def test_gaussian_moments():
    assert [derivations.standard_normal_moment(k) for k in range(7)] == [1, 0, 1, 0, 3, 0, 15]
    z, u, c = sp.symbols("z u c")
    assert derivations.gaussian_expectation((c * z + u) ** 2, (z, u)) == c ** 2 + 1
    with pytest.raises(ValueError, match="non-negative int"):
        derivations.standard_normal_moment(-1)
    with pytest.raises(TypeError, match="Symbols"):
        derivations.gaussian_expectation(z, ())


def test_upper_bound_identity_is_exact():
    import sympy as sp
    from memsep_lib.experiments.loss_gap_bound.derivations import isolated_loss_gap_derivation, upper_bound_identity
    u, iso = upper_bound_identity(), isolated_loss_gap_derivation()
    assert u.decomposition == 0 and u.identity == 0 and u.l_min_emp == 0
    assert sp.simplify(u.cross - u.j_true) == 0                       # E_D E_P^[h f] = J(P_t)
    assert sp.simplify(u.j_emp - 1 / iso.s ** 2) == 0
    assert sp.simplify(u.upper - (u.j_emp - u.j_true)) == 0           # n = 1: the bound is attained
    assert sp.simplify(u.fisher - iso.total) == 0
