import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from memsep_lib.experiments.dsm_minimiser import figures, theory  # noqa: E402
from memsep_lib.experiments.dsm_minimiser.experiment import (constant_fields, perturbation_study,  # noqa: E402
                                                               time_scaled_score)
from memsep_lib.scores import empirical_score  # noqa: E402


def test_empirical_law_grids():
    data1 = torch.tensor([[-1.0], [0.5], [2.0]], dtype=torch.float64)
    line = theory.empirical_law_on_line(data1, (1.0, 0.01), num=101)
    assert line["density"].shape == line["score"].shape == (2, 101) and line["x"].shape == (101,)
    assert (line["density"] > 0).all() and line["x"][0] < -1.0 and line["x"][-1] > 2.0
    x = torch.tensor(line["x"], dtype=torch.float64)[:, None]
    assert torch.allclose(torch.tensor(line["score"][1]), empirical_score(x, 0.01, data1)[:, 0])
    data2 = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    plane = theory.empirical_law_on_plane(data2, 0.1, num=21, arrows=5)
    assert plane["log_density"].shape == (21, 21) and plane["direction"].shape == (25, 2)
    assert np.linalg.norm(plane["direction"], axis=1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="data"):
        theory.empirical_law_on_line(data2, (1.0,))
    with pytest.raises(ValueError, match="data"):
        theory.empirical_law_on_plane(data1, 1.0)


def test_empirical_density_plots():
    data1 = torch.tensor([[-1.0], [0.5], [2.0]], dtype=torch.float64)
    axes = figures.plot_empirical_density_1d(theory.empirical_law_on_line(data1, (1.0, 0.01), num=101))
    assert len(axes[0].lines) >= 2 and axes[1].get_ylim() == (-40.0, 40.0)
    data2 = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ax = figures.plot_empirical_density_2d(theory.empirical_law_on_plane(data2, 0.1, num=21, arrows=5))
    assert ax.get_title() == "t = 0.1" and ax.images
    planes = [theory.empirical_law_on_plane(data2, t, num=21, arrows=5) for t in (1.0, 0.1)]
    assert len(figures.plot_empirical_density_2d_panels(planes)) == 2
    plt.close("all")


def test_perturbation_plot():
    g = torch.Generator().manual_seed(1)
    data = torch.randn(8, 2, generator=g, dtype=torch.float64)
    fields = constant_fields(2, 2, generator=g)
    studies = [perturbation_study(data, t, fields, (-0.5, 0.5), num_noise=8, generator=g) for t in (0.01, 1.0)]
    (ax,) = figures.plot_perturbation_studies(studies)
    assert len(ax.get_legend().get_texts()) == 3 and len(ax.lines) == 1 + 2 * 3 + 1   # parabola, rows, zero line
    wrong = time_scaled_score(data, 2.0)
    controls = [perturbation_study(data, t, fields, (-0.5, 0.5), num_noise=8, generator=g, score_fn=wrong)
                for t in (0.01, 1.0)]
    axes = figures.plot_perturbation_studies(studies, controls, control_factor=2.0)
    assert len(axes) == 2 and "time $2t$" in axes[1].get_title()
    # the control's score-direction stars dip below zero (the wrong score is not the minimiser)
    assert min(min(line.get_ydata()) for line in axes[1].lines if line.get_marker() == "*") < 0
    plt.close("all")
