"""Every notebook of the book carries the book's TeX macros, generated from _config.yml (book/_ext/notebook_macros.py).

The macro cell cannot drift from ``_config.yml``: each notebook's first cell must equal the generated
one. Outputs get no macros in JupyterLab (see the tool's docstring), so no stored output may use one.
Notebooks in ``PENDING`` are being reworked elsewhere and get their macro cell afterwards
(``python book/_ext/notebook_macros.py --write``, then remove them from ``PENDING``).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import notebook_macros as nm  # noqa: E402

sys.path.remove(str(ROOT / "book" / "_ext"))

NOTEBOOKS = nm.book_notebooks()
PENDING: set[str] = set()
# a widget callback written as `lambda ...: (plot(...), plt.show())` returns a tuple, which interact prints
# under the figure as "(<Axes: ...>, None)"
TUPLE_CALLBACK = re.compile(r"lambda[^:\n]*:\s*\((?:.|\n)*?plt\.show\(\)\s*\)")


def _pending(path: Path):
    if path.stem in PENDING:
        pytest.skip(f"{path.name}: being reworked; gets its macro cell afterwards (notebook_macros.py --write)")


def test_every_notebook_page_is_covered():
    assert [p.name for p in NOTEBOOKS] == [
        "ch01_forward_process.ipynb", "ch02_loss_gap_fisher.ipynb", "ch03_loss_gap_lower_bound.ipynb",
        "ch04_approximation_width.ipynb", "ch05_hessian_lipschitz.ipynb", "ch06_mixture_memorization.ipynb",
        "ch07_dit_pruning.ipynb", "reproducing.ipynb"]
    assert PENDING <= {p.stem for p in NOTEBOOKS}


def test_macro_cell_is_generated_from_the_config():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    raw = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    source = nm.macro_cell_source()
    front = yaml.safe_load(source.split("---\n")[1])
    assert front == {"math": {"\\" + k: (v if isinstance(v, str) else v[0]) for k, v in raw.items()}}
    mathjax = source.splitlines()[-1]
    assert mathjax.startswith("$") and mathjax.endswith("$")
    defs = re.findall(r"\\renewcommand\{\\(\w+)\}(?:\[(\d)\])?\{", mathjax)
    assert [(name, int(n) if n else 0) for name, n in defs] == [
        (k, 0 if isinstance(v, str) else v[1]) for k, v in raw.items()]
    assert "\\renewcommand{\\norm}[1]{\\left\\lVert #1 \\right\\rVert}" in mathjax


def test_config_macros_rejects_what_it_cannot_write(tmp_path):
    def config(macros):
        path = tmp_path / "_config.yml"
        path.write_text(yaml.safe_dump({"sphinx": {"config": {"mathjax3_config": {"tex": {"macros": macros}}}}}))
        return path

    assert nm.config_macros(config({"at": "a_t", "norm": ["|#1|", 1]})) == {"at": ("a_t", 0), "norm": ("|#1|", 1)}
    for bad, match in [({"a_t": "x"}, "control word"), ({"x": ["#2", 1]}, "uses #2"), ({"x": 3}, "string or"),
                       ({"x": ["a", True]}, "string or")]:
        with pytest.raises(ValueError, match=match):
            nm.config_macros(config(bad))
    empty = tmp_path / "empty.yml"
    empty.write_text("title: x\n")
    with pytest.raises(ValueError, match="no sphinx.config"):
        nm.config_macros(empty)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_carries_the_current_macros(path):
    _pending(path)
    assert nm.check_notebook(nbformat.read(path, as_version=4)) is None, \
        f"{path.name}: run python book/_ext/notebook_macros.py --write {path.relative_to(ROOT)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_output_uses_a_book_macro(path):
    _pending(path)
    assert nm.output_macro_uses(nbformat.read(path, as_version=4)) == [], \
        "outputs are rendered without the book's macros in JupyterLab: spell the symbols out"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_widget_callback_returns_a_tuple(path):
    _pending(path)
    nb = nbformat.read(path, as_version=4)
    bad = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and TUPLE_CALLBACK.search(c.source)]
    assert bad == [], f"cells {bad}: the callback's tuple is printed under the figure; use a def that returns None"


def test_tuple_callback_pattern():
    assert TUPLE_CALLBACK.search("interact(lambda d: (plot(d),\n    plt.show()), d=1)")
    assert not TUPLE_CALLBACK.search("def f(d):\n    plot(d)\n    plt.show()\ninteract(f, d=1)")


def test_write_inserts_the_cell_once_and_keeps_the_rest(tmp_path):
    source = ROOT / "book" / "reproducing.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells = [c for c in nb.cells if not nm.is_macro_cell(c)]
    nb.metadata["kernelspec"]["display_name"] = "Python 3"
    path = tmp_path / "page.ipynb"
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    assert nm.check_notebook(nbformat.read(path, as_version=4)) == "no macro cell"
    assert nm.write_notebook(path) is True
    written = nbformat.read(path, as_version=4)
    assert nm.check_notebook(written) is None
    assert written.cells[0].metadata["tags"] == ["remove-cell"] and written.cells[0].id == nm.CELL_ID
    assert written.cells[1:] == nb.cells
    text = path.read_text(encoding="utf-8")
    assert nm.write_notebook(path) is False and path.read_text(encoding="utf-8") == text  # idempotent
    # a stale cell (the config changed) is replaced in place, not duplicated
    written.cells[0].source = written.cells[0].source.replace("a_t", "alpha_t")
    path.write_text(nbformat.writes(written) + "\n", encoding="utf-8")
    assert "differs from _config.yml" in nm.check_notebook(nbformat.read(path, as_version=4))
    assert nm.write_notebook(path) is True and path.read_text(encoding="utf-8") == text


def test_check_mode_exit_status(tmp_path, capsys):
    good = tmp_path / "good.ipynb"
    shutil.copy(ROOT / "book" / "reproducing.ipynb", good)
    nb = nbformat.read(good, as_version=4)
    nb.cells = nb.cells[1:]
    bad = tmp_path / "bad.ipynb"
    nbformat.write(nb, bad)
    assert nm.main(["--check", str(good)]) == 0
    assert nm.main(["--check", str(good), str(bad)]) == 1
    assert "bad.ipynb: no macro cell" in capsys.readouterr().out


def test_output_macro_uses_finds_latex_and_markdown():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/latex": "$\\st + \\stuff$"}),
                    nbformat.v4.new_output("display_data", data={"text/markdown": "| $\\LossGap_t$ |"}),
                    nbformat.v4.new_output("display_data", data={"text/plain": "\\at"})]
    nb.cells = [cell]
    assert nm.output_macro_uses(nb) == ["cell 0 (text/latex): \\st", "cell 0 (text/markdown): \\LossGap"]
