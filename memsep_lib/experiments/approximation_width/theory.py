"""The empirical score as a one-layer softmax network with one unit per distinct training point.

At a fixed time ``t`` (Proposition ``prop-one-layer-network`` of Chapter 4)

    grad log p^_t(x) = sum_i softmax_i(u_i . x + b_i) v_i - x / s_t^2,
    u_i = v_i = a_t x_i / s_t^2,   b_i = -a_t^2 |x_i|^2 / (2 s_t^2) + log c_i,

because ``-|x - a_t x_i|^2 / (2 s_t^2) = -|x|^2 / (2 s_t^2) + u_i . x - a_t^2 |x_i|^2 / (2 s_t^2)`` and the
first term, shared by all ``i``, cancels in the softmax. ``c_i`` is the multiplicity of ``x_i``: ``c``
copies of a point are one unit with bias ``+ log c`` (:func:`merge_duplicates`). :func:`pruning_curve`
measures the error when only the ``m < n`` most used units are kept; :func:`one_layer_checks` runs the
chapter's checks of both.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from memsep_lib.config import make_generator
from memsep_lib.mixtures import well_separated_mixture
from memsep_lib.process import add_noise, alpha, sigma
from memsep_lib.scores import empirical_score
from memsep_lib.validation import check_points, check_positive_int, check_time

__all__ = ["EmpiricalScoreNet", "merge_duplicates", "unit_mass", "pruning_curve", "pruning_study", "relative_error",
           "duplicated_dataset", "one_layer_checks"]


class EmpiricalScoreNet(nn.Module):
    """``grad log p^_t(x) = sum_i softmax_i(U x + b)_i v_i - x / s_t^2`` at a fixed time ``t``.

    One unit per (distinct) training point: input weights ``u_i = a_t x_i / s_t^2``, biases
    ``b_i = -a_t^2 |x_i|^2 / (2 s_t^2) + log c_i``, output weights ``v_i = a_t x_i / s_t^2``, and the
    linear skip ``-x / s_t^2``. The logits are an expanded quadratic, so use float64 at small ``t``
    (their float32 cancellation error is ``~1e-7 |x|^2 / s_t^2``).

    Args:
        data: training points ``(n, d)`` (the units).
        t: diffusion time ``> 0``.
        counts: multiplicities ``c_i`` (``(n,)``, positive); all ones if None.
    """

    def __init__(self, data: torch.Tensor, t, *, counts: torch.Tensor | None = None):
        super().__init__()
        check_points(data, "data")
        t = check_time(t)
        if counts is None:
            counts = torch.ones(data.shape[0], dtype=data.dtype, device=data.device)
        elif not isinstance(counts, torch.Tensor) or counts.shape != (data.shape[0],):
            raise ValueError(f"counts must be a tensor of shape ({data.shape[0]},)")
        elif not torch.isfinite(counts).all() or (counts <= 0).any():
            raise ValueError("counts must be finite and positive")
        a, s2 = alpha(t), sigma(t) ** 2
        self.t = t
        self.register_buffer("points", data.clone())
        self.register_buffer("counts", counts.to(data))
        self.register_buffer("weight_in", data * (a / s2))
        self.register_buffer("bias", -0.5 * a * a * data.square().sum(1) / s2 + torch.log(self.counts))
        self.register_buffer("weight_out", data * (a / s2))
        self.skip = -1.0 / s2

    @property
    def num_units(self) -> int:
        return self.points.shape[0]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``U x + b``, shape ``(B, n)`` (softmax of it: the posterior weights ``w_i(x)``)."""
        check_points(x, "x", dim=self.points.shape[1])
        if x.dtype != self.points.dtype or x.device != self.points.device:
            raise TypeError(f"x must have dtype {self.points.dtype} on {self.points.device}, "
                            f"got {x.dtype} on {x.device}")
        return torch.addmm(self.bias, x, self.weight_in.T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The score at ``x`` (shape ``(B, d)``)."""
        return torch.softmax(self.logits(x), 1) @ self.weight_out + self.skip * x

    def keep_units(self, index: torch.Tensor) -> "EmpiricalScoreNet":
        """The network with only the units ``index`` (the softmax renormalises over the kept units)."""
        index = torch.as_tensor(index, dtype=torch.long, device=self.points.device)
        if index.ndim != 1 or index.numel() == 0:
            raise ValueError("index must be a non-empty 1-D list of unit indices")
        if index.min() < 0 or index.max() >= self.num_units or index.unique().numel() != index.numel():
            raise ValueError(f"index must hold distinct unit indices in [0, {self.num_units})")
        return EmpiricalScoreNet(self.points[index], self.t, counts=self.counts[index])


def merge_duplicates(data: torch.Tensor, t) -> EmpiricalScoreNet:
    """The one-layer network of ``data`` with one unit per *distinct* row (bias ``+ log`` multiplicity).

    ``c`` equal units ``exp(b) v`` sum to one unit with bias ``b + log c``: the result computes exactly
    the empirical score of ``data`` with ``n - m`` units when ``m`` rows duplicate others.
    """
    check_points(data, "data")
    unique, counts = torch.unique(data, dim=0, return_counts=True)
    return EmpiricalScoreNet(unique, t, counts=counts.to(data.dtype))


@torch.no_grad()
def unit_mass(net: EmpiricalScoreNet, x: torch.Tensor) -> torch.Tensor:
    """Average posterior weight of each unit over the queries ``x``: ``(1/B) sum_b w_i(x_b)``, shape ``(n,)``."""
    if not isinstance(net, EmpiricalScoreNet):
        raise TypeError(f"net must be an EmpiricalScoreNet, got {type(net).__name__}")
    return torch.softmax(net.logits(x), 1).mean(0)


def relative_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sqrt(sum |pred - target|^2 / sum |target|^2)`` over the last two axes (a model axis may lead)."""
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError("pred and target must be tensors")
    if pred.shape != target.shape or pred.ndim < 2:
        raise ValueError(f"pred and target must share a shape (..., B, d), got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    num = (pred.double() - target.double()).square().sum((-2, -1))
    den = target.double().square().sum((-2, -1))
    if (den == 0).any():
        raise ValueError("target is zero; the relative error is undefined")
    return (num / den).sqrt()


@torch.no_grad()
def pruning_curve(net: EmpiricalScoreNet, x: torch.Tensor, num_units: Sequence[int]) -> list[float]:
    """Relative error of the network that keeps the ``m`` units of largest :func:`unit_mass`, for each ``m``.

    Error: ``sqrt(sum_b |f_m(x_b) - f(x_b)|^2 / sum_b |f(x_b)|^2)`` with ``f`` the full network.
    """
    order = torch.argsort(unit_mass(net, x), descending=True)
    full = net(x)
    out = []
    for m in num_units:
        m = check_positive_int(int(m), "num_units entries")
        if m > net.num_units:
            raise ValueError(f"num_units entries must be <= {net.num_units}, got {m}")
        out.append(relative_error(net.keep_units(order[:m])(x), full).item())
    return out


def duplicated_dataset(points: torch.Tensor, num_duplicates: int, *,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """The ``n - m`` distinct ``points`` plus ``m = num_duplicates <= n - m`` copies of distinct ones
    (drawn without replacement): shape ``(n, d)``."""
    check_points(points, "points")
    if isinstance(num_duplicates, bool) or not isinstance(num_duplicates, int) or num_duplicates < 0:
        raise ValueError(f"num_duplicates must be an int >= 0, got {num_duplicates!r}")
    if num_duplicates > points.shape[0]:
        raise ValueError(f"num_duplicates must be <= the number of distinct points {points.shape[0]}")
    pick = torch.randperm(points.shape[0], generator=generator, device=points.device)[:num_duplicates]
    return torch.cat([points, points[pick]])


def pruning_study(n: int = 64, t_values: Sequence[float] = (0.02, 0.1, 0.5), num_units: Sequence[int] | None = None,
                  *, d: int = 8, K: int = 4, separation: float = 1.0, num_duplicates: int = 0,
                  num_queries: int = 4096, seed: int = 0) -> dict:
    """The one-layer network of ``n`` mixture samples: exactness and :func:`pruning_curve`, per ``t`` (float64).

    Data: ``n - num_duplicates`` draws from :func:`well_separated_mixture` ``(K, d, separation)`` plus
    ``num_duplicates`` copies (:func:`duplicated_dataset`); queries: ``num_queries`` draws from ``P^_t``.
    The pruning curves are those of the merged network (one unit per distinct point, up to
    ``m = n - num_duplicates``). Returns ``{"n", "distinct", "num_units", "t_values", "merged_units"}`` and,
    one entry per ``t``: ``"errors"`` (the curve), ``"exact"`` and ``"merged_exact"`` (relative errors of
    the full and the merged network against :func:`memsep_lib.scores.empirical_score`).
    """
    check_positive_int(n, "n")
    if isinstance(num_duplicates, bool) or not isinstance(num_duplicates, int) or not 0 <= num_duplicates < n:
        raise ValueError(f"num_duplicates must be an int in [0, n), got {num_duplicates!r}")
    gen = make_generator(seed)
    mix = well_separated_mixture(K, d, separation=separation, generator=gen)
    data = mix.sample(n - num_duplicates, generator=gen)
    if num_duplicates:
        data = duplicated_dataset(data, num_duplicates, generator=gen)
    distinct = n - num_duplicates
    num_units = sorted({int(m) for m in (num_units or [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
                        if int(m) < distinct} | {distinct})
    t_values = [check_time(t) for t in t_values]
    out = {"n": n, "distinct": distinct, "num_units": num_units, "t_values": t_values, "errors": [], "exact": [],
           "merged_exact": []}
    for t in t_values:
        x, _ = add_noise(data[torch.randint(n, (num_queries,), generator=gen)], t, generator=gen)
        ref = empirical_score(x, t, data)
        merged = merge_duplicates(data, t)
        out["exact"].append(relative_error(EmpiricalScoreNet(data, t)(x), ref).item())
        out["merged_exact"].append(relative_error(merged(x), ref).item())
        out["merged_units"] = merged.num_units
        out["errors"].append(pruning_curve(merged, x, num_units))
    return out


def one_layer_checks(config, *, device=None) -> dict:
    """The constructive side in float64, at the sizes of ``config`` (an ``ApproximationWidthConfig``): the
    one-layer network of ``exact_n`` standard normal points against ``empirical_score`` (``exact``), and
    :func:`pruning_study` of ``prune_n`` points of the width search's mixture, without and with duplicates."""
    device = torch.device("cpu") if device is None else torch.device(device)
    gen = make_generator(config.seed)
    data = torch.randn(config.exact_n, config.d, generator=gen, dtype=torch.float64).to(device)
    errors = []
    for t in config.exact_t_values:
        idx = torch.randint(config.exact_n, (config.exact_queries,), generator=gen).to(device)
        noise = torch.randn(config.exact_queries, config.d, generator=gen, dtype=torch.float64).to(device)
        x, _ = add_noise(data[idx], t, noise=noise)
        errors.append(relative_error(EmpiricalScoreNet(data, t)(x), empirical_score(x, t, data)).item())
    mixture = {"d": config.d, "K": config.K, "separation": config.separation, "seed": config.seed}
    return {"exact": {"t_values": list(config.exact_t_values), "errors": errors},
            "pruning": pruning_study(config.prune_n, config.prune_t_values, config.prune_units, **mixture),
            "duplicates": pruning_study(config.prune_n, config.prune_dup_t_values, config.prune_dup_units,
                                        num_duplicates=config.prune_duplicates, **mixture)}
