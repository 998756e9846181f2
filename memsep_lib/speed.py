"""Speed switches for training on CUDA: bf16 autocast, TF32 matmuls, ``torch.compile`` (flag).

:func:`speed_for` turns them on for a CUDA device only, so CPU runs -- and every CPU number of the
book -- are unchanged. What changes precision and what does not:

- bf16 autocast covers the network's forward (and so its backward): matmuls and attention in bf16
  (8-bit mantissa, relative rounding ``2^-8``). The output is cast back to float32; the DSM loss
  ``|-z/s_t - s_theta(x_t, t)|^2`` (whose terms grow like ``1/s_t^2`` at small ``t``), its mean, the
  gradients' accumulation in the float32 master weights, AdamW's moments and the EMA stay float32.
- TF32 (10-bit mantissa) is switched on only inside :func:`tf32` around a training loop and restored
  after it, so it never reaches the samplers' matmuls or the empirical score (PyTorch's own default
  still lets cuDNN convolutions, e.g. the DiT's patch embedding, use TF32).
- Samplers (:mod:`memsep_lib.sampling`) stay float32 without autocast: the reverse SDE adds
  ``h * score`` over hundreds of steps, and bf16 scores would bias the memorisation metrics. The exact
  empirical score (:mod:`memsep_lib.scores`) keeps its float32 pass and float64 weights: its
  softmax over ``-|x - a_t x_i|^2 / (2 s_t^2)`` amplifies any rounding of the distances by ``1/s_t^2``.
- Fused attention: :class:`memsep_lib.dit.DiT` already calls ``F.scaled_dot_product_attention``,
  which runs the flash / memory-efficient kernel on CUDA for bf16 inputs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from .distributed import DistInfo, wrap_ddp

__all__ = ["Speed", "speed_for", "training_forward", "tf32"]


@dataclass(frozen=True)
class Speed:
    """Which switches a training loop uses: ``bf16`` autocast, ``tf32`` matmuls (both CUDA only), ``compile``."""

    bf16: bool = True
    tf32: bool = True
    compile: bool = False

    def check(self, device: torch.device) -> None:
        """``bf16``/``tf32`` on a non-CUDA device is a ``ValueError`` (CPU numbers must not change)."""
        if (self.bf16 or self.tf32) and torch.device(device).type != "cuda":
            raise ValueError(f"bf16 autocast and TF32 are CUDA-only switches; the device is {device}")


def speed_for(device, *, compile: bool = False) -> Speed | None:
    """All switches on a CUDA ``device``; on others None (or ``torch.compile`` alone when asked)."""
    if not isinstance(compile, bool):
        raise TypeError(f"compile must be a bool, got {type(compile).__name__}")
    if torch.device(device).type == "cuda":
        return Speed(compile=compile)
    return Speed(bf16=False, tf32=False, compile=True) if compile else None


class _Autocast:
    """``fn(x, t)`` under bf16 autocast, its output cast back to ``x``'s dtype."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = self.fn(x, t)
        return out.to(x.dtype)


def training_forward(net: torch.nn.Module, *, dist: DistInfo | None = None, speed: Speed | None = None):
    """The callable a training step calls: ``net`` in DDP (several ranks), then compiled, then under
    autocast, as ``speed`` and ``dist`` ask. Parameters stay ``net``'s: optimizer, EMA and checkpoints use ``net``."""
    forward = net if dist is None else wrap_ddp(net, dist)
    if speed is not None:
        speed.check(next(net.parameters()).device)
        if speed.compile:
            forward = torch.compile(forward)
        if speed.bf16:
            forward = _Autocast(forward)
    return forward


@contextlib.contextmanager
def tf32(enabled: bool = True):
    """TF32 for float32 matmuls and convolutions inside the block; the previous settings after it."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    if enabled:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
