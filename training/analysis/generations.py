"""Chat runs' answers to held-out prompts (their `generations` events, see `training.tasks.chat.samples`), side by side.

A chatbot team reads answers, not only scores: for the same prompts, what training from scratch, full fine-tuning
and LoRA answer at each training-set size — during training (validation prompts, on Live), at the end (eval
prompts, on Compare and in the report) and on general prompts outside the fine-tuning data (what the base model
answered before, and whether it still does).
"""
from __future__ import annotations

import json

import pandas as pd

from training.service.records import Role
from training.service.store import Store

COLUMNS = ["run_id", "strategy", "n_train", "seed", "status", "step", "split", "weights", "rouge_l", "prompt_index",
           "prompt", "reference", "output"]
SPLIT_WORDS = {"validation": "validation prompts (during training)", "eval": "held-out eval prompts (at the end)",
               "general": "general prompts outside the fine-tuning data (forgetting)"}


def generations_frame(store: Store, exp_id: str) -> pd.DataFrame:
    """One row per (grid run, generation event, prompt)."""
    rows = []
    for r in store.runs(exp_id):
        if r.role != Role.GRID:
            continue
        for e in store.events(r.id):
            if e["kind"] != "generations":
                continue
            d = json.loads(e["data_json"] or "{}")
            for i, item in enumerate(d.get("items", [])):
                rows.append({"run_id": r.id, "strategy": r.strategy, "n_train": r.n_train, "seed": r.seed,
                             "status": str(r.status), "step": d.get("step"), "split": d.get("split"),
                             "weights": d.get("weights"), "rouge_l": d.get("rouge_l"), "prompt_index": i,
                             "prompt": item.get("prompt", ""), "reference": item.get("reference", ""),
                             "output": item.get("output", "")})
    return pd.DataFrame(rows, columns=COLUMNS)


def latest(frame: pd.DataFrame, split: str, weights: str | None = None) -> pd.DataFrame:
    """Each run's latest answers in `split` (and with `weights`, for eval: final or best)."""
    g = frame[frame["split"] == split]
    if weights is not None:
        g = g[g["weights"] == weights]
    if g.empty:
        return g
    last = g.groupby("run_id")["step"].transform("max")
    return g[g["step"] == last].drop_duplicates(["run_id", "prompt_index"], keep="last")


def side_by_side(frame: pd.DataFrame, split: str, n_train: int, seed: int, weights: str | None = None,
                 before: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows: the prompts (with the reference answer); columns: each strategy's answer at `n_train` and `seed`.
    `before` (general prompts): the base model's answers before training, as a column of its own."""
    g = latest(frame[(frame["n_train"] == n_train) & (frame["seed"] == seed)], split, weights)
    if g.empty:
        return pd.DataFrame()
    table = g.pivot_table(index=["prompt_index", "prompt", "reference"], columns="strategy", values="output",
                          aggfunc="first").reset_index()
    if before is not None and not before.empty:
        table = table.merge(before[["prompt_index", "output"]].rename(columns={"output": "base model (before)"}),
                            on="prompt_index", how="left")
    table = table.drop(columns="prompt_index")
    table.columns.name = None
    first = ["prompt", "reference"] + (["base model (before)"] if "base model (before)" in table else [])
    return table[first + [c for c in table.columns if c not in first]]


def base_answers(frame: pd.DataFrame) -> pd.DataFrame:
    """The untouched base model's answers to the general prompts: step 0 of a pretrained run's general set."""
    g = frame[(frame["split"] == "general") & (frame["step"] == 0) & (frame["strategy"] != "scratch")]
    return g.drop_duplicates("prompt_index")


def rouge_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ROUGE-L of each strategy's final answers to the eval prompts, per training-set size, over seeds."""
    g = latest(frame, "eval", "final").drop_duplicates("run_id")
    if g.empty:
        return pd.DataFrame(columns=["strategy", "n_train", "rouge_l", "seeds"])
    return (g.groupby(["strategy", "n_train"], as_index=False)
            .agg(rouge_l=("rouge_l", "mean"), seeds=("seed", "nunique")))
