"""The empirical score and the posterior of ``X_0`` given ``X_t`` under the empirical law.

For training data ``x_1..x_n`` the noised empirical law is
``P^_t = (1/n) sum_i N(a_t x_i, s_t^2 I)``. With softmax weights

    w_i(x) = softmax_i( -|x - a_t x_i|^2 / (2 s_t^2) )                 (posterior P(X_0 = x_i | X_t = x))

the empirical score, the posterior mean and covariance, and the Hessian of ``log p^_t`` are

    grad log p^_t(x)   = sum_i w_i(x) (a_t x_i - x) / s_t^2
    E[X_0 | X_t = x]   = sum_i w_i(x) x_i                               (Tweedie: score = (a_t E[X_0|x] - x)/s_t^2)
    Cov[X_0 | X_t = x] = sum_i w_i(x) (x_i - m)(x_i - m)^T
    grad^2 log p^_t(x) = -I / s_t^2 + (a_t^2 / s_t^4) Cov[X_0 | X_t = x]

Accuracy at small ``t`` in float32. The fast way to get all ``n`` logits is a matrix product,
``-|x - a x_i|^2 = -|x|^2 + 2 a x.x_i - a^2 |x_i|^2``, but the three terms are of size ``|x|^2 ~ d``
while their sum is of size ``s_t^2 d``: in float32 the logits then carry errors of order
``1e-7 d / s_t^2`` (about 0.3 at ``d = 3072``, ``t = 1e-3``), which is enough to get the weights of two
nearly tied training points badly wrong. :func:`empirical_score` therefore streams over the data
with the matrix-product logits and an online log-sum-exp (two matmuls per chunk, the speed
floor), keeps the top ``num_candidates`` logits of each query, and at the end recomputes those few
logits exactly in float64 from the differences ``x - a x_i``. The remaining points keep their
matrix-product weights, which is accurate wherever they matter: their weights are non-negligible
only when ``s_t`` is large, and then the cancellation error ``1e-7 d / s_t^2`` is small.
"""

from __future__ import annotations

import math

import torch

from .process import alpha, sigma
from .validation import check_compatible, check_points, check_positive_int, check_time

__all__ = [
    "empirical_score",
    "empirical_log_prob",
    "posterior_weights",
    "posterior_mean",
    "posterior_cov",
    "empirical_score_hessian",
]

# Memory budget (number of tensor elements) for one chunk of intermediate results.
_CHUNK_ELEMENTS = 1 << 24
# Queries refined together in float64 (bounds the (block, k, d) gather).
_REFINE_BLOCK = 128
_EPS32 = torch.finfo(torch.float32).eps


def _check_inputs(x, t, data):
    check_points(data, "data")
    check_points(x, "x", dim=data.shape[1])
    check_compatible(x, data)
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x and data must be float32 or float64, got {x.dtype}")
    return check_time(t)


def _chunk_rows(chunk_size, rows_per_item: int, n: int) -> int:
    if chunk_size is None:
        return max(1, min(n, _CHUNK_ELEMENTS // max(1, rows_per_item)))
    return check_positive_int(chunk_size, "chunk_size")


def _displacement(x: torch.Tensor, t: float, data: torch.Tensor, chunk_size: int | None,
                  num_candidates: int) -> torch.Tensor:
    """``sum_i w_i(x) (a_t x_i - x) = a_t E[X_0 | X_t = x] - x``, streamed over chunks of ``data``."""
    a, s2 = alpha(t), sigma(t) ** 2
    B, n = x.shape[0], data.shape[0]
    k = min(num_candidates, n)
    chunk = _chunk_rows(chunk_size, B, n)

    # Pass 1 (working dtype): logits shifted by the per-query constant |x|^2 / (2 s^2),
    # L_i = (2 a x.x_i - a^2 |x_i|^2) / (2 s^2), accumulated with an online log-sum-exp:
    # running max m, Z = sum_i exp(L_i - m), S = sum_i exp(L_i - m) x_i.
    m = torch.full((B,), -math.inf, dtype=x.dtype, device=x.device)
    Z = torch.zeros(B, dtype=x.dtype, device=x.device)
    S = torch.zeros_like(x)
    top_val = torch.empty(B, 0, dtype=x.dtype, device=x.device)
    top_idx = torch.empty(B, 0, dtype=torch.long, device=x.device)
    xs = x * (a / s2)
    for start in range(0, n, chunk):
        c = data[start:start + chunk]
        bias = torch.linalg.vector_norm(c, dim=1).square() * (-0.5 * a * a / s2)
        logits = torch.addmm(bias, xs, c.T)
        val, idx = logits.topk(min(k, c.shape[0]), dim=1)
        top_val, order = torch.cat([top_val, val], 1).topk(min(k, top_val.shape[1] + val.shape[1]), dim=1)
        top_idx = torch.cat([top_idx, idx + start], 1).gather(1, order)
        m_new = torch.maximum(m, val[:, 0])
        e = torch.exp(logits - m_new[:, None])
        rescale = torch.exp(m - m_new)
        Z = Z * rescale + e.sum(1)
        S = torch.addmm(S * rescale[:, None], e, c)
        m = m_new

    # Pass 2 (float64, k points per query): replace the candidates' approximate weights by exact
    # ones. In float64 the expanded form of the logits is accurate (error ~1e-16 d / s^2).
    out = []
    for b0 in range(0, B, _REFINE_BLOCK):
        sl = slice(b0, b0 + _REFINE_BLOCK)
        x64, m64 = x[sl].double(), m[sl].double()[:, None]
        cand = data[top_idx[sl]].double()                                    # (b, k, d)
        dots = torch.bmm(cand, x64[:, :, None]).squeeze(2)
        exact = (a * dots - 0.5 * a * a * torch.linalg.vector_norm(cand, dim=2).square()) / s2
        e_exact = torch.exp(exact - m64)
        e_approx = torch.exp(top_val[sl].double() - m64)
        # The non-candidates keep their pass-1 weights: Z_rest = Z - sum(candidates), S_rest likewise.
        # The subtraction leaves a float32 residue ~eps * Z even when no real mass is left, and Z can
        # exceed the exact total by exp(pass-1 logit error); so the rest is dropped when an upper bound
        # on its true mass, (n - k) exp(smallest candidate logit - m), is negligible at float32 precision.
        Z_rest = (Z[sl].double() - e_approx.sum(1)).clamp_min(0.0)
        S_rest = S[sl].double() - torch.bmm(e_approx[:, None, :], cand).squeeze(1)
        rest_bound = (n - k) * e_approx[:, -1]
        keep = (rest_bound > 1e-3 * _EPS32 * e_exact.sum(1)).double()
        Z_tot = e_exact.sum(1) + keep * Z_rest
        S_tot = torch.bmm(e_exact[:, None, :], cand).squeeze(1) + keep[:, None] * S_rest
        out.append((a * S_tot - Z_tot[:, None] * x64) / Z_tot[:, None])
    return torch.cat(out).to(x.dtype)


def empirical_score(x: torch.Tensor, t, data: torch.Tensor, *, chunk_size: int | None = None,
                    num_candidates: int = 16) -> torch.Tensor:
    """Score of the noised empirical law, ``grad log p^_t(x) = sum_i w_i(x) (a_t x_i - x) / s_t^2``.

    Args:
        x: queries, shape ``(B, d)``.
        t: diffusion time, a finite float ``> 0``.
        data: training points ``x_1..x_n``, shape ``(n, d)``, same dtype and device as ``x``.
        chunk_size: rows of ``data`` processed at once (memory ``~ B * chunk_size``); automatic if None.
        num_candidates: per query, how many of the largest logits are recomputed exactly in float64.

    Returns:
        Tensor of shape ``(B, d)``, dtype of ``x``.
    """
    t = _check_inputs(x, t, data)
    check_positive_int(num_candidates, "num_candidates")
    return _displacement(x, t, data, chunk_size, num_candidates) / sigma(t) ** 2


def posterior_mean(x: torch.Tensor, t, data: torch.Tensor, *, chunk_size: int | None = None) -> torch.Tensor:
    """``E[X_0 | X_t = x] = sum_i w_i(x) x_i`` under the empirical law, shape ``(B, d)``."""
    t = _check_inputs(x, t, data)
    return (x + _displacement(x, t, data, chunk_size, 16)) / alpha(t)


def _exact_logits(x: torch.Tensor, t: float, data: torch.Tensor) -> torch.Tensor:
    """``-|x - a_t x_i|^2 / (2 s_t^2)`` from explicit differences, shape ``(B, n)``, chunked over data."""
    a, s2 = alpha(t), sigma(t) ** 2
    chunk = _chunk_rows(None, x.shape[0] * x.shape[1], data.shape[0])
    parts = []
    for start in range(0, data.shape[0], chunk):
        diff = x[:, None, :] - a * data[None, start:start + chunk]
        parts.append(-(diff * diff).sum(-1) / (2 * s2))
    return torch.cat(parts, 1)


def empirical_log_prob(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``log p^_t(x) = logsumexp_i(-|x - a_t x_i|^2 / (2 s_t^2)) - log n - (d/2) log(2 pi s_t^2)``, shape ``(B,)``."""
    t = _check_inputs(x, t, data)
    n, d = data.shape
    return (torch.logsumexp(_exact_logits(x, t, data), 1) - math.log(n)
            - 0.5 * d * math.log(2 * math.pi * sigma(t) ** 2))


def posterior_weights(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``w_i(x) = P(X_0 = x_i | X_t = x)``, shape ``(B, n)``, rows summing to one."""
    t = _check_inputs(x, t, data)
    return torch.softmax(_exact_logits(x, t, data), 1)


def posterior_cov(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``Cov[X_0 | X_t = x] = sum_i w_i (x_i - m)(x_i - m)^T`` with ``m = E[X_0 | X_t = x]``, shape ``(B, d, d)``.

    Computed in centred form (no ``E[XX^T] - mm^T`` cancellation); memory ``O(B n + B d^2)``
    plus chunks of ``B x c x d``, meant for moderate ``d``.
    """
    t = _check_inputs(x, t, data)
    w = torch.softmax(_exact_logits(x, t, data), 1)
    m = w @ data
    B, d = x.shape
    cov = torch.zeros(B, d, d, dtype=x.dtype, device=x.device)
    chunk = _chunk_rows(None, B * d, data.shape[0])
    for start in range(0, data.shape[0], chunk):
        centred = data[None, start:start + chunk] - m[:, None, :]          # (B, c, d)
        cov = cov + torch.einsum("bc,bci,bcj->bij", w[:, start:start + chunk], centred, centred)
    return cov


def empirical_score_hessian(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``grad^2 log p^_t(x) = -I / s_t^2 + (a_t^2 / s_t^4) Cov[X_0 | X_t = x]``, shape ``(B, d, d)``."""
    t = _check_inputs(x, t, data)
    a, s2 = alpha(t), sigma(t) ** 2
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return -eye / s2 + (a * a / (s2 * s2)) * posterior_cov(x, t, data)
