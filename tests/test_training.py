import pytest
import torch
from torch import nn

from memsep_lib.training import EMA, load_checkpoint, save_checkpoint


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
    from memsep_lib.nets import ScoreMLPStack, train_score_stack
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
    from memsep_lib.nets import ScoreMLPStack, train_score_stack
    from memsep_lib.training import train_resumable

    stack = ScoreMLPStack(2, 2, width=4, depth=1)
    with pytest.raises(ValueError, match="must not decay"):
        train_resumable(stack, torch.randn(2, 8, 2), steps=2, generator=torch.Generator(), weight_decay=0.1,
                        checkpoint_every=5, log_every=5, train_fn=train_score_stack, progress=False)
