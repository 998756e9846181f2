"""The chapter-7 mechanism: score distances to the empirical scores and the network's Lipschitz constant."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from memsep_lib.dit import DIT_CONFIGS, DiT, FlatScore  # noqa: E402
from memsep_lib.experiments.dit_pruning import figures  # noqa: E402
from memsep_lib.experiments.dit_pruning.mechanism import (QUANTITIES, jacobian_spectral_norm, score_distance,  # noqa: E402
                                                          score_time_grid, small_t_mean)
from memsep_lib.experiments.hessian_lipschitz.theory import empirical_lipschitz_scale  # noqa: E402
from memsep_lib.lipschitz import autograd_jacobian, spectral_norm  # noqa: E402
from memsep_lib.process import alpha  # noqa: E402
from memsep_lib.scores import empirical_score  # noqa: E402

TIMES = [1e-3, 0.05, 2.0]


def _sets(n=8, d=6, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n, d, generator=g, dtype=dtype) * 2 - 1, torch.rand(n, d, generator=g, dtype=dtype) * 2 - 1)


def _distance(score_fn, train, held_out, **kwargs):
    kwargs = {"num_queries": 32, "dtype": train.dtype, "generator": torch.Generator().manual_seed(1), **kwargs}
    return score_distance(score_fn, train, held_out, TIMES, **kwargs)


def test_time_grid_is_log_spaced_with_exact_ends():
    grid = score_time_grid(1e-3, 8.0, 5)
    assert grid[0] == 1e-3 and grid[-1] == 8.0 and len(grid) == 5
    ratios = [b / a for a, b in zip(grid, grid[1:])]
    assert all(r == pytest.approx(8000 ** 0.25) for r in ratios)
    for args, match in (((1.0, 0.5), "t0 must be smaller"), ((0.0, 1.0), "t0"), ((1e-3, 1.0, 1), "num"),
                        ((1e-3, math.inf), "T")):
        with pytest.raises(ValueError, match=match):
            score_time_grid(*args)
    with pytest.raises(TypeError, match="num"):
        score_time_grid(1e-3, 1.0, 2.5)


def test_empirical_score_is_at_distance_zero_from_itself_and_not_from_held_out():
    train, held_out = _sets()
    out = _distance(lambda x, t: empirical_score(x, t, train), train, held_out)
    assert set(out) == {"times", *QUANTITIES} and out["times"] == TIMES
    assert all(len(out[k]) == len(TIMES) for k in QUANTITIES)
    assert max(out["to_empirical"]) < 1e-20
    assert min(out["empirical_to_held_out"]) > 0 and out["empirical_to_held_out"][0] > 0.5   # separate targets at small t
    assert out["to_held_out"] == pytest.approx(out["empirical_to_held_out"], rel=1e-9)
    for t, scale in zip(TIMES, out["lipschitz_empirical_scale"]):              # chapter 5's scale times a_t^2
        assert scale == pytest.approx(alpha(t) ** 2 * empirical_lipschitz_scale(train, t), rel=1e-12)
    # its Jacobian is the Hessian of log p^_t, whose norm is at least 1/s_t^2 ~ 1/t at small t; the power iteration
    # on autograd finds what the exact Hessian (lipschitz_empirical) gives
    assert out["lipschitz"][0] > 0.5 / TIMES[0]
    assert out["lipschitz"] == pytest.approx(out["lipschitz_empirical"], rel=2e-2)
    assert all(a <= b * (1 + 1e-9) for a, b in zip(out["lipschitz"], out["lipschitz_empirical"]))   # a lower bound


def test_a_scaled_score_is_detected():
    """s = 2 grad log p^_t: |s - s^|^2 / |s^|^2 = 1 exactly, and the Jacobian doubles."""
    train, held_out = _sets()
    right = _distance(lambda x, t: empirical_score(x, t, train), train, held_out)
    wrong = _distance(lambda x, t: 2 * empirical_score(x, t, train), train, held_out)
    assert wrong["to_empirical"] == pytest.approx([1.0] * len(TIMES), rel=1e-9)
    assert wrong["lipschitz"] == pytest.approx([2 * v for v in right["lipschitz"]], rel=1e-9)
    zero = _distance(lambda x, t: torch.zeros_like(x), train, held_out)
    assert zero["to_empirical"] == zero["to_held_out"] == [1.0] * len(TIMES) and zero["lipschitz"] == [0.0] * 3


def test_power_iteration_matches_the_autograd_jacobian():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.Tanh(), torch.nn.Linear(32, 6))
    score_fn = lambda x, t: net(x)   # noqa: E731
    x = torch.randn(64, 6)
    exact = spectral_norm(autograd_jacobian(score_fn, x, 0.5))
    converged = jacobian_spectral_norm(score_fn, x, 0.5, power_iterations=100, generator=torch.Generator().manual_seed(0))
    assert ((converged - exact).abs() / exact).max() < 1e-3
    short = jacobian_spectral_norm(score_fn, x, 0.5, generator=torch.Generator().manual_seed(0))
    assert (short <= exact * (1 + 1e-5)).all()                              # a lower bound at 10 steps


def _tiny_dit(monkeypatch):
    monkeypatch.setitem(DIT_CONFIGS, "DiT-test/4", dict(hidden_size=16, depth=2, num_heads=2, patch_size=4))
    torch.manual_seed(0)
    model = DiT.from_config("DiT-test/4", input_size=8)
    with torch.no_grad():                  # adaLN-Zero starts as s_theta = 0: give it a non-trivial Jacobian
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return FlatScore(model.eval())


def test_tiny_dit_runs_through_score_distance(monkeypatch):
    score_fn = _tiny_dit(monkeypatch)
    images = torch.rand(12, 192) * 2 - 1
    train, held_out = images[:6], images[6:]
    run = lambda: score_distance(score_fn, train, held_out, TIMES, num_queries=4, T=2.0,  # noqa: E731
                                 generator=torch.Generator().manual_seed(3))
    out = run()
    assert all(len(out[k]) == 3 and all(math.isfinite(v) for v in out[k]) for k in QUANTITIES)
    assert min(out["to_empirical"]) > 0 and min(out["lipschitz"]) > 0
    assert run() == out                                    # a reseeded generator: the same queries (paired arms)
    part = score_distance(score_fn, train, held_out, TIMES, num_queries=4, lipschitz_queries=2,
                          generator=torch.Generator().manual_seed(3))
    assert part["to_empirical"] == pytest.approx(out["to_empirical"], rel=1e-5)
    # J v through attention (its plain-math kernel) against the exact Jacobian
    x = torch.randn(2, 192)
    exact = spectral_norm(autograd_jacobian(score_fn, x, 0.05))
    est = jacobian_spectral_norm(score_fn, x, 0.05, power_iterations=100, generator=torch.Generator().manual_seed(0))
    assert ((est - exact).abs() / exact).max() < 1e-3


@pytest.mark.parametrize("change, error, match", [
    (dict(held_out=torch.zeros(5, 6, dtype=torch.float64)), ValueError, "held_out must have as many"),
    (dict(held_out=torch.zeros(8, 5, dtype=torch.float64)), ValueError, "held_out must have dimension"),
    (dict(train=torch.zeros(8, 2, 3)), ValueError, "train must have shape"),
    (dict(train=torch.full((8, 6), 255.0, dtype=torch.float64)), ValueError, r"train must hold images in \[-1, 1\]"),
    (dict(score_fn="model"), TypeError, "score_fn must be callable"),
    (dict(num_queries=0), ValueError, "num_queries"),
    (dict(num_queries=2.0), TypeError, "num_queries"),
    (dict(power_iterations=0), ValueError, "power_iterations"),
    (dict(lipschitz_queries=300), ValueError, "lipschitz_queries"),
    (dict(times=[0.0, 1.0]), ValueError, "times"),
    (dict(times=[-1.0]), ValueError, "times"),
    (dict(times=[]), ValueError, "times is empty"),
    (dict(times=0.5), TypeError, "times"),
    (dict(times=[0.5, 3.0], T=2.0), ValueError, r"times must lie in \(0, T\]"),
    (dict(dtype=torch.int64), TypeError, "dtype"),
])
def test_bad_inputs_name_the_argument(change, error, match):
    train, held_out = _sets()
    args = dict(score_fn=lambda x, t: empirical_score(x, t, train), train=train, held_out=held_out, times=TIMES)
    args.update({k: v for k, v in change.items() if k in args})
    kwargs = {k: v for k, v in change.items() if k not in args}
    with pytest.raises(error, match=match):
        score_distance(args["score_fn"], args["train"], args["held_out"], args["times"],
                       **{"dtype": torch.float64, **kwargs})


def test_small_t_mean():
    assert small_t_mean([1.0, 3.0, 10.0], [0.01, 0.1, 1.0], 0.3) == 2.0
    assert small_t_mean([1.0, 3.0, 10.0], [0.01, 0.1, 1.0], 1.0) == pytest.approx(14 / 3)
    with pytest.raises(ValueError, match="no grid time"):
        small_t_mean([1.0, 2.0], [0.5, 1.0], 0.3)
    with pytest.raises(ValueError, match="same length"):
        small_t_mean([1.0], [0.5, 1.0], 0.3)
    with pytest.raises(ValueError, match="horizon"):
        small_t_mean([1.0], [0.5], 0.0)


def test_score_distance_figure_draws_one_line_per_arm_per_panel():
    times = [1e-3, 1e-2, 1e-1]
    seeds = lambda c: [[c * (k + 1) * t for t in times] for k in range(2)]   # noqa: E731
    curves = {arm: {q: seeds(c) for q in QUANTITIES} for c, arm in enumerate(("original", "pruned_small_t"), 1)}
    axes = figures.plot_score_distance(curves, times)
    assert len(axes) == 3
    for ax in axes:
        arm_lines = [line for line in ax.lines if line.get_label() in curves]
        assert [line.get_label() for line in arm_lines] == list(curves)
        assert list(arm_lines[1].get_ydata()) == pytest.approx([3 * t for t in times])   # mean of seeds 2t and 4t
        assert ax.get_xscale() == "log"
    assert [len(ax.lines) for ax in axes] == [2, 3, 4]                          # + the dashed/dotted references
    plt.close("all")


def test_a_reference_result_gives_the_same_numbers_without_recomputing_the_model_free_parts():
    train, held_out = _sets()
    score = lambda x, t: 0.5 * empirical_score(x, t, train)   # noqa: E731
    full = _distance(score, train, held_out)
    reused = _distance(score, train, held_out, reference=_distance(lambda x, t: empirical_score(x, t, train),
                                                                    train, held_out))
    assert reused == full
