"""Figures of Chapter 4 (matplotlib only; they take results and summaries, and compute nothing).

Pruning curves of the one-layer network, ``W*`` (or ``N*``) against ``n``, error against width, and the
duplicated sets' error curves.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_pruning_curves", "plot_width_star", "plot_error_vs_width", "plot_duplicates"]

_KIND_STYLE = {"empirical": ("C3", "o", r"empirical score $\nabla\log\widehat p_t$"),
               "true": ("C0", "s", r"true score $\nabla\log p_t$")}


def plot_pruning_curves(num_units, t_values, errors, *, ax=None):
    """Relative error of the one-layer network keeping the ``m`` most used units, one curve per ``t``
    (``errors[k]``: the curve at ``t_values[k]``, as :func:`~.theory.pruning_study` returns it)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 3.8))
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, max(len(t_values), 1)))
    n = max(num_units)
    for c, t, errs in zip(colours, t_values, errors):
        m = [k for k, e in zip(num_units, errs) if k < n]
        e = [e for k, e in zip(num_units, errs) if k < n]
        ax.plot(m, e, "o-", color=c, label=f"t = {t:g}")
    ax.set_xlabel(f"units kept m (of n = {n})")
    ax.set_ylabel("relative error of the score")
    ax.set_yscale("log")
    ax.set_title("removing units from the exact network")
    ax.legend(fontsize=8)
    return ax


def plot_width_star(results: dict, summary: dict, *, axes=None, quantity: str = "W_star"):
    """``W*`` (or ``N*``, ``quantity="N_star"``) against ``n``, one panel per ``t``; fitted power laws dashed.

    ``summary`` is :func:`~.experiment.summarize` of ``results``. Censored points (no width of the grid
    reached ``eps``) are drawn as open markers at the top.
    """
    design = results["design"]
    ts = sorted(design["t_values"])
    if axes is None:
        _, axes = plt.subplots(1, len(ts), figsize=(4.2 * len(ts), 3.6), sharey=True, squeeze=False)
        axes = axes[0]
    tasks = summary["tasks"]
    values = summary[quantity]
    top = max(design["widths"]) * 2 if quantity == "W_star" else summary["N_cap"]
    for ax, t in zip(axes, ts):
        for kind, (c, marker, label) in _KIND_STYLE.items():
            pts = [(task["n"], v) for task, v in zip(tasks, values)
                   if task["kind"] == kind and task["t"] == t and task["m"] == 0]
            fin = [(n, v) for n, v in pts if v is not None and math.isfinite(v)]
            cen = [n for n, v in pts if v is None or not math.isfinite(v)]
            if fin:
                ax.plot(*zip(*fin), marker, color=c, alpha=0.8, label=label)
            if cen:
                ax.plot(cen, [top] * len(cen), marker, mfc="none", color=c, alpha=0.8)
            fit = summary["fits"][kind][str(t)].get("fit" if quantity == "W_star" else "fit_N")
            if fit:
                ns = np.array(sorted({n for n, _ in pts}), dtype=float)
                ax.plot(ns, np.exp(fit["intercept"]) * ns ** fit["exponent"], "--", color=c,
                        label=f"slope {fit['exponent']:.2f} ± {fit['stderr']:.2f}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("n (training points)")
        ax.set_title(f"t = {t:g}")
        ax.legend(fontsize=7)
    axes[0].set_ylabel(r"$W^*$ (width)" if quantity == "W_star" else r"$N^*$ (parameters)")
    return axes


def plot_error_vs_width(results: dict, t: float, *, axes=None):
    """Relative test error against width, one curve per ``n``; left the empirical, right the true score."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), sharey=True)
    design, search = results["design"], results["search"]
    ns = sorted(design["n_values"])
    colours = plt.cm.viridis(np.linspace(0.0, 0.9, len(ns)))
    for ax, kind in zip(axes, ("empirical", "true")):
        for c, n in zip(colours, ns):
            for task, errs in zip(search["tasks"], search["test_error"]):
                if task["kind"] == kind and task["n"] == n and task["t"] == t and task["m"] == 0:
                    pts = [(w, e) for w, e in zip(search["widths"], errs) if e is not None]
                    ax.plot(*zip(*pts), "o-", color=c, ms=3, alpha=0.8,
                            label=f"n = {n}" if task["rep"] == 0 else None)
        ax.axhline(design["eps"], color="k", lw=0.8, ls=":", label=f"eps = {design['eps']:g}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width W")
        ax.set_title(f"{_KIND_STYLE[kind][2]}, t = {t:g}")
    axes[0].set_ylabel("relative test error")
    axes[1].legend(fontsize=7)
    return axes


def plot_duplicates(results: dict, *, axes=None):
    """Error against width for each duplicated set ``(n, m)``, next to ``n - m`` and ``n`` distinct points.

    One panel per ``(n, m)`` at the smallest ``t``; one line per repetition.
    """
    design, search = results["design"], results["search"]
    pairs = design["duplicates"]
    if axes is None:
        _, axes = plt.subplots(1, len(pairs), figsize=(4.6 * len(pairs), 3.6), sharey=True, squeeze=False)
        axes = axes[0]
    t = min(design["t_values"])
    curves = {(task["n"], task["m"], task["rep"]): errs for task, errs in zip(search["tasks"], search["test_error"])
              if task["kind"] == "empirical" and task["t"] == t}
    for ax, (n, m) in zip(axes, pairs):
        for key, label, c in (((n - m, 0), f"{n - m} distinct", "C2"), ((n, m), f"{n} with {m} duplicates", "C3"),
                              ((n, 0), f"{n} distinct", "C7")):
            for rep in range(design["reps"]):
                errs = curves.get((*key, rep))
                if errs is None:
                    continue
                pts = [(w, e) for w, e in zip(search["widths"], errs) if e is not None]
                ax.plot(*zip(*pts), "o-", ms=3, color=c, alpha=0.8, label=label if rep == 0 else None)
        ax.axhline(design["eps"], color="k", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width W")
        ax.set_title(f"n = {n}, m = {m} duplicates, t = {t:g}")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("relative test error (empirical score)")
    return axes
