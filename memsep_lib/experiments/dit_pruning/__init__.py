"""Chapter 7 of the book, :doc:`/ch07_dit_pruning`: Algorithm 1 (small-t head pruning) on a DiT trained on CIFAR-10.

- :mod:`.experiment`: :class:`DiTPruningConfig`, ``CONFIGS``, ``run`` (per seed: train, score heads, fine-tune
  every arm, evaluate against held-out images), the evaluation sets and the metric sanity check;
- :mod:`.analysis`: tables per feature space, paired differences over seeds, ``verdict``, ``claims``, ``facts``,
  and the paper's table beside ours;
- :mod:`.probe`: the recorded regime probe that chose the ``cpu`` scale;
- :mod:`.mechanism`: how far each arm's score is from the empirical score (and a held-out one), and its local
  Lipschitz constant, on a grid of ``t`` (the mechanism the paper proposes);
- :mod:`.cost`: the FLOPs of a config counted from it, and the GPU time they take at a stated rate (``COST``'s
  ``gpu`` and ``paper`` estimates);
- :mod:`.figures`: head-importance heatmaps, memorisation over training, paired differences, samples above
  their nearest training images.

The model, the pruning, the data and the metrics are the library's: :mod:`memsep_lib.dit`,
:mod:`memsep_lib.pruning`, :mod:`memsep_lib.data`, :mod:`memsep_lib.features`, :mod:`memsep_lib.evaluation`.
"""

from . import cost, figures, mechanism, probe
from .analysis import (ARMS, CLAIMS, COMPARISONS, MEMORIZATION_BAND, PAPER_ROWS, PAPER_TABLE, SCORE_CLAIMS,
                       SCORE_COMPARISONS, average_records, claims, facts, paired_entry, results_table, score_summary,
                       summarize, verdict)
from .experiment import (COPY_NOISE, COST, CONFIGS, DESCRIPTION, MODELS, NAME, DiTPruningConfig, EvaluationSets,
                         feature_spaces, load_data, load_sets, load_stage_model, merge, metric_sanity, run, run_seed,
                         units)

__all__ = ["ARMS", "CLAIMS", "COMPARISONS", "MEMORIZATION_BAND", "PAPER_ROWS", "PAPER_TABLE", "SCORE_CLAIMS",
           "SCORE_COMPARISONS", "average_records", "claims", "score_summary", "facts", "paired_entry", "results_table", "summarize", "verdict", "COPY_NOISE", "COST", "CONFIGS",
           "DESCRIPTION", "MODELS", "NAME", "DiTPruningConfig", "EvaluationSets", "feature_spaces", "load_data",
           "load_sets", "load_stage_model", "merge", "metric_sanity", "run", "run_seed", "units", "cost", "figures",
           "mechanism", "probe"]
