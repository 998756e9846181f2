"""Closed forms of chapter 5: the Hessian of ``log p_t`` and the Lipschitz constants it implies.

Every noised law satisfies

    grad^2 log p_t(x) = -I / s_t^2 + (a_t^2 / s_t^4) Cov[X_0 | X_t = x],

so the Hessian eigenvalues lie in ``[-1/s_t^2, -1/s_t^2 + (a_t^2/s_t^4) lambda_max(Cov)]``.

- Empirical law ``P^_t``: at the midpoint ``a_t (x_i + x_j)/2`` of two training points with no third
  point nearby, ``Cov = (x_i - x_j)(x_i - x_j)^T / 4``, hence the local constant
  ``a_t^2 |x_i - x_j|^2 / (4 s_t^4) - 1/s_t^2`` (:func:`two_point_midpoint_lipschitz`): the
  empirical score's Lipschitz constant is ``Omega(s_t^-4 min_{i != j} |x_i - x_j|^2)``.
- Small ``t``, exactly: ``s_t^4 Lip(grad log p^_t) / a_t^2 -> max_{(k,l) Delaunay edge} |x_k - x_l|^2 / 4``
  (:func:`small_t_constants`; on a shared Voronoi facet two weights are equal and the rest vanish,
  and a distribution on the points of one Delaunay cell has variance at most that of such a pair).
- The chapter's law ``(1/4) sum_k N(mu_k, v I)``, ``mu_k = (+-1, +-1)``: ``p_t`` factorises over the
  coordinates, so its Hessian is diagonal and the true score's constant has a closed form
  (:func:`square_mixture_lipschitz`); ``12`` as ``t -> 0`` for ``v = 1/4``.
- Gaussian ``N(mu, Sigma)``: ``grad^2 log p_t = -(a_t^2 Sigma + s_t^2 I)^-1``, with norm
  ``1 / (s_t^2 + a_t^2 lambda_min(Sigma))`` (:func:`gaussian_lipschitz`), bounded as ``t -> 0``.
- Mixtures ``sum_k pi_k N(mu_k, Sigma_k)``: the posterior covariance (:func:`mixture_posterior_cov`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from scipy.optimize import linprog
from scipy.spatial import Delaunay

from ...lipschitz import MatrixFn, check_matrix_batch
from ...mixtures import GaussianMixture
from ...process import alpha, sigma
from ...scores import empirical_score_hessian
from ...validation import check_points, check_positive_int, check_time

__all__ = ["empirical_hessian_fn", "closest_pairs", "pair_midpoints", "two_point_midpoint_lipschitz",
           "empirical_lipschitz_scale", "voronoi_neighbours", "delaunay_edges", "gabriel_edges", "small_t_constants",
           "square_mixture_lipschitz", "gaussian_lipschitz", "mixture_posterior_cov",
           "hessian_eigenvalues_on_segment", "segment_eigenvalues"]


def empirical_hessian_fn(data: torch.Tensor) -> MatrixFn:
    """``(x, t) -> grad^2 log p^_t(x)`` for the training set ``data`` (the empirical score's Jacobian)."""
    check_points(data, "data")
    return lambda x, t: empirical_score_hessian(x, t, data)


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


def voronoi_neighbours(data: torch.Tensor) -> list[tuple[int, int]]:
    """Pairs ``k < l`` whose Voronoi cells share a facet, by one linear programme per pair (any dimension).

    The pair qualifies iff some ``y`` has ``|y - x_k| = |y - x_l|`` and ``|y - x_k|^2 + eps <= |y - x_m|^2``
    for every other ``m`` with ``eps > 0`` (linear in ``(y, eps)``: the ``|y|^2`` cancel); ``eps`` is maximised,
    capped at ``diam^2``, and must exceed ``1e-9 diam^2``.
    """
    check_points(data, "data")
    x = data.detach().cpu().double().numpy()
    n, d = x.shape
    sq = (x ** 2).sum(1)
    scale = max(float(((x[:, None] - x[None]) ** 2).sum(2).max()), 1e-300)
    pairs = []
    for k, l in itertools.combinations(range(n), 2):
        others = [m for m in range(n) if m not in (k, l)]
        if not others:
            pairs.append((k, l))
            continue
        a_ub = np.hstack([2 * (x[others] - x[k]), np.ones((len(others), 1))])
        a_eq = np.append(2 * (x[l] - x[k]), 0.0)[None]
        res = linprog(np.append(np.zeros(d), -1.0), A_ub=a_ub, b_ub=sq[others] - sq[k], A_eq=a_eq,
                      b_eq=[sq[l] - sq[k]], bounds=[(None, None)] * d + [(None, scale)], method="highs")
        if res.status == 0 and -res.fun > 1e-9 * scale:
            pairs.append((k, l))
    return pairs


def delaunay_edges(data: torch.Tensor) -> list[tuple[int, int]]:
    """Edges ``k < l`` of the Delaunay graph of ``data`` (points in general position), sorted.

    ``d = 1``: consecutive points in sorted order; ``2 <= d <= 8`` with ``n >= d + 2``:
    ``scipy.spatial.Delaunay`` (Qhull); otherwise, or when Qhull leaves points out (repeated points),
    :func:`voronoi_neighbours`.
    """
    check_points(data, "data")
    n, d = data.shape
    if n < 2:
        raise ValueError("data must contain at least two rows")
    x = data.detach().cpu().double().numpy()
    if d == 1:
        order = np.argsort(x[:, 0], kind="stable").tolist()
        return sorted((min(a, b), max(a, b)) for a, b in zip(order, order[1:]))
    if 2 <= d <= 8 and n >= d + 2:
        tri = Delaunay(x)
        if len(tri.coplanar) == 0:
            return sorted({(int(min(a, b)), int(max(a, b))) for simplex in tri.simplices
                           for a, b in itertools.combinations(simplex, 2)})
    return voronoi_neighbours(data)


def gabriel_edges(data: torch.Tensor) -> list[tuple[int, int]]:
    """Pairs ``k < l`` with no other point strictly closer to their midpoint than they are (the Gabriel graph).

    These are the Delaunay edges whose *midpoint* lies on the shared Voronoi facet: a subset of them.
    """
    check_points(data, "data")
    x = data.detach().cpu().double()
    i, j = torch.triu_indices(x.shape[0], x.shape[0], offset=1)
    mid = 0.5 * (x[i] + x[j])
    radius2 = 0.25 * ((x[i] - x[j]) ** 2).sum(1)
    dist2 = ((x[None] - mid[:, None]) ** 2).sum(2)                      # (pairs, n)
    dist2[torch.arange(i.numel()), i] = math.inf
    dist2[torch.arange(i.numel()), j] = math.inf
    keep = (dist2 >= radius2[:, None]).all(1)
    return [(int(a), int(b)) for a, b in zip(i[keep], j[keep])]


def small_t_constants(data: torch.Tensor) -> dict:
    """``lim_{t -> 0} s_t^4 Lip(grad log p^_t) / a_t^2`` and the bounds around it, for the training set ``data``.

    ``"delaunay"``: ``max_{(k,l) Delaunay} |x_k - x_l|^2 / 4`` (the limit), reached by the pair
    ``"delaunay_edge"``; ``"gabriel"``: the same maximum over Gabriel edges only (midpoint on the facet);
    ``"min_distance"``: ``min_{k != l} |x_k - x_l|^2 / 4`` (the paper's rate constant, a lower bound);
    ``"diameter"``: ``max_{k, l} |x_k - x_l|^2 / 4`` (Popoviciu's bound on any posterior variance); and
    the numbers of Delaunay and Gabriel edges.
    """
    check_points(data, "data")
    x = data.detach().cpu().double()
    sq = lambda pair: 0.25 * ((x[pair[0]] - x[pair[1]]) ** 2).sum().item()
    delaunay, gabriel = delaunay_edges(x), gabriel_edges(x)
    best = max(delaunay, key=sq)
    all_pairs = list(itertools.combinations(range(x.shape[0]), 2))
    return {"delaunay": sq(best), "delaunay_edge": list(best), "gabriel": max(map(sq, gabriel)),
            "min_distance": min(map(sq, all_pairs)), "diameter": max(map(sq, all_pairs)),
            "num_delaunay_edges": len(delaunay), "num_gabriel_edges": len(gabriel)}


def square_mixture_lipschitz(t, variance: float = 0.25) -> float:
    """``sup_x |grad^2 log p_t(x)|_2`` for ``P_0 = (1/4) sum_k N(mu_k, v I)``, ``mu_k = (+-1, +-1)``.

    ``p_t`` is a product over the two coordinates of ``(N(a_t, c) + N(-a_t, c))/2``, ``c = a_t^2 v + s_t^2``,
    whose second log-derivative is ``-1/c + (a_t^2/c^2) sech^2(a_t x_j / c)``, in ``(-1/c, (a_t^2 - c)/c^2]``.
    So the supremum is ``max((a_t^2 - c)/c^2, 1/c)``: the first is reached at ``x = 0``, the second only as
    ``|x| -> inf``. For ``v = 1/4`` it is 12 as ``t -> 0``.
    """
    t = check_time(t)
    if not (isinstance(variance, (int, float)) and math.isfinite(variance) and variance > 0):
        raise ValueError(f"variance must be a finite number > 0, got {variance!r}")
    a2 = alpha(t) ** 2
    c = a2 * variance + sigma(t) ** 2
    return max((a2 - c) / c ** 2, 1 / c)


def gaussian_lipschitz(cov: torch.Tensor, t) -> float:
    """``|grad^2 log p_t|_2 = 1 / (s_t^2 + a_t^2 lambda_min(Sigma))`` for ``P_0 = N(mu, Sigma)`` (any ``x``)."""
    t = check_time(t)
    if not isinstance(cov, torch.Tensor) or cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError("cov must be a square matrix (d, d)")
    lam_min = torch.linalg.eigvalsh(cov)[0].item()
    if lam_min < 0:
        raise ValueError(f"cov must be positive semi-definite, got lambda_min = {lam_min:.3g}")
    return 1.0 / (sigma(t) ** 2 + alpha(t) ** 2 * lam_min)


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
    h = check_matrix_batch(hessian_fn(x, t), "hessian_fn", start.shape[0])
    return u, torch.linalg.eigvalsh(0.5 * (h + h.transpose(1, 2)))


def segment_eigenvalues(hessian_fns: dict, start: torch.Tensor, end: torch.Tensor, times, *, num: int = 801,
                        margin: float = 0.25) -> dict:
    """Hessian eigenvalues along ``a_t[(1-u) start + u end]``, ``u`` in ``[-margin, 1 + margin]``, at each time.

    ``hessian_fns`` maps a label to ``(x, t) -> grad^2 log p_t(x)``; ``start``, ``end`` are data-space
    points (``u = 0`` and ``u = 1``). Returns ``{"u": (num,), "times", "s": s_t per time,
    "eigenvalues": {label: (len(times), num, d)}}`` (numpy arrays; what the chapter's figures draw).
    """
    times = [check_time(float(t)) for t in times]
    if not times or not hessian_fns:
        raise ValueError("need at least one time and one Hessian")
    u = torch.linspace(-margin, 1 + margin, check_positive_int(num, "num"), dtype=torch.float64).numpy()
    eigenvalues = {}
    for label, fn in hessian_fns.items():
        rows = []
        for t in times:
            a = alpha(t)
            _, eigs = hessian_eigenvalues_on_segment(fn, a * (start + margin * (start - end)),
                                                     a * (end + margin * (end - start)), t, num)
            rows.append(eigs.cpu().numpy())
        eigenvalues[label] = np.stack(rows)
    return {"u": u, "times": times, "s": [sigma(t) for t in times], "eigenvalues": eigenvalues}
