"""Hessians and Lipschitz constants: chapter 5 of the book, :doc:`/ch05_hessian_lipschitz`.

``grad^2 log p_t = -I/s_t^2 + (a_t^2/s_t^4) Cov[X_0 | X_t]``: the empirical score's Lipschitz constant
grows like ``s_t^-4 min_{i != j} |x_i - x_j|^2`` as ``t -> 0``, a Gaussian's stays below
``1/(s_t^2 + a_t^2 lambda_min(Sigma))``. ``experiment`` measures it (registered as ``hessian_lipschitz``),
``theory`` holds the closed forms, ``derivations`` the sympy, ``figures`` the plots.
"""

from . import derivations, figures, theory
from .experiment import (CONFIGS, COST, DESCRIPTION, NAME, HessianLipschitzConfig, data_law, evaluate_score_net,
                         facts, lipschitz_vs_time, network_regimes, network_table, run, verdict)

__all__ = ["CONFIGS", "COST", "DESCRIPTION", "NAME", "HessianLipschitzConfig", "data_law", "evaluate_score_net",
           "facts", "lipschitz_vs_time", "network_regimes", "network_table", "run", "verdict", "derivations",
           "figures", "theory"]
