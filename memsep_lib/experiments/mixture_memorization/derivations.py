"""Sympy derivations of chapter: Chapter 6 (Gaussian-mixture memorisation): the false-positive floor of the criterion, c^d

(moved from memsep_lib.symbolic)."""

from __future__ import annotations

# ===========================================================================================
# Chapter 6 (Gaussian-mixture memorisation): the false-positive floor of the criterion, c^d
# ===========================================================================================

import sympy as _sp6


@_dataclass(frozen=True)
class MemorizationFloor:
    """Chance that a point ``y`` drawn from the data law passes the test ``R_1 < c R_2`` by luck.

    Near ``y`` the ``n`` training points look like a Poisson process of intensity ``lambda = n p(y)``;
    in the volume scale ``U = lambda V_d R^d`` (``V_d`` the unit-ball volume) the first two neighbours are
    the first two arrivals of a unit-rate Poisson process, with joint density ``exp(-u_2)`` on
    ``0 < u_1 < u_2``. ``R_1 < c R_2`` is ``U_1 < c^d U_2``, so the floor is
    ``int_0^oo int_0^{c^d u_2} exp(-u_2) du_1 du_2 = c^d`` (``1/9`` in 2-D at ``c = 1/3``).

    Fields: ``c``, ``d``, ``u1``, ``u2`` (symbols), ``joint_density``, ``total_mass`` (must be 1)
    and ``probability`` (simplified: ``c**d``).
    """

    c: _sp6.Symbol
    d: _sp6.Symbol
    u1: _sp6.Symbol
    u2: _sp6.Symbol
    joint_density: _sp6.Expr
    total_mass: _sp6.Expr
    probability: _sp6.Expr


def memorization_floor() -> MemorizationFloor:
    """Derive ``P(R_1 < c R_2) = c^d`` for locally uniform data (see :class:`MemorizationFloor`)."""
    c, d = _sp6.symbols("c d", positive=True)
    u1, u2 = _sp6.symbols("u_1 u_2", positive=True)
    density = _sp6.exp(-u2)
    mass = _sp6.integrate(_sp6.integrate(density, (u1, 0, u2)), (u2, 0, _sp6.oo))
    prob = _sp6.integrate(_sp6.integrate(density, (u1, 0, c ** d * u2)), (u2, 0, _sp6.oo))
    return MemorizationFloor(c, d, u1, u2, density, _sp6.simplify(mass), _sp6.simplify(prob))

