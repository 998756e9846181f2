"""Memorisation and sample-quality metrics.

- Memorisation (the paper's criterion): a generated sample ``y`` is memorised when
  ``|y - x_(1)| < threshold * |y - x_(2)|`` with ``x_(1), x_(2)`` its nearest and second-nearest
  training points and ``threshold = 1/3`` (squared ratio below 1/9).
- Improved precision and recall (Kynkaenniemi et al., 2019): each point of a set gets the radius of
  its k-th nearest neighbour within the set; precision is the fraction of generated points inside
  some real ball, recall the fraction of real points inside some generated ball.
- Frechet distance between Gaussians fitted to two feature sets:
  ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2})``.

Nearest neighbours are streamed over chunks of both sets (memory ``O(block * chunk)``), found with
matrix-product distances and then recomputed exactly in float64 from differences, so that a
memorised sample (distance ~ 0) is not lost to cancellation in ``|y|^2 - 2 y.x + |x|^2``.
"""

from __future__ import annotations

import math

import torch

from .validation import check_bool, check_compatible, check_points, check_positive_int, check_real

__all__ = ["nearest_neighbors", "nn_distance_ratio", "memorization_fraction", "precision_recall",
           "frechet_distance"]

_BLOCK = 1024        # queries per block
_CHUNK = 8192        # reference points per chunk
_EXTRA = 4           # extra candidates kept for the exact float64 re-ranking


def nearest_neighbors(queries: torch.Tensor, reference: torch.Tensor, k: int = 2, *,
                      exclude_self: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest reference points of each query: ``(distances (B, k) float64, indices (B, k))``.

    With ``exclude_self`` the queries are the reference set itself and each point's own index is skipped.
    """
    check_points(reference, "reference")
    check_points(queries, "queries")
    check_compatible(queries, reference, "queries", "reference")
    check_positive_int(k, "k")
    check_bool(exclude_self, "exclude_self")
    if exclude_self and queries.shape[0] != reference.shape[0]:
        raise ValueError("exclude_self needs queries and reference to be the same set")
    n = reference.shape[0]
    if k + exclude_self > n:
        raise ValueError(f"k={k} neighbours requested but reference has only {n} usable points")
    m = min(n, k + exclude_self + _EXTRA)
    ref_sq = reference.pow(2).sum(1)
    dists, indices = [], []
    for b0 in range(0, queries.shape[0], _BLOCK):
        q = queries[b0:b0 + _BLOCK]
        best_val = torch.empty(q.shape[0], 0, dtype=q.dtype, device=q.device)
        best_idx = torch.empty(q.shape[0], 0, dtype=torch.long, device=q.device)
        for c0 in range(0, n, _CHUNK):
            # |q - r|^2 up to the per-query constant |q|^2 (ranking only)
            approx = ref_sq[c0:c0 + _CHUNK] - 2 * q @ reference[c0:c0 + _CHUNK].T
            val, idx = approx.topk(min(m, approx.shape[1]), dim=1, largest=False)
            best_val, order = torch.cat([best_val, val], 1).topk(min(m, best_val.shape[1] + val.shape[1]),
                                                                  dim=1, largest=False)
            best_idx = torch.cat([best_idx, idx + c0], 1).gather(1, order)
        diff = reference[best_idx].double() - q.double()[:, None, :]
        exact = diff.pow(2).sum(2)
        if exclude_self:
            own = torch.arange(b0, b0 + q.shape[0], device=q.device)[:, None]
            exact = exact.masked_fill(best_idx == own, float("inf"))
        val, order = exact.topk(k, dim=1, largest=False)
        dists.append(val.sqrt())
        indices.append(best_idx.gather(1, order))
    return torch.cat(dists), torch.cat(indices)


def nn_distance_ratio(samples: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """``|y - x_(1)| / |y - x_(2)|`` for each sample ``y``, ``x_(1), x_(2)`` its two nearest training points.

    Args:
        samples: generated points ``y``, shape ``(B, d)``.
        train: training points, shape ``(n, d)``, ``n >= 2``, of the dtype and device of ``samples``.

    Returns:
        Tensor: the ratios, shape ``(B,)``, float64 (0 for a copy of a training point).
    """
    check_points(samples, "samples")
    check_points(train, "train")
    check_compatible(samples, train, "samples", "train")
    if train.shape[0] < 2:
        raise ValueError(f"train must contain at least two points, got {train.shape[0]}")
    dist, _ = nearest_neighbors(samples, train, k=2)
    return dist[:, 0] / dist[:, 1].clamp_min(torch.finfo(torch.float64).tiny)


def memorization_fraction(samples: torch.Tensor, train: torch.Tensor, threshold: float = 1 / 3) -> float:
    """Fraction of memorised samples: ``(1/B) #{y : |y - x_(1)| < threshold |y - x_(2)|}``.

    The paper's criterion with ``threshold = 1/3`` (:func:`nn_distance_ratio` below ``1/3``).

    Args:
        samples: generated points ``y``, shape ``(B, d)``.
        train: the training set, shape ``(n, d)``, ``n >= 2``, of the dtype and device of ``samples``.
        threshold: the ratio below which a sample counts as memorised, in ``(0, 1]``.

    Returns:
        float: the fraction, in ``[0, 1]``.
    """
    threshold = check_real(threshold, "threshold")
    if not (0 < threshold <= 1):
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    return (nn_distance_ratio(samples, train) < threshold).double().mean().item()


def _in_any_ball(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, whether ``|p - c_j| <= r_j`` for some centre ``j`` (chunked, float64)."""
    inside = torch.zeros(points.shape[0], dtype=torch.bool, device=points.device)
    p, c, r2 = points.double(), centres.double(), radii.double().pow(2)
    c_sq = c.pow(2).sum(1)
    for b0 in range(0, p.shape[0], _BLOCK):
        pb = p[b0:b0 + _BLOCK]
        p_sq = pb.pow(2).sum(1, keepdim=True)
        hit = torch.zeros(pb.shape[0], dtype=torch.bool, device=p.device)
        for c0 in range(0, c.shape[0], _CHUNK):
            d2 = p_sq - 2 * pb @ c[c0:c0 + _CHUNK].T + c_sq[c0:c0 + _CHUNK]
            hit |= (d2 <= r2[c0:c0 + _CHUNK]).any(1)
        inside[b0:b0 + _BLOCK] = hit
    return inside


def precision_recall(real_features: torch.Tensor, fake_features: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaenniemi et al., 2019) with k-NN radii.

    Args:
        real_features: features of real data, shape ``(n, d)``, ``n > k``.
        fake_features: features of generated data, shape ``(m, d)``, ``m > k``, same dtype and device.
        k: the neighbour whose distance is a point's radius (default 3).

    Returns:
        tuple: ``(precision, recall)``, the fraction of fake points inside some real ball and of real
        points inside some fake ball.
    """
    check_points(real_features, "real_features")
    check_points(fake_features, "fake_features")
    check_compatible(fake_features, real_features, "fake_features", "real_features")
    check_positive_int(k, "k")
    for name, feats in (("real_features", real_features), ("fake_features", fake_features)):
        if feats.shape[0] < k + 1:
            raise ValueError(f"{name} has {feats.shape[0]} rows; k={k} neighbours besides each point itself "
                             f"need at least {k + 1}")
    real_radii = nearest_neighbors(real_features, real_features, k, exclude_self=True)[0][:, -1]
    fake_radii = nearest_neighbors(fake_features, fake_features, k, exclude_self=True)[0][:, -1]
    precision = _in_any_ball(fake_features, real_features, real_radii).double().mean().item()
    recall = _in_any_ball(real_features, fake_features, fake_radii).double().mean().item()
    return precision, recall


def _sqrt_psd(mat: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(mat)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Frechet distance ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2})`` of fitted Gaussians.

    Computed in float64 with symmetric PSD square roots (the FID formula on given features).

    Args:
        features_a: one feature set, shape ``(n, d)``, ``n >= 2``.
        features_b: the other, shape ``(m, d)``, ``m >= 2``, same dtype and device.

    Returns:
        float: the distance, ``>= 0``.
    """
    check_points(features_a, "features_a")
    check_points(features_b, "features_b")
    check_compatible(features_a, features_b, "features_a", "features_b")
    if min(features_a.shape[0], features_b.shape[0]) < 2:
        raise ValueError("features_a and features_b need at least two rows each to estimate covariances")
    a, b = features_a.double(), features_b.double()
    # Scale both sets by one power of two (exact: the result is unchanged where nothing overflows) so
    # that covariances of very large (or tiny) features neither overflow nor underflow; undo at the end.
    peak = max(a.abs().max().item(), b.abs().max().item())
    exponent = math.frexp(peak)[1] if peak > 0 else 0
    for half in (-exponent // 2, -exponent - (-exponent // 2)):       # two factors: each within range
        a, b = a * math.ldexp(1.0, half), b * math.ldexp(1.0, half)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    root_a = _sqrt_psd(cov_a)
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    value = (mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross
    try:
        value = math.ldexp(max(value.item(), 0.0), 2 * exponent)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise ValueError(f"frechet_distance of features_a and features_b overflows float64 (features up to "
                         f"{peak:.3g} in size); rescale the features")
    return value
