"""What the task kinds' reference baselines share (`training/tasks/<kind>/references.py`: the majority class, TF-IDF or
pixels + logistic regression; for tables the majority class or training mean, a linear model and gradient-boosted
trees).

Every reference sees exactly what the neural runs see — the same nested training subset at each size, the same
validation set for choosing its regularisation, the same eval set for scoring — and costs seconds. They answer
"is this neural run even above trivial?" before anyone reads a chart.
"""
from __future__ import annotations

import math

import numpy as np

from training.core.scoring import classification_scores, full_proba, log_loss, majority

C_GRID = (0.1, 1.0, 10.0, 100.0)
"""Inverse regularisation strengths tried for the logistic regression; the one with the lowest validation
log-loss is scored on the eval set (the same selection rule as the neural runs' learning rates)."""


def logistic_select(x_train, y_train, x_val, y_val, x_eval, y_eval, n_classes: int) -> dict | None:
    """A multinomial logistic regression, C chosen on validation log-loss, scored on the eval set (None when the
    training subset holds one class)."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y_train)) < 2:
        return None
    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        val_loss = log_loss(full_proba(model.predict_proba(x_val), model.classes_, n_classes), y_val)
        if best is None or val_loss < best[0]:
            best = (val_loss, c, model)
    _, c, model = best
    proba = full_proba(model.predict_proba(x_eval), model.classes_, n_classes)
    return {**classification_scores(proba, y_eval, n_classes), "C": c}


def classifier_rows(data, cfg, sizes: list[int], seeds: list[int], code: str, fit) -> list[dict]:
    """The majority class and one classical model (`code`; `fit(idx)` → its scores on the size's subset `idx`) at every
    (size, seed), on the grid's own subsets and eval set."""
    k = len(data.label_names)
    y_pool, y_eval = data.train.labels, data.eval.labels
    rows = []
    for seed in seeds:
        for n in sizes:
            idx = data.subset_indices(cfg, n, seed)
            rows.append({"reference": "majority", "n_train": int(n), "seed": int(seed),
                         **majority(y_pool[idx], y_eval, k)})
            if (scores := fit(idx)) is not None:
                rows.append({"reference": code, "n_train": int(n), "seed": int(seed), **scores})
    return rows


def named(rows: list[dict], names: dict[str, str], eval_examples: int) -> list[dict]:
    """Each row with its reference's name for people and the eval set's size; a non-finite loss stored as None."""
    for r in rows:
        r["name"] = r.get("name") or names.get(r["reference"], r["reference"])
        r["eval_examples"] = eval_examples
        if r.get("loss") is not None and not math.isfinite(r["loss"]):
            r["loss"] = None
    return rows
