"""The recommendation: for each training-set size, which strategy to use, by how much it wins, what it costs and
forgets, and how sure we are — derived from the verdict table only, so every number in it is a table cell.

The rule, stated on the page: among the strategies whose runs passed the fairness checks, take the best by the
eval metric; every strategy whose 95% interval overlaps the best's (2+ seeds each) is *as good*; recommend the
one of those that costs the fewest training FLOPs. A classical reference that scores at least as well is named
first, since it costs seconds. With one seed there are no intervals, so the answer is marked indicative."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from training.analysis.stats import clearly_different
from training.analysis.units import human_flops, human_seconds, plain_name, probe_skill


@dataclass
class Recommendation:
    notice: str | None
    """Partial results (k of n runs) while runs are going; None when every run has finished."""
    rows: list[dict] = field(default_factory=list)
    """Per size: n_train, strategy, mean, low, high, seeds, as_good (list), vs_scratch, flops, wall_s, forgetting,
    sure (clear / tied / indicative / none), sentence."""

    @property
    def sentences(self) -> list[str]:
        return ([self.notice] if self.notice else []) + [r["sentence"] for r in self.rows]


def _cell(t: pd.DataFrame, strategy: str, n: int) -> dict | None:
    r = t[(t["strategy"] == strategy) & (t["n_train"] == n)]
    if r.empty:
        return None
    r = r.iloc[0].to_dict()
    return {**r, "mean": r["metric"], "low": r["metric_low"], "high": r["metric_high"],
            "seeds": int(r["seeds"]) if not pd.isna(r["seeds"]) else 1}


def _f(x: float) -> str:
    return f"{x:.3f}"


def _ci(c: dict) -> str:
    k = c["seeds"]
    if k >= 2 and not (pd.isna(c["low"]) or pd.isna(c["high"])):
        return f"95% CI {_f(c['low'])}–{_f(c['high'])}, {k} seeds"
    return "1 seed, no interval"


def recommend(vt: pd.DataFrame, metric: str, higher: bool, progress: tuple[int, int] | None = None,
              probe: str | None = None, planned_seeds: int | None = None) -> Recommendation:
    """See the module docstring. `vt`: the verdict table (with its reference rows); `progress`: (finished, total)
    grid runs; `probe`: the forgetting probe's key; `planned_seeds`: seeds per cell in the config."""
    notice = None
    if progress is not None and progress[0] < progress[1]:
        notice = (f"Partial results ({progress[0]} of {progress[1]} runs finished): the recommendation covers the "
                  "finished runs only and will change as the rest finish.")
    rec = Recommendation(notice)
    if vt is None or vt.empty:
        return rec
    sign = 1 if higher else -1
    refs = vt[vt["strategy"].str.startswith("reference: ")]
    ok = vt[(vt["status"] == "ok")]
    for n in sorted(int(x) for x in vt.loc[~vt["strategy"].str.startswith("reference: "), "n_train"].unique()):
        at = ok[ok["n_train"] == n]
        if at.empty:
            rec.rows.append({"n_train": n, "strategy": None, "sure": "none",
                             "sentence": f"**N={n:,}:** no recommendation — every finished run at this size failed the "
                                         "fairness checks above (or none has finished)."})
            continue
        best = _cell(at, at.loc[(at["metric"] * sign).idxmax(), "strategy"], n)
        cells = {s: _cell(at, s, n) for s in at["strategy"]}
        as_good = [s for s, c in cells.items() if s != best["strategy"] and min(c["seeds"], best["seeds"]) >= 2
                   and not clearly_different(best, c)]
        group = [best["strategy"], *as_good]
        costs = {s: cells[s].get("flops") for s in group}
        known = all(c is not None and not pd.isna(c) and c > 0 for c in costs.values())
        pick = min(group, key=lambda s: (costs[s], -sign * cells[s]["mean"])) if known else best["strategy"]
        c = cells[pick]
        ref = _best_reference(refs, n, sign)
        classical = (ref is not None and "majority" not in ref["strategy"] and sign * (ref["metric"] - c["mean"]) >= 0)
        if classical:
            parts = [f"**N={n:,}: use the classical {ref['strategy'].removeprefix('reference: ')}** — {metric} "
                     f"{_f(ref['metric'])} for seconds of CPU; no neural strategy beats it at this size. Best neural: "
                     f"{plain_name(pick)} (`{pick}`), {_f(c['mean'])} ({_ci(c)})"]
        else:
            parts = [f"**N={n:,}: use {plain_name(pick)}** (`{pick}`) — {metric} {_f(c['mean'])} ({_ci(c)})"]
        scratch = cells.get("scratch")
        vs_scratch = None
        if pick != "scratch" and scratch is not None:
            vs_scratch = sign * (c["mean"] - scratch["mean"])
            clear = min(c["seeds"], scratch["seeds"]) >= 2 and clearly_different(c, scratch)
            parts.append(f", {_f(abs(vs_scratch))} {_better(vs_scratch >= 0, higher)} training from scratch "
                         f"({_f(scratch['mean'])}{'' if clear else '; intervals overlap'})")
        elif pick == "scratch":
            others = [s for s in cells if s != "scratch"]
            if others:
                o = max(others, key=lambda s: sign * cells[s]["mean"])
                parts.append(f", {_f(abs(c['mean'] - cells[o]['mean']))} "
                             f"{_better(sign * (c['mean'] - cells[o]['mean']) >= 0, higher)} the best "
                             f"pretrained strategy ({plain_name(o)}, {_f(cells[o]['mean'])})")
        parts.append(".")
        if pick != best["strategy"]:
            ratio = c["flops"] / cells[best["strategy"]]["flops"]
            parts.append(f" {plain_name(best['strategy']).capitalize()} scores {_f(best['mean'])}, not clearly "
                         f"better (95% intervals overlap), for {1 / ratio:.1f}× the training compute.")
        elif as_good:
            parts.append(f" As good within the 95% intervals: {', '.join(plain_name(s) for s in as_good)}.")
        cost = []
        if not pd.isna(c.get("wall_s")):
            cost.append(f"{human_seconds(c['wall_s'])} of training per run")
        if not pd.isna(c.get("flops")):
            cost.append(f"{human_flops(c['flops'])}")
        if cost:
            parts.append(f" Cost: {', '.join(cost)}.")
        fg = c.get("forgetting")
        if fg is not None and not pd.isna(fg) and pick != "scratch":
            parts.append(f" Forgetting: the base model's {probe_skill(probe)} score drops by {_f(fg)}." if fg > 0.005
                         else f" Forgetting: none measurable in the base model's {probe_skill(probe)} ({_f(fg)}).")
        if c["seeds"] < 2:
            sure, how = "indicative", (" How sure: indicative only — 1 seed finished, so no interval"
                                      + (f"; the other {planned_seeds - 1} seeds will give one." if planned_seeds
                                         and planned_seeds > 1 else "; add seeds for 95% intervals."))
        elif len(cells) == 1:
            sure, how = "clear", f" How sure: {c['seeds']} seeds, but it is the only strategy finished at this size."
        elif pick == best["strategy"] and not as_good:
            sure, how = "clear", f" How sure: clearly ahead of every other strategy at {c['seeds']} seeds."
        else:
            sure, how = "tied", (" How sure: not separable from the others named, at "
                                 f"{min(cells[s]['seeds'] for s in group)} seeds — chosen as the cheapest of them.")
        parts.append(how)
        rec.rows.append({"n_train": n, "strategy": pick, "mean": c["mean"], "low": c["low"], "high": c["high"],
                         "seeds": c["seeds"], "as_good": [s for s in group if s != pick], "vs_scratch": vs_scratch,
                         "flops": c.get("flops"), "wall_s": c.get("wall_s"), "forgetting": fg, "sure": sure,
                         "classical": ref["strategy"].removeprefix("reference: ") if classical else None,
                         "sentence": "".join(parts)})
    return rec


def _better(better: bool, higher: bool) -> str:
    if higher:
        return "above" if better else "below"
    return "lower (better) than" if better else "higher (worse) than"


def _best_reference(refs: pd.DataFrame, n: int, sign: int) -> dict | None:
    at = refs[(refs["n_train"] == n) & refs["metric"].notna()]
    if at.empty:
        return None
    r = at.loc[(at["metric"] * sign).idxmax()]
    return r.to_dict() if not math.isnan(r["metric"]) else None
