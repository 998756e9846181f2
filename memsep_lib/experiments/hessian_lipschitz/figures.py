"""Figures of chapter 5: Hessian eigenvalues on a segment, Lipschitz constants against ``t``, the networks.

Matplotlib only: every function draws arrays computed by :mod:`.theory`, :func:`.experiment.run`,
:func:`.experiment.small_t_summary` or :mod:`.networks`.
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


def plot_small_t_constant(summary: dict, *, axes=None):
    """The exact small-t constant, from :func:`.experiment.small_t_summary`.

    Left: ``s_t^4 L / a_t^2`` of the largest constant found against ``t``, with the Delaunay constant
    ``E`` (the limit), ``E - s_t^2/a_t^2`` (the exact small-t form), the Gabriel-edge maximum, and the
    min-distance and diameter bounds. Right: the relative gaps to ``E`` and to the exact form.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax, bx = axes
    t, c = np.asarray(summary["times"]), summary["constants"]
    ax.semilogx(t, summary["scaled"], "o", color="C0", label=r"search: $s_t^4 L / a_t^2$")
    ax.semilogx(t, summary["exact_form"], "-", color="C0", lw=1, label=r"$E - s_t^2 / a_t^2$")
    lines = [("delaunay", "k", "-", r"$E = \max_{\mathrm{Delaunay}} |x_k - x_l|^2/4$"),
             ("diameter", "grey", "--", r"$\max_{k,l} |x_k - x_l|^2/4$ (diameter)"),
             ("gabriel", "C1", "-.", r"$\max_{\mathrm{Gabriel}} |x_k - x_l|^2/4$ (midpoint on the facet)"),
             ("min_distance", "C2", ":", r"$\min_{k \neq l} |x_k - x_l|^2/4$ (closest pair)")]
    for key, colour, style, label in lines:
        ax.axhline(c[key], color=colour, ls=style, lw=1.2, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("$t$")
    ax.set_ylabel(r"$s_t^4 \,\mathrm{Lip} / a_t^2$")
    ax.legend(fontsize=7, loc="lower left")
    floor = np.finfo(float).eps
    bx.loglog(t, np.maximum(summary["limit_err"], floor), "o-", label=r"$|s_t^4 L / a_t^2 - E| / E$")
    bx.loglog(t, np.maximum(summary["exact_err"], floor), "s-", ms=4, label=r"$|L - (a_t^2 E / s_t^4 - 1/s_t^2)| / L$")
    bx.set_xlabel("$t$")
    bx.set_ylabel("relative gap")
    bx.legend(fontsize=8)
    return axes


def plot_networks(curves: dict, *, follow_fraction: float, axes=None):
    """Score networks against ``t`` (log-log), one thin line per seed and a colour per weight decay.

    ``curves`` is :func:`.networks.network_curves`. Left: the measured Lipschitz constants, with the
    empirical score's (largest found, per seed) and the true score's; right: the mean squared distance
    to the empirical (solid) and the true (dashed) score in units of the gap between the two targets,
    with the "follows" threshold ``follow_fraction``.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax, bx = axes
    times = curves["times"]
    for k, (label, c) in enumerate(curves["decays"].items()):
        colour = plt.cm.tab10.colors[k % 10]
        for r, (lip, emp, true) in enumerate(zip(c["lipschitz"], c["rel_mse_empirical"], c["rel_mse_true"])):
            first = r == 0
            ax.loglog(times, lip, "o-", color=colour, lw=1, ms=3, label=f"weight decay {label}" if first else None)
            bx.loglog(times, emp, "o-", color=colour, lw=1, ms=3, label=f"{label}: to empirical" if first else None)
            bx.loglog(times, true, "s--", color=colour, lw=1, ms=3, label=f"{label}: to true" if first else None)
    for r, emp in enumerate(curves["empirical_lipschitz"]):
        ax.loglog(times, emp, ":", color="k", lw=1.5, label="empirical score (largest found)" if r == 0 else None)
    ax.loglog(times, curves["true_lipschitz"], "-", color="grey", lw=2, label="true score (closed form)")
    bx.axhline(follow_fraction, color="k", lw=0.8, ls=":", label=f"follows: below {follow_fraction:g}")
    ax.set_xlabel("$t$")
    ax.set_ylabel("Lipschitz constant in $x$")
    ax.legend(fontsize=7)
    bx.set_xlabel("$t$")
    bx.set_ylabel("MSE / MSE(empirical vs true)")
    bx.legend(fontsize=7, ncol=2)
    return axes


def plot_decay_effects(effects: dict, times, *, axes=None):
    """Paired effects of each weight decay against none (:func:`.networks.decay_effects`): mean and 95% interval
    per time, for ``log L``, and the relative MSEs to the empirical and to the true score."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    keys = [("log_lipschitz", r"$\Delta \log \mathrm{Lip}$"), ("rel_mse_empirical", r"$\Delta$ MSE to empirical / gap"),
            ("rel_mse_true", r"$\Delta$ MSE to true / gap")]
    for ax, (key, ylabel) in zip(axes, keys):
        for k, (label, e) in enumerate(effects.items()):
            shift = np.asarray(times) * (1 + 0.08 * k)            # side by side on the log axis
            mean = np.array([p["mean_diff"] for p in e[key]])
            lo, hi = (np.array([p["ci95"][i] for p in e[key]]) for i in (0, 1))
            ax.errorbar(shift, mean, yerr=[mean - lo, hi - mean], fmt="o-", ms=4, capsize=3,
                        label=f"weight decay {label}")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("$t$")
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=8)
    return axes
