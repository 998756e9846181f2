"""Chapter 1 of the book, :doc:`/ch01_forward_process`: the forward process, DSM and the empirical score.

``experiment`` (the registered ``dsm_minimiser``: perturbation study and gradient check), ``theory``
(``p^_t`` and its score on the figures' grids), ``derivations`` (sympy) and ``figures``.
"""

from . import derivations, figures, theory
from .experiment import (CONFIGS, COST, DESCRIPTION, NAME, DSMMinimiserConfig, autograd_score, constant_fields,
                         facts, gradient_check, perturbation_study, perturbation_table, run, smooth_random_fields,
                         tilt, time_scaled_score, verdict)

__all__ = ["CONFIGS", "COST", "DESCRIPTION", "NAME", "DSMMinimiserConfig", "autograd_score", "constant_fields",
           "facts", "gradient_check", "perturbation_study", "perturbation_table", "run", "smooth_random_fields",
           "tilt", "time_scaled_score", "verdict", "derivations", "figures", "theory"]
