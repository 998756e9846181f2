"""MSE regression of the ``G`` models of a :class:`~memsep_lib.nets.BatchedMLP` at once (:func:`fit_batched`)."""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import torch

from ..nets import BatchedMLP
from ..progress import progress_bar
from ..validation import check_positive_int

__all__ = ["FitResult", "fit_batched"]


class FitResult(NamedTuple):
    """Outcome of :func:`fit_batched`: each model's best validation error, the steps taken, the wall time."""
    best_error: list[float]
    steps: int
    wall_time_s: float


@torch.no_grad()
def _batched_adam_step(params, m, v, lr: torch.Tensor, k: int, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
    """Step ``k`` of Adam with one learning rate per model (``lr``: ``(G,)``, the model axis first in every
    parameter): ``p -= lr_g (m / c1) / (sqrt(v / c2) + eps)``, ``c_j = 1 - beta_j^k``. Elementwise, so it
    equals ``G`` separate Adams; ``lr_g = 0`` freezes model ``g`` (its denominator becomes infinite)."""
    b1, b2 = betas
    for p, m_p, v_p in zip(params, m, v):
        m_p.lerp_(p.grad, 1 - b1)
        v_p.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
        den = v_p.sqrt().div_(math.sqrt(1 - b2 ** k)).add_(eps).div_(lr.view(-1, *[1] * (p.ndim - 1)).to(p.dtype))
        p.addcdiv_(m_p, den, value=-1.0 / (1 - b1 ** k))


def fit_batched(model: BatchedMLP, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor,
                y_val: torch.Tensor, *, max_steps: int, batch_size: int = 256, lr: float = 3e-3,
                eval_every: int = 50, patience: int = 4, min_delta: float = 0.01, lr_decay: float = 0.3,
                num_decays: int = 2, generator: torch.Generator | None = None,
                val_reference: torch.Tensor | None = None, progress: bool = False, desc: str = "training") -> FitResult:
    """Train the ``G`` models of ``model`` by minibatch MSE regression, model ``g`` on ``(x_train[g], y_train[g])``.

    Inputs ``(G, P, dim_in)``, targets ``(G, P, dim_out)``. Step: ``loss = sum_g mean_b |f_g(x_gb) - y_gb|^2``
    over ``batch_size`` rows drawn per model, then a per-model Adam step. Every ``eval_every`` steps the
    validation error (:meth:`~memsep_lib.nets.BatchedMLP.relative_error` against ``val_reference``, default
    ``y_val``) is measured; a model not improved by a factor ``1 - min_delta`` for ``patience`` evaluations has
    its learning rate multiplied by ``lr_decay`` (at most ``num_decays`` times), then stops. Each model ends at
    its best validation checkpoint (the start included).

    Args:
        model: the :class:`~memsep_lib.nets.BatchedMLP`, trained in place.
        x_train, y_train: training inputs ``(G, P, dim_in)`` and targets ``(G, P, dim_out)``.
        x_val, y_val: validation inputs and targets, of the same shapes (any ``P``).
        max_steps: the most steps taken.
        batch_size: rows per model and step.
        lr: Adam's initial learning rate.
        eval_every, patience, min_delta, lr_decay, num_decays: the plateau schedule above.
        generator: source of the minibatch indices.
        val_reference: what the validation error is relative to (default ``y_val``).
        progress, desc: a tqdm bar and its label.

    Returns:
        FitResult: ``best_error`` per model, the ``steps`` taken, the wall time.
    """
    if not isinstance(model, BatchedMLP):
        raise TypeError(f"model must be a BatchedMLP, got {type(model).__name__}")
    G, d_in, d_out = model.num_models, model.dim_in, model.dim_out
    for name, x, y in (("training", x_train, y_train), ("validation", x_val, y_val)):
        if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.ndim == 3 and x.shape[0] == G
                and x.shape[2] == d_in and y.shape == (*x.shape[:2], d_out)):
            raise ValueError(f"{name} inputs and targets must be tensors of shapes ({G}, P, {d_in}) and "
                             f"({G}, P, {d_out})")
    if val_reference is not None and (not isinstance(val_reference, torch.Tensor)
                                      or val_reference.shape != y_val.shape):
        raise ValueError(f"val_reference must be a tensor of the shape of y_val {tuple(y_val.shape)}")
    for name, value in (("max_steps", max_steps), ("batch_size", batch_size), ("eval_every", eval_every),
                        ("patience", patience)):
        check_positive_int(value, name)
    if not (math.isfinite(lr) and lr > 0 and 0 < lr_decay < 1 and 0 <= min_delta < 1
            and type(num_decays) is int and num_decays >= 0):
        raise ValueError(f"need lr > 0, 0 < lr_decay < 1, 0 <= min_delta < 1 and an int num_decays >= 0; "
                         f"got lr={lr}, lr_decay={lr_decay}, min_delta={min_delta}, num_decays={num_decays!r}")

    P, dev = x_train.shape[1], x_train.device
    lr_g = torch.full((G,), float(lr), dtype=torch.float64, device=dev)
    params = list(model.parameters())
    m, v = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
    best = model.relative_error(x_val, y_val, val_reference)
    best_params = [p.detach().clone() for p in params]
    stale, decays = torch.zeros(G, dtype=torch.long, device=dev), torch.zeros(G, dtype=torch.long, device=dev)
    active, rows = torch.ones(G, dtype=torch.bool, device=dev), torch.arange(G, device=dev)[:, None]
    start, step = time.perf_counter(), 0
    bar = progress_bar(total=max_steps, enabled=progress, desc=desc, leave=False)
    while step < max_steps and bool(active.any()):
        for _ in range(min(eval_every, max_steps - step)):
            idx = torch.randint(P, (G, batch_size), generator=generator, device=dev)
            loss = (model(x_train[rows, idx]) - y_train[rows, idx]).square().sum(2).mean(1).sum()
            model.zero_grad(set_to_none=True)
            loss.backward()
            step += 1
            _batched_adam_step(params, m, v, lr_g, step)
        bar.update(min(eval_every, bar.total - bar.n))
        err = model.relative_error(x_val, y_val, val_reference)
        improved, better = (err < best * (1 - min_delta)) & active, (err < best) & active
        for p, bp in zip(params, best_params):
            bp[better] = p.detach()[better]
        best = torch.where(better, err, best)
        stale = torch.where(improved, torch.zeros_like(stale), stale + active.long())
        plateau = active & (stale >= patience)
        stop = plateau & (decays >= num_decays)
        lr_g[plateau] *= lr_decay
        lr_g[stop] = 0.0                                        # a stopped model takes no more steps
        decays += plateau.long()
        stale[plateau] = 0
        active &= ~stop
        bar.set_postfix(active=int(active.sum()), best=f"{best.median().item():.3g}")
    bar.close()
    for p, bp in zip(params, best_params):
        p.detach().copy_(bp)                                     # every model back to its best checkpoint
    return FitResult(best.tolist(), step, time.perf_counter() - start)
