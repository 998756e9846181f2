"""Sympy derivation of chapter 3 (Theorem 4.3): the isolated-sample Loss-Gap as a Gaussian expectation.

Per eigen-direction ``lambda`` of ``Sigma``: ``E|grad log p^_t - grad log p_t|^2 = 1/s_t^2 - 1/(a_t^2 lambda + s_t^2)``,
from the polynomial moments of two independent standard normals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp


def standard_normal_moment(k: int) -> sp.Integer:
    """``E[Z^k]`` for ``Z ~ N(0, 1)``: ``(k-1)!!`` for even ``k``, 0 for odd ``k``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative int, got {k!r}")
    return sp.Integer(0) if k % 2 else sp.factorial2(k - 1) if k else sp.Integer(1)


def gaussian_expectation(expr, variables) -> sp.Expr:
    """``E[expr]`` for ``expr`` polynomial in independent standard normals ``variables`` (others are constants).

    Expands ``expr`` into monomials and replaces each ``prod_j Z_j^{k_j}`` by ``prod_j E[Z_j^{k_j}]``.
    """
    variables = tuple(variables)
    if not variables or not all(isinstance(v, sp.Symbol) for v in variables):
        raise TypeError("variables must be a non-empty sequence of sympy Symbols")
    poly = sp.Poly(sp.expand(expr), *variables)
    total = sp.Integer(0)
    for powers, coeff in poly.terms():
        moment = sp.Integer(1)
        for k in powers:
            moment *= standard_normal_moment(int(k))
        total += coeff * moment
    return sp.simplify(total)


@dataclass(frozen=True)
class IsolatedLossGap:
    """One eigen-direction (eigenvalue ``lam`` of ``Sigma``) of the Loss-Gap at an isolated training point.

    ``x_i = mu + sqrt(lam) U``, ``X_t = a x_i + s Z`` (``U, Z`` independent ``N(0, 1)``), ``c = a^2 lam + s^2``:
    empirical score ``-Z/s`` (posterior on ``x_i``), true score ``-(X_t - a mu)/c`` (the component's Gaussian).
    Their difference is ``noise_part * Z + variance_part * U``. Fields hold the expectations:
    ``noise_raw = E[Z^2]/s^2``, ``noise_term = E[(noise_part Z)^2]``, ``variance_term = E[(variance_part U)^2]``,
    ``cross_term`` (``= 0``), ``total``, ``closed_form = 1/s^2 - 1/c``, ``small_s`` (series at ``s -> 0``),
    ``lower_bound_gap = total - (1/s^2 + lam)/4`` and ``lower_bound_split`` (a sum of two terms that are
    ``>= 0`` when ``s^2 <= a^2 lam`` and ``s^2 lam <= 1``).
    """

    a: sp.Symbol
    s: sp.Symbol
    lam: sp.Symbol
    Z: sp.Symbol
    U: sp.Symbol
    empirical_score: sp.Expr
    true_score: sp.Expr
    noise_part: sp.Expr
    variance_part: sp.Expr
    noise_raw: sp.Expr
    noise_term: sp.Expr
    variance_term: sp.Expr
    cross_term: sp.Expr
    total: sp.Expr
    closed_form: sp.Expr
    small_s: sp.Expr
    lower_bound_gap: sp.Expr
    lower_bound_split: tuple


def isolated_loss_gap_derivation() -> IsolatedLossGap:
    """Derive ``E|grad log p^_t - grad log p_t|^2`` per eigen-direction at an isolated sample (see :class:`IsolatedLossGap`)."""
    a, s, lam = sp.symbols("a_t s_t lambda", positive=True)
    Z, U = sp.symbols("Z U", real=True)
    c = a ** 2 * lam + s ** 2
    emp = -Z / s
    true = -(a * sp.sqrt(lam) * U + s * Z) / c
    diff = sp.expand(emp - true)
    noise_part = sp.simplify(diff.coeff(Z))
    variance_part = sp.simplify(diff.coeff(U))
    noise_term = gaussian_expectation((noise_part * Z) ** 2, (Z, U))
    variance_term = gaussian_expectation((variance_part * U) ** 2, (Z, U))
    cross = gaussian_expectation(2 * noise_part * Z * variance_part * U, (Z, U))
    total = sp.factor(sp.simplify(gaussian_expectation(diff ** 2, (Z, U))))
    closed = 1 / s ** 2 - 1 / c
    small_s = sp.series(total, s, 0, 2).removeO()
    gap = sp.simplify(total - (1 / s ** 2 + lam) / 4)
    split = ((a ** 2 * lam - s ** 2) / (2 * s ** 2 * c), (1 - s ** 2 * lam) / (4 * s ** 2))
    return IsolatedLossGap(a, s, lam, Z, U, emp, true, noise_part, variance_part,
                           gaussian_expectation(Z ** 2, (Z,)) / s ** 2, noise_term, variance_term, cross,
                           total, closed, small_s, gap, split)


def isolated_loss_gap_numeric(t: float, lam: float, d: int = 1) -> float:
    """``d`` times the derived per-direction ``total`` at ``a = e^{-t/2}``, ``s = sqrt(1 - e^{-t})`` (for cross-checks)."""
    der = isolated_loss_gap_derivation()
    value = der.total.subs({der.a: math.exp(-t / 2), der.s: math.sqrt(-math.expm1(-t)), der.lam: lam})
    return d * float(value)


