"""Tests for Chapter 4's constructive side: the empirical score as a one-layer softmax network."""

import pytest
import sympy as sp
import torch

from memsep_lib.experiments.approximation_width import CONFIGS, derivations, theory as T
from memsep_lib.process import add_noise, alpha, sigma
from memsep_lib.scores import empirical_score


def _noised(data, t, B, gen):
    return add_noise(data[torch.randint(data.shape[0], (B,), generator=gen)], t, generator=gen)[0]


@pytest.mark.parametrize("t", [1e-3, 0.05, 1.0])
def test_one_layer_network_equals_empirical_score(gen, t):
    data = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    x = torch.cat([_noised(data, t, 64, gen), 3 * torch.randn(16, 5, generator=gen, dtype=torch.float64)])
    net = T.EmpiricalScoreNet(data, t)
    assert net.num_units == 40
    assert T.relative_error(net(x), empirical_score(x, t, data)).item() < 1e-10


def test_one_layer_network_float32_moderate_t(gen):
    data = torch.randn(30, 4, generator=gen)
    x = _noised(data, 0.3, 128, gen)
    net = T.EmpiricalScoreNet(data, 0.3)
    assert T.relative_error(net(x), empirical_score(x, 0.3, data)).item() < 1e-5


def test_logits_are_posterior_logits_up_to_a_shift(gen):
    data = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    t = 0.2
    x = _noised(data, t, 8, gen)
    exact = -((x[:, None] - alpha(t) * data[None]) ** 2).sum(-1) / (2 * sigma(t) ** 2)
    shift = exact - T.EmpiricalScoreNet(data, t).logits(x)
    # the difference is -|x|^2 / (2 s_t^2), the same for every unit
    torch.testing.assert_close(shift, (-(x ** 2).sum(1, keepdim=True) / (2 * sigma(t) ** 2)).expand_as(shift))


def test_merge_duplicates_is_exact_with_fewer_units(gen):
    distinct = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    data = T.duplicated_dataset(distinct, 5, generator=gen)
    assert data.shape == (17, 3)
    t = 0.02
    merged = T.merge_duplicates(data, t)
    assert merged.num_units == 12
    assert sorted(merged.counts.tolist()) == [1.0] * 7 + [2.0] * 5
    x = _noised(data, t, 100, gen)
    assert T.relative_error(merged(x), empirical_score(x, t, data)).item() < 1e-10
    # without the log-multiplicity bias the merged net computes the score of the distinct points
    plain = T.EmpiricalScoreNet(merged.points, t)
    assert T.relative_error(plain(x), empirical_score(x, t, distinct)).item() < 1e-10


def test_pruning_curve_positive_until_all_units_kept(gen):
    data = 3 * torch.randn(20, 4, generator=gen, dtype=torch.float64)
    t = 0.01
    net = T.EmpiricalScoreNet(data, t)
    x = _noised(data, t, 400, gen)
    errs = T.pruning_curve(net, x, [1, 5, 10, 19, 20])
    assert errs[-1] < 1e-12
    assert all(e > 0.05 for e in errs[:-1])
    assert errs[0] > errs[2] > errs[3]
    mass = T.unit_mass(net, x)
    assert mass.shape == (20,) and abs(mass.sum().item() - 1) < 1e-12


def test_pruning_study_with_duplicates():
    study = T.pruning_study(24, (0.05, 0.5), [1, 4, 8, 15], num_duplicates=8, num_queries=512)
    assert study["distinct"] == study["merged_units"] == 16 and study["num_units"] == [1, 4, 8, 15, 16]
    assert study["t_values"] == [0.05, 0.5] and len(study["errors"]) == 2
    assert all(e < 1e-10 for e in study["exact"] + study["merged_exact"])
    assert all(errs[-1] < 1e-10 and errs[0] > errs[-2] for errs in study["errors"])


def test_one_layer_checks_at_the_chapter_sizes():
    checks = T.one_layer_checks(CONFIGS["ci"])
    assert len(checks["exact"]["errors"]) == len(CONFIGS["ci"].exact_t_values)
    assert max(checks["exact"]["errors"]) < 1e-10
    assert checks["pruning"]["num_units"][-2:] == [63, 64]
    assert checks["duplicates"]["merged_units"] == 48
    assert all(e > 0.05 for errs in checks["pruning"]["errors"] for e in errs[:-1])


def test_keep_units_and_bad_inputs(gen):
    data = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    net = T.EmpiricalScoreNet(data, 0.1)
    sub = net.keep_units([0, 2])
    assert sub.num_units == 2
    with pytest.raises(ValueError, match="t must be finite"):
        T.EmpiricalScoreNet(data, 0.0)
    with pytest.raises(ValueError, match="counts"):
        T.EmpiricalScoreNet(data, 0.1, counts=torch.ones(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="counts"):
        T.EmpiricalScoreNet(data, 0.1, counts=-torch.ones(6, dtype=torch.float64))
    with pytest.raises(ValueError, match="index"):
        net.keep_units([0, 0])
    with pytest.raises(ValueError, match="index"):
        net.keep_units([6])
    with pytest.raises(TypeError, match="dtype"):
        net(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="dimension"):
        net(torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="num_units"):
        T.pruning_curve(net, torch.zeros(3, 2, dtype=torch.float64), [7])
    with pytest.raises(TypeError, match="EmpiricalScoreNet"):
        T.unit_mass(torch.nn.Linear(2, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="num_duplicates"):
        T.duplicated_dataset(data, 7)
    with pytest.raises(ValueError, match="num_duplicates"):
        T.pruning_study(8, (0.1,), num_duplicates=8)
    with pytest.raises(ValueError, match="share a shape"):
        T.relative_error(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="zero"):
        T.relative_error(torch.ones(2, 3), torch.zeros(2, 3))


@pytest.mark.parametrize("n, d", [(2, 1), (3, 1), (2, 2)])
def test_sympy_one_layer_network_equals_the_score(n, d):
    res = derivations.one_layer_score_network(num_points=n, dim=d)
    assert res.equal and res.merged_duplicates
    assert all(sp.simplify(s - res.logit_shift[0]) == 0 for s in res.logit_shift)
    assert sp.simplify(res.logit_shift[0] + sum(xj ** 2 for xj in res.x) / (2 * res.s ** 2)) == 0
    with pytest.raises(ValueError, match="num_points"):
        derivations.one_layer_score_network(num_points=0)


def test_fewer_softmax_units_than_distinct_points_are_not_exact():
    """The linear-independence lower bound, numerically: the best m-unit error stays away from 0 for m < n."""
    import torch

    from memsep_lib.experiments.approximation_width.lower_bound import best_unit_error, softmax_units_score
    from memsep_lib.mixtures import well_separated_mixture
    from memsep_lib.process import alpha
    from memsep_lib.scores import empirical_score

    g = torch.Generator().manual_seed(0)
    data = well_separated_mixture(2, 3, separation=1.0, generator=g).sample(6, generator=g).double()
    x = torch.randn(50, 3, generator=g, dtype=torch.float64)
    exact = softmax_units_score(x, alpha(0.1) * data, torch.zeros(6, dtype=torch.float64), 0.1)
    assert torch.allclose(exact, empirical_score(x, 0.1, data), atol=1e-9)
    res = best_unit_error(data, 0.1, [1, 3, 5, 6], num_queries=256, steps=60, restarts=2, generator=g)
    assert res["n_distinct"] == 6 and res["errors"][-1] < 1e-8
    assert min(res["errors"][:-1]) > 0.05
    # duplicates add no distinct point: 6 points + 3 copies still need only 6 units
    dup = torch.cat([data, data[:3]])
    assert best_unit_error(dup, 0.1, [6], num_queries=128, steps=1, restarts=1, generator=g)["n_distinct"] == 6
