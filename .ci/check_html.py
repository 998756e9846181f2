"""Check that every page listed in _toc.yml was rendered to a non-empty HTML file.

Usage (from anywhere): python .ci/check_html.py [build_html_dir]
The default build directory is _build/html under the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_files(node) -> list[str]:
    """All `file:` (and `root:`) entries of a jb-book TOC, recursively through parts/chapters/sections."""
    found: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                found.append(node[key])
        for value in node.values():
            if isinstance(value, (dict, list)):
                found.extend(toc_files(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(toc_files(item))
    return found


def main() -> int:
    html_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "html"
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = toc_files(toc)
    if not files:
        print("check_html: no pages found in _toc.yml")
        return 1
    missing = []
    for name in files:
        stem = name.rsplit(".", 1)[0] if name.endswith((".md", ".ipynb")) else name
        page = html_dir / f"{stem}.html"
        if not page.is_file() or page.stat().st_size == 0:
            missing.append(str(page.relative_to(ROOT) if page.is_relative_to(ROOT) else page))
    if missing:
        print(f"check_html: {len(missing)} of {len(files)} TOC pages missing or empty:")
        for page in missing:
            print(f"  - {page}")
        return 1
    print(f"check_html: all {len(files)} pages of _toc.yml found in {html_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
