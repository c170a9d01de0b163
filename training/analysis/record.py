"""A decision record's answer: which strategy satisfies the constraints a team set, at each training-set size —
rendered from the decision table (`decision.decide`), with its intervals, so the record says what was measured and
how sure it is, and never disagrees with the recommendation beside it.

Constraints (all optional): `min_metric` (the eval metric a strategy must reach; for a lower-is-better metric, the
most it may reach), `max_minutes` (training time per run), `max_cost` (dollars per run at the page's price),
`max_forgetting` (drop in the base model's probe skill), `n_available` (labelled examples the team has: the
answer at the largest measured size not above it is the one that applies).

A strategy *meets* the metric constraint when its whole 95% interval does, *may meet* it when only its mean does
(more seeds would tell; also when it has no interval at all), and fails it otherwise. The constraints are about
training runs (minutes, forgetting), so the answer is a strategy: the recommended one where it meets every
constraint; else the cheapest of those the table calls as good as the best that meets them; else the best-scoring one
that meets them, said to be below (or not separable from) the best. Where the recommendation is a classical
reference, the answer says so beside the strategy that meets the constraints."""
from __future__ import annotations

import pandas as pd

from training.analysis.decision import REFERENCE_PREFIX, DecisionTable
from training.analysis.recommend import fmt, interval, versus
from training.analysis.tables import FROM_SCRATCH
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


def record_answer(decided: DecisionTable, constraints: dict, price_per_hour: float = 0.0) -> dict:
    """{"rows": per size [{n_train, answer (a cell of the decision table, or None), meets, may_meet, fails: {strategy:
    reason}}], "applies_at": the size the team's data matches (or None), "sentence": the answer in words}."""
    c = check_constraints(constraints)
    metric, higher = decided.metric, decided.higher_is_better
    sign = 1 if higher else -1
    rows = []
    for s in decided.sizes:
        meets, may, fails = [], [], {}
        for cell in s.cells:
            if cell.kind != "strategy" or cell.status != "ok":
                continue
            why = []
            if "min_metric" in c:
                low = cell.low if higher else cell.high
                if sign * (cell.mean - c["min_metric"]) < 0:
                    why.append(f"{metric} {cell.mean:.3f} misses {c['min_metric']:.3f}")
                elif pd.isna(low) or sign * (low - c["min_metric"]) < 0:  # no interval: the mean alone may mislead
                    may.append(cell.strategy)
            if "max_minutes" in c and not pd.isna(cell.wall_s) and cell.wall_s / 60 > c["max_minutes"]:
                why.append(f"{human_seconds(cell.wall_s)} of training per run")
            if "max_cost" in c and not pd.isna(cell.wall_s) and cell.wall_s / 3600 * price_per_hour > c["max_cost"]:
                why.append(f"${cell.wall_s / 3600 * price_per_hour:.4f} per run")
            pretrained = cell.strategy.split("×")[0] not in FROM_SCRATCH  # no base-model skill to forget
            if ("max_forgetting" in c and pretrained and not pd.isna(cell.forgetting)
                    and cell.forgetting > c["max_forgetting"]):
                why.append(f"forgets {cell.forgetting:.3f}")
            if why:
                fails[cell.strategy] = ", ".join(why)
                if cell.strategy in may:
                    may.remove(cell.strategy)
            elif cell.strategy not in may:
                meets.append(cell.strategy)
        answer = _reference_answer(s, c, sign) or _answer(s, meets, sign)
        rows.append({"n_train": s.n_train, "answer": answer, "meets": meets, "may_meet": may, "fails": fails, "size": s})
    applies = None
    if "n_available" in c and rows:
        below = [r["n_train"] for r in rows if r["n_train"] <= c["n_available"]]
        applies = max(below) if below else None
    return {"rows": rows, "applies_at": applies, "constraints": c,
            "sentence": _sentence(rows, applies, c, decided)}


def _reference_answer(s, c: dict, sign: int):
    """The recommended classical reference, where it meets the constraints that apply to it: the metric (its whole
    interval), and the time and cost ones trivially — it trains in seconds of CPU and has no base model to forget."""
    if s.recommended_kind != "reference":
        return None
    ref = s.cell(s.recommended)
    if "min_metric" in c:
        low = ref.low if sign > 0 else ref.high
        if pd.isna(low) or sign * (low - c["min_metric"]) < 0:
            return None
    return ref


def _answer(s, meets: list[str], sign: int):
    """The table's recommendation if it meets every constraint; else the cheapest as-good one that does; else the
    best-scoring one that does (its place against the best is said with it)."""
    if not meets:
        return None
    if s.recommended in meets:
        return s.cell(s.recommended)
    group = [x for x in [s.best, *s.as_good] if x in meets]
    if group:
        return min((s.cell(x) for x in group), key=lambda c: (c.flops if c.flops == c.flops and c.flops > 0
                                                               else float("inf"), -sign * c.mean))
    return max((s.cell(x) for x in meets), key=lambda c: sign * c.mean)


def _sentence(rows: list[dict], applies: int | None, c: dict, decided: DecisionTable) -> str:
    if not rows or not any(r["answer"] or r["meets"] or r["may_meet"] or r["fails"] for r in rows):
        return "No finished runs passed the fairness checks yet: nothing to decide from."
    if "n_available" in c and applies is None:
        return (f"The team has {c['n_available']:,} labelled examples, fewer than the smallest size measured "
                f"({rows[0]['n_train']:,}): this experiment cannot answer for that much data.")
    metric = decided.metric
    at = [r for r in rows if applies is None or r["n_train"] == applies]
    parts = []
    for r in at:
        a, s = r["answer"], r["size"]
        if a is not None:
            who = (f"the classical {a.strategy.removeprefix(REFERENCE_PREFIX)}" if a.kind == "reference"
                   else f"{plain_name(a.strategy)} (`{a.strategy}`)")
            text = f"At N={r['n_train']:,}: {who} meets every constraint — {metric} {fmt(a.mean)} ({interval(a)})."
            if a.strategy != s.recommended and s.recommended:
                rec = s.cell(s.recommended)
                what = (rec.strategy.removeprefix(REFERENCE_PREFIX) if rec.kind == "reference"
                        else f"{plain_name(rec.strategy)}")
                place = {"as good": "as good as the best", "best": "the best", "undecided":
                         "not separable from the best", "below the best": "below the best"}.get(a.relation, a.relation)
                text += (f" The recommendation without constraints is {what}; this one is {place}"
                         + (f" (difference {versus(a, decided)})." if a.vs_best is not None else "."))
            parts.append(text)
        elif r["may_meet"]:
            parts.append(f"At N={r['n_train']:,}: no strategy surely meets them; "
                         f"{', '.join(plain_name(x) for x in r['may_meet'])} may (its mean does, its 95% interval does "
                         "not) — add seeds to decide.")
        else:
            parts.append(f"At N={r['n_train']:,}: no strategy meets the constraints ("
                         + "; ".join(f"{x}: {why}" for x, why in r["fails"].items()) + ").")
    return " ".join(parts)
