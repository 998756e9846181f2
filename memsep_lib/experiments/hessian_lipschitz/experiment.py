"""Chapter 5 measured: the empirical score's Lipschitz constant grows like ``s_t^-4``, the true score's stays bounded.

Data: ``n`` points from ``P_0 = (1/4) sum_k N(mu_k, I/4)``, ``mu_k = (+-1, +-1)``, in float64. Parts:
(1) analytic Hessians against autograd Jacobians, and ``grad^2 log p_t = -I/s_t^2 + (a_t^2/s_t^4) Cov``;
(2) the largest local Lipschitz constant against ``t`` (:func:`lipschitz_vs_time`) and its ``s_t^-4`` law;
(3) two score networks trained with and without weight decay (:func:`evaluate_score_net`), against
the Lipschitz constants of the empirical and the true score.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial

import torch

from memsep_lib.config import make_generator
from memsep_lib.fits import power_law_fit
from memsep_lib.lipschitz import MatrixFn, autograd_jacobian, jacobian_fn, local_lipschitz, maximize_local_lipschitz
from memsep_lib.mixtures import GaussianMixture
from memsep_lib.nets import ScoreMLP
from memsep_lib.process import add_noise, alpha, sigma
from memsep_lib.progress import progress_bar
from memsep_lib.results import StageCache
from memsep_lib.scores import empirical_score, empirical_score_hessian
from memsep_lib.training import train_score_net
from memsep_lib.validation import check_points, check_positive_int, check_time

from .theory import (closest_pairs, empirical_hessian_fn, empirical_lipschitz_scale, gaussian_lipschitz,
                     mixture_posterior_cov, pair_midpoints)

__all__ = ["NAME", "DESCRIPTION", "COST", "HessianLipschitzConfig", "CONFIGS", "data_law", "LipschitzSweep",
           "lipschitz_vs_time", "score_mse", "evaluate_score_net", "run", "network_regimes", "network_table",
           "verdict", "facts"]

NAME = "hessian_lipschitz"
DESCRIPTION = ("Hessian of log p_t as a posterior covariance: empirical-score Lipschitz constant ~ s_t^-4, "
               "true score bounded; score networks with and without weight decay")
COST = {
    "ci": {"minutes": 0.9, "hardware": "1 CPU thread",
           "basis": "measured: 54 s wall, 41 s CPU (CLI, 1 thread, shared machine under load)"},
    "cpu": {"minutes": 6, "hardware": "1 CPU thread",
            "basis": "estimate: ci parts scaled by the sizes (training 20x, searches ~9x), not measured"},
    "paper": {"minutes": 15, "hardware": "1 GPU",
              "basis": "estimate: 2 x 100k training steps at a few ms each plus the searches, not measured"},
}
CHECK_TOL = 1e-10          # float64 agreement of the analytic formulas
SLOPE_TOL = 0.05           # fitted exponent in s_t within this of -4
SMALL_T = 1e-4             # the asymptotic regime of the fits: s_t^2 <= 1e-4 << Delta^2
STEEP_FACTOR = 20          # "small-t regime": the empirical constant exceeds the true one this many times


@dataclass(frozen=True, kw_only=True)
class HessianLipschitzConfig:
    """Sizes of the chapter: the training set, the Lipschitz searches, the two trained networks."""

    n: int = 16                                        # training points
    check_times: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 0.1, 0.5, 2.0)   # part 1
    sweep_times: int                                   # part 2: times log-spaced in [1e-6, 1]
    true_starts: int = 48                              # samples of P_0 starting the true-score search
    restarts: int                                      # noised training points starting each search
    search_steps: int
    net_width: int                                     # part 3
    net_depth: int
    net_steps: int
    batch_size: int
    lr: float = 2e-3
    t0: float = 1e-3                                   # training times t ~ U[t0, T]
    T: float = 2.0
    eval_points: int                                   # noised training points probing each net, per time
    weight_decays: tuple[float, ...] = (0.0, 0.5)      # AdamW decoupled weight decay of the two networks
    net_times: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3)         # where the networks are evaluated


CONFIGS = {
    "ci": HessianLipschitzConfig(sweep_times=13, restarts=32, search_steps=40, net_width=128, net_depth=3,
                                 net_steps=2000, batch_size=256, eval_points=512),
    "cpu": HessianLipschitzConfig(sweep_times=25, restarts=256, search_steps=100, net_width=128, net_depth=3,
                                  net_steps=20000, batch_size=512, eval_points=4096),
    "paper": HessianLipschitzConfig(sweep_times=49, restarts=1024, search_steps=200, net_width=256, net_depth=4,
                                    net_steps=100000, batch_size=1024, eval_points=16384),
}


def data_law(device=None) -> GaussianMixture:
    """``P_0 = (1/4) sum_k N(mu_k, I/4)`` with ``mu_k = (+-1, +-1)``, float64."""
    means = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], dtype=torch.float64, device=device)
    return GaussianMixture(means, 0.25 * torch.eye(2, dtype=torch.float64, device=device).expand(4, 2, 2).clone())


@dataclass(frozen=True)
class LipschitzSweep:
    """Lipschitz constants across times (all tensors of shape ``(len(times),)``, float64, CPU).

    - ``closest_midpoint``: the empirical score's local constant at the midpoint of the closest pair;
    - ``empirical_max``: the largest local constant found by ``maximize_local_lipschitz`` from all
      pair midpoints and noised training points;
    - ``reference``: ``s_t^-4 min_{i != j} |x_i - x_j|^2``;
    - ``true_max``: the same search on the true score (NaN when no true Hessian was given).
    """

    times: torch.Tensor
    s: torch.Tensor
    closest_midpoint: torch.Tensor
    empirical_max: torch.Tensor
    reference: torch.Tensor
    true_max: torch.Tensor


def lipschitz_vs_time(data: torch.Tensor, times, *, true_hessian: MatrixFn | None = None,
                      true_starts: torch.Tensor | None = None, num_restarts: int = 32, steps: int = 40,
                      num_carried: int = 32, true_step_size: float = 0.1,
                      generator: torch.Generator | None = None, progress: bool = False) -> LipschitzSweep:
    """Empirical (and, optionally, true) score Lipschitz constants at each time in ``times``.

    Empirical search starts: the midpoints ``a_t (x_i + x_j)/2`` of all pairs, ``num_restarts``
    noised training points ``a_t x_i + s_t z``, and (continuation) the ``num_carried`` best points
    found at the next larger time, rescaled by the ratio of the ``a_t``. Times are searched from
    the largest down: at small ``t`` the weights away from a Voronoi boundary underflow and the
    gradient vanishes, while at a larger ``t`` the ascent can still reach the boundary between
    two far-apart neighbours, where the steepest points lie. True-score search starts:
    ``a_t y + s_t z`` for the rows ``y`` of ``true_starts`` (data-space points, e.g. samples of
    ``P_0`` and midpoints of component means), with initial step ``true_step_size``.
    """
    check_points(data, "data")
    check_positive_int(num_restarts, "num_restarts")
    if isinstance(num_carried, bool) or not isinstance(num_carried, int) or num_carried < 0:
        raise ValueError(f"num_carried must be an int >= 0, got {num_carried!r}")
    times = [check_time(float(t)) for t in times]
    if not times:
        raise ValueError("times must contain at least one time")
    if true_hessian is not None:
        if true_starts is None:
            raise ValueError("true_starts is required with true_hessian")
        check_points(true_starts, "true_starts", dim=data.shape[1])
    hess = empirical_hessian_fn(data)
    n, d = data.shape
    device, dtype = data.device, data.dtype
    keys = ("closest_midpoint", "empirical_max", "reference", "true_max")
    rows = {k: [math.nan] * len(times) for k in keys}
    carried = data[:0]                                      # data-space points (x / a_t) carried over
    order = sorted(range(len(times)), key=lambda k: -times[k])
    for k in progress_bar(order, enabled=progress, desc="Lipschitz search"):
        t = times[k]
        a, s = alpha(t), sigma(t)
        mids = pair_midpoints(data, t)                      # sorted: the closest pair first
        idx = torch.randint(n, (num_restarts,), generator=generator, device=device)
        z = torch.randn(num_restarts, d, generator=generator, device=device, dtype=dtype)
        starts = torch.cat([mids, a * data[idx] + s * z, a * carried])
        search = maximize_local_lipschitz(hess, starts, t, steps=steps)
        if num_carried:
            best = torch.argsort(search.values, descending=True)[:num_carried]
            carried = search.points[best] / a
        rows["closest_midpoint"][k] = local_lipschitz(hess, mids[:1], t).item()
        rows["empirical_max"][k] = search.value
        rows["reference"][k] = empirical_lipschitz_scale(data, t)
        if true_hessian is not None:
            zt = torch.randn(true_starts.shape, generator=generator, device=device, dtype=dtype)
            tstarts = a * true_starts.to(device, dtype) + s * zt
            rows["true_max"][k] = maximize_local_lipschitz(true_hessian, tstarts, t, steps=steps,
                                                           step_size=true_step_size).value
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float64)
    return LipschitzSweep(times=as_tensor(times), s=as_tensor([sigma(t) for t in times]),
                          **{k: as_tensor(v) for k, v in rows.items()})


@torch.no_grad()
def score_mse(score_fn, reference_fn, x: torch.Tensor, t) -> float:
    """``mean_b |score_fn(x_b, t) - reference_fn(x_b, t)|^2`` over the rows of ``x`` (computed in float64)."""
    check_points(x, "x")
    if not (callable(score_fn) and callable(reference_fn)):
        raise TypeError("score_fn and reference_fn must be callable as f(x, t)")
    a, b = score_fn(x, t), reference_fn(x, t)
    if a.shape != x.shape or b.shape != x.shape:
        raise ValueError(f"both score functions must return tensors of shape {tuple(x.shape)}")
    return ((a.double() - b.double()) ** 2).sum(1).mean().item()


def evaluate_score_net(net: ScoreMLP, data: torch.Tensor, true_score, times, *, num_points: int = 512,
                       generator: torch.Generator | None = None) -> dict[str, list[float]]:
    """Lipschitz constant and distances to the empirical and true scores of a trained net, per time.

    At each ``t``, probe points are ``num_points`` noised training points ``a_t x_i + s_t z`` (drawn
    with ``generator``) plus all pair midpoints ``a_t (x_i + x_j)/2``; ``data`` (float64 advised)
    defines the empirical score. Returns lists (one entry per time) under the keys

    - ``lipschitz``: ``max`` over probes of ``|grad_x s_theta|_2`` (autograd), a lower bound on the
      net's Lipschitz constant; ``lipschitz_bound``: :meth:`ScoreMLP.lipschitz_bound`;
    - ``mse_empirical``, ``mse_true``: ``E |s_theta - s|^2`` over the noised training points for the
      empirical and the true score; ``mse_empirical_true``: ``E |escore - score|^2`` (the
      Fisher-divergence gap between the two targets, same points).
    """
    if not isinstance(net, ScoreMLP):
        raise TypeError(f"net must be a ScoreMLP, got {type(net).__name__}")
    check_points(data, "data", dim=net.dim)
    check_positive_int(num_points, "num_points")
    param = next(net.parameters())
    net_fn = lambda x, t: net(x.to(param.dtype), t).to(x.dtype)
    emp_fn = lambda x, t: empirical_score(x, t, data)
    out = {k: [] for k in ("times", "lipschitz", "lipschitz_bound", "mse_empirical", "mse_true",
                           "mse_empirical_true")}
    for t in times:
        t = check_time(float(t))
        idx = torch.randint(data.shape[0], (num_points,), generator=generator, device=data.device)
        x, _ = add_noise(data[idx], t, generator=generator)
        probes = torch.cat([x, pair_midpoints(data, t)])
        out["times"].append(t)
        out["lipschitz"].append(local_lipschitz(jacobian_fn(net_fn), probes, t).max().item())
        out["lipschitz_bound"].append(net.lipschitz_bound(t))
        out["mse_empirical"].append(score_mse(net_fn, emp_fn, x, t))
        out["mse_true"].append(score_mse(net_fn, true_score, x, t))
        out["mse_empirical_true"].append(score_mse(emp_fn, true_score, x, t))
    return out


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Worst relative Frobenius error over the batch."""
    return ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).max().item()


def _formula_errors(data: torch.Tensor, law: GaussianMixture, times,
                    generator: torch.Generator) -> tuple[dict, torch.Tensor]:
    """Part 1: worst errors of the analytic formulas at noised training points and close-pair midpoints.

    The laws: the empirical one, an anisotropic three-component mixture on ``law``'s first means, and
    ``N(mu_1, Sigma)``; returns the errors and ``Sigma``.
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
    return errors, cov


def _train_and_evaluate(config: HessianLipschitzConfig, data: torch.Tensor, law: GaussianMixture,
                        weight_decay: float, progress: bool) -> dict:
    """Part 3 for one network: DSM training on ``data`` (float32), then :func:`evaluate_score_net`."""
    device = data.device
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(0)             # identical initialisation for every network
        net = ScoreMLP(2, config.net_width, config.net_depth, 32).to(device)
    log = train_score_net(net, data.float(), steps=config.net_steps, batch_size=config.batch_size, lr=config.lr,
                          weight_decay=weight_decay, t0=config.t0, T=config.T,
                          generator=make_generator(1, device), progress=progress)
    out = evaluate_score_net(net, data, law.score, config.net_times, num_points=config.eval_points,
                             generator=make_generator(2, device))
    return {**out, "final_loss": log.losses[-1], "spectral_norm_product": net.spectral_norm_product(),
            "num_parameters": net.num_parameters()}


def run(config: HessianLipschitzConfig, *, device=None, progress: bool = False, workdir=None) -> dict:
    """Parts 1-3; with ``workdir`` each trained network's evaluation is kept there and a rerun skips it.

    One generator (seed 0) draws, in this order, the data, part 1's noise, part 2's and the networks'
    Lipschitz searches; the networks' training and evaluation use generators of their own.
    """
    if len(config.weight_decays) != 2 or not 0 <= config.weight_decays[0] < config.weight_decays[1]:
        raise ValueError(f"weight_decays must be (without, with) weight decay, got {config.weight_decays}")
    device = torch.device("cpu") if device is None else torch.device(device)
    cache = StageCache(workdir, config=config) if workdir is not None else None
    gen = make_generator(0, device)
    law = data_law(device)
    data = law.sample(config.n, gen)
    i, j, d_min = closest_pairs(data, 1)
    errors, cov = _formula_errors(data, law, config.check_times, gen)

    times = torch.logspace(-6, 0, config.sweep_times).tolist()
    mi, mj, _ = closest_pairs(law.means)                    # all pairs of component means
    true_starts = torch.cat([law.sample(config.true_starts, gen), 0.5 * (law.means[mi] + law.means[mj])])
    search = dict(true_hessian=law.hessian, true_starts=true_starts, num_restarts=config.restarts,
                  steps=config.search_steps, generator=gen, progress=progress)
    sweep = lipschitz_vs_time(data, times, **search)

    networks = {}
    for wd in config.weight_decays:
        compute = partial(_train_and_evaluate, config, data, law, wd, progress)
        networks[f"weight decay {wd:g}"] = compute() if cache is None else cache.get(f"network_wd{wd:g}", compute)
    net_sweep = lipschitz_vs_time(data, config.net_times, **search)
    lam_min = torch.linalg.eigvalsh(cov)[0].item()
    return {
        "n": config.n, "data": data.tolist(), "closest_pair": [i.item(), j.item()], "d_min": d_min.item(),
        "errors": errors,
        "sweep": {k: v.tolist() for k, v in asdict(sweep).items()},
        "gaussian": {"lipschitz": [gaussian_lipschitz(cov, t) for t in times], "bound": max(1.0, 1 / lam_min)},
        "net_width": config.net_width, "net_depth": config.net_depth, "net_steps": config.net_steps,
        "net_times": list(config.net_times), "networks": networks,
        "net_sweep": {k: getattr(net_sweep, k).tolist() for k in ("empirical_max", "true_max")},
    }


def _fits(results: dict) -> dict:
    """Exponents in ``s_t`` over ``t <= SMALL_T`` and the ratios at the smallest ``t``."""
    sw = results["sweep"]
    small = [k for k, t in enumerate(sw["times"]) if t <= SMALL_T]
    s = [sw["s"][k] for k in small]
    emp, mid, ref, true = (sw[k] for k in ("empirical_max", "closest_midpoint", "reference", "true_max"))
    slope = lambda y: power_law_fit(s, [y[k] for k in small])["exponent"]
    return {"slope_max": slope(emp), "slope_mid": slope(mid), "slope_ratio": slope([e / u for e, u in zip(emp, true)]),
            "ratio_mid": mid[0] / ref[0], "ratio_max": emp[0] / ref[0], "ratio_emp_true": emp[0] / true[0],
            "true_sup": max(true)}


def network_regimes(results: dict) -> dict:
    """Part 3 by time: ``steep`` (empirical constant > ``STEEP_FACTOR`` x true), where the weight-decayed net
    (the second) is less steep (``wd_lower``) or, within ``steep``, closer to the true score (``wd_closer``),
    and per net the times where it is closer to the empirical than to the true score."""
    times, nets = results["net_times"], results["networks"]
    emp, true = results["net_sweep"]["empirical_max"], results["net_sweep"]["true_max"]
    r0, r1 = list(nets.values())[:2]
    steep = [k for k in range(len(times)) if emp[k] > STEEP_FACTOR * true[k]]
    return {"steep": [times[k] for k in steep],
            "wd_lower": [t for k, t in enumerate(times) if r1["lipschitz"][k] < r0["lipschitz"][k]],
            "wd_closer": [times[k] for k in steep if r1["mse_true"][k] < r0["mse_true"][k]],
            "wd_lower_when_steep": all(r1["lipschitz"][k] < r0["lipschitz"][k] for k in steep),
            "closer_to_empirical": {name: [t for k, t in enumerate(r["times"]) if r["mse_empirical"][k] < r["mse_true"][k]]
                                    for name, r in nets.items()}}


def network_table(results: dict) -> str:
    """Part 3 as a markdown table: one row per network and time."""
    emp, true = results["net_sweep"]["empirical_max"], results["net_sweep"]["true_max"]
    header = ("| network | $t$ | measured Lip. | bound $\\prod\\|W_l\\|_2/s_t$ | Lip. empirical score | Lip. true score "
              "| MSE to empirical | MSE to true | empirical vs true |\n|---|---|---|---|---|---|---|---|---|\n")
    return header + "\n".join(
        f"| {name} | {t:g} | {r['lipschitz'][k]:.3g} | {r['lipschitz_bound'][k]:.3g} | {emp[k]:.3g} | {true[k]:.3g} | "
        f"{r['mse_empirical'][k]:.3g} | {r['mse_true'][k]:.3g} | {r['mse_empirical_true'][k]:.3g} |"
        for name, r in results["networks"].items() for k, t in enumerate(r["times"]))


def verdict(results: dict) -> dict[str, bool]:
    """The chapter's claims: the formulas hold in float64; ``s_t^-4`` law of the empirical constant, true one
    bounded; the networks obey their spectral-norm bound and weight decay makes them less steep."""
    e, sw, g, f = results["errors"], results["sweep"], results["gaussian"], _fits(results)
    nets = list(results["networks"].values())
    emp, regimes = results["net_sweep"]["empirical_max"], network_regimes(results)
    return {
        **{f"autograd Jacobian == analytic Hessian: {k}": e[k] < CHECK_TOL for k in ("empirical", "Gaussian", "mixture")},
        "mixture Hessian == -I/s^2 + (a^2/s^4) Cov (err < 1e-10 of 1/s^2)": e["mixture covariance identity"] < CHECK_TOL,
        "Gaussian |Hessian|_2 == 1/(s^2 + a^2 lambda_min) (rel. err < 1e-10)": e["Gaussian norm formula"] < CHECK_TOL,
        "fitted exponent (largest found, t <= 1e-4) within 0.05 of -4": abs(f["slope_max"] + 4) < SLOPE_TOL,
        "fitted exponent (closest midpoint, t <= 1e-4) within 0.05 of -4": abs(f["slope_mid"] + 4) < SLOPE_TOL,
        "closest-midpoint constant / (s^-4 Dmin^2) -> 1/4 (within 1%)": abs(f["ratio_mid"] - 0.25) < 0.0025,
        "largest found >= closest midpoint at every t":
            all(a >= b * (1 - 1e-12) for a, b in zip(sw["empirical_max"], sw["closest_midpoint"])),
        "true score constant bounded by 13 at every t (sup of |Hessian log p_0| = 12)": all(v < 13 for v in sw["true_max"]),
        "fitted exponent of empirical / true (t <= 1e-4) within 0.05 of -4": abs(f["slope_ratio"] + 4) < SLOPE_TOL,
        "Gaussian |Hessian|_2 <= max(1, 1/lambda_min) at every t": max(g["lipschitz"]) <= g["bound"],
        "measured Lipschitz <= spectral-norm bound (both nets, all t)":
            all(l <= b for r in nets for l, b in zip(r["lipschitz"], r["lipschitz_bound"])),
        "weight decay lowers the spectral-norm product by > 2x":
            nets[1]["lipschitz_bound"][0] < 0.5 * nets[0]["lipschitz_bound"][0],
        "both nets less steep than the empirical score at every t":
            all(r["lipschitz"][k] < emp[k] for r in nets for k in range(len(emp))),
        "in the small-t regime: weight decay lowers the measured constant": regimes["wd_lower_when_steep"],
    }


def facts(results: dict) -> dict:
    """Every number the chapter's prose glues (``ch05_*``), rounded to the digits the prose shows."""
    f, e, regimes = _fits(results), results["errors"], network_regimes(results)
    r0, r1 = list(results["networks"].values())[:2]
    sig = lambda x, digits: float(f"{x:.{digits}g}")
    times = lambda ts: ", ".join(f"{t:g}" for t in ts)
    return {
        "ch05_max_autograd_err": sig(max(e["empirical"], e["Gaussian"], e["mixture"]), 2),
        "ch05_dmin": round(results["d_min"], 3),
        "ch05_slope_max": round(f["slope_max"], 4), "ch05_slope_mid": round(f["slope_mid"], 4),
        "ch05_ratio_mid": round(f["ratio_mid"], 4), "ch05_ratio_max": sig(f["ratio_max"], 3),
        "ch05_ratio_emp_true": sig(f["ratio_emp_true"], 2), "ch05_true_sup": sig(f["true_sup"], 3),
        "ch05_slope_ratio": round(f["slope_ratio"], 3),
        "ch05_width": results["net_width"], "ch05_depth": results["net_depth"],
        "ch05_params": r0["num_parameters"],
        "ch05_wd_factor": sig(r0["spectral_norm_product"] / r1["spectral_norm_product"], 2),
        "ch05_steep_times": times(regimes["steep"]), "ch05_wd_lower_times": times(regimes["wd_lower"]),
        "ch05_net_t0": results["net_times"][0], "ch05_wd_closer_times": times(regimes["wd_closer"]) or "none",
        "ch05_emp_over_net": sig(results["net_sweep"]["empirical_max"][0] / r0["lipschitz"][0], 2),
    }
