"""Input checks shared by every public function: clear errors naming the offending argument.

Numbers: a real scalar is a Python ``int``/``float``, a NumPy scalar (``np.float32``, ``np.int64``, ...),
or a one-element tensor or array; ``bool`` and strings are rejected (``True`` is not ``1.0``).

Dtypes: the closed-form references (:class:`~memsep_lib.mixtures.GaussianMixture`, the empirical score
of float64 data) compute in float64 by default, the networks in float32. A function that calls a
``score_fn`` gives it points in one dtype (its ``dtype`` argument, or its data's); when ``score_fn``
fails on them and the model behind it (:func:`model_dtype`) has another dtype, the error names both.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np
import torch

__all__ = ["FLOAT_DTYPES", "check_real", "check_float_dtype", "smallest_time", "check_time", "check_points",
           "check_compatible", "check_positive_int", "check_bool", "check_device", "check_generator",
           "check_score_output", "model_dtype", "call_score_fn"]

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _all_finite(x: torch.Tensor) -> bool:
    """True when no entry is NaN or infinite (min/max propagate both; far cheaper than ``isfinite(x).all()``)."""
    lo, hi = torch.aminmax(x)
    return bool(torch.isfinite(lo) & torch.isfinite(hi))


def _as_scalar(value, name: str):
    """A one-element tensor or array, or a NumPy scalar, as the Python scalar it holds; anything else as is."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        return value.item()
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"{name} must be a scalar, got an array of shape {value.shape}")
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _real_scalar(value, name: str) -> float:
    """A real scalar (not a bool, not a string) as a float; an int beyond the float range becomes +-inf."""
    value = _as_scalar(value, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def check_real(value, name: str, *, positive: bool = False, finite: bool = True) -> float:
    """A real scalar (not a bool, not a string), finite if ``finite``, ``> 0`` if ``positive``; as a float."""
    value = _real_scalar(value, name)
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_float_dtype(dtype, name: str = "dtype", allowed: tuple = FLOAT_DTYPES) -> torch.dtype:
    """A torch floating dtype among ``allowed``."""
    if dtype not in allowed:
        names = ", ".join(str(d).replace("torch.", "") for d in allowed)
        raise TypeError(f"{name} must be one of the floating dtypes {names}, got {dtype}")
    return dtype


@functools.lru_cache(maxsize=None)
def _time_bound(dtype: torch.dtype) -> float:
    """Smallest ``s_t^2`` usable in ``dtype``: a normal number whose reciprocal is finite."""
    info = torch.finfo(dtype)
    return max(info.tiny, 1.0 / info.max)


def smallest_time(dtype: torch.dtype = torch.float64) -> float:
    """The smallest diffusion time ``t`` for which ``1 / s_t^2`` is finite (and ``s_t^2`` normal) in ``dtype``."""
    bound = _time_bound(check_float_dtype(dtype))
    t = -math.log1p(-bound)
    while -math.expm1(-t) < bound:
        t = math.nextafter(t, math.inf)
    return t


def _shown_up(x: float) -> str:
    """``x`` with few digits, rounded up (so that the number shown is itself usable)."""
    for digits in range(3, 18):
        text = f"{x:.{digits}g}"
        if float(text) >= x:
            return text
    return repr(x)


def check_time(t, name: str = "t", *, dtype: torch.dtype | None = None) -> float:
    """A diffusion time: a finite, strictly positive real scalar; return it as a float.

    Accepts Python and NumPy numbers and one-element tensors/arrays. With ``dtype`` (default float64,
    the precision of a Python float) ``t`` must also be large enough that ``1 / s_t^2`` does not
    overflow that dtype; the error says the smallest usable ``t``.
    """
    value = _real_scalar(t, name)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    dtype = torch.float64 if dtype is None else check_float_dtype(dtype)
    if -math.expm1(-value) < _time_bound(dtype):
        raise ValueError(f"{name}={value!r} is too small for {str(dtype).replace('torch.', '')}: 1/s_t^2 "
                         f"overflows it; the smallest usable {name} is {_shown_up(smallest_time(dtype))}")
    return value


def check_points(x, name: str, *, dim: int | None = None, allow_empty: bool = False) -> torch.Tensor:
    """A batch of points: a floating tensor of shape ``(B, d)``, ``d >= 1``, with finite entries."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, d), got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (B, d), got shape {tuple(x.shape)}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} has dimension d=0 (shape {tuple(x.shape)}); d >= 1 is needed")
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
    """A positive integer (Python or NumPy; not a bool, float or string); returned as an ``int``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def check_bool(value, name: str) -> bool:
    """A flag: ``True``/``False`` (or a NumPy bool), not a number or a string."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def check_device(device, name: str = "device") -> torch.device:
    """``device`` as a ``torch.device`` that exists on this machine (``None``: the default device).

    A malformed name, a CUDA index beyond the devices present, or a backend this machine lacks
    (``mps`` off Apple silicon, ``meta``, ...) is a ValueError naming ``name``.
    """
    if device is None:
        return torch.get_default_device()
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"{name} must be a torch.device or a string such as 'cpu', got {type(device).__name__}")
    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"{name}={str(device)!r} is not a valid torch device") from err
    if parsed.type == "cpu":
        return parsed
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name}={str(device)!r} but CUDA is not available on this machine")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"{name}={str(device)!r} but this machine has {torch.cuda.device_count()} "
                             "CUDA device(s)")
        return parsed
    if parsed.type == "mps":
        available = torch.backends.mps.is_available()
    else:
        backend = getattr(torch, parsed.type, None)
        available = bool(getattr(backend, "is_available", lambda: False)())
    if not available:
        raise ValueError(f"{name}={str(device)!r} but {parsed.type} is not available on this machine "
                         "(use cpu or cuda)")
    return parsed


def check_generator(generator, device=None, name: str = "generator") -> None:
    """``None`` or a ``torch.Generator``, on the device type the draws are made on (when ``device`` is given)."""
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(generator).__name__}")
    if device is not None and generator.device.type != torch.device(device).type:
        raise ValueError(f"{name} is on {generator.device} but the draws are made on {device}; "
                         f"create it there, e.g. torch.Generator(device={str(device)!r})")


def check_score_output(out, x: torch.Tensor, *, t=None, name: str = "score_fn", finite: bool = True,
                       dtype_arg: str | None = None) -> torch.Tensor:
    """What ``score_fn(x, t)`` returned: a tensor of exactly ``x``'s shape, dtype and device (finite if asked).

    ``dtype_arg``: the caller's argument that set ``x``'s dtype (e.g. ``"dtype"``), named in a dtype error.
    """
    at = "" if t is None or isinstance(t, torch.Tensor) else f" at t={t:g}"
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"{name} must return a tensor of shape {tuple(x.shape)}, got {type(out).__name__}")
    if out.shape != x.shape:
        raise ValueError(f"{name} must return a tensor of shape {tuple(x.shape)}, got {tuple(out.shape)}{at}")
    if out.dtype != x.dtype:
        source = f" ({dtype_arg} sets the input's dtype)" if dtype_arg else ""
        raise TypeError(f"{name} must return the dtype of its input {x.dtype}, got {out.dtype}{at}{source}")
    if out.device != x.device:
        raise ValueError(f"{name} must return a tensor on {x.device} (its input's device), got {out.device}")
    if finite and out.numel() and not _all_finite(out):
        raise ValueError(f"{name} returned NaN or infinite values{at}")
    return out


def _model_of(score_fn):
    """The object behind ``score_fn``: the instance of a bound method, else ``score_fn`` itself."""
    return getattr(score_fn, "__self__", score_fn)


def model_dtype(score_fn) -> torch.dtype | None:
    """The floating dtype of the model behind ``score_fn``, or None when it cannot be seen.

    A ``torch.nn.Module`` (or a method of one): the dtype of its first floating parameter or buffer.
    An object with a floating ``dtype`` attribute (or a method of one, e.g. ``GaussianMixture.score``):
    that dtype. A plain function or lambda: None.
    """
    model = _model_of(score_fn)
    if isinstance(model, torch.nn.Module):
        tensors = [*model.parameters(), *model.buffers()]
        return next((p.dtype for p in tensors if p.is_floating_point()), None)
    dtype = getattr(model, "dtype", None)
    return dtype if isinstance(dtype, torch.dtype) and dtype.is_floating_point else None


def call_score_fn(score_fn, x: torch.Tensor, t, *, dtype_arg: str, dim_arg: str | None = None,
                  name: str = "score_fn", finite: bool = True) -> torch.Tensor:
    """``score_fn(x, t)``, its output checked by :func:`check_score_output`.

    If the call itself fails and the model behind ``score_fn`` has another dtype than ``x``
    (:func:`model_dtype`), or another dimension (an integer ``dim`` attribute), the error is a
    ``TypeError`` (``ValueError``) naming ``dtype_arg`` (``dim_arg``), the caller's argument that set
    ``x``'s dtype (dimension), and ``name``; the original error is chained.
    """
    if not callable(score_fn):
        raise TypeError(f"{name} must be callable as {name}(x, t), got {type(score_fn).__name__}")
    try:
        out = score_fn(x, t)
    except (TypeError, ValueError, RuntimeError) as err:
        model, dim = model_dtype(score_fn), getattr(_model_of(score_fn), "dim", None)
        if model is not None and model != x.dtype:
            raise TypeError(f"{name} computes in {model} (its model's dtype) but {dtype_arg} gives it "
                            f"{x.dtype} points; make them agree (e.g. {dtype_arg} in {model}, or the model "
                            f"converted with .to(dtype={x.dtype}))") from err
        if dim_arg is not None and isinstance(dim, int) and not isinstance(dim, bool) and dim != x.shape[1]:
            raise ValueError(f"{name}'s model has dimension {dim} but {dim_arg} gives it points of dimension "
                             f"{x.shape[1]}") from err
        raise
    return check_score_output(out, x, t=t, name=name, finite=finite, dtype_arg=dtype_arg)
