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
from training.analysis.tables import from_scratch
from training.analysis.units import probe_skill

X_AXES = {"step": "optimizer steps", "examples": "training examples seen", "wall_s": "wall-clock seconds (training only)",
          "flops": "training FLOPs"}

NOTES = {
    "data_needs": (
        "**How to read this:** each line is a strategy; x is the number of labelled training examples (log "
        "scale), y the eval metric of each run's final model: its last weights, or its best checkpoint where validation "
        "shows that one clearly better (switch to best checkpoints or last weights in the sidebar). "
        "Every strategy trained at its own searched learning rate, scratch until it stopped improving."),
    "curves": (
        "**How to read this:** loss against the chosen x-axis, one line per run, coloured by strategy; solid "
        "is validation loss (held out of training; it picks the best checkpoint and when scratch stops), dotted "
        "is training loss. Switch x to FLOPs or wall-clock to compare cost, not steps. "
        "**What the literature finds:** pretrained starts converge in a fraction of the steps; scratch needs a "
        "higher learning rate and many more steps, and a widening gap between training and eval loss means "
        "the model is memorising its small training set."),
    "probe": (
        "**How to read this:** the forgetting probe — a skill the base model had before training — measured during "
        "training. The dashed line is the untouched base. Scratch's line is its own probe score: trained from random "
        "weights, it never had the base model's skill, so its distance from the dashed line is not forgetting. "
        "**What the literature finds:** full fine-tuning drifts away from the "
        "base and forgets; a frozen encoder (head-only) forgets nothing; LoRA forgets less than full "
        "fine-tuning (Biderman et al. 2024)."),
    "forgetting": (
        "**How to read this:** forgetting = how much worse the probe is at the end than on the untouched base "
        "(positive = forgot), mean over seeds with a 95% interval. Scratch has no forgetting: trained from random "
        "weights, it never had the base model's skill, so it has no bar (the forgetting table lists its probe score, "
        "labelled as such). **What the literature finds:** forgetting grows with how much of the model "
        "trains and how far: head ≈ 0 < LoRA < full."),
    "tradeoff": (
        "**How to read this:** each point is a run that started from the base model: x = forgetting (left is better), "
        "y = eval metric (up is better); scratch never had the base model's skill, so it has no forgetting to place. "
        "The line joins the Pareto frontier — runs no other run beats on both; greyed points are "
        "dominated. **What the literature finds:** LoRA and full fine-tuning lie on roughly one frontier, "
        "LoRA at the learns-less, forgets-less end (Biderman et al. 2024)."),
    "transfer": (
        "**How to read this:** D_E is how many examples training from scratch would need to reach the fine-tuned "
        "run's loss, read off a power law L(D) = L∞ + A·D^(−b) fitted to the scratch runs (each run's lowest "
        "validation loss: they stop early, as Hernandez et al. do); D_T = D_E − N is "
        "what the pretrained model is worth in examples and D_E/N the data multiplier, with 95% bootstrap "
        "intervals over seeds. 'extrapolated' marks D_E beyond the largest scratch size. When scratch's loss does not "
        "fall with data, or a fine-tuned loss is below the floor of scratch's fitted curve, D_E cannot be estimated "
        "from these runs and the app says so. **What the literature "
        "finds:** pretraining is worth a large, roughly constant multiple of the fine-tuning data in the "
        "low-data regime (Hernandez et al. 2021: text→Python worth ~1000× for a 40M model on 3e5 characters)."),
    "compute": (
        "**How to read this:** what each strategy spent, averaged over seeds: training wall-clock (evaluation "
        "excluded), GPU-seconds, analytic training FLOPs, MFU (achieved / peak FLOP/s, GPUs only), peak "
        "memory, trainable parameters and money at your price per device-hour. **What the literature finds:** "
        "head-only costs a forward pass per example; LoRA saves optimizer memory and some backward FLOPs but "
        "on small models is rarely faster per step; scratch costs what full fine-tuning costs per step and "
        "needs more steps."),
    "overfitting": (
        "**How to read this:** training and validation loss per run, compared at every evaluation; a flag means "
        "validation loss ended >5% above its best while training loss kept falling (memorising), or ended at "
        "1.5× the training loss or more with the gap widening. Each run is also scored at its best checkpoint "
        "(sidebar), from before an overfitting run overfit. **What the literature finds:** small training sets "
        "overfit, scratch most (He et al. 2019: at ~1k images scratch matched training loss but not "
        "validation accuracy)."),
}
"""The notes as they read for a model with a pretrained base; `KIND_NOTES` replaces or extends them per task kind."""

HEAD_START = (
    " **What the literature finds:** fine-tuning is training with a head start — it is far ahead at small N, "
    "and training from scratch closes part of the gap only with much more data and steps (Hernandez et al. "
    "2021; He et al. 2019 found scratch catches up given enough data and iterations, but not at ~1k examples).")
ACCURACY_BAND = (" The band is a 95% interval: over seeds on the logit scale so it stays inside [0, 1] (with one seed, "
                 "the Wilson interval of the eval set's size — eval-set noise only).")
SPREAD_BAND = (" The band is a 95% t-interval over seeds; with one seed it can show at most the eval set's sampling "
               "noise, not the seed-to-seed spread.")
TABLE_READ = (
    "**How to read this:** each line is a strategy; x is the number of labelled training examples (log scale), y "
    "the eval metric of each run's final model: its last weights, or its best checkpoint where validation shows "
    "that one clearly better (switch to best checkpoints or last weights in the sidebar). The network trained at "
    "its searched learning rate until it stopped improving.")
TABLE_LITERATURE = (
    " **What the literature finds:** no pretrained model exists for a table's own columns, so only training from "
    "scratch runs; the grey lines are what a tabular team would use instead — gradient-boosted trees (scikit-learn's "
    "HistGradientBoosting, tuned on the validation set) and a linear model. Grinsztajn et al. (2022, \"Why do "
    "tree-based models still outperform deep learning on tabular data?\") found trees ahead of neural "
    "networks on medium-sized tables (~10k rows); Gorishniy et al. (2021) found a well-tuned MLP competitive "
    "on some. The chart answers it for your table.")
DATA_NEEDS = {
    "text-classification": (
        ACCURACY_BAND, "the majority class (dashed) and TF-IDF + logistic regression (dotted)",
        HEAD_START + " TF-IDF n-gram models stayed competitive with networks trained from scratch up to hundreds of "
        "thousands of examples (Zhang et al. 2015)."),
    "image-classification": (
        ACCURACY_BAND, "the majority class (dashed) and logistic regression on the pixels (16×16 greyscale; dotted)",
        HEAD_START + " **For images:** He et al. (2019, \"Rethinking ImageNet Pre-training\") found detectors trained "
        "from scratch on COCO reach ImageNet-pretrained accuracy with 2–3× longer schedules, but not when the training "
        "set shrinks to ~1k images (≈10% of COCO); Kornblith et al. (2019, \"Do Better ImageNet Models Transfer "
        "Better?\") found fine-tuning beats training from scratch on most of 12 datasets, by the most on small ones, "
        "and that fixed ImageNet features (head-only) trail fine-tuning — least where the images resemble ImageNet's."),
    "causal-lm": (SPREAD_BAND, None, HEAD_START),
    "chat": (
        SPREAD_BAND, None,
        HEAD_START + " **For chat:** the metric is the perplexity of the held-out answers (the assistant's tokens only; "
        "lower is better); ROUGE-L of the generated answers against the reference is beside it, and the answers "
        "themselves are side by side below — read them, since overlap scores miss whether an answer is right. Zhou et "
        "al. (2023, \"LIMA\") tuned a pretrained LLaMA on 1,000 curated conversations and found most of a chat model's "
        "skill comes from pretraining; a model trained from scratch on a small set of conversations has no language "
        "to build on, so expect it to babble."),
    "tabular-classification": (
        " The band is a 95% interval over seeds, kept inside [0, 1] (with one seed, the Wilson interval of the eval "
        "set's size — eval-set noise only).",
        "the majority class (dashed), gradient-boosted trees (dotted) and a linear model (dash-dot)", TABLE_LITERATURE),
    "tabular-regression": (
        SPREAD_BAND, "the training mean (dashed), gradient-boosted trees (dotted) and a linear model (dash-dot)",
        TABLE_LITERATURE),
}
"""Per task kind, the data-needs chart's (band, grey reference lines, literature): accuracy's band is made on the
logit scale, a regression's reference is the training mean, language models have no reference lines."""
TABLE_NOTES = {
    "curves": (
        "**How to read this:** loss against the chosen x-axis, one line per run; solid is validation loss (held out "
        "of training; it picks the best checkpoint and when training stops), dotted is training loss. Switch x to "
        "FLOPs or wall-clock to compare cost, not steps. **What the literature finds:** a widening gap between "
        "training and validation loss means the network is memorising its small training set."),
    "compute": (
        "**How to read this:** what the network spent, averaged over seeds: training wall-clock (evaluation "
        "excluded), GPU-seconds, analytic training FLOPs, MFU (achieved / peak FLOP/s, GPUs only), peak memory, "
        "trainable parameters and money at your price per device-hour. **What to expect:** an MLP on a table is "
        "small, so its cost is mostly its number of steps, which grows with the data as it trains until it stops "
        "improving; the gradient-boosted trees and the linear model beside it fit in seconds of CPU."),
    "overfitting": (
        "**How to read this:** training and validation loss per run, compared at every evaluation; a flag means "
        "validation loss ended >5% above its best while training loss kept falling (memorising), or ended at "
        "1.5× the training loss or more with the gap widening. Each run is also scored at its best checkpoint "
        "(sidebar), from before an overfitting run overfit. **What the literature finds:** small tables overfit; for "
        "an MLP on a table, regularisation (weight decay, dropout, early stopping) matters as much as its shape "
        "(Kadra et al. 2021, \"Well-tuned Simple Nets Excel on Tabular Datasets\")."),
}
"""A table's notes where the general one speaks of pretrained models a table does not have."""
KIND_NOTES = {
    "image-classification": {
        "overfitting": (NOTES["overfitting"] + " **For images:** no data augmentation is applied (the same for every "
                        "strategy), so a network trained from scratch overfits sooner than it would with crops and "
                        "flips."),
    },
    "chat": {
        "probe": (
            NOTES["probe"] + " **For chat:** the probe is the perplexity of the answers in general conversations "
            "outside the fine-tuning data, and the general prompts' answers before and after show what was lost in "
            "words — the \"it forgot its general ability\" that LLaMA-Factory users report (issues #2611, #19). LoRA "
            "\"learns less and forgets less\" than full fine-tuning (Biderman et al. 2024)."),
    },
    "tabular-classification": TABLE_NOTES,
    "tabular-regression": TABLE_NOTES,
}
"""Per task kind, notes other than data needs that read differently for that kind."""

SOURCE_NOTES = {
    "builtin:mnist-5k": {"data_needs": " These are handwritten digits: they look nothing like ImageNet photos, so "
                                       "expect a smaller head start than on product photos."},
    "builtin:digits-8x8": {"data_needs": " These are handwritten digits (8×8 pixels): they look nothing like ImageNet "
                                         "photos, so expect a smaller head start than on product photos."},
}
"""Per built-in dataset, words that hold only for that dataset: shown only when the experiment's data is it."""


def _image_probe(config: Mapping) -> str:
    """What the image probe scored: the built-in faces unless the experiment gave its own labelled images."""
    probes = [p for p in config.get("probes") or [] if p.get("kind") != "none"]
    source = probes[0].get("source") if probes else None
    what = ("scikit-image's faces vs non-faces (up to 100 of each), which no built-in dataset trains on" if not source
            or source == "builtin:lfw-faces" else f"the labelled images of `{source}` you gave as the old task")
    return (f" **For images:** the probe is the k-nearest-neighbour accuracy of the network's image features on {what} "
            "— the general visual skill a specialised fine-tune can lose.")


def trivial_reference(config: Mapping) -> str | None:
    """The reference a run that learned nothing scores: the majority class, or the training mean for a regression;
    None where no reference runs (language models, or references turned off)."""
    task = config.get("task") or ""
    _, references, _ = DATA_NEEDS.get(task, ("", None, ""))
    if references is None or not config.get("references", True):
        return None
    return "the training mean" if task == "tabular-regression" else "the majority class"


def data_needs_note(config: Mapping) -> str:
    """The data-needs note for this experiment's task kind: its band, its reference lines (where references ran)
    and its literature."""
    task = config.get("task") or ""
    band, references, literature = DATA_NEEDS.get(task, ("", None, HEAD_START))
    table = task.startswith("tabular-")
    text = (TABLE_READ if table else NOTES["data_needs"]) + band
    if references and config.get("references", True):
        text += (f" Grey lines are references on the same subsets: {references}; a "
                 f"{'network' if table else 'neural run'} at the dashed line learned nothing.")
    return text + literature


def note(key: str, config: Mapping | None = None) -> str:
    """The note under a figure or table, in words that fit this experiment (its config as a dict): its task
    kind's reading and literature, and a sentence about a built-in dataset only where `data.source` is that
    dataset."""
    config = config or {}
    task = config.get("task") or ""
    text = data_needs_note(config) if key == "data_needs" else KIND_NOTES.get(task, {}).get(key, NOTES[key])
    if task == "image-classification" and key == "probe":
        text += _image_probe(config)
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
