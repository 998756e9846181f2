# ---- chapters 1-2: empirical density and score, DSM perturbations, Proposition 4.1 -----------

import matplotlib as _mpl12

_mpl12.use("Agg")

import matplotlib.pyplot as _plt12  # noqa: E402
import pytest as _pytest12  # noqa: E402
import torch as _torch12  # noqa: E402

from memsep_lib import plotting as _plotting12  # noqa: E402
from memsep_lib.dsm_minimiser import constant_fields as _constant_fields12  # noqa: E402
from memsep_lib.dsm_minimiser import perturbation_study as _perturbation_study12  # noqa: E402
from memsep_lib.prop41 import Prop41Result as _Prop41Result12  # noqa: E402
from memsep_lib.prop41 import Prop41Row as _Prop41Row12  # noqa: E402


def test_empirical_density_plots():
    data1 = _torch12.tensor([[-1.0], [0.5], [2.0]], dtype=_torch12.float64)
    axes = _plotting12.plot_empirical_density_1d(data1, (1.0, 0.01), num=101)
    assert len(axes[0].lines) >= 2 and axes[1].get_ylim() == (-40.0, 40.0)
    data2 = _torch12.randn(5, 2, generator=_torch12.Generator().manual_seed(0), dtype=_torch12.float64)
    ax = _plotting12.plot_empirical_density_2d(data2, 0.1, num=21, arrows=5)
    assert ax.get_title() == "t = 0.1" and ax.images
    assert len(_plotting12.plot_empirical_density_2d_panels(data2, (1.0, 0.1), num=21, arrows=5)) == 2
    with _pytest12.raises(ValueError, match="data"):
        _plotting12.plot_empirical_density_1d(data2, (1.0,))
    with _pytest12.raises(ValueError, match="data"):
        _plotting12.plot_empirical_density_2d(data1, 1.0)
    _plt12.close("all")


def test_perturbation_and_prop41_plots():
    g = _torch12.Generator().manual_seed(1)
    data = _torch12.randn(8, 2, generator=g, dtype=_torch12.float64)
    studies = [_perturbation_study12(data, t, _constant_fields12(2, 2, generator=g), (-0.5, 0.5), num_noise=8,
                                     generator=g) for t in (0.01, 1.0)]
    ax = _plotting12.plot_perturbation_studies(studies)
    assert len(ax.get_legend().get_texts()) == 3
    rows = tuple(_Prop41Row12(m, d, t, 1.0 / t, 0.1, 1.0 / t, 0.1, 0.5)
                 for m in ("gaussian", "mixture") for d in (2, 8) for t in (1e-3, 1.0))
    axes = _plotting12.plot_prop41_check(_Prop41Result12(rows, 3.0, 0.01))
    assert len(axes) == 3 and axes[0].get_xscale() == "log"
    asym = {"d = 2": [dict(t=t, empirical_law=1.0, empirical_law_se=0.1, true_law=2.0, true_law_se=0.1, ratio=2.0)
                      for t in (0.01, 1.0)]}
    assert _plotting12.plot_fisher_asymmetry(asym).get_yscale() == "log"
    _plt12.close("all")


