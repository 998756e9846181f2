"""A chapter executed in a Jupyter kernel the way a reader runs it, without touching the repository.

``jupyter nbconvert --to notebook --execute`` (nbclient and the ipykernel of ``requirements.txt``) runs
the shortest chapter from the repository root, writing the executed copy to a temporary folder. The
test checks that every cell runs, that the verdict cells (``# NBVAL_CHECK_OUTPUT``) print what the
committed notebook shows, and that no file under ``book/`` changed or appeared (no notebook rewritten,
no results file left behind). nbval, in the default ``pytest``, runs every notebook inside pytest's own
process environment; this test runs one through the Jupyter command line, as the README describes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "book" / "ch01_forward_process.ipynb"  # the shortest chapter (about 25 s in the ci profile)


def _book_files() -> dict[str, str]:
    """sha256 of every file under book/ (checkpoints and caches aside)."""
    out = {}
    for path in sorted((ROOT / "book").rglob("*")):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and not any(part in rel for part in (".ipynb_checkpoints", "__pycache__", "results/checkpoints")):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.slow
def test_chapter_runs_in_a_jupyter_kernel(tmp_path):
    before = _book_files()
    # the kernel imports this checkout's memsep_lib even where `pip install -e .` points at another one
    env = dict(os.environ, MEMSEP_PROFILE="ci",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", str(CHAPTER),
         "--output-dir", str(tmp_path), "--ExecutePreprocessor.timeout=900"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    executed = nbformat.read(tmp_path / CHAPTER.name, as_version=4)
    committed = nbformat.read(CHAPTER, as_version=4)
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(executed.cells)
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    assert [c.source for c in executed.cells] == [c.source for c in committed.cells]
    verdicts = [(c, e) for c, e in zip(committed.cells, executed.cells)
                if c.cell_type == "code" and c.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT")]
    assert verdicts, "the chapter has no verdict cell"
    for committed_cell, executed_cell in verdicts:
        assert _stream_text(executed_cell) == _stream_text(committed_cell)
    assert _book_files() == before, "running the chapter changed files under book/"
