"""Sympy derivations of chapters 1-2 (to be split by the refactor)."""

from __future__ import annotations

# ===========================================================================================
# Chapters 1-2 (forward process, DSM, empirical score; Proposition 4.1: Loss-Gap = Fisher)
# ===========================================================================================

from dataclasses import dataclass as _dataclass12

import mpmath as _mpmath12
import sympy as _sp12

_T12 = _sp12.Symbol("t", nonnegative=True)
_A12 = _sp12.Symbol("a_t", positive=True)
_S12 = _sp12.Symbol("s_t", positive=True)


def _check_count12(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def ou_generator(f, x: _sp12.Symbol) -> _sp12.Expr:
    """Generator of ``dX = -X/2 dt + dW`` on a function ``f(x)``: ``L f = -(x/2) f' + (1/2) f''``.

    By Ito's formula (Dynkin), ``d/dt E[f(X_t)] = E[(L f)(X_t)]``.
    """
    return _sp12.expand(-x / 2 * _sp12.diff(f, x) + _sp12.diff(f, x, 2) / 2)


@_dataclass12(frozen=True)
class OUMoments:
    """Moments of the 1-D OU process ``dX = -X/2 dt + dW``, ``X_0 = x_0``, derived with ``dsolve``.

    ``mean_ode``: ``m' = -m/2`` (from ``L x = -x/2``); ``variance_ode``: ``v' = 1 - v`` (from
    ``L x^2 = 1 - x^2`` and ``v = E[X^2] - m^2``). ``mean = x_0 e^{-t/2}``, ``variance = 1 - e^{-t}``,
    ``alpha = mean / x_0`` (``a_t``), ``sigma2`` (``s_t^2``), ``identity = simplify(a_t^2 + s_t^2)`` (``= 1``).
    """

    t: _sp12.Symbol
    x0: _sp12.Symbol
    generator_x: _sp12.Expr
    generator_x2: _sp12.Expr
    mean_ode: _sp12.Eq
    variance_ode: _sp12.Eq
    mean: _sp12.Expr
    variance: _sp12.Expr
    alpha: _sp12.Expr
    sigma2: _sp12.Expr
    identity: _sp12.Expr


def ou_moments() -> OUMoments:
    """Derive ``a_t = e^{-t/2}`` and ``s_t^2 = 1 - e^{-t}`` from the SDE (see :class:`OUMoments`)."""
    t = _T12
    x, x0 = _sp12.symbols("x x_0", real=True)
    m, M, v = _sp12.Function("m"), _sp12.Function("M"), _sp12.Function("v")
    Lx, Lx2 = ou_generator(x, x), ou_generator(x ** 2, x)
    # Both generators are linear in the moment they act on, so the moment ODEs close:
    # m' = E[L x] = -m/2 and M' = E[L x^2] = 1 - M with M = E[X^2].
    mean_ode = _sp12.Eq(m(t).diff(t), Lx.subs(x, m(t)))
    dM = Lx2.subs(x ** 2, M(t))
    # v = M - m^2  =>  v' = M' - 2 m m', rewritten in v by substituting M = v + m^2.
    dv = _sp12.expand((dM - 2 * m(t) * mean_ode.rhs).subs(M(t), v(t) + m(t) ** 2))
    variance_ode = _sp12.Eq(v(t).diff(t), dv)
    mean = _sp12.dsolve(mean_ode, m(t), ics={m(0): x0}).rhs
    variance = _sp12.simplify(_sp12.dsolve(variance_ode, v(t), ics={v(0): 0}).rhs)
    alpha = _sp12.simplify(mean / x0)
    return OUMoments(t, x0, Lx, Lx2, mean_ode, variance_ode, mean, variance, alpha, variance,
                     _sp12.simplify(alpha ** 2 + variance))


def _vector12(name: str, dim: int) -> _sp12.Matrix:
    if dim == 1:
        return _sp12.Matrix([_sp12.Symbol(name, real=True)])
    return _sp12.Matrix(_sp12.symbols(f"{name}_1:{dim + 1}", real=True))


def _gaussian_density12(x: _sp12.Matrix, mean: _sp12.Matrix, var) -> _sp12.Expr:
    """``N(x; mean, var I)`` in ``R^d``."""
    diff = x - mean
    return _sp12.exp(-(diff.T * diff)[0, 0] / (2 * var)) / (2 * _sp12.pi * var) ** _sp12.Rational(len(x), 2)


@_dataclass12(frozen=True)
class ConditionalScore:
    """Score of ``X_t | X_0 = x_0 ~ N(a_t x_0, s_t^2 I)`` in ``R^d``.

    ``score = grad_x log N(x; a_t x_0, s_t^2 I)`` (by differentiation), ``closed_form = -(x - a_t x_0)/s_t^2``
    (``= -Z/s_t`` at ``x = a_t x_0 + s_t Z``).
    """

    x: _sp12.Matrix
    x0: _sp12.Matrix
    a: _sp12.Symbol
    s: _sp12.Symbol
    log_density: _sp12.Expr
    score: _sp12.Matrix
    closed_form: _sp12.Matrix


def conditional_score(dim: int = 2) -> ConditionalScore:
    """Differentiate ``log N(x; a_t x_0, s_t^2 I)`` in ``R^dim`` (see :class:`ConditionalScore`)."""
    dim = _check_count12(dim, "dim")
    a, s = _A12, _S12
    x, x0 = _vector12("x", dim), _vector12("y", dim)
    log_density = _sp12.expand_log(_sp12.log(_gaussian_density12(x, a * x0, s ** 2)), force=True)
    score = _sp12.Matrix([_sp12.simplify(_sp12.diff(log_density, xk)) for xk in x])
    return ConditionalScore(x, x0, a, s, log_density, score, -(x - a * x0) / s ** 2)


@_dataclass12(frozen=True)
class DSMMinimiser:
    """Pointwise minimisation of the empirical DSM loss at one ``t`` (one coordinate; the loss adds over coordinates).

    Writing ``(1/n) sum_i l_t(x_i, s) = int (1/n) sum_i q_i(x) (g_i(x) - s(x))^2 dx`` with ``q_i`` the
    density of ``X_t | X_0 = x_i`` and ``g_i`` its conditional score, the integrand is minimised at each
    ``x`` separately. ``objective`` is that integrand, ``stationarity`` its ``s``-derivative,
    ``minimiser = sum_i q_i g_i / sum_i q_i`` (``= E[g | X_t = x]``) and ``curvature = (2/n) sum_i q_i > 0``.
    """

    s: _sp12.Symbol
    q: tuple
    g: tuple
    objective: _sp12.Expr
    stationarity: _sp12.Expr
    minimiser: _sp12.Expr
    curvature: _sp12.Expr


def dsm_pointwise_minimiser(n: int = 3) -> DSMMinimiser:
    """Solve ``d/ds (1/n) sum_i q_i (g_i - s)^2 = 0`` for ``s`` with ``n`` symbolic pairs ``(q_i, g_i)``."""
    n = _check_count12(n, "n")
    s = _sp12.Symbol("s", real=True)
    q = _sp12.symbols(f"q_1:{n + 1}", positive=True)
    g = _sp12.symbols(f"g_1:{n + 1}", real=True)
    objective = _sp12.Add(*[qi * (gi - s) ** 2 for qi, gi in zip(q, g)]) / n
    stationarity = _sp12.diff(objective, s)
    (minimiser,) = _sp12.solve(stationarity, s)
    return DSMMinimiser(s, q, g, objective, stationarity, _sp12.factor(minimiser),
                        _sp12.factor(_sp12.diff(objective, s, 2)))


@_dataclass12(frozen=True)
class EmpiricalScoreDerivation:
    """Closed form of the empirical score for ``n`` symbolic training points in ``R^dim``.

    ``from_minimiser``: the DSM minimiser ``sum_i q_i g_i / sum_i q_i`` with the Gaussian ``q_i`` and
    conditional scores ``g_i`` substituted; ``softmax_form``: ``sum_i w_i (a_t x_i - x)/s_t^2`` with
    ``w = softmax(-|x - a_t x_i|^2 / (2 s_t^2))``; ``grad_log_density``: ``grad log p^_t`` by differentiating
    ``log((1/n) sum_i q_i)``. ``in_time(expr)`` replaces ``a_t, s_t`` by ``e^{-t/2}, sqrt(1 - e^{-t})``.
    """

    x: _sp12.Matrix
    data: tuple
    a: _sp12.Symbol
    s: _sp12.Symbol
    t: _sp12.Symbol
    densities: tuple
    conditional_scores: tuple
    weights: tuple
    density: _sp12.Expr
    from_minimiser: _sp12.Matrix
    softmax_form: _sp12.Matrix
    grad_log_density: _sp12.Matrix

    def in_time(self, expr):
        """``expr`` with ``a_t = e^{-t/2}``, ``s_t = sqrt(1 - e^{-t})``."""
        return expr.subs({self.a: _sp12.exp(-self.t / 2), self.s: _sp12.sqrt(1 - _sp12.exp(-self.t))})


def empirical_score_derivation(n: int = 3, dim: int = 1) -> EmpiricalScoreDerivation:
    """Build :class:`EmpiricalScoreDerivation` (data symbols ``x_i`` in 1-D, ``y_ik`` in ``R^dim``)."""
    n, dim = _check_count12(n, "n"), _check_count12(dim, "dim")
    a, s = _A12, _S12
    x = _vector12("x", dim)
    if dim == 1:
        data = tuple(_sp12.Matrix([xi]) for xi in _sp12.symbols(f"x_1:{n + 1}", real=True))
    else:
        data = tuple(_sp12.Matrix(_sp12.symbols(f"y_{i + 1}1:{i + 1}{dim + 1}", real=True)) for i in range(n))
    q = tuple(_gaussian_density12(x, a * xi, s ** 2) for xi in data)
    g = tuple(-(x - a * xi) / s ** 2 for xi in data)
    total = _sp12.Add(*q)
    from_min = _sp12.Matrix.zeros(dim, 1)
    for qi, gi in zip(q, g):
        from_min += qi * gi
    from_min = from_min / total
    logits = [-((x - a * xi).T * (x - a * xi))[0, 0] / (2 * s ** 2) for xi in data]
    norm = _sp12.Add(*[_sp12.exp(lg) for lg in logits])
    w = tuple(_sp12.exp(lg) / norm for lg in logits)
    soft = _sp12.Matrix.zeros(dim, 1)
    for wi, xi in zip(w, data):
        soft += wi * (a * xi - x) / s ** 2
    density = total / n
    grad = _sp12.Matrix([_sp12.diff(_sp12.log(density), xk) for xk in x])
    return EmpiricalScoreDerivation(x, data, a, s, _T12, q, g, w, density, from_min, soft, grad)


def vector_is_zero(vec) -> bool:
    """``True`` iff every entry of ``vec`` simplifies to zero (``sympy.simplify``)."""
    return all(_sp12.simplify(_sp12.together(entry)) == 0 for entry in _sp12.Matrix(vec))


@_dataclass12(frozen=True)
class LossGapSplit:
    """Algebra of Proposition 4.1, one coordinate (squared norms add over coordinates).

    ``g`` conditional score, ``s`` any score, ``s_hat`` the empirical score. ``gap = (g - s)^2 - (g - s_hat)^2``
    (the per-draw Loss-Gap integrand); ``split = (s_hat - s)^2 + 2 (g - s_hat)(s_hat - s)``; ``residual =
    expand(gap - split)`` (``= 0``); ``cross = (g - s_hat)(s_hat - s)``, the term whose expectation vanishes.
    """

    g: _sp12.Symbol
    s: _sp12.Symbol
    s_hat: _sp12.Symbol
    gap: _sp12.Expr
    expanded_gap: _sp12.Expr
    split: _sp12.Expr
    residual: _sp12.Expr
    cross: _sp12.Expr


def loss_gap_split() -> LossGapSplit:
    """Expand ``|g - s|^2 - |g - s^|^2`` around the empirical score ``s^`` (see :class:`LossGapSplit`)."""
    g, s, sh = _sp12.symbols(r"g s \hat{s}", real=True)
    gap = (g - s) ** 2 - (g - sh) ** 2
    cross = (g - sh) * (sh - s)
    split = (sh - s) ** 2 + 2 * cross
    return LossGapSplit(g, s, sh, gap, _sp12.expand(gap), split, _sp12.expand(gap - split), cross)


@_dataclass12(frozen=True)
class CrossTerm:
    """The cross term ``E[(g - s^)(X_t) h(X_t)]`` under the empirical joint law of ``(I, X_t)``.

    ``I`` uniform on ``1..n``, ``X_t | I = i ~ N(a_t x_i, s_t^2)``. For any test function ``h``,
    ``E[(g_I - s^)(X_t) h(X_t)] = int h(x) integrand(x) dx`` with ``integrand = (1/n) sum_i q_i (g_i - s^)``.
    ``conditional_mean = sum_i q_i g_i / sum_i q_i`` (Bayes: ``E[g_I | X_t = x]``); ``integrand`` uses
    ``s^ = grad log p^_t`` obtained by differentiation, so its vanishing *is* ``E[g | X_t] = s^``.
    """

    derivation: EmpiricalScoreDerivation
    conditional_mean: _sp12.Matrix
    integrand: _sp12.Matrix


def cross_term(n: int = 2, dim: int = 1) -> CrossTerm:
    """Build :class:`CrossTerm` for ``n`` symbolic training points in ``R^dim``."""
    der = empirical_score_derivation(n, dim)
    integrand = _sp12.Matrix.zeros(len(der.x), 1)
    for qi, gi in zip(der.densities, der.conditional_scores):
        integrand += qi * (gi - der.grad_log_density) / n
    return CrossTerm(der, der.from_minimiser, integrand)


def gaussian_expr_is_zero(expr) -> bool:
    """Decide ``expr == 0`` exactly for an expression rational in ``x`` and in Gaussian factors ``exp(...)``.

    Each distinct ``exp(...)`` is replaced by an independent positive symbol and the numerator of the
    resulting rational function is expanded (an identity in free symbols is stronger than needed).
    """
    expr = _sp12.sympify(expr)
    repl = {e: _sp12.Dummy(positive=True) for e in expr.atoms(_sp12.exp)}
    num, _ = _sp12.fraction(_sp12.together(expr.xreplace(repl)))
    return _sp12.expand(num) == 0


@_dataclass12(frozen=True)
class TwoPointExample:
    """1-D, data ``{x_1, x_2}`` drawn from ``P_0 = N(0, 1)``, fixed ``t``; ``P_t = N(0, 1)``, true score ``s(x) = -x``.

    ``cross_integrand = (1/2) sum_i q_i (g_i - s^)`` and ``cross_integrand_is_zero`` (decided exactly by
    :func:`gaussian_expr_is_zero`). By ``mpmath.quad`` at
    ``digits`` significant digits: the two halves of the cross term, ``cross_parts = (E[g_I (s^ - s)],
    E[s^ (s^ - s)])`` (each non-zero, equal to each other), ``loss_gap = (1/2) sum_i int q_i ((g_i - s)^2 -
    (g_i - s^)^2)``, ``fisher_empirical = int p^_t (s^ - s)^2`` and ``fisher_true = int p_t (s^ - s)^2``.
    """

    x: _sp12.Symbol
    data: tuple
    t: _sp12.Expr
    score: _sp12.Expr
    empirical_score: _sp12.Expr
    cross_integrand: _sp12.Expr
    cross_integrand_is_zero: bool
    cross_parts: tuple
    loss_gap: _mpmath12.mpf
    fisher_empirical: _mpmath12.mpf
    fisher_true: _mpmath12.mpf


def two_point_example(x1=-1, x2=2, t=None, *, digits: int = 30) -> TwoPointExample:
    """Proposition 4.1 for the data set ``{x1, x2}`` at time ``t`` (default ``log 2``: ``a_t^2 = s_t^2 = 1/2``)."""
    digits = _check_count12(digits, "digits", 5)
    t = _sp12.log(2) if t is None else _sp12.nsimplify(t)
    if not (t.is_positive and t.is_finite):
        raise ValueError(f"t must be a positive finite number, got {t}")
    data = (_sp12.nsimplify(x1), _sp12.nsimplify(x2))
    if not all(xi.is_real for xi in data):
        raise ValueError(f"x1, x2 must be real numbers, got {x1!r}, {x2!r}")
    x = _sp12.Symbol("x", real=True)
    a, s2 = _sp12.exp(-t / 2), 1 - _sp12.exp(-t)
    q = [_sp12.exp(-(x - a * xi) ** 2 / (2 * s2)) / _sp12.sqrt(2 * _sp12.pi * s2) for xi in data]
    g = [-(x - a * xi) / s2 for xi in data]
    p_hat = (q[0] + q[1]) / 2
    s_hat = _sp12.diff(_sp12.log(p_hat), x)
    score = -x
    p_true = _sp12.exp(-x ** 2 / 2) / _sp12.sqrt(2 * _sp12.pi)
    cross_integrand = sum(qi * (gi - s_hat) for qi, gi in zip(q, g)) / 2
    with _mpmath12.workdps(digits):
        def quad(expr):
            f = _sp12.lambdify(x, expr, "mpmath")
            return _mpmath12.quad(f, [-_mpmath12.inf, 0, _mpmath12.inf])
        parts = (quad(sum(qi * gi for qi, gi in zip(q, g)) / 2 * (s_hat - score)),
                 quad(p_hat * s_hat * (s_hat - score)))
        lg = quad(sum(qi * ((gi - score) ** 2 - (gi - s_hat) ** 2) for qi, gi in zip(q, g)) / 2)
        fe = quad(p_hat * (s_hat - score) ** 2)
        ft = quad(p_true * (s_hat - score) ** 2)
    return TwoPointExample(x, data, t, score, s_hat, cross_integrand, gaussian_expr_is_zero(cross_integrand),
                           parts, lg, fe, ft)


