"""The verdict: a few plain sentences and the table they come from. `verdict_table` gathers each cell's facts (mean and
interval at the scored checkpoint, at the end and at the best checkpoint, seeds, cost, forgetting, status, and the
references); `training.analysis.decision` decides from them once, and `verdict` only renders that decision — every
number in a sentence is a cell of the table, every comparison is the interval of a difference against the one
margin. A (strategy, size) cell that failed a fairness check (see `fairness`) is named as failed and never used to
draw a conclusion."""
from __future__ import annotations

import math

import pandas as pd

from training.analysis.decision import REFERENCE_PREFIX, DecisionTable, decide, samples
from training.analysis.fairness import failed_cells, reference_summary, undecided_findings
from training.analysis.forecast import (
    EVAL_AND_SEEDS,
    EVAL_ONLY,
    REACH,
    SEEDS_ONLY,
    Forecast,
    forecast,
    interval_words,
    scratch_arms,
)
from training.analysis.recommend import code_name, fmt, fmt_diff, interval, margin_size, render, versus
from training.analysis.units import human_estimate


def verdict_table(summary: pd.DataFrame, compute: pd.DataFrame, forgetting: pd.DataFrame,
                  end: pd.DataFrame | None = None, findings: list[dict] | None = None,
                  refs: pd.DataFrame | None = None, metric: str = "accuracy", best: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (strategy, N): metric mean and interval at the analysed checkpoint, the means at the end of training and
    at the best checkpoint, seeds, FLOPs, wall seconds, forgetting, and the cell's status; then the references."""
    t = summary.rename(columns={"mean": "metric", "low": "metric_low", "high": "metric_high"})
    if "strategy" not in t:  # nothing finished with a number (every run failed)
        t = pd.DataFrame(columns=["strategy", "n_train", "metric", "metric_low", "metric_high", "seeds"])
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
    have = {(s, int(n)) for s, n in zip(t["strategy"], t["n_train"], strict=True)} if not t.empty else set()
    gone = [{"strategy": s, "n_train": n, "metric": math.nan, "metric_low": math.nan, "metric_high": math.nan,
             "seeds": 0} for (s, n) in bad if n is not None and (s, n) not in have]  # every run failed: no mean
    if gone:  # still a row of the table, so the decision names it as failed
        t = pd.concat([t, pd.DataFrame(gone)], ignore_index=True) if not t.empty else pd.DataFrame(gone)
        for col in ("metric_end", "metric_best", "flops", "wall_s", "forgetting"):
            t[col] = t[col] if col in t else math.nan
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


def _failed_sentence(strategy: str, ns: list[int], findings: list[dict]) -> str:
    kinds = {f["kind"] for f in findings if f["strategy"] == strategy and f["severity"] == "failure"}
    what = ("learned nothing (not clearly above the trivial baseline)" if kinds == {"at_majority"} else
            "failed its runs" if kinds == {"failed"} else "diverged" if kinds <= {"loss_rose", "no_metric"} else
            "got worse with more data" if kinds == {"not_monotone"} else "failed the checks above")
    sizes = " and ".join(f"N={n:,}" for n in ns)
    return (f"{strategy} {what} at {sizes}: no conclusion is drawn from {'it' if len(ns) == 1 else 'those runs'} — "
            "see the checks above for why and what to change.")


def conclude(runs: pd.DataFrame, refs: pd.DataFrame | None, summary: pd.DataFrame, metric: str, higher: bool,
             compute: pd.DataFrame | None = None, forgetting: pd.DataFrame | None = None,
             findings: list[dict] | None = None, end: pd.DataFrame | None = None, best: pd.DataFrame | None = None,
             progress: tuple[int, int] | None = None, probe: str | None = None,
             planned_seeds: int | None = None, margin: float | None = None
             ) -> tuple[list[str], DecisionTable, pd.DataFrame, list[dict]]:
    """The whole path from finished runs to words: the cells' facts (`verdict_table`), the one decision (`decide`,
    its sentences rendered), where scratch catches up (`forecast.forecast`, from the same samples and the decision's
    passed cells), the fairness checks' "too wide to decide" rendered from it, and the verdict.
    Returns (verdict sentences, decision, facts table, findings with the undecided warnings added)."""
    findings = list(findings or [])
    empty = pd.DataFrame()
    facts = (verdict_table(summary, compute if compute is not None else empty,
                           forgetting if forgetting is not None else empty, end, findings, refs, metric, best)
             if not (summary.empty and not findings) else empty)
    sample_of = samples(runs, refs, f"eval_{metric}")
    decided = render(decide(facts, sample_of, metric, higher, margin, progress, probe, planned_seeds))
    decided.forecast = forecast(decided, sample_of, scratch_arms(runs))
    findings += undecided_findings(decided)
    return verdict(decided, findings, planned_seeds), decided, facts, findings


def verdict(decision: DecisionTable, findings: list[dict] | None = None, planned_seeds: int | None = None,
            baseline: str = "scratch") -> list[str]:
    """The verdict's sentences, rendered from the decision table: failures named, the best against scratch with the
    interval of their difference, who is as good at each size, the references, where scratch catches up (and the
    forecast's check on itself) and forgetting."""
    findings = findings or []
    d = decision
    out: list[str] = [d.notice] if d.notice else []
    cells = failed_cells(findings)
    ok = [c for s in d.sizes for c in s.cells if c.kind == "strategy" and c.status == "ok"]
    for s in dict.fromkeys(s for s, _ in sorted(cells)):
        out.append(_failed_sentence(s, sorted(n for c, n in cells if c == s), findings))
    if not ok:
        return out or ["No finished runs yet: the verdict appears when runs finish."]
    if max(c.seeds for c in ok) < 2:
        out.append("One seed per cell" + (f" has finished so far (of {planned_seeds})" if planned_seeds and planned_seeds > 1
                                          else "") + ": each cell's interval below is the eval set's sampling noise — how much "
                   "the score would move on other examples like these; the differences that decide also assume a "
                   "typical seed-to-seed spread, not measured here; add seeds to measure it.")
    sizes = [s for s in d.sizes if s.best is not None]
    leads, lead_over = {}, baseline
    for s in ([sizes[0], sizes[-1]] if len(sizes) > 1 else sizes):
        best = s.cell(s.best)
        base = next((c for c in s.cells if c.kind == "strategy" and c.strategy.split("×")[0] == baseline), None)
        n = f"N={s.n_train:,}"
        if base is not None and base.status != "ok":
            out.append(f"At {n}, {who(best)} is best with {d.metric} {fmt(best.mean)} ({interval(best)}); there is no "
                       f"comparison with {base.strategy} at this size: its runs failed the checks above.")
        elif base is None or base is best:
            out.append(f"At {n}, {who(best)} is best with {d.metric} {fmt(best.mean)} ({interval(best)}).")
        else:
            scale = abs(best.mean) if d.margin_kind == "relative" and best.mean else 1.0
            sign = 1.0 if d.higher_is_better else -1.0
            lead_over = base.strategy
            leads[s.n_train] = (-base.vs_best.mean if base.vs_best is not None
                                else sign * (best.mean - base.mean) / scale)  # in the margin's units, positive = ahead
            said = {"as good": f"{base.strategy} is as good (the difference's interval is not below −{margin_size(d)})",
                    "below the best": f"{who(best)} is clearly better",
                    "undecided": "too close or too noisy to tell apart"}[base.relation]
            out.append(f"At {n}, {who(best)} reaches {d.metric} {fmt(best.mean)} ({interval(best)}) against "
                       f"{base.strategy}'s {fmt(base.mean)} ({interval(base)}); {base.strategy}'s difference to the best: "
                       f"{versus(base, d)} — "
                       f"{said}.")
    if len(leads) == 2:
        (small, a), (large, b) = sorted(leads.items())
        out.append(f"The best strategy's lead over {lead_over}: {fmt_diff(a, d.margin_kind)} at N={small:,}, "
                   f"{fmt_diff(b, d.margin_kind)} at N={large:,} (in the margin's units).")
    if len(d.sizes) > 1 and len({c.strategy for c in ok}) > 1:
        out.append("Best by training-set size: " + "; ".join(
            f"N={s.n_train:,} → {who(s.cell(s.best))}" + "".join(f", {w}: {', '.join(map(code_name, xs))}" for w, xs in
                                                    (("as good", s.as_good), ("undecided", s.undecided)) if xs)
            for s in sizes) + f" (as good: the difference's interval not below −{margin_size(d)}).")
    out += _reference_sentences(d)
    out += _crossover_sentences(d)
    out += _forgetting_sentences(d, baseline)
    return out


def who(c) -> str:
    """A cell as the verdict names it: a strategy by its code, a reference as "the classical NAME"."""
    return code_name(c.strategy)


def _reference_sentences(d: DecisionTable) -> list[str]:
    """The classical references at every size — candidates like any strategy: their relation to the best, rendered
    from the table's reference cells."""
    parts = []
    for s in d.sizes:
        best = s.cell(s.best) if s.best else None
        for c in s.cells:
            if c.kind != "reference" or c.relation in ("trivial baseline", "reference") or c.status != "ok":
                continue
            name = c.strategy.removeprefix(REFERENCE_PREFIX)
            if c is best:
                parts.append(f"N={s.n_train:,}: {name} {fmt(c.mean)} — the best of every candidate")
            elif best is not None and c.vs_best is not None:
                parts.append(f"N={s.n_train:,}: {name} {fmt(c.mean)} vs the best ({who(best)}) {fmt(best.mean)}, "
                             f"difference {versus(c, d)} — {c.relation}")
            else:
                parts.append(f"N={s.n_train:,}: {name} {fmt(c.mean)} ({c.relation})")
    if not parts:
        return []
    return [f"Classical references, candidates like any strategy ({d.metric}; the cheapest of what cannot be told "
            "from the best is recommended, and a classical model costs seconds of CPU): " + "; ".join(parts) + "."]



def _forgetting_sentences(d: DecisionTable, baseline: str) -> list[str]:
    if not d.sizes:
        return []
    s = d.sizes[-1]
    fg = [c for c in s.cells if c.kind == "strategy" and c.status == "ok" and math.isfinite(c.forgetting)
          and c.strategy.split("×")[0] != baseline]  # scratch never had the base model's skill: nothing to forget
    if len(fg) < 2:
        return []
    most, least = max(fg, key=lambda c: c.forgetting), min(fg, key=lambda c: c.forgetting)
    seeds = _seeds_each([c.seeds for c in fg])
    if most.forgetting <= 0:  # every probe reading is at or better than the base's
        return [f"Forgetting at N={s.n_train:,}: none measured — every strategy's probe is at or better than the base "
                f"model's ({least.strategy} {fmt(-least.forgetting)} better, {most.strategy} {fmt(-most.forgetting)}); "
                f"{seeds}."]
    return [f"Forgetting at N={s.n_train:,}: {most.strategy} forgets most ({fmt(most.forgetting)} of the probe), "
            f"{least.strategy} least ({fmt(least.forgetting)}); {seeds}."]


NOISE_WORDS = {EVAL_AND_SEEDS: "eval and seed noise", EVAL_ONLY: "eval noise only, one seed",
               SEEDS_ONLY: "seed noise only, no per-example eval outcomes stored"}
"""How a sentence says which noise an interval counts (other entries' `noise` are said as they are)."""


def _crossover_sentences(d: DecisionTable) -> list[str]:
    """Where scratch catches up, at the largest size: each strategy trained from random weights against the best
    pretrained strategy there (one sentence), and the forecast's check on itself (one more), rendered from
    `d.forecast`."""
    fc: Forecast | None = d.forecast
    largest = next((fc.at(s.n_train) for s in reversed(d.sizes) if fc.at(s.n_train)), []) if fc else []
    if not largest:
        return []
    sign = 1.0 if d.higher_is_better else -1.0
    best = max(largest, key=lambda e: sign * e["level"] if math.isfinite(e["level"]) else -math.inf)["target"]
    out = ["; ".join(_crossover_clause(e, d.metric) for e in largest if e["target"] == best) + "."]
    checks = fc.backtest
    if checks:  # a strategy from random weights first, and of those one outside its interval first
        pick = min(checks, key=lambda b: (b["strategy"] not in {e["scratch"] for e in largest}, b["covered"]))
        inside = sum(b["covered"] for b in checks)
        out.append(f"Checked on itself: from the smaller sizes, {pick['strategy']} at N={pick['n_train']:,} was forecast "
                   f"{fmt(pick['predicted'])} ({fmt(pick['low'])}–{fmt(pick['high'])}); measured {fmt(pick['measured'])}"
                   + (" — inside the interval" if pick["covered"] else " — outside it: read the forecast as rough")
                   + (f" ({inside} of {len(checks)} strategies' checks inside their intervals)." if len(checks) > 1
                      else "."))
    return out


def _crossover_clause(e: dict, metric: str) -> str:
    at = f"{e['target']}'s {metric} at N={e['n_train']:,}" + (f" ({fmt(e['level'])})" if math.isfinite(e["level"])
                                                              else "")
    noise = NOISE_WORDS.get(e["noise"], e["noise"])
    if e["status"] == "forecast":
        return (f"{e['scratch']} is forecast to reach {at} at about N ≈ {human_estimate(e['n'])} (95% interval "
                f"{interval_words(e)}; {noise})")
    if e["status"] == "already":
        return f"{e['scratch']} already reaches {at}: {e['why']}"
    if e["status"] == "beyond":
        start = (f"; its 95% interval starts at about N ≈ {human_estimate(e['low'])}" if math.isfinite(e["low"])
                 else "")
        return (f"{e['scratch']} is not forecast to reach {at} within {REACH}× your largest size ({e['why']}{start}; "
                f"{noise}): too far past the sizes measured to say where")
    return f"where {e['scratch']} reaches {at} cannot be forecast from these sizes: {e['why']}"
