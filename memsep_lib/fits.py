"""Power-law fits: least squares on ``log y = p log x + c``, the slope ``p`` with its standard error."""

from __future__ import annotations

import math

import numpy as np

from .validation import check_bool

__all__ = ["power_law_fit"]


def _as_floats(values, name: str) -> np.ndarray:
    """A sequence (or array or tensor) of real numbers as a flat float64 array; bools and strings rejected."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    try:
        arr = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a sequence of numbers ({err})") from err
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64).ravel()


def power_law_fit(x, y, *, drop_invalid: bool = False) -> dict:
    """Fit ``log y = p log x + c``: ``{"exponent": p, "stderr": se(p), "intercept": c, "num_points": k}``.

    ``stderr`` is the usual regression standard error (``inf`` with two points). Non-finite or
    non-positive pairs are an error, or are skipped with ``drop_invalid`` (e.g. censored values).
    """
    x, y = _as_floats(x, "x"), _as_floats(y, "y")
    check_bool(drop_invalid, "drop_invalid")
    if x.size != y.size:
        raise ValueError(f"x and y must have the same number of entries, got {x.size} and {y.size}")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if not drop_invalid and not ok.all():
        raise ValueError("x and y must be finite and positive for a log-log fit")
    lx, ly = np.log(x[ok]), np.log(y[ok])
    if len(np.unique(lx)) < 2:
        raise ValueError("at least two distinct x with finite positive y are needed")
    design = np.stack([lx, np.ones_like(lx)], 1)
    coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
    k = lx.size
    if k > 2:
        resid = ly - design @ coef
        se = math.sqrt((resid @ resid) / (k - 2) / np.sum((lx - lx.mean()) ** 2))
    else:
        se = math.inf
    return {"exponent": float(coef[0]), "stderr": se, "intercept": float(coef[1]), "num_points": int(k)}
