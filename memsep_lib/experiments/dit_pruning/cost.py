"""What a config of the DiT-pruning experiment costs on a GPU: matmul FLOPs counted from the config, and time.

Per seed, with ``F`` / ``F_tr`` the forward / training FLOPs of one image (:func:`memsep_lib.dit.dit_flops`;
``'`` after pruning, ``H`` heads, ``S`` sampling steps plus the denoising step, ``P = 2 + random_masks``
pruned arms, ``K`` horizons):

    training    train_steps B F_tr + finetune_steps B (F_tr + P F_tr')        (the control; the pruned arms)
    forward     (milestones milestone_samples + 2 num_samples) S F + P num_samples S F'   (sampling)
                + (2 + K) (H + 1) draws F + 2 draws F      (ablation at small t, large t, per horizon; Taylor)

Time: training FLOPs at ``train_rate``, forward FLOPs at ``forward_rate``, plus ``setup_s`` (start, data,
feature net). The stated rates are the ones measured on an H200 for the paper profile, in float32.
"""

from __future__ import annotations

from memsep_lib.dit import DIT_CONFIGS, dit_flops
from memsep_lib.pruning import num_heads_to_prune

__all__ = ["STEP_SECONDS", "SAMPLE_STEP_SECONDS", "SETUP_SECONDS", "flop_budget", "stated_rates", "estimate_seconds",
           "cost_entry"]

STEP_SECONDS = 0.16            # one training step of batch 128, paper profile, one H200, float32 (issue 19)
SAMPLE_STEP_SECONDS = 3.3e-4   # one image and sampling step, paper profile, one H200, float32
SETUP_SECONDS = 60.0           # allowance: process and CUDA start, CIFAR-10, the feature net (seconds on a GPU)


def _flops(cfg, *, pruned: bool, training: bool) -> int:
    arch = DIT_CONFIGS[cfg.dit]
    depth, heads = arch["depth"], arch["num_heads"]
    per_layer = [heads] * depth
    for i in range(num_heads_to_prune(depth * heads, cfg.prune_ratio) if pruned else 0):   # FLOPs are linear in each layer's
        per_layer[i % depth] -= 1                                              # heads: any spread gives the same
    return dit_flops(input_size=cfg.resolution, heads_per_layer=per_layer, training=training, **arch)


def flop_budget(cfg) -> dict:
    """Matmul FLOPs of the experiment with config ``cfg``: per image, and per seed by kind (``training``,
    ``forward``); ``total`` over all seeds."""
    f, f_pruned = _flops(cfg, pruned=False, training=False), _flops(cfg, pruned=True, training=False)
    tr, tr_pruned = _flops(cfg, pruned=False, training=True), _flops(cfg, pruned=True, training=True)
    heads = DIT_CONFIGS[cfg.dit]["depth"] * DIT_CONFIGS[cfg.dit]["num_heads"]
    S = cfg.sample_steps + 1
    P = 2 + cfg.random_masks
    training = cfg.batch_size * (cfg.train_steps * tr + cfg.finetune_steps * (tr + P * tr_pruned))
    sampling = (len(cfg.memorization_milestones) * cfg.milestone_samples + 2 * cfg.num_samples) * S * f \
        + P * cfg.num_samples * S * f_pruned
    importance = ((2 + len(cfg.horizons)) * (heads + 1) + 2) * cfg.importance_draws * f
    return {"forward_per_image": f, "training_per_image": tr, "training_per_image_pruned": tr_pruned,
            "training": training, "sampling": sampling, "importance": importance, "forward": sampling + importance,
            "total": len(cfg.seeds) * (training + sampling + importance)}


def stated_rates(paper_cfg) -> tuple[float, float]:
    """``(train_rate, forward_rate)`` in FLOP/s: the paper profile's counted FLOPs over its measured
    ``STEP_SECONDS`` and ``SAMPLE_STEP_SECONDS``."""
    budget = flop_budget(paper_cfg)
    return (paper_cfg.batch_size * budget["training_per_image"] / STEP_SECONDS,
            budget["forward_per_image"] / SAMPLE_STEP_SECONDS)


def estimate_seconds(cfg, *, train_rate: float, forward_rate: float, setup_s: float = SETUP_SECONDS) -> float:
    """Wall time of the whole experiment at these rates (FLOP/s), plus ``setup_s``."""
    if not (train_rate > 0 and forward_rate > 0):
        raise ValueError(f"train_rate and forward_rate must be > 0, got {train_rate}, {forward_rate}")
    b = flop_budget(cfg)
    return len(cfg.seeds) * (b["training"] / train_rate + b["forward"] / forward_rate) + setup_s


def cost_entry(cfg, paper_cfg, hardware: str = "1 H200 GPU") -> dict:
    """A ``COST`` entry for ``cfg`` estimated at the paper profile's stated rates, its arithmetic in ``basis``."""
    train_rate, forward_rate = stated_rates(paper_cfg)
    b, seeds = flop_budget(cfg), len(cfg.seeds)
    seconds = estimate_seconds(cfg, train_rate=train_rate, forward_rate=forward_rate)
    basis = (f"estimate from FLOPs counted from the config (dit_pruning/cost.py): per seed, training "
             f"({cfg.train_steps:,} + {3 + cfg.random_masks} x {cfg.finetune_steps:,} fine-tuning) steps x {cfg.batch_size} images x "
             f"{b['training_per_image'] / 1e9:.2f} GFLOP ({b['training_per_image_pruned'] / 1e9:.2f} pruned) = "
             f"{b['training']:.2e} FLOP at {train_rate / 1e12:.1f} TFLOP/s ({STEP_SECONDS} s per step of batch "
             f"{paper_cfg.batch_size} measured for the paper profile on an H200, float32) = "
             f"{b['training'] / train_rate:,.0f} s; sampling and head importance {b['forward']:.2e} FLOP "
             f"({b['forward_per_image'] / 1e9:.2f} GFLOP per image and step) at {forward_rate / 1e12:.1f} TFLOP/s "
             f"({SAMPLE_STEP_SECONDS:g} s per image and sampling step there) = {b['forward'] / forward_rate:,.0f} s; "
             f"x {seeds} seed{'s' * (seeds > 1)} + {SETUP_SECONDS:.0f} s start, data and feature net = "
             f"{seconds / 60:,.1f} min (bench_dit_flops.py estimates it again at the rates it measures)")
    return {"minutes": round(seconds / 60, 1), "hardware": hardware, "basis": basis}
