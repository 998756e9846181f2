"""The Fisher information of a noised law and the third estimator of E_D[Loss-Gap_t]: J(P^_t) - J(P_t)."""

import math

import numpy as np
import pytest
import torch

from memsep_lib.losses import dsm_loss, fisher_divergence, fisher_information, fisher_information_gap, loss_gap
from memsep_lib.mixtures import GaussianMixture
from memsep_lib.process import sigma
from memsep_lib.scores import empirical_score


def _gaussian(d, var):
    return GaussianMixture(torch.zeros(1, d, dtype=torch.float64), var * torch.eye(d, dtype=torch.float64)[None])


def test_fisher_information_of_a_gaussian_is_the_trace_of_the_precision():
    """P = N(0, v I): P_t = N(0, (a^2 v + s^2) I) and J(P_t) = d / (a^2 v + s^2)."""
    gen = torch.Generator().manual_seed(0)
    d, v, t = 3, 2.0, 0.4
    mix = _gaussian(d, v)
    est = fisher_information(mix.sample(4000, generator=gen), mix.score, t, num_samples=20_000, generator=gen)
    exact = d / (math.exp(-t) * v + sigma(t) ** 2)
    assert abs(est.value - exact) < 4 * est.stderr + 1e-3 * exact


def test_empirical_dsm_minimum_is_d_over_s2_minus_the_empirical_fisher_information():
    """Per training set: L^_min = (1/n) sum_i l_t(x_i, grad log p^_t) = d s_t^-2 - J(P^_t)."""
    gen = torch.Generator().manual_seed(1)
    d, t = 2, 0.2
    data = _gaussian(d, 1.0).sample(12, generator=gen)
    x0 = data.repeat(2000, 1)
    l_min = dsm_loss(lambda x, tt: empirical_score(x, tt, data), x0, t, generator=gen).double()
    j_emp = fisher_information(data, None, t, num_samples=24_000, generator=gen)
    se = math.hypot(l_min.std().item() / math.sqrt(l_min.numel()), j_emp.stderr)
    assert abs(l_min.mean().item() - (d / sigma(t) ** 2 - j_emp.value)) < 4 * se


def test_fisher_information_gap_matches_loss_gap_and_fisher_divergence_on_average_over_sets():
    """E_D[J(P^_t) - J(P_t)] = E_D[Loss-Gap_t] = E_D[Fisher(P^_t, P_t)] (averaged over 40 training sets)."""
    gen = torch.Generator().manual_seed(2)
    d, n, t, sets = 2, 8, 0.3, 40
    mix = _gaussian(d, 1.0)
    jg, lg, fd = [], [], []
    for _ in range(sets):
        data = mix.sample(n, generator=gen)
        ref = mix.sample(2000, generator=gen)
        jg.append(fisher_information_gap(data, mix.score, t, reference=ref, num_samples=4000, generator=gen).value)
        lg.append(loss_gap(data, mix.score, t, num_samples=4000, generator=gen).value)
        fd.append(fisher_divergence(data, mix.score, t, num_samples=4000, generator=gen).value)
    jg, lg, fd = map(np.asarray, (jg, lg, fd))
    se = lambda v: v.std(ddof=1) / math.sqrt(sets)                    # between-set error bars
    assert abs(jg.mean() - lg.mean()) < 4 * math.hypot(se(jg), se(lg))
    assert abs(jg.mean() - fd.mean()) < 4 * math.hypot(se(jg), se(fd))
    # a scaled estimator is told apart: twice the gap is many error bars off
    assert abs(2 * jg.mean() - lg.mean()) > 4 * math.hypot(2 * se(jg), se(lg))


def test_fisher_information_gap_bad_inputs():
    gen = torch.Generator().manual_seed(3)
    mix = _gaussian(2, 1.0)
    data = mix.sample(5, generator=gen)
    with pytest.raises(ValueError, match="dimension"):
        fisher_information_gap(data, mix.score, 0.1, reference=torch.zeros(4, 3, dtype=torch.float64),
                               num_samples=10, generator=gen)
    with pytest.raises(TypeError):
        fisher_information(data, 3, 0.1, num_samples=10)
