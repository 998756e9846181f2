"""Chapter 4 of the book, :doc:`/ch04_approximation_width`: Theorem 5.1, the width a network needs for each score.

``theory`` (the empirical score as a one-layer softmax network, its pruning), ``experiment`` (the
registered ``approximation_width``: the smallest width ``W*(n)`` of trained ReLU networks), ``derivations``
(sympy) and ``figures``.
"""

from . import checks, derivations, figures, lower_bound, report, theory
from .experiment import (CONFIGS, COST, DESCRIPTION, NAME, SEPARATION_FACTOR, SLOPE_THRESHOLD,
                         TRUE_WIDTH_PER_COMPONENT, WIDTH_CLAIMS, ApproximationWidthConfig, facts, run, summarize,
                         summary_table, verdict, width_learning_rate, width_threshold)
from .theory import one_layer_checks

__all__ = ["CONFIGS", "COST", "DESCRIPTION", "NAME", "SEPARATION_FACTOR", "SLOPE_THRESHOLD", "TRUE_WIDTH_PER_COMPONENT",
           "WIDTH_CLAIMS", "ApproximationWidthConfig", "facts", "one_layer_checks", "run", "summarize",
           "summary_table", "verdict", "width_learning_rate", "width_threshold", "checks", "derivations", "figures", "lower_bound", "report", "theory"]
