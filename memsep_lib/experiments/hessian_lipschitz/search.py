"""Chapter 5, part 2: the largest local Lipschitz constants of the empirical (and true) score, across times."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from memsep_lib.lipschitz import MatrixFn, local_lipschitz, maximize_local_lipschitz
from memsep_lib.process import alpha, sigma
from memsep_lib.progress import progress_bar
from memsep_lib.validation import check_points, check_positive_int, check_time

from .theory import empirical_hessian_fn, empirical_lipschitz_scale, pair_midpoints

__all__ = ["LipschitzSweep", "lipschitz_vs_time"]


@dataclass(frozen=True)
class LipschitzSweep:
    """Lipschitz constants across times (all tensors of shape ``(len(times),)``, float64, CPU).

    - ``closest_midpoint``: the empirical score's local constant at the midpoint of the closest pair;
    - ``empirical_max``: the largest local constant found by ``maximize_local_lipschitz`` from all
      pair midpoints and noised training points;
    - ``reference``: ``s_t^-4 min_{i != j} |x_i - x_j|^2``;
    - ``true_max``: the same search on the true score (NaN when no true Hessian was given).
    """

    times: torch.Tensor
    s: torch.Tensor
    closest_midpoint: torch.Tensor
    empirical_max: torch.Tensor
    reference: torch.Tensor
    true_max: torch.Tensor


def lipschitz_vs_time(data: torch.Tensor, times, *, true_hessian: MatrixFn | None = None,
                      true_starts: torch.Tensor | None = None, num_restarts: int = 32, steps: int = 40,
                      num_carried: int = 32, true_step_size: float = 0.1,
                      generator: torch.Generator | None = None, progress: bool = False) -> LipschitzSweep:
    """Empirical (and, optionally, true) score Lipschitz constants at each time in ``times``.

    Empirical search starts: the midpoints ``a_t (x_i + x_j)/2`` of all pairs, ``num_restarts``
    noised training points ``a_t x_i + s_t z``, and (continuation) the ``num_carried`` best points
    found at the next larger time, rescaled by the ratio of the ``a_t``. Times are searched from
    the largest down: at small ``t`` the weights away from a Voronoi boundary underflow and the
    gradient vanishes, while at a larger ``t`` the ascent can still reach the boundary between
    two far-apart neighbours, where the steepest points lie. True-score search starts:
    ``a_t y + s_t z`` for the rows ``y`` of ``true_starts`` (data-space points, e.g. samples of
    ``P_0`` and midpoints of component means), with initial step ``true_step_size``.
    """
    check_points(data, "data")
    check_positive_int(num_restarts, "num_restarts")
    if isinstance(num_carried, bool) or not isinstance(num_carried, int) or num_carried < 0:
        raise ValueError(f"num_carried must be an int >= 0, got {num_carried!r}")
    times = [check_time(float(t)) for t in times]
    if not times:
        raise ValueError("times must contain at least one time")
    if true_hessian is not None:
        if true_starts is None:
            raise ValueError("true_starts is required with true_hessian")
        check_points(true_starts, "true_starts", dim=data.shape[1])
    hess = empirical_hessian_fn(data)
    n, d = data.shape
    device, dtype = data.device, data.dtype
    keys = ("closest_midpoint", "empirical_max", "reference", "true_max")
    rows = {k: [math.nan] * len(times) for k in keys}
    carried = data[:0]                                      # data-space points (x / a_t) carried over
    order = sorted(range(len(times)), key=lambda k: -times[k])
    for k in progress_bar(order, enabled=progress, desc="Lipschitz search"):
        t = times[k]
        a, s = alpha(t), sigma(t)
        mids = pair_midpoints(data, t)                      # sorted: the closest pair first
        idx = torch.randint(n, (num_restarts,), generator=generator, device=device)
        z = torch.randn(num_restarts, d, generator=generator, device=device, dtype=dtype)
        starts = torch.cat([mids, a * data[idx] + s * z, a * carried])
        search = maximize_local_lipschitz(hess, starts, t, steps=steps)
        if num_carried:
            best = torch.argsort(search.values, descending=True)[:num_carried]
            carried = search.points[best] / a
        rows["closest_midpoint"][k] = local_lipschitz(hess, mids[:1], t).item()
        rows["empirical_max"][k] = search.value
        rows["reference"][k] = empirical_lipschitz_scale(data, t)
        if true_hessian is not None:
            zt = torch.randn(true_starts.shape, generator=generator, device=device, dtype=dtype)
            tstarts = a * true_starts.to(device, dtype) + s * zt
            rows["true_max"][k] = maximize_local_lipschitz(true_hessian, tstarts, t, steps=steps,
                                                           step_size=true_step_size).value

    def as_tensor(values):
        return torch.tensor(values, dtype=torch.float64)

    return LipschitzSweep(times=as_tensor(times), s=as_tensor([sigma(t) for t in times]),
                          **{k: as_tensor(v) for k, v in rows.items()})
