import pytest
import torch

from memsep_lib.losses import MonteCarloEstimate, dsm_loss, fisher_divergence, loss_gap
from memsep_lib.mixtures import well_separated_mixture
from memsep_lib.process import sigma
from memsep_lib.scores import empirical_score


@pytest.fixture
def problem():
    g = torch.Generator().manual_seed(0)
    gm = well_separated_mixture(3, 4, separation=2.0, generator=g)
    return gm, gm.sample(60, g)


@pytest.mark.parametrize("t", [1e-3, 0.05, 1.0])
def test_loss_gap_equals_fisher_divergence(problem, t):
    """Proposition 4.1 on a small mixture: the two estimates agree within 4 standard errors."""
    gm, data = problem
    lg = loss_gap(data, gm.score, t, num_samples=6000, generator=torch.Generator().manual_seed(1))
    fd = fisher_divergence(data, gm.score, t, num_samples=6000, generator=torch.Generator().manual_seed(2))
    assert lg.value > 0 and fd.value > 0
    assert abs(lg.value - fd.value) <= 4 * (lg.stderr ** 2 + fd.stderr ** 2) ** 0.5


def test_the_empirical_score_has_zero_gap(problem):
    _, data = problem
    emp = lambda x, t: empirical_score(x, t, data)
    assert fisher_divergence(data, emp, 0.1, num_samples=500).value == 0.0
    assert abs(loss_gap(data, emp, 0.1, num_samples=500).value) < 1e-9


def test_dsm_loss_is_pairable_and_minimised_by_the_empirical_score(problem):
    gm, data = problem
    t = 0.05
    z = torch.randn(data.shape, generator=torch.Generator().manual_seed(3), dtype=data.dtype)
    emp = lambda x, tt: empirical_score(x, tt, data)
    shifted = lambda x, tt: empirical_score(x, tt, data) + 0.5
    base = dsm_loss(emp, data, t, noise=z)
    assert base.shape == (60,)
    assert dsm_loss(shifted, data, t, noise=z).mean() > base.mean()
    # zero score: the loss is |z|^2 / s_t^2 exactly
    zero = lambda x, tt: torch.zeros_like(x)
    assert torch.allclose(dsm_loss(zero, data, t, noise=z), (z * z).sum(1) / sigma(t) ** 2)


def test_estimates_are_reproducible_and_report_stderr(problem):
    gm, data = problem
    a = loss_gap(data, gm.score, 0.1, num_samples=300, generator=torch.Generator().manual_seed(5))
    b = loss_gap(data, gm.score, 0.1, num_samples=300, generator=torch.Generator().manual_seed(5))
    assert isinstance(a, MonteCarloEstimate) and a == b
    assert a.num_samples == 300 and a.stderr > 0
    assert "±" in str(a)


def test_bad_inputs(problem):
    gm, data = problem
    with pytest.raises(TypeError, match="score_fn must be callable"):
        fisher_divergence(data, "score", 0.1, num_samples=10)
    with pytest.raises(ValueError, match="score_fn must return a tensor of shape"):
        loss_gap(data, lambda x, t: x[:, :2], 0.1, num_samples=10)
    with pytest.raises(ValueError, match="num_samples must be positive"):
        loss_gap(data, gm.score, 0.1, num_samples=0)
    with pytest.raises(ValueError, match="t must be finite"):
        dsm_loss(gm.score, data, -0.1)
    with pytest.raises(ValueError, match="data is empty"):
        fisher_divergence(data[:0], gm.score, 0.1, num_samples=10)


def test_dsm_loss_accepts_one_time_per_row(problem):
    """A (B,) tensor of times gives row b the loss at time t_b (as used in training)."""
    gm, data = problem
    x0 = data[:3]
    z = torch.randn(x0.shape, generator=torch.Generator().manual_seed(4), dtype=x0.dtype)
    times = torch.tensor([1e-3, 0.1, 1.0], dtype=x0.dtype)
    score = lambda x, t: -x * torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1)    # depends on t per row
    per_row = dsm_loss(score, x0, times, noise=z)
    for b, t in enumerate(times.tolist()):
        assert torch.allclose(per_row[b], dsm_loss(score, x0[b:b + 1], t, noise=z[b:b + 1])[0])
    with pytest.raises(ValueError, match="shape"):
        dsm_loss(score, x0, times[:2], noise=z)
