"""Smoke tests of the chapter-7 figures: they draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from memsep_lib.experiments.dit_pruning import figures  # noqa: E402


def test_head_importance_marks_removed_heads():
    table = torch.arange(6.0).reshape(3, 2).tolist()
    axes = figures.plot_head_importance({"a": table, "b": table}, {"1": [0], "2": [0, 1]})
    assert len(axes) == 2 and all(len(ax.lines) == 3 for ax in axes)
    plt.close("all")


def test_memorization_over_steps_one_line_per_seed():
    per_seed = [{"memorization_over_steps": {"200": 0.5, "100": 0.25}}, {"memorization_over_steps": {100: 0.0, 200: 1.0}}]
    ax = figures.plot_memorization_over_steps(per_seed)
    assert len(ax.lines) == 2 and list(ax.lines[0].get_xdata()) == [100, 200]
    assert list(ax.lines[0].get_ydata()) == [25.0, 50.0]
    plt.close("all")


def test_samples_with_nearest_grid():
    samples = torch.zeros(8, 4, 4, 3, dtype=torch.uint8).tolist()
    train = torch.full((3, 4, 4, 3), 255, dtype=torch.uint8)
    fig = figures.plot_samples_with_nearest({"original": (samples, [0] * 8), "pruned": (samples, [2] * 8)}, train)
    assert len(fig.axes) == 2 * 2 * 8
    plt.close("all")
