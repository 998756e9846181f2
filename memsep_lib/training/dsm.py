"""DSM training of score networks.

:func:`train_score_net` minimises ``E_{t ~ U[t0, T], i, z} lambda(t) | -z/s_t - s_theta(a_t x_i + s_t z, t) |^2``
with AdamW (``lambda(t) = s_t^2``, the noise-prediction MSE ``|z - eps_theta|^2``, or ``1``);
:func:`train_score_stack` does the same for the ``G`` members of a :class:`~memsep_lib.nets.ScoreMLPStack`.
A loss that stops being finite stops training with an error naming the step.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

from ..distributed import DistInfo, all_reduce_mean, batch_rows
from ..losses import dsm_loss
from ..nets import ScoreMLPStack
from ..process import alpha, sample_log_uniform_time, sample_uniform_time, sigma
from ..speed import Speed, tf32, training_forward
from ..validation import check_points, check_positive_int, check_time

__all__ = ["TrainingLog", "make_optimizer", "train_score_net", "train_score_stack"]


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
        steps: optimizer steps to take.
        batch_size: training points per step (with replacement).
        lr, weight_decay: AdamW's learning rate and decoupled weight decay (weight matrices only).
        t0, T: the training times' range ``[t0, T]``, ``0 < t0 < T``.
        generator: source of all randomness (indices, times, noise), on ``data``'s device.
        loss_weighting: ``"sigma2"`` (``lambda(t) = s_t^2``) or ``"none"`` (``lambda(t) = 1``).
        time_distribution: ``"uniform"`` or ``"log_uniform"``.
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

    Returns:
        TrainingLog: ``log`` itself when given, its ``step`` advanced by ``steps``.
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
        if not torch.isfinite(loss.detach()):   # stop before the step: parameters and checkpoints stay intact
            raise FloatingPointError(f"training diverged: the loss is {loss.item()} at step {log.step + 1} "
                                     f"(lr {optimizer.param_groups[0]['lr']}); lower the learning rate")
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
        stack: the :class:`~memsep_lib.nets.ScoreMLPStack` trained in place.
        data: ``(G, n_max, d)`` training sets, padded to the largest ``n``, of the stack's dtype and device.
        sizes: ``(G,)`` the training sets' sizes (default: all ``n_max`` rows).
        steps, batch_size, lr, t0, T: as for :func:`train_score_net` (``batch_size`` points per member).
        generator, time_distribution, optimizer, log, log_every, callbacks, progress: as for
            :func:`train_score_net`.

    Returns:
        TrainingLog: the log of the summed loss.
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
