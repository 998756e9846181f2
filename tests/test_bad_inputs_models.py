"""Bad and edge inputs across the models, results and CLI layers, as one table (issue 18).

The companion of ``tests/test_bad_inputs.py`` (the core) for ``nets``, ``dit``, ``pruning``, ``features``,
``training``, ``results`` and ``python -m memsep_lib.experiments``. ``ERRORS``: ``(id, call, exception,
message regex)``: the call must raise that exception with a message naming what is wrong. ``ANSWERS``:
``(id, call, check)``: an edge input with a correct answer that ``check`` verifies (finite, except the rank
correlation of an all-tied table, which is NaN by definition). Every call goes through the public API.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch

from memsep_lib import data, experiments
from memsep_lib.config import PROFILES
from memsep_lib.dit import DIT_CONFIGS, DiT, FlatScore, sincos_pos_embed_2d
from memsep_lib.experiments.__main__ import main
from memsep_lib.features import CifarFeatureNet, cifar_feature_net, extract_features
from memsep_lib.nets import BatchedMLP, ScoreMLP, ScoreMLPStack, mlp_num_parameters, sinusoidal_embedding
from memsep_lib.pruning import (ImportanceDraws, ablation_importance, gate_prune_discrepancy, gated_loss,
                                heads_to_prune, importance_draws, random_heads_to_prune, rank_agreement,
                                taylor_importance)
from memsep_lib.results import (FolderInUseError, StageCache, config_dict, list_results, load_results,
                                read_record, results_path, run_folder_lock, save_results, stored_or_live)
from memsep_lib.training import load_checkpoint, save_checkpoint, train_resumable, train_score_net

F32, F64 = torch.float32, torch.float64
NAN, INF = float("nan"), float("inf")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _close(a, b, rel=1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)


def _finite(x) -> bool:
    return bool(torch.isfinite(torch.as_tensor(x)).all())


# ---- models ------------------------------------------------------------------------------------------
def _net() -> ScoreMLP:
    torch.manual_seed(0)
    return ScoreMLP(2, width=8, depth=2, time_embedding_dim=4)


NET = _net()
X = torch.randn(3, 2, generator=_gen(1))
STACK = ScoreMLPStack(2, 2, width=4, depth=1, time_embedding_dim=4, generator=_gen(2))
XS, TS = torch.randn(2, 3, 2, generator=_gen(3)), torch.full((2, 3), 0.5)
BMLP = BatchedMLP([3, 5], 1, 2, generator=_gen(4))
XB = torch.randn(2, 4, 2, generator=_gen(5))


def dit(**overrides) -> DiT:
    """A tiny DiT (8x8 images, patch 4: 4 tokens; 2 blocks of 2 heads) with random weights everywhere
    (the zero-initialised adaLN and final layers would make every output 0)."""
    torch.manual_seed(0)
    model = DiT(**{"input_size": 8, "patch_size": 4, "hidden_size": 16, "depth": 2, "num_heads": 2, **overrides})
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=_gen(p.numel())))
    return model.eval()


DIT = dit()
IMG = torch.randn(3, 3, 8, 8, generator=_gen(6))
IMAGES = torch.randn(6, 3, 8, 8, generator=_gen(7))
DRAWS = importance_draws(IMAGES, 4, horizon=0.3, generator=_gen(8))
TABLE = torch.tensor([[3.0, 1.0], [2.0, NAN]])                      # 3 heads, one layer padded
FEATURES = CifarFeatureNet().eval()


def pruned(remove) -> DiT:
    model = copy.deepcopy(DIT)
    model.prune_heads(remove)
    return model


def _out(model: DiT, x=IMG, t=0.1) -> torch.Tensor:
    with torch.no_grad():
        return model(x, t)


def with_nan(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    x.view(-1)[0] = NAN
    return x


# ---- results ----------------------------------------------------------------------------------------
RECORD = {"experiment": "toy", "profile": "ci", "device": "cpu (1 threads)", "library_version": "0.1.0",
          "date": "2026-01-01T00:00:00+00:00", "wall_time_s": 1.5, "config": {"size": 1}, "results": {"value": 0.5}}


def in_tmp(call):
    """``call(folder)`` in a fresh temporary folder."""
    def run():
        with tempfile.TemporaryDirectory() as folder:
            return call(Path(folder))
    return run


def record_file(name: str = "toy-ci.json", text: str | None = None, raw: bytes | None = None, **changes):
    """Write a results file ``name`` (``RECORD`` with ``changes``, ``None`` values dropped; or raw ``text``),
    then read it with :func:`read_record`."""
    def call(folder: Path):
        record = {k: v for k, v in {**RECORD, **changes}.items() if v is not None}
        path = folder / name
        if raw is not None:
            path.write_bytes(raw)
        else:
            path.write_text(json.dumps(record) if text is None else text)
        return read_record(path)
    return in_tmp(call)


def truncated_results(folder: Path):
    path = save_results("toy", "ci", {"size": 1}, {"value": list(range(50))}, wall_time_s=1.0, device="cpu",
                        results_dir=folder)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return load_results("toy", "ci", folder)


def stored_truncated(folder: Path):
    """A truncated results file of the larger profile: a clear error, not a silent fallback or a bare JSON error."""
    save_results("toy", "cpu", {}, {"v": 1}, wall_time_s=1.0, device="cpu", results_dir=folder).write_text('{"exp')
    return stored_or_live(TOY, profile="ci", results_dir=folder)


def stage_cache_config_changed(folder: Path):
    StageCache(folder, config={"steps": 200}).get("a", lambda: 1.0)
    return StageCache(folder, config={"steps": 300})


def stage_cache_resumed(folder: Path):
    first = StageCache(folder, config={"steps": 1}).get("stage", lambda: {"pair": (1, 2), 3: np.float32(0.5)})
    again = StageCache(folder, config={"steps": 1}).get("stage", lambda: pytest.fail("recomputed"))
    return first, again


def second_lock(folder: Path):
    with run_folder_lock(folder):
        with run_folder_lock(folder):
            pass


def nan_round_trip(folder: Path):
    save_results("toy", "ci", {"size": 1}, {"nan": NAN, "inf": INF, "np": np.float32(0.25), "i": np.int64(3)},
                 wall_time_s=0.5, device="cpu", results_dir=folder)
    text = results_path("toy", "ci", folder).read_text()
    return "NaN" not in text and "Infinity" not in text, load_results("toy", "ci", folder)["results"]


# ---- the CLI -----------------------------------------------------------------------------------------
class CliFailed(Exception):
    """``main`` exited with a non-zero code; the message holds the code and what it wrote to stderr."""


TOY = SimpleNamespace(NAME="toy", DESCRIPTION="a toy", CONFIGS={p: {"size": i + 1} for i, p in enumerate(PROFILES)},
                      COST={p: {"minutes": 0.1, "hardware": "1 CPU thread", "basis": "measured"} for p in PROFILES},
                      run=lambda config, **kw: {"value": 0.5 * config["size"]},
                      verdict=lambda r: {"positive": r["value"] > 0}, facts=lambda r: {})
BAD_TOY = SimpleNamespace(**{**vars(TOY), "NAME": "bad_toy", "run": lambda config, **kw: [1, 2, 3]})


def cli(*argv, env=None, results_dir=True, before=None, after=None):
    """``main([...argv, --results-dir <tmp>])`` with a toy experiment registered and ``env`` set; a non-zero
    exit is a :class:`CliFailed` with the code and stderr (on one line); returns stdout, or
    ``after(stdout, results folder)`` (called while the folder exists)."""
    def call(folder: Path):
        args = list(argv) + (["--results-dir", str(folder)] if results_dir else [])
        err, out = io.StringIO(), io.StringIO()
        environ = {"MEMSEP_PROFILE": "ci", "MEMSEP_DEVICE": "cpu", **(env or {})}
        with contextlib.ExitStack() as stack:
            stack.enter_context(mock.patch.dict(os.environ, environ))
            stack.enter_context(mock.patch.dict(experiments.REGISTRY, {"toy": TOY, "bad_toy": BAD_TOY}))
            if before is not None:
                before(folder, stack)
            stack.enter_context(contextlib.redirect_stderr(err))
            stack.enter_context(contextlib.redirect_stdout(out))
            try:
                code = main(args)
            except SystemExit as exc:
                code = exc.code
            if code:
                raise CliFailed(f"exit {code}: {' '.join(err.getvalue().split())}")
            return out.getvalue() if after is None else after(out.getvalue(), folder)
    return in_tmp(call)


def locked(folder: Path, stack):
    stack.enter_context(run_folder_lock(folder / "checkpoints" / "toy-ci"))


def cli_run_is_valid(out: str, folder: Path) -> bool:
    record = read_record(folder / "toy-ci.json")
    return "wrote" in out and record["results"] == {"value": 0.5} and record["config"] == {"size": 1}


# ---- features ----------------------------------------------------------------------------------------
# no cache and no data set there: a check that failed to fire would fail fast, not train on CIFAR-10
NOWHERE = {"cache_dir": "/nonexistent/memsep-cache", "data_dir": "/nonexistent/memsep-data", "allow_download": False}


def corrupt_feature_cache(folder: Path):
    net = cifar_feature_net(train_size=10, epochs=1, cache_dir=folder, data_dir=folder)   # trains on the fake data
    path = next(folder.glob("cifar_feature_net-*.pt"))
    path.write_bytes(path.read_bytes()[:100])
    return cifar_feature_net(train_size=10, epochs=1, cache_dir=folder, data_dir=folder), net


def fake_cifar(call):
    """``call(folder)`` with a fake 12-image CIFAR-10 (train and test) in ``folder``."""
    def run(folder: Path):
        rng = np.random.default_rng(0)
        for split in ("train", "test"):
            np.savez_compressed(folder / f"cifar10_{split}.npz", images=rng.integers(0, 256, (12, 32, 32, 3),
                                dtype=np.uint8), labels=rng.integers(0, 10, 12))
        with mock.patch.dict(data.KNOWN_SHA256, {}, clear=True):
            return call(folder)
    return in_tmp(run)


# ---- training -----------------------------------------------------------------------------------------
def _train_net() -> ScoreMLP:
    torch.manual_seed(0)
    return ScoreMLP(2)


TRAIN_DATA = torch.randn(64, 2, generator=_gen(9))


def _resumable(**kwargs):
    return in_tmp(lambda d: train_resumable(_train_net(), TRAIN_DATA, steps=kwargs.pop("steps", 10), generator=_gen(),
                                            checkpoint_path=d / "c.pt", **kwargs))


def _truncated_checkpoint(folder: Path, *, resume: bool = False):
    path = save_checkpoint(folder / "c.pt", model=_train_net())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    if resume:
        return train_resumable(_train_net(), TRAIN_DATA, steps=10, generator=_gen(), checkpoint_path=path,
                               checkpoint_every=5, log_every=5)
    return load_checkpoint(path, model=_train_net())


ERRORS = [
    # --- nets.sinusoidal_embedding ---------------------------------------------------------------------
    ("sinusoidal-t-2d", lambda: sinusoidal_embedding(torch.ones(2, 2), 4), ValueError, r"t must be a tensor of shape"),
    ("sinusoidal-t-list", lambda: sinusoidal_embedding([0.1], 4), TypeError, r"t must be a tensor"),
    ("sinusoidal-dim-0", lambda: sinusoidal_embedding(torch.ones(2), 0), ValueError, r"dim must be positive"),
    ("sinusoidal-dim-1", lambda: sinusoidal_embedding(torch.ones(2), 1), ValueError, r"dim must be >= 2"),
    ("sinusoidal-dim-float", lambda: sinusoidal_embedding(torch.ones(2), 4.0), TypeError, r"dim must be an int"),
    ("sinusoidal-int-t", lambda: sinusoidal_embedding(torch.ones(2, dtype=torch.long), 4), TypeError,
     r"t must have a floating dtype"),
    # --- nets.ScoreMLP ---------------------------------------------------------------------------------
    ("ScoreMLP-dim-0", lambda: ScoreMLP(0), ValueError, r"dim must be positive"),
    ("ScoreMLP-width-0", lambda: ScoreMLP(2, width=0), ValueError, r"width must be positive"),
    ("ScoreMLP-width-float", lambda: ScoreMLP(2, width=2.5), TypeError, r"width must be an int"),
    ("ScoreMLP-depth-0", lambda: ScoreMLP(2, depth=0), ValueError, r"depth must be positive"),
    ("ScoreMLP-activation", lambda: ScoreMLP(2, activation="tanh"), ValueError, r"activation must be one of"),
    ("ScoreMLP-time-scale-nan", lambda: ScoreMLP(2, time_scale=NAN), ValueError, r"time_scale must be finite"),
    ("ScoreMLP-time-scale-str", lambda: ScoreMLP(2, time_scale="1000"), TypeError, r"time_scale must be a real"),
    ("ScoreMLP-time-scale-bool", lambda: ScoreMLP(2, time_scale=True), TypeError, r"time_scale must be a real"),
    ("ScoreMLP-x-wrong-dim", lambda: NET(torch.ones(3, 5), 0.1), ValueError, r"x must have dimension d=2"),
    ("ScoreMLP-x-1d", lambda: NET(torch.ones(2), 0.1), ValueError, r"x must have shape \(B, d\)"),
    ("ScoreMLP-x-nan", lambda: NET(with_nan(X), 0.1), ValueError, r"x contains NaN"),
    ("ScoreMLP-x-int", lambda: NET(torch.ones(3, 2, dtype=torch.long), 0.1), TypeError, r"x must have a floating"),
    ("ScoreMLP-x-float64", lambda: NET(X.double(), 0.1), TypeError, r"x must have the net's dtype torch.float32"),
    ("ScoreMLP-t-zero", lambda: NET(X, 0.0), ValueError, r"t must be finite and > 0"),
    ("ScoreMLP-t-str", lambda: NET(X, "0.1"), TypeError, r"t must be a real number"),
    ("ScoreMLP-t-wrong-length", lambda: NET(X, torch.full((2,), 0.1)), ValueError, r"t must be a scalar or have shape \(3,\)"),
    ("ScoreMLP-t-column", lambda: NET(X, torch.full((3, 1), 0.1)), ValueError, r"t must be a scalar or have shape"),
    ("ScoreMLP-t-negative-entry", lambda: NET(X, torch.tensor([0.1, -0.1, 0.2])), ValueError, r"t must be finite and > 0"),
    ("ScoreMLP-t-nan-entry", lambda: NET(X, torch.tensor([0.1, NAN, 0.2])), ValueError, r"t must be finite and > 0"),
    ("ScoreMLP-t-too-small-for-float32", lambda: NET(X, 1e-45), ValueError,
     r"t=1e-45 is too small for float32.*smallest usable t is"),
    ("ScoreMLP-tensor-t-too-small-for-float32", lambda: NET(X, torch.tensor([1e-45, 0.1, 0.1], dtype=F64)),
     ValueError, r"too small for float32.*smallest usable t"),
    ("ScoreMLP-lipschitz-bound-t-0", lambda: NET.lipschitz_bound(0), ValueError, r"t must be finite and > 0"),
    # --- nets.ScoreMLPStack ----------------------------------------------------------------------------
    ("Stack-num-models-0", lambda: ScoreMLPStack(0, 2), ValueError, r"num_models must be positive"),
    ("Stack-weight-decay-count", lambda: ScoreMLPStack(2, 2, weight_decay=[0.1, 0.2, 0.3]), ValueError,
     r"weight_decay must be a float or 2 values"),
    ("Stack-weight-decay-negative", lambda: ScoreMLPStack(2, 2, weight_decay=-1.0), ValueError,
     r"weight_decay must be finite and >= 0"),
    ("Stack-weight-decay-nan", lambda: ScoreMLPStack(2, 2, weight_decay=[0.1, NAN]), ValueError,
     r"weight_decay must be finite"),
    ("Stack-dtype-int", lambda: ScoreMLPStack(2, 2, dtype=torch.int64), TypeError, r"dtype must be one of the floating"),
    ("Stack-time-scale-0", lambda: ScoreMLPStack(2, 2, time_scale=0.0), ValueError, r"time_scale must be finite and > 0"),
    ("Stack-x-wrong-shape", lambda: STACK(torch.ones(3, 3, 2), TS), ValueError, r"x must have shape \(2, B, 2\)"),
    ("Stack-t-wrong-shape", lambda: STACK(XS, torch.full((2,), 0.5)), ValueError, r"t shape \(2, B\)"),
    ("Stack-t-zero", lambda: STACK(XS, torch.zeros(2, 3)), ValueError, r"t must be finite and > 0"),
    ("Stack-t-nan", lambda: STACK(XS, with_nan(TS)), ValueError, r"t must be finite and > 0"),
    ("Stack-x-nan", lambda: STACK(with_nan(XS), TS), ValueError, r"x contains NaN"),
    ("Stack-x-float64", lambda: STACK(XS.double(), TS.double()), TypeError, r"x must have the stack's dtype"),
    ("Stack-member-out-of-range", lambda: STACK.member(2), ValueError, r"g must lie in \[0, 2\)"),
    ("Stack-member-float", lambda: STACK.member(1.0), TypeError, r"g must be an int"),
    ("Stack-joint-score-fn-0", lambda: STACK.joint_score_fn(0), ValueError, r"samples_per_model must be positive"),
    ("Stack-joint-score-fn-rows", lambda: STACK.joint_score_fn(2)(torch.ones(3, 2), 0.1), ValueError,
     r"x must have 2 x 2 rows"),
    # --- nets.mlp_num_parameters / BatchedMLP ----------------------------------------------------------
    ("mlp_num_parameters-width-0", lambda: mlp_num_parameters(0, 1, 2), ValueError, r"width must be a number > 0"),
    ("mlp_num_parameters-width-str", lambda: mlp_num_parameters("8", 1, 2), ValueError, r"width must be a number"),
    ("mlp_num_parameters-depth-0", lambda: mlp_num_parameters(8, 0, 2), ValueError, r"depth must be positive"),
    ("BatchedMLP-no-widths", lambda: BatchedMLP([], 1, 2), ValueError, r"widths must be a non-empty"),
    ("BatchedMLP-width-0", lambda: BatchedMLP([4, 0], 1, 2), ValueError, r"widths entries must be positive"),
    ("BatchedMLP-width-float", lambda: BatchedMLP([4, 2.7], 1, 2), TypeError, r"widths entries must be an int"),
    ("BatchedMLP-width-str", lambda: BatchedMLP(["a"], 1, 2), TypeError, r"widths entries must be an int"),
    ("BatchedMLP-widths-int", lambda: BatchedMLP(4, 1, 2), TypeError, r"widths must be a sequence of ints"),
    ("BatchedMLP-depth-float", lambda: BatchedMLP([4], 1.0, 2), TypeError, r"depth must be an int"),
    ("BatchedMLP-dtype-int", lambda: BatchedMLP([4], 1, 2, dtype=torch.int32), TypeError, r"dtype must be one of"),
    ("BatchedMLP-x-wrong-shape", lambda: BMLP(torch.ones(3, 4, 2)), ValueError, r"x must have shape \(2, B, 2\)"),
    ("BatchedMLP-x-float64", lambda: BMLP(XB.double()), TypeError, r"x must have the models' dtype"),
    ("BatchedMLP-to-mlp-out-of-range", lambda: BMLP.to_mlp(2), ValueError, r"g must be in \[0, 2\)"),
    ("BatchedMLP-relative-error-shapes", lambda: BMLP.relative_error(XB, torch.ones(2, 3, 2)), ValueError,
     r"y must have shape \(2, 4, 2\)"),
    # --- dit.DiT construction --------------------------------------------------------------------------
    ("DiT-input-not-divisible", lambda: DiT(input_size=30, patch_size=4), ValueError,
     r"input_size=30 must be divisible by patch_size=4"),
    ("DiT-patch-0", lambda: DiT(input_size=8, patch_size=0), ValueError, r"patch_size must be positive"),
    ("DiT-heads-0", lambda: DiT(input_size=8, num_heads=0), ValueError, r"num_heads must be positive"),
    ("DiT-depth-0", lambda: DiT(input_size=8, depth=0), ValueError, r"depth must be positive"),
    ("DiT-heads-not-dividing", lambda: DiT(input_size=8, hidden_size=64, num_heads=3), ValueError,
     r"hidden size 64 must be divisible by num_heads=3"),
    ("DiT-hidden-not-multiple-of-4", lambda: DiT(input_size=8, hidden_size=66, num_heads=3), ValueError,
     r"hidden_size must be divisible by 4"),
    ("DiT-hidden-float", lambda: DiT(input_size=8, hidden_size=64.0), TypeError, r"hidden_size must be an int"),
    ("DiT-mlp-ratio-0", lambda: DiT(input_size=8, hidden_size=16, num_heads=2, mlp_ratio=0.0), ValueError,
     r"mlp_ratio must be > 0"),
    ("DiT-from-config-unknown", lambda: DiT.from_config("DiT-XL/2"), ValueError, r"unknown DiT config 'DiT-XL/2'"),
    ("DiT-from-config-bad-override", lambda: DiT.from_config("DiT-ci/4", bogus=1), TypeError, r"bogus"),
    ("DiT-from-config-bad-size", lambda: DiT.from_config("DiT-ci/4", input_size=10), ValueError,
     r"input_size=10 must be divisible by patch_size=4"),
    ("sincos-dim-6", lambda: sincos_pos_embed_2d(6, 2), ValueError, r"dim must be divisible by 4"),
    # --- dit.DiT forward / score -----------------------------------------------------------------------
    ("DiT-x-wrong-size", lambda: DIT(torch.ones(2, 3, 16, 16), 0.1), ValueError, r"x must have shape \(B, 3, 8, 8\)"),
    ("DiT-x-flat", lambda: DIT(torch.ones(2, 192), 0.1), ValueError, r"x must have shape \(B, 3, 8, 8\)"),
    ("DiT-x-float64", lambda: DIT(IMG.double(), 0.1), TypeError, r"x must have the model's dtype"),
    ("DiT-x-nan", lambda: DIT(with_nan(IMG), 0.1), ValueError, r"x contains NaN"),
    ("DiT-x-not-tensor", lambda: DIT(IMG.numpy(), 0.1), TypeError, r"x must be a torch.Tensor"),
    ("DiT-t-wrong-length", lambda: DIT(IMG, torch.full((2,), 0.1)), ValueError,
     r"t must be a scalar or have shape \(3,\)"),
    ("DiT-t-2d", lambda: DIT(IMG, torch.full((3, 1), 0.1)), ValueError, r"t must be a scalar or have shape"),
    ("DiT-t-str", lambda: DIT(IMG, "0.1"), TypeError, r"t must be a number or a tensor, got str"),
    ("DiT-t-bool", lambda: DIT(IMG, True), TypeError, r"t must be a number or a tensor, got bool"),
    ("DiT-t-bool-tensor", lambda: DIT(IMG, torch.tensor(True)), TypeError, r"t must be a real tensor"),
    ("DiT-t-zero", lambda: DIT(IMG, 0.0), ValueError, r"t must be finite and > 0"),
    ("DiT-t-negative-entry", lambda: DIT(IMG, torch.tensor([0.1, -0.1, 0.2])), ValueError, r"t must be finite and > 0"),
    ("DiT-t-inf", lambda: DIT(IMG, INF), ValueError, r"t must be finite and > 0"),
    ("DiT-t-underflows-float32", lambda: DIT(IMG, 1e-46), ValueError, r"too small for float32.*smallest usable t"),
    ("DiT-score-t-underflows-float32", lambda: DIT.score(IMG, torch.full((3,), 1e-46, dtype=F64)), ValueError,
     r"too small for float32"),
    ("FlatScore-wrong-size", lambda: FlatScore(DIT)(torch.ones(2, 100), 0.1), ValueError, r"x must have shape \(B, 192\)"),
    ("FlatScore-images", lambda: FlatScore(DIT)(IMG, 0.1), ValueError, r"x must have shape \(B, 192\)"),
    ("FlatScore-not-a-dit", lambda: FlatScore(torch.nn.Linear(2, 2)), TypeError, r"model must be a DiT"),
    # --- dit.DiT.prune_heads ---------------------------------------------------------------------------
    ("prune_heads-layer-out-of-range", lambda: pruned({2: [0]}), ValueError, r"layer must lie in \[0, 2\), got 2"),
    ("prune_heads-negative-layer", lambda: pruned({-1: [0]}), ValueError, r"layer must lie in \[0, 2\)"),
    ("prune_heads-head-out-of-range", lambda: pruned({0: [2]}), ValueError,
     r"remove\[0\] must hold head indices in \[0, 2\), got \[2\]"),
    ("prune_heads-negative-head", lambda: pruned({1: [-1]}), ValueError, r"remove\[1\] must hold head indices"),
    ("prune_heads-bool-head", lambda: pruned({0: [True]}), ValueError, r"remove\[0\] must hold head indices"),
    ("prune_heads-heads-not-a-list", lambda: pruned({0: 1}), TypeError, r"remove\[0\] must be a list of head indices"),
    ("prune_heads-float-layer", lambda: pruned({0.0: [1]}), TypeError, r"layer indices must be ints"),
    ("prune_heads-word-layer", lambda: pruned({"first": [1]}), TypeError, r"layer indices must be ints"),
    ("prune_heads-not-a-dict", lambda: pruned([(0, [1])]), TypeError, r"remove must be a dict"),
    # --- pruning ---------------------------------------------------------------------------------------
    ("importance_draws-images-3d", lambda: importance_draws(IMAGES[0], 4, horizon=0.3), ValueError,
     r"images must have shape \(N, C, H, W\)"),
    ("importance_draws-images-numpy", lambda: importance_draws(IMAGES.numpy(), 4, horizon=0.3), TypeError,
     r"images must be a torch.Tensor"),
    ("importance_draws-images-empty", lambda: importance_draws(IMAGES[:0], 4, horizon=0.3), ValueError,
     r"images is empty"),
    ("importance_draws-images-nan", lambda: importance_draws(with_nan(IMAGES), 4, horizon=0.3), ValueError,
     r"images contains NaN"),
    ("importance_draws-images-uint8", lambda: importance_draws(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), 4,
                                                               horizon=0.3), TypeError, r"images must have a floating"),
    ("importance_draws-num-0", lambda: importance_draws(IMAGES, 0, horizon=0.3), ValueError, r"num must be positive"),
    ("importance_draws-horizon-0", lambda: importance_draws(IMAGES, 4, horizon=0), ValueError,
     r"horizon must be finite and > 0"),
    ("importance_draws-times", lambda: importance_draws(IMAGES, 4, horizon=0.3, times="medium"), ValueError,
     r"times must be 'small' or 'large'"),
    ("importance_draws-large-T-below-horizon", lambda: importance_draws(IMAGES, 4, horizon=0.3, times="large",
                                                                        T=0.1), ValueError, r"T"),
    ("importance_draws-generator", lambda: importance_draws(IMAGES, 4, horizon=0.3, generator=0), TypeError,
     r"generator must be a torch.Generator"),
    ("gated_loss-batch-size-0", lambda: gated_loss(DIT, DRAWS, batch_size=0), ValueError,
     r"batch_size must be positive"),
    ("ablation-batch-size-negative", lambda: ablation_importance(DIT, DRAWS, batch_size=-1), ValueError,
     r"batch_size must be positive"),
    ("taylor-draws-not-draws", lambda: taylor_importance(DIT, (IMAGES, None, None)), TypeError,
     r"draws must be an ImportanceDraws"),
    ("gated_loss-model-not-dit", lambda: gated_loss(torch.nn.Linear(2, 2), DRAWS), TypeError, r"model must be a DiT"),
    ("gated_loss-draws-mismatch", lambda: gated_loss(DIT, ImportanceDraws(DRAWS.x0, DRAWS.t[:3], DRAWS.z)),
     ValueError, r"draws.*4 images.*3 times"),
    ("gated_loss-draws-wrong-size", lambda: gated_loss(DIT, importance_draws(torch.zeros(2, 3, 16, 16), 2,
                                                                             horizon=0.3)),
     ValueError, r"x must have shape"),
    ("rank_agreement-shapes", lambda: rank_agreement(TABLE, TABLE[:1]), ValueError, r"importance tables differ in shape"),
    ("rank_agreement-all-nan", lambda: rank_agreement(torch.full((2, 2), NAN), TABLE), ValueError,
     r"need at least two heads"),
    ("rank_agreement-strings", lambda: rank_agreement("ab", "ab"), TypeError, r"importance tables must be"),
    ("heads_to_prune-ratio-1", lambda: heads_to_prune(TABLE, 1.0), ValueError, r"ratio must lie in \[0, 1\)"),
    ("heads_to_prune-ratio-negative", lambda: heads_to_prune(TABLE, -0.1), ValueError, r"ratio must lie in \[0, 1\)"),
    ("heads_to_prune-ratio-nan", lambda: heads_to_prune(TABLE, NAN), ValueError, r"ratio must lie in \[0, 1\)"),
    ("heads_to_prune-ratio-str", lambda: heads_to_prune(TABLE, "0.2"), TypeError, r"ratio must be a real number"),
    ("heads_to_prune-ratio-bool", lambda: heads_to_prune(TABLE, True), TypeError, r"ratio must be a real number"),
    ("heads_to_prune-1d", lambda: heads_to_prune(torch.tensor([1.0, 2.0]), 0.5), ValueError,
     r"importance must be a table of shape \(layers, heads\)"),
    ("heads_to_prune-all-nan", lambda: heads_to_prune(torch.full((2, 2), NAN), 0.5), ValueError,
     r"importance has no heads"),
    ("random_heads-negative-count", lambda: random_heads_to_prune([4, -1]), ValueError,
     r"heads_per_layer entries must be >= 0"),
    ("random_heads-float-count", lambda: random_heads_to_prune([4, 2.5]), TypeError, r"heads_per_layer entries must be"),
    ("random_heads-not-a-list", lambda: random_heads_to_prune(4), TypeError, r"heads_per_layer must be a list"),
    ("random_heads-ratio", lambda: random_heads_to_prune([4], 1.5), ValueError, r"ratio must lie in \[0, 1\)"),
    ("random_heads-generator", lambda: random_heads_to_prune([4], generator=3), TypeError,
     r"generator must be a torch.Generator"),
    ("gate_prune_discrepancy-bad-layer", lambda: gate_prune_discrepancy(DIT, {5: [0]}, IMG, 0.1), ValueError,
     r"layer must lie in \[0, 2\)"),
    ("gate_prune_discrepancy-bad-head", lambda: gate_prune_discrepancy(DIT, {0: [9]}, IMG, 0.1), ValueError,
     r"remove\[0\] must hold head indices"),
    # --- features --------------------------------------------------------------------------------------
    ("features-x-3d", lambda: FEATURES.features(torch.ones(3, 32, 32)), ValueError, r"x must have shape \(B, 3, H, W\)"),
    ("features-grey", lambda: FEATURES.features(torch.ones(2, 1, 32, 32)), ValueError, r"x must have shape \(B, 3"),
    ("features-numpy", lambda: FEATURES.features(np.ones((2, 3, 32, 32), np.float32)), TypeError,
     r"x must be a torch.Tensor"),
    ("features-float64", lambda: FEATURES.features(torch.ones(2, 3, 32, 32, dtype=F64)), TypeError,
     r"x must have the net's dtype torch.float32"),
    ("features-nan", lambda: FEATURES.features(with_nan(torch.ones(2, 3, 32, 32))), ValueError, r"x contains NaN"),
    ("extract_features-batch-0", lambda: extract_features(FEATURES, torch.ones(2, 3, 32, 32), batch_size=0),
     ValueError, r"batch_size must be positive"),
    ("extract_features-not-a-net", lambda: extract_features(torch.nn.Linear(2, 2), torch.ones(2, 3, 32, 32)),
     TypeError, r"net must be a CifarFeatureNet"),
    ("cifar_feature_net-train-size-0", lambda: cifar_feature_net(train_size=0, **NOWHERE), ValueError,
     r"train_size must be positive"),
    ("cifar_feature_net-epochs-0", lambda: cifar_feature_net(epochs=0, **NOWHERE), ValueError, r"epochs must be positive"),
    ("cifar_feature_net-batch-0", lambda: cifar_feature_net(batch_size=0, **NOWHERE), ValueError, r"batch_size must be positive"),
    ("cifar_feature_net-seed-str", lambda: cifar_feature_net(seed="0", **NOWHERE), TypeError, r"seed must be an int"),
    ("cifar_feature_net-device-mps", lambda: cifar_feature_net(device="mps", **NOWHERE), ValueError,
     r"device='mps' but mps is not available"),
    ("cifar_feature_net-train-size-too-large", fake_cifar(lambda d: cifar_feature_net(
        train_size=20, epochs=1, cache_dir=d, data_dir=d)), ValueError, r"train_size=20 exceeds the 12 training images outside exclude"),
    ("cifar_feature_net-corrupt-cache", fake_cifar(corrupt_feature_cache), ValueError,
     r"feature net cache .*cifar_feature_net-.*\.pt is unreadable"),
    # --- results ---------------------------------------------------------------------------------------
    ("results_path-profile", lambda: results_path("toy", "bogus"), ValueError, r"profile must be one of"),
    ("results_path-profile-case", lambda: results_path("toy", "CI"), ValueError, r"profile must be one of"),
    ("results_path-empty-name", lambda: results_path("", "ci"), ValueError, r"experiment must be a plain name"),
    ("results_path-slash", lambda: results_path("a/b", "ci"), ValueError, r"experiment must be a plain name"),
    ("results_path-not-str", lambda: results_path(3, "ci"), TypeError, r"experiment must be a string, got int"),
    ("save_results-not-serialisable", in_tmp(lambda d: save_results("toy", "ci", {}, {"x": torch.ones(2)},
                                                                    wall_time_s=1.0, device="cpu", results_dir=d)),
     ValueError, r"not strict-JSON serialisable"),
    ("save_results-results-list", in_tmp(lambda d: save_results("toy", "ci", {}, [1, 2], wall_time_s=1.0,
                                                                device="cpu", results_dir=d)),
     TypeError, r"results must be a dict"),
    ("save_results-config-str", in_tmp(lambda d: save_results("toy", "ci", "size=1", {}, wall_time_s=1.0,
                                                              device="cpu", results_dir=d)),
     TypeError, r"config must be a dict"),
    ("save_results-wall-time-nan", in_tmp(lambda d: save_results("toy", "ci", {}, {}, wall_time_s=NAN, device="cpu",
                                                                 results_dir=d)),
     ValueError, r"wall_time_s must be finite"),
    ("save_results-wall-time-str", in_tmp(lambda d: save_results("toy", "ci", {}, {}, wall_time_s="1", device="cpu",
                                                                 results_dir=d)),
     TypeError, r"wall_time_s must be a real number"),
    ("save_results-wall-time-negative", in_tmp(lambda d: save_results("toy", "ci", {}, {}, wall_time_s=-1.0,
                                                                      device="cpu", results_dir=d)),
     ValueError, r"wall_time_s must be >= 0"),
    ("save_results-device-mps", in_tmp(lambda d: save_results("toy", "ci", {}, {}, wall_time_s=1.0, device="mps",
                                                              results_dir=d)),
     ValueError, r"device='mps' but mps is not available"),
    ("load_results-missing", in_tmp(lambda d: load_results("toy", "ci", d)), FileNotFoundError,
     r"no results at .*toy-ci\.json; run `python -m memsep_lib.experiments toy --profile ci`"),
    ("load_results-truncated", in_tmp(truncated_results), ValueError,
     r"results file .*toy-ci\.json is not readable strict JSON \(truncated"),
    ("read_record-missing-file", in_tmp(lambda d: read_record(d / "toy-ci.json")), FileNotFoundError,
     r"no results file at .*toy-ci\.json"),
    ("read_record-nan", record_file(text=json.dumps(RECORD).replace("1.5", "NaN")), ValueError,
     r"toy-ci\.json is not readable strict JSON.*NaN"),
    ("read_record-list", record_file(text="[1, 2]"), ValueError, r"toy-ci\.json must hold a JSON object"),
    ("read_record-no-results", record_file(results=None), ValueError, r"toy-ci\.json lacks field\(s\) \['results'\]"),
    ("read_record-results-list", record_file(results=[1]), ValueError, r"'results' and 'config' must be JSON objects"),
    ("read_record-misnamed", record_file(name="toy-paper.json"), ValueError,
     r"toy-paper\.json holds experiment 'toy', profile 'ci': its name should be toy-ci\.json"),
    ("read_record-bad-profile", record_file(name="toy-bogus.json", profile="bogus"), ValueError,
     r"toy-bogus\.json has profile 'bogus'; profiles are"),
    ("read_record-wall-time-null", record_file(text=json.dumps({**RECORD, "wall_time_s": None})),
     ValueError, r"toy-ci\.json: 'wall_time_s' must be a number >= 0"),
    ("read_record-date-number", record_file(date=20260101), ValueError, r"toy-ci\.json: 'date' must be a string"),
    ("read_record-binary", record_file(raw=b"\xff\xfe\x00"), ValueError, r"toy-ci\.json is not readable"),
    ("list_results-bad-file", in_tmp(lambda d: ((d / "toy-ci.json").write_text("{"), list_results(d))), ValueError,
     r"toy-ci\.json is not readable strict JSON"),
    ("stored_or_live-profile", lambda: stored_or_live(TOY, profile="bogus"), ValueError, r"profile must be one of"),
    ("stored_or_live-not-an-experiment", lambda: stored_or_live(42, profile="ci"), TypeError,
     r"experiment must have NAME, CONFIGS and run"),
    ("stored_or_live-device-mps", in_tmp(lambda d: stored_or_live(TOY, profile="ci", device="mps", results_dir=d)),
     ValueError, r"device='mps' but mps is not available"),
    ("stored_or_live-truncated", in_tmp(stored_truncated), ValueError, r"toy-cpu\.json is not readable strict JSON"),
    ("StageCache-config-changed", in_tmp(stage_cache_config_changed), ValueError,
     r"holds a run of a different config"),
    ("StageCache-corrupt", in_tmp(lambda d: ((d / "stages.json").write_text('{"a": 1'), StageCache(d))), ValueError,
     r"stage cache .*stages\.json is corrupt"),
    ("StageCache-not-a-dict", in_tmp(lambda d: ((d / "stages.json").write_text("[1]"), StageCache(d))), ValueError,
     r"stage cache .*stages\.json must hold a JSON object"),
    ("StageCache-name-int", in_tmp(lambda d: StageCache(d).get(3, lambda: 1)), TypeError,
     r"stage name must be a non-empty string, got int"),
    ("StageCache-not-serialisable", in_tmp(lambda d: StageCache(d).get("model", lambda: torch.nn.Linear(1, 1))),
     TypeError, r"stage 'model' returned a value that is not JSON-serialisable"),
    ("StageCache-config-int", in_tmp(lambda d: StageCache(d, config=42)), TypeError,
     r"config must be a dataclass instance or a dict, got int"),
    ("run_folder_lock-second", in_tmp(second_lock), FolderInUseError, r"run folder .* is in use by another run"),
    ("config_dict-list", lambda: config_dict([1, 2]), TypeError, r"config must be a dataclass instance or a dict"),
    # --- training (memsep_lib.training) ----------------------------------------------------------------
    ("train-lr-1e6-diverges", lambda: train_score_net(_train_net(), TRAIN_DATA, steps=20, lr=1e6, batch_size=64,
                                                      generator=_gen(), log_every=1),
     FloatingPointError, r"training diverged: the loss is inf at step 2 \(lr 1000000\.0\)"),
    ("train_resumable-lr-1e6-diverges", _resumable(steps=20, lr=1e6, batch_size=64, checkpoint_every=1, log_every=1),
     FloatingPointError, r"training diverged: the loss is (inf|nan) at step \d+"),
    ("train_resumable-checkpoint-every-0", _resumable(checkpoint_every=0, log_every=5), ValueError,
     r"checkpoint_every must be positive, got 0"),
    ("train_resumable-checkpoint-every-negative", _resumable(checkpoint_every=-10, log_every=5), ValueError,
     r"checkpoint_every must be positive, got -10"),
    ("train_resumable-checkpoint-every-float", _resumable(checkpoint_every=10.0, log_every=5), TypeError,
     r"checkpoint_every must be an int, got float"),
    ("train_resumable-log-every-0", _resumable(checkpoint_every=10, log_every=0), ValueError,
     r"log_every must be positive, got 0"),
    ("train_resumable-log-every-negative", _resumable(checkpoint_every=10, log_every=-5), ValueError,
     r"log_every must be positive, got -5"),
    ("train_resumable-batch-size-0", _resumable(checkpoint_every=10, log_every=5, batch_size=0), ValueError,
     r"batch_size must be positive, got 0"),
    ("train_resumable-batch-size-negative", _resumable(checkpoint_every=10, log_every=5, batch_size=-4), ValueError,
     r"batch_size must be positive, got -4"),
    ("load_checkpoint-truncated", in_tmp(_truncated_checkpoint), ValueError,
     r"checkpoint .*c\.pt is unreadable \(truncated or corrupt\?\)"),
    ("train_resumable-truncated-checkpoint", in_tmp(lambda d: _truncated_checkpoint(d, resume=True)), ValueError,
     r"checkpoint .*c\.pt is unreadable"),
    # --- python -m memsep_lib.experiments ---------------------------------------------------------------
    ("cli-unknown-experiment", cli("no_such"), CliFailed, r"exit 2: .*unknown experiment 'no_such'; registered: .*toy"),
    ("cli-no-name", cli(), CliFailed, r"exit 2: .*an experiment name is required"),
    ("cli-bad-profile", cli("toy", "--profile", "bogus"), CliFailed, r"exit 2: .*invalid choice: 'bogus'"),
    ("cli-env-profile-bogus", cli("toy", "--profile", "ci", env={"MEMSEP_PROFILE": "bogus"}), CliFailed,
     r"exit 2: .*MEMSEP_PROFILE must be one of"),
    ("cli-env-device-mps", cli("toy", env={"MEMSEP_DEVICE": "mps"}), CliFailed,
     r"exit 2: .*MEMSEP_DEVICE='mps' but mps is not available"),
    ("cli-env-device-banana", cli("toy", env={"MEMSEP_DEVICE": "banana"}), CliFailed,
     r"exit 2: .*MEMSEP_DEVICE='banana' is not a valid torch device"),
    ("cli-env-device-cuda-index", cli("toy", env={"MEMSEP_DEVICE": "cuda:7"}), CliFailed,
     r"exit 2: .*MEMSEP_DEVICE='cuda:7' but"),
    ("cli-list-unknown", cli("--list", "nope", results_dir=False), CliFailed, r"exit 2: .*unknown experiment 'nope'"),
    ("cli-extra-argument", cli("toy", "extra"), CliFailed, r"exit 2: .*unrecognized arguments: extra"),
    ("cli-folder-in-use", cli("toy", before=locked), CliFailed, r"exit 3: .*run folder .*toy-ci is in use"),
    ("cli-results-dir-is-a-file", in_tmp(lambda d: ((d / "f").write_text("x"),
                                                     cli("toy", "--results-dir", str(d / "f"), results_dir=False)())),
     CliFailed, r"exit 2: .*--results-dir .*f is not a folder"),
    ("cli-shard-malformed", cli("dit_pruning", "--shard", "5/2"), CliFailed, r"exit 2: .*a shard is 'i/N'"),
    ("cli-units-unknown", cli("dit_pruning", "--units", "7"), CliFailed, r"exit 2: .*unknown unit\(s\) \['7'\]"),
    ("cli-shard-unshardable", cli("toy", "--shard", "0/2"), CliFailed, r"exit 2: .*'toy' cannot be sharded"),
    ("cli-merge-no-shards", cli("merge", "dit_pruning"), CliFailed, r"exit 2: .*no shard files in"),
    ("cli-compile-unsupported", cli("toy", "--compile"), CliFailed, r"exit 2: .*'toy' has no --compile switch"),
    ("cli-ranks-per-unit-0", cli("dit_pruning", "--ranks-per-unit", "0"), CliFailed,
     r"exit 2: .*--ranks-per-unit must be >= 1"),
    ("cli-results-not-a-dict", cli("bad_toy"), TypeError, r"results must be a dict, got list"),
]


def _rank(a, b):
    return rank_agreement(torch.tensor(a), torch.tensor(b))


ANSWERS = [
    # --- nets ------------------------------------------------------------------------------------------
    ("sinusoidal-odd-dim", lambda: sinusoidal_embedding(torch.tensor([0.1, 0.2]), 5),
     lambda e: e.shape == (2, 5) and bool((e[:, -1] == 0).all())),
    ("ScoreMLP-t-1e6", lambda: NET(X, 1e6), lambda s: s.shape == (3, 2) and _finite(s)),
    ("ScoreMLP-numpy-t", lambda: (NET(X, np.float32(0.25)), NET(X, 0.25)), lambda p: torch.equal(*p)),
    ("ScoreMLP-one-element-tensor-t", lambda: (NET(X, torch.tensor([0.25])), NET(X, 0.25)), lambda p: torch.equal(*p)),
    ("ScoreMLP-per-row-t", lambda: (NET(X, torch.full((3,), 0.25)), NET(X, 0.25)), lambda p: torch.equal(*p)),
    ("ScoreMLP-float64-t-tensor", lambda: (NET(X, torch.full((3,), 0.25, dtype=F64)), NET(X, 0.25)),
     lambda p: torch.equal(*p)),
    ("ScoreMLP-one-row", lambda: NET(X[:1], 0.1), lambda s: s.shape == (1, 2) and _finite(s)),
    ("ScoreMLP-smallest-float32-t", lambda: NET(X, 1e-30), lambda s: _finite(s)),
    ("Stack-member-matches", lambda: (STACK(XS, TS)[1], STACK.member(1)(XS[1], 0.5)),
     lambda p: torch.allclose(*p, atol=1e-6)),
    ("Stack-numpy-member-index", lambda: STACK.member(np.int64(0)).dim, lambda d: d == 2),
    ("Stack-joint-score-fn", lambda: STACK.joint_score_fn(3)(XS.reshape(6, 2), 0.5),
     lambda s: torch.allclose(s, STACK(XS, TS).reshape(6, 2))),
    ("mlp_num_parameters-inf", lambda: mlp_num_parameters(INF, 2, 3), lambda n: n == INF),
    ("mlp_num_parameters-real-width", lambda: mlp_num_parameters(2.5, 1, 1), lambda n: _close(n, 2 * 2.5 + 3.5)),
    ("mlp_num_parameters-int", lambda: mlp_num_parameters(4, 2, 3, 1), lambda n: n == 4 * 4 + 5 * 4 + 5 * 1),
    ("BatchedMLP-numpy-widths", lambda: BatchedMLP(np.array([2, 3]), 1, 2, generator=_gen()).widths,
     lambda w: w == [2, 3] and all(type(v) is int for v in w)),
    ("BatchedMLP-to-mlp-matches", lambda: (BMLP(XB)[1], BMLP.to_mlp(1)(XB[1])), lambda p: torch.allclose(*p, atol=1e-6)),
    # --- dit -------------------------------------------------------------------------------------------
    ("DiT-scalar-vs-per-image-t", lambda: (_out(DIT, t=0.3), _out(DIT, t=torch.full((3,), 0.3))),
     lambda p: torch.allclose(*p)),
    ("DiT-numpy-t", lambda: (_out(DIT, t=np.float32(0.3)), _out(DIT, t=0.3)), lambda p: torch.equal(*p)),
    ("DiT-numpy-array-t", lambda: (_out(DIT, t=np.full(3, 0.3)), _out(DIT, t=0.3)), lambda p: torch.allclose(*p)),
    ("DiT-one-element-t", lambda: (_out(DIT, t=torch.tensor([0.3])), _out(DIT, t=0.3)), lambda p: torch.equal(*p)),
    ("DiT-int-t", lambda: (_out(DIT, t=2), _out(DIT, t=2.0)), lambda p: torch.equal(*p)),
    ("DiT-t-1e6", lambda: _out(DIT, t=1e6), lambda y: y.shape == IMG.shape and _finite(y) and y.abs().sum() > 0),
    ("DiT-t-tiny", lambda: DIT.score(IMG, 1e-30), lambda s: _finite(s)),
    ("DiT-float64-model", lambda: dit().double()(IMG.double(), 0.1), lambda y: y.dtype == F64 and _finite(y)),
    ("DiT-from-config", lambda: DiT.from_config("DiT-ci/4", input_size=16).heads_per_layer(),
     lambda h: h == [DIT_CONFIGS["DiT-ci/4"]["num_heads"]] * DIT_CONFIGS["DiT-ci/4"]["depth"]),
    ("FlatScore-matches-score", lambda: (FlatScore(DIT)(IMG.flatten(1), 0.2), DIT.score(IMG, 0.2).flatten(1)),
     lambda p: torch.equal(*p)),
    ("prune_heads-empty", lambda: (_out(pruned({})), _out(DIT)), lambda p: torch.equal(*p)),
    ("prune_heads-string-keys", lambda: (_out(pruned({"1": [0]})), _out(pruned({1: [0]}))), lambda p: torch.equal(*p)),
    ("prune_heads-numpy-indices", lambda: (_out(pruned({np.int64(1): [np.int64(0)]})), _out(pruned({1: [0]}))),
     lambda p: torch.equal(*p)),
    ("prune_heads-duplicates", lambda: pruned({0: [1, 1]}).heads_per_layer(), lambda h: h == [1, 2]),
    ("prune_heads-whole-layer", lambda: (pruned({0: [0, 1]}).heads_per_layer(), _out(pruned({0: [0, 1]}))),
     lambda p: p[0] == [0, 2] and _finite(p[1])),
    ("gate_prune_discrepancy-whole-layer", lambda: gate_prune_discrepancy(DIT, {0: [0, 1]}, IMG, 0.1),
     lambda v: v < 1e-5),
    ("gate_prune_discrepancy-json-keys", lambda: gate_prune_discrepancy(DIT, {"1": [1]}, IMG, torch.full((3,), 0.1)),
     lambda v: v < 1e-5),
    ("gate_prune_discrepancy-model-unchanged", lambda: (gate_prune_discrepancy(DIT, {0: [0]}, IMG, 0.1),
                                                        DIT.heads_per_layer())[1], lambda h: h == [2, 2]),
    # --- pruning ---------------------------------------------------------------------------------------
    ("importance_draws-one", lambda: importance_draws(IMAGES[:1], 1, horizon=0.3, generator=_gen()),
     lambda d: d.x0.shape == (1, 3, 8, 8) and 0 < d.t.item() <= 0.3 and d.z.shape == d.x0.shape),
    ("importance_draws-large", lambda: importance_draws(IMAGES, 8, horizon=0.3, times="large", T=2.0, generator=_gen()),
     lambda d: bool(((d.t >= 0.3) & (d.t <= 2.0)).all())),
    ("importance_draws-reproducible", lambda: (importance_draws(IMAGES, 4, horizon=0.3, generator=_gen(8)).z, DRAWS.z),
     lambda p: torch.equal(*p)),
    ("gated_loss-batches-agree", lambda: (gated_loss(DIT, DRAWS, batch_size=1), gated_loss(DIT, DRAWS)),
     lambda p: torch.allclose(*p, rtol=1e-5)),
    ("ablation-table", lambda: ablation_importance(copy.deepcopy(DIT), DRAWS),
     lambda t: t.shape == (2, 2) and _finite(t)),
    ("taylor-table-pruned-layer", lambda: taylor_importance(pruned({0: [0]}), DRAWS),
     lambda t: t.shape == (2, 2) and math.isnan(t[0, 1]) and _finite(t[1])),
    ("rank_agreement-identical", lambda: _rank([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]]),
     lambda r: _close(r, 1.0)),
    ("rank_agreement-reversed", lambda: _rank([[1.0, 2.0, 3.0]], [[3.0, 2.0, 1.0]]), lambda r: _close(r, -1.0)),
    ("rank_agreement-nan-masked", lambda: _rank([[1.0, 2.0, NAN]], [[5.0, 9.0, 0.0]]), lambda r: _close(r, 1.0)),
    ("rank_agreement-ties-average-ranks", lambda: _rank([[1.0, 1.0, 2.0]], [[1.0, 2.0, 3.0]]),
     lambda r: _close(r, math.sqrt(3) / 2)),
    ("rank_agreement-lists", lambda: rank_agreement([[1, 2], [3, 4]], [[2, 1], [3, 4]]), lambda r: _close(r, 0.8)),
    ("rank_agreement-all-tied-is-nan", lambda: rank_agreement(torch.ones(2, 2), torch.rand(2, 2, generator=_gen())),
     math.isnan),                                                   # no ranking to compare (e.g. all gates zero)
    ("rank_agreement-inf-entries", lambda: _rank([[1.0, INF, -INF]], [[0.0, 1.0, -1.0]]), lambda r: _close(r, 1.0)),
    ("heads_to_prune-ratio-0", lambda: heads_to_prune(TABLE, 0.0), lambda r: r == {}),
    ("heads_to_prune-lowest", lambda: heads_to_prune(TABLE, 0.5), lambda r: r == {0: [1], 1: [0]}),
    ("heads_to_prune-ties-first", lambda: heads_to_prune(torch.ones(2, 3), 0.5), lambda r: r == {0: [0, 1, 2]}),
    ("heads_to_prune-numpy-ratio", lambda: heads_to_prune(TABLE, np.float32(0.34)), lambda r: r == {0: [1]}),
    ("heads_to_prune-list", lambda: heads_to_prune([[3.0, 1.0], [2.0, NAN]], 0.34), lambda r: r == {0: [1]}),
    ("random_heads-empty", lambda: random_heads_to_prune([], 0.5), lambda r: r == {}),
    ("random_heads-empty-layer", lambda: random_heads_to_prune([0, 4], 0.5, generator=_gen()),
     lambda r: list(r) == [1] and len(r[1]) == 2),
    ("random_heads-reproducible", lambda: (random_heads_to_prune([4, 4], 0.5, generator=_gen(3)),
                                           random_heads_to_prune([4, 4], 0.5, generator=_gen(3))),
     lambda p: p[0] == p[1] and sum(map(len, p[0].values())) == 4),
    # --- features --------------------------------------------------------------------------------------
    ("features-resized", lambda: FEATURES.features(torch.zeros(2, 3, 16, 16)), lambda f: f.shape == (2, 128) and _finite(f)),
    ("extract_features-empty", lambda: extract_features(FEATURES, torch.zeros(0, 3, 32, 32)),
     lambda f: f.shape == (0, 128)),
    ("extract_features-batches-agree", lambda: (extract_features(FEATURES, torch.rand(5, 3, 32, 32,
                                                                                      generator=_gen()), batch_size=2),
                                                extract_features(FEATURES, torch.rand(5, 3, 32, 32, generator=_gen()))),
     lambda p: torch.allclose(*p, atol=1e-6)),
    # --- results ---------------------------------------------------------------------------------------
    ("save_results-nan-is-null", in_tmp(nan_round_trip),
     lambda p: p[0] and p[1] == {"nan": None, "inf": None, "np": 0.25, "i": 3}),
    ("results_path-numpy-str-ok", lambda: results_path(np.str_("toy"), "ci", "/r").name, lambda n: n == "toy-ci.json"),
    ("StageCache-json-form-on-resume", in_tmp(stage_cache_resumed),
     lambda p: p[0] == p[1] == {"pair": [1, 2], "3": 0.5}),
    ("StageCache-same-config-twice", in_tmp(lambda d: (StageCache(d, config={"a": (1, 2)}),
                                                       StageCache(d, config={"a": [1, 2]}).folder == d)[1]), bool),
    ("StageCache-nan-stage", in_tmp(lambda d: StageCache(d).get("x", lambda: [NAN, 1.0])), lambda v: v == [None, 1.0]),
    ("stored_or_live-live", in_tmp(lambda d: stored_or_live(TOY, profile="ci", device="cpu", results_dir=d)),
     lambda o: not o.stored and o.results == {"value": 0.5} and "computed live" in o.label),
    ("stored_or_live-stored-larger", in_tmp(lambda d: (save_results("toy", "cpu", {"size": 2}, {"value": 1.0},
                                                                    wall_time_s=3.0, device="cpu", results_dir=d),
                                                       stored_or_live(TOY, profile="ci", results_dir=d))[1]),
     lambda o: o.stored and o.profile == "cpu" and o.results == {"value": 1.0}),
    ("list_results-empty-folder", in_tmp(list_results), lambda rows: rows == []),
    ("list_results-missing-folder", in_tmp(lambda d: list_results(d / "nope")), lambda rows: rows == []),
    # --- CLI -------------------------------------------------------------------------------------------
    ("cli-run-toy", cli("toy", after=cli_run_is_valid), bool),
    ("cli-list-toy", cli("--list", "toy", results_dir=False), lambda out: "a toy" in out),
    ("cli-env-profile-used", cli("toy", env={"MEMSEP_PROFILE": "cpu"},
                                 after=lambda out, d: load_results("toy", "cpu", d)["results"]),
     lambda r: r == {"value": 1.0}),
]


@pytest.mark.parametrize("call, exception, pattern", [case[1:] for case in ERRORS],
                         ids=[case[0] for case in ERRORS])
def test_bad_input_is_a_clear_error(call, exception, pattern):
    with pytest.raises(exception, match=pattern):
        call()


@pytest.mark.parametrize("call, check", [case[1:] for case in ANSWERS], ids=[case[0] for case in ANSWERS])
def test_edge_input_has_a_correct_finite_answer(call, check):
    answer = call()
    assert check(answer), answer


def test_the_table_is_large_and_its_ids_unique():
    ids = [case[0] for case in ERRORS + ANSWERS]
    assert len(ids) == len(set(ids))
    assert len(ERRORS + ANSWERS) >= 80
