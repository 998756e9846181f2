"""The library as an API: ``import memsep_lib`` gives the core functions and every module, and the
book's API reference page (book/api.md) covers every module."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import memsep_lib

ROOT = Path(__file__).resolve().parent.parent
# every module with an ``__all__``: the package's modules and the training package's own modules
PUBLIC_MODULES = [f"memsep_lib.{name}" for name in memsep_lib.MODULES] + [
    "memsep_lib.training.dsm", "memsep_lib.training.checkpoints", "memsep_lib.training.batched"]
# defined in a module but not exported: the DiT's building blocks (documented through DiT)
UNEXPORTED = {"memsep_lib.dit": {"Attention", "DiTBlock", "FinalLayer", "TimeEmbedder"}}


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter that imports this checkout's memsep_lib; its stdout."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_all_names_exist_and_are_unique():
    assert len(memsep_lib.__all__) == len(set(memsep_lib.__all__))
    missing = [name for name in memsep_lib.__all__ if not hasattr(memsep_lib, name)]
    assert missing == []


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_module_has_an_all_of_existing_names_that_lists_its_public_definitions(module_name):
    module = importlib.import_module(module_name)
    assert isinstance(getattr(module, "__all__", None), list), f"{module_name} has no __all__ list"
    assert len(module.__all__) == len(set(module.__all__))
    assert [name for name in module.__all__ if not hasattr(module, name)] == []
    defined = {name for name, obj in vars(module).items()
               if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
               and obj.__module__ == module_name}
    assert defined - set(module.__all__) - UNEXPORTED.get(module_name, set()) == set()


def test_every_top_level_function_is_exported_by_its_module():
    for name in memsep_lib.__all__:
        obj = getattr(memsep_lib, name)
        if inspect.ismodule(obj):
            continue
        home = importlib.import_module(obj.__module__)
        assert name in home.__all__, f"memsep_lib.{name} is not in {obj.__module__}.__all__"


# The public functions a newcomer starts from: each documents every argument (Args) and what it returns.
DOCUMENTED = ["losses.loss_gap", "losses.fisher_divergence", "sampling.sample", "metrics.memorization_fraction",
              "metrics.nn_distance_ratio", "metrics.precision_recall", "metrics.frechet_distance", "process.add_noise",
              "mixtures.well_separated_mixture", "mixtures.GaussianMixture.sample", "mixtures.GaussianMixture.score",
              "mixtures.GaussianMixture.log_prob", "mixtures.GaussianMixture.data_log_prob",
              "mixtures.GaussianMixture.hessian", "results.save_results", "results.load_results",
              "results.stored_or_live", "training.train_score_net", "training.train_score_stack",
              "training.train_resumable", "training.fit_batched", "stats.paired_difference",
              "inception.inception_space", "inception.inception_space_from_env"]


@pytest.mark.parametrize("path", DOCUMENTED)
def test_public_functions_document_their_arguments_and_returns(path):
    module_name, *attrs = path.split(".")
    obj = importlib.import_module(f"memsep_lib.{module_name}")
    for attr in attrs:
        obj = getattr(obj, attr)
    doc = inspect.getdoc(obj)
    assert "\nArgs:\n" in doc and "\nReturns:\n" in doc, path
    args = doc.split("\nArgs:\n", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^ {4}(\w+(?:, \w+)*)( \(.*\))?:", args, re.M))
    names = {name for group, _ in documented for name in group.split(", ")}
    params = [p for p in inspect.signature(obj).parameters.values()
              if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    assert [p.name for p in params if p.name not in names] == [], path


def test_core_api_at_the_top_level_is_the_modules_own():
    from memsep_lib import losses, metrics, mixtures, process, sampling, scores

    for module, names in [(scores, ["empirical_score", "posterior_mean", "posterior_cov", "empirical_score_hessian"]),
                          (losses, ["dsm_loss", "loss_gap", "fisher_divergence"]),
                          (mixtures, ["GaussianMixture", "well_separated_mixture"]),
                          (metrics, ["nn_distance_ratio", "memorization_fraction", "precision_recall",
                                     "frechet_distance"]),
                          (process, ["alpha", "sigma"]), (sampling, ["sample"])]:
        for name in names:
            assert name in memsep_lib.__all__
            assert getattr(memsep_lib, name) is getattr(module, name)


def test_every_module_is_an_attribute():
    files = {p.stem for p in (ROOT / "memsep_lib").glob("*.py") if not p.stem.startswith("_")}
    packages = {p.parent.name for p in (ROOT / "memsep_lib").glob("*/__init__.py")}
    assert set(memsep_lib.MODULES) == files | packages
    for name in memsep_lib.MODULES:
        assert getattr(memsep_lib, name).__name__ == f"memsep_lib.{name}"
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        memsep_lib.nonexistent  # noqa: B018


def test_import_in_a_fresh_interpreter():
    """A newcomer's first lines: the names are there without importing submodules by hand, and the
    import brings no sympy, matplotlib or experiment package (those come with the modules that need them)."""
    out = _fresh(
        "import sys, memsep_lib as ms\n"
        "print(sorted(n for n in ['empirical_score', 'loss_gap', 'GaussianMixture', 'sample', 'scores'] if n in dir(ms)))\n"
        "print([m for m in ('sympy', 'matplotlib', 'memsep_lib.experiments', 'memsep_lib.dit') if m in sys.modules])\n"
        "print(ms.scores.empirical_score is ms.empirical_score, ms.dit.__name__)\n")
    assert out.splitlines() == ["['GaussianMixture', 'empirical_score', 'loss_gap', 'sample', 'scores']", "[]",
                                "True memsep_lib.dit"]


def test_api_page_covers_every_module():
    page = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. (?:automodule|py:module):: memsep_lib\.(\w+)\s*$", page, re.M))
    assert sorted(documented) == sorted(memsep_lib.MODULES)
    assert re.search(r"^\s*- file: book/api$", (ROOT / "_toc.yml").read_text(encoding="utf-8"), re.M)


def test_api_page_lists_every_name_of_a_module_documented_name_by_name():
    """A module declared with py:module (not automodule) must list each name of its ``__all__``."""
    page = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    for block in re.findall(r"^\.\. py:module:: (memsep_lib\.\w+)\n(.*?)```", page, re.M | re.S):
        module_name, body = block
        listed = set(re.findall(r"^\.\. auto(?:function|class):: (\w+)", body, re.M))
        assert listed == set(importlib.import_module(module_name).__all__), module_name


def test_api_page_example_runs():
    page = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    out = _fresh(example)
    assert re.fullmatch(r"Loss-Gap at t = 0\.01: \d+\.\d ± \d+\.\d\n", out)


def test_package_docstring_example_runs():
    block = []
    for line in memsep_lib.__doc__.split("::\n", 1)[1].splitlines():
        if line.strip() and not line.startswith("    "):
            break
        block.append(line[4:])
    example = "\n".join(block)
    out = _fresh(example.replace("ms.scores.posterior_weights", "print(ms.scores.posterior_weights.__name__)"))
    assert out.splitlines()[-1] == "posterior_weights"
