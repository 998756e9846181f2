"""memsep_lib: the library behind the memsep book.

Every formula the book uses lives here once, in four layers (one concept per module):

Core (imports nothing from the layers above)
- :mod:`memsep_lib.config`      device, run profile (``MEMSEP_PROFILE``), seeded generators, labels
- :mod:`memsep_lib.validation`  input checks with clear errors
- :mod:`memsep_lib.process`     the OU / VP forward process ``X_t = a_t X_0 + s_t Z``, time samplers
- :mod:`memsep_lib.mixtures`    Gaussian mixtures and the exact score / Hessian of their noised law ``P_t``
- :mod:`memsep_lib.scores`      the empirical score of ``P^_t``, posterior moments, Hessian
- :mod:`memsep_lib.losses`      DSM loss, Loss-Gap and Fisher-divergence estimators
- :mod:`memsep_lib.metrics`     memorisation criterion, precision / recall, Frechet distance
- :mod:`memsep_lib.sampling`    reverse-time SDE / probability-flow ODE samplers
- :mod:`memsep_lib.fits`, :mod:`memsep_lib.stats`, :mod:`memsep_lib.progress`   power-law fits, summaries
  and paired intervals, progress bars

Models
- :mod:`memsep_lib.nets` (score networks), :mod:`memsep_lib.training` (every training loop, EMA,
  checkpoint / resume), :mod:`memsep_lib.lipschitz` (Jacobians and local Lipschitz constants),
  :mod:`memsep_lib.dit` and :mod:`memsep_lib.pruning` (DiT with prunable heads, Algorithm 1),
  :mod:`memsep_lib.data` and :mod:`memsep_lib.features` (CIFAR-10, an offline feature network)

Results
- :mod:`memsep_lib.results`     results files with provenance, stage caches, ``stored_or_live``

Experiments
- :mod:`memsep_lib.experiments` one package per chapter (``CONFIGS``, ``run``, ``verdict``, ``facts``);
  ``python -m memsep_lib.experiments <name> --profile <p>`` runs one
"""

__version__ = "0.1.0"
