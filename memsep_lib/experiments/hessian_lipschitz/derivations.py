"""Sympy derivations of chapter 5: ``grad^2 log p_t = -I/s_t^2 + (a_t^2/s_t^4) Cov[X_0 | X_t]``.

For mixtures of point masses and of Gaussians (:func:`check_hessian_covariance_identity`), the
two-point midpoint (:func:`two_point_midpoint_hessian`) and the Gaussian case
(:func:`noised_gaussian`, :func:`gaussian_hessian_eigenvalues_2d`). The small-t constant's steps:
the two-point posterior covariance ``w_1 w_2 (x_1 - x_2)(x_1 - x_2)^T`` (:func:`two_point_posterior_cov`),
largest at ``w_1 = 1/2`` (:func:`max_two_point_weight`), and Popoviciu's identity
(:func:`popoviciu_gap`); the chapter's mixture factorises over coordinates (:func:`square_mixture_curvature`).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ...validation import check_positive_int

_A_T = sp.Symbol("a_t", positive=True)
_S_T = sp.Symbol("s_t", positive=True)


@dataclass(frozen=True)
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
    a: sp.Symbol
    s: sp.Symbol
    means: sp.Matrix
    variances: tuple
    weights: tuple
    terms: tuple
    log_density: sp.Expr
    responsibilities: tuple
    posterior_mean: sp.Matrix
    posterior_cov: sp.Matrix


def noised_mixture(dim: int, num_components: int, *, gaussian: bool = False) -> NoisedMixture:
    """Build :class:`NoisedMixture` with symbolic means ``m_k``, weights ``pi_k`` and (if ``gaussian``) variances ``v_k``."""
    check_positive_int(dim, "dim")
    check_positive_int(num_components, "num_components")
    a, s = _A_T, _S_T
    K, d = num_components, dim
    x = sp.symbols(f"x_1:{d + 1}", real=True) if d > 1 else (sp.Symbol("x", real=True),)
    if d > 1:
        means = sp.Matrix(K, d, lambda k, j: sp.Symbol(f"m_{k + 1}{j + 1}", real=True))
    else:
        means = sp.Matrix(K, 1, lambda k, j: sp.Symbol(f"m_{k + 1}", real=True))
    weights = sp.symbols(f"pi_1:{K + 1}", positive=True)
    variances = sp.symbols(f"v_1:{K + 1}", positive=True) if gaussian else (sp.Integer(0),) * K
    xv = sp.Matrix(x)
    terms, cond_means, cond_vars = [], [], []
    for k in range(K):
        c = a ** 2 * variances[k] + s ** 2
        diff = xv - a * means[k, :].T
        sq = (diff.T * diff)[0, 0]
        terms.append(weights[k] * (2 * sp.pi * c) ** sp.Rational(-d, 2) * sp.exp(-sq / (2 * c)))
        cond_means.append(means[k, :].T + (a * variances[k] / c) * diff)
        cond_vars.append(variances[k] * s ** 2 / c)
    p = sp.Add(*terms)
    resp = tuple(term / p for term in terms)
    mean = sp.zeros(d, 1)
    second = sp.zeros(d, d)
    for k in range(K):
        mean += resp[k] * cond_means[k]
        second += resp[k] * (cond_vars[k] * sp.eye(d) + cond_means[k] * cond_means[k].T)
    cov = second - mean * mean.T
    return NoisedMixture(tuple(x), a, s, means, tuple(variances), tuple(weights), tuple(terms),
                         sp.log(p), resp, mean, cov)


def log_density_hessian(model: NoisedMixture) -> sp.Matrix:
    """``grad^2 log p_t(x)`` by symbolic differentiation of ``model.log_density``."""
    return sp.hessian(model.log_density, model.x)


def tweedie_hessian(model: NoisedMixture) -> sp.Matrix:
    """The right-hand side ``-I/s_t^2 + (a_t^2/s_t^4) Cov[X_0 | X_t = x]`` for ``model``."""
    d = len(model.x)
    return -sp.eye(d) / model.s ** 2 + (model.a ** 2 / model.s ** 4) * model.posterior_cov


def substitute_exponentials(expr, model: NoisedMixture):
    """``expr`` with each Gaussian factor ``exp(-|x - a_t m_k|^2 / (2 c_k))`` of ``model`` replaced by a symbol ``E_k``."""
    repl = {}
    for k, term in enumerate(model.terms):
        for e in term.atoms(sp.exp):
            repl[e] = sp.Symbol(f"E_{k + 1}", positive=True)
    return sp.sympify(expr).xreplace(repl)


def mixture_expr_is_zero(expr, model: NoisedMixture) -> bool:
    """Decide ``expr == 0`` for an expression built from ``model``'s Gaussian terms.

    Each exponential ``exp(-|x - a_t m_k|^2 / (2 c_k))`` is replaced by an independent positive
    symbol ``E_k`` (:func:`substitute_exponentials`; legitimate: both sides are rational in the
    ``E_k`` with polynomial coefficients, so an identity in the ``E_k`` is stronger than needed);
    the numerator of the resulting rational function is expanded and must vanish.
    """
    num, _ = sp.fraction(sp.together(substitute_exponentials(expr, model)))
    return sp.expand(num) == 0


def check_hessian_covariance_identity(dim: int, num_components: int, *, gaussian: bool = False) -> bool:
    """``True`` iff ``grad^2 log p_t == -I/s_t^2 + (a_t^2/s_t^4) Cov[X_0 | X_t]`` entrywise, symbolically."""
    model = noised_mixture(dim, num_components, gaussian=gaussian)
    diff = log_density_hessian(model) - tweedie_hessian(model)
    return all(mixture_expr_is_zero(entry, model) for entry in diff)


def two_point_midpoint_hessian() -> sp.Expr:
    """``d^2/dx^2 log p_t`` in 1-D for two equally weighted points ``m_1, m_2`` at ``x = a_t (m_1 + m_2)/2``.

    Simplifies to ``a_t^2 (m_1 - m_2)^2 / (4 s_t^4) - 1/s_t^2``.
    """
    model = noised_mixture(1, 2)
    m1, m2 = model.means[0, 0], model.means[1, 0]
    h = log_density_hessian(model)[0, 0]
    at_mid = h.subs({model.weights[1]: model.weights[0]}).subs(model.x[0], model.a * (m1 + m2) / 2)
    return sp.factor(sp.simplify(at_mid))


def _symmetric_matrix(name: str, dim: int) -> sp.Matrix:
    return sp.Matrix(dim, dim, lambda i, j: sp.Symbol(f"{name}_{min(i, j) + 1}{max(i, j) + 1}", real=True))


@dataclass(frozen=True)
class NoisedGaussian:
    """Symbolic Gaussian case ``P_0 = N(mu, Sigma)``, ``P_t = N(a_t mu, C)``, ``C = a_t^2 Sigma + s_t^2 I``.

    Fields: ``x``, ``a``, ``s``, ``Sigma`` (symbolic symmetric), ``hessian`` (``grad^2 log p_t`` by
    differentiation), ``closed_form`` (``-C^-1``) and ``tweedie`` (``-I/s_t^2 + (a_t^2/s_t^4) Cov`` with the
    Gaussian posterior covariance ``Cov = Sigma - a_t^2 Sigma C^-1 Sigma``).
    """

    x: tuple
    a: sp.Symbol
    s: sp.Symbol
    Sigma: sp.Matrix
    hessian: sp.Matrix
    closed_form: sp.Matrix
    tweedie: sp.Matrix


def noised_gaussian(dim: int = 2) -> NoisedGaussian:
    """Build :class:`NoisedGaussian` in ``R^dim`` with symbolic ``mu`` and ``Sigma``."""
    check_positive_int(dim, "dim")
    a, s = _A_T, _S_T
    x = sp.Matrix(sp.symbols(f"x_1:{dim + 1}", real=True))
    mu = sp.Matrix(sp.symbols(f"mu_1:{dim + 1}", real=True))
    Sigma = _symmetric_matrix("Sigma", dim)
    C = a ** 2 * Sigma + s ** 2 * sp.eye(dim)
    C_inv = C.inv()
    diff = x - a * mu
    # log N(x; a mu, C) up to the x-free normalising constant
    log_density = -(diff.T * C_inv * diff)[0, 0] / 2
    hess = sp.hessian(log_density, tuple(x))
    cov = Sigma - a ** 2 * Sigma * C_inv * Sigma
    tweedie = -sp.eye(dim) / s ** 2 + (a ** 2 / s ** 4) * cov
    return NoisedGaussian(tuple(x), a, s, Sigma, hess, -C_inv, tweedie)


def gaussian_hessian_eigenvalues_2d() -> tuple[sp.Matrix, tuple]:
    """Eigen-decomposition of ``-(a_t^2 Sigma + s_t^2 I)^-1`` for ``Sigma = R(theta) diag(l_1, l_2) R(theta)^T``.

    Returns ``(R^T H R, (l_1, l_2, theta))``; the first simplifies to
    ``diag(-1/(a_t^2 l_1 + s_t^2), -1/(a_t^2 l_2 + s_t^2))``, so ``|H|_2 = 1/(s_t^2 + a_t^2 l_min)``.
    """
    a, s = _A_T, _S_T
    l1, l2 = sp.symbols("lambda_1 lambda_2", positive=True)
    theta = sp.Symbol("theta", real=True)
    R = sp.Matrix([[sp.cos(theta), -sp.sin(theta)], [sp.sin(theta), sp.cos(theta)]])
    Sigma = R * sp.diag(l1, l2) * R.T
    H = -(a ** 2 * Sigma + s ** 2 * sp.eye(2)).inv()
    return sp.simplify(R.T * H * R), (l1, l2, theta)


def two_point_posterior_cov(dim: int = 2) -> tuple[sp.Matrix, sp.Matrix, NoisedMixture]:
    """``(Cov[X_0 | X_t = x], w_1 w_2 (m_1 - m_2)(m_1 - m_2)^T, model)`` for two point masses in ``R^dim``.

    Equal entrywise (:func:`mixture_expr_is_zero`) at every ``x``: whatever the two weights, the
    posterior covariance is rank one along the pair.
    """
    model = noised_mixture(dim, 2)
    w1, w2 = model.responsibilities
    delta = (model.means[0, :] - model.means[1, :]).T
    return model.posterior_cov, w1 * w2 * delta * delta.T, model


def max_two_point_weight() -> tuple[sp.Expr, sp.Expr]:
    """``(w*, max_w w (1 - w))`` over ``w`` in ``[0, 1]``: the weight with the largest two-point variance (``1/2, 1/4``)."""
    w = sp.Symbol("w", nonnegative=True)
    f = w * (1 - w)
    candidates = [c for c in sp.solve(sp.diff(f, w), w) if 0 <= c <= 1] + [sp.Integer(0), sp.Integer(1)]
    best = max(candidates, key=lambda c: f.subs(w, c))
    return best, f.subs(w, best)


def popoviciu_gap(num_points: int = 3) -> tuple[sp.Expr, sp.Expr]:
    """Popoviciu's identity for a law on ``num_points`` reals ``z_k`` with weights ``w_k`` (``sum w_k = 1``).

    Returns ``(lhs, rhs)`` with ``lhs = E[(M - Z)(Z - m)]`` and ``rhs = (M - mu)(mu - m) - Var Z`` for
    symbols ``M, m``; they are equal, so for ``m <= z_k <= M`` the variance is at most
    ``(M - mu)(mu - m) <= (M - m)^2 / 4``.
    """
    K = check_positive_int(num_points, "num_points")
    z = sp.symbols(f"z_1:{K + 1}", real=True)
    w = list(sp.symbols(f"w_1:{K}", nonnegative=True))
    w.append(1 - sum(w))
    big, small = sp.symbols("M m", real=True)
    mean = sum(wk * zk for wk, zk in zip(w, z))
    var = sum(wk * (zk - mean) ** 2 for wk, zk in zip(w, z))
    lhs = sum(wk * (big - zk) * (zk - small) for wk, zk in zip(w, z))
    return lhs, (big - mean) * (mean - small) - var


def square_mixture_curvature() -> dict:
    """The chapter's law ``(1/4) sum N((+-1, +-1), v I)`` noised: ``p_t`` factorises, and each factor's curvature.

    With ``c = a_t^2 v + s_t^2`` and ``q(x) = (N(x; a_t, c) + N(x; -a_t, c))/2``, returns the differences
    (each 0 after ``sp.simplify``) under ``"factorises"``: ``(1/4) sum_{+-,+-} N(x; +-a_t, c) N(y; +-a_t, c)
    - q(x) q(y)``; ``"cosh_form"``: ``q(x) - e^{-(x^2 + a_t^2)/(2c)} cosh(a_t x/c) / sqrt(2 pi c)``;
    ``"curvature"``: ``d^2/dx^2`` of the log of that form minus ``-1/c + (a_t^2/c^2) sech^2(a_t x/c)``.
    """
    a, s = _A_T, _S_T
    v = sp.Symbol("v", positive=True)
    x, y = sp.symbols("x y", real=True)
    c = a ** 2 * v + s ** 2
    normal = lambda u, m: sp.exp(-(u - m) ** 2 / (2 * c)) / sp.sqrt(2 * sp.pi * c)
    q = lambda u: (normal(u, a) + normal(u, -a)) / 2
    mixture = sum(normal(x, i * a) * normal(y, j * a) for i in (1, -1) for j in (1, -1)) / 4
    log_q = -(x ** 2 + a ** 2) / (2 * c) + sp.log(sp.cosh(a * x / c)) - sp.log(2 * sp.pi * c) / 2
    return {"factorises": sp.expand(mixture - q(x) * q(y)),
            "cosh_form": (q(x) - sp.exp(log_q)).rewrite(sp.exp),
            "curvature": sp.diff(log_q, x, 2) - (-1 / c + (a / c) ** 2 * sp.sech(a * x / c) ** 2)}
