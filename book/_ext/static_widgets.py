"""Sphinx extension: interactive widgets degrade to a short note in the static, offline HTML.

myst-nb renders an ipywidgets output as a ``<script type="application/vnd.jupyter.widget-view+json">``
placeholder and, by default, loads require.js and the widget HTML manager from CDNs to draw it. The
book sets ``nb_ipywidgets_js: {}`` (no CDN, so the HTML works offline and raises no load errors);
a widget then has no live kernel and nothing to draw. This extension puts a visible note after each
such placeholder: the widget runs when the page is opened as a notebook, and the chapter's static
figure shows the default values. Nothing changes when ``nb_ipywidgets_js`` is non-empty.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.application import Sphinx

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NOTE = ("Interactive widget: it runs when this page is opened as a notebook in Jupyter (download button "
        "at the top of the page; see the note on opening notebooks on the first page). The static figures "
        "on this page show its default values.")


def _add_notes(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    if app.builder.format != "html" or getattr(app.config, "nb_ipywidgets_js", None):
        return
    for raw in list(doctree.findall(nodes.raw)):
        if "html" in raw.get("format", "").split() and WIDGET_VIEW in raw.astext():
            note = nodes.paragraph("", "", nodes.emphasis(NOTE, NOTE), classes=["widget-static-note"])
            raw.parent.insert(raw.parent.index(raw) + 1, note)


def setup(app: Sphinx) -> dict:
    app.connect("doctree-resolved", _add_notes)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
