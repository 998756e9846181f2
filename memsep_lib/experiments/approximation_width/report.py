"""Chapter 4's table and the numbers its prose quotes (``facts``), from the results and :func:`.experiment.summarize`."""

from __future__ import annotations

import math

__all__ = ["summary_table", "facts"]


def _ci(fit, digits: int = 2) -> str:
    if fit is None:
        return "-"
    lo, hi = (f"{v:.{digits}f}" if math.isfinite(v) else ("-∞" if v < 0 else "∞") for v in fit["ci95"])
    return f"{fit['exponent']:.{digits}f} [{lo}, {hi}]"


def summary_table(results: dict, summary: dict) -> str:
    """Markdown table: ``W*`` per ``n`` (each repetition); the slope of ``log W*`` with the censoring modelled
    (95% profile-likelihood interval), on the uncensored points only (± standard error), and of ``log N*``."""
    def fmt(fit):
        return "-" if fit is None else f"{fit['exponent']:.2f} ± {fit['stderr']:.2f}"

    design, rows = results["design"], []
    for kind in ("empirical", "true"):
        for t in sorted(design["t_values"]):
            e = summary["fits"][kind][str(t)]
            ws = ", ".join("> max" if not math.isfinite(w) else f"{w:.0f}" for w in e["W_star"])
            n_ok = len({n for n, w in zip(e["n"], e["W_star"]) if math.isfinite(w)})
            rows.append(f"| {kind} | {t:g} | {ws} | {_ci(e.get('fit_censored'))} | {fmt(e['fit'])} | "
                        f"{fmt(e['fit_N'])} | {e['censored']} | {n_ok} |")
    head = (f"| score | $t$ | $W^*$ for n = {list(design['n_values'])} (each repetition) | slope of $\\log W^*$, "
            "censoring modelled [95%] | slope, uncensored only | slope of $\\log N^*$ | censored | distinct "
            "uncensored $n$ |\n|---|---|---|---|---|---|---|---|\n")
    return head + "\n".join(rows)


def facts(results: dict) -> dict:
    """The numbers the chapter's prose quotes, rounded as it prints them (``ch04_*``)."""
    from .experiment import summarize

    out = {}
    if "one_layer" in results:
        prune = results["one_layer"]["pruning"]
        out["ch04_exact_err"] = float(f"{max(results['one_layer']['exact']['errors']):.1e}")
        out["ch04_drop_one_min"] = round(min(errs[-2] for errs in prune["errors"]), 2)              # m = n - 1
        out["ch04_drop_half_small_t"] = round(prune["errors"][0][prune["num_units"].index(prune["n"] // 2)], 1)
    if "search" not in results:
        return out
    design, search, summary = results["design"], results["search"], summarize(results)
    emp, tru = summary["fits"]["empirical"], summary["fits"]["true"]
    fit = emp[str(min(design["t_values"]))]
    n_mid, (w_a, w_b) = sorted(design["n_values"])[-2], search["widths"][-2:]
    flat = next(errs for task, errs in zip(search["tasks"], search["test_error"])
                if task == {"kind": "empirical", "n": n_mid, "m": 0, "t": min(design["t_values"]), "rep": 0})
    censored = [task["n"] for task, w in zip(summary["tasks"], summary["W_star"])
                if task["kind"] == "empirical" and task["m"] == 0 and not math.isfinite(w)]
    dup = summary["duplication"]
    dup_rows = "; ".join(f"(n, m) = ({r['n']}, {r['m']}) rep {r['rep']}: {r['W_dup']:.0f} against "
                         + (f"{r['W_n_minus_m']:.0f}" if math.isfinite(r["W_n_minus_m"]) else "> max")
                         + (" (match)" if r["matches_n_minus_m"] else " (no match)") for r in dup["rows"])
    slopes = "; ".join(f"t = {t}: {_ci(emp[t].get('fit_censored'))}" for t in sorted(emp, key=float))
    true_slopes = "; ".join(f"t = {t}: {_ci(tru[t].get('fit_censored'))}" for t in sorted(tru, key=float))
    min_ok = min(len({n for n, w in zip(e["n"], e["W_star"]) if math.isfinite(w)}) for e in emp.values())
    return {**out,
            "ch04_slope": _ci(fit.get("fit_censored")), "ch04_slopes": slopes, "ch04_true_slopes": true_slopes,
            "ch04_min_uncensored_n": min_ok,
            "ch04_slope_N": round(fit["fit_N"]["exponent"], 2) if fit["fit_N"] else "n/a",
            "ch04_true_max": round(max(w for e in tru.values() for w in e["W_star"]), 1),
            "ch04_censored": sum(e["censored"] for e in emp.values()), "ch04_censored_min_n": min(censored, default=0),
            "ch04_tasks_emp": sum(len(e["W_star"]) for e in emp.values()),
            "ch04_flat_n": n_mid, "ch04_flat_wa": w_a, "ch04_flat_wb": w_b,
            "ch04_flat_a": round(flat[-2], 3), "ch04_flat_b": round(flat[-1], 3),
            "ch04_dup_tol": round(dup["tolerance"]["factor"], 2), "ch04_dup_tol_pairs": dup["tolerance"]["pairs"],
            "ch04_dup_rows": dup_rows}
