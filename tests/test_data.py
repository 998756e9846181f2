import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from memsep_lib import data

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
REAL_DIR = os.environ.get("MEMSEP_DATA_DIR") or (str(SHARED) if SHARED.exists() else None)


def _fake_npz(folder: Path, split: str, n: int = 20) -> Path:
    rng = np.random.default_rng(0)
    path = folder / f"cifar10_{split}.npz"
    np.savez_compressed(path, images=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                        labels=rng.integers(0, 10, n))
    return path


def test_loads_npz_and_verifies_known_checksums(tmp_path, monkeypatch):
    path = _fake_npz(tmp_path, "train")
    monkeypatch.setitem(data.KNOWN_SHA256, "cifar10_train.npz", hashlib.sha256(path.read_bytes()).hexdigest())
    images, labels = data.load_cifar10("train", data_dir=tmp_path)
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8 and labels.dtype == np.int64


def test_corrupt_file_is_a_clear_error(tmp_path, monkeypatch):
    _fake_npz(tmp_path, "train")
    monkeypatch.setitem(data.KNOWN_SHA256, "cifar10_train.npz", "0" * 64)
    with pytest.raises(ValueError, match="corrupt"):
        data.load_cifar10("train", data_dir=tmp_path)


def test_missing_data_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="MEMSEP_DATA_DIR") as err:
        data.load_cifar10("test", data_dir=tmp_path, allow_download=False)
    assert str(tmp_path / "cifar10_test.npz") in str(err.value)
    with pytest.raises(ValueError, match="split"):
        data.load_cifar10("valid")


def test_subset_is_fixed_and_scaled(tmp_path, monkeypatch):
    path = _fake_npz(tmp_path, "train", n=50)
    monkeypatch.setitem(data.KNOWN_SHA256, "cifar10_train.npz", hashlib.sha256(path.read_bytes()).hexdigest())
    x, y, idx = data.cifar10_subset(10, seed=3, data_dir=tmp_path)
    x2, _, idx2 = data.cifar10_subset(10, seed=3, data_dir=tmp_path)
    assert torch.equal(idx, idx2) and torch.equal(x, x2)
    assert x.shape == (10, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    raw, _ = data.load_cifar10("train", data_dir=tmp_path)
    assert torch.equal(data.to_uint8(x), torch.from_numpy(raw[idx.numpy()]))
    with pytest.raises(ValueError, match="exceeds"):
        data.cifar10_subset(51, data_dir=tmp_path)
    # a held-out draw never meets the excluded indices; with nothing excluded, the draw is as before
    held, _, held_idx = data.cifar10_subset(40, seed=1, exclude=idx.tolist(), data_dir=tmp_path)
    assert not set(held_idx.tolist()) & set(idx.tolist()) and held.shape[0] == 40
    assert torch.equal(data.cifar10_subset(10, seed=3, exclude=[], data_dir=tmp_path)[2], idx)
    with pytest.raises(ValueError, match="exceeds the 40 images"):
        data.cifar10_subset(41, exclude=idx.tolist(), data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"exclude must hold indices in \[0, 50\)"):
        data.cifar10_subset(5, exclude=[50], data_dir=tmp_path)


def test_resize_images_pools_exactly_and_keeps_its_own_size():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(data.resize_images(x, 8), torch.nn.functional.avg_pool2d(x, 4), atol=1e-6)
    assert data.resize_images(x, 32) is x and data.resize_images(x[:, :, :8, :8], 16).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="resolution"):
        data.resize_images(x, 0)
    with pytest.raises(TypeError, match="images"):
        data.resize_images(x.to(torch.uint8), 8)


@pytest.mark.skipif(REAL_DIR is None, reason="real CIFAR-10 npz not available")
def test_real_cifar10_matches_its_readme():
    images, labels = data.load_cifar10("train", data_dir=REAL_DIR)
    assert images.shape == (50000, 32, 32, 3)
    assert np.bincount(labels).tolist() == [5000] * 10
    assert labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    mean = images.reshape(-1, 3).mean(0) / 255
    assert np.allclose(mean, [0.49139968, 0.48215841, 0.44653091], atol=1e-6)
    test_images, _ = data.load_cifar10("test", data_dir=REAL_DIR)
    assert test_images.shape == (1000, 32, 32, 3)
