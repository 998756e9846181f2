import math

import pytest
import torch

from memsep_lib.metrics import (frechet_distance, memorization_fraction, nearest_neighbors,
                                nn_distance_ratio, precision_recall)


def test_nearest_neighbors_match_brute_force(gen):
    ref = torch.randn(3000, 5, generator=gen)
    q = torch.randn(700, 5, generator=gen)
    dist, idx = nearest_neighbors(q, ref, k=3)
    brute = torch.cdist(q.double(), ref.double())
    bval, bidx = brute.topk(3, dim=1, largest=False)
    assert torch.equal(idx, bidx)
    assert torch.allclose(dist, bval, atol=1e-12)


def test_exact_copies_have_ratio_zero_even_far_from_the_origin(gen):
    """Copies of training points far from 0 (|x|^2 ~ 1e8): the expanded-distance cancellation would lose them."""
    train = 1e3 + torch.randn(500, 100, generator=gen)
    ratio = nn_distance_ratio(train[:50].clone(), train)
    assert (ratio == 0).all()


def test_memorization_fraction_counts_the_criterion(gen):
    train = torch.randn(200, 16, generator=gen) * 5
    copies = train[:30] + 1e-3 * torch.randn(30, 16, generator=gen)
    novel = torch.randn(70, 16, generator=gen) * 5
    frac = memorization_fraction(torch.cat([copies, novel]), train)
    assert frac == pytest.approx(0.3)
    # the criterion: squared ratio below 1/9 <=> ratio below 1/3
    y = torch.tensor([[0.0, 0.0]])
    train2 = torch.tensor([[1.0, 0.0], [-3.01, 0.0], [10.0, 0.0]])
    assert memorization_fraction(y, train2) == 1.0
    assert memorization_fraction(y, torch.tensor([[1.0, 0.0], [-2.99, 0.0]])) == 0.0
    with pytest.raises(ValueError, match="threshold"):
        memorization_fraction(y, train2, threshold=0)


def test_precision_recall(gen):
    real = torch.randn(800, 2, generator=gen)
    p, r = precision_recall(real, torch.randn(800, 2, generator=gen))
    assert p > 0.9 and r > 0.9
    # fake collapsed onto a small part of the real support: precise, but poor recall
    p, r = precision_recall(real, 0.05 * torch.randn(800, 2, generator=gen))
    assert p > 0.95 and r < 0.2
    # fake far away: neither
    p, r = precision_recall(real, 10 + torch.randn(800, 2, generator=gen))
    assert p == 0.0 and r == 0.0


def test_frechet_distance_gaussians(gen):
    a = torch.randn(200_000, 3, generator=gen, dtype=torch.float64)
    scale = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    b = a[:100_000] * scale + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    # N(0, I) vs N(m, diag(s^2)): |m|^2 + sum (1 - s)^2 = 1 + 0 + 1 + 0.25
    assert frechet_distance(a, b) == pytest.approx(2.25, abs=0.03)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_bad_inputs():
    x = torch.randn(5, 3)
    with pytest.raises(ValueError, match="reference has only"):
        nearest_neighbors(x, x[:1], k=2)
    with pytest.raises(ValueError, match="dimension"):
        nn_distance_ratio(x, torch.randn(5, 2))
    with pytest.raises(ValueError, match="at least two"):
        frechet_distance(x[:1], x)
    with pytest.raises(ValueError, match="train must contain at least two"):
        nn_distance_ratio(x, x[:1])
    with pytest.raises(ValueError, match="samples contains NaN"):
        memorization_fraction(torch.full((2, 3), math.nan), x)
