"""Figures of the book (matplotlib), one section per chapter; the imports above serve them all."""

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
    from .lipschitz import hessian_eigenvalues_on_segment
    from .process import alpha, sigma

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


# ===========================================================================================
# Chapter 3 (Theorem 4.3, Loss-Gap lower bound): ratio against t, d / tr Sigma, n; explorer
# ===========================================================================================


def _colours3(num: int):
    return plt.cm.viridis(np.linspace(0.0, 0.85, max(num, 1)))


def plot_loss_gap_ratio_vs_t(t_curves: dict, *, floor: float | None = None, title: str = "", axes=None):
    """Part 1 of ``memsep_lib.loss_gap_bound``: ``E_D[LG_t]/(d s_t^-2 + tr Sigma)`` and own-sample weight against ``t``.

    Solid: measured ratio (error bars: standard error over training sets); dashed: the isolated-sample
    prediction ``LG_iso / (d s_t^-2 + tr Sigma)``; dotted vertical line: end of the small-``t`` interval.
    """
    from .loss_gap_bound import bound_scale, isolated_loss_gap

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    ts = np.asarray(t_curves["t_values"])
    fine = np.geomspace(ts[0], ts[-1], 200)
    for colour, cur in zip(_colours3(len(t_curves["curves"])), t_curves["curves"]):
        d, lam = cur["d"], cur["std"] ** 2
        ratio = np.asarray(cur["ratio"], dtype=float)
        err = np.asarray([e if e is not None else np.nan for e in cur["ratio_stderr"]], dtype=float)
        axes[0].errorbar(ts, ratio, yerr=err, fmt="o-", ms=3.5, color=colour, capsize=2,
                         label=f"d={d} ($\\log n/d$={cur['log_n_over_d']:.2f})")
        iso = [isolated_loss_gap(t, lam, d) / bound_scale(t, d, d * lam) for t in fine]
        axes[0].plot(fine, iso, "--", color=colour, lw=1)
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
    axes[0].set_title("ratio to the bound (dashed: isolated-sample formula)", fontsize=9)
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
    for colour, per in zip(_colours3(len(n_decay["per_d"])), n_decay["per_d"]):
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
    """The chapter's explorer: ratio curve of one configuration (``memsep_lib.loss_gap_bound.explore``)."""
    from .loss_gap_bound import bound_scale, isolated_loss_gap

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    ts = np.asarray(ex["t_values"])
    fine = np.geomspace(ts[0], ts[-1], 200)
    lam = ex["std"] ** 2
    ax.plot(ts, ex["ratio"], "o-", ms=3.5, label="measured")
    ax.plot(fine, [isolated_loss_gap(t, lam, ex["d"]) / bound_scale(t, ex["d"], ex["d"] * lam) for t in fine],
            "--", lw=1, label="isolated-sample formula")
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


# ===========================================================================================
# Chapters 1-2 (empirical noised law and its score; DSM minimiser; Proposition 4.1)
# ===========================================================================================


def _grid_eval12(data, t, points):
    """``p^_t`` and ``grad log p^_t`` at ``points`` (``(B, d)`` tensor) for training points ``data``."""
    from .scores import empirical_log_prob, empirical_score

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


# ===========================================================================================
# Chapter 7 (DiT head pruning): importance heatmaps, memorisation over training, sample grids
# ===========================================================================================


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


# ===========================================================================================
# Chapter 4 (Theorem 5.1, approximation widths): pruning curve, W* against n, error against W
# ===========================================================================================


_KIND_STYLE4 = {"empirical": ("C3", "o", r"empirical score $\nabla\log\widehat p_t$"),
                "true": ("C0", "s", r"true score $\nabla\log p_t$")}


def plot_pruning_curves(num_units, errors_by_t: dict, *, ax=None):
    """Relative error of the one-layer network keeping the ``m`` most used units, one curve per ``t``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.6))
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, max(len(errors_by_t), 1)))
    n = max(num_units)
    for c, (t, errs) in zip(colours, errors_by_t.items()):
        m = [k for k, e in zip(num_units, errs) if k < n]
        e = [e for k, e in zip(num_units, errs) if k < n]
        ax.plot(m, e, "o-", color=c, label=f"t = {t:g}")
    ax.set_xlabel(f"units kept m (of n = {n})")
    ax.set_ylabel("relative error of the score")
    ax.set_yscale("log")
    ax.set_title("removing units from the exact network")
    ax.legend(fontsize=8)
    return ax


def plot_width_star(cfg: dict, summary: dict, *, axes=None, quantity: str = "W_star"):
    """``W*`` (or ``N*``, ``quantity="N_star"``) against ``n``, one panel per ``t``; fitted power laws dashed.

    Censored points (no width of the grid reached ``eps``) are drawn as open markers at the top.
    """
    ts = sorted(cfg["t_values"])
    if axes is None:
        _, axes = plt.subplots(1, len(ts), figsize=(4.2 * len(ts), 3.6), sharey=True, squeeze=False)
        axes = axes[0]
    tasks = summary["tasks"]
    values = summary[quantity]
    top = max(cfg["widths"]) * 2 if quantity == "W_star" else summary["N_cap"]
    for ax, t in zip(axes, ts):
        for kind, (c, marker, label) in _KIND_STYLE4.items():
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
                ax.plot(ns, np.exp(fit["intercept"]) * ns ** fit["slope"], "--", color=c,
                        label=f"slope {fit['slope']:.2f} ± {fit['slope_se']:.2f}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("n (training points)")
        ax.set_title(f"t = {t:g}")
        ax.legend(fontsize=7)
    axes[0].set_ylabel(r"$W^*$ (width)" if quantity == "W_star" else r"$N^*$ (parameters)")
    return axes


def plot_error_vs_width(cfg: dict, search: dict, t: float, *, axes=None):
    """Relative test error against width, one curve per ``n``; left the empirical, right the true score."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), sharey=True)
    ns = sorted(cfg["n_values"])
    colours = plt.cm.viridis(np.linspace(0.0, 0.9, len(ns)))
    for ax, kind in zip(axes, ("empirical", "true")):
        for c, n in zip(colours, ns):
            for task, errs in zip(search["tasks"], search["test_error"]):
                if task["kind"] == kind and task["n"] == n and task["t"] == t and task["m"] == 0:
                    pts = [(w, e) for w, e in zip(search["widths"], errs) if e is not None]
                    ax.plot(*zip(*pts), "o-", color=c, ms=3, alpha=0.8,
                            label=f"n = {n}" if task["rep"] == 0 else None)
        ax.axhline(cfg["eps"], color="k", lw=0.8, ls=":", label=f"eps = {cfg['eps']:g}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width W")
        ax.set_title(f"{_KIND_STYLE4[kind][2]}, t = {t:g}")
    axes[0].set_ylabel("relative test error")
    axes[1].legend(fontsize=7)
    return axes


def plot_duplicates(cfg: dict, search: dict, *, axes=None):
    """Error against width for each duplicated set ``(n, m)``, next to ``n - m`` and ``n`` distinct points.

    One panel per ``(n, m)`` at the smallest ``t``; one line per repetition.
    """
    pairs = cfg["duplicates"]
    if axes is None:
        _, axes = plt.subplots(1, len(pairs), figsize=(4.6 * len(pairs), 3.6), sharey=True, squeeze=False)
        axes = axes[0]
    t = min(cfg["t_values"])
    curves = {(task["n"], task["m"], task["rep"]): errs for task, errs in zip(search["tasks"], search["test_error"])
              if task["kind"] == "empirical" and task["t"] == t}
    for ax, (n, m) in zip(axes, pairs):
        for key, label, c in (((n - m, 0), f"{n - m} distinct", "C2"), ((n, m), f"{n} with {m} duplicates", "C3"),
                              ((n, 0), f"{n} distinct", "C7")):
            for rep in range(cfg["reps"]):
                errs = curves.get((*key, rep))
                if errs is None:
                    continue
                pts = [(w, e) for w, e in zip(search["widths"], errs) if e is not None]
                ax.plot(*zip(*pts), "o-", ms=3, color=c, alpha=0.8, label=label if rep == 0 else None)
        ax.axhline(cfg["eps"], color="k", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width W")
        ax.set_title(f"n = {n}, m = {m} duplicates, t = {t:g}")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("relative test error (empirical score)")
    return axes


def explore_pruning(n: int = 64, t: float = 0.05, *, num_queries: int = 2048, ax=None):
    """Widget callback: the pruning curve of the one-layer network for ``n`` mixture points at time ``t``."""
    from .approximation import pruning_study

    study = pruning_study(int(n), [float(t)], num_queries=num_queries)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 3.8))
    return plot_pruning_curves(study["num_units"], study["errors"], ax=ax)


# ===========================================================================================
# Chapter 6 (Gaussian-mixture memorisation): ablation trends, weight-decay grid, 2-D phases
# ===========================================================================================

def _mean_std(entries: list, key: str, scale: float = 1.0):
    return (np.array([scale * e[key]["mean"] for e in entries]), np.array([scale * e[key]["std"] for e in entries]))


def plot_memorization_ablation(summary: list, factor: str, *, xlabel: str, title: str = "", axes=None):
    """Memorisation (%) and log-likelihood of generated samples against one factor (mean ± std over
    seeds), beside the same metrics for fresh draws of the true mixture (dashed: the floor / reference)."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    x = np.array([e[factor] for e in summary], dtype=float)
    for ax, key, ylabel, scale in ((axes[0], "memorization", "memorised samples (%)", 100.0),
                                   (axes[1], "log_likelihood", "mean log p(sample) under P", 1.0)):
        mean, std = _mean_std(summary, key, scale)
        ref, _ = _mean_std(summary, f"{key}_true_samples", scale)
        ax.errorbar(x, mean, yerr=std, fmt="o-", capsize=3, label="trained networks")
        ax.plot(x, ref, "k--", lw=1, label="fresh samples of P")
        ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel)
        ax.minorticks_off()
        ax.set_xticks(x, [f"{v:g}" for v in x])        # the grid's values
    axes[0].set_ylim(-3, 103)
    axes[0].legend(fontsize=8)
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
                mean, std = _mean_std(rows, key, scale)
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


def plot_phase_threshold(row: dict, threshold: float = 1 / 3, *, ax=None):
    """One network of the ``phase_2d`` ablation: its samples coloured by the memorisation test
    ``|y - x_(1)| < threshold |y - x_(2)|`` (orange: memorised), with the floor ``threshold^d`` in the title."""
    from .metrics import nn_distance_ratio

    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.2))
    y, train = torch.tensor(row["samples"]), torch.tensor(row["train"])
    memorised = (nn_distance_ratio(y, train) < threshold).numpy()
    ax.scatter(y[~memorised, 0], y[~memorised, 1], s=4, alpha=0.4, color="tab:blue", label="not memorised")
    ax.scatter(y[memorised, 0], y[memorised, 1], s=4, alpha=0.6, color="tab:orange", label="memorised")
    _draw_training_points(ax, train.numpy())
    ax.set_title(f"width {row['width']}, threshold {threshold:.2f}: memorised {100 * memorised.mean():.0f}%\n"
                 f"(floor for fresh samples ~ threshold^d = {100 * threshold ** train.shape[1]:.0f}%)", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    return ax
