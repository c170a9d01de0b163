"""Two experiments side by side (e.g. two base models on the same data): each one's answer per training-set size,
and a table of every (strategy, N) both measured, with the difference and whether it is clear."""
from __future__ import annotations

import json
import math

import pandas as pd
import plotly.graph_objects as go

from training.analysis.decision import default_margin, equivalence, independent_difference
from training.analysis.figures import _base
from training.analysis.style import color


def describe(a) -> str:
    """One line naming what an experiment compared: its name, base model and data."""
    return f"{a.exp.name} — base {a.config['model']['base']}, data {a.config['data']['source']}"


def _task_words(task: str) -> str:
    from training.tasks import known

    kind = known(task)
    return kind.title.lower() if kind is not None else task


def _listed(names: list, most: int = 4) -> str:
    shown = ", ".join(map(str, names[:most]))
    return f"{len(names)} classes ({shown}{', …' if len(names) > most else ''})"


def pairing_problem(a, b) -> str | None:
    """Why two experiments (store rows: config and plan info) cannot be set side by side, in words naming both; None
    when they can — the same task, the same classes (the same target, for a regression), whatever their data or
    model. A table model against an image model both scored in accuracy once read "A clearly better": their numbers
    answer different questions, so no difference between them is a finding."""
    ca, cb = json.loads(a.config_json), json.loads(b.config_json)
    if ca.get("task") != cb.get("task"):
        return (f"A ({a.name}) is {_task_words(ca.get('task'))} and B ({b.name}) is {_task_words(cb.get('task'))}: "
                "their scores answer different questions")
    la, lb = (json.loads(x.info_json or "{}").get("label_names") or [] for x in (a, b))
    if la and lb and sorted(map(str, la)) != sorted(map(str, lb)):
        return (f"A ({a.name}) predicts {_listed(la)} and B ({b.name}) predicts {_listed(lb)}: an accuracy over "
                "different classes is a different question")
    ta, tb = (x.get("data", {}).get("label_column") for x in (ca, cb))
    if not la and not lb and ta and tb and ta != tb:
        return (f"A ({a.name}) predicts {ta!r} and B ({b.name}) predicts {tb!r}: their errors are in different "
                "units")
    return None


def side_by_side(a, b) -> pd.DataFrame:
    """Per (strategy, N) measured in both: each mean with its 95% interval and seeds, the difference (b − a) with its
    interval, and the verdict by the decision's rule (as good within the margin, one clearly better, or undecided).
    Cells a fairness check failed are marked, never compared."""
    if a.summary.empty or b.summary.empty:
        return pd.DataFrame()
    bad_a = _failed(a)
    bad_b = _failed(b)
    margin, kind = ((a.recommendation.margin, a.recommendation.margin_kind) if getattr(a, "recommendation", None)
                    else default_margin(a.metric))
    rows = []
    both = a.summary.merge(b.summary, on=["strategy", "n_train"], suffixes=("_a", "_b"))
    for r in both.itertuples(index=False):
        ca = {"mean": r.mean_a, "low": r.low_a, "high": r.high_a, "seeds": r.seeds_a}
        cb = {"mean": r.mean_b, "low": r.low_b, "high": r.high_b, "seeds": r.seeds_b}
        failed = (r.strategy, int(r.n_train)) in bad_a | bad_b
        d = independent_difference(cb, ca, a.higher_is_better, abs(r.mean_a) if kind == "relative" else 1.0)
        raw = independent_difference(cb, ca, True)  # B − A in the metric's own units, for the table's columns
        place = {"better": "B clearly better", "worse": "A clearly better"}.get(equivalence(d, margin),
                                                                              equivalence(d, margin))
        rows.append({"strategy": r.strategy, "n_train": int(r.n_train), "metric_a": r.mean_a,
                     "low_a": r.low_a, "high_a": r.high_a, "seeds_a": int(r.seeds_a), "metric_b": r.mean_b,
                     "low_b": r.low_b, "high_b": r.high_b, "seeds_b": int(r.seeds_b),
                     "difference": r.mean_b - r.mean_a,
                     "difference_low": math.nan if raw is None else raw.low,
                     "difference_high": math.nan if raw is None else raw.high,
                     "verdict": "a fairness check failed" if failed else
                     {"the same": f"the same within ±{margin:g}" if kind == "absolute" else
                      f"the same within ±{margin * 100:g}%",
                      "undecided": "undecided (intervals too wide)"}.get(place, place)})
    return pd.DataFrame(rows)


def _failed(a) -> set:
    return {(f["strategy"], int(f["n_train"])) for f in a.findings
            if f["severity"] == "failure" and f.get("strategy") and f.get("n_train") is not None}


def side_by_side_figure(a, b, label_a: str, label_b: str) -> go.Figure:
    """Both experiments' data-needs lines on one chart: A solid, B dashed, one colour per strategy."""
    fig = go.Figure()
    for exp, label, dash in ((a, label_a, "solid"), (b, label_b, "dash")):
        for strategy, g in exp.summary.groupby("strategy", sort=False):
            g = g.sort_values("n_train")
            fig.add_trace(go.Scatter(x=g["n_train"], y=g["mean"], mode="lines+markers", name=f"{label}: {strategy}",
                                     line=dict(color=color(strategy), width=3, dash=dash),
                                     customdata=g[["low", "high", "seeds"]].to_numpy(),
                                     hovertemplate="N=%{x}<br>mean %{y:.3f}<br>95%% CI %{customdata[0]:.3f}–"
                                                   "%{customdata[1]:.3f}<br>%{customdata[2]} seed(s)<extra>"
                                                   + f"{label}: {strategy}</extra>"))
    fig.update_xaxes(type="log")
    return _base(fig, f"Data needs, {label_a} (solid) and {label_b} (dashed)", "training examples (log scale)", a.metric)
