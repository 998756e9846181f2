import math

import pytest
import torch

from memsep_lib.lipschitz import jacobian_fn, local_lipschitz
from memsep_lib.nets import ScoreMLP, ScoreMLPStack, sinusoidal_embedding
from memsep_lib.process import sigma


def test_sinusoidal_embedding():
    t = torch.tensor([0.0, 0.5, 1.0])
    e = sinusoidal_embedding(t, 8, scale=1.0)
    assert e.shape == (3, 8)
    assert torch.allclose(e[0, :4], torch.ones(4)) and torch.allclose(e[0, 4:], torch.zeros(4))
    assert torch.allclose(e[:, 0], torch.cos(t)) and torch.allclose(e[:, 4], torch.sin(t))
    assert sinusoidal_embedding(t, 7).shape == (3, 7)
    with pytest.raises(ValueError, match="shape"):
        sinusoidal_embedding(t[:, None], 8)


def test_score_mlp_shapes_parameters_and_parametrisation():
    torch.manual_seed(0)
    net = ScoreMLP(3, width=16, depth=2, time_embedding_dim=8)
    # hidden 3*16+16 + 16*16+16, time shift 8*32+32, output 16*3+3
    assert net.num_parameters() == (3 * 16 + 16) + (16 * 16 + 16) + (8 * 32 + 32) + (16 * 3 + 3)
    x = torch.randn(5, 3)
    out = net(x, 0.1)
    assert out.shape == (5, 3)
    assert torch.allclose(out, -net.eps(x, 0.1) / sigma(0.1))
    t = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5])
    per_row = net(x, t)
    assert torch.allclose(per_row[0], out[0])                 # a (B,) t matches the scalar t row-wise
    assert not torch.allclose(per_row[4], net(x, 0.1)[4])
    assert "depth=2" in repr(net)


def test_lipschitz_bound_holds():
    torch.manual_seed(1)
    for act in ("relu", "silu"):
        net = ScoreMLP(2, width=32, depth=3, time_embedding_dim=8, activation=act)
        x = 3 * torch.randn(200, 2, dtype=torch.float32)
        for t in (0.01, 0.5):
            measured = local_lipschitz(jacobian_fn(net), x, t).max().item()
            assert 0 < measured <= net.lipschitz_bound(t) * (1 + 1e-5)
    w = [m.detach().double() for m in net.weight_matrices()]
    assert net.spectral_norm_product() == pytest.approx(
        math.prod(torch.linalg.matrix_norm(m, ord=2).item() for m in w))


def test_stack_members_are_score_mlps():
    stack = ScoreMLPStack(3, 4, width=16, depth=2, generator=torch.Generator().manual_seed(0))
    x = torch.randn(3, 5, 4)
    t = torch.rand(3, 5) + 0.01
    out = stack(x, t)
    assert out.shape == (3, 5, 4)
    for g in range(3):
        net = stack.member(g)
        assert net.num_parameters() == stack.num_parameters()
        assert torch.allclose(net(x[g], t[g]), out[g], rtol=1e-5, atol=1e-5)
    joint = stack.joint_score_fn(5)(x.reshape(15, 4), 0.3)
    assert torch.allclose(joint[5:10], stack.member(1)(x[1], 0.3), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        stack(x[:2], t[:2])
    with pytest.raises(ValueError, match="rows"):
        stack.joint_score_fn(4)(x.reshape(15, 4), 0.3)
    with pytest.raises(ValueError, match="weight_decay"):
        ScoreMLPStack(2, 4, weight_decay=[0.1, -1.0])
    with pytest.raises(ValueError, match="g must"):
        stack.member(3)
