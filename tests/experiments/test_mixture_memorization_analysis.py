"""The chapter-6 analysis: the degraded-sample guard, trends with intervals, and every claim failing on a
deliberately wrong input (a wrecked model, a reversed grid, a trend inside the seed noise)."""

import math

import pytest

from memsep_lib.experiments import mixture_memorization as mm
from memsep_lib.experiments.mixture_memorization import claims
from memsep_lib.experiments.mixture_memorization.analysis import difference, supported

FRESH_LL = -13.35      # fresh draws of the d = 8 mixture


def _rows(cells, *, factor, seeds=5, noise=0.01, d=8, **fixed):
    """Rows of ``seeds`` members per cell ``(factor value, memorisation, log-likelihood)``; seed s adds
    ``noise * (s - mean seed)`` to the memorisation (a paired, seed-level effect)."""
    rows = []
    for value, mem, ll in cells:
        for s in range(seeds):
            shift = noise * (s - (seeds - 1) / 2)
            rows.append({"K": 8, "d": value if factor == "d" else d, "n": 200, "width": 64, "weight_decay": 0.0,
                         "schedule": mm.FIXED, "steps": 3000, **fixed, factor: value, "seed": s, "num_parameters": 1,
                         "memorization": mem + shift, "log_likelihood": ll + 0.01 * s, "log_likelihood_se": 0.05,
                         "spread": 1.0, "memorization_true_samples": 0.0, "log_likelihood_true_samples": FRESH_LL,
                         "log_likelihood_se_true_samples": 0.05, "spread_true_samples": 1.0})
    return rows


def _results(rows, factor, by=()):
    return {"rows": rows, "summary": mm.summarize(rows, factor, by=by), "factor": factor}


def test_the_guard_flags_samples_away_from_fresh_draws_of_p():
    summary = mm.summarize(_rows([(16, 0.5, FRESH_LL), (64, 0.5, FRESH_LL - 0.79), (256, 0.5, FRESH_LL + 0.9)],
                                 factor="width"), "width")
    assert [e["degraded"] for e in summary] == [False, False, True]        # tolerance 0.1 * d = 0.8 nats
    assert mm.LL_TOLERANCE == 0.1 and summary[0]["d"] == 8 and summary[0]["K"] == 8


def test_a_rising_trend_holds_and_fails():
    rising = _results(_rows([(16, 0.0, FRESH_LL), (64, 0.3, FRESH_LL), (256, 0.7, FRESH_LL)], factor="width"), "width")
    t = mm.trend(rising, sign=+1)
    assert t["holds"] and t["holds_not_degraded"] and t["diff"]["mean_diff"] == pytest.approx(0.7)
    assert t["diff"]["ci95"][0] > 0 and t["degraded_cells"] == []
    assert not mm.trend(rising, sign=-1)["holds"]                           # the reversed claim
    dip = _results(_rows([(16, 0.0, FRESH_LL), (64, 0.7, FRESH_LL), (256, 0.4, FRESH_LL)], factor="width"), "width")
    assert not mm.trend(dip, sign=+1)["holds"]                              # a step against it beyond SLACK
    noisy = _results(_rows([(16, 0.0, FRESH_LL), (256, 0.2, FRESH_LL)], factor="width", seeds=3, noise=0.0), "width")
    for r in noisy["rows"]:                                                # same means, seed noise of +-0.5
        if r["width"] == 256:
            r["memorization"] += (0.5, -0.5, 0.0)[r["seed"]]
    assert not mm.trend(noisy, sign=+1)["holds"]                            # the interval straddles zero


def test_a_falling_trend_of_degraded_models_does_not_count():
    """The issue's case: memorisation falls with d, but the large-d samples are not distributed as P."""
    rows = _rows([(8, 0.6, FRESH_LL), (16, 0.3, FRESH_LL + 1.9), (32, 0.05, FRESH_LL + 5.8)], factor="d")
    verdict = mm.DIMENSION.verdict(_results(rows, "d"))
    assert verdict["memorisation falls with d (d >= 8)"]
    assert not verdict["memorisation falls with d (d >= 8), samples not degraded"]
    t = mm.trend(_results(rows, "d"), sign=-1, paired=False)
    assert t["degraded_cells"] == [16, 32] and t["diff_not_degraded"] is None


def test_unpaired_grids_use_welch():
    rows = _rows([(50, 0.8, FRESH_LL), (3200, 0.1, FRESH_LL)], factor="n", noise=0.2)
    a, b = {"n": 3200}, {"n": 50}
    paired, welch = difference(rows, "memorization", a, b), difference(rows, "memorization", a, b, paired=False)
    assert paired["mean_diff"] == pytest.approx(welch["mean_diff"]) == pytest.approx(-0.7)
    assert paired["ci95"][1] - paired["ci95"][0] < 1e-9 < welch["ci95"][1] - welch["ci95"][0]
    with pytest.raises(ValueError, match="no members match"):
        difference(rows, "memorization", {"n": 7}, b)


def _wd_rows(*, strong_ll):
    cells = []
    for n, mems, lls in ((320, (0.5, 0.45, 0.3, 0.0), (FRESH_LL, FRESH_LL + 0.5, FRESH_LL + 0.6, strong_ll)),
                         (1000, (0.0,) * 4, (FRESH_LL, FRESH_LL, FRESH_LL - 0.3, FRESH_LL - 2.0))):
        for wd, mem, ll in zip((0.0, 0.03, 0.3, 3.0), mems, lls):
            cells += _rows([(wd, mem, ll)], factor="weight_decay", n=n, width=512)
    return _results(cells, "weight_decay", by=("n", "width"))


def test_weight_decay_claims_and_a_wrecked_model():
    healthy = mm.WEIGHT_DECAY.verdict(_wd_rows(strong_ll=FRESH_LL - 0.2))
    assert all(healthy.values()), healthy
    wrecked = _wd_rows(strong_ll=-21.8)                                     # the log-likelihood
    for r in wrecked["rows"]:
        if r["n"] == 320 and r["weight_decay"] == 0.3:                     # only the wrecked decay lowers it
            r["memorization"] = 0.45 + 0.01 * (r["seed"] - 2)
    wrecked["summary"] = mm.summarize(wrecked["rows"], "weight_decay", by=("n", "width"))
    verdict = mm.WEIGHT_DECAY.verdict(wrecked)
    assert verdict["n = 320, width 512: memorisation falls with the weight decay"]
    assert not verdict["n = 320, width 512: memorisation falls with the weight decay, samples not degraded"]
    flat = _wd_rows(strong_ll=FRESH_LL)
    for r in flat["rows"]:
        if r["n"] == 320:                                                   # no decay raises log p any more
            r["log_likelihood"] = FRESH_LL + (0.3 if r["seed"] % 2 else -0.3)
    key = "n = 320: some decay raises the log-likelihood (Bonferroni over 3 decays)"
    assert not mm.WEIGHT_DECAY.verdict({**flat, "summary": mm.summarize(flat["rows"], "weight_decay",
                                                                       by=("n", "width"))})[key]


def test_sample_size_claims_per_schedule():
    rows = (_rows([(50, 0.9, FRESH_LL), (800, 0.1, FRESH_LL)], factor="n")
            + _rows([(50, 0.2, FRESH_LL), (800, 0.15, FRESH_LL)], factor="n", schedule=mm.MATCHED))
    verdict = mm.SAMPLE_SIZE.verdict(_results(rows, "n", by=("schedule",)))
    assert verdict["memorisation falls with n (fixed steps)"]
    assert not verdict["memorisation falls with n (matched epochs)"]      # inside CLEAR: no trend
    facts = mm.SAMPLE_SIZE.facts(_results(rows, "n", by=("schedule",)))
    assert facts["ch06_sample_size_first_mem"] == pytest.approx(90) and facts["ch06_sample_size_matched_first_mem"] == pytest.approx(20)
    assert facts["ch06_sample_size_matched_degraded"] == "none"


def test_supported_needs_two_seeds_and_the_right_side():
    assert supported({"mean_diff": 1.0, "ci95": [0.5, 1.5], "n": 5}, +1)
    assert not supported({"mean_diff": 1.0, "ci95": [0.5, 1.5], "n": 5}, -1)
    assert not supported({"mean_diff": 1.0, "ci95": [-math.inf, math.inf], "n": 1}, +1)


def test_tables_list_every_cell_and_trend():
    results = _results(_rows([(16, 0.0, FRESH_LL), (256, 0.7, FRESH_LL - 3)], factor="width"), "width")
    table = mm.summary_table(results["summary"], "width")
    assert table.count("\n") == 3 and "| 256 | 1 | 5 | 70.0 ± 1.6 |" in table and table.endswith("| yes |")
    assert "-13.35 ± 0.05" in table
    trends = mm.SCALE.trends(results)
    text = mm.trend_table(trends)
    assert "| memorisation rises with network size | 16, 256 | True | +70.0 [" in text and "| 256 | False | – |" in text


def test_phase_2d_has_no_guarded_claim():
    rows = _rows([(8, 0.1, FRESH_LL), (512, 0.9, FRESH_LL)], factor="width", d=2)
    assert list(mm.PHASE_2D.verdict(_results(rows, "width"))) == ["memorisation rises with network size"]
    with pytest.raises(ValueError, match="unknown ablation"):
        claims.trends("nonsense", _results(rows, "width"))
