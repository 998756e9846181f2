"""Algorithm 1 on a DiT trained on CIFAR-10: the paper's pruning table with its controls, per profile.

For each seed: train an unconditional DiT on a fixed CIFAR-10 subset with DSM, times log-uniform on
``[t0, T]`` (so that small ``t`` is trained as much as large ``t``), measuring memorisation at training
milestones; score its heads by exact ablation (and Taylor) on small ``t = horizon * Beta(0.8, 2)`` and on
large ``t ~ U[horizon, T]``; then fine-tune ``M`` steps, from the same optimizer state and on the same
batches, five kinds of model (the arms, :data:`ARMS`):

- ``finetune_only``: the original, nothing pruned (the control: fine-tuning alone changes memorisation);
- ``pruned_small_t``: Algorithm 1, the ratio ``eta`` of heads least important at small t removed;
- ``pruned_large_t``: the same with importance at large t;
- ``random``: as many heads removed at random, ``random_masks`` masks per seed (their metrics averaged).

Every arm and the original generate ``num_samples`` images from the same sampling noise. Memorisation is
the nearest-neighbour criterion in pixels against the training subset; Fréchet distance and precision/recall
are taken against ``num_samples`` *held-out* images (disjoint from the training subset), in three feature
spaces (:mod:`memsep_lib.evaluation`): the offline classifier (trained at the evaluation resolution on
images outside the subset and the reference), pixels and a fixed random conv net. P/R against the training
subset are kept as a copying indicator. A sanity check, stored with the results, scores fresh held-out
images and noisy copies of the training images with the same pipeline.

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

from memsep_lib.config import make_generator
from memsep_lib.data import cifar10_subset, resize_images, to_uint8
from memsep_lib.distributed import DistInfo, barrier, broadcast_object, main_first
from memsep_lib.dit import DiT, FlatScore
from memsep_lib.evaluation import classifier_space, evaluate_samples, pixel_space, random_conv_space
from memsep_lib.features import cifar_feature_net
from memsep_lib.inception import inception_space_from_env
from memsep_lib.metrics import memorization_fraction, nearest_neighbors
from memsep_lib.process import alpha, sigma
from memsep_lib.pruning import (ablation_importance, gate_prune_discrepancy, heads_to_prune, importance_draws,
                                random_heads_to_prune, rank_agreement, taylor_importance)
from memsep_lib.experiments.sharding import gather, partial
from memsep_lib.progress import progress_bar
from memsep_lib.results import StageCache
from memsep_lib.sampling import sample_blocks
from memsep_lib.speed import speed_for
from memsep_lib.training import EMA, load_checkpoint, train_resumable

from .analysis import ARMS, PAPER_TABLE, average_records, summarize
from .cost import cost_entry
from .mechanism import score_distance, score_time_grid

__all__ = ["NAME", "DESCRIPTION", "COST", "MODELS", "COPY_NOISE", "DiTPruningConfig", "CONFIGS",
           "EvaluationSets", "load_data", "load_sets", "feature_spaces", "metric_sanity", "run_seed", "run", "units",
           "merge", "load_stage_model"]

NAME = "dit_pruning"
DESCRIPTION = ("Algorithm 1: small-t head pruning of a DiT trained on CIFAR-10, against fine-tuning alone, large-t "
               "and random pruning, scored against held-out images (the paper's table)")
COST = {
    "ci": {"minutes": 1, "hardware": "1 CPU thread",
           "basis": "measured: 50 s (chapter notebook, feature net cached, shared machine)"},
    "cpu": {"minutes": 100, "hardware": "2 CPU processes, 1 thread each",
            "basis": "measured: 95 min wall for two parallel single-thread shards of three seeds (5,614 s and "
                     "5,694 s; the regime probe and tests shared the 2-core machine for much of it), then the "
                     "score-distance stage, added after the run, resumed in about 5 min per shard; the file's wall_time_s "
                     "is the sum of the four shard processes' times, 11,885 s, set by hand (the resumed shard files "
                     "recorded only the resume)"},
}  # gpu and paper: estimated from their FLOP counts (cost.py), below CONFIGS
COPY_NOISE = 0.05   # the sanity check's noisy copies: a training image plus N(0, COPY_NOISE^2) per pixel
# the mechanism (mechanism.score_distance): t grid from t0 to T, queries from P^_t, the first of them for the
# power-iteration Lipschitz constant; the same queries for every model of a seed (generator 30_000 + seed)
SCORE_TIMES, SCORE_QUERIES, LIPSCHITZ_QUERIES = 10, 256, 32


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
    finetune_steps: int         # M: every arm is fine-tuned this long, from the same state and batches
    num_samples: int            # generated images per model, and held-out reference images
    milestone_samples: int      # generated images per memorisation milestone
    sample_steps: int
    seeds: tuple
    feature_train_size: int
    feature_epochs: int
    random_masks: int = 3       # random masks per seed (the random arm averages them)
    horizons: tuple = (0.1, 0.3, 1.0)   # small-t horizons whose removed heads are compared with `horizon`'s
    t0: float = 1e-3
    T: float = 8.0
    subset_seed: int = 0


CONFIGS = {
    "ci": DiTPruningConfig(subset_size=128, resolution=16, dit="DiT-ci/4", train_steps=200, batch_size=32, lr=1e-3,
                           ema_decay=0.98, memorization_milestones=(100, 200), horizon=0.3, importance_draws=64,
                           prune_ratio=0.2, finetune_steps=40, num_samples=48, milestone_samples=24,
                           sample_steps=25, seeds=(0, 1), feature_train_size=1000, feature_epochs=1),
    # cpu: 32 images at 8x8 (patch 2: 16 tokens), lr 2e-3, EMA 0.995, trained to the step where the recorded probe
    # (probe.py, book/results/probes/dit_pruning_probe-cpu.json; seed 0, 200 samples) puts the original's memorisation in
    # the middle of 50-85%: 32 images memorised 0 / 14 / 51 / 69% at 1k / 1.5k / 2k / 2.5k steps, 48 images 0 / 1 /
    # 13 / 34%. 2,500 steps leaves the fine-tuned arms room to move either way. Six seeds: two shards of three.
    "cpu": DiTPruningConfig(subset_size=32, resolution=8, dit="DiT-cpu/2", train_steps=2500, batch_size=64, lr=2e-3,
                            ema_decay=0.995, memorization_milestones=(500, 1000, 1500, 2000, 2500), horizon=0.3,
                            importance_draws=256, prune_ratio=0.2, finetune_steps=300, num_samples=1000,
                            milestone_samples=100, sample_steps=50, seeds=(0, 1, 2, 3, 4, 5),
                            feature_train_size=20_000, feature_epochs=2),
    # gpu: one H200 in at most 8 minutes end to end, sized from the FLOPs counted from the config (cost.py, shown
    # in COST["gpu"]["basis"]) at the paper profile's float32 rates measured there. The paper's DiT-S/2 at half
    # its resolution (64 tokens) on the cpu profile's 32 images; lr: the cpu DiT's 2e-3 scaled by its width
    # (x 128/384), rounded down for the deeper net. Not yet run on a GPU.
    "gpu": DiTPruningConfig(subset_size=32, resolution=16, dit="DiT-S/2", train_steps=3000, batch_size=128, lr=5e-4,
                            ema_decay=0.995, memorization_milestones=(1000, 2000, 3000), horizon=0.3,
                            importance_draws=256, prune_ratio=0.2, finetune_steps=150, num_samples=1000,
                            milestone_samples=100, sample_steps=100, seeds=(0, 1), feature_train_size=20_000,
                            feature_epochs=2),
    "paper": DiTPruningConfig(subset_size=5000, resolution=32, dit="DiT-S/2", train_steps=400_000, batch_size=128,
                              lr=1e-4, ema_decay=0.9999, memorization_milestones=(50_000, 100_000, 200_000, 400_000),
                              horizon=0.3, importance_draws=2048, prune_ratio=0.2, finetune_steps=10_000,
                              num_samples=10_000, milestone_samples=1000, sample_steps=250, seeds=(0, 1, 2, 3, 4),
                              feature_train_size=20_000, feature_epochs=10),
}
COST.update({p: cost_entry(CONFIGS[p], CONFIGS["paper"]) for p in ("gpu", "paper")})
MODELS = ("original", "finetune_only", "pruned_small_t", "pruned_large_t")   # + random0, random1, ...


def load_data(subset_size: int, resolution: int, subset_seed: int = 0, **load_kwargs) -> torch.Tensor:
    """The training subset in ``[-1, 1]``, shape ``(n, 3, r, r)`` (``r < 32``: average-pooled)."""
    images, _, _ = cifar10_subset(subset_size, subset_seed, **load_kwargs)
    return resize_images(images, resolution)


@dataclass(frozen=True)
class EvaluationSets:
    """The training subset, the held-out reference and a second held-out draw (``fresh``, for the sanity
    check), at the config's resolution, every index the feature net must not train on, and ``score_reference``:
    as many held-out images as training images, whose empirical score is the mechanism's generalising reference."""

    train: torch.Tensor
    reference: torch.Tensor
    fresh: torch.Tensor
    excluded: tuple
    score_reference: torch.Tensor


def load_sets(cfg: DiTPruningConfig, **load_kwargs) -> EvaluationSets:
    """:class:`EvaluationSets` for ``cfg``: ``2 num_samples`` images of the training split outside the subset."""
    train, _, train_idx = cifar10_subset(cfg.subset_size, cfg.subset_seed, **load_kwargs)
    held, _, held_idx = cifar10_subset(2 * cfg.num_samples, cfg.subset_seed + 1, exclude=train_idx.tolist(),
                                       **load_kwargs)
    held = resize_images(held, cfg.resolution)
    excluded = tuple(sorted(train_idx.tolist() + held_idx.tolist()))
    score_reference, _, _ = cifar10_subset(cfg.subset_size, cfg.subset_seed + 2, exclude=excluded, **load_kwargs)
    return EvaluationSets(resize_images(train, cfg.resolution), held[:cfg.num_samples], held[cfg.num_samples:],
                          excluded, resize_images(score_reference, cfg.resolution))


def feature_spaces(cfg: DiTPruningConfig, sets: EvaluationSets, device) -> tuple[list, float]:
    """The evaluation's feature spaces, the classifier first (the primary one, of ``results.table``), and the
    classifier's test accuracy; with ``MEMSEP_INCEPTION_WEIGHTS`` set, Inception-v3 pool3 last
    (:func:`memsep_lib.inception.inception_space_from_env`)."""
    net = cifar_feature_net(train_size=cfg.feature_train_size, epochs=cfg.feature_epochs, resolution=cfg.resolution,
                            exclude=sets.excluded, device=device)
    inception = inception_space_from_env(device=device)          # MEMSEP_INCEPTION_WEIGHTS: FID's own space
    spaces = [classifier_space(net), pixel_space(), random_conv_space()] + ([] if inception is None else [inception])
    return spaces, net.test_accuracy


def metric_sanity(sets: EvaluationSets, spaces: list, *, noise: float = COPY_NOISE, seed: int = 0) -> dict:
    """Fresh held-out images (a perfect generaliser) and noisy copies of the training images (a copier), as many
    as the reference, through :func:`memsep_lib.evaluation.evaluate_samples` in every space: ``{space: {kind: metrics}}``."""
    gen = torch.Generator().manual_seed(seed)
    n = sets.reference.shape[0]
    pick = torch.randint(sets.train.shape[0], (n,), generator=gen)
    copies = (sets.train[pick] + noise * torch.randn(sets.train[pick].shape, generator=gen)).clamp(-1, 1)
    return {space.name: {kind: evaluate_samples(x, reference=sets.reference, train=sets.train, space=space)
                         for kind, x in (("fresh", sets.fresh), ("copies", copies))} for space in spaces}


def _new_model(cfg: DiTPruningConfig) -> DiT:
    return DiT.from_config(cfg.dit, input_size=cfg.resolution)


def _generate(model: DiT, cfg: DiTPruningConfig, n: int, seed: int, device, dist=None,
              progress: bool = False) -> torch.Tensor:
    """``n`` images in blocks of 512, block ``b`` seeded from ``(seed, b)`` (one block: ``seed``'s generator)."""
    score_fn = FlatScore(model.eval())
    flat = sample_blocks(score_fn, n, score_fn.dim, seed=seed, block_size=512, dist=dist, device=device, T=cfg.T,
                         t0=cfg.t0, steps=cfg.sample_steps, denoise=True, progress=progress)
    return flat.reshape(n, *score_fn.shape).clamp(-1, 1).cpu()


def _evaluate(model: DiT, cfg: DiTPruningConfig, sets: EvaluationSets, spaces: list, seed: int, device, dist=None,
              progress: bool = False, examples: int = 0) -> dict:
    """One model's samples scored: memorisation (pixels, against the subset) and, per space, FD and P/R."""
    start = time.perf_counter()
    images = _generate(model, cfg, cfg.num_samples, seed, device, dist, progress)
    seconds = time.perf_counter() - start
    out = {"memorization": memorization_fraction(images.flatten(1), sets.train.flatten(1)),
           "spaces": {space.name: evaluate_samples(images, reference=sets.reference, train=sets.train, space=space)
                      for space in spaces},
           "num_heads": sum(model.heads_per_layer()), "num_parameters": model.num_parameters(),
           "sampling_seconds_per_image": seconds / cfg.num_samples}
    if examples:
        _, nn_idx = nearest_neighbors(images[:examples].flatten(1), sets.train.flatten(1), k=1)
        out.update(examples=to_uint8(images[:examples]).tolist(), examples_nearest=nn_idx[:, 0].tolist())
    return out


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
    """``base`` with the heads ``remove`` pruned (none: the fine-tuning control), fine-tuned ``M`` steps on the
    batches every arm of the seed sees (generator ``10_000 + seed``), from a fresh optimizer."""
    model = copy.deepcopy(base).requires_grad_(True)   # the base is an EMA copy, its weights frozen
    model.prune_heads({int(k): v for k, v in remove.items()})
    ema = _train(model, cfg, train_flat, steps=cfg.finetune_steps, interval=cfg.finetune_steps,
                 generator=make_generator(10_000 + seed, device), checkpoint=checkpoint, progress=progress,
                 dist=dist, speed=speed)
    return ema.model.model


def _random_names(cfg: DiTPruningConfig) -> list[str]:
    return [f"random{j}" for j in range(cfg.random_masks)]


def run_seed(cfg: DiTPruningConfig, seed: int, sets: EvaluationSets, spaces: list, folder: Path, device, *,
             progress: bool = False, dist: DistInfo | None = None, speed=None) -> dict:
    """One seed of the experiment (resumable through ``folder``); returns its results.

    With ``dist`` every rank of the group calls it: they train together, rank 0 writes, and each stage's
    value is rank 0's (broadcast), so the ranks never disagree on which heads to prune. ``progress``: a bar
    over the seed's stages (named as each starts) above the training and sampling bars."""
    folder = Path(folder)
    dist = dist if dist is not None and dist.distributed else None
    store = StageCache(folder, config=cfg, write=dist is None or dist.is_main)
    if dist is not None:
        barrier(dist)                    # every rank has read the same stages before rank 0 adds any
    randoms = _random_names(cfg)
    total = 2 * len(cfg.memorization_milestones) + 4 + len(cfg.horizons) + 2 * (len(MODELS) + len(randoms))
    bar = progress_bar(total=total, enabled=progress, desc=f"seed {seed}")

    def step(name, compute):             # one stage of the seed, shown on its bar
        bar.set_postfix_str(name)
        value = compute()
        bar.update()
        return value

    def stage(name, compute):            # a stored stage; its value: rank 0's
        return step(name, lambda: store.get(name, compute if dist is None else
                                            lambda: broadcast_object(compute(), dist)))

    train = sets.train
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

    def draws(times, horizon):
        d = importance_draws(train, cfg.importance_draws, horizon=horizon, times=times, T=cfg.T,
                             generator=make_generator(seed))
        return type(d)(d.x0.to(device), d.t.to(device), d.z.to(device))

    def importance(times, method, horizon=cfg.horizon):
        fn = ablation_importance if method == "ablation" else taylor_importance
        return fn(original, draws(times, horizon)).tolist()

    small = torch.tensor(stage("importance_small_ablation", lambda: importance("small", "ablation")))
    taylor = torch.tensor(stage("importance_small_taylor", lambda: importance("small", "taylor")))
    large = torch.tensor(stage("importance_large_ablation", lambda: importance("large", "ablation")))
    by_horizon = {h: stage(f"remove_horizon_{h:g}", lambda h=h: heads_to_prune(   # the run's horizon: `small` again
        small if h == cfg.horizon else torch.tensor(importance("small", "ablation", h)), cfg.prune_ratio))
        for h in cfg.horizons}
    remove = {"finetune_only": {},
              "pruned_small_t": stage("remove_pruned_small_t", lambda: heads_to_prune(small, cfg.prune_ratio)),
              "pruned_large_t": stage("remove_pruned_large_t", lambda: heads_to_prune(large, cfg.prune_ratio))}
    for j, name in enumerate(randoms):
        remove[name] = stage(f"remove_{name}", lambda j=j: random_heads_to_prune(
            original.heads_per_layer(), cfg.prune_ratio, generator=make_generator(20_000 + seed + 1000 * j)))
    check = draws("small", cfg.horizon)
    x_t = alpha(check.t)[:, None, None, None] * check.x0 + sigma(check.t)[:, None, None, None] * check.z
    discrepancy = gate_prune_discrepancy(original, remove["pruned_small_t"], x_t[:32], check.t[:32])

    tune = dict(device=device, progress=progress, dist=dist, speed=speed)
    models = {"original": original}
    for name, heads in remove.items():
        models[name] = step(f"fine-tuning {name}", lambda heads=heads, name=name: _finetuned(
            original, heads, cfg, train_flat, seed, folder / f"{name}.pt", **tune))
    evaluated = {name: stage(f"eval_{name}", lambda m=m, name=name: _evaluate(
        m, cfg, sets, spaces, seed, device, dist, progress, examples=8 if name in MODELS + ("random0",) else 0))
        for name, m in models.items()}
    def distances_of_every_model():      # the same queries for every model; the model-free parts computed once
        out = {}
        for name, m in models.items():
            out[name] = score_distance(FlatScore(m.eval()), train.flatten(1), sets.score_reference.flatten(1),
                                       score_time_grid(cfg.t0, cfg.T, SCORE_TIMES), T=cfg.T, num_queries=SCORE_QUERIES,
                                       lipschitz_queries=LIPSCHITZ_QUERIES, generator=make_generator(30_000 + seed),
                                       reference=out.get("original"))
        return out

    distances = stage("score_distance", distances_of_every_model)
    bar.close()
    return {
        "seed": seed,
        "score_distance": distances,
        "memorization_over_steps": {m: store.done[f"memorization@{m}"] for m in cfg.memorization_milestones},
        "importance_small_ablation": small.tolist(), "importance_small_taylor": taylor.tolist(),
        "importance_large_ablation": large.tolist(),
        "rank_agreement_taylor_vs_ablation": rank_agreement(small, taylor),
        "rank_agreement_small_vs_large_t": rank_agreement(small, large),
        "removed": remove, "removed_by_horizon": {f"{h:g}": r for h, r in by_horizon.items()},
        "gate_prune_discrepancy": discrepancy,
        "arms": {**{name: evaluated[name] for name in MODELS},
                 "random": average_records([evaluated[name] for name in randoms])},
        "random_masks": [evaluated[name] for name in randoms],
    }


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
    sets = main_first(lambda: load_sets(config))
    spaces, accuracy = main_first(lambda: feature_spaces(config, sets, device))
    speed = speed_for(device, compile=compile)
    per_seed = [run_seed(config, seed, sets, spaces, Path(workdir) / f"seed{seed}", device, progress=progress,
                         dist=dist, speed=speed) for seed in seeds]
    setup = {key: getattr(config, key) for key in ("subset_size", "subset_seed", "resolution", "train_steps",
                                                   "finetune_steps", "prune_ratio", "horizon", "random_masks")}
    reference = {"kind": "held_out", "size": sets.reference.shape[0], "split": "train",
                 "excludes": "the training subset", "resolution": config.resolution}
    extra = {} if speed is None else {"speed": dataclasses.asdict(speed)}
    result = partial(list(config.seeds), seeds, per_seed, spaces=[s.name for s in spaces],
                     feature_net_test_accuracy=accuracy, reference=reference,
                     sanity=metric_sanity(sets, spaces), setup=setup, **extra)
    return result if units is not None else merge([result])


def merge(partials: list[dict]) -> dict:
    """The whole run's results from partial results that cover every seed (:func:`.sharding.gather`); sample
    images are kept for the first seed only."""
    per_seed, common = gather(partials)
    for seed in per_seed[1:]:            # sample images: the first seed's are shown, the others would only bulk the file
        for record in seed["arms"].values():
            record.pop("examples", None), record.pop("examples_nearest", None)
    out = {"arms": list(ARMS), "feature_space": common["spaces"][0], "spaces": common["spaces"],
           "feature_net_test_accuracy": common["feature_net_test_accuracy"], "reference": common["reference"],
           "sanity": common["sanity"], **summarize(per_seed, common["spaces"], horizon=common["setup"]["horizon"]),
           "paper_table": PAPER_TABLE,
           "per_seed": per_seed, "setup": common["setup"]}
    return out if "speed" not in common else {**out, "speed": common["speed"]}


def load_stage_model(cfg: DiTPruningConfig, folder: Path | str, stage: str = "original") -> DiT:
    """The EMA model of a finished stage of one seed's run folder: ``original``, an arm of :data:`MODELS`, or
    ``random<j>``."""
    names = MODELS + tuple(_random_names(cfg))
    if stage not in names:
        raise ValueError(f"stage must be one of {names}, got {stage!r}")
    folder = Path(folder)
    model = _new_model(cfg)
    if stage not in ("original", "finetune_only"):
        remove = json.loads((folder / "stages.json").read_text())[f"remove_{stage}"]
        model.prune_heads({int(k): v for k, v in remove.items()})
    wrapper = FlatScore(model)
    ema = EMA(wrapper)
    load_checkpoint(folder / f"{stage}.pt", model=wrapper, ema=ema)
    return ema.model.model.eval()
