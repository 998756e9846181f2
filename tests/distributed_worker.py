"""What tests/test_distributed.py runs under ``torchrun`` (or as one plain process): ``MODE OUT [ARGS]``.

- ``ddp FOLDER``: DSM training of a tiny ScoreMLP with DDP (4 steps, then resumed from its checkpoint to 8),
  then :func:`memsep_lib.sampling.sample_blocks` of a tiny net; rank 0 saves the parameters, the EMA and
  the loss log to ``FOLDER/train.pt``, the samples to ``FOLDER/samples.pt``.
- ``cli RESULTS_DIR ARGS...``: the experiments CLI on a tiny DiT-pruning config (fake data, untrained
  feature net), so that no CIFAR-10 is needed.
"""

import os
import sys

import torch

from memsep_lib import distributed
from memsep_lib.nets import ScoreMLP

DATA = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))


def tiny_net() -> ScoreMLP:
    torch.manual_seed(0)
    return ScoreMLP(3, width=16, depth=2)


def train(dist, checkpoint):
    """8 DSM steps of global batch 8 (4, then resumed to 8 from ``checkpoint``): ``(net, log, ema)``."""
    from memsep_lib.training import train_resumable

    net, out = tiny_net(), None
    for steps in (4, 8):
        gen = torch.Generator().manual_seed(1)
        out = train_resumable(net, DATA, steps=steps, generator=gen, checkpoint_path=checkpoint, checkpoint_every=2,
                              log_every=2, ema_decay=0.9, batch_size=8, time_distribution="log_uniform", dist=dist)
    return net, *out


def samples(dist):
    from memsep_lib.sampling import sample_blocks

    net = tiny_net().eval()
    return sample_blocks(net, 10, 3, seed=7, block_size=3, steps=6, T=2.0, dist=dist)


def tiny_dit_cli(results_dir, args):
    """The CLI on a 2-seed DiT-pruning config small enough for a test (data and feature net faked)."""
    import dataclasses

    from memsep_lib.dit import DIT_CONFIGS
    from memsep_lib.experiments.__main__ import main
    from memsep_lib.experiments.dit_pruning import experiment as exp
    from memsep_lib.evaluation import classifier_space, pixel_space
    from memsep_lib.features import CifarFeatureNet

    DIT_CONFIGS["DiT-test/4"] = dict(hidden_size=16, depth=2, num_heads=2, patch_size=4)
    tiny = dataclasses.replace(exp.CONFIGS["ci"], subset_size=12, resolution=8, dit="DiT-test/4", train_steps=10,
                               batch_size=4, memorization_milestones=(5, 10), importance_draws=8, prune_ratio=0.25,
                               finetune_steps=5, num_samples=6, milestone_samples=4, sample_steps=3, seeds=(0, 1),
                               lr=1e-2)
    exp.CONFIGS["ci"] = tiny
    exp.SCORE_TIMES, exp.SCORE_QUERIES, exp.LIPSCHITZ_QUERIES = 3, 16, 4     # the mechanism stage at a test's size
    images = torch.rand(36, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    exp.load_sets = lambda cfg, **_: exp.EvaluationSets(images[:12], images[12:18], images[18:24], tuple(range(24)),
                                                        images[24:])

    def feature_spaces(cfg, sets, device):
        torch.manual_seed(0)
        return [classifier_space(CifarFeatureNet(resolution=8).eval()), pixel_space()], 0.1

    exp.feature_spaces = feature_spaces
    return main(["dit_pruning", "--profile", "ci", "--results-dir", results_dir, *args])


if __name__ == "__main__":
    torch.set_num_threads(1)
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "cli":
        sys.exit(tiny_dit_cli(out, sys.argv[3:]))
    info = distributed.init("cpu")
    net, log, ema = train(info, os.path.join(out, "ddp.pt"))
    trained = {"params": [p.detach() for p in net.parameters()], "ema": [p for p in ema.model.parameters()],
               "losses": log.losses, "steps": log.steps}
    drawn = samples(info)
    if info.is_main:
        torch.save(trained, os.path.join(out, "train.pt"))
        torch.save(drawn, os.path.join(out, "samples.pt"))
    distributed.close()
