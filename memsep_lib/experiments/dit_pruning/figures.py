"""Figures of chapter 7 (DiT head pruning): importance heatmaps, memorisation over training, the regime probe,
paired differences with their intervals, sample grids.

Matplotlib only: every function takes results (lists, tables) and draws them.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch


def plot_head_importance(tables: dict, removed: dict, *, axes=None):
    """Layers x heads heatmaps, one per importance estimate in ``tables`` (label -> (L, H) values);
    the heads that Algorithm 1 removes (``removed[layer] = [heads]``) are marked with a cross."""
    if axes is None:
        _, axes = plt.subplots(1, len(tables), figsize=(3.6 * len(tables), 3.2), squeeze=False)
        axes = axes[0]
    for ax, (label, table) in zip(axes, tables.items()):
        values = torch.as_tensor(table, dtype=torch.float64)
        im = ax.imshow(values.numpy(), cmap="viridis", aspect="auto")
        plt.colorbar(im, ax=ax, fraction=0.046)
        for layer, heads in removed.items():
            for h in heads:
                ax.plot(h, int(layer), "x", color="red", markersize=10, markeredgewidth=2)
        ax.set(title=label, xlabel="head", ylabel="layer")
        ax.set_xticks(range(values.shape[1]))
        ax.set_yticks(range(values.shape[0]))
    return axes


def plot_memorization_over_steps(per_seed: list, *, ax=None):
    """Memorisation fraction of the EMA model at each training milestone, one line per seed."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for k, seed in enumerate(per_seed):
        points = sorted((int(step), value) for step, value in seed["memorization_over_steps"].items())
        ax.plot([p[0] for p in points], [100 * p[1] for p in points], "o-", label=f"seed {k}")
    ax.set(xlabel="training step", ylabel="memorised samples (%)", ylim=(-2, 102))
    ax.legend(fontsize=8)
    return ax


def plot_samples_with_nearest(rows: dict, train_uint8, *, num: int = 8):
    """For each model (label -> (samples uint8 (N,H,W,3), nearest training indices)), its samples
    above their nearest training images (pixel L2)."""
    fig, axes = plt.subplots(2 * len(rows), num, figsize=(1.1 * num, 2.3 * len(rows)), squeeze=False)
    for r, (label, (samples, nearest)) in enumerate(rows.items()):
        for c in range(num):
            axes[2 * r, c].imshow(torch.as_tensor(samples[c], dtype=torch.uint8).numpy())
            axes[2 * r + 1, c].imshow(torch.as_tensor(train_uint8[int(nearest[c])]).numpy())
        axes[2 * r, 0].set_ylabel(f"{label}\nsample", fontsize=8)
        axes[2 * r + 1, 0].set_ylabel("nearest\ntraining", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig




def plot_paired_differences(entries: list, *, scale: float = 1.0, ax=None, xlabel: str = "paired difference"):
    """Forest plot: each paired comparison ``a - b`` (``{a, b, mean_diff, ci95}``) as its mean and 95% interval,
    with zero marked; an interval clear of zero is drawn solid, one that straddles it hollow."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.45 * len(entries) + 1))
    for row, entry in enumerate(entries):
        lo, hi = (scale * v if v is not None else float("nan") for v in entry["ci95"])
        clear = lo > 0 or hi < 0
        ax.plot([lo, hi], [row, row], color="C0", lw=2)
        ax.plot(scale * entry["mean_diff"], row, "o", color="C0", mfc="C0" if clear else "white")
    ax.axvline(0, color="k", lw=0.8, ls="--")
    ax.set_yticks(range(len(entries)))
    ax.set_yticklabels([f"{e['a']} − {e['b']}" for e in entries], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    return ax


def plot_probe(curves: dict, band: tuple, *, ax=None):
    """The regime probe: memorisation (%) over training steps, one line per subset size (``{size: {step: fraction}}``),
    the target band shaded."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    ax.axhspan(100 * band[0], 100 * band[1], color="0.9", label="target band")
    for size, curve in curves.items():
        points = sorted((int(step), value) for step, value in curve.items())
        ax.plot([p[0] for p in points], [100 * p[1] for p in points], "o-", label=f"{size} images")
    ax.set(xlabel="training step", ylabel="memorised samples (%)", ylim=(-2, 102))
    ax.legend(fontsize=8)
    return ax


def _seed_band(ax, times, per_seed, **style):
    """The mean over seeds of per-seed curves as a line, their min-max as a band; returns the line."""
    values = torch.as_tensor(per_seed, dtype=torch.float64).reshape(-1, len(times))
    line, = ax.plot(times, values.mean(0).numpy(), **style)
    ax.fill_between(times, values.amin(0).numpy(), values.amax(0).numpy(), color=line.get_color(), alpha=0.2, lw=0)
    return line


def plot_score_distance(curves: dict, times, *, axes=None):
    """The mechanism against ``t`` (log x), one panel per quantity: ``to_empirical``, ``to_held_out`` (with the
    floor ``empirical_to_held_out`` dashed) and ``lipschitz`` (with the empirical score's own ``lipschitz_empirical``
    at the same queries dashed and its worst case between training points ``lipschitz_empirical_scale`` dotted).

    ``curves[arm][quantity]`` holds one list per seed (over ``times``); each arm is a line (mean over seeds)
    with a band (min-max over seeds). The references are the first arm's (they do not depend on the arm).
    """
    panels = (("to_empirical", "distance to the empirical score", ()),
              ("to_held_out", "distance to the held-out empirical score",
               (("empirical_to_held_out", "empirical vs held-out", "--"),)),
              ("lipschitz", "Lipschitz constant of the score",
               (("lipschitz_empirical", "empirical score, same queries", "--"),
                ("lipschitz_empirical_scale", "a_t² s_t⁻⁴ min |x_i − x_j|²", ":"))))
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    times = [float(t) for t in times]
    first = next(iter(curves.values()))
    for ax, (key, title, references) in zip(axes, panels):
        for arm, arm_curves in curves.items():
            _seed_band(ax, times, arm_curves[key], label=arm)
        for reference, label, style in references:
            if reference in first:
                _seed_band(ax, times, first[reference], color="k", ls=style, label=label)
        ax.set(xscale="log", xlabel="t", title=title)
        ax.legend(fontsize=7)
    axes[2].set_yscale("log")
    return axes
