"""Local Lipschitz constants of any score function, by autograd (for networks: no closed form needed).

The local Lipschitz constant of a score ``s(., t)`` at ``x`` is the spectral norm of its Jacobian,
``L(x) = |grad_x s(x, t)|_2``; for a true score ``s = grad log p_t`` the Jacobian is the (symmetric)
Hessian and ``L(x) = max_k |lambda_k(grad^2 log p_t(x))|``.

- :func:`autograd_jacobian`, :func:`jacobian_fn`: the Jacobian of a ``score_fn`` (one backward pass
  per output coordinate); :func:`spectral_norm`; :func:`local_lipschitz` of a matrix function.
- :func:`maximize_local_lipschitz`: ``max_x L(x)`` by monotone normalised gradient ascent from many
  starts, with a per-start adaptive step.

Chapter 5's closed forms (the empirical law's midpoint constant, the Gaussian case) live in
``memsep_lib.experiments.hessian_lipschitz.theory``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .process import sigma
from .validation import check_points, check_positive_int, check_time

MatrixFn = Callable[[torch.Tensor, float], torch.Tensor]   # (B, d), t -> (B, d, d)
ScoreFn = Callable[[torch.Tensor, float], torch.Tensor]    # (B, d), t -> (B, d)

__all__ = ["MatrixFn", "ScoreFn", "check_matrix_batch", "autograd_jacobian", "spectral_norm", "local_lipschitz",
           "jacobian_fn", "LipschitzSearch", "maximize_local_lipschitz"]


def check_matrix_batch(m, name: str, d: int) -> torch.Tensor:
    """``m`` must be a ``(B, d, d)`` tensor (what a matrix function returns); ``name`` is named in the error."""
    if not isinstance(m, torch.Tensor) or m.ndim != 3 or m.shape[1:] != (d, d):
        shape = tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
        raise ValueError(f"{name} must return a tensor of shape (B, {d}, {d}), got {shape}")
    return m


def autograd_jacobian(score_fn: ScoreFn, x: torch.Tensor, t, *, create_graph: bool = False) -> torch.Tensor:
    """Jacobian ``J[b, k, j] = d s_k(x_b, t) / d x_{b, j}`` of a row-wise score by autograd, shape ``(B, d, d)``.

    Uses one backward pass per output coordinate on ``sum_b s_k(x_b)``, which is exact because a
    score function acts on each row of ``x`` separately. With ``create_graph`` the Jacobian stays a
    differentiable function of ``x`` (when ``x`` requires grad), e.g. to ascend ``|J|_2`` in ``x``.
    """
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable as score_fn(x, t), got {type(score_fn).__name__}")
    check_points(x, "x")
    with torch.enable_grad():
        xr = x if create_graph and x.requires_grad else x.detach().requires_grad_(True)
        out = score_fn(xr, t)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            raise ValueError(f"score_fn must return a tensor of shape {tuple(x.shape)}")
        rows = [torch.autograd.grad(out[:, k].sum(), xr, retain_graph=True, create_graph=create_graph)[0]
                for k in range(x.shape[1])]
    return torch.stack(rows, dim=1)


def spectral_norm(m: torch.Tensor) -> torch.Tensor:
    """``|M_b|_2`` (largest singular value; ``max_k |lambda_k|`` for symmetric ``M_b``) of a ``(B, d, d)`` batch."""
    if not isinstance(m, torch.Tensor) or m.ndim != 3 or m.shape[1] != m.shape[2]:
        raise ValueError(f"m must be a tensor of shape (B, d, d), got "
                         f"{tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__}")
    return torch.linalg.matrix_norm(m, ord=2)


def local_lipschitz(matrix_fn: MatrixFn, x: torch.Tensor, t) -> torch.Tensor:
    """Local Lipschitz constants ``L(x_b) = |matrix_fn(x, t)_b|_2``, shape ``(B,)``.

    ``matrix_fn`` returns the Jacobian of the score (for a true score, the Hessian of ``log p_t``),
    e.g. ``GaussianMixture.hessian`` or :func:`jacobian_fn` of a network.
    """
    if not callable(matrix_fn):
        raise TypeError(f"matrix_fn must be callable as matrix_fn(x, t), got {type(matrix_fn).__name__}")
    check_points(x, "x")
    return spectral_norm(check_matrix_batch(matrix_fn(x, t), "matrix_fn", x.shape[1]))


def jacobian_fn(score_fn: ScoreFn, *, create_graph: bool = False) -> MatrixFn:
    """``(x, t) -> d score_fn(x, t) / dx`` by autograd (for networks, whose Jacobian has no closed form)."""
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable, got {type(score_fn).__name__}")
    return lambda x, t: autograd_jacobian(score_fn, x, t, create_graph=create_graph)


@dataclass(frozen=True)
class LipschitzSearch:
    """Result of :func:`maximize_local_lipschitz`: the best value and point, and the final value per start."""

    value: float
    argmax: torch.Tensor
    values: torch.Tensor
    points: torch.Tensor


def maximize_local_lipschitz(matrix_fn: MatrixFn, starts: torch.Tensor, t, *, steps: int = 50,
                             step_size: float | None = None, objective: str = "max_eigenvalue",
                             grow: float = 1.5, shrink: float = 0.5) -> LipschitzSearch:
    """Search ``max_x L(x) = |matrix_fn(x, t)|_2`` by gradient ascent from every row of ``starts``.

    The ascent objective ``f`` is either ``"max_eigenvalue"`` (default; for Hessians of
    ``log p_t``): ``f = lambda_max(H)``. Since ``H = -I/s_t^2 + (a_t^2/s_t^4) Cov`` with ``Cov``
    PSD, ``-lambda_min(H) <= 1/s_t^2`` everywhere and only ``lambda_max`` can grow; it also has a
    useful gradient where the constant ``-1/s_t^2`` part dominates ``|H|_2``. Or
    ``"spectral_norm"``: ``f = |M|_2`` (any matrix, e.g. a network Jacobian).

    Each start moves by normalised gradient steps ``x <- x + h grad f/|grad f|`` of its own length
    ``h`` (initially ``step_size``, default ``s_t``): a step is kept only if it increases ``f``
    (then ``h *= grow``), otherwise rejected (``h *= shrink``). The best ``L`` seen on each path
    is kept, so the result is at least ``max_b L(starts_b)``. ``matrix_fn`` must be
    differentiable in ``x`` (e.g. the analytic Hessians).
    """
    if not callable(matrix_fn):
        raise TypeError(f"matrix_fn must be callable as matrix_fn(x, t), got {type(matrix_fn).__name__}")
    check_points(starts, "starts")
    t = check_time(t)
    check_positive_int(steps, "steps")
    h0 = sigma(t) if step_size is None else float(step_size)
    if not (math.isfinite(h0) and h0 > 0):
        raise ValueError(f"step_size must be finite and > 0, got {step_size}")
    if objective not in ("max_eigenvalue", "spectral_norm"):
        raise ValueError(f"objective must be 'max_eigenvalue' or 'spectral_norm', got {objective!r}")
    if not (grow >= 1 and 0 < shrink < 1):
        raise ValueError(f"need grow >= 1 and 0 < shrink < 1, got grow={grow}, shrink={shrink}")
    d = starts.shape[1]

    def evaluate(x):
        """Ascent objective f, Lipschitz value L and grad f at the rows of x."""
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            m = check_matrix_batch(matrix_fn(xr, t), "matrix_fn", d)
            if objective == "max_eigenvalue":
                eig = torch.linalg.eigvalsh(0.5 * (m + m.transpose(1, 2)))
                f, lip = eig[:, -1], eig.abs().amax(1)
            else:
                f = lip = spectral_norm(m)
            grad, = torch.autograd.grad(f.sum(), xr)
        return f.detach(), lip.detach(), grad

    x = starts.detach().clone()
    h = torch.full((x.shape[0],), h0, dtype=x.dtype, device=x.device)
    f, lip, grad = evaluate(x)
    best_lip, best_x = lip.clone(), x.clone()
    for _ in range(steps):
        norm = torch.linalg.vector_norm(grad, dim=1, keepdim=True)
        direction = torch.where(norm > 0, grad / norm.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(grad))
        trial = x + h[:, None] * direction
        trial_f, trial_lip, trial_grad = evaluate(trial)
        better = torch.isfinite(trial_f) & (trial_f > f)
        x = torch.where(better[:, None], trial, x)
        f = torch.where(better, trial_f, f)
        grad = torch.where(better[:, None], trial_grad, grad)
        h = torch.where(better, h * grow, h * shrink)
        improved = better & (trial_lip > best_lip)
        best_lip = torch.where(improved, trial_lip, best_lip)
        best_x = torch.where(improved[:, None], trial, best_x)
    best = int(torch.argmax(best_lip))
    return LipschitzSearch(value=best_lip[best].item(), argmax=best_x[best].clone(), values=best_lip,
                           points=best_x)
