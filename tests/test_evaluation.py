"""memsep_lib.evaluation: a reference that copying cannot fool.

The check that would have caught chapter 7's old defect (metrics against the training subset rank noisy
copies of it above fresh images): against held-out images, fresh images beat copies on FD and recall in
every feature space, while the training-subset P/R (the copying indicator) is higher for the copies.
"""

import os
from pathlib import Path

import pytest
import torch

from memsep_lib import evaluation as ev
from memsep_lib.data import cifar10_subset, resize_images

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
DATA_DIR = os.environ.get("MEMSEP_DATA_DIR") or (str(SHARED) if SHARED.exists() else None)
needs_cifar = pytest.mark.skipif(DATA_DIR is None, reason="real CIFAR-10 npz not available (MEMSEP_DATA_DIR)")
SPACES = [ev.pixel_space(), ev.random_conv_space(width=32)]


def _copies(train, count, noise, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(len(train), (count,), generator=gen)
    return (train[pick] + noise * torch.randn(count, *train.shape[1:], generator=gen)).clamp(-1, 1)


@pytest.fixture(scope="module")
def cifar_sets():
    """32 training images at 8x8, and 600 + 600 held-out images (reference, fresh) outside them."""
    train32, _, idx = cifar10_subset(32, seed=0, data_dir=DATA_DIR)
    both, _, pool_idx = cifar10_subset(1200, seed=1, exclude=idx.tolist(), data_dir=DATA_DIR)
    assert not set(pool_idx.tolist()) & set(idx.tolist())
    both = resize_images(both, 8)
    return resize_images(train32, 8), both[:600], both[600:]


@needs_cifar
@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name.split()[0])
def test_fresh_images_beat_noisy_copies_against_a_held_out_reference(space, cifar_sets):
    train, reference, fresh = cifar_sets
    copies = _copies(train, 600, noise=0.05)
    good = ev.evaluate_samples(fresh, reference=reference, train=train, space=space)
    bad = ev.evaluate_samples(copies, reference=reference, train=train, space=space)
    assert good["fid"] < 0.5 * bad["fid"]
    assert good["recall"] > bad["recall"] + 0.3
    # the copying indicator sees the copies, but weakly: 32 training points in a high-dimensional space have
    # large k-NN balls that hold most fresh images too (measured: fresh 0.69-0.85 recall, copies 1.0)
    assert bad["train_recall"] == bad["train_precision"] == 1.0
    assert good["train_recall"] < 1.0 and good["train_precision"] < 1.0
    # the old defect: with the training subset as the reference, the copies would look better
    wrong = ev.evaluate_samples(copies[:32], reference=train, train=train, space=space)
    right = ev.evaluate_samples(fresh[:32], reference=train, train=train, space=space)
    assert wrong["fid"] < right["fid"]


def test_fresh_draws_beat_noisy_copies_on_synthetic_images():
    gen = torch.Generator().manual_seed(0)
    basis = torch.randn(6, 3, 8, 8, generator=gen)

    def draw(count):          # a smooth low-dimensional image law: random combinations of 6 patterns
        return torch.tanh(torch.einsum("nk,kchw->nchw", torch.randn(count, 6, generator=gen), basis) / 3)

    train, reference, fresh = draw(16), draw(600), draw(600)
    copies = _copies(train, 600, noise=0.02)
    for space in SPACES:
        good = ev.evaluate_samples(fresh, reference=reference, train=train, space=space)
        bad = ev.evaluate_samples(copies, reference=reference, train=train, space=space)
        assert good["fid"] < bad["fid"] and good["recall"] > bad["recall"], space.name


def test_feature_spaces_are_fixed_and_named():
    x = torch.rand(5, 3, 8, 8) * 2 - 1
    a, b = ev.random_conv_space(width=8, seed=3), ev.random_conv_space(width=8, seed=3)
    assert torch.equal(a(x), b(x)) and a(x).shape == (5, 32) and a(x).dtype == torch.float64
    assert not torch.equal(a(x), ev.random_conv_space(width=8, seed=4)(x))
    assert ev.pixel_space()(x).shape == (5, 192) and "seed 3" in a.name


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(samples=torch.zeros(4, 3, 8, 8), reference=torch.zeros(5, 3, 8, 8)), ValueError, "as many images"),
    (dict(samples=torch.zeros(5, 3, 4, 4), reference=torch.zeros(5, 3, 8, 8)), ValueError, "one image shape"),
    (dict(samples=torch.zeros(5, 1, 8, 8), reference=torch.zeros(5, 3, 8, 8)), ValueError, "samples must have shape"),
    (dict(samples=torch.zeros(5, 3, 8, 8, dtype=torch.long), reference=torch.zeros(5, 3, 8, 8)), TypeError, "samples"),
    (dict(samples=torch.full((5, 3, 8, 8), float("nan")), reference=torch.zeros(5, 3, 8, 8)), ValueError, "NaN"),
])
def test_bad_inputs_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ev.evaluate_samples(train=torch.zeros(5, 3, 8, 8), space=ev.pixel_space(), **kwargs)


def test_classifier_space_names_its_resolution():
    from memsep_lib.features import CifarFeatureNet

    space = ev.classifier_space(CifarFeatureNet(resolution=8).eval())
    assert "8x8" in space.name and space(torch.zeros(4, 3, 8, 8)).shape == (4, 128)
    with pytest.raises(TypeError, match="CifarFeatureNet"):
        ev.classifier_space(torch.nn.Linear(2, 2))
