"""The registry, the experiment contract every chapter meets, and the CLI."""

import dataclasses
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from memsep_lib import experiments, results
from memsep_lib.config import ALL_PROFILES, PROFILES
from memsep_lib.experiments.__main__ import main


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    size: int


def _toy(name="toy"):
    """A minimal experiment: run records its config and where it was asked to checkpoint."""
    def run(config, *, device=None, progress=False, workdir=None):
        return {"value": 0.5 * config.size, "progress": progress, "workdir": str(workdir)}
    return SimpleNamespace(NAME=name, DESCRIPTION="a toy", CONFIGS={p: ToyConfig(i + 1) for i, p in enumerate(PROFILES)},
                           COST={p: {"minutes": 0.1, "hardware": "1 CPU thread", "basis": "measured"} for p in PROFILES},
                           run=run, verdict=lambda r: {"positive": r["value"] > 0}, facts=lambda r: {"value": r["value"]})


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so test experiments do not leak."""
    monkeypatch.setattr(experiments, "REGISTRY", dict(experiments.REGISTRY))
    return experiments.REGISTRY


@pytest.mark.parametrize("name", experiments.experiment_names())
def test_every_chapter_meets_the_contract(name):
    exp = experiments.get_experiment(name)
    assert exp.NAME == name and isinstance(exp.DESCRIPTION, str) and "\n" not in exp.DESCRIPTION
    assert set(PROFILES) <= set(exp.CONFIGS) <= set(ALL_PROFILES)    # the book's profiles, and maybe gpu
    assert len({type(c) for c in exp.CONFIGS.values()}) == 1, "one config type per experiment"
    for config in exp.CONFIGS.values():
        assert dataclasses.is_dataclass(config) and type(config).__dataclass_params__.frozen
    assert set(exp.COST) == set(exp.CONFIGS)
    for entry in exp.COST.values():
        assert entry["minutes"] > 0 and entry["hardware"] and entry["basis"]
    assert all(callable(getattr(exp, f)) for f in ("run", "verdict", "facts"))


def test_every_chapter_has_a_registered_experiment():
    names = experiments.experiment_names()
    for chapter in ("dsm_minimiser", "loss_gap_fisher", "loss_gap_bound", "approximation_width", "hessian_lipschitz",
                    "dit_pruning"):
        assert chapter in names
    assert sum(n.startswith("mixture_") for n in names) == 5


def test_list_shows_description_and_costs(registry, capsys):
    experiments.register("toy", _toy())
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "loss_gap_bound" in out and "toy" in out and "a toy" in out and "cpu ~0.1 min" in out
    assert main(["--list", "toy"]) == 0
    assert "a toy" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--list", "no_such_experiment"])


def test_run_dispatches_writes_results_and_checkpoints_under_results_dir(registry, tmp_path, capsys):
    experiments.register("toy", _toy())
    assert main(["toy", "--profile", "cpu", "--results-dir", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "toy-cpu.json").read_text())
    assert record["config"] == {"size": 2} and record["results"]["value"] == 1.0
    assert record["results"]["progress"] is True
    assert record["results"]["workdir"] == str(tmp_path / "checkpoints" / "toy-cpu")
    assert record["experiment"] == "toy" and record["profile"] == "cpu" and record["wall_time_s"] >= 0
    assert "wrote" in capsys.readouterr().out


def _toy_with_gpu():
    """The toy with a gpu profile besides the book's three (as dit_pruning has), and a record of its runs."""
    toy, ran = _toy(), []
    toy.CONFIGS = {**toy.CONFIGS, "gpu": ToyConfig(7)}
    toy.COST = {**toy.COST, "gpu": {"minutes": 5, "hardware": "1 H200 GPU", "basis": "estimate"}}
    run = toy.run
    toy.run = lambda config, **kw: ran.append(config) or run(config, **kw)
    return toy, ran


def test_a_profile_only_some_experiments_have(registry, tmp_path, monkeypatch, capsys):
    toy, ran = _toy_with_gpu()
    experiments.register("toy", toy)
    assert main(["--list", "toy"]) == 0
    assert "gpu ~5 min (1 H200 GPU)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:              # an experiment without a gpu profile: refused at once
        main(["loss_gap_bound", "--profile", "gpu", "--results-dir", str(tmp_path)])
    assert exc.value.code == 2 and "has no 'gpu' profile" in capsys.readouterr().err
    # a results module that cannot hold the profile: refused before the run, not after it
    monkeypatch.setattr(results, "ALL_PROFILES", PROFILES)
    with pytest.raises(SystemExit) as exc:
        main(["toy", "--profile", "gpu", "--results-dir", str(tmp_path)])
    assert exc.value.code == 2 and "profile" in capsys.readouterr().err and ran == []
    # the real one holds every profile of ALL_PROFILES
    monkeypatch.setattr(results, "ALL_PROFILES", ALL_PROFILES)
    assert main(["toy", "--profile", "gpu", "--results-dir", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "toy-gpu.json").read_text())
    assert ran == [ToyConfig(7)] and record["profile"] == "gpu" and record["config"] == {"size": 7}
    assert record["results"]["progress"] is True


def test_dit_pruning_lists_its_gpu_profile(capsys):
    from memsep_lib.experiments.dit_pruning import COST
    assert main(["--list", "dit_pruning"]) == 0
    out = capsys.readouterr().out
    assert f"cpu ~{COST['cpu']['minutes']:g} min ({COST['cpu']['hardware']})" in out
    assert f"gpu ~{COST['gpu']['minutes']:g} min (1 H200 GPU)" in out
    assert out.index("cpu ~") < out.index("gpu ~") < out.index("paper ~")      # in order of size


def test_lazy_registration_by_module_path(registry):
    experiments.register("lazy", "math:sqrt")
    assert experiments.get_experiment("lazy")(4.0) == 2.0


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


def test_bad_profile_in_the_environment_is_a_clean_error_at_start(registry, monkeypatch, capsys):
    experiments.register("toy", _toy())
    monkeypatch.setenv("MEMSEP_PROFILE", "bogus")
    with pytest.raises(SystemExit) as exc:
        main(["toy"])
    assert exc.value.code == 2 and "MEMSEP_PROFILE" in capsys.readouterr().err


def test_register_validates(registry):
    with pytest.raises(ValueError, match="already registered"):
        experiments.register("loss_gap_bound", _toy())
    experiments.register("loss_gap_bound", _toy("loss_gap_bound"), replace=True)
    with pytest.raises(ValueError, match="name"):
        experiments.register("a/b", _toy())
    with pytest.raises(TypeError, match="where"):
        experiments.register("x", 42)


def test_module_entry_point_lists():
    out = subprocess.run([sys.executable, "-m", "memsep_lib.experiments", "--list"], capture_output=True,
                         text=True, check=True, timeout=300)
    assert "loss_gap_bound" in out.stdout.split()
