import math

import pytest
from scipy import stats as scipy_stats

from memsep_lib.stats import bonferroni_z, format_difference, mean_std, paired_difference, welch_difference


def test_mean_std_is_the_sample_std():
    s = mean_std([1.0, 2.0, 4.0])
    assert s["mean"] == pytest.approx(7 / 3)
    assert s["std"] == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2))
    assert mean_std([3.0]) == {"mean": 3.0, "std": 0.0}


def test_paired_difference_matches_scipy_t_interval():
    a, b = [1.0, 2.5, 3.0, 4.2, 5.0], [0.5, 2.0, 3.1, 3.0, 4.0]
    out = paired_difference(a, b)
    diffs = [x - y for x, y in zip(a, b)]
    lo, hi = scipy_stats.t.interval(0.95, len(diffs) - 1, loc=sum(diffs) / 5, scale=scipy_stats.sem(diffs))
    assert out["mean_diff"] == pytest.approx(sum(diffs) / 5) and out["n"] == 5
    assert out["ci95"] == pytest.approx([lo, hi])
    assert paired_difference([1.0], [0.0])["ci95"] == [-math.inf, math.inf]


def test_paired_difference_detects_a_shift_and_not_noise():
    base = [0.1, -0.3, 0.2, 0.05, -0.1, 0.3, -0.2, 0.0]
    shifted = paired_difference([v + 1.0 for v in base], [v + 0.01 * i for i, v in enumerate(base)])
    assert shifted["ci95"][0] > 0                                   # a real shift: the interval excludes 0
    noise = paired_difference(base, base[::-1])
    assert noise["ci95"][0] < 0 < noise["ci95"][1]


def test_welch_difference_matches_scipy():
    a, b = [1.0, 2.0, 3.0, 4.5], [0.0, 0.5, 1.7]
    out = welch_difference(a, b)
    ci = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert out["mean_diff"] == pytest.approx(sum(a) / 4 - sum(b) / 3) and out["n"] == 3
    assert out["ci95"] == pytest.approx([ci.low, ci.high])
    assert welch_difference([1.0], [0.0, 1.0])["ci95"] == [-math.inf, math.inf]
    assert welch_difference([1.0, 1.0], [0.0, 0.0])["ci95"] == [1.0, 1.0]
    with pytest.raises(ValueError, match="level must be in"):
        welch_difference(a, b, level=1.5)


def test_format_difference():
    assert format_difference({"mean_diff": 0.1234, "ci95": [0.01, 0.2]}, 100) == "+12.3 [+1.0, +20.0]"
    assert format_difference({"mean_diff": -1.0, "ci95": [None, math.inf]}, 1, 2) == "-1.00 [-∞, +∞]"


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="pair up"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="values must not be empty"):
        mean_std([])
    with pytest.raises(ValueError, match="a must be finite"):
        paired_difference([float("nan")], [1.0])
    with pytest.raises(TypeError, match="b must be a sequence"):
        paired_difference([1.0], None)
    with pytest.raises(ValueError, match="level"):
        paired_difference([1.0, 2.0], [0.0, 1.0], level=1.5)
    with pytest.raises(ValueError, match="family_alpha"):
        bonferroni_z(3, 0.0)


def test_bonferroni_z():
    assert bonferroni_z(1, 0.05) == pytest.approx(1.959964, abs=1e-6)
    assert bonferroni_z(10, 0.05) > bonferroni_z(1, 0.05)
