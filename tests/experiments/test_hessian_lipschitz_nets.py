import pytest
import torch

from memsep_lib.lipschitz import evaluate_score_net, score_mse
from memsep_lib.mixtures import GaussianMixture
from memsep_lib.nets import ScoreMLP


@pytest.fixture
def small_problem():
    means = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    gm = GaussianMixture(means, 0.1 * torch.eye(2, dtype=torch.float64).expand(2, 2, 2).clone())
    return gm, gm.sample(8, torch.Generator().manual_seed(0))


def test_evaluate_score_net_and_score_mse(small_problem):
    gm, data = small_problem
    torch.manual_seed(0)
    net = ScoreMLP(2, width=16, depth=2, time_embedding_dim=8)
    res = evaluate_score_net(net, data, gm.score, [0.05, 0.5], num_points=64,
                             generator=torch.Generator().manual_seed(3))
    assert res["times"] == [0.05, 0.5]
    assert all(0 < lip <= b for lip, b in zip(res["lipschitz"], res["lipschitz_bound"]))
    assert all(v > 0 for v in res["mse_empirical"] + res["mse_true"] + res["mse_empirical_true"])
    x = torch.randn(10, 2, dtype=torch.float64)
    assert score_mse(gm.score, gm.score, x, 0.1) == 0.0
    assert score_mse(lambda y, t: y, lambda y, t: torch.zeros_like(y), x, 0.1) == pytest.approx(
        (x ** 2).sum(1).mean().item())
