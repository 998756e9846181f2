"""Chapter 5's figures draw the arrays they are given (a segment walk, the sweep, the networks' results)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from memsep_lib.experiments.hessian_lipschitz import figures, theory  # noqa: E402
from memsep_lib.process import sigma  # noqa: E402

D = torch.float64


@pytest.fixture
def segment():
    data = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=D)
    hessians = {"empirical": theory.empirical_hessian_fn(data), "other": theory.empirical_hessian_fn(data[:2])}
    return theory.segment_eigenvalues(hessians, data[0], data[1], [1e-3, 1e-2, 1e-1], num=31)


def test_segment_plot_draws_every_eigenvalue(segment):
    ax = figures.plot_segment_eigenvalues(segment)
    assert len(ax.lines) == 3 * 2 * 2 + 3                    # times x Hessians x eigenvalues, plus 3 guides
    assert ax.get_yscale() == "symlog"
    assert len(ax.get_legend().get_texts()) == 6
    plt.close("all")


def test_explorer_shows_the_nearest_stop(segment, monkeypatch):
    shown = []
    monkeypatch.setattr(figures, "plot_segment_eigenvalues", lambda seg, **kw: shown.append(seg["times"]))
    monkeypatch.setattr(figures.plt, "show", lambda: None)
    figures.explore_segment_eigenvalues(segment, log10_t=-2.1)
    assert shown[-1] == [1e-2]


def test_scaling_and_network_plots():
    times = [1e-6, 1e-4, 1e-2, 1.0]
    s = [sigma(t) for t in times]
    sweep = {"times": times, "s": s, "reference": [1 / x ** 4 for x in s], "closest_midpoint": [0.25 / x ** 4 for x in s],
             "empirical_max": [200 / x ** 4 for x in s], "true_max": [12.0] * 4}
    ax, bx = figures.plot_lipschitz_scaling(sweep, fit_mask=[t <= 1e-4 for t in times])
    assert len(ax.lines) == 5 and len(bx.lines) == 4
    plt.close("all")


def test_small_t_constant_plot():
    times = [1e-6, 1e-4, 1e-2]
    summary = {"times": times, "scaled": [2.0, 1.9999, 1.99], "exact_form": [2.0, 1.9999, 1.99],
               "limit_err": [1e-6, 1e-4, 5e-3], "exact_err": [0.0, 1e-16, 1e-15],
               "constants": {"delaunay": 2.0, "gabriel": 0.5, "min_distance": 0.0025, "diameter": 4.8}}
    ax, bx = figures.plot_small_t_constant(summary)
    assert len(ax.lines) == 2 + 4 and len(bx.lines) == 2 and ax.get_yscale() == "log"
    assert min(bx.lines[1].get_ydata()) > 0                      # exact zeros drawn at the float floor
    plt.close("all")


def test_network_and_effect_plots():
    times = [0.003, 0.3]
    decay = {"lipschitz": [[300.0, 10.0]] * 3, "rel_mse_empirical": [[0.03, 0.2]] * 3, "rel_mse_true": [[0.9, 0.5]] * 3}
    curves = {"times": times, "decays": {"0": decay, "0.5": decay}, "true_lipschitz": [12.0, 3.0],
              "empirical_lipschitz": [[1e5, 20.0]] * 3}
    ax, bx = figures.plot_networks(curves, follow_fraction=0.1)
    assert len(ax.lines) == 2 * 3 + 3 + 1 and len(bx.lines) == 2 * 3 * 2 + 1
    point = {"mean_diff": -0.2, "ci95": [-0.3, -0.1], "n": 3}
    effect = {k: [point, point] for k in ("log_lipschitz", "rel_mse_empirical", "rel_mse_true")}
    axes = figures.plot_decay_effects({"0.1": effect, "0.5": effect}, times)
    assert len(axes) == 3 and all(len(a.containers) == 2 for a in axes)
    plt.close("all")
