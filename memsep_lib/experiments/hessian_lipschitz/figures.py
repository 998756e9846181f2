"""Figures of chapter: Chapter 5 (Hessian and Lipschitz): Hessian eigenvalues on a segment, Lipschitz scaling in t

Matplotlib only (moved from memsep_lib.plotting)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

# ===========================================================================================
# Chapter 5 (Hessian and Lipschitz): Hessian eigenvalues on a segment, Lipschitz scaling in t
# ===========================================================================================


def plot_segment_eigenvalues(hessian_fns: dict, start, end, times, *, num: int = 801, margin: float = 0.25,
                             ax=None):
    """Hessian eigenvalues of ``log p_t`` along the segment ``a_t[(1-u) start + u end]``, ``u in [-margin, 1+margin]``.

    ``hessian_fns`` maps a label to ``(x, t) -> grad^2 log p_t(x)``; ``start``/``end`` are data-space
    points (e.g. two training points, at ``u = 0`` and ``u = 1``); one line style per label, one
    colour per time. The y axis is symmetric-log (the eigenvalues range over many decades).
    """
    from memsep_lib.lipschitz import hessian_eigenvalues_on_segment
    from memsep_lib.process import alpha, sigma

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    times = [float(t) for t in (times if hasattr(times, "__len__") else [times])]
    colours = plt.cm.viridis(torch.linspace(0, 0.9, len(times)).tolist())
    styles = ["-", "--", ":", "-."]
    for colour, t in zip(colours, times):
        a = alpha(t)
        lo = a * (start + margin * (start - end))
        hi = a * (end + margin * (end - start))
        for style, (label, fn) in zip(styles, hessian_fns.items()):
            u, eigs = hessian_eigenvalues_on_segment(fn, lo, hi, t, num)
            u = -margin + (1 + 2 * margin) * u
            for k in range(eigs.shape[1]):
                ax.plot(u.cpu(), eigs[:, k].cpu(), style, color=colour, lw=1.3,
                        label=f"{label}, $t$={t:.0e} ($s_t$={sigma(t):.2g})" if k == eigs.shape[1] - 1 else None)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.axvline(0, color="grey", lw=0.6)
    ax.axvline(1, color="grey", lw=0.6)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("position $u$ on the segment ($u=0$: $a_t x_i$, $u=1$: $a_t x_j$)")
    ax.set_ylabel(r"eigenvalues of $\nabla^2 \log p_t$")
    ax.legend(fontsize=7, loc="lower left")
    return ax


def explore_segment_eigenvalues(hessian_fns: dict, start, end, *, log10_t: float = -3.0):
    """``ipywidgets`` slider over ``log10 t`` redrawing :func:`plot_segment_eigenvalues` at that single time."""
    import ipywidgets as widgets

    def draw(log10_t):
        plot_segment_eigenvalues(hessian_fns, start, end, [10.0 ** log10_t])
        plt.show()

    slider = widgets.FloatSlider(value=log10_t, min=-5.0, max=0.0, step=0.25, description="log10 t")
    return widgets.interact(draw, log10_t=slider)


def plot_lipschitz_scaling(sweep, *, fit_mask=None, axes=None):
    """Two panels for a :class:`memsep_lib.lipschitz.LipschitzSweep`, against ``s_t`` (log-log).

    Left: the empirical score's constants (largest found, closest-pair midpoint), the scale
    ``s_t^-4 min |x_i - x_j|^2`` and the true score's constant, with a slope ``-4`` guide over the
    ``fit_mask`` times. Right: the ratios empirical / scale and empirical / true.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax, bx = axes
    s = sweep.s
    ax.loglog(s, sweep.empirical_max, "o-", label="empirical score: largest found")
    ax.loglog(s, sweep.closest_midpoint, "s-", ms=4, label="empirical score: closest-pair midpoint")
    ax.loglog(s, sweep.reference, "k--", label=r"$s_t^{-4} \min_{i\neq j} |x_i - x_j|^2$")
    if torch.isfinite(sweep.true_max).all():
        ax.loglog(s, sweep.true_max, "^-", label="true score: largest found")
    if fit_mask is not None and fit_mask.any():
        s_fit = s[fit_mask]
        anchor = sweep.empirical_max[fit_mask][0] * 3
        ax.loglog(s_fit, anchor * (s_fit / s_fit[0]) ** -4, ":", color="grey", lw=2, label="slope $-4$")
    ax.set_xlabel("$s_t$")
    ax.set_ylabel("local Lipschitz constant")
    ax.legend(fontsize=8)
    bx.loglog(s, sweep.empirical_max / sweep.reference, "o-", label="largest found / scale")
    bx.loglog(s, sweep.closest_midpoint / sweep.reference, "s-", ms=4, label="closest-pair midpoint / scale")
    if torch.isfinite(sweep.true_max).all():
        bx.loglog(s, sweep.empirical_max / sweep.true_max, "^-", label="empirical / true (largest found)")
    bx.axhline(0.25, color="grey", lw=0.8, ls=":")
    bx.set_xlabel("$s_t$")
    bx.set_ylabel("ratio")
    bx.legend(fontsize=8)
    return axes


def plot_network_lipschitz(results: dict, *, references: dict | None = None, axes=None):
    """Trained score networks against ``t`` (log-log), from :func:`memsep_lib.nets.evaluate_score_net`.

    ``results`` maps a network label to its evaluation dict. Left: measured Lipschitz constant
    (solid) and spectral-norm bound (dashed) per network, plus ``references`` (label ->
    ``(times, values)``, e.g. the empirical and true scores' constants). Right: mean squared
    distance of each network to the empirical (solid) and the true (dashed) score, and between
    the two targets (black).
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax, bx = axes
    colours = plt.cm.tab10.colors
    for k, (label, res) in enumerate(results.items()):
        c = colours[k % 10]
        ax.loglog(res["times"], res["lipschitz"], "o-", color=c, label=f"{label}: measured")
        ax.loglog(res["times"], res["lipschitz_bound"], "--", color=c, label=f"{label}: $\\prod_l |W_l|_2 / s_t$")
        bx.loglog(res["times"], res["mse_empirical"], "o-", color=c, label=f"{label} vs empirical")
        bx.loglog(res["times"], res["mse_true"], "s--", color=c, label=f"{label} vs true")
    for k, (label, (times, values)) in enumerate((references or {}).items()):
        ax.loglog(times, values, ":", color="k" if k == 0 else "grey", lw=2, label=label)
    first = next(iter(results.values()))
    bx.loglog(first["times"], first["mse_empirical_true"], "k-", lw=2, label="empirical vs true")
    ax.set_xlabel("$t$")
    ax.set_ylabel("Lipschitz constant in $x$")
    ax.legend(fontsize=7)
    bx.set_xlabel("$t$")
    bx.set_ylabel(r"$\mathbb{E}_{\widehat{P}_t} |s - s'|^2$")
    bx.legend(fontsize=7)
    return axes


