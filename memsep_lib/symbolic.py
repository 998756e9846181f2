"""Symbolic (sympy) derivations behind the book's formulas; each chapter appends its own section."""

from __future__ import annotations

# ===========================================================================================
# Chapter 5 (Hessian and Lipschitz): grad^2 log p_t = -I/s_t^2 + (a_t^2/s_t^4) Cov[X_0 | X_t]
# ===========================================================================================

from dataclasses import dataclass as _dataclass

import sympy as _sp

_A_T = _sp.Symbol("a_t", positive=True)
_S_T = _sp.Symbol("s_t", positive=True)


@_dataclass(frozen=True)
class NoisedMixture:
    """Symbolic noised law ``P_t`` of ``P_0 = sum_k pi_k N(m_k, v_k I)`` in ``R^d`` (``v_k = 0``: point masses).

    ``P_t = sum_k pi_k N(a_t m_k, c_k I)`` with ``c_k = a_t^2 v_k + s_t^2``. Given ``X_t = x`` the
    component posterior is ``r_k = pi_k N(x; a_t m_k, c_k I) / p_t(x)`` and, within component ``k``,
    ``X_0 ~ N(m_k + (a_t v_k / c_k)(x - a_t m_k), (v_k s_t^2 / c_k) I)``.

    Fields: ``x`` (coordinates), ``a``, ``s`` (``a_t``, ``s_t``), ``means`` (``K x d``), ``variances``,
    ``weights``, ``terms`` (the ``K`` summands ``pi_k N(x; a_t m_k, c_k I)``), ``log_density``,
    ``responsibilities``, ``posterior_mean`` (``d x 1``) and ``posterior_cov`` (``d x d``).
    """

    x: tuple
    a: _sp.Symbol
    s: _sp.Symbol
    means: _sp.Matrix
    variances: tuple
    weights: tuple
    terms: tuple
    log_density: _sp.Expr
    responsibilities: tuple
    posterior_mean: _sp.Matrix
    posterior_cov: _sp.Matrix


def noised_mixture(dim: int, num_components: int, *, gaussian: bool = False) -> NoisedMixture:
    """Build :class:`NoisedMixture` with symbolic means ``m_k``, weights ``pi_k`` and (if ``gaussian``) variances ``v_k``."""
    for name, value in (("dim", dim), ("num_components", num_components)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    a, s = _A_T, _S_T
    K, d = num_components, dim
    x = _sp.symbols(f"x_1:{d + 1}", real=True) if d > 1 else (_sp.Symbol("x", real=True),)
    if d > 1:
        means = _sp.Matrix(K, d, lambda k, j: _sp.Symbol(f"m_{k + 1}{j + 1}", real=True))
    else:
        means = _sp.Matrix(K, 1, lambda k, j: _sp.Symbol(f"m_{k + 1}", real=True))
    weights = _sp.symbols(f"pi_1:{K + 1}", positive=True)
    variances = _sp.symbols(f"v_1:{K + 1}", positive=True) if gaussian else (_sp.Integer(0),) * K
    xv = _sp.Matrix(x)
    terms, cond_means, cond_vars = [], [], []
    for k in range(K):
        c = a ** 2 * variances[k] + s ** 2
        diff = xv - a * means[k, :].T
        sq = (diff.T * diff)[0, 0]
        terms.append(weights[k] * (2 * _sp.pi * c) ** _sp.Rational(-d, 2) * _sp.exp(-sq / (2 * c)))
        cond_means.append(means[k, :].T + (a * variances[k] / c) * diff)
        cond_vars.append(variances[k] * s ** 2 / c)
    p = _sp.Add(*terms)
    resp = tuple(term / p for term in terms)
    mean = _sp.zeros(d, 1)
    second = _sp.zeros(d, d)
    for k in range(K):
        mean += resp[k] * cond_means[k]
        second += resp[k] * (cond_vars[k] * _sp.eye(d) + cond_means[k] * cond_means[k].T)
    cov = second - mean * mean.T
    return NoisedMixture(tuple(x), a, s, means, tuple(variances), tuple(weights), tuple(terms),
                         _sp.log(p), resp, mean, cov)


def log_density_hessian(model: NoisedMixture) -> _sp.Matrix:
    """``grad^2 log p_t(x)`` by symbolic differentiation of ``model.log_density``."""
    return _sp.hessian(model.log_density, model.x)


def tweedie_hessian(model: NoisedMixture) -> _sp.Matrix:
    """The right-hand side ``-I/s_t^2 + (a_t^2/s_t^4) Cov[X_0 | X_t = x]`` for ``model``."""
    d = len(model.x)
    return -_sp.eye(d) / model.s ** 2 + (model.a ** 2 / model.s ** 4) * model.posterior_cov


def substitute_exponentials(expr, model: NoisedMixture):
    """``expr`` with each Gaussian factor ``exp(-|x - a_t m_k|^2 / (2 c_k))`` of ``model`` replaced by a symbol ``E_k``."""
    repl = {}
    for k, term in enumerate(model.terms):
        for e in term.atoms(_sp.exp):
            repl[e] = _sp.Symbol(f"E_{k + 1}", positive=True)
    return _sp.sympify(expr).xreplace(repl)


def mixture_expr_is_zero(expr, model: NoisedMixture) -> bool:
    """Decide ``expr == 0`` for an expression built from ``model``'s Gaussian terms.

    Each exponential ``exp(-|x - a_t m_k|^2 / (2 c_k))`` is replaced by an independent positive
    symbol ``E_k`` (:func:`substitute_exponentials`; legitimate: both sides are rational in the
    ``E_k`` with polynomial coefficients, so an identity in the ``E_k`` is stronger than needed);
    the numerator of the resulting rational function is expanded and must vanish.
    """
    num, _ = _sp.fraction(_sp.together(substitute_exponentials(expr, model)))
    return _sp.expand(num) == 0


def check_hessian_covariance_identity(dim: int, num_components: int, *, gaussian: bool = False) -> bool:
    """``True`` iff ``grad^2 log p_t == -I/s_t^2 + (a_t^2/s_t^4) Cov[X_0 | X_t]`` entrywise, symbolically."""
    model = noised_mixture(dim, num_components, gaussian=gaussian)
    diff = log_density_hessian(model) - tweedie_hessian(model)
    return all(mixture_expr_is_zero(entry, model) for entry in diff)


def two_point_midpoint_hessian() -> _sp.Expr:
    """``d^2/dx^2 log p_t`` in 1-D for two equally weighted points ``m_1, m_2`` at ``x = a_t (m_1 + m_2)/2``.

    Simplifies to ``a_t^2 (m_1 - m_2)^2 / (4 s_t^4) - 1/s_t^2``.
    """
    model = noised_mixture(1, 2)
    m1, m2 = model.means[0, 0], model.means[1, 0]
    h = log_density_hessian(model)[0, 0]
    at_mid = h.subs({model.weights[1]: model.weights[0]}).subs(model.x[0], model.a * (m1 + m2) / 2)
    return _sp.factor(_sp.simplify(at_mid))


def _symmetric_matrix(name: str, dim: int) -> _sp.Matrix:
    return _sp.Matrix(dim, dim, lambda i, j: _sp.Symbol(f"{name}_{min(i, j) + 1}{max(i, j) + 1}", real=True))


@_dataclass(frozen=True)
class NoisedGaussian:
    """Symbolic Gaussian case ``P_0 = N(mu, Sigma)``, ``P_t = N(a_t mu, C)``, ``C = a_t^2 Sigma + s_t^2 I``.

    Fields: ``x``, ``a``, ``s``, ``Sigma`` (symbolic symmetric), ``hessian`` (``grad^2 log p_t`` by
    differentiation), ``closed_form`` (``-C^-1``) and ``tweedie`` (``-I/s_t^2 + (a_t^2/s_t^4) Cov`` with the
    Gaussian posterior covariance ``Cov = Sigma - a_t^2 Sigma C^-1 Sigma``).
    """

    x: tuple
    a: _sp.Symbol
    s: _sp.Symbol
    Sigma: _sp.Matrix
    hessian: _sp.Matrix
    closed_form: _sp.Matrix
    tweedie: _sp.Matrix


def noised_gaussian(dim: int = 2) -> NoisedGaussian:
    """Build :class:`NoisedGaussian` in ``R^dim`` with symbolic ``mu`` and ``Sigma``."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    a, s = _A_T, _S_T
    x = _sp.Matrix(_sp.symbols(f"x_1:{dim + 1}", real=True))
    mu = _sp.Matrix(_sp.symbols(f"mu_1:{dim + 1}", real=True))
    Sigma = _symmetric_matrix("Sigma", dim)
    C = a ** 2 * Sigma + s ** 2 * _sp.eye(dim)
    C_inv = C.inv()
    diff = x - a * mu
    # log N(x; a mu, C) up to the x-free normalising constant
    log_density = -(diff.T * C_inv * diff)[0, 0] / 2
    hess = _sp.hessian(log_density, tuple(x))
    cov = Sigma - a ** 2 * Sigma * C_inv * Sigma
    tweedie = -_sp.eye(dim) / s ** 2 + (a ** 2 / s ** 4) * cov
    return NoisedGaussian(tuple(x), a, s, Sigma, hess, -C_inv, tweedie)


def gaussian_hessian_eigenvalues_2d() -> tuple[_sp.Matrix, tuple]:
    """Eigen-decomposition of ``-(a_t^2 Sigma + s_t^2 I)^-1`` for ``Sigma = R(theta) diag(l_1, l_2) R(theta)^T``.

    Returns ``(R^T H R, (l_1, l_2, theta))``; the first simplifies to
    ``diag(-1/(a_t^2 l_1 + s_t^2), -1/(a_t^2 l_2 + s_t^2))``, so ``|H|_2 = 1/(s_t^2 + a_t^2 l_min)``.
    """
    a, s = _A_T, _S_T
    l1, l2 = _sp.symbols("lambda_1 lambda_2", positive=True)
    theta = _sp.Symbol("theta", real=True)
    R = _sp.Matrix([[_sp.cos(theta), -_sp.sin(theta)], [_sp.sin(theta), _sp.cos(theta)]])
    Sigma = R * _sp.diag(l1, l2) * R.T
    H = -(a ** 2 * Sigma + s ** 2 * _sp.eye(2)).inv()
    return _sp.simplify(R.T * H * R), (l1, l2, theta)


# ===========================================================================================
# Chapter 3 (Theorem 4.3, Loss-Gap lower bound): the isolated-sample Loss-Gap as a Gaussian expectation
# ===========================================================================================

import math as _math3
from dataclasses import dataclass as _dataclass3

import sympy as _sp3


def standard_normal_moment(k: int) -> _sp3.Integer:
    """``E[Z^k]`` for ``Z ~ N(0, 1)``: ``(k-1)!!`` for even ``k``, 0 for odd ``k``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative int, got {k!r}")
    return _sp3.Integer(0) if k % 2 else _sp3.factorial2(k - 1) if k else _sp3.Integer(1)


def gaussian_expectation(expr, variables) -> _sp3.Expr:
    """``E[expr]`` for ``expr`` polynomial in independent standard normals ``variables`` (others are constants).

    Expands ``expr`` into monomials and replaces each ``prod_j Z_j^{k_j}`` by ``prod_j E[Z_j^{k_j}]``.
    """
    variables = tuple(variables)
    if not variables or not all(isinstance(v, _sp3.Symbol) for v in variables):
        raise TypeError("variables must be a non-empty sequence of sympy Symbols")
    poly = _sp3.Poly(_sp3.expand(expr), *variables)
    total = _sp3.Integer(0)
    for powers, coeff in poly.terms():
        moment = _sp3.Integer(1)
        for k in powers:
            moment *= standard_normal_moment(int(k))
        total += coeff * moment
    return _sp3.simplify(total)


@_dataclass3(frozen=True)
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

    a: _sp3.Symbol
    s: _sp3.Symbol
    lam: _sp3.Symbol
    Z: _sp3.Symbol
    U: _sp3.Symbol
    empirical_score: _sp3.Expr
    true_score: _sp3.Expr
    noise_part: _sp3.Expr
    variance_part: _sp3.Expr
    noise_raw: _sp3.Expr
    noise_term: _sp3.Expr
    variance_term: _sp3.Expr
    cross_term: _sp3.Expr
    total: _sp3.Expr
    closed_form: _sp3.Expr
    small_s: _sp3.Expr
    lower_bound_gap: _sp3.Expr
    lower_bound_split: tuple


def isolated_loss_gap_derivation() -> IsolatedLossGap:
    """Derive ``E|grad log p^_t - grad log p_t|^2`` per eigen-direction at an isolated sample (see :class:`IsolatedLossGap`)."""
    a, s, lam = _sp3.symbols("a_t s_t lambda", positive=True)
    Z, U = _sp3.symbols("Z U", real=True)
    c = a ** 2 * lam + s ** 2
    emp = -Z / s
    true = -(a * _sp3.sqrt(lam) * U + s * Z) / c
    diff = _sp3.expand(emp - true)
    noise_part = _sp3.simplify(diff.coeff(Z))
    variance_part = _sp3.simplify(diff.coeff(U))
    noise_term = gaussian_expectation((noise_part * Z) ** 2, (Z, U))
    variance_term = gaussian_expectation((variance_part * U) ** 2, (Z, U))
    cross = gaussian_expectation(2 * noise_part * Z * variance_part * U, (Z, U))
    total = _sp3.factor(_sp3.simplify(gaussian_expectation(diff ** 2, (Z, U))))
    closed = 1 / s ** 2 - 1 / c
    small_s = _sp3.series(total, s, 0, 2).removeO()
    gap = _sp3.simplify(total - (1 / s ** 2 + lam) / 4)
    split = ((a ** 2 * lam - s ** 2) / (2 * s ** 2 * c), (1 - s ** 2 * lam) / (4 * s ** 2))
    return IsolatedLossGap(a, s, lam, Z, U, emp, true, noise_part, variance_part,
                           gaussian_expectation(Z ** 2, (Z,)) / s ** 2, noise_term, variance_term, cross,
                           total, closed, small_s, gap, split)


def isolated_loss_gap_numeric(t: float, lam: float, d: int = 1) -> float:
    """``d`` times the derived per-direction ``total`` at ``a = e^{-t/2}``, ``s = sqrt(1 - e^{-t})`` (for cross-checks)."""
    der = isolated_loss_gap_derivation()
    value = der.total.subs({der.a: _math3.exp(-t / 2), der.s: _math3.sqrt(-_math3.expm1(-t)), der.lam: lam})
    return d * float(value)


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


# ===========================================================================================
# Chapter 4 (Theorem 5.1): the empirical score is a one-layer softmax network with n units
# ===========================================================================================

import sympy as _sp4


@_dataclass(frozen=True)
class OneLayerScoreNetwork:
    """Symbolic check that ``grad log p^_t`` equals the one-layer network of :mod:`memsep_lib.approximation`.

    Fields: ``x`` (coordinates), ``points`` (``n x d`` symbols ``x_i``), ``a``, ``s``; ``exact_logits``
    ``-|x - a x_i|^2/(2 s^2)``; ``unit_logits`` ``u_i . x + b_i`` with ``u_i = a x_i/s^2``,
    ``b_i = -a^2|x_i|^2/(2 s^2)``; ``logit_shift`` (their differences, one per unit: all equal to
    ``-|x|^2/(2 s^2)``); ``score`` (gradient of ``log sum_i exp(exact_logits)``); ``network``
    (``sum_i softmax(unit_logits)_i v_i - x/s^2``, ``v_i = a x_i/s^2``); ``equal`` (their difference
    simplifies to zero); ``merged_duplicates`` (``c e^b = e^(b + log c)`` holds).
    """

    x: tuple
    points: _sp4.Matrix
    a: _sp4.Symbol
    s: _sp4.Symbol
    exact_logits: tuple
    unit_logits: tuple
    logit_shift: tuple
    score: _sp4.Matrix
    network: _sp4.Matrix
    equal: bool
    merged_duplicates: bool


def one_layer_score_network(num_points: int = 2, dim: int = 2) -> OneLayerScoreNetwork:
    """Build :class:`OneLayerScoreNetwork` for ``num_points`` symbolic training points in ``R^dim``."""
    for name, value in (("num_points", num_points), ("dim", dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    a, s = _A_T, _S_T
    n, d = num_points, dim
    x = _sp4.symbols(f"x_1:{d + 1}", real=True)
    X = _sp4.Matrix(n, d, lambda i, j: _sp4.Symbol(f"x_{{{i + 1},{j + 1}}}", real=True))
    xv = _sp4.Matrix(x)
    exact, unit = [], []
    for i in range(n):
        xi = X[i, :].T
        diff = xv - a * xi
        exact.append(-(diff.T * diff)[0, 0] / (2 * s ** 2))
        unit.append(((a / s ** 2) * xi.T * xv)[0, 0] - a ** 2 * (xi.T * xi)[0, 0] / (2 * s ** 2))
    shift = tuple(_sp4.expand(e - u) for e, u in zip(exact, unit))
    log_p = _sp4.log(sum(_sp4.exp(e) for e in exact))
    score = _sp4.Matrix([_sp4.diff(log_p, xj) for xj in x])
    z = sum(_sp4.exp(u) for u in unit)
    network = sum(((_sp4.exp(u) / z) * (a / s ** 2) * X[i, :].T for i, u in enumerate(unit)),
                  _sp4.zeros(d, 1)) - xv / s ** 2
    # exp(exact_i) = exp(shift) exp(unit_i) with a common shift: rewrite and simplify the difference.
    common = shift[0]
    score_rewritten = score.subs({_sp4.exp(e): _sp4.exp(common) * _sp4.exp(u) for e, u in zip(exact, unit)})
    diff = _sp4.simplify(score_rewritten - network)
    equal = all(_sp4.simplify(shift[i] - common) == 0 for i in range(n)) and diff == _sp4.zeros(d, 1)
    c, b = _sp4.symbols("c b", positive=True)
    merged = _sp4.simplify(c * _sp4.exp(b) - _sp4.exp(b + _sp4.log(c))) == 0
    return OneLayerScoreNetwork(x, X, a, s, tuple(exact), tuple(unit), shift, score, network, bool(equal), merged)


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
