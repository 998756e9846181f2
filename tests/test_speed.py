"""The CUDA speed switches (memsep_lib.speed): nothing changes on the CPU; TF32 only inside a training loop;
on CUDA the DiT's matmuls in bf16 with a float32 output and loss, the fused (flash) attention kernel, and
samplers in float32 without autocast (those tests need a GPU: benchmarks/gpu_check.sh runs them)."""

import contextlib

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from memsep_lib.config import make_generator
from memsep_lib.dit import DiT, FlatScore
from memsep_lib.experiments.dit_pruning import CONFIGS
from memsep_lib.losses import dsm_loss
from memsep_lib.nets import ScoreMLP
from memsep_lib.sampling import sample
from memsep_lib.speed import Speed, speed_for, tf32, training_forward
from memsep_lib.training import train_score_net

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _flags():
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@contextlib.contextmanager
def _tf32_flags(value: bool):
    """Both TF32 flags set to ``value`` for the test, the session's settings after it."""
    before = _flags()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = value
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _state() -> tuple:
    """What a matmul would run with now: the TF32 flags and whether CUDA autocast is on."""
    return (*_flags(), torch.is_autocast_enabled("cuda"))


def test_tf32_is_on_inside_the_block_only():
    with _tf32_flags(False):
        with tf32():
            assert _flags() == (True, True)
        assert _flags() == (False, False)
        with tf32(False):
            assert _flags() == (False, False)
        with pytest.raises(KeyError), tf32():
            raise KeyError("an error inside training")
        assert _flags() == (False, False)


def test_the_switches_are_cuda_only():
    net = ScoreMLP(2, width=8, depth=1)
    assert training_forward(net) is net                          # no DDP, no switches: the net itself
    for speed in (Speed(), Speed(bf16=True, tf32=False), Speed(bf16=False, tf32=True)):
        with pytest.raises(ValueError, match="CUDA-only"):
            training_forward(net, speed=speed)
    assert speed_for("cpu") is None


def test_cpu_training_runs_without_tf32_or_autocast():
    data = torch.randn(16, 2, generator=make_generator(0))
    seen = []
    with _tf32_flags(False):
        train_score_net(ScoreMLP(2, width=8, depth=1), data, steps=3, batch_size=4, generator=make_generator(1),
                        speed=speed_for("cpu"), callbacks=[lambda step, net, loss: seen.append(_state())])
    assert seen == [(False, False, False)] * 3


@pytest.fixture
def cuda_net() -> FlatScore:
    """The gpu profile's DiT on CUDA with random weights (adaLN-Zero would make its output exactly 0)."""
    cfg = CONFIGS["gpu"]
    torch.manual_seed(0)
    model = DiT.from_config(cfg.dit, input_size=cfg.resolution).to("cuda")
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    return FlatScore(model)


@pytest.mark.gpu
@cuda
def test_cuda_forward_runs_bf16_matmuls_flash_attention_and_returns_float32(cuda_net):
    net, device = cuda_net, torch.device("cuda")
    dtypes = []
    net.model.blocks[0].mlp[0].register_forward_hook(lambda mod, inp, out: dtypes.append(out.dtype))
    forward = training_forward(net, speed=speed_for(device))
    x = torch.rand(8, net.dim, device=device) * 2 - 1
    t = torch.full((8,), 0.05, device=device)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):     # only the fused flash kernel: an error if it cannot run
        fast = forward(x, t)
    exact = net(x, t)                                  # float32, no autocast
    assert dtypes == [torch.bfloat16, torch.float32]
    assert fast.dtype == torch.float32 and torch.isfinite(fast).all()
    assert ((fast - exact).norm() / exact.norm()).item() < 5e-2     # bf16 rounding (2^-8 relative), not a bug
    loss = dsm_loss(forward, x, t).mean()
    assert loss.dtype == torch.float32


@pytest.mark.gpu
@cuda
def test_cuda_training_uses_tf32_only_inside_and_sampling_stays_float32(cuda_net):
    net, device = cuda_net, torch.device("cuda")
    data = torch.rand(32, net.dim, device=device) * 2 - 1
    during = []
    with _tf32_flags(False):
        log = train_score_net(net, data, steps=2, batch_size=16, generator=make_generator(0, device),
                              speed=speed_for(device), callbacks=[lambda step, m, loss: during.append(_state())])
        assert during == [(True, True, False)] * 2 and _flags() == (False, False)
        assert all(torch.isfinite(torch.tensor(log.losses)))
        seen = []

        def score(x, t):
            seen.append(_state())
            out = net(x, t)
            assert out.dtype == torch.float32
            return out

        samples = sample(score, 4, net.dim, steps=3, generator=make_generator(1, device), device=device)
    assert samples.dtype == torch.float32 and set(seen) == {(False, False, False)}

