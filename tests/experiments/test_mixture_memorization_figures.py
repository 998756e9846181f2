import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from memsep_lib.experiments.mixture_memorization import figures, summarize
from memsep_lib.metrics import nn_distance_ratio


def _ablation_rows():
    return [dict(n=n, width=w, weight_decay=wd, seed=s, num_parameters=10 * w, memorization=0.1 * s + 0.01 * w,
                 log_likelihood=-wd, memorization_true_samples=0.0, log_likelihood_true_samples=-1.0)
            for n in (10, 20) for w in (8, 16) for wd in (0.0, 0.1, 1.0) for s in (0, 1)]


def test_mixture_ablation_plots():
    rows = _ablation_rows()
    summary = summarize([r for r in rows if r["n"] == 10 and r["weight_decay"] == 0.0], "width")
    axes = figures.plot_memorization_ablation(summary, "width", xlabel="width", title="scale")
    assert axes[0].get_xscale() == "log" and len(axes[1].lines) >= 2 and axes[0].get_title() == "scale"
    grid = figures.plot_weight_decay_grid(summarize(rows, "weight_decay", by=("n", "width")))
    assert grid.shape == (2, 2) and grid[0, 1].get_title() == "n = 20"
    phase = [dict(width=w, num_parameters=w, memorization=0.5, samples=[[0.0, 1.0], [1.0, 0.0]],
                  train=[[0.0, 0.5], [1.0, 1.0]]) for w in (16, 8)]
    panels = figures.plot_phase_2d(phase)
    assert len(panels) == 2 and panels[0].get_title().startswith("width 8")
    ratio = nn_distance_ratio(torch.tensor(phase[0]["samples"]), torch.tensor(phase[0]["train"])).numpy()
    ax = figures.plot_phase_threshold(phase[0], ratio < 0.6, threshold=0.6)     # sample (0, 1) has ratio 0.5
    assert "memorised 50%" in ax.get_title() and "36%" in ax.get_title()
    with pytest.raises(ValueError, match="one bool per sample"):
        figures.plot_phase_threshold(phase[0], [True], threshold=0.6)
    plt.close("all")
