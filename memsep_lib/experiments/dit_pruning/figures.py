"""Figures of chapter 7 (DiT head pruning): importance heatmaps, memorisation over training, sample grids.

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


