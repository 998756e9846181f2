"""The library as an API: ``import memsep_lib`` gives the core functions and every module, and the
book's API reference page (book/api.md) covers every module."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import memsep_lib

ROOT = Path(__file__).resolve().parent.parent


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
