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




@dataclass(frozen=True)
class UpperBoundIdentity:
    """The algebra of the exact identity ``E_D[LG_t] = E_D[J(P^_t)] - J(P_t) = d s_t^-2 - J(P_t) - E_D[L^_min,t]``.

    ``decomposition``: ``|g - f|^2 - |g - h|^2 - |h - f|^2 - 2 (g - h).(h - f)`` for scalars ``g`` (the conditional
    score), ``h`` (the posterior mean of ``g``, the DSM minimiser) and any ``f``; it expands to 0, and the cross
    term has mean 0 because ``E[g | X] = h``. Then, one direction of an isolated sample (``n = 1``, as in
    :class:`IsolatedLossGap`): ``j_emp = E[h^2] = 1/s^2``, ``j_true = E[f^2] = 1/c``, ``cross = E[h f] = 1/c``
    (``= J(P_t)``: integration by parts), ``l_min_emp = E[(g - h)^2] = 0``, ``upper = E[(g - f)^2] = 1/s^2 - 1/c`` (the DSM
    minimum under the true joint law: the upper bound ``U``), ``fisher = E[(h - f)^2]``, and ``identity`` = ``fisher - (j_emp -
    j_true)`` (0).
    """

    decomposition: sp.Expr
    j_emp: sp.Expr
    j_true: sp.Expr
    cross: sp.Expr
    l_min_emp: sp.Expr
    upper: sp.Expr
    fisher: sp.Expr
    identity: sp.Expr


def upper_bound_identity() -> UpperBoundIdentity:
    """Derive :class:`UpperBoundIdentity` (sympy, exact)."""
    g, h, f = sp.symbols("g h f", real=True)
    decomposition = sp.expand((g - f) ** 2 - (g - h) ** 2 - (h - f) ** 2 - 2 * (g - h) * (h - f))
    der = isolated_loss_gap_derivation()
    a, s, lam, Z, U = der.a, der.s, der.lam, der.Z, der.U
    c = a ** 2 * lam + s ** 2
    x_t = a * sp.sqrt(lam) * U + s * Z          # component mean 0, x_i = sqrt(lam) U
    cond = -Z / s                                 # g = -(X_t - a x_i) / s^2
    emp, true = der.empirical_score, -x_t / c     # h (posterior on x_i), f (true score)

    def mean(expr):
        return sp.simplify(gaussian_expectation(expr, (Z, U)))

    j_emp, j_true, cross = mean(emp ** 2), mean(true ** 2), mean(emp * true)
    fisher = mean((emp - true) ** 2)
    l_min_emp = mean((cond - emp) ** 2)
    upper = mean((cond - true) ** 2)              # DSM minimum under the true joint law (E[g | X] = f there)
    return UpperBoundIdentity(decomposition, j_emp, j_true, cross, l_min_emp, upper, fisher,
                              sp.simplify(fisher - (j_emp - j_true)))
