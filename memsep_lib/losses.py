"""Denoising score matching, the Loss-Gap and the Fisher divergence (Proposition 4.1).

DSM loss of a score ``s`` at a training point ``x_i`` (``X_t = a_t x_i + s_t Z``)::

    l_t(x_i, s) = E_Z | -(X_t - a_t x_i)/s_t^2 - s(X_t, t) |^2 = E_Z | -Z/s_t - s(X_t, t) |^2

Loss-Gap of ``s`` against the empirical score (the DSM minimiser), and the Fisher divergence::

    Loss-Gap_t(s) = (1/n) sum_i [ l_t(x_i, s) - l_t(x_i, grad log p^_t) ]
    Fisher_t(s)   = E_{X ~ P^_t} | grad log p^_t(X) - s(X, t) |^2

Proposition 4.1 says they are equal. With ``J(Q_t) = E_{X ~ Q_t} |grad log q_t(X)|^2`` (the Fisher
information of a noised law), averaging over training sets ``D ~ P^n`` gives a third estimator of the
expected gap, with no paired noise and no true score at empirical points::

    E_D[Loss-Gap_t(grad log p_t)] = E_D[J(P^_t)] - J(P_t)       (fisher_information_gap)

All are estimated by Monte Carlo from draws
``(i, Z)`` with ``i`` cycling through the data in random order (stratified) and ``X = a_t x_i + s_t Z``.
A ``score_fn`` is any callable ``score_fn(x, t) -> Tensor`` returning a tensor of ``x``'s shape ``(B, d)``,
dtype and device (``GaussianMixture.score``, a trained network, ``lambda x, t: empirical_score(x, t, data)``);
the estimators give it points in the data's dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .process import add_noise, sigma
from .scores import empirical_score
from .validation import (_all_finite, call_score_fn, check_generator, check_points, check_positive_int,
                         check_score_output, check_time)

ScoreFn = Callable[[torch.Tensor, float], torch.Tensor]

# The draws ``x_t = a_t x_i + s_t z`` must resolve the noise: with ``s_t`` below this many ulps of the
# data's largest entry, ``x_t`` rounds to (nearly) ``a_t x_i`` and every estimate is rounding noise.
_RESOLUTION_ULPS = 1000.0

__all__ = ["MonteCarloEstimate", "dsm_loss", "loss_gap", "fisher_divergence", "fisher_information",
           "fisher_information_gap"]


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A Monte-Carlo mean with its standard error ``std / sqrt(num_samples)``."""

    value: float
    stderr: float
    num_samples: int

    def __str__(self) -> str:
        return f"{self.value:.4g} ± {self.stderr:.2g}"


def _check_callable(score_fn) -> None:
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable as score_fn(x, t), got {type(score_fn).__name__}")


def _call_score(score_fn: ScoreFn, x: torch.Tensor, t, *, data_name: str = "data") -> torch.Tensor:
    """``score_fn(x, t)``, checked: exactly ``x``'s shape, dtype and device, and finite; a failure on points
    of another dtype or dimension than ``score_fn``'s model names ``data_name``."""
    return call_score_fn(score_fn, x, t, dtype_arg=data_name, dim_arg=data_name)


def dsm_loss(score_fn: ScoreFn, x0: torch.Tensor, t, *, noise: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample DSM loss ``| -z/s_t - score_fn(a_t x0 + s_t z, t) |^2``, shape ``(B,)``.

    One noise draw ``z`` per row (pass ``noise`` to pair draws between two scores). Its mean over
    draws is ``l_t(x0, score_fn)``. ``t`` is a scalar or a tensor of shape ``(B,)`` (one time per
    row, as in training); a per-row ``t`` is passed to ``score_fn`` as that tensor.

    ``score_fn``'s output must have ``x0``'s shape, dtype and device. Its finiteness is not checked
    here (this is the training hot path, and a check would synchronise the device every step): a
    non-finite score gives a non-finite loss, which the training loop reports.
    """
    _check_callable(score_fn)
    if isinstance(t, torch.Tensor) and t.numel() > 1:
        x_t, z = add_noise(x0, t, noise=noise, generator=generator)     # checks t's shape and values
        s_t = sigma(t.to(device=x0.device, dtype=x0.dtype))[:, None]
    else:
        t = check_time(t, dtype=x0.dtype if isinstance(x0, torch.Tensor) and x0.is_floating_point() else None)
        x_t, z = add_noise(x0, t, noise=noise, generator=generator)
        s_t = sigma(t)
    residual = -z / s_t - check_score_output(score_fn(x_t, t), x_t, t=t, finite=False)
    return (residual * residual).sum(1)


def _check_estimate_inputs(data, score_fn, t, num_samples, generator, batch_size, name: str = "data") -> float:
    """The shared checks of the estimators (``name``: the data argument's name); returns ``t`` as a float."""
    check_points(data, name)
    _check_callable(score_fn)
    if data.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64 (the empirical score's dtypes), got {data.dtype}")
    t = check_time(t, dtype=data.dtype)
    check_positive_int(num_samples, "num_samples")
    check_positive_int(batch_size, "batch_size")
    check_generator(generator, data.device)
    scale = data.abs().max().item()
    s_min = _RESOLUTION_ULPS * torch.finfo(data.dtype).eps * scale
    if sigma(t) < s_min:
        t_ok = -math.log1p(-s_min * s_min)
        raise ValueError(f"t={t:g} is too small for the precision of {name} ({data.dtype}): the noise s_t z "
                         f"(s_t = {sigma(t):.3g}) is lost in rounding against data entries up to {scale:.3g}; "
                         f"use a larger t (t >= {t_ok:.2g})"
                         + (f" or float64 {name}" if data.dtype != torch.float64 else ""))
    return t


def _check_finite_terms(values: torch.Tensor, what: str, t: float, dtype: torch.dtype) -> None:
    """A Monte-Carlo term that is not finite is an error naming ``t`` (the terms grow like ``1 / s_t^2``)."""
    if not _all_finite(values):
        raise ValueError(f"{what} at t={t:g} is not finite in {dtype} (1 / s_t^2 = {1.0 / sigma(t) ** 2:.3g}); "
                         "use a larger t"
                         + (" or float64 data" if dtype != torch.float64 else ""))


def _draws(data: torch.Tensor, t: float, num_samples: int, generator, batch_size: int):
    """Yield batches ``(x_i, z, x_t)``, ``i`` stratified over the data, ``x_t = a_t x_i + s_t z``."""
    n = data.shape[0]
    order = torch.randperm(n, generator=generator, device=generator.device if generator else data.device)
    idx = order.repeat(math.ceil(num_samples / n))[:num_samples].to(data.device)
    for start in range(0, num_samples, batch_size):
        x0 = data[idx[start:start + batch_size]]
        x_t, z = add_noise(x0, t, generator=generator)
        yield x0, z, x_t


def _estimate(values: list[torch.Tensor]) -> MonteCarloEstimate:
    v = torch.cat(values).double()
    mean = v.mean().item()
    std = v.std().item() if v.numel() > 1 else math.inf
    if not math.isfinite(mean) or (v.numel() > 1 and not math.isfinite(std)):
        raise ValueError(f"the Monte-Carlo mean overflows float64 (terms up to {v.abs().max().item():.3g}); "
                         "use a larger t")
    return MonteCarloEstimate(mean, std / math.sqrt(v.numel()), v.numel())


def loss_gap(data: torch.Tensor, score_fn: ScoreFn, t, *, num_samples: int,
             generator: torch.Generator | None = None, batch_size: int = 4096) -> MonteCarloEstimate:
    """Paired Monte-Carlo estimate of ``Loss-Gap_t(s) = (1/n) sum_i [l_t(x_i, s) - l_t(x_i, grad log p^_t)]``.

    Both DSM terms use the same draws ``X = a_t x_i + s_t z``; per draw, with ``g = -z/s_t`` the
    conditional score, ``s = score_fn(X, t)`` and ``s^ = grad log p^_t(X)`` the empirical score,
    ``|g - s|^2 - |g - s^|^2 = (s^ - s).(2g - s - s^)`` (the factored form avoids cancellation).

    Args:
        data: the training set ``x_1..x_n``, shape ``(n, d)``, float32 or float64; it defines the
            empirical law ``P^_t``, and ``score_fn`` gets points of its dtype and device.
        score_fn: the score ``s`` compared with the empirical one: a callable ``score_fn(x, t) -> Tensor``
            with ``x`` of shape ``(B, d)`` and ``t`` a float, returning a tensor of ``x``'s shape.
        t: diffusion time, ``> 0`` (large enough that the noise ``s_t z`` is resolved in data's dtype).
        num_samples: Monte-Carlo draws ``(i, z)``, the indices ``i`` cycling through the data in
            random order (so ``num_samples = n`` uses each point once).
        generator: source of the draws (order and noise), on data's device.
        batch_size: draws evaluated together (memory: ``batch_size x n`` for the empirical score);
            it does not change the draws, only how many go through ``score_fn`` at once.

    Returns:
        MonteCarloEstimate: ``value`` (the mean over draws), ``stderr`` and ``num_samples``.
    """
    t = _check_estimate_inputs(data, score_fn, t, num_samples, generator, batch_size)
    values = []
    for _, z, x_t in _draws(data, t, num_samples, generator, batch_size):
        g = (-z / sigma(t)).double()
        s_emp = empirical_score(x_t, t, data)
        _check_finite_terms(s_emp, "the empirical score", t, data.dtype)
        s_fn = _call_score(score_fn, x_t, t).double()
        s_emp = s_emp.double()
        values.append(((s_emp - s_fn) * (2 * g - s_fn - s_emp)).sum(1))
        _check_finite_terms(values[-1], "loss_gap", t, torch.float64)
    return _estimate(values)


def fisher_divergence(data: torch.Tensor, score_fn: ScoreFn, t, *, num_samples: int,
                      generator: torch.Generator | None = None, batch_size: int = 4096) -> MonteCarloEstimate:
    """Monte-Carlo estimate of ``Fisher_t(s) = E_{X ~ P^_t} | grad log p^_t(X) - s(X, t) |^2``.

    ``X = a_t x_i + s_t z`` is a draw of the noised empirical law ``P^_t``. Equal to
    :func:`loss_gap` in expectation (Proposition 4.1), with a different Monte-Carlo error.

    Args:
        data: the training set ``x_1..x_n``, shape ``(n, d)``, float32 or float64; it defines
            ``P^_t``, and ``score_fn`` gets points of its dtype and device.
        score_fn: the score ``s``: a callable ``score_fn(x, t) -> Tensor`` with ``x`` of shape
            ``(B, d)`` and ``t`` a float, returning a tensor of ``x``'s shape.
        t: diffusion time, ``> 0``.
        num_samples: Monte-Carlo draws ``(i, z)``, the indices ``i`` cycling through the data in
            random order.
        generator: source of the draws, on data's device.
        batch_size: draws evaluated together (memory only; the draws are the same).

    Returns:
        MonteCarloEstimate: ``value``, ``stderr`` and ``num_samples``.
    """
    t = _check_estimate_inputs(data, score_fn, t, num_samples, generator, batch_size)
    values = []
    for _, _, x_t in _draws(data, t, num_samples, generator, batch_size):
        s_emp = empirical_score(x_t, t, data)
        _check_finite_terms(s_emp, "the empirical score", t, data.dtype)
        diff = s_emp.double() - _call_score(score_fn, x_t, t).double()
        values.append((diff * diff).sum(1))
        _check_finite_terms(values[-1], "fisher_divergence", t, torch.float64)
    return _estimate(values)


def fisher_information(points: torch.Tensor, score_fn: ScoreFn | None, t, *, num_samples: int,
                       generator: torch.Generator | None = None, batch_size: int = 4096) -> MonteCarloEstimate:
    """Monte-Carlo ``J(Q_t) = E |score(a_t x + s_t Z, t)|^2``, ``x`` drawn (stratified) from ``points``.

    ``score_fn=None``: the empirical score of ``points``, so the value is ``J(P^_t)`` of the empirical law.
    Otherwise ``points`` should be draws from ``P`` and ``score_fn`` its noised score: the value is ``J(P_t)``.
    """
    return _fisher_information(points, score_fn, t, num_samples, generator, batch_size, "points")


def _fisher_information(points, score_fn, t, num_samples, generator, batch_size, name: str) -> MonteCarloEstimate:
    """:func:`fisher_information`, its errors naming the points argument ``name``."""
    t = _check_estimate_inputs(points, score_fn if score_fn is not None else empirical_score, t, num_samples,
                               generator, batch_size, name=name)
    values = []
    for _, _, x_t in _draws(points, t, num_samples, generator, batch_size):
        s = empirical_score(x_t, t, points) if score_fn is None else _call_score(score_fn, x_t, t, data_name=name)
        _check_finite_terms(s, "the score", t, points.dtype)
        values.append((s.double() ** 2).sum(1))
    return _estimate(values)


def fisher_information_gap(data: torch.Tensor, score_fn: ScoreFn, t, *, reference: torch.Tensor, num_samples: int,
                           generator: torch.Generator | None = None, batch_size: int = 4096) -> MonteCarloEstimate:
    """``J(P^_t) - J(P_t)``: its mean over training sets ``data ~ P^n`` is ``E_D[Loss-Gap_t(score_fn)]``.

    ``score_fn`` is the true score ``grad log p_t``; ``reference`` holds fresh draws from ``P`` (independent of
    ``data``), used for ``J(P_t)``. The two Monte-Carlo terms are independent; ``stderr`` combines them. For one
    training set the value is not that set's Loss-Gap (only its expectation over sets is).
    """
    check_points(data, "data")
    check_points(reference, "reference")
    _check_callable(score_fn)
    if reference.shape[1] != data.shape[1]:
        raise ValueError(f"reference must have data's dimension {data.shape[1]}, got {reference.shape[1]}")
    emp = _fisher_information(data, None, t, num_samples, generator, batch_size, "data")
    true = _fisher_information(reference, score_fn, t, num_samples, generator, batch_size, "reference")
    return MonteCarloEstimate(emp.value - true.value, math.hypot(emp.stderr, true.stderr), num_samples)
