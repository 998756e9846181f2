"""Sympy derivation of Chapter 4: the empirical score is a one-layer softmax network, one unit per point.

``-|x - a_t x_i|^2 / (2 s_t^2) = -|x|^2 / (2 s_t^2) + u_i . x + b_i`` with ``u_i = a_t x_i / s_t^2`` and
``b_i = -a_t^2 |x_i|^2 / (2 s_t^2)``: the first term is shared by all units and cancels in the softmax, so
``grad log p^_t(x) = sum_i softmax_i(u_i . x + b_i) v_i - x / s_t^2`` (:func:`one_layer_score_network`).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from memsep_lib.validation import check_positive_int

__all__ = ["OneLayerScoreNetwork", "one_layer_score_network"]


@dataclass(frozen=True)
class OneLayerScoreNetwork:
    """Symbolic check that ``grad log p^_t`` equals the one-layer network of :class:`.theory.EmpiricalScoreNet`.

    Fields: ``x`` (coordinates), ``points`` (``n x d`` symbols ``x_i``), ``a``, ``s``; ``exact_logits``
    ``-|x - a x_i|^2/(2 s^2)``; ``unit_logits`` ``u_i . x + b_i`` with ``u_i = a x_i/s^2``,
    ``b_i = -a^2|x_i|^2/(2 s^2)``; ``logit_shift`` (their differences, one per unit: all equal to
    ``-|x|^2/(2 s^2)``); ``score`` (gradient of ``log sum_i exp(exact_logits)``); ``network``
    (``sum_i softmax(unit_logits)_i v_i - x/s^2``, ``v_i = a x_i/s^2``); ``equal`` (their difference
    simplifies to zero); ``merged_duplicates`` (``c e^b = e^(b + log c)`` holds).
    """

    x: tuple
    points: sp.Matrix
    a: sp.Symbol
    s: sp.Symbol
    exact_logits: tuple
    unit_logits: tuple
    logit_shift: tuple
    score: sp.Matrix
    network: sp.Matrix
    equal: bool
    merged_duplicates: bool


def one_layer_score_network(num_points: int = 2, dim: int = 2) -> OneLayerScoreNetwork:
    """Build :class:`OneLayerScoreNetwork` for ``num_points`` symbolic training points in ``R^dim``."""
    check_positive_int(num_points, "num_points")
    check_positive_int(dim, "dim")
    a, s = sp.Symbol("a_t", positive=True), sp.Symbol("s_t", positive=True)
    n, d = num_points, dim
    x = sp.symbols(f"x_1:{d + 1}", real=True)
    X = sp.Matrix(n, d, lambda i, j: sp.Symbol(f"x_{{{i + 1},{j + 1}}}", real=True))
    xv = sp.Matrix(x)
    exact, unit = [], []
    for i in range(n):
        xi = X[i, :].T
        diff = xv - a * xi
        exact.append(-(diff.T * diff)[0, 0] / (2 * s ** 2))
        unit.append(((a / s ** 2) * xi.T * xv)[0, 0] - a ** 2 * (xi.T * xi)[0, 0] / (2 * s ** 2))
    shift = tuple(sp.expand(e - u) for e, u in zip(exact, unit))
    log_p = sp.log(sum(sp.exp(e) for e in exact))
    score = sp.Matrix([sp.diff(log_p, xj) for xj in x])
    z = sum(sp.exp(u) for u in unit)
    network = sum(((sp.exp(u) / z) * (a / s ** 2) * X[i, :].T for i, u in enumerate(unit)),
                  sp.zeros(d, 1)) - xv / s ** 2
    # exp(exact_i) = exp(shift) exp(unit_i) with a common shift: rewrite and simplify the difference.
    common = shift[0]
    score_rewritten = score.subs({sp.exp(e): sp.exp(common) * sp.exp(u) for e, u in zip(exact, unit)})
    diff = sp.simplify(score_rewritten - network)
    equal = all(sp.simplify(shift[i] - common) == 0 for i in range(n)) and diff == sp.zeros(d, 1)
    c, b = sp.symbols("c b", positive=True)
    merged = sp.simplify(c * sp.exp(b) - sp.exp(b + sp.log(c))) == 0
    return OneLayerScoreNetwork(x, X, a, s, tuple(exact), tuple(unit), shift, score, network, bool(equal), merged)


