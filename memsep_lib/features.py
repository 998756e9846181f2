"""An offline feature space for image metrics: a small CIFAR-10 classifier trained and cached here.

FID uses Inception-v3 features and precision/recall VGG-16 features; their weights must be
downloaded, which this project cannot assume. When they are unavailable, the book computes the
same metrics (Frechet distance, improved precision/recall) in the penultimate layer of
:class:`CifarFeatureNet`, a small CNN trained by :func:`cifar_feature_net` on the CIFAR-10
training split and cached on disk (keyed by its training config). Every table says which feature
space it used: ``FEATURE_SPACE`` names this one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import numbers
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import CACHE_DIR, cifar10_subset, load_cifar10, resize_images, to_model_range
from .validation import _all_finite, check_device, check_positive_int

__all__ = ["CifarFeatureNet", "cifar_feature_net", "extract_features", "FEATURE_SPACE"]

FEATURE_SPACE = "memsep CifarFeatureNet (offline CIFAR-10 classifier, 128-d penultimate layer)"


class CifarFeatureNet(nn.Module):
    """Three conv blocks (32, 64, 128 channels, ReLU, 2x2 max-pool), global average pool -> 128 features -> 10 logits.

    ``resolution``: the image size it is trained and evaluated at (inputs of another size are resized to it).
    """

    def __init__(self, resolution: int = 32):
        super().__init__()
        self.resolution = check_positive_int(resolution, "resolution")
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images in ``[-1, 1]`` of shape ``(B, 3, H, W)`` (resized to the net's resolution if needed) -> ``(B, 128)``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor of shape (B, 3, H, W), got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] != 3 or 0 in x.shape[2:]:
            raise ValueError(f"x must have shape (B, 3, H, W), got {tuple(x.shape)}")
        dtype = self.head.weight.dtype
        if x.dtype != dtype:
            raise TypeError(f"x must have the net's dtype {dtype}, got {x.dtype} (images in [-1, 1])")
        if x.numel() and not _all_finite(x):
            raise ValueError("x contains NaN or infinite values")
        return self.body(resize_images(x, self.resolution))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def cifar_feature_net(*, train_size: int = 50_000, epochs: int = 2, batch_size: int = 128, seed: int = 0,
                      resolution: int = 32, exclude=(), cache_dir: str | Path | None = None, device=None,
                      **load_kwargs) -> CifarFeatureNet:
    """The feature network trained with this config: loaded from the cache, or trained (Adam, flips) and cached.

    It trains on ``train_size`` images of the training split outside ``exclude`` (the indices of a
    diffusion model's training subset and of the evaluation's reference images), at ``resolution``.
    Returns the net in eval mode with its accuracy on the test split (at ``resolution``) in ``net.test_accuracy``.
    """
    check_positive_int(train_size, "train_size")
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    device = None if device is None else check_device(device)
    check_positive_int(resolution, "resolution")
    exclude = sorted(int(i) for i in exclude)
    config = {"train_size": train_size, "epochs": epochs, "batch_size": batch_size, "seed": seed, "version": 2,
              "resolution": resolution,
              "exclude_sha256": hashlib.sha256(json.dumps(exclude).encode()).hexdigest()[:16]}
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(cache_dir or CACHE_DIR) / f"cifar_feature_net-{key}.pt"
    net = CifarFeatureNet(resolution)
    if path.exists():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state["model"])
            net.test_accuracy = float(state["test_accuracy"])
        except Exception as err:       # a truncated zip, a foreign file, missing or mismatched weights
            raise ValueError(f"feature net cache {path} is unreadable ({type(err).__name__}: {err}); "
                             f"delete it to retrain") from err
        return net.to(device).eval()

    gen = torch.Generator().manual_seed(seed)
    available = len(load_cifar10("train", **load_kwargs)[1]) - len(set(exclude))
    if train_size > available:
        raise ValueError(f"train_size={train_size} exceeds the {available} training images outside exclude")
    x, y, _ = cifar10_subset(train_size, seed, exclude=exclude, **load_kwargs)
    x = resize_images(x, resolution)
    net = net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(train_size, generator=gen)
        for start in range(0, train_size, batch_size):
            b = order[start:start + batch_size]
            xb = x[b]
            flip = torch.rand(len(b), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb).to(device)
            loss = F.cross_entropy(net(xb), y[b].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    test_images, test_labels = load_cifar10("test", **load_kwargs)
    with torch.no_grad():
        logits = torch.cat([net(resize_images(to_model_range(test_images[s:s + 500]), resolution).to(device)).cpu()
                            for s in range(0, len(test_images), 500)])
    net.test_accuracy = (logits.argmax(1) == torch.from_numpy(test_labels)).double().mean().item()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")   # a temp file of its own
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"model": net.state_dict(), "test_accuracy": net.test_accuracy, "config": config}, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return net


@torch.no_grad()
def extract_features(net: CifarFeatureNet, images: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Penultimate-layer features ``(N, 128)`` of images in ``[-1, 1]``, shape ``(N, 3, H, W)``."""
    if not isinstance(net, CifarFeatureNet):
        raise TypeError(f"net must be a CifarFeatureNet (from cifar_feature_net), got {type(net).__name__}")
    check_positive_int(batch_size, "batch_size")
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor of shape (N, 3, H, W), got {type(images).__name__}")
    device = next(net.parameters()).device
    if images.ndim == 4 and images.shape[0] == 0:
        net.features(images[:1].new_zeros(1, *images.shape[1:]).to(device))   # the shape and dtype checks
        return torch.empty(0, net.head.in_features, dtype=net.head.weight.dtype)
    return torch.cat([net.features(images[s:s + batch_size].to(device)).cpu()
                      for s in range(0, images.shape[0], batch_size)])
