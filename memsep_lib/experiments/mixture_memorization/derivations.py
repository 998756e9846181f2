"""Sympy derivation of chapter 6: the false-positive floor ``P(R_1 < c R_2) = c^d`` of the memorisation test."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["MemorizationFloor", "memorization_floor"]


@dataclass(frozen=True)
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

    c: sp.Symbol
    d: sp.Symbol
    u1: sp.Symbol
    u2: sp.Symbol
    joint_density: sp.Expr
    total_mass: sp.Expr
    probability: sp.Expr


def memorization_floor() -> MemorizationFloor:
    """Derive ``P(R_1 < c R_2) = c^d`` for locally uniform data (see :class:`MemorizationFloor`)."""
    c, d = sp.symbols("c d", positive=True)
    u1, u2 = sp.symbols("u_1 u_2", positive=True)
    density = sp.exp(-u2)
    mass = sp.integrate(sp.integrate(density, (u1, 0, u2)), (u2, 0, sp.oo))
    prob = sp.integrate(sp.integrate(density, (u1, 0, c ** d * u2)), (u2, 0, sp.oo))
    return MemorizationFloor(c, d, u1, u2, density, sp.simplify(mass), sp.simplify(prob))
