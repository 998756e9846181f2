import sympy as sp

from memsep_lib.experiments.mixture_memorization.derivations import memorization_floor


def test_memorization_floor_is_c_to_the_d():
    floor = memorization_floor()
    assert floor.total_mass == 1
    assert sp.simplify(floor.probability - floor.c ** floor.d) == 0
    assert floor.probability.subs({floor.c: sp.Rational(1, 3), floor.d: 2}) == sp.Rational(1, 9)
