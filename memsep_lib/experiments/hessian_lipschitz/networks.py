"""Chapter 5, part 3: score networks trained with and without weight decay, over seeds.

Seed ``r`` draws a training set ``x_1..x_n ~ P_0`` (``make_generator(r)``; seed 0 is the chapter's data),
and one initialisation shared by the networks of every weight decay, so the nets of a seed form a
paired comparison. All nets of a run train together in one :class:`~memsep_lib.nets.ScoreMLPStack`.
A net *follows* the empirical score at ``t`` when ``E|s_theta - grad log p^_t|^2`` over noised training
points is below ``FOLLOW_FRACTION`` times ``E|grad log p^_t - grad log p_t|^2`` (the gap between the two
targets, same points): it is then ten times closer to the empirical score than the true score is.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from memsep_lib.config import make_generator
from memsep_lib.lipschitz import jacobian_fn, local_lipschitz
from memsep_lib.nets import ScoreMLP, ScoreMLPStack
from memsep_lib.process import add_noise
from memsep_lib.scores import empirical_score
from memsep_lib.stats import format_difference, paired_difference
from memsep_lib.training import train_resumable, train_score_stack
from memsep_lib.validation import check_points, check_positive_int, check_time

from .theory import pair_midpoints

__all__ = ["FOLLOW_FRACTION", "score_mse", "evaluate_score_net", "train_networks", "relative_mse", "follows",
           "decay_effects", "network_curves", "network_table", "effects_table"]

FOLLOW_FRACTION = 0.1


@torch.no_grad()
def score_mse(score_fn, reference_fn, x: torch.Tensor, t) -> float:
    """``mean_b |score_fn(x_b, t) - reference_fn(x_b, t)|^2`` over the rows of ``x`` (computed in float64)."""
    check_points(x, "x")
    if not (callable(score_fn) and callable(reference_fn)):
        raise TypeError("score_fn and reference_fn must be callable as f(x, t)")
    a, b = score_fn(x, t), reference_fn(x, t)
    if a.shape != x.shape or b.shape != x.shape:
        raise ValueError(f"both score functions must return tensors of shape {tuple(x.shape)}")
    return ((a.double() - b.double()) ** 2).sum(1).mean().item()


def evaluate_score_net(net: ScoreMLP, data: torch.Tensor, true_score, times, *, num_points: int = 512,
                       generator: torch.Generator | None = None) -> dict[str, list[float]]:
    """Lipschitz constant and distances to the empirical and true scores of a trained net, per time.

    At each ``t``, probe points are ``num_points`` noised training points ``a_t x_i + s_t z`` (drawn
    with ``generator``) plus all pair midpoints ``a_t (x_i + x_j)/2``; ``data`` (float64 advised)
    defines the empirical score. Returns lists (one entry per time) under the keys

    - ``lipschitz``: ``max`` over probes of ``|grad_x s_theta|_2`` (autograd), a lower bound on the
      net's Lipschitz constant; ``lipschitz_bound``: :meth:`ScoreMLP.lipschitz_bound`;
    - ``mse_empirical``, ``mse_true``: ``E |s_theta - s|^2`` over the noised training points for the
      empirical and the true score; ``mse_empirical_true``: ``E |escore - score|^2`` (the
      Fisher-divergence gap between the two targets, same points).
    """
    if not isinstance(net, ScoreMLP):
        raise TypeError(f"net must be a ScoreMLP, got {type(net).__name__}")
    check_points(data, "data", dim=net.dim)
    check_positive_int(num_points, "num_points")
    param = next(net.parameters())

    def net_fn(x, t):
        return net(x.to(param.dtype), t).to(x.dtype)

    def emp_fn(x, t):
        return empirical_score(x, t, data)

    out = {k: [] for k in ("times", "lipschitz", "lipschitz_bound", "mse_empirical", "mse_true",
                           "mse_empirical_true")}
    for t in times:
        t = check_time(float(t))
        idx = torch.randint(data.shape[0], (num_points,), generator=generator, device=data.device)
        x, _ = add_noise(data[idx], t, generator=generator)
        probes = torch.cat([x, pair_midpoints(data, t)])
        out["times"].append(t)
        out["lipschitz"].append(local_lipschitz(jacobian_fn(net_fn), probes, t).max().item())
        out["lipschitz_bound"].append(net.lipschitz_bound(t))
        out["mse_empirical"].append(score_mse(net_fn, emp_fn, x, t))
        out["mse_true"].append(score_mse(net_fn, true_score, x, t))
        out["mse_empirical_true"].append(score_mse(emp_fn, true_score, x, t))
    return out


def train_networks(data_sets: torch.Tensor, weight_decays, *, width: int, depth: int, steps: int, batch_size: int,
                   lr: float, schedule, seed: int, checkpoint: Path | str | None = None) -> list[list[ScoreMLP]]:
    """Train one net per (training set, weight decay), those of a set from one initialisation; ``nets[r][k]``.

    ``data_sets``: ``(R, n, d)`` float32; ``schedule``: ``(time_distribution, t0, T)`` of
    :func:`~memsep_lib.training.train_score_stack`; ``seed`` seeds the initialisation and the training
    noise; ``checkpoint``: resume file (:func:`~memsep_lib.training.train_resumable`).
    """
    if not isinstance(data_sets, torch.Tensor) or data_sets.ndim != 3:
        raise ValueError("data_sets must be a tensor of shape (R, n, d)")
    decays = [float(w) for w in weight_decays]
    if not decays or any(not (math.isfinite(w) and w >= 0) for w in decays):
        raise ValueError(f"weight_decays must be finite numbers >= 0, got {weight_decays}")
    if not (isinstance(schedule, (tuple, list)) and len(schedule) == 3):
        raise ValueError(f"schedule must be (time_distribution, t0, T), got {schedule!r}")
    distribution, t0, T = schedule
    R, K, d = data_sets.shape[0], len(decays), data_sets.shape[2]
    gen = make_generator(seed, data_sets.device)
    stack = ScoreMLPStack(R * K, d, width, depth, 32, weight_decay=decays * R, generator=gen, device=data_sets.device)
    with torch.no_grad():                                    # one initialisation per training set
        for p in stack.parameters():
            p.copy_(p[::K].repeat_interleave(K, dim=0))
    every = max(100, steps // 10)
    train_resumable(stack, data_sets.repeat_interleave(K, dim=0), steps=steps, generator=gen, checkpoint_path=checkpoint,
                    checkpoint_every=every, log_every=every // 10, lr=lr, train_fn=train_score_stack,
                    batch_size=batch_size, t0=t0, T=T, time_distribution=distribution)
    return [[stack.member(r * K + k) for k in range(K)] for r in range(R)]


def relative_mse(run: dict, key: str) -> list[float]:
    """``run[key] / run["mse_empirical_true"]`` per time: a distance in units of the gap between the targets."""
    return [m / g for m, g in zip(run[key], run["mse_empirical_true"])]


def follows(run: dict) -> list[bool]:
    """Per time: the net follows the empirical score (relative MSE to it below ``FOLLOW_FRACTION``)."""
    return [r < FOLLOW_FRACTION for r in relative_mse(run, "mse_empirical")]


def decay_effects(networks: dict) -> dict:
    """Paired effects of each weight decay ``> 0`` against none, over seeds, per time (95% Student-t intervals).

    ``networks`` is ``results["networks"]``. For decay ``k`` (its label) and each quantity, a list over
    times of :func:`memsep_lib.stats.paired_difference` of: ``log_lipschitz`` (``log L_k - log L_0``),
    ``rel_mse_empirical`` and ``rel_mse_true`` (differences of :func:`relative_mse`); and
    ``log_spectral_product`` (one entry).
    """
    runs, decays = networks["runs"], networks["weight_decays"]
    out = {}
    for k in range(1, len(decays)):
        def paired(value):
            return [paired_difference([value(run["by_decay"][k], j) for run in runs],
                                      [value(run["by_decay"][0], j) for run in runs]) for j in range(len(networks["times"]))]
        out[f"{decays[k]:g}"] = {
            "log_lipschitz": paired(lambda r, j: math.log(r["lipschitz"][j])),
            "rel_mse_empirical": paired(lambda r, j: relative_mse(r, "mse_empirical")[j]),
            "rel_mse_true": paired(lambda r, j: relative_mse(r, "mse_true")[j]),
            "log_spectral_product": paired_difference(
                [math.log(run["by_decay"][k]["spectral_norm_product"]) for run in runs],
                [math.log(run["by_decay"][0]["spectral_norm_product"]) for run in runs]),
        }
    return out


def network_curves(networks: dict) -> dict:
    """Per weight decay (label), per seed, per time: measured Lipschitz constant and relative MSEs; plus the
    empirical (per seed) and true scores' constants. What :func:`.figures.plot_networks` draws."""
    runs = networks["runs"]
    decays = {f"{wd:g}": {"lipschitz": [run["by_decay"][k]["lipschitz"] for run in runs],
                          "rel_mse_empirical": [relative_mse(run["by_decay"][k], "mse_empirical") for run in runs],
                          "rel_mse_true": [relative_mse(run["by_decay"][k], "mse_true") for run in runs]}
              for k, wd in enumerate(networks["weight_decays"])}
    return {"times": networks["times"], "decays": decays, "true_lipschitz": networks["true_lipschitz"],
            "empirical_lipschitz": [run["empirical_lipschitz"] for run in runs]}


def network_table(networks: dict) -> str:
    """Per weight decay and time, means over seeds, as a markdown table (relative MSEs: in units of the gap)."""
    runs, times = networks["runs"], networks["times"]
    mean = lambda values: sum(values) / len(values)
    rows = []
    for k, wd in enumerate(networks["weight_decays"]):
        nets = [run["by_decay"][k] for run in runs]
        for j, t in enumerate(times):
            rows.append(f"| {wd:g} | {t:g} | {mean([r['lipschitz'][j] for r in nets]):.3g} | "
                        f"{mean([r['lipschitz_bound'][j] for r in nets]):.3g} | "
                        f"{mean([run['empirical_lipschitz'][j] for run in runs]):.3g} | "
                        f"{mean([relative_mse(r, 'mse_empirical')[j] for r in nets]):.3f} | "
                        f"{mean([relative_mse(r, 'mse_true')[j] for r in nets]):.3f} | "
                        f"{sum(follows(r)[j] for r in nets)}/{len(nets)} |")
    header = ("| weight decay | t | measured Lip. | bound prod ‖W_l‖₂ / s_t | Lip. empirical score "
              "| MSE to empirical / gap | MSE to true / gap | seeds following |\n|---|---|---|---|---|---|---|---|\n")
    return header + "\n".join(rows)


def effects_table(networks: dict) -> str:
    """:func:`decay_effects` as a markdown table: mean paired difference [95% interval] per decay and time."""
    effects, times = decay_effects(networks), networks["times"]
    rows = [f"| {label} | {t:g} | {format_difference(e['log_lipschitz'][j], 1, 3)} | {format_difference(e['rel_mse_empirical'][j], 1, 3)} | "
            f"{format_difference(e['rel_mse_true'][j], 1, 3)} |" for label, e in effects.items() for j, t in enumerate(times)]
    header = ("| weight decay | t | Δ log Lip. | Δ MSE to empirical / gap | Δ MSE to true / gap |\n"
              "|---|---|---|---|---|\n")
    return header + "\n".join(rows)
