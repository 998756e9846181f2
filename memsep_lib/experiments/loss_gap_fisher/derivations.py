"""Sympy derivations of Chapter 2 (Proposition 4.1): ``Loss-Gap_t = E_{P^_t} |grad log p^_t - grad log p_t|^2``.

The split of the Loss-Gap around ``s^``, the vanishing cross term ``E[(g - s^) h(X_t)] = 0`` (built on
Chapter 1's :func:`~memsep_lib.experiments.dsm_minimiser.derivations.empirical_score_derivation`), and
an exact two-point example evaluated with ``mpmath``.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy as sp

from memsep_lib.experiments.dsm_minimiser.derivations import EmpiricalScoreDerivation, empirical_score_derivation
from memsep_lib.validation import check_positive_int

__all__ = ["LossGapSplit", "loss_gap_split", "CrossTerm", "cross_term", "gaussian_expr_is_zero", "TwoPointExample",
           "two_point_example"]


@dataclass(frozen=True)
class LossGapSplit:
    """Algebra of Proposition 4.1, one coordinate (squared norms add over coordinates).

    ``g`` conditional score, ``s`` any score, ``s_hat`` the empirical score. ``gap = (g - s)^2 - (g - s_hat)^2``
    (the per-draw Loss-Gap integrand); ``split = (s_hat - s)^2 + 2 (g - s_hat)(s_hat - s)``; ``residual =
    expand(gap - split)`` (``= 0``); ``cross = (g - s_hat)(s_hat - s)``, the term whose expectation vanishes.
    """

    g: sp.Symbol
    s: sp.Symbol
    s_hat: sp.Symbol
    gap: sp.Expr
    expanded_gap: sp.Expr
    split: sp.Expr
    residual: sp.Expr
    cross: sp.Expr


def loss_gap_split() -> LossGapSplit:
    """Expand ``|g - s|^2 - |g - s^|^2`` around the empirical score ``s^`` (see :class:`LossGapSplit`)."""
    g, s, sh = sp.symbols(r"g s \hat{s}", real=True)
    gap = (g - s) ** 2 - (g - sh) ** 2
    cross = (g - sh) * (sh - s)
    split = (sh - s) ** 2 + 2 * cross
    return LossGapSplit(g, s, sh, gap, sp.expand(gap), split, sp.expand(gap - split), cross)


@dataclass(frozen=True)
class CrossTerm:
    """The cross term ``E[(g - s^)(X_t) h(X_t)]`` under the empirical joint law of ``(I, X_t)``.

    ``I`` uniform on ``1..n``, ``X_t | I = i ~ N(a_t x_i, s_t^2)``. For any test function ``h``,
    ``E[(g_I - s^)(X_t) h(X_t)] = int h(x) integrand(x) dx`` with ``integrand = (1/n) sum_i q_i (g_i - s^)``.
    ``conditional_mean = sum_i q_i g_i / sum_i q_i`` (Bayes: ``E[g_I | X_t = x]``); ``integrand`` uses
    ``s^ = grad log p^_t`` obtained by differentiation, so its vanishing *is* ``E[g | X_t] = s^``.
    """

    derivation: EmpiricalScoreDerivation
    conditional_mean: sp.Matrix
    integrand: sp.Matrix


def cross_term(n: int = 2, dim: int = 1) -> CrossTerm:
    """Build :class:`CrossTerm` for ``n`` symbolic training points in ``R^dim``."""
    der = empirical_score_derivation(n, dim)
    integrand = sp.Matrix.zeros(len(der.x), 1)
    for qi, gi in zip(der.densities, der.conditional_scores):
        integrand += qi * (gi - der.grad_log_density) / n
    return CrossTerm(der, der.from_minimiser, integrand)


def gaussian_expr_is_zero(expr) -> bool:
    """Decide ``expr == 0`` exactly for an expression rational in ``x`` and in Gaussian factors ``exp(...)``.

    Each distinct ``exp(...)`` is replaced by an independent positive symbol and the numerator of the
    resulting rational function is expanded (an identity in free symbols is stronger than needed).
    """
    expr = sp.sympify(expr)
    repl = {e: sp.Dummy(positive=True) for e in expr.atoms(sp.exp)}
    num, _ = sp.fraction(sp.together(expr.xreplace(repl)))
    return sp.expand(num) == 0


@dataclass(frozen=True)
class TwoPointExample:
    """1-D, data ``{x_1, x_2}`` drawn from ``P_0 = N(0, 1)``, fixed ``t``; ``P_t = N(0, 1)``, true score ``s(x) = -x``.

    ``cross_integrand = (1/2) sum_i q_i (g_i - s^)`` and ``cross_integrand_is_zero`` (decided exactly by
    :func:`gaussian_expr_is_zero`). By ``mpmath.quad`` at
    ``digits`` significant digits: the two halves of the cross term, ``cross_parts = (E[g_I (s^ - s)],
    E[s^ (s^ - s)])`` (each non-zero, equal to each other), ``loss_gap = (1/2) sum_i int q_i ((g_i - s)^2 -
    (g_i - s^)^2)``, ``fisher_empirical = int p^_t (s^ - s)^2`` and ``fisher_true = int p_t (s^ - s)^2``.
    """

    x: sp.Symbol
    data: tuple
    t: sp.Expr
    score: sp.Expr
    empirical_score: sp.Expr
    cross_integrand: sp.Expr
    cross_integrand_is_zero: bool
    cross_parts: tuple
    loss_gap: mpmath.mpf
    fisher_empirical: mpmath.mpf
    fisher_true: mpmath.mpf


def two_point_example(x1=-1, x2=2, t=None, *, digits: int = 30) -> TwoPointExample:
    """Proposition 4.1 for the data set ``{x1, x2}`` at time ``t`` (default ``log 2``: ``a_t^2 = s_t^2 = 1/2``)."""
    check_positive_int(digits, "digits")
    if digits < 5:
        raise ValueError(f"digits must be at least 5, got {digits}")
    t = sp.log(2) if t is None else sp.nsimplify(t)
    if not (t.is_positive and t.is_finite):
        raise ValueError(f"t must be a positive finite number, got {t}")
    data = (sp.nsimplify(x1), sp.nsimplify(x2))
    if not all(xi.is_real for xi in data):
        raise ValueError(f"x1, x2 must be real numbers, got {x1!r}, {x2!r}")
    x = sp.Symbol("x", real=True)
    a, s2 = sp.exp(-t / 2), 1 - sp.exp(-t)
    q = [sp.exp(-(x - a * xi) ** 2 / (2 * s2)) / sp.sqrt(2 * sp.pi * s2) for xi in data]
    g = [-(x - a * xi) / s2 for xi in data]
    p_hat = (q[0] + q[1]) / 2
    s_hat = sp.diff(sp.log(p_hat), x)
    score = -x
    p_true = sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi)
    cross_integrand = sum(qi * (gi - s_hat) for qi, gi in zip(q, g)) / 2
    with mpmath.workdps(digits):
        def quad(expr):
            f = sp.lambdify(x, expr, "mpmath")
            return mpmath.quad(f, [-mpmath.inf, 0, mpmath.inf])
        parts = (quad(sum(qi * gi for qi, gi in zip(q, g)) / 2 * (s_hat - score)),
                 quad(p_hat * s_hat * (s_hat - score)))
        lg = quad(sum(qi * ((gi - score) ** 2 - (gi - s_hat) ** 2) for qi, gi in zip(q, g)) / 2)
        fe = quad(p_hat * (s_hat - score) ** 2)
        ft = quad(p_true * (s_hat - score) ** 2)
    return TwoPointExample(x, data, t, score, s_hat, cross_integrand, gaussian_expr_is_zero(cross_integrand),
                           parts, lg, fe, ft)
