"""A chapter in JupyterLab, in headless Chromium: what a reader who opens the notebook sees.

``JupyterLab`` starts ``jupyter lab`` the way the README does (``jupyter lab <notebook>``), on
127.0.0.1 with an empty token, in a folder of its own: its settings, workspaces and runtime files
go to a temporary folder, never to the user's or the repository's. ``inspect_notebook`` opens a
notebook there with the :class:`book_browser.BookBrowser` (same Chromium flags: every host but
127.0.0.1 fails to resolve), waits until every markdown cell is rendered and the math count has
settled, and reports:

- ``math_errors``: math that did not render. jupyterlab-myst draws markdown math with KaTeX and marks
  an error with a ``title`` ("Undefined control sequence: \\st ..."); outputs are typeset by
  JupyterLab's MathJax, which draws an undefined macro in red (or an ``<mjx-merror>``);
- ``raw_myst``: MyST left as text in a rendered markdown cell (a role ``{cite:t}`...```, a
  directive fence, a target ``(label)=``): jupyterlab-myst is missing or disabled;
- ``unresolved``: references jupyterlab-myst renders but cannot resolve inside one notebook, as
  ``(kind, target)``: citations (it does not read ``references.bib``) and cross-references to targets
  outside the notebook's markdown (other chapters, figures named in cell metadata);
- ``myst_blocks``: how many MyST directives rendered as such (e.g. ``{prf:theorem}`` boxes).

Usage from the repository root: ``python tests/lab_browser.py book/ch03_loss_gap_lower_bound.ipynb``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import book_browser as bb

# JupyterLab settings for a test run: every cell in the DOM (no windowing, so that every cell is
# checked), no news or update checks (nothing to fetch, no pop-up).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}

# the notebook shown in the main area (other tabs stay in the DOM, hidden)
_CURRENT = r"""
const nb = (Array.from(document.querySelectorAll('.jp-NotebookPanel'))
            .find((p) => !p.classList.contains('lm-mod-hidden') && p.offsetParent !== null) || document)
           .querySelector('.jp-Notebook');
"""

_RENDERED = _CURRENT + r"""
// -1 until the notebook has cells and every markdown cell has been rendered by jupyterlab-myst (the
// "myst" widget, with content); then the number of typeset formulas, to wait for it to settle
if (!nb || !nb.querySelector('.jp-Cell')) return -1;
const md = Array.from(nb.querySelectorAll('.jp-MarkdownCell'));
if (!md.every((c) => { const m = c.querySelector('.myst'); return m && m.childElementCount > 0; })) return -1;
return nb.querySelectorAll('.katex, mjx-container').length;
"""

_INSPECT = _CURRENT + r"""
const out = {cells: nb.querySelectorAll('.jp-Cell').length, myst_cells: 0, plain_cells: 0,
             math_errors: [], raw_myst: [], unresolved: [], myst_blocks: 0, katex: 0, mathjax: 0};
out.myst_cells = nb.querySelectorAll('.jp-MarkdownCell .myst').length;
out.plain_cells = nb.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown').length;
out.katex = nb.querySelectorAll('.katex').length;
out.mathjax = nb.querySelectorAll('mjx-container').length;
out.myst_blocks = nb.querySelectorAll('.myst-proof, .myst-admonition, aside, figure').length;
// KaTeX (jupyterlab-myst): the error is the title of a marked span (inline) or <pre> (display math)
nb.querySelectorAll('[title]').forEach((e) => {
  const title = e.getAttribute('title');
  if (/control sequence|KaTeX|ParseError|Expected|Unknown|Missing|Undefined/i.test(title) &&
      !/Not Found$/.test(title)) out.math_errors.push(title.replace(/\u0332/g, '').slice(0, 160));
  else if (/^(Citation|Cross Reference) Not Found$/.test(title))
    out.unresolved.push([title.startsWith('Citation') ? 'citation' : 'reference', e.textContent.trim()]);
});
nb.querySelectorAll('.katex-error').forEach((e) => out.math_errors.push((e.getAttribute('title') || e.textContent).slice(0, 160)));
// MathJax (outputs): errors, and undefined macros drawn in red
nb.querySelectorAll('mjx-merror, [data-mjx-error]').forEach((e) =>
  out.math_errors.push('MathJax: ' + (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120)));
nb.querySelectorAll('mjx-container').forEach((c) => {
  c.querySelectorAll('[style*="red"], [mathcolor="red"]').forEach((t) => {
    if (t.textContent.startsWith('\\')) out.math_errors.push('MathJax: undefined macro ' + t.textContent);
  });
});
// MyST printed as text in a rendered markdown cell (not in code)
const myst = /(```|:::)\s*\{[a-z:-]+\}|\{[a-z]+(:[a-z-]+)?\}`|^\s*\([\w-]+\)=\s*$/m;
nb.querySelectorAll('.jp-MarkdownCell .myst, .jp-MarkdownCell .jp-RenderedMarkdown').forEach((e) => {
  const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT, {acceptNode(n) {
    for (let p = n.parentElement; p && p !== e; p = p.parentElement)
      if (['PRE', 'CODE'].includes(p.tagName)) return NodeFilter.FILTER_REJECT;
    return NodeFilter.FILTER_ACCEPT; }});
  for (let n = walker.nextNode(); n; n = walker.nextNode())
    if (myst.test(n.nodeValue)) out.raw_myst.push(n.nodeValue.trim().slice(0, 100));
});
return out;
"""


@dataclass
class LabReport:
    notebook: str
    cells: int = 0
    myst_cells: int = 0
    plain_cells: int = 0
    katex: int = 0
    mathjax: int = 0
    myst_blocks: int = 0
    math_errors: list[str] = field(default_factory=list)
    raw_myst: list[str] = field(default_factory=list)
    unresolved: list[tuple[str, str]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """``jupyter lab <notebook>`` on 127.0.0.1 without a token, isolated in a temporary folder.

    ``notebook`` (and any ``extra`` notebooks, served beside it) is copied into that folder first, so
    that nothing the session does (a save, a checkpoint) touches the original. ``expose_app`` makes
    the application available to scripts as ``window.jupyterapp`` (to run cells). Use as a context
    manager; ``url(name)`` is the address of one of the copied notebooks.
    """

    def __init__(self, notebook: Path | str, *, extra: tuple[Path | str, ...] = (), start_timeout: float = 120.0,
                 expose_app: bool = False):
        self.sources = [Path(notebook).resolve(), *(Path(p).resolve() for p in extra)]
        if len({p.name for p in self.sources}) != len(self.sources):
            raise ValueError("notebooks served together need distinct file names")
        self.start_timeout, self.expose_app = start_timeout, expose_app
        self.process: subprocess.Popen | None = None
        self.base = ""

    def __enter__(self) -> "JupyterLab":
        self.home = Path(tempfile.mkdtemp(prefix="memsep-lab-"))
        self.folder = self.home / "work"
        self.folder.mkdir()
        for source in self.sources:
            shutil.copy2(source, self.folder / source.name)
        self.notebook = self.folder / self.sources[0].name
        settings = self.home / "settings"
        for rel, value in LAB_SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(value), encoding="utf-8")
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(self.home / "config"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"), IPYTHONDIR=str(self.home / "ipython"))
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}/"
        # the README's command, `jupyter lab <notebook>`, plus what a headless test needs
        command = [sys.executable, "-m", "jupyterlab", str(self.notebook), "--no-browser", "--ip=127.0.0.1",
                   f"--port={port}", "--ServerApp.token=", "--ServerApp.password=", "--LabApp.news_url="]
        if self.expose_app:
            command.append("--LabApp.expose_app_in_browser=True")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # containers and CI run as root
        self.log_path = self.home / "lab.log"
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.process = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        cwd=self.folder)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base + "api/status", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer in {self.start_timeout:.0f} s:\n{self.log()}")
                time.sleep(0.5)
        return self

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def __exit__(self, *exc) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()  # the server shuts its kernels down on SIGTERM
                try:
                    self.process.wait(20)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
        finally:
            self._log.close()
            shutil.rmtree(self.home, ignore_errors=True)

    def url(self, name: str | None = None) -> str:
        """The notebook in a fresh workspace of its own (``?reset``): the only tab open."""
        self._workspaces = getattr(self, "_workspaces", 0) + 1
        return f"{self.base}lab/workspaces/check{self._workspaces}/tree/{quote(name or self.notebook.name)}?reset"


def open_notebook(browser: bb.BookBrowser, lab: JupyterLab, name: str | None = None, *,
                  timeout: float = 120.0) -> None:
    """Load a notebook's page and wait until its markdown is rendered and the math count is stable.

    Returns when every markdown cell is rendered by jupyterlab-myst and the number of typeset formulas
    has not changed for 3 s, or after ``timeout`` (the report then shows what did not render).
    """
    driver = browser.driver
    browser.console_errors()  # drop what earlier pages left
    driver.get(lab.url(name))
    last, stable, deadline = None, 0, time.monotonic() + timeout
    while stable < 6 and time.monotonic() < deadline:
        count = driver.execute_script(_RENDERED)
        stable = stable + 1 if count == last and count >= 0 else 0
        last = count
        time.sleep(0.5)


def inspect_notebook(browser: bb.BookBrowser, lab: JupyterLab, name: str | None = None, *,
                     screenshot: Path | None = None) -> LabReport:
    """Open one of ``lab``'s notebooks (default: the first) and report what it renders (see the module doc)."""
    start = time.perf_counter()
    open_notebook(browser, lab, name)
    found = browser.driver.execute_script(_INSPECT)
    report = LabReport(notebook=name or lab.notebook.name, **{k: v for k, v in found.items() if k != "unresolved"})
    report.unresolved = [tuple(u) for u in found["unresolved"]]
    report.console_errors = [m[:300] for m in browser.console_errors() if "Uncaught" in m]
    if screenshot is not None:
        browser.screenshot(screenshot)
    report.seconds = time.perf_counter() - start
    return report


_KERNEL_IDLE = r"""
const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
return k ? k.status : null;
"""


def run_all_cells(browser: bb.BookBrowser, *, timeout: float = 180.0) -> None:
    """Run every cell of the open notebook in its kernel and wait until the kernel is idle again.

    Needs a server started with ``expose_app=True``.
    """
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser.driver
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(_KERNEL_IDLE) == "idle")
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    time.sleep(1.0)
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(_KERNEL_IDLE) == "idle" and d.execute_script(
            _CURRENT + "return !Array.from(nb.querySelectorAll('.jp-InputPrompt'))"
            ".some((p) => p.textContent.includes('*'));"))


def document_dirty(browser: bb.BookBrowser, *, timeout: float = 120.0) -> bool:
    """Whether JupyterLab holds unsaved changes to the open notebook, once its kernel is up (a notebook
    whose kernelspec differs from the kernel's is modified on kernel start). Needs ``expose_app=True``."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser.driver, timeout).until(lambda d: d.execute_script(_KERNEL_IDLE) == "idle")
    time.sleep(1.0)
    return bool(browser.driver.execute_script("return window.jupyterapp.shell.currentWidget.context.model.dirty;"))


def output_text(browser: bb.BookBrowser) -> str:
    """The text of every output of the open notebook, in order."""
    return browser.driver.execute_script(
        _CURRENT + "return Array.from(nb.querySelectorAll('.jp-OutputArea-output')).map((e) => e.innerText).join('\\n');")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python tests/lab_browser.py NOTEBOOK [...]")
        return 2
    chromium = bb.find_chromium()
    if chromium is None:
        print("chromium and chromedriver not found (apt-get install chromium chromium-driver)")
        return 2
    bad = 0
    with bb.BookBrowser(*chromium, page_timeout=120) as browser:
        for path in argv:
            with JupyterLab(path) as lab:
                r = inspect_notebook(browser, lab)
            problems = r.math_errors + r.raw_myst + r.console_errors
            bad += bool(problems) or r.myst_cells == 0
            print(f"{'FAIL' if problems or not r.myst_cells else 'ok  '} {path}: {r.cells} cells, "
                  f"{r.myst_cells} rendered by jupyterlab-myst, {r.katex} KaTeX + {r.mathjax} MathJax formulas, "
                  f"{r.myst_blocks} MyST blocks, {len(r.unresolved)} unresolved references ({r.seconds:.0f} s)")
            for p in problems:
                print(f"       - {p}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
