import math

import pytest
import torch

from memsep_lib.process import add_noise, alpha, sigma, sample_small_time, sample_uniform_time


@pytest.mark.parametrize("t", [1e-12, 1e-6, 1e-3, 0.5, 1.0, 10.0])
def test_variance_preserving(t):
    assert alpha(t) ** 2 + sigma(t) ** 2 == pytest.approx(1.0, rel=1e-14)


def test_sigma_is_accurate_at_tiny_t():
    # s_t^2 = t - t^2/2 + ...; the naive 1 - exp(-t) would give 0 or garbage here.
    for t in [1e-15, 1e-10, 1e-7]:
        assert sigma(t) ** 2 == pytest.approx(t - t * t / 2, rel=1e-12)


def test_tensor_in_tensor_out():
    t = torch.tensor([1e-8, 1e-3, 1.0], dtype=torch.float32)
    a, s = alpha(t), sigma(t)
    assert isinstance(a, torch.Tensor) and a.dtype == torch.float32
    assert torch.allclose(s.double() ** 2, -torch.expm1(-t.double()), rtol=1e-6)
    assert isinstance(alpha(0.3), float)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_bad_time_is_a_value_error(bad):
    with pytest.raises(ValueError, match="t must be finite and > 0"):
        alpha(bad)
    with pytest.raises(ValueError, match="t"):
        sigma(torch.tensor([0.5, bad]))


def test_time_type_errors():
    with pytest.raises(TypeError, match="t"):
        sigma("0.1")
    with pytest.raises(TypeError, match="t"):
        sigma(torch.tensor([1, 2]))


def test_add_noise_matches_definition(gen):
    x0 = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    z = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    x_t, z_out = add_noise(x0, 0.2, noise=z)
    assert torch.equal(z_out, z)
    assert torch.allclose(x_t, alpha(0.2) * x0 + sigma(0.2) * z)
    t = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5], dtype=torch.float64)
    x_t, _ = add_noise(x0, t, noise=z)
    assert torch.allclose(x_t[3], alpha(0.4) * x0[3] + sigma(0.4) * z[3])
    with pytest.raises(ValueError, match="noise"):
        add_noise(x0, 0.2, noise=z[:2])
    with pytest.raises(ValueError, match="t must be a scalar or have shape"):
        add_noise(x0, torch.ones(4, dtype=torch.float64))


def test_small_time_sampler_is_scaled_beta(gen):
    t = sample_small_time(20000, 0.5, generator=gen, dtype=torch.float64)
    assert (t > 0).all() and (t <= 0.5).all()
    # mean of horizon * Beta(0.8, 2) is horizon * 0.8 / 2.8
    assert t.mean().item() == pytest.approx(0.5 * 0.8 / 2.8, rel=0.02)
    again = sample_small_time(20000, 0.5, generator=torch.Generator().manual_seed(1234), dtype=torch.float64)
    assert torch.equal(t, again)
    with pytest.raises(ValueError, match="horizon"):
        sample_small_time(3, -1.0)


def test_uniform_time_sampler(gen):
    t = sample_uniform_time(1000, 1e-3, 2.0, generator=gen)
    assert t.min() >= 1e-3 and t.max() <= 2.0
    with pytest.raises(ValueError, match="t0 must be smaller than T"):
        sample_uniform_time(3, 2.0, 1.0)
    with pytest.raises(ValueError, match="n must be positive"):
        sample_uniform_time(0, 0.1, 1.0)


def test_log_uniform_time_sampler(gen):
    from memsep_lib.process import sample_log_uniform_time

    t = sample_log_uniform_time(20000, 1e-3, 10.0, generator=gen, dtype=torch.float64)
    assert t.min() >= 1e-3 and t.max() <= 10.0
    # equal mass per decade: a quarter of the draws in each of the four decades
    frac = ((t > 1e-3) & (t < 1e-2)).double().mean().item()
    assert frac == pytest.approx(0.25, abs=0.015)
    with pytest.raises(ValueError, match="t0 must be smaller than T"):
        sample_log_uniform_time(3, 1.0, 0.5)
