"""Time-conditioned score networks (the models; every training loop lives in :mod:`memsep_lib.training`).

:class:`ScoreMLP` is the noise-prediction parametrisation of a score::

    s_theta(x, t) = -eps_theta(x, t) / s_t,

where ``eps_theta`` is an MLP in ``x`` (ReLU or SiLU) whose hidden layers receive additive shifts
computed from a sinusoidal embedding of ``t``. The shifts do not depend on ``x``, so the network's
Lipschitz constant in ``x`` obeys the layer-wise bound::

    |grad_x s_theta(x, t)|_2 <= c^depth prod_l |W_l|_2 / s_t         (c = 1 for ReLU, ~1.0998 for SiLU)

(product over the ``x``-path weight matrices; :meth:`ScoreMLP.lipschitz_bound`). Weight decay
shrinks the ``|W_l|_2`` and with them the bound. :class:`ScoreMLPStack` holds ``G`` such networks of
one shape with stacked weights, evaluated with batched matrix products. :class:`BatchedMLP` holds
``G`` plain ReLU MLPs ``x -> y`` (no time input) of possibly different widths, stacked the same way
(chapter 4 regresses a score at one fixed ``t`` with them); :func:`mlp_num_parameters` counts an MLP's weights.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .process import sigma
from .validation import _all_finite, check_float_dtype, check_points, check_positive_int, check_real, check_time

__all__ = ["sinusoidal_embedding", "ScoreMLP", "ScoreMLPStack", "mlp_num_parameters", "BatchedMLP"]

# Lipschitz constants of the supported activations (SiLU: max of its derivative, at x ~ 2.3994).
_ACTIVATIONS = {"relu": (nn.ReLU, 1.0), "silu": (nn.SiLU, 1.0998393)}


def _check_time_scale(time_scale) -> float:
    value = check_real(time_scale, "time_scale", finite=False)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"time_scale must be finite and > 0, got {time_scale}")
    return value


def _check_index(g, count: int) -> int:
    """A model index ``g`` in ``[0, count)`` (an int or NumPy integer, not a bool)."""
    if isinstance(g, (bool, np.bool_)) or not isinstance(g, numbers.Integral):
        raise TypeError(f"g must be an int, got {type(g).__name__}")
    if not 0 <= g < count:
        raise ValueError(f"g must lie in [0, {count}), got {g}")
    return int(g)


def _check_times(t: torch.Tensor, dtype: torch.dtype, name: str = "t") -> None:
    """A tensor of diffusion times: real, finite, > 0 and (in ``dtype``) large enough that ``1/s_t^2`` is finite."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
    if not (t.dtype.is_floating_point or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise TypeError(f"{name} must be a real tensor, got dtype {t.dtype}")
    if t.numel() == 0:
        return
    lo, hi = (v.item() for v in torch.aminmax(t.double() if not t.dtype.is_floating_point else t))   # one sync
    if not (math.isfinite(lo) and math.isfinite(hi) and lo > 0):
        raise ValueError(f"{name} must be finite and > 0 everywhere")
    check_time(lo, name, dtype=dtype)        # 1/s_t^2 finite in dtype; else the error says the smallest usable t


def sinusoidal_embedding(t: torch.Tensor, dim: int, *, scale: float = 1000.0,
                         max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of times ``t`` (shape ``(B,)``): ``[cos(scale t f_k), sin(scale t f_k)]``, shape ``(B, dim)``.

    Frequencies ``f_k = max_period^(-k / (dim/2))``, ``k = 0..dim/2-1`` (as in DDPM / DiT); an odd
    ``dim`` gets a zero last column.
    """
    check_positive_int(dim, "dim")
    if dim < 2:
        raise ValueError(f"dim must be >= 2 (one cos/sin pair), got {dim}")
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t must be a tensor of shape (B,), got {type(t).__name__}")
    if t.ndim != 1:
        raise ValueError(f"t must be a tensor of shape (B,), got shape {tuple(t.shape)}")
    if not t.dtype.is_floating_point:
        raise TypeError(f"t must have a floating dtype, got {t.dtype}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=t.dtype, device=t.device) / max(half, 1))
    args = scale * t[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=1)
    return emb


class ScoreMLP(nn.Module):
    """Score network ``s_theta(x, t) = -eps_theta(x, t) / s_t`` with a time-conditioned MLP ``eps_theta``.

    ``eps_theta``: ``depth`` hidden layers of ``width`` units, ``h_l = act(W_l h_{l-1} + b_l + c_l(t))``
    with ``h_0 = x``, then a linear output layer ``W_out h_depth + b_out``. The time shifts
    ``[c_1(t), ..., c_depth(t)] = U e(t) + u`` are one linear map of the sinusoidal embedding ``e(t)``.

    Args:
        dim: data dimension ``d``.
        width: hidden width ``W``.
        depth: number of hidden layers (``>= 1``).
        time_embedding_dim: size of the sinusoidal embedding of ``t``.
        activation: ``"relu"`` (default) or ``"silu"``.
        time_scale: ``t`` is embedded as ``time_scale * t`` (so that small times are resolved).
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, time_embedding_dim: int = 32, *,
                 activation: str = "relu", time_scale: float = 1000.0):
        super().__init__()
        for name, value in (("dim", dim), ("width", width), ("depth", depth),
                            ("time_embedding_dim", time_embedding_dim)):
            check_positive_int(value, name)
        if not isinstance(activation, str) or activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        time_scale = _check_time_scale(time_scale)
        self.dim, self.width, self.depth = dim, width, depth
        self.time_embedding_dim, self.activation, self.time_scale = time_embedding_dim, activation, time_scale
        act_cls, self.activation_lipschitz = _ACTIVATIONS[activation]
        self.act = act_cls()
        self.hidden = nn.ModuleList([nn.Linear(dim, width)] + [nn.Linear(width, width) for _ in range(depth - 1)])
        self.time_shift = nn.Linear(time_embedding_dim, depth * width)
        self.out = nn.Linear(width, dim)

    def _check_x(self, x) -> torch.Tensor:
        check_points(x, "x", dim=self.dim)
        dtype = self.out.weight.dtype
        if x.dtype != dtype:
            raise TypeError(f"x must have the net's dtype {dtype}, got {x.dtype} (use net.to(dtype))")
        return x

    def _times(self, x: torch.Tensor, t) -> torch.Tensor:
        """``t`` as a ``(B,)`` tensor on ``x``'s device and dtype (a scalar is broadcast); ``1/s_t^2`` must be
        finite in ``x``'s dtype."""
        if isinstance(t, torch.Tensor) and t.numel() > 1:
            if t.shape != (x.shape[0],):
                raise ValueError(f"t must be a scalar or have shape ({x.shape[0]},), got {tuple(t.shape)}")
            _check_times(t, x.dtype)
            return t.to(device=x.device, dtype=x.dtype)
        return torch.full((x.shape[0],), check_time(t, dtype=x.dtype), device=x.device, dtype=x.dtype)

    def eps(self, x: torch.Tensor, t) -> torch.Tensor:
        """Noise prediction ``eps_theta(x, t)``, shape ``(B, d)``; ``t`` a scalar or a ``(B,)`` tensor."""
        self._check_x(x)
        tt = self._times(x, t)
        shifts = self.time_shift(sinusoidal_embedding(tt, self.time_embedding_dim, scale=self.time_scale))
        h = x
        for layer, shift in zip(self.hidden, shifts.chunk(self.depth, dim=1)):
            h = self.act(layer(h) + shift)
        return self.out(h)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        """Score ``s_theta(x, t) = -eps_theta(x, t) / s_t``, shape ``(B, d)`` (a ``score_fn``)."""
        s_t = sigma(self._times(self._check_x(x), t))[:, None]
        return -self.eps(x, t) / s_t

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def weight_matrices(self) -> list[torch.Tensor]:
        """The ``x``-path weight matrices ``W_1, ..., W_depth, W_out`` (the time shifts are excluded)."""
        return [layer.weight for layer in self.hidden] + [self.out.weight]

    @torch.no_grad()
    def spectral_norm_product(self) -> float:
        """``prod_l |W_l|_2`` over :meth:`weight_matrices`: a Lipschitz bound of ``eps_theta`` in ``x`` (ReLU)."""
        return math.prod(torch.linalg.matrix_norm(w.double(), ord=2).item() for w in self.weight_matrices())

    def lipschitz_bound(self, t) -> float:
        """``c^depth prod_l |W_l|_2 / s_t``: an upper bound on ``|grad_x s_theta(x, t)|_2`` for every ``x``."""
        return self.activation_lipschitz ** self.depth * self.spectral_norm_product() / sigma(check_time(t))

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, width={self.width}, depth={self.depth}, "
                f"time_embedding_dim={self.time_embedding_dim}, activation={self.activation!r}")


class ScoreMLPStack(nn.Module):
    """``G`` independent :class:`ScoreMLP` networks of one architecture, evaluated and trained together.

    Every parameter of the ``G`` members is stacked along a leading model axis, and each layer is one
    batched product ``h <- act(baddbmm(b_l + c_l(t), h, W_l))`` on inputs of shape ``(G, B, .)``, so a
    grid of small networks costs a few large matrix products instead of ``G`` small ones. Member ``g``
    computes exactly the function of a :class:`ScoreMLP` with its weights (:meth:`member`).
    Initialisation: ``nn.Linear``'s default, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, drawn per member.

    ``weight_decay`` (shape ``(G,)``) is each member's decoupled (AdamW) weight decay on its weight
    matrices, applied by :func:`~memsep_lib.training.train_score_stack`.
    """

    def __init__(self, num_models: int, dim: int, width: int = 128, depth: int = 3, time_embedding_dim: int = 32,
                 *, weight_decay=0.0, time_scale: float = 1000.0, generator: torch.Generator | None = None,
                 dtype=torch.float32, device=None):
        super().__init__()
        for name, value in (("num_models", num_models), ("dim", dim), ("width", width), ("depth", depth),
                            ("time_embedding_dim", time_embedding_dim)):
            check_positive_int(value, name)
        time_scale = _check_time_scale(time_scale)
        check_float_dtype(dtype)
        if generator is not None and device is not None and torch.device(device) != generator.device:
            raise ValueError(f"device {device} differs from the generator's device {generator.device}")
        device = generator.device if generator is not None else device
        decay = torch.as_tensor(weight_decay, dtype=torch.float64)
        if decay.ndim > 1 or decay.numel() not in (1, num_models):
            raise ValueError(f"weight_decay must be a float or {num_models} values, got shape {tuple(decay.shape)}")
        decay = decay.expand(num_models).clone()
        if not torch.isfinite(decay).all() or (decay < 0).any():
            raise ValueError(f"weight_decay must be finite and >= 0 (a float or {num_models} values)")
        self.register_buffer("weight_decay", decay.to(dtype=dtype, device=device))
        self.num_models, self.dim, self.width, self.depth = num_models, dim, width, depth
        self.time_embedding_dim, self.time_scale = time_embedding_dim, time_scale

        def linear(fan_in, fan_out):
            bound = 1.0 / math.sqrt(fan_in)
            draw = lambda *shape: nn.Parameter(
                (2 * torch.rand(num_models, *shape, generator=generator, dtype=dtype, device=device) - 1) * bound)
            return draw(fan_in, fan_out), draw(1, fan_out)

        layers = [linear(dim, width)] + [linear(width, width) for _ in range(depth - 1)] + [linear(width, dim)]
        self.weights = nn.ParameterList([w for w, _ in layers])
        self.biases = nn.ParameterList([b for _, b in layers])
        self.time_weight, self.time_bias = linear(time_embedding_dim, depth * width)

    def eps(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Noise predictions ``(G, B, d)`` of the members on ``x`` ``(G, B, d)`` at times ``t`` ``(G, B)``."""
        if not isinstance(x, torch.Tensor) or not isinstance(t, torch.Tensor):
            raise TypeError(f"x and t must be tensors, got {type(x).__name__} and {type(t).__name__}")
        G = self.num_models
        B = x.shape[1] if x.ndim == 3 else -1
        if x.shape != (G, B, self.dim) or t.shape != (G, B):
            raise ValueError(f"x must have shape ({G}, B, {self.dim}) and t shape ({G}, B); "
                             f"got {tuple(x.shape)} and {tuple(t.shape)}")
        dtype = self.weights[0].dtype
        if x.dtype != dtype or t.dtype != dtype:
            raise TypeError(f"x must have the stack's dtype {dtype} (and t too), got {x.dtype} and {t.dtype}")
        if x.numel() and not _all_finite(x):
            raise ValueError("x contains NaN or infinite values")
        _check_times(t, dtype)
        emb = sinusoidal_embedding(t.reshape(-1), self.time_embedding_dim, scale=self.time_scale)
        shifts = torch.baddbmm(self.time_bias, emb.view(G, B, -1), self.time_weight).chunk(self.depth, dim=2)
        h = x
        for l in range(self.depth):
            h = torch.relu(torch.baddbmm(self.biases[l], h, self.weights[l]) + shifts[l])
        return torch.baddbmm(self.biases[-1], h, self.weights[-1])

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Scores ``s_g(x, t) = -eps_g(x, t) / s_t``, shape ``(G, B, d)``."""
        return -self.eps(x, t) / sigma(t)[..., None]

    def joint_score_fn(self, samples_per_model: int):
        """A ``score_fn(x, t)`` on ``(G * m, d)`` rows, rows ``g*m .. (g+1)*m - 1`` scored by member ``g``.

        With it one call of :func:`memsep_lib.sampling.sample` (``batch_size = G * m``) draws ``m``
        samples from every member.
        """
        m = check_positive_int(samples_per_model, "samples_per_model")

        def score_fn(x: torch.Tensor, t) -> torch.Tensor:
            if x.shape[0] != self.num_models * m:
                raise ValueError(f"x must have {self.num_models} x {m} rows, got {x.shape[0]}")
            tt = torch.full((self.num_models, m), check_time(t), dtype=x.dtype, device=x.device)
            return self(x.view(self.num_models, m, self.dim), tt).reshape(x.shape)

        return score_fn

    def num_parameters(self) -> int:
        """Trainable parameters of ONE member (equal to :meth:`ScoreMLP.num_parameters` of the same size)."""
        return sum(p[0].numel() for p in self.parameters())

    @torch.no_grad()
    def member(self, g: int) -> ScoreMLP:
        """Member ``g`` as a stand-alone :class:`ScoreMLP` (ReLU) with the same weights."""
        g = _check_index(g, self.num_models)
        net = ScoreMLP(self.dim, self.width, self.depth, self.time_embedding_dim, time_scale=self.time_scale)
        net = net.to(device=self.weights[0].device, dtype=self.weights[0].dtype)
        for layer, w, b in zip(list(net.hidden) + [net.out], self.weights, self.biases):
            layer.weight.copy_(w[g].T)
            layer.bias.copy_(b[g, 0])
        net.time_shift.weight.copy_(self.time_weight[g].T)
        net.time_shift.bias.copy_(self.time_bias[g, 0])
        return net.eval()

    def extra_repr(self) -> str:
        return (f"num_models={self.num_models}, dim={self.dim}, width={self.width}, depth={self.depth}, "
                f"time_embedding_dim={self.time_embedding_dim}")


def mlp_num_parameters(width: float, depth: int, dim_in: int, dim_out: int | None = None) -> float:
    """Weights and biases of a ReLU MLP ``dim_in -> width (x depth) -> dim_out``:
    ``(dim_in + 1) W + (depth - 1)(W + 1) W + (W + 1) dim_out``.

    ``width`` may be real (the polynomial at an interpolated width) or ``inf``; an int gives an int.
    """
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"width must be a number > 0, got {width!r}")
    if math.isinf(width):
        return math.inf
    check_positive_int(depth, "depth")
    check_positive_int(dim_in, "dim_in")
    dim_out = dim_in if dim_out is None else check_positive_int(dim_out, "dim_out")
    return (dim_in + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * dim_out


class BatchedMLP(nn.Module):
    """``G`` independent ReLU MLPs ``dim_in -> widths[g] (x depth) -> dim_out``, evaluated together.

    Layer ``l`` of model ``g`` has weight ``weights[l][g]`` (shape ``(fan_in, fan_out)``) and bias
    ``biases[l][g]``, so every layer is one ``torch.baddbmm`` on inputs ``(G, B, .)``. Hidden layers are
    padded to ``max(widths)`` and multiplied by a 0/1 mask: a padded unit outputs 0 and gets no gradient.
    Initialisation: ``nn.Linear``'s default, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (the real fan-in),
    drawn per model. With ``linear_skip`` each model adds a learned linear map ``x S_g`` (zero at
    initialisation; a ReLU network represents it with ``2 dim_in`` more units, ``x = relu(x) - relu(-x)``).
    """

    def __init__(self, widths: Sequence[int], depth: int, dim_in: int, dim_out: int | None = None, *,
                 linear_skip: bool = False, generator: torch.Generator | None = None, dtype=torch.float32,
                 device=None):
        super().__init__()
        if isinstance(widths, (str, bytes)) or not isinstance(widths, (Sequence, np.ndarray)):
            raise TypeError(f"widths must be a sequence of ints, got {type(widths).__name__}")
        widths = [check_positive_int(w, "widths entries") for w in widths]
        if not widths:
            raise ValueError("widths must be a non-empty list")
        self.depth = check_positive_int(depth, "depth")
        self.dim_in = check_positive_int(dim_in, "dim_in")
        self.dim_out = dim_in if dim_out is None else check_positive_int(dim_out, "dim_out")
        check_float_dtype(dtype)
        self.widths, self.linear_skip = widths, bool(linear_skip)
        G, Wm = len(widths), max(widths)
        device = generator.device if generator is not None else device
        mask = torch.arange(Wm, device=device)[None, :] < torch.tensor(widths, device=device)[:, None]
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
                w, b = w * self.mask, b * self.mask                                # zero columns: padded units
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))
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
        if x.dtype != self.weights[0].dtype:
            raise TypeError(f"x must have the models' dtype {self.weights[0].dtype}, got {x.dtype}")
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

    @torch.no_grad()
    def relative_error(self, x: torch.Tensor, y: torch.Tensor, reference: torch.Tensor | None = None, *,
                       chunk: int = 4096) -> torch.Tensor:
        """``sqrt(sum_b |f_g(x_gb) - y_gb|^2 / sum_b |reference_gb|^2)`` per model ``g``, shape ``(G,)``
        (``reference = y`` if None), in float64, over chunks of ``chunk`` rows."""
        reference = y if reference is None else reference
        check_positive_int(chunk, "chunk")
        if not isinstance(x, torch.Tensor) or x.ndim != 3:
            raise ValueError(f"x must have shape ({self.num_models}, B, {self.dim_in}), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        expected = (x.shape[0], x.shape[1], self.dim_out)
        for name, value in (("y", y), ("reference", reference)):
            if not isinstance(value, torch.Tensor) or value.shape != expected:
                raise ValueError(f"{name} must have shape {expected}, got "
                                 f"{tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}")
        num = torch.zeros(self.num_models, dtype=torch.float64, device=x.device)
        den = torch.zeros_like(num)
        for s in range(0, x.shape[1], chunk):
            num += (self(x[:, s:s + chunk]).double() - y[:, s:s + chunk].double()).square().sum((1, 2))
            den += reference[:, s:s + chunk].double().square().sum((1, 2))
        return (num / den).sqrt()

    @torch.no_grad()
    def to_mlp(self, g: int) -> nn.Module:
        """Model ``g`` as plain layers: ``nn.Sequential`` of ``nn.Linear`` / ``nn.ReLU`` (padding removed),
        plus a bias-free ``nn.Linear`` skip when the model has one."""
        if isinstance(g, numbers.Integral) and not isinstance(g, bool) and not 0 <= g < self.num_models:
            raise ValueError(f"g must be in [0, {self.num_models}), got {g}")
        g = _check_index(g, self.num_models)
        dims = [self.dim_in] + [self.widths[g]] * self.depth + [self.dim_out]
        layers = []
        for l in range(self.depth + 1):
            lin = nn.Linear(dims[l], dims[l + 1]).to(self.weights[l])
            lin.weight.copy_(self.weights[l][g, :dims[l], :dims[l + 1]].T)
            lin.bias.copy_(self.biases[l][g, 0, :dims[l + 1]])
            layers += [lin, nn.ReLU()] if l < self.depth else [lin]
        mlp = nn.Sequential(*layers)
        if not self.linear_skip:
            return mlp
        skip = nn.Linear(self.dim_in, self.dim_out, bias=False).to(self.skip)
        skip.weight.copy_(self.skip[g].T)
        return _SkipMLP(mlp, skip)

    def extra_repr(self) -> str:
        return (f"widths={self.widths}, depth={self.depth}, dim_in={self.dim_in}, dim_out={self.dim_out}, "
                f"linear_skip={self.linear_skip}")


class _SkipMLP(nn.Module):
    """``mlp(x) + skip(x)``: one model of a :class:`BatchedMLP` with a linear skip, as plain layers."""

    def __init__(self, mlp: nn.Module, skip: nn.Module):
        super().__init__()
        self.mlp, self.skip = mlp, skip

    def forward(self, x):
        return self.mlp(x) + self.skip(x)
