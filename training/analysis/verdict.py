"""The verdict: a few plain sentences and the table they come from. Every number in a sentence is a cell
of the table (rounded to 3 digits), and uncertainty is stated: overlapping 95% intervals are reported as
"no clear difference", a single seed as indicative only, and each comparison says how many seeds back it.
A (strategy, size) cell that failed a fairness check (see `fairness`) is named as failed and never used
to draw a conclusion."""
from __future__ import annotations

import math

import pandas as pd

from training.analysis.fairness import failed_cells, reference_summary
from training.analysis.stats import clearly_different


def verdict_table(summary: pd.DataFrame, compute: pd.DataFrame, forgetting: pd.DataFrame,
                  end: pd.DataFrame | None = None, findings: list[dict] | None = None,
                  refs: pd.DataFrame | None = None, metric: str = "accuracy", best: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (strategy, N): metric mean and interval at the analysed checkpoint, the means at the end of training and
    at the best checkpoint, seeds, FLOPs, wall seconds, forgetting, and the cell's status; then the references."""
    t = summary.rename(columns={"mean": "metric", "low": "metric_low", "high": "metric_high"})
    for name, other in (("metric_end", end), ("metric_best", best)):
        t = t.merge(other[["strategy", "n_train", "mean"]].rename(columns={"mean": name}), on=["strategy", "n_train"],
                    how="left") if other is not None and not other.empty else t.assign(**{name: math.nan})
    if not compute.empty:
        t = t.merge(compute[["strategy", "n_train", "flops", "wall_s"]], on=["strategy", "n_train"], how="left")
    else:
        t = t.assign(flops=math.nan, wall_s=math.nan)
    if not forgetting.empty:
        t = t.merge(forgetting[["strategy", "n_train", "forgetting"]], on=["strategy", "n_train"], how="left")
    else:
        t = t.assign(forgetting=math.nan)
    bad: dict[tuple, list[str]] = {}
    for f in findings or []:
        if f["severity"] == "failure" and f["strategy"]:
            bad.setdefault((f["strategy"], f["n_train"]), []).append(f["kind"].replace("_", " "))
    t["status"] = [("FAILED: " + ", ".join(bad[(s, int(n))])) if (s, int(n)) in bad else "ok"
                   for s, n in zip(t["strategy"], t["n_train"], strict=True)]
    cols = ["strategy", "n_train", "metric", "metric_low", "metric_high", "seeds", "metric_end", "metric_best", "flops",
            "wall_s",
            "forgetting", "status"]
    ref = reference_summary(refs) if refs is not None else pd.DataFrame()
    if not ref.empty and metric in ref:
        ref_rows = pd.DataFrame({"strategy": "reference: " + ref["name"], "n_train": ref["n_train"], "metric": ref[metric],
                                 "metric_low": math.nan, "metric_high": math.nan, "seeds": math.nan,
                                 "metric_end": ref[metric], "metric_best": ref[metric], "flops": math.nan, "wall_s": math.nan,
                                 "forgetting": math.nan, "status": "reference"})
        t = pd.concat([t[cols], ref_rows[cols]], ignore_index=True) if not t.empty else ref_rows[cols]
    t = t[cols].copy()
    t["seeds"] = t["seeds"].astype("Int64")  # reference rows have none
    return t


def _f(x: float) -> str:
    return f"{x:.3f}"


def _seeds(k: int) -> str:
    return "1 seed" if k == 1 else f"{k} seeds"


def _seeds_each(counts) -> str:
    lo, hi = int(min(counts)), int(max(counts))
    return f"{_seeds(lo)} each" if lo == hi else f"{lo} to {hi} seeds each"


def _row(t: pd.DataFrame, strategy: str, n: int) -> dict | None:
    r = t[(t["strategy"] == strategy) & (t["n_train"] == n)]
    if r.empty:
        return None
    r = r.iloc[0]
    return {**r.to_dict(), "mean": r["metric"], "low": r["metric_low"], "high": r["metric_high"], "seeds": int(r["seeds"])}


def best_by_size(t: pd.DataFrame, higher_is_better: bool) -> list[tuple[int, str, list[str]]]:
    """Per size: the best strategy and those not clearly different from it (overlapping 95% intervals)."""
    sign = 1 if higher_is_better else -1
    out = []
    for n in sorted(t["n_train"].unique()):
        at = t[t["n_train"] == n]
        best = at.loc[(at["metric"] * sign).idxmax()]
        b = _row(t, best["strategy"], n)
        ties = [s for s in at["strategy"] if s != best["strategy"]
                and not clearly_different(b, _row(t, s, n)) and min(b["seeds"], _row(t, s, n)["seeds"]) >= 2]
        out.append((int(n), best["strategy"], ties))
    return out


def _failed_sentence(strategy: str, ns: list[int], findings: list[dict]) -> str:
    kinds = {f["kind"] for f in findings if f["strategy"] == strategy and f["severity"] == "failure"}
    what = ("learned nothing (not above the majority class)" if kinds == {"at_majority"} else
            "failed its runs" if kinds == {"failed"} else "diverged" if kinds == {"loss_rose"} else
            "got worse with more data" if kinds == {"not_monotone"} else "failed the checks above")
    sizes = " and ".join(f"N={n:,}" for n in ns)
    return (f"{strategy} {what} at {sizes}: no conclusion is drawn from {'it' if len(ns) == 1 else 'those runs'} — "
            "see the checks above for why and what to change.")


def verdict(summary: pd.DataFrame, compute: pd.DataFrame, forgetting: pd.DataFrame, metric: str,
            higher_is_better: bool, baseline: str = "scratch", transfer: pd.DataFrame | None = None,
            findings: list[dict] | None = None, refs: pd.DataFrame | None = None, end: pd.DataFrame | None = None,
            progress: tuple[int, int] | None = None, best: pd.DataFrame | None = None,
            planned_seeds: int | None = None) -> tuple[list[str], pd.DataFrame]:
    findings = findings or []
    full = verdict_table(summary, compute, forgetting, end, findings, refs, metric, best)
    out: list[str] = []
    if progress is not None and progress[0] < progress[1]:
        out.append(f"Partial results: {progress[0]} of {progress[1]} runs have finished; the sentences below cover "
                   "only those and will change.")
    t = full[full["status"] == "ok"] if not full.empty else full
    cells = failed_cells(findings)
    if t.empty:
        for s in dict.fromkeys(s for s, _ in sorted(cells)):
            out.append(_failed_sentence(s, sorted(n for c, n in cells if c == s), findings))
        return out or ["No finished runs yet: the verdict appears when runs finish."], full
    sign = 1 if higher_is_better else -1
    sizes = sorted(t["n_train"].unique())
    if int(t["seeds"].max()) < 2:
        if planned_seeds and planned_seeds > 1:
            out.append(f"One seed per cell has finished so far (of {planned_seeds}): differences below are indicative "
                       "only until the other seeds give 95% intervals.")
        else:
            out.append("One seed per run: differences below are indicative only — add seeds for 95% intervals.")
    for s in dict.fromkeys(s for s, _ in sorted(cells)):
        out.append(_failed_sentence(s, sorted(n for c, n in cells if c == s), findings))
    gaps = {}
    for n in ([sizes[0], sizes[-1]] if len(sizes) > 1 else sizes):
        at = t[t["n_train"] == n]
        best = at.loc[(at["metric"] * sign).idxmax()]
        base = _row(t, baseline, n)
        b = _row(t, best["strategy"], n)
        if (baseline, int(n)) in cells:
            out.append(f"At N={n:,}, {best['strategy']} reaches {metric} {_f(b['mean'])} ({_seeds(b['seeds'])}); there is "
                       f"no comparison with {baseline} at this size: its runs failed the checks above.")
            continue
        if at["strategy"].nunique() == 1:
            out.append(f"At N={n:,}, {best['strategy']} reaches {metric} {_f(b['mean'])} "
                       f"(95% CI {_f(b['low'])}–{_f(b['high'])}, {_seeds(b['seeds'])}).")
            continue
        if base is None or best["strategy"] == baseline:
            out.append(f"At N={n:,}, {best['strategy']} is best with {metric} {_f(best['metric'])} ({_seeds(b['seeds'])}).")
            continue
        gaps[n] = sign * (b["mean"] - base["mean"])
        k = min(b["seeds"], base["seeds"])
        if clearly_different(b, base):
            out.append(f"At N={n:,}, {best['strategy']} reaches {metric} {_f(b['mean'])} "
                       f"(95% CI {_f(b['low'])}–{_f(b['high'])}) against {baseline}'s {_f(base['mean'])} "
                       f"({_f(base['low'])}–{_f(base['high'])}), {_seeds(k)} each: {best['strategy']} wins.")
        elif k >= 2:
            out.append(f"At N={n:,}, {best['strategy']} ({_f(b['mean'])}) and {baseline} ({_f(base['mean'])}) "
                       f"show no clear difference over {_seeds(k)}: their 95% intervals overlap.")
        else:
            out.append(f"At N={n:,}, {best['strategy']} reaches {metric} {_f(b['mean'])} against {baseline}'s "
                       f"{_f(base['mean'])} (1 seed).")
    if len(gaps) == 2:
        small, large = sizes[0], sizes[-1]
        if abs(gaps[large] - gaps[small]) <= 0.1 * max(abs(gaps[small]), abs(gaps[large])):
            out.append(f"The lead of the best strategy over {baseline} stays about the same: {_f(gaps[small])} at "
                       f"N={small:,}, {_f(gaps[large])} at N={large:,}.")
        else:
            trend = "narrows" if gaps[large] < gaps[small] else "widens"
            out.append(f"The lead of the best strategy over {baseline} {trend} from {_f(gaps[small])} at N={small:,} "
                       f"to {_f(gaps[large])} at N={large:,}.")
    n = sizes[-1]
    at = t[(t["n_train"] == n) & t["flops"].notna()]
    if len(at) > 1:
        best = at.loc[(at["metric"] * sign).idxmax()]
        near = at[sign * (best["metric"] - at["metric"]) <= 0.02 * abs(best["metric"])]
        cheap = near.loc[near["flops"].idxmin()]
        if cheap["strategy"] != best["strategy"] and best["flops"] > 0:
            out.append(f"At N={n:,}, {cheap['strategy']} gets within 2% of {best['strategy']} ({_f(cheap['metric'])} vs "
                       f"{_f(best['metric'])}, {_seeds(int(min(cheap['seeds'], best['seeds'])))} each) for "
                       f"{cheap['flops'] / best['flops']:.1%} of its training FLOPs.")
        else:
            out.append(f"At N={n:,}, {best['strategy']} is the best ({_seeds(int(best['seeds']))}), and no strategy "
                       "within 2% of it costs fewer training FLOPs.")
    picks = best_by_size(t, higher_is_better)
    if len(picks) > 1 and t["strategy"].nunique() > 1:
        out.append("Best by training-set size: " + "; ".join(
            f"N={n:,} → {best}" + (f" (no clear difference from {', '.join(ties)})" if ties else "") for n, best, ties in picks)
            + f" ({_seeds_each(t['seeds'])}).")
    out += _reference_sentences(t, refs, metric, higher_is_better)
    if any(not str(x).startswith(baseline) for x in t["strategy"].unique()):  # a table's scratch alone: nothing to transfer
        out += _transfer_sentences(transfer)
    fg = t[(t["n_train"] == n) & t["forgetting"].notna() & (t["strategy"] != baseline)]
    if len(fg) > 1:
        most, least = fg.loc[fg["forgetting"].idxmax()], fg.loc[fg["forgetting"].idxmin()]
        if most["forgetting"] <= 0:  # every probe reading is at or better than the base's
            out.append(f"Forgetting at N={n:,}: none measured — every strategy's probe is at or better than the base "
                       f"model's ({least['strategy']} {_f(-least['forgetting'])} better, {most['strategy']} "
                       f"{_f(-most['forgetting'])}); {_seeds_each(fg['seeds'])}.")
        else:
            out.append(f"Forgetting at N={n:,}: {most['strategy']} forgets most ({_f(most['forgetting'])} of the "
                       f"probe), {least['strategy']} least ({_f(least['forgetting'])}); {_seeds_each(fg['seeds'])}.")
    return out, full


def _reference_sentences(t: pd.DataFrame, refs: pd.DataFrame | None, metric: str, higher: bool) -> list[str]:
    from training.core.references import CLASSICAL, NAMES, TRIVIAL

    ref = reference_summary(refs) if refs is not None else pd.DataFrame()
    if ref.empty or metric not in ref or t.empty:
        return []
    n = int(t["n_train"].max())
    at = ref[ref["n_train"] == n].set_index("reference")
    name = next((r for r in CLASSICAL if r in at.index), None)  # text's, images' or tables' classical model
    if name is None:
        return []
    sign = 1 if higher else -1
    cell = t[t["n_train"] == n]
    best = cell.loc[(cell["metric"] * sign).idxmax()]
    classical = float(at.loc[name, metric])
    trivial = next((r for r in TRIVIAL if r in at.index), None)
    text = (f"At N={n:,}, the classical reference ({NAMES[name]}) scores {metric} {_f(classical)}"
            + (f" and the {NAMES[trivial]} {_f(float(at.loc[trivial, metric]))}" if trivial else "") + "; ")
    if sign * (best["metric"] - classical) > 0:
        text += f"the best neural run, {best['strategy']} ({_f(best['metric'])}), is better."
    else:
        text += (f"no neural run beats it (best: {best['strategy']}, {_f(best['metric'])}) — at this size the cheap "
                 "classical model is the one to beat.")
    out = [text]
    if name == "gbdt":  # a table: the question is whether the network is worth it next to trees, at every size
        trees = ref[ref["reference"] == "gbdt"].set_index("n_train")[metric]
        parts, wins = [], 0
        for size in sorted(t["n_train"].unique()):
            c = t[t["n_train"] == size]
            if int(size) not in trees.index or c.empty:
                continue
            b = c.loc[(c["metric"] * sign).idxmax()]
            lo, hi = (b["metric_low"], b["metric_high"]) if higher else (b["metric_high"], b["metric_low"])
            tree = float(trees.loc[int(size)])
            verdict = ("network clearly better" if sign * (lo - tree) > 0 else
                       "trees clearly better" if sign * (tree - hi) > 0 else "within the network's 95% interval")
            wins += verdict == "network clearly better"
            parts.append(f"N={int(size):,}: {_f(b['metric'])} vs {_f(tree)} ({verdict})")
        if parts:
            out.append(f"Neural network from scratch vs gradient-boosted trees ({metric}, mean of the network's seeds vs "
                       "the trees): " + "; ".join(parts) + ". " + (
                           "The network is worth it where it is clearly better." if wins else
                           "The network never clearly beats the trees here: use the trees, unless the network buys "
                           "something the chart does not show."))
    return out


def _transfer_sentences(transfer: pd.DataFrame | None) -> list[str]:
    if transfer is None:
        return []
    if transfer.empty:
        reason = transfer.attrs.get("reason")
        return [f"Effective data transferred cannot be estimated from these runs: {reason}."] if reason else []
    small = transfer[transfer["n_train"] == transfer["n_train"].min()]
    r = small.loc[small["multiplier"].idxmax()]
    if math.isinf(r["d_e"]):
        law = transfer.attrs.get("law")
        floor = f" (L∞ = {law.l_inf:.3f})" if law is not None else ""
        return [f"At N={int(r['n_train']):,}, {r['strategy']}'s loss ({r['loss']:.3f}) is below where scratch's fitted "
                f"data curve levels off{floor}: D_E cannot be estimated from these runs — scratch would need sizes "
                f"beyond N={transfer.attrs.get('max_scratch_n', 0):,} to show whether and where it gets there."]
    def count(x: float) -> str:
        return "unbounded" if math.isinf(x) else f"{x:,.0f}"

    return [f"At N={int(r['n_train']):,}, {r['strategy']}'s loss would take training from scratch about "
            f"{r['d_e']:,.0f} examples (95% CI {count(r['d_e_low'])} to {count(r['d_e_high'])}): pretraining is worth "
            f"{r['multiplier']:.1f}× the data" + (" — an extrapolation beyond the largest scratch size."
                                                   if r["extrapolated"] else ".")]
