"""Where the strategies disagree: every eval example's answer from each strategy's run (and each classical reference) at
one training-set size and seed, read from the per-example outcomes the runs stored (`eval_items`) and the experiment's
eval examples in words (`Store.eval_inputs`). Nothing is re-run: each row is what the tables' accuracy counts.

Classification: each column is a predicted class (with the model's probability for it where the run stored one);
regression: each column is a predicted value. The same rows give each strategy's confusion matrix, its most confident
mistakes, and the examples that separate scratch from the pretrained strategies ("what pretraining knew")."""
from __future__ import annotations

import numpy as np
import pandas as pd

from training.analysis.tables import FROM_SCRATCH

SCRATCH = "scratch"
TRIVIAL = ("majority", "mean")
"""References that answer every example alike (the majority class, the training mean): left out of the view."""
REFERENCE_MARK = "classical: "
"""How a reference's column is named (a strategy's column is its code: `scratch`, `full`, `lora`, `head`…)."""


def answer_sources(runs: pd.DataFrame, references: pd.DataFrame, n_train: int, seed: int,
                   order: list[str] | None = None) -> list[tuple[str, dict]]:
    """(column name, eval items) of each finished strategy's run and each reference at this size and seed: strategies
    in `order` (the config's), then the references (one row per reference, size and seed: `frames.references_frame`).
    `runs` is scored at the page's checkpoint (`frames.at_checkpoint`)."""
    out = []
    if not runs.empty:
        done = runs[(runs["status"] == "done") & (runs["n_train"] == n_train) & (runs["seed"] == seed)]
        rank = {s: i for i, s in enumerate(order or [])}
        done = done.assign(_rank=[rank.get(s, len(rank)) for s in done["strategy"]]).sort_values(["_rank", "strategy"])
        for r in done.itertuples(index=False):
            if isinstance(r.eval_items, dict) and r.eval_items:
                out.append((str(r.strategy), r.eval_items))
    if not references.empty:
        refs = references[(references["n_train"] == n_train) & (references["seed"] == seed)]
        for r in refs.itertuples(index=False):
            if isinstance(r.items, dict) and r.items and r.reference not in TRIVIAL:
                out.append((f"{REFERENCE_MARK}{r.name}", r.items))
    return out


def answers_table(sources: list[tuple[str, dict]], inputs: list[str] | None, labels: list[str],
                  classification: bool) -> pd.DataFrame:
    """One row per eval example: `example` (1-based position in the eval set), `input` (the example in words, where
    saved), `true`, then per source its answer — and for classification `confidence: <source>` where stored — then
    `agree` (every source gives the same answer) and `right` (how many sources are right; classification)."""
    if not sources:
        return pd.DataFrame()
    n = len(sources[0][1]["y_true"])
    sources = [(s, items) for s, items in sources if len(items.get("y_true", [])) == n]
    df = pd.DataFrame({"example": np.arange(1, n + 1)})
    if inputs is not None and len(inputs) == n:
        df["input"] = inputs
    y = np.asarray(sources[0][1]["y_true"])
    if classification:
        def word(codes):
            return [labels[int(c)] if 0 <= int(c) < len(labels) else str(int(c)) for c in codes]

        df["true"] = word(y)
        preds = []
        for s, items in sources:
            df[s] = word(items["y_pred"])
            preds.append(np.asarray(items["y_pred"]))
        for s, items in sources:  # after every answer: the answers read side by side
            if "p_pred" in items:
                df[f"confidence: {s}"] = np.asarray(items["p_pred"], dtype=float)
        stack = np.stack(preds)
        df["agree"] = (stack == stack[0]).all(axis=0)
        df["right"] = (stack == y).sum(axis=0)
    else:
        df["true"] = y.astype(float)
        preds = []
        for s, items in sources:
            df[s] = np.asarray(items["y_pred"], dtype=float)
            preds.append(df[s].to_numpy())
        stack = np.stack(preds)
        df["spread"] = stack.max(axis=0) - stack.min(axis=0)
    return df


def disagreements(table: pd.DataFrame, classification: bool) -> pd.DataFrame:
    """The examples the sources answer differently: classification, those they do not all agree on (fewest right
    first); regression, the 5% (at least 10) with the widest spread of predictions."""
    if table.empty:
        return table
    if classification:
        return table[~table["agree"]].sort_values(["right", "example"]).reset_index(drop=True)
    k = max(10, int(np.ceil(0.05 * len(table))))
    return table.sort_values("spread", ascending=False).head(k).reset_index(drop=True)


def confusion(items: dict, labels: list[str]) -> pd.DataFrame:
    """Counts of (true class → predicted class): rows are true classes, columns predicted ones."""
    k = max(len(labels), int(max(items["y_true"] + items["y_pred"], default=0)) + 1)
    names = labels + [str(i) for i in range(len(labels), k)]
    m = np.zeros((k, k), dtype=int)
    np.add.at(m, (np.asarray(items["y_true"], dtype=int), np.asarray(items["y_pred"], dtype=int)), 1)
    return pd.DataFrame(m, index=pd.Index(names, name="true ↓ / predicted →"), columns=names)


def confident_mistakes(table: pd.DataFrame, source: str, k: int = 10) -> pd.DataFrame:
    """A source's wrong answers, most confident first (those with no stored confidence keep the eval set's order)."""
    wrong = table[table[source] != table["true"]]
    col = f"confidence: {source}"
    keep = [c for c in ("example", "input", "true", source, col) if c in wrong]
    if col in wrong:
        wrong = wrong.sort_values([col, "example"], ascending=[False, True])
    return wrong[keep].head(k).reset_index(drop=True)


def pretraining_knew(table: pd.DataFrame, sources: list[str]) -> dict:
    """Classification: scratch against the pretrained strategies beside it — the examples scratch gets wrong that
    every pretrained strategy gets right ("what pretraining knew"), and the reverse. Empty without both."""
    scratch = SCRATCH
    pretrained = [s for s in sources if s.split("×")[0] not in FROM_SCRATCH and not s.startswith(REFERENCE_MARK)]
    if scratch not in table or not pretrained:
        return {}
    scratch_right = table[scratch] == table["true"]
    all_right = np.logical_and.reduce([table[s] == table["true"] for s in pretrained])
    none_right = np.logical_and.reduce([table[s] != table["true"] for s in pretrained])
    keep = [c for c in ("example", "input", "true", scratch, *pretrained) if c in table]
    return {"pretrained": pretrained, "knew": table[~scratch_right & all_right][keep].reset_index(drop=True),
            "scratch_only": table[scratch_right & none_right][keep].reset_index(drop=True)}
