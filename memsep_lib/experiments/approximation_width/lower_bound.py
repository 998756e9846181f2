"""The lower bound that does hold for the construction's class: fewer units than distinct points cannot be exact.

The one-hidden-layer softmax class of the construction: ``m`` units with centres ``c_j`` and log-weights
``beta_j``, ``f(x) = sum_j w_j(x) (c_j - x) / s_t^2``, ``w = softmax_j(beta_j - |x - c_j|^2 / (2 s_t^2))``, i.e.
``f = grad log q`` for ``q = sum_j e^{beta_j} N(c_j, s_t^2 I)``. The empirical score is this class with the
``n`` centres ``a_t x_i``. If ``f`` equals it on an open set then ``q`` is proportional to ``p^_t``; times
``exp(|x|^2 / (2 s_t^2))`` both are finite sums of exponentials ``e^{u.x}``, which are linearly independent for
distinct ``u``, so ``m >= n_distinct``. :func:`best_unit_error` shows the gap numerically: the best error found
with ``m`` units (Adam from several starts, among them the most massive subsets of the true centres).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from memsep_lib.process import alpha, sigma
from memsep_lib.scores import empirical_score
from memsep_lib.validation import check_points, check_positive_int, check_time

__all__ = ["softmax_units_score", "best_unit_error"]


def softmax_units_score(x: torch.Tensor, centres: torch.Tensor, log_weights: torch.Tensor, t) -> torch.Tensor:
    """``grad log sum_j e^{beta_j} N(x; c_j, s_t^2 I)`` at ``x`` (``(B, d)``), for ``m`` units ``(c_j, beta_j)``."""
    s2 = sigma(t) ** 2
    logits = log_weights[None, :] - torch.cdist(x, centres).square() / (2 * s2)
    w = torch.softmax(logits, dim=1)
    return (w @ centres - x) / s2


def best_unit_error(data: torch.Tensor, t, num_units: Sequence[int], *, num_queries: int = 2048,
                    steps: int = 400, restarts: int = 4, lr: float = 0.05,
                    generator: torch.Generator | None = None) -> dict:
    """Best relative RMS error of an ``m``-unit softmax network against the empirical score, for each ``m``.

    Queries ``x ~ P^_t``; error ``sqrt(sum |f - s^|^2 / sum |s^|^2)``. Each ``m`` starts from ``restarts``
    subsets of the centres ``a_t x_i`` (the first: the ``m`` with the most posterior mass; the others random),
    with equal log-weights, and runs Adam on all centres and log-weights. Returns ``num_units``, ``errors``
    (best per ``m``), ``n_distinct``.
    """
    check_points(data, "data")
    t = check_time(t)
    check_positive_int(num_queries, "num_queries")
    data = data.double()
    n = data.shape[0]
    n_distinct = torch.unique(data, dim=0).shape[0]
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    idx = torch.randint(n, (num_queries,), generator=gen)
    x = alpha(t) * data[idx] + sigma(t) * torch.randn(num_queries, data.shape[1], generator=gen, dtype=data.dtype)
    target = empirical_score(x, t, data)
    norm = target.square().sum().sqrt()
    centres_all = alpha(t) * data
    logits = -torch.cdist(x, centres_all).square() / (2 * sigma(t) ** 2)
    mass = torch.softmax(logits, 1).mean(0)
    errors = []
    for m in num_units:
        check_positive_int(m, "num_units")
        best = math.inf
        for r in range(restarts):
            pick = mass.argsort(descending=True)[:m] if r == 0 else torch.randperm(n, generator=gen)[:m]
            c = centres_all[pick].clone().requires_grad_(True)
            b = torch.zeros(len(pick), dtype=data.dtype, requires_grad=True)
            opt = torch.optim.Adam([c, b], lr=lr)
            for _ in range(steps + 1):
                opt.zero_grad()
                loss = (softmax_units_score(x, c, b, t) - target).square().sum() / norm ** 2
                best = min(best, math.sqrt(loss.item()))          # the best point seen, the start included
                loss.backward()
                opt.step()
        errors.append(best)
    return {"num_units": list(num_units), "errors": errors, "n_distinct": int(n_distinct), "t": t}
