"""The decision report: self-contained HTML (Plotly inlined once, opens with no network) and Markdown.

Both carry the config, the environment (device, library versions, git commit), the figures (HTML) or
their tables (Markdown), and the verdict — all computed by `training.analysis`, as the pages show them.
"""
from __future__ import annotations

import html
import json
import platform
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from training.analysis import figures as F
from training.analysis.cost import cost_to_target, pretraining_cost, with_pretraining
from training.analysis.decision import DecisionTable
from training.analysis.fairness import check_runs, check_search, reference_summary
from training.analysis.forecast import BACKTEST_NAMES, CROSSOVER_NAMES, backtest_table, crossover_table, has_pretrained
from training.analysis.frames import CHECKPOINTS, at_checkpoint, metrics_frame, references_frame, runs_frame
from training.analysis.generations import SPLIT_WORDS, base_answers, generations_frame, rouge_table, side_by_side
from training.analysis.recommend import rule
from training.analysis.record import constraint_lines, record_answer
from training.analysis.stats import summarise
from training.analysis.tables import (
    compute_table,
    forgetting_table,
    from_scratch,
    lr_search_table,
    overfitting_table,
    primary_metric,
)
from training.analysis.units import human_number, human_time, probe_skill, readable, shown_source
from training.analysis.units import plain as _plain
from training.analysis.verdict import conclude
from training.service.lr_search import is_proportion
from training.service.policy import redact
from training.service.records import Decision, Experiment
from training.service.store import Store
from training.tasks import task_kind


@dataclass
class Analysis:
    """Everything the Compare page and the report show for one experiment."""
    exp: Experiment
    config: dict
    runs: pd.DataFrame
    metrics: pd.DataFrame
    metric_col: str
    metric: str
    higher_is_better: bool
    summary: pd.DataFrame
    compute: pd.DataFrame
    forgetting: pd.DataFrame
    overfitting: pd.DataFrame
    verdict: list[str]
    verdict_table: pd.DataFrame
    lr_sweep: pd.DataFrame
    target: float | None
    to_target: pd.DataFrame
    pretrain: dict | None
    references: pd.DataFrame
    """The reference baselines, mean over seeds per size (empty for causal LMs)."""
    findings: list[dict]
    """Fairness checks: failures (left out of the verdict) and warnings, each with what to change."""
    checkpoint: str
    """Which checkpoint of each run is scored: `best` (lowest validation loss) or `end`."""
    info: dict
    recommendation: DecisionTable | None = None
    """The one decision per size (`decision.decide`), its sentences rendered (`recommend.render`): the
    recommendation, and the table the verdict, the fairness checks' "too wide" and the decision record render."""
    decision: Decision | None = None
    """The team's decision record, if one was started."""
    decision_answer: dict | None = None
    """What satisfies the record's constraints (see `record.record_answer`)."""
    generations: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Chat: every grid run's answers to held-out and general prompts (`generations.generations_frame`)."""


def analyse(store: Store, exp_id: str, price_per_hour: float = 0.0, target: float | None = None,
            checkpoint: str = "final", margin: float | None = None) -> Analysis:
    """Every table, the verdict and the inputs of every figure for one experiment. `target`: the validation value whose
    cost to reach is priced (default `default_target`). `checkpoint`:
    score each run's final model (its end, or its best checkpoint where validation shows that one clearly better),
    its best checkpoint, or its end (see `frames.CHECKPOINTS`); the verdict's table shows the end and the best.
    `margin`: the equivalence margin of the decision (default `decision.MARGINS` for the metric)."""
    exp = store.experiment(exp_id)
    cfg = store.experiment_config(exp_id)
    info = exp.info
    all_runs, metrics = runs_frame(store, exp_id), metrics_frame(store, exp_id)
    grid = all_runs[all_runs["role"] == "grid"]
    best_runs = at_checkpoint(grid, "best")
    runs = at_checkpoint(grid, checkpoint, metrics)
    metrics = metrics[metrics["run_id"].isin(set(runs["run_id"]))]
    refs = references_frame(store, exp_id)
    metric_col, metric, higher = primary_metric(cfg.task)
    bounded = metric == "accuracy"
    summary = summarise(runs, metric_col, bounded=bounded) if not runs.empty else pd.DataFrame()
    end = summarise(grid, metric_col, bounded=bounded) if not grid.empty else pd.DataFrame()
    best = summarise(best_runs, metric_col, bounded=bounded) if not grid.empty else pd.DataFrame()
    lr_table = lr_search_table(all_runs, info.get("lr_search", {}), metric, higher)
    findings = check_runs(runs, metrics, refs, summary, info, metric, higher, margin=margin) if not runs.empty else []
    findings += check_search(lr_table, findings, summary)
    pre = pretraining_cost(all_runs, runs)
    compute = with_pretraining(compute_table(runs, price_per_hour), pre, runs) if not runs.empty else pd.DataFrame()
    forgetting = forgetting_table(runs) if not runs.empty else pd.DataFrame()
    overfit = overfitting_table(metrics) if not metrics.empty else pd.DataFrame()
    if target is None:
        target = default_target(metrics, metric, higher)
    to_target = pd.DataFrame()
    if target is not None and not metrics.empty:
        extra = {s: pre["flops"] for s in set(runs.loc[~from_scratch(runs), "strategy"])} if pre else None
        to_target = cost_to_target(runs, metrics, f"val/{metric}", target, higher, price_per_hour, extra)
    progress = (int(grid["status"].isin(["done", "failed", "cancelled"]).sum()), len(grid))
    probe = forgetting["probe"].iloc[0] if not forgetting.empty else None
    text, decided, facts, findings = conclude(runs, refs, summary, metric, higher, compute, forgetting, findings, end=end,
                                              best=best, progress=progress, probe=probe, planned_seeds=len(cfg.seeds),
                                              margin=margin)
    vt = shown_table(facts, decided)
    record = store.decision(exp_id)
    answer = record_answer(decided, record.constraints, price_per_hour) if record is not None and decided.sizes else None
    return Analysis(exp, cfg.to_dict(), runs, metrics, metric_col, metric, higher, summary, compute, forgetting,
                    overfit, text, vt, lr_table, target,
                    to_target, pre, reference_summary(refs), findings, checkpoint, info, decided, record, answer,
                    generations_frame(store, exp_id) if task_kind(cfg.task).generations else pd.DataFrame())


def default_target(metrics: pd.DataFrame, metric: str, higher: bool) -> float | None:
    """The 'cost to reach' target when none is given: 95% of the best strategy's validation value at the largest size
    (105% for a lower-is-better metric), each run at its best validation reading, averaged over seeds. From
    validation, the readings the cost is counted on — a target taken from the eval set (it was) can lie beyond every
    validation reading, where every row said "0/1"."""
    val = metrics[metrics["key"] == f"val/{metric}"] if not metrics.empty else metrics
    val = val[np.isfinite(val["value"].astype(float))] if not val.empty else val
    if val.empty:
        return None
    val = val[val["n_train"] == val["n_train"].max()]
    per_run = val.groupby(["strategy", "run_id"])["value"].agg("max" if higher else "min")
    best = per_run.groupby("strategy").mean()
    return float(best.max() * 0.95) if higher else float(best.min() * 1.05)


def shown_table(facts: pd.DataFrame, decided: DecisionTable) -> pd.DataFrame:
    """The verdict's table as shown: each cell's facts with the decision's interval (references included), its
    difference to the best with that interval, and its place (best, as good, undecided, below the best…)."""
    if facts.empty:
        return facts
    d = decided.table()
    if d.empty:
        return facts
    cols = ["strategy", "n_train", "low", "high", "vs_best_low", "vs_best_high", "relation"]
    t = facts.drop(columns=["metric_low", "metric_high"]).merge(d[cols], on=["strategy", "n_train"], how="left")
    t = t.rename(columns={"low": "metric_low", "high": "metric_high"})
    if decided.margin_kind == "relative":  # the sentences print these as percentages: so does the table
        t[["vs_best_low", "vs_best_high"]] = t[["vs_best_low", "vs_best_high"]] * 100
    if t["forgetting"].isna().all():  # nothing pretrained to forget (a table's scratch alone): no empty column
        t = t.drop(columns=["forgetting"])
    order = ["strategy", "n_train", "metric", "metric_low", "metric_high", "seeds", "vs_best_low", "vs_best_high",
             "relation", "metric_end", "metric_best", "flops", "wall_s", "forgetting", "status"]
    return t[[c for c in order if c in t]]


def table_names(a: Analysis) -> dict:
    """The verdict table's column headers, in the experiment's metric and margin."""
    unit = "" if a.recommendation is None or a.recommendation.margin_kind == "absolute" else " (% of the best)"
    return {**TABLE_NAMES, "metric": f"{a.metric} ({a.checkpoint})", "vs_best_low": TABLE_NAMES["vs_best_low"] + unit,
            "vs_best_high": TABLE_NAMES["vs_best_high"] + unit}


TABLE_NAMES = {"vs_best_low": "difference to the best, 95% low", "vs_best_high": "difference to the best, 95% high",
               "relation": "decision", "metric_end": "at end", "metric_best": "at best checkpoint"}


def recommended_cells(a: Analysis) -> list[tuple[int, float, str]]:
    """(N, mean, what) of the decision's pick at each size: the stars on the data-needs chart."""
    d = a.recommendation
    out = []
    for s in d.sizes if d is not None else []:
        c = s.cell(s.recommended) if s.recommended else None
        if c is not None:
            out.append((s.n_train, c.mean, c.strategy.removeprefix("reference: ")))
    return out


def figures(a: Analysis, x: str = "examples") -> list[tuple[str, go.Figure]]:
    """(note key, figure) in report order; figures without data are left out."""
    out = []
    if not a.summary.empty:
        out.append(("data_needs", F.data_needs_figure(a.summary, a.metric, a.references, recommended_cells(a))))
    if not a.metrics.empty:
        out.append(("curves", F.curves_figure(a.metrics, x=x)))
        probe_keys = [k for k in a.metrics["key"].unique() if k.startswith("probe/")]
        if probe_keys:
            base = a.forgetting["baseline"].iloc[0] if not a.forgetting.empty else None
            out.append(("probe", F.probe_figure(a.metrics, probe_keys[0], base, x=x)))
    if not a.forgetting.empty:
        out.append(("forgetting", F.forgetting_figure(a.forgetting)))
        out.append(("tradeoff", F.tradeoff_figure(a.runs, a.metric_col, a.metric, a.higher_is_better)))
    return out


def environment(a: Analysis) -> dict:
    done = a.runs[a.runs["status"] == "done"] if not a.runs.empty else a.runs

    def first(col):
        vals = done[col].dropna().unique().tolist() if not done.empty else []
        return ", ".join(map(str, vals)) or "n/a"

    return {"device": first("device_name"), "torch": first("torch"), "transformers": first("transformers"),
            "python": platform.python_version(), "git commit": git_commit(),
            "generated": human_time(time.time())}


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def markdown_table(df: pd.DataFrame, rename: dict | None = None) -> str:
    """The table for people (units, "—" where a value does not apply; see `units.readable`)."""
    if df.empty:
        return ""
    t = readable(df, rename)
    cols = [_cell(c) for c in t.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in t.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _cell(text) -> str:
    """A table cell as typed (`plain`: a strategy's, class's or file's name, a run's error), on one line."""
    return _plain(text).replace("  \n", " ")


def _html_table(df: pd.DataFrame, rename: dict | None = None) -> str:
    if df.empty:
        return ""
    t = readable(df, rename)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
                   for row in t.itertuples(index=False))
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_HELD = 0xE000
"""Escaped marks (`plain`'s `\\[`) are held as private-use characters while bold and code are found, then written as
the characters they are."""


def _html_text(note: str) -> str:
    """Markdown-lite sentences as HTML: escaped, **bold** and `code` rendered (never shown as literal marks); a mark
    escaped by `plain` (stored text inside a sentence) is the character it is, never markup."""
    held = _ESCAPED.sub(lambda m: chr(_HELD + ord(m.group(1))), note)
    return re.sub("[\ue000-\ue07f]", lambda m: html.escape(chr(ord(m.group(0)) - _HELD)), _markup(held))


def _markup(note: str) -> str:
    escaped = html.escape(note)
    parts = escaped.split("**")
    bolded = "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
    if bolded.count("`") % 2:  # an odd backtick is a character, not code
        return bolded
    pieces = bolded.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def search_note(a: Analysis) -> str:
    """How the learning rates were chosen, in words (Compare and the report say the same)."""
    rungs: dict[tuple, list[str]] = {}
    for label, s in (a.info.get("lr_search") or {}).items():
        if s.get("status") == "planned" and "rung" in s and "steps" in s and s.get("label", label) == label:
            rungs.setdefault((s["rung"], s["steps"]), []).append(label)
    where = ("its first rung (" + "; ".join(f"{', '.join(labels)}: step {r} of {t}" for (r, t), labels in sorted(rungs.items()))
             + ")" if rungs else "its rung")
    searched = [s for s in (a.info.get("lr_search") or {}).values() if s.get("options_by_run")]
    running = not a.lr_sweep.empty and not a.lr_sweep["status"].isin(["done", "failed", "cancelled"]).all()
    proportion = is_proportion(a.metric)
    return (("**The search is still running: no rate is chosen yet.** " if running else "")
            + "Each candidate rate" + (" (with each regularisation tried beside it: `settings`)" if searched else "")
            + f" started the grid run at the search's size and seed; at {where} the rate whose best validation "
            f"{a.metric} so far was best won"
            + (" — readings within one standard error of the best (what the validation set cannot tell apart) tie, and "
               "the lower validation loss there decides. A rung never chooses by noise: where no rate was clearly above "
               "the majority class (two standard errors) the rates trained on to the next rung (×3, `rung` says how far "
               "each was sent) and the strategy's default was kept if the last rung was still at chance; where every "
               "rate was tied, the default was kept" if proportion else " (validation loss breaks ties)")
            + "; its run continued as that grid run, the others stopped, and the strategy's other grid runs trained at "
            "the winning rate. A rate whose "
            "training loss climbed or became NaN stopped at once. A search is reused by later experiments with the same "
            "data, model and settings; the built-in presets ship theirs.")


def setup_lines(a: Analysis) -> list[str]:
    """How the comparison was made fair, in words: eval and validation sets, scored checkpoint, learning rates,
    budgets."""
    d = a.info.get("data", {})
    eval_from = (f"{_plain(shown_source(d['eval_source']))} (the user's own test set)" if d.get("eval_source")
                 else "a held-out split of the data")
    lines = [f"Eval: {d.get('eval_rows', 0):,} examples from {eval_from}; it chose nothing. Learning rates, early stopping "
             f"and best checkpoints were chosen on {d.get('validation_rows', 0):,} validation examples held out of training."
             if d else "Eval and validation sets: not recorded for this experiment.",
             f"Runs are scored by their {CHECKPOINTS[a.checkpoint]}."]
    if d.get("note"):
        lines.append("Data: " + _plain(d["note"]))  # it names the user's columns and files
    sources = a.info.get("lr_source") or {}
    if sources:
        lines.append("Learning rates: " + ", ".join(f"{s} {src}" for s, src in sources.items()) + ".")
    plateau = [s for s, on in (a.info.get("until_plateau") or {}).items() if on]
    if plateau:
        b = a.config["budget"]
        lines.append(f"{', '.join(plateau)} trained until validation loss stopped improving ({b['patience']} evaluations "
                     f"without a new best), at most {b['plateau_cap']:g}× the budget policy's steps.")
    return lines


def check_lines(a: Analysis) -> list[str]:
    if not a.findings:
        return ["No check failed."]
    return [f"{'FAILED' if f['severity'] == 'failure' else 'Warning'}: {f['message']} {f['advice']}" for f in a.findings]


def sections(a: Analysis) -> list[tuple[str, str, pd.DataFrame, dict | None]]:
    """(heading, note, table, column renames) after the verdict, in report order; a section whose table is empty is
    left out, so a report never prints an empty section."""
    metric_names = {"metric": f"{a.metric} ({a.checkpoint})", "mean": a.metric}
    forgetting = a.forgetting
    if "note" in forgetting and not forgetting["note"].astype(bool).any():
        forgetting = forgetting.drop(columns=["note"])  # no scratch row: nothing to say
    out = [("Data needs", F.note("data_needs", a.config), a.summary, metric_names),
           ("Compute", F.note("compute", a.config), a.compute, None),
           (f"Cost to reach {a.metric} {human_number(a.target)}", COST_NOTE, a.to_target, None),
           ("Learning-rate search", search_note(a), a.lr_sweep, None),
           ("Forgetting", forgetting_note(a), forgetting, FORGETTING_COLUMNS),
           ("Overfitting", F.note("overfitting", a.config),
            a.overfitting.drop(columns=["run_id"], errors="ignore"), None)]
    if has_pretrained(a.config):  # a table's scratch alone has nothing to catch up with
        out[1:1] = crossover_sections(a)
    out[1:1] = answer_sections(a)
    if a.metric == "rmse":
        out.insert(1, ("R² (share of the target's variance explained)", R2_NOTE, r2_table(a), None))
    return [sec for sec in out if not sec[2].empty]


CROSSOVER_HEADING = "Where scratch catches up"


def crossover_note(a: Analysis) -> str:
    """The crossover section's note: the curve this experiment's metric gets, how to read it, and the forecast's own
    notes (what is missing for a backtest)."""
    fc = a.recommendation.forecast if a.recommendation is not None else None
    form = f"The curve here: {fc.form}. " if fc is not None and fc.form else ""
    return form + F.note("crossover", a.config) + "".join(f" {n}" for n in (fc.notes if fc is not None else []))


def crossover_sections(a: Analysis) -> list[tuple[str, str, pd.DataFrame, dict | None]]:
    """Where each strategy trained from random weights is forecast to reach each pretrained one's level, and the
    forecast checked on itself (the backtest)."""
    fc = a.recommendation.forecast if a.recommendation is not None else None
    return [(CROSSOVER_HEADING, crossover_note(a), crossover_table(fc), CROSSOVER_NAMES),
            (f"{CROSSOVER_HEADING}: the forecast checked on itself", BACKTEST_NOTE, backtest_table(fc), BACKTEST_NAMES)]


BACKTEST_NOTE = ("Each strategy's curve refitted on every size but its largest, then asked to predict the largest: the "
                 "95% interval counts the fit's noise and the measured value's own. A measured value outside it means "
                 "the curve bends where these sizes cannot see: read the forecasts as rough.")


R2_NOTE = ("1 − the squared error over the eval rows' own spread around their mean: 1 predicts every row exactly, 0 is "
           "no better than always answering the mean, below 0 is worse. Mean and 95% interval over seeds, at the same "
           "checkpoint as the RMSE.")


def r2_table(a: Analysis) -> pd.DataFrame:
    """Regression: R² per strategy and size (mean and 95% interval over seeds) at the same checkpoint as the metric."""
    col = a.metric_col.replace("rmse", "r2")
    if a.runs.empty or col not in a.runs or not pd.to_numeric(a.runs[col], errors="coerce").notna().any():
        return pd.DataFrame()
    return summarise(a.runs, col).rename(columns={"mean": "R²"})


FORGETTING_COLUMNS = {"baseline": "untouched base's probe score", "final": "probe score at end",
                      "forgetting": "forgetting (base − end)"}


ANSWERS_NOTE = ("Greedy answers of each strategy's final model to the same held-out prompts, beside the reference "
                "answer. ROUGE-L counts overlapping words with the reference; it misses whether an answer is right, so "
                "read them.")
GENERAL_NOTE = ("The same general prompts, outside the fine-tuning data, answered by the base model before training and "
                "by each strategy's model after: what the fine-tuning kept of the base model's general ability.")


def answer_sections(a: Analysis) -> list[tuple[str, str, pd.DataFrame, dict | None]]:
    """Chat: ROUGE-L per strategy and size, the eval prompts' answers side by side at every size (first seed), and
    the general prompts' answers before and after at the largest size."""
    g = a.generations
    if g.empty:
        return []
    seed = int(g["seed"].min())
    sizes = sorted(g["n_train"].unique())
    out = [("ROUGE-L of the final answers", "Mean ROUGE-L F1 of each strategy's final answers to up to 32 held-out eval "
            "prompts, over seeds.", rouge_table(g), None)]
    out += [(f"Answers side by side — {SPLIT_WORDS['eval']}, N={int(n):,}, seed {seed}", ANSWERS_NOTE,
             side_by_side(g, "eval", int(n), seed, "final"), None) for n in sizes]
    out.append((f"Answers side by side — {SPLIT_WORDS['general']}, N={int(sizes[-1]):,}, seed {seed}", GENERAL_NOTE,
                side_by_side(g, "general", int(sizes[-1]), seed, before=base_answers(g)), None))
    return out


COST_NOTE = ("Mean over the seeds whose validation metric reached the target, at their first evaluation at or past it; "
             "'seeds reached' counts them.")


def forgetting_note(a: Analysis) -> str:
    probe = a.forgetting["probe"].iloc[0] if not a.forgetting.empty else None
    what = (f"The skill tested: {probe_skill(probe)} — {probe_skill(probe, long=True)}, on data none of the runs "
            "trained on. " if probe else "")
    return what + F.note("forgetting", a.config)


def recommendation_lines(a: Analysis) -> list[str]:
    rec = a.recommendation
    if rec is None or not rec.sizes:
        return [rec.notice] if rec is not None and rec.notice else ["No recommendation yet: it appears when runs finish."]
    return rec.sentences + [rule(rec)]


def decision_lines(a: Analysis, markdown: bool = True) -> list[str]:
    """The decision record in words: question, constraints, the computed answer, comments, sign-off. `markdown`: the
    people's own words (question, comments, names) escaped for Markdown; the HTML report escapes them its own way."""
    d = a.decision
    if d is None:
        return []
    plain = _plain if markdown else str
    lines = [f"Question: {plain(d.question)}",
             "Constraints: " + ("; ".join(constraint_lines(d.constraints, a.metric, a.higher_is_better)) or "none set"),
             "Answer (computed from the runs): " + (a.decision_answer["sentence"] if a.decision_answer
                                                     else "no finished runs to decide from yet.")]
    lines += [f"Comment by {plain(c.author)} ({human_time(c.at)}): {plain(c.body)}" for c in d.comments]
    if d.signoff_by:
        signed = (d.signed or {}).get("sentence")
        lines.append(f"Signed off by {plain(d.signoff_by)} on {human_time(d.signoff_at)}"
                     + (f", approving: {plain(signed)}" if signed else "."))  # stored text: a bundle brings its own
    else:
        lines.append("Not signed off yet.")
    return lines


def markdown_report(a: Analysis) -> str:
    env = environment(a)
    out = [f"# Head Start report — {_plain(a.exp.name)}", "", f"Experiment `{a.exp.id}`, task {_plain(a.config['task'])}, "
           f"base {_plain(a.config['model']['base'])}, data {_plain(shown_source(a.config['data']['source']))}.", "",
           "## Recommendation", ""]
    out += [f"- {line}" for line in recommendation_lines(a)] + [""]
    if a.decision is not None:
        out += ["## Decision record", ""] + [f"- {line}" for line in decision_lines(a)] + [""]
    out += [f"- {line}" for line in setup_lines(a)] + ["", "## Is this comparison fair?", ""]
    out += [f"- {line}" for line in check_lines(a)] + ["", "## Verdict", ""]
    out += [f"- {s}" for s in a.verdict] + ["", markdown_table(a.verdict_table, table_names(a))]
    for heading, note, table, rename in sections(a):
        out += [f"## {heading}", "", note, "", markdown_table(table, rename)]
    out += ["## Environment", ""] + [f"- {k}: {_plain(v)}" for k, v in env.items()]
    out += ["", "## Config", "", "```json", json.dumps(a.config, indent=2), "```", "",
            "Figures are in the HTML report.", ""]
    return redact("\n".join(out))  # a report leaves the process: no token in a path or a config survives


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;
color:#1b1b1b}table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}td,th{border:1px solid #ccc;
padding:.25rem .5rem;text-align:right}th{background:#f3f3f3}.note{color:#444;font-size:.95rem}
.verdict{background:#f6f8fa;border-left:4px solid #0072B2;padding:.75rem 1rem}pre{background:#f6f8fa;padding:1rem;
overflow:auto}.wide{overflow-x:auto;max-width:100%}th{white-space:normal;vertical-align:bottom}
@media print{table{font-size:.7rem}.wide{overflow:visible}}"""
"""A wide table (the verdict's, 12+ columns) scrolls inside its box on screen and shrinks on paper: it ran off the
page."""


def html_report(a: Analysis) -> str:
    env = environment(a)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Head Start — {html.escape(a.exp.name)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>Head Start report — {html.escape(a.exp.name)}</h1>",
             f"<p>Experiment <code>{a.exp.id}</code>, task {a.config['task']}, base <code>"
             f"{html.escape(a.config['model']['base'])}</code>, data "
             f"<code>{html.escape(shown_source(a.config['data']['source']))}</code>.</p>",
             "<h2>Recommendation</h2><div class='verdict'><ul>"
             + "".join(f"<li>{_html_text(line)}</li>" for line in recommendation_lines(a)) + "</ul></div>",
             ("<h2>Decision record</h2><ul>" + "".join(f"<li>{_html_text(line)}</li>" for line in decision_lines(a, False))
              + "</ul>") if a.decision is not None else "",
             "<ul>" + "".join(f"<li>{_html_text(line)}</li>" for line in setup_lines(a)) + "</ul>",
             "<h2>Is this comparison fair?</h2><ul>" + "".join(f"<li>{_html_text(line)}</li>" for line in check_lines(a))
             + "</ul>",
             "<h2>Verdict</h2><ul>" + "".join(f"<li>{_html_text(s)}</li>" for s in a.verdict)
             + "</ul>", _html_table(a.verdict_table, table_names(a))]
    parts = [redact(p) for p in parts]  # a report leaves the process: no token in a path or a config survives
    for i, (key, fig) in enumerate(figures(a)):  # (not Plotly's own script, which redaction's patterns would break)
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_height="480px"))
        parts.append(f"<p class='note'>{_html_text(F.note(key, a.config))}</p>")
    for heading, note, table, rename in sections(a):
        parts += [redact(p) for p in (f"<h2>{html.escape(heading)}</h2>", f"<p class='note'>{_html_text(note)}</p>",
                                      _html_table(table, rename))]
    parts += [redact(p) for p in [
        "<h2>Environment</h2><ul>" + "".join(f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in env.items())
        + "</ul>", "<h2>Config</h2><pre>" + html.escape(json.dumps(a.config, indent=2)) + "</pre></body></html>"]]
    return "\n".join(parts)
