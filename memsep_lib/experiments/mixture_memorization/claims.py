"""The paper's claims for each ablation (:func:`trends`, :func:`verdict_of`) and the numbers chapter 6 glues
(``*_facts``), from an ablation's results ``{"rows", "summary", "factor"}``.

Every memorisation claim comes twice (:func:`~.analysis.trend`): over the whole grid, and ``", samples not
degraded"``, over the cells whose samples are within :data:`~.analysis.LL_TOLERANCE` nats per dimension of
fresh draws of ``P`` in log-likelihood.
"""

from __future__ import annotations

from memsep_lib.stats import format_difference

from .analysis import CLEAR, difference, supported, trend

__all__ = ["FIXED", "MATCHED", "trends", "verdict_of", "scale_facts", "sample_size_facts", "dimension_facts",
           "weight_decay_facts", "phase_facts"]

FIXED, MATCHED = "fixed steps", "matched epochs"
GUARDED = ", samples not degraded"


def _wd_cells(summary: list[dict]) -> tuple:
    """(smaller n, larger n, widest width, decays in order) of a weight-decay summary."""
    return (min(e["n"] for e in summary), max(e["n"] for e in summary), max(e["width"] for e in summary),
            sorted({e["weight_decay"] for e in summary}))


def _schedule_trend(results: dict, schedule: str) -> dict:
    return trend(results, sign=-1, fixed={"schedule": schedule}, paired=False)


def _decay_trend(results: dict, n: int, width: int) -> dict:
    return trend(results, sign=-1, fixed={"n": n, "width": width})


def trends(ablation: str, results: dict) -> dict[str, dict]:
    """The memorisation trends the paper claims for ``ablation``, by claim text (:func:`~.analysis.trend`)."""
    summary = results["summary"]
    if ablation in ("scale", "phase_2d"):
        return {"memorisation rises with network size": trend(results, sign=+1)}
    if ablation == "sample_size":
        return {f"memorisation falls with n ({s})": _schedule_trend(results, s)
                for s in sorted({e["schedule"] for e in summary})}
    if ablation == "dimension":
        return {"memorisation falls with d (d >= 8)": trend(results, sign=-1, keep=lambda e: e["d"] >= 8, paired=False)}
    if ablation == "weight_decay":
        n_small = min(e["n"] for e in summary)
        return {f"n = {n_small}, width {w}: memorisation falls with the weight decay": _decay_trend(results, n_small, w)
                for w in sorted({e["width"] for e in summary})}
    raise ValueError(f"unknown ablation {ablation!r}")


def _likelihood_claims(results: dict) -> dict[str, bool]:
    """Weight decay, widest network: at the smaller ``n`` some decay raises the samples' log-likelihood (paired
    intervals at level ``1 - 0.05 / (number of decays)``, Bonferroni over the decays tried); at the larger ``n``
    the strongest decay lowers it (paired 95%). With one seed neither can be supported."""
    rows = results["rows"]
    n_small, n_large, widest, decays = _wd_cells(results["summary"])
    cell = lambda n, wd: {"n": n, "width": widest, "weight_decay": wd}
    level = 1 - 0.05 / (len(decays) - 1)
    gains = [difference(rows, "log_likelihood", cell(n_small, wd), cell(n_small, decays[0]), level=level)
             for wd in decays[1:]]
    loss = difference(rows, "log_likelihood", cell(n_large, decays[-1]), cell(n_large, decays[0]))
    return {f"n = {n_small}: some decay raises the log-likelihood (Bonferroni over {len(gains)} "
            f"decay{'s' if len(gains) > 1 else ''})":
            any(supported(g, +1) for g in gains),
            f"n = {n_large}: strongest decay lowers the log-likelihood": supported(loss, -1)}


def verdict_of(ablation: str, results: dict) -> dict[str, bool]:
    """Each claim of ``ablation`` -> whether ``results`` support it (memorisation trends twice: whole grid
    and not-degraded cells; the weight-decay likelihood claims; ``d = 2`` against the criterion's floor).

    The 2-D picture gets no guarded claim: with ``d = 2`` the tolerance (0.2 nats) is about the standard
    error of its 32 training points' own mean log-likelihood, so even exact copies could be flagged."""
    out = {}
    for claim, t in trends(ablation, results).items():
        out[claim] = t["holds"]
        if ablation != "phase_2d":     # d = 2, n = 32: the training set's own mean log p is off by ~ the tolerance
            out[claim + GUARDED] = t["holds_not_degraded"]
    if ablation == "weight_decay":
        out.update(_likelihood_claims(results))
    low = [e for e in results["summary"] if ablation == "dimension" and e["d"] == 2]
    if low:
        out["d = 2 memorisation within 10 points of the floor"] = bool(
            abs(low[0]["memorization"]["mean"] - low[0]["memorization_true_samples"]["mean"]) < CLEAR)
    return out


def _cell_facts(prefix: str, e: dict, factor: str) -> dict:
    return {f"{prefix}_mem": 100 * e["memorization"]["mean"], f"{prefix}_mem_std": 100 * e["memorization"]["std"],
            f"{prefix}_value": e[factor], f"{prefix}_params": e["num_parameters"],
            f"{prefix}_ll": e["log_likelihood"]["mean"], f"{prefix}_ll_true": e["log_likelihood_true_samples"]["mean"],
            f"{prefix}_ll_true_se": e["log_likelihood_se_true_samples"]["mean"],
            f"{prefix}_spread": e["spread"]["mean"], f"{prefix}_floor": 100 * e["memorization_true_samples"]["mean"]}


def _trend_facts(prefix: str, t: dict) -> dict:
    cells = lambda values: ", ".join(f"{v:g}" for v in values) or "none"
    return {f"{prefix}_diff": format_difference(t["diff"], 100) if t["diff"] else "–",
            f"{prefix}_diff_clean": format_difference(t["diff_not_degraded"], 100) if t["diff_not_degraded"] else "–",
            f"{prefix}_degraded": cells(t["degraded_cells"]),
            f"{prefix}_clean": cells([c for c in t["cells"] if c not in t["degraded_cells"]])}


def _ends_facts(prefix: str, results: dict, entries: list[dict]) -> dict:
    """First, last and most-memorising of ``entries`` (one line of the grid), by :func:`_cell_facts`."""
    peak = max(entries, key=lambda e: e["memorization"]["mean"])
    out = {}
    for end, e in (("first", entries[0]), ("last", entries[-1]), ("peak", peak)):
        out.update(_cell_facts(f"{prefix}_{end}", e, results["factor"]))
    return out


def scale_facts(results: dict) -> dict:
    """``n``, the grid's ends, the trend and the smallest width memorising at least a quarter of its samples."""
    summary = results["summary"]
    substantial = next((e for e in summary if e["memorization"]["mean"] >= 0.25), summary[-1])
    return {"ch06_scale_n": results["rows"][0]["n"], "ch06_scale_K": results["rows"][0]["K"],
            **_ends_facts("ch06_scale", results, summary),
            **_trend_facts("ch06_scale", trends("scale", results)["memorisation rises with network size"]),
            "ch06_scale_substantial_width": substantial["width"], "ch06_scale_substantial_params": substantial["num_parameters"]}


def sample_size_facts(results: dict) -> dict:
    """Per schedule: the grid's ends, their training steps and the trend."""
    out = {"ch06_sample_size_K": results["rows"][0]["K"]}
    for schedule in sorted({e["schedule"] for e in results["summary"]}):
        t = _schedule_trend(results, schedule)
        tag = "ch06_sample_size" + ("" if schedule == FIXED else "_matched")
        entries = [e for e in results["summary"] if e["schedule"] == schedule]
        steps = {r["n"]: r["steps"] for r in results["rows"] if r["schedule"] == schedule}
        out.update({**_ends_facts(tag, results, entries), **_trend_facts(tag, t),
                    f"{tag}_first_steps": steps[entries[0]["n"]], f"{tag}_last_steps": steps[entries[-1]["n"]]})
    return out


def dimension_facts(results: dict) -> dict:
    """``n``, the grid's ends, the trend over ``d >= 8``, and the spread of the samples at every ``d``."""
    summary = results["summary"]
    out = {"ch06_dimension_n": results["rows"][0]["n"], "ch06_dimension_K": results["rows"][0]["K"],
           **_ends_facts("ch06_dimension", results, summary),
           **_trend_facts("ch06_dimension", trends("dimension", results)["memorisation falls with d (d >= 8)"])}
    out.update({f"ch06_dimension_spread_d{e['d']}": e["spread"]["mean"] for e in summary})
    return out


def weight_decay_facts(results: dict) -> dict:
    """The grid's ends and, for the widest net: memorisation and log-likelihood without, at the
    second-strongest and at the strongest decay, and the paired differences against no decay."""
    summary, rows = results["summary"], results["rows"]
    n_small, n_large, widest, decays = _wd_cells(summary)
    cell = {(e["n"], e["width"], e["weight_decay"]): e for e in summary}
    roles = {"none": decays[0], "mid": decays[-2], "strong": decays[-1]}
    out = {"ch06_wd_n_small": n_small, "ch06_wd_n_large": n_large, "ch06_wd_widest": widest,
           "ch06_wd_narrowest": min(e["width"] for e in summary), "ch06_wd_decay_mid": roles["mid"],
           "ch06_wd_decay_strong": roles["strong"],
           "ch06_wd_ll_true": cell[n_small, widest, decays[0]]["log_likelihood_true_samples"]["mean"],
           "ch06_wd_ll_true_se": cell[n_small, widest, decays[0]]["log_likelihood_se_true_samples"]["mean"]}
    at = lambda n, wd: {"n": n, "width": widest, "weight_decay": wd}
    for role, decay in roles.items():
        small, large = cell[n_small, widest, decay], cell[n_large, widest, decay]
        out.update({f"ch06_wd_mem_{role}": 100 * small["memorization"]["mean"],
                    f"ch06_wd_ll_{role}": small["log_likelihood"]["mean"],
                    f"ch06_wd_degraded_{role}": "degraded" if small["degraded"] else "not degraded",
                    f"ch06_wd_large_ll_{role}": large["log_likelihood"]["mean"]})
        if role != "none":
            out[f"ch06_wd_ll_gain_{role}"] = format_difference(
                difference(rows, "log_likelihood", at(n_small, decay), at(n_small, decays[0])), 1, 2)
            out[f"ch06_wd_large_ll_change_{role}"] = format_difference(
                difference(rows, "log_likelihood", at(n_large, decay), at(n_large, decays[0])), 1, 2)
    for w in sorted({e["width"] for e in summary}):
        out.update(_trend_facts(f"ch06_wd_w{w}", _decay_trend(results, n_small, w)))
    return out


def phase_facts(results: dict) -> dict:
    """Width, memorisation and floor (%) of the narrowest, second, second-widest and widest network."""
    summary = results["summary"]
    out = {}
    for role, e in (("first", summary[0]), ("second", summary[1]), ("third", summary[-2]), ("last", summary[-1])):
        out.update({f"ch06_phase_{role}_width": e["width"], f"ch06_phase_{role}_mem": 100 * e["memorization"]["mean"],
                    f"ch06_phase_{role}_floor": 100 * e["memorization_true_samples"]["mean"]})
    return out
