"""Gaussian mixtures and the exact score of their noised law.

For ``P = sum_k pi_k N(mu_k, Sigma_k)`` the OU process gives again a Gaussian mixture,

    P_t = sum_k pi_k N(a_t mu_k, C_k(t)),      C_k(t) = a_t^2 Sigma_k + s_t^2 I,

so with responsibilities ``r_k(x) = softmax_k(log pi_k + log N(x; a_t mu_k, C_k))`` and
``g_k(x) = -C_k^{-1} (x - a_t mu_k)``::

    grad log p_t(x)   = sum_k r_k g_k
    grad^2 log p_t(x) = sum_k r_k (g_k g_k^T - C_k^{-1}) - (sum_k r_k g_k)(sum_k r_k g_k)^T

A mixture computes in the dtype of its means (float64 from :func:`well_separated_mixture` by default:
it is the reference the estimators are checked against); its methods take points of that dtype and
device (``x.to(gm.dtype)``, or ``gm.to(dtype=torch.float32)`` for a float32 mixture).
"""

from __future__ import annotations

import math

import torch

from .process import alpha, sigma
from .validation import (_all_finite, check_bool, check_device, check_float_dtype, check_generator,
                         check_points, check_positive_int, check_real, check_time)

__all__ = ["GaussianMixture", "well_separated_mixture", "min_pairwise_distance"]

_DTYPES = (torch.float32, torch.float64)          # what torch.linalg.cholesky supports


class GaussianMixture:
    """``P = sum_k pi_k N(mu_k, Sigma_k)`` with exact ``log_prob``, ``score`` and ``hessian`` of ``P_t``.

    ``gm.score`` is a ``score_fn`` (the true score ``grad log p_t``) for every function that takes one.

    Args:
        means: ``(K, d)`` component means ``mu_k``, float32 or float64 (the mixture's dtype and device).
        covs: ``(K, d, d)`` symmetric positive-definite covariances ``Sigma_k``, of the dtype and device of
            ``means``.
        weights: ``(K,)`` positive mixing weights ``pi_k`` (normalised); uniform if None.
    """

    def __init__(self, means: torch.Tensor, covs: torch.Tensor, weights: torch.Tensor | None = None):
        check_points(means, "means")
        check_float_dtype(means.dtype, "means dtype", _DTYPES)         # Cholesky needs float32/float64
        K, d = means.shape
        if not isinstance(covs, torch.Tensor):
            raise TypeError(f"covs must be a torch.Tensor of shape (K, d, d), got {type(covs).__name__}")
        if covs.shape != (K, d, d):
            raise ValueError(f"covs must have shape (K, d, d) = {(K, d, d)}, got {tuple(covs.shape)}")
        if covs.dtype != means.dtype:
            raise TypeError(f"covs must have the dtype of means ({means.dtype}), got {covs.dtype}")
        if covs.device != means.device:
            raise ValueError(f"covs must be on the device of means ({means.device}), got {covs.device}")
        if not _all_finite(covs):
            raise ValueError("covs contains NaN or infinite values")
        if not torch.allclose(covs, covs.transpose(1, 2)):
            raise ValueError("covs must be symmetric")
        _, info = torch.linalg.cholesky_ex(covs)
        if (info != 0).any():
            raise ValueError("covs must be positive definite")
        if weights is None:
            weights = torch.full((K,), 1.0 / K, dtype=means.dtype, device=means.device)
        else:
            if not isinstance(weights, torch.Tensor):
                raise TypeError(f"weights must be a torch.Tensor of shape ({K},), got {type(weights).__name__}")
            if weights.shape != (K,):
                raise ValueError(f"weights must have shape ({K},), got {tuple(weights.shape)}")
            if weights.dtype == torch.bool or weights.is_complex():
                raise TypeError(f"weights must have a real dtype, got {weights.dtype}")
            if not _all_finite(weights) or (weights <= 0).any():
                raise ValueError("weights must be finite and positive")
            weights = (weights / weights.sum()).to(means)
        self.means, self.covs, self.weights = means, covs, weights

    @property
    def num_components(self) -> int:
        """The number ``K`` of components."""
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        """The dimension ``d``."""
        return self.means.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the mixture computes in (its means'); its methods take points of this dtype."""
        return self.means.dtype

    @property
    def device(self) -> torch.device:
        """The device of the mixture's tensors; its methods take points on this device."""
        return self.means.device

    def to(self, device=None, dtype=None) -> "GaussianMixture":
        """The same mixture on ``device`` and in ``dtype`` (float32 or float64); None keeps the current one."""
        if device is not None:
            device = check_device(device, "device")
        if dtype is not None:
            check_float_dtype(dtype, "dtype", _DTYPES)
        return GaussianMixture(self.means.to(device, dtype), self.covs.to(device, dtype),
                               self.weights.to(device, dtype))

    def sample(self, n: int, generator: torch.Generator | None = None, *,
               return_labels: bool = False):
        """Draw ``n`` points from ``P``: label ``k ~ pi``, then ``x = mu_k + L_k z`` with ``L_k L_k^T = Sigma_k``.

        Args:
            n: number of points.
            generator: source of the draws, on the mixture's device.
            return_labels: also return the component label of each point.

        Returns:
            Tensor: ``x`` of shape ``(n, d)`` in the mixture's dtype, or ``(x, labels)`` with ``labels`` of
            shape ``(n,)`` (int64) when ``return_labels``.
        """
        check_positive_int(n, "n")
        check_bool(return_labels, "return_labels")
        check_generator(generator, self.means.device)
        labels = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype, device=self.means.device)
        chol = torch.linalg.cholesky(self.covs)
        # One component at a time: gathering chol[labels] would allocate an (n, d, d) tensor.
        x = self.means[labels].clone()
        for k in range(self.num_components):
            rows = labels == k
            x[rows] += z[rows] @ chol[k].T
        return (x, labels) if return_labels else x

    def _noised(self, x: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per component of ``P_t``: log-density terms ``(B, K)``, ``g_k(x)`` ``(B, K, d)``, and ``C_k^{-1}`` ``(K, d, d)``."""
        t = check_time(t, dtype=self.means.dtype)
        return self._components(x, alpha(t), sigma(t) ** 2)

    def _components(self, x: torch.Tensor, a: float, s2: float):
        """:meth:`_noised` for the law of ``a X_0 + sqrt(s2) Z`` (``a = 1, s2 = 0``: ``P`` itself)."""
        check_points(x, "x", dim=self.dim)
        if x.dtype != self.means.dtype or x.device != self.means.device:
            raise TypeError(f"x must have dtype {self.means.dtype} on {self.means.device}, "
                            f"got {x.dtype} on {x.device}")
        eye = torch.eye(self.dim, dtype=x.dtype, device=x.device)
        chol = torch.linalg.cholesky(a * a * self.covs + s2 * eye)                  # (K, d, d)
        diff = x[:, None, :] - a * self.means[None]                                  # (B, K, d)
        # Queries as right-hand-side columns, (K, d, B): broadcasting chol over the batch would
        # materialise a (B, K, d, d) tensor.
        rhs = diff.permute(1, 2, 0)
        y = torch.linalg.solve_triangular(chol, rhs, upper=False).permute(2, 0, 1)
        log_det = 2 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)
        log_terms = (torch.log(self.weights) - 0.5 * (y * y).sum(-1)
                     - 0.5 * log_det - 0.5 * self.dim * math.log(2 * math.pi))
        g = -torch.cholesky_solve(rhs, chol).permute(2, 0, 1)
        return log_terms, g, torch.cholesky_inverse(chol)

    def data_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x) = log sum_k pi_k N(x; mu_k, Sigma_k)`` of the clean mixture ``P`` (time 0).

        Args:
            x: points of shape ``(B, d)`` in the mixture's dtype and on its device.

        Returns:
            Tensor: shape ``(B,)``.
        """
        log_terms, _, _ = self._components(x, 1.0, 0.0)
        return torch.logsumexp(log_terms, 1)

    def log_prob(self, x: torch.Tensor, t) -> torch.Tensor:
        """``log p_t(x) = log sum_k pi_k N(x; a_t mu_k, C_k(t))`` of the noised law ``P_t``.

        Args:
            x: points of shape ``(B, d)`` in the mixture's dtype and on its device.
            t: diffusion time, a real scalar ``> 0``.

        Returns:
            Tensor: shape ``(B,)``.
        """
        log_terms, _, _ = self._noised(x, t)
        return torch.logsumexp(log_terms, 1)

    def score(self, x: torch.Tensor, t) -> torch.Tensor:
        """The true score ``grad log p_t(x) = sum_k r_k(x) g_k(x)`` (a ``score_fn``).

        Args:
            x: points of shape ``(B, d)`` in the mixture's dtype and on its device.
            t: diffusion time, a real scalar ``> 0``.

        Returns:
            Tensor: shape ``(B, d)``.
        """
        log_terms, g, _ = self._noised(x, t)
        r = torch.softmax(log_terms, 1)
        return (r[:, :, None] * g).sum(1)

    def hessian(self, x: torch.Tensor, t) -> torch.Tensor:
        """``grad^2 log p_t(x)`` (formula in the module docstring).

        Args:
            x: points of shape ``(B, d)`` in the mixture's dtype and on its device.
            t: diffusion time, a real scalar ``> 0``.

        Returns:
            Tensor: shape ``(B, d, d)``.
        """
        log_terms, g, prec = self._noised(x, t)
        r = torch.softmax(log_terms, 1)
        mean_g = (r[:, :, None] * g).sum(1)
        second = torch.einsum("bk,bki,bkj->bij", r, g, g) - torch.einsum("bk,kij->bij", r, prec)
        return second - mean_g[:, :, None] * mean_g[:, None, :]

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.num_components}, d={self.dim}, dtype={self.means.dtype})"


def min_pairwise_distance(points: torch.Tensor) -> float:
    """``min_{i != j} |x_i - x_j|`` for points of shape ``(n, d)``, ``n >= 2``, as a float."""
    check_points(points, "points")
    if points.shape[0] < 2:
        raise ValueError("points must contain at least two rows")
    dist = torch.cdist(points, points, compute_mode="donot_use_mm_for_euclid_dist")
    dist.fill_diagonal_(math.inf)
    return dist.min().item()


def well_separated_mixture(K: int, d: int, *, separation: float = 2.0, std: float = 1.0,
                           generator: torch.Generator | None = None, dtype=torch.float64,
                           device=None) -> GaussianMixture:
    """Equal-weight mixture of ``K`` isotropic Gaussians ``N(mu_k, std^2 I)`` in ``R^d``.

    Means are Gaussian directions rescaled so that ``Delta_min = min_{k != l} |mu_k - mu_l|``
    equals ``separation * sqrt(d)`` exactly (the paper's ``Delta_min = Theta(sqrt d)``).

    Args:
        K: number of components.
        d: dimension.
        separation: ``Delta_min / sqrt(d)``, ``> 0`` (unused when ``K = 1``).
        std: the components' standard deviation, ``> 0``.
        generator: source of the means (drawn in float64 whatever ``dtype``, so a seed gives the same
            mixture in every dtype); its device is used when ``device`` is None.
        dtype: the mixture's dtype, float64 (default: the reference precision) or float32.
        device: the mixture's device (default: the generator's, else the default device).

    Returns:
        GaussianMixture: the mixture, with weights ``1/K``.
    """
    check_positive_int(K, "K")
    check_positive_int(d, "d")
    separation = check_real(separation, "separation", positive=True)
    std = check_real(std, "std", positive=True)
    check_float_dtype(dtype, "dtype", _DTYPES)
    check_generator(generator)
    if device is not None:
        device = check_device(device, "device")
    means = torch.randn(K, d, generator=generator, dtype=torch.float64,
                        device=generator.device if generator is not None else device)
    if K > 1:
        means = means * (separation * math.sqrt(d) / min_pairwise_distance(means))
    covs = (std ** 2) * torch.eye(d, dtype=torch.float64, device=means.device).expand(K, d, d).clone()
    return GaussianMixture(means, covs).to(device, dtype)
