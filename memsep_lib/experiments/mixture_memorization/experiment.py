"""Memorisation of Gaussian-mixture training sets by trained score networks: the paper's ablations.

A *member* is one score network :class:`~memsep_lib.nets.ScoreMLP` (ReLU, ``depth`` hidden layers of
width ``W``) trained by DSM on ``n`` points drawn from a well-separated mixture
``P = (1/K) sum_k N(mu_k, I_d)`` (``Delta_min = separation * sqrt(d)``), then sampled with the
reverse SDE from ``T`` down to ``t0`` (Tweedie denoising at the end). For its ``m`` samples ``y_j``:

- memorisation fraction: share of ``y_j`` with ``|y_j - x_(1)| < |y_j - x_(2)| / 3``
  (:func:`memsep_lib.metrics.memorization_fraction`);
- log-likelihood: ``(1/m) sum_j log p(y_j)`` under the *true* mixture ``P`` (known here);
- references from ``m`` fresh draws of ``P`` itself: their memorisation fraction (the criterion's
  false-positive floor, about ``3^-d`` for locally uniform data) and their log-likelihood (``-H(P)``).

The five ablations (:data:`ABLATIONS`) vary one factor at a time: network ``scale`` (width), training
``sample_size`` ``n``, ``dimension`` ``d``, a ``weight_decay`` x width grid at two ``n``, and the 2-D
``phase_2d`` picture (``K = 4``, ``d = 2``, growing widths; the samples are kept for scatter plots).
Members of one shape ``(K, d, W)`` are trained together as one :class:`~memsep_lib.nets.ScoreMLPStack`
(a *group*); each group checkpoints and resumes exactly, and finished groups are kept in a
:class:`~memsep_lib.results.StageCache`. Sizes per profile: :func:`ablation_config`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import zlib
from pathlib import Path

import torch

from .config import by_profile, get_device
from .metrics import memorization_fraction
from .mixtures import GaussianMixture, well_separated_mixture
from .nets import ScoreMLPStack, train_score_stack
from .results import RESULTS_DIR, StageCache, jsonable
from .sampling import sample
from .training import train_resumable

__all__ = ["ABLATIONS", "FACTORS", "ablation_config", "members", "mixture_for", "training_set", "run_members",
           "summarize", "summary_table", "trend_verdicts", "run"]

ABLATIONS = ("scale", "sample_size", "dimension", "weight_decay", "phase_2d")

# Shared by every ablation of a profile: mixture, training and sampling settings.
_COMMON = {
    "ci": dict(K=8, separation=2.0, depth=3, steps=1500, batch_size=256, lr=1e-3, t0=1e-3, T=8.0,
               sample_steps=50, num_samples=300, seeds=[0]),
    "cpu": dict(K=8, separation=2.0, depth=3, steps=3000, batch_size=256, lr=1e-3, t0=1e-3, T=8.0,
                sample_steps=100, num_samples=1000, seeds=[0, 1, 2]),
    "paper": dict(K=8, separation=2.0, depth=4, steps=50_000, batch_size=1024, lr=3e-4, t0=1e-3, T=8.0,
                  sample_steps=250, num_samples=10_000, seeds=[0, 1, 2, 3, 4]),
}

# The factor each ablation varies (the others are held at the listed values).
_GRIDS = {
    "scale": dict(
        ci=dict(d=8, n=[100], width=[16, 64, 256], weight_decay=[0.0]),
        cpu=dict(d=8, n=[200], width=[16, 32, 64, 128, 256, 512, 1024], weight_decay=[0.0]),
        # paper: 22K to 45M parameters per network (the paper spans 24K to 44M)
        paper=dict(d=8, n=[1000], width=[64, 128, 256, 512, 1024, 2048, 3840], weight_decay=[0.0])),
    "sample_size": dict(
        ci=dict(d=8, n=[50, 200, 800], width=[256], weight_decay=[0.0]),
        cpu=dict(d=8, n=[50, 200, 800, 3200], width=[512], weight_decay=[0.0]),
        paper=dict(d=8, n=[1000, 3200, 10_000, 32_000, 100_000], width=[2048], weight_decay=[0.0])),
    "dimension": dict(
        ci=dict(d=[2, 8, 32], n=[100], width=[256], weight_decay=[0.0]),
        cpu=dict(d=[2, 8, 16, 32, 64], n=[200], width=[512], weight_decay=[0.0]),
        paper=dict(d=[8, 16, 32, 64], n=[1000], width=[2048], weight_decay=[0.0])),
    "weight_decay": dict(
        ci=dict(d=8, n=[100, 800], width=[256], weight_decay=[0.0, 3.0]),
        cpu=dict(d=8, n=[320, 1000], width=[64, 512], weight_decay=[0.0, 0.03, 0.3, 3.0], seeds=[0, 1]),
        paper=dict(d=8, n=[3200, 10_000], width=[256, 1024, 2048], weight_decay=[0.0, 0.01, 0.1, 1.0])),
    "phase_2d": dict(
        ci=dict(d=2, K=4, n=[16], width=[8, 64, 256], weight_decay=[0.0]),
        cpu=dict(d=2, K=4, n=[32], width=[8, 32, 128, 512], weight_decay=[0.0]),
        paper=dict(d=2, K=4, n=[32], width=[8, 32, 128, 512, 2048], weight_decay=[0.0])),
}


def ablation_config(name: str, profile: str) -> dict:
    """Every setting of ablation ``name`` at ``profile``: the common settings plus the grid."""
    if name not in ABLATIONS:
        raise ValueError(f"name must be one of {ABLATIONS}, got {name!r}")
    common = by_profile(**_COMMON, profile=profile)
    grid = by_profile(**_GRIDS[name], profile=profile)
    cfg = {**common, **grid, "ablation": name}
    if name == "phase_2d":
        cfg["seeds"] = cfg["seeds"][:1]           # one picture per width
    return cfg


def members(cfg: dict) -> list[dict]:
    """The networks of an ablation: one per (d, n, width, weight decay, seed) of the grid."""
    as_list = lambda v: v if isinstance(v, list) else [v]
    return [dict(K=cfg["K"], d=d, n=n, width=w, weight_decay=wd, seed=s)
            for d, n, w, wd, s in itertools.product(as_list(cfg["d"]), cfg["n"], cfg["width"], cfg["weight_decay"],
                                                    cfg["seeds"])]


def mixture_for(K: int, d: int, separation: float, device=None) -> GaussianMixture:
    """The fixed target mixture of a shape ``(K, d)`` (float32; means seeded by ``(K, d)``)."""
    gen = torch.Generator().manual_seed(1000 * K + d)
    return well_separated_mixture(K, d, separation=separation, generator=gen).to(device, torch.float32)


def training_set(mixture: GaussianMixture, n: int, seed: int) -> torch.Tensor:
    """``n`` training points of a member, seeded by ``(n, seed)``, shape ``(n, d)``."""
    gen = torch.Generator(device=mixture.means.device).manual_seed(7919 * seed + n)
    return mixture.sample(n, generator=gen)


def _group_key(m: dict) -> str:
    return f"K{m['K']}-d{m['d']}-W{m['width']}"


def _train_and_evaluate(group: list[dict], cfg: dict, device, checkpoint: Path | None, keep_samples: bool) -> list:
    """Train one group of members together, sample every member and measure it."""
    K, d, width = group[0]["K"], group[0]["d"], group[0]["width"]
    mix = mixture_for(K, d, cfg["separation"], device)
    sets = [training_set(mix, m["n"], m["seed"]) for m in group]
    n_max = max(m["n"] for m in group)
    data = torch.zeros(len(group), n_max, d, device=device)
    for g, x in enumerate(sets):
        data[g, :len(x)] = x
    gen = torch.Generator(device=device).manual_seed(zlib.crc32(_group_key(group[0]).encode()))
    stack = ScoreMLPStack(len(group), d, width, cfg["depth"], weight_decay=[m["weight_decay"] for m in group],
                          generator=gen)
    every = max(100, cfg["steps"] // 10)
    train_resumable(stack, data, steps=cfg["steps"], generator=gen, checkpoint_path=checkpoint,
                    checkpoint_every=every, log_every=every // 10, lr=cfg["lr"], train_fn=train_score_stack,
                    sizes=[m["n"] for m in group], batch_size=cfg["batch_size"], t0=cfg["t0"], T=cfg["T"],
                    time_distribution="log_uniform")
    m_samples = cfg["num_samples"]
    samples = sample(stack.joint_score_fn(m_samples), len(group) * m_samples, d, T=cfg["T"], t0=cfg["t0"],
                     steps=cfg["sample_steps"], denoise=True, batch_size=len(group) * m_samples, generator=gen)
    truth = mix.sample(m_samples, generator=gen)
    out = []
    for g, member in enumerate(group):
        y = samples[g * m_samples:(g + 1) * m_samples]
        row = {**member, "num_parameters": stack.num_parameters(),
               "memorization": memorization_fraction(y, sets[g]),
               "log_likelihood": mix.data_log_prob(y).mean().item(),
               "memorization_true_samples": memorization_fraction(truth, sets[g]),
               "log_likelihood_true_samples": mix.data_log_prob(truth).mean().item()}
        if keep_samples:
            row["samples"] = y.cpu().tolist()
            row["train"] = sets[g].cpu().tolist()
        out.append(row)
    return out


def run_members(cfg: dict, *, device=None, folder: Path | None = None, progress: bool = False) -> list[dict]:
    """Results of every member of ``cfg`` (grouped by shape; resumable through ``folder`` when given).

    ``folder`` keeps the finished groups, the checkpoints and the config; a folder written for another
    config is a ``ValueError`` (:func:`run` names its folders by a fingerprint of the config).
    """
    device = get_device() if device is None else device
    todo = members(cfg)
    groups = {}
    for m in todo:
        groups.setdefault(_group_key(m), []).append(m)
    stages = None
    if folder is not None:
        # a folder belongs to one config: reusing it for another would return the other run's results
        stamp, current = Path(folder) / "config.json", json.dumps(jsonable(cfg), sort_keys=True)
        if stamp.exists() and stamp.read_text() != current:
            raise ValueError(f"folder {folder} holds a run of a different config; use another folder or delete it")
        stages = StageCache(folder)
        stamp.write_text(current)
    from tqdm.auto import tqdm
    rows = []
    for key, group in tqdm(groups.items(), desc=f"{cfg['ablation']} groups", disable=not progress):
        compute = functools.partial(_train_and_evaluate, group, cfg, device,
                                    None if folder is None else Path(folder) / f"{key}.pt",
                                    cfg["ablation"] == "phase_2d")
        rows += stages.get(key, compute) if stages is not None else compute()
    return rows


def summarize(rows: list[dict], factor: str, *, by: tuple = ()) -> list[dict]:
    """Mean and standard deviation over seeds of each metric, per value of ``factor`` (and of ``by``)."""
    keys = ("memorization", "log_likelihood", "memorization_true_samples", "log_likelihood_true_samples")
    table = {}
    for r in rows:
        table.setdefault(tuple(r[k] for k in (*by, factor)), []).append(r)
    out = []
    for values, group in sorted(table.items()):
        entry = dict(zip((*by, factor), values), seeds=len(group), num_parameters=group[0]["num_parameters"])
        for k in keys:
            v = torch.tensor([r[k] for r in group], dtype=torch.float64)
            entry[k] = {"mean": v.mean().item(), "std": v.std().item() if len(v) > 1 else 0.0}
        out.append(entry)
    return out


FACTORS = {"scale": ("width", ()), "sample_size": ("n", ()), "dimension": ("d", ()),
            "weight_decay": ("weight_decay", ("n", "width")), "phase_2d": ("width", ())}


def summary_table(summary: list[dict], factor: str, *, by: tuple = ()) -> str:
    """Markdown table of :func:`summarize` output: memorisation (%) and log-likelihood, mean ± std over seeds.

    The fresh-sample references are one draw per group (their spread over seeds is zero by
    construction), so they are shown as plain values.
    """
    pm = lambda e, k, scale=1.0, digits=1: f"{scale * e[k]['mean']:.{digits}f} ± {scale * e[k]['std']:.{digits}f}"
    cols = [*by, factor]
    lines = ["| " + " | ".join(cols) + " | parameters | seeds | memorised % | floor % (fresh samples of P) "
             "| log p(samples) | log p(fresh samples) |",
             "|" + "---|" * (len(cols) + 6)]
    for e in summary:
        lines.append("| " + " | ".join(f"{e[c]:g}" for c in cols) + f" | {e['num_parameters']:,} | {e['seeds']} "
                     f"| {pm(e, 'memorization', 100)} | {100 * e['memorization_true_samples']['mean']:.1f} "
                     f"| {pm(e, 'log_likelihood', 1, 2)} | {e['log_likelihood_true_samples']['mean']:.2f} |")
    return "\n".join(lines)


# Margins of the trend checks (fixed before the runs): a trend is "clear" when the memorisation
# fractions at the two ends of the grid differ by more than CLEAR, and "monotone" when no step goes
# against it by more than SLACK.
CLEAR, SLACK = 0.10, 0.05


def _means(summary, key="memorization", **fixed):
    rows = [e for e in summary if all(e[k] == v for k, v in fixed.items())]
    return [e[key]["mean"] for e in rows]


def trend_verdicts(name: str, summary: list[dict]) -> dict[str, bool]:
    """The paper's claim for ablation ``name``, tested on a :func:`summarize` table (margins :data:`CLEAR`, :data:`SLACK`).

    - ``scale`` / ``phase_2d``: memorisation rises with the width; ``sample_size``: falls with ``n``;
    - ``dimension``: falls from ``d = 8`` to the largest ``d`` (the paper's range), and at ``d = 2`` (if
      present) it sits within ``CLEAR`` of the criterion's floor;
    - ``weight_decay``: at the smaller ``n`` and the widest net the strongest decay lowers memorisation,
      and some non-zero decay raises the log-likelihood by more than the standard deviations over
      seeds; at the larger ``n`` the strongest decay lowers the log-likelihood.
    """
    rises = lambda m: m[-1] > m[0] + CLEAR and all(b > a - SLACK for a, b in zip(m, m[1:]))
    if name in ("scale", "phase_2d"):
        return {"memorisation rises with network size": rises(_means(summary))}
    if name == "sample_size":
        return {"memorisation falls with n": rises(_means(summary)[::-1])}
    if name == "dimension":
        paper = [e for e in summary if e["d"] >= 8]
        out = {"memorisation falls with d (d >= 8)": rises(_means(paper)[::-1])}
        low = [e for e in summary if e["d"] == 2]
        if low:
            out["d = 2 memorisation within 10 points of the floor"] = bool(
                abs(low[0]["memorization"]["mean"] - low[0]["memorization_true_samples"]["mean"]) < CLEAR)
        return out
    if name == "weight_decay":
        n_small, n_large = min(e["n"] for e in summary), max(e["n"] for e in summary)
        widest = max(e["width"] for e in summary)
        mem = _means(summary, n=n_small, width=widest)
        ll_small = [e["log_likelihood"] for e in summary if e["n"] == n_small and e["width"] == widest]
        ll_large = _means(summary, "log_likelihood", n=n_large, width=widest)
        best = max(ll_small[1:], key=lambda v: v["mean"])
        # a gain inside the spread over seeds is not evidence: it must exceed both standard deviations
        gain = best["mean"] - ll_small[0]["mean"] > max(best["std"], ll_small[0]["std"])
        return {f"n = {n_small}: strongest decay lowers memorisation": mem[-1] < mem[0] - CLEAR,
                f"n = {n_small}: some decay raises the log-likelihood beyond the seed spread": gain,
                f"n = {n_large}: strongest decay lowers the log-likelihood": ll_large[-1] < ll_large[0]}
    raise ValueError(f"name must be one of {ABLATIONS}, got {name!r}")


def run(name: str, profile: str, *, results_dir: Path | None = None) -> tuple[dict, dict]:
    """Ablation ``name`` at ``profile``: ``(config, results)`` with per-member rows and the summary table."""
    cfg = ablation_config(name, profile)
    fingerprint = hashlib.sha256(json.dumps(jsonable(cfg), sort_keys=True).encode()).hexdigest()[:10]
    folder = None if profile == "ci" else \
        Path(results_dir or RESULTS_DIR) / "checkpoints" / f"mixture_{name}-{profile}-{fingerprint}"
    rows = run_members(cfg, folder=folder, progress=profile != "ci")
    factor, by = FACTORS[name]
    return cfg, jsonable({"rows": rows, "summary": summarize(rows, factor, by=by), "factor": factor})


run_scale = functools.partial(run, "scale")
run_sample_size = functools.partial(run, "sample_size")
run_dimension = functools.partial(run, "dimension")
run_weight_decay = functools.partial(run, "weight_decay")
run_phase_2d = functools.partial(run, "phase_2d")
