import pytest
import torch

from memsep_lib.dit import DiT
from memsep_lib.pruning import (ablation_importance, gate_prune_discrepancy, gated_loss, heads_to_prune, importance_draws,
                                random_heads_to_prune, rank_agreement, taylor_importance)


@pytest.fixture
def model_and_draws():
    torch.manual_seed(0)
    model = DiT(input_size=8, patch_size=2, hidden_size=32, depth=2, num_heads=4)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    images = torch.rand(20, 3, 8, 8) * 2 - 1
    draws = importance_draws(images, 16, horizon=0.5, generator=torch.Generator().manual_seed(1))
    return model.eval(), draws


def test_draws_use_small_times():
    images = torch.zeros(5, 3, 8, 8)
    small = importance_draws(images, 500, horizon=0.5, generator=torch.Generator().manual_seed(0))
    large = importance_draws(images, 500, horizon=0.5, times="large", T=4.0, generator=torch.Generator().manual_seed(0))
    assert small.t.max() <= 0.5 and large.t.min() >= 0.5
    assert small.x0.shape == small.z.shape == (500, 3, 8, 8)
    with pytest.raises(ValueError, match="times"):
        importance_draws(images, 5, horizon=0.5, times="medium")


def test_ablation_is_the_loss_change_of_a_zero_gate(model_and_draws):
    model, draws = model_and_draws
    table = ablation_importance(model, draws)
    assert table.shape == (2, 4)
    with torch.no_grad():
        base = gated_loss(model, draws)
        model.head_gates()[1][2] = 0.0
        off = gated_loss(model, draws)
        model.head_gates()[1][2] = 1.0
    assert table[1, 2].item() == pytest.approx((off - base).item(), rel=1e-5)
    assert all(torch.all(g == 1) for g in model.head_gates())   # gates restored


def test_taylor_is_the_gate_gradient(model_and_draws):
    model, draws = model_and_draws
    table = taylor_importance(model, draws)
    eps = 0.05  # central difference: O(eps^2) error, large enough to beat float32 rounding
    with torch.no_grad():
        model.head_gates()[0][1] += eps
        up = gated_loss(model, draws)
        model.head_gates()[0][1] -= 2 * eps
        down = gated_loss(model, draws)
        model.head_gates()[0][1] += eps
    assert table[0, 1].item() == pytest.approx(abs((up - down).item()) / (2 * eps), rel=2e-2)
    assert not any(g.requires_grad for g in model.head_gates())


def test_selection_and_random_baseline():
    importance = torch.tensor([[0.5, 0.1, 0.9, float("nan")], [0.05, 0.7, 0.3, 0.2]])
    assert heads_to_prune(importance, ratio=0.3) == {0: [1], 1: [0]}
    assert heads_to_prune(importance, ratio=0.0) == {}
    remove = random_heads_to_prune([4, 4, 4], 0.25, generator=torch.Generator().manual_seed(0))
    assert sum(len(v) for v in remove.values()) == 3
    with pytest.raises(ValueError, match="ratio"):
        heads_to_prune(importance, ratio=1.0)


def test_rank_agreement():
    a = torch.tensor([[1.0, 2.0], [3.0, float("nan")]])
    assert rank_agreement(a, a * 10) == pytest.approx(1.0)
    assert rank_agreement(a, -a) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="shape"):
        rank_agreement(a, a[0])


def test_gate_prune_discrepancy_is_zero_up_to_rounding(model_and_draws):
    model, draws = model_and_draws
    gap = gate_prune_discrepancy(model, {0: [1], 1: [0, 3]}, draws.x0, draws.t)
    assert gap < 1e-5
    assert model.heads_per_layer() == [4, 4]
