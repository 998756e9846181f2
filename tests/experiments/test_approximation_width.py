"""Tests for memsep_lib.approximation (Theorem 5.1): the one-layer network, batched MLPs, W* search."""

import math

import pytest
import torch

from memsep_lib import approximation as A
from memsep_lib.process import alpha, sigma
from memsep_lib.scores import empirical_score


def _noised(data, t, B, gen):
    idx = torch.randint(data.shape[0], (B,), generator=gen)
    return alpha(t) * data[idx] + sigma(t) * torch.randn(B, data.shape[1], generator=gen, dtype=data.dtype)


# ---------------------------------------------------------------------------------------------
# Constructive side
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("t", [1e-3, 0.05, 1.0])
def test_one_layer_network_equals_empirical_score(gen, t):
    data = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    x = torch.cat([_noised(data, t, 64, gen), 3 * torch.randn(16, 5, generator=gen, dtype=torch.float64)])
    net = A.EmpiricalScoreNet(data, t)
    assert net.num_units == 40
    ref = empirical_score(x, t, data)
    assert A.relative_error(net(x), ref).item() < 1e-10


def test_one_layer_network_float32_moderate_t(gen):
    data = torch.randn(30, 4, generator=gen)
    x = _noised(data, 0.3, 128, gen)
    net = A.EmpiricalScoreNet(data, 0.3)
    assert A.relative_error(net(x), empirical_score(x, 0.3, data)).item() < 1e-5


def test_logits_are_posterior_logits_up_to_a_shift(gen):
    data = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    t = 0.2
    x = _noised(data, t, 8, gen)
    exact = -((x[:, None] - alpha(t) * data[None]) ** 2).sum(-1) / (2 * sigma(t) ** 2)
    shift = exact - A.EmpiricalScoreNet(data, t).logits(x)
    # the difference is -|x|^2 / (2 s_t^2), the same for every unit
    torch.testing.assert_close(shift, (-(x ** 2).sum(1, keepdim=True) / (2 * sigma(t) ** 2)).expand_as(shift))


def test_merge_duplicates_is_exact_with_fewer_units(gen):
    distinct = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    data = A.duplicated_dataset(distinct, 5, generator=gen)
    assert data.shape == (17, 3)
    t = 0.02
    merged = A.merge_duplicates(data, t)
    assert merged.num_units == 12
    assert sorted(merged.counts.tolist()) == [1.0] * 7 + [2.0] * 5
    x = _noised(data, t, 100, gen)
    assert A.relative_error(merged(x), empirical_score(x, t, data)).item() < 1e-10
    # without the log-multiplicity bias the merged net computes the score of the distinct points
    plain = A.EmpiricalScoreNet(merged.points, t)
    assert A.relative_error(plain(x), empirical_score(x, t, distinct)).item() < 1e-10


def test_pruning_curve_positive_until_all_units_kept(gen):
    data = 3 * torch.randn(20, 4, generator=gen, dtype=torch.float64)
    t = 0.01
    net = A.EmpiricalScoreNet(data, t)
    x = _noised(data, t, 400, gen)
    errs = A.pruning_curve(net, x, [1, 5, 10, 19, 20])
    assert errs[-1] < 1e-12
    assert all(e > 0.05 for e in errs[:-1])
    assert errs[0] > errs[2] > errs[3]
    mass = A.unit_mass(net, x)
    assert mass.shape == (20,) and abs(mass.sum().item() - 1) < 1e-12


def test_keep_units_and_bad_inputs(gen):
    data = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    net = A.EmpiricalScoreNet(data, 0.1)
    sub = net.keep_units([0, 2])
    assert sub.num_units == 2
    with pytest.raises(ValueError, match="t must be finite"):
        A.EmpiricalScoreNet(data, 0.0)
    with pytest.raises(ValueError, match="counts"):
        A.EmpiricalScoreNet(data, 0.1, counts=torch.ones(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="counts"):
        A.EmpiricalScoreNet(data, 0.1, counts=-torch.ones(6, dtype=torch.float64))
    with pytest.raises(ValueError, match="index"):
        net.keep_units([0, 0])
    with pytest.raises(ValueError, match="index"):
        net.keep_units([6])
    with pytest.raises(TypeError, match="dtype"):
        net(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="dimension"):
        net(torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="num_units"):
        A.pruning_curve(net, torch.zeros(3, 2, dtype=torch.float64), [7])
    with pytest.raises(TypeError, match="EmpiricalScoreNet"):
        A.unit_mass(torch.nn.Linear(2, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="num_duplicates"):
        A.duplicated_dataset(data, 7)
    with pytest.raises(ValueError, match="share a shape"):
        A.relative_error(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="zero"):
        A.relative_error(torch.ones(2, 3), torch.zeros(2, 3))


# ---------------------------------------------------------------------------------------------
# Batched MLPs
# ---------------------------------------------------------------------------------------------
def test_batched_forward_matches_plain_mlps(gen):
    model = A.BatchedMLP([3, 7, 5], 2, 4, generator=gen, dtype=torch.float64)
    x = torch.randn(3, 10, 4, generator=gen, dtype=torch.float64)
    out = model(x)
    for g in range(3):
        mlp = model.to_mlp(g)
        torch.testing.assert_close(out[g], mlp(x[g]), rtol=0, atol=1e-12)
        assert sum(p.numel() for p in mlp.parameters()) == model.num_parameters()[g]
        assert model.num_parameters()[g] == A.mlp_num_parameters(model.widths[g], 2, 4)


def _step(model, opt, xb, yb):
    loss = (model(xb) - yb).square().sum(2).mean(1).sum()
    for p in model.parameters():
        p.grad = None
    loss.backward()
    opt.step()


def test_batched_training_equals_per_model_training(gen):
    """Models in one batch share no parameter: G batched Adam steps equal G separate trainings."""
    model = A.BatchedMLP([4, 9, 6], 2, 3, generator=gen, dtype=torch.float64)
    singles = [model.select([g]) for g in range(3)]
    lr = torch.tensor([1e-2, 3e-3, 5e-2], dtype=torch.float64)
    opt = A._BatchedAdam(model.parameters(), lr.clone())
    opts = [A._BatchedAdam(s.parameters(), lr[g:g + 1].clone()) for g, s in enumerate(singles)]
    for _ in range(15):
        xb = torch.randn(3, 16, 3, generator=gen, dtype=torch.float64)
        yb = torch.sin(xb)
        _step(model, opt, xb, yb)
        for g in range(3):
            _step(singles[g], opts[g], xb[g:g + 1], yb[g:g + 1])
    x = torch.randn(3, 32, 3, generator=gen, dtype=torch.float64)
    out = model(x)
    for g in range(3):
        torch.testing.assert_close(out[g:g + 1], singles[g](x[g:g + 1]), rtol=1e-9, atol=1e-11)
    # padded weights of the narrow models stayed exactly zero
    assert model.weights[1][0, 4:, :].abs().max() == 0 and model.weights[1][0, :, 4:].abs().max() == 0


def test_widen_preserves_function_and_select_copies(gen):
    model = A.BatchedMLP([4, 6], 2, 3, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 20, 3, generator=gen, dtype=torch.float64)
    wide = model.widen([8, 12], generator=gen)
    assert wide.widths == [8, 12]
    torch.testing.assert_close(wide(x), model(x), rtol=0, atol=1e-12)
    sub = model.select([1])
    torch.testing.assert_close(sub(x[1:]), model(x)[1:], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="widths"):
        model.widen([2, 6])
    with pytest.raises(ValueError, match="index"):
        model.select([2])


def test_fit_batched_learns_and_never_ends_worse(gen):
    G, P, d = 2, 512, 2
    x = torch.randn(G, P, d, generator=gen)
    y = torch.stack([x[0] @ torch.tensor([[1.0, -2.0], [0.5, 1.0]]), torch.relu(x[1])])
    model = A.BatchedMLP([16, 16], 1, d, generator=gen)
    start = A._batched_error(model, x, y)
    res = A.fit_batched(model, x, y, x, y, max_steps=300, batch_size=64, lr=1e-2, eval_every=25,
                        generator=gen, num_threads=1)
    end = A._batched_error(model, x, y)
    assert (end <= start).all() and (end < 0.3).all()
    assert res.best_error == pytest.approx(end.tolist(), rel=1e-5)
    assert res.history[0][0] == 0 and len(res.stopped_at) == G


def test_fit_batched_bad_inputs(gen):
    model = A.BatchedMLP([4, 4], 1, 2, generator=gen)
    x, y = torch.zeros(2, 8, 2), torch.ones(2, 8, 2)
    with pytest.raises(ValueError, match="training inputs"):
        A.fit_batched(model, torch.zeros(3, 8, 2), y, x, y, max_steps=1)
    with pytest.raises(ValueError, match="validation targets"):
        A.fit_batched(model, x, y, x, torch.ones(2, 8, 3), max_steps=1)
    with pytest.raises(ValueError, match="lr"):
        A.fit_batched(model, x, y, x, y, max_steps=1, lr=0.0)
    with pytest.raises(TypeError, match="max_steps"):
        A.fit_batched(model, x, y, x, y, max_steps=1.5)
    with pytest.raises(ValueError, match="val_reference"):
        A.fit_batched(model, x, y, x, y, max_steps=1, val_reference=torch.ones(2, 4, 2))
    with pytest.raises(TypeError, match="BatchedMLP"):
        A.fit_batched(torch.nn.Linear(2, 2), x, y, x, y, max_steps=1)
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.zeros(2, 8, 3))
    with pytest.raises(ValueError, match="widths"):
        A.BatchedMLP([], 1, 2)
    with pytest.raises(TypeError, match="depth"):
        A.BatchedMLP([4], 1.0, 2)


# ---------------------------------------------------------------------------------------------
# W* search and fits
# ---------------------------------------------------------------------------------------------
def test_width_threshold_on_synthetic_table():
    widths = [4, 8, 16, 32]
    assert A.width_threshold(widths, [0.5, 0.3, 0.2, 0.05], 0.1, interpolate=False) == 32
    # geometric interpolation: log err goes from log 0.2 at 16 to log 0.05 at 32; crosses log 0.1 at 16 * 2^(1/2)
    assert A.width_threshold(widths, [0.5, 0.3, 0.2, 0.05], 0.1) == pytest.approx(16 * math.sqrt(2))
    assert A.width_threshold(widths, [0.05, 0.01, 0.01, 0.01], 0.1) == 4
    assert A.width_threshold(widths, [0.5, 0.4, 0.3, 0.2], 0.1) == math.inf
    # a worse wider net does not count against the width: running minimum
    assert A.width_threshold(widths, [0.5, 0.1, 0.4, 0.05], 0.1) == pytest.approx(8.0)
    assert A.width_threshold(widths, [math.inf, 0.1, 0.4, 0.05], 0.1) == 8.0
    with pytest.raises(ValueError, match="increasing"):
        A.width_threshold([4, 4, 8], [0.3, 0.2, 0.1], 0.1)
    with pytest.raises(ValueError, match="same"):
        A.width_threshold([4, 8], [0.3], 0.1)
    with pytest.raises(ValueError, match="eps"):
        A.width_threshold([4, 8], [0.3, 0.2], 0.0)
    with pytest.raises(ValueError, match="NaN"):
        A.width_threshold([4, 8], [0.3, float("nan")], 0.1)


def test_loglog_fit_recovers_power_law():
    n = [8, 16, 32, 64]
    fit = A.loglog_fit(n, [3 * v ** 0.7 for v in n])
    assert fit["slope"] == pytest.approx(0.7) and fit["slope_se"] < 1e-9 and fit["num_points"] == 4
    fit = A.loglog_fit([8, 16, 32], [5.0, math.inf, 5.0])          # censored point dropped
    assert fit["slope"] == pytest.approx(0.0, abs=1e-12) and fit["slope_se"] == math.inf
    with pytest.raises(ValueError, match="two distinct"):
        A.loglog_fit([8, 8], [1.0, 2.0])


def _synthetic_search(cfg):
    """Errors ``sqrt(c n / W) / 4``: empirical ``W* = 6.25 c n`` at eps 0.1 (c = 2 at the smallest t), true ``W* = 3.1``."""
    tasks = A._task_list(cfg)
    errors = []
    for task in tasks:
        n_eff = task["n"] - task["m"]
        if task["kind"] == "empirical":
            scale = n_eff * (2.0 if task["t"] == min(cfg["t_values"]) else 1.0)
            errors.append([0.25 * math.sqrt(scale / w) for w in cfg["widths"]])
        else:
            errors.append([0.25 * math.sqrt(0.5 / w) for w in cfg["widths"]])
    return {"tasks": tasks, "widths": cfg["widths"], "test_error": errors}


def test_summary_and_verdict_on_synthetic_search():
    cfg = A.experiment_config("ci")
    cfg.update(widths=[2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048])
    summary = A.summarize(cfg, _synthetic_search(cfg))
    emp = summary["fits"]["empirical"][str(min(cfg["t_values"]))]
    assert emp["fit"]["slope"] == pytest.approx(1.0, abs=1e-6)
    assert summary["fits"]["true"][str(max(cfg["t_values"]))]["fit"]["slope"] == pytest.approx(0.0, abs=1e-9)
    v = A.verdict(cfg, summary)
    assert v == {"empirical_slope_above_threshold": True, "true_width_bounded": True,
                 "separation_at_largest_n": True, "duplicates_closer_to_n_minus_m": True,
                 "empirical_more_width_at_small_t": True}
    # a search where duplicates count as distinct points fails the duplication check
    search = _synthetic_search(cfg)
    for task, errs in zip(search["tasks"], search["test_error"]):
        if task["m"]:
            errs[:] = [0.25 * math.sqrt(2 * task["n"] / w) for w in cfg["widths"]]
    assert not A.verdict(cfg, A.summarize(cfg, search))["duplicates_closer_to_n_minus_m"]


def test_experiment_config_and_tasks():
    for profile in ("ci", "cpu", "paper"):
        cfg = A.experiment_config(profile)
        assert cfg["widths"] == sorted(cfg["widths"])
        assert all(m <= n - m for n, m in cfg["duplicates"])
        assert all(n - m in cfg["n_values"] for n, m in cfg["duplicates"])
    cfg = A.experiment_config("ci")
    kinds = {(t["kind"], t["m"] > 0) for t in A._task_list(cfg)}
    assert kinds == {("empirical", False), ("true", False), ("empirical", True)}
    assert A.width_learning_rate(cfg, 4 * cfg["lr_width"]) == pytest.approx(cfg["lr"] / 2)


def test_pools_targets_are_the_scores():
    cfg = A.experiment_config("ci")
    cfg.update(n_values=[4], t_values=[0.1], duplicates=[], reps=1, pool=64, num_val=32, num_test=32)
    pools = A._build_pools(cfg, A._task_list(cfg), "cpu")
    x, y, ref = pools["test"]
    assert x.shape == y.shape == ref.shape == (2, 32, cfg["d"])
    # targets are the scaled scores minus a constant (their training mean)
    for g in range(2):
        shift = (ref[g] - y[g]).double()
        assert (shift - shift[:1]).abs().max() < 1e-5


def test_chapter_plots_run_on_a_synthetic_search():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from memsep_lib import plotting

    cfg = A.experiment_config("ci")
    search = _synthetic_search(cfg)
    summary = A.summarize(cfg, search)
    assert len(plotting.plot_width_star(cfg, summary)) == len(cfg["t_values"])
    plotting.plot_width_star(cfg, summary, quantity="N_star")
    plotting.plot_error_vs_width(cfg, search, min(cfg["t_values"]))
    plotting.plot_duplicates(cfg, search)
    plotting.plot_pruning_curves([1, 2, 4], {0.1: [0.5, 0.2, 0.0]})
    assert "| empirical |" in A.summary_table(cfg, summary)
    plt.close("all")
