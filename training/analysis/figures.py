"""Plotly figures, each with a short "how to read this" note and what the literature usually finds.

Every figure takes the DataFrames of `frames`/`stats`/`tables` and returns a `go.Figure`; `note(key, config)` gives
the words under each, so the pages and the report print the same ones — chosen by the experiment's task kind, with a
sentence about a built-in dataset only where the experiment's data is that dataset.
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from training.analysis.pareto import pareto_frontier
from training.analysis.style import LAYOUT, color, dash
from training.analysis.tables import FROM_SCRATCH, from_scratch
from training.analysis.units import probe_skill
from training.tasks import Words, known
from training.tasks.words import HEAD_START, NOTES  # noqa: F401 — NOTES re-exported: the general notes

X_AXES = {"step": "optimizer steps", "examples": "training examples seen", "wall_s": "wall-clock seconds (training only)",
          "flops": "training FLOPs"}

SOURCE_NOTES = {
    "builtin:mnist-5k": {"data_needs": " These are handwritten digits: they look nothing like ImageNet photos, so "
                                       "expect a smaller head start than on product photos."},
    "builtin:digits-8x8": {"data_needs": " These are handwritten digits (8×8 pixels): they look nothing like ImageNet "
                                         "photos, so expect a smaller head start than on product photos."},
}
"""Per built-in dataset, words that hold only for that dataset: shown only when the experiment's data is it."""


def trivial_reference(config: Mapping) -> str | None:
    """The reference a run that learned nothing scores: the majority class, or the training mean for a regression;
    None where no reference runs (language models, or references turned off)."""
    kind = known(config.get("task") or "")
    if kind is None or kind.words.references is None or not config.get("references", True):
        return None
    return kind.words.trivial


def how_trained(config: Mapping) -> str:
    """One sentence on how this experiment's strategies trained — searched or fixed learning rates, scratch until it
    stopped improving or for fixed steps — from its config (it used to claim a search and a plateau rule that a user
    had switched off)."""
    strategies = [s if isinstance(s, Mapping) else {"name": s} for s in config.get("strategies") or []]
    if not strategies:
        return ""
    searched = config.get("lr_sweep", {}) is not None
    fixed = [s["name"] for s in strategies if s.get("lr") is not None]
    if searched and not fixed:
        rate = "at its own searched learning rate"
    elif searched:
        rate = f"at its own searched learning rate ({', '.join(fixed)} at a fixed one)"
    else:
        rate = "at a fixed learning rate (no search)"
    scratch = [s for s in strategies if s["name"] in FROM_SCRATCH]
    plateau = [s for s in scratch if s.get("until_plateau") is not False]
    if len(strategies) == 1:
        end = " until it stopped improving" if plateau else " for the budget's fixed steps" if scratch else ""
        return f" The network trained {rate}{end}."
    which = " and ".join(dict.fromkeys(s["name"] for s in scratch))
    end = (f", {which} until it stopped improving" if plateau else f", {which} for the budget's fixed steps like the rest"
           if scratch else "")
    return f" Every strategy trained {rate}{end}."


def data_needs_note(config: Mapping) -> str:
    """The data-needs note for this experiment's task kind: its band, its reference lines (where references ran)
    and its literature."""
    kind = known(config.get("task") or "")
    words = kind.words if kind is not None else Words(literature=HEAD_START)
    text = (words.read or NOTES["data_needs"]) + how_trained(config) + words.band
    if words.references and config.get("references", True):
        text += (f" Grey lines are references on the same subsets: {words.references}; a {words.network} at the "
                 "dashed line learned nothing.")
    return text + words.literature


def note(key: str, config: Mapping | None = None) -> str:
    """The note under a figure or table, in words that fit this experiment (its config as a dict): its task
    kind's reading and literature, and a sentence about a built-in dataset only where `data.source` is that
    dataset."""
    config = config or {}
    kind = known(config.get("task") or "")
    if key == "data_needs":
        text = data_needs_note(config)
    else:
        text = kind.words.notes.get(key, NOTES[key]) if kind is not None else NOTES[key]
    if kind is not None:
        text += kind.note(key, config)
    return text + SOURCE_NOTES.get((config.get("data") or {}).get("source") or "", {}).get(key, "")


def _base(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, **LAYOUT)
    return fig


REFERENCE_DASH = {"majority": "dash", "mean": "dash", "tfidf": "dot", "pixels": "dot", "gbdt": "dot",
                  "linear": "dashdot"}


def data_needs_figure(summary: pd.DataFrame, metric: str, references: pd.DataFrame | None = None,
                      picks: list[tuple[int, float, str]] | None = None) -> go.Figure:
    """Metric vs training-set size (log x): mean line and 95% band per strategy, grey reference lines, and a star on
    the recommended cell at each size (`picks`: (N, mean, what) from the decision table — `recommended_cells`)."""
    fig = go.Figure()
    if references is not None and not references.empty and metric in references:
        for ref, g in references.groupby("reference", sort=False):
            g = g.sort_values("n_train")
            fig.add_trace(go.Scatter(x=g["n_train"], y=g[metric], mode="lines+markers", name=g["name"].iloc[0],
                                     line=dict(color="#777", width=2, dash=REFERENCE_DASH.get(ref, "dashdot")),
                                     marker=dict(size=6, symbol="diamond"),
                                     hovertemplate="N=%{x}<br>%{y:.3f}<extra>" + g["name"].iloc[0] + " (reference)</extra>"))
    for strategy, g in summary.groupby("strategy", sort=False):
        g = g.sort_values("n_train")
        c = color(strategy)
        if (g["high"] > g["low"]).any():  # one seed: the eval set's Wilson interval
            fig.add_trace(go.Scatter(x=list(g["n_train"]) + list(g["n_train"])[::-1],
                                     y=list(g["high"]) + list(g["low"])[::-1], fill="toself", fillcolor=c, mode="lines",
                                     opacity=0.18, line=dict(width=0), hoverinfo="skip", showlegend=False,
                                     legendgroup=strategy))
        fig.add_trace(go.Scatter(x=g["n_train"], y=g["mean"], mode="lines+markers", name=strategy,
                                 line=dict(color=c, width=3, dash=dash(strategy)), marker=dict(size=9),
                                 legendgroup=strategy,
                                 customdata=g[["low", "high", "seeds"]].to_numpy(),
                                 hovertemplate="N=%{x}<br>mean %{y:.3f}<br>95%% CI %{customdata[0]:.3f}–"
                                               "%{customdata[1]:.3f}<br>%{customdata[2]} seed(s)<extra>" + strategy
                                               + "</extra>"))
    if picks:
        fig.add_trace(go.Scatter(x=[n for n, _, _ in picks], y=[m for _, m, _ in picks], mode="markers",
                                 name="recommended", text=[w for _, _, w in picks],
                                 marker=dict(symbol="star", size=18, color="rgba(0,0,0,0)",
                                             line=dict(color="#111", width=2)),
                                 hovertemplate="N=%{x}<br>use %{text}: %{y:.3f}<extra>recommended</extra>"))
    fig.update_xaxes(type="log")
    if metric == "perplexity":  # spans orders of magnitude (a model from scratch at hundreds, fine-tuned ones near 2)
        fig.update_yaxes(type="log")
        return _base(fig, f"Data needs: {metric} vs training-set size", "training examples (log scale)",
                     f"{metric} (log scale)")
    return _base(fig, f"Data needs: {metric} vs training-set size", "training examples (log scale)", metric)


def curves_figure(metrics: pd.DataFrame, x: str = "step", keys=("val/loss", "train/loss")) -> go.Figure:
    """Loss curves of every run, coloured by strategy (validation solid, train dotted)."""
    fig = go.Figure()
    shown = set()
    for (_run, strategy, n, seed), g in metrics[metrics["key"].isin(keys)].groupby(
            ["run_id", "strategy", "n_train", "seed"], sort=False):
        for key in keys:
            k = g[g["key"] == key].sort_values("step")
            if k.empty:
                continue
            first = strategy not in shown
            shown.add(strategy)
            fig.add_trace(go.Scatter(
                x=k[x], y=k["value"], mode="lines+markers" if len(k) < 4 else "lines", name=strategy,
                legendgroup=strategy, showlegend=first and key == keys[0],
                line=dict(color=color(strategy), width=2.5 if key.startswith("val") else 1.5,
                          dash="dot" if key.startswith("train") else dash(strategy)),
                hovertemplate=f"{strategy} N={n} seed {seed}<br>{key} %{{y:.3f}}<br>{X_AXES[x]} %{{x:.4g}}<extra></extra>"))
    if x == "flops":
        fig.update_xaxes(type="log")
    return _base(fig, "Learning curves", X_AXES[x], "loss")


def probe_figure(metrics: pd.DataFrame, probe_key: str, baseline: float | None, x: str = "step") -> go.Figure:
    fig = go.Figure()
    shown = set()
    for (strategy, n, seed), g in metrics[metrics["key"] == probe_key].groupby(["strategy", "n_train", "seed"], sort=False):
        g = g.sort_values("step")
        fig.add_trace(go.Scatter(x=g[x], y=g["value"], mode="lines+markers", name=strategy, legendgroup=strategy,
                                 showlegend=strategy not in shown, line=dict(color=color(strategy), dash=dash(strategy)),
                                 hovertemplate=f"{strategy} N={n} seed {seed}<br>%{{y:.3f}}<extra></extra>"))
        shown.add(strategy)
    if baseline is not None:
        fig.add_hline(y=baseline, line_dash="dash", line_color="#555", annotation_text="untouched base")
    return _base(fig, f"Forgetting probe during training: the base model's {probe_skill(probe_key)}", X_AXES[x],
                 f"{probe_skill(probe_key)} ({probe_key.removeprefix('probe/')})")


def forgetting_figure(table: pd.DataFrame) -> go.Figure:
    """Final forgetting per strategy (at each size), mean with 95% interval. Rows without a forgetting value (scratch,
    which never had the base model's skill; see `tables.forgetting_table`) have no bar."""
    fig = go.Figure()
    for strategy, g in table[table["forgetting"].notna()].groupby("strategy", sort=False):
        fig.add_trace(go.Bar(x=[f"N={n}" for n in g["n_train"]], y=g["forgetting"], name=strategy,
                             marker_color=color(strategy),
                             error_y=dict(type="data", symmetric=False, array=(g["high"] - g["forgetting"]).tolist(),
                                          arrayminus=(g["forgetting"] - g["low"]).tolist(),
                                          visible=bool((g["seeds"] > 1).any()))))
    fig.update_layout(barmode="group")
    skill = probe_skill(table["probe"].iloc[0]) if "probe" in table and not table.empty else "the probe's skill"
    return _base(fig, f"Forgetting at the end of training: {skill} lost (positive = forgot)", "training-set size",
                 f"drop in {skill}")


def tradeoff_figure(runs: pd.DataFrame, metric_col: str, metric: str, higher_is_better: bool) -> go.Figure:
    """Learning (eval metric) vs forgetting, one point per finished run that started from the base model, with the
    Pareto frontier. Scratch is left out: it never had the base model's skill, so its probe drop is not forgetting."""
    pts = runs[(runs["status"] == "done") & runs["forgetting"].notna() & runs[metric_col].notna()
               & ~from_scratch(runs)].reset_index(drop=True)
    fig = go.Figure()
    if pts.empty:
        return _base(fig, "Learning vs forgetting", "forgetting (left is better)", metric)
    xy = list(zip(pts["forgetting"].astype(float), pts[metric_col].astype(float), strict=True))
    front = pareto_frontier(xy, maximize_y=higher_is_better)
    on_front = pts.index.isin(front)
    for strategy, g in pts.groupby("strategy", sort=False):
        for frontier in (True, False):
            h = g[on_front[g.index] == frontier]
            if h.empty:
                continue
            fig.add_trace(go.Scatter(
                x=h["forgetting"], y=h[metric_col], mode="markers", name=strategy, legendgroup=strategy,
                showlegend=frontier or not (on_front[g.index]).any(),
                marker=dict(color=color(strategy), size=13 if frontier else 10, opacity=1.0 if frontier else 0.35,
                            line=dict(width=1.5, color="#222") if frontier else dict(width=0)),
                customdata=h[["n_train", "seed"]].to_numpy(),
                hovertemplate=f"{strategy} N=%{{customdata[0]}} seed %{{customdata[1]}}<br>forgetting %{{x:.3f}}"
                              f"<br>{metric} %{{y:.3f}}<br>{'on the frontier' if frontier else 'dominated'}<extra></extra>"))
    fp = pts.loc[front]
    fig.add_trace(go.Scatter(x=fp["forgetting"], y=fp[metric_col], mode="lines", name="Pareto frontier",
                             line=dict(color="#222", width=1.5, dash="dot"), hoverinfo="skip"))
    direction = "up" if higher_is_better else "down"
    return _base(fig, "Learning vs forgetting", "forgetting (left is better)", f"{metric} ({direction} is better)")


def confusion_figure(matrix: pd.DataFrame, title: str) -> go.Figure:
    """A confusion matrix (`disagreement.confusion`: rows the true class, columns the predicted one) as a heatmap with
    its counts; the diagonal is what the model gets right."""
    names = [str(c) for c in matrix.columns]
    fig = go.Figure(go.Heatmap(z=matrix.to_numpy(), x=names, y=[str(i) for i in matrix.index], colorscale="Blues",
                               text=matrix.to_numpy(), texttemplate="%{text}", showscale=False,
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} examples<extra></extra>"))
    fig.update_layout(**{**LAYOUT, "title": title, "height": 160 + 34 * len(names)},
                      # categories whatever the labels look like: "0"…"4" as numbers drew ticks at −0.4…0.4
                      xaxis=dict(title="predicted", side="bottom", tickangle=-30, type="category", automargin=True),
                      yaxis=dict(title="true", autorange="reversed", type="category", automargin=True))
    return fig
