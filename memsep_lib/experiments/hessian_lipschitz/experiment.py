"""Chapter 5 measured: the empirical score's Lipschitz constant, its exact small-t constant, and weight decay.

Data: ``n`` points from ``P_0 = (1/4) sum_k N(mu_k, I/4)``, ``mu_k = (+-1, +-1)``, in float64. Parts:
(1) analytic Hessians against autograd Jacobians, and ``grad^2 log p_t = -I/s_t^2 + (a_t^2/s_t^4) Cov``;
(2) the largest local Lipschitz constant against ``t`` (:func:`.search.lipschitz_vs_time`), its ``s_t^-4``
law and its constant ``max_{Delaunay} |x_k - x_l|^2 / 4`` (:func:`.theory.small_t_constants`), and the true
score's closed form (:func:`.theory.square_mixture_lipschitz`); (3) score networks trained with several
weight decays over seeds (:mod:`.networks`), in a schedule where the net without decay follows the
empirical score at small ``t``, and a probe of the earlier schedule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from memsep_lib.config import make_generator
from memsep_lib.fits import power_law_fit
from memsep_lib.lipschitz import autograd_jacobian, local_lipschitz
from memsep_lib.mixtures import GaussianMixture
from memsep_lib.process import add_noise, alpha, sigma
from memsep_lib.results import StageCache
from memsep_lib.scores import empirical_score, empirical_score_hessian

from .networks import FOLLOW_FRACTION, decay_effects, evaluate_score_net, follows, train_networks
from .search import lipschitz_vs_time
from .theory import (closest_pairs, gaussian_lipschitz, mixture_posterior_cov, pair_midpoints, small_t_constants,
                     square_mixture_lipschitz, two_point_midpoint_lipschitz)

__all__ = ["NAME", "DESCRIPTION", "COST", "HessianLipschitzConfig", "CONFIGS", "data_law", "run", "small_t_summary",
           "share_below", "verdict", "facts"]

NAME = "hessian_lipschitz"
DESCRIPTION = ("Hessian of log p_t as a posterior covariance: empirical-score Lipschitz constant ~ s_t^-4 with the "
               "Delaunay constant, true score bounded; score networks with and without weight decay over seeds")
COST = {
    "ci": {"minutes": 1.5, "hardware": "1 CPU thread",
           "basis": "measured: 89 s wall, 26 s CPU (CLI, 1 thread, shared machine under load)"},
    "cpu": {"minutes": 8.5, "hardware": "1 CPU thread",
            "basis": "measured: 500 s wall, 141 s CPU (CLI, 1 thread, shared 2-core machine under load 4-10); "
                     "the 9 networks' 3000 steps took 0.06-0.5 s each with the load"},
    "paper": {"minutes": 30, "hardware": "1 GPU",
              "basis": "estimate: 30 nets (10 seeds x 3 decays) x 50k steps in one stack plus the searches, "
                       "not measured"},
}
CHECK_TOL = 1e-10          # float64 agreement of the analytic formulas
SLOPE_TOL = 0.05           # fitted exponent in s_t within this of -4
SMALL_T = 1e-4             # the asymptotic regime of the fits: s_t^2 <= 1e-4 << Delta^2
EXACT_TOL = 1e-9           # the search against the exact small-t forms, relative
LIMIT_TOL = 1e-5           # s_t^4 L / a_t^2 at the smallest t against its limit, relative (the gap is ~ s_t^2 / a_t^2)
TRUE_SUP = 12.0            # sup_x |grad^2 log p_0| of the chapter's law (theory.square_mixture_lipschitz as t -> 0)
TRUE_ATTAINED_T = 0.2      # below ln(5/4) the true score's supremum is reached, at x = 0
FOLLOW_TIMES = (0.003, 0.01)   # "small t" of part 3's claims


@dataclass(frozen=True, kw_only=True)
class HessianLipschitzConfig:
    """Sizes of the chapter: the training set, the Lipschitz searches, the networks of part 3."""

    n: int = 16                                        # training points
    check_times: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 0.1, 0.5, 2.0)   # part 1
    sweep_times: int                                   # part 2: times log-spaced in [1e-6, 1]
    true_starts: int = 48                              # samples of P_0 starting the true-score search
    restarts: int                                      # noised training points starting each search
    search_steps: int
    net_seeds: int                                     # part 3: training sets (seed r) and initialisations
    net_width: int
    net_depth: int = 3
    net_steps: int
    batch_size: int
    lr: float = 2e-3
    schedule: tuple = ("log_uniform", 1e-3, 1.0)       # training times (distribution, t0, T) of the compared nets
    probe_schedule: tuple = ("uniform", 1e-3, 2.0)     # the earlier schedule, probed without decay on seed 0
    eval_points: int                                   # noised training points probing each net, per time
    weight_decays: tuple[float, ...] = (0.0, 0.1, 0.5)  # AdamW decoupled weight decays; the first is the baseline 0
    net_times: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)  # where the networks are evaluated


CONFIGS = {
    "ci": HessianLipschitzConfig(sweep_times=13, restarts=32, search_steps=40, net_seeds=3, net_width=64,
                                 net_steps=400, batch_size=256, eval_points=256),
    "cpu": HessianLipschitzConfig(sweep_times=25, restarts=128, search_steps=80, net_seeds=3, net_width=128,
                                  net_steps=3000, batch_size=256, eval_points=4096),
    "paper": HessianLipschitzConfig(sweep_times=49, restarts=1024, search_steps=200, net_seeds=10, net_width=256,
                                    net_steps=50000, batch_size=1024, eval_points=16384),
}


def data_law(device=None) -> GaussianMixture:
    """``P_0 = (1/4) sum_k N(mu_k, I/4)`` with ``mu_k = (+-1, +-1)``, float64."""
    means = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], dtype=torch.float64, device=device)
    return GaussianMixture(means, 0.25 * torch.eye(2, dtype=torch.float64, device=device).expand(4, 2, 2).clone())


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Worst relative Frobenius error over the batch."""
    return ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).max().item()


def _formula_errors(data: torch.Tensor, law: GaussianMixture, times,
                    generator: torch.Generator) -> dict:
    """Part 1: worst errors of the analytic formulas at noised training points and close-pair midpoints.

    The laws: the empirical one, an anisotropic three-component mixture on ``law``'s first means, and
    ``N(mu_1, Sigma)``.
    """
    dt, device = data.dtype, data.device
    rot = torch.tensor([[math.cos(0.6), -math.sin(0.6)], [math.sin(0.6), math.cos(0.6)]], dtype=dt, device=device)
    cov = rot @ torch.diag(torch.tensor([0.5, 0.05], dtype=dt, device=device)) @ rot.T
    means = law.means
    aniso = GaussianMixture(means[:3], torch.stack([cov, torch.diag(torch.tensor([0.3, 0.05], dtype=dt, device=device)),
                                                    2 * cov]), torch.tensor([0.5, 0.3, 0.2], dtype=dt, device=device))
    gaussian = GaussianMixture(means[:1], cov[None])
    emp_score = lambda y, t: empirical_score(y, t, data)
    errors = dict.fromkeys(("empirical", "Gaussian", "mixture", "mixture covariance identity",
                            "Gaussian norm formula"), 0.0)
    for t in times:
        a, s2 = alpha(t), sigma(t) ** 2
        x = torch.cat([add_noise(data, t, generator=generator)[0], pair_midpoints(data, t, 8)])
        found = {"empirical": _rel_err(autograd_jacobian(emp_score, x, t), empirical_score_hessian(x, t, data)),
                 "Gaussian": _rel_err(autograd_jacobian(gaussian.score, x, t), gaussian.hessian(x, t)),
                 "mixture": _rel_err(autograd_jacobian(aniso.score, x, t), aniso.hessian(x, t))}
        tweedie = -torch.eye(2, dtype=dt, device=device) / s2 + a * a / s2 ** 2 * mixture_posterior_cov(aniso, x, t)
        # the two terms are each of size ~1/s^2 and cancel; measure the error relative to that size
        found["mixture covariance identity"] = ((tweedie - aniso.hessian(x, t)).abs().max() * s2).item()
        lip = local_lipschitz(gaussian.hessian, x, t)
        found["Gaussian norm formula"] = (lip / gaussian_lipschitz(cov, t) - 1).abs().max().item()
        errors = {k: max(v, found[k]) for k, v in errors.items()}
    return errors


def _describe(net, data: torch.Tensor, law: GaussianMixture, config: HessianLipschitzConfig, seed: int) -> dict:
    """:func:`.networks.evaluate_score_net` at ``config.net_times`` (probe points from ``seed``), plus the weights' sizes."""
    out = evaluate_score_net(net, data, law.score, config.net_times, num_points=config.eval_points,
                             generator=make_generator(seed, data.device))
    return {**out, "spectral_norm_product": net.spectral_norm_product(), "num_parameters": net.num_parameters()}


def _train(config: HessianLipschitzConfig, sets: torch.Tensor, decays, schedule, checkpoint):
    return train_networks(sets.float(), decays, width=config.net_width, depth=config.net_depth, steps=config.net_steps,
                          batch_size=config.batch_size, lr=config.lr, schedule=schedule, seed=1, checkpoint=checkpoint)


def _networks(config: HessianLipschitzConfig, law: GaussianMixture, device, workdir) -> dict:
    """Part 3: a net per (seed, weight decay), evaluated on its seed's training set (the same probes for every decay)."""
    sets = torch.stack([law.sample(config.n, make_generator(r, device)) for r in range(config.net_seeds)])
    nets = _train(config, sets, config.weight_decays, config.schedule,
                  None if workdir is None else Path(workdir) / "networks.pt")
    runs = []
    for r, (data, row) in enumerate(zip(sets, nets)):
        search = lipschitz_vs_time(data, config.net_times, num_restarts=config.restarts, steps=config.search_steps,
                                   generator=make_generator(200 + r, device))
        runs.append({"seed": r, "empirical_lipschitz": search.empirical_max.tolist(),
                     "by_decay": [_describe(net, data, law, config, 100 + r) for net in row]})
    return {"times": list(config.net_times), "weight_decays": list(config.weight_decays),
            "schedule": list(config.schedule), "true_lipschitz": [square_mixture_lipschitz(t) for t in config.net_times],
            "runs": runs}


def _probe(config: HessianLipschitzConfig, law: GaussianMixture, device, workdir) -> dict:
    """The earlier schedule (``config.probe_schedule``), no decay, seed 0's training set and probe points."""
    data = law.sample(config.n, make_generator(0, device))
    net = _train(config, data[None], (0.0,), config.probe_schedule,
                 None if workdir is None else Path(workdir) / "probe.pt")[0][0]
    return {"schedule": list(config.probe_schedule), "run": _describe(net, data, law, config, 100)}


def run(config: HessianLipschitzConfig, *, device=None, progress: bool = False, workdir=None) -> dict:
    """Parts 1-3; with ``workdir`` the networks' training checkpoints and evaluations are kept there (resumable).

    One generator (seed 0) draws, in this order, the data, part 1's noise and part 2's searches; the
    networks' training sets, initialisations, training and evaluation use generators of their own.
    """
    decays = config.weight_decays
    if len(decays) < 2 or decays[0] != 0 or any(w <= 0 for w in decays[1:]):
        raise ValueError(f"weight_decays must be (0, then decays > 0), got {decays}")
    if config.net_seeds < 2:
        raise ValueError(f"net_seeds must be >= 2 (paired intervals), got {config.net_seeds}")
    device = torch.device("cpu") if device is None else torch.device(device)
    cache = StageCache(workdir, config=config) if workdir is not None else None
    gen = make_generator(0, device)
    law = data_law(device)
    data = law.sample(config.n, gen)
    i, j, d_min = closest_pairs(data, 1)
    errors = _formula_errors(data, law, config.check_times, gen)

    times = torch.logspace(-6, 0, config.sweep_times).tolist()
    mi, mj, _ = closest_pairs(law.means)                    # all pairs of component means
    true_starts = torch.cat([law.sample(config.true_starts, gen), 0.5 * (law.means[mi] + law.means[mj])])
    sweep = lipschitz_vs_time(data, times, true_hessian=law.hessian, true_starts=true_starts,
                              num_restarts=config.restarts, steps=config.search_steps, generator=gen, progress=progress)

    def stage(name, compute):
        return compute() if cache is None else cache.get(name, compute)

    probe = stage("probe", lambda: _probe(config, law, device, workdir))
    networks = stage("networks", lambda: _networks(config, law, device, workdir))
    return {
        "n": config.n, "data": data.tolist(), "closest_pair": [i.item(), j.item()], "d_min": d_min.item(),
        "errors": errors, "sweep": {k: v.tolist() for k, v in asdict(sweep).items()},
        "constants": small_t_constants(data), "true_closed_form": [square_mixture_lipschitz(t) for t in times],
        "net_width": config.net_width, "net_depth": config.net_depth, "net_steps": config.net_steps,
        "networks": networks, "probe": probe,
    }


def small_t_summary(results: dict) -> dict:
    """Part 2 against the exact small-t constant ``E`` (what :func:`.figures.plot_small_t_constant` draws), per time:
    ``scaled = s_t^4 L / a_t^2`` of the largest constant found, ``exact_form = E - s_t^2/a_t^2``, and the
    relative gaps ``limit_err = |scaled - E| / E`` and ``exact_err = |L - (a_t^2 E/s_t^4 - 1/s_t^2)| / L``."""
    sw, E = results["sweep"], results["constants"]["delaunay"]
    times, emp = sw["times"], sw["empirical_max"]
    scaled = [L * sigma(t) ** 4 / alpha(t) ** 2 for L, t in zip(emp, times)]
    exact = [two_point_midpoint_lipschitz(2 * math.sqrt(E), t) for t in times]
    return {"times": times, "scaled": scaled, "exact_form": [E - sigma(t) ** 2 / alpha(t) ** 2 for t in times],
            "limit_err": [abs(v - E) / E for v in scaled],
            "exact_err": [abs(L - x) / L for L, x in zip(emp, exact)], "constants": results["constants"]}


def _fits(results: dict) -> dict:
    """Part 2: exponents in ``s_t`` over ``t <= SMALL_T``, the search against the exact small-t forms, the true score."""
    sw, summary = results["sweep"], small_t_summary(results)
    small = [k for k, t in enumerate(sw["times"]) if t <= SMALL_T]
    s = [sw["s"][k] for k in small]
    emp, mid, ref, true = (sw[k] for k in ("empirical_max", "closest_midpoint", "reference", "true_max"))
    slope = lambda y: power_law_fit(s, [y[k] for k in small])["exponent"]
    rel = lambda x, y: abs(x - y) / abs(y)
    first = min(range(len(sw["times"])), key=lambda k: sw["times"][k])
    attained = [k for k, t in enumerate(sw["times"]) if t < TRUE_ATTAINED_T]
    return {"slope_max": slope(emp), "slope_mid": slope(mid), "slope_ratio": slope([e / u for e, u in zip(emp, true)]),
            "ratio_emp_true": emp[first] / true[first], "true_sup": max(true),
            "scaled_first": summary["scaled"][first], "limit_err": summary["limit_err"][first],
            "exact_err": max(summary["exact_err"][k] for k in small),
            "mid_err": max(rel(mid[k], two_point_midpoint_lipschitz(results["d_min"], sw["times"][k])) for k in small),
            "true_err": max(rel(true[k], results["true_closed_form"][k]) for k in attained) if attained else math.inf}


def share_below(schedule, u: float) -> float:
    """The share of training times below ``u`` under ``schedule = (distribution, t0, T)`` (uniform or log-uniform)."""
    distribution, t0, T = schedule
    u = min(max(u, t0), T)
    if distribution == "uniform":
        return (u - t0) / (T - t0)
    if distribution == "log_uniform":
        return math.log(u / t0) / math.log(T / t0)
    raise ValueError(f"schedule distribution must be 'uniform' or 'log_uniform', got {distribution!r}")


def _small(times) -> list[int]:
    """Indices of the times of ``FOLLOW_TIMES`` (part 3's "small t"); empty unless all of them were evaluated."""
    found = [j for j, t in enumerate(times) if any(abs(t - u) <= 1e-12 * u for u in FOLLOW_TIMES)]
    return found if len(found) == len(FOLLOW_TIMES) else []


def verdict(results: dict) -> dict[str, bool]:
    """The chapter's claims: formulas in float64; the ``s_t^-4`` law with its Delaunay constant; the true score's
    closed form; part 3's schedule follows the empirical score, and what each weight decay does (paired intervals)."""
    e, f, nets = results["errors"], _fits(results), results["networks"]
    small, when = _small(nets["times"]), "t = " + ", ".join(f"{t:g}" for t in FOLLOW_TIMES)
    runs, probe = nets["runs"], results["probe"]
    below = lambda p: p["ci95"][1] < 0
    above = lambda p: p["ci95"][0] > 0
    claims = {
        **{f"autograd Jacobian == analytic Hessian: {k}": e[k] < CHECK_TOL for k in ("empirical", "Gaussian", "mixture")},
        "mixture Hessian == -I/s^2 + (a^2/s^4) Cov (err < 1e-10 of 1/s^2)": e["mixture covariance identity"] < CHECK_TOL,
        "Gaussian |Hessian|_2 == 1/(s^2 + a^2 lambda_min) (rel. err < 1e-10)": e["Gaussian norm formula"] < CHECK_TOL,
        "fitted exponent (largest found, t <= 1e-4) within 0.05 of -4": abs(f["slope_max"] + 4) < SLOPE_TOL,
        "fitted exponent (closest midpoint, t <= 1e-4) within 0.05 of -4": abs(f["slope_mid"] + 4) < SLOPE_TOL,
        "closest midpoint == a^2 Dmin^2/(4 s^4) - 1/s^2 (rel. err < 1e-9, t <= 1e-4)": f["mid_err"] < EXACT_TOL,
        "s^4 L / a^2 at t = 1e-6 == max Delaunay |x_k - x_l|^2 / 4 (rel. err < 1e-5)": f["limit_err"] < LIMIT_TOL,
        "largest found == a^2 E/s^4 - 1/s^2, E the Delaunay constant (rel. err < 1e-9, t <= 1e-4)":
            f["exact_err"] < EXACT_TOL,
        "true score constant == closed form max((a^2 - c)/c^2, 1/c) (rel. err < 1e-9, t < 0.2)": f["true_err"] < EXACT_TOL,
        "largest true score constant over t within 1e-3 of 12 (its supremum, t -> 0)": abs(f["true_sup"] - TRUE_SUP) < 1e-3,
        "fitted exponent of empirical / true (t <= 1e-4) within 0.05 of -4": abs(f["slope_ratio"] + 4) < SLOPE_TOL,
        f"probe, earlier schedule, no decay: follows the empirical score at none of {when}":
            bool(small) and not any(follows(probe["run"])[j] for j in small),
        f"no weight decay: follows the empirical score at {when} in every seed":
            bool(small) and all(follows(run["by_decay"][0])[j] for run in runs for j in small),
        "every net less steep than the empirical score at every t": all(
            L < emp for run in runs for r in run["by_decay"] for L, emp in zip(r["lipschitz"], run["empirical_lipschitz"])),
    }
    for k, (label, eff) in enumerate(decay_effects(nets).items(), start=1):
        claims.update({
            f"weight decay {label}: smaller prod |W_l|_2 (95% paired interval below 0)": below(eff["log_spectral_product"]),
            f"weight decay {label}: lower measured Lipschitz constant at {when} (95% paired intervals below 0)":
                bool(small) and all(below(eff["log_lipschitz"][j]) for j in small),
            f"weight decay {label}: farther from the empirical score at {when} (95% paired intervals above 0)":
                bool(small) and all(above(eff["rel_mse_empirical"][j]) for j in small),
            f"weight decay {label}: closer to the true score at {when} (95% paired intervals below 0)":
                bool(small) and all(below(eff["rel_mse_true"][j]) for j in small),
            f"weight decay {label}: follows the empirical score at {when} in no seed":
                bool(small) and not any(follows(run["by_decay"][k])[j] for run in runs for j in small),
        })
    return claims


def facts(results: dict) -> dict:
    """Every number the chapter's prose glues (``ch05_*``), rounded to the digits the prose shows."""
    f, e, c, nets = _fits(results), results["errors"], results["constants"], results["networks"]
    sig = lambda x, digits: float(f"{x:.{digits}g}")
    small, runs = _small(nets["times"]), nets["runs"]
    j0 = small[0] if small else 0
    interval = lambda p, fmt: f"{p['mean_diff']:{fmt}} [{p['ci95'][0]:{fmt}}, {p['ci95'][1]:{fmt}}]"
    factor = lambda p: f"{math.exp(p['mean_diff']):.2g} [{math.exp(p['ci95'][0]):.2g}, {math.exp(p['ci95'][1]):.2g}]"
    followed = lambda k: sum(follows(run["by_decay"][k])[j] for run in runs for j in small)
    rel_emp = lambda r: r["mse_empirical"][j0] / r["mse_empirical_true"][j0]
    out = {
        "ch05_max_autograd_err": sig(max(e["empirical"], e["Gaussian"], e["mixture"]), 2),
        "ch05_dmin": round(results["d_min"], 3),
        "ch05_slope_max": round(f["slope_max"], 4), "ch05_slope_mid": round(f["slope_mid"], 4),
        "ch05_mid_err": sig(f["mid_err"], 2), "ch05_ratio_emp_true": sig(f["ratio_emp_true"], 2),
        "ch05_true_sup": sig(f["true_sup"], 7), "ch05_true_err": sig(f["true_err"], 2),
        "ch05_slope_ratio": round(f["slope_ratio"], 3),
        "ch05_delaunay": sig(c["delaunay"], 10), "ch05_scaled_min": sig(f["scaled_first"], 10),
        "ch05_limit_err": sig(f["limit_err"], 2), "ch05_limit_digits": round(-math.log10(f["limit_err"]), 1),
        "ch05_exact_err": sig(f["exact_err"], 2), "ch05_gabriel": sig(c["gabriel"], 4),
        "ch05_min_const": sig(c["min_distance"], 3), "ch05_diam_const": sig(c["diameter"], 4),
        "ch05_delaunay_over_min": sig(c["delaunay"] / c["min_distance"], 3),
        "ch05_width": results["net_width"], "ch05_depth": results["net_depth"], "ch05_steps": results["net_steps"],
        "ch05_params": runs[0]["by_decay"][0]["num_parameters"], "ch05_seeds": len(runs),
        "ch05_follow_fraction": FOLLOW_FRACTION, "ch05_small_t": ", ".join(f"{t:g}" for t in FOLLOW_TIMES),
        "ch05_t_small": nets["times"][j0],
        "ch05_probe_rel": sig(rel_emp(results["probe"]["run"]), 2),
        "ch05_base_rel_max": sig(max(run["by_decay"][0]["mse_empirical"][j] / run["by_decay"][0]["mse_empirical_true"][j]
                                     for run in runs for j in small), 2) if small else math.nan,
        "ch05_emp_over_net": sig(min(run["empirical_lipschitz"][j0] / run["by_decay"][0]["lipschitz"][j0]
                                     for run in runs), 2),
        "ch05_cases": len(runs) * len(small), "ch05_base_follow": followed(0),
        "ch05_probe_share": sig(100 * share_below(results["probe"]["schedule"], FOLLOW_TIMES[-1]), 2),
        "ch05_share": sig(100 * share_below(nets["schedule"], FOLLOW_TIMES[-1]), 2),
    }
    for k, (label, eff) in enumerate(decay_effects(nets).items(), start=1):
        out.update({f"ch05_wd{k}": label, f"ch05_wd{k}_prod": factor(eff["log_spectral_product"]),
                    f"ch05_wd{k}_lip": factor(eff["log_lipschitz"][j0]),
                    f"ch05_wd{k}_emp": interval(eff["rel_mse_empirical"][j0], "+.3f"),
                    f"ch05_wd{k}_true": interval(eff["rel_mse_true"][j0], "+.3f"), f"ch05_wd{k}_follow": followed(k)})
    return out
