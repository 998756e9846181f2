import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from memsep_lib.experiments.loss_gap_bound import figures  # noqa: E402


def _curve(d):
    return {"d": d, "n": 100, "std": 1.0, "ratio": [1.0, 0.5, 0.1], "ratio_stderr": [0.01, None, 0.02],
            "t_end": 0.05, "log_n_over_d": 0.5, "own_weight": [1.0, 0.6, 0.2]}


def test_ratio_vs_t_draws_the_given_isolated_curves():
    t_curves = {"t_values": [1e-3, 1e-2, 1.0], "curves": [_curve(2), _curve(8)]}
    t_fine = np.geomspace(1e-3, 1.0, 5)
    isolated = [np.full(5, 0.9), np.full(5, 0.8)]
    axes = figures.plot_loss_gap_ratio_vs_t(t_curves, t_fine, isolated, floor=0.125, title="shown")
    dashed = [line for line in axes[0].lines if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in dashed] == [[0.9] * 5, [0.8] * 5]
    assert axes[0].get_xscale() == "log" and len(axes[1].lines) >= 2
    plt.close("all")


def test_d_sigma_and_n_dependence_plots():
    row = dict(d=4, std=1.0, trace_sigma=4.0, bound=10.0, isolated=9.0, mean=8.0, stderr=0.1, in_interval=True)
    axes = figures.plot_loss_gap_d_sigma({"t": 0.01, "by_d": [row, {**row, "d": 8}],
                                          "by_sigma": [row, {**row, "trace_sigma": 16.0, "in_interval": False}]})
    assert axes[0].get_yscale() == "log" and "d=4" in axes[1].get_xlabel()
    rows = [{"n": n, "stderr": [0.1, 0.1], "log_n_over_d": 0.5, "crossover": c} for n, c in ((100, 0.5), (1000, 0.3))]
    per = {"d": 2, "rows": rows, "at_t_fix": [5.0, 4.0], "fit_t_fix": {"exponent": -0.1},
           "fit_crossover": {"exponent": -0.2, "intercept": 0.0}}
    axes = figures.plot_loss_gap_n_dependence({"t_values": [0.01, 1.0], "t_fix": 0.01, "per_d": [per]})
    assert "slope -0.10" in axes[0].get_legend_handles_labels()[1][0]
    plt.close("all")


def test_explorer_plot():
    ex = {"d": 4, "n": 50, "K": 2, "separation": 4.0, "std": 1.0, "t": 0.01, "t_values": [1e-3, 0.01, 1.0],
          "ratio": [1.0, 0.9, 0.1], "ratio_at_t": 0.9, "t_end": 0.05, "t_fine": [1e-3, 1.0], "isolated": [1.0, 0.3]}
    ax = figures.plot_loss_gap_explorer(ex, floor=0.125, label="live")
    assert list(ax.lines[1].get_ydata()) == [1.0, 0.3] and "live" in ax.get_title()
    plt.close("all")
