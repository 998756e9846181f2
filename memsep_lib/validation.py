"""Input checks shared by every public function: clear errors naming the offending argument."""

from __future__ import annotations

import math

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _all_finite(x: torch.Tensor) -> bool:
    """True when no entry is NaN or infinite (min/max propagate both; far cheaper than ``isfinite(x).all()``)."""
    lo, hi = torch.aminmax(x)
    return bool(torch.isfinite(lo) & torch.isfinite(hi))


def check_time(t, name: str = "t") -> float:
    """A diffusion time must be a finite, strictly positive real scalar; return it as a float."""
    if isinstance(t, torch.Tensor):
        if t.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(t.shape)}")
        t = t.item()
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(t).__name__}")
    t = float(t)
    if not math.isfinite(t) or t <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {t}")
    return t


def check_points(x, name: str, *, dim: int | None = None, allow_empty: bool = False) -> torch.Tensor:
    """A batch of points: a floating tensor of shape ``(B, d)`` with finite entries."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, d), got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (B, d), got shape {tuple(x.shape)}")
    if x.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); at least one point is needed")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} must have dimension d={dim}, got shape {tuple(x.shape)}")
    if x.numel() and not _all_finite(x):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def check_compatible(x: torch.Tensor, data: torch.Tensor, x_name: str = "x", data_name: str = "data") -> None:
    """Queries and data must share dimension, dtype and device."""
    if x.shape[1] != data.shape[1]:
        raise ValueError(
            f"{x_name} has dimension {x.shape[1]} but {data_name} has dimension {data.shape[1]}"
        )
    if x.dtype != data.dtype:
        raise TypeError(f"{x_name} has dtype {x.dtype} but {data_name} has dtype {data.dtype}; cast one")
    if x.device != data.device:
        raise ValueError(f"{x_name} is on {x.device} but {data_name} is on {data.device}")


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value
