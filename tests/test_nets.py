import math

import pytest
import torch

from memsep_lib.lipschitz import jacobian_fn, local_lipschitz
from memsep_lib.mixtures import GaussianMixture
from memsep_lib.nets import (
    ScoreMLP,
    ScoreMLPStack,
    TrainingLog,
    evaluate_score_net,
    make_optimizer,
    score_mse,
    sinusoidal_embedding,
    train_score_net,
    train_score_stack,
)
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


def test_optimizer_decays_only_matrices():
    net = ScoreMLP(2, width=8, depth=1, time_embedding_dim=4)
    opt = make_optimizer(net, lr=1e-2, weight_decay=0.3)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.3 for p in g["params"]}
    assert decayed == {id(p) for p in net.parameters() if p.ndim == 2}
    with pytest.raises(ValueError, match="weight_decay"):
        make_optimizer(net, weight_decay=-1.0)


@pytest.fixture
def small_problem():
    means = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    gm = GaussianMixture(means, 0.1 * torch.eye(2, dtype=torch.float64).expand(2, 2, 2).clone())
    return gm, gm.sample(8, torch.Generator().manual_seed(0))


def test_training_reduces_the_loss_and_is_reproducible(small_problem):
    _, data = small_problem

    def run():
        torch.manual_seed(0)
        net = ScoreMLP(2, width=32, depth=2, time_embedding_dim=8)
        log = train_score_net(net, data.float(), steps=80, batch_size=64, lr=3e-3, t0=1e-2, T=1.0,
                              generator=torch.Generator().manual_seed(1), log_every=10, progress=False)
        return net, log

    net, log = run()
    assert log.step == 80 and log.steps[-1] == 80 and len(log.losses) == 8
    assert sum(log.losses[-3:]) / 3 < 0.6 * log.losses[0]
    _, log2 = run()
    assert log2.losses == log.losses


def test_training_can_be_continued_and_weight_decay_shrinks_the_bound(small_problem):
    _, data = small_problem
    data = data.float()
    bounds, seen = {}, []
    for wd in (0.0, 5.0):
        torch.manual_seed(0)
        net = ScoreMLP(2, width=32, depth=2, time_embedding_dim=8)
        opt = make_optimizer(net, lr=3e-3, weight_decay=wd)
        log = train_score_net(net, data, steps=40, batch_size=32, optimizer=opt,
                              generator=torch.Generator().manual_seed(1), progress=False)
        log = train_score_net(net, data, steps=40, batch_size=32, optimizer=opt, log=log,
                              generator=torch.Generator().manual_seed(2), progress=False,
                              callbacks=[lambda step, n, loss: seen.append(step)])
        assert log.step == 80 and log.steps[-1] == 80
        assert TrainingLog.from_state_dict(log.state_dict()) == log
        bounds[wd] = net.spectral_norm_product()
    assert seen[:3] == [41, 42, 43]
    assert bounds[5.0] < 0.8 * bounds[0.0]


def test_dsm_weighting_none_runs(small_problem):
    _, data = small_problem
    net = ScoreMLP(2, width=8, depth=1, time_embedding_dim=4)
    log = train_score_net(net, data.float(), steps=5, batch_size=8, loss_weighting="none", progress=False)
    assert len(log.losses) == 5 and all(math.isfinite(v) for v in log.losses)


def test_bad_inputs(small_problem):
    _, data = small_problem
    with pytest.raises(ValueError, match="activation"):
        ScoreMLP(2, activation="tanh")
    with pytest.raises(ValueError, match="width"):
        ScoreMLP(2, width=0)
    net = ScoreMLP(2, width=8, depth=1, time_embedding_dim=4)
    with pytest.raises(TypeError, match="must match the net"):
        train_score_net(net, data, steps=1)                    # float64 data, float32 net
    with pytest.raises(ValueError, match="t0 must be smaller"):
        train_score_net(net, data.float(), steps=1, t0=1.0, T=0.5)
    with pytest.raises(ValueError, match="loss_weighting"):
        train_score_net(net, data.float(), steps=1, loss_weighting="snr")
    with pytest.raises(ValueError, match="t must be a scalar or have shape"):
        net(torch.zeros(3, 2), torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="t must be finite"):
        net(torch.zeros(2, 2), torch.tensor([0.1, -0.2]))


def test_unknown_time_distribution_is_a_clear_error():
    import pytest
    import torch

    from memsep_lib.nets import ScoreMLP, train_score_net

    with pytest.raises(ValueError, match="time_distribution"):
        train_score_net(ScoreMLP(2), torch.randn(8, 2), steps=1, time_distribution="beta")


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


def _train_stack(data, sizes, decay, steps=30):
    stack = ScoreMLPStack(2, 2, width=16, depth=2, weight_decay=decay, generator=torch.Generator().manual_seed(0))
    log = train_score_stack(stack, data, sizes=sizes, steps=steps, batch_size=32, lr=1e-2,
                            generator=torch.Generator().manual_seed(1), progress=False)
    return stack, log


def test_stack_members_train_independently_and_decay_shrinks_weights():
    gen = torch.Generator().manual_seed(2)
    data = torch.randn(2, 40, 2, generator=gen)
    a, log = _train_stack(data, [40, 25], [0.0, 0.0])
    changed = data.clone()
    changed[1, :25] += 3.0          # member 1's data changes; member 0 must not notice
    b, _ = _train_stack(changed, [40, 25], [0.0, 0.0])
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p[0], q[0]) and not torch.equal(p[1], q[1])
    assert log.step == 30 and log.losses[-1] < log.losses[0]
    padded = data.clone()
    padded[1, 25:] = 1e3            # rows beyond sizes[1] are never drawn
    c, _ = _train_stack(padded, [40, 25], [0.0, 0.0])
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    d, _ = _train_stack(data, [40, 25], [0.0, 5.0], steps=60)
    e, _ = _train_stack(data, [40, 25], [0.0, 0.0], steps=60)
    assert d.member(1).spectral_norm_product() < 0.5 * e.member(1).spectral_norm_product()
    assert torch.equal(d.weights[0][0], e.weights[0][0])


def test_stack_training_bad_inputs():
    stack = ScoreMLPStack(2, 2, width=8, depth=1)
    data = torch.randn(2, 10, 2)
    with pytest.raises(ValueError, match="data must have shape"):
        train_score_stack(stack, data[:1], steps=1)
    with pytest.raises(ValueError, match="sizes"):
        train_score_stack(stack, data, sizes=[10, 11], steps=1)
    with pytest.raises(ValueError, match="NaN"):
        train_score_stack(stack, data.index_fill(1, torch.tensor([0]), float("nan")), steps=1)
    with pytest.raises(TypeError, match="weight_decay"):          # per-member decay lives in the stack
        train_score_stack(stack, data, steps=1, weight_decay=0.1)
    with pytest.raises(TypeError, match="ScoreMLPStack"):
        train_score_stack(ScoreMLP(2), data, steps=1)
    with pytest.raises(TypeError, match="integers"):
        train_score_stack(stack, data, sizes=[9.7, 10.0], steps=1)
    with pytest.raises(ValueError, match="must not decay"):
        train_score_stack(stack, data, steps=1, optimizer=make_optimizer(stack, weight_decay=0.1))
    with pytest.raises(ValueError, match="2 values"):
        ScoreMLPStack(2, 2, weight_decay=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="time_scale"):
        ScoreMLPStack(2, 2, time_scale=0.0)



def test_stack_member_trains_exactly_like_a_score_mlp_with_adamw():
    """Replay the stack's draws on stand-alone ScoreMLPs trained by make_optimizer's AdamW: same weights (float64)."""
    from memsep_lib.process import alpha, sample_uniform_time
    G, B, d, steps, lr, decays = 2, 8, 3, 5, 1e-2, [0.0, 0.5]
    data = torch.randn(G, 20, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    stack = ScoreMLPStack(G, d, width=6, depth=2, weight_decay=decays, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(1))
    nets = [stack.member(g).train() for g in range(G)]
    opts = [make_optimizer(net, lr=lr, weight_decay=wd) for net, wd in zip(nets, decays)]
    train_score_stack(stack, data, steps=steps, batch_size=B, lr=lr, generator=torch.Generator().manual_seed(2),
                      progress=False)
    gen = torch.Generator().manual_seed(2)
    for _ in range(steps):                 # the draws of train_score_stack, in its order
        u = torch.rand(G, B, generator=gen, dtype=torch.float64)
        t = sample_uniform_time(G * B, 1e-3, 1.0, generator=gen, dtype=torch.float64).view(G, B)
        z = torch.randn(G, B, d, generator=gen, dtype=torch.float64)
        for g, (net, opt) in enumerate(zip(nets, opts)):
            x0 = data[g, (u[g] * 20).long()]
            x_t = alpha(t[g])[:, None] * x0 + sigma(t[g])[:, None] * z[g]
            loss = (net.eps(x_t, t[g]) - z[g]).pow(2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for g, net in enumerate(nets):
        replay = stack.member(g)
        for p, q in zip(net.parameters(), replay.parameters()):
            assert torch.allclose(p, q, rtol=1e-10, atol=1e-12)
