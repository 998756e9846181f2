"""The book's own Sphinx extensions (book/_ext): map links, offline MathJax, script de-duplication."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

EXT = Path(__file__).resolve().parent.parent / "book" / "_ext"
sys.path.insert(0, str(EXT))
import bookmap  # noqa: E402
import dedupe_js  # noqa: E402
import offline_mathjax  # noqa: E402

sys.path.remove(str(EXT))
SVG = "{http://www.w3.org/2000/svg}"
MAP = EXT.parent / "figures" / "map.svg"

TOY = """<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" viewBox="0 0 100 50">
  <!-- comment -->
  <g data-ref="label:missing | title:Theorem 4.3"><rect width="10" height="10"/></g>
  <g data-ref="label:nowhere"><text>no chapter yet</text></g>
</svg>"""


def test_parse_refs():
    assert bookmap.parse_refs(" label:a |title:Theorem 5.1 | ") == [("label", "a"), ("title", "Theorem 5.1")]
    for bad in ("a", "url:x", "label:"):
        with pytest.raises(ValueError, match="data-ref"):
            bookmap.parse_refs(bad)


def test_link_svg_links_first_resolvable_candidate_and_leaves_the_rest():
    calls = []

    def resolve(kind, text):
        calls.append((kind, text))
        return ("ch03.html", "Open: chapter 3") if text == "Theorem 4.3" else None

    root = ET.fromstring(bookmap.link_svg(TOY, resolve))
    links = root.findall(f".//{SVG}a")
    assert len(links) == 1 and links[0].get("href") == "ch03.html"
    assert links[0].find(f"{SVG}title").text == "Open: chapter 3"
    assert links[0].find(f"{SVG}g/{SVG}rect") is not None
    assert calls == [("label", "missing"), ("title", "Theorem 4.3"), ("label", "nowhere")]
    unlinked = [g for g in root.iter(f"{SVG}g") if "bookmap-nolink" in g.get("class", "")]
    assert len(unlinked) == 1
    assert root.get("width") == "100%" and root.get("height") is None and root.get("viewBox") == "0 0 100 50"
    assert not any("data-ref" in e.attrib for e in root.iter())


def test_link_svg_rejects_non_svg():
    with pytest.raises(ValueError, match="not an SVG"):
        bookmap.link_svg("<html/>", lambda k, t: None)


def test_book_map_has_a_link_candidate_for_every_box():
    refs = [g.get("data-ref") for g in ET.parse(MAP).getroot().iter() if g.get("data-ref")]
    assert len(refs) >= 5
    for value in refs:
        assert bookmap.parse_refs(value)
    everything = bookmap.link_svg(MAP.read_text(), lambda kind, text: ("x.html", text))
    assert everything.count("<a ") == len(refs)
    nothing = bookmap.link_svg(MAP.read_text(), lambda kind, text: None)
    assert "<a " not in nothing and nothing.count("bookmap-nolink") == len(refs)


def test_offline_mathjax_copies_the_component(tmp_path):
    source = offline_mathjax.mathjax_source_dir()
    if source is None:
        pytest.skip("django-static-mathjax not installed")
    dest = offline_mathjax.copy_mathjax(tmp_path / "mathjax")
    assert (dest / offline_mathjax.COMPONENT).stat().st_size > 100_000
    assert any((dest / "output" / "chtml" / "fonts").rglob("*.woff"))
    assert not (dest / "tex-svg.js").exists()
    with pytest.raises(FileNotFoundError, match="django-static-mathjax"):
        offline_mathjax.copy_mathjax(tmp_path / "x", source=tmp_path / "empty")


def test_dedupe_js_treats_none_and_empty_filename_alike():
    a = SimpleNamespace(filename=None, attributes={"body": "const X = 1"})
    b = SimpleNamespace(filename="", attributes={"body": "const X = 1"})
    c = SimpleNamespace(filename="_static/x.js", attributes={})
    d = SimpleNamespace(filename="", attributes={"body": "const Y = 1"})
    assert dedupe_js.dedupe([a, c, b, d, c]) == [a, c, d]
