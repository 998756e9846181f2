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
        results_path("demo", "huge")
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
    with pytest.raises(ValueError, match="lacks field"):
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



def test_stage_cache_refuses_a_folder_of_another_config(tmp_path):
    import dataclasses

    from memsep_lib.results import StageCache

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        steps: int

    cache = StageCache(tmp_path, config=Cfg(10))
    assert cache.get("a", lambda: 1) == 1
    assert StageCache(tmp_path, config=Cfg(10)).get("a", lambda: 2) == 1       # same config: resumes
    with pytest.raises(ValueError, match="different config"):
        StageCache(tmp_path, config=Cfg(11))


def _counting_experiment(calls):
    import dataclasses
    from types import SimpleNamespace

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        size: int

    def run(config, *, device=None, progress=False):
        calls.append(config.size)
        return {"value": (1.0, 2.0), 3: "x"}
    return SimpleNamespace(NAME="toy", CONFIGS={"ci": Cfg(1), "cpu": Cfg(2), "paper": Cfg(3)}, run=run)


def test_stored_or_live_prefers_the_largest_stored_profile(tmp_path):
    from memsep_lib.results import stored_or_live

    calls = []
    exp = _counting_experiment(calls)
    live = stored_or_live(exp, profile="ci", device="cpu", results_dir=tmp_path)
    assert calls == [1] and not live.stored and live.profile == "ci" and "computed live" in live.label
    assert live.results == {"value": [1.0, 2.0], "3": "x"} and live.config == {"size": 1}   # as a file would read
    save_results("toy", "cpu", {"size": 2}, {"value": [5.0]}, wall_time_s=12.0, device="cpu", results_dir=tmp_path)
    stored = stored_or_live(exp, profile="ci", device="cpu", results_dir=tmp_path)
    assert calls == [1] and stored.stored and stored.profile == "cpu" and stored.results == {"value": [5.0]}
    assert "profile cpu" in stored.label and "stored results" in stored.label and "12 s" in stored.label
    stored_or_live(exp, profile="paper", device="cpu", results_dir=tmp_path)    # cpu file is smaller than paper
    assert calls == [1, 3]
    with pytest.raises(ValueError, match="profile"):
        stored_or_live(exp, profile="huge", results_dir=tmp_path)


def test_truncated_misnamed_and_nan_files_are_clear_errors(tmp_path):
    from memsep_lib.results import largest_available_profile

    path = save_results("toy", "cpu", {"a": 1}, {"x": 1.0}, wall_time_s=1.0, device="cpu", results_dir=tmp_path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])                                   # truncated mid-write
    assert largest_available_profile("toy", tmp_path) == "cpu"
    with pytest.raises(ValueError, match=f"{path}.*truncated or corrupt"):
        load_results("toy", "cpu", tmp_path)
    path.write_text(text.replace('"x": 1.0', '"x": NaN'))
    with pytest.raises(ValueError, match="NaN"):
        load_results("toy", "cpu", tmp_path)
    (tmp_path / "toy-paper.json").write_text(text)                            # a cpu run under a paper name
    with pytest.raises(ValueError, match="should be toy-cpu.json"):
        load_results("toy", "paper", tmp_path)
    path.write_text(json.dumps({k: v for k, v in json.loads(text).items() if k != "results"}))
    with pytest.raises(ValueError, match="lacks field"):
        load_results("toy", "cpu", tmp_path)


def test_save_writes_strict_json_and_leaves_no_temp_files(tmp_path):
    import math
    path = save_results("toy", "ci", {}, {"x": math.nan, "y": [math.inf]}, wall_time_s=1.0, device="cpu",
                        results_dir=tmp_path)
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()
    assert load_results("toy", "ci", tmp_path)["results"] == {"x": None, "y": [None]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy-ci.json"]
    with pytest.raises(ValueError, match="strict-JSON"):
        save_results("toy", "ci", {}, {"x": object()}, wall_time_s=1.0, device="cpu", results_dir=tmp_path)


def test_a_run_folder_is_locked_for_a_second_run(tmp_path):
    import subprocess
    import sys

    from memsep_lib.results import FolderInUseError, run_folder_lock

    with run_folder_lock(tmp_path):
        with pytest.raises(FolderInUseError, match="in use"):
            with run_folder_lock(tmp_path):
                pass
        code = ("import sys; from memsep_lib.results import run_folder_lock\n"
                "try:\n    run_folder_lock(sys.argv[1]).__enter__()\nexcept RuntimeError as e:\n"
                "    print(e); sys.exit(3)\n")
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
        assert other.returncode == 3 and f"pid" in other.stdout
    with run_folder_lock(tmp_path):          # released: usable again
        pass
