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
    net = {"times": [0.01, 0.1], "lipschitz": [10.0, 5.0], "lipschitz_bound": [100.0, 50.0], "mse_empirical": [1.0, 0.1],
           "mse_true": [2.0, 0.2], "mse_empirical_true": [3.0, 0.3]}
    ax, bx = figures.plot_network_lipschitz({"a": net, "b": net}, references={"ref": ([0.01, 0.1], [1e3, 10.0])})
    assert len(ax.lines) == 5 and len(bx.lines) == 5
    plt.close("all")
