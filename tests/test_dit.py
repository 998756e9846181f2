import pytest
import torch

from memsep_lib.dit import DiT, sincos_pos_embed_2d
from memsep_lib.process import sigma


def _tiny(seed=0, randomize=True):
    torch.manual_seed(seed)
    model = DiT(input_size=8, patch_size=2, in_channels=3, hidden_size=32, depth=2, num_heads=4)
    if randomize:  # leave adaLN-Zero's identity start, so that every head matters
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def test_shapes_and_zero_init():
    model = _tiny(randomize=False)
    x = torch.randn(5, 3, 8, 8)
    out = model(x, torch.rand(5) + 0.01)
    assert out.shape == x.shape
    assert torch.equal(out, torch.zeros_like(out))  # zero-initialised final layer
    assert model(x, 0.3).shape == x.shape            # a scalar time is broadcast


def test_score_is_minus_eps_over_sigma():
    model = _tiny()
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([0.1, 1.0])
    assert torch.allclose(model.score(x, t), -model(x, t) / sigma(t)[:, None, None, None])


def test_gated_off_heads_equal_physically_pruned_heads():
    model = _tiny()
    x, t = torch.randn(3, 3, 8, 8), torch.tensor([0.01, 0.2, 2.0])
    with torch.no_grad():
        model.head_gates()[0][[1, 3]] = 0.0
        model.head_gates()[1][2] = 0.0
        gated = model(x, t)
        n_before = model.num_parameters()
        model.prune_heads({0: [1, 3], 1: [2]})
        pruned = model(x, t)
    assert model.heads_per_layer() == [2, 3]
    assert model.num_parameters() < n_before
    assert torch.allclose(gated, pruned, atol=1e-5)


def test_switching_a_head_off_changes_the_output():
    model = _tiny()
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([0.05, 0.5])
    with torch.no_grad():
        before = model(x, t)
        model.head_gates()[1][0] = 0.0
        assert not torch.allclose(model(x, t), before, atol=1e-4)


def test_removing_every_head_of_a_layer():
    model = _tiny()
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([0.05, 0.5])
    with torch.no_grad():
        model.head_gates()[0].zero_()
        gated = model(x, t)
        model.prune_heads({0: [0, 1, 2, 3]})
        assert torch.allclose(model(x, t), gated, atol=1e-5)


def test_embeddings():
    pe = sincos_pos_embed_2d(16, 4)
    assert pe.shape == (16, 16) and torch.isfinite(pe).all()
    assert len({tuple(r.tolist()) for r in pe}) == 16   # every position distinct
    assert DiT(input_size=8, patch_size=2, hidden_size=32, depth=1, num_heads=4).t_embedder(
        torch.tensor([1e-3, 1.0])).shape == (2, 32)
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_pos_embed_2d(6, 2)


def test_bad_inputs():
    model = _tiny()
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.randn(2, 3, 4, 4), 0.1)
    with pytest.raises(ValueError, match="t must be finite and > 0"):
        model(torch.randn(2, 3, 8, 8), 0.0)
    with pytest.raises(ValueError, match="head indices"):
        model.blocks[0].attn.keep_heads([7])
    with pytest.raises(ValueError, match="unknown DiT config"):
        DiT.from_config("DiT-XL/2")
    assert DiT.from_config("DiT-ci/4", input_size=16).heads_per_layer() == [4, 4, 4, 4, 4]
