import pytest

from memsep_lib import experiments
from memsep_lib.config import PROFILES
from memsep_lib.provenance import format_minutes, html_table, results_rows, runner_rows
from memsep_lib.results import save_results


def test_format_minutes():
    assert format_minutes(0.5) == "30 s"
    assert format_minutes(5) == "5 min"
    assert format_minutes(120) == "2.0 h"
    assert format_minutes(5900) == "4.1 days"
    for bad in (-1, float("nan"), "5", True):
        with pytest.raises(ValueError, match="minutes"):
            format_minutes(bad)


def test_runner_rows_cover_registry_and_results(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "REGISTRY", dict(experiments.REGISTRY))
    from types import SimpleNamespace
    experiments.register("toy", SimpleNamespace(NAME="toy", CONFIGS={}, run=None, verdict=None, facts=None,
                                                COST={"cpu": {"minutes": 5, "hardware": "1 CPU thread",
                                                              "basis": "measured"}}))
    save_results("toy", "cpu", {}, {}, wall_time_s=1.0, device="cpu", results_dir=tmp_path)
    rows = {r["experiment"]: r for r in runner_rows(tmp_path)}
    assert set(rows) == set(experiments.REGISTRY)
    assert rows["toy"]["results"] == "cpu" and rows["toy"]["ci"] == "not recorded"
    assert rows["toy"]["cpu"] == "5 min on 1 CPU thread (measured)"
    assert rows["toy"]["command"] == "python -m memsep_lib.experiments toy --profile <profile>"
    assert rows["loss_gap_bound"]["results"] == "none yet"
    assert all(" on " in rows["loss_gap_bound"][p] for p in PROFILES)


def test_results_rows_flag_unregistered(tmp_path):
    save_results("loss_gap_bound", "ci", {}, {}, wall_time_s=90.0, device="cpu", results_dir=tmp_path)
    save_results("orphan", "paper", {}, {}, wall_time_s=1.0, device="cpu", results_dir=tmp_path)
    rows = results_rows(tmp_path)
    assert [(r["experiment"], r["registered"]) for r in rows] == [("loss_gap_bound", True), ("orphan", False)]
    assert rows[0]["wall time"] == "2 min" and "T" not in rows[0]["date"]


def test_html_table_escapes_and_validates():
    out = html_table([{"a": "<b>", "b": 1}], code=("a",))
    assert "<th>a</th><th>b</th>" in out and "<td><code>&lt;b&gt;</code></td><td>1</td>" in out
    assert "(none)" in html_table([], ["x"])
    with pytest.raises(ValueError, match="columns"):
        html_table([])
    with pytest.raises(TypeError, match="rows"):
        html_table("rows")
