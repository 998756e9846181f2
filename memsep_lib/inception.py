"""FID's feature space: Inception-v3 pool3 features through torch-fidelity, from a local weights file.

Set ``MEMSEP_INCEPTION_WEIGHTS`` to the path of torch-fidelity's Inception-v3 weights (the ``.pth`` file
torch-fidelity 0.3.0 downloads as ``weights-inception-2015-12-05-6726825d.pth``; nothing is downloaded
here) and :func:`inception_space_from_env` gives the 2048-d pool3 space of the standard FID, so that
:func:`memsep_lib.evaluation.evaluate_samples` in it reports FID and Inception precision/recall. Images
are quantised to uint8 and resized to 299x299 by torch-fidelity itself, exactly as in its FID.

A randomly initialised network (:func:`save_random_inception_weights`) exercises the same path where no
weights exist; its space is named a *plumbing test*, and its numbers are not FID.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

from .data import to_uint8
from .evaluation import FeatureSpace
from .validation import check_bool, check_device, check_positive_int

__all__ = ["INCEPTION_ENV", "TORCH_FIDELITY_VERSION", "RELEASED_SHA256_PREFIX", "inception_space",
           "is_released_weights", "inception_space_from_env", "save_random_inception_weights"]

INCEPTION_ENV = "MEMSEP_INCEPTION_WEIGHTS"
TORCH_FIDELITY_VERSION = "0.3.0"
RELEASED_SHA256_PREFIX = "6726825d"   # weights-inception-2015-12-05-6726825d.pth, torch-fidelity's release
# torch-fidelity's registered name of its Inception-v3 and its pool3 feature (named '2048' in 0.3.0)
_EXTRACTOR, _POOL3 = "inception-v3-compat", "2048"


def _check_path(path, name: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}")
    return Path(path)


def _extractor_class():
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    return FeatureExtractorInceptionV3


def inception_space(weights_path, *, plumbing: bool = False, batch_size: int = 64, device="cpu") -> FeatureSpace:
    """The 2048-d pool3 features of torch-fidelity's Inception-v3 loaded from ``weights_path``.

    ``embed`` quantises images in ``[-1, 1]`` to uint8 (:func:`memsep_lib.data.to_uint8`) and passes them
    to torch-fidelity, which resizes to 299x299 (TF1-compatible bilinear) and scales to ``[-1, 1]``.

    Args:
        weights_path: a torch-fidelity Inception-v3 state dict (``.pth``) on this machine.
        plumbing: True for weights that are not the trained ones (the name then says: not FID).
        batch_size: images per forward pass.
        device: where the network runs; features come back on the CPU.

    Returns:
        FeatureSpace: images ``(N, 3, H, W)`` in ``[-1, 1]`` -> float64 ``(N, 2048)``, named with the weights file.
    """
    path = _check_path(weights_path, "weights_path")
    plumbing = check_bool(plumbing, "plumbing")
    batch_size = check_positive_int(batch_size, "batch_size")
    device = check_device(device)
    if not path.is_file():
        raise FileNotFoundError(f"weights_path={str(path)!r} is not a file (torch-fidelity Inception-v3 weights)")
    net = _extractor_class()(_EXTRACTOR, [_POOL3], feature_extractor_weights_path=str(path)).eval().to(device)

    @torch.no_grad()
    def embed(x):
        rows = [net(to_uint8(chunk).permute(0, 3, 1, 2).to(device))[0].cpu()
                for chunk in x.split(batch_size)]
        return torch.cat(rows)

    name = f"Inception-v3 pool3 (torch-fidelity {TORCH_FIDELITY_VERSION}, weights {path.name})"
    if plumbing:
        name += ": PLUMBING TEST, random weights: not FID"
    return FeatureSpace(name, embed)


def is_released_weights(path) -> bool:
    """Whether the file's sha256 starts with ``RELEASED_SHA256_PREFIX``, the tag in the released file's name (torch.hub's
    naming convention; torch-fidelity itself does not check it, and it could not be checked here, offline)."""
    digest = hashlib.sha256()
    with open(_check_path(path, "path"), "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest().startswith(RELEASED_SHA256_PREFIX)


def inception_space_from_env(*, batch_size: int = 64, device="cpu") -> FeatureSpace | None:
    """:func:`inception_space` of the file named by ``MEMSEP_INCEPTION_WEIGHTS``; ``None`` when it is unset or empty.

    A file that is not the released one (:func:`is_released_weights`) gives a space named as a plumbing test, so its
    numbers are never reported as FID. A set variable naming no file is a FileNotFoundError naming the variable.

    Args:
        batch_size, device: as for :func:`inception_space`.

    Returns:
        FeatureSpace or None: the Inception space, or ``None`` without the variable.
    """
    value = os.environ.get(INCEPTION_ENV, "")
    if not value:
        return None
    if not Path(value).is_file():
        raise FileNotFoundError(f"{INCEPTION_ENV}={value!r} names no file: set it to a local torch-fidelity "
                                "Inception-v3 weights file (.pth), or unset it")
    return inception_space(value, plumbing=not is_released_weights(value), batch_size=batch_size, device=device)


def save_random_inception_weights(path, seed: int = 0) -> Path:
    """Write a randomly initialised (``seed``) Inception-v3 state dict to ``path`` in the format torch-fidelity loads.

    For tests of the pipeline only: features from these weights are not Inception features.
    """
    path = _check_path(path, "path")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    base = _extractor_class()

    class Unloaded(base):
        """The architecture with its default initialisation: the constructor's weight loading skipped."""

        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = Unloaded(_EXTRACTOR, [_POOL3], feature_extractor_weights_path=str(empty))
    torch.save(net.state_dict(), path)
    return path
