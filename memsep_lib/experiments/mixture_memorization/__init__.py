"""Chapter 6 of the book, :doc:`/ch06_mixture_memorization`: memorisation in Gaussian mixtures, the paper's five ablations.

- :mod:`.experiment`: :class:`MixtureConfig`, the five registered ablations (``mixture_scale``,
  ``mixture_sample_size``, ``mixture_dimension``, ``mixture_weight_decay``, ``mixture_phase_2d``), each
  with ``CONFIGS``, ``run``, ``verdict`` and ``facts``;
- :mod:`.analysis`: summaries over seeds, the degraded-sample guard, trends with 95% intervals, tables;
- :mod:`.claims`: each ablation's claims and the numbers the chapter quotes;
- :mod:`.derivations`: the criterion's false-positive floor ``c^d`` (sympy);
- :mod:`.figures`: the ablation trends, the weight-decay grid, the spread of the samples and the 2-D pictures.
"""

from . import analysis, claims, derivations, figures
from .analysis import CLEAR, LL_TOLERANCE, SLACK, degraded, summarize, summary_table, trend, trend_table
from .experiment import (ABLATIONS, DIMENSION, FIXED, MATCHED, PHASE_2D, SAMPLE_SIZE, SCALE, WEIGHT_DECAY, Ablation,
                         MixtureConfig, members, mixture_for, run_members, spread_around_means, training_set)

__all__ = ["ABLATIONS", "CLEAR", "DIMENSION", "FIXED", "LL_TOLERANCE", "MATCHED", "PHASE_2D", "SAMPLE_SIZE", "SCALE",
           "SLACK", "WEIGHT_DECAY", "Ablation", "MixtureConfig", "degraded", "members", "mixture_for", "run_members",
           "spread_around_means", "summarize", "summary_table", "training_set", "trend", "trend_table",
           "analysis", "claims", "derivations", "figures"]
