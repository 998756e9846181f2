"""Chapter 6 of the book, :doc:`/ch06_mixture_memorization`: memorisation in Gaussian mixtures, the paper's five ablations.

- :mod:`.experiment`: :class:`MixtureConfig`, the five registered ablations (``mixture_scale``,
  ``mixture_sample_size``, ``mixture_dimension``, ``mixture_weight_decay``, ``mixture_phase_2d``), each
  with ``CONFIGS``, ``run``, ``verdict`` and ``facts``;
- :mod:`.derivations`: the criterion's false-positive floor ``c^d`` (sympy);
- :mod:`.figures`: the ablation trends, the weight-decay grid and the 2-D pictures.
"""

from . import derivations, figures
from .experiment import (ABLATIONS, CLEAR, DIMENSION, PHASE_2D, SAMPLE_SIZE, SCALE, SLACK, WEIGHT_DECAY, Ablation,
                         MixtureConfig, members, mixture_for, run_members, summarize, summary_table, training_set)

__all__ = ["ABLATIONS", "CLEAR", "DIMENSION", "PHASE_2D", "SAMPLE_SIZE", "SCALE", "SLACK", "WEIGHT_DECAY", "Ablation",
           "MixtureConfig", "members", "mixture_for", "run_members", "summarize", "summary_table", "training_set",
           "derivations", "figures"]
