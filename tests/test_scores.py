import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from memsep_lib.process import alpha, sigma
from memsep_lib.scores import (empirical_log_prob, empirical_score, empirical_score_hessian,
                               posterior_cov, posterior_mean, posterior_weights)


def _data(n, d, gen, dtype=torch.float64):
    return torch.randn(n, d, generator=gen, dtype=dtype)


def _queries_from_p_hat(data, t, B, gen):
    """x = a_t x_i + s_t z with random i: draws from the empirical noised law."""
    i = torch.randint(data.shape[0], (B,), generator=gen)
    return alpha(t) * data[i] + sigma(t) * torch.randn(B, data.shape[1], generator=gen, dtype=data.dtype)


def _midpoints(data, t, B, gen):
    """a_t (x_i + x_j) / 2: the two posterior weights of x_i and x_j tie (in exact arithmetic)."""
    i = torch.randint(data.shape[0], (B,), generator=gen)
    j = (i + 1 + torch.randint(data.shape[0] - 1, (B,), generator=gen)) % data.shape[0]
    return alpha(t) * (data[i] + data[j]) / 2


# ---- against autograd, float64 ---------------------------------------------------------------

@pytest.mark.parametrize("t", [1e-3, 0.1, 1.0])
@pytest.mark.parametrize("d", [1, 3, 16])
def test_score_is_gradient_of_log_density(gen, t, d):
    data = _data(40, d, gen)
    x = _queries_from_p_hat(data, t, 8, gen).requires_grad_(True)
    (grad,) = torch.autograd.grad(empirical_log_prob(x, t, data).sum(), x)
    assert torch.allclose(empirical_score(x.detach(), t, data), grad, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("t", [1e-2, 0.3, 1.0])
def test_hessian_is_jacobian_of_score(gen, t):
    data = _data(30, 3, gen)
    x = _queries_from_p_hat(data, t, 4, gen)
    jac = torch.autograd.functional.jacobian(lambda y: empirical_score(y, t, data), x)   # (B, d, B, d)
    per_point = torch.stack([jac[b, :, b, :] for b in range(x.shape[0])])
    hess = empirical_score_hessian(x, t, data)
    assert torch.allclose(hess, per_point, rtol=1e-8, atol=1e-8 / sigma(t) ** 2)
    assert torch.allclose(hess, hess.transpose(1, 2))


@pytest.mark.parametrize("t", [1e-3, 0.5])
def test_tweedie_and_posterior_moments(gen, t):
    data = _data(50, 4, gen)
    x = _queries_from_p_hat(data, t, 6, gen)
    w = posterior_weights(x, t, data)
    assert torch.allclose(w.sum(1), torch.ones(6, dtype=torch.float64))
    mean = posterior_mean(x, t, data)
    assert torch.allclose(mean, w @ data, atol=1e-10)
    # Tweedie: grad log p^_t(x) = (a_t E[X_0 | x] - x) / s_t^2
    score = empirical_score(x, t, data)
    assert torch.allclose(score, (alpha(t) * mean - x) / sigma(t) ** 2, rtol=1e-8, atol=1e-8)
    cov = posterior_cov(x, t, data)
    ref = torch.einsum("bn,bni,bnj->bij", w, data - mean[:, None], data - mean[:, None])
    assert torch.allclose(cov, ref, atol=1e-12)
    assert (torch.linalg.eigvalsh(cov) > -1e-12).all()


# ---- float32 accuracy (the cancellation problem) ---------------------------------------------

def _float32_errors(data32, x32, t):
    """Score errors of the float32 path against float64 evaluated at the same (float32-rounded) inputs."""
    ref = empirical_score(x32.double(), t, data32.double())
    got = empirical_score(x32, t, data32).double()
    return (got - ref).norm(dim=1), ref


@pytest.mark.parametrize("t", [1e-4, 1e-3, 1e-1, 1.0])
@pytest.mark.parametrize("d,n", [(2, 2000), (64, 1000), (3072, 300)])
def test_float32_matches_float64_on_p_hat_queries(gen, t, d, n):
    data = _data(n, d, gen, torch.float32)
    x = _queries_from_p_hat(data.double(), t, 64, gen).float()
    err, ref = _float32_errors(data, x, t)
    assert (err.norm() / ref.norm()).item() <= 1e-4


@pytest.mark.parametrize("t", [1e-4, 1e-3, 1e-1, 1.0])
@pytest.mark.parametrize("d,n", [(2, 2000), (64, 1000), (3072, 300)])
def test_float32_matches_float64_at_midpoints(gen, t, d, n):
    data = _data(n, d, gen, torch.float32)
    x = _midpoints(data.double(), t, 64, gen).float()
    err, _ = _float32_errors(data, x, t)
    assert err.max().item() <= 1e-3 * math.sqrt(d) / sigma(t)


def test_naive_float32_logits_fail_at_midpoints(gen):
    """The midpoint check has teeth: softmax over matmul-expanded float32 logits breaks it."""
    d, t = 3072, 1e-3
    data = _data(300, d, gen, torch.float32)
    x = _midpoints(data.double(), t, 64, gen).float()
    a, s2 = alpha(t), sigma(t) ** 2
    logits = (2 * a * x @ data.T - a * a * (data * data).sum(1) - (x * x).sum(1, keepdim=True)) / (2 * s2)
    naive = (torch.softmax(logits, 1) @ (a * data) - x) / s2
    ref = empirical_score(x.double(), t, data.double())
    assert (naive.double() - ref).norm(dim=1).max().item() > 1e-3 * math.sqrt(d) / sigma(t)


def test_chunking_does_not_change_the_result(gen):
    data = _data(257, 5, gen)
    x = _queries_from_p_hat(data, 0.05, 33, gen)
    full = empirical_score(x, 0.05, data)
    for chunk_size in (1, 7, 64, 1000):
        assert torch.allclose(empirical_score(x, 0.05, data, chunk_size=chunk_size), full, rtol=1e-12, atol=1e-12)
    assert torch.allclose(empirical_score(x, 0.05, data, num_candidates=1), full, rtol=1e-10, atol=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(gen):
    data = _data(500, 32, gen, torch.float32)
    x = _queries_from_p_hat(data, 1e-3, 64, gen)
    cpu = empirical_score(x, 1e-3, data)
    gpu = empirical_score(x.cuda(), 1e-3, data.cuda())
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)


# ---- shapes and bad inputs (hypothesis) -------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(B=st.integers(1, 9), n=st.integers(1, 40), d=st.integers(1, 6),
       t=st.floats(1e-5, 10.0), seed=st.integers(0, 2**16))
def test_shapes_and_finiteness(B, n, d, t, seed):
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = 3 * torch.randn(B, d, generator=g, dtype=torch.float64)
    score = empirical_score(x, t, data)
    assert score.shape == (B, d) and torch.isfinite(score).all()
    assert posterior_mean(x, t, data).shape == (B, d)
    assert empirical_score_hessian(x, t, data).shape == (B, d, d)
    # the posterior mean is a convex combination of the data
    m = posterior_mean(x, t, data)
    assert (m <= data.max(0).values + 1e-9).all() and (m >= data.min(0).values - 1e-9).all()


@settings(max_examples=25, deadline=None)
@given(t=st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.just(math.inf)))
def test_bad_time(t):
    data = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="t must be finite and > 0"):
        empirical_score(torch.zeros(1, 2), t, data)


@pytest.mark.parametrize("fn", [empirical_score, posterior_mean, posterior_cov, empirical_score_hessian,
                                empirical_log_prob, posterior_weights])
def test_bad_inputs_name_the_argument(fn):
    data = torch.randn(4, 3)
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="x must have dimension d=3"):
        fn(torch.randn(2, 5), 0.1, data)
    with pytest.raises(TypeError, match="dtype"):
        fn(x.double(), 0.1, data)
    with pytest.raises(ValueError, match="data is empty"):
        fn(x, 0.1, torch.empty(0, 3))
    with pytest.raises(ValueError, match="x contains NaN"):
        fn(torch.tensor([[0.0, math.nan, 0.0]]), 0.1, data)
    with pytest.raises(ValueError, match="data contains NaN or infinite"):
        fn(x, 0.1, torch.tensor([[0.0, math.inf, 0.0]]))
    with pytest.raises(TypeError, match="floating dtype"):
        fn(torch.zeros(2, 3, dtype=torch.long), 0.1, data)
    with pytest.raises(ValueError, match=r"shape \(B, d\)"):
        fn(torch.zeros(3), 0.1, data)
    with pytest.raises(TypeError, match="torch.Tensor"):
        fn([[0.0, 0.0, 0.0]], 0.1, data)
