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

import hashlib
import os
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from .validation import check_bool, check_positive_int

__all__ = ["load_cifar10", "cifar10_subset", "resize_images", "to_model_range", "to_uint8", "KNOWN_SHA256"]

SPLITS = ("train", "test")
KNOWN_SHA256 = {
    "cifar10_train.npz": "69e4a92aabedb1dd3e0c84e581b8e86f50c560d7b97db2336c20291463ce9183",
    "cifar10_test.npz": "1a55c7f9b0054bdda25d24f6dd12a79f7052cf11ae51e04b02c938dbfca0c0ed",
}
CACHE_DIR = Path.home() / ".cache" / "memsep"


# sha256 of files already verified, keyed on everything a rewrite changes: device, inode, size,
# mtime and ctime (ctime cannot be set back by hand, so a same-size, same-mtime rewrite is caught).
_SHA_CACHE: dict[tuple, str] = {}
_SHA_CACHE_SIZE = 8
# File timestamps are coarse (a clock tick of a few ms): a file changed within this many seconds
# of being hashed could change again without a new timestamp, so its digest is not cached.
_RACY_S = 2.0


def _stat_key(path: str) -> tuple:
    st = os.stat(path)
    return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _sha256(path: str) -> str:
    """sha256 of the file, from the cache while the file is provably unchanged."""
    key = _stat_key(path)
    if key in _SHA_CACHE:
        return _SHA_CACHE[key]
    started_ns = time.time_ns()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    hexdigest = digest.hexdigest()
    settled = max(key[4], key[5]) < started_ns - int(_RACY_S * 1e9)
    if settled and _stat_key(path) == key:
        if len(_SHA_CACHE) >= _SHA_CACHE_SIZE:
            _SHA_CACHE.pop(next(iter(_SHA_CACHE)))
        _SHA_CACHE[key] = hexdigest
    return hexdigest


def _load_npz(path: Path, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    expected = KNOWN_SHA256.get(path.name)
    if verify and expected is not None:
        actual = _sha256(str(path))
        if actual != expected:
            raise ValueError(f"{path} is corrupt or not the expected file: sha256 {actual}, expected "
                             f"{expected}. Replace it with an intact copy (see shared/data/cifar10/README.md).")
    try:
        loaded = np.load(path)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: holds a single {type(loaded).__name__}, not an npz archive of arrays "
                             "'images' and 'labels'")
        with loaded as npz:
            missing = [key for key in ("images", "labels") if key not in npz.files]
            if missing:
                raise ValueError(f"{path}: arrays {missing} missing (it holds {npz.files}); a CIFAR-10 npz "
                                 "needs 'images' uint8 (N, 32, 32, 3) and 'labels' in 0..9")
            images, labels = npz["images"], npz["labels"]
    except ValueError as err:
        if str(path) in str(err):
            raise
        raise ValueError(f"{path} cannot be read as an npz ({err}); replace it with an intact copy") from err
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(f"{path} is truncated or not an npz file ({type(err).__name__}: {err}); "
                         "replace it with an intact copy") from err
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"{path}: images must be uint8 of shape (N, 32, 32, 3), got {images.dtype} {images.shape}")
    if images.shape[0] == 0:
        raise ValueError(f"{path}: holds no images")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"{path}: labels must have shape ({images.shape[0]},), got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{path}: labels must be integers in 0..9, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: labels must lie in 0..9, got values from {labels.min()} to {labels.max()}")
    return images, labels.astype(np.int64)


def load_cifar10(split: str = "train", *, data_dir: str | Path | None = None, verify: bool = True,
                 allow_download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``(images uint8 (N, 32, 32, 3), labels int64 (N,))`` for ``split`` in ``{'train', 'test'}``."""
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    check_bool(verify, "verify")
    check_bool(allow_download, "allow_download")
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
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating tensor in [-1, 1], got {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}")
    if torch.isnan(x).any():
        raise ValueError("x contains NaN values (infinite values are clipped like any out-of-range value)")
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def cifar10_subset(size: int = 5000, seed: int = 0, *, split: str = "train", exclude=(),
                   **load_kwargs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed random subset: ``(images float32 (size, 3, 32, 32) in [-1, 1], labels, indices)``.

    ``exclude``: indices of ``split`` never drawn (a held-out set disjoint from a training subset); the
    subset is the first ``size`` of a ``seed``-fixed permutation of the other indices, so with nothing
    excluded it is the same as before excluding was possible.
    """
    check_positive_int(size, "size")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    images, labels = load_cifar10(split, **load_kwargs)
    excluded = torch.zeros(len(images), dtype=torch.bool)
    try:
        drop = torch.as_tensor(list(exclude), dtype=torch.long)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"exclude must be a sequence of integer indices, got {type(exclude).__name__}") from err
    if drop.numel() and (drop.min() < 0 or drop.max() >= len(images)):
        raise ValueError(f"exclude must hold indices in [0, {len(images)}), got values from {int(drop.min())} "
                         f"to {int(drop.max())}")
    excluded[drop] = True
    pool = (~excluded).nonzero().squeeze(1)
    if size > len(pool):
        raise ValueError(f"size={size} exceeds the {len(pool)} images of the {split} split outside exclude")
    idx = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:size]].sort().values
    return to_model_range(images[idx.numpy()]), torch.from_numpy(labels[idx.numpy()]), idx


def resize_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Images ``(N, C, H, W)`` at ``resolution x resolution``: area averaging when shrinking (an exact 2x2 or
    4x4 average pool from 32x32), bilinear when enlarging; unchanged at their own size."""
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.ndim != 4:
        raise TypeError(f"images must be a floating torch.Tensor of shape (N, C, H, W), got "
                        f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    check_positive_int(resolution, "resolution")
    if images.shape[-1] == images.shape[-2] == resolution:
        return images
    mode = "area" if resolution < images.shape[-1] else "bilinear"
    return torch.nn.functional.interpolate(images, size=(resolution, resolution), mode=mode)
