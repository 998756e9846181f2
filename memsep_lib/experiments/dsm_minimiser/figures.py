"""Figures of Chapter 1 (matplotlib only): the empirical law ``P^_t`` and its score, and the DSM perturbations.

The arrays come from :mod:`.theory` (``empirical_law_on_line`` / ``empirical_law_on_plane``) and from the
results of :func:`.experiment.run`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_empirical_density_1d", "plot_empirical_density_2d", "plot_empirical_density_2d_panels",
           "plot_perturbation_studies"]


def plot_empirical_density_1d(line: dict, *, score_clip: float = 40.0, axes=None):
    """``p^_t`` (top) and ``grad log p^_t`` (bottom) for each ``t`` of ``line`` (``empirical_law_on_line``), data as a rug.

    As ``t -> 0`` the density collapses onto the training points ``x_i`` (``a_t x_i -> x_i``) and the
    score becomes a saw-tooth of slope ``-1/s_t^2`` pulling towards the nearest point.
    """
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    ts = line["ts"]
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(ts)))
    for colour, t, dens, score in zip(colours, ts, line["density"], line["score"]):
        axes[0].plot(line["x"], dens, color=colour, lw=1.3, label=f"t = {t:g}")
        axes[1].plot(line["x"], score, color=colour, lw=1.3)
    points = np.asarray(line["points"])
    for ax in axes:
        ax.plot(points, np.zeros_like(points), "|", color="crimson", ms=12, mew=1.5)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$\widehat{p}_t(x)$")
    axes[1].set_ylabel(r"$\nabla \log \widehat{p}_t(x)$ (clipped at $\pm$%g)" % score_clip)
    axes[1].set_xlabel("$x$ (red ticks: training points $x_i$)")
    axes[1].set_ylim(-score_clip, score_clip)
    axes[0].legend(fontsize=8, ncol=len(ts))
    return axes


def plot_empirical_density_2d(plane: dict, *, ax=None):
    """``log p^_t`` as an image (12 nats shown), the direction of ``grad log p^_t`` as arrows, training points as circles.

    ``plane`` is what ``empirical_law_on_plane`` returns.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4))
    lim, log_dens = plane["lim"], plane["log_density"]
    vmax = log_dens.max()
    ax.imshow(log_dens, origin="lower", extent=(-lim, lim, -lim, lim), cmap="magma",
              vmin=vmax - 12, vmax=vmax, interpolation="bilinear")
    ax.quiver(plane["arrow_x"], plane["arrow_y"], plane["direction"][:, 0], plane["direction"][:, 1], color="white",
              alpha=0.75, scale=plane["arrows"] * 1.3, width=0.004)
    pts = plane["points"]
    ax.plot(pts[:, 0], pts[:, 1], "o", ms=4, mfc="none", mec="cyan", mew=1.2)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(f"t = {plane['t']:g}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_empirical_density_2d_panels(planes):
    """One :func:`plot_empirical_density_2d` panel per entry of ``planes``, side by side."""
    fig, axes = plt.subplots(1, len(planes), figsize=(3.2 * len(planes), 3.4))
    for ax, plane in zip(np.atleast_1d(axes), planes):
        plot_empirical_density_2d(plane, ax=ax)
    fig.suptitle(r"$\log \widehat{p}_t$ (colour, 12 nats shown), direction of $\nabla \log \widehat{p}_t$ "
                 "(arrows), training points (circles)", fontsize=9)
    fig.tight_layout()
    return axes


def _plot_ratios(ax, studies, title):
    markers = "osD^v<>p"
    e_all = np.array(studies[0]["eps"])
    fine = np.linspace(e_all.min() * 1.1, e_all.max() * 1.1, 200)
    ax.plot(fine, fine ** 2, "k-", lw=1, label=r"$\varepsilon^2$ (exact)")
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(studies)))
    for colour, marker, st in zip(colours, markers, studies):
        eps = np.array(st["eps"])
        ratio = np.array(st["increase"]) / (np.array(st["quadratic"]) / eps ** 2)
        for k in range(ratio.shape[0]):
            own = st["score_direction"] and k == ratio.shape[0] - 1
            ax.plot(eps, ratio[k], "*" if own else marker, color=colour, ms=9 if own else 4,
                    mec="k" if own else colour, mew=0.5, alpha=0.8, label=f"t = {st['t']:g}" if k == 0 else None)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel(r"perturbation size $\varepsilon$ (score $s + \varepsilon v / s_t$)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)


def plot_perturbation_studies(studies, controls=None, *, control_factor: float = 2.0, axes=None):
    """DSM loss increase of ``s + eps v/s_t``, divided by ``E|v|^2/s_t^2``, against ``eps`` (one marker per field).

    ``studies`` (left): ``results["perturbation"]["studies"]`` of :func:`.experiment.run`, where ``s`` is the
    empirical score and the exact curve is ``eps^2`` (black, no linear term); ``controls`` (right, optional):
    the same for the wrong score (the empirical score of time ``control_factor * t``), whose tilted parabolas
    ``eps^2 + tau eps`` dip below zero. Stars: the score's own direction ``v = s_t s``. Returns the axes (an array).
    """
    panels = [(studies, r"$s = \widehat{s}$, the empirical score")]
    if controls is not None:
        panels.append((controls, f"control: $s$ = the empirical score of time ${control_factor:g}t$"))
    if axes is None:
        _, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), sharey=True, squeeze=False)
        axes = axes[0]
    axes = np.atleast_1d(axes)
    for ax, (group, title) in zip(axes, panels):
        _plot_ratios(ax, group, title)
    axes[0].set_ylabel(r"loss increase $/\ (\mathbb{E}|v|^2 / s_t^2)$")
    axes[0].legend(fontsize=8)
    return axes
