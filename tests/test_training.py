import math

import pytest
import torch
from torch import nn

from memsep_lib.mixtures import GaussianMixture
from memsep_lib.nets import ScoreMLP, ScoreMLPStack
from memsep_lib.training import (EMA, TrainingLog, load_checkpoint, make_optimizer, save_checkpoint, train_score_net,
                                 train_score_stack)


def test_ema_update_is_a_lerp():
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.9)
    before = ema.model.weight.clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    assert torch.allclose(ema.model.weight, 0.9 * before + 0.1 * model.weight)
    assert not ema.model.weight.requires_grad
    with pytest.raises(ValueError, match="decay"):
        EMA(model, decay=1.0)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    ema = EMA(model, 0.5)
    gen = torch.Generator().manual_seed(3)
    torch.randn(2, generator=gen)
    path = save_checkpoint(tmp_path / "ck.pt", model=model, optimizer=opt, ema=ema, generator=gen, step=7)
    expected_next = torch.randn(2, generator=gen)

    model2 = nn.Linear(3, 2)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=0.1)
    ema2 = EMA(model2, 0.1)
    gen2 = torch.Generator().manual_seed(99)
    extra = load_checkpoint(path, model=model2, optimizer=opt2, ema=ema2, generator=gen2)
    assert extra == {"step": 7}
    assert torch.equal(model2.weight, model.weight) and ema2.decay == 0.5
    assert torch.equal(torch.randn(2, generator=gen2), expected_next)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert not (tmp_path / "ck.pt.tmp").exists()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt", model=model2)


def test_interrupted_training_resumes_exactly(tmp_path):
    """10 steps, stop, then resume to 20 == 20 steps in one go (parameters, EMA and loss log)."""
    from memsep_lib.nets import ScoreMLP
    from memsep_lib.training import train_resumable

    data = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))

    def run(steps, path):
        torch.manual_seed(0)
        net = ScoreMLP(2, width=16, depth=2)
        log, ema = train_resumable(net, data, steps=steps, generator=torch.Generator().manual_seed(1),
                                   checkpoint_path=path, checkpoint_every=5, log_every=5, ema_decay=0.9,
                                   batch_size=16, progress=False)
        return net, log, ema

    straight, log_a, ema_a = run(20, tmp_path / "a.pt")
    run(10, tmp_path / "b.pt")                       # "interrupted" after 10 steps
    resumed, log_b, ema_b = run(20, tmp_path / "b.pt")
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    for p, q in zip(ema_a.model.parameters(), ema_b.model.parameters()):
        assert torch.equal(p, q)
    assert log_a.steps == log_b.steps == [5, 10, 15, 20] and log_a.losses == log_b.losses
    with pytest.raises(ValueError, match="log_every"):
        train_resumable(straight, data, steps=3, generator=torch.Generator(), checkpoint_every=5, log_every=2)


def test_a_stack_of_nets_resumes_exactly(tmp_path):
    from memsep_lib.nets import ScoreMLPStack
    from memsep_lib.training import train_score_stack
    from memsep_lib.training import train_resumable

    data = torch.randn(3, 32, 2, generator=torch.Generator().manual_seed(0))

    def run(steps, path):
        stack = ScoreMLPStack(3, 2, width=8, depth=2, weight_decay=[0.0, 0.1, 1.0],
                              generator=torch.Generator().manual_seed(0))
        log, _ = train_resumable(stack, data, steps=steps, generator=torch.Generator().manual_seed(1),
                                 checkpoint_path=path, checkpoint_every=5, log_every=5, train_fn=train_score_stack,
                                 sizes=[32, 20, 10], batch_size=8, progress=False)
        return stack, log

    straight, log_a = run(20, tmp_path / "a.pt")
    run(10, tmp_path / "b.pt")
    resumed, log_b = run(20, tmp_path / "b.pt")
    assert all(torch.equal(p, q) for p, q in zip(straight.parameters(), resumed.parameters()))
    assert log_a.losses == log_b.losses



def test_a_stack_rejects_a_decaying_optimizer_from_train_resumable():
    from memsep_lib.nets import ScoreMLPStack
    from memsep_lib.training import train_score_stack
    from memsep_lib.training import train_resumable

    stack = ScoreMLPStack(2, 2, width=4, depth=1)
    with pytest.raises(ValueError, match="must not decay"):
        train_resumable(stack, torch.randn(2, 8, 2), steps=2, generator=torch.Generator(), weight_decay=0.1,
                        checkpoint_every=5, log_every=5, train_fn=train_score_stack, progress=False)


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


def test_unknown_time_distribution_is_a_clear_error():
    import pytest
    import torch

    from memsep_lib.nets import ScoreMLP
    from memsep_lib.training import train_score_net

    with pytest.raises(ValueError, match="time_distribution"):
        train_score_net(ScoreMLP(2), torch.randn(8, 2), steps=1, time_distribution="beta")


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
    from memsep_lib.process import alpha, sample_uniform_time, sigma
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


def test_score_net_and_training_bad_inputs(small_problem):
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


def test_divergence_stops_training_with_the_step_and_keeps_the_parameters():
    net = ScoreMLP(2, width=8, depth=1, time_embedding_dim=4)
    data = torch.randn(16, 2)
    with pytest.raises(FloatingPointError, match=r"diverged.*at step \d+"):
        train_score_net(net, data, steps=50, batch_size=8, lr=1e30, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="data"):
        train_score_net(ScoreMLP(2), data * float("nan"), steps=1)
    assert all(torch.isfinite(p).all() for p in net.parameters())      # the diverging step was not taken


def test_resumable_schedule_and_damaged_checkpoints_are_clear_errors(tmp_path):
    from memsep_lib.training import train_resumable
    net, data, gen = ScoreMLP(2, width=8, depth=1, time_embedding_dim=4), torch.randn(16, 2), torch.Generator()
    for kwargs, name in [({"checkpoint_every": 0}, "checkpoint_every"), ({"log_every": -1}, "log_every"),
                         ({"steps": 0}, "steps"), ({"batch_size": 0}, "batch_size")]:
        with pytest.raises(ValueError, match=name):
            train_resumable(net, data, **{"steps": 4, "generator": gen, **kwargs})
    path = tmp_path / "ckpt.pt"
    train_resumable(net, data, steps=4, generator=gen, checkpoint_path=path, checkpoint_every=2, log_every=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]               # no temp file left behind
    path.write_bytes(path.read_bytes()[:100])                                      # truncated
    with pytest.raises(ValueError, match=f"{path}.*truncated or corrupt"):
        load_checkpoint(path, model=net)
    with pytest.raises(ValueError, match="ckpt.pt"):
        train_resumable(net, data, steps=8, generator=gen, checkpoint_path=path, checkpoint_every=2, log_every=2)
