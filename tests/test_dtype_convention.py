"""One dtype convention (issue 20): references in float64, networks in float32, and ``sample`` in the dtype
of the model behind its ``score_fn`` (float32 when it cannot see one); a mismatch is a TypeError naming both."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import memsep_lib as ms
from memsep_lib.nets import ScoreMLP
from memsep_lib.validation import call_score_fn, model_dtype

F32, F64 = torch.float32, torch.float64


def _mixture(d: int = 4, dtype=F64):
    return ms.well_separated_mixture(3, d, generator=ms.make_generator(0), dtype=dtype)


def test_the_defaults_are_the_documented_ones():
    assert inspect.signature(ms.well_separated_mixture).parameters["dtype"].default is F64
    assert inspect.signature(ms.sample).parameters["dtype"].default is None
    assert _mixture().dtype == F64 and _mixture(dtype=F32).dtype == F32


def test_the_issue_example_runs_in_the_mixture_dtype():
    """``sample(gm.score, 10, 4)`` with a float64 mixture in R^4 failed before (float32 points)."""
    gm = _mixture()
    x = ms.sample(gm.score, 10, 4, steps=5, generator=ms.make_generator(1))
    assert x.shape == (10, 4) and x.dtype == F64 and torch.isfinite(x).all()


def test_the_inferred_dtype_gives_the_samples_of_the_explicit_one():
    gm = _mixture()
    inferred = ms.sample(gm.score, 6, 4, steps=5, generator=ms.make_generator(2))
    explicit = ms.sample(gm.score, 6, 4, steps=5, generator=ms.make_generator(2), dtype=F64)
    assert torch.equal(inferred, explicit)


@pytest.mark.parametrize("make, expected", [
    (lambda: _mixture().score, F64),
    (lambda: _mixture(dtype=F32).score, F32),
    (lambda: ScoreMLP(4, 8, 1), F32),
    (lambda: ScoreMLP(4, 8, 1).double(), F64),
    (lambda: ScoreMLP(4, 8, 1).double().forward, F64),
    (lambda: (lambda x, t: -x), F32),                      # a plain function: float32, as before
])
def test_sample_takes_the_dtype_of_the_model_behind_score_fn(make, expected):
    score_fn = make()
    x = ms.sample(score_fn, 5, 4, steps=3, generator=ms.make_generator(3))
    assert x.dtype == expected


def test_model_dtype_sees_models_only():
    assert model_dtype(_mixture().score) == F64
    assert model_dtype(ScoreMLP(4, 8, 1).double()) == F64
    assert model_dtype(lambda x, t: x) is None
    assert model_dtype(nn.Identity()) is None                    # a module without floating tensors
    assert model_dtype(torch.zeros(2, dtype=torch.long)) is None  # a dtype attribute that is not floating


def test_an_explicit_dtype_the_model_does_not_have_names_dtype_and_score_fn():
    with pytest.raises(TypeError, match=r"score_fn computes in torch\.float64 \(its model's dtype\) but dtype "
                                        r"gives it torch\.float32 points") as err:
        ms.sample(_mixture().score, 10, 4, dtype=F32, steps=3)
    assert "x must have dtype" in str(err.value.__cause__)        # the mixture's own error is chained
    with pytest.raises(TypeError, match=r"but dtype gives it torch\.float64 points"):
        ms.sample(ScoreMLP(4, 8, 1), 10, 4, dtype=F64, steps=3)


def test_a_dimension_the_model_does_not_have_names_dim():
    with pytest.raises(ValueError, match=r"score_fn's model has dimension 4 but dim gives it points of dimension 3"):
        ms.sample(_mixture().score, 10, 3, steps=3)


def test_the_estimators_name_data_for_a_model_of_another_dtype():
    gm = _mixture()
    data32 = gm.sample(8, ms.make_generator(4)).float()
    for estimator in (ms.loss_gap, ms.fisher_divergence):
        with pytest.raises(TypeError, match=r"score_fn computes in torch\.float64 .* but data gives it "
                                            r"torch\.float32 points"):
            estimator(data32, gm.score, 0.1, num_samples=8, generator=ms.make_generator(5))
    value = ms.loss_gap(data32, gm.to(dtype=F32).score, 0.1, num_samples=8, generator=ms.make_generator(5))
    assert value.num_samples == 8                                # the fix the message suggests works


def test_other_failures_of_score_fn_pass_through_unchanged():
    """Only a dtype / dimension that differs from the model's is reinterpreted; any other error is the original."""
    def broken(x, t):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="^boom$"):
        ms.sample(broken, 4, 2, steps=2)
    gm = _mixture()
    x = gm.sample(3, ms.make_generator(6))
    with pytest.raises(ValueError, match=r"t must be finite and > 0"):
        call_score_fn(gm.score, x, -1.0, dtype_arg="data", dim_arg="data")   # same dtype and dimension
