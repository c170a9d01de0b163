"""The verdict: a few plain sentences and the table they come from. Every number in a sentence is a cell
of the table (rounded to 3 digits), and uncertainty is stated: overlapping 95% intervals are reported
as "no clear difference", a single seed as indicative only."""
from __future__ import annotations

import math

import pandas as pd

from .stats import clearly_different


def verdict_table(summary: pd.DataFrame, compute: pd.DataFrame, forgetting: pd.DataFrame) -> pd.DataFrame:
    """Per (strategy, N): metric mean and interval, seeds, FLOPs, wall seconds, forgetting."""
    t = summary.rename(columns={"mean": "metric", "low": "metric_low", "high": "metric_high"})
    if not compute.empty:
        t = t.merge(compute[["strategy", "n_train", "flops", "wall_s"]], on=["strategy", "n_train"], how="left")
    else:
        t = t.assign(flops=math.nan, wall_s=math.nan)
    if not forgetting.empty:
        t = t.merge(forgetting[["strategy", "n_train", "forgetting"]], on=["strategy", "n_train"], how="left")
    else:
        t = t.assign(forgetting=math.nan)
    return t[["strategy", "n_train", "metric", "metric_low", "metric_high", "seeds", "flops", "wall_s", "forgetting"]]


def _f(x: float) -> str:
    return f"{x:.3f}"


def _row(t: pd.DataFrame, strategy: str, n: int) -> dict | None:
    r = t[(t["strategy"] == strategy) & (t["n_train"] == n)]
    if r.empty:
        return None
    r = r.iloc[0]
    return {"mean": r["metric"], "low": r["metric_low"], "high": r["metric_high"], "seeds": int(r["seeds"]), **r.to_dict()}


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


def verdict(summary: pd.DataFrame, compute: pd.DataFrame, forgetting: pd.DataFrame, metric: str,
            higher_is_better: bool, baseline: str = "scratch",
            transfer: pd.DataFrame | None = None) -> tuple[list[str], pd.DataFrame]:
    t = verdict_table(summary, compute, forgetting)
    if t.empty:
        return ["No finished runs yet: the verdict appears when runs finish."], t
    sign = 1 if higher_is_better else -1
    sizes = sorted(t["n_train"].unique())
    out: list[str] = []
    if int(t["seeds"].max()) < 2:
        out.append("One seed per run: differences below are indicative only — add seeds for 95% intervals.")
    gaps = {}
    for n in ([sizes[0], sizes[-1]] if len(sizes) > 1 else sizes):
        at = t[t["n_train"] == n]
        best = at.loc[(at["metric"] * sign).idxmax()]
        base = _row(t, baseline, n)
        if base is None or best["strategy"] == baseline:
            out.append(f"At N={n}, {best['strategy']} is best with {metric} {_f(best['metric'])}.")
            continue
        b = _row(t, best["strategy"], n)
        gaps[n] = sign * (b["mean"] - base["mean"])
        if clearly_different(b, base):
            out.append(f"At N={n}, {best['strategy']} reaches {metric} {_f(b['mean'])} "
                       f"(95% CI {_f(b['low'])}–{_f(b['high'])}) against {baseline}'s {_f(base['mean'])} "
                       f"({_f(base['low'])}–{_f(base['high'])}): {best['strategy']} wins.")
        elif b["seeds"] >= 2 and base["seeds"] >= 2:
            out.append(f"At N={n}, {best['strategy']} ({_f(b['mean'])}) and {baseline} ({_f(base['mean'])}) "
                       f"show no clear difference: their 95% intervals overlap.")
        else:
            out.append(f"At N={n}, {best['strategy']} reaches {metric} {_f(b['mean'])} against {baseline}'s "
                       f"{_f(base['mean'])}.")
    if len(gaps) == 2:
        small, large = sizes[0], sizes[-1]
        trend = "narrows" if gaps[large] < gaps[small] else "widens"
        out.append(f"The lead of the best strategy over {baseline} {trend} from {_f(gaps[small])} at N={small} "
                   f"to {_f(gaps[large])} at N={large}.")
    n = sizes[-1]
    at = t[(t["n_train"] == n) & t["flops"].notna()]
    if len(at) > 1:
        best = at.loc[(at["metric"] * sign).idxmax()]
        near = at[sign * (best["metric"] - at["metric"]) <= 0.02 * abs(best["metric"])]
        cheap = near.loc[near["flops"].idxmin()]
        if cheap["strategy"] != best["strategy"] and best["flops"] > 0:
            out.append(f"At N={n}, {cheap['strategy']} gets within 2% of {best['strategy']} ({_f(cheap['metric'])} vs "
                       f"{_f(best['metric'])}) for {cheap['flops'] / best['flops']:.1%} of its training FLOPs.")
        else:
            out.append(f"At N={n}, {best['strategy']} is both the best and the cheapest within 2% of it.")
    picks = best_by_size(t, higher_is_better)
    if len(picks) > 1:
        out.append("Best by training-set size: " + "; ".join(
            f"N={n} → {best}" + (f" (no clear difference from {', '.join(ties)})" if ties else "") for n, best, ties in picks)
            + ".")
    if transfer is not None and not transfer.empty:
        small = transfer[transfer["n_train"] == transfer["n_train"].min()]
        r = small.loc[small["multiplier"].idxmax()]
        if r["d_e"] == float("inf"):
            out.append(f"At N={int(r['n_train'])}, {r['strategy']} reaches an eval loss the fitted scratch curve never "
                       f"reaches: no finite amount of data makes scratch match it.")
        else:
            out.append(f"At N={int(r['n_train'])}, {r['strategy']}'s eval loss would take training from scratch about "
                       f"{r['d_e']:,.0f} examples (95% CI {r['d_e_low']:,.0f}–{r['d_e_high']:,.0f}): pretraining is worth "
                       f"{r['multiplier']:.1f}× the data" + (" — an extrapolation beyond the largest scratch size."
                                                              if r["extrapolated"] else "."))
    fg = t[(t["n_train"] == n) & t["forgetting"].notna() & (t["strategy"] != baseline)]
    if len(fg) > 1:
        most, least = fg.loc[fg["forgetting"].idxmax()], fg.loc[fg["forgetting"].idxmin()]
        out.append(f"Forgetting at N={n}: {most['strategy']} forgets most ({_f(most['forgetting'])} of the probe), "
                   f"{least['strategy']} least ({_f(least['forgetting'])}).")
    return out, t
