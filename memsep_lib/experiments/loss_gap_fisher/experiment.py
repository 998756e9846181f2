"""Proposition 4.1 checked numerically: ``Loss-Gap_t = Fisher(P^_t, P_t)`` on a grid of ``(t, d)``.

For a Gaussian mixture ``P`` (whose noised score ``grad log p_t`` is exact) and ``n`` training
points drawn from it, each cell ``(model, d, t)`` compares two independent Monte-Carlo estimates:

    Loss-Gap_t      = (1/n) sum_i [ l_t(x_i, score) - l_t(x_i, grad log p^_t) ]     (memsep_lib.losses.loss_gap)
    Fisher(P^_t, P_t) = E_{X ~ P^_t} | grad log p^_t(X) - grad log p_t(X) |^2         (memsep_lib.losses.fisher_divergence)

with ``z = (LG - F) / sqrt(se_LG^2 + se_F^2)``. ``score`` is the true score by default; a different
one (``score_for``) makes the Loss-Gap that of another score, which the check must flag. The Fisher
side always uses the true score: it is a divergence between the two laws.

Also here: the Fisher divergence taken under the *true* law, ``E_{X ~ P_t} |grad log p^_t - grad log p_t|^2``,
which Proposition 4.1 is *not* about (:func:`fisher_under_true_law`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Callable, Sequence

import torch

from .config import by_profile, get_device
from .losses import MonteCarloEstimate, fisher_divergence, loss_gap
from .mixtures import GaussianMixture, well_separated_mixture
from .process import add_noise
from .scores import empirical_score
from .validation import check_points, check_positive_int, check_time

__all__ = [
    "MODELS",
    "make_model",
    "Prop41Config",
    "prop41_config",
    "Prop41Row",
    "Prop41Result",
    "bonferroni_z",
    "prop41_check",
    "fisher_under_true_law",
    "fisher_asymmetry",
]

MODELS = ("gaussian", "mixture")


def make_model(name: str, d: int, *, generator: torch.Generator | None = None,
               dtype=torch.float64, device=None) -> GaussianMixture:
    """The two test laws in ``R^d``.

    ``"gaussian"``: one Gaussian ``N(0, diag(lambda))``, ``lambda`` log-spaced in ``[1/4, 4]``.
    ``"mixture"``: :func:`memsep_lib.mixtures.well_separated_mixture` with ``K = 4``, unit component
    covariance and ``Delta_min = 2 sqrt(d)``.
    """
    check_positive_int(d, "d")
    if name == "gaussian":
        lam = torch.logspace(math.log10(0.25), math.log10(4.0), d, dtype=torch.float64) if d > 1 \
            else torch.ones(1, dtype=torch.float64)
        return GaussianMixture(torch.zeros(1, d, dtype=torch.float64),
                               torch.diag(lam)[None]).to(device, dtype)
    if name == "mixture":
        return well_separated_mixture(4, d, separation=2.0, generator=generator, dtype=dtype, device=device)
    raise ValueError(f"name must be one of {MODELS}, got {name!r}")


@dataclass(frozen=True)
class Prop41Config:
    """Sizes of the Proposition 4.1 check: times ``ts``, dimensions ``ds``, ``n`` training points,
    ``num_samples`` Monte-Carlo draws per estimate, base ``seed``, per-cell threshold ``z_threshold``
    and the family-wise level ``family_alpha`` of the Bonferroni bound."""

    ts: tuple = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
    ds: tuple = (2, 8, 32, 64)
    models: tuple = MODELS
    n: int = 128
    num_samples: int = 2048
    seed: int = 0
    z_threshold: float = 3.0
    family_alpha: float = 0.01

    def __post_init__(self):
        if not self.ts or any(check_time(t, "ts") != t for t in self.ts):
            raise ValueError(f"ts must be a non-empty tuple of positive floats, got {self.ts}")
        if not self.ds:
            raise ValueError("ds must be non-empty")
        for d in self.ds:
            check_positive_int(d, "ds")
        for m in self.models:
            if m not in MODELS:
                raise ValueError(f"models must be drawn from {MODELS}, got {m!r}")
        check_positive_int(self.n, "n")
        check_positive_int(self.num_samples, "num_samples")
        if not (self.z_threshold > 0 and 0 < self.family_alpha < 1):
            raise ValueError("z_threshold must be > 0 and family_alpha in (0, 1)")

    @property
    def num_cells(self) -> int:
        return len(self.models) * len(self.ds) * len(self.ts)


def prop41_config(profile: str | None = None) -> Prop41Config:
    """The check's sizes for the active (or given) profile; the one place they are set."""
    return by_profile(
        ci=Prop41Config(),
        cpu=Prop41Config(ts=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0),
                         ds=(2, 8, 32, 64, 128, 256), n=1024, num_samples=32768),
        paper=Prop41Config(ts=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0),
                           ds=(2, 8, 32, 64, 128, 256, 512, 1024), n=5000, num_samples=131072),
        profile=profile)


@dataclass(frozen=True)
class Prop41Row:
    """One cell: ``loss_gap`` and ``fisher`` estimates with standard errors, and ``z`` of their difference."""

    model: str
    d: int
    t: float
    loss_gap: float
    loss_gap_se: float
    fisher: float
    fisher_se: float
    z: float

    def as_dict(self) -> dict:
        return dict(model=self.model, d=self.d, t=self.t, loss_gap=self.loss_gap, loss_gap_se=self.loss_gap_se,
                    fisher=self.fisher, fisher_se=self.fisher_se, z=self.z)


def bonferroni_z(num_tests: int, family_alpha: float) -> float:
    """Two-sided per-test bound ``z`` with ``P(max_k |Z_k| > z) <= family_alpha`` for ``num_tests`` normal ``Z_k``."""
    check_positive_int(num_tests, "num_tests")
    if not 0 < family_alpha < 1:
        raise ValueError(f"family_alpha must be in (0, 1), got {family_alpha}")
    return NormalDist().inv_cdf(1 - family_alpha / (2 * num_tests))


@dataclass(frozen=True)
class Prop41Result:
    """All cells of the check, with the verdicts.

    ``all_agree``: every ``|z| <= z_threshold`` (3 SE). Under Proposition 4.1 each ``z`` is close to
    ``N(0, 1)``, so ``expected_beyond = num_cells * P(|N(0,1)| > z_threshold)`` cells are expected
    beyond it by chance alone; ``all_agree_family`` uses the Bonferroni bound ``family_z`` instead,
    which all cells exceed together with probability at most ``family_alpha``.
    """

    rows: tuple
    z_threshold: float
    family_alpha: float
    config: Prop41Config | None = field(default=None, compare=False)

    @property
    def num_cells(self) -> int:
        return len(self.rows)

    @property
    def max_abs_z(self) -> float:
        return max(abs(r.z) for r in self.rows)

    @property
    def num_beyond(self) -> int:
        """Cells with ``|z| > z_threshold``."""
        return sum(abs(r.z) > self.z_threshold for r in self.rows)

    @property
    def all_agree(self) -> bool:
        return self.num_beyond == 0

    @property
    def expected_beyond(self) -> float:
        return self.num_cells * 2 * (1 - NormalDist().cdf(self.z_threshold))

    @property
    def family_z(self) -> float:
        return bonferroni_z(self.num_cells, self.family_alpha)

    @property
    def all_agree_family(self) -> bool:
        return all(abs(r.z) <= self.family_z for r in self.rows)

    def verdict(self) -> str:
        """Machine-stable verdict lines (booleans, counts, rounded thresholds)."""
        return "\n".join([
            f"cells (model x d x t): {self.num_cells}",
            f"all agree within {self.z_threshold:g} SE: {self.all_agree}",
            f"cells beyond {self.z_threshold:g} SE: {self.num_beyond} "
            f"(expected by chance alone: {self.expected_beyond:.2f})",
            f"all agree within the family-wise bound {self.family_z:.2f} SE "
            f"(Bonferroni, alpha {self.family_alpha:g}): {self.all_agree_family}",
        ])

    def to_markdown(self) -> str:
        """The table, one row per cell, as Markdown."""
        lines = ["| model | d | t | Loss-Gap (± SE) | Fisher (± SE) | z |", "|---|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            flag = " **!**" if abs(r.z) > self.z_threshold else ""
            lines.append(f"| {r.model} | {r.d} | {r.t:g} | {r.loss_gap:.4g} ± {r.loss_gap_se:.2g} "
                         f"| {r.fisher:.4g} ± {r.fisher_se:.2g} | {r.z:+.2f}{flag} |")
        return "\n".join(lines)


def _generator(seed: int, device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def prop41_check(config: Prop41Config | None = None, *,
                 score_for: Callable[[GaussianMixture], Callable] | None = None,
                 device=None, dtype=torch.float64) -> Prop41Result:
    """Run the grid of ``config`` (default :func:`prop41_config`) and return a :class:`Prop41Result`.

    For each model and ``d`` one mixture and one training set (``n`` points) are drawn; for each ``t``
    the Loss-Gap of ``score_for(mixture)`` (default: the true score ``mixture.score``) and the Fisher
    divergence ``Fisher(P^_t, P_t)`` are estimated with two independent generators. Seeds derive from
    ``config.seed`` and the cell's position only.
    """
    config = prop41_config() if config is None else config
    if not isinstance(config, Prop41Config):
        raise TypeError(f"config must be a Prop41Config, got {type(config).__name__}")
    if score_for is not None and not callable(score_for):
        raise TypeError("score_for must be callable as score_for(mixture) -> score_fn")
    device = get_device() if device is None else torch.device(device)
    rows = []
    for mi, name in enumerate(config.models):
        for di, d in enumerate(config.ds):
            base = 1_000_003 * config.seed + 10_007 * mi + 101 * di
            gen = _generator(base, device)
            mixture = make_model(name, d, generator=gen, dtype=dtype, device=device)
            data = mixture.sample(config.n, gen)
            score_fn = mixture.score if score_for is None else score_for(mixture)
            for ti, t in enumerate(config.ts):
                cell = 2 * (base + ti) + 1
                lg = loss_gap(data, score_fn, t, num_samples=config.num_samples,
                              generator=_generator(cell, device))
                fd = fisher_divergence(data, mixture.score, t, num_samples=config.num_samples,
                                       generator=_generator(cell + 1_000_000_007, device))
                se = math.hypot(lg.stderr, fd.stderr)
                rows.append(Prop41Row(name, d, float(t), lg.value, lg.stderr, fd.value, fd.stderr,
                                      (lg.value - fd.value) / se))
    return Prop41Result(tuple(rows), config.z_threshold, config.family_alpha, config)


def fisher_under_true_law(data: torch.Tensor, mixture: GaussianMixture, t, *, num_samples: int,
                          generator: torch.Generator | None = None, batch_size: int = 4096) -> MonteCarloEstimate:
    """``E_{X ~ P_t} |grad log p^_t(X) - grad log p_t(X)|^2``: the squared score gap under the *true* law.

    ``X = a_t X_0 + s_t Z`` with ``X_0`` drawn from ``mixture`` (fresh, not the training points).
    """
    t = check_time(t)
    check_points(data, "data", dim=mixture.dim)
    check_positive_int(num_samples, "num_samples")
    values = []
    for start in range(0, num_samples, batch_size):
        x0 = mixture.sample(min(batch_size, num_samples - start), generator)
        x_t, _ = add_noise(x0, t, generator=generator)
        diff = empirical_score(x_t, t, data).double() - mixture.score(x_t, t).double()
        values.append((diff * diff).sum(1))
    v = torch.cat(values)
    return MonteCarloEstimate(v.mean().item(), v.std().item() / math.sqrt(v.numel()), v.numel())


def fisher_asymmetry(data: torch.Tensor, mixture: GaussianMixture, ts: Sequence[float], *, num_samples: int,
                     seed: int = 0) -> list[dict]:
    """For each ``t``: ``E_{P^_t}`` (:func:`memsep_lib.losses.fisher_divergence`) and ``E_{P_t}``
    (:func:`fisher_under_true_law`) of ``|grad log p^_t - grad log p_t|^2``, with standard errors and their ratio."""
    out = []
    for k, t in enumerate(ts):
        emp = fisher_divergence(data, mixture.score, t, num_samples=num_samples,
                                generator=_generator(2 * (seed + k), data.device))
        true = fisher_under_true_law(data, mixture, t, num_samples=num_samples,
                                     generator=_generator(2 * (seed + k) + 1, data.device))
        out.append(dict(t=float(t), empirical_law=emp.value, empirical_law_se=emp.stderr,
                        true_law=true.value, true_law_se=true.stderr, ratio=true.value / emp.value))
    return out
