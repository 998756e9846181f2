"""Chapter 7's numbers from per-seed results: tables per feature space, paired differences, verdict and claims.

The design is paired: every arm of a seed starts from that seed's original, is fine-tuned on the same
batches and samples from the same noise, so arm differences are taken seed by seed and summarised by
their mean with a 95% Student-t interval over seeds (:func:`memsep_lib.stats.paired_difference`).
A claim is *supported at 95%* when its interval lies entirely on the claimed side of zero.
"""

from __future__ import annotations

from memsep_lib.pruning import num_heads_to_prune
from memsep_lib.stats import format_difference, mean_std, paired_difference

from .mechanism import small_t_mean

__all__ = ["ARMS", "PAPER_TABLE", "PAPER_ROWS", "COMPARISONS", "CLAIMS", "SCORE_CLAIMS", "SCORE_COMPARISONS",
           "MEMORIZATION_BAND", "average_records", "summarize", "score_summary", "paired_entry", "results_table",
           "verdict", "claims", "facts"]

ARMS = ("original", "finetune_only", "pruned_small_t", "pruned_large_t", "random")
PAPER_TABLE = {  # the paper's CIFAR-10 table (5,000 images, DiT, mean of 5 runs)
    "original": {"precision": 0.39, "recall": 0.08, "memorization": 0.7382, "fid": 15.47},
    "pruned": {"precision": 0.33, "recall": 0.12, "memorization": 0.6858, "fid": 15.07},
    "random": {"precision": 0.30, "recall": 0.09, "memorization": 0.6687, "fid": 17.14},
}
PAPER_ROWS = {"original": "original", "pruned_small_t": "pruned", "random": "random"}   # our arm -> paper's row
COMPARISONS = (("pruned_small_t", "original"), ("pruned_small_t", "random"), ("pruned_small_t", "finetune_only"),
               ("random", "finetune_only"), ("pruned_large_t", "finetune_only"), ("pruned_small_t", "pruned_large_t"),
               ("finetune_only", "original"))
SPACE_METRICS = ("fid", "precision", "recall", "train_precision", "train_recall")
ROW_METRICS = ("memorization", *SPACE_METRICS, "num_heads", "num_parameters", "sampling_seconds_per_image")
# claim id -> (text, metric, a, b, sign): supported when the 95% interval of mean(metric[a] - metric[b]) over seeds
# lies entirely on the side of zero that `sign` gives
CLAIMS = {
    "mem_vs_original": ("pruning lowers memorisation (pruned_small_t < original)",
                        "memorization", "pruned_small_t", "original", -1),
    "mem_vs_finetune": ("pruning lowers memorisation beyond fine-tuning alone (pruned_small_t < finetune_only)",
                        "memorization", "pruned_small_t", "finetune_only", -1),
    "mem_vs_large_t": ("small-t importance matters (memorisation: pruned_small_t < pruned_large_t)",
                       "memorization", "pruned_small_t", "pruned_large_t", -1),
    "fd_vs_random": ("better quality than random pruning (FD: pruned_small_t < random)",
                     "fid", "pruned_small_t", "random", -1),
}
# the mechanism (issue 15): claim id -> (text, quantity, a, b, sign) on the small-t mean of a score-distance curve
SCORE_CLAIMS = {
    "score_vs_random": ("Algorithm 1 moves the score further from the empirical score than random pruning "
                        "(small-t distance: pruned_small_t > random)", "to_empirical", "pruned_small_t", "random", 1),
    "score_vs_finetune": ("... and further than fine-tuning alone (pruned_small_t > finetune_only)",
                          "to_empirical", "pruned_small_t", "finetune_only", 1),
    "smoother_vs_random": ("Algorithm 1's score is smoother than random pruning's (small-t Lipschitz: "
                           "pruned_small_t < random)", "lipschitz", "pruned_small_t", "random", -1),
}
SCORE_COMPARISONS = (("pruned_small_t", "original"), ("pruned_small_t", "random"), ("pruned_small_t", "finetune_only"),
                     ("random", "finetune_only"), ("pruned_small_t", "pruned_large_t"), ("finetune_only", "original"))
MEMORIZATION_BAND = (0.50, 0.85)   # the regime the comparison needs: memorising clearly, not saturated


def average_records(records: list[dict]) -> dict:
    """The mean of several evaluation records (the random masks of a seed), leaf by leaf: numbers averaged,
    nested dicts recursed, anything else kept from the first record (names) or dropped (example images)."""
    if not records:
        raise ValueError("records must hold at least one evaluation record")
    out = {}
    for key, value in records[0].items():
        if isinstance(value, dict):
            out[key] = average_records([r[key] for r in records])
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = sum(float(r[key]) for r in records) / len(records)
        elif isinstance(value, str):
            out[key] = value
    return out


def _values(per_seed: list[dict], arm: str, metric: str, space: str) -> list[float]:
    """One arm's ``metric`` in every seed: from ``space`` for the feature-space metrics, else the arm's own."""
    return [s["arms"][arm]["spaces"][space][metric] if metric in SPACE_METRICS else s["arms"][arm][metric]
            for s in per_seed]


def _row(per_seed: list[dict], arm: str, space: str) -> dict:
    """Mean and std over seeds of one arm's metrics in one feature space (memorisation: pixels, any space)."""
    return {key: mean_std(_values(per_seed, arm, key, space)) for key in ROW_METRICS}


def paired_entry(per_seed: list[dict], metric: str, a: str, b: str, space: str) -> dict:
    """``{metric, a, b, space, mean_diff, ci95, n}``: the paired difference ``metric[a] - metric[b]`` over seeds."""
    where = space if metric in SPACE_METRICS else "pixels (nearest-neighbour criterion)"
    return {"metric": metric, "a": a, "b": b, "space": where,
            **paired_difference(_values(per_seed, a, metric, space), _values(per_seed, b, metric, space))}


def _jaccard(a: dict, b: dict) -> float:
    sa = {(int(k), h) for k, hs in a.items() for h in hs}
    sb = {(int(k), h) for k, hs in b.items() for h in hs}
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def summarize(per_seed: list[dict], spaces: list[str], *, horizon: float = 0.3) -> dict:
    """``table`` (the first, primary space), ``tables`` (every space), ``paired`` (primary space; memorisation
    once), ``paired_by_space`` and ``horizon_overlap`` (mean Jaccard index of the removed heads against those
    at the run's horizon, per horizon); with score distances in every seed, :func:`score_summary` at ``horizon``."""
    if not per_seed:
        raise ValueError("per_seed must hold at least one seed's results")
    tables = {space: {arm: _row(per_seed, arm, space) for arm in ARMS} for space in spaces}
    by_space = {space: [paired_entry(per_seed, metric, a, b, space) for metric in ("fid", "precision", "recall")
                        for a, b in COMPARISONS] for space in spaces}
    memorization = [paired_entry(per_seed, "memorization", a, b, spaces[0]) for a, b in COMPARISONS]
    horizons = per_seed[0]["removed_by_horizon"]
    overlap = {h: mean_std([_jaccard(s["removed_by_horizon"][h], s["removed"]["pruned_small_t"])
                            for s in per_seed]) for h in horizons}
    out = {"table": tables[spaces[0]], "tables": tables, "paired": memorization + by_space[spaces[0]],
           "paired_by_space": by_space, "horizon_overlap": overlap}
    if all("score_distance" in s for s in per_seed):
        out.update(score_summary(per_seed, horizon))
    return out


def _arm_curves(seed: dict) -> dict:
    """One seed's score-distance curves per arm, the random arm the mean over its masks."""
    curves = seed["score_distance"]
    masks = [curves[name] for name in curves if name.startswith("random")]
    mean_mask = {q: [sum(c[q][k] for c in masks) / len(masks) for k in range(len(masks[0][q]))]
                 for q in masks[0] if q != "times"}
    return {**{arm: curves[arm] for arm in ARMS if arm != "random"}, "random": {**mean_mask, "times": masks[0]["times"]}}


def score_summary(per_seed: list[dict], horizon: float = 0.3) -> dict:
    """``score_distance[arm]``: the ``times`` and, per quantity, the per-seed curves; ``score_paired``: paired
    differences over seeds of each quantity's mean over the grid times ``<= horizon`` (the small-t interval)."""
    curves = [_arm_curves(s) for s in per_seed]
    times = curves[0]["original"]["times"]
    quantities = [q for q in curves[0]["original"] if q != "times"]
    distance = {arm: {"times": times, **{q: [c[arm][q] for c in curves] for q in quantities}} for arm in ARMS}
    small = lambda arm, q: [small_t_mean(c[arm][q], times, horizon) for c in curves]
    paired = [{"metric": q, "a": a, "b": b, "horizon": horizon, **paired_difference(small(a, q), small(b, q))}
              for q in ("to_empirical", "to_held_out", "lipschitz") for a, b in SCORE_COMPARISONS]
    return {"score_distance": distance, "score_paired": paired}


def _find(paired: list[dict], metric: str, a: str, b: str) -> dict:
    for entry in paired:
        if (entry["metric"], entry["a"], entry["b"]) == (metric, a, b):
            return entry
    raise KeyError(f"no paired entry for {metric}: {a} - {b}")


def _pm(row: dict, key: str, scale: float = 1.0, digits: int = 2) -> str:
    return f"{scale * row[key]['mean']:.{digits}f} ± {scale * row[key]['std']:.{digits}f}"


def results_table(table: dict, space: str, paper: dict = PAPER_TABLE) -> str:
    """Markdown table: every arm's mean ± std over seeds in one feature space, the paper's rows beside ours."""
    names = {"original": "Original", "finetune_only": "Fine-tuned only (control)",
             "pruned_small_t": "Pruned, small-t importance (Algorithm 1)", "pruned_large_t": "Pruned, large-t importance",
             "random": "Random pruning"}
    lines = [f"Feature space for FD and P/R: {space}. Reference: held-out images.", "",
             "| model | Mem. % | Mem. % (paper) | P | R | FD | P / R vs training subset (copying) "
             "| P, R, FID (paper) | heads |", "|---|---|---|---|---|---|---|---|---|"]
    for arm, label in names.items():
        row = table[arm]
        ref = paper.get(PAPER_ROWS.get(arm, ""), None)
        theirs = "–" if ref is None else f"{ref['precision']:.2f}, {ref['recall']:.2f}, {ref['fid']:.2f}"
        mem_paper = "–" if ref is None else f"{100 * ref['memorization']:.2f}"
        lines.append(f"| {label} | {_pm(row, 'memorization', 100, 1)} | {mem_paper} | {_pm(row, 'precision')} "
                     f"| {_pm(row, 'recall')} | {_pm(row, 'fid')} | {row['train_precision']['mean']:.2f} / "
                     f"{row['train_recall']['mean']:.2f} | {theirs} | {row['num_heads']['mean']:.0f} |")
    return "\n".join(lines)


def claims(results: dict) -> dict[str, str]:
    """Each of :data:`CLAIMS` as ``"supported at 95%"`` or ``"not supported at 95%"`` (interval straddles
    zero or lies on the other side), on the stored paired differences."""
    out = {}
    claims_and_entries = [(c, results["paired"]) for c in CLAIMS.values()]
    if "score_paired" in results:
        claims_and_entries += [(c, results["score_paired"]) for c in SCORE_CLAIMS.values()]
    for (text, metric, a, b, sign), entries in claims_and_entries:
        lo, hi = _find(entries, metric, a, b)["ci95"]
        lo = float("-inf") if lo is None else lo
        hi = float("inf") if hi is None else hi
        supported = hi < 0 if sign < 0 else lo > 0
        out[text] = "supported at 95%" if supported else "not supported at 95%"
    return out


def verdict(results: dict) -> dict[str, bool]:
    """The checks a sound run must pass (each can fail):

    - the original memorises inside :data:`MEMORIZATION_BAND` (mean over seeds);
    - metric sanity, in every space: fresh held-out images beat noisy copies of the training set on FD and
      recall against the reference, while the copies' training-subset recall is the higher;
    - head counts: each pruned arm has ``round(eta * #heads)`` heads fewer than the original, the control none;
    - gate/prune equivalence: zeroing the gates of the removed heads computes what removing them does (1e-4);
    - with the mechanism measured: the original's score is nearer the empirical score of its training set than
      that of a held-out set on the small-t interval (it memorises; a generalising score would not be).
    """
    per_seed, ratio = results["per_seed"], results["setup"]["prune_ratio"]
    total = per_seed[0]["arms"]["original"]["num_heads"]
    removed = num_heads_to_prune(total, ratio)
    lo, hi = MEMORIZATION_BAND
    memorization = results["table"]["original"]["memorization"]["mean"]
    sanity = all(s["fresh"]["fid"] < s["copies"]["fid"] and s["fresh"]["recall"] > s["copies"]["recall"]
                 and s["copies"]["train_recall"] > s["fresh"]["train_recall"] for s in results["sanity"].values())
    heads = all(s["arms"]["original"]["num_heads"] == s["arms"]["finetune_only"]["num_heads"] == total
                and all(s["arms"][a]["num_heads"] == total - removed for a in ("pruned_small_t", "pruned_large_t"))
                and all(m["num_heads"] == total - removed for m in s["random_masks"]) for s in per_seed)
    gates = all(s["gate_prune_discrepancy"] < 1e-4 for s in per_seed)
    out = {f"original memorises {100 * lo:.0f}-{100 * hi:.0f}% (the regime the comparison needs)": lo <= memorization <= hi,
            "metric sanity: fresh held-out images beat noisy copies on FD and recall, in every space": sanity,
            f"pruned arms: {removed} of {total} heads ({100 * ratio:.0f}%) removed; the control keeps all": heads,
            "zeroed gates compute what removed heads do (< 1e-4)": gates}
    if "score_distance" in results:
        original, horizon = results["score_distance"]["original"], results["setup"]["horizon"]
        mean = lambda q: sum(small_t_mean(c, original["times"], horizon) for c in original[q]) / len(original[q])
        out["the original's score is nearer its training set's empirical score than a held-out set's at small t"] = \
            mean("to_empirical") < mean("to_held_out")
    return out


def facts(results: dict) -> dict[str, str]:
    """The numbers the chapter's prose quotes, formatted as it prints them."""
    per_seed, table, setup = results["per_seed"], results["table"], results["setup"]
    rho = lambda key: f"{mean_std([s[key] for s in per_seed])['mean']:.2f}"
    out = {"feature_accuracy": f"{100 * results['feature_net_test_accuracy']:.1f}",
           "rho_taylor": rho("rank_agreement_taylor_vs_ablation"), "rho_large": rho("rank_agreement_small_vs_large_t"),
           "setup": f"{setup['subset_size']} images at {setup['resolution']}×{setup['resolution']} for "
                    f"{setup['train_steps']:,} steps",
           "finetune_steps": f"{setup['finetune_steps']:,}", "seeds": str(len(per_seed)),
           "reference_size": f"{results['reference']['size']:,}",
           "mem_original": _pm(table["original"], "memorization", 100, 1)}
    for metric, scale, digits in (("memorization", 100, 1), ("fid", 1, 2)):
        for a, b in COMPARISONS:
            out[f"diff_{metric}_{a}_{b}"] = format_difference(_find(results["paired"], metric, a, b), scale, digits)
    for h, value in results["horizon_overlap"].items():
        out[f"horizon_overlap_{h}"] = f"{value['mean']:.2f}"
    keys = list(CLAIMS) + (list(SCORE_CLAIMS) if "score_paired" in results else [])
    for key, state in zip(keys, claims(results).values()):
        out[f"claim_{key}"] = state
    for entry in results.get("score_paired", []):
        out[f"diff_score_{entry['metric']}_{entry['a']}_{entry['b']}"] = format_difference(entry, 1, 3)
    return out
