"""Sympy derivations of Chapter 1: the OU moments ``a_t, s_t``, the conditional score and the DSM minimiser.

Also the pieces later chapters reuse: the symbols ``T, A_T, S_T`` (``t``, ``a_t``, ``s_t``),
:func:`empirical_score_derivation` and :func:`vector_is_zero`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from memsep_lib.validation import check_positive_int

__all__ = ["T", "A_T", "S_T", "ou_generator", "OUMoments", "ou_moments", "ConditionalScore", "conditional_score",
           "DSMMinimiser", "dsm_pointwise_minimiser", "EmpiricalScoreDerivation", "empirical_score_derivation",
           "vector_is_zero"]

T = sp.Symbol("t", nonnegative=True)
A_T = sp.Symbol("a_t", positive=True)
S_T = sp.Symbol("s_t", positive=True)


def ou_generator(f, x: sp.Symbol) -> sp.Expr:
    """Generator of ``dX = -X/2 dt + dW`` on a function ``f(x)``: ``L f = -(x/2) f' + (1/2) f''``.

    By Ito's formula (Dynkin), ``d/dt E[f(X_t)] = E[(L f)(X_t)]``.
    """
    return sp.expand(-x / 2 * sp.diff(f, x) + sp.diff(f, x, 2) / 2)


@dataclass(frozen=True)
class OUMoments:
    """Moments of the 1-D OU process ``dX = -X/2 dt + dW``, ``X_0 = x_0``, derived with ``dsolve``.

    ``mean_ode``: ``m' = -m/2`` (from ``L x = -x/2``); ``variance_ode``: ``v' = 1 - v`` (from
    ``L x^2 = 1 - x^2`` and ``v = E[X^2] - m^2``). ``mean = x_0 e^{-t/2}``, ``variance = 1 - e^{-t}``,
    ``alpha = mean / x_0`` (``a_t``), ``sigma2`` (``s_t^2``), ``identity = simplify(a_t^2 + s_t^2)`` (``= 1``).
    """

    t: sp.Symbol
    x0: sp.Symbol
    generator_x: sp.Expr
    generator_x2: sp.Expr
    mean_ode: sp.Eq
    variance_ode: sp.Eq
    mean: sp.Expr
    variance: sp.Expr
    alpha: sp.Expr
    sigma2: sp.Expr
    identity: sp.Expr


def ou_moments() -> OUMoments:
    """Derive ``a_t = e^{-t/2}`` and ``s_t^2 = 1 - e^{-t}`` from the SDE (see :class:`OUMoments`)."""
    t = T
    x, x0 = sp.symbols("x x_0", real=True)
    m, M, v = sp.Function("m"), sp.Function("M"), sp.Function("v")
    Lx, Lx2 = ou_generator(x, x), ou_generator(x ** 2, x)
    # Both generators are linear in the moment they act on, so the moment ODEs close:
    # m' = E[L x] = -m/2 and M' = E[L x^2] = 1 - M with M = E[X^2].
    mean_ode = sp.Eq(m(t).diff(t), Lx.subs(x, m(t)))
    dM = Lx2.subs(x ** 2, M(t))
    # v = M - m^2  =>  v' = M' - 2 m m', rewritten in v by substituting M = v + m^2.
    dv = sp.expand((dM - 2 * m(t) * mean_ode.rhs).subs(M(t), v(t) + m(t) ** 2))
    variance_ode = sp.Eq(v(t).diff(t), dv)
    mean = sp.dsolve(mean_ode, m(t), ics={m(0): x0}).rhs
    variance = sp.simplify(sp.dsolve(variance_ode, v(t), ics={v(0): 0}).rhs)
    alpha = sp.simplify(mean / x0)
    return OUMoments(t, x0, Lx, Lx2, mean_ode, variance_ode, mean, variance, alpha, variance,
                     sp.simplify(alpha ** 2 + variance))


def _vector(name: str, dim: int) -> sp.Matrix:
    if dim == 1:
        return sp.Matrix([sp.Symbol(name, real=True)])
    return sp.Matrix(sp.symbols(f"{name}_1:{dim + 1}", real=True))


def _gaussian_density(x: sp.Matrix, mean: sp.Matrix, var) -> sp.Expr:
    """``N(x; mean, var I)`` in ``R^d``."""
    diff = x - mean
    return sp.exp(-(diff.T * diff)[0, 0] / (2 * var)) / (2 * sp.pi * var) ** sp.Rational(len(x), 2)


@dataclass(frozen=True)
class ConditionalScore:
    """Score of ``X_t | X_0 = x_0 ~ N(a_t x_0, s_t^2 I)`` in ``R^d``.

    ``score = grad_x log N(x; a_t x_0, s_t^2 I)`` (by differentiation), ``closed_form = -(x - a_t x_0)/s_t^2``
    (``= -Z/s_t`` at ``x = a_t x_0 + s_t Z``).
    """

    x: sp.Matrix
    x0: sp.Matrix
    a: sp.Symbol
    s: sp.Symbol
    log_density: sp.Expr
    score: sp.Matrix
    closed_form: sp.Matrix


def conditional_score(dim: int = 2) -> ConditionalScore:
    """Differentiate ``log N(x; a_t x_0, s_t^2 I)`` in ``R^dim`` (see :class:`ConditionalScore`)."""
    check_positive_int(dim, "dim")
    a, s = A_T, S_T
    x, x0 = _vector("x", dim), _vector("y", dim)
    log_density = sp.expand_log(sp.log(_gaussian_density(x, a * x0, s ** 2)), force=True)
    score = sp.Matrix([sp.simplify(sp.diff(log_density, xk)) for xk in x])
    return ConditionalScore(x, x0, a, s, log_density, score, -(x - a * x0) / s ** 2)


@dataclass(frozen=True)
class DSMMinimiser:
    """Pointwise minimisation of the empirical DSM loss at one ``t`` (one coordinate; the loss adds over coordinates).

    Writing ``(1/n) sum_i l_t(x_i, s) = int (1/n) sum_i q_i(x) (g_i(x) - s(x))^2 dx`` with ``q_i`` the
    density of ``X_t | X_0 = x_i`` and ``g_i`` its conditional score, the integrand is minimised at each
    ``x`` separately. ``objective`` is that integrand, ``stationarity`` its ``s``-derivative,
    ``minimiser = sum_i q_i g_i / sum_i q_i`` (``= E[g | X_t = x]``) and ``curvature = (2/n) sum_i q_i > 0``.
    """

    s: sp.Symbol
    q: tuple
    g: tuple
    objective: sp.Expr
    stationarity: sp.Expr
    minimiser: sp.Expr
    curvature: sp.Expr


def dsm_pointwise_minimiser(n: int = 3) -> DSMMinimiser:
    """Solve ``d/ds (1/n) sum_i q_i (g_i - s)^2 = 0`` for ``s`` with ``n`` symbolic pairs ``(q_i, g_i)``."""
    check_positive_int(n, "n")
    s = sp.Symbol("s", real=True)
    q = sp.symbols(f"q_1:{n + 1}", positive=True)
    g = sp.symbols(f"g_1:{n + 1}", real=True)
    objective = sp.Add(*[qi * (gi - s) ** 2 for qi, gi in zip(q, g)]) / n
    stationarity = sp.diff(objective, s)
    (minimiser,) = sp.solve(stationarity, s)
    return DSMMinimiser(s, q, g, objective, stationarity, sp.factor(minimiser), sp.factor(sp.diff(objective, s, 2)))


@dataclass(frozen=True)
class EmpiricalScoreDerivation:
    """Closed form of the empirical score for ``n`` symbolic training points in ``R^dim``.

    ``from_minimiser``: the DSM minimiser ``sum_i q_i g_i / sum_i q_i`` with the Gaussian ``q_i`` and
    conditional scores ``g_i`` substituted; ``softmax_form``: ``sum_i w_i (a_t x_i - x)/s_t^2`` with
    ``w = softmax(-|x - a_t x_i|^2 / (2 s_t^2))``; ``grad_log_density``: ``grad log p^_t`` by differentiating
    ``log((1/n) sum_i q_i)``. ``in_time(expr)`` replaces ``a_t, s_t`` by ``e^{-t/2}, sqrt(1 - e^{-t})``.
    """

    x: sp.Matrix
    data: tuple
    a: sp.Symbol
    s: sp.Symbol
    t: sp.Symbol
    densities: tuple
    conditional_scores: tuple
    weights: tuple
    density: sp.Expr
    from_minimiser: sp.Matrix
    softmax_form: sp.Matrix
    grad_log_density: sp.Matrix

    def in_time(self, expr):
        """``expr`` with ``a_t = e^{-t/2}``, ``s_t = sqrt(1 - e^{-t})``."""
        return expr.subs({self.a: sp.exp(-self.t / 2), self.s: sp.sqrt(1 - sp.exp(-self.t))})


def empirical_score_derivation(n: int = 3, dim: int = 1) -> EmpiricalScoreDerivation:
    """Build :class:`EmpiricalScoreDerivation` (data symbols ``x_i`` in 1-D, ``y_ik`` in ``R^dim``)."""
    check_positive_int(n, "n")
    check_positive_int(dim, "dim")
    a, s = A_T, S_T
    x = _vector("x", dim)
    if dim == 1:
        data = tuple(sp.Matrix([xi]) for xi in sp.symbols(f"x_1:{n + 1}", real=True))
    else:
        data = tuple(sp.Matrix(sp.symbols(f"y_{i + 1}1:{i + 1}{dim + 1}", real=True)) for i in range(n))
    q = tuple(_gaussian_density(x, a * xi, s ** 2) for xi in data)
    g = tuple(-(x - a * xi) / s ** 2 for xi in data)
    total = sp.Add(*q)
    from_min = sp.Matrix.zeros(dim, 1)
    for qi, gi in zip(q, g):
        from_min += qi * gi
    from_min = from_min / total
    logits = [-((x - a * xi).T * (x - a * xi))[0, 0] / (2 * s ** 2) for xi in data]
    norm = sp.Add(*[sp.exp(lg) for lg in logits])
    w = tuple(sp.exp(lg) / norm for lg in logits)
    soft = sp.Matrix.zeros(dim, 1)
    for wi, xi in zip(w, data):
        soft += wi * (a * xi - x) / s ** 2
    density = total / n
    grad = sp.Matrix([sp.diff(sp.log(density), xk) for xk in x])
    return EmpiricalScoreDerivation(x, data, a, s, T, q, g, w, density, from_min, soft, grad)


def vector_is_zero(vec) -> bool:
    """``True`` iff every entry of ``vec`` simplifies to zero (``sympy.simplify``)."""
    return all(sp.simplify(sp.together(entry)) == 0 for entry in sp.Matrix(vec))
