"""Where the book's numbers come from: the experiment runners and the results files that exist.

The book's "Reproducing at scale" page is generated from these tables, never written by hand:

- :func:`runner_rows` one row per registered experiment (``memsep_lib.experiments.REGISTRY``): the
  command, the expected cost per profile (``EXPECTED_COST``) and the profiles with a results file;
- :func:`results_rows` one row per ``book/results/<experiment>-<profile>.json``
  (:func:`memsep_lib.results.list_results`): profile, device, date, wall time, library version;
- :func:`html_table` renders rows as an HTML table (escaped), for ``IPython.display.HTML``.
"""

from __future__ import annotations

import html
from pathlib import Path

from .config import PROFILES
from .experiments import experiment_names, get_experiment
from .results import list_results

__all__ = ["format_minutes", "runner_rows", "results_rows", "html_table"]


def format_minutes(minutes: float) -> str:
    """A duration in minutes as ``'40 s'``, ``'5 min'``, ``'2.0 h'`` or ``'4.1 days'``."""
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes >= 0:
        raise ValueError(f"minutes must be a non-negative number, got {minutes!r}")
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def runner_rows(results_dir: Path | str | None = None) -> list[dict]:
    """One row per registered experiment: name, command, expected cost per profile, results present."""
    present: dict[str, list[str]] = {}
    for row in list_results(results_dir):
        present.setdefault(row["experiment"], []).append(row["profile"])
    rows = []
    for name in experiment_names():
        cost = getattr(get_experiment(name), "COST", {})
        row = {"experiment": name, "command": f"python -m memsep_lib.experiments {name} --profile <profile>"}
        for profile in PROFILES:
            c = cost.get(profile)
            row[profile] = (f"{format_minutes(c['minutes'])} on {c['hardware']} ({c['basis']})"
                            if c else "not recorded")
        row["results"] = ", ".join(present.get(name, [])) or "none yet"
        rows.append(row)
    return rows


def results_rows(results_dir: Path | str | None = None) -> list[dict]:
    """One row per results file, with its provenance; ``registered`` says whether a runner makes it."""
    names = set(experiment_names())
    return [{"file": r["file"], "experiment": r["experiment"], "profile": r["profile"], "device": r["device"],
             "date": str(r["date"]).replace("T", " ")[:19], "wall time": format_minutes(r["wall_time_s"] / 60),
             "library": r["library_version"], "registered": r["experiment"] in names}
            for r in list_results(results_dir)]


def html_table(rows: list[dict], columns: list[str] | None = None, *, code: tuple[str, ...] = ()) -> str:
    """``rows`` as an HTML table with a header; values escaped; columns in ``code`` set in ``<code>``."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise TypeError("rows must be a list of dicts")
    columns = list(columns or (rows[0].keys() if rows else []))
    if not columns:
        raise ValueError("columns must be given when rows is empty")

    def cell(col, value):
        text = html.escape(str(value))
        return f"<td><code>{text}</code></td>" if col in code else f"<td>{text}</td>"

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(c, r.get(c, "")) for c in columns) + "</tr>" for r in rows)
    if not rows:
        body = f'<tr><td colspan="{len(columns)}">(none)</td></tr>'
    return f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
