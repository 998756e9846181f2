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

In units of the quadratic term at ``eps = 1`` the change is ``eps^2 + tau eps`` with the *tilt*
``tau = first-order term / quadratic term`` (:func:`tilt`), so some perturbation lowers the loss iff
``|tau| > min |eps|``. For a score ``s`` that is not the minimiser, random constant and smooth fields
have ``|tau| = O(s_t)`` (``s - s^`` varies on the scale ``s_t`` near each point), and the check loses its
power as ``t -> 0``; the field ``v = s_t s`` (the scaling ``s -> (1 + eps) s``) keeps ``|tau|`` of order one.
The control (``control_time_factor``) runs the same study on a wrong score, the empirical score of time
``2t``, and must fail it.
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
from memsep_lib.process import add_noise, alpha, sigma
from memsep_lib.progress import progress_bar
from memsep_lib.results import StageCache
from memsep_lib.scores import empirical_log_prob, empirical_score
from memsep_lib.stats import bonferroni_z
from memsep_lib.validation import check_bool, check_points, check_positive_int, check_score_output, check_time

__all__ = ["NAME", "DESCRIPTION", "COST", "DSMMinimiserConfig", "CONFIGS", "constant_fields", "smooth_random_fields",
           "time_scaled_score", "perturbation_study", "first_order_z", "tilt", "resolved", "max_relative_deviation",
           "all_increase", "perturbation_table", "autograd_score", "gradient_check", "run", "verdict", "facts"]

NAME = "dsm_minimiser"
DESCRIPTION = ("Chapter 1: perturbing the empirical score raises the empirical DSM loss (no first-order term), "
               "a wrong score fails the same check; empirical_score is the gradient of empirical_log_prob")
COST = {
    "ci": {"minutes": 0.2, "hardware": "2 CPU cores",
           "basis": "measured: 2 s for the run (control included) on a loaded shared machine"},
    "cpu": {"minutes": 8, "hardware": "1 CPU thread",
            "basis": "measured: 475 s (perturbations and control 75 s, gradient check 400 s, 1 thread) on a "
                     "loaded shared machine"},
    "paper": {"minutes": 20, "hardware": "1 GPU", "basis": "estimate: the cpu time scaled by the sizes (~500x "
                                                           "work) at ~200x the speed; not measured"},
}


VectorField = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class DSMMinimiserConfig:
    """Sizes of Chapter 1's checks.

    Perturbations: ``pert_n`` points of a 3-component well-separated mixture in ``R^pert_d``,
    ``pert_fields`` constant and as many smooth fields ``v`` plus the score's own direction, sizes ``eps``,
    ``pert_noise`` paired draws per point, times ``pert_ts``; the first-order z-scores are tested at
    family-wise level ``family_alpha``, except where the tilt is below ``resolution`` (float64 rounding:
    the posterior is one-hot and ``g - s^`` is rounding error). The control repeats the study on the
    empirical score of time ``control_time_factor * t``.
    Gradient check: ``grad_n`` standard normal points in each ``d`` of ``grad_ds``; per ``t`` of ``grad_ts``,
    ``grad_queries`` noised training points and as many far points; passes below scaled error ``grad_tol``
    (:func:`gradient_check`; an ``n``-term float64 sum is exact to ``n * 2.2e-16 <= 1.8e-12`` for ``n <= 8192``).
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
    grad_tol: float = 1e-11
    resolution: float = 1e-12
    control_time_factor: float = 2.0

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
        if not (self.z_threshold > 0 and 0 < self.family_alpha < 1 and self.grad_tol > 0 and self.resolution > 0):
            raise ValueError("z_threshold, grad_tol and resolution must be > 0 and family_alpha in (0, 1)")
        if not (math.isfinite(self.control_time_factor) and self.control_time_factor > 0
                and self.control_time_factor != 1):
            raise ValueError(f"control_time_factor must be a positive number other than 1, "
                             f"got {self.control_time_factor}")


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


def time_scaled_score(data: torch.Tensor, factor: float):
    """A wrong score for the control: ``s(x, t) = grad log p^_{factor t}(x)``, the empirical score of another time."""
    check_points(data, "data")
    if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be a positive finite number, got {factor!r}")
    return lambda x, t: empirical_score(x, factor * t, data)


def _reuse_at(x_ref: torch.Tensor, value: torch.Tensor, score_fn):
    """``score_fn`` that returns the precomputed ``value`` when called at exactly ``x_ref``."""
    def score(x, t):
        if x.shape == x_ref.shape and torch.equal(x, x_ref):
            return value
        return score_fn(x, t)
    return score


def perturbation_study(data: torch.Tensor, t, fields: Sequence[VectorField], eps: Sequence[float], *,
                       num_noise: int, generator: torch.Generator | None = None, score_fn=None,
                       score_direction: bool = True) -> dict:
    """Perturb a score ``s`` by ``eps v / s_t`` for each field ``v`` and each ``eps``, on the same ``num_noise``
    draws per point.

    ``score_fn(x, t)`` is the score under test, by default the empirical score of ``data`` (the minimiser,
    written ``s^`` below); with ``score_direction`` the last field is ``v = s_t s`` (``s -> (1 + eps) s``).
    Returns ``{"t", "eps", "base_loss", "increase", "increase_se", "quadratic", "first_order", "first_order_se",
    "score_direction"}``: ``increase[k][j]`` is the Monte-Carlo ``L_t(s + eps_j v_k / s_t) - L_t(s)`` (standard
    error ``increase_se``), ``quadratic[k][j] = (eps_j^2 / s_t^2) mean |v_k(X_t)|^2`` and
    ``first_order[k] = -(2/s_t) mean (g - s).v_k`` over the same draws, so that
    ``increase = quadratic + eps * first_order``; ``base_loss = L_t(s)``.
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
    if score_fn is None:
        def score_fn(x, tt):
            return empirical_score(x, tt, data)
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable as score_fn(x, t), got {type(score_fn).__name__}")
    check_bool(score_direction, "score_direction")
    dev = generator.device if generator is not None else data.device
    noise = torch.randn(num_noise, *data.shape, generator=generator, dtype=data.dtype, device=dev).to(data.device)
    x0, z = data.repeat(num_noise, 1), noise.reshape(-1, data.shape[1])
    x_t, _ = add_noise(x0, t, noise=z)
    s_t = sigma(t)
    # dsm_loss forms X_t = a_t x0 + s_t z itself, identical to x_t: the score is computed once.
    s_hat = check_score_output(score_fn(x_t, t), x_t, t=t, name="score_fn")
    emp = _reuse_at(x_t, s_hat, score_fn)
    if score_direction:
        fields = fields + [lambda x: s_t * emp(x, t)]
    base = dsm_loss(emp, x0, t, noise=z)
    increase, increase_se, quadratic, first_order, first_order_se = [], [], [], [], []
    residual = (-z / s_t - s_hat).double()                                   # g - s per draw
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
            "first_order_se": first_order_se, "score_direction": score_direction}


def first_order_z(study: dict) -> list[float]:
    """``first_order / first_order_se`` per field: about ``N(0, 1)`` at the minimiser (``inf`` if ``se = 0``)."""
    return [m / se if se > 0 else (0.0 if m == 0 else math.copysign(math.inf, m))
            for m, se in zip(study["first_order"], study["first_order_se"])]


def tilt(study: dict) -> list[float]:
    """``tau_k = first_order_k / (quadratic_k / eps^2)`` per field: the loss change is ``(eps^2 + tau_k eps)`` times
    ``E|v_k|^2 / s_t^2``: ``eps`` lowers the loss iff ``0 < -eps tau_k`` and ``|eps| < |tau_k|``, so with a
    symmetric set of sizes some ``eps`` lowers it iff ``|tau_k| > min |eps|``."""
    e = study["eps"][0]
    return [m / (q[0] / e ** 2) for m, q in zip(study["first_order"], study["quadratic"])]


def resolved(study: dict, resolution: float) -> list[bool]:
    """Per field: ``|tilt| > resolution``; below it the first-order term is float64 rounding, not sampling error."""
    return [abs(tau) > resolution for tau in tilt(study)]


def max_relative_deviation(study: dict) -> float:
    """``max |increase / quadratic - 1|``: the sampled cross term relative to the quadratic term."""
    return max(abs(i / q - 1) for ri, rq in zip(study["increase"], study["quadratic"]) for i, q in zip(ri, rq))


def all_increase(study: dict, *, generic_only: bool = False) -> bool:
    """Every perturbation (every field, every ``eps``) raises the loss (``generic_only``: the random fields only)."""
    rows = study["increase"][:-1] if generic_only and study["score_direction"] else study["increase"]
    return all(i > 0 for row in rows for i in row)


def _resolved_zs(study: dict, resolution: float) -> list[float]:
    return [z for z, ok in zip(first_order_z(study), resolved(study, resolution)) if ok]


def _max_abs_z(study: dict, resolution: float) -> float | None:
    """The largest ``|z|`` among the resolved fields of ``study`` (None if none is resolved)."""
    return max(map(abs, _resolved_zs(study, resolution)), default=None)


def perturbation_table(studies: Sequence[dict], controls: Sequence[dict], resolution: float) -> str:
    """One Markdown row per time, for the empirical score and the control: largest ``|tilt|``, ``|z|``, all increase."""
    def z_text(st):
        z = _max_abs_z(st, resolution)
        return "rounding" if z is None else f"{z:.3g}"

    lines = ["| $t$ | DSM loss of $\\widehat s$ | max $\\lvert\\tau\\rvert$ | max $\\lvert z\\rvert$ | all increase "
             "| control: max $\\lvert\\tau\\rvert$ | control: max $\\lvert z\\rvert$ | control: all increase |",
             "|---:|---:|---:|---:|---|---:|---:|---|"]
    for st, ct in zip(studies, controls):
        lines.append(f"| {st['t']:g} | {st['base_loss']:.4g} | {max(map(abs, tilt(st))):.2g} | {z_text(st)} "
                     f"| {all_increase(st)} | {max(map(abs, tilt(ct))):.3g} | {z_text(ct)} | {all_increase(ct)} |")
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
    """Autograd of ``empirical_log_prob`` against ``empirical_score`` per ``(d, t)``: ``[{"d", "t", "max_rel_err",
    "max_scaled_err"}]``.

    ``max_rel_err = max |auto - lib| / |lib|``; ``max_scaled_err = max |auto - lib| / ((|x| + a_t max_i |x_i|) / s_t^2)``,
    the error relative to the size of the two terms whose difference the score is (``(a_t m(x) - x) / s_t^2``
    with ``m`` a convex combination of the ``x_i``): float64 resolves the score to about ``1e-16`` of that,
    however small ``|lib|`` is (between two training points at small ``t`` it nearly vanishes).
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
            err = (auto - lib).norm(dim=1)
            scale = (x.norm(dim=1) + alpha(t) * data.norm(dim=1).max()) / sigma(t) ** 2
            cases.append({"d": d, "t": float(t), "max_rel_err": (err / lib.norm(dim=1)).max().item(),
                          "max_scaled_err": (err / scale).max().item()})
    return cases


def _perturbations(config: DSMMinimiserConfig, device, progress: bool) -> dict:
    g = make_generator(config.pert_seed, device)
    mixture = well_separated_mixture(3, config.pert_d, generator=g, device=device)
    data = mixture.sample(config.pert_n, g)
    fields = (constant_fields(config.pert_d, config.pert_fields, generator=g)
              + smooth_random_fields(config.pert_d, config.pert_fields, generator=g))
    wrong = time_scaled_score(data, config.control_time_factor)
    g_control = make_generator(config.pert_seed + 1, device)
    studies, controls = [], []
    for t in progress_bar(config.pert_ts, enabled=progress, desc="perturbations"):
        studies.append(perturbation_study(data, t, fields, config.eps, num_noise=config.pert_noise, generator=g))
        controls.append(perturbation_study(data, t, fields, config.eps, num_noise=config.pert_noise,
                                           generator=g_control, score_fn=wrong))
    return {"num_fields": len(fields) + 1, "num_draws": config.pert_n * config.pert_noise, "studies": studies,
            "controls": controls}


def run(config: DSMMinimiserConfig, *, device=None, progress: bool = False, workdir=None) -> dict:
    """Both checks of the chapter and the control: ``{"perturbation", "gradient", "z_threshold", "family_alpha",
    "grad_tol", "resolution", "control_time_factor"}``."""
    if not isinstance(config, DSMMinimiserConfig):
        raise TypeError(f"config must be a DSMMinimiserConfig, got {type(config).__name__}")
    device = torch.device("cpu") if device is None else torch.device(device)
    cache = StageCache(workdir, config=config) if workdir is not None else None
    stage = (lambda name, compute: cache.get(name, compute)) if cache else (lambda name, compute: compute())
    return {"perturbation": stage("perturbation", lambda: _perturbations(config, device, progress)),
            "gradient": stage("gradient", lambda: gradient_check(config, device=device, progress=progress)),
            "z_threshold": config.z_threshold, "family_alpha": config.family_alpha, "grad_tol": config.grad_tol,
            "resolution": config.resolution, "control_time_factor": config.control_time_factor}


def _family_z(results: dict) -> float:
    """The Bonferroni bound over every (field, t) pair of the empirical score's studies."""
    studies = results["perturbation"]["studies"]
    return bonferroni_z(sum(len(st["first_order"]) for st in studies), results["family_alpha"])


def _detects(study: dict, family_z: float, resolution: float) -> bool:
    """Both checks fail on ``study``: some perturbation lowers the loss and some resolved ``|z|`` exceeds the bound."""
    return not all_increase(study) and any(abs(z) > family_z for z in _resolved_zs(study, resolution))


def verdict(results: dict) -> dict[str, bool]:
    """The chapter's claims: every perturbation raises the loss, no first-order term, both checks fail on the
    control at every ``t``, autograd agrees."""
    pert, res = results["perturbation"], results["resolution"]
    family_z = _family_z(results)
    return {
        "every perturbation raises the empirical DSM loss": all(all_increase(st) for st in pert["studies"]),
        "first-order term zero within the family-wise bound": all(abs(z) <= family_z for st in pert["studies"]
                                                                  for z in _resolved_zs(st, res)),
        "a wrong score (empirical score of another time) fails both checks at every t":
            all(_detects(ct, family_z, res) for ct in pert["controls"]),
        "empirical_score == autograd of empirical_log_prob": max(c["max_scaled_err"] for c in results["gradient"])
        < results["grad_tol"],
    }


def facts(results: dict) -> dict:
    """Every number the chapter prints or glues (``ch01_*``), rounded as shown."""
    pert, res = results["perturbation"], results["resolution"]
    studies, controls = pert["studies"], pert["controls"]
    zs = [z for st in studies for z in _resolved_zs(st, res)]
    num_eps, num_fields = len(studies[0]["eps"]), pert["num_fields"]
    min_eps = min(abs(e) for e in studies[0]["eps"])
    control_tilt = [max(map(abs, tilt(ct))) for ct in controls]
    blind = [ct["t"] for ct in controls if all_increase(ct, generic_only=True)]
    grad_ts = [c["t"] for c in results["gradient"]]
    return {
        "ch01_num_fields": num_fields,
        "ch01_num_eps": num_eps,
        "ch01_num_times": len(studies),
        "ch01_num_perturbations": num_fields * num_eps * len(studies),
        "ch01_max_dev": round(max(max_relative_deviation(st) for st in studies), 3),
        "ch01_num_draws": pert["num_draws"],
        "ch01_max_first_z": round(max(map(abs, zs), default=0.0), 2),
        "ch01_num_first": len(zs),
        "ch01_num_rounding": sum(len(st["first_order"]) for st in studies) - len(zs),
        "ch01_resolution": f"{res:.0e}",
        "ch01_family_z": round(_family_z(results), 2),
        "ch01_num_beyond": sum(abs(z) > results["z_threshold"] for z in zs),
        "ch01_min_eps": min_eps,
        "ch01_max_tilt": float(f"{max(max(map(abs, tilt(st))) for st in studies):.2g}"),
        "ch01_control_time": f"{results['control_time_factor']:g}t",
        "ch01_control_min_tilt": round(min(control_tilt), 3),
        "ch01_control_min_z": round(min(_max_abs_z(ct, res) or 0.0 for ct in controls), 1),
        "ch01_control_blind": ", ".join(f"{t:g}" for t in blind) if blind else "none",
        "ch01_num_grad_cases": len(results["gradient"]),
        "ch01_grad_t_min": min(grad_ts),
        "ch01_grad_t_max": max(grad_ts),
        "ch01_max_grad_err": float(f"{max(c['max_scaled_err'] for c in results['gradient']):.1e}"),
        "ch01_max_grad_rel_err": float(f"{max(c['max_rel_err'] for c in results['gradient']):.1e}"),
        "ch01_grad_tol": f"{results['grad_tol']:.0e}",
    }
