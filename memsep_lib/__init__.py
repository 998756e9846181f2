"""memsep_lib: the library behind the memsep book.

Every formula the book uses lives here once. Modules (one concept each):

- :mod:`memsep_lib.config`    device, dtype, run profile, seeding
- :mod:`memsep_lib.process`   the OU / VP forward process ``X_t = a_t X_0 + s_t Z``
- :mod:`memsep_lib.mixtures`  Gaussian mixtures and the exact score of their noised law ``P_t``
- :mod:`memsep_lib.scores`    the empirical score of ``P^_t`` and its posterior moments / Hessian
- :mod:`memsep_lib.losses`    DSM loss, Loss-Gap and Fisher divergence estimators
"""

__version__ = "0.1.0"
