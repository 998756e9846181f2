"""Sphinx extension: serve MathJax 3 from the book itself, so that the HTML works offline.

Sphinx loads MathJax from a CDN by default. This extension takes MathJax from the pinned pip
package ``django-static-mathjax`` (import name ``mathjax``; it ships the MathJax 3.2.2 ``es5``
build under ``mathjax/static/mathjax/es5``):

- at ``config-inited`` it points ``mathjax_path`` at ``mathjax/tex-mml-chtml.js`` (relative to
  ``_static/``), the same component Sphinx takes from the CDN, unless ``mathjax_path`` was set to
  something else in ``_config.yml``;
- at ``build-finished`` it copies the ``es5`` tree (fonts, TeX extensions loaded on demand,
  accessibility and menu code) to ``<outdir>/_static/mathjax``;
- MathJax is loaded on every page (Sphinx loads it only where a page has equations), because page
  titles with math also appear in the navigation of the other pages.

Without the package it warns once and leaves the CDN default (the book then needs a network).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

COMPONENT = "tex-mml-chtml.js"
STATIC_SUBDIR = "mathjax"
# combined components of the es5 build that the book never loads (about 10 MB): not copied
_UNUSED = ("mml-chtml.js", "mml-svg.js", "tex-chtml-full-speech.js", "tex-chtml-full.js", "tex-chtml.js",
           "tex-mml-svg.js", "tex-svg-full.js", "tex-svg.js", "node-main.js")


def mathjax_source_dir() -> Path | None:
    """The ``es5`` folder of the installed MathJax package, or ``None`` when it is not installed."""
    try:
        import mathjax  # django-static-mathjax
    except ImportError:
        return None
    root = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"
    return root if (root / COMPONENT).is_file() else None


def copy_mathjax(dest: Path, source: Path | None = None) -> Path:
    """Copy the MathJax ``es5`` build (less unused combined components) to ``dest``; return ``dest``."""
    source = mathjax_source_dir() if source is None else Path(source)
    if source is None or not (source / COMPONENT).is_file():
        raise FileNotFoundError(f"no MathJax es5 build with {COMPONENT} found (pip install django-static-mathjax)")
    shutil.copytree(source, dest, dirs_exist_ok=True,
                    ignore=lambda folder, names: [n for n in names if Path(folder) == source and n in _UNUSED])
    return dest


def _config_inited(app: Sphinx, config) -> None:
    from sphinx.ext.mathjax import MATHJAX_URL

    if config.mathjax_path != MATHJAX_URL:
        return  # the user chose a MathJax of their own
    if mathjax_source_dir() is None:
        logger.warning("offline_mathjax: package django-static-mathjax not installed; MathJax is loaded "
                       "from the CDN (pip install -r requirements.txt)")
        return
    config.mathjax_path = f"{STATIC_SUBDIR}/{COMPONENT}"


def _build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    if app.config.mathjax_path != f"{STATIC_SUBDIR}/{COMPONENT}":
        return
    copy_mathjax(Path(app.outdir) / "_static" / STATIC_SUBDIR)


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.mathjax")
    app.set_html_assets_policy("always")
    app.connect("config-inited", _config_inited, priority=600)
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
