"""Tests for memsep_lib.training.fit_batched: the G models of a BatchedMLP trained as one."""

import pytest
import torch

from memsep_lib.nets import BatchedMLP
from memsep_lib.training import fit_batched
from memsep_lib.training.batched import _batched_adam_step


def _single(model: BatchedMLP, g: int) -> BatchedMLP:
    """Model ``g`` of ``model`` as a one-model BatchedMLP with the same weights (padding removed)."""
    w = model.widths[g]
    single = BatchedMLP([w], model.depth, model.dim_in, dtype=torch.float64)
    with torch.no_grad():
        for l in range(model.depth + 1):
            fi = model.dim_in if l == 0 else w
            fo = model.dim_out if l == model.depth else w
            single.weights[l].copy_(model.weights[l][g:g + 1, :fi, :fo])
            single.biases[l].copy_(model.biases[l][g:g + 1, :, :fo])
    return single


def _step(model, m, v, lr, k, xb, yb):
    loss = (model(xb) - yb).square().sum(2).mean(1).sum()
    model.zero_grad(set_to_none=True)
    loss.backward()
    _batched_adam_step(list(model.parameters()), m, v, lr, k)


def test_batched_training_equals_per_model_training(gen):
    """Models in one batch share no parameter: G batched Adam steps equal G separate trainings."""
    model = BatchedMLP([4, 9, 6], 2, 3, generator=gen, dtype=torch.float64)
    singles = [_single(model, g) for g in range(3)]
    lr = torch.tensor([1e-2, 3e-3, 5e-2], dtype=torch.float64)
    def moments(net):
        return [torch.zeros_like(p) for p in net.parameters()], [torch.zeros_like(p) for p in net.parameters()]

    state, single_states = moments(model), [moments(s) for s in singles]
    for k in range(1, 16):
        xb = torch.randn(3, 16, 3, generator=gen, dtype=torch.float64)
        yb = torch.sin(xb)
        _step(model, *state, lr, k, xb, yb)
        for g in range(3):
            _step(singles[g], *single_states[g], lr[g:g + 1], k, xb[g:g + 1], yb[g:g + 1])
    x = torch.randn(3, 32, 3, generator=gen, dtype=torch.float64)
    out = model(x)
    for g in range(3):
        torch.testing.assert_close(out[g:g + 1], singles[g](x[g:g + 1]), rtol=1e-9, atol=1e-11)
    # padded weights of the narrow models stayed exactly zero
    assert model.weights[1][0, 4:, :].abs().max() == 0 and model.weights[1][0, :, 4:].abs().max() == 0


def test_a_model_with_zero_learning_rate_is_frozen(gen):
    model = BatchedMLP([3, 3], 1, 2, generator=gen, dtype=torch.float64)
    before = [p.detach().clone() for p in model.parameters()]
    moments = ([torch.zeros_like(p) for p in before], [torch.zeros_like(p) for p in before])
    x = torch.randn(2, 8, 2, generator=gen, dtype=torch.float64)
    _step(model, *moments, torch.tensor([0.0, 1e-2], dtype=torch.float64), 1, x, torch.cos(x))
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p[0], b[0]) and not torch.equal(p[1], b[1])


def test_fit_batched_learns_and_never_ends_worse(gen):
    G, P, d = 2, 512, 2
    x = torch.randn(G, P, d, generator=gen)
    y = torch.stack([x[0] @ torch.tensor([[1.0, -2.0], [0.5, 1.0]]), torch.relu(x[1])])
    model = BatchedMLP([16, 16], 1, d, generator=gen)
    start = model.relative_error(x, y)
    res = fit_batched(model, x, y, x, y, max_steps=300, batch_size=64, lr=1e-2, eval_every=25, generator=gen)
    end = model.relative_error(x, y)
    assert (end <= start).all() and (end < 0.3).all()
    assert res.best_error == pytest.approx(end.tolist(), rel=1e-5)
    assert 0 < res.steps <= 300 and res.wall_time_s > 0


def test_fit_batched_stops_early_on_a_plateau(gen):
    """A model that cannot improve (targets it already fits exactly: zero) decays its rate, then stops."""
    x = torch.randn(1, 64, 2, generator=gen)
    model = BatchedMLP([4], 1, 2, generator=gen)
    with torch.no_grad():
        y = model(x) + 1e-3 * torch.randn(1, 64, 2, generator=gen)
    res = fit_batched(model, x, y, x, y, max_steps=10_000, batch_size=16, lr=1e-6, eval_every=5, patience=2,
                      num_decays=1, generator=gen)
    assert res.steps < 10_000


def test_fit_batched_bad_inputs(gen):
    model = BatchedMLP([4, 4], 1, 2, generator=gen)
    x, y = torch.zeros(2, 8, 2), torch.ones(2, 8, 2)
    with pytest.raises(ValueError, match="training inputs"):
        fit_batched(model, torch.zeros(3, 8, 2), y, x, y, max_steps=1)
    with pytest.raises(ValueError, match="validation inputs and targets"):
        fit_batched(model, x, y, x, torch.ones(2, 8, 3), max_steps=1)
    with pytest.raises(ValueError, match="lr"):
        fit_batched(model, x, y, x, y, max_steps=1, lr=0.0)
    with pytest.raises(ValueError, match="num_decays"):
        fit_batched(model, x, y, x, y, max_steps=1, num_decays=True)
    with pytest.raises(TypeError, match="max_steps"):
        fit_batched(model, x, y, x, y, max_steps=1.5)
    with pytest.raises(ValueError, match="val_reference"):
        fit_batched(model, x, y, x, y, max_steps=1, val_reference=torch.ones(2, 4, 2))
    with pytest.raises(TypeError, match="BatchedMLP"):
        fit_batched(torch.nn.Linear(2, 2), x, y, x, y, max_steps=1)
