import pytest
import torch

from memsep_lib.metrics import frechet_distance, memorization_fraction
from memsep_lib.mixtures import well_separated_mixture
from memsep_lib.sampling import sample, time_grid
from memsep_lib.scores import empirical_score


def test_time_grid():
    grid = time_grid(8.0, 1e-3, 10)
    assert len(grid) == 11 and grid[0] == pytest.approx(8.0) and grid[-1] == pytest.approx(1e-3)
    assert all(a > b for a, b in zip(grid, grid[1:]))
    with pytest.raises(ValueError, match="t0 must be smaller than T"):
        time_grid(1.0, 2.0, 10)


@pytest.mark.parametrize("method", ["sde", "ode"])
def test_exact_mixture_score_reproduces_the_mixture(method):
    g = torch.Generator().manual_seed(0)
    gm = well_separated_mixture(3, 2, separation=3.0, std=0.5, generator=g)
    x = sample(gm.score, 3000, 2, method=method, steps=150, generator=g, dtype=torch.float64)
    ref = gm.sample(20000, g)
    assert frechet_distance(x, ref) < 0.05
    # every component is visited in about its weight
    nearest = torch.cdist(x, gm.means).argmin(1)
    frac = torch.bincount(nearest, minlength=3).double() / len(x)
    assert torch.allclose(frac, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.04)


def test_empirical_score_memorises():
    g = torch.Generator().manual_seed(1)
    data = torch.randn(50, 4, generator=g, dtype=torch.float64)
    x = sample(lambda y, t: empirical_score(y, t, data), 400, 4, steps=200, t0=1e-4, generator=g,
               dtype=torch.float64)
    assert memorization_fraction(x, data) > 0.95


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        sample(lambda x, t: x, 2, 2, method="heun")
    with pytest.raises(ValueError, match="num_samples"):
        sample(lambda x, t: x, 0, 2)
