import pytest
import torch

from memsep_lib import config


def test_profile_defaults_to_ci(monkeypatch):
    monkeypatch.delenv("MEMSEP_PROFILE", raising=False)
    assert config.get_profile() == "ci"


@pytest.mark.parametrize("name", ["ci", "cpu", "paper", " CPU "])
def test_profile_from_environment(monkeypatch, name):
    monkeypatch.setenv("MEMSEP_PROFILE", name)
    assert config.get_profile() == name.strip().lower()


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("MEMSEP_PROFILE", "huge")
    with pytest.raises(ValueError, match="MEMSEP_PROFILE"):
        config.get_profile()


def test_by_profile_picks_the_active_value(monkeypatch):
    monkeypatch.setenv("MEMSEP_PROFILE", "cpu")
    assert config.by_profile(ci=1, cpu=2, paper=3) == 2
    assert config.by_profile(ci=1, cpu=2, paper=3, profile="paper") == 3
    with pytest.raises(ValueError, match="profile"):
        config.by_profile(ci=1, cpu=2, paper=3, profile="gpu")


def test_device_override(monkeypatch):
    monkeypatch.setenv("MEMSEP_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    monkeypatch.setenv("MEMSEP_DEVICE", "not-a-device")
    with pytest.raises(ValueError, match="MEMSEP_DEVICE"):
        config.get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error path")
def test_cuda_request_without_cuda_is_an_error(monkeypatch):
    monkeypatch.setenv("MEMSEP_DEVICE", "cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        config.get_device()


def test_default_device_follows_cuda_availability(monkeypatch):
    monkeypatch.delenv("MEMSEP_DEVICE", raising=False)
    assert config.get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_seed_everything_is_reproducible():
    a = torch.randn(3, generator=config.seed_everything(7, "cpu"))
    b = torch.randn(3, generator=config.seed_everything(7, "cpu"))
    assert torch.equal(a, b)
    with pytest.raises(TypeError, match="seed"):
        config.seed_everything(1.5)


def test_run_label_names_profile_and_device(monkeypatch):
    monkeypatch.setenv("MEMSEP_PROFILE", "ci")
    label = config.run_label(torch.device("cpu"))
    assert label.startswith("profile ci, cpu (")


def test_make_generator_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a = torch.randn(3, generator=config.make_generator(5))
    assert torch.equal(a, torch.randn(3, generator=config.make_generator(5, "cpu")))
    assert torch.equal(state, torch.get_rng_state())
    with pytest.raises(TypeError, match="seed"):
        config.make_generator(True)
