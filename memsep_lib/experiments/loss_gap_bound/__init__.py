"""Theorem 4.3, the Loss-Gap lower bound: chapter 3 of the book, :doc:`/ch03_loss_gap_lower_bound`.

For well-separated Gaussian components and ``log n = O(d)``, on a small-``t`` interval
``E_D[Loss-Gap_t] = Omega(d s_t^-2 + tr Sigma)``, shrinking with ``n`` only at a rate of order ``n^(-1/d)``.
``experiment`` measures it (registered as ``loss_gap_bound``) with the ``estimators``; ``theory`` holds
the closed forms, ``derivations`` the sympy, ``figures`` the plots.
"""

from . import checks, derivations, estimators, figures, theory
from .experiment import (C_FLOOR, CONFIGS, COST, DESCRIPTION, NAME, RATIO_FLOOR, LossGapBoundConfig, explore, facts, run,
                         verdict)

__all__ = ["C_FLOOR", "CONFIGS", "COST", "DESCRIPTION", "NAME", "RATIO_FLOOR", "LossGapBoundConfig", "explore", "facts", "run",
           "verdict", "checks", "derivations", "estimators", "figures", "theory"]
