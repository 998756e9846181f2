import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from memsep_lib.experiments.mixture_memorization import figures, summarize
from memsep_lib.metrics import nn_distance_ratio


def _ablation_rows():
    return [dict(K=4, d=2, n=n, width=w, weight_decay=wd, schedule=schedule, seed=s, num_parameters=10 * w,
                 memorization=0.1 * s + 0.01 * w, log_likelihood=-1.0 - wd, log_likelihood_se=0.1, spread=1.0 - 0.1 * wd,
                 memorization_true_samples=0.0, log_likelihood_true_samples=-1.0, log_likelihood_se_true_samples=0.1,
                 spread_true_samples=1.0)
            for n in (10, 20) for w in (8, 16) for wd in (0.0, 0.1, 1.0) for s in (0, 1)
            for schedule in ("fixed steps", "matched epochs")]


def test_mixture_ablation_plots():
    rows = _ablation_rows()
    summary = summarize([r for r in rows if r["n"] == 10 and r["weight_decay"] == 0.0 and r["schedule"] == "fixed steps"],
                        "width")
    axes = figures.plot_memorization_ablation(summary, "width", xlabel="width", title="scale")
    assert axes[0].get_xscale() == "log" and len(axes[1].lines) >= 2 and axes[0].get_title() == "scale"
    by_schedule = figures.plot_memorization_ablation(summarize([r for r in rows if r["width"] == 8 and r["weight_decay"] == 0],
                                                               "n", by=("schedule",)), "n", xlabel="n", by="schedule")
    assert {"fixed steps", "matched epochs", "fresh samples of P"} <= {t.get_text() for t in by_schedule[0].get_legend().get_texts()}
    strong = summarize([r for r in rows if r["n"] == 10 and r["width"] == 8], "weight_decay")
    assert [e["degraded"] for e in strong] == [False, False, True]          # log p off by 1 > 0.1 * d
    spread = figures.plot_spread({"decay": (strong, "weight_decay", "weight decay")})
    assert spread[0].get_title() == "decay" and "samples degraded" in [t.get_text() for t in spread[0].get_legend().get_texts()]
    grid = figures.plot_weight_decay_grid(summarize([r for r in rows if r["schedule"] == "fixed steps"], "weight_decay", by=("n", "width")))
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
