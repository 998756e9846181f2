"""Tests for memsep_lib.nets.BatchedMLP and mlp_num_parameters (many ReLU MLPs evaluated as one)."""

import math

import pytest
import torch

from memsep_lib.nets import BatchedMLP, mlp_num_parameters


@pytest.mark.parametrize("linear_skip", [False, True])
def test_batched_forward_matches_plain_mlps(gen, linear_skip):
    model = BatchedMLP([3, 7, 5], 2, 4, linear_skip=linear_skip, generator=gen, dtype=torch.float64)
    if linear_skip:
        with torch.no_grad():
            model.skip.normal_(generator=gen)
    x = torch.randn(3, 10, 4, generator=gen, dtype=torch.float64)
    out = model(x)
    for g in range(3):
        mlp = model.to_mlp(g)
        torch.testing.assert_close(out[g], mlp(x[g]), rtol=0, atol=1e-12)
        assert sum(p.numel() for p in mlp.parameters()) == model.num_parameters()[g]
    assert model.num_parameters()[0] == mlp_num_parameters(3, 2, 4) + (16 if linear_skip else 0)


def test_padded_units_are_exactly_zero(gen):
    model = BatchedMLP([2, 6], 2, 3, generator=gen)
    assert model.weights[1][0, 2:, :].abs().max() == 0 and model.weights[1][0, :, 2:].abs().max() == 0
    assert model.biases[0][0, 0, 2:].abs().max() == 0 and model.weights[2][0, 2:, :].abs().max() == 0


def test_mlp_num_parameters():
    # 3 -> 5 -> 5 -> 2: (3 + 1) 5 + (5 + 1) 5 + (5 + 1) 2
    assert mlp_num_parameters(5, 2, 3, 2) == 4 * 5 + 6 * 5 + 6 * 2
    assert mlp_num_parameters(5, 1, 3) == 4 * 5 + 6 * 3
    assert mlp_num_parameters(math.inf, 2, 3) == math.inf
    assert mlp_num_parameters(2.5, 2, 3) == pytest.approx(4 * 2.5 + 3.5 * 2.5 + 3.5 * 3)
    with pytest.raises(ValueError, match="width"):
        mlp_num_parameters(0, 2, 3)
    with pytest.raises(TypeError, match="depth"):
        mlp_num_parameters(4, 2.0, 3)


def test_relative_error_per_model(gen):
    model = BatchedMLP([4, 4], 1, 2, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 300, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(2, 300, 2, generator=gen, dtype=torch.float64)
    pred = model(x)
    expected = ((pred - y).square().sum((1, 2)) / y.square().sum((1, 2))).sqrt()
    torch.testing.assert_close(model.relative_error(x, y, chunk=64), expected)
    ref = 2 * y
    torch.testing.assert_close(model.relative_error(x, y, ref), expected / 2)


def test_bad_inputs(gen):
    model = BatchedMLP([4, 4], 1, 2, generator=gen)
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.zeros(2, 8, 3))
    with pytest.raises(ValueError, match="widths"):
        BatchedMLP([], 1, 2)
    with pytest.raises(TypeError, match="depth"):
        BatchedMLP([4], 1.0, 2)
    with pytest.raises(ValueError, match="g must be"):
        model.to_mlp(2)
