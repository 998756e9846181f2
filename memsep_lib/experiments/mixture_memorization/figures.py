"""Figures of chapter 6: ablation trends, the width x weight-decay grid and the 2-D pictures.

Matplotlib only: every function takes results (``summary`` entries or ``rows`` of an ablation) and draws them.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_memorization_ablation", "plot_weight_decay_grid", "plot_spread", "plot_phase_2d", "plot_phase_threshold"]


def _columns(entries: list, key: str, scale: float = 1.0):
    """The stored ``mean`` and ``std`` of metric ``key`` of each entry, as two arrays times ``scale``."""
    return (np.array([scale * e[key]["mean"] for e in entries]), np.array([scale * e[key]["std"] for e in entries]))


def _lines(summary: list, by: str | None) -> dict:
    """``{label: entries}``: one line per value of ``by`` (one line, "trained networks", without)."""
    if by is None:
        return {"trained networks": summary}
    return {str(v): [e for e in summary if e[by] == v] for v in dict.fromkeys(e[by] for e in summary)}


def _degraded_marks(ax, x, y, entries) -> None:
    """Open circles over the points whose samples are degraded (``entry["degraded"]``)."""
    bad = np.array([e.get("degraded", False) for e in entries])
    if bad.any():
        ax.plot(x[bad], y[bad], "o", ms=11, mfc="none", mec="tab:red", label="samples degraded")


def plot_memorization_ablation(summary: list, factor: str, *, xlabel: str, by: str | None = None, title: str = "",
                               axes=None):
    """Memorisation (%) and log-likelihood of generated samples against one factor (mean ± std over
    seeds; one line per value of ``by``), beside the same metrics for fresh draws of the true mixture
    (dashed: the floor / reference); red rings: samples degraded (:func:`~.analysis.degraded`)."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    lines = _lines(summary, by)
    for ax, key, ylabel, scale in ((axes[0], "memorization", "memorised samples (%)", 100.0),
                                   (axes[1], "log_likelihood", "mean log p(sample) under P", 1.0)):
        ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel)
        ax.minorticks_off()
        for k, (label, entries) in enumerate(lines.items()):
            x = np.array([e[factor] for e in entries], dtype=float)
            mean, std = _columns(entries, key, scale)
            ax.errorbar(x, mean, yerr=std, fmt="o-", capsize=3, label=label)
            if k == 0:
                ref, _ = _columns(entries, f"{key}_true_samples", scale)
                ax.plot(x, ref, "k--", lw=1, label="fresh samples of P")
                ax.set_xticks(x, [f"{v:g}" for v in x])        # the grid's values
            _degraded_marks(ax, x, mean, entries)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=8)
    axes[0].set_ylim(-3, 103)
    if title:
        axes[0].set_title(title, fontsize=10)
    return axes


def plot_weight_decay_grid(summary: list, *, axes=None):
    """Memorisation and log-likelihood against weight decay, one line per width, one column per ``n``."""
    ns = sorted({e["n"] for e in summary})
    if axes is None:
        _, axes = plt.subplots(2, len(ns), figsize=(5 * len(ns), 6.2), squeeze=False, sharex=True)
    for col, n in enumerate(ns):
        for width in sorted({e["width"] for e in summary if e["n"] == n}):
            rows = sorted((e for e in summary if e["n"] == n and e["width"] == width), key=lambda e: e["weight_decay"])
            wd = [e["weight_decay"] for e in rows]
            for row, (key, scale) in enumerate((("memorization", 100.0), ("log_likelihood", 1.0))):
                mean, std = _columns(rows, key, scale)
                axes[row, col].errorbar(range(len(wd)), mean, yerr=std, fmt="o-", capsize=3,
                                        label=f"width {width} ({rows[0]['num_parameters']:,} params)")
        reference = [e for e in summary if e["n"] == n]
        axes[1, col].axhline(np.mean([e["log_likelihood_true_samples"]["mean"] for e in reference]), color="k",
                             ls="--", lw=1, label="fresh samples of P")
        axes[0, col].set(title=f"n = {n}", ylabel="memorised samples (%)", ylim=(-3, 103))
        axes[1, col].set(xlabel="weight decay", ylabel="mean log p(sample) under P")
        axes[1, col].set_xticks(range(len(wd)), [f"{w:g}" for w in wd])     # the grid's values, evenly spaced
        axes[0, col].legend(fontsize=8)
        axes[1, col].legend(fontsize=8)
    return axes


def plot_spread(panels: dict, *, axes=None):
    """The samples' spread around the nearest mixture mean, ``(1/m) sum_j min_k |y_j - mu_k|^2 / d``
    (mean ± std over seeds), against each ablation's factor: ``panels`` maps a title to ``(summary, factor,
    xlabel)``. Dashed: fresh draws of ``P`` (about 1); below it the samples shrink towards the means."""
    if axes is None:
        _, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.3), squeeze=False)
        axes = axes[0]
    for ax, (title, (summary, factor, xlabel)) in zip(axes, panels.items()):
        x = np.array([e[factor] for e in summary], dtype=float)
        mean, std = _columns(summary, "spread")
        ref, _ = _columns(summary, "spread_true_samples")
        ax.errorbar(x, mean, yerr=std, fmt="o-", capsize=3, label="trained networks")
        ax.plot(x, ref, "k--", lw=1, label="fresh samples of P")
        _degraded_marks(ax, x, mean, summary)
        ax.set(xscale="log", xlabel=xlabel, ylabel="spread  |y - nearest mean|² / d", title=title)
        ax.minorticks_off()
        ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.legend(fontsize=8)
    return axes


def _draw_training_points(ax, train: np.ndarray) -> None:
    """Red crosses at the 2-D training points; a square, unticked frame 1.25 times their extent."""
    ax.scatter(train[:, 0], train[:, 1], marker="x", s=30, color="red", linewidths=1.5, label="training points")
    lim = np.abs(train).max() * 1.25
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])


def plot_phase_2d(rows: list, *, axes=None):
    """One panel per trained network (``rows`` of the ``phase_2d`` ablation): its samples (dots) over
    the training points (red crosses), titled with width, parameters and memorisation."""
    rows = sorted(rows, key=lambda r: r["width"])
    if axes is None:
        _, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3.3), squeeze=False)
        axes = axes[0]
    for ax, r in zip(axes, rows):
        y = np.asarray(r["samples"])
        ax.scatter(y[:, 0], y[:, 1], s=3, alpha=0.35, color="tab:blue")
        _draw_training_points(ax, np.asarray(r["train"]))
        ax.set_title(f"width {r['width']} ({r['num_parameters']:,} params)\nmemorised {100 * r['memorization']:.0f}%",
                     fontsize=9)
    return axes


def plot_phase_threshold(row: dict, memorised, threshold: float = 1 / 3, *, ax=None):
    """One network of the ``phase_2d`` ablation: its samples coloured by ``memorised`` (a boolean per
    sample: the test ``|y - x_(1)| < threshold |y - x_(2)|``; orange), with the floor ``threshold^d`` in the title."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.2))
    y, train, memorised = np.asarray(row["samples"]), np.asarray(row["train"]), np.asarray(memorised, dtype=bool)
    if memorised.shape != (len(y),):
        raise ValueError(f"memorised must hold one bool per sample ({len(y)}), got shape {memorised.shape}")
    ax.scatter(y[~memorised, 0], y[~memorised, 1], s=4, alpha=0.4, color="tab:blue", label="not memorised")
    ax.scatter(y[memorised, 0], y[memorised, 1], s=4, alpha=0.6, color="tab:orange", label="memorised")
    _draw_training_points(ax, train)
    ax.set_title(f"width {row['width']}, threshold {threshold:.2f}: memorised {100 * memorised.mean():.0f}%\n"
                 f"(floor for fresh samples ~ threshold^d = {100 * threshold ** train.shape[1]:.0f}%)", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    return ax
