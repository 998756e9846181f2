"""Check the rendered book in a real browser: headless Chromium driven by Selenium and chromedriver.

For each page (every page of ``_toc.yml``, plus ``index.html``) served from ``127.0.0.1``:

- the page loads and has main content;
- MathJax starts and typesets without errors: no ``<mjx-merror>``, no undefined macro (which MathJax
  draws as red text), no math element left untypeset,
  no raw TeX (``$$``, ``$\\cmd``, ``\\(``, ``\\[``, ``\\begin{``) left in the text outside code,
  and no unparsed MyST (a directive fence or a role printed as text: a result that did not render);
- wide content (a table, a display equation, a code block) wider than the text column scrolls in a
  box of its own that fits the column: not cut off by an ``overflow: hidden`` ancestor, not spilling
  out of the column, and no scroll box wider than the column;
- every image is present and non-empty (``naturalWidth > 0``);
- every internal link resolves: the file exists and its ``#fragment`` names an element there;
- no console errors (JavaScript exceptions, failed loads) and no request answered with an error;
- a full-page screenshot is saved (``<build>/screenshots/<page>.png``).

Debian's ``chromium`` and ``chromium-driver`` are used as installed (nothing is downloaded); every
host name except 127.0.0.1 fails to resolve inside the browser, so the check also proves that the
book works offline. Usage from the repository root::

    python tests/book_browser.py [_build/html]     # exit status 1 if any page has a problem
"""

from __future__ import annotations

import base64
import functools
import html.parser
import http.server
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-extensions", "--window-size=1280,900",
                 # every host but the local server fails at once: the book must work offline
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
MAX_SCREENSHOT_HEIGHT = 12_000  # px; longer pages are cut in the screenshot (not in the checks)


# ---------------------------------------------------------------------------------------------
# what to check

def toc_pages(toc_path: Path | str = ROOT / "_toc.yml") -> list[str]:
    """Docnames of a jb-book TOC (``root`` and every ``file``), in order, without suffix."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    found.append(node[key].rsplit(".", 1)[0] if node[key].endswith((".md", ".ipynb"))
                                 else node[key])
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(Path(toc_path).read_text(encoding="utf-8")))
    return found


def find_chromium() -> tuple[str, str] | None:
    """``(chromium, chromedriver)`` executables, or ``None`` when either is missing."""
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if Path(p).is_file()), None)
    return (browser, driver) if browser and driver else None


# ---------------------------------------------------------------------------------------------
# serving the HTML on 127.0.0.1

class StaticServer:
    """A threaded static file server for ``root`` on 127.0.0.1 (random port) that records errors."""

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self.failed: list[str] = []  # "404 /path" for every request answered with an error
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(server.root), **kwargs)

            def log_message(self, *args):  # quiet
                pass

            def send_error(self, code, message=None, explain=None):
                server.failed.append(f"{code} {self.path}")
                super().send_error(code, message, explain)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "StaticServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, relpath: str) -> str:
        return urljoin(self.base, relpath)

    def take_failed(self) -> list[str]:
        out, self.failed[:] = [f for f in self.failed if not _is_favicon_probe(f)], []
        return out


def _is_favicon_probe(message: str) -> bool:
    """The browser's own request for ``/favicon.ico`` (made when a page names no icon, e.g. the
    redirect page index.html): not something the book links to, so not counted as a failure."""
    words = message.split()
    return bool(words) and urlsplit(words[-1]).path == "/favicon.ico"


class _Ids(html.parser.HTMLParser):
    """Element ids (and ``<a name>``) of a page, and the target of a ``<meta http-equiv=refresh>``."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.refresh: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if value and (name == "id" or (name == "name" and tag == "a")):
                self.ids.add(value)
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            _, _, target = (attrs.get("content") or "").partition("url=")
            self.refresh = target.strip() or None


class LinkChecker:
    """Resolves internal URLs against the files under ``root``: the file must exist, the anchor too."""

    def __init__(self, root: Path | str, base: str):
        self.root, self.base = Path(root).resolve(), base

    @functools.lru_cache(maxsize=None)
    def _parse(self, path: Path) -> _Ids:
        parser = _Ids()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        return parser

    def _ids(self, path: Path) -> set[str]:
        return self._parse(path).ids

    def refresh_target(self, url: str) -> str | None:
        """The absolute URL a page redirects to with ``<meta http-equiv="refresh">``, if any."""
        path = (self.root / unquote(urlsplit(urldefrag(url)[0]).path).lstrip("/")).resolve()
        target = self._parse(path).refresh if path.suffix == ".html" and path.is_file() else None
        return urljoin(url, target) if target else None

    def problem(self, url: str) -> str | None:
        """``None`` if ``url`` resolves, else a short description of what is broken."""
        target, fragment = urldefrag(url)
        rel = unquote(urlsplit(target).path).lstrip("/")
        path = (self.root / rel).resolve()
        if path.is_dir():
            path = path / "index.html"
        if not path.is_relative_to(self.root) or not path.is_file():
            return f"broken link: {url[len(self.base) - 1:]} (no such file)"
        if fragment and path.suffix == ".html" and unquote(fragment) not in self._ids(path):
            return f"broken link: {url[len(self.base) - 1:]} (no element with id {unquote(fragment)!r})"
        return None


# ---------------------------------------------------------------------------------------------
# the browser

_WAIT_MATHJAX = r"""
const done = arguments[arguments.length - 1];
if (!document.querySelector('script[src*="mathjax" i]')) { done({uses: false}); return; }
const mj = window.MathJax;
if (!mj || !mj.startup || !mj.startup.promise) { done({uses: true, error: 'MathJax did not start'}); return; }
mj.startup.promise.then(() => done({uses: true}), (e) => done({uses: true, error: 'MathJax failed: ' + e}));
"""

_WAIT_IMAGES = r"""
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
imgs.forEach((i) => { i.loading = 'eager'; });
Promise.all(imgs.map((i) => i.complete ? null : new Promise((r) => {
  i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 15000); })))
  .then(() => done(imgs.filter((i) => !(i.complete && i.naturalWidth > 0))
                       .map((i) => i.getAttribute('src') || i.currentSrc || '(no src)')));
"""

_INSPECT = r"""
const out = {merror: [], untypeset: [], rawtex: [], rawmyst: [], links: [], main: 0};
document.querySelectorAll('mjx-merror, [data-mjx-error]').forEach((e) =>
  out.merror.push((e.getAttribute('data-mjx-error') || e.textContent || '').trim().slice(0, 120)));
// MathJax's "noundefined" package draws an undefined macro as red text instead of an error box
const mjdoc = window.MathJax && window.MathJax.startup && window.MathJax.startup.document;
if (mjdoc && mjdoc.math) {
  for (const item of mjdoc.math) {
    if (!item.root || !item.root.walkTree) continue;
    item.root.walkTree((node) => {
      if (node.isKind('mtext') && node.attributes.getExplicit('mathcolor') === 'red') {
        const text = node.childNodes.map((c) => c.text || '').join('');
        if (text.startsWith('\\')) out.merror.push('undefined macro ' + text + ' in ' + String(item.math).trim().slice(0, 80));
      }
    });
  }
}
if (arguments[0]) {
  document.querySelectorAll('.math').forEach((e) => {
    if (!e.querySelector('mjx-container') && /\\\(|\\\[|\\begin\{/.test(e.textContent))
      out.untypeset.push(e.textContent.trim().slice(0, 80)); });
}
const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'TEXTAREA', 'NOSCRIPT', 'MJX-CONTAINER',
                      'MJX-ASSISTIVE-MML', 'TITLE']);
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode(n) {
  for (let e = n.parentElement; e; e = e.parentElement) {
    if (skip.has(e.tagName.toUpperCase()) || e.classList.contains('highlight')) return NodeFilter.FILTER_REJECT;
  }
  return NodeFilter.FILTER_ACCEPT; }});
const raw = /\$\$|\$\\[A-Za-z]|\\\(|\\\)|\\\[|\\\]|\\begin\{/;
// MyST that was not parsed: a directive fence or a role left as text (e.g. a fence whose title
// holds a backtick is not a fence in CommonMark, so a whole theorem prints as a paragraph)
const myst = /(```|:::)\s*\{[a-z:-]+\}|\{[a-z]+(:[a-z-]+)?\}`/;
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (raw.test(n.nodeValue)) out.rawtex.push(n.nodeValue.trim().slice(0, 80));
  if (myst.test(n.nodeValue)) out.rawmyst.push(n.nodeValue.trim().slice(0, 80));
}
document.querySelectorAll('a[href]').forEach((a) => {
  const href = a.getAttribute('href');
  if (!href || href === '#' || /^(mailto|javascript|data|tel):/i.test(href)) return;
  out.links.push(new URL(href, document.baseURI).href); });
const main = document.querySelector('main, article, [role="main"]') || document.body;
out.main = main.innerText.trim().length;
// wide content (a table, a display equation, a code block) must scroll inside a box of its own that
// fits the text column, not be cut off by the column or spill out of it
const column = document.querySelector('article.bd-article') || main;
const cs = getComputedStyle(column), cr = column.getBoundingClientRect();
const left = cr.left + parseFloat(cs.paddingLeft), right = cr.right - parseFloat(cs.paddingRight);
out.wide = [];
column.querySelectorAll('table, mjx-container[display="true"], div.math, pre').forEach((el) => {
  if (el.parentElement.closest('table, mjx-container, pre')) return;   // judged with its outermost wide ancestor
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return;                         // hidden (e.g. a collapsed cell)
  const width = Math.max(el.scrollWidth, r.width);
  if (width <= right - left + 1 && r.left >= left - 1 && r.right <= right + 1) return;   // fits
  let box = null;
  for (let e = el; e && e !== column; e = e.parentElement) {
    const st = getComputedStyle(e);
    if (['auto', 'scroll'].includes(st.overflowX)) { box = e; break; }
    if (['hidden', 'clip'].includes(st.overflowX)) break;              // cut off before any scroll box
  }
  const what = `${el.tagName.toLowerCase()} ${JSON.stringify(el.textContent.trim().replace(/\s+/g, ' ').slice(0, 40))}`;
  if (!box) { out.wide.push(`${what} is ${Math.round(width)} px wide in a ${Math.round(right - left)} px column, with no scroll box`); return; }
  const b = box.getBoundingClientRect();
  if (b.left < left - 1 || b.right > right + 1)
    out.wide.push(`${what}: its scroll box (${box.tagName.toLowerCase()}.${box.className}) is ${Math.round(b.width)} px wide, outside the ${Math.round(right - left)} px column`);
});
return out;
"""


@dataclass
class PageReport:
    page: str
    url: str
    problems: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # internal links found on the page (absolute URLs)
    external_links: int = 0
    screenshot: Path | None = None
    seconds: float = 0.0


class BookBrowser:
    """Headless Chromium (Selenium + chromedriver) with console logging; use as a context manager."""

    def __init__(self, chromium: str, chromedriver: str, *, page_timeout: float = 60.0):
        self.chromium, self.chromedriver, self.page_timeout = chromium, chromedriver, page_timeout
        self.driver = None

    def __enter__(self) -> "BookBrowser":
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self._profile = tempfile.mkdtemp(prefix="memsep-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = self.chromium
        for arg in CHROMIUM_ARGS:
            options.add_argument(arg)
        options.add_argument(f"--user-data-dir={self._profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=self.chromedriver))
        self.driver.set_page_load_timeout(self.page_timeout)
        self.driver.set_script_timeout(self.page_timeout)
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.driver is not None:
                self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser")
                if entry["level"] == "SEVERE" and not _is_favicon_probe(entry["message"].split(" - ")[0])]

    def screenshot(self, path: Path) -> Path:
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": int(size["width"]), "scale": 1,
                "height": int(min(size["height"], MAX_SCREENSHOT_HEIGHT))}
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot",
                                           {"format": "png", "captureBeyondViewport": True, "clip": clip})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def check_page(self, server: StaticServer, links: LinkChecker, relpath: str, *,
                   screenshot: Path | None = None) -> PageReport:
        """Load ``relpath`` from ``server`` and report every problem found (see the module doc)."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        start = time.perf_counter()
        url = server.url(relpath)
        report = PageReport(page=relpath, url=url)
        self.console_errors()  # drop what earlier pages left
        server.take_failed()
        if links.problem(url):
            report.problems.append(f"page not built: {relpath}")
            return report
        self.driver.get(url)
        redirect = links.refresh_target(url)
        if redirect is not None:  # e.g. index.html -> the root page: follow it, check where it lands
            if problem := links.problem(redirect):
                report.problems.append(f"redirect: {problem}")
                return report
            try:
                WebDriverWait(self.driver, 15).until(
                    lambda d: urldefrag(d.current_url)[0] == urldefrag(redirect)[0]
                    and d.execute_script("return document.readyState === 'complete' && !!document.body"))
            except TimeoutException:
                report.problems.append(f"redirect to {redirect} not followed")
                return report
        mathjax = self.driver.execute_async_script(_WAIT_MATHJAX)
        if mathjax.get("error"):
            report.problems.append(mathjax["error"])
        for src in self.driver.execute_async_script(_WAIT_IMAGES):
            report.problems.append(f"image missing or empty: {src}")
        found = self.driver.execute_script(_INSPECT, bool(mathjax.get("uses")))
        report.problems += [f"MathJax error: {m}" for m in found["merror"]]
        report.problems += [f"math not typeset: {m}" for m in found["untypeset"]]
        report.problems += [f"raw TeX in text: {m!r}" for m in found["rawtex"]]
        report.problems += [f"unparsed MyST in text: {m!r}" for m in found["rawmyst"]]
        report.problems += [f"wide content cut off: {m}" for m in found["wide"]]
        if found["main"] == 0:
            report.problems.append("page has no main content")
        for link in sorted(set(found["links"])):
            if not link.startswith(server.base):
                report.external_links += 1
                continue
            report.links.append(link)
            if problem := links.problem(link):
                report.problems.append(problem)
        report.problems += [f"console error: {m}" for m in self.console_errors()]
        report.problems += [f"request failed: {m}" for m in server.take_failed()]
        if screenshot is not None:
            report.screenshot = self.screenshot(screenshot)
        report.seconds = time.perf_counter() - start
        return report


def check_site(html_dir: Path | str, pages: list[str], *, screenshot_dir: Path | str | None = None,
               chromium: tuple[str, str] | None = None) -> list[PageReport]:
    """Check ``pages`` (paths relative to ``html_dir``, e.g. ``book/intro.html``) in one browser."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium and chromedriver not found (apt-get install chromium chromium-driver)")
    html_dir = Path(html_dir)
    with StaticServer(html_dir) as server, BookBrowser(*chromium) as browser:
        links = LinkChecker(html_dir, server.base)
        return [browser.check_page(server, links, page,
                                   screenshot=None if screenshot_dir is None
                                   else Path(screenshot_dir) / (page.removesuffix(".html").replace("/", "__") + ".png"))
                for page in pages]


def book_pages(toc_path: Path | str = ROOT / "_toc.yml") -> list[str]:
    """``index.html`` and the HTML file of every page of the TOC."""
    return ["index.html"] + [f"{doc}.html" for doc in toc_pages(toc_path)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    html_dir = Path(argv[0]) if argv else ROOT / "_build" / "html"
    start = time.perf_counter()
    reports = check_site(html_dir, book_pages(), screenshot_dir=html_dir.parent / "screenshots")
    for r in reports:
        print(f"{'FAIL' if r.problems else 'ok  '} {r.page} ({r.seconds:.1f} s, {r.external_links} external links)")
        for p in r.problems:
            print(f"       - {p}")
    bad = sum(bool(r.problems) for r in reports)
    print(f"book_browser: {len(reports) - bad} of {len(reports)} pages ok in {time.perf_counter() - start:.1f} s; "
          f"screenshots in {html_dir.parent / 'screenshots'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
