"""Every training loop of the library, with EMA and exact checkpoint/resume.

- :func:`train_score_net`: DSM training of one score network,
  ``E_{t ~ U[t0, T], i, z} lambda(t) | -z/s_t - s_theta(a_t x_i + s_t z, t) |^2`` with AdamW
  (``lambda(t) = s_t^2``, the noise-prediction MSE ``|z - eps_theta|^2``, or ``1``);
  :func:`train_score_stack`: the same for the ``G`` members of a :class:`~memsep_lib.nets.ScoreMLPStack`.
- :class:`EMA`: ``theta_ema <- decay * theta_ema + (1 - decay) * theta`` after each step.
- :func:`save_checkpoint` / :func:`load_checkpoint`: model, optimizer, EMA, the state of the
  random generator and any extra state (loss log, step counter) in one file, written atomically
  (temp file, then rename), so that an interrupted run resumes exactly where it stopped: a run
  resumed from a checkpoint takes bit-for-bit the same steps as an uninterrupted one on the CPU.
- :func:`fit_batched`: MSE regression of the ``G`` models of a :class:`~memsep_lib.nets.BatchedMLP` at once.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

import torch
from torch import nn

from .distributed import DistInfo, all_reduce_mean, barrier, batch_rows
from .losses import dsm_loss
from .nets import BatchedMLP, ScoreMLPStack
from .progress import progress_bar
from .process import alpha, sample_log_uniform_time, sample_uniform_time, sigma
from .speed import Speed, tf32, training_forward
from .validation import check_points, check_positive_int, check_time

__all__ = ["TrainingLog", "make_optimizer", "train_score_net", "train_score_stack", "EMA", "save_checkpoint",
           "load_checkpoint", "train_resumable", "FitResult", "fit_batched"]


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
                    progress: bool = False, dist: DistInfo | None = None, speed: Speed | None = None) -> TrainingLog:
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
        progress: show a tqdm bar.
        dist: several ranks (:mod:`memsep_lib.distributed`): ``net`` in DDP, ``batch_size`` the global batch.
            Every rank draws the global batch's indices, times and noise from ``generator`` (the same
            seed on every rank) and trains on its rows ``[r B/R, (r+1) B/R)``; DDP averages the gradients,
            so a step equals one process's on the global batch. The log holds the mean over ranks.
        speed: CUDA switches (:mod:`memsep_lib.speed`): bf16 autocast forward, TF32, ``torch.compile``.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    if dist is not None and not isinstance(dist, DistInfo):
        raise TypeError(f"dist must be a memsep_lib.distributed.DistInfo or None, got {type(dist).__name__}")
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
    progress = bool(progress)
    callbacks = list(callbacks)
    optimizer = make_optimizer(net, lr=lr, weight_decay=weight_decay) if optimizer is None else optimizer
    log = TrainingLog() if log is None else log

    n = data.shape[0]
    rows = slice(None) if dist is None else batch_rows(batch_size, dist)       # this rank's rows
    forward = net if dist is None and speed is None else training_forward(net, dist=dist, speed=speed)

    def batch_loss() -> torch.Tensor:
        idx = torch.randint(n, (batch_size,), generator=generator, device=data.device)
        t = time_sampler(batch_size, t0, T, generator=generator, device=data.device, dtype=data.dtype)
        x0 = data[idx]
        z = torch.randn(x0.shape, generator=generator, device=data.device, dtype=data.dtype)  # as dsm_loss would
        t, x0, z = t[rows], x0[rows], z[rows]
        per_sample = dsm_loss(forward, x0, t, noise=z)
        if loss_weighting == "sigma2":
            per_sample = per_sample * sigma(t) ** 2
        return per_sample.mean()

    average = None if dist is None else (lambda window: all_reduce_mean(window, dist))
    with tf32(speed is not None and speed.tf32):
        return _training_loop(net, optimizer, log, batch_loss, steps=steps, log_every=log_every, callbacks=callbacks,
                              progress=progress, desc="DSM training", average=average)


def _training_loop(net: nn.Module, optimizer: torch.optim.Optimizer, log: TrainingLog, batch_loss: Callable,
                   *, steps: int, log_every: int, callbacks: list, progress: bool, desc: str,
                   before_step: Callable[[], None] | None = None, average: Callable | None = None) -> TrainingLog:
    """``steps`` optimizer steps on ``batch_loss()``; the mean loss of every ``log_every`` steps goes to ``log``
    (``average``: the mean of a logging window over ranks)."""
    average = (lambda window: window) if average is None else average
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
            log.losses.append(average(window).item() / window_steps)
            window.zero_()
            window_steps = 0
            if progress:
                bar.set_postfix(loss=f"{log.losses[-1]:.4g}")
        for cb in callbacks:            # after logging: a checkpoint callback sees the complete log
            cb(log.step, net, loss.detach())
    if window_steps:
        log.steps.append(log.step)
        log.losses.append(average(window).item() / window_steps)
    log.wall_time_s += time.perf_counter() - start_time
    net.eval()
    return log


def train_score_stack(stack: ScoreMLPStack, data: torch.Tensor, *, sizes: torch.Tensor | None = None, steps: int,
                      batch_size: int = 256, lr: float = 1e-3, t0: float = 1e-3, T: float = 1.0,
                      generator: torch.Generator | None = None, time_distribution: str = "uniform",
                      optimizer: torch.optim.Optimizer | None = None, log: TrainingLog | None = None,
                      log_every: int | None = None,
                      callbacks: Iterable[Callable[[int, nn.Module, torch.Tensor], None]] = (),
                      progress: bool = False) -> TrainingLog:
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
    progress = bool(progress)
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



class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        ema_state = self.model.state_dict()
        for name, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                ema_state[name].lerp_(value.detach(), 1.0 - self.decay)
            else:
                ema_state[name].copy_(value)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.decay = state["decay"]
        self.model.load_state_dict(state["model"])


def save_checkpoint(path: str | Path, *, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    ema: EMA | None = None, generator: torch.Generator | None = None, **extra) -> Path:
    """Write everything needed to resume into ``path`` (atomically); ``extra`` holds e.g. ``step``, ``log``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "ema": None if ema is None else ema.state_dict(),
        "generator": None if generator is None else generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "extra": extra,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, *, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    ema: EMA | None = None, generator: torch.Generator | None = None) -> dict:
    """Restore what :func:`save_checkpoint` wrote into the given objects; return the ``extra`` dict."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        if state["optimizer"] is None:
            raise ValueError(f"{path} holds no optimizer state")
        optimizer.load_state_dict(state["optimizer"])
    if ema is not None:
        if state["ema"] is None:
            raise ValueError(f"{path} holds no EMA state")
        ema.load_state_dict(state["ema"])
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    return state["extra"]


def train_resumable(net: nn.Module, data: torch.Tensor, *, steps: int, generator: torch.Generator,
                    checkpoint_path: str | Path | None = None, checkpoint_every: int = 500,
                    ema_decay: float | None = None, lr: float = 1e-3, weight_decay: float = 0.0,
                    log_every: int = 50, callbacks=(), train_fn=None, dist: DistInfo | None = None, **train_kwargs):
    """DSM training (:func:`train_score_net`) that checkpoints and resumes exactly.

    Trains ``net`` until ``steps`` optimizer steps in total. If ``checkpoint_path`` exists, model,
    optimizer, EMA, generator and loss log are restored from it first and training continues from
    its step; a checkpoint is written every ``checkpoint_every`` steps and at the end. ``train_fn``
    (default :func:`train_score_net`; or :func:`train_score_stack`)
    does the training and receives ``train_kwargs``. The loss is
    logged every ``log_every`` steps, which must divide ``checkpoint_every`` so that a checkpoint
    never falls inside a logging window. Returns ``(log, ema)`` (``ema`` is None without ``ema_decay``).
    With ``dist`` (several ranks, passed on to ``train_fn``) rank 0 writes the checkpoints and every rank
    resumes from the same file, behind a barrier.
    """
    train_fn = train_score_net if train_fn is None else train_fn
    if checkpoint_every % log_every:
        raise ValueError(f"log_every={log_every} must divide checkpoint_every={checkpoint_every}")

    optimizer = make_optimizer(net, lr=lr, weight_decay=weight_decay)
    ema = None if ema_decay is None else EMA(net, ema_decay)
    log = TrainingLog()
    if dist is not None:
        barrier(dist)                   # rank 0's last checkpoint is on disk before anyone looks
        train_kwargs["dist"] = dist
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        extra = load_checkpoint(checkpoint_path, model=net, optimizer=optimizer, ema=ema, generator=generator)
        log = TrainingLog.from_state_dict(extra["log"])

    def save(step: int | None = None, *_):
        if checkpoint_path is not None and (step is None or step % checkpoint_every == 0) and (
                dist is None or dist.is_main):
            save_checkpoint(checkpoint_path, model=net, optimizer=optimizer, ema=ema, generator=generator,
                            log=log.state_dict())

    hooks = ([lambda step, model, loss: ema.update(model)] if ema is not None else []) + list(callbacks) + [save]
    if log.step < steps:
        train_fn(net, data, steps=steps - log.step, optimizer=optimizer, log=log, generator=generator,
                        log_every=log_every, callbacks=hooks, **train_kwargs)
        save()
    if dist is not None:
        barrier(dist)
    return log, ema


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
    validation error (:meth:`BatchedMLP.relative_error` against ``val_reference``, default ``y_val``) is
    measured; a model not improved by a factor ``1 - min_delta`` for ``patience`` evaluations has its
    learning rate multiplied by ``lr_decay`` (at most ``num_decays`` times), then stops. Each model ends at
    its best validation checkpoint (the start included).
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
