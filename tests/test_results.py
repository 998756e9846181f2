import json

import pytest

from memsep_lib.results import largest_available_profile, load_results, results_path, save_results


def test_round_trip_with_provenance(tmp_path):
    path = save_results("demo", "cpu", {"n": 3}, {"gap": [1.0, 2.0]}, wall_time_s=1.23456,
                        device="cpu", results_dir=tmp_path)
    assert path == tmp_path / "demo-cpu.json"
    record = load_results("demo", "cpu", results_dir=tmp_path)
    assert record["config"] == {"n": 3} and record["results"] == {"gap": [1.0, 2.0]}
    for key in ("library_version", "device", "date", "wall_time_s", "profile", "torch_version"):
        assert key in record
    assert record["wall_time_s"] == 1.235
    assert json.loads(path.read_text())["experiment"] == "demo"


def test_largest_profile_and_missing_file(tmp_path):
    assert largest_available_profile("demo", tmp_path) is None
    save_results("demo", "ci", {}, {}, wall_time_s=0, results_dir=tmp_path)
    assert largest_available_profile("demo", tmp_path) == "ci"
    save_results("demo", "paper", {}, {}, wall_time_s=0, results_dir=tmp_path)
    assert largest_available_profile("demo", tmp_path) == "paper"
    with pytest.raises(FileNotFoundError, match="python -m memsep_lib.experiments demo --profile cpu"):
        load_results("demo", "cpu", tmp_path)


def test_bad_names():
    with pytest.raises(ValueError, match="profile"):
        results_path("demo", "gpu")
    with pytest.raises(ValueError, match="experiment"):
        results_path("../x", "ci")


def test_list_results_provenance_and_order(tmp_path):
    from memsep_lib.results import list_results, save_results
    assert list_results(tmp_path / "absent") == []
    save_results("b", "paper", {}, {}, wall_time_s=3.0, device="cpu", results_dir=tmp_path)
    save_results("a", "paper", {}, {}, wall_time_s=2.0, device="cpu", results_dir=tmp_path)
    save_results("a", "ci", {"n": 1}, {"x": 1}, wall_time_s=1.0, device="cpu", results_dir=tmp_path)
    rows = list_results(tmp_path)
    assert [(r["experiment"], r["profile"]) for r in rows] == [("a", "ci"), ("a", "paper"), ("b", "paper")]
    assert rows[0]["file"] == "a-ci.json" and rows[0]["wall_time_s"] == 1.0
    assert rows[0]["device"].startswith("cpu") and rows[0]["library_version"] and rows[0]["date"]
    assert "config" not in rows[0] and "results" not in rows[0]


def test_list_results_rejects_non_results_files(tmp_path):
    from memsep_lib.results import list_results
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="junk.json"):
        list_results(tmp_path)
    (tmp_path / "junk.json").write_text('{"experiment": "x"}')
    with pytest.raises(ValueError, match="provenance"):
        list_results(tmp_path)


def test_jsonable_makes_strict_json():
    import math

    import numpy as np

    from memsep_lib.results import jsonable

    raw = {1: (np.float64(math.nan), np.int64(3), np.bool_(True)), "x": [math.inf, 0.5]}
    assert jsonable(raw) == {1: [None, 3, True], "x": [None, 0.5]}
    assert jsonable(raw, str_keys=True) == {"1": [None, 3, True], "x": [None, 0.5]}
    json.dumps(jsonable(raw), allow_nan=False)


def test_stage_cache_computes_once_and_survives_a_restart(tmp_path):
    from memsep_lib.results import StageCache
    calls = []
    cache = StageCache(tmp_path / "run")
    assert cache.get("a", lambda: calls.append(1) or {"x": (1, 2)}) == {"x": [1, 2]}
    assert cache.get("keys", lambda: {3: "three"}) == {"3": "three"}           # as JSON gives it back
    assert cache.get("a", lambda: calls.append(1) or {"x": 0}) == {"x": [1, 2]}
    again = StageCache(tmp_path / "run")
    assert again.get("a", lambda: calls.append(1)) == {"x": [1, 2]} and calls == [1]

