"""Memorisation of Gaussian-mixture training sets by trained score networks: the paper's five ablations.

A *member* is one score network :class:`~memsep_lib.nets.ScoreMLP` (ReLU, ``depth`` hidden layers of
width ``W``) trained by DSM on ``n`` points drawn from a well-separated mixture
``P = (1/K) sum_k N(mu_k, I_d)`` (``Delta_min = separation * sqrt(d)``), then sampled with the
reverse SDE from ``T`` down to ``t0`` (Tweedie denoising at the end). For its ``m`` samples ``y_j``:

- memorisation fraction: share of ``y_j`` with ``|y_j - x_(1)| < |y_j - x_(2)| / 3``
  (:func:`memsep_lib.metrics.memorization_fraction`);
- log-likelihood: ``(1/m) sum_j log p(y_j)`` under the *true* mixture ``P`` (known here);
- references from ``m`` fresh draws of ``P`` itself: their memorisation fraction (the criterion's
  false-positive floor, about ``3^-d`` for locally uniform data) and their log-likelihood (``-H(P)``).

The five ablations (:data:`ABLATIONS`, registered as ``mixture_<ablation>``) vary one factor at a time:
network ``scale`` (width), training ``sample_size`` ``n``, ``dimension`` ``d``, a ``weight_decay`` x width
grid at two ``n``, and the 2-D ``phase_2d`` picture (``K = 4``, ``d = 2``, growing widths; the samples are
kept for scatter plots). Members of one shape ``(K, d, W)`` are trained together as one
:class:`~memsep_lib.nets.ScoreMLPStack` (a *group*); with a ``workdir`` each group checkpoints and resumes
exactly, and finished groups are kept in a :class:`~memsep_lib.results.StageCache`.
"""

from __future__ import annotations

import functools
import itertools
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from ...config import make_generator
from ...metrics import memorization_fraction
from ...mixtures import GaussianMixture, well_separated_mixture
from ...nets import ScoreMLPStack
from ...progress import progress_bar
from ...results import StageCache, jsonable
from ...sampling import sample
from ...training import train_resumable, train_score_stack
from ...validation import check_positive_int
from ..sharding import gather, partial
from . import claims
from .analysis import summarize
from .claims import FIXED, MATCHED

__all__ = ["MixtureConfig", "Ablation", "SCALE", "SAMPLE_SIZE", "DIMENSION", "WEIGHT_DECAY", "PHASE_2D", "ABLATIONS",
           "FIXED", "MATCHED", "members", "group_keys", "mixture_for", "training_set", "spread_around_means",
           "run_members"]

ABLATION_NAMES = ("scale", "sample_size", "dimension", "weight_decay", "phase_2d")
_GRID_FIELDS = ("d", "n", "width", "weight_decay", "seeds")


@dataclass(frozen=True)
class MixtureConfig:
    """Every setting of one ablation at one profile (the defaults are the ``cpu`` profile's).

    The members are the product of the grids ``d x n x width x weight_decay x seeds``; the target has
    ``K`` components with ``Delta_min = separation * sqrt(d)``. Each network (``depth`` hidden layers) gets
    ``steps`` DSM steps of ``batch_size`` points (Adam at ``lr``, times log-uniform on ``[t0, T]``) and
    draws ``num_samples`` samples with ``sample_steps`` reverse-SDE steps.

    ``matched_epochs`` (``E``) adds a second schedule: every member is trained again for
    ``round(E n / batch_size)`` steps, so that each ``n`` sees its training set ``E`` times (with a fixed
    ``steps``, ``n`` points are seen ``steps * batch_size / n`` times: the ``n`` trend is also an epochs trend).
    Where both schedules give the same steps (``n = 800`` at ``cpu``) the member is trained twice, as an
    independent replicate in the same group.
    """

    ablation: str
    d: tuple[int, ...]
    n: tuple[int, ...]
    width: tuple[int, ...]
    weight_decay: tuple[float, ...] = (0.0,)
    seeds: tuple[int, ...] = (0, 1, 2)
    K: int = 8
    separation: float = 2.0
    depth: int = 3
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    t0: float = 1e-3
    T: float = 8.0
    sample_steps: int = 100
    num_samples: int = 1000
    matched_epochs: float | None = None

    def __post_init__(self):
        if self.ablation not in ABLATION_NAMES:
            raise ValueError(f"ablation must be one of {ABLATION_NAMES}, got {self.ablation!r}")
        for name in _GRID_FIELDS:
            grid = tuple(getattr(self, name))
            if not grid:
                raise ValueError(f"{name} must not be empty")
            object.__setattr__(self, name, grid)
        for name in ("d", "n", "width"):
            for value in getattr(self, name):
                check_positive_int(value, name)
        for name in ("K", "depth", "steps", "batch_size", "sample_steps", "num_samples"):
            check_positive_int(getattr(self, name), name)
        if any(wd < 0 for wd in self.weight_decay) or not 0 < self.t0 < self.T or self.lr <= 0:
            raise ValueError("weight_decay must be >= 0, 0 < t0 < T and lr > 0")
        if self.matched_epochs is not None and not (isinstance(self.matched_epochs, (int, float))
                                                    and self.matched_epochs > 0):
            raise ValueError(f"matched_epochs must be None or a positive number, got {self.matched_epochs!r}")


# The profiles' training settings on top of the defaults (``cpu``).
_CI = dict(steps=1500, sample_steps=50, num_samples=300, seeds=(0,))
_CPU = dict(seeds=(0, 1, 2, 3, 4))
_PAPER = dict(depth=4, steps=50_000, batch_size=1024, lr=3e-4, sample_steps=250, num_samples=10_000,
              seeds=(0, 1, 2, 3, 4))


def _configs(ablation: str, *, ci: dict, cpu: dict, paper: dict) -> dict[str, MixtureConfig]:
    """``CONFIGS`` of one ablation: each profile's grid over that profile's training settings."""
    return {"ci": MixtureConfig(ablation, **{**_CI, **ci}), "cpu": MixtureConfig(ablation, **{**_CPU, **cpu}),
            "paper": MixtureConfig(ablation, **{**_PAPER, **paper})}


def _cost(ci_seconds: int, cpu_seconds: int, paper_minutes: float) -> dict:
    """``COST`` of an ablation: measured ``ci``/``cpu`` wall times (1 thread), a ``paper`` estimate."""
    measured = lambda seconds, where: {"minutes": round(seconds / 60, 2), "hardware": "1 CPU thread",
                                       "basis": f"measured: {seconds} s ({where})"}
    return {"ci": measured(ci_seconds, "1 thread"), "cpu": measured(cpu_seconds, "1 thread; two such processes shared 2 cores"),
            "paper": {"minutes": paper_minutes, "hardware": "1 GPU",
                      "basis": "estimate: training FLOPs at 50 TFLOP/s (sampling not counted); not measured"}}


def members(config: MixtureConfig) -> list[dict]:
    """The networks of an ablation: one per (d, n, width, weight decay, seed) of the grid and schedule
    (``FIXED``: ``config.steps``; with ``config.matched_epochs``, also ``MATCHED``: ``round(E n / batch_size)``)."""
    schedules = [(FIXED, None)] + ([] if config.matched_epochs is None else [(MATCHED, config.matched_epochs)])
    return [dict(K=config.K, d=d, n=n, width=w, weight_decay=wd, seed=s, schedule=name,
                 steps=config.steps if epochs is None else max(1, round(epochs * n / config.batch_size)))
            for name, epochs in schedules
            for d, n, w, wd, s in itertools.product(config.d, config.n, config.width, config.weight_decay,
                                                    config.seeds)]


def mixture_for(K: int, d: int, separation: float, device=None) -> GaussianMixture:
    """The fixed target mixture of a shape ``(K, d)`` (float32; means seeded by ``1000 K + d``)."""
    gen = make_generator(1000 * K + d)
    return well_separated_mixture(K, d, separation=separation, generator=gen).to(device, torch.float32)


def training_set(mixture: GaussianMixture, n: int, seed: int) -> torch.Tensor:
    """``n`` training points of a member, seeded by ``7919 seed + n``, shape ``(n, d)``."""
    return mixture.sample(n, generator=make_generator(7919 * seed + n, mixture.means.device))


def spread_around_means(y: torch.Tensor, means: torch.Tensor) -> float:
    """``(1/m) sum_j min_k |y_j - mu_k|^2 / d``: 1 for samples of ``N(mu_k, I)`` far apart, below 1 for
    samples shrunk towards the means, above 1 for samples spread too wide."""
    return (torch.cdist(y, means).min(dim=1).values.square().mean() / y.shape[1]).item()


def _group_key(m: dict) -> str:
    return f"K{m['K']}-d{m['d']}-W{m['width']}-S{m['steps']}"


def group_keys(config: MixtureConfig) -> list[str]:
    """The groups (one network shape each, trained together) of ``config``, in run order: its units of sharding."""
    return list(dict.fromkeys(_group_key(m) for m in members(config)))


def _train_and_evaluate(group: list[dict], config: MixtureConfig, device, checkpoint: Path | None,
                        progress: bool = False) -> list[dict]:
    """Train one group of members together, sample every member and measure it (``progress``: training and
    sampling bars under the group bar).

    Per member: memorisation; mean log p(y) under ``P`` with its Monte-Carlo standard error; the spread
    ``(1/m) sum_j |y_j - mu_k(j)|^2 / d`` around the nearest mean (1 for ``P`` itself, up to overlaps);
    and the same three for ``m`` fresh draws of ``P`` (one draw per group).
    """
    K, d, width, steps = group[0]["K"], group[0]["d"], group[0]["width"], group[0]["steps"]
    mix = mixture_for(K, d, config.separation, device)
    sets = [training_set(mix, m["n"], m["seed"]) for m in group]
    data = torch.zeros(len(group), max(m["n"] for m in group), d, device=device)
    for g, x in enumerate(sets):
        data[g, :len(x)] = x
    gen = make_generator(zlib.crc32(_group_key(group[0]).encode()), device)
    stack = ScoreMLPStack(len(group), d, width, config.depth, weight_decay=[m["weight_decay"] for m in group],
                          generator=gen)
    every = max(100, steps // 10)
    train_resumable(stack, data, steps=steps, generator=gen, checkpoint_path=checkpoint,
                    checkpoint_every=every, log_every=every // 10, lr=config.lr, train_fn=train_score_stack,
                    sizes=[m["n"] for m in group], batch_size=config.batch_size, t0=config.t0, T=config.T,
                    time_distribution="log_uniform", progress=progress)
    m_samples = config.num_samples
    samples = sample(stack.joint_score_fn(m_samples), len(group) * m_samples, d, T=config.T, t0=config.t0,
                     steps=config.sample_steps, denoise=True, batch_size=len(group) * m_samples, generator=gen,
                     progress=progress)
    truth = mix.sample(m_samples, generator=gen)
    out = []
    for g, member in enumerate(group):
        y = samples[g * m_samples:(g + 1) * m_samples]
        row = {**member, "num_parameters": stack.num_parameters()}
        for suffix, z in (("", y), ("_true_samples", truth)):
            log_p = mix.data_log_prob(z)
            row.update({f"memorization{suffix}": memorization_fraction(z, sets[g]),
                        f"log_likelihood{suffix}": log_p.mean().item(),
                        f"log_likelihood_se{suffix}": (log_p.std() / len(z) ** 0.5).item(),
                        f"spread{suffix}": spread_around_means(z, mix.means)})
        if config.ablation == "phase_2d":       # the 2-D picture plots them
            row["samples"] = y.cpu().tolist()
            row["train"] = sets[g].cpu().tolist()
        out.append(row)
    return out


def run_members(config: MixtureConfig, *, device=None, workdir: Path | str | None = None,
                progress: bool = False, units: list | None = None) -> list[dict]:
    """Results of every member of ``config`` (grouped by shape; resumable through ``workdir`` when given;
    ``units``: only these groups, by :func:`group_keys`).

    ``workdir`` keeps the finished groups, the checkpoints and the config stamp; a folder of another
    config is a ``ValueError`` (:class:`~memsep_lib.results.StageCache`). ``device`` defaults to the CPU.
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    groups = {}
    for m in members(config):
        groups.setdefault(_group_key(m), []).append(m)
    groups = groups if units is None else {k: g for k, g in groups.items() if k in set(units)}
    stages = None if workdir is None else StageCache(workdir, config=config)
    rows = []
    for key, group in progress_bar(groups.items(), enabled=progress, desc=f"{config.ablation} groups"):
        checkpoint = None if workdir is None else Path(workdir) / f"{key}.pt"
        compute = functools.partial(_train_and_evaluate, group, config, device, checkpoint, progress)
        rows += compute() if stages is None else stages.get(key, compute)
    return rows


class Ablation:
    """One registered ablation, ``mixture_<ablation>``: the factor it varies (per value of ``by``), its
    ``CONFIGS`` per profile, and ``run`` / ``verdict`` / ``facts`` as every experiment has them."""

    def __init__(self, ablation: str, factor: str, *, description: str, cost: dict, configs: dict, facts,
                 by: tuple = ()):
        self.ablation, self.factor, self.by = ablation, factor, by
        self.NAME, self.DESCRIPTION, self.COST, self.CONFIGS = f"mixture_{ablation}", description, cost, configs
        self._facts = facts

    def __repr__(self) -> str:
        return f"Ablation({self.NAME!r}, factor={self.factor!r})"

    def run(self, config: MixtureConfig, *, device=None, progress: bool = False, workdir=None,
            units: list | None = None) -> dict:
        """``{"rows": one per member (:func:`run_members`), "summary": :func:`summarize` over the factor,
        "factor"}`` for ``config`` (one of this ablation's configs); ``units``: :meth:`run_units`."""
        if not isinstance(config, MixtureConfig) or config.ablation != self.ablation:
            raise ValueError(f"config must be a MixtureConfig of ablation {self.ablation!r}, got {config!r}")
        if units is not None:
            return self.run_units(config, units, device=device, progress=progress, workdir=workdir)
        rows = run_members(config, device=device, workdir=workdir, progress=progress)
        return jsonable({"rows": rows, "summary": summarize(rows, self.factor, by=self.by), "factor": self.factor})

    def units(self, config: MixtureConfig) -> list[str]:
        """The units of sharding: the groups of :func:`group_keys`."""
        return group_keys(config)

    def run_units(self, config: MixtureConfig, units: list, *, device=None, progress: bool = False,
                  workdir=None) -> dict:
        """A partial result (:mod:`memsep_lib.experiments.sharding`): the rows of each group in ``units``."""
        unknown = set(units) - set(group_keys(config))
        if unknown:
            raise ValueError(f"unknown groups {sorted(unknown)}; config has {group_keys(config)}")
        rows = [run_members(config, device=device, workdir=workdir, progress=progress, units=[u]) for u in units]
        return jsonable(partial(group_keys(config), list(units), rows, factor=self.factor))

    def merge(self, partials: list[dict]) -> dict:
        """:meth:`run`'s results from partial results covering every group."""
        groups, _ = gather(partials)
        rows = [row for group in groups for row in group]
        return jsonable({"rows": rows, "summary": summarize(rows, self.factor, by=self.by), "factor": self.factor})

    def trends(self, results: dict) -> dict[str, dict]:
        """The memorisation trends the paper claims here, with their intervals (:func:`.claims.trends`)."""
        return claims.trends(self.ablation, results)

    def verdict(self, results: dict) -> dict[str, bool]:
        """The paper's claims for this ablation, tested on ``results`` (:func:`.claims.verdict_of`)."""
        return claims.verdict_of(self.ablation, results)

    def facts(self, results: dict) -> dict:
        """The numbers the chapter's prose glues, by glue name."""
        return self._facts(results)


SCALE = Ablation(
    "scale", "width", cost=_cost(12, 1319, 35), facts=claims.scale_facts,
    description="Gaussian mixtures (ch. 6): memorisation of trained score networks against their width",
    configs=_configs("scale", ci=dict(d=(8,), n=(100,), width=(16, 64, 256)),
                     cpu=dict(d=(8,), n=(200,), width=(16, 32, 64, 128, 256, 512, 1024)),
                     # paper: 22K to 45M parameters per network (the paper spans 24K to 44M)
                     paper=dict(d=(8,), n=(1000,), width=(64, 128, 256, 512, 1024, 2048, 3840))))
SAMPLE_SIZE = Ablation(
    "sample_size", "n", by=("schedule",), cost=_cost(29, 2528, 70), facts=claims.sample_size_facts,
    description="Gaussian mixtures (ch. 6): memorisation of a fixed score network against the training-set size n",
    # matched epochs: as many as the fixed schedule gives n = 800 (ci, cpu) or n = 32K (paper)
    configs=_configs("sample_size", ci=dict(d=(8,), n=(50, 200, 800), width=(256,), matched_epochs=480),
                     cpu=dict(d=(8,), n=(50, 200, 800, 3200), width=(512,), matched_epochs=960),
                     paper=dict(d=(8,), n=(1000, 3200, 10_000, 32_000, 100_000), width=(2048,),
                                matched_epochs=1600)))
DIMENSION = Ablation(
    "dimension", "d", cost=_cost(21, 1277, 30), facts=claims.dimension_facts,
    description="Gaussian mixtures (ch. 6): memorisation of a fixed score network against the dimension d",
    configs=_configs("dimension", ci=dict(d=(2, 8, 32), n=(100,), width=(256,)),
                     cpu=dict(d=(2, 8, 16, 32, 64), n=(200,), width=(512,)),
                     paper=dict(d=(8, 16, 32, 64), n=(1000,), width=(2048,))))
WEIGHT_DECAY = Ablation(
    "weight_decay", "weight_decay", by=("n", "width"), cost=_cost(24, 2862, 70), facts=claims.weight_decay_facts,
    description="Gaussian mixtures (ch. 6): memorisation and log-likelihood over a width x weight-decay grid at two n",
    configs=_configs("weight_decay", ci=dict(d=(8,), n=(100, 800), width=(256,), weight_decay=(0.0, 3.0)),
                     cpu=dict(d=(8,), n=(320, 1000), width=(256, 512), weight_decay=(0.0, 0.03, 0.3, 3.0)),
                     paper=dict(d=(8,), n=(3200, 10_000), width=(256, 1024, 2048),
                                weight_decay=(0.0, 0.01, 0.1, 1.0))))
PHASE_2D = Ablation(
    "phase_2d", "width", cost=_cost(10, 77, 2), facts=claims.phase_facts,
    description="Gaussian mixtures (ch. 6): the 2-D picture, samples of growing networks over their training points",
    # one picture per width: one seed
    configs=_configs("phase_2d", ci=dict(d=(2,), K=4, n=(16,), width=(8, 64, 256), seeds=(0,)),
                     cpu=dict(d=(2,), K=4, n=(32,), width=(8, 32, 128, 512), seeds=(0,)),
                     paper=dict(d=(2,), K=4, n=(32,), width=(8, 32, 128, 512, 2048), seeds=(0,))))

ABLATIONS = (SCALE, SAMPLE_SIZE, DIMENSION, WEIGHT_DECAY, PHASE_2D)
