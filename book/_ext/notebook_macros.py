"""The book's TeX macros, carried by every notebook, generated from ``_config.yml`` (one source).

The book defines its macros (``\\at``, ``\\st``, ``\\escore``, ``\\Pemp``, ...) once, in
``_config.yml`` (``sphinx.config.mathjax3_config.tex.macros``), which only the HTML build reads. A
notebook opened in Jupyter would draw each of them as an error. So the first cell of every notebook
of the book is a markdown cell, tagged ``remove-cell`` (the HTML build skips it), that defines them
twice, from the same table:

* as MyST front matter (``math:``), which jupyterlab-myst reads from a notebook's first markdown
  cell and applies to every markdown cell of the notebook (it renders math with KaTeX, one cell at a
  time, so a ``\\newcommand`` in one cell would not reach the others);
* as one line ``$\\renewcommand{...}{...}...$`` for front ends that render markdown with MathJax
  (JupyterLab without jupyterlab-myst, Jupyter Notebook, nbconvert's HTML), where a definition in one
  cell holds for the whole page. ``\\renewcommand`` rather than ``\\newcommand``: MathJax treats
  both alike, and in KaTeX the macros already exist (from the front matter), where ``\\newcommand``
  would be an error.

The tool also sets the notebook's ``kernelspec`` to the one ipykernel installs (``KERNELSPEC``):
JupyterLab writes that one into a notebook when its kernel starts, so with any other value merely
opening a chapter would modify it.

Cell outputs get neither (jupyterlab-myst renders a markdown output with no front matter, and
JupyterLab's MathJax never sees the markdown cells), so outputs spell their symbols out; the tests
check that no stored output uses a book macro (``output_macro_uses``).

Usage, from the repository root::

    python book/_ext/notebook_macros.py --check [NOTEBOOK ...]   # exit 1 if a macro cell is missing or stale
    python book/_ext/notebook_macros.py --write [NOTEBOOK ...]   # insert or refresh it (and the kernelspec)

Without notebooks, every ``.ipynb`` page of ``_toc.yml``. ``--write`` changes nothing else in a
notebook (outputs, other metadata and formatting are kept byte for byte).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "_config.yml"
TOC = ROOT / "_toc.yml"
CELL_ID = "tex-macros"
TAGS = ["remove-cell"]
MARKER = "TeX macros of the book, generated from _config.yml by book/_ext/notebook_macros.py"
# stored outputs that a front end renders as markdown or TeX (glue's papermill records are not shown)
RENDERED_MIMES = ("text/markdown", "text/latex", "text/html")
# the kernelspec of ipykernel's default kernel ("python3"), as JupyterLab records it
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def config_macros(config_path: Path | str = CONFIG) -> dict[str, tuple[str, int]]:
    """``{name: (body, number of arguments)}`` from ``_config.yml``, in file order (names without ``\\``)."""
    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    try:
        raw = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    except (KeyError, TypeError):
        raise ValueError(f"{config_path}: no sphinx.config.mathjax3_config.tex.macros") from None
    macros = {}
    for name, value in raw.items():
        if not re.fullmatch(r"[A-Za-z]+", str(name)):
            raise ValueError(f"{config_path}: macro name {name!r} is not a TeX control word")
        if isinstance(value, str):
            body, nargs = value, 0
        elif (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
              and isinstance(value[1], int) and not isinstance(value[1], bool) and 0 <= value[1] <= 9):
            body, nargs = value
        else:
            raise ValueError(f"{config_path}: macro {name!r} must be a string or [body, number of arguments]")
        used = {int(k) for k in re.findall(r"#(\d)", body)}
        if used - set(range(1, nargs + 1)):
            raise ValueError(f"{config_path}: macro {name!r} uses #{max(used)} but takes {nargs} argument(s)")
        macros[str(name)] = (body, nargs)
    return macros


def _yaml_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def macro_cell_source(macros: dict[str, tuple[str, int]] | None = None) -> str:
    """The markdown of the macro cell: MyST front matter, a comment, one MathJax line."""
    macros = config_macros() if macros is None else macros
    front = [f"  {_yaml_quote(chr(92) + name)}: {_yaml_quote(body)}" for name, (body, _) in macros.items()]
    defs = "".join(f"\\renewcommand{{\\{name}}}" + (f"[{nargs}]" if nargs else "") + f"{{{body}}}"
                   for name, (body, nargs) in macros.items())
    return "\n".join([
        "---", "math:", *front, "---",
        f"<!-- {MARKER}: do not edit here (python book/_ext/notebook_macros.py --write). The front matter "
        "is read by jupyterlab-myst; the line below by front ends that render markdown with MathJax. -->",
        f"${defs}$",
    ])


def is_macro_cell(cell) -> bool:
    return cell.get("cell_type") == "markdown" and MARKER in "".join(cell.get("source", ""))


def macro_cell():
    cell = nbformat.v4.new_markdown_cell(macro_cell_source(), metadata={"tags": list(TAGS)})
    cell["id"] = CELL_ID
    return cell


def check_notebook(nb) -> str | None:
    """``None`` when the notebook's first cell is the current macro cell, else what is wrong."""
    cells = nb.get("cells", [])
    if not cells or not is_macro_cell(cells[0]):
        others = [i for i, c in enumerate(cells) if is_macro_cell(c)]
        return f"macro cell at cell {others[0]}, not first" if others else "no macro cell"
    cell, want = cells[0], macro_cell()
    if "".join(cell["source"]) != want["source"]:
        return "macro cell differs from _config.yml (run python book/_ext/notebook_macros.py --write)"
    if cell.get("metadata", {}).get("tags") != TAGS:
        return f"macro cell tags are {cell.get('metadata', {}).get('tags')}, expected {TAGS}"
    if nb.get("metadata", {}).get("kernelspec") != KERNELSPEC:
        return f"kernelspec is {nb.get('metadata', {}).get('kernelspec')}, expected {KERNELSPEC}"
    return None


def write_notebook(path: Path | str) -> bool:
    """Insert or refresh the macro cell of ``path``; ``True`` if the file changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    if check_notebook(nb) is None:
        return False
    nb.cells = [c for c in nb.cells if not is_macro_cell(c)]
    if any(c.get("id") == CELL_ID for c in nb.cells):
        raise ValueError(f"{path}: a cell already has the id {CELL_ID!r}")
    nb.cells.insert(0, macro_cell())
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    new = nbformat.writes(nb) + "\n"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def book_notebooks(toc_path: Path | str = TOC) -> list[Path]:
    """The ``.ipynb`` pages of the jb-book TOC, in order."""
    found: list[Path] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    stem = node[key].removesuffix(".ipynb").removesuffix(".md")
                    if (ROOT / f"{stem}.ipynb").is_file():
                        found.append(ROOT / f"{stem}.ipynb")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(Path(toc_path).read_text(encoding="utf-8")))
    return found


def output_macro_uses(nb, macros: dict[str, tuple[str, int]] | None = None) -> list[str]:
    """``"cell N (mime): \\name"`` for each book macro used in a stored output that a front end renders."""
    macros = config_macros() if macros is None else macros
    pattern = re.compile(r"\\(" + "|".join(sorted(map(re.escape, macros), key=len, reverse=True)) + r")(?![A-Za-z])")
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []):
            for mime in RENDERED_MIMES:
                data = output.get("data", {}).get(mime)
                text = "".join(data) if isinstance(data, list) else (data or "")
                for name in sorted(set(pattern.findall(text))):
                    found.append(f"cell {index} ({mime}): \\{name}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="report notebooks whose macro cell is missing or stale")
    mode.add_argument("--write", action="store_true", help="insert or refresh the macro cell")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook page of _toc.yml")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or book_notebooks()
    bad = 0
    for path in notebooks:
        if args.write:
            print(f"{'updated' if write_notebook(path) else 'up to date'}: {path}")
        elif (problem := check_notebook(nbformat.read(path, as_version=4))) is not None:
            print(f"{path}: {problem}")
            bad += 1
    if args.check:
        print(f"notebook_macros: {len(notebooks) - bad} of {len(notebooks)} notebooks carry the current macros")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
