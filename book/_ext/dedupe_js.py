"""Sphinx extension: drop script tags that Sphinx 7 emits twice.

With Sphinx < 8.2, an inline script registered through ``app.add_js_file(None, body=...)`` after the
HTML builder exists is stored twice (once with filename ``None``, once with ``''``), so every page
declares e.g. ``const THEBE_JS_URL`` (sphinx-thebe) twice and the browser reports
``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared``. Fixed upstream in
sphinx-doc/sphinx#13402; this removes the duplicates once all extensions have registered theirs.
"""

from __future__ import annotations

from sphinx.application import Sphinx


def _key(asset) -> tuple:
    return (asset.filename or "", tuple(sorted((k, str(v)) for k, v in asset.attributes.items())))


def dedupe(assets: list) -> list:
    """``assets`` without repeats (same filename, ``None`` and ``''`` alike, and same attributes)."""
    seen, out = set(), []
    for asset in assets:
        if _key(asset) not in seen:
            seen.add(_key(asset))
            out.append(asset)
    return out


def _page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    # The builder re-adds the registry's scripts (None -> '') just before writing; by the time a page
    # is rendered its list is final, and it is restored from ``_orig_js_files`` after each page.
    for files in (context.get("script_files"), getattr(app.builder, "_orig_js_files", None)):
        if isinstance(files, list):
            files[:] = dedupe(files)


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _page_context, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
