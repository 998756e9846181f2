"""Figures of chapter 3 (Theorem 4.3): the ratio to the bound against t, d / tr Sigma and n; the explorer.

Matplotlib only: each function draws the results of :mod:`.experiment` (and the isolated-sample curves
of :mod:`.theory`, computed by the caller) and computes nothing.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def _colours(num: int):
    return plt.cm.viridis(np.linspace(0.0, 0.85, max(num, 1)))


def plot_loss_gap_ratio_vs_t(t_curves: dict, t_fine, isolated, *, floor: float | None = None, title: str = "",
                             axes=None):
    """Part 1: ``E_D[LG_t]/(d s_t^-2 + tr Sigma)`` and own-sample weight against ``t``.

    Solid: measured ratio (error bars: standard error over training sets); dashed: ``isolated[k]``, the
    isolated-sample prediction ``LG_iso / (d s_t^-2 + tr Sigma)`` of curve ``k`` at ``t_fine``; dotted
    vertical line: end of the small-``t`` interval; dash-dotted (when the results hold it): the upper bound
    ``U_t / (d s_t^-2 + tr Sigma)`` with ``U_t = d s_t^-2 - J(P_t)``.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    ts = np.asarray(t_curves["t_values"])
    for colour, cur, iso in zip(_colours(len(t_curves["curves"])), t_curves["curves"], isolated, strict=True):
        d = cur["d"]
        ratio = np.asarray(cur["ratio"], dtype=float)
        err = np.asarray([e if e is not None else np.nan for e in cur["ratio_stderr"]], dtype=float)
        axes[0].errorbar(ts, ratio, yerr=err, fmt="o-", ms=3.5, color=colour, capsize=2,
                         label=f"d={d} ($\\log n/d$={cur['log_n_over_d']:.2f})")
        axes[0].plot(t_fine, iso, "--", color=colour, lw=1)
        if "upper_over_bound" in cur:       # the exact upper bound U_t = d s_t^-2 - J(P_t), same scale
            axes[0].plot(ts, cur["upper_over_bound"], "-.", color=colour, lw=0.8, alpha=0.8)
        for ax in axes:
            ax.axvline(cur["t_end"], color=colour, ls=":", lw=1.2)
        if "own_weight" in cur:
            axes[1].plot(ts, cur["own_weight"], "o-", ms=3.5, color=colour, label=f"d={d}")
    if floor is not None:
        axes[0].axhline(floor, color="crimson", lw=1, label=f"verdict floor {floor:g}")
    axes[0].set_ylabel(r"$\mathbb{E}_D[\mathrm{Loss\text{-}Gap}_t] \,/\, (d s_t^{-2} + \mathrm{tr}\,\Sigma)$")
    axes[1].set_ylabel(r"own-sample weight $\mathbb{E}\, w_i(X_t)$")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("diffusion time $t$")
        ax.set_ylim(-0.05, 1.15)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower left")
    axes[1].legend(fontsize=7, loc="lower left")
    axes[0].set_title("ratio to the bound (dashed: isolated-sample formula; dash-dot: upper bound $U_t$)",
                      fontsize=9)
    axes[1].set_title("posterior concentration (dotted: end of the small-$t$ interval)", fontsize=9)
    if title:
        axes[0].figure.suptitle(title, fontsize=10)
    axes[0].figure.tight_layout()
    return axes


def plot_loss_gap_d_sigma(d_sigma: dict, *, title: str = "", axes=None):
    """Part 2: ``E_D[LG_t]`` at fixed ``t`` against ``d`` (``Sigma = I``) and against ``tr Sigma`` (fixed ``d``).

    Filled markers: ``t`` inside the configuration's small-``t`` interval; open markers: outside.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, rows, key, xlabel in ((axes[0], d_sigma["by_d"], "d", "dimension $d$"),
                                  (axes[1], d_sigma["by_sigma"], "trace_sigma",
                                   r"$\mathrm{tr}\,\Sigma = d\,\sigma^2$ (d=%d)" % d_sigma["by_sigma"][0]["d"])):
        x = np.asarray([r[key] for r in rows], dtype=float)
        ax.plot(x, [r["bound"] for r in rows], "k-", lw=1, label=r"$d s_t^{-2} + \mathrm{tr}\,\Sigma$")
        ax.plot(x, [r["isolated"] for r in rows], "--", color="tab:blue", lw=1, label="isolated-sample formula")
        for r, xv in zip(rows, x):
            ax.errorbar([xv], [r["mean"]], yerr=[r["stderr"] or 0.0], fmt="o", color="tab:orange", capsize=2,
                        mfc="tab:orange" if r["in_interval"] else "white")
        ax.plot([], [], "o", color="tab:orange", label=r"$\mathbb{E}_D[\mathrm{Loss\text{-}Gap}_t]$ (open: outside interval)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    axes[0].set_ylabel(f"value at t = {d_sigma['t']:g}")
    if title:
        axes[0].figure.suptitle(title, fontsize=10)
    axes[0].figure.tight_layout()
    return axes


def plot_loss_gap_n_dependence(n_decay: dict, *, title: str = "", axes=None):
    """Part 3: ``E_D[LG_{t_fix}]`` against ``n`` and the crossover scale ``(s/a)*`` against ``n``, one colour per ``d``.

    Open markers: ``log n > d`` (outside the theorem's ``log n = O(d)``). Right panel: solid lines are the
    fits, dashed lines the ``n^(-1/d)`` rate through the first point.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    for colour, per in zip(_colours(len(n_decay["per_d"])), n_decay["per_d"]):
        d, rows = per["d"], per["rows"]
        ns = np.asarray([r["n"] for r in rows], dtype=float)
        j = n_decay["t_values"].index(n_decay["t_fix"])
        for r, nv, v in zip(rows, ns, per["at_t_fix"]):
            err = r["stderr"][j] or 0.0
            axes[0].errorbar([nv], [v], yerr=[err], fmt="o", color=colour, capsize=2,
                             mfc=colour if r["log_n_over_d"] <= 1 else "white")
        fit = per["fit_t_fix"]
        lab = f"d={d}" + (f": slope {fit['exponent']:.2f}" if fit else "")
        axes[0].plot(ns, per["at_t_fix"], "-", color=colour, lw=1, label=lab)
        pts = [(r["n"], r["crossover"], r["log_n_over_d"]) for r in rows if r["crossover"] is not None]
        if pts:
            pn, pc, pl = (np.asarray(v, dtype=float) for v in zip(*pts))
            for nv, cv, lv in zip(pn, pc, pl):
                axes[1].plot([nv], [cv], "o", color=colour, mfc=colour if lv <= 1 else "white")
            cf = per["fit_crossover"]
            if cf:
                axes[1].plot(pn, np.exp(cf["intercept"]) * pn ** cf["exponent"], "-", color=colour, lw=1,
                             label=f"d={d}: slope {cf['exponent']:.2f} (1/d = {1 / d:.2f})")
            axes[1].plot(pn, pc[0] * (pn / pn[0]) ** (-1.0 / d), "--", color=colour, lw=0.8)
    axes[0].set_ylabel(f"$\\mathbb{{E}}_D[\\mathrm{{Loss\\text{{-}}Gap}}_t]$ at t = {n_decay['t_fix']:.2g}")
    axes[1].set_ylabel(r"crossover $(s_t/a_t)^*$ (gap at half its isolated value)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("number of training samples $n$ (open: $\\log n > d$)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    if title:
        axes[0].figure.suptitle(title, fontsize=10)
    axes[0].figure.tight_layout()
    return axes


def plot_loss_gap_explorer(ex: dict, *, floor: float | None = None, label: str = "", ax=None):
    """The chapter's explorer: ratio curve of one configuration, as :func:`.experiment.explore` returns it."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(ex["t_values"], ex["ratio"], "o-", ms=3.5, label="measured")
    ax.plot(ex["t_fine"], ex["isolated"], "--", lw=1, label="isolated-sample formula")
    ax.plot([ex["t"]], [ex["ratio_at_t"]], "s", color="crimson", ms=8, label=f"t = {ex['t']:.3g}: {ex['ratio_at_t']:.2f}")
    ax.axvline(ex["t_end"], color="grey", ls=":", label=f"interval end t = {ex['t_end']:.2g}")
    if floor is not None:
        ax.axhline(floor, color="crimson", lw=0.8)
    ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.15)
    ax.set_xlabel("diffusion time $t$")
    ax.set_ylabel(r"$\mathbb{E}_D[\mathrm{LG}_t] / (d s_t^{-2} + \mathrm{tr}\,\Sigma)$")
    ax.set_title(f"d={ex['d']}, n={ex['n']}, K={ex['K']}, separation={ex['separation']:g} "
                 f"($\\Delta_{{\\min}}$ = {ex['separation']:g}$\\sqrt{{d}}$)" + (f"\n{label}" if label else ""),
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    return ax


