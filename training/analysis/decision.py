"""A decision record's answer: which strategy satisfies the constraints a team set, at each training-set size —
computed from the verdict table, with intervals, so the record says what was measured and how sure it is.

Constraints (all optional): `min_metric` (the eval metric a strategy must reach; for a lower-is-better metric, the
most it may reach), `max_minutes` (training time per run), `max_cost` (dollars per run at the page's price),
`max_forgetting` (drop in the base model's probe skill), `n_available` (labelled examples the team has: the
answer at the largest measured size not above it is the one that applies).

A strategy *meets* the metric constraint when its whole 95% interval does, *may meet* it when only its mean does
(more seeds would tell), and fails it otherwise. Among the strategies that meet every constraint, the answer is
chosen by the recommendation's rule (the cheapest of those not clearly worse than the best)."""
from __future__ import annotations

import pandas as pd

from training.analysis.recommend import recommend
from training.analysis.units import human_seconds, plain_name
from training.service.records import check_constraints


def constraint_lines(constraints: dict, metric: str, higher: bool) -> list[str]:
    c = constraints
    lines = []
    if "min_metric" in c:
        lines.append(f"{metric} {'at least' if higher else 'at most'} {c['min_metric']:.3f} (its whole 95% interval)")
    if "max_minutes" in c:
        lines.append(f"at most {c['max_minutes']:g} min of training per run")
    if "max_cost" in c:
        lines.append(f"at most ${c['max_cost']:g} per run")
    if "max_forgetting" in c:
        lines.append(f"forgetting at most {c['max_forgetting']:.3f}")
    if "n_available" in c:
        lines.append(f"{c['n_available']:,} labelled examples available")
    return lines


def decide(vt: pd.DataFrame, constraints: dict, metric: str, higher: bool, price_per_hour: float = 0.0) -> dict:
    """{"rows": per size [{n_train, answer, meets, may_meet, fails: {strategy: reason}}], "applies_at": the size the
    team's data matches (or None), "sentence": the answer in words}."""
    c = check_constraints(constraints)
    sign = 1 if higher else -1
    ok = vt[(vt["status"] == "ok") & ~vt["strategy"].str.startswith("reference: ")] if not vt.empty else vt
    rows = []
    for n in sorted(int(x) for x in ok["n_train"].unique()) if not ok.empty else []:
        meets, may, fails = [], [], {}
        for r in ok[ok["n_train"] == n].itertuples(index=False):
            why = []
            if "min_metric" in c:
                low = r.metric_low if higher else r.metric_high
                whole = low if not pd.isna(low) else r.metric
                if sign * (r.metric - c["min_metric"]) < 0:
                    why.append(f"{metric} {r.metric:.3f} misses {c['min_metric']:.3f}")
                elif sign * (whole - c["min_metric"]) < 0:
                    may.append(r.strategy)
            if "max_minutes" in c and not pd.isna(r.wall_s) and r.wall_s / 60 > c["max_minutes"]:
                why.append(f"{human_seconds(r.wall_s)} of training per run")
            if "max_cost" in c and not pd.isna(r.wall_s) and r.wall_s / 3600 * price_per_hour > c["max_cost"]:
                why.append(f"${r.wall_s / 3600 * price_per_hour:.4f} per run")
            pretrained = not str(r.strategy).startswith("scratch")  # scratch has no base-model skill to forget
            if "max_forgetting" in c and pretrained and not pd.isna(r.forgetting) and r.forgetting > c["max_forgetting"]:
                why.append(f"forgets {r.forgetting:.3f}")
            if why:
                fails[r.strategy] = ", ".join(why)
                if r.strategy in may:
                    may.remove(r.strategy)
            elif r.strategy not in may:
                meets.append(r.strategy)
        answer = None
        if meets:
            rec = recommend(vt[(vt["n_train"] == n) & vt["strategy"].isin(meets)], metric, higher)
            answer = rec.rows[0] if rec.rows else None
        rows.append({"n_train": n, "answer": answer, "meets": meets, "may_meet": may, "fails": fails})
    applies = None
    if "n_available" in c and rows:
        below = [r["n_train"] for r in rows if r["n_train"] <= c["n_available"]]
        applies = max(below) if below else None
    return {"rows": rows, "applies_at": applies, "constraints": c,
            "sentence": _sentence(rows, applies, c, metric)}


def _sentence(rows: list[dict], applies: int | None, c: dict, metric: str) -> str:
    if not rows:
        return "No finished runs passed the fairness checks yet: nothing to decide from."
    if "n_available" in c and applies is None:
        return (f"The team has {c['n_available']:,} labelled examples, fewer than the smallest size measured "
                f"({rows[0]['n_train']:,}): this experiment cannot answer for that much data.")
    at = [r for r in rows if applies is None or r["n_train"] == applies]
    parts = []
    for r in at:
        a = r["answer"]
        if a is not None:
            ci = (f"95% CI {a['low']:.3f}–{a['high']:.3f}, {a['seeds']} seeds" if a["seeds"] >= 2
                  and not pd.isna(a["low"]) else "1 seed, no interval")
            parts.append(f"At N={r['n_train']:,}: {plain_name(a['strategy'])} (`{a['strategy']}`) meets every "
                         f"constraint — {metric} {a['mean']:.3f} ({ci}).")
        elif r["may_meet"]:
            parts.append(f"At N={r['n_train']:,}: no strategy surely meets them; "
                         f"{', '.join(plain_name(s) for s in r['may_meet'])} may (its mean does, its 95% interval does "
                         "not) — add seeds to decide.")
        else:
            parts.append(f"At N={r['n_train']:,}: no strategy meets the constraints ("
                         + "; ".join(f"{s}: {why}" for s, why in r["fails"].items()) + ").")
    return " ".join(parts)
