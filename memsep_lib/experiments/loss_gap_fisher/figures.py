"""Figures of Chapter 2 (matplotlib only): Loss-Gap against Fisher divergence, and the law in the expectation.

Both take the results of :func:`.experiment.run` (``results["prop41"]``, ``results["asymmetry"]``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_prop41_check", "plot_fisher_asymmetry"]


def plot_prop41_check(rows, *, z_threshold: float, family_z: float, axes=None):
    """Both estimates of Proposition 4.1 against ``t`` (log-log, error bars = 1 SE), one panel per model,
    and a last panel with every cell's ``z`` against ``t`` (dotted: ``+-z_threshold``; dashed: ``+-family_z``).

    ``rows``: the cells of :func:`.experiment.prop41_check`. Circles: Loss-Gap; crosses and dashed line:
    Fisher divergence; one colour per dimension ``d``.
    """
    models = list(dict.fromkeys(r["model"] for r in rows))
    if axes is None:
        _, axes = plt.subplots(1, len(models) + 1, figsize=(4.6 * (len(models) + 1), 4.2), squeeze=False,
                               gridspec_kw=dict(width_ratios=[1.0] * len(models) + [0.75]))
        axes = axes[0]
    zax = axes[len(models)]
    all_ds = list(dict.fromkeys(r["d"] for r in rows))
    zcol = dict(zip(all_ds, plt.cm.viridis(np.linspace(0, 0.85, len(all_ds)))))
    zmark = dict(zip(models, "os^D"))
    for r in rows:
        zax.plot(r["t"], r["z"], zmark[r["model"]], color=zcol[r["d"]], ms=4, mfc="none")
    for m in models:
        zax.plot([], [], zmark[m], color="k", mfc="none", label=m)
    for level, style in ((z_threshold, ":"), (family_z, "--")):
        zax.axhline(level, color="crimson", ls=style, lw=1)
        zax.axhline(-level, color="crimson", ls=style, lw=1)
    zax.set_xscale("log")
    zax.set_ylim(-1.3 * family_z, 1.3 * family_z)
    zax.set_xlabel("diffusion time $t$")
    zax.set_ylabel("$z$ = (Loss-Gap $-$ Fisher) / SE")
    zax.set_title("z per cell (colour: d)", fontsize=10)
    zax.grid(alpha=0.3)
    zax.legend(fontsize=7)
    for ax, model in zip(axes, models):
        cells = [r for r in rows if r["model"] == model]
        ds = list(dict.fromkeys(r["d"] for r in cells))
        colours = plt.cm.viridis(np.linspace(0, 0.85, len(ds)))
        for colour, d in zip(colours, ds):
            sub = [r for r in cells if r["d"] == d]
            t = np.array([r["t"] for r in sub])
            ax.errorbar(t, [r["loss_gap"] for r in sub], yerr=[r["loss_gap_se"] for r in sub], fmt="o", ms=5,
                        mfc="none", color=colour, capsize=2, label=f"d = {d}: Loss-Gap")
            ax.errorbar(t * 1.06, [r["fisher"] for r in sub], yerr=[r["fisher_se"] for r in sub], fmt="x--",
                        ms=5, lw=0.8, color=colour, capsize=2, label=f"d = {d}: Fisher")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("diffusion time $t$")
        ax.set_ylabel("value")
        ax.set_title(f"{model}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2)
    axes[0].figure.tight_layout()
    return axes


def plot_fisher_asymmetry(curves: dict, ax=None):
    """``E_{P^_t}`` (solid) and ``E_{P_t}`` (dashed) of ``|grad log p^_t - grad log p_t|^2`` against ``t``.

    ``curves`` maps a label to the rows of :func:`.experiment.fisher_asymmetry` (``results["asymmetry"]``).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2))
    colours = plt.cm.tab10.colors
    for k, (label, rows) in enumerate(curves.items()):
        t = [r["t"] for r in rows]
        ax.errorbar(t, [r["empirical_law"] for r in rows], yerr=[r["empirical_law_se"] for r in rows],
                    fmt="o-", color=colours[k], capsize=2, label=rf"{label}: under $\widehat{{P}}_t$ (= Loss-Gap)")
        ax.errorbar(t, [r["true_law"] for r in rows], yerr=[r["true_law_se"] for r in rows],
                    fmt="s--", color=colours[k], capsize=2, mfc="none", label=f"{label}: under $P_t$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("diffusion time $t$")
    ax.set_ylabel(r"$\mathbb{E}\,|\nabla\log\widehat{p}_t - \nabla\log p_t|^2$")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax
