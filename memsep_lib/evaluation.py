"""Sample quality against held-out images, in feature spaces named with every number.

Fréchet distance and improved precision/recall measure how close generated images are to the *data
distribution*, so the reference must be real images the model never saw: held-out images with the same
preprocessing and resolution, as many as the generated ones. Against the training subset itself the
same metrics reward copying (noisy copies of the training images are "perfect"); those numbers are
still useful, as a *copying indicator*, and :func:`evaluate_samples` reports them separately.

Feature spaces (:class:`FeatureSpace`): ``pixels`` (the flattened image) and ``random_conv`` (a fixed,
randomly initialised convolutional net: training-free, so no learned space decides the comparison),
beside the offline classifier of :mod:`memsep_lib.features`. Never mix spaces in one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .features import FEATURE_SPACE, CifarFeatureNet, extract_features
from .metrics import frechet_distance, precision_recall
from .validation import check_positive_int

__all__ = ["FeatureSpace", "classifier_space", "pixel_space", "random_conv_space", "evaluate_samples"]


@dataclass(frozen=True)
class FeatureSpace:
    """A named map from images ``(N, 3, H, W)`` in ``[-1, 1]`` to features ``(N, D)`` (float64)."""

    name: str
    embed: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, "images")
        return self.embed(images).double()


def _check_images(images, name: str) -> None:
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise TypeError(f"{name} must be a floating torch.Tensor of shape (N, 3, H, W) in [-1, 1], "
                        f"got {type(images).__name__ if not isinstance(images, torch.Tensor) else images.dtype}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3, H, W), got {tuple(images.shape)}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


def classifier_space(net: CifarFeatureNet) -> FeatureSpace:
    """The penultimate layer of the offline classifier :func:`memsep_lib.features.cifar_feature_net`: 128 features."""
    if not isinstance(net, CifarFeatureNet):
        raise TypeError(f"net must be a CifarFeatureNet (from cifar_feature_net), got {type(net).__name__}")
    return FeatureSpace(f"{FEATURE_SPACE} at {net.resolution}x{net.resolution}", lambda x: extract_features(net, x))


def pixel_space() -> FeatureSpace:
    """The flattened image: ``3 r^2`` features."""
    return FeatureSpace("pixels", lambda x: x.flatten(1))


def random_conv_space(*, width: int = 64, seed: int = 0) -> FeatureSpace:
    """A fixed random conv net (two 3x3 conv + ReLU blocks, 2x2 average pool, global mean and std pool): ``4 width`` features."""
    check_positive_int(width, "width")
    net = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True),
                        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in net:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.normal_(module.bias, std=0.1)
    net.requires_grad_(False)

    @torch.no_grad()
    def embed(x):
        h = net(x.float())
        return torch.cat([h.mean((2, 3)), h.std((2, 3))], 1)

    return FeatureSpace(f"random_conv (width {width}, seed {seed})", embed)


def evaluate_samples(samples: torch.Tensor, *, reference: torch.Tensor, train: torch.Tensor,
                     space: FeatureSpace, k: int = 3) -> dict:
    """FD and precision/recall of ``samples`` against held-out ``reference`` (as many images), and P/R against ``train``.

    Returns ``space``, ``fid`` (Fréchet distance in ``space``), ``precision``, ``recall`` (against the
    reference), ``train_precision``, ``train_recall`` (against the training subset: a copying indicator,
    1 for copies but also high for fresh images when the subset is small, whose k-NN balls are large; the
    nearest-neighbour memorisation fraction of :mod:`memsep_lib.metrics` is the primary measure), and the sizes.
    """
    for name, x in (("samples", samples), ("reference", reference), ("train", train)):
        _check_images(x, name)
    if samples.shape[0] != reference.shape[0]:
        raise ValueError(f"samples and reference must hold as many images (FD and recall depend on the counts), "
                         f"got {samples.shape[0]} and {reference.shape[0]}")
    if samples.shape[1:] != reference.shape[1:] or train.shape[1:] != reference.shape[1:]:
        raise ValueError(f"samples, reference and train must share one image shape, got {tuple(samples.shape[1:])}, "
                         f"{tuple(reference.shape[1:])} and {tuple(train.shape[1:])}")
    fs, fr, ft = space(samples), space(reference), space(train)
    precision, recall = precision_recall(fr, fs, k)
    train_precision, train_recall = precision_recall(ft, fs, min(k, ft.shape[0] - 1))
    return {"space": space.name, "fid": frechet_distance(fs, fr), "precision": precision, "recall": recall,
            "train_precision": train_precision, "train_recall": train_recall,
            "num_samples": samples.shape[0], "reference_size": reference.shape[0], "train_size": train.shape[0]}
