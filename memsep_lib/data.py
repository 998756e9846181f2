"""CIFAR-10 as uint8 images, and the fixed training subset of the DiT experiment.

Where the data come from, in order:

1. ``data_dir`` or ``$MEMSEP_DATA_DIR`` holding ``cifar10_train.npz`` / ``cifar10_test.npz``
   (arrays ``images`` uint8 ``(N, 32, 32, 3)`` and ``labels``). Files with a known name are checked
   against their sha256 before use.
2. torchvision's ``CIFAR10`` in ``~/.cache/memsep`` (downloaded when ``allow_download`` and the
   machine is online; torchvision checks the archive's md5).

A missing or corrupt dataset raises an error that says where it looked and how to fix it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from .validation import check_positive_int

__all__ = ["load_cifar10", "cifar10_subset", "to_model_range", "to_uint8", "KNOWN_SHA256"]

SPLITS = ("train", "test")
KNOWN_SHA256 = {
    "cifar10_train.npz": "69e4a92aabedb1dd3e0c84e581b8e86f50c560d7b97db2336c20291463ce9183",
    "cifar10_test.npz": "1a55c7f9b0054bdda25d24f6dd12a79f7052cf11ae51e04b02c938dbfca0c0ed",
}
CACHE_DIR = Path.home() / ".cache" / "memsep"


@functools.lru_cache(maxsize=8)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_npz(path: Path, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    expected = KNOWN_SHA256.get(path.name)
    if verify and expected is not None:
        stat = path.stat()
        actual = _sha256(str(path), stat.st_mtime_ns, stat.st_size)
        if actual != expected:
            raise ValueError(f"{path} is corrupt or not the expected file: sha256 {actual}, expected "
                             f"{expected}. Replace it with an intact copy (see shared/data/cifar10/README.md).")
    with np.load(path) as npz:
        images, labels = npz["images"], npz["labels"]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"{path}: images must be uint8 of shape (N, 32, 32, 3), got {images.dtype} {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"{path}: labels must have shape ({images.shape[0]},), got {labels.shape}")
    return images, labels.astype(np.int64)


def load_cifar10(split: str = "train", *, data_dir: str | Path | None = None, verify: bool = True,
                 allow_download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``(images uint8 (N, 32, 32, 3), labels int64 (N,))`` for ``split`` in ``{'train', 'test'}``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    data_dir = data_dir if data_dir is not None else os.environ.get("MEMSEP_DATA_DIR")
    looked = []
    if data_dir:
        path = Path(data_dir) / f"cifar10_{split}.npz"
        if path.exists():
            return _load_npz(path, verify)
        looked.append(str(path))
    try:
        from torchvision.datasets import CIFAR10

        ds = CIFAR10(str(CACHE_DIR), train=(split == "train"), download=allow_download)
        return np.asarray(ds.data, dtype=np.uint8), np.asarray(ds.targets, dtype=np.int64)
    except Exception as err:  # torchvision raises RuntimeError / URLError / OSError here
        looked.append(f"torchvision CIFAR10 in {CACHE_DIR} ({type(err).__name__}: {err})")
    raise FileNotFoundError(
        "CIFAR-10 not found. Looked in: " + "; ".join(looked) + ". Fix: set MEMSEP_DATA_DIR to a folder "
        f"holding cifar10_{split}.npz (arrays 'images' uint8 (N,32,32,3) and 'labels'), or run once online "
        "so that torchvision can download it.")


def to_model_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, H, W, C)`` in 0..255 -> float32 ``(N, C, H, W)`` in ``[-1, 1]``."""
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8 or x.ndim != 4:
        raise TypeError(f"images must be uint8 of shape (N, H, W, C), got {x.dtype} {tuple(x.shape)}")
    return x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0).contiguous()


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_model_range`: float ``(N, C, H, W)`` in ``[-1, 1]`` -> uint8 ``(N, H, W, C)`` (clipped)."""
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}")
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def cifar10_subset(size: int = 5000, seed: int = 0, *, split: str = "train",
                   **load_kwargs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed random subset: ``(images float32 (size, 3, 32, 32) in [-1, 1], labels, indices)``."""
    check_positive_int(size, "size")
    images, labels = load_cifar10(split, **load_kwargs)
    if size > len(images):
        raise ValueError(f"size={size} exceeds the {len(images)} images of the {split} split")
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:size].sort().values
    return to_model_range(images[idx.numpy()]), torch.from_numpy(labels[idx.numpy()]), idx
