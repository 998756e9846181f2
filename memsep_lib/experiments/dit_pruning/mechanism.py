r"""The mechanism of chapter 7: how far a DiT's score is from the empirical score, and how smooth it is, per ``t``.

At each time ``t`` of a log grid, queries ``x = a_t x_i + s_t z`` are drawn from the noised empirical law
``P^_t`` of the training set (``x_i`` uniform among the training images, ``z ~ N(0, I)``), and

- ``to_empirical = E|s_theta(x,t) - grad log p^_t(x)|^2 / E|grad log p^_t(x)|^2``: 0 for a network that
  has converged to the DSM optimum (memorisation), 1 for ``s_theta = 0``;
- ``to_held_out``: the same with the empirical score of an equally large held-out set in place of
  ``grad log p^_t`` (numerator and denominator), a generalising reference, and
  ``empirical_to_held_out``: that distance for ``grad log p^_t`` itself (a memorising score's value);
- ``lipschitz``: the mean over queries of ``|grad_x s_theta(x, t)|_2`` (power iteration with autograd), beside
  the empirical score's own value at the same queries (``lipschitz_empirical``) and its worst case between
  training points, ``lipschitz_empirical_scale = a_t^2 s_t^-4 min_{i != j} |x_i - x_j|^2`` (chapter 5).

The network computes in float32 (``dtype``), the empirical scores and every ratio in float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from ...metrics import nearest_neighbors
from ...process import add_noise, alpha, sigma
from ...scores import empirical_score, empirical_score_hessian
from ...validation import (call_score_fn, check_compatible, check_float_dtype, check_generator, check_points,
                           check_positive_int, check_real, check_time)

__all__ = ["QUANTITIES", "MODEL_FREE", "score_time_grid", "jacobian_spectral_norm", "score_distance", "small_t_mean"]

QUANTITIES = ("to_empirical", "to_held_out", "empirical_to_held_out", "lipschitz", "lipschitz_empirical",
              "lipschitz_empirical_scale")
MODEL_FREE = ("empirical_to_held_out", "lipschitz_empirical", "lipschitz_empirical_scale")   # the same for every model


def score_time_grid(t0, T, num: int = 10) -> list[float]:
    """``num`` times ``t_k = t0 (T/t0)^(k/(num-1))``, log-spaced from ``t0`` to ``T`` (both included)."""
    t0, T = check_time(t0, "t0"), check_time(T, "T")
    if t0 >= T:
        raise ValueError(f"t0 must be smaller than T, got t0={t0}, T={T}")
    if check_positive_int(num, "num") < 2:
        raise ValueError(f"num must be at least 2 (the grid includes t0 and T), got {num}")
    grid = np.geomspace(t0, T, num).tolist()
    grid[0], grid[-1] = t0, T
    return grid


def _check_times(times, T, dtype) -> list[float]:
    """A non-empty 1-D sequence of times in ``(0, T]`` (``T`` None: no upper bound), each usable in ``dtype``."""
    if isinstance(times, (torch.Tensor, np.ndarray)):
        if times.ndim != 1:
            raise ValueError(f"times must be a 1-D sequence of times, got shape {tuple(times.shape)}")
        times = times.tolist()
    if isinstance(times, (str, bytes)) or not hasattr(times, "__iter__"):
        raise TypeError(f"times must be a sequence of times, got {type(times).__name__}")
    times = [check_time(t, "times", dtype=dtype) for t in times]
    if not times:
        raise ValueError("times is empty; at least one time is needed")
    if T is not None:
        T = check_time(T, "T")
        if max(times) > T:
            raise ValueError(f"times must lie in (0, T] with T={T}, got {max(times)}")
    return times


def _unit_rows(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(v_b / |v_b|, |v_b|)`` row by row (a zero row stays zero)."""
    norm = torch.linalg.vector_norm(v, dim=1, keepdim=True)
    return v / norm.clamp_min(torch.finfo(v.dtype).tiny), norm[:, 0]


def _score_and_spectral_norm(score_fn, x: torch.Tensor, t: float, start: torch.Tensor, iterations: int,
                             dtype_arg: str, dim_arg: str) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``s(x, t)`` and the power-iteration estimate of ``|J_b|_2``, ``J_b = grad_x s(x_b, t)``, per row.

    ``J^T u`` is one backward pass; ``J v`` is the derivative of the (linear in ``u``) ``J^T u`` along ``v``, a
    second backward pass through the first (forward-mode AD is not implemented for PyTorch's fused attention,
    so attention runs on its plain-math kernel here). A score acts on each row separately, so ``J`` is block
    diagonal and one pass serves the whole batch. ``v <- J^T J v / |J^T J v|``; after ``k`` steps
    ``sigma = |J^T J v_{k-1}|^{1/2} <= |J|_2`` (a lower bound that converges like ``(sigma_2/sigma_1)^{2k}``).
    """
    with torch.enable_grad(), sdpa_kernel(SDPBackend.MATH):
        xr = x.detach().requires_grad_(True)
        s = call_score_fn(score_fn, xr, t, dtype_arg=dtype_arg, dim_arg=dim_arg)
        if not s.requires_grad:                                 # s does not depend on x: J = 0
            return s.detach(), torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        u = torch.zeros_like(s, requires_grad=True)
        jt_u, = torch.autograd.grad(s, xr, u, create_graph=True, materialize_grads=True)
        v, _ = _unit_rows(start)
        for _ in range(iterations):
            if jt_u.requires_grad:
                jv, = torch.autograd.grad(jt_u, u, v, retain_graph=True, materialize_grads=True)
            else:                                               # J^T u = 0 for every u
                jv = torch.zeros_like(v)
            jtjv, = torch.autograd.grad(s, xr, jv, retain_graph=True, materialize_grads=True)
            v, norm = _unit_rows(jtjv)
    return s.detach(), norm.detach().sqrt()


def jacobian_spectral_norm(score_fn, x: torch.Tensor, t, *, power_iterations: int = 10,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """``|grad_x s(x_b, t)|_2`` per row of ``x`` (shape ``(B,)``) by power iteration on ``J^T J`` with autograd,
    from a random start drawn with ``generator``; a lower bound on the exact spectral norm."""
    check_points(x, "x")
    t = check_time(t, dtype=x.dtype)
    check_positive_int(power_iterations, "power_iterations")
    check_generator(generator, x.device)
    start = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return _score_and_spectral_norm(score_fn, x, t, start, power_iterations, "x", "x")[1]


def _relative(diff: torch.Tensor, reference: torch.Tensor) -> float:
    """``E|diff|^2 / E|reference|^2`` over the rows (float64)."""
    return (diff.square().sum() / reference.square().sum()).item()


def score_distance(score_fn, train: torch.Tensor, held_out: torch.Tensor, times, *, num_queries: int = 256,
                   power_iterations: int = 10, lipschitz_queries: int | None = None, T=None,
                   dtype: torch.dtype = torch.float32, generator: torch.Generator | None = None,
                   reference: dict | None = None) -> dict:
    r"""Distances of ``score_fn`` to the empirical scores of ``train`` and ``held_out``, and its Lipschitz constant.

    Queries ``x = a_t x_i + s_t z`` (``x_i`` uniform from ``train``, ``z ~ N(0, I)``) are drawn once and moved
    along ``t`` (the same ``i`` and ``z`` at every time); from a fresh ``generator`` with the same seed every
    model sees the same queries (paired comparisons). With ``s^ = grad log p^_t`` (``train``) and
    ``s^_h`` (``held_out``), per ``t``:

    - ``to_empirical = E|s_theta - s^|^2 / E|s^|^2``;
    - ``to_held_out = E|s_theta - s^_h|^2 / E|s^_h|^2``; ``empirical_to_held_out = E|s^ - s^_h|^2 / E|s^_h|^2``;
    - ``lipschitz``: ``mean_x |grad_x s_theta(x, t)|_2`` over the first ``lipschitz_queries`` queries
      (all if None), by ``power_iterations`` steps of power iteration (:func:`jacobian_spectral_norm`);
    - ``lipschitz_empirical``: the same for ``s^`` itself (its exact Jacobian, the Hessian of ``log p^_t``), at
      the same queries: near a training point it is about ``1/s_t^2`` (the ``-I/s_t^2`` term), the target a
      memorising network copies;
    - ``lipschitz_empirical_scale = a_t^2 s_t^-4 min_{i != j} |x_i - x_j|^2``: chapter 5's scale
      (``hessian_lipschitz.theory.empirical_lipschitz_scale``) with the factor ``a_t^2`` of the midpoint
      constant ``a_t^2 |x_i - x_j|^2 / (4 s_t^4) - 1/s_t^2`` (1 as t -> 0; without it the scale would exceed
      the empirical score's constant by ``e^t`` at large t).

    Why ``s^_h`` stands in for the unknown true score: ``held_out`` is an equally large sample of the same law
    the model never saw, so ``s^_h`` is what DSM would converge to on other data; a model that learned the law
    rather than its training images is as close to ``s^_h`` as to ``s^``. Its limits: as ``s_t^2`` falls below
    the squared nearest-neighbour distance, ``s^_h`` is itself a memorising score (it points at held-out images,
    far from these queries) and far from the smooth true score, so at small ``t`` read ``to_held_out`` against
    the floor ``empirical_to_held_out`` (where a memorising model sits), not against 0; at large ``t`` both
    empirical scores approach the true score.

    Args:
        score_fn: ``score_fn(x, t) -> (B, d)`` for flat ``x`` of shape ``(B, d)`` in ``dtype``, e.g.
            ``memsep_lib.dit.FlatScore(model)``.
        train, held_out: flat images in ``[-1, 1]``, shape ``(n, d)`` each, same ``n`` (``n >= 2``).
        times: the times (e.g. :func:`score_time_grid`), in ``(0, T]`` (``T`` None: any ``t > 0``).
        num_queries, power_iterations, lipschitz_queries: positive ints (``lipschitz_queries <= num_queries``).
        dtype: the dtype of the points given to ``score_fn`` (the network's).
        generator: source of the queries and of the power iteration's start, on ``train``'s device.
        reference: the result of an earlier call with the same data, times and generator seed (the same
            queries): its model-independent quantities (``MODEL_FREE``) are reused instead of recomputed (the
            exact empirical Jacobian costs ``O(m d^3)`` per time).

    Returns:
        ``{"times": [...], quantity: [one float per time]}`` for every name in :data:`QUANTITIES`.
    """
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable as score_fn(x, t), got {type(score_fn).__name__}")
    check_points(train, "train")
    check_points(held_out, "held_out", dim=train.shape[1])
    check_compatible(held_out, train, "held_out", "train")
    n, d = train.shape
    if held_out.shape[0] != n:
        raise ValueError(f"held_out must have as many images as train ({n}), got {held_out.shape[0]}")
    if n < 2:
        raise ValueError("train must contain at least two images (min_{i != j} |x_i - x_j| needs a pair)")
    for name, data in (("train", train), ("held_out", held_out)):
        if data.abs().max().item() > 1 + 1e-6:
            raise ValueError(f"{name} must hold images in [-1, 1], got values up to {data.abs().max().item():.3g}")
    dtype = check_float_dtype(dtype, "dtype")
    times = _check_times(times, T, dtype)
    num_queries = check_positive_int(num_queries, "num_queries")
    iterations = check_positive_int(power_iterations, "power_iterations")
    m = num_queries if lipschitz_queries is None else check_positive_int(lipschitz_queries, "lipschitz_queries")
    if m > num_queries:
        raise ValueError(f"lipschitz_queries must be at most num_queries={num_queries}, got {m}")
    check_generator(generator, train.device)

    train64, held64 = train.to(torch.float64), held_out.to(torch.float64)
    d_min = nearest_neighbors(train64, train64, 1, exclude_self=True)[0].min().item()
    idx = torch.randint(n, (num_queries,), generator=generator, device=train.device)
    z = torch.randn(num_queries, d, generator=generator, device=train.device, dtype=torch.float64)
    start = torch.randn(m, d, generator=generator, device=train.device, dtype=dtype)
    out = {"times": times, **{k: [] for k in QUANTITIES}}
    for t in times:
        x, _ = add_noise(train64[idx], t, noise=z)
        emp, ref = empirical_score(x, t, train64), empirical_score(x, t, held64)
        xq = x.to(dtype)
        net, lip = _score_and_spectral_norm(score_fn, xq[:m], t, start, iterations, "dtype", "train")
        if m < num_queries:
            with torch.no_grad():
                rest = call_score_fn(score_fn, xq[m:], t, dtype_arg="dtype", dim_arg="train")
            net = torch.cat([net, rest])
        net = net.to(torch.float64)
        out["to_empirical"].append(_relative(net - emp, emp))
        out["to_held_out"].append(_relative(net - ref, ref))
        out["lipschitz"].append(lip.to(torch.float64).mean().item())
        if reference is None:
            out["empirical_to_held_out"].append(_relative(emp - ref, ref))
            out["lipschitz_empirical"].append(torch.linalg.matrix_norm(
                empirical_score_hessian(x[:m], t, train64), ord=2).mean().item())
            out["lipschitz_empirical_scale"].append(alpha(t) ** 2 * d_min ** 2 / sigma(t) ** 4)
    if reference is not None:
        out.update({k: list(reference[k]) for k in MODEL_FREE})
    return out


def small_t_mean(curve, times, horizon) -> float:
    """``mean {curve_k : t_k <= horizon}``: a curve's mean over the grid times of the small-t interval."""
    if isinstance(curve, (str, bytes)) or not hasattr(curve, "__len__"):
        raise TypeError(f"curve must be a sequence of numbers, got {type(curve).__name__}")
    if isinstance(times, (str, bytes)) or not hasattr(times, "__len__"):
        raise TypeError(f"times must be a sequence of times, got {type(times).__name__}")
    if len(curve) != len(times):
        raise ValueError(f"curve and times must have the same length, got {len(curve)} and {len(times)}")
    horizon = check_time(horizon, "horizon")
    values = [check_real(c, "curve") for c, t in zip(curve, times) if check_time(t, "times") <= horizon]
    if not values:
        raise ValueError(f"no grid time is <= horizon={horizon} (smallest time {min(times, default=math.nan)})")
    return sum(values) / len(values)
