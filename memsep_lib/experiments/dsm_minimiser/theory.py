"""Chapter 1's closed form on grids: the empirical law ``P^_t = (1/n) sum_i N(a_t x_i, s_t^2 I)`` and its score.

``grad log p^_t(x) = sum_i w_i(x) (a_t x_i - x) / s_t^2``, ``w = softmax_i(-|x - a_t x_i|^2 / (2 s_t^2))``
(:func:`memsep_lib.scores.empirical_score`), evaluated where the chapter's figures draw it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from memsep_lib.scores import empirical_log_prob, empirical_score
from memsep_lib.validation import check_positive_int, check_time

__all__ = ["empirical_law_on_line", "empirical_law_on_plane"]


def _check_data(data: torch.Tensor, dim: int) -> None:
    if not isinstance(data, torch.Tensor) or data.ndim != 2 or data.shape[1] != dim:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"data must have shape (n, {dim}), got {shape}")


def empirical_law_on_line(data: torch.Tensor, ts: Sequence[float], *, xlim=None, num: int = 2001) -> dict:
    """1-D data: ``p^_t`` and ``grad log p^_t`` on ``num`` points of ``xlim`` for each ``t`` in ``ts``.

    Returns numpy arrays ``{"x": (num,), "ts", "density": (T, num), "score": (T, num), "points": (n,)}``;
    ``xlim`` defaults to the data's range widened by a quarter of it plus 0.5 on each side.
    """
    _check_data(data, 1)
    check_positive_int(num, "num")
    points = data[:, 0].cpu().numpy()
    if xlim is None:
        span = points.max() - points.min()
        xlim = (points.min() - 0.25 * span - 0.5, points.max() + 0.25 * span + 0.5)
    grid = torch.linspace(float(xlim[0]), float(xlim[1]), num, dtype=data.dtype, device=data.device)[:, None]
    ts = [check_time(t, "ts") for t in ts]
    density = np.stack([torch.exp(empirical_log_prob(grid, t, data)).cpu().numpy() for t in ts])
    score = np.stack([empirical_score(grid, t, data)[:, 0].cpu().numpy() for t in ts])
    return {"x": grid[:, 0].cpu().numpy(), "ts": ts, "density": density, "score": score, "points": points}


def empirical_law_on_plane(data: torch.Tensor, t, *, lim=None, num: int = 161, arrows: int = 19) -> dict:
    """2-D data: ``log p^_t`` on a ``num x num`` grid of ``[-lim, lim]^2`` and the direction of ``grad log p^_t``
    on an ``arrows x arrows`` grid.

    Returns ``{"t", "lim", "log_density": (num, num), "arrows", "arrow_x", "arrow_y": (arrows^2,), "direction":
    (arrows^2, 2), "points": (n, 2)}``; ``lim`` defaults to ``1.25 max |x_ik| + 0.3``.
    """
    _check_data(data, 2)
    t = check_time(t)
    check_positive_int(num, "num")
    check_positive_int(arrows, "arrows")
    lim = float(data.abs().max()) * 1.25 + 0.3 if lim is None else float(lim)

    def grid(k):
        u = torch.linspace(-lim, lim, k, dtype=data.dtype, device=data.device)
        gx, gy = torch.meshgrid(u, u, indexing="xy")
        return torch.stack([gx.flatten(), gy.flatten()], 1)

    log_density = empirical_log_prob(grid(num), t, data).reshape(num, num).cpu().numpy()
    at = grid(arrows)
    score = empirical_score(at, t, data).cpu().numpy()
    direction = score / np.maximum(np.linalg.norm(score, axis=1, keepdims=True), 1e-12)
    at = at.cpu().numpy()
    return {"t": t, "lim": lim, "log_density": log_density, "arrows": arrows, "arrow_x": at[:, 0],
            "arrow_y": at[:, 1], "direction": direction, "points": data.cpu().numpy()}
