"""The empirical score as the minimiser of the empirical DSM loss (numerical checks of Chapter 1).

At one time ``t`` the empirical DSM loss of a score ``s`` is

    L_t(s) = (1/n) sum_i l_t(x_i, s),   l_t(x_i, s) = E_Z | -Z/s_t - s(a_t x_i + s_t Z, t) |^2,

and its global minimiser is the empirical score ``s^ = grad log p^_t``. For a perturbation
``s^ + eps v / s_t`` (``v`` a vector field, ``1/s_t`` the natural scale of a score) the exact change is

    L_t(s^ + eps v/s_t) - L_t(s^) = (eps^2 / s_t^2) E_{P^_t} |v|^2 - (2 eps / s_t) E[(g - s^) . v],

with ``g = -Z/s_t`` the conditional score; the second expectation is zero because
``E[g | X_t] = s^`` (first-order optimality), so the change is ``(eps^2/s_t^2) E_{P^_t}|v|^2 > 0``.
:func:`perturbation_study` measures the change by Monte Carlo with paired noise (every score sees
the same draws ``(i, Z)``), so the only sampling error left is that of the cross term, which
the study also reports with its standard error (a z-test of first-order optimality).
:func:`gradient_check` compares ``empirical_score`` with the autograd gradient of ``empirical_log_prob``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from memsep_lib.config import make_generator
from memsep_lib.losses import dsm_loss
from memsep_lib.mixtures import well_separated_mixture
from memsep_lib.process import add_noise, sigma
from memsep_lib.progress import progress_bar
from memsep_lib.results import StageCache
from memsep_lib.scores import empirical_log_prob, empirical_score
from memsep_lib.stats import bonferroni_z
from memsep_lib.validation import check_points, check_positive_int, check_time

__all__ = ["NAME", "DESCRIPTION", "COST", "DSMMinimiserConfig", "CONFIGS", "constant_fields", "smooth_random_fields",
           "perturbation_study", "first_order_z", "max_relative_deviation", "all_increase", "perturbation_table",
           "autograd_score", "gradient_check", "run", "verdict", "facts"]

NAME = "dsm_minimiser"
DESCRIPTION = ("Chapter 1: perturbing the empirical score raises the empirical DSM loss (no first-order term); "
               "empirical_score is the gradient of empirical_log_prob")
COST = {
    "ci": {"minutes": 0.2, "hardware": "2 CPU cores",
           "basis": "measured: 11 s (the chapter's cells at e63b9fe); 13 s on a loaded shared machine"},
    "cpu": {"minutes": 15, "hardware": "2 CPU cores",
            "basis": "estimate: one perturbation time (52 s) and one d = 128 gradient case (95 s), timed on a "
                     "loaded shared machine, scaled to the config; not measured"},
    "paper": {"minutes": 20, "hardware": "1 GPU", "basis": "estimate: the cpu estimate scaled by the sizes (~500x "
                                                           "work) at ~200x the speed; not measured"},
}

VectorField = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class DSMMinimiserConfig:
    """Sizes of Chapter 1's checks.

    Perturbations: ``pert_n`` points of a 3-component well-separated mixture in ``R^pert_d``,
    ``pert_fields`` constant and as many smooth fields ``v``, sizes ``eps``, ``pert_noise`` paired draws
    per point, times ``pert_ts``; the first-order z-scores are tested at family-wise level ``family_alpha``.
    Gradient check: ``grad_n`` standard normal points in each ``d`` of ``grad_ds``; per ``t`` of ``grad_ts``,
    ``grad_queries`` noised training points and as many far points; passes below relative error ``grad_tol``.
    """

    pert_n: int
    pert_d: int
    pert_noise: int
    pert_fields: int
    pert_ts: tuple
    grad_n: int
    grad_ds: tuple
    grad_queries: int
    grad_ts: tuple
    eps: tuple = (-1.0, -0.5, -0.25, 0.25, 0.5, 1.0)
    pert_seed: int = 1
    grad_seed: int = 2
    z_threshold: float = 3.0
    family_alpha: float = 0.01
    grad_tol: float = 1e-9

    def __post_init__(self):
        for name in ("pert_n", "pert_d", "pert_noise", "pert_fields", "grad_n", "grad_queries"):
            check_positive_int(getattr(self, name), name)
        for d in self.grad_ds:
            check_positive_int(d, "grad_ds")
        for name in ("pert_ts", "grad_ts"):
            if not getattr(self, name):
                raise ValueError(f"{name} must be non-empty")
            for t in getattr(self, name):
                check_time(t, name)
        if not self.grad_ds or not self.eps or any(e == 0 for e in self.eps):
            raise ValueError("grad_ds and eps must be non-empty, eps without zeros")
        if not (self.z_threshold > 0 and 0 < self.family_alpha < 1 and self.grad_tol > 0):
            raise ValueError("z_threshold and grad_tol must be > 0 and family_alpha in (0, 1)")


CONFIGS = {
    "ci": DSMMinimiserConfig(pert_n=32, pert_d=2, pert_noise=128, pert_fields=3, pert_ts=(1e-3, 1e-2, 1e-1, 1.0),
                             grad_n=64, grad_ds=(1, 2, 16), grad_queries=256, grad_ts=(1e-4, 1e-3, 1e-2, 1e-1, 1.0)),
    "cpu": DSMMinimiserConfig(pert_n=256, pert_d=8, pert_noise=256, pert_fields=6,
                              pert_ts=(1e-4, 1e-3, 1e-2, 1e-1, 1.0, 3.0), grad_n=1024, grad_ds=(1, 2, 16, 128),
                              grad_queries=2048, grad_ts=(1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)),
    "paper": DSMMinimiserConfig(pert_n=2048, pert_d=64, pert_noise=256, pert_fields=8,
                                pert_ts=(1e-4, 1e-3, 1e-2, 1e-1, 1.0, 3.0), grad_n=8192,
                                grad_ds=(1, 2, 16, 128, 1024), grad_queries=4096,
                                grad_ts=(1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)),
}


def constant_fields(d: int, num: int, *, generator: torch.Generator | None = None,
                    dtype=torch.float64, device=None) -> list[VectorField]:
    """``num`` constant unit vector fields ``v_k(x) = u_k`` with ``u_k`` uniform on the sphere of ``R^d``."""
    check_positive_int(d, "d")
    check_positive_int(num, "num")
    dev = generator.device if generator is not None else device
    u = torch.randn(num, d, generator=generator, dtype=dtype, device=dev)
    u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True)
    return [lambda x, uk=uk: uk.to(x).expand_as(x) for uk in u]


def smooth_random_fields(d: int, num: int, *, generator: torch.Generator | None = None,
                         dtype=torch.float64, device=None) -> list[VectorField]:
    """``num`` bounded, non-constant fields ``v_k(x) = tanh(W_k x + b_k)``, ``W_k ~ N(0, I/d)``, ``b_k ~ N(0, I)``."""
    check_positive_int(d, "d")
    check_positive_int(num, "num")
    dev = generator.device if generator is not None else device
    W = torch.randn(num, d, d, generator=generator, dtype=dtype, device=dev) / math.sqrt(d)
    b = torch.randn(num, d, generator=generator, dtype=dtype, device=dev)
    return [lambda x, Wk=Wk, bk=bk: torch.tanh(x @ Wk.to(x).T + bk.to(x)) for Wk, bk in zip(W, b)]


def _reuse_at(x_ref: torch.Tensor, value: torch.Tensor, score_fn):
    """``score_fn`` that returns the precomputed ``value`` when called at exactly ``x_ref``."""
    def score(x, t):
        if x.shape == x_ref.shape and torch.equal(x, x_ref):
            return value
        return score_fn(x, t)
    return score


def perturbation_study(data: torch.Tensor, t, fields: Sequence[VectorField], eps: Sequence[float], *,
                       num_noise: int, generator: torch.Generator | None = None) -> dict:
    """Perturb ``s^`` by ``eps v / s_t`` for each field ``v`` and each ``eps``, on the same ``num_noise`` draws per point.

    Returns ``{"t", "eps", "base_loss", "increase", "increase_se", "quadratic", "first_order", "first_order_se"}``:
    ``increase[k][j]`` is the Monte-Carlo ``L_t(s^ + eps_j v_k / s_t) - L_t(s^)`` (standard error ``increase_se``),
    ``quadratic[k][j] = (eps_j^2 / s_t^2) mean |v_k(X_t)|^2`` and ``first_order[k] = -(2/s_t) mean (g - s^).v_k``
    over the same draws, so that ``increase = quadratic + eps * first_order``; ``base_loss = L_t(s^)``.
    """
    t = check_time(t)
    check_points(data, "data")
    check_positive_int(num_noise, "num_noise")
    fields = list(fields)
    eps = tuple(float(e) for e in eps)
    if not fields or not all(callable(v) for v in fields):
        raise TypeError("fields must be a non-empty sequence of callables v(x) -> (B, d)")
    if not eps or any(e == 0 or not math.isfinite(e) for e in eps):
        raise ValueError(f"eps must be a non-empty sequence of finite non-zero numbers, got {eps}")
    dev = generator.device if generator is not None else data.device
    noise = torch.randn(num_noise, *data.shape, generator=generator, dtype=data.dtype, device=dev).to(data.device)
    x0, z = data.repeat(num_noise, 1), noise.reshape(-1, data.shape[1])
    x_t, _ = add_noise(x0, t, noise=z)
    s_t = sigma(t)
    # dsm_loss forms X_t = a_t x0 + s_t z itself, identical to x_t: the empirical score is computed once.
    s_hat = empirical_score(x_t, t, data)
    emp = _reuse_at(x_t, s_hat, lambda x, tt: empirical_score(x, tt, data))
    base = dsm_loss(emp, x0, t, noise=z)
    increase, increase_se, quadratic, first_order, first_order_se = [], [], [], [], []
    residual = (-z / s_t - s_hat).double()                                   # g - s^ per draw
    for k, v in enumerate(fields):
        vx = v(x_t)
        if not isinstance(vx, torch.Tensor) or vx.shape != x_t.shape:
            raise ValueError(f"fields[{k}] must return a tensor of shape {tuple(x_t.shape)}")
        mean_sq = (vx * vx).sum(1).double().mean().item() / s_t ** 2
        lin = -(2 / s_t) * (residual * vx.double()).sum(1)
        first_order.append(lin.mean().item())
        first_order_se.append((lin.std() / math.sqrt(lin.numel())).item())
        diffs = [(dsm_loss(lambda x, tt, e=e: emp(x, tt) + (e / s_t) * v(x), x0, t, noise=z) - base).double()
                 for e in eps]
        increase.append([diff.mean().item() for diff in diffs])
        increase_se.append([(diff.std() / math.sqrt(diff.numel())).item() for diff in diffs])
        quadratic.append([e * e * mean_sq for e in eps])
    return {"t": t, "eps": list(eps), "base_loss": base.double().mean().item(), "increase": increase,
            "increase_se": increase_se, "quadratic": quadratic, "first_order": first_order,
            "first_order_se": first_order_se}


def first_order_z(study: dict) -> list[float]:
    """``first_order / first_order_se`` per field: approximately ``N(0, 1)`` at the minimiser."""
    return [m / se for m, se in zip(study["first_order"], study["first_order_se"])]


def max_relative_deviation(study: dict) -> float:
    """``max |increase / quadratic - 1|``: the sampled cross term relative to the quadratic term."""
    return max(abs(i / q - 1) for ri, rq in zip(study["increase"], study["quadratic"]) for i, q in zip(ri, rq))


def all_increase(study: dict) -> bool:
    """Every perturbation (every field, every ``eps``) raises the loss."""
    return all(i > 0 for row in study["increase"] for i in row)


def perturbation_table(studies: Sequence[dict]) -> str:
    """One Markdown row per time: loss of ``s^``, smallest increase, range of ``increase / quadratic``."""
    lines = ["| $t$ | DSM loss of $\\widehat s$ | smallest increase | min increase / quadratic "
             "| max increase / quadratic | all increase |", "|---:|---:|---:|---:|---:|---|"]
    for st in studies:
        ratios = [i / q for ri, rq in zip(st["increase"], st["quadratic"]) for i, q in zip(ri, rq)]
        lines.append(f"| {st['t']:g} | {st['base_loss']:.4g} | {min(min(r) for r in st['increase']):.3g} "
                     f"| {min(ratios):.3f} | {max(ratios):.3f} | {all_increase(st)} |")
    return "\n".join(lines)


def autograd_score(log_prob_fn, x: torch.Tensor, t) -> torch.Tensor:
    """``grad_x log_prob_fn(x, t)`` by automatic differentiation, shape ``(B, d)`` (``log_prob_fn`` -> ``(B,)``)."""
    if not callable(log_prob_fn):
        raise TypeError(f"log_prob_fn must be callable as log_prob_fn(x, t), got {type(log_prob_fn).__name__}")
    check_points(x, "x")
    x = x.detach().clone().requires_grad_(True)
    out = log_prob_fn(x, t)
    if not isinstance(out, torch.Tensor) or out.shape != (x.shape[0],):
        raise ValueError(f"log_prob_fn must return a tensor of shape ({x.shape[0]},)")
    (grad,) = torch.autograd.grad(out.sum(), x)
    return grad


def gradient_check(config: DSMMinimiserConfig, *, device=None, progress: bool = False) -> list[dict]:
    """``max |autograd grad log p^_t - empirical_score| / |empirical_score|`` per ``(d, t)``: ``[{"d", "t", "max_rel_err"}]``.

    Queries: noised training points ``a_t x_i + s_t z`` and far points ``2 N(0, I)``.
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    g = make_generator(config.grad_seed, device)
    cases = []
    for d in progress_bar(config.grad_ds, enabled=progress, desc="gradient check"):
        data = torch.randn(config.grad_n, d, generator=g, dtype=torch.float64, device=device)
        for t in config.grad_ts:
            idx = torch.randint(0, config.grad_n, (config.grad_queries,), generator=g, device=device)
            near, _ = add_noise(data[idx], t, generator=g)
            far = 2 * torch.randn(config.grad_queries, d, generator=g, dtype=torch.float64, device=device)
            x = torch.cat([near, far])
            auto = autograd_score(lambda xx, tt: empirical_log_prob(xx, tt, data), x, t)
            lib = empirical_score(x, t, data)
            cases.append({"d": d, "t": float(t),
                          "max_rel_err": ((auto - lib).norm(dim=1) / lib.norm(dim=1)).max().item()})
    return cases


def _perturbations(config: DSMMinimiserConfig, device, progress: bool) -> dict:
    g = make_generator(config.pert_seed, device)
    mixture = well_separated_mixture(3, config.pert_d, generator=g, device=device)
    data = mixture.sample(config.pert_n, g)
    fields = (constant_fields(config.pert_d, config.pert_fields, generator=g)
              + smooth_random_fields(config.pert_d, config.pert_fields, generator=g))
    studies = [perturbation_study(data, t, fields, config.eps, num_noise=config.pert_noise, generator=g)
               for t in progress_bar(config.pert_ts, enabled=progress, desc="perturbations")]
    return {"num_fields": len(fields), "num_draws": config.pert_n * config.pert_noise, "studies": studies}


def run(config: DSMMinimiserConfig, *, device=None, progress: bool = False, workdir=None) -> dict:
    """Both checks of the chapter: ``{"perturbation", "gradient", "z_threshold", "family_alpha", "grad_tol"}``."""
    if not isinstance(config, DSMMinimiserConfig):
        raise TypeError(f"config must be a DSMMinimiserConfig, got {type(config).__name__}")
    device = torch.device("cpu") if device is None else torch.device(device)
    cache = StageCache(workdir, config=config) if workdir is not None else None
    stage = (lambda name, compute: cache.get(name, compute)) if cache else (lambda name, compute: compute())
    return {"perturbation": stage("perturbation", lambda: _perturbations(config, device, progress)),
            "gradient": stage("gradient", lambda: gradient_check(config, device=device, progress=progress)),
            "z_threshold": config.z_threshold, "family_alpha": config.family_alpha, "grad_tol": config.grad_tol}


def _first_order_zs(results: dict) -> list[float]:
    return [z for st in results["perturbation"]["studies"] for z in first_order_z(st)]


def verdict(results: dict) -> dict[str, bool]:
    """The chapter's claims: every perturbation raises the loss, no first-order term, autograd agrees."""
    zs = _first_order_zs(results)
    family_z = bonferroni_z(len(zs), results["family_alpha"])
    return {
        "every perturbation raises the empirical DSM loss": all(all_increase(st)
                                                                for st in results["perturbation"]["studies"]),
        "first-order term zero within the family-wise bound": all(abs(z) <= family_z for z in zs),
        "empirical_score == autograd of empirical_log_prob": max(c["max_rel_err"] for c in results["gradient"])
        < results["grad_tol"],
    }


def facts(results: dict) -> dict:
    """Every number the chapter prints or glues (``ch01_*``), rounded as shown."""
    studies = results["perturbation"]["studies"]
    zs = _first_order_zs(results)
    num_eps, num_fields = len(studies[0]["eps"]), results["perturbation"]["num_fields"]
    grad_ts = [c["t"] for c in results["gradient"]]
    return {
        "ch01_num_fields": num_fields,
        "ch01_num_eps": num_eps,
        "ch01_num_times": len(studies),
        "ch01_num_perturbations": num_fields * num_eps * len(studies),
        "ch01_max_dev": round(max(max_relative_deviation(st) for st in studies), 3),
        "ch01_num_draws": results["perturbation"]["num_draws"],
        "ch01_max_first_z": round(max(abs(z) for z in zs), 2),
        "ch01_num_first": len(zs),
        "ch01_family_z": round(bonferroni_z(len(zs), results["family_alpha"]), 2),
        "ch01_num_beyond": sum(abs(z) > results["z_threshold"] for z in zs),
        "ch01_num_grad_cases": len(results["gradient"]),
        "ch01_grad_t_min": min(grad_ts),
        "ch01_grad_t_max": max(grad_ts),
        "ch01_max_grad_err": float(f"{max(c['max_rel_err'] for c in results['gradient']):.1e}"),
    }
