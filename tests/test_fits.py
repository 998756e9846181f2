import math

import numpy as np
import pytest
import torch

from memsep_lib.fits import power_law_fit


def test_recovers_a_power_law():
    x = np.array([1.0, 10.0, 100.0, 1000.0])
    fit = power_law_fit(x, 3.0 * x ** -0.25)
    assert fit["exponent"] == pytest.approx(-0.25) and fit["stderr"] < 1e-10 and fit["num_points"] == 4
    assert math.exp(fit["intercept"]) == pytest.approx(3.0)
    t = torch.logspace(-3, 0, 7, dtype=torch.float64)
    assert power_law_fit(t, 5 * t ** -4)["exponent"] == pytest.approx(-4)


def test_invalid_points():
    with pytest.raises(ValueError, match="positive"):
        power_law_fit([1.0, 2.0], [1.0, -1.0])
    fit = power_law_fit([8, 16, 32], [5.0, math.inf, 5.0], drop_invalid=True)   # censored point dropped
    assert fit["exponent"] == pytest.approx(0.0, abs=1e-12) and fit["stderr"] == math.inf
    with pytest.raises(ValueError, match="two distinct"):
        power_law_fit([8, 8], [1.0, 2.0])
    with pytest.raises(ValueError, match="same number"):
        power_law_fit([1.0, 2.0], [1.0])
