"""The empirical score as the minimiser of the empirical DSM loss (numerical checks of Chapter 1).

At one time ``t`` the empirical DSM loss of a score ``s`` is

    L_t(s) = (1/n) sum_i l_t(x_i, s),   l_t(x_i, s) = E_Z | -Z/s_t - s(a_t x_i + s_t Z, t) |^2,

and its global minimiser is the empirical score ``s^ = grad log p^_t``. For a perturbation
``s^ + eps v / s_t`` (``v`` a vector field, ``1/s_t`` the natural scale of a score) the exact change is

    L_t(s^ + eps v/s_t) - L_t(s^) = (eps^2 / s_t^2) E_{P^_t} |v|^2 - (2 eps / s_t) E[(g - s^) . v],

with ``g = -Z/s_t`` the conditional score; the second expectation is zero because
``E[g | X_t] = s^`` (first-order optimality), so the change is ``(eps^2/s_t^2) E_{P^_t}|v|^2 > 0``.
:func:`perturbation_study` measures the change by Monte Carlo with paired noise (every score sees
the same draws ``(i, Z)``), so the only sampling error left is that of the cross term, which
the study also reports with its standard error (a z-test of first-order optimality).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .losses import dsm_loss
from .process import add_noise, sigma
from .scores import empirical_score
from .validation import check_points, check_positive_int, check_time

__all__ = [
    "empirical_dsm_loss",
    "constant_fields",
    "smooth_random_fields",
    "PerturbationStudy",
    "perturbation_study",
    "autograd_score",
]

VectorField = Callable[[torch.Tensor], torch.Tensor]


def _paired_inputs(data: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat ``data`` (``n, d``) to match ``noise`` (``m, n, d``); return flat ``(m n, d)`` tensors."""
    check_points(data, "data")
    if not isinstance(noise, torch.Tensor) or noise.ndim != 3 or noise.shape[1:] != data.shape:
        shape = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
        raise ValueError(f"noise must have shape (m, n, d) = (m, {data.shape[0]}, {data.shape[1]}), got {shape}")
    if noise.dtype != data.dtype or noise.device != data.device:
        raise TypeError("noise must have the dtype and device of data")
    m = noise.shape[0]
    return data.repeat(m, 1), noise.reshape(-1, data.shape[1])


def empirical_dsm_loss(score_fn, data: torch.Tensor, t, *, noise: torch.Tensor) -> torch.Tensor:
    """Per-draw DSM losses ``|-z_ji/s_t - score_fn(a_t x_i + s_t z_ji, t)|^2``, shape ``(m, n)``.

    ``noise`` has shape ``(m, n, d)``: ``m`` paired draws per training point. The mean of the result
    is the Monte-Carlo estimate of ``L_t(score_fn) = (1/n) sum_i l_t(x_i, score_fn)``.
    """
    t = check_time(t)
    x0, z = _paired_inputs(data, noise)
    return dsm_loss(score_fn, x0, t, noise=z).reshape(noise.shape[0], data.shape[0])


def constant_fields(d: int, num: int, *, generator: torch.Generator | None = None,
                    dtype=torch.float64, device=None) -> list[VectorField]:
    """``num`` constant unit vector fields ``v_k(x) = u_k`` with ``u_k`` uniform on the sphere of ``R^d``."""
    check_positive_int(d, "d")
    check_positive_int(num, "num")
    dev = generator.device if generator is not None else device
    u = torch.randn(num, d, generator=generator, dtype=dtype, device=dev)
    u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True)
    return [lambda x, uk=uk: uk.to(x).expand_as(x) for uk in u]


def smooth_random_fields(d: int, num: int, *, generator: torch.Generator | None = None,
                         dtype=torch.float64, device=None) -> list[VectorField]:
    """``num`` bounded, non-constant fields ``v_k(x) = tanh(W_k x + b_k)``, ``W_k ~ N(0, I/d)``, ``b_k ~ N(0, I)``."""
    check_positive_int(d, "d")
    check_positive_int(num, "num")
    dev = generator.device if generator is not None else device
    W = torch.randn(num, d, d, generator=generator, dtype=dtype, device=dev) / math.sqrt(d)
    b = torch.randn(num, d, generator=generator, dtype=dtype, device=dev)
    return [lambda x, Wk=Wk, bk=bk: torch.tanh(x @ Wk.to(x).T + bk.to(x)) for Wk, bk in zip(W, b)]


@dataclass(frozen=True)
class PerturbationStudy:
    """Change of the empirical DSM loss when the empirical score is perturbed, at one time ``t``.

    ``increase[k, j]``: Monte-Carlo ``L_t(s^ + eps_j v_k / s_t) - L_t(s^)`` (paired noise), with its standard
    error ``increase_se``; ``quadratic[k, j] = (eps_j^2 / s_t^2) mean |v_k(X_t)|^2`` over the same draws;
    ``first_order[k] = -(2/s_t) mean (g - s^).v_k`` over the same draws (``g = -Z/s_t``), with standard error
    ``first_order_se[k]``, so that ``increase = quadratic + eps * first_order``. At the minimiser the
    first-order term has expectation zero. ``base_loss = L_t(s^)``.
    """

    t: float
    eps: tuple
    base_loss: float
    increase: torch.Tensor
    increase_se: torch.Tensor
    quadratic: torch.Tensor
    first_order: torch.Tensor
    first_order_se: torch.Tensor

    @property
    def all_increase(self) -> bool:
        """Every perturbation (every field, every ``eps``) raises the loss."""
        return bool((self.increase > 0).all())

    @property
    def first_order_z(self) -> torch.Tensor:
        """``first_order / first_order_se`` per field: approximately ``N(0, 1)`` at the minimiser."""
        return self.first_order / self.first_order_se

    @property
    def max_relative_deviation(self) -> float:
        """``max |increase / quadratic - 1|``: the sampled cross term relative to the quadratic term."""
        return float((self.increase / self.quadratic - 1).abs().max())


def _reuse_at(x_ref: torch.Tensor, value: torch.Tensor, score_fn):
    """``score_fn`` that returns the precomputed ``value`` when called at exactly ``x_ref``."""
    def score(x, t):
        if x.shape == x_ref.shape and torch.equal(x, x_ref):
            return value
        return score_fn(x, t)
    return score


def perturbation_study(data: torch.Tensor, t, fields: Sequence[VectorField], eps: Sequence[float], *,
                       num_noise: int, generator: torch.Generator | None = None) -> PerturbationStudy:
    """Perturb ``s^`` by ``eps v / s_t`` for each field ``v`` and each ``eps``; see :class:`PerturbationStudy`.

    All scores are evaluated on the same ``num_noise`` noise draws per training point.
    """
    t = check_time(t)
    check_points(data, "data")
    check_positive_int(num_noise, "num_noise")
    fields = list(fields)
    eps = tuple(float(e) for e in eps)
    if not fields or not all(callable(v) for v in fields):
        raise TypeError("fields must be a non-empty sequence of callables v(x) -> (B, d)")
    if not eps or any(e == 0 or not math.isfinite(e) for e in eps):
        raise ValueError(f"eps must be a non-empty sequence of finite non-zero numbers, got {eps}")
    dev = generator.device if generator is not None else data.device
    noise = torch.randn(num_noise, *data.shape, generator=generator, dtype=data.dtype, device=dev).to(data.device)
    x0, z = _paired_inputs(data, noise)
    x_t, _ = add_noise(x0, t, noise=z)
    s_t = sigma(t)
    # dsm_loss forms X_t = a_t x0 + s_t z itself, identical to x_t: the empirical score is computed once.
    s_hat = empirical_score(x_t, t, data)
    emp = _reuse_at(x_t, s_hat, lambda x, tt: empirical_score(x, tt, data))
    base = dsm_loss(emp, x0, t, noise=z)
    increase = torch.empty(len(fields), len(eps), dtype=torch.float64)
    increase_se = torch.empty_like(increase)
    quadratic = torch.empty_like(increase)
    first_order = torch.empty(len(fields), dtype=torch.float64)
    first_order_se = torch.empty_like(first_order)
    residual = (-z / s_t - s_hat).double()                                   # g - s^ per draw
    for k, v in enumerate(fields):
        vx = v(x_t)
        if not isinstance(vx, torch.Tensor) or vx.shape != x_t.shape:
            raise ValueError(f"fields[{k}] must return a tensor of shape {tuple(x_t.shape)}")
        mean_sq = (vx * vx).sum(1).double().mean().item() / s_t ** 2
        lin = -(2 / s_t) * (residual * vx.double()).sum(1)
        first_order[k] = lin.mean()
        first_order_se[k] = lin.std() / math.sqrt(lin.numel())
        for j, e in enumerate(eps):
            perturbed = lambda x, tt, e=e, v=v: emp(x, tt) + (e / s_t) * v(x)
            diff = (dsm_loss(perturbed, x0, t, noise=z) - base).double()
            increase[k, j] = diff.mean()
            increase_se[k, j] = diff.std() / math.sqrt(diff.numel())
            quadratic[k, j] = e * e * mean_sq
    return PerturbationStudy(t, eps, base.double().mean().item(), increase, increase_se, quadratic,
                             first_order, first_order_se)


def autograd_score(log_prob_fn, x: torch.Tensor, t) -> torch.Tensor:
    """``grad_x log_prob_fn(x, t)`` by automatic differentiation, shape ``(B, d)`` (``log_prob_fn`` -> ``(B,)``)."""
    if not callable(log_prob_fn):
        raise TypeError(f"log_prob_fn must be callable as log_prob_fn(x, t), got {type(log_prob_fn).__name__}")
    check_points(x, "x")
    x = x.detach().clone().requires_grad_(True)
    out = log_prob_fn(x, t)
    if not isinstance(out, torch.Tensor) or out.shape != (x.shape[0],):
        raise ValueError(f"log_prob_fn must return a tensor of shape ({x.shape[0]},)")
    (grad,) = torch.autograd.grad(out.sum(), x)
    return grad
