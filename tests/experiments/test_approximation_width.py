"""Tests for the registered experiment approximation_width (Chapter 4): W* search, summaries, verdict, facts."""

import dataclasses
import json
import math

import pytest

from memsep_lib.experiments import get_experiment
from memsep_lib.experiments.approximation_width import experiment as E
from memsep_lib.experiments.approximation_width import figures
from memsep_lib.results import config_dict, load_results

WIDE = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def synthetic_results(widths=WIDE, reps=2, jitter=1.2):
    """Errors ``sqrt(c n / W) / 4``: empirical ``W* = 6.25 c n`` at eps 0.1 (c = 2 at the smallest t, m duplicates
    count as n - m points), true ``W* = 3.1``; repetition ``r`` has its errors times ``jitter**r`` (``W*`` times
    ``jitter**(2r)``: the repetition tolerance)."""
    design = {k: v for k, v in config_dict(dataclasses.replace(E.CONFIGS["ci"], widths=widths, reps=reps)).items()
              if k in E.DESIGN_KEYS}
    tasks = E._task_list(design)
    errors = []
    for task in tasks:
        if task["kind"] == "empirical":
            scale = (task["n"] - task["m"]) * (2.0 if task["t"] == min(design["t_values"]) else 1.0)
        else:
            scale = 0.5
        errors.append([0.25 * jitter ** task["rep"] * math.sqrt(scale / w) for w in widths])
    return {"design": design, "search": {"tasks": tasks, "widths": list(widths), "test_error": errors}}


TINY = dataclasses.replace(E.CONFIGS["ci"], n_values=(4, 8), t_values=(0.1,), duplicates=((8, 4),), widths=(2, 8),
                           pool=256, num_val=64, num_test=64, max_steps=40, batch_size=32, eval_every=20,
                           exact_n=16, exact_queries=32, exact_t_values=(0.1,), prune_n=16, prune_t_values=(0.1,),
                           prune_units=(1, 8), prune_duplicates=4, prune_dup_t_values=(0.1,), prune_dup_units=(1, 8))


def test_registered_experiment_has_the_contract():
    exp = get_experiment("approximation_width")
    assert exp.NAME == "approximation_width" and exp.DESCRIPTION
    assert all(callable(getattr(exp, name)) for name in ("run", "verdict", "facts"))
    assert set(exp.COST) == {"ci", "cpu", "paper"}


def test_configs_are_frozen_and_consistent():
    assert set(E.CONFIGS) == {"ci", "cpu", "paper"}
    assert len({type(c) for c in E.CONFIGS.values()}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        E.CONFIGS["ci"].eps = 0.2
    for cfg in E.CONFIGS.values():
        assert list(cfg.widths) == sorted(cfg.widths)
        assert all(m <= n - m for n, m in cfg.duplicates)
        assert all(n - m in cfg.n_values for n, m in cfg.duplicates)
        json.dumps(config_dict(cfg))
    cfg = E.CONFIGS["ci"]
    kinds = {(t["kind"], t["m"] > 0) for t in E._task_list(config_dict(cfg))}
    assert kinds == {("empirical", False), ("true", False), ("empirical", True)}
    assert E.width_learning_rate(cfg, 4 * cfg.lr_width) == pytest.approx(cfg.lr / 2)


def test_width_threshold_on_synthetic_table():
    widths = [4, 8, 16, 32]
    assert E.width_threshold(widths, [0.5, 0.3, 0.2, 0.05], 0.1, interpolate=False) == 32
    # geometric interpolation: log err goes from log 0.2 at 16 to log 0.05 at 32; crosses log 0.1 at 16 * 2^(1/2)
    assert E.width_threshold(widths, [0.5, 0.3, 0.2, 0.05], 0.1) == pytest.approx(16 * math.sqrt(2))
    assert E.width_threshold(widths, [0.05, 0.01, 0.01, 0.01], 0.1) == 4
    assert E.width_threshold(widths, [0.5, 0.4, 0.3, 0.2], 0.1) == math.inf
    # a worse wider net does not count against the width: running minimum
    assert E.width_threshold(widths, [0.5, 0.1, 0.4, 0.05], 0.1) == pytest.approx(8.0)
    assert E.width_threshold(widths, [math.inf, 0.1, 0.4, 0.05], 0.1) == 8.0
    with pytest.raises(ValueError, match="increasing"):
        E.width_threshold([4, 4, 8], [0.3, 0.2, 0.1], 0.1)
    with pytest.raises(ValueError, match="same"):
        E.width_threshold([4, 8], [0.3], 0.1)
    with pytest.raises(ValueError, match="eps"):
        E.width_threshold([4, 8], [0.3, 0.2], 0.0)
    with pytest.raises(ValueError, match="NaN"):
        E.width_threshold([4, 8], [0.3, float("nan")], 0.1)


def test_summary_and_verdict_on_synthetic_search():
    results = synthetic_results()
    summary = E.summarize(results)
    ts = results["design"]["t_values"]
    assert summary["fits"]["empirical"][str(min(ts))]["fit"]["exponent"] == pytest.approx(1.0, abs=1e-6)
    assert summary["fits"]["true"][str(max(ts))]["fit"]["exponent"] == pytest.approx(0.0, abs=1e-9)
    assert E.verdict(results) == dict.fromkeys(E.WIDTH_CLAIMS, True)
    fit = summary["fits"]["empirical"][str(min(ts))]["fit_censored"]
    assert fit["ci95"][0] < 1.0 < fit["ci95"][1] and fit["censored"] == 0
    assert summary["duplication"]["tolerance"]["factor"] == pytest.approx(1.44, rel=1e-6)
    assert "| empirical |" in E.summary_table(results, summary)


def test_verdict_fails_on_wrong_results():
    # a duplicated set whose width is 3x that of its n - m distinct points fails the duplication check
    results = synthetic_results()
    for task, errs in zip(results["search"]["tasks"], results["search"]["test_error"]):
        if task["m"]:
            errs[:] = [e * math.sqrt(3.0) for e in errs]                 # W* = 6.25 c (n - m) * 3
    v = E.verdict(results)
    assert not v["duplicates_match_n_minus_m"]
    # duplicates that count as distinct points fail both duplication checks
    results = synthetic_results()
    for task, errs in zip(results["search"]["tasks"], results["search"]["test_error"]):
        if task["m"]:
            errs[:] = [0.25 * 1.2 ** task["rep"] * math.sqrt(2 * task["n"] / w) for w in WIDE]
    v = E.verdict(results)
    assert not v["duplicates_match_n_minus_m"] and not v["duplicates_below_n"]
    # repetitions that disagree by 3x leave a tolerance that cannot detect a 3x error: the check fails
    assert not E.verdict(synthetic_results(jitter=math.sqrt(3.0) * 1.01))["duplicates_match_n_minus_m"]
    # the empirical width censored at the largest n does not pass the separation check automatically
    results = synthetic_results(widths=WIDE[:6])                       # cap 64: W* = 200 at n = 16 is censored
    assert not E.verdict(results)["separation_at_largest_n"]
    # an empirical score as easy as the true one: no slope, no separation
    results = synthetic_results()
    for task, errs in zip(results["search"]["tasks"], results["search"]["test_error"]):
        errs[:] = [0.25 * math.sqrt(0.5 / w) for w in WIDE]
    v = E.verdict(results)
    assert not v["empirical_slope_above_threshold"] and not v["separation_at_largest_n"]
    # a true score that needs as much width as the empirical one is not bounded
    results = synthetic_results()
    for task, errs in zip(results["search"]["tasks"], results["search"]["test_error"]):
        errs[:] = [e * 10 for e in errs] if task["kind"] == "true" else errs
    assert not E.verdict(results)["true_width_bounded"]


def test_one_layer_verdict_fails_on_wrong_checks():
    from memsep_lib.experiments.approximation_width.theory import one_layer_checks

    checks = one_layer_checks(TINY)
    assert all(E.verdict({"one_layer": checks}).values())
    wrong = json.loads(json.dumps(checks))
    wrong["exact"]["errors"] = [e + 1e-6 for e in wrong["exact"]["errors"]]          # not exact
    wrong["pruning"]["errors"] = [[e / 100 for e in errs] for errs in wrong["pruning"]["errors"]]   # units spare
    v = E.verdict({"one_layer": wrong})
    assert not v["one_layer_equals_empirical_score"] and not v["every_unit_needed"] and v["merged_network_exact"]


def test_censored_tasks_and_widths_skipped():
    results = synthetic_results(widths=(2, 4, 8))
    summary = E.summarize(results)
    assert all(not math.isfinite(w) for task, w in zip(summary["tasks"], summary["W_star"])
               if task["kind"] == "empirical")
    results["search"]["test_error"] = [errs[:1] + [None, None] for errs in results["search"]["test_error"]]
    assert E.summarize(results)["W_star"][0] == math.inf


def test_pools_targets_are_the_scores():
    cfg = dataclasses.replace(E.CONFIGS["ci"], n_values=(4,), t_values=(0.1,), duplicates=(), reps=1, pool=64,
                              num_val=32, num_test=32)
    pools = E._build_pools(cfg, E._task_list(config_dict(cfg)), "cpu")
    x, y, ref = pools["test"]
    assert x.shape == y.shape == ref.shape == (2, 32, cfg.d)
    # targets are the scaled scores minus a constant (their training mean)
    for g in range(2):
        shift = (ref[g] - y[g]).double()
        assert (shift - shift[:1]).abs().max() < 1e-5


def test_run_is_json_and_resumes_from_its_stages(tmp_path):
    fresh = json.loads(json.dumps(E.run(TINY)))
    assert set(fresh) == {"design", "one_layer", "search"}
    assert len(fresh["search"]["test_error"]) == 5 and fresh["search"]["models_trained"][0] == 5
    resumed_first = E.run(TINY, workdir=tmp_path)
    stages = json.loads((tmp_path / "stages.json").read_text())
    (tmp_path / "stages.json").write_text(json.dumps({"width_2": stages["width_2"]}))
    resumed = E.run(TINY, workdir=tmp_path)                      # width 2 from the cache, width 8 trained again
    for other in (resumed_first, resumed):
        assert other["search"]["test_error"] == fresh["search"]["test_error"]
    assert set(E.verdict(fresh)) == set(E.WIDTH_CLAIMS) | set(E._one_layer_verdict(fresh["one_layer"]))
    with pytest.raises(ValueError, match="different config"):
        E.run(dataclasses.replace(TINY, seed=1), workdir=tmp_path)


def test_committed_results_load_and_give_the_chapter_numbers():
    results = load_results("approximation_width", "cpu")["results"]
    assert E.verdict(results) == {"empirical_slope_above_threshold": True, "true_width_bounded": True,
                                  "separation_at_largest_n": True, "duplicates_match_n_minus_m": False,
                                  "duplicates_below_n": True, "empirical_more_width_at_small_t": False,
                                  "one_layer_equals_empirical_score": True, "every_unit_needed": True,
                                  "full_network_exact": True, "merged_units_are_distinct_points": True,
                                  "merged_network_exact": True, "fewer_merged_units_fail": True}
    f = E.facts(results)
    assert f["ch04_slope"] == "2.39 [1.95, 2.94]" and f["ch04_slope_N"] == 3.89
    assert f["ch04_min_uncensored_n"] == 2 and f["ch04_true_max"] == 8.0
    assert (f["ch04_censored"], f["ch04_tasks_emp"], f["ch04_censored_min_n"]) == (16, 30, 32)
    assert (f["ch04_flat_n"], f["ch04_flat_a"], f["ch04_flat_b"]) == (64, 0.184, 0.187)
    assert f["ch04_dup_tol"] == 1.48 and f["ch04_dup_tol_pairs"] == 6
    assert f["ch04_dup_rows"].count("(no match)") == 2


def test_chapter_plots_draw_a_synthetic_search():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = synthetic_results()
    summary = E.summarize(results)
    assert len(figures.plot_width_star(results, summary)) == len(results["design"]["t_values"])
    figures.plot_width_star(results, summary, quantity="N_star")
    figures.plot_error_vs_width(results, min(results["design"]["t_values"]))
    figures.plot_duplicates(results)
    figures.plot_pruning_curves([1, 2, 4], [0.1, 0.5], [[0.5, 0.2, 0.0], [0.3, 0.1, 0.0]])
    plt.close("all")
