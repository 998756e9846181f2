"""Algorithm 1 on a DiT trained on CIFAR-10: the paper's pruning table, per profile.

For each seed: train an unconditional DiT on a fixed CIFAR-10 subset with DSM, times log-uniform on
``[t0, T]`` (so that small ``t`` is trained as much as large ``t``), measuring memorisation at training
milestones; score its heads on small ``t = horizon * Beta(0.8, 2)`` (exact ablation and Taylor; also
ablation on large t), prune the ratio ``eta`` of least important heads and fine-tune, and do the same
with as many heads chosen at random. The three EMA models (original, pruned, random) then generate
images scored by memorisation fraction (pixel L2 ratio < 1/3 against the training subset), improved
precision/recall (k = 3) and Frechet distance, the latter two in the offline feature space of
:mod:`memsep_lib.features` (named in the results as ``feature_space``).

Every stage is resumable: checkpoints and the finished stages (:class:`memsep_lib.results.StageCache`)
of seed ``k`` live in ``<workdir>/seed<k>/``. The seeds are the units of sharding (``units``, ``run(...,
units=)``, ``merge``: :mod:`memsep_lib.experiments.sharding`); with ``dist`` the ranks of a group train
one seed together (DDP, the global batch split over them) and draw its samples in seeded blocks, so the
results do not depend on the number of ranks. On CUDA training uses the switches of :mod:`memsep_lib.speed`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from memsep_lib.config import make_generator
from memsep_lib.data import cifar10_subset, to_uint8
from memsep_lib.distributed import DistInfo, barrier, broadcast_object, main_first
from memsep_lib.dit import DiT, FlatScore
from memsep_lib.features import FEATURE_SPACE, cifar_feature_net, extract_features
from memsep_lib.metrics import frechet_distance, memorization_fraction, nearest_neighbors, precision_recall
from memsep_lib.pruning import (ablation_importance, heads_to_prune, importance_draws, random_heads_to_prune,
                                rank_agreement, taylor_importance)
from memsep_lib.experiments.sharding import gather, partial
from memsep_lib.progress import progress_bar
from memsep_lib.results import StageCache
from memsep_lib.sampling import sample_blocks
from memsep_lib.speed import speed_for
from memsep_lib.stats import mean_std
from memsep_lib.training import EMA, load_checkpoint, train_resumable

from .cost import cost_entry

__all__ = ["NAME", "DESCRIPTION", "COST", "PAPER_TABLE", "MODELS", "DiTPruningConfig", "CONFIGS", "load_data",
           "run_seed", "run", "units", "merge", "load_stage_model", "summarize_seeds", "seed_comparisons",
           "results_table", "verdict", "facts"]

NAME = "dit_pruning"
DESCRIPTION = "Algorithm 1: small-t head pruning of a DiT trained on CIFAR-10 against random pruning (the paper's table)"
COST = {
    "ci": {"minutes": 0.5, "hardware": "1 CPU thread",
           "basis": "measured: 29 s (chapter notebook, feature net cached, shared machine)"},
    "cpu": {"minutes": 50, "hardware": "1 CPU thread", "basis": "measured: 3007 s (1 thread, shared machine), 5 seeds"},
}  # gpu and paper: estimated from their FLOP counts (cost.py), below CONFIGS
PAPER_TABLE = {  # the paper's CIFAR-10 table (5,000 images, DiT, mean of 5 runs)
    "original": {"precision": 0.39, "recall": 0.08, "memorization": 0.7382, "fid": 15.47},
    "pruned": {"precision": 0.33, "recall": 0.12, "memorization": 0.6858, "fid": 15.07},
    "random": {"precision": 0.30, "recall": 0.09, "memorization": 0.6687, "fid": 17.14},
}
MODELS = ("original", "pruned", "random")


@dataclass(frozen=True)
class DiTPruningConfig:
    subset_size: int            # training images (fixed subset, seed `subset_seed`)
    resolution: int             # 32 (native), or average-pooled to 16 or 8
    dit: str                    # the architecture: a name in memsep_lib.dit.DIT_CONFIGS
    train_steps: int
    batch_size: int
    lr: float
    ema_decay: float
    memorization_milestones: tuple  # training steps at which memorisation is measured
    horizon: float              # small-t interval: t = horizon * Beta(0.8, 2)
    importance_draws: int
    prune_ratio: float
    finetune_steps: int
    num_samples: int            # generated images per model for the final metrics
    milestone_samples: int      # generated images per memorisation milestone
    sample_steps: int
    seeds: tuple
    feature_train_size: int
    feature_epochs: int
    t0: float = 1e-3
    T: float = 8.0
    subset_seed: int = 0


CONFIGS = {
    "ci": DiTPruningConfig(subset_size=128, resolution=16, dit="DiT-ci/4", train_steps=200, batch_size=32, lr=1e-3,
                           ema_decay=0.98, memorization_milestones=(100, 200), horizon=0.3, importance_draws=64,
                           prune_ratio=0.2, finetune_steps=40, num_samples=48, milestone_samples=24,
                           sample_steps=25, seeds=(0, 1), feature_train_size=1000, feature_epochs=1),
    # cpu: 32 images at 8x8 (patch 2: the same 16 tokens as 16x16 with patch 4), lr 2e-3, EMA 0.995, about an
    # hour on one CPU thread for 5 seeds. Probe (seed 0, 1 thread, about 0.12 s per step; memorisation of 100
    # samples, 50 sampling steps): the former config (200 images at 16x16, lr 5e-4) memorised 0% at 2.5k-10k steps
    # (on a GPU); 32 images at 16x16 with lr 1e-3 or 3e-3 memorised at most 5% (raw weights) by 3k steps; 32
    # images at 8x8, lr 2e-3 memorised 8% / 59% / 79% (raw weights) at 1k / 2k / 3k steps, while an EMA of decay
    # 0.999 still held 15% at 3k (it lags by ~1k steps), hence 0.995; 64 images at 8x8 reached 1% at 2k steps.
    # The full run with this config: 3007 s on one thread, the original memorising 88.4 +- 3.3% (5 seeds).
    "cpu": DiTPruningConfig(subset_size=32, resolution=8, dit="DiT-cpu/2", train_steps=4000, batch_size=64, lr=2e-3,
                            ema_decay=0.995, memorization_milestones=(1000, 2000, 3000, 4000), horizon=0.3,
                            importance_draws=256, prune_ratio=0.2, finetune_steps=500, num_samples=500,
                            milestone_samples=100, sample_steps=50, seeds=(0, 1, 2, 3, 4),
                            feature_train_size=20_000, feature_epochs=2),
    # gpu: one H200 in at most 8 minutes end to end, sized from the FLOPs counted from the config (cost.py, shown
    # in COST["gpu"]["basis"]) at the paper profile's float32 rates measured there: about 6 minutes. The paper's
    # DiT-S/2 at half its resolution (64 tokens: a step's FLOP term, ~37 ms, is expected to stay above eager
    # PyTorch's per-step overhead of ~1,000 kernel launches) on the cpu profile's 32 images; lr: the cpu DiT's 2e-3
    # scaled by its width (x 128/384), rounded down for the deeper net; EMA 0.995 as there (training is as short).
    # Not yet run on a GPU: whether it memorises at 16x16 in 3,000 steps is what its first run will show.
    "gpu": DiTPruningConfig(subset_size=32, resolution=16, dit="DiT-S/2", train_steps=3000, batch_size=128, lr=5e-4,
                            ema_decay=0.995, memorization_milestones=(1000, 2000, 3000), horizon=0.3,
                            importance_draws=256, prune_ratio=0.2, finetune_steps=250, num_samples=500,
                            milestone_samples=100, sample_steps=100, seeds=(0, 1), feature_train_size=20_000,
                            feature_epochs=2),
    "paper": DiTPruningConfig(subset_size=5000, resolution=32, dit="DiT-S/2", train_steps=400_000, batch_size=128,
                              lr=1e-4, ema_decay=0.9999, memorization_milestones=(50_000, 100_000, 200_000, 400_000),
                              horizon=0.3, importance_draws=2048, prune_ratio=0.2, finetune_steps=10_000,
                              num_samples=10_000, milestone_samples=1000, sample_steps=250, seeds=(0, 1, 2, 3, 4),
                              feature_train_size=50_000, feature_epochs=10),
}
COST.update({p: cost_entry(CONFIGS[p], CONFIGS["paper"]) for p in ("gpu", "paper")})


def load_data(subset_size: int, resolution: int, subset_seed: int = 0, **load_kwargs) -> torch.Tensor:
    """The training subset in ``[-1, 1]``, shape ``(n, 3, r, r)`` (``r < 32``: average-pooled)."""
    images, _, _ = cifar10_subset(subset_size, subset_seed, **load_kwargs)
    if resolution != 32:
        images = F.avg_pool2d(images, 32 // resolution)
    return images


def _new_model(cfg: DiTPruningConfig) -> DiT:
    return DiT.from_config(cfg.dit, input_size=cfg.resolution)


def _generate(model: DiT, cfg: DiTPruningConfig, n: int, seed: int, device, dist=None,
              progress: bool = False) -> torch.Tensor:
    """``n`` images in blocks of 512, block ``b`` seeded from ``(seed, b)`` (one block: ``seed``'s generator)."""
    score_fn = FlatScore(model.eval())
    flat = sample_blocks(score_fn, n, score_fn.dim, seed=seed, block_size=512, dist=dist, device=device, T=cfg.T,
                         t0=cfg.t0, steps=cfg.sample_steps, denoise=True, progress=progress)
    return flat.reshape(n, *score_fn.shape).clamp(-1, 1).cpu()


def _evaluate(model: DiT, cfg: DiTPruningConfig, train: torch.Tensor, real_features: torch.Tensor, feature_net,
              seed: int, device, dist=None, progress: bool = False) -> dict:
    start = time.perf_counter()
    images = _generate(model, cfg, cfg.num_samples, seed, device, dist, progress)
    seconds = time.perf_counter() - start
    fake_features = extract_features(feature_net, images)
    precision, recall = precision_recall(real_features, fake_features, k=3)
    _, nn_idx = nearest_neighbors(images.flatten(1), train.flatten(1), k=1)
    return {
        "memorization": memorization_fraction(images.flatten(1), train.flatten(1)),
        "precision": precision, "recall": recall,
        "fid": frechet_distance(real_features, fake_features),
        "num_heads": sum(model.heads_per_layer()), "num_parameters": model.num_parameters(),
        "sampling_seconds_per_image": seconds / cfg.num_samples,
        "examples": to_uint8(images[:8]).tolist(), "examples_nearest": nn_idx[:8, 0].tolist(),
    }


def _every(steps: int) -> int:
    """Checkpoint interval: about 10 per stage, a multiple of 5 (the logging interval divides it)."""
    return max(5, 5 * math.ceil(steps / 50))


def _train(model: DiT, cfg: DiTPruningConfig, train_flat: torch.Tensor, *, steps: int, interval: int, generator,
           checkpoint: Path, progress: bool, dist=None, speed=None) -> EMA:
    """DSM training of ``model`` up to ``steps`` in total, resuming from ``checkpoint``; returns the EMA."""
    _, ema = train_resumable(FlatScore(model), train_flat, steps=steps, generator=generator,
                             checkpoint_path=checkpoint, checkpoint_every=_every(interval),
                             log_every=_every(interval) // 5, ema_decay=cfg.ema_decay, lr=cfg.lr,
                             batch_size=cfg.batch_size, t0=cfg.t0, T=cfg.T, time_distribution="log_uniform",
                             progress=progress, dist=dist, speed=speed)
    return ema


def _finetuned(base: DiT, remove: dict, cfg: DiTPruningConfig, train_flat: torch.Tensor, seed: int,
               checkpoint: Path, device, progress: bool, dist=None, speed=None) -> DiT:
    model = copy.deepcopy(base)
    model.prune_heads({int(k): v for k, v in remove.items()})
    ema = _train(model, cfg, train_flat, steps=cfg.finetune_steps, interval=cfg.finetune_steps,
                 generator=make_generator(10_000 + seed, device), checkpoint=checkpoint, progress=progress,
                 dist=dist, speed=speed)
    return ema.model.model


def run_seed(cfg: DiTPruningConfig, seed: int, train: torch.Tensor, real_features: torch.Tensor, feature_net,
             folder: Path, device, *, progress: bool = False, dist: DistInfo | None = None, speed=None) -> dict:
    """One seed of the experiment (resumable through ``folder``); returns its results.

    With ``dist`` every rank of the group calls it: they train together, rank 0 writes, and each stage's
    value is rank 0's (broadcast), so the ranks never disagree on which heads to prune. ``progress``: a bar
    over the seed's stages (named as each starts) above the training and sampling bars."""
    folder = Path(folder)
    dist = dist if dist is not None and dist.distributed else None
    store = StageCache(folder, config=cfg, write=dist is None or dist.is_main)
    if dist is not None:
        barrier(dist)                    # every rank has read the same stages before rank 0 adds any
    bar = progress_bar(total=2 * len(cfg.memorization_milestones) + 10, enabled=progress, desc=f"seed {seed}")

    def step(name, compute):             # one stage of the seed, shown on its bar
        bar.set_postfix_str(name)
        value = compute()
        bar.update()
        return value

    def stage(name, compute):            # a stored stage; its value: rank 0's
        return step(name, lambda: store.get(name, compute if dist is None else
                                            lambda: broadcast_object(compute(), dist)))

    train_flat = train.flatten(1).to(device)
    torch.manual_seed(seed)
    model = _new_model(cfg).to(device)
    gen = make_generator(seed, device)
    ema = None
    for milestone in cfg.memorization_milestones:
        ema = step(f"training to step {milestone}", lambda: _train(
            model, cfg, train_flat, steps=milestone, interval=cfg.train_steps, generator=gen,
            checkpoint=folder / "original.pt", progress=progress, dist=dist, speed=speed))
        stage(f"memorization@{milestone}", lambda: memorization_fraction(
            _generate(ema.model.model, cfg, cfg.milestone_samples, seed, device, dist, progress).flatten(1),
            train.flatten(1)))
    original = ema.model.model.eval()

    def importance(times, method):
        draws = importance_draws(train, cfg.importance_draws, horizon=cfg.horizon, times=times, T=cfg.T,
                                 generator=make_generator(seed))
        draws = type(draws)(draws.x0.to(device), draws.t.to(device), draws.z.to(device))
        fn = ablation_importance if method == "ablation" else taylor_importance
        return fn(original, draws).tolist()

    small = torch.tensor(stage("importance_small_ablation", lambda: importance("small", "ablation")))
    taylor = torch.tensor(stage("importance_small_taylor", lambda: importance("small", "taylor")))
    large = torch.tensor(stage("importance_large_ablation", lambda: importance("large", "ablation")))
    remove = stage("remove_pruned", lambda: heads_to_prune(small, cfg.prune_ratio))
    remove_random = stage("remove_random", lambda: random_heads_to_prune(
        original.heads_per_layer(), cfg.prune_ratio, generator=make_generator(20_000 + seed)))
    tune = dict(device=device, progress=progress, dist=dist, speed=speed)
    pruned = step("fine-tuning pruned", lambda: _finetuned(original, remove, cfg, train_flat, seed,
                                                           folder / "pruned.pt", **tune))
    random_pruned = step("fine-tuning random", lambda: _finetuned(original, remove_random, cfg, train_flat, seed,
                                                                  folder / "random.pt", **tune))

    out = {
        "memorization_over_steps": {m: store.done[f"memorization@{m}"] for m in cfg.memorization_milestones},
        "importance_small_ablation": small.tolist(), "importance_small_taylor": taylor.tolist(),
        "importance_large_ablation": large.tolist(),
        "rank_agreement_taylor_vs_ablation": rank_agreement(small, taylor),
        "rank_agreement_small_vs_large_t": rank_agreement(small, large),
        "removed_pruned": remove, "removed_random": remove_random,
    }
    for name, m in zip(MODELS, (original, pruned, random_pruned)):
        out[name] = stage(f"eval_{name}", lambda m=m: _evaluate(m, cfg, train, real_features, feature_net,
                                                                seed, device, dist, progress))
    bar.close()
    return out


def units(config: DiTPruningConfig) -> list[int]:
    """The units of sharding: the seeds."""
    return list(config.seeds)


def run(config: DiTPruningConfig, *, device=None, progress: bool = False, workdir: Path | str | None = None,
        units: list | None = None, dist: DistInfo | None = None, compile: bool = False) -> dict:
    """The whole experiment: every seed of ``config`` (CPU unless ``device``), seed ``k`` resumable from
    ``<workdir>/seed<k>/`` (``workdir=None``: a temporary folder, deleted at the end).

    ``units``: only these seeds, returned as a partial result for :func:`merge`. ``dist``: the ranks of
    a group run each seed together (every rank of the world must call ``run`` at once: rank 0 fills the
    data and feature-net caches first). ``compile``: ``torch.compile`` the training forward.
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="dit_pruning-") as tmp:
            return run(config, device=device, progress=progress, workdir=tmp, units=units, dist=dist,
                       compile=compile)
    seeds = list(config.seeds) if units is None else list(units)
    if set(seeds) - set(config.seeds):
        raise ValueError(f"units must be seeds of the config {list(config.seeds)}, got {seeds}")
    train = main_first(lambda: load_data(config.subset_size, config.resolution, config.subset_seed))
    feature_net = main_first(lambda: cifar_feature_net(train_size=config.feature_train_size,
                                                       epochs=config.feature_epochs, device=device))
    real_features = extract_features(feature_net, train)
    speed = speed_for(device, compile=compile)
    per_seed = [run_seed(config, seed, train, real_features, feature_net, Path(workdir) / f"seed{seed}", device,
                         progress=progress, dist=dist, speed=speed) for seed in seeds]
    setup = {key: getattr(config, key) for key in ("subset_size", "subset_seed", "resolution", "train_steps",
                                                   "prune_ratio")}
    extra = {} if speed is None else {"speed": dataclasses.asdict(speed)}
    result = partial(list(config.seeds), seeds, per_seed, feature_space=FEATURE_SPACE,
                     feature_net_test_accuracy=feature_net.test_accuracy, setup=setup, **extra)
    return result if units is not None else merge([result])


def merge(partials: list[dict]) -> dict:
    """The whole run's results from partial results that cover every seed (:func:`.sharding.gather`)."""
    per_seed, common = gather(partials)
    out = {"feature_space": common["feature_space"], "feature_net_test_accuracy": common["feature_net_test_accuracy"],
           "table": summarize_seeds(per_seed), "paper_table": PAPER_TABLE, "per_seed": per_seed,
           "setup": common["setup"]}
    return out if "speed" not in common else {**out, "speed": common["speed"]}


def load_stage_model(cfg: DiTPruningConfig, folder: Path | str, stage: str = "original") -> DiT:
    """The EMA model of a finished stage (``original``, ``pruned`` or ``random``) of one seed's run folder."""
    if stage not in MODELS:
        raise ValueError(f"stage must be one of {MODELS}, got {stage!r}")
    folder = Path(folder)
    model = _new_model(cfg)
    if stage != "original":
        remove = json.loads((folder / "stages.json").read_text())[f"remove_{stage}"]
        model.prune_heads({int(k): v for k, v in remove.items()})
    wrapper = FlatScore(model)
    ema = EMA(wrapper)
    load_checkpoint(folder / f"{stage}.pt", model=wrapper, ema=ema)
    return ema.model.model.eval()


def summarize_seeds(per_seed: list[dict]) -> dict:
    """Mean and sample standard deviation over seeds of every metric, per model (original / pruned / random)."""
    keys = ("memorization", "precision", "recall", "fid", "num_heads", "num_parameters", "sampling_seconds_per_image")
    return {name: {key: mean_std([s[name][key] for s in per_seed]) for key in keys} for name in MODELS}


def seed_comparisons(per_seed: list[dict]) -> dict:
    """Paired per-seed comparisons: for each claim ``(metric, a, b)`` of the paper's table, the number of
    seeds with ``metric[a] < metric[b]``, keyed ``"<metric>: <a> < <b>"``, plus ``"seeds"`` (the total).

    Claims: pruning lowers memorisation (pruned < original), random pruning lowers it more
    (random < pruned), and Algorithm 1 keeps quality better than random pruning (FD pruned < random).
    """
    if not per_seed:
        raise ValueError("per_seed must hold at least one seed's results")
    claims = (("memorization", "pruned", "original"), ("memorization", "random", "original"),
              ("memorization", "random", "pruned"), ("fid", "pruned", "random"), ("fid", "pruned", "original"))
    out = {f"{k}: {a} < {b}": sum(float(s[a][k]) < float(s[b][k]) for s in per_seed) for k, a, b in claims}
    out["seeds"] = len(per_seed)
    return out


def _pm(row: dict, key: str, scale: float = 1.0, digits: int = 2) -> str:
    return f"{scale * row[key]['mean']:.{digits}f} ± {scale * row[key]['std']:.{digits}f}"


def results_table(table: dict, paper: dict = PAPER_TABLE) -> str:
    """Markdown table: our mean +- std beside the paper's numbers, for original / pruned / random."""
    names = {"original": "Original", "pruned": "Ours (pruned, Algorithm 1)", "random": "Random pruning"}
    lines = ["| model | Mem. % (ours) | Mem. % (paper) | P (ours) | P (paper) | R (ours) | R (paper) "
             "| FD (ours, feature net) | FID (paper, Inception) | heads | parameters |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, label in names.items():
        row, ref = table[key], paper[key]
        lines.append(f"| {label} | {_pm(row, 'memorization', 100, 1)} | {100 * ref['memorization']:.2f} "
                     f"| {_pm(row, 'precision')} | {ref['precision']:.2f} | {_pm(row, 'recall')} | {ref['recall']:.2f} "
                     f"| {_pm(row, 'fid')} | {ref['fid']:.2f} | {row['num_heads']['mean']:.0f} "
                     f"| {row['num_parameters']['mean']:,.0f} |")
    return "\n".join(lines)


def verdict(results: dict) -> dict[str, bool]:
    """The pipeline's invariants: every pruned model has ``round(eta * #heads)`` heads fewer than the original,
    and memorisation, precision and recall lie in ``[0, 1]``, FD ``>= 0``."""
    per_seed, ratio = results["per_seed"], results["setup"]["prune_ratio"]
    total = per_seed[0]["original"]["num_heads"]
    removed = round(ratio * total)
    heads = all(s["original"]["num_heads"] == total and s[m]["num_heads"] == total - removed
                for s in per_seed for m in ("pruned", "random"))
    ranges = all(0 <= s[m][k] <= 1 for s in per_seed for m in MODELS for k in ("memorization", "precision", "recall"))
    fd = all(s[m]["fid"] >= 0 for s in per_seed for m in MODELS)
    return {f"pruned heads: {removed} of {total} ({100 * ratio:.0f}%) in every pruned model": heads,
            "memorisation, precision, recall in [0, 1] and FD >= 0": ranges and fd}


def facts(results: dict) -> dict[str, str]:
    """The numbers the chapter's prose quotes, formatted as it prints them."""
    per_seed, table, setup = results["per_seed"], results["table"], results["setup"]
    counts = seed_comparisons(per_seed)
    rho = lambda key: f"{mean_std([s[key] for s in per_seed])['mean']:.2f}"
    out = {"feature_accuracy": f"{100 * results['feature_net_test_accuracy']:.1f}",
           "rho_taylor": rho("rank_agreement_taylor_vs_ablation"), "rho_large": rho("rank_agreement_small_vs_large_t"),
           "setup": f"{setup['subset_size']} images at {setup['resolution']}×{setup['resolution']} for "
                    f"{setup['train_steps']:,} steps",
           "seeds": str(counts["seeds"])}
    for m in MODELS:
        out[f"mem_{m}"], out[f"fd_{m}"] = _pm(table[m], "memorization", 100, 1), _pm(table[m], "fid")
    for key, name in (("memorization: pruned < original", "mem_pruned_lt_original"),
                      ("memorization: random < pruned", "mem_random_lt_pruned"),
                      ("fid: pruned < random", "fd_pruned_lt_random"),
                      ("fid: pruned < original", "fd_pruned_lt_original")):
        out[name] = str(counts[key])
    return out
