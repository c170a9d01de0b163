"""Fairness checks: the ways a comparison can go silently wrong, stated in words with what to change.

Each check returns findings — {kind, severity, strategy, n_train, message, advice}. A `failure` marks a
(strategy, size) cell the verdict must not draw a conclusion from: runs that failed, runs that learned
nothing (at or below the majority class), runs whose training loss went up, a baseline curve that falls
as data grows. A `warning` qualifies a conclusion without voiding it: an interval too wide to decide, a
run that was still improving at its cap, a learning rate nobody tuned on this data.

"Not clearly above the trivial baseline" and "gets worse with more data" use the decision's one comparison
(`decision.difference`: the 95% interval of a paired difference); "too wide to decide" is rendered from the decision
table's undecided cells (`undecided_findings`). No check here has a threshold of its own for a metric's noise.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from training.analysis.decision import DecisionTable, default_margin, difference, samples
from training.analysis.recommend import code_name, fmt, margin_size
from training.analysis.tables import FROM_SCRATCH
from training.analysis.units import plain

ROSE = 0.10
"""Training loss ending more than this (relative) above its first logged value means training went wrong."""


def _finding(kind: str, severity: str, strategy: str | None, n: int | None, message: str, advice: str) -> dict:
    return {"kind": kind, "severity": severity, "strategy": strategy, "n_train": None if n is None else int(n),
            "message": message, "advice": advice}


def reference_summary(refs: pd.DataFrame) -> pd.DataFrame:
    """Mean of each reference over seeds, per size: reference, name, n_train, accuracy, macro_f1, loss (rmse, mae, r2
    for a regression), eval_examples."""
    cols = ["accuracy", "macro_f1", "loss", "rmse", "mae", "r2", "eval_examples"]
    if refs.empty:
        return pd.DataFrame(columns=["reference", "name", "n_train", *cols])
    refs = refs.reindex(columns=[c for c in refs.columns] + [c for c in cols if c not in refs.columns])
    return refs.groupby(["reference", "name", "n_train"], as_index=False)[cols].mean()


def _why_no_learning(strategy: str, n: int, runs: pd.DataFrame, info: dict) -> str:
    """What to change, from how the cell's runs were set up: the learning rate's origin and how training ended.
    When both were already done right, the setup is not what held the run back, and the advice says so."""
    source = (info.get("lr_source") or {}).get(strategy)
    g = runs[(runs["strategy"] == strategy) & (runs["n_train"] == n) & (runs["status"] == "done")]
    lr = g["lr"].dropna().iloc[0] if g["lr"].notna().any() else None
    lr_text = f"{lr:.2g}" if lr is not None else "?"
    fixes = []
    if source == "fixed":
        fixes.append(f"Its learning rate is fixed at {lr_text}: let the search pick one (\"Search each strategy's "
                     "learning rate\" on New experiment; in a config, remove its `lr`).")
    elif source == "default":
        fixes.append(f"Its learning rate {lr_text} is a built-in default nobody tuned on this data: turn the "
                     "learning-rate search on (\"Search each strategy's learning rate\" on New experiment).")
    plateau = bool(g["until_plateau"].eq(True).any()) if "until_plateau" in g else False
    improving = g[(g["best_step"] == g["steps"]) & ~g["stopped_early"].eq(True)] if plateau else g.iloc[0:0]
    if not plateau:
        fixes.append("It trained for the budget's fixed steps: let it train until it stops improving (\"Train scratch "
                     "until it stops improving\" on New experiment; `until_plateau: true` in a config) or train it "
                     "longer (\"Also run scratch k× longer\"; `budget_multiplier`).")
    elif not improving.empty:
        fixes.append(f"{len(improving)} of {len(g)} seed(s) were still improving at the step cap: raise "
                     "budget.plateau_cap.")
    if fixes:
        return " ".join(fixes)
    text = (f"It trained at its searched learning rate ({lr_text}) until it stopped improving, so the setup is not "
            "what held it back.")
    if strategy.split("×")[0] in FROM_SCRATCH:
        text += (f" A randomly initialised network usually needs far more than N={n:,} examples: read the fine-tuned "
                 "runs against the reference lines (the trivial baseline and the classical model) instead, or add larger sizes.")
    return text


def check_runs(runs: pd.DataFrame, metrics: pd.DataFrame, refs: pd.DataFrame, summary: pd.DataFrame, info: dict,
               metric: str, higher_is_better: bool, baseline: str = "scratch", margin: float | None = None) -> list[dict]:
    """Every finding for one experiment's grid (runs at the analysed checkpoint)."""
    out: list[dict] = []
    # -- runs that failed outright --------------------------------------------------------------------
    for (strategy, n), g in runs.groupby(["strategy", "n_train"], sort=True):
        failed = g[g["status"] == "failed"]
        if not failed.empty:
            error = failed["error"].dropna().iloc[0] if failed["error"].notna().any() else "no message"
            out.append(_finding("failed", "failure", strategy, n,
                                f"{strategy} at N={n:,}: {len(failed)} of {len(g)} run(s) failed — {plain(error)}",
                                "Open the run on Live for its error; the verdict leaves this cell out."))
    # -- runs that finished without a number (a diverged language model's NaN perplexity) ----------------------------
    col = f"eval_{metric}"
    if col in runs:
        done = runs[runs["status"] == "done"]
        for (strategy, n), g in done.groupby(["strategy", "n_train"], sort=True):
            bad = g[~np.isfinite(pd.to_numeric(g[col], errors="coerce").astype(float))]
            if not bad.empty:
                out.append(_finding("no_metric", "failure", strategy, n,
                                    f"{strategy} at N={n:,}: {len(bad)} of {len(g)} finished run(s) have no finite "
                                    f"{metric} — training diverged (the loss became NaN or infinite).",
                                    "Lower its learning rate (or let the search choose it) and check its curves on Live; "
                                    "the verdict leaves this cell out."))
    # -- not clearly above the trivial baseline (majority class; training mean for a regression) ---------------------
    sample_of = samples(runs, refs, f"eval_{metric}")
    default, kind = default_margin(metric)
    margin = default if margin is None else margin
    trivial_at = {n: (name, s) for (name, n), s in sample_of.items() if s.code in ("majority", "mean")}
    for row in summary.itertuples():
        if row.n_train not in trivial_at or (row.strategy, row.n_train) not in sample_of:
            continue
        _, base = trivial_at[row.n_train]
        words = "the training mean" if base.code == "mean" else "the majority class"
        d = difference(sample_of[(row.strategy, row.n_train)], base, metric, higher_is_better,
                       abs(base.mean) if kind == "relative" else 1.0)
        if d is not None and d.low > 0:
            continue
        ahead = d.mean > 0 if d is not None else higher_is_better == (row.mean > base.mean)
        if d is None and ahead:
            continue  # no interval to judge by: a mean above the baseline is not called a failure
        gap = (f"; difference {d.mean:+.3f}, 95% CI {d.low:+.3f} to {d.high:+.3f}" if kind == "absolute" else
               f"; difference {d.mean:+.1%}, 95% CI {d.low:+.1%} to {d.high:+.1%}") if d is not None else ""
        out.append(_finding(
            "at_majority", "failure", row.strategy, row.n_train,
            f"{row.strategy} at N={row.n_train:,} is {'not clearly' if ahead else 'not'} better than {words}: "
            f"{metric} {fmt(row.mean)} against {fmt(base.mean)} for {words} "
            f"({row.seeds} seed{'s' if row.seeds != 1 else ''}{gap}). "
            + ("Its lead is within the noise: it has not shown that it learned anything beyond "
               + ("the average." if base.code == "mean" else "the class balance.") if ahead else
               "It learned nothing beyond " + ("the average." if base.code == "mean" else "the class balance.")),
            _why_no_learning(row.strategy, row.n_train, runs, info)))
    # -- training loss that went up -----------------------------------------------------------------------
    searched = info.get("lr_source") or {}
    if not metrics.empty:
        train = metrics[metrics["key"] == "train/loss"].sort_values("step")
        for run_id, g in train.groupby("run_id", sort=False):
            if len(g) >= 2 and g["value"].iloc[-1] > g["value"].iloc[0] * (1 + ROSE):
                r = runs[runs["run_id"] == run_id]
                if r.empty:
                    continue
                r = r.iloc[0]
                out.append(_finding(
                    "loss_rose", "failure", r["strategy"], r["n_train"],
                    f"{r['strategy']} at N={r['n_train']:,} (seed {r['seed']}): training loss went up from "
                    f"{g['value'].iloc[0]:.3f} to {g['value'].iloc[-1]:.3f} — training diverged.",
                    f"Lower its learning rate (now {r['lr']:.3g})"
                    + (" or let the learning-rate search choose it." if searched.get(r["strategy"]) != "searched" else ".")))
    # -- a curve that falls as data grows: the larger size clearly below the smaller one, by more than the margin -----
    learned_nothing = {(f["strategy"], f["n_train"]) for f in out if f["kind"] == "at_majority"}
    for strategy, g in summary.groupby("strategy", sort=False):
        g = g.sort_values("n_train").reset_index(drop=True)
        for i in range(1, len(g)):
            a, b = g.iloc[i - 1], g.iloc[i]
            if {(strategy, int(a["n_train"])), (strategy, int(b["n_train"]))} & learned_nothing:
                continue  # noise around nothing learned, already said
            sa, sb = sample_of.get((strategy, int(a["n_train"]))), sample_of.get((strategy, int(b["n_train"])))
            if sa is None or sb is None:
                continue
            d = difference(sb, sa, metric, higher_is_better, abs(sa.mean) if kind == "relative" else 1.0)
            if d is not None and d.high < 0 and d.mean < -margin:
                is_base = strategy.split("×")[0] == baseline
                out.append(_finding(
                    "not_monotone", "failure" if is_base else "warning", strategy, int(b["n_train"]),
                    f"{strategy} gets worse with more data: {metric} {a['mean']:.3f} at N={int(a['n_train']):,} but "
                    f"{b['mean']:.3f} at N={int(b['n_train']):,} (the 95% interval of the change lies below zero).",
                    "More data should not hurt; the larger runs are probably under-trained or diverging (check their "
                    "curves on Compare), or the learning rate suits only the smaller size."
                    + (" The scratch baseline's curve decides the comparison, so it is left out at this size."
                       if is_base else "")))
    # -- still improving at the cap -------------------------------------------------------------------------
    if "until_plateau" in runs:
        plateau = runs[(runs["status"] == "done") & runs["until_plateau"].eq(True)]
        for (strategy, n), g in plateau.groupby(["strategy", "n_train"], sort=True):
            capped = g[~g["stopped_early"].eq(True) & (g["best_step"] == g["steps"])]
            if not capped.empty:
                out.append(_finding(
                    "capped", "warning", strategy, n,
                    f"{strategy} at N={n:,}: {len(capped)} of {len(g)} seed(s) were still improving when they hit the "
                    f"cap of {int(capped['steps'].max()):,} steps.",
                    "Raise budget.plateau_cap so it trains until it stops improving; its numbers here are a lower bound."))
    # -- a model of its own that reads more of each example than the rest (own's bag of words: whole texts) ---------
    reads = {str(r["strategy"]): res.get("max_length") for r in runs.to_dict("records")
             if isinstance(res := r.get("result"), dict) and isinstance(res.get("max_length"), int)}
    if reads and len(set(reads.values())) > 1:
        least = min(reads.values())
        more = sorted(s for s, m in reads.items() if m > least)
        out.append(_finding(
            "input_length", "warning", None, None,
            f"{', '.join(more)} read up to {max(reads.values()):,} tokens of each example; the other strategies read "
            f"{least:,} (model.max_length). A bag of words costs little per token — TF-IDF, too, reads whole texts — "
            "so this is what training your own would really read, but the comparison is not on the same text.",
            f"To compare the pretrained models on the same text, raise model.max_length (now {least:,}); each of their "
            "steps then costs more."))
    # -- learning rates nobody tuned on this data -------------------------------------------------------
    untuned = sorted(s for s, src in (info.get("lr_source") or {}).items() if src == "default")
    if untuned:
        out.append(_finding(
            "untuned", "warning", None, None,
            f"{', '.join(untuned)} trained at built-in default learning rates that were measured on other data, "
            "not tuned on this one.",
            "Turn the learning-rate search on (lr_sweep) so each strategy is compared at its own best rate."))
    return out


def undecided_findings(decision: DecisionTable) -> list[dict]:
    """"Too wide to decide", rendered from the decision table: each candidate (a strategy or a classical reference)
    whose difference to the best has an interval too wide to say whether it is as good."""
    out = []
    for s in decision.sizes:
        for name in s.undecided:
            c = s.cell(name)
            v = c.vs_best
            who, best = code_name(name), code_name(s.best)
            span = ("there is no interval of its difference (one seed, and no per-example outcomes stored)" if v is None
                    else f"the interval of its difference to {best} spans "
                    + (f"{v.low:+.3f} to {v.high:+.3f}" if decision.margin_kind == "absolute" else
                       f"{v.low:+.1%} to {v.high:+.1%}"))
            seeds = (f" over {c.seeds} seed{'s' if c.seeds != 1 else ''}" if c.kind == "strategy" else "")
            out.append(_finding(
                "wide", "warning", name, s.n_train,
                f"{who} at N={s.n_train:,}: {span}{seeds} — too wide to tell whether it is as good as {best} (not "
                f"below −{margin_size(decision)}) or below it.",
                "More seeds or a larger eval set would decide: the New experiment page's preflight says how many"
                + ("; seeds that disagree this much can also mean an unstable learning rate." if c.seeds >= 2
                   and c.kind == "strategy" else ".")))
    return out


def failed_cells(findings: list[dict]) -> set[tuple[str, int]]:
    """(strategy, N) cells the verdict must not draw a conclusion from."""
    return {(f["strategy"], f["n_train"]) for f in findings if f["severity"] == "failure" and f["strategy"]}


def check_search(search: pd.DataFrame, findings: list[dict] | None = None,
                 summary: pd.DataFrame | None = None) -> list[dict]:
    """Warnings about the learning-rate search: a strategy whose chosen rate is the smallest or largest it tried
    (the best may lie beyond the grid), or whose every search run failed. Not for a strategy that learned
    nothing at any size (`findings`): which rate "won" among runs that all learned nothing means nothing."""
    out = []
    if search.empty:
        return out
    at_majority = {(f["strategy"], f["n_train"]) for f in findings or [] if f["kind"] == "at_majority"}
    sizes = summary.groupby("strategy")["n_train"].agg(set).to_dict() if summary is not None and not summary.empty else {}
    nothing = {s for s, ns in sizes.items() if ns and all((s, int(n)) in at_majority for n in ns)}
    for strategy, g in search.groupby("strategy", sort=False):
        if strategy in nothing:
            continue
        lrs = sorted(set(g["lr"]))
        chosen = g[g["chosen"]]
        if chosen.empty:
            if not g["status"].isin(["done", "failed", "cancelled"]).all():
                continue  # still searching
            out.append(_finding("search_failed", "warning", strategy, None,
                                f"every learning-rate search run of {strategy} failed.",
                                "Open them on Live for the error; try smaller rates (lr_sweep.lrs) or fix one (lr)."))
            continue
        lr = float(chosen["lr"].iloc[0])
        if len(lrs) >= 3 and lr in (lrs[0], lrs[-1]):
            edge = "smallest" if lr == lrs[0] else "largest"
            out.append(_finding(
                "search_edge", "warning", strategy, None,
                f"{strategy}'s learning-rate search chose the {edge} rate it tried ({lr:.2g} of "
                f"{', '.join(f'{x:.2g}' for x in lrs)}): its best rate may lie beyond the grid.",
                f"Search {'smaller' if edge == 'smallest' else 'larger'} rates too, e.g. lr_sweep.lrs: "
                f"{{{strategy.split('×')[0]}: [{', '.join(f'{x:.2g}' for x in _extend(lrs, edge))}]}}."))
    return out


def _extend(lrs: list[float], edge: str) -> list[float]:
    step = lrs[1] / lrs[0] if lrs[0] else 3.0
    return ([lrs[0] / step] + lrs) if edge == "smallest" else (lrs + [lrs[-1] * step])
