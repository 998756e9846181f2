"""Sphinx extension: the map of the book, an SVG drawn inline with its boxes linked to chapters.

MyST usage (the caption is the directive's content; ``:name:`` makes it ``{numref}``-able)::

    :::{bookmap} figures/map.svg
    :name: fig-map
    :alt: Diagram of ...
    Map of the paper and of this book.
    :::

Every element of the SVG (usually a ``<g>``) with an attribute ``data-ref="cand | cand | ..."``
becomes a link to the first candidate that exists in this build:

- ``label:NAME`` a MyST/Sphinx target ``(NAME)=`` or a ``{prf:...}`` label;
- ``title:TEXT`` the first page, in table-of-contents order, whose title contains TEXT
  (case-insensitive).

Only pages of this build can match (the book builds the TOC's pages only), so a box whose chapter
does not exist yet is drawn without a link instead of pointing at a missing page. The SVG file stays
a plain picture (the README shows it as an image). Builders other than HTML skip the map.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Optional

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

SVG_NS = "http://www.w3.org/2000/svg"
Target = tuple[str, str]  # (href, tooltip)

# No underline on the map's text: the theme underlines every link, and in SVG the line runs at the
# baseline through subscripts (the t of s_t). A linked box shows itself by its outline instead.
_STYLE = """
a.bookmap-link, a.bookmap-link:hover, a.bookmap-link:focus, a.bookmap-link text { cursor: pointer; text-decoration: none; }
a.bookmap-link:hover rect, a.bookmap-link:focus rect { stroke-width: 4; filter: brightness(0.96); }
a.bookmap-link:hover text, a.bookmap-link:focus text { fill: #000000; }
"""


def parse_refs(value: str) -> list[tuple[str, str]]:
    """``"label:a | title:Theorem 5.1"`` -> ``[("label", "a"), ("title", "Theorem 5.1")]``."""
    out = []
    for part in value.split("|"):
        part = part.strip()
        if not part:
            continue
        kind, sep, text = part.partition(":")
        if not sep or kind not in ("label", "title") or not text.strip():
            raise ValueError(f"bad data-ref candidate {part!r}: use 'label:NAME' or 'title:TEXT'")
        out.append((kind, text.strip()))
    return out


def link_svg(svg_text: str, resolve: Callable[[str, str], Optional[Target]]) -> str:
    """Return ``svg_text`` with every ``data-ref`` element wrapped in ``<a href>`` (see module doc).

    ``resolve(kind, text)`` gives ``(href, tooltip)`` or ``None``. Elements with no resolvable
    candidate get the class ``bookmap-nolink`` and no link. The XML declaration and comments are
    dropped, fixed width/height give way to ``width="100%"`` (the viewBox keeps the aspect ratio).
    """
    ET.register_namespace("", SVG_NS)
    root = ET.fromstring(svg_text)
    if root.tag != f"{{{SVG_NS}}}svg":
        raise ValueError(f"not an SVG document (root element {root.tag!r})")
    parents = {child: parent for parent in root.iter() for child in parent}
    for element in list(root.iter()):
        refs = element.attrib.pop("data-ref", None)
        if refs is None:
            continue
        target = None
        for kind, text in parse_refs(refs):
            target = resolve(kind, text)
            if target is not None:
                break
        if target is None:
            element.set("class", (element.get("class", "") + " bookmap-nolink").strip())
            continue
        href, tooltip = target
        parent = parents[element]
        link = ET.Element(f"{{{SVG_NS}}}a", {"href": href, "class": "bookmap-link"})
        ET.SubElement(link, f"{{{SVG_NS}}}title").text = tooltip
        parent.insert(list(parent).index(element), link)
        parent.remove(element)
        link.append(element)
        parents[element] = link
    style = ET.Element(f"{{{SVG_NS}}}style")
    style.text = _STYLE
    root.insert(0, style)
    for attr in ("width", "height"):
        root.attrib.pop(attr, None)
    root.set("width", "100%")
    root.set("role", "img")
    return ET.tostring(root, encoding="unicode")


class bookmap_node(nodes.General, nodes.Element):
    """Placeholder for the inline SVG; attributes ``svgpath`` (absolute) and ``alt``."""


class BookMapDirective(SphinxDirective):
    required_arguments = 1
    has_content = True
    option_spec = {"name": directives.unchanged, "alt": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        rel, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        if not Path(path).is_file():
            raise self.error(f"bookmap: SVG file not found: {self.arguments[0]}")
        self.env.note_dependency(rel)
        figure = nodes.figure(classes=["bookmap"])
        figure += bookmap_node(svgpath=str(path), alt=self.options.get("alt", ""))
        if self.content:
            text = " ".join(line.strip() for line in self.content)
            inline, messages = self.state.inline_text(text, self.lineno)
            figure += nodes.caption(text, "", *inline)
            figure += messages
        self.add_name(figure)
        self.set_source_info(figure)
        return [figure]


def _toc_order(env) -> list[str]:
    """Docnames in table-of-contents order, from the root document down."""
    order, seen = [], set()

    def walk(doc: str) -> None:
        if doc in seen:
            return
        seen.add(doc)
        order.append(doc)
        for child in env.toctree_includes.get(doc, []):
            walk(child)

    walk(env.config.root_doc)
    return order


def _resolver(builder, fromdoc: str) -> Callable[[str, str], Optional[Target]]:
    env = builder.env
    std = env.get_domain("std")
    proofs = getattr(env, "proof_list", {}) or {}

    def page_title(doc: str) -> str:
        title = env.titles.get(doc)
        return title.astext() if title is not None else doc

    def href(doc: str, anchor: str = "") -> Target:
        uri = builder.get_relative_uri(fromdoc, doc)
        return (uri + (f"#{anchor}" if anchor else ""), f"Open: {page_title(doc)}")

    def resolve(kind: str, text: str) -> Optional[Target]:
        if kind == "label":
            if text in std.labels:
                doc, anchor, _ = std.labels[text]
                return href(doc, anchor)
            if text in proofs:
                return href(proofs[text]["docname"], text)
            return None
        needle = text.lower()
        for doc in _toc_order(env):
            if doc != fromdoc and needle in page_title(doc).lower():
                return href(doc)
        return None

    return resolve


def visit_bookmap_html(self, node: bookmap_node) -> None:
    svg = Path(node["svgpath"]).read_text(encoding="utf-8")
    inline = link_svg(svg, _resolver(self.builder, self.builder.current_docname))
    if node["alt"]:
        inline = inline.replace(' role="img"', f' role="img" aria-label="{self.attval(node["alt"])}"', 1)
    self.body.append(f'<div class="bookmap-svg">{inline}</div>\n')
    raise nodes.SkipNode


def skip_node(self, node: nodes.Node) -> None:
    raise nodes.SkipNode


def setup(app: Sphinx) -> dict:
    app.add_node(bookmap_node, html=(visit_bookmap_html, None), latex=(skip_node, None),
                 text=(skip_node, None), man=(skip_node, None), texinfo=(skip_node, None))
    app.add_directive("bookmap", BookMapDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
