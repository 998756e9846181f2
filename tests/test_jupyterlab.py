"""A chapter read and run in JupyterLab, in headless Chromium (see tests/lab_browser.py).

Marked ``browser``, like tests/test_book_browser.py: the default ``pytest`` skips these tests, with
the reason, when Selenium, Chromium or chromedriver is missing; ``.ci/run`` runs them with
``pytest -m browser`` and ``MEMSEP_BROWSER_REQUIRED=1`` (a skip is a failure there). Nothing is
written into the repository: ``jupyter lab`` serves copies in a temporary folder.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import notebook_macros  # noqa: E402

sys.path.remove(str(ROOT / "book" / "_ext"))
import book_browser as bb  # noqa: E402

pytestmark = pytest.mark.browser

CHAPTER = ROOT / "book" / "ch03_loss_gap_lower_bound.ipynb"
BIB_KEYS = set(re.findall(r"@\w+\s*\{\s*([^,\s]+)\s*,", (ROOT / "book" / "references.bib").read_text(encoding="utf-8")))


def _unavailable(reason: str):
    if os.environ.get("MEMSEP_BROWSER_REQUIRED") == "1":
        pytest.fail(f"{reason} (MEMSEP_BROWSER_REQUIRED=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium():
    if os.environ.get("MEMSEP_SKIP_BROWSER"):
        pytest.skip(os.environ["MEMSEP_SKIP_BROWSER"])
    for module, what in (("selenium", "selenium"), ("jupyterlab", "jupyterlab"), ("jupyterlab_myst", "jupyterlab-myst")):
        if importlib.util.find_spec(module) is None:
            _unavailable(f"{what} is not installed (pip install -r requirements.txt)")
    found = bb.find_chromium()
    if found is None:
        _unavailable("chromium/chromedriver not installed (apt-get install chromium chromium-driver; .ci/run does)")
    return found


def _without_macros(path: Path, folder: Path) -> Path:
    """The chapter without its macro cell, plus an output that uses a book macro: what the checker must catch."""
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if not notebook_macros.is_macro_cell(c)]
    cell = nbformat.v4.new_code_cell("Math(r'\\st')")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/latex": "$\\displaystyle \\st$",
                                                                 "text/plain": "<Math>"})]
    nb.cells.insert(1, cell)
    out = folder / "without_macros.ipynb"
    nbformat.write(nb, out)
    return out


def _widget_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells = [nbformat.v4.new_code_cell(
        "import ipywidgets as widgets\n\n\ndef show(x):\n    print(f'twice x = {2 * x}')\n\n\n"
        "widgets.interact(show, x=widgets.IntSlider(value=3, min=0, max=10, description='x'));")]
    out = folder / "slider.ipynb"
    nbformat.write(nb, out)
    return out


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    import lab_browser as lb

    folder = tmp_path_factory.mktemp("notebooks")
    extra = (_without_macros(CHAPTER, folder), _widget_notebook(folder))
    with lb.JupyterLab(CHAPTER, extra=extra, expose_app=True) as server, \
            bb.BookBrowser(*chromium, page_timeout=120) as browser:
        yield browser, server


def _labels(nb) -> set[str]:
    """Targets defined in the notebook's markdown: ``(label)=`` lines and ``:label:`` options."""
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return set(re.findall(r"^\(([\w-]+)\)=\s*$", text, re.M)) | set(re.findall(r"^:label:\s*(\S+)", text, re.M))


def test_chapter_reads_well_in_jupyterlab(lab):
    """Every markdown cell rendered by jupyterlab-myst, every formula typeset (the book's macros come from
    the notebook's macro cell), no MyST left as text; only references to outside the notebook unresolved."""
    import lab_browser as lb

    browser, server = lab
    report = lb.inspect_notebook(browser, server, screenshot=ROOT / "_build" / "screenshots" / "jupyterlab-ch03.png")
    nb = nbformat.read(CHAPTER, as_version=4)
    markdown = sum(c.cell_type == "markdown" for c in nb.cells)
    assert report.cells == len(nb.cells)
    assert report.myst_cells == markdown, "markdown cells not rendered by jupyterlab-myst (is it installed and enabled?)"
    assert report.math_errors == []
    assert report.raw_myst == []
    assert report.console_errors == []
    assert report.katex > 100 and report.mathjax >= 10  # prose (KaTeX) and the sympy outputs (MathJax)
    assert report.myst_blocks >= 1  # the {prf:theorem} box
    local = _labels(nb)
    bad = [(kind, target) for kind, target in report.unresolved
           if (kind == "citation" and target not in BIB_KEYS) or (kind == "reference" and target in local)]
    assert bad == [], "references that should resolve inside the notebook"
    assert not lb.document_dirty(browser), "opening the chapter modified it (kernelspec? run notebook_macros.py --write)"


def test_checker_reports_missing_macros(lab):
    """The same chapter without its macro cell, with an output using a macro: both renderers' errors are seen."""
    import lab_browser as lb

    browser, server = lab
    report = lb.inspect_notebook(browser, server, "without_macros.ipynb")
    assert any(m.startswith("Undefined control sequence: \\st") for m in report.math_errors)  # KaTeX, markdown
    assert "MathJax: undefined macro \\st" in report.math_errors  # MathJax, the output


def test_slider_runs_in_jupyterlab(lab):
    """The widget front end works with the kernel: an interact slider draws, and moving it reruns the callback."""
    import lab_browser as lb
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser, server = lab
    lb.open_notebook(browser, server, "slider.ipynb")
    lb.run_all_cells(browser)
    driver = browser.driver
    WebDriverWait(driver, 60).until(lambda d: "twice x = 6" in lb.output_text(browser))
    handle = driver.find_element(By.CSS_SELECTOR, ".jp-Notebook .widget-slider .noUi-handle")
    driver.execute_script("arguments[0].focus();", handle)
    ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()
    WebDriverWait(driver, 60).until(lambda d: "twice x = 8" in lb.output_text(browser))
    assert "(<" not in lb.output_text(browser)  # no stray repr of a callback's return value
