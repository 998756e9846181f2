"""Bad and edge inputs across the core's public functions, as one table (issue 18).

``ERRORS``: ``(id, call, exception, message regex)`` — the call must raise that exception (a
``ValueError`` or ``TypeError``) with a message naming the offending argument. ``ANSWERS``:
``(id, call, check)`` — an edge input with a correct, finite answer that ``check`` verifies.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from memsep_lib import config, data
from memsep_lib.fits import power_law_fit
from memsep_lib.losses import dsm_loss, fisher_divergence, fisher_information, fisher_information_gap, loss_gap
from memsep_lib.metrics import (frechet_distance, memorization_fraction, nearest_neighbors, nn_distance_ratio,
                                precision_recall)
from memsep_lib.mixtures import GaussianMixture, min_pairwise_distance, well_separated_mixture
from memsep_lib.process import (add_noise, alpha, sample_log_uniform_time, sample_small_time, sample_uniform_time,
                                sigma)
from memsep_lib.sampling import sample, time_grid
from memsep_lib.scores import empirical_score
from memsep_lib.stats import bonferroni_z, mean_std, paired_difference
from memsep_lib.validation import check_time, smallest_time

F32, F64 = torch.float32, torch.float64
NAN, INF = float("nan"), float("inf")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


GM = well_separated_mixture(3, 2, separation=3.0, std=0.5, generator=_gen(0))     # float64, K=3, d=2
DATA = GM.sample(12, _gen(1))                                                       # (12, 2) float64
DATA32 = DATA.float()
X = torch.randn(4, 2, generator=_gen(2), dtype=F64)
X32 = X.float()
EYE2 = torch.eye(2, dtype=F64).expand(3, 2, 2).clone()


def zero_score(x, t):
    return torch.zeros_like(x)


def with_nan(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    x.view(-1)[0] = NAN
    return x


def covs_with(value, i=0, j=1):
    covs = EYE2.clone()
    covs[0, i, j] = value
    return covs


def nan_score_at(t_bad):
    """A score that is NaN only at time ``t_bad`` (e.g. the denoising step)."""
    return lambda x, t: torch.full_like(x, NAN) if t == t_bad else -x


def env(**values):
    """Run a call with environment variables set (restored afterwards)."""
    def wrap(call):
        def run():
            with mock.patch.dict(os.environ, values):
                return call()
        return run
    return wrap


def npz_case(*, raw: bytes | None = None, truncate: bool = False, verify: bool = True, **arrays):
    """Write ``cifar10_train.npz`` (arrays, raw bytes, or a truncated archive) and load it."""
    def run():
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "cifar10_train.npz"
            if raw is not None:
                path.write_bytes(raw)
            else:
                np.savez_compressed(path, **arrays)
                if truncate:
                    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
            with mock.patch.dict(data.KNOWN_SHA256, {}, clear=True):     # no known sha: the content checks
                return data.load_cifar10("train", data_dir=folder, verify=verify, allow_download=False)
    return run


RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
LABELS = RNG.integers(0, 10, 6)
NPZ = r"cifar10_train\.npz"

MPS_MISSING = not torch.backends.mps.is_available()
# A CPU generator for draws on CUDA: refused as such, or first because CUDA is absent here.
CPU_GENERATOR_ON_CUDA = r"generator is on cpu but the draws are made on cuda|device='cuda' but CUDA is not available"


ERRORS = [
    # --- validation.check_time -------------------------------------------------------------------
    ("check_time-bool", lambda: check_time(True), TypeError, r"^t must be a real number, got bool"),
    ("check_time-numpy-bool", lambda: check_time(np.bool_(True)), TypeError, r"t must be a real number"),
    ("check_time-string", lambda: check_time("0.1"), TypeError, r"t must be a real number, got str"),
    ("check_time-none", lambda: check_time(None), TypeError, r"t must be a real number, got NoneType"),
    ("check_time-complex", lambda: check_time(1j), TypeError, r"t must be a real number, got complex"),
    ("check_time-nan", lambda: check_time(NAN), ValueError, r"t must be finite and > 0, got nan"),
    ("check_time-inf", lambda: check_time(INF), ValueError, r"t must be finite and > 0, got inf"),
    ("check_time-zero", lambda: check_time(0), ValueError, r"t must be finite and > 0, got 0"),
    ("check_time-negative", lambda: check_time(-1e-3), ValueError, r"t must be finite and > 0"),
    ("check_time-huge-int", lambda: check_time(10 ** 400), ValueError, r"t must be finite"),
    ("check_time-tensor-of-two", lambda: check_time(torch.tensor([0.1, 0.2])), ValueError,
     r"t must be a scalar, got a tensor of shape \(2,\)"),
    ("check_time-array-of-two", lambda: check_time(np.array([0.1, 0.2])), ValueError,
     r"t must be a scalar, got an array of shape \(2,\)"),
    ("check_time-bool-tensor", lambda: check_time(torch.tensor(True)), TypeError, r"t must be a real number"),
    ("check_time-overflows-float32", lambda: check_time(1e-40, dtype=F32), ValueError,
     r"t=1e-40 is too small for float32: 1/s_t\^2 overflows it; the smallest usable t is 1\.18e-38"),
    ("check_time-overflows-float16", lambda: check_time(1e-5, "t0", dtype=torch.float16), ValueError,
     r"t0=1e-05 is too small for float16.*smallest usable t0 is 6\.1"),
    ("check_time-overflows-float64", lambda: check_time(1e-310), ValueError,
     r"too small for float64.*smallest usable t is 2\.23e-308"),
    ("check_time-int-dtype", lambda: check_time(0.1, dtype=torch.int64), TypeError, r"dtype must be one of"),
    # --- process ----------------------------------------------------------------------------------
    ("alpha-string", lambda: alpha("1"), TypeError, r"t must be a real number"),
    ("sigma-negative-entry", lambda: sigma(torch.tensor([0.1, -0.1])), ValueError, r"t must be finite and > 0"),
    ("sigma-nan-entry", lambda: sigma(torch.tensor([0.1, NAN])), ValueError, r"t must be finite and > 0"),
    ("sigma-int-tensor", lambda: sigma(torch.tensor([1, 2])), TypeError, r"t must be a floating tensor"),
    ("sigma-empty-tensor", lambda: sigma(torch.tensor([])), ValueError, r"t is an empty tensor"),
    ("sigma-float32-too-small", lambda: sigma(torch.tensor([1e-39, 0.1])), ValueError,
     r"too small for float32.*smallest usable t is 1\.18e-38"),
    ("add_noise-numpy-x0", lambda: add_noise(X.numpy(), 0.1), TypeError, r"x0 must be a torch\.Tensor"),
    ("add_noise-int-x0", lambda: add_noise(torch.ones(3, 2, dtype=torch.int64), 0.1), TypeError,
     r"x0 must have a floating dtype"),
    ("add_noise-1d-x0", lambda: add_noise(torch.ones(3), 0.1), ValueError, r"x0 must have shape \(B, d\)"),
    ("add_noise-empty-x0", lambda: add_noise(torch.empty(0, 2), 0.1), ValueError, r"x0 is empty"),
    ("add_noise-zero-dim", lambda: add_noise(torch.empty(3, 0), 0.1), ValueError, r"x0 has dimension d=0"),
    ("add_noise-nan-x0", lambda: add_noise(with_nan(X), 0.1), ValueError, r"x0 contains NaN"),
    ("add_noise-noise-shape", lambda: add_noise(X, 0.1, noise=torch.zeros(4, 3, dtype=F64)), ValueError,
     r"noise must have the shape of x0"),
    ("add_noise-noise-dtype", lambda: add_noise(X, 0.1, noise=torch.zeros(4, 2)), TypeError,
     r"noise must have the dtype and device of x0"),
    ("add_noise-noise-numpy", lambda: add_noise(X, 0.1, noise=np.zeros((4, 2))), TypeError,
     r"noise must be a torch\.Tensor"),
    ("add_noise-noise-nan", lambda: add_noise(X, 0.1, noise=with_nan(X)), ValueError, r"noise contains NaN"),
    ("add_noise-t-wrong-length", lambda: add_noise(X, torch.tensor([0.1, 0.2], dtype=F64)), ValueError,
     r"t must be a scalar or have shape \(4,\)"),
    ("add_noise-t-empty", lambda: add_noise(X, torch.tensor([], dtype=F64)), ValueError,
     r"t must be a scalar or have shape \(4,\), got an empty tensor"),
    ("add_noise-generator-string", lambda: add_noise(X, 0.1, generator="seed"), TypeError,
     r"generator must be a torch\.Generator"),
    ("sample_uniform_time-zero-n", lambda: sample_uniform_time(0, 0.1, 1.0), ValueError, r"n must be positive"),
    ("sample_uniform_time-bool-n", lambda: sample_uniform_time(True, 0.1, 1.0), TypeError, r"n must be an int"),
    ("sample_uniform_time-reversed", lambda: sample_uniform_time(4, 1.0, 0.1), ValueError,
     r"t0 must be smaller than T"),
    ("sample_uniform_time-int-dtype", lambda: sample_uniform_time(4, 0.1, 1.0, dtype=torch.int64), TypeError,
     r"dtype must be one of"),
    ("sample_uniform_time-generator-device", lambda: sample_uniform_time(4, 0.1, 1.0, generator=_gen(),
                                                                        device="cuda"), ValueError,
     CPU_GENERATOR_ON_CUDA),
    ("sample_uniform_time-bad-device", lambda: sample_uniform_time(4, 0.1, 1.0, device="gpu0"), ValueError,
     r"device='gpu0' is not a valid torch device"),
    ("sample_log_uniform_time-negative-t0", lambda: sample_log_uniform_time(4, -1.0, 1.0), ValueError,
     r"t0 must be finite and > 0"),
    ("sample_log_uniform_time-float-n", lambda: sample_log_uniform_time(4.0, 0.1, 1.0), TypeError,
     r"n must be an int"),
    ("sample_small_time-negative-t_min", lambda: sample_small_time(4, 0.3, t_min=-1e-5), ValueError,
     r"t_min must be finite and > 0"),
    ("sample_small_time-zero-t_min", lambda: sample_small_time(4, 0.3, t_min=0.0), ValueError,
     r"t_min must be finite and > 0"),
    ("sample_small_time-t_min-above-horizon", lambda: sample_small_time(4, 0.3, t_min=0.5), ValueError,
     r"t_min must be smaller than horizon"),
    ("sample_small_time-zero-a", lambda: sample_small_time(4, 0.3, a=0), ValueError, r"a must be > 0"),
    ("sample_small_time-nan-a", lambda: sample_small_time(4, 0.3, a=NAN), ValueError, r"a must be finite"),
    ("sample_small_time-bool-a", lambda: sample_small_time(4, 0.3, a=True), TypeError, r"a must be a real number"),
    ("sample_small_time-string-b", lambda: sample_small_time(4, 0.3, b="2"), TypeError, r"b must be a real number"),
    ("sample_small_time-negative-horizon", lambda: sample_small_time(4, -0.3), ValueError,
     r"horizon must be finite and > 0"),
    # --- mixtures ---------------------------------------------------------------------------------
    ("GaussianMixture-float16-means", lambda: GaussianMixture(GM.means.half(), EYE2.half()), TypeError,
     r"means dtype must be one of the floating dtypes float32, float64"),
    ("GaussianMixture-nan-covs", lambda: GaussianMixture(GM.means, covs_with(NAN)), ValueError,
     r"covs contains NaN or infinite values"),
    ("GaussianMixture-nan-covs-diagonal", lambda: GaussianMixture(GM.means, covs_with(NAN, 0, 0)), ValueError,
     r"covs contains NaN"),
    ("GaussianMixture-asymmetric-covs", lambda: GaussianMixture(GM.means, covs_with(0.5)), ValueError,
     r"covs must be symmetric"),
    ("GaussianMixture-indefinite-covs", lambda: GaussianMixture(GM.means, -EYE2), ValueError,
     r"covs must be positive definite"),
    ("GaussianMixture-covs-shape", lambda: GaussianMixture(GM.means, EYE2[:2]), ValueError,
     r"covs must have shape \(K, d, d\) = \(3, 2, 2\)"),
    ("GaussianMixture-covs-numpy", lambda: GaussianMixture(GM.means, EYE2.numpy()), TypeError,
     r"covs must be a torch\.Tensor"),
    ("GaussianMixture-covs-dtype", lambda: GaussianMixture(GM.means, EYE2.float()), TypeError,
     r"covs must have the dtype of means"),
    ("GaussianMixture-weights-list", lambda: GaussianMixture(GM.means, EYE2, [1.0, 1.0, 1.0]), TypeError,
     r"weights must be a torch\.Tensor"),
    ("GaussianMixture-weights-shape", lambda: GaussianMixture(GM.means, EYE2, torch.ones(2)), ValueError,
     r"weights must have shape \(3,\)"),
    ("GaussianMixture-weights-negative", lambda: GaussianMixture(GM.means, EYE2, torch.tensor([1.0, -1.0, 1.0])),
     ValueError, r"weights must be finite and positive"),
    ("GaussianMixture-weights-nan", lambda: GaussianMixture(GM.means, EYE2, torch.tensor([1.0, NAN, 1.0])),
     ValueError, r"weights must be finite and positive"),
    ("GaussianMixture-weights-bool", lambda: GaussianMixture(GM.means, EYE2, torch.ones(3, dtype=torch.bool)),
     TypeError, r"weights must have a real dtype"),
    ("GaussianMixture-inf-means", lambda: GaussianMixture(GM.means * INF, EYE2), ValueError,
     r"means contains NaN or infinite"),
    ("GaussianMixture-1d-means", lambda: GaussianMixture(GM.means[0], EYE2), ValueError,
     r"means must have shape \(B, d\)"),
    ("mixture.sample-zero", lambda: GM.sample(0), ValueError, r"n must be positive"),
    ("mixture.sample-float", lambda: GM.sample(2.5), TypeError, r"n must be an int"),
    ("mixture.sample-generator-int", lambda: GM.sample(3, 42), TypeError, r"generator must be a torch\.Generator"),
    ("mixture.sample-return_labels-string", lambda: GM.sample(3, return_labels="yes"), TypeError,
     r"return_labels must be True or False"),
    ("mixture.score-float32-x", lambda: GM.score(X32, 0.1), TypeError, r"x must have dtype torch\.float64"),
    ("mixture.score-wrong-dim", lambda: GM.score(torch.zeros(4, 3, dtype=F64), 0.1), ValueError,
     r"x must have dimension d=2"),
    ("mixture.score-zero-t", lambda: GM.score(X, 0), ValueError, r"t must be finite and > 0"),
    ("mixture.score-subnormal-t", lambda: GM.score(X, 1e-320), ValueError, r"smallest usable t is 2\.23e-308"),
    ("mixture.log_prob-string-t", lambda: GM.log_prob(X, "0.1"), TypeError, r"t must be a real number"),
    ("mixture.hessian-nan-x", lambda: GM.hessian(with_nan(X), 0.1), ValueError, r"x contains NaN"),
    ("mixture.to-float16", lambda: GM.to(dtype=torch.float16), TypeError, r"dtype must be one of"),
    ("well_separated_mixture-float16", lambda: well_separated_mixture(3, 2, dtype=torch.float16), TypeError,
     r"dtype must be one of the floating dtypes float32, float64, got torch\.float16"),
    ("well_separated_mixture-int-dtype", lambda: well_separated_mixture(3, 2, dtype=torch.int64), TypeError,
     r"dtype must be one of"),
    ("well_separated_mixture-zero-K", lambda: well_separated_mixture(0, 2), ValueError, r"K must be positive"),
    ("well_separated_mixture-bool-d", lambda: well_separated_mixture(3, True), TypeError, r"d must be an int"),
    ("well_separated_mixture-bool-separation", lambda: well_separated_mixture(3, 2, separation=True), TypeError,
     r"separation must be a real number"),
    ("well_separated_mixture-string-separation", lambda: well_separated_mixture(3, 2, separation="2"), TypeError,
     r"separation must be a real number"),
    ("well_separated_mixture-negative-std", lambda: well_separated_mixture(3, 2, std=-1.0), ValueError,
     r"std must be > 0"),
    ("well_separated_mixture-inf-std", lambda: well_separated_mixture(3, 2, std=INF), ValueError,
     r"std must be finite"),
    ("well_separated_mixture-generator-int", lambda: well_separated_mixture(3, 2, generator=42), TypeError,
     r"generator must be a torch\.Generator"),
    ("min_pairwise_distance-one-point", lambda: min_pairwise_distance(X[:1]), ValueError,
     r"points must contain at least two rows"),
    # --- losses -----------------------------------------------------------------------------------
    ("dsm_loss-not-callable", lambda: dsm_loss("score", DATA, 0.1), TypeError, r"score_fn must be callable"),
    ("dsm_loss-broadcastable-score", lambda: dsm_loss(lambda x, t: x[:, :1], DATA, 0.1), ValueError,
     r"score_fn must return a tensor of shape \(12, 2\), got \(12, 1\)"),
    ("dsm_loss-score-dtype", lambda: dsm_loss(lambda x, t: x.float(), DATA, 0.1), TypeError,
     r"score_fn must return the dtype of its input torch\.float64, got torch\.float32"),
    ("dsm_loss-score-numpy", lambda: dsm_loss(lambda x, t: x.numpy(), DATA, 0.1), TypeError,
     r"score_fn must return a tensor"),
    ("dsm_loss-zero-t", lambda: dsm_loss(GM.score, DATA, 0.0), ValueError, r"t must be finite and > 0"),
    ("dsm_loss-float32-tiny-t", lambda: dsm_loss(zero_score, DATA32, 1e-40), ValueError,
     r"too small for float32.*smallest usable t is 1\.18e-38"),
    ("dsm_loss-per-row-t-length", lambda: dsm_loss(zero_score, DATA, torch.full((5,), 0.1, dtype=F64)), ValueError,
     r"t must be a scalar or have shape \(12,\)"),
    ("dsm_loss-per-row-t-nan", lambda: dsm_loss(zero_score, DATA, torch.full((12,), NAN, dtype=F64)), ValueError,
     r"t must be finite and > 0 everywhere"),
    ("dsm_loss-list-x0", lambda: dsm_loss(zero_score, DATA.tolist(), 0.1), TypeError, r"x0 must be a torch\.Tensor"),
    ("loss_gap-nan-score", lambda: loss_gap(DATA, lambda x, t: torch.full_like(x, NAN), 0.1, num_samples=8),
     ValueError, r"score_fn returned NaN or infinite values at t=0\.1"),
    ("loss_gap-broadcastable-score", lambda: loss_gap(DATA, lambda x, t: x[:, :1], 0.1, num_samples=8), ValueError,
     r"score_fn must return a tensor of shape \(8, 2\)"),
    ("loss_gap-zero-num_samples", lambda: loss_gap(DATA, GM.score, 0.1, num_samples=0), ValueError,
     r"num_samples must be positive"),
    ("loss_gap-float-num_samples", lambda: loss_gap(DATA, GM.score, 0.1, num_samples=10.0), TypeError,
     r"num_samples must be an int"),
    ("loss_gap-zero-batch_size", lambda: loss_gap(DATA, GM.score, 0.1, num_samples=8, batch_size=0), ValueError,
     r"batch_size must be positive"),
    ("loss_gap-float16-data", lambda: loss_gap(DATA.half(), GM.score, 0.1, num_samples=8), TypeError,
     r"data must be float32 or float64"),
    ("loss_gap-string-t", lambda: loss_gap(DATA, GM.score, "0.1", num_samples=8), TypeError,
     r"t must be a real number"),
    ("loss_gap-subnormal-t", lambda: loss_gap(DATA, GM.score, 1e-320, num_samples=8), ValueError,
     r"smallest usable t is 2\.23e-308"),
    ("loss_gap-noise-below-precision", lambda: loss_gap(DATA, zero_score, 1e-100, num_samples=8), ValueError,
     r"t=1e-100 is too small for the precision of data \(torch\.float64\).*use a larger t \(t >= "),
    ("fisher_divergence-float32-noise-below-precision", lambda: fisher_divergence(DATA32, zero_score, 1e-12,
                                                                                  num_samples=8), ValueError,
     r"t=1e-12 is too small for the precision of data \(torch\.float32\).*or float64 data"),
    ("fisher_divergence-nan-data", lambda: fisher_divergence(with_nan(DATA), GM.score, 0.1, num_samples=8),
     ValueError, r"data contains NaN"),
    ("fisher_divergence-3d-data", lambda: fisher_divergence(DATA[None], GM.score, 0.1, num_samples=8), ValueError,
     r"data must have shape \(B, d\)"),
    ("fisher_divergence-generator-string", lambda: fisher_divergence(DATA, GM.score, 0.1, num_samples=8,
                                                                     generator="g"), TypeError,
     r"generator must be a torch\.Generator"),
    ("fisher_divergence-score-dtype", lambda: fisher_divergence(DATA, lambda x, t: x.float(), 0.1, num_samples=8),
     TypeError, r"score_fn must return the dtype of its input"),
    # --- metrics ----------------------------------------------------------------------------------
    ("memorization_fraction-bool-threshold", lambda: memorization_fraction(X, DATA, threshold=True), TypeError,
     r"threshold must be a real number, got bool"),
    ("memorization_fraction-string-threshold", lambda: memorization_fraction(X, DATA, threshold="0.3"), TypeError,
     r"threshold must be a real number, got str"),
    ("memorization_fraction-zero-threshold", lambda: memorization_fraction(X, DATA, threshold=0.0), ValueError,
     r"threshold must lie in \(0, 1\]"),
    ("memorization_fraction-nan-threshold", lambda: memorization_fraction(X, DATA, threshold=NAN), ValueError,
     r"threshold must be finite"),
    ("memorization_fraction-big-threshold", lambda: memorization_fraction(X, DATA, threshold=1.5), ValueError,
     r"threshold must lie in \(0, 1\]"),
    ("memorization_fraction-dtype-mismatch", lambda: memorization_fraction(X32, DATA), TypeError,
     r"samples has dtype torch\.float32 but train has dtype torch\.float64"),
    ("memorization_fraction-dim-mismatch", lambda: memorization_fraction(torch.zeros(3, 5, dtype=F64), DATA),
     ValueError, r"samples has dimension 5 but train has dimension 2"),
    ("memorization_fraction-one-train-point", lambda: memorization_fraction(X, DATA[:1]), ValueError,
     r"train must contain at least two points"),
    ("memorization_fraction-nan-samples", lambda: memorization_fraction(with_nan(X), DATA), ValueError,
     r"samples contains NaN"),
    ("memorization_fraction-numpy-samples", lambda: memorization_fraction(X.numpy(), DATA), TypeError,
     r"samples must be a torch\.Tensor"),
    ("nn_distance_ratio-empty-samples", lambda: nn_distance_ratio(X[:0], DATA), ValueError, r"samples is empty"),
    ("nearest_neighbors-zero-k", lambda: nearest_neighbors(X, DATA, k=0), ValueError, r"k must be positive"),
    ("nearest_neighbors-exclude_self-string", lambda: nearest_neighbors(DATA, DATA, exclude_self="yes"), TypeError,
     r"exclude_self must be True or False"),
    ("nearest_neighbors-k-too-large", lambda: nearest_neighbors(X, DATA, k=13), ValueError,
     r"k=13 neighbours requested but reference has only 12"),
    ("precision_recall-zero-k", lambda: precision_recall(DATA, X, k=0), ValueError, r"k must be positive"),
    ("precision_recall-bool-k", lambda: precision_recall(DATA, X, k=True), TypeError, r"k must be an int"),
    ("precision_recall-too-few-real", lambda: precision_recall(DATA[:3], X, k=3), ValueError,
     r"real_features has 3 rows; k=3 .* at least 4"),
    ("precision_recall-dtype-mismatch", lambda: precision_recall(DATA, X32), TypeError,
     r"fake_features has dtype torch\.float32 but real_features"),
    ("frechet_distance-one-row", lambda: frechet_distance(X[:1], DATA), ValueError,
     r"features_a and features_b need at least two rows"),
    ("frechet_distance-overflow", lambda: frechet_distance(X * 1e200, DATA * 1e200), ValueError,
     r"frechet_distance of features_a and features_b overflows float64"),
    ("frechet_distance-inf", lambda: frechet_distance(X, DATA * INF), ValueError, r"features_b contains NaN"),
    ("frechet_distance-int", lambda: frechet_distance(X.long(), DATA.long()), TypeError,
     r"features_a must have a floating dtype"),
    # --- sampling ---------------------------------------------------------------------------------
    ("sample-broadcastable-score", lambda: sample(lambda x, t: x[:, :1], 4, 2, steps=2), ValueError,
     r"score_fn must return a tensor of shape \(4, 2\), got \(4, 1\)"),
    ("sample-wrong-shape-score", lambda: sample(lambda x, t: torch.zeros(4, 3), 4, 2, steps=2), ValueError,
     r"score_fn must return a tensor of shape \(4, 2\), got \(4, 3\)"),
    ("sample-nan-score", lambda: sample(lambda x, t: torch.full_like(x, NAN), 4, 2, steps=2), ValueError,
     r"score_fn returned NaN or infinite values at t=8"),
    ("sample-dtype-drift", lambda: sample(lambda x, t: x.double(), 4, 2, steps=2), TypeError,
     r"score_fn must return the dtype of its input torch\.float32, got torch\.float64"),
    ("sample-numpy-score", lambda: sample(lambda x, t: x.numpy(), 4, 2, steps=2), TypeError,
     r"score_fn must return a tensor"),
    ("sample-nan-at-denoise", lambda: sample(nan_score_at(1e-3), 4, 2, steps=2, denoise=True), ValueError,
     r"score_fn returned NaN or infinite values at t=0\.001"),
    ("sample-int-dtype", lambda: sample(zero_score, 4, 2, steps=2, dtype=torch.int64), TypeError,
     r"dtype must be one of the floating dtypes .* got torch\.int64"),
    ("sample-not-callable", lambda: sample("score", 4, 2), TypeError, r"score_fn must be callable"),
    ("sample-method-int", lambda: sample(zero_score, 4, 2, method=1), ValueError, r"method must be one of"),
    ("sample-zero-steps", lambda: sample(zero_score, 4, 2, steps=0), ValueError, r"steps must be positive"),
    ("sample-t0-above-T", lambda: sample(zero_score, 4, 2, T=1e-3, t0=1e-2), ValueError,
     r"t0 must be smaller than T"),
    ("sample-negative-t0", lambda: sample(zero_score, 4, 2, t0=-1.0), ValueError, r"t0 must be finite and > 0"),
    ("sample-float32-tiny-t0", lambda: sample(zero_score, 4, 2, t0=1e-40, steps=2), ValueError,
     r"t0=1e-40 is too small for float32"),
    ("sample-denoise-string", lambda: sample(zero_score, 4, 2, denoise="yes"), TypeError,
     r"denoise must be True or False"),
    ("sample-generator-device", lambda: sample(zero_score, 4, 2, steps=2, generator=_gen(), device="cuda"),
     ValueError, CPU_GENERATOR_ON_CUDA),
    ("sample-bad-device", lambda: sample(zero_score, 4, 2, device="bogus"), ValueError,
     r"device='bogus' is not a valid torch device"),
    ("sample-absent-cuda-index", lambda: sample(zero_score, 4, 2, device="cuda:99"), ValueError,
     r"device='cuda:99' but (CUDA is not available|this machine has \d+ CUDA device)"),
    ("sample-zero-batch_size", lambda: sample(zero_score, 4, 2, batch_size=0), ValueError,
     r"batch_size must be positive"),
    ("sample-float-num_samples", lambda: sample(zero_score, 4.0, 2), TypeError, r"num_samples must be an int"),
    ("sample-zero-dim", lambda: sample(zero_score, 4, 0), ValueError, r"dim must be positive"),
    ("time_grid-bool-steps", lambda: time_grid(8.0, 1e-3, True), TypeError, r"steps must be an int"),
    # --- config -----------------------------------------------------------------------------------
    ("get_device-cuda-index", env(MEMSEP_DEVICE="cuda:99")(config.get_device), ValueError,
     r"MEMSEP_DEVICE='cuda:99' but (CUDA is not available|this machine has \d+ CUDA device)"),
    ("get_device-invalid", env(MEMSEP_DEVICE="bogus")(config.get_device), ValueError,
     r"MEMSEP_DEVICE='bogus' is not a valid torch device"),
    ("get_device-meta", env(MEMSEP_DEVICE="meta")(config.get_device), ValueError,
     r"MEMSEP_DEVICE='meta' but meta is not available"),
    ("get_profile-bogus", env(MEMSEP_PROFILE="bogus")(config.get_profile), ValueError,
     r"MEMSEP_PROFILE must be one of .* got 'bogus'"),
    ("by_profile-unknown", lambda: config.by_profile(ci=1, cpu=2, paper=3, profile="gpu"), ValueError,
     r"profile must be one of"),
    ("by_profile-int", lambda: config.by_profile(ci=1, cpu=2, paper=3, profile=1), ValueError,
     r"profile must be one of"),
    ("run_label-unknown-profile", lambda: config.run_label(torch.device("cpu"), profile="big"), ValueError,
     r"profile must be one of"),
    ("make_generator-bool-seed", lambda: config.make_generator(True), TypeError, r"seed must be an int, got bool"),
    ("make_generator-float-seed", lambda: config.make_generator(1.5), TypeError, r"seed must be an int, got float"),
    ("make_generator-string-seed", lambda: config.make_generator("1"), TypeError, r"seed must be an int, got str"),
    ("make_generator-huge-seed", lambda: config.make_generator(2 ** 64), ValueError, r"seed must lie in"),
    ("make_generator-int-device", lambda: config.make_generator(0, 5), TypeError, r"device must be a torch\.device"),
    ("make_generator-cuda-index", lambda: config.make_generator(0, "cuda:99"), ValueError, r"device='cuda:99' but"),
    ("seed_everything-bool-seed", lambda: config.seed_everything(False), TypeError, r"seed must be an int"),
    ("describe_device-invalid", lambda: config.describe_device("bogus"), ValueError,
     r"device='bogus' is not a valid torch device"),
    # --- data -------------------------------------------------------------------------------------
    ("load_cifar10-no-labels", npz_case(images=IMAGES), ValueError, NPZ + r".*\['labels'\] missing"),
    ("load_cifar10-no-images", npz_case(labels=LABELS), ValueError, NPZ + r".*\['images'\] missing"),
    ("load_cifar10-label-10", npz_case(images=IMAGES, labels=np.full(6, 10)), ValueError,
     NPZ + r": labels must lie in 0\.\.9, got values from 10 to 10"),
    ("load_cifar10-negative-label", npz_case(images=IMAGES, labels=np.array([0, 1, 2, -1, 4, 5])), ValueError,
     NPZ + r": labels must lie in 0\.\.9"),
    ("load_cifar10-float-labels", npz_case(images=IMAGES, labels=LABELS.astype(float)), ValueError,
     NPZ + r": labels must be integers"),
    ("load_cifar10-labels-length", npz_case(images=IMAGES, labels=LABELS[:5]), ValueError,
     NPZ + r": labels must have shape \(6,\)"),
    ("load_cifar10-float-images", npz_case(images=IMAGES.astype(np.float32), labels=LABELS), ValueError,
     NPZ + r": images must be uint8 of shape \(N, 32, 32, 3\), got float32"),
    ("load_cifar10-channels-first", npz_case(images=IMAGES.transpose(0, 3, 1, 2), labels=LABELS), ValueError,
     NPZ + r": images must be uint8 of shape"),
    ("load_cifar10-no-rows", npz_case(images=IMAGES[:0], labels=LABELS[:0]), ValueError, NPZ + r": holds no images"),
    ("load_cifar10-truncated-unverified", npz_case(images=IMAGES, labels=LABELS, truncate=True, verify=False),
     ValueError, NPZ + r" is truncated or not an npz file"),
    ("load_cifar10-garbage-bytes", npz_case(raw=b"not an archive at all" * 10, verify=False), ValueError,
     NPZ + r" cannot be read as an npz"),
    ("load_cifar10-split-int", lambda: data.load_cifar10(1), ValueError, r"split must be one of"),
    ("load_cifar10-verify-string", lambda: data.load_cifar10("train", verify="no"), TypeError,
     r"verify must be True or False"),
    ("to_uint8-nan", lambda: data.to_uint8(with_nan(torch.zeros(1, 3, 4, 4))), ValueError, r"x contains NaN"),
    ("to_uint8-numpy", lambda: data.to_uint8(np.zeros((1, 3, 4, 4))), TypeError, r"x must be a torch\.Tensor"),
    ("to_uint8-uint8", lambda: data.to_uint8(torch.zeros(1, 3, 4, 4, dtype=torch.uint8)), TypeError,
     r"x must be a floating tensor"),
    ("to_uint8-3d", lambda: data.to_uint8(torch.zeros(3, 4, 4)), ValueError, r"x must have shape \(N, C, H, W\)"),
    ("to_model_range-float-images", lambda: data.to_model_range(np.zeros((1, 4, 4, 3))), TypeError,
     r"images must be uint8"),
    ("cifar10_subset-zero-size", lambda: data.cifar10_subset(0), ValueError, r"size must be positive"),
    ("cifar10_subset-string-seed", lambda: data.cifar10_subset(5, seed="a"), TypeError, r"seed must be an int"),
    # --- fits -------------------------------------------------------------------------------------
    ("power_law_fit-strings", lambda: power_law_fit(["1", "2"], [1.0, 2.0]), TypeError, r"x must hold real numbers"),
    ("power_law_fit-string", lambda: power_law_fit("12", [1.0, 2.0]), TypeError, r"x must be a sequence of numbers"),
    ("power_law_fit-bools", lambda: power_law_fit([1.0, 2.0], [True, False]), TypeError, r"y must hold real numbers"),
    ("power_law_fit-complex", lambda: power_law_fit([1.0, 2.0], [1 + 1j, 2.0]), TypeError, r"y must hold real"),
    ("power_law_fit-lengths", lambda: power_law_fit([1.0, 2.0], [1.0, 2.0, 3.0]), ValueError,
     r"x and y must have the same number of entries"),
    ("power_law_fit-negative", lambda: power_law_fit([1.0, 2.0, -3.0], [1.0, 2.0, 3.0]), ValueError,
     r"x and y must be finite and positive"),
    ("power_law_fit-nan", lambda: power_law_fit([1.0, NAN], [1.0, 2.0]), ValueError, r"finite and positive"),
    ("power_law_fit-one-x", lambda: power_law_fit([2.0, 2.0], [1.0, 3.0]), ValueError, r"two distinct x"),
    ("power_law_fit-empty", lambda: power_law_fit([], []), ValueError, r"two distinct x"),
    ("power_law_fit-drop_invalid-int", lambda: power_law_fit([1.0, 2.0], [1.0, 2.0], drop_invalid=1), TypeError,
     r"drop_invalid must be True or False"),
    # --- stats ------------------------------------------------------------------------------------
    ("mean_std-string", lambda: mean_std("123"), TypeError, r"values must be a sequence of numbers, got str"),
    ("mean_std-bool-entry", lambda: mean_std([True, 2.0]), TypeError, r"values entries must be a real number, got bool"),
    ("mean_std-string-entry", lambda: mean_std(["1.0"]), TypeError, r"values entries must be a real number, got str"),
    ("mean_std-empty", lambda: mean_std([]), ValueError, r"values must not be empty"),
    ("mean_std-inf", lambda: mean_std([1.0, INF]), ValueError, r"values must be finite"),
    ("mean_std-scalar", lambda: mean_std(3.0), TypeError, r"values must be a sequence of numbers, got float"),
    ("paired_difference-bool-level", lambda: paired_difference([1.0, 2.0], [0.0, 1.0], level=True), TypeError,
     r"level must be a real number"),
    ("paired_difference-string-level", lambda: paired_difference([1.0, 2.0], [0.0, 1.0], level="0.9"), TypeError,
     r"level must be a real number"),
    ("paired_difference-nan-level", lambda: paired_difference([1.0, 2.0], [0.0, 1.0], level=NAN), ValueError,
     r"level must be finite"),
    ("paired_difference-string-b", lambda: paired_difference([1.0, 2.0], "ab"), TypeError, r"b must be a sequence"),
    ("bonferroni_z-zero-tests", lambda: bonferroni_z(0, 0.05), ValueError, r"num_tests must be positive"),
    ("bonferroni_z-float-tests", lambda: bonferroni_z(3.0, 0.05), TypeError, r"num_tests must be an int"),
    ("bonferroni_z-bool-alpha", lambda: bonferroni_z(3, True), TypeError, r"family_alpha must be a real number"),
    ("bonferroni_z-alpha-one", lambda: bonferroni_z(3, 1.0), ValueError, r"family_alpha must be in \(0, 1\)"),
]

if MPS_MISSING:
    ERRORS += [
        ("get_device-mps-absent", env(MEMSEP_DEVICE="mps")(config.get_device), ValueError,
         r"MEMSEP_DEVICE='mps' but mps is not available on this machine"),
        ("make_generator-mps-absent", lambda: config.make_generator(0, "mps"), ValueError,
         r"device='mps' but mps is not available"),
    ]

if torch.cuda.is_available():
    ERRORS += [
        ("loss_gap-cpu-generator-cuda-data", lambda: loss_gap(DATA.cuda(), zero_score, 0.1, num_samples=8,
                                                              generator=_gen()), ValueError,
         r"generator is on cpu but the draws are made on cuda"),
        ("sample-score-returns-cpu", lambda: sample(lambda x, t: torch.zeros(x.shape, dtype=x.dtype), 4, 2, steps=2,
                                                    device="cuda"), ValueError,
         r"score_fn must return a tensor on cuda:0 \(its input's device\), got cpu"),
        ("mixture.sample-cpu-generator-cuda-mixture", lambda: GM.to("cuda").sample(3, _gen()), ValueError,
         r"generator is on cpu but the draws are made on cuda"),
    ]


def _smallest_shown_is_usable(dtype) -> bool:
    """The smallest usable t that the error message names is accepted."""
    with pytest.raises(ValueError) as err:
        check_time(smallest_time(dtype) / 2, dtype=dtype)
    shown = float(re.search(r"smallest usable t is (\S+)$", str(err.value)).group(1))
    return check_time(shown, dtype=dtype) == shown


def _close(a, b, rel=1e-9) -> bool:
    return math.isfinite(a) and math.isclose(a, b, rel_tol=rel)


def _finite(x) -> bool:
    return bool(torch.isfinite(x).all()) if isinstance(x, torch.Tensor) else math.isfinite(x)


def _tiny_t_float32_loss_gap():
    """float32 data at a tiny t: a finite Loss-Gap, or an error that says to use a larger t (never NaN)."""
    data32 = torch.randn(20, 4, generator=_gen(3))
    try:
        value = loss_gap(data32, zero_score, 1e-10, num_samples=16, generator=_gen(4)).value
    except ValueError as err:
        return "use a larger t" in str(err)
    return math.isfinite(value) and value > 0


def _one_d_mixture_score():
    gm = GaussianMixture(torch.zeros(1, 1, dtype=F64), torch.full((1, 1, 1), 2.0, dtype=F64))
    x = torch.tensor([[1.5]], dtype=F64)
    # N(0, 2) noised at t: N(0, 2 a^2 + s^2), score -x / (2 a^2 + s^2)
    a2, s2 = alpha(0.3) ** 2, sigma(0.3) ** 2
    return torch.allclose(gm.score(x, 0.3), -x / (2 * a2 + s2))


def _stale_sha_cache_is_not_trusted():
    """A file rewritten in place at the same size and mtime after a verified load is hashed again."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cifar10_train.npz"
        np.savez(path, images=IMAGES, labels=LABELS)
        good = path.read_bytes()
        with mock.patch.dict(data.KNOWN_SHA256, {"cifar10_train.npz": hashlib.sha256(good).hexdigest()}), \
                mock.patch.object(data, "_RACY_S", 0.0):
            st = path.stat()
            data.load_cifar10("train", data_dir=folder)                 # verified (and cached)
            time.sleep(0.05)                                            # past the timestamp tick
            with open(path, "r+b") as f:                                # same size, one byte flipped
                f.seek(len(good) // 2)
                f.write(bytes([good[len(good) // 2] ^ 0xFF]))
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))         # mtime set back
            assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
            try:
                data.load_cifar10("train", data_dir=folder)
            except ValueError as err:
                return "corrupt" in str(err)
            return False


# Errors name the public argument (issue 20): the argument of the function called, not of a helper it calls,
# and a score_fn whose model has another dtype or dimension than the points it gets names both.
GM4 = well_separated_mixture(2, 4, generator=_gen(3))                                # float64, d=4
ERRORS += [
    ("fisher_information-float16-points", lambda: fisher_information(DATA.half(), None, 0.1, num_samples=4),
     TypeError, r"^points must be float32 or float64"),
    ("fisher_information-tiny-t", lambda: fisher_information(DATA32, None, 1e-12, num_samples=4), ValueError,
     r"too small for the precision of points .* or float64 points$"),
    ("fisher_information-float32-points-float64-score", lambda: fisher_information(DATA32, GM.score, 0.1,
                                                                                    num_samples=4),
     TypeError, r"score_fn computes in torch\.float64 .* but points gives it torch\.float32 points"),
    ("fisher_information_gap-float32-reference", lambda: fisher_information_gap(DATA, GM.score, 0.1,
                                                                                reference=DATA32, num_samples=4),
     TypeError, r"score_fn computes in torch\.float64 .* but reference gives it torch\.float32 points"),
    ("fisher_information_gap-score-not-callable", lambda: fisher_information_gap(DATA, "s", 0.1, reference=DATA,
                                                                                 num_samples=4),
     TypeError, r"score_fn must be callable"),
    ("fisher_information_gap-list-data", lambda: fisher_information_gap([1.0], GM.score, 0.1, reference=DATA,
                                                                        num_samples=4),
     TypeError, r"^data must be a torch\.Tensor"),
    ("loss_gap-float32-data-float64-score", lambda: loss_gap(DATA32, GM.score, 0.1, num_samples=4), TypeError,
     r"score_fn computes in torch\.float64 \(its model's dtype\) but data gives it torch\.float32 points"),
    ("fisher_divergence-float32-data-float64-score", lambda: fisher_divergence(DATA32, GM.score, 0.1, num_samples=4),
     TypeError, r"score_fn computes in torch\.float64 .* but data gives it torch\.float32 points"),
    ("loss_gap-data-of-another-dimension", lambda: loss_gap(DATA, GM4.score, 0.1, num_samples=4), ValueError,
     r"score_fn's model has dimension 4 but data gives it points of dimension 2"),
    ("sample-float32-for-float64-mixture", lambda: sample(GM.score, 4, 2, steps=2, dtype=F32), TypeError,
     r"score_fn computes in torch\.float64 \(its model's dtype\) but dtype gives it torch\.float32 points"),
    ("sample-dim-of-another-mixture", lambda: sample(GM4.score, 4, 2, steps=2), ValueError,
     r"score_fn's model has dimension 4 but dim gives it points of dimension 2"),
    ("sample-dtype-drift-names-dtype", lambda: sample(lambda x, t: x.double(), 4, 2, steps=2), TypeError,
     r"got torch\.float64 at t=8 \(dtype sets the input's dtype\)$"),
    ("well_separated_mixture-bad-device", lambda: well_separated_mixture(2, 2, device="bogus"), ValueError,
     r"device='bogus' is not a valid torch device"),
    ("mixture.to-bad-device", lambda: GM.to("bogus"), ValueError, r"device='bogus' is not a valid torch device"),
    ("mixture.to-absent-cuda-index", lambda: GM.to("cuda:99"), ValueError,
     r"device='cuda:99' but (CUDA is not available|this machine has \d+ CUDA device)"),
]


METRIC_CALLS = [       # (call, the public arguments it has): every bad input of metrics' public functions
    (lambda: memorization_fraction(X32, DATA), ("samples", "train")),
    (lambda: memorization_fraction(torch.zeros(3, 5, dtype=F64), DATA), ("samples", "train")),
    (lambda: memorization_fraction(X, DATA[:1]), ("train",)),
    (lambda: memorization_fraction(with_nan(X), DATA), ("samples",)),
    (lambda: memorization_fraction(X, with_nan(DATA)), ("train",)),
    (lambda: memorization_fraction(X, DATA.numpy()), ("train",)),
    (lambda: memorization_fraction(X, DATA[:0]), ("train",)),
    (lambda: memorization_fraction(X[:, :1].long(), DATA), ("samples",)),
    (lambda: nn_distance_ratio(X, DATA32), ("samples", "train")),
    (lambda: nn_distance_ratio(X[0], DATA), ("samples",)),
    (lambda: precision_recall(X, DATA32), ("real_features", "fake_features")),
    (lambda: precision_recall(X, DATA, k=4), ("real_features",)),
    (lambda: precision_recall(DATA, X, k=4), ("fake_features",)),
    (lambda: frechet_distance(X, DATA[:, :1]), ("features_a", "features_b")),
]


@pytest.mark.parametrize("case", range(len(METRIC_CALLS)))
def test_metrics_errors_name_their_own_arguments(case):
    """memorization_fraction & co. call nearest_neighbors(queries, reference): its names must not leak."""
    call, names = METRIC_CALLS[case]
    with pytest.raises((TypeError, ValueError)) as err:
        call()
    message = str(err.value)
    assert any(name in message for name in names), message
    assert "queries" not in message and "reference" not in message, message


ANSWERS = [
    ("check_time-np.float32", lambda: check_time(np.float32(0.5)), lambda v: v == 0.5 and type(v) is float),
    ("check_time-np.float64", lambda: check_time(np.float64(0.25)), lambda v: v == 0.25),
    ("check_time-np.int64", lambda: check_time(np.int64(2)), lambda v: v == 2.0 and type(v) is float),
    ("check_time-0d-array", lambda: check_time(np.array(0.125)), lambda v: v == 0.125),
    ("check_time-0d-tensor", lambda: check_time(torch.tensor(0.5, dtype=F64)), lambda v: v == 0.5),
    ("check_time-1e6", lambda: check_time(1e6, dtype=F32), lambda v: v == 1e6),
    ("check_time-smallest-float32-is-usable", lambda: _smallest_shown_is_usable(F32), bool),
    ("check_time-smallest-float16-is-usable", lambda: _smallest_shown_is_usable(torch.float16), bool),
    ("check_time-smallest-float64-is-usable", lambda: _smallest_shown_is_usable(F64), bool),
    ("alpha-np.float32", lambda: alpha(np.float32(2.0)), lambda v: _close(v, math.exp(-1.0), 1e-7)),
    ("sigma-1e-6-accurate", lambda: sigma(1e-6), lambda v: _close(v ** 2, -math.expm1(-1e-6), 1e-15)),
    ("sigma-1e6", lambda: sigma(1e6), lambda v: v == 1.0),
    ("alpha-1e6-underflows-to-zero", lambda: alpha(1e6), lambda v: v == 0.0),
    ("add_noise-1-element-t-keeps-dtype", lambda: add_noise(X32, torch.tensor([0.1], dtype=F64))[0],
     lambda x: x.dtype == F32 and x.shape == (4, 2)),
    ("add_noise-t-1e6-is-the-noise", lambda: add_noise(X, 1e6, noise=X.flip(0)),
     lambda out: torch.equal(out[0], X.flip(0))),
    ("add_noise-one-point-d-1", lambda: add_noise(torch.ones(1, 1), 0.5, generator=_gen())[0],
     lambda x: x.shape == (1, 1) and _finite(x)),
    ("sample_small_time-one", lambda: sample_small_time(1, 0.3, generator=_gen()),
     lambda t: t.shape == (1,) and 1e-5 <= t.item() <= 0.3),
    ("sample_log_uniform_time-wide", lambda: sample_log_uniform_time(50, 1e-6, 1e6, generator=_gen(), dtype=F64),
     lambda t: bool((t >= 1e-6 * (1 - 1e-12)).all() and (t <= 1e6 * (1 + 1e-12)).all())),
    ("mixture.score-t-1e6-is-standard-normal", lambda: GM.score(X, 1e6), lambda s: torch.allclose(s, -X)),
    ("mixture.score-t-1e-6-finite", lambda: GM.score(X, 1e-6), _finite),
    ("mixture.score-np.float32-t", lambda: (GM.score(X, np.float32(0.5)), GM.score(X, float(np.float32(0.5)))),
     lambda pair: torch.equal(*pair)),
    ("mixture-one-component-d-1", _one_d_mixture_score, bool),
    ("well_separated_mixture-K-1", lambda: well_separated_mixture(1, 3, generator=_gen()).sample(5, _gen()),
     lambda x: x.shape == (5, 3) and _finite(x)),
    ("well_separated_mixture-float32", lambda: well_separated_mixture(2, 2, dtype=F32).score(X32, 0.1),
     lambda s: s.dtype == F32 and _finite(s)),
    ("loss_gap-t-1e-6-float64", lambda: loss_gap(DATA, GM.score, 1e-6, num_samples=24, generator=_gen()),
     lambda e: _finite(e.value) and e.value > 0 and _finite(e.stderr)),
    ("fisher_divergence-empirical-score-t-1e-6", lambda: fisher_divergence(
        DATA, lambda x, t: empirical_score(x, t, DATA), 1e-6, num_samples=24, generator=_gen()),
     lambda e: e.value == 0.0),
    ("loss_gap-t-1e6", lambda: loss_gap(DATA, GM.score, 1e6, num_samples=24, generator=_gen()),
     lambda e: abs(e.value) < 1e-12),
    ("loss_gap-one-sample", lambda: loss_gap(DATA, GM.score, 0.1, num_samples=1, generator=_gen()),
     lambda e: _finite(e.value) and e.stderr == math.inf and e.num_samples == 1),
    ("loss_gap-float32-tiny-t-finite-or-clear", _tiny_t_float32_loss_gap, bool),
    ("loss_gap-float32-t-1e-6", lambda: loss_gap(DATA32, zero_score, 1e-6, num_samples=400, generator=_gen()),
     lambda e: _close(e.value, 2 / sigma(1e-6) ** 2, 0.3)),         # E|z|^2 / s_t^2 = d / s_t^2
    ("dsm_loss-t-1e-6-float64", lambda: dsm_loss(GM.score, DATA, 1e-6, generator=_gen()),
     lambda v: v.shape == (12,) and _finite(v)),
    ("dsm_loss-np.float64-t", lambda: dsm_loss(zero_score, DATA, np.float64(0.1), noise=DATA),
     lambda v: torch.allclose(v, (DATA * DATA).sum(1) / sigma(0.1) ** 2)),
    ("memorization_fraction-copies-are-memorised", lambda: memorization_fraction(DATA[:3].clone(), DATA),
     lambda v: v == 1.0),
    ("memorization_fraction-one-sample", lambda: memorization_fraction(X[:1], DATA), lambda v: v in (0.0, 1.0)),
    ("memorization_fraction-threshold-1", lambda: memorization_fraction(X, DATA, threshold=1),
     lambda v: 0.0 <= v <= 1.0),
    ("memorization_fraction-np.float64-threshold",
     lambda: memorization_fraction(X, DATA, threshold=np.float64(1 / 3)) == memorization_fraction(X, DATA), bool),
    ("nn_distance_ratio-d-1", lambda: nn_distance_ratio(torch.tensor([[0.1]], dtype=F64),
                                                        torch.tensor([[0.0], [1.0]], dtype=F64)),
     lambda r: torch.allclose(r, torch.tensor([0.1 / 0.9], dtype=F64))),
    ("precision_recall-same-set", lambda: precision_recall(DATA, DATA.clone()), lambda pr: pr == (1.0, 1.0)),
    ("frechet_distance-huge-features", lambda: (frechet_distance(X * 2.0 ** 500, DATA * 2.0 ** 500),
                                                frechet_distance(X, DATA)),
     lambda pair: _close(pair[0], pair[1] * 2.0 ** 1000)),
    ("frechet_distance-tiny-features", lambda: (frechet_distance(X * 2.0 ** -540, DATA * 2.0 ** -540),
                                                frechet_distance(X, DATA)),
     lambda pair: _close(pair[0], pair[1] * 2.0 ** -1080, 1e-6)),
    ("frechet_distance-d-1", lambda: frechet_distance(X[:, :1], X[:, :1] + 2.0), lambda v: _close(v, 4.0)),
    ("sample-one-sample-d-1", lambda: sample(lambda x, t: -x, 1, 1, steps=5, generator=_gen()),
     lambda x: x.shape == (1, 1) and _finite(x)),
    ("sample-denoise", lambda: sample(lambda x, t: -x, 3, 2, steps=5, denoise=True, generator=_gen()),
     lambda x: x.shape == (3, 2) and _finite(x)),
    ("time_grid-wide", lambda: time_grid(1e6, 1e-6, 3),
     lambda g: _close(g[0], 1e6) and _close(g[-1], 1e-6) and len(g) == 4),
    ("make_generator-numpy-seed", lambda: (torch.rand(2, generator=config.make_generator(np.int64(3))),
                                           torch.rand(2, generator=config.make_generator(3))),
     lambda pair: torch.equal(*pair)),
    ("make_generator-negative-seed", lambda: config.make_generator(-1).initial_seed(), lambda s: s == 2 ** 64 - 1),
    ("get_device-cpu", env(MEMSEP_DEVICE="cpu")(config.get_device), lambda d: d == torch.device("cpu")),
    ("to_uint8-clips-inf", lambda: data.to_uint8(torch.tensor([-INF, INF, 0.0]).reshape(1, 3, 1, 1)),
     lambda u: u.flatten().tolist() == [0, 255, 128]),
    ("load_cifar10-one-image", npz_case(images=IMAGES[:1], labels=LABELS[:1]),
     lambda out: out[0].shape == (1, 32, 32, 3) and out[1].dtype == np.int64),
    ("load_cifar10-same-size-rewrite-caught", _stale_sha_cache_is_not_trusted, bool),
    ("power_law_fit-two-points", lambda: power_law_fit([1.0, 2.0], [3.0, 12.0]),
     lambda f: _close(f["exponent"], 2.0) and f["stderr"] == math.inf),
    ("power_law_fit-numpy-and-tensor", lambda: power_law_fit(np.array([1, 2, 4]), torch.tensor([1.0, 2.0, 4.0])),
     lambda f: _close(f["exponent"], 1.0)),
    ("power_law_fit-drop-invalid", lambda: power_law_fit([1.0, 2.0, 4.0], [1.0, 0.0, 16.0], drop_invalid=True),
     lambda f: _close(f["exponent"], 2.0) and f["num_points"] == 2),
    ("mean_std-one-value", lambda: mean_std([np.float32(3.0)]), lambda s: s == {"mean": 3.0, "std": 0.0}),
    ("paired_difference-one-pair", lambda: paired_difference([1.0], [0.5]),
     lambda p: p["mean_diff"] == 0.5 and p["ci95"] == [-math.inf, math.inf]),
    ("bonferroni_z-numpy-numbers", lambda: bonferroni_z(np.int64(1), np.float64(0.05)),
     lambda z: _close(z, 1.959963984540054)),
]


@pytest.mark.parametrize("call, exception, pattern", [case[1:] for case in ERRORS],
                         ids=[case[0] for case in ERRORS])
def test_bad_input_is_a_clear_error(call, exception, pattern):
    with pytest.raises(exception, match=pattern):
        call()


@pytest.mark.parametrize("call, check", [case[1:] for case in ANSWERS], ids=[case[0] for case in ANSWERS])
def test_edge_input_has_a_correct_finite_answer(call, check):
    answer = call()
    assert check(answer), answer


def test_the_table_is_large_and_its_ids_unique():
    ids = [case[0] for case in ERRORS + ANSWERS]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 110
