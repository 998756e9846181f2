# ---- chapter 6: Gaussian-mixture memorisation ablations --------------------------------------

def _ablation_rows6():
    from memsep_lib.mixture_memorization import summarize
    return [dict(n=n, width=w, weight_decay=wd, seed=s, num_parameters=10 * w, memorization=0.1 * s + 0.01 * w,
                 log_likelihood=-wd, memorization_true_samples=0.0, log_likelihood_true_samples=-1.0)
            for n in (10, 20) for w in (8, 16) for wd in (0.0, 0.1, 1.0) for s in (0, 1)], summarize


def test_mixture_ablation_plots():
    rows, summarize = _ablation_rows6()
    summary = summarize([r for r in rows if r["n"] == 10 and r["weight_decay"] == 0.0], "width")
    axes = _plotting12.plot_memorization_ablation(summary, "width", xlabel="width", title="scale")
    assert axes[0].get_xscale() == "log" and len(axes[1].lines) >= 2 and axes[0].get_title() == "scale"
    grid = _plotting12.plot_weight_decay_grid(summarize(rows, "weight_decay", by=("n", "width")))
    assert grid.shape == (2, 2) and grid[0, 1].get_title() == "n = 20"
    phase = [dict(width=w, num_parameters=w, memorization=0.5, samples=[[0.0, 1.0], [1.0, 0.0]],
                  train=[[0.0, 0.5], [1.0, 1.0]]) for w in (16, 8)]
    panels = _plotting12.plot_phase_2d(phase)
    assert len(panels) == 2 and panels[0].get_title().startswith("width 8")
    ax = _plotting12.plot_phase_threshold(phase[0], threshold=0.6)        # sample (0, 1) has ratio 0.5
    assert "memorised 50%" in ax.get_title() and "36%" in ax.get_title()
    _plt12.close("all")
