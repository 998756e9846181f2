"""Figures of chapter 5: Hessian eigenvalues on a segment, Lipschitz constants against ``t``.

Matplotlib only: every function draws arrays computed by :mod:`.theory` or :func:`.experiment.run`.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

_STYLES = ["-", "--", ":", "-."]


def plot_segment_eigenvalues(segment: dict, *, ax=None):
    """Hessian eigenvalues of ``log p_t`` along a segment, from :func:`.theory.segment_eigenvalues`.

    One line style per Hessian (label), one colour per time; the segment's ends (``u = 0`` and
    ``u = 1``) are marked. The y axis is symmetric-log (the eigenvalues range over many decades).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(segment["times"])))
    for k, (colour, t, s) in enumerate(zip(colours, segment["times"], segment["s"])):
        for style, (label, eigs) in zip(_STYLES, segment["eigenvalues"].items()):
            for j in range(eigs.shape[2]):
                ax.plot(segment["u"], eigs[k, :, j], style, color=colour, lw=1.3,
                        label=f"{label}, $t$={t:.0e} ($s_t$={s:.2g})" if j == eigs.shape[2] - 1 else None)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.axvline(0, color="grey", lw=0.6)
    ax.axvline(1, color="grey", lw=0.6)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("position $u$ on the segment ($u=0$: $a_t x_i$, $u=1$: $a_t x_j$)")
    ax.set_ylabel(r"eigenvalues of $\nabla^2 \log p_t$")
    ax.legend(fontsize=7, loc="lower left")
    return ax


def _select_time(segment: dict, k: int) -> dict:
    """The part of ``segment`` at its ``k``-th time."""
    return {"u": segment["u"], "times": segment["times"][k:k + 1], "s": segment["s"][k:k + 1],
            "eigenvalues": {label: eigs[k:k + 1] for label, eigs in segment["eigenvalues"].items()}}


def explore_segment_eigenvalues(segment: dict, *, log10_t: float = -3.0):
    """``ipywidgets`` slider over ``log10 t`` showing :func:`plot_segment_eigenvalues` at one of ``segment``'s times.

    ``segment`` holds the eigenvalues at times evenly spaced in ``log10 t`` (the slider's stops).
    """
    import ipywidgets as widgets

    logs = [math.log10(t) for t in segment["times"]]
    step = (logs[-1] - logs[0]) / max(len(logs) - 1, 1)

    def draw(log10_t):
        plot_segment_eigenvalues(_select_time(segment, int(np.argmin([abs(v - log10_t) for v in logs]))))
        plt.show()

    slider = widgets.FloatSlider(value=log10_t, min=logs[0], max=logs[-1], step=step, description="log10 t")
    return widgets.interact(draw, log10_t=slider)


def plot_lipschitz_scaling(sweep: dict, *, fit_mask=None, axes=None):
    """Two panels for the ``sweep`` of :func:`.experiment.run` (lists per time), against ``s_t`` (log-log).

    Left: the empirical score's constants (largest found, closest-pair midpoint), the scale
    ``s_t^-4 min |x_i - x_j|^2`` and the true score's constant, with a slope ``-4`` guide over the
    ``fit_mask`` times. Right: the ratios empirical / scale and empirical / true.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax, bx = axes
    s, emp, mid, ref, true = (np.asarray(sweep[k], dtype=float)
                              for k in ("s", "empirical_max", "closest_midpoint", "reference", "true_max"))
    ax.loglog(s, emp, "o-", label="empirical score: largest found")
    ax.loglog(s, mid, "s-", ms=4, label="empirical score: closest-pair midpoint")
    ax.loglog(s, ref, "k--", label=r"$s_t^{-4} \min_{i\neq j} |x_i - x_j|^2$")
    if np.isfinite(true).all():
        ax.loglog(s, true, "^-", label="true score: largest found")
    fit_mask = None if fit_mask is None else np.asarray(fit_mask, dtype=bool)
    if fit_mask is not None and fit_mask.any():
        s_fit = s[fit_mask]
        anchor = emp[fit_mask][0] * 3
        ax.loglog(s_fit, anchor * (s_fit / s_fit[0]) ** -4, ":", color="grey", lw=2, label="slope $-4$")
    ax.set_xlabel("$s_t$")
    ax.set_ylabel("local Lipschitz constant")
    ax.legend(fontsize=8)
    bx.loglog(s, emp / ref, "o-", label="largest found / scale")
    bx.loglog(s, mid / ref, "s-", ms=4, label="closest-pair midpoint / scale")
    if np.isfinite(true).all():
        bx.loglog(s, emp / true, "^-", label="empirical / true (largest found)")
    bx.axhline(0.25, color="grey", lw=0.8, ls=":")
    bx.set_xlabel("$s_t$")
    bx.set_ylabel("ratio")
    bx.legend(fontsize=8)
    return axes


def plot_network_lipschitz(results: dict, *, references: dict | None = None, axes=None):
    """Trained score networks against ``t`` (log-log), from :func:`.experiment.evaluate_score_net`.

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
