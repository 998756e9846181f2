"""Figures of chapter: Chapters 1-2 (empirical noised law and its score; DSM minimiser; Proposition 4.1)

Matplotlib only (moved from memsep_lib.plotting)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

# ===========================================================================================
# Chapters 1-2 (empirical noised law and its score; DSM minimiser; Proposition 4.1)
# ===========================================================================================


def _grid_eval12(data, t, points):
    """``p^_t`` and ``grad log p^_t`` at ``points`` (``(B, d)`` tensor) for training points ``data``."""
    from memsep_lib.scores import empirical_log_prob, empirical_score

    pts = points.to(data)
    return (torch.exp(empirical_log_prob(pts, t, data)).cpu().numpy(),
            empirical_score(pts, t, data).cpu().numpy())


def plot_empirical_density_1d(data, ts, *, xlim=None, num: int = 2001, score_clip: float = 40.0, axes=None):
    """1-D data: ``p^_t`` (top) and ``grad log p^_t`` (bottom) for each ``t`` in ``ts``, data as a rug.

    As ``t -> 0`` the density collapses onto the training points ``x_i`` (``a_t x_i -> x_i``) and the
    score becomes a saw-tooth of slope ``-1/s_t^2`` pulling towards the nearest point.
    """
    if data.ndim != 2 or data.shape[1] != 1:
        raise ValueError(f"data must have shape (n, 1), got {tuple(data.shape)}")
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    x_np = data[:, 0].cpu().numpy()
    if xlim is None:
        span = x_np.max() - x_np.min()
        xlim = (x_np.min() - 0.25 * span - 0.5, x_np.max() + 0.25 * span + 0.5)
    grid = torch.linspace(xlim[0], xlim[1], num, dtype=torch.float64)[:, None]
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(ts)))
    for colour, t in zip(colours, ts):
        dens, score = _grid_eval12(data, t, grid)
        axes[0].plot(grid[:, 0], dens, color=colour, lw=1.3, label=f"t = {t:g}")
        axes[1].plot(grid[:, 0], score[:, 0], color=colour, lw=1.3)
    for ax in axes:
        ax.plot(x_np, np.zeros_like(x_np), "|", color="crimson", ms=12, mew=1.5)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$\widehat{p}_t(x)$")
    axes[1].set_ylabel(r"$\nabla \log \widehat{p}_t(x)$ (clipped at $\pm$%g)" % score_clip)
    axes[1].set_xlabel("$x$ (red ticks: training points $x_i$)")
    axes[1].set_ylim(-score_clip, score_clip)
    axes[0].legend(fontsize=8, ncol=len(ts))
    return axes


def plot_empirical_density_2d(data, t, *, lim=None, num: int = 161, arrows: int = 19, ax=None):
    """2-D data: ``log p^_t`` as an image, the direction of ``grad log p^_t`` as arrows, training points in red."""
    if data.ndim != 2 or data.shape[1] != 2:
        raise ValueError(f"data must have shape (n, 2), got {tuple(data.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4))
    lim = float(data.abs().max()) * 1.25 + 0.3 if lim is None else float(lim)
    u = torch.linspace(-lim, lim, num, dtype=torch.float64)
    gx, gy = torch.meshgrid(u, u, indexing="xy")
    dens, _ = _grid_eval12(data, t, torch.stack([gx.flatten(), gy.flatten()], 1))
    log_dens = np.log(np.maximum(dens.reshape(num, num), 1e-300))
    vmax = log_dens.max()
    ax.imshow(log_dens, origin="lower", extent=(-lim, lim, -lim, lim), cmap="magma",
              vmin=vmax - 12, vmax=vmax, interpolation="bilinear")
    v = torch.linspace(-lim, lim, arrows, dtype=torch.float64)
    ax_, ay_ = torch.meshgrid(v, v, indexing="xy")
    _, score = _grid_eval12(data, t, torch.stack([ax_.flatten(), ay_.flatten()], 1))
    norm = np.linalg.norm(score, axis=1, keepdims=True)
    direction = score / np.maximum(norm, 1e-12)
    ax.quiver(ax_.flatten(), ay_.flatten(), direction[:, 0], direction[:, 1], color="white",
              alpha=0.75, scale=arrows * 1.3, width=0.004)
    pts = data.cpu().numpy()
    ax.plot(pts[:, 0], pts[:, 1], "o", ms=4, mfc="none", mec="cyan", mew=1.2)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(f"t = {t:g}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_empirical_density_2d_panels(data, ts, **kwargs):
    """One :func:`plot_empirical_density_2d` panel per ``t`` in ``ts``, side by side."""
    fig, axes = plt.subplots(1, len(ts), figsize=(3.2 * len(ts), 3.4))
    for ax, t in zip(np.atleast_1d(axes), ts):
        plot_empirical_density_2d(data, t, ax=ax, **kwargs)
    fig.suptitle(r"$\log \widehat{p}_t$ (colour, 12 nats shown), direction of $\nabla \log \widehat{p}_t$ "
                 "(arrows), training points (circles)", fontsize=9)
    fig.tight_layout()
    return axes


def plot_perturbation_studies(studies, ax=None):
    """DSM loss increase of ``s^ + eps v/s_t``, divided by ``E|v|^2/s_t^2``, against ``eps`` (one marker per field).

    The exact curve is ``eps^2`` (black): the empirical score is the minimiser, with no linear term.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    markers = "osD^v<>p"
    e_all = np.array(studies[0].eps)
    fine = np.linspace(e_all.min() * 1.1, e_all.max() * 1.1, 200)
    ax.plot(fine, fine ** 2, "k-", lw=1, label=r"$\varepsilon^2$ (exact)")
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(studies)))
    for colour, marker, st in zip(colours, markers, studies):
        eps = np.array(st.eps)
        unit = (st.quadratic / torch.tensor(eps) ** 2).numpy()
        ratio = st.increase.numpy() / unit
        for k in range(ratio.shape[0]):
            ax.plot(eps, ratio[k], marker, color=colour, ms=4, alpha=0.8,
                    label=f"t = {st.t:g}" if k == 0 else None)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel(r"perturbation size $\varepsilon$ (score $\widehat{s} + \varepsilon v / s_t$)")
    ax.set_ylabel(r"loss increase $/\ (\mathbb{E}|v|^2 / s_t^2)$")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_prop41_check(result, axes=None):
    """Both estimates of Proposition 4.1 against ``t`` (log-log, error bars = 1 SE), one panel per model,
    and a last panel with every cell's ``z`` against ``t`` (dotted: ``+-3``; dashed: the family-wise bound).

    Circles: Loss-Gap; crosses and dashed line: Fisher divergence; one colour per dimension ``d``.
    """
    models = list(dict.fromkeys(r.model for r in result.rows))
    if axes is None:
        _, axes = plt.subplots(1, len(models) + 1, figsize=(4.6 * (len(models) + 1), 4.2), squeeze=False,
                                  gridspec_kw=dict(width_ratios=[1.0] * len(models) + [0.75]))
        axes = axes[0]
    zax = axes[len(models)]
    all_ds = list(dict.fromkeys(r.d for r in result.rows))
    zcol = dict(zip(all_ds, plt.cm.viridis(np.linspace(0, 0.85, len(all_ds)))))
    zmark = dict(zip(models, "os^D"))
    for r in result.rows:
        zax.plot(r.t, r.z, zmark[r.model], color=zcol[r.d], ms=4, mfc="none")
    for m in models:
        zax.plot([], [], zmark[m], color="k", mfc="none", label=m)
    for level, style in ((result.z_threshold, ":"), (result.family_z, "--")):
        zax.axhline(level, color="crimson", ls=style, lw=1)
        zax.axhline(-level, color="crimson", ls=style, lw=1)
    zax.set_xscale("log")
    zax.set_ylim(-1.3 * result.family_z, 1.3 * result.family_z)
    zax.set_xlabel("diffusion time $t$")
    zax.set_ylabel("$z$ = (Loss-Gap $-$ Fisher) / SE")
    zax.set_title("z per cell (colour: d)", fontsize=10)
    zax.grid(alpha=0.3)
    zax.legend(fontsize=7)
    for ax, model in zip(axes, models):
        rows = [r for r in result.rows if r.model == model]
        ds = list(dict.fromkeys(r.d for r in rows))
        colours = plt.cm.viridis(np.linspace(0, 0.85, len(ds)))
        for colour, d in zip(colours, ds):
            sub = [r for r in rows if r.d == d]
            t = np.array([r.t for r in sub])
            ax.errorbar(t, [r.loss_gap for r in sub], yerr=[r.loss_gap_se for r in sub], fmt="o", ms=5,
                        mfc="none", color=colour, capsize=2, label=f"d = {d}: Loss-Gap")
            ax.errorbar(t * 1.06, [r.fisher for r in sub], yerr=[r.fisher_se for r in sub], fmt="x--",
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

    ``curves`` maps a label to the list of dicts of :func:`memsep_lib.prop41.fisher_asymmetry`.
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


