"""Theorem 5.1 (architectural separation): how wide a network must be to represent a score.

**Constructive side.** At a fixed time ``t`` the empirical score is exactly a one-layer network with
one unit per training point (logits, softmax, weighted sum) plus a linear skip:

    grad log p^_t(x) = sum_i softmax_i(u_i . x + b_i) v_i - x / s_t^2,
    u_i = v_i = a_t x_i / s_t^2,   b_i = -a_t^2 |x_i|^2 / (2 s_t^2) + log c_i,

because ``-|x - a_t x_i|^2 / (2 s_t^2) = -|x|^2 / (2 s_t^2) + u_i . x - a_t^2 |x_i|^2 / (2 s_t^2)`` and the
first term is shared by all ``i`` (it cancels in the softmax). ``c_i`` is the multiplicity of ``x_i``:
``c`` copies of a point are one unit with bias ``+ log c`` (:func:`merge_duplicates`), so the network
needs exactly as many units as there are *distinct* samples. :class:`EmpiricalScoreNet` is this
network; :func:`pruning_curve` measures the error when only the ``m < n`` most used units are kept.

**Learned side.** ReLU MLPs (``depth`` hidden layers of width ``W``) regress a score at fixed ``t``
on inputs ``x ~ P^_t``. The regression target is the noise-prediction scale ``y = s_t grad log p(x)``
(``= -E[Z | X_t = x]``); the reported error is the relative RMS error on held-out draws,

    err = sqrt( sum_b |f(x_b) - y_b|^2 / sum_b |y_b|^2 )          (scale-free: same for the score itself),

and ``W*(n)`` is the smallest width with ``err <= eps`` (:func:`width_threshold`, geometric
interpolation between grid widths). Many models are trained at once by :class:`BatchedMLP`: parameters
are stacked along a leading model axis and every layer is one ``torch.baddbmm``; per-model widths are
padded to the largest with masks. :func:`fit_batched` trains them with a per-model Adam (per-model
learning-rate decay on plateaus, per-model early stopping, best-checkpoint restore);
:meth:`BatchedMLP.widen` warm-starts a wider model that computes exactly the same function.

The experiment (:func:`run`, registered as ``approximation_width``) groups all tasks
(score kind x ``n`` x ``t`` x repetition, plus duplicated training sets) of one width into one
batched model (no padding) and walks up the width grid; a task leaves once it reaches ``eps``.
Each width starts from a fresh initialisation by default: function-preserving warm starts
(``warm_start=True``) left the wide networks at the narrow networks' error in our trials. The
networks are ReLU MLPs with a learned linear skip ``x S`` (zero at initialisation). Sizes per
profile: :func:`experiment_config`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .config import by_profile, get_device
from .fits import power_law_fit
from .mixtures import GaussianMixture, well_separated_mixture
from .process import alpha, sigma
from .results import jsonable
from .validation import check_points, check_positive_int, check_time

__all__ = [
    "EXPERIMENT",
    "EmpiricalScoreNet",
    "merge_duplicates",
    "unit_mass",
    "pruning_curve",
    "pruning_study",
    "relative_error",
    "BatchedMLP",
    "FitResult",
    "fit_batched",
    "mlp_num_parameters",
    "width_threshold",
    "loglog_fit",
    "duplicated_dataset",
    "experiment_config",
    "width_learning_rate",
    "run_width_search",
    "summarize",
    "summary_table",
    "SLOPE_THRESHOLD",
    "TRUE_WIDTH_PER_COMPONENT",
    "SEPARATION_FACTOR",
    "verdict",
    "run",
]

EXPERIMENT = "approximation_width"


# ----------------------------------------------------------------------------------------------
# Constructive side: the empirical score is a one-layer softmax network with n units
# ----------------------------------------------------------------------------------------------
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


@torch.no_grad()
def pruning_curve(net: EmpiricalScoreNet, x: torch.Tensor, num_units: Sequence[int]) -> list[float]:
    """Relative error of the network that keeps the ``m`` units of largest :func:`unit_mass`, for each ``m``.

    Error: ``sqrt(sum_b |f_m(x_b) - f(x_b)|^2 / sum_b |f(x_b)|^2)`` with ``f`` the full network.
    """
    mass = unit_mass(net, x)
    order = torch.argsort(mass, descending=True)
    full = net(x)
    out = []
    for m in num_units:
        m = check_positive_int(int(m), "num_units entries")
        if m > net.num_units:
            raise ValueError(f"num_units entries must be <= {net.num_units}, got {m}")
        out.append(relative_error(net.keep_units(order[:m])(x), full).item())
    return out


def pruning_study(n: int = 64, t_values: Sequence[float] = (0.02, 0.1, 0.5), num_units: Sequence[int] | None = None,
                  *, d: int = 8, K: int = 4, separation: float = 1.0, num_duplicates: int = 0,
                  num_queries: int = 4096, seed: int = 0) -> dict:
    """The one-layer network of ``n`` mixture samples: exactness and :func:`pruning_curve`, per ``t`` (float64).

    Data: ``n - num_duplicates`` draws from :func:`well_separated_mixture` ``(K, d, separation)`` plus
    ``num_duplicates`` copies (:func:`duplicated_dataset`); queries: ``num_queries`` draws from ``P^_t``.
    The pruning curves are those of the merged network (one unit per distinct point, up to ``m = n - num_duplicates``).
    Returns ``{"n", "distinct", "num_units", "errors": {t: [...]}, "exact": {t: rel. error of the full
    network against memsep_lib.scores.empirical_score}, "merged_units", "merged_exact": {t: ...}}``.
    """
    from .scores import empirical_score

    check_positive_int(n, "n")
    if isinstance(num_duplicates, bool) or not isinstance(num_duplicates, int) or not 0 <= num_duplicates < n:
        raise ValueError(f"num_duplicates must be an int in [0, n), got {num_duplicates!r}")
    gen = torch.Generator().manual_seed(seed)
    mix = well_separated_mixture(K, d, separation=separation, generator=gen)
    data = mix.sample(n - num_duplicates, generator=gen)
    if num_duplicates:
        data = duplicated_dataset(data, num_duplicates, generator=gen)
    distinct = n - num_duplicates
    num_units = sorted({int(m) for m in (num_units or [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
                        if int(m) < distinct} | {distinct})
    out = {"n": n, "distinct": distinct, "num_units": num_units, "errors": {}, "exact": {},
           "merged_exact": {}}
    for t in t_values:
        t = check_time(t)
        idx = torch.randint(n, (num_queries,), generator=gen)
        x = alpha(t) * data[idx] + sigma(t) * torch.randn(num_queries, d, generator=gen, dtype=data.dtype)
        net = EmpiricalScoreNet(data, t)
        ref = empirical_score(x, t, data)
        out["exact"][t] = relative_error(net(x), ref).item()
        merged = merge_duplicates(data, t)
        out["merged_units"] = merged.num_units
        out["merged_exact"][t] = relative_error(merged(x), ref).item()
        out["errors"][t] = pruning_curve(merged, x, num_units)
    return out


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


# ----------------------------------------------------------------------------------------------
# Learned side: many ReLU MLPs trained as one batched model
# ----------------------------------------------------------------------------------------------
def mlp_num_parameters(width: int, depth: int, dim_in: int, dim_out: int | None = None) -> int:
    """Weights and biases of a ReLU MLP ``dim_in -> width (x depth) -> dim_out``."""
    for name, value in (("width", width), ("depth", depth), ("dim_in", dim_in)):
        check_positive_int(value, name)
    dim_out = dim_in if dim_out is None else check_positive_int(dim_out, "dim_out")
    return (dim_in + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * dim_out


class BatchedMLP(nn.Module):
    """``G`` independent ReLU MLPs ``dim_in -> widths[g] (x depth) -> dim_out``, evaluated together.

    Layer ``l`` of model ``g`` has weight ``weights[l][g]`` (shape ``(fan_in, fan_out)``) and bias
    ``biases[l][g]``; hidden layers are padded to ``max(widths)`` and multiplied by a 0/1 mask, so a
    padded unit outputs 0 and gets no gradient (it stays exactly zero). ``forward`` takes ``(G, B, dim_in)``.
    Initialisation: PyTorch's ``nn.Linear`` default (uniform, bound ``1/sqrt(fan_in)``), drawn per model.
    With ``linear_skip`` each model adds a learned linear map of its input, ``x S_g`` (zero at
    initialisation); a ReLU network can represent it with ``2 dim_in`` more units (``x = relu(x) - relu(-x)``).
    """

    def __init__(self, widths: Sequence[int], depth: int, dim_in: int, dim_out: int | None = None, *,
                 linear_skip: bool = False, generator: torch.Generator | None = None, dtype=torch.float32,
                 device=None):
        super().__init__()
        self.linear_skip = bool(linear_skip)
        widths = [check_positive_int(int(w), "widths entries") for w in widths]
        if not widths:
            raise ValueError("widths must be a non-empty list")
        self.depth = check_positive_int(depth, "depth")
        self.dim_in = check_positive_int(dim_in, "dim_in")
        self.dim_out = dim_in if dim_out is None else check_positive_int(dim_out, "dim_out")
        self.widths = widths
        G, Wm = len(widths), max(widths)
        device = generator.device if generator is not None else device
        mask = (torch.arange(Wm, device=device)[None, :] < torch.tensor(widths, device=device)[:, None])
        self.register_buffer("mask", mask.to(dtype)[:, None, :])                  # (G, 1, Wm)
        fans = [(dim_in, Wm)] + [(Wm, Wm)] * (depth - 1) + [(Wm, self.dim_out)]
        real_fan_in = [torch.full((G,), dim_in)] + [torch.tensor(widths)] * depth
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for l, (fi, fo) in enumerate(fans):
            bound = (1.0 / real_fan_in[l].double().sqrt()).to(dtype=dtype, device=device)[:, None, None]
            w = (2 * torch.rand(G, fi, fo, generator=generator, dtype=dtype, device=device) - 1) * bound
            b = (2 * torch.rand(G, 1, fo, generator=generator, dtype=dtype, device=device) - 1) * bound
            if l > 0:
                w = w * self.mask.transpose(1, 2)                                  # zero rows: padded inputs
            if l < depth:
                w, b = w * self.mask, b * self.mask                                # zero cols: padded units
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))
        # optional linear skip x -> x S (no bias), zero at initialisation
        self.skip = nn.Parameter(torch.zeros(G, dim_in, self.dim_out, dtype=dtype, device=device)) \
            if self.linear_skip else None

    @property
    def num_models(self) -> int:
        return len(self.widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(G, B, dim_out)`` of the ``G`` models on their inputs ``x`` of shape ``(G, B, dim_in)``."""
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[0] != self.num_models \
                or x.shape[2] != self.dim_in:
            raise ValueError(f"x must have shape ({self.num_models}, B, {self.dim_in}), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        h = x
        padded = min(self.widths) < max(self.widths)
        for l in range(self.depth):
            h = torch.relu(torch.baddbmm(self.biases[l], h, self.weights[l]))
            if padded:
                h = h * self.mask
        out = torch.baddbmm(self.biases[-1], h, self.weights[-1])
        return out if self.skip is None else out + torch.bmm(x, self.skip)

    def num_parameters(self) -> list[int]:
        """Parameters of each model (padding excluded; the skip adds ``dim_in * dim_out``)."""
        extra = self.dim_in * self.dim_out if self.linear_skip else 0
        return [mlp_num_parameters(w, self.depth, self.dim_in, self.dim_out) + extra for w in self.widths]

    def to_mlp(self, g: int) -> nn.Module:
        """Model ``g`` as plain PyTorch layers: an ``nn.Sequential`` of ``nn.Linear`` / ``nn.ReLU``
        (padding removed), wrapped with a bias-free ``nn.Linear`` skip when the model has one."""
        if not 0 <= g < self.num_models:
            raise ValueError(f"g must be in [0, {self.num_models}), got {g}")
        w = self.widths[g]
        dims = [self.dim_in] + [w] * self.depth + [self.dim_out]
        layers = []
        for l in range(self.depth + 1):
            lin = nn.Linear(dims[l], dims[l + 1]).to(self.weights[l])
            with torch.no_grad():
                lin.weight.copy_(self.weights[l][g, :dims[l], :dims[l + 1]].T)
                lin.bias.copy_(self.biases[l][g, 0, :dims[l + 1]])
            layers += [lin, nn.ReLU()] if l < self.depth else [lin]
        mlp = nn.Sequential(*layers)
        if not self.linear_skip:
            return mlp
        skip = nn.Linear(self.dim_in, self.dim_out, bias=False).to(self.skip)
        with torch.no_grad():
            skip.weight.copy_(self.skip[g].T)
        return _SkipMLP(mlp, skip)

    @torch.no_grad()
    def widen(self, widths: Sequence[int], *, generator: torch.Generator | None = None) -> "BatchedMLP":
        """A model with larger widths that computes the same functions (warm start).

        Old units keep their weights; each new unit gets fresh incoming weights and zero outgoing
        weights (so it does not change the output until trained).
        """
        widths = [int(w) for w in widths]
        if len(widths) != self.num_models or any(w < o for w, o in zip(widths, self.widths)):
            raise ValueError(f"widths must give one width >= the current one per model, got {widths}")
        p = self.weights[0]
        new = BatchedMLP(widths, self.depth, self.dim_in, self.dim_out, linear_skip=self.linear_skip,
                         generator=generator, dtype=p.dtype, device=p.device)
        if self.linear_skip:
            new.skip.copy_(self.skip)
        for g, w_old in enumerate(self.widths):
            for l in range(self.depth + 1):
                fi = self.dim_in if l == 0 else w_old
                fo = self.dim_out if l == self.depth else w_old
                new.weights[l][g, :fi, :fo] = self.weights[l][g, :fi, :fo]
                new.biases[l][g, 0, :fo] = self.biases[l][g, 0, :fo]
                if l > 0:                      # new inputs (units added below) do not reach old units
                    new.weights[l][g, w_old:, :fo] = 0.0
        return new

    def select(self, index: Sequence[int]) -> "BatchedMLP":
        """The sub-batch of models ``index`` (a copy)."""
        index = [int(g) for g in index]
        if not index or any(not 0 <= g < self.num_models for g in index):
            raise ValueError(f"index must be a non-empty list of models in [0, {self.num_models})")
        p = self.weights[0]
        new = BatchedMLP([self.widths[g] for g in index], self.depth, self.dim_in, self.dim_out,
                         linear_skip=self.linear_skip, dtype=p.dtype, device=p.device)
        idx = torch.tensor(index, device=p.device)
        Wm = max(new.widths)
        with torch.no_grad():
            for l in range(self.depth + 1):
                fi = self.dim_in if l == 0 else Wm
                fo = self.dim_out if l == self.depth else Wm
                new.weights[l].copy_(self.weights[l][idx, :fi, :fo])
                new.biases[l].copy_(self.biases[l][idx, :, :fo])
            if self.linear_skip:
                new.skip.copy_(self.skip[idx])
        return new


class _SkipMLP(nn.Module):
    """``mlp(x) + skip(x)``: one model of a :class:`BatchedMLP` with a linear skip, as plain layers."""

    def __init__(self, mlp: nn.Module, skip: nn.Module):
        super().__init__()
        self.mlp, self.skip = mlp, skip

    def forward(self, x):
        return self.mlp(x) + self.skip(x)


@dataclass
class FitResult:
    """Outcome of :func:`fit_batched`: per-model best validation error, and the steps taken.

    ``history`` holds ``(step, errors)`` at each evaluation (``errors`` a list of ``G`` floats).
    """

    best_error: list[float]
    steps: int
    stopped_at: list[int]
    wall_time_s: float
    history: list[tuple[int, list[float]]] = field(default_factory=list)


class _BatchedAdam:
    """Adam (no weight decay) with one learning rate per model: ``lr`` has shape ``(G,)``.

    Each parameter has the model axis first; the update is elementwise, so it equals ``G`` separate
    Adam optimizers. A model with ``lr = 0`` is frozen.
    """

    def __init__(self, params, lr: torch.Tensor, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.step_count = 0

    @torch.no_grad()
    def step(self):
        """``p -= lr_g m^ / (sqrt(v^) + eps)`` with bias-corrected moments ``m^ = m / c1``, ``v^ = v / c2``."""
        live = [(p, m, v) for p, m, v in zip(self.params, self.m, self.v) if p.grad is not None]
        if not live:
            return
        self.step_count += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.step_count, 1 - b2 ** self.step_count
        ps, ms, vs = (list(z) for z in zip(*live))
        grads = [p.grad for p in ps]
        torch._foreach_lerp_(ms, grads, 1 - b1)
        torch._foreach_mul_(vs, b2)
        torch._foreach_addcmul_(vs, grads, grads, value=1 - b2)
        denom = torch._foreach_sqrt(vs)
        torch._foreach_div_(denom, math.sqrt(c2))
        torch._foreach_add_(denom, self.eps)
        for p, m, den in zip(ps, ms, denom):
            # den / lr_g: a frozen model (lr 0) gets an infinite denominator, i.e. no step
            den.div_(self.lr.view(-1, *([1] * (p.ndim - 1))).to(p.dtype))
            p.addcdiv_(m, den, value=-1.0 / c1)


def _check_task_tensors(model: BatchedMLP, x: torch.Tensor, y: torch.Tensor, name: str):
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} inputs and targets must be tensors")
    if x.ndim != 3 or x.shape[0] != model.num_models or x.shape[2] != model.dim_in:
        raise ValueError(f"{name} inputs must have shape ({model.num_models}, P, {model.dim_in}), "
                         f"got {tuple(x.shape)}")
    if y.shape != (*x.shape[:2], model.dim_out):
        raise ValueError(f"{name} targets must have shape {(*x.shape[:2], model.dim_out)}, got {tuple(y.shape)}")


@torch.no_grad()
def _batched_error(model: BatchedMLP, x: torch.Tensor, y: torch.Tensor, reference: torch.Tensor | None = None,
                   chunk: int = 4096) -> torch.Tensor:
    """``sqrt(sum |f(x) - y|^2 / sum |reference|^2)`` per model, ``(G,)`` (``reference = y`` if None)."""
    reference = y if reference is None else reference
    num = torch.zeros(model.num_models, dtype=torch.float64, device=x.device)
    den = torch.zeros_like(num)
    for s in range(0, x.shape[1], chunk):
        pred, tgt = model(x[:, s:s + chunk]).double(), y[:, s:s + chunk].double()
        num += (pred - tgt).square().sum((1, 2))
        den += reference[:, s:s + chunk].double().square().sum((1, 2))
    return (num / den).sqrt()


class _threads:
    """Context manager: run with ``n`` intra-op CPU threads (None: leave as is), restore afterwards."""

    def __init__(self, n: int | None):
        self.n, self.old = n, None

    def __enter__(self):
        if self.n is not None:
            self.old = torch.get_num_threads()
            torch.set_num_threads(check_positive_int(self.n, "num_threads"))

    def __exit__(self, *exc):
        if self.old is not None:
            torch.set_num_threads(self.old)


def fit_batched(model: BatchedMLP, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor,
                y_val: torch.Tensor, *, max_steps: int, batch_size: int = 256, lr: float = 3e-3,
                eval_every: int = 50, patience: int = 4, min_delta: float = 0.01, lr_decay: float = 0.3,
                num_decays: int = 2, generator: torch.Generator | None = None,
                val_reference: torch.Tensor | None = None, num_threads: int | None = None,
                progress: bool = False, desc: str = "training") -> FitResult:
    """Train the ``G`` models of ``model`` by minibatch MSE regression, each on its own data.

    Step: ``loss = sum_g mean_b |f_g(x_gb) - y_gb|^2`` over ``batch_size`` rows drawn per model from
    ``x_train[g]`` (with replacement), then one per-model Adam step (the models share no parameter,
    so this is ``G`` independent trainings). Every ``eval_every`` steps the relative error on
    ``(x_val, y_val)`` is measured; a model that has not improved by a factor ``1 - min_delta`` for
    ``patience`` evaluations has its learning rate multiplied by ``lr_decay`` (at most ``num_decays``
    times), then stops. Each model ends at its best validation checkpoint (the starting point
    included, so a warm start never gets worse).

    Args:
        x_train, y_train: ``(G, P, dim_in)`` inputs and ``(G, P, dim_out)`` targets.
        x_val, y_val: held-out data, same layout.
        val_reference: the validation error is ``sqrt(sum |f - y_val|^2 / sum |val_reference|^2)``
            (default ``val_reference = y_val``: the relative error of the targets themselves).
        num_threads: CPU intra-op threads while training (None: unchanged). The matrices of one step
            are small, so one thread is often as fast as two and far faster on a loaded machine.
    """
    if not isinstance(model, BatchedMLP):
        raise TypeError(f"model must be a BatchedMLP, got {type(model).__name__}")
    _check_task_tensors(model, x_train, y_train, "training")
    _check_task_tensors(model, x_val, y_val, "validation")
    if val_reference is not None and (not isinstance(val_reference, torch.Tensor)
                                      or val_reference.shape != y_val.shape):
        raise ValueError(f"val_reference must be a tensor of the shape of y_val {tuple(y_val.shape)}")
    for name, value in (("max_steps", max_steps), ("batch_size", batch_size), ("eval_every", eval_every),
                        ("patience", patience)):
        check_positive_int(value, name)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be finite and > 0, got {lr}")
    if not (0 < lr_decay < 1):
        raise ValueError(f"lr_decay must be in (0, 1), got {lr_decay}")
    if isinstance(num_decays, bool) or not isinstance(num_decays, int) or num_decays < 0:
        raise ValueError(f"num_decays must be an int >= 0, got {num_decays!r}")
    with _threads(num_threads):
        return _fit(model, x_train, y_train, x_val, y_val, val_reference, max_steps, batch_size, lr,
                    eval_every, patience, min_delta, lr_decay, num_decays, generator, progress, desc)


def _fit(model, x_train, y_train, x_val, y_val, val_reference, max_steps, batch_size, lr, eval_every,
         patience, min_delta, lr_decay, num_decays, generator, progress, desc) -> FitResult:
    from tqdm.auto import tqdm

    G, P, d_in = x_train.shape
    dev = x_train.device
    lr_g = torch.full((G,), float(lr), dtype=torch.float64, device=dev)
    opt = _BatchedAdam(model.parameters(), lr_g)
    params = list(model.parameters())
    best = _batched_error(model, x_val, y_val, val_reference)
    best_params = [p.detach().clone() for p in params]
    stale = torch.zeros(G, dtype=torch.long, device=dev)
    decays = torch.zeros(G, dtype=torch.long, device=dev)
    active = torch.ones(G, dtype=torch.bool, device=dev)
    stopped_at = [max_steps] * G
    history = [(0, best.tolist())]
    start = time.perf_counter()
    step = 0
    bar = tqdm(total=max_steps, desc=desc, disable=not progress, leave=False)
    rows = torch.arange(G, device=dev)[:, None]
    while step < max_steps and bool(active.any()):
        for _ in range(min(eval_every, max_steps - step)):
            idx = torch.randint(P, (G, batch_size), generator=generator, device=dev)
            pred = model(x_train[rows, idx])
            loss = (pred - y_train[rows, idx]).square().sum(2).mean(1).sum()
            for p in params:
                p.grad = None
            loss.backward()
            opt.step()
            step += 1
        bar.update(min(eval_every, bar.total - bar.n))
        err = _batched_error(model, x_val, y_val, val_reference)
        history.append((step, err.tolist()))
        improved = (err < best * (1 - min_delta)) & active
        better = (err < best) & active
        with torch.no_grad():
            for p, bp in zip(params, best_params):
                bp[better] = p[better]
        best = torch.where(better, err, best)
        stale = torch.where(improved, torch.zeros_like(stale), stale + active.long())
        plateau = active & (stale >= patience)
        decay = plateau & (decays < num_decays)
        stop = plateau & ~decay
        lr_g[decay] *= lr_decay
        decays += decay.long()
        stale[decay] = 0
        lr_g[stop] = 0.0
        for g in torch.nonzero(stop).flatten().tolist():
            stopped_at[g] = step
        active &= ~stop
        bar.set_postfix(active=int(active.sum()), best=f"{best.median().item():.3g}")
    bar.close()
    with torch.no_grad():
        for p, bp in zip(params, best_params):
            p.copy_(bp)
    return FitResult(best.tolist(), step, stopped_at, time.perf_counter() - start, history)


# ----------------------------------------------------------------------------------------------
# Reading off W* and fitting power laws
# ----------------------------------------------------------------------------------------------
def width_threshold(widths: Sequence[float], errors: Sequence[float], eps: float, *,
                    interpolate: bool = True) -> float:
    """``W*``: the smallest width whose error is ``<= eps`` (``inf`` if none).

    The errors are first made non-increasing in the width (running minimum: a wider network contains
    every narrower one). With ``interpolate``, ``W*`` is where the piecewise-linear curve
    ``log err`` against ``log W`` crosses ``log eps`` (between the last grid width above ``eps`` and
    the first at or below it); the smallest grid width is returned if it already meets ``eps``.
    """
    w = np.asarray(widths, dtype=float)
    e = np.asarray(errors, dtype=float)
    if w.ndim != 1 or w.shape != e.shape or w.size == 0:
        raise ValueError("widths and errors must be 1-D sequences of the same non-zero length")
    if not (np.all(np.isfinite(w)) and np.all(w > 0) and np.all(np.diff(w) > 0)):
        raise ValueError("widths must be positive, finite and strictly increasing")
    if np.any(np.isnan(e)) or np.any(e < 0):
        raise ValueError("errors must be non-negative (inf allowed, NaN not)")
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be finite and > 0, got {eps}")
    e = np.minimum.accumulate(e)
    hit = np.nonzero(e <= eps)[0]
    if hit.size == 0:
        return math.inf
    k = int(hit[0])
    if k == 0 or not interpolate:
        return float(w[k])
    e0, e1 = max(e[k - 1], 1e-300), max(e[k], 1e-300)
    if not math.isfinite(e0) or e1 >= e0:
        return float(w[k])
    frac = (math.log(e0) - math.log(eps)) / (math.log(e0) - math.log(e1))
    return float(math.exp(math.log(w[k - 1]) + frac * (math.log(w[k]) - math.log(w[k - 1]))))


def loglog_fit(x: Sequence[float], y: Sequence[float]) -> dict:
    """:func:`memsep_lib.fits.power_law_fit` over the finite pairs (a width that never reached eps is inf),
    in this chapter's keys ``{"slope", "slope_se", "intercept", "num_points"}``."""
    fit = power_law_fit(x, y, drop_invalid=True)
    return {"slope": fit["exponent"], "slope_se": fit["stderr"], "intercept": fit["intercept"],
            "num_points": fit["num_points"]}


# ----------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------
def duplicated_dataset(points: torch.Tensor, num_duplicates: int, *,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """``n - m`` distinct points plus ``m`` copies of distinct ones (drawn without replacement): ``(n, d)``.

    ``points`` holds the ``n - m`` distinct points; ``num_duplicates = m <= n - m``.
    """
    check_points(points, "points")
    if isinstance(num_duplicates, bool) or not isinstance(num_duplicates, int) or num_duplicates < 0:
        raise ValueError(f"num_duplicates must be an int >= 0, got {num_duplicates!r}")
    if num_duplicates > points.shape[0]:
        raise ValueError(f"num_duplicates must be <= the number of distinct points {points.shape[0]}")
    pick = torch.randperm(points.shape[0], generator=generator, device=points.device)[:num_duplicates]
    return torch.cat([points, points[pick]])


def experiment_config(profile: str) -> dict:
    """Sizes of the width search for a profile (one place for all of them).

    - data: ``n`` points from a ``K``-component well-separated mixture in ``R^d`` (nested prefixes of
      one stream per repetition); duplicated sets: the first ``n - m`` points plus ``m`` copies.
    - tasks: for each ``t``, ``n``, repetition: regress ``s_t`` times the empirical score and ``s_t`` times
      the true mixture score on the same inputs ``x ~ P^_t`` (``pool`` noisy draws; fresh draws for
      validation and test).
    - networks: ReLU MLPs with ``depth`` hidden layers, widths on ``widths``; ``eps``: the error target.
    """
    p = {"profile": profile}
    return {
        "d": 8,
        "K": 4,
        "separation": 1.0,
        "std": 1.0,
        "depth": 2,
        "linear_skip": True,
        "warm_start": False,
        "cpu_threads": 1,
        "eps": 0.1,
        "n_values": by_profile(ci=[4, 8, 16], cpu=[8, 16, 32, 64, 128],
                               paper=[8, 16, 32, 64, 128, 256], **p),
        "t_values": by_profile(ci=[0.05, 0.5], cpu=[0.05, 0.2, 0.5], paper=[0.05, 0.2, 0.5], **p),
        "duplicates": by_profile(ci=[[16, 8]], cpu=[[32, 16], [64, 32]],
                                 paper=[[32, 16], [64, 32], [128, 64]], **p),
        "reps": by_profile(ci=1, cpu=2, paper=2, **p),
        "widths": by_profile(ci=[1, 4, 16, 64, 256], cpu=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
                             paper=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096], **p),
        "pool": by_profile(ci=8192, cpu=32768, paper=65536, **p),
        "num_val": by_profile(ci=1024, cpu=4096, paper=8192, **p),
        "num_test": by_profile(ci=2048, cpu=8192, paper=16384, **p),
        "max_steps": by_profile(ci=3000, cpu=5000, paper=8000, **p),
        "batch_size": by_profile(ci=128, cpu=256, paper=512, **p),
        "lr": 1e-2,
        "lr_width": 32,
        # wall-clock budget (s) of the width search: widths not started by then are skipped (censored)
        "time_budget_s": by_profile(ci=None, cpu=None, paper=420, **p),
        "eval_every": by_profile(ci=100, cpu=200, paper=200, **p),
        "patience": 4,
        "seed": 0,
    }


def _task_list(cfg: dict) -> list[dict]:
    """One dict per regression task: ``kind`` (``empirical``/``true``), ``n``, ``m`` (duplicates), ``t``, ``rep``."""
    tasks = []
    for t in cfg["t_values"]:
        for rep in range(cfg["reps"]):
            for n in cfg["n_values"]:
                for kind in ("empirical", "true"):
                    tasks.append({"kind": kind, "n": n, "m": 0, "t": t, "rep": rep})
            for n, m in cfg["duplicates"]:
                if t == min(cfg["t_values"]):
                    tasks.append({"kind": "empirical", "n": n, "m": m, "t": t, "rep": rep})
    return tasks


def _build_pools(cfg: dict, tasks: list[dict], device) -> dict:
    """Inputs, targets and score references of every task, stacked ``(G, P, d)`` on ``device``.

    Inputs ``x ~ P^_t`` of the task's training set, standardised by the data's overall scale. The
    target ``y = s_t grad log p(x)`` is computed in float64 by the one-layer network
    (:class:`EmpiricalScoreNet`) or by :meth:`GaussianMixture.score`, then centred and scaled per task
    (an affine map fixed before training; the reference is the scaled score without the centring), so
    ``sqrt(sum |f - y|^2 / sum |reference|^2)`` is the relative error of the score.
    Returns ``{"train"|"val"|"test": (x, y, reference)}``.
    """
    d, K = cfg["d"], cfg["K"]
    g = torch.Generator(device="cpu").manual_seed(cfg["seed"])
    mix = well_separated_mixture(K, d, separation=cfg["separation"], std=cfg["std"], generator=g)
    n_max = max(max(cfg["n_values"]), max((n for n, _ in cfg["duplicates"]), default=1))
    streams = [mix.sample(n_max, generator=torch.Generator().manual_seed(cfg["seed"] * 1000 + 17 + r))
               for r in range(cfg["reps"])]
    scale = float(streams[0].std())
    sizes = {"train": cfg["pool"], "val": cfg["num_val"], "test": cfg["num_test"]}
    out = {k: ([], [], []) for k in sizes}
    cache = {}
    for task in tasks:
        n, m, t, rep = task["n"], task["m"], task["t"], task["rep"]
        key = (n, m, t, rep)
        if key not in cache:
            if m:
                gd = torch.Generator().manual_seed(cfg["seed"] + 31 * n + rep)
                data = duplicated_dataset(streams[rep][:n - m], m, generator=gd)
            else:
                data = streams[rep][:n]
            gen = torch.Generator().manual_seed(cfg["seed"] * 7919 + 104729 * rep + 1299709 * n + 613 * m
                                                + int(round(t * 1e6)))
            x = {}
            for split, size in sizes.items():
                idx = torch.randint(n, (size,), generator=gen)
                x[split] = alpha(t) * data[idx] + sigma(t) * torch.randn(size, d, generator=gen, dtype=data.dtype)
            cache[key] = (data, x)
        data, x = cache[key]
        s = sigma(t)
        score = {}
        for split in sizes:
            if task["kind"] == "empirical":
                net = EmpiricalScoreNet(data, t)
                score[split] = torch.cat([net(c) for c in x[split].split(4096)]) * s
            else:
                score[split] = mix.score(x[split], t) * s
        mu = score["train"].mean(0, keepdim=True)
        sd = (score["train"] - mu).square().sum(1).mean().sqrt()
        for split in sizes:
            xs, ys, rs = out[split]
            xs.append((x[split] / scale).float())
            ys.append(((score[split] - mu) / sd).float())
            rs.append((score[split] / sd).float())
    return {k: tuple(torch.stack(v).to(device) for v in out[k]) for k in sizes}


def width_learning_rate(cfg: dict, width: int) -> float:
    """Adam step size for a width: ``lr * min(1, sqrt(lr_width / width))`` (smaller steps for wider nets)."""
    return cfg["lr"] * min(1.0, math.sqrt(cfg["lr_width"] / width))


def run_width_search(cfg: dict, *, device=None, progress: bool = False, profile: str = "ci") -> dict:
    """Train the tasks at every width of ``cfg["widths"]`` (all tasks of one width in one :class:`BatchedMLP`).

    A task leaves the search once its test error is ``<= eps`` (its ``W*`` is then bracketed); later
    widths record ``None`` for it. With ``cfg["time_budget_s"]``, widths not started within the budget
    are skipped (``stopped_early``; their tasks count as censored). With ``cfg["warm_start"]`` each width starts from the previous
    width's trained models (:meth:`BatchedMLP.widen`), otherwise from a fresh initialisation.
    Returns ``{"tasks": [...], "widths": [...], "test_error": [[...] per task], ...}`` where
    ``test_error[i][k]`` is task ``i``'s relative test error of the score at ``widths[k]``.
    """
    device = get_device() if device is None else torch.device(device)
    threads = cfg.get("cpu_threads") if device.type == "cpu" else None
    tasks = _task_list(cfg)
    t0 = time.perf_counter()
    with _threads(threads):
        pools = _build_pools(cfg, tasks, device)
    t_pool = time.perf_counter() - t0
    gen = torch.Generator(device=device).manual_seed(cfg["seed"] + 1)
    G = len(tasks)
    test_error = [[] for _ in range(G)]
    alive = list(range(G))
    steps, fit_times, models = [], [], []
    model = None
    widths = list(cfg["widths"])
    from .experiments import progress as _progress
    start = time.perf_counter()
    budget = cfg.get("time_budget_s")
    stopped_early = False
    for w in _progress(widths, profile=profile, desc="widths"):
        if alive and budget is not None and time.perf_counter() - start > budget:
            stopped_early = True            # the remaining widths are not trained: their tasks are censored
            alive = []
        if not alive:
            for i in range(G):
                test_error[i].append(None)
            steps.append(0), fit_times.append(0.0), models.append(0)
            continue
        sel = torch.tensor(alive, device=device)
        (x_tr, y_tr, _), (x_va, y_va, r_va), (x_te, y_te, r_te) = (
            tuple(v[sel] for v in pools[k]) for k in ("train", "val", "test"))
        if model is None or not cfg["warm_start"]:
            model = BatchedMLP([w] * len(alive), cfg["depth"], cfg["d"], linear_skip=cfg["linear_skip"],
                               generator=gen)
        else:
            model = model.widen([w] * model.num_models, generator=gen)
        fit = fit_batched(model, x_tr, y_tr, x_va, y_va, max_steps=cfg["max_steps"],
                          batch_size=cfg["batch_size"], lr=width_learning_rate(cfg, w),
                          eval_every=cfg["eval_every"], patience=cfg["patience"], generator=gen,
                          val_reference=r_va, num_threads=threads, progress=progress, desc=f"width {w}")
        with _threads(threads):
            err = _batched_error(model, x_te, y_te, r_te).tolist()
        by_task = dict(zip(alive, err))
        for i in range(G):
            test_error[i].append(by_task.get(i))
        steps.append(fit.steps), fit_times.append(round(fit.wall_time_s, 2)), models.append(len(alive))
        keep = [j for j, i in enumerate(alive) if by_task[i] > cfg["eps"]]
        alive = [alive[j] for j in keep]
        if cfg["warm_start"] and alive and len(keep) < model.num_models:
            model = model.select(keep)
    return {"tasks": tasks, "widths": widths, "test_error": test_error, "steps": steps,
            "fit_time_s": fit_times, "models_trained": models, "pool_time_s": round(t_pool, 2),
            "stopped_early": stopped_early,
            "num_parameters": [mlp_num_parameters(w, cfg["depth"], cfg["d"]) for w in widths]}


def summarize(cfg: dict, search: dict) -> dict:
    """``W*`` and ``N*`` per task, log-log fits of ``W*`` against ``n`` per kind and ``t``, duplication pairs."""
    eps = cfg["eps"]
    widths = search["widths"]
    wstar = [_threshold_of_curve(widths, e, eps) for e in search["test_error"]]
    depth, d = cfg["depth"], cfg["d"]
    nstar = [_params_at(w, depth, d) for w in wstar]
    fits = {}
    for kind in ("empirical", "true"):
        fits[kind] = {}
        for t in cfg["t_values"]:
            pts = [(task["n"], ws) for task, ws in zip(search["tasks"], wstar)
                   if task["kind"] == kind and task["t"] == t and task["m"] == 0]
            ns = [p[0] for p in pts]
            ws = [p[1] for p in pts]
            finite = [math.isfinite(v) for v in ws]
            entry = {"n": ns, "W_star": ws, "censored": int(len(ws) - sum(finite))}
            for key, vals in (("fit", ws), ("fit_N", [_params_at(w, depth, d) for w in ws])):
                try:
                    entry[key] = loglog_fit(ns, vals)
                except ValueError:
                    entry[key] = None
            fits[kind][str(t)] = entry
    dup = []
    t_dup = min(cfg["t_values"])
    lookup = {(task["kind"], task["n"], task["m"], task["t"], task["rep"]): ws
              for task, ws in zip(search["tasks"], wstar)}
    curves = {(task["kind"], task["n"], task["m"], task["t"], task["rep"]): e
              for task, e in zip(search["tasks"], search["test_error"])}
    for n, m in cfg["duplicates"]:
        for rep in range(cfg["reps"]):
            keys = [("empirical", n, m, t_dup, rep), ("empirical", n - m, 0, t_dup, rep),
                    ("empirical", n, 0, t_dup, rep)]
            c_dup, c_nm, c_n = (curves.get(k) for k in keys)
            dup.append({"n": n, "m": m, "rep": rep,
                        "W_dup": lookup.get(keys[0]), "W_distinct_n_minus_m": lookup.get(keys[1]),
                        "W_distinct_n": lookup.get(keys[2]),
                        "curve_gap_n_minus_m": _curve_gap(c_dup, c_nm, c_n),
                        "curve_gap_n": _curve_gap(c_dup, c_n, c_nm)})
    return {"tasks": search["tasks"], "W_star": wstar, "N_star": nstar, "fits": fits, "duplicates": dup,
            "t_duplicates": t_dup, "N_cap": 2.0 * _params_at(max(widths), depth, d)}


def _curve_gap(a, b, c) -> float:
    """Mean ``|log a_k - log b_k|`` over the widths ``k`` where the three error curves all have a value."""
    if a is None or b is None or c is None:
        return math.inf
    ks = [k for k in range(min(len(a), len(b), len(c)))
          if a[k] is not None and b[k] is not None and c[k] is not None]
    if not ks:
        return math.inf
    return sum(abs(math.log(a[k]) - math.log(b[k])) for k in ks) / len(ks)


def _threshold_of_curve(widths, errors, eps) -> float:
    """:func:`width_threshold` of a recorded curve (``None`` entries: widths not trained, at the end)."""
    k = sum(e is not None for e in errors)
    if k == 0:
        return math.inf
    return width_threshold(widths[:k], [float(e) for e in errors[:k]], eps)


def summary_table(cfg: dict, summary: dict) -> str:
    """Markdown table: ``W*`` per ``n`` (each repetition), slopes of ``log W*`` and ``log N*`` with standard errors."""
    def fmt(fit):
        return "-" if fit is None else f"{fit['slope']:.2f} ± {fit['slope_se']:.2f}"

    rows = []
    for kind in ("empirical", "true"):
        for t in sorted(cfg["t_values"]):
            e = summary["fits"][kind][str(t)]
            ws = ", ".join("> max" if not math.isfinite(w) else f"{w:.0f}" for w in e["W_star"])
            rows.append(f"| {kind} | {t:g} | {ws} | {fmt(e['fit'])} | {fmt(e['fit_N'])} | {e['censored']} |")
    head = (f"| score | $t$ | $W^*$ for n = {cfg['n_values']} (each repetition) | slope of $\\log W^*$ "
            "| slope of $\\log N^*$ | censored |\n|---|---|---|---|---|---|\n")
    return head + "\n".join(rows)


def _params_at(width: float, depth: int, d: int) -> float:
    """``mlp_num_parameters`` extended to real (interpolated) and infinite widths."""
    if not math.isfinite(width):
        return math.inf
    return (d + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * d


# Verdict thresholds (fixed before measuring; see the chapter).
# - Slope of log W* against log n: counting parameters, a network that puts n generic vectors of R^d
#   on n separated balls needs N >~ n d weights; at a fixed depth >= 2, N ~ W^2, so W* must grow at
#   least like sqrt(n): slope 1/2 (1 at depth 1; Theorem 5.1's W = O~(n) is an upper bound).
SLOPE_THRESHOLD = 0.5
# - The true score of a K-component mixture is close to K linear pieces: a width of a few units per
#   component suffices whatever n is. W* <= 4 K at every n and t is "bounded independently of n".
TRUE_WIDTH_PER_COMPONENT = 4
# - Separation at the largest n: the empirical score needs at least 8 times the true score's width.
SEPARATION_FACTOR = 8.0


def verdict(cfg: dict, summary: dict) -> dict:
    """Machine-stable booleans (thresholds :data:`SLOPE_THRESHOLD`, :data:`TRUE_WIDTH_PER_COMPONENT`,
    :data:`SEPARATION_FACTOR`, fixed before measuring).

    - ``empirical_slope_above_threshold``: slope of ``log W*`` against ``log n`` (empirical score, smallest
      ``t``, repetitions pooled) above :data:`SLOPE_THRESHOLD`;
    - ``true_width_bounded``: the true score's ``W* <= TRUE_WIDTH_PER_COMPONENT * K`` for every ``n`` and ``t``;
    - ``separation_at_largest_n``: at the largest ``n`` and every ``t``, empirical ``W*`` >= ``SEPARATION_FACTOR``
      times the true ``W*`` (geometric means over repetitions; a censored ``W*`` counts as twice the largest width);
    - ``duplicates_closer_to_n_minus_m`` (corollary (a)): for each duplicated set, its error-against-width
      curve is closer (mean ``|log|`` difference over the widths where all three were trained) to the
      curve of its ``n - m`` distinct points than to that of ``n`` distinct points (``W*`` alone is
      often censored for the larger sets);
    - ``empirical_more_width_at_small_t`` (corollary (b), measured): the geometric mean over ``n`` of the
      empirical ``W*`` is larger at the smallest ``t`` than at the largest.
    """
    ts = sorted(cfg["t_values"])
    emp, tru = summary["fits"]["empirical"], summary["fits"]["true"]
    emp_fit = emp[str(ts[0])]["fit"]
    cap = 2.0 * max(cfg["widths"])

    def geo_mean(values):
        v = [min(x, cap) for x in values]
        return math.exp(sum(map(math.log, v)) / len(v))

    def at_n(entry, n):
        return geo_mean([w for m, w in zip(entry["n"], entry["W_star"]) if m == n])

    n_max = max(cfg["n_values"])
    dups = summary["duplicates"]
    dup_ok = bool(dups) and all(r["curve_gap_n_minus_m"] < r["curve_gap_n"] for r in dups)
    true_max = max(w for e in tru.values() for w in e["W_star"])
    return {
        "empirical_slope_above_threshold": emp_fit is not None and emp_fit["slope"] > SLOPE_THRESHOLD,
        "true_width_bounded": true_max <= TRUE_WIDTH_PER_COMPONENT * cfg["K"],
        "separation_at_largest_n": all(at_n(emp[str(t)], n_max) >= SEPARATION_FACTOR * at_n(tru[str(t)], n_max)
                                       for t in ts),
        "duplicates_closer_to_n_minus_m": dup_ok,
        "empirical_more_width_at_small_t": geo_mean(emp[str(ts[0])]["W_star"]) > geo_mean(emp[str(ts[-1])]["W_star"]),
    }


def run(profile: str) -> tuple[dict, dict]:
    """The registered experiment ``approximation_width``: ``(config, results)`` for a profile."""
    cfg = experiment_config(profile)
    device = get_device()
    search = run_width_search(cfg, device=device, progress=profile != "ci", profile=profile)
    summary = summarize(cfg, search)
    results = {"search": search, "summary": summary, "verdict": verdict(cfg, summary)}
    return cfg, jsonable(results, str_keys=True)
