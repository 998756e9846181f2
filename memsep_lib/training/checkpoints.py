"""Exponential moving average and exact checkpoint / resume.

- :class:`EMA`: ``theta_ema <- decay * theta_ema + (1 - decay) * theta`` after each step.
- :func:`save_checkpoint` / :func:`load_checkpoint`: model, optimizer, EMA, the state of the random
  generator and any extra state (loss log, step counter) in one file, written atomically (a temp file of
  its own, then rename), so that an interrupted run resumes exactly where it stopped: a run resumed from
  a checkpoint takes bit-for-bit the same steps as an uninterrupted one on the CPU.
- :func:`train_resumable`: DSM training that checkpoints and resumes.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from ..distributed import DistInfo, barrier
from ..validation import check_positive_int
from .dsm import TrainingLog, make_optimizer, train_score_net

__all__ = ["EMA", "save_checkpoint", "load_checkpoint", "train_resumable"]


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
    """Write everything needed to resume into ``path`` (atomically); ``extra`` holds e.g. ``step``, ``log``.

    Saved: the model's, optimizer's and EMA's state dicts, the generator's and torch's RNG states. Returns ``path``.
    """
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")   # a temp file of its own
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | Path, *, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    ema: EMA | None = None, generator: torch.Generator | None = None) -> dict:
    """Restore what :func:`save_checkpoint` wrote into the given objects; return the ``extra`` dict."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:   # torch raises zip / pickle / EOF errors of many kinds for a damaged file
        raise ValueError(f"checkpoint {path} is unreadable (truncated or corrupt?): {err}; delete it to restart "
                         f"this stage") from err
    if not isinstance(state, dict) or not {"model", "optimizer", "ema", "generator", "torch_rng", "extra"} <= set(state):
        raise ValueError(f"{path} is not a memsep checkpoint (fields missing)")
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
    """DSM training (:func:`~memsep_lib.training.train_score_net`) that checkpoints and resumes exactly.

    Trains ``net`` until ``steps`` optimizer steps in total. If ``checkpoint_path`` exists, model,
    optimizer, EMA, generator and loss log are restored from it first and training continues from
    its step; a checkpoint is written every ``checkpoint_every`` steps and at the end.
    With ``dist`` (several ranks, passed on to ``train_fn``) rank 0 writes the checkpoints and every rank
    resumes from the same file, behind a barrier.

    Args:
        net: the score network, trained in place.
        data: its training data (as ``train_fn`` takes it).
        steps: optimizer steps in total (those already in the checkpoint included).
        generator: source of all randomness; its state is checkpointed.
        checkpoint_path: the checkpoint file (None: no checkpoints).
        checkpoint_every: steps between checkpoints.
        ema_decay: keep an :class:`EMA` of the weights with this decay (None: no EMA).
        lr, weight_decay: the AdamW optimizer's (:func:`~memsep_lib.training.make_optimizer`).
        log_every: steps per logged loss; must divide ``checkpoint_every`` (a checkpoint never falls
            inside a logging window).
        callbacks: called as ``cb(step, net, loss)`` after every step, after the EMA update.
        train_fn: the training loop, :func:`~memsep_lib.training.train_score_net` (default) or
            :func:`~memsep_lib.training.train_score_stack`; it receives ``train_kwargs``.
        dist: several ranks (:class:`memsep_lib.distributed.DistInfo`).

    Returns:
        tuple: ``(log, ema)``, the :class:`~memsep_lib.training.TrainingLog` and the :class:`EMA` (None without
        ``ema_decay``).
    """
    train_fn = train_score_net if train_fn is None else train_fn
    check_positive_int(steps, "steps")
    check_positive_int(checkpoint_every, "checkpoint_every")
    check_positive_int(log_every, "log_every")
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
