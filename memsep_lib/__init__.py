"""memsep_lib: the library behind the memsep book.

Every formula the book uses lives here once, in four layers (one concept per module). The core API
is available at the top level (``__all__`` lists it), and every module as an attribute, imported
on first use::

    import memsep_lib as ms

    gm = ms.well_separated_mixture(4, 8, generator=ms.make_generator(0))
    data = gm.sample(500, generator=ms.make_generator(1))
    gap = ms.loss_gap(data, gm.score, 0.01, num_samples=4096, generator=ms.make_generator(2))
    print(gap.value, "+-", gap.stderr)
    ms.scores.posterior_weights     # the modules: memsep_lib.scores, memsep_lib.dit, ...

A ``score_fn`` is any callable ``score_fn(x, t) -> Tensor`` with ``x`` of shape ``(B, d)``
(``GaussianMixture.score``, a trained network, ``lambda x, t: empirical_score(x, t, data)``).
Dtypes: references compute in float64 (``well_separated_mixture``'s default), networks in float32;
``sample`` draws in the dtype of the model behind its ``score_fn`` (float32 for a plain function), and
a ``score_fn`` given points of another dtype than its model's is a TypeError naming both.
The book's API reference page lists every public function of these modules.

**Core** (imports nothing from the layers above):

- :mod:`memsep_lib.config`: device, run profile (``MEMSEP_PROFILE``), seeded generators, labels
- :mod:`memsep_lib.validation`: input checks with clear errors
- :mod:`memsep_lib.process`: the OU / VP forward process ``X_t = a_t X_0 + s_t Z``, time samplers
- :mod:`memsep_lib.mixtures`: Gaussian mixtures and the exact score / Hessian of their noised law ``P_t``
- :mod:`memsep_lib.scores`: the empirical score of ``P^_t``, posterior moments, Hessian
- :mod:`memsep_lib.losses`: DSM loss, Loss-Gap and Fisher-divergence estimators
- :mod:`memsep_lib.metrics`: memorisation criterion, precision / recall, Frechet distance
- :mod:`memsep_lib.sampling`: reverse-time SDE / probability-flow ODE samplers
- :mod:`memsep_lib.fits`, :mod:`memsep_lib.stats`, :mod:`memsep_lib.progress`: power-law fits,
  summaries and paired intervals, progress bars

**Models**:

- :mod:`memsep_lib.nets` (score networks), :mod:`memsep_lib.training` (every training loop, EMA,
  checkpoint / resume), :mod:`memsep_lib.lipschitz` (Jacobians and local Lipschitz constants)
- :mod:`memsep_lib.dit` and :mod:`memsep_lib.pruning` (DiT with prunable heads, Algorithm 1)
- :mod:`memsep_lib.data` and :mod:`memsep_lib.features` (CIFAR-10, an offline feature network),
  :mod:`memsep_lib.evaluation` (sample quality against held-out images, in named feature spaces)

**Results**: :mod:`memsep_lib.results` (results files with provenance, stage caches,
``stored_or_live``), :mod:`memsep_lib.provenance` (the runners and results files the book lists).

**Experiments**: :mod:`memsep_lib.experiments`, one package per chapter (``CONFIGS``, ``run``,
``verdict``, ``facts``); ``python -m memsep_lib.experiments <name> --profile <p>`` runs one.
:mod:`memsep_lib.distributed` and :mod:`memsep_lib.speed` run them on several GPUs and faster.
"""

__version__ = "0.1.0"

import importlib as _importlib

# the core: imported with the package (torch, no sympy / matplotlib)
from . import config, losses, metrics, mixtures, process, sampling, scores, validation  # noqa: E402
from .config import describe_device, get_device, get_profile, make_generator, seed_everything  # noqa: E402
from .losses import MonteCarloEstimate, dsm_loss, fisher_divergence, loss_gap  # noqa: E402
from .metrics import frechet_distance, memorization_fraction, nn_distance_ratio, precision_recall  # noqa: E402
from .mixtures import GaussianMixture, well_separated_mixture  # noqa: E402
from .process import add_noise, alpha, sigma  # noqa: E402
from .sampling import sample  # noqa: E402
from .scores import (empirical_score, empirical_score_hessian, posterior_cov, posterior_mean,  # noqa: E402
                     posterior_weights)

# the other modules, imported on first attribute access (memsep_lib.dit, memsep_lib.experiments, ...)
_LAZY_MODULES = ("data", "distributed", "dit", "evaluation", "experiments", "features", "fits", "inception",
                 "lipschitz", "nets", "progress", "provenance", "pruning", "results", "speed", "stats", "training")
MODULES = ("config", "validation", "process", "mixtures", "scores", "losses", "metrics", "sampling") + _LAZY_MODULES

__all__ = [
    # process and the empirical law
    "alpha", "sigma", "add_noise",
    "empirical_score", "posterior_weights", "posterior_mean", "posterior_cov", "empirical_score_hessian",
    # Gaussian mixtures (the true score)
    "GaussianMixture", "well_separated_mixture",
    # losses and divergences
    "dsm_loss", "loss_gap", "fisher_divergence", "MonteCarloEstimate",
    # memorisation and sample quality
    "nn_distance_ratio", "memorization_fraction", "precision_recall", "frechet_distance",
    # sampling
    "sample",
    # settings
    "get_device", "describe_device", "get_profile", "make_generator", "seed_everything",
    # the modules
    *MODULES,
]


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        module = _importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
