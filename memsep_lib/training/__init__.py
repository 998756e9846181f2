"""Every training loop of the library, with EMA and exact checkpoint / resume.

- ``training.dsm``: :func:`train_score_net` (DSM training of one score network,
  ``E_{t, i, z} lambda(t) | -z/s_t - s_theta(a_t x_i + s_t z, t) |^2`` with AdamW) and
  :func:`train_score_stack` (the ``G`` members of a :class:`~memsep_lib.nets.ScoreMLPStack`);
- ``training.checkpoints``: :class:`EMA`, :func:`save_checkpoint`, :func:`load_checkpoint`,
  :func:`train_resumable` (resumes bit for bit);
- ``training.batched``: :func:`fit_batched` (MSE regression of a
  :class:`~memsep_lib.nets.BatchedMLP`'s ``G`` models at once).
"""

from .batched import FitResult, fit_batched
from .checkpoints import EMA, load_checkpoint, save_checkpoint, train_resumable
from .dsm import TrainingLog, make_optimizer, train_score_net, train_score_stack

__all__ = ["TrainingLog", "make_optimizer", "train_score_net", "train_score_stack", "EMA", "save_checkpoint",
           "load_checkpoint", "train_resumable", "FitResult", "fit_batched"]
