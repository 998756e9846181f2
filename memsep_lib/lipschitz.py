"""Local Lipschitz constants of score functions, and why the empirical score's blows up as ``t -> 0``.

The local Lipschitz constant of a score ``s(., t)`` at ``x`` is the spectral norm of its Jacobian,
``L(x) = |grad s(x)|_2``; for a true score ``s = grad log p_t`` the Jacobian is the (symmetric)
Hessian and ``L(x) = max_k |lambda_k(grad^2 log p_t(x))|``. Every noised law satisfies

    grad^2 log p_t(x) = -I / s_t^2 + (a_t^2 / s_t^4) Cov[X_0 | X_t = x],

so the Hessian eigenvalues lie in ``[-1/s_t^2, -1/s_t^2 + (a_t^2/s_t^4) lambda_max(Cov)]``.

- Empirical law ``P^_t``: at the midpoint ``a_t (x_i + x_j)/2`` of two training points with no third
  point nearby, ``Cov = (x_i - x_j)(x_i - x_j)^T / 4``, hence the local constant
  ``a_t^2 |x_i - x_j|^2 / (4 s_t^4) - 1/s_t^2`` (:func:`two_point_midpoint_lipschitz`): the
  empirical score's Lipschitz constant is ``Omega(s_t^-4 min_{i != j} |x_i - x_j|^2)``.
- Gaussian ``N(mu, Sigma)``: ``grad^2 log p_t = -(a_t^2 Sigma + s_t^2 I)^-1``, with norm
  ``1 / (s_t^2 + a_t^2 lambda_min(Sigma))`` (:func:`gaussian_lipschitz`), bounded as ``t -> 0``.

:func:`maximize_local_lipschitz` searches for the largest local constant from many starting
points (monotone normalised gradient ascent on ``lambda_max`` of the Hessian or on ``L(x)``,
with a per-start adaptive step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .mixtures import GaussianMixture
from .process import alpha, sigma
from .scores import empirical_score_hessian
from .validation import check_points, check_positive_int, check_time

MatrixFn = Callable[[torch.Tensor, float], torch.Tensor]   # (B, d), t -> (B, d, d)
ScoreFn = Callable[[torch.Tensor, float], torch.Tensor]    # (B, d), t -> (B, d)

__all__ = [
    "autograd_jacobian",
    "spectral_norm",
    "local_lipschitz",
    "empirical_hessian_fn",
    "jacobian_fn",
    "closest_pairs",
    "pair_midpoints",
    "two_point_midpoint_lipschitz",
    "empirical_lipschitz_scale",
    "gaussian_lipschitz",
    "hessian_eigenvalues_on_segment",
    "LipschitzSearch",
    "maximize_local_lipschitz",
    "mixture_posterior_cov",
    "LipschitzSweep",
    "lipschitz_vs_time",
]


def _check_matrix_batch(m, name: str, d: int) -> torch.Tensor:
    if not isinstance(m, torch.Tensor) or m.ndim != 3 or m.shape[1:] != (d, d):
        shape = tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
        raise ValueError(f"{name} must return a tensor of shape (B, {d}, {d}), got {shape}")
    return m


def autograd_jacobian(score_fn: ScoreFn, x: torch.Tensor, t, *, create_graph: bool = False) -> torch.Tensor:
    """Jacobian ``J[b, k, j] = d s_k(x_b, t) / d x_{b, j}`` of a row-wise score by autograd, shape ``(B, d, d)``.

    Uses one backward pass per output coordinate on ``sum_b s_k(x_b)``, which is exact because a
    score function acts on each row of ``x`` separately.
    """
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable as score_fn(x, t), got {type(score_fn).__name__}")
    check_points(x, "x")
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        out = score_fn(xr, t)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            raise ValueError(f"score_fn must return a tensor of shape {tuple(x.shape)}")
        rows = [torch.autograd.grad(out[:, k].sum(), xr, retain_graph=True, create_graph=create_graph)[0]
                for k in range(x.shape[1])]
    return torch.stack(rows, dim=1)


def spectral_norm(m: torch.Tensor) -> torch.Tensor:
    """``|M_b|_2`` (largest singular value; ``max_k |lambda_k|`` for symmetric ``M_b``) of a ``(B, d, d)`` batch."""
    if not isinstance(m, torch.Tensor) or m.ndim != 3 or m.shape[1] != m.shape[2]:
        raise ValueError(f"m must be a tensor of shape (B, d, d), got "
                         f"{tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__}")
    return torch.linalg.matrix_norm(m, ord=2)


def local_lipschitz(matrix_fn: MatrixFn, x: torch.Tensor, t) -> torch.Tensor:
    """Local Lipschitz constants ``L(x_b) = |matrix_fn(x, t)_b|_2``, shape ``(B,)``.

    ``matrix_fn`` returns the Jacobian of the score (for a true score, the Hessian of ``log p_t``),
    e.g. :func:`empirical_hessian_fn`, ``GaussianMixture.hessian`` or :func:`jacobian_fn`.
    """
    if not callable(matrix_fn):
        raise TypeError(f"matrix_fn must be callable as matrix_fn(x, t), got {type(matrix_fn).__name__}")
    check_points(x, "x")
    return spectral_norm(_check_matrix_batch(matrix_fn(x, t), "matrix_fn", x.shape[1]))


def empirical_hessian_fn(data: torch.Tensor) -> MatrixFn:
    """``(x, t) -> grad^2 log p^_t(x)`` for the training set ``data`` (the empirical score's Jacobian)."""
    check_points(data, "data")
    return lambda x, t: empirical_score_hessian(x, t, data)


def jacobian_fn(score_fn: ScoreFn, *, create_graph: bool = False) -> MatrixFn:
    """``(x, t) -> d score_fn(x, t) / dx`` by autograd (for networks, whose Jacobian has no closed form)."""
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable, got {type(score_fn).__name__}")
    return lambda x, t: autograd_jacobian(score_fn, x, t, create_graph=create_graph)


def closest_pairs(data: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``k`` closest pairs ``i < j`` of ``data`` (all pairs if None), sorted by distance.

    Returns ``(i, j, dist)``, each of shape ``(k,)``, ``dist = |x_i - x_j|``.
    """
    check_points(data, "data")
    n = data.shape[0]
    if n < 2:
        raise ValueError("data must contain at least two rows")
    ii, jj = torch.triu_indices(n, n, offset=1, device=data.device)
    dist = torch.linalg.vector_norm(data[ii] - data[jj], dim=1)
    num = ii.numel() if k is None else min(check_positive_int(k, "k"), ii.numel())
    order = torch.argsort(dist)[:num]
    return ii[order], jj[order], dist[order]


def pair_midpoints(data: torch.Tensor, t, k: int | None = None) -> torch.Tensor:
    """Midpoints ``a_t (x_i + x_j) / 2`` of the ``k`` closest pairs (all pairs if None), shape ``(k, d)``."""
    t = check_time(t)
    i, j, _ = closest_pairs(data, k)
    return alpha(t) * 0.5 * (data[i] + data[j])


def two_point_midpoint_lipschitz(distance, t):
    """Local constant at the midpoint of an isolated pair at distance ``D``.

    There ``Cov[X_0 | X_t] = (x_i - x_j)(x_i - x_j)^T / 4``, so the Hessian has the eigenvalue
    ``a_t^2 D^2 / (4 s_t^4) - 1/s_t^2`` along the pair and ``-1/s_t^2`` across it; the result is
    ``max(|a_t^2 D^2 / (4 s_t^4) - 1/s_t^2|, 1/s_t^2)``. Exact when the pair's two weights dominate
    all others; ``distance`` and ``t`` are floats (or broadcastable tensors).
    """
    a, s = alpha(t), sigma(t)
    along = a * a * distance * distance / (4 * s ** 4) - 1 / (s * s)
    if isinstance(along, torch.Tensor):
        return torch.maximum(along.abs(), 1 / (s * s) * torch.ones_like(along))
    return max(abs(along), 1 / (s * s))


def empirical_lipschitz_scale(data: torch.Tensor, t) -> float:
    """The paper's scale ``s_t^-4 min_{i != j} |x_i - x_j|^2`` of the empirical score's Lipschitz constant."""
    t = check_time(t)
    d_min = closest_pairs(data, 1)[2][0].item()
    return d_min ** 2 / sigma(t) ** 4


def gaussian_lipschitz(cov: torch.Tensor, t) -> float:
    """``|grad^2 log p_t|_2 = 1 / (s_t^2 + a_t^2 lambda_min(Sigma))`` for ``P_0 = N(mu, Sigma)`` (any ``x``)."""
    t = check_time(t)
    if not isinstance(cov, torch.Tensor) or cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError("cov must be a square matrix (d, d)")
    lam_min = torch.linalg.eigvalsh(cov)[0].item()
    if lam_min < 0:
        raise ValueError(f"cov must be positive semi-definite, got lambda_min = {lam_min:.3g}")
    return 1.0 / (sigma(t) ** 2 + alpha(t) ** 2 * lam_min)


def hessian_eigenvalues_on_segment(hessian_fn: MatrixFn, start: torch.Tensor, end: torch.Tensor, t,
                                   num: int = 201) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues of ``hessian_fn`` at ``x(u) = (1-u) start + u end``, ``u`` in ``[0, 1]``.

    Returns ``(u, eigs)`` of shapes ``(num,)`` and ``(num, d)`` (ascending eigenvalues).
    """
    check_positive_int(num, "num")
    if not (isinstance(start, torch.Tensor) and isinstance(end, torch.Tensor)
            and start.ndim == 1 and start.shape == end.shape):
        raise ValueError("start and end must be tensors of the same shape (d,)")
    u = torch.linspace(0, 1, num, dtype=start.dtype, device=start.device)
    x = (1 - u)[:, None] * start + u[:, None] * end
    h = _check_matrix_batch(hessian_fn(x, t), "hessian_fn", start.shape[0])
    return u, torch.linalg.eigvalsh(0.5 * (h + h.transpose(1, 2)))


@dataclass(frozen=True)
class LipschitzSearch:
    """Result of :func:`maximize_local_lipschitz`: the best value and point, and the final value per start."""

    value: float
    argmax: torch.Tensor
    values: torch.Tensor
    points: torch.Tensor


def maximize_local_lipschitz(matrix_fn: MatrixFn, starts: torch.Tensor, t, *, steps: int = 50,
                             step_size: float | None = None, objective: str = "max_eigenvalue",
                             grow: float = 1.5, shrink: float = 0.5) -> LipschitzSearch:
    """Search ``max_x L(x) = |matrix_fn(x, t)|_2`` by gradient ascent from every row of ``starts``.

    The ascent objective ``f`` is either ``"max_eigenvalue"`` (default; for Hessians of
    ``log p_t``): ``f = lambda_max(H)``. Since ``H = -I/s_t^2 + (a_t^2/s_t^4) Cov`` with ``Cov``
    PSD, ``-lambda_min(H) <= 1/s_t^2`` everywhere and only ``lambda_max`` can grow; it also has a
    useful gradient where the constant ``-1/s_t^2`` part dominates ``|H|_2``. Or
    ``"spectral_norm"``: ``f = |M|_2`` (any matrix, e.g. a network Jacobian).

    Each start moves by normalised gradient steps ``x <- x + h grad f/|grad f|`` of its own length
    ``h`` (initially ``step_size``, default ``s_t``): a step is kept only if it increases ``f``
    (then ``h *= grow``), otherwise rejected (``h *= shrink``). The best ``L`` seen on each path
    is kept, so the result is at least ``max_b L(starts_b)``. ``matrix_fn`` must be
    differentiable in ``x`` (e.g. the analytic Hessians).
    """
    if not callable(matrix_fn):
        raise TypeError(f"matrix_fn must be callable as matrix_fn(x, t), got {type(matrix_fn).__name__}")
    check_points(starts, "starts")
    t = check_time(t)
    check_positive_int(steps, "steps")
    h0 = sigma(t) if step_size is None else float(step_size)
    if not (math.isfinite(h0) and h0 > 0):
        raise ValueError(f"step_size must be finite and > 0, got {step_size}")
    if objective not in ("max_eigenvalue", "spectral_norm"):
        raise ValueError(f"objective must be 'max_eigenvalue' or 'spectral_norm', got {objective!r}")
    if not (grow >= 1 and 0 < shrink < 1):
        raise ValueError(f"need grow >= 1 and 0 < shrink < 1, got grow={grow}, shrink={shrink}")
    d = starts.shape[1]

    def evaluate(x):
        """Ascent objective f, Lipschitz value L and grad f at the rows of x."""
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            m = _check_matrix_batch(matrix_fn(xr, t), "matrix_fn", d)
            if objective == "max_eigenvalue":
                eig = torch.linalg.eigvalsh(0.5 * (m + m.transpose(1, 2)))
                f, lip = eig[:, -1], eig.abs().amax(1)
            else:
                f = lip = spectral_norm(m)
            grad, = torch.autograd.grad(f.sum(), xr)
        return f.detach(), lip.detach(), grad

    x = starts.detach().clone()
    h = torch.full((x.shape[0],), h0, dtype=x.dtype, device=x.device)
    f, lip, grad = evaluate(x)
    best_lip, best_x = lip.clone(), x.clone()
    for _ in range(steps):
        norm = torch.linalg.vector_norm(grad, dim=1, keepdim=True)
        direction = torch.where(norm > 0, grad / norm.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(grad))
        trial = x + h[:, None] * direction
        trial_f, trial_lip, trial_grad = evaluate(trial)
        better = torch.isfinite(trial_f) & (trial_f > f)
        x = torch.where(better[:, None], trial, x)
        f = torch.where(better, trial_f, f)
        grad = torch.where(better[:, None], trial_grad, grad)
        h = torch.where(better, h * grow, h * shrink)
        improved = better & (trial_lip > best_lip)
        best_lip = torch.where(improved, trial_lip, best_lip)
        best_x = torch.where(improved[:, None], trial, best_x)
    best = int(torch.argmax(best_lip))
    return LipschitzSearch(value=best_lip[best].item(), argmax=best_x[best].clone(), values=best_lip,
                           points=best_x)


def mixture_posterior_cov(mixture: GaussianMixture, x: torch.Tensor, t) -> torch.Tensor:
    """``Cov[X_0 | X_t = x]`` for ``X_0 ~ sum_k pi_k N(mu_k, Sigma_k)``, shape ``(B, d, d)``.

    With responsibilities ``r_k`` and ``C_k = a_t^2 Sigma_k + s_t^2 I``, given component ``k``:
    ``X_0 ~ N(m_k, V_k)``, ``m_k = mu_k + a_t Sigma_k C_k^-1 (x - a_t mu_k)``,
    ``V_k = Sigma_k - a_t^2 Sigma_k C_k^-1 Sigma_k``; then ``Cov = sum_k r_k (V_k + m_k m_k^T) - m m^T``
    with ``m = sum_k r_k m_k``. (So ``-I/s_t^2 + (a_t^2/s_t^4) Cov`` must equal ``mixture.hessian``.)
    """
    if not isinstance(mixture, GaussianMixture):
        raise TypeError(f"mixture must be a GaussianMixture, got {type(mixture).__name__}")
    t = check_time(t)
    a = alpha(t)
    log_terms, g, prec = mixture._noised(x, t)           # g_k = -C_k^-1 (x - a mu_k), prec_k = C_k^-1
    r = torch.softmax(log_terms, 1)                       # (B, K)
    covs = mixture.covs
    m_k = mixture.means[None] - a * torch.einsum("kij,bkj->bki", covs, g)               # (B, K, d)
    v_k = covs - a * a * covs @ prec @ covs                                             # (K, d, d)
    m = (r[:, :, None] * m_k).sum(1)
    second = torch.einsum("bk,kij->bij", r, v_k) + torch.einsum("bk,bki,bkj->bij", r, m_k, m_k)
    return second - m[:, :, None] * m[:, None, :]


@dataclass(frozen=True)
class LipschitzSweep:
    """Lipschitz constants across times (all tensors of shape ``(len(times),)``, float64, CPU).

    - ``closest_midpoint``: the empirical score's local constant at the midpoint of the closest pair;
    - ``empirical_max``: the largest local constant found by :func:`maximize_local_lipschitz` from all
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
                      generator: torch.Generator | None = None) -> LipschitzSweep:
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
    for k in sorted(range(len(times)), key=lambda k: -times[k]):
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
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float64)
    return LipschitzSweep(times=as_tensor(times), s=as_tensor([sigma(t) for t in times]),
                          **{k: as_tensor(v) for k, v in rows.items()})


# --- moved from nets (chapter 5 evaluation of trained networks); to be placed by the ch5 refactor ---
from .nets import ScoreMLP as _ScoreMLP  # noqa: E402
from .process import add_noise  # noqa: E402
from .scores import empirical_score  # noqa: E402


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


def evaluate_score_net(net, data: torch.Tensor, true_score, times, *, num_points: int = 512,
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
    if not isinstance(net, _ScoreMLP):
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
