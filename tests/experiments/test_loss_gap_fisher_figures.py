import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from memsep_lib.experiments.loss_gap_fisher import figures  # noqa: E402


def test_prop41_and_asymmetry_plots():
    rows = [dict(model=m, d=d, t=t, loss_gap=1.0 / t, loss_gap_se=0.1, fisher=1.0 / t, fisher_se=0.1, z=0.5)
            for m in ("gaussian", "mixture") for d in (2, 8) for t in (1e-3, 1.0)]
    axes = figures.plot_prop41_check(rows, z_threshold=3.0, family_z=3.3)
    assert len(axes) == 3 and axes[0].get_xscale() == "log" and axes[2].get_ylim() == (-1.3 * 3.3, 1.3 * 3.3)
    asym = {"d = 2": [dict(t=t, empirical_law=1.0, empirical_law_se=0.1, true_law=2.0, true_law_se=0.1, ratio=2.0)
                      for t in (0.01, 1.0)]}
    assert figures.plot_fisher_asymmetry(asym).get_yscale() == "log"
    plt.close("all")
