"""Chapter 7 of the book, :doc:`/ch07_dit_pruning`: Algorithm 1 (small-t head pruning) on a DiT trained on CIFAR-10.

- :mod:`.experiment`: :class:`DiTPruningConfig`, ``CONFIGS``, ``run`` (per seed: train, score heads, prune,
  fine-tune, evaluate), ``verdict``, ``facts``, and the paper's table beside ours;
- :mod:`.cost`: the FLOPs of a config counted from it, and the GPU time they take at a stated rate (``COST``'s
  ``gpu`` and ``paper`` estimates);
- :mod:`.figures`: head-importance heatmaps, memorisation over training, samples above their nearest
  training images.

The model, the pruning and the data are the library's: :mod:`memsep_lib.dit`, :mod:`memsep_lib.pruning`,
:mod:`memsep_lib.data`, :mod:`memsep_lib.features`.
"""

from . import cost, figures
from .experiment import (COST, CONFIGS, DESCRIPTION, MODELS, NAME, PAPER_TABLE, DiTPruningConfig, facts, load_data,
                         load_stage_model, merge, results_table, run, run_seed, seed_comparisons, summarize_seeds,
                         units, verdict)

__all__ = ["COST", "CONFIGS", "DESCRIPTION", "MODELS", "NAME", "PAPER_TABLE", "DiTPruningConfig", "facts",
           "load_data", "load_stage_model", "merge", "results_table", "run", "run_seed", "seed_comparisons",
           "summarize_seeds", "units", "verdict", "cost", "figures"]
