"""The Inception-v3 (torch-fidelity) feature space, run with randomly initialised weights: a plumbing test."""

from __future__ import annotations

import math

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from memsep_lib.evaluation import evaluate_samples
from memsep_lib.inception import (INCEPTION_ENV, inception_space, inception_space_from_env, is_released_weights,
                                  save_random_inception_weights)

PLUMBING = "PLUMBING TEST, random weights: not FID"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_random_inception_weights(tmp_path_factory.mktemp("inception") / "random.pth", seed=0)


@pytest.fixture(scope="module")
def space(weights):
    return inception_space(weights, plumbing=True, batch_size=2)


def _images(n, size, seed):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_features_are_pool3_of_the_uint8_images_torch_fidelity_sees(space, weights):
    x8, x32 = _images(3, 8, 0), _images(2, 32, 1)
    f8, f32 = space(x8), space(x32)
    assert f8.shape == (3, 2048) and f32.shape == (2, 2048)
    assert f8.dtype == f32.dtype == torch.float64
    assert bool(torch.isfinite(f8).all()) and bool(torch.isfinite(f32).all())
    assert (f8[0] - f8[1]).abs().max() > 0 and (f8[1] - f8[2]).abs().max() > 0  # images are told apart
    # the input convention: [-1, 1] -> 0..255 rounded, NCHW uint8, into torch-fidelity's own extractor
    net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights))
    with torch.no_grad():
        direct = net.eval()(((x8 + 1) * 127.5).round().to(torch.uint8))[0].double()
    torch.testing.assert_close(f8, direct, rtol=1e-5, atol=0)


def test_evaluate_samples_accepts_the_space(space):
    out = evaluate_samples(_images(4, 8, 2), reference=_images(4, 8, 3), train=_images(3, 8, 4), space=space)
    assert out["space"] == space.name and PLUMBING in out["space"]
    assert math.isfinite(out["fid"]) and out["fid"] >= 0
    for key in ("precision", "recall", "train_precision", "train_recall"):
        assert 0 <= out[key] <= 1, key


def test_names_say_which_weights_and_whether_a_plumbing_test(space, weights):
    assert space.name == f"Inception-v3 pool3 (torch-fidelity 0.3.0, weights random.pth): {PLUMBING}"
    plain = inception_space(weights)
    assert plain.name == "Inception-v3 pool3 (torch-fidelity 0.3.0, weights random.pth)"


def test_space_from_the_environment(monkeypatch, weights, tmp_path):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    assert inception_space_from_env() is None
    monkeypatch.setenv(INCEPTION_ENV, str(weights))
    found = inception_space_from_env()          # random weights are not the released file: labelled a plumbing test
    assert found.name.endswith(f"weights random.pth): {PLUMBING}") and not is_released_weights(weights)
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError, match=INCEPTION_ENV):
        inception_space_from_env()


def test_bad_inputs_name_the_argument(space, weights, tmp_path):
    with pytest.raises(TypeError, match="weights_path"):
        inception_space(3)
    with pytest.raises(FileNotFoundError, match="weights_path"):
        inception_space(tmp_path / "missing.pth")
    with pytest.raises(TypeError, match="plumbing"):
        inception_space(weights, plumbing="yes")
    with pytest.raises(ValueError, match="batch_size"):
        inception_space(weights, batch_size=0)
    with pytest.raises(TypeError, match="seed"):
        save_random_inception_weights(tmp_path / "w.pth", seed=1.5)
    with pytest.raises(TypeError, match="path"):
        save_random_inception_weights(None)
    with pytest.raises(TypeError, match="images"):
        space(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
