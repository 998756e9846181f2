import math

import pytest
import torch

from memsep_lib.mixtures import GaussianMixture, min_pairwise_distance, well_separated_mixture
from memsep_lib.process import alpha, sigma


def _random_mixture(gen, K=3, d=3):
    means = 2 * torch.randn(K, d, generator=gen, dtype=torch.float64)
    A = torch.randn(K, d, d, generator=gen, dtype=torch.float64)
    covs = A @ A.transpose(1, 2) / d + 0.1 * torch.eye(d, dtype=torch.float64)
    weights = torch.rand(K, generator=gen, dtype=torch.float64) + 0.2
    return GaussianMixture(means, covs, weights)


@pytest.mark.parametrize("t", [1e-4, 0.1, 2.0])
def test_score_is_gradient_of_log_prob(gen, t):
    gm = _random_mixture(gen)
    x = gm.sample(10, gen).requires_grad_(True)
    (grad,) = torch.autograd.grad(gm.log_prob(x, t).sum(), x)
    assert torch.allclose(gm.score(x.detach(), t), grad, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("t", [1e-3, 0.5])
def test_hessian_is_jacobian_of_score(gen, t):
    gm = _random_mixture(gen)
    x = gm.sample(4, gen)
    jac = torch.autograd.functional.jacobian(lambda y: gm.score(y, t), x)
    per_point = torch.stack([jac[b, :, b, :] for b in range(4)])
    assert torch.allclose(gm.hessian(x, t), per_point, rtol=1e-8, atol=1e-8)


def test_single_gaussian_matches_closed_form(gen):
    mu = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    Sigma = torch.tensor([[[2.0, 0.3], [0.3, 0.5]]], dtype=torch.float64)
    gm = GaussianMixture(mu, Sigma)
    t = 0.7
    C = alpha(t) ** 2 * Sigma[0] + sigma(t) ** 2 * torch.eye(2, dtype=torch.float64)
    ref = torch.distributions.MultivariateNormal(alpha(t) * mu[0], C)
    x = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    assert torch.allclose(gm.log_prob(x, t), ref.log_prob(x), atol=1e-12)
    assert torch.allclose(gm.score(x, t), -(x - alpha(t) * mu[0]) @ torch.linalg.inv(C), atol=1e-12)
    assert torch.allclose(gm.hessian(x, t), -torch.linalg.inv(C).expand(5, 2, 2), atol=1e-12)
    clean = torch.distributions.MultivariateNormal(mu[0], Sigma[0])
    assert torch.allclose(gm.data_log_prob(x), clean.log_prob(x), atol=1e-12)


def test_data_log_prob_is_the_small_t_limit(gen):
    gm = _random_mixture(gen, K=3, d=2)
    x = gm.sample(6, gen)
    assert torch.allclose(gm.data_log_prob(x), gm.log_prob(x, 1e-10), atol=1e-6)
    with pytest.raises(ValueError, match="dimension"):
        gm.data_log_prob(x[:, :1])


def test_sampling_moments(gen):
    gm = _random_mixture(gen, K=2, d=2)
    x, labels = gm.sample(100_000, gen, return_labels=True)
    mean = (gm.weights[:, None] * gm.means).sum(0)
    assert torch.allclose(x.mean(0), mean, atol=0.03)
    frac = torch.bincount(labels, minlength=2).double() / len(labels)
    assert torch.allclose(frac, gm.weights, atol=0.01)


def test_log_prob_is_stable_far_away():
    gm = well_separated_mixture(4, 8, generator=torch.Generator().manual_seed(0))
    x = torch.full((2, 8), 1e3, dtype=torch.float64)
    assert torch.isfinite(gm.log_prob(x, 1e-3)).all() and torch.isfinite(gm.score(x, 1e-3)).all()


@pytest.mark.parametrize("K,d,c", [(2, 4, 1.0), (8, 16, 2.0), (8, 64, 0.5)])
def test_well_separated_means(K, d, c):
    gm = well_separated_mixture(K, d, separation=c, std=0.5, generator=torch.Generator().manual_seed(K))
    assert min_pairwise_distance(gm.means) == pytest.approx(c * math.sqrt(d), rel=1e-12)
    assert torch.allclose(gm.covs[0], 0.25 * torch.eye(d, dtype=torch.float64))
    assert torch.allclose(gm.weights, torch.full((K,), 1 / K, dtype=torch.float64))


def test_bad_inputs():
    means = torch.zeros(2, 3, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    with pytest.raises(ValueError, match="covs must have shape"):
        GaussianMixture(means, torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture(means, -eye)
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture(means, eye.clone(), torch.tensor([1.0, -1.0], dtype=torch.float64))
    gm = GaussianMixture(means, eye.clone())
    with pytest.raises(ValueError, match="t must be finite and > 0"):
        gm.score(torch.zeros(1, 3, dtype=torch.float64), 0.0)
    with pytest.raises(ValueError, match="x must have dimension d=3"):
        gm.log_prob(torch.zeros(1, 2, dtype=torch.float64), 0.1)
    with pytest.raises(TypeError, match="x must have dtype"):
        gm.score(torch.zeros(1, 3), 0.1)
    with pytest.raises(ValueError, match="separation"):
        well_separated_mixture(2, 3, separation=0.0)
