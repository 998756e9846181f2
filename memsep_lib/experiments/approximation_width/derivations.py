"""Sympy derivations of chapter: Chapter 4 (Theorem 5.1): the empirical score is a one-layer softmax network with n units

(moved from memsep_lib.symbolic)."""

from __future__ import annotations

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


