"""Time-conditioned score networks and their denoising-score-matching (DSM) training.

:class:`ScoreMLP` is the noise-prediction parametrisation of a score,

    s_theta(x, t) = -eps_theta(x, t) / s_t,

where ``eps_theta`` is an MLP in ``x`` (ReLU or SiLU) whose hidden layers receive additive shifts
computed from a sinusoidal embedding of ``t``. The shifts do not depend on ``x``, so the network's
Lipschitz constant in ``x`` obeys the layer-wise bound

    |grad_x s_theta(x, t)|_2 <= c^depth prod_l |W_l|_2 / s_t         (c = 1 for ReLU, ~1.0998 for SiLU)

(product over the ``x``-path weight matrices; :meth:`ScoreMLP.lipschitz_bound`). Weight decay
shrinks the ``|W_l|_2`` and with them the bound.

:func:`train_score_net` minimises the weighted DSM objective with AdamW,

    E_{t ~ U[t0, T], i, z} lambda(t) | -z/s_t - s_theta(a_t x_i + s_t z, t) |^2,

using :func:`memsep_lib.losses.dsm_loss` with one time per row; ``lambda(t) = s_t^2`` (default,
the usual noise-prediction MSE ``|z - eps_theta|^2``) or ``1``. The optimizer, the loss log and
per-step callbacks are passed in and out, so training can be continued (resumed) and extended
(EMA, checkpoints) without changing this function.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

from .config import get_profile
from .losses import dsm_loss
from .process import alpha, sample_log_uniform_time, sample_uniform_time, sigma
from .validation import check_points, check_positive_int, check_time

__all__ = [
    "sinusoidal_embedding",
    "ScoreMLP",
    "ScoreMLPStack",
    "TrainingLog",
    "make_optimizer",
    "train_score_net",
    "train_score_stack",
    "score_mse",
    "evaluate_score_net",
]

# Lipschitz constants of the supported activations (SiLU: max of its derivative, at x ~ 2.3994).
_ACTIVATIONS = {"relu": (nn.ReLU, 1.0), "silu": (nn.SiLU, 1.0998393)}


def sinusoidal_embedding(t: torch.Tensor, dim: int, *, scale: float = 1000.0,
                         max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of times ``t`` (shape ``(B,)``): ``[cos(scale t f_k), sin(scale t f_k)]``, shape ``(B, dim)``.

    Frequencies ``f_k = max_period^(-k / (dim/2))``, ``k = 0..dim/2-1`` (as in DDPM / DiT); an odd
    ``dim`` gets a zero last column.
    """
    check_positive_int(dim, "dim")
    if not isinstance(t, torch.Tensor) or t.ndim != 1:
        raise ValueError("t must be a tensor of shape (B,)")
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
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise ValueError(f"time_scale must be finite and > 0, got {time_scale}")
        self.dim, self.width, self.depth = dim, width, depth
        self.time_embedding_dim, self.activation, self.time_scale = time_embedding_dim, activation, time_scale
        act_cls, self.activation_lipschitz = _ACTIVATIONS[activation]
        self.act = act_cls()
        self.hidden = nn.ModuleList([nn.Linear(dim, width)] + [nn.Linear(width, width) for _ in range(depth - 1)])
        self.time_shift = nn.Linear(time_embedding_dim, depth * width)
        self.out = nn.Linear(width, dim)

    def _times(self, x: torch.Tensor, t) -> torch.Tensor:
        """``t`` as a ``(B,)`` tensor on ``x``'s device and dtype (a scalar is broadcast)."""
        if isinstance(t, torch.Tensor) and t.numel() > 1:
            if t.shape != (x.shape[0],):
                raise ValueError(f"t must be a scalar or have shape ({x.shape[0]},), got {tuple(t.shape)}")
            t = t.to(device=x.device, dtype=x.dtype)
            if not torch.isfinite(t).all() or (t <= 0).any():
                raise ValueError("t must be finite and > 0 everywhere")
            return t
        return torch.full((x.shape[0],), check_time(t), device=x.device, dtype=x.dtype)

    def eps(self, x: torch.Tensor, t) -> torch.Tensor:
        """Noise prediction ``eps_theta(x, t)``, shape ``(B, d)``; ``t`` a scalar or a ``(B,)`` tensor."""
        check_points(x, "x", dim=self.dim)
        tt = self._times(x, t)
        shifts = self.time_shift(sinusoidal_embedding(tt, self.time_embedding_dim, scale=self.time_scale))
        h = x
        for layer, shift in zip(self.hidden, shifts.chunk(self.depth, dim=1)):
            h = self.act(layer(h) + shift)
        return self.out(h)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        """Score ``s_theta(x, t) = -eps_theta(x, t) / s_t``, shape ``(B, d)`` (a ``score_fn``)."""
        s_t = sigma(self._times(x, t))[:, None]
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
    matrices, applied by :func:`train_score_stack`.
    """

    def __init__(self, num_models: int, dim: int, width: int = 128, depth: int = 3, time_embedding_dim: int = 32,
                 *, weight_decay=0.0, time_scale: float = 1000.0, generator: torch.Generator | None = None,
                 dtype=torch.float32, device=None):
        super().__init__()
        for name, value in (("num_models", num_models), ("dim", dim), ("width", width), ("depth", depth),
                            ("time_embedding_dim", time_embedding_dim)):
            check_positive_int(value, name)
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise ValueError(f"time_scale must be finite and > 0, got {time_scale}")
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
        G, B = self.num_models, x.shape[1]
        if x.shape != (G, B, self.dim) or t.shape != (G, B):
            raise ValueError(f"x must have shape ({G}, B, {self.dim}) and t shape ({G}, B); "
                             f"got {tuple(x.shape)} and {tuple(t.shape)}")
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
        if not 0 <= g < self.num_models:
            raise ValueError(f"g must lie in [0, {self.num_models}), got {g}")
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


@dataclass
class TrainingLog:
    """Loss history of :func:`train_score_net`: mean loss over each logging window, by step.

    ``step`` counts all optimizer steps taken so far; pass the log back to continue training.
    """

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    step: int = 0
    wall_time_s: float = 0.0

    def state_dict(self) -> dict:
        return {"steps": list(self.steps), "losses": list(self.losses), "step": self.step,
                "wall_time_s": self.wall_time_s}

    @classmethod
    def from_state_dict(cls, state: dict) -> "TrainingLog":
        return cls(list(state["steps"]), list(state["losses"]), int(state["step"]), float(state["wall_time_s"]))


def make_optimizer(net: nn.Module, *, lr: float = 1e-3, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on the weight matrices only (biases are not decayed)."""
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be finite and > 0, got {lr}")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be finite and >= 0, got {weight_decay}")
    params = [p for p in net.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def _check_schedule(steps, batch_size, t0, T, time_distribution: str):
    """Validate the training schedule; return ``(t0, T, time_sampler)``."""
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    t0, T = check_time(t0, "t0"), check_time(T, "T")
    if t0 >= T:
        raise ValueError(f"t0 must be smaller than T, got t0={t0}, T={T}")
    time_samplers = {"uniform": sample_uniform_time, "log_uniform": sample_log_uniform_time}
    if time_distribution not in time_samplers:
        raise ValueError(f"time_distribution must be one of {sorted(time_samplers)}, got {time_distribution!r}")
    return t0, T, time_samplers[time_distribution]


def train_score_net(net: nn.Module, data: torch.Tensor, *, steps: int, batch_size: int = 256,
                    lr: float = 1e-3, weight_decay: float = 0.0, t0: float = 1e-3, T: float = 1.0,
                    generator: torch.Generator | None = None, loss_weighting: str = "sigma2",
                    time_distribution: str = "uniform",
                    optimizer: torch.optim.Optimizer | None = None, log: TrainingLog | None = None,
                    log_every: int | None = None,
                    callbacks: Iterable[Callable[[int, nn.Module, torch.Tensor], None]] = (),
                    progress: bool | None = None) -> TrainingLog:
    """Train ``net`` (a ``score_fn`` module) by DSM on ``data`` for ``steps`` AdamW steps; return the loss log.

    Each step draws ``batch_size`` training points uniformly with replacement, times
    ``t ~ U[t0, T]`` (``time_distribution="uniform"``) or ``log t ~ U[log t0, log T]``
    (``"log_uniform"``, which trains small times as much as large ones), one per row, and noise ``z``,
    and minimises
    ``mean(lambda(t) * dsm_loss(net, x_i, t))`` with ``lambda(t) = s_t^2`` (``loss_weighting="sigma2"``)
    or ``1`` (``"none"``).

    Args:
        net: module called as ``net(x, t)`` with ``t`` of shape ``(B,)``, returning the score.
        data: training points ``(n, d)`` on the net's device and with its dtype.
        generator: source of all randomness (indices, times, noise), on ``data``'s device.
        optimizer: continue with this optimizer (e.g. restored from a checkpoint); if None, a new
            :func:`make_optimizer` ``(lr, weight_decay)``. ``lr``/``weight_decay`` are then ignored.
        log: continue this :class:`TrainingLog` (its ``step`` counter goes on); a new one if None.
        log_every: steps per logged mean loss (default ``max(1, steps // 200)``).
        callbacks: each called as ``cb(step, net, loss)`` after every optimizer step and after that
            step's loss is logged (EMA, checkpoints).
        progress: show a tqdm bar; default: on unless the profile is ``ci``.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    check_points(data, "data")
    t0, T, time_sampler = _check_schedule(steps, batch_size, t0, T, time_distribution)
    if loss_weighting not in ("sigma2", "none"):
        raise ValueError(f"loss_weighting must be 'sigma2' or 'none', got {loss_weighting!r}")
    param = next(net.parameters(), None)
    if param is not None and (param.device != data.device or param.dtype != data.dtype):
        raise TypeError(f"data ({data.dtype} on {data.device}) must match the net's parameters "
                        f"({param.dtype} on {param.device})")
    if generator is not None and generator.device.type != data.device.type:   # 'cuda' vs 'cuda:0' is fine
        raise ValueError(f"generator is on {generator.device} but data is on {data.device}")
    log_every = max(1, steps // 200) if log_every is None else check_positive_int(log_every, "log_every")
    progress = get_profile() != "ci" if progress is None else bool(progress)
    callbacks = list(callbacks)
    optimizer = make_optimizer(net, lr=lr, weight_decay=weight_decay) if optimizer is None else optimizer
    log = TrainingLog() if log is None else log

    n = data.shape[0]

    def batch_loss() -> torch.Tensor:
        idx = torch.randint(n, (batch_size,), generator=generator, device=data.device)
        t = time_sampler(batch_size, t0, T, generator=generator, device=data.device, dtype=data.dtype)
        per_sample = dsm_loss(net, data[idx], t, generator=generator)
        if loss_weighting == "sigma2":
            per_sample = per_sample * sigma(t) ** 2
        return per_sample.mean()

    return _training_loop(net, optimizer, log, batch_loss, steps=steps, log_every=log_every, callbacks=callbacks,
                          progress=progress, desc="DSM training")


def _training_loop(net: nn.Module, optimizer: torch.optim.Optimizer, log: TrainingLog, batch_loss: Callable,
                   *, steps: int, log_every: int, callbacks: list, progress: bool, desc: str,
                   before_step: Callable[[], None] | None = None) -> TrainingLog:
    """``steps`` optimizer steps on ``batch_loss()``; the mean loss of every ``log_every`` steps goes to ``log``."""
    from tqdm.auto import tqdm  # imported here: only needed when training

    net.train()
    start_time = time.perf_counter()
    window = torch.zeros((), dtype=torch.float64, device=next(net.parameters()).device)
    window_steps = 0
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        loss = batch_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if before_step is not None:
            before_step()
        optimizer.step()
        log.step += 1
        window += loss.detach().double()
        window_steps += 1
        if window_steps == log_every:
            log.steps.append(log.step)
            log.losses.append(window.item() / window_steps)
            window.zero_()
            window_steps = 0
            if progress:
                bar.set_postfix(loss=f"{log.losses[-1]:.4g}")
        for cb in callbacks:            # after logging: a checkpoint callback sees the complete log
            cb(log.step, net, loss.detach())
    if window_steps:
        log.steps.append(log.step)
        log.losses.append(window.item() / window_steps)
    log.wall_time_s += time.perf_counter() - start_time
    net.eval()
    return log


def train_score_stack(stack: ScoreMLPStack, data: torch.Tensor, *, sizes: torch.Tensor | None = None, steps: int,
                      batch_size: int = 256, lr: float = 1e-3, t0: float = 1e-3, T: float = 1.0,
                      generator: torch.Generator | None = None, time_distribution: str = "uniform",
                      optimizer: torch.optim.Optimizer | None = None, log: TrainingLog | None = None,
                      log_every: int | None = None,
                      callbacks: Iterable[Callable[[int, nn.Module, torch.Tensor], None]] = (),
                      progress: bool | None = None) -> TrainingLog:
    """Train the ``G`` members of ``stack``, member ``g`` on ``data[g, :sizes[g]]``, as :func:`train_score_net` does.

    Each step every member draws its own ``batch_size`` training points, times and noise, and the
    members' noise-prediction losses ``mean |z - eps_g(a_t x + s_t z, t)|^2`` (the ``sigma2``-weighted
    DSM loss) are summed, so each member's gradient is that of its own loss; Adam is elementwise, so
    the members train exactly as if apart. Member ``g``'s decoupled weight decay
    ``W <- (1 - lr * stack.weight_decay[g]) W`` is applied to its weight matrices (those
    :func:`make_optimizer` decays) before each step; the optimizer itself must not decay (a
    ``ValueError`` otherwise, e.g. from :func:`memsep_lib.training.train_resumable` with ``weight_decay > 0``).

    Args:
        data: ``(G, n_max, d)`` training sets, padded to the largest ``n``; ``sizes`` ``(G,)`` their
            sizes (default: all ``n_max`` rows).
    """
    if not isinstance(stack, ScoreMLPStack):
        raise TypeError(f"stack must be a ScoreMLPStack, got {type(stack).__name__}")
    G = stack.num_models
    if not isinstance(data, torch.Tensor) or data.ndim != 3 or data.shape[0] != G or data.shape[2] != stack.dim:
        raise ValueError(f"data must have shape ({G}, n, {stack.dim}), got "
                         f"{tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__}")
    check_points(data.reshape(-1, stack.dim), "data")
    sizes = torch.full((G,), data.shape[1]) if sizes is None else torch.as_tensor(sizes)
    if sizes.dtype.is_floating_point or sizes.dtype == torch.bool:
        raise TypeError(f"sizes must hold integers, got dtype {sizes.dtype}")
    if sizes.shape != (G,) or (sizes < 1).any() or (sizes > data.shape[1]).any():
        raise ValueError(f"sizes must hold {G} integers in [1, {data.shape[1]}]")
    t0, T, time_sampler = _check_schedule(steps, batch_size, t0, T, time_distribution)
    param = stack.weights[0]
    if param.device != data.device or param.dtype != data.dtype:
        raise TypeError(f"data ({data.dtype} on {data.device}) must match the stack's parameters "
                        f"({param.dtype} on {param.device})")
    log_every = max(1, steps // 200) if log_every is None else check_positive_int(log_every, "log_every")
    progress = get_profile() != "ci" if progress is None else bool(progress)
    optimizer = make_optimizer(stack, lr=lr) if optimizer is None else optimizer
    if any(group.get("weight_decay", 0.0) for group in optimizer.param_groups):
        raise ValueError("the optimizer must not decay a ScoreMLPStack (it would decay biases too, at one rate "
                         "for all members); per-member decay lives in stack.weight_decay")
    log = TrainingLog() if log is None else log
    sizes = sizes.to(device=data.device, dtype=torch.long)[:, None]
    rows = torch.arange(G, device=data.device)[:, None]
    decays = stack.weight_decay[:, None, None]

    def batch_loss() -> torch.Tensor:
        u = torch.rand(G, batch_size, generator=generator, device=data.device, dtype=data.dtype)
        x0 = data[rows, (u * sizes).long().minimum(sizes - 1)]       # uniform index in [0, n_g)
        t = time_sampler(G * batch_size, t0, T, generator=generator, device=data.device,
                         dtype=data.dtype).view(G, batch_size)
        z = torch.randn(x0.shape, generator=generator, device=data.device, dtype=data.dtype)
        x_t = alpha(t)[..., None] * x0 + sigma(t)[..., None] * z
        return (stack.eps(x_t, t) - z).pow(2).sum(2).mean(1).sum()    # logged: the sum over members

    @torch.no_grad()
    def decay_weights() -> None:
        lr_now = optimizer.param_groups[0]["lr"]
        for w in [*stack.weights, stack.time_weight]:      # the matrices make_optimizer would decay
            w.mul_(1 - lr_now * decays)

    return _training_loop(stack, optimizer, log, batch_loss, steps=steps, log_every=log_every,
                          callbacks=list(callbacks), progress=progress, desc=f"DSM training ({G} nets)",
                          before_step=decay_weights)


@torch.no_grad()
def score_mse(score_fn, reference_fn, x: torch.Tensor, t) -> float:
    """``mean_b |score_fn(x_b, t) - reference_fn(x_b, t)|^2`` over the rows of ``x`` (computed in float64)."""
    check_points(x, "x")
    if not (callable(score_fn) and callable(reference_fn)):
        raise TypeError("score_fn and reference_fn must be callable as f(x, t)")
    a, b = score_fn(x, t), reference_fn(x, t)
    if a.shape != x.shape or b.shape != x.shape:
        raise ValueError(f"both score functions must return tensors of shape {tuple(x.shape)}")
    return ((a.double() - b.double()) ** 2).sum(1).mean().item()


def evaluate_score_net(net: ScoreMLP, data: torch.Tensor, true_score, times, *, num_points: int = 512,
                       generator: torch.Generator | None = None) -> dict[str, list[float]]:
    """Lipschitz constant and distances to the empirical and true scores of a trained net, per time.

    At each ``t``, probe points are ``num_points`` noised training points ``a_t x_i + s_t z`` (drawn
    with ``generator``) plus all pair midpoints ``a_t (x_i + x_j)/2``; ``data`` (float64 advised)
    defines the empirical score. Returns lists (one entry per time) under the keys

    - ``lipschitz``: ``max`` over probes of ``|grad_x s_theta|_2`` (autograd), a lower bound on the
      net's Lipschitz constant; ``lipschitz_bound``: :meth:`ScoreMLP.lipschitz_bound`;
    - ``mse_empirical``, ``mse_true``: ``E |s_theta - s|^2`` over the noised training points for the
      empirical and the true score; ``mse_empirical_true``: ``E |escore - score|^2`` (the
      Fisher-divergence gap between the two targets, same points).
    """
    from .lipschitz import jacobian_fn, local_lipschitz, pair_midpoints
    from .process import add_noise
    from .scores import empirical_score

    if not isinstance(net, ScoreMLP):
        raise TypeError(f"net must be a ScoreMLP, got {type(net).__name__}")
    check_points(data, "data", dim=net.dim)
    check_positive_int(num_points, "num_points")
    param = next(net.parameters())
    net_fn = lambda x, t: net(x.to(param.dtype), t).to(x.dtype)
    emp_fn = lambda x, t: empirical_score(x, t, data)
    out = {k: [] for k in ("times", "lipschitz", "lipschitz_bound", "mse_empirical", "mse_true",
                           "mse_empirical_true")}
    for t in times:
        t = check_time(float(t))
        idx = torch.randint(data.shape[0], (num_points,), generator=generator, device=data.device)
        x, _ = add_noise(data[idx], t, generator=generator)
        probes = torch.cat([x, pair_midpoints(data, t)])
        out["times"].append(t)
        out["lipschitz"].append(local_lipschitz(jacobian_fn(net_fn), probes, t).max().item())
        out["lipschitz_bound"].append(net.lipschitz_bound(t))
        out["mse_empirical"].append(score_mse(net_fn, emp_fn, x, t))
        out["mse_true"].append(score_mse(net_fn, true_score, x, t))
        out["mse_empirical_true"].append(score_mse(emp_fn, true_score, x, t))
    return out
