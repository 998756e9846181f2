"""memsep_lib: the library behind the memsep book.

Every formula the book uses lives here once. Modules (one concept each):

Core
- :mod:`memsep_lib.config`      device, run profile (``MEMSEP_PROFILE``), seeding, labels for reported numbers
- :mod:`memsep_lib.validation`  input checks with clear errors
- :mod:`memsep_lib.process`     the OU / VP forward process ``X_t = a_t X_0 + s_t Z``, time samplers
- :mod:`memsep_lib.mixtures`    Gaussian mixtures and the exact score / Hessian of their noised law ``P_t``
- :mod:`memsep_lib.scores`      the empirical score of ``P^_t``, posterior moments, Hessian
- :mod:`memsep_lib.losses`      DSM loss, Loss-Gap and Fisher-divergence estimators
- :mod:`memsep_lib.symbolic`    sympy derivations shown in the chapters
- :mod:`memsep_lib.results`     results files with provenance (``book/results/*.json``)

Chapters
- :mod:`memsep_lib.prop41`, :mod:`memsep_lib.dsm_minimiser`   Proposition 4.1 and the DSM minimiser (ch. 1-2)
- :mod:`memsep_lib.loss_gap_bound`                              Theorem 4.3 (ch. 3)
- :mod:`memsep_lib.approximation`                               Theorem 5.1, widths (ch. 4)
- :mod:`memsep_lib.lipschitz`                                   Hessian / Lipschitz constants (ch. 5)
- :mod:`memsep_lib.nets`, :mod:`memsep_lib.training`           score MLPs, DSM training, EMA, checkpoint/resume
- :mod:`memsep_lib.sampling`, :mod:`memsep_lib.metrics`        reverse-time samplers; memorisation, P/R, FD
- :mod:`memsep_lib.data`, :mod:`memsep_lib.features`           CIFAR-10 and an offline feature network
- :mod:`memsep_lib.dit`, :mod:`memsep_lib.pruning`,
  :mod:`memsep_lib.dit_pruning`                                 DiT, Algorithm 1 and the CIFAR-10 experiment (ch. 7)
- :mod:`memsep_lib.plotting`                                    the book's figures
- :mod:`memsep_lib.experiments`                                 ``python -m memsep_lib.experiments <name> --profile <p>``
"""

__version__ = "0.1.0"
