"""Hessians and Lipschitz constants: chapter 5 of the book, :doc:`/ch05_hessian_lipschitz`.

``grad^2 log p_t = -I/s_t^2 + (a_t^2/s_t^4) Cov[X_0 | X_t]``: the empirical score's Lipschitz constant is
``a_t^2 E / s_t^4 - 1/s_t^2`` up to exponentially small terms as ``t -> 0``, with ``E`` the largest
``|x_k - x_l|^2 / 4`` over Delaunay edges; a Gaussian's stays below ``1/(s_t^2 + a_t^2 lambda_min(Sigma))``.
``experiment`` measures it (registered as ``hessian_lipschitz``), ``search`` holds the Lipschitz search,
``networks`` the score networks with and without weight decay, ``theory`` the closed forms,
``derivations`` the sympy, ``figures`` the plots.
"""

from . import derivations, figures, networks, theory
from .experiment import (CONFIGS, COST, DESCRIPTION, NAME, HessianLipschitzConfig, data_law, facts, run, share_below,
                         small_t_summary, verdict)
from .networks import decay_effects, effects_table, evaluate_score_net, network_table, score_mse
from .search import LipschitzSweep, lipschitz_vs_time

__all__ = ["CONFIGS", "COST", "DESCRIPTION", "NAME", "HessianLipschitzConfig", "data_law", "facts", "run", "share_below",
           "small_t_summary", "verdict",
           "decay_effects", "effects_table", "evaluate_score_net", "network_table", "score_mse", "LipschitzSweep",
           "lipschitz_vs_time", "derivations", "figures", "networks", "theory"]
