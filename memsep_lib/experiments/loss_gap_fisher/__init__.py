"""Chapter 2 of the book, :doc:`/ch02_loss_gap_fisher`: Proposition 4.1, the Loss-Gap is a Fisher divergence.

``experiment`` (the registered ``loss_gap_fisher``: the Monte-Carlo check, the wrong-score check, the
asymmetry of the law in the expectation), ``derivations`` (sympy, the exact two-point example) and ``figures``.
"""

from . import derivations, figures
from .experiment import (CONFIGS, COST, DESCRIPTION, MODELS, NAME, WRONG_SCORES, LossGapFisherConfig, facts,
                         fisher_asymmetry, fisher_under_true_law, make_model, prop41_check, prop41_table, run,
                         summarize, verdict)

__all__ = ["CONFIGS", "COST", "DESCRIPTION", "MODELS", "NAME", "WRONG_SCORES", "LossGapFisherConfig", "facts",
           "fisher_asymmetry", "fisher_under_true_law", "make_model", "prop41_check", "prop41_table", "run",
           "summarize", "verdict", "derivations", "figures"]
