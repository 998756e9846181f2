"""The regime probe of chapter 7: memorisation over training per subset size, resumable, and its stored record."""

import dataclasses

import pytest
import torch

from memsep_lib.dit import DIT_CONFIGS
from memsep_lib.experiments.dit_pruning import CONFIGS, MEMORIZATION_BAND, probe
from memsep_lib.results import load_results


def _tiny(monkeypatch):
    monkeypatch.setitem(DIT_CONFIGS, "DiT-test/4", dict(hidden_size=16, depth=2, num_heads=2, patch_size=4))
    images = torch.rand(12, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    monkeypatch.setattr(probe, "load_data", lambda size, *a, **k: images[:size])
    return dataclasses.replace(CONFIGS["ci"], resolution=8, dit="DiT-test/4", batch_size=4, sample_steps=3)


def test_probe_curve_is_resumable(tmp_path, monkeypatch):
    base = _tiny(monkeypatch)
    curve = probe.probe_subset_size(base, 6, steps=10, every=5, samples=4, seed=0, folder=tmp_path)
    assert list(curve) == [5, 10] and all(0 <= v <= 1 for v in curve.values())
    again = probe.probe_subset_size(base, 6, steps=10, every=5, samples=4, seed=0, folder=tmp_path)
    assert again == curve                                    # read back from the folder's stages
    with pytest.raises(ValueError, match="different config"):
        probe.probe_subset_size(base, 8, steps=10, every=5, samples=4, seed=0, folder=tmp_path)
    with pytest.raises(ValueError, match="every"):
        probe.probe_subset_size(base, 6, steps=4, every=5, samples=4, seed=0, folder=tmp_path / "other")
    with pytest.raises(ValueError, match="profile"):
        probe.run_probe("paper")


def test_stored_probe_chose_a_training_length_inside_the_band():
    record = load_results(probe.NAME, "cpu", probe.PROBE_DIR)
    cpu = CONFIGS["cpu"]
    curve = record["results"]["memorization"][str(cpu.subset_size)]
    assert record["config"]["base"]["resolution"] == cpu.resolution and record["config"]["base"]["dit"] == cpu.dit
    lo, hi = MEMORIZATION_BAND
    assert lo <= curve[str(cpu.train_steps)] <= hi                       # the run's length: inside the band
    assert curve[str(record["config"]["steps"])] > hi                     # trained on, it would saturate
