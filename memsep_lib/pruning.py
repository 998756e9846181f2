"""Algorithm 1: score the attention heads of a trained DiT on small t, prune the least important.

Importance is measured on a fixed set of draws ``(x_0, t, z)`` with the small-t times of the paper,
``t = horizon * Beta(0.8, 2)``, and the noise-prediction DSM loss::

    L(g) = mean_b | eps_hat_g(a_t x_0 + s_t z, t) - z |^2        (= s_t^2 l_t, the usual weighting)

as a function of the head gates ``g`` (all ones in the trained model). Two estimates per head h:

- exact ablation:  ``I_h = L(g with g_h = 0) - L(1)`` (one forward pass per head, paired draws);
- first-order Taylor:  ``I_h ~ |g_h dL/dg_h|`` at ``g = 1`` (one backward pass for all heads).

The ratio ``eta`` of all heads with the lowest importance is pruned (the baseline prunes as many
heads at random), and the model is then fine-tuned.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata

from .dit import DiT, FlatScore, check_remove
from .losses import dsm_loss
from .process import sample_small_time, sample_uniform_time, sigma
from .validation import _all_finite, check_generator, check_positive_int, check_real, check_time

__all__ = ["gate_prune_discrepancy", "ImportanceDraws", "importance_draws", "gated_loss", "ablation_importance", "taylor_importance",
           "rank_agreement", "num_heads_to_prune", "heads_to_prune", "random_heads_to_prune"]


@dataclass(frozen=True)
class ImportanceDraws:
    """A fixed evaluation set: clean images ``x0`` ``(B, C, H, W)``, times ``t`` ``(B,)``, noise ``z``."""

    x0: torch.Tensor
    t: torch.Tensor
    z: torch.Tensor


def importance_draws(images: torch.Tensor, num: int, *, horizon: float, times: str = "small",
                     T: float = 8.0, generator: torch.Generator | None = None) -> ImportanceDraws:
    """``num`` draws of ``(x0, t, z)``: ``times="small"``: ``t = horizon * Beta(0.8, 2)``; ``"large"``: ``t ~ U[horizon, T]``."""
    check_positive_int(num, "num")
    horizon = check_time(horizon, "horizon")
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor of shape (N, C, H, W), got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    if not images.dtype.is_floating_point:
        raise TypeError(f"images must have a floating dtype (images in [-1, 1]), got {images.dtype}")
    if images.shape[0] == 0:
        raise ValueError(f"images is empty (shape {tuple(images.shape)}); at least one image is needed")
    if not _all_finite(images):
        raise ValueError("images contains NaN or infinite values")
    if times not in ("small", "large"):
        raise ValueError(f"times must be 'small' or 'large', got {times!r}")
    check_generator(generator)
    idx = torch.randint(images.shape[0], (num,), generator=generator)
    if times == "small":
        t = sample_small_time(num, horizon, generator=generator)
    else:
        t = sample_uniform_time(num, horizon, T, generator=generator)
    z = torch.randn(images[idx].shape, generator=generator)
    return ImportanceDraws(images[idx], t, z)


def _check_scoring(model, draws, batch_size) -> None:
    if not isinstance(model, DiT):
        raise TypeError(f"model must be a DiT, got {type(model).__name__}")
    if not isinstance(draws, ImportanceDraws):
        raise TypeError(f"draws must be an ImportanceDraws (from importance_draws), got {type(draws).__name__}")
    check_positive_int(batch_size, "batch_size")
    n, nt, nz = draws.x0.shape[0], draws.t.shape[0] if draws.t.ndim else -1, draws.z.shape[0]
    if draws.t.ndim != 1 or not (n == nt == nz) or draws.z.shape != draws.x0.shape:
        raise ValueError(f"draws must hold as many images, times and noises of one shape; got {n} images, "
                         f"{nt} times and {nz} noises (shapes {tuple(draws.x0.shape)}, {tuple(draws.t.shape)}, "
                         f"{tuple(draws.z.shape)})")


def gated_loss(model: DiT, draws: ImportanceDraws, *, batch_size: int = 256) -> torch.Tensor:
    """``L(g) = mean |eps_hat - z|^2`` over the draws, with the model's current gates (differentiable in them)."""
    _check_scoring(model, draws, batch_size)
    score_fn = FlatScore(model)
    total = 0.0
    n = draws.x0.shape[0]
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        t = draws.t[sl]
        per_sample = dsm_loss(score_fn, draws.x0[sl].flatten(1), t, noise=draws.z[sl].flatten(1))
        total = total + (per_sample * sigma(t) ** 2).sum()
    return total / n


def _gate_table(model: DiT, fill: float = math.nan) -> torch.Tensor:
    return torch.full((len(model.blocks), max(model.heads_per_layer(), default=0)), fill)


@torch.no_grad()
def ablation_importance(model: DiT, draws: ImportanceDraws, *, batch_size: int = 256) -> torch.Tensor:
    """``I[l, h] = L(g_{l,h} = 0) - L(1)``, shape ``(layers, max heads)`` (NaN where a layer has fewer heads)."""
    _check_scoring(model, draws, batch_size)
    model.eval()
    base = gated_loss(model, draws, batch_size=batch_size)
    table = _gate_table(model)
    for layer, gates in enumerate(model.head_gates()):
        for h in range(gates.numel()):
            saved = gates[h].item()
            gates[h] = 0.0
            table[layer, h] = (gated_loss(model, draws, batch_size=batch_size) - base).item()
            gates[h] = saved
    return table


def taylor_importance(model: DiT, draws: ImportanceDraws, *, batch_size: int = 256) -> torch.Tensor:
    """``I[l, h] = |g_{l,h} dL/dg_{l,h}|`` at the current gates, shape ``(layers, max heads)``."""
    _check_scoring(model, draws, batch_size)
    model.eval()
    gates = model.head_gates()
    for g in gates:
        g.requires_grad_(True)
    try:
        loss = gated_loss(model, draws, batch_size=batch_size)
        grads = torch.autograd.grad(loss, gates)
    finally:
        for g in gates:
            g.requires_grad_(False)
    table = _gate_table(model)
    for layer, (g, dg) in enumerate(zip(gates, grads)):
        table[layer, :g.numel()] = (g.detach() * dg).abs()
    return table


def _table(value, name: str = "importance") -> torch.Tensor:
    """An importance table as a float64 tensor (a tensor, an array or nested lists of numbers)."""
    if isinstance(value, torch.Tensor):
        table = value
    elif isinstance(value, (np.ndarray, list, tuple)):
        try:
            table = torch.as_tensor(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a tensor, an array or nested lists of numbers ({err})") from None
    else:
        raise TypeError(f"{name} must be a tensor, an array or nested lists of numbers, got {type(value).__name__}")
    if table.dtype == torch.bool or table.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {table.dtype}")
    return table.double()


def rank_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two importance tables over their common (non-NaN) entries (average ranks
    for ties; NaN when one table's entries are all tied, as there is then no ranking to compare)."""
    a, b = _table(a, "importance tables"), _table(b, "importance tables")
    if a.shape != b.shape:
        raise ValueError(f"importance tables differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    mask = ~(torch.isnan(a) | torch.isnan(b))
    if mask.sum() < 2:
        raise ValueError("need at least two heads to compare rankings")
    # average ranks of ties (as Spearman's rho defines them), so a tied table gets a definite answer
    ra = torch.from_numpy(rankdata(a[mask].double().cpu().numpy()))
    rb = torch.from_numpy(rankdata(b[mask].double().cpu().numpy()))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    if ra.norm() == 0 or rb.norm() == 0:   # all tied (e.g. every gate still zero): no ranking, no correlation
        return math.nan
    return (ra @ rb / (ra.norm() * rb.norm())).item()


def num_heads_to_prune(total: int, ratio: float) -> int:
    """``round(ratio * total)``: how many of ``total`` heads a pruning ratio in ``[0, 1)`` removes."""
    ratio = check_real(ratio, "ratio", finite=False)
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio must lie in [0, 1), got {ratio}")
    return round(ratio * total)


def heads_to_prune(importance: torch.Tensor, ratio: float = 0.2) -> dict[int, list[int]]:
    """The ``round(ratio * #heads)`` heads of lowest importance, as ``{layer: [head, ...]}``.

    NaN entries (padding of layers with fewer heads) are never chosen; ties go to the first heads in
    ``(layer, head)`` order."""
    importance = _table(importance)
    if importance.ndim != 2:
        raise ValueError(f"importance must be a table of shape (layers, heads), got shape {tuple(importance.shape)}")
    valid = (~torch.isnan(importance)).nonzero().tolist()
    count = num_heads_to_prune(len(valid), ratio)
    if not valid:
        raise ValueError("importance has no heads (every entry is NaN)")
    values = torch.tensor([importance[l, h].item() for l, h in valid], dtype=torch.float64)
    chosen = [valid[i] for i in values.argsort(stable=True)[:count].tolist()]
    remove: dict[int, list[int]] = {}
    for layer, head in sorted(chosen):
        remove.setdefault(layer, []).append(head)
    return remove


def random_heads_to_prune(heads_per_layer: list[int], ratio: float = 0.2, *,
                          generator: torch.Generator | None = None) -> dict[int, list[int]]:
    """As many heads as :func:`heads_to_prune` would remove, chosen uniformly at random."""
    if isinstance(heads_per_layer, (str, bytes)) or not isinstance(heads_per_layer, (Sequence, np.ndarray)):
        raise TypeError(f"heads_per_layer must be a list of head counts, got {type(heads_per_layer).__name__}")
    for count in heads_per_layer:
        if isinstance(count, (bool, np.bool_)) or not isinstance(count, numbers.Integral):
            raise TypeError(f"heads_per_layer entries must be ints, got {count!r}")
        if count < 0:
            raise ValueError(f"heads_per_layer entries must be >= 0, got {list(heads_per_layer)}")
    check_generator(generator)
    all_heads = [(layer, h) for layer, count in enumerate(heads_per_layer) for h in range(count)]
    pick = torch.randperm(len(all_heads), generator=generator)[:num_heads_to_prune(len(all_heads), ratio)].tolist()
    remove: dict[int, list[int]] = {}
    for layer, head in sorted(all_heads[i] for i in pick):
        remove.setdefault(layer, []).append(head)
    return remove


@torch.no_grad()
def gate_prune_discrepancy(model: DiT, remove: dict[int, list[int]], x: torch.Tensor, t: torch.Tensor) -> float:
    """``max |eps_gated - eps_pruned|``: zero gates on ``remove`` versus physically removing those heads.

    The two must compute the same function (up to float rounding); ``model`` is left unchanged.
    """
    import copy

    if not isinstance(model, DiT):
        raise TypeError(f"model must be a DiT, got {type(model).__name__}")
    remove = check_remove(remove, model.heads_per_layer())
    gated, pruned = copy.deepcopy(model).eval(), copy.deepcopy(model).eval()
    for layer, heads in remove.items():
        gated.head_gates()[layer][heads] = 0.0
    pruned.prune_heads(remove)
    return (gated(x, t) - pruned(x, t)).abs().max().item()
