"""The rendered book in a real browser (headless Chromium): see tests/book_browser.py for the checks.

Marked ``browser``. The default ``pytest`` skips these tests, with the reason, when Selenium,
Chromium or chromedriver is missing, or when the book has not been built (``_build/html``, or the
folder named by ``MEMSEP_BOOK_HTML``). ``.ci/run`` sets ``MEMSEP_BROWSER_REQUIRED=1`` so that any of
these turns into a failure there, and runs them with ``pytest -m browser`` after the book build.

The first tests serve small generated pages, one sound and one broken in every way checked, and
show that the checker passes the first and reports each defect of the second.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urldefrag

import pytest

import book_browser as bb

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
BOOK_HTML = Path(os.environ.get("MEMSEP_BOOK_HTML") or ROOT / "_build" / "html")
PAGES = bb.book_pages(ROOT / "_toc.yml")
# 1x1 PNG
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def _unavailable(reason: str):
    if os.environ.get("MEMSEP_BROWSER_REQUIRED") == "1":
        pytest.fail(f"{reason} (MEMSEP_BROWSER_REQUIRED=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium():
    if os.environ.get("MEMSEP_SKIP_BROWSER"):
        pytest.skip(os.environ["MEMSEP_SKIP_BROWSER"])
    if importlib.util.find_spec("selenium") is None:
        _unavailable("selenium is not installed (pip install -r requirements.txt)")
    found = bb.find_chromium()
    if found is None:
        _unavailable("chromium/chromedriver not installed (apt-get install chromium chromium-driver; .ci/run does)")
    return found


@pytest.fixture(scope="module")
def browser(chromium):
    with bb.BookBrowser(*chromium) as browser:
        yield browser


def _mathjax_into(folder: Path) -> None:
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        from offline_mathjax import copy_mathjax, mathjax_source_dir
    finally:
        sys.path.pop(0)
    if mathjax_source_dir() is None:
        _unavailable("django-static-mathjax is not installed (pip install -r requirements.txt)")
    copy_mathjax(folder / "mathjax")


_HEAD = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" href="pixel.png">
<script>window.MathJax = {{options: {{processHtmlClass: 'math', ignoreHtmlClass: 'document'}}}};</script>
<script defer src="{mathjax}"></script></head><body class="document"><main>"""


def _page(title: str, body: str, mathjax: str = "mathjax/tex-mml-chtml.js") -> str:
    return _HEAD.format(title=title, mathjax=mathjax) + body + "</main></body></html>"


@pytest.fixture(scope="module")
def fixture_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    _mathjax_into(site)
    (site / "pixel.png").write_bytes(PIXEL)
    (site / "empty.png").write_bytes(b"")
    (site / "good.html").write_text(_page("good", r"""
      <h1 id="top">A sound page</h1>
      <p>Inline <span class="math">\(\frac{a}{b}\)</span> and display</p>
      <div class="math">\[\sum_{i=1}^n x_i\]</div>
      <p>Prices in code are fine: <code>$$ not math $$</code></p>
      <img src="pixel.png" alt="pixel"> <a href="other.html#sec">a link</a> <a href="#top">up</a>
      <a href="https://example.org/">an external link (not followed)</a>
      <div style="overflow-x: auto"><table><tr><td style="white-space: nowrap">{wide}</td></tr></table></div>
      <pre style="overflow-x: auto">{wide}</pre>""".replace("{wide}", "wide " * 400)))
    (site / "other.html").write_text(_page("other", '<section id="sec"><p>Target.</p></section>'))
    (site / "broken.html").write_text(_page("broken", r"""
      <h1>A broken page</h1>
      <p>Bad TeX: <span class="math">\(\undefinedmacro{x}\)</span> <span class="math">\(a^b^c\)</span>
         <span class="math">\(\frac{a}{b\)</span></p>
      <p class="tex2jax_ignore">Raw display math: $$x^2$$</p>
      <img src="missing.png" alt="missing"> <img src="empty.png" alt="empty">
      <p>```{prf:theorem} A title with {cite:t}`key` is not a fence</p>
      <a href="nowhere.html">dead link</a> <a href="other.html#no-such-anchor">dead anchor</a>
      <div style="overflow: hidden"><table><tr><td style="white-space: nowrap">cut {wide}</td></tr></table></div>
      <pre style="overflow: visible">spills {wide}</pre>
      <div style="overflow-x: auto; width: 4000px"><table><tr><td>boxed {wide}</td></tr></table></div>
      <script>window.undefinedFunction();</script>""".replace("{wide}", "wide " * 400)))
    (site / "nomath.html").write_text(_page("no MathJax", r'<p><span class="math">\(x\)</span></p>',
                                            mathjax="mathjax/not-there.js"))
    (site / "redirect.html").write_text('<meta http-equiv="Refresh" content="0; url=good.html" />')
    (site / "badredirect.html").write_text('<meta http-equiv="Refresh" content="0; url=gone.html" />')
    return site


def _check(browser, site, page, shots=None):
    with bb.StaticServer(site) as server:
        return browser.check_page(server, bb.LinkChecker(site, server.base), page,
                                  screenshot=None if shots is None else shots / f"{page}.png")


def test_checker_passes_a_sound_page(browser, fixture_site, tmp_path):
    report = _check(browser, fixture_site, "good.html", tmp_path)
    assert report.problems == []
    assert report.external_links == 1
    assert report.screenshot.stat().st_size > 1000
    assert _check(browser, fixture_site, "redirect.html").problems == []


def test_checker_reports_every_defect_of_a_broken_page(browser, fixture_site):
    problems = _check(browser, fixture_site, "broken.html").problems
    text = "\n".join(problems)
    assert "MathJax error: undefined macro \\undefinedmacro in \\undefinedmacro{x}" in text
    assert "MathJax error: Double exponent: use braces to clarify" in text
    assert "math not typeset: \\(\\frac{a}{b\\)" in text  # unbalanced braces: MathJax skips it
    assert "raw TeX in text: 'Raw display math: $$x^2$$'" in text
    assert "unparsed MyST in text: '```{prf:theorem} A title with {cite:t}`key` is not a fence'" in text
    assert "image missing or empty: missing.png" in text
    assert "image missing or empty: empty.png" in text
    assert "broken link: /nowhere.html (no such file)" in text
    assert "broken link: /other.html#no-such-anchor (no element with id 'no-such-anchor')" in text
    assert any(p.startswith("console error:") and "undefinedFunction" in p for p in problems)
    assert "request failed: 404 /missing.png" in text
    wide = [p for p in problems if p.startswith("wide content cut off:")]
    assert len(wide) == 3, wide
    assert any('table "cut wide' in p and "with no scroll box" in p for p in wide)
    assert any('pre "spills wide' in p and "with no scroll box" in p for p in wide)
    assert any('table "boxed wide' in p and "outside the" in p for p in wide)


def test_checker_reports_mathjax_that_did_not_load(browser, fixture_site):
    problems = _check(browser, fixture_site, "nomath.html").problems
    assert "MathJax did not start" in problems
    assert "raw TeX in text: '\\\\(x\\\\)'" in problems
    assert "request failed: 404 /mathjax/not-there.js" in problems


def test_checker_reports_missing_pages_and_bad_redirects(browser, fixture_site):
    assert _check(browser, fixture_site, "absent.html").problems == ["page not built: absent.html"]
    assert _check(browser, fixture_site, "badredirect.html").problems == [
        "redirect: broken link: /gone.html (no such file)"]


# ---------------------------------------------------------------------------------------------
# the built book, page by page (every page of _toc.yml, and index.html)

@pytest.fixture(scope="module")
def book(chromium):
    if not (BOOK_HTML / "index.html").is_file():
        _unavailable(f"no built book at {BOOK_HTML} (build it first: jupyter-book build .)")
    shots = BOOK_HTML.parent / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    with bb.StaticServer(BOOK_HTML) as server, bb.BookBrowser(*chromium) as browser:
        yield browser, server, bb.LinkChecker(BOOK_HTML, server.base), shots


@pytest.mark.parametrize("page", PAGES)
def test_book_page(book, page):
    browser, server, links, shots = book
    report = browser.check_page(server, links, page,
                                screenshot=shots / (page.removesuffix(".html").replace("/", "__") + ".png"))
    assert not report.problems, f"{page}:\n  " + "\n  ".join(report.problems)
    doc = page.removesuffix(".html")
    if (ROOT / f"{doc}.ipynb").is_file():  # a chapter notebook: downloadable from its page
        assert any(urldefrag(link)[0].endswith(f"/_sources/{doc}.ipynb") for link in report.links), \
            f"{page}: no download link to the notebook _sources/{doc}.ipynb"


def test_book_map_is_legible(book):
    """The map's text reads at 12 px or more at the test's window width, every line inside its box, and
    linked text is not underlined (an underline runs through the subscripts of SVG text)."""
    browser, server, _, _ = book
    browser.driver.get(server.url(PAGES[1]))
    found = browser.driver.execute_script(r"""
const svg = document.querySelector('.bookmap-svg svg');
const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
const boxes = Array.from(svg.querySelectorAll('rect')).filter((r) => +r.getAttribute('width') < svg.viewBox.baseVal.width);
const out = {small: [], outside: [], underlined: []};
svg.querySelectorAll('text').forEach((t) => {
  const px = parseFloat(getComputedStyle(t).fontSize) * scale;
  if (px < 12) out.small.push(`${t.textContent} (${px.toFixed(1)} px)`);
  if (t.parentElement.getAttribute('font-style') === 'italic') return;   // the arrows' labels
  const b = t.getBBox();
  if (!boxes.some((r) => { const x = +r.getAttribute('x'), y = +r.getAttribute('y');
        return b.x >= x + 4 && b.x + b.width <= x + +r.getAttribute('width') - 4 &&
               b.y >= y + 2 && b.y + b.height <= y + +r.getAttribute('height') - 2; }))
    out.outside.push(t.textContent);
});
svg.querySelectorAll('a.bookmap-link').forEach((a) => {
  if (getComputedStyle(a).textDecorationLine !== 'none') out.underlined.push(a.textContent.trim().slice(0, 40)); });
return out;""")
    assert found == {"small": [], "outside": [], "underlined": []}


def test_book_map_links_to_chapters(book):
    """The map on the first page links its boxes to chapters of this build, and the links work."""
    browser, server, links, _ = book
    browser.driver.get(server.url(PAGES[1]))  # the root page of the TOC
    hrefs = browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('.bookmap-svg svg a.bookmap-link'))"
        ".map((a) => new URL(a.getAttribute('href'), document.baseURI).href)")
    assert hrefs, "the map of the book has no links"
    assert [h for h in hrefs if links.problem(h)] == []
    browser.driver.execute_script("document.querySelector('.bookmap-svg svg a.bookmap-link').scrollIntoView()")
    browser.driver.execute_script(
        "document.querySelector('.bookmap-svg svg a.bookmap-link').dispatchEvent("
        "new MouseEvent('click', {bubbles: true, cancelable: true, view: window}))")
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(browser.driver, 15).until(lambda d: d.current_url.split("#")[0] == hrefs[0].split("#")[0])
