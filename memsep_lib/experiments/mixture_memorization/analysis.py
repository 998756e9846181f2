"""Chapter 6's numbers from the members' rows: summaries over seeds, the degraded-sample guard, and trends
with 95% intervals (paired by seed or Welch's).

**Guard.** A model's samples are *degraded* when their mean log-likelihood under the true ``P`` is more than
:data:`LL_TOLERANCE` nats per dimension away from that of fresh draws of ``P`` (``|log p(samples) -
log p(fresh)| > LL_TOLERANCE * d``, seed means): an underfitting or wrecked network memorises nothing, so a
trend towards less memorisation means something only among models that are not degraded.

**Trends.** Memorisation *rises* (or *falls*) along a grid when the ends differ by more than :data:`CLEAR`
in that direction, no step goes against it by more than :data:`SLACK` (seed means), and, with two or more
seeds, the 95% Student-t interval of the end-to-end difference lies on that side of zero: paired by seed
where the grid keeps each seed's training set (width, weight decay), Welch's where it does not (``n``, ``d``). With one seed (the ``ci`` profile)
only the margins apply. Every trend is tested twice: over the whole grid, and over its cells whose samples
are not degraded (fewer than two such cells: not shown).
"""

from __future__ import annotations

from memsep_lib.stats import format_difference, mean_std, paired_difference, welch_difference

__all__ = ["METRICS", "LL_TOLERANCE", "CLEAR", "SLACK", "summarize", "degraded", "difference", "trend",
           "supported", "summary_table", "trend_table"]

METRICS = ("memorization", "log_likelihood", "log_likelihood_se", "spread", "memorization_true_samples",
           "log_likelihood_true_samples", "log_likelihood_se_true_samples", "spread_true_samples")
# fixed before the runs: the guard's tolerance (nats per dimension) and the trend margins (fractions)
LL_TOLERANCE = 0.1
CLEAR, SLACK = 0.10, 0.05


def summarize(rows: list[dict], factor: str, *, by: tuple = ()) -> list[dict]:
    """Mean and standard deviation over seeds of each metric, per value of ``factor`` (and of ``by``);
    each entry also keeps ``K``, ``d`` and whether its samples are :func:`degraded`."""
    table = {}
    for r in rows:
        table.setdefault(tuple(r[k] for k in (*by, factor)), []).append(r)
    out = []
    for values, group in sorted(table.items()):
        entry = dict(zip((*by, factor), values), K=group[0]["K"], d=group[0]["d"], seeds=len(group),
                     num_parameters=group[0]["num_parameters"], **{k: mean_std([r[k] for r in group]) for k in METRICS})
        out.append({**entry, "degraded": degraded(entry)})
    return out


def degraded(entry: dict) -> bool:
    """``|mean log p(samples) - mean log p(fresh draws)| > LL_TOLERANCE * d`` for a :func:`summarize` entry."""
    gap = entry["log_likelihood"]["mean"] - entry["log_likelihood_true_samples"]["mean"]
    return abs(gap) > LL_TOLERANCE * entry["d"]


def _matches(item: dict, fixed: dict) -> bool:
    return all(item[k] == v for k, v in fixed.items())


def _per_seed(rows: list[dict], key: str, fixed: dict) -> dict:
    """``{seed: row[key]}`` over the rows matching ``fixed``, which must pin one row per seed."""
    out = {}
    for r in rows:
        if _matches(r, fixed):
            if r["seed"] in out:
                raise ValueError(f"{fixed} matches more than one member of seed {r['seed']}: pin every grid factor")
            out[r["seed"]] = r[key]
    return out


def difference(rows: list[dict], key: str, a: dict, b: dict, *, paired: bool = True, level: float = 0.95) -> dict:
    """Mean of ``key`` over the members matching ``a`` minus over those matching ``b``, with a ``level``
    interval: paired by seed (:func:`~memsep_lib.stats.paired_difference`, seeds present in both) or, for
    members with different training sets, Welch's (:func:`~memsep_lib.stats.welch_difference`)."""
    va, vb = _per_seed(rows, key, a), _per_seed(rows, key, b)
    if not va or not vb:
        raise ValueError(f"no members match {a if not va else b}")
    if not paired:
        return welch_difference(list(va.values()), list(vb.values()), level=level)
    seeds = sorted(set(va) & set(vb))
    if not seeds:
        raise ValueError(f"no seed has members matching both {a} and {b}")
    return paired_difference([va[s] for s in seeds], [vb[s] for s in seeds], level=level)


def _trend_holds(cells: list[dict], rows: list[dict], factor: str, fixed: dict, sign: int,
                 paired: bool) -> tuple[bool, dict | None]:
    """(does memorisation move in direction ``sign`` along ``cells``, the end-to-end :func:`difference`)."""
    if len(cells) < 2:
        return False, None
    means = [sign * e["memorization"]["mean"] for e in cells]
    margins = means[-1] > means[0] + CLEAR and all(b > a - SLACK for a, b in zip(means, means[1:]))
    diff = difference(rows, "memorization", {**fixed, factor: cells[-1][factor]}, {**fixed, factor: cells[0][factor]},
                      paired=paired)
    return bool(margins and (diff["n"] < 2 or supported(diff, sign))), diff


def trend(results: dict, *, sign: int, fixed: dict | None = None, keep=None, paired: bool = True) -> dict:
    """Memorisation along ``results["factor"]`` (``sign`` +1: rises, -1: falls) among the summary entries
    matching ``fixed`` (and ``keep(entry)``), over all of them and over those not degraded:
    ``{"holds", "diff", "holds_not_degraded", "diff_not_degraded", "cells", "degraded_cells"}``.
    ``paired``: the grid keeps each seed's training set (width, weight decay), else Welch (``n``, ``d``)."""
    factor, fixed = results["factor"], dict(fixed or {})
    cells = sorted((e for e in results["summary"] if _matches(e, fixed) and (keep is None or keep(e))),
                   key=lambda e: e[factor])
    clean = [e for e in cells if not e["degraded"]]
    holds, diff = _trend_holds(cells, results["rows"], factor, fixed, sign, paired)
    holds_clean, diff_clean = _trend_holds(clean, results["rows"], factor, fixed, sign, paired)
    return {"holds": holds, "diff": diff, "holds_not_degraded": holds_clean, "diff_not_degraded": diff_clean,
            "cells": [e[factor] for e in cells], "degraded_cells": [e[factor] for e in cells if e["degraded"]]}


def supported(diff: dict, sign: int) -> bool:
    """The paired difference's interval lies on the ``sign`` side of zero (never with fewer than two seeds)."""
    lo, hi = diff["ci95"]
    return diff["n"] >= 2 and (lo > 0 if sign > 0 else hi < 0)


def summary_table(summary: list[dict], factor: str, *, by: tuple = ()) -> str:
    """Markdown table of :func:`summarize` output, mean ± std over seeds: memorisation (%), the floor,
    log-likelihood of the samples and of fresh draws (± its Monte-Carlo standard error), the spread around
    the means (1 for ``P``), and whether the samples are degraded (:func:`degraded`)."""
    pm = lambda e, k, scale=1.0, digits=1: f"{scale * e[k]['mean']:.{digits}f} ± {scale * e[k]['std']:.{digits}f}"
    cols = [*by, factor]
    lines = ["| " + " | ".join(cols) + " | parameters | seeds | memorised % | floor % (fresh samples of P) "
             "| log p(samples) | log p(fresh samples) ± MC s.e. | spread (samples) | spread (fresh) | degraded |",
             "|" + "---|" * (len(cols) + 9)]
    for e in summary:
        lines.append("| " + " | ".join(f"{e[c]:g}" if not isinstance(e[c], str) else e[c] for c in cols)
                     + f" | {e['num_parameters']:,} | {e['seeds']} | {pm(e, 'memorization', 100)} "
                     f"| {100 * e['memorization_true_samples']['mean']:.1f} | {pm(e, 'log_likelihood', 1, 2)} "
                     f"| {e['log_likelihood_true_samples']['mean']:.2f} ± {e['log_likelihood_se_true_samples']['mean']:.2f} "
                     f"| {pm(e, 'spread', 1, 2)} | {e['spread_true_samples']['mean']:.2f} "
                     f"| {'yes' if e['degraded'] else 'no'} |")
    return "\n".join(lines)


def trend_table(trends: dict[str, dict]) -> str:
    """Markdown table of named :func:`trend` outputs: the end-to-end memorisation difference (points, 95%
    interval) over the whole grid and over the cells whose samples are not degraded."""
    fmt = lambda diff: "–" if diff is None else format_difference(diff, 100)
    lines = ["| trend | grid | holds | difference of the ends (points) | degraded cells "
             "| holds without them | their difference of the ends |", "|---|---|---|---|---|---|---|"]
    for name, t in trends.items():
        lines.append(f"| {name} | {', '.join(f'{c:g}' for c in t['cells'])} | {t['holds']} | {fmt(t['diff'])} "
                     f"| {', '.join(f'{c:g}' for c in t['degraded_cells']) or 'none'} | {t['holds_not_degraded']} "
                     f"| {fmt(t['diff_not_degraded'])} |")
    return "\n".join(lines)
