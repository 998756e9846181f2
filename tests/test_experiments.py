import json
import subprocess
import sys

import pytest

from memsep_lib import experiments
from memsep_lib.experiments.__main__ import main


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so test experiments do not leak."""
    monkeypatch.setattr(experiments, "REGISTRY", dict(experiments.REGISTRY))
    return experiments.REGISTRY


def _toy(profile):
    return {"size": {"ci": 1, "cpu": 2, "paper": 3}[profile]}, {"value": 0.5, "profile": profile}


def test_list_shows_registered_names(registry, capsys):
    experiments.register("toy", _toy)
    assert main(["--list"]) == 0
    out = capsys.readouterr().out.split()
    assert "loss_gap_bound" in out and "toy" in out


def test_run_dispatches_and_writes_results(registry, tmp_path, capsys):
    experiments.register("toy", _toy)
    assert main(["toy", "--profile", "cpu", "--results-dir", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "toy-cpu.json").read_text())
    assert record["config"] == {"size": 2} and record["results"]["profile"] == "cpu"
    assert record["experiment"] == "toy" and record["profile"] == "cpu" and record["wall_time_s"] >= 0
    assert "wrote" in capsys.readouterr().out


def test_lazy_registration_by_module_path(registry):
    experiments.register("lazy", "math:sqrt")
    assert experiments.get_experiment("lazy")(4.0) == 2.0
    assert experiments.get_experiment("loss_gap_bound").__name__ == "run"


def test_bad_name_is_a_clear_error(registry, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no_such_experiment", "--results-dir", "/nonexistent"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'no_such_experiment'" in err and "loss_gap_bound" in err
    with pytest.raises(KeyError, match="registered"):
        experiments.get_experiment("no_such_experiment")
    with pytest.raises(SystemExit):
        main([])                                         # no name and no --list


def test_register_validates(registry):
    with pytest.raises(ValueError, match="already registered"):
        experiments.register("loss_gap_bound", _toy)
    experiments.register("loss_gap_bound", _toy, replace=True)
    with pytest.raises(ValueError, match="name"):
        experiments.register("a/b", _toy)
    with pytest.raises(TypeError, match="fn"):
        experiments.register("x", 42)


def test_progress_is_silent_in_ci():
    assert experiments.progress(range(3), profile="ci").disable
    assert not experiments.progress(range(3), profile="cpu").disable
    with pytest.raises(ValueError, match="profile"):
        experiments.progress(range(3), profile="huge")


def test_module_entry_point_lists():
    out = subprocess.run([sys.executable, "-m", "memsep_lib.experiments", "--list"], capture_output=True,
                         text=True, check=True, timeout=120)
    assert "loss_gap_bound" in out.stdout.split()


def test_every_registered_experiment_has_an_expected_cost_per_profile():
    from memsep_lib.config import PROFILES
    for name in experiments.experiment_names():
        cost = experiments.expected_cost(name)
        assert set(cost) == set(PROFILES), name
        for entry in cost.values():
            assert entry["minutes"] > 0 and entry["hardware"] and entry["basis"]


def test_expected_cost_unknown_and_unrecorded(registry):
    with pytest.raises(KeyError, match="unknown experiment"):
        experiments.expected_cost("no-such-experiment")
    experiments.register("toy", _toy)
    assert experiments.expected_cost("toy") == {}
