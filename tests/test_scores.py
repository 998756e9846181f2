import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from memsep_lib import scores
from memsep_lib.process import alpha, sigma
from memsep_lib.validation import smallest_time
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


# ---- small t: finite and exact (no 0/0 from a shift by the float32 maximum) -------------------

def _reference64(x, t, data):
    """Score and posterior mean in float64 at the given inputs, from explicit differences over every point."""
    a, s2 = alpha(t), sigma(t) ** 2
    x64, data64 = x.double(), data.double()
    energy = 0.5 * (x64[:, None, :] - a * data64[None]).square().sum(-1)
    w = torch.softmax((energy.amin(1, keepdim=True) - energy) / s2, 1)
    mean = w @ data64
    return (a * mean - x64) / s2, mean, w


def _rel_rows(got, ref):
    return ((got.double() - ref).norm(dim=1) / ref.norm(dim=1)).max().item()


@pytest.mark.parametrize("t", [1e-7, 1e-9, np.float64(1e-7), np.float32(1e-9)])
@pytest.mark.parametrize("d,n", [(4, 200), (3072, 60)])
def test_small_t_is_finite_and_exact(gen, t, d, n):
    """Issue 18: at t <= 1e-7 (d = 3072) or 1e-10 (d = 4) the float32 path used to return NaN."""
    data = _data(n, d, gen, torch.float32)
    draws = _queries_from_p_hat(data.double(), float(t), 16, gen).float()
    mids = _midpoints(data.double(), float(t), 16, gen).float()
    for x in (draws, mids):
        ref_score, ref_mean, _ = _reference64(x, float(t), data)
        score = empirical_score(x, t, data)
        assert score.dtype == torch.float32 and torch.isfinite(score).all()
        assert _rel_rows(score, ref_score) <= 1e-6
        mean = posterior_mean(x, t, data)
        assert torch.isfinite(mean).all() and _rel_rows(mean, ref_mean) <= 1e-6


@pytest.mark.parametrize("t", [1e-7, 1e-9, np.float64(1e-9)])
@pytest.mark.parametrize("d,n", [(4, 50), (3072, 6)])
def test_small_t_cov_and_hessian_are_finite_and_exact(gen, t, d, n):
    data = _data(n, d, gen, torch.float32)
    x = torch.cat([_queries_from_p_hat(data.double(), float(t), 1, gen), _midpoints(data.double(), float(t), 1, gen)]).float()
    _, ref_mean, w = _reference64(x, float(t), data)
    centred = data.double()[None] - ref_mean[:, None]
    ref_cov = torch.einsum("bn,bni,bnj->bij", w, centred, centred)
    cov = posterior_cov(x, t, data)
    assert torch.isfinite(cov).all()
    assert ((cov.double() - ref_cov).abs().amax((1, 2)) <= 1e-6 * ref_cov.abs().amax((1, 2)) + 1e-12).all()
    a, s2 = alpha(float(t)), sigma(float(t)) ** 2
    ref_hess = (a * a / s2) * (ref_cov / s2) - torch.eye(d, dtype=torch.float64) / s2
    hess = empirical_score_hessian(x, t, data)
    assert hess.dtype == torch.float32 and torch.isfinite(hess).all()
    assert ((hess.double() - ref_hess).abs().amax((1, 2)) <= 1e-6 * ref_hess.abs().amax((1, 2))).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_smallest_usable_t_is_finite_or_a_clear_error(gen, dtype):
    data = _data(20, 4, gen, dtype)
    t_min = smallest_time(dtype)
    x = _queries_from_p_hat(data.double(), t_min, 4, gen).to(dtype)
    for fn in (empirical_score, posterior_mean):
        assert torch.isfinite(fn(x, 2 * t_min, data)).all()
    with pytest.raises(ValueError, match="smallest usable t"):
        empirical_score(x, t_min / 4, data)
    # a query far from every point: the true score ~ 10 / s_t^2 does not fit the dtype
    with pytest.raises(ValueError, match="too large for"):
        empirical_score(x + 10, 2 * t_min, data)
    # an exact tie between two points: Cov = diag(1, 0, ...), so the Hessian is ~ 1/s_t^4
    pair = torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]], dtype=dtype)
    assert torch.isfinite(empirical_score_hessian(torch.zeros(1, 4, dtype=dtype), 1e-7, pair)).all()
    with pytest.raises(ValueError, match="too large for"):
        empirical_score_hessian(torch.zeros(1, 4, dtype=dtype), 2 * t_min, pair)


def test_large_t_gives_the_data_mean(gen):
    data = _data(300, 8, gen, torch.float32)
    x = torch.randn(5, 8, generator=gen)
    assert torch.allclose(posterior_mean(x, 1e6, data), data.mean(0).expand(5, 8), atol=1e-6)
    assert torch.allclose(empirical_score(x, 1e6, data), -x, atol=1e-6)


# ---- the exact path, the dense path and their combination -----------------------------------

@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_mixed_exact_and_dense_queries(gen, dtype, tol):
    """One batch where some queries see > num_candidates points near the top (a tight cluster: dense
    path) and others one or two (exact path), across several chunks."""
    d, t = 16, 0.05
    spread = _data(200, d, gen)
    cluster = spread[:1] + 1e-3 * _data(150, d, gen)
    data = torch.cat([spread, cluster])[torch.randperm(350, generator=gen)].to(dtype)
    x = torch.cat([_queries_from_p_hat(spread, t, 6, gen), cluster[:6] + sigma(t) * _data(6, d, gen)]).to(dtype)
    ref_score, _, _ = _reference64(x, t, data)
    for chunk_size in (None, 64, 100):
        for num_candidates in (1, 8, 64):
            got = empirical_score(x, t, data, chunk_size=chunk_size, num_candidates=num_candidates)
            assert _rel_rows(got, ref_score) <= tol


def test_float32_exact_path_matches_reference_exactly(gen):
    """Where the exact path runs, float32 output is the float64 score rounded, up to float64 noise
    (at a midpoint ~1e-13 in the energies moves the score by ~1e-9 sqrt(d)/s_t; the target is 1e-3)."""
    d, t = 3072, 1e-3
    data = _data(500, d, gen, torch.float32)
    x = torch.cat([_midpoints(data.double(), t, 16, gen), _queries_from_p_hat(data.double(), t, 16, gen)]).float()
    ref, _, _ = _reference64(x, t, data)
    got = empirical_score(x, t, data, chunk_size=128)
    rounding = (ref.float().double() - ref).norm(dim=1)
    assert ((got.double() - ref).norm(dim=1) <= 2 * rounding + 1e-8 * math.sqrt(d) / sigma(t)).all()


def test_nan_in_a_later_chunk_of_data_is_caught():
    data = torch.randn(50, 3)
    data[41, 1] = math.nan
    for fn in (empirical_score, posterior_mean):
        with pytest.raises(ValueError, match="data contains NaN"):
            fn(torch.randn(2, 3), 0.1, data, chunk_size=8)


def test_numpy_and_tensor_times_match_float(gen):
    data = _data(40, 3, gen, torch.float32)
    x = _queries_from_p_hat(data.double(), 1e-3, 4, gen).float()
    ref = empirical_score(x, 1e-3, data)
    for t in (np.float64(1e-3), np.float32(1e-3), torch.tensor(1e-3, dtype=torch.float64)):
        assert torch.allclose(empirical_score(x, t, data), ref, rtol=1e-6)


def _spy(monkeypatch, cls, name="add"):
    """Count the calls of ``cls.name`` (and the rows handed to it) while keeping its behaviour."""
    calls = []
    original = getattr(cls, name)

    def wrapped(self, *args, **kwargs):
        calls.append(args[2].shape[0] if name == "add" and cls is scores._ExactPart else 1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, wrapped)
    return calls


def test_listed_points_recomputed_in_several_rounds(gen, monkeypatch):
    """Tiny t and a cluster of near-duplicates: every point of the cluster lies within the margin and the
    float32 bound exceeds a logit, so all are listed; a small memory budget makes the kernel recompute the
    list in several rounds (the online float64 merge across rounds)."""
    d, t = 4, 1e-6
    spread = _data(100, d, gen)
    cluster = spread[:1] + 1e-4 * _data(300, d, gen)
    data = torch.cat([spread, cluster])[torch.randperm(400, generator=gen)].float()
    x = torch.cat([cluster[:4] + sigma(t) * _data(4, d, gen), _queries_from_p_hat(spread, t, 4, gen)]).float()
    ref_score, _, _ = _reference64(x, t, data)
    rows = _spy(monkeypatch, scores._ExactPart)
    monkeypatch.setattr(scores, "_CHUNK_ELEMENTS", 2000)          # a round every ~125 listed points
    got = empirical_score(x, t, data, chunk_size=64)
    assert len(rows) > 2 and sum(rows) > 4 * 300                   # the cluster's points, in several rounds
    assert torch.isfinite(got).all() and _rel_rows(got, ref_score) <= 1e-6


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_dense_chunks_before_the_maximum_arrives(gen, monkeypatch, dtype, tol):
    """The first chunks hold a tight cluster far from the queries: relative to the running maximum they are
    dense (summed in the working dtype), then the queries' own points arrive and make them negligible."""
    d, t = 16, 0.3
    spread = _data(50, d, gen)
    cluster = spread[:1] + 3.0 + 0.05 * _data(600, d, gen)
    data = torch.cat([cluster, spread]).to(dtype)                 # the cluster first, in its own chunks
    x = _queries_from_p_hat(spread, t, 8, gen).to(dtype)
    ref_score, _, _ = _reference64(x, t, data)
    dense_calls = _spy(monkeypatch, scores._DensePart)
    got = empirical_score(x, t, data, chunk_size=100)
    assert len(dense_calls) >= 6
    assert _rel_rows(got, ref_score) <= tol


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_all_queries_dense_over_many_chunks(gen, dtype, tol):
    """Large t on clustered data: every query is dense in every chunk; the points each lists (its largest so
    far, within the window) and the working-dtype sums of the rest still give the float64 score."""
    d, t = 8, 1.0
    centres = 2.0 * _data(5, d, gen)
    data = (centres[torch.randint(5, (1000,), generator=gen)] + 0.3 * _data(1000, d, gen)).to(dtype)
    x = _queries_from_p_hat(data.double(), t, 16, gen).to(dtype)
    ref_score, _, _ = _reference64(x, t, data)
    for chunk_size in (100, 333):
        assert _rel_rows(empirical_score(x, t, data, chunk_size=chunk_size), ref_score) <= tol
