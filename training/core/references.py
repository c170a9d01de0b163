"""Reference baselines: the majority class, and a classical model — TF-IDF + logistic regression for text, logistic
regression on the pixels (16×16 greyscale, standardised) for images; for tables the majority class or the training
mean, a linear model and gradient-boosted trees (`training.core.tabular_reference`).

Both see exactly what the neural runs see — the same nested training subset at each size, the same
validation set for choosing the regularisation strength, the same eval set for scoring — and cost seconds.
They answer "is this neural run even above trivial?" before anyone reads a chart.
"""
from __future__ import annotations

import math

import numpy as np

from training.config import DataConfig
from training.core.data.task import TaskData
from training.core.scoring import classification_scores, full_proba, log_loss, majority

C_GRID = (0.1, 1.0, 10.0, 100.0)
"""Inverse regularisation strengths tried for the logistic regression; the one with the lowest validation
log-loss is scored on the eval set (the same selection rule as the neural runs' learning rates)."""

NAMES = {"majority": "majority class", "tfidf": "TF-IDF + logistic regression",
         "pixels": "pixels + logistic regression", "mean": "training mean", "linear": "linear model",
         "gbdt": "gradient-boosted trees"}
CLASSICAL = ("tfidf", "pixels", "gbdt")
"""The classical reference of each task kind (text, images, tables): what a team would use instead of (or try before)
a neural network."""
TRIVIAL = ("majority", "mean")
PIXEL_SIDE = 16


def tfidf_logreg(train_texts, y_train, val_texts, y_val, eval_texts, y_eval, n_classes: int) -> dict | None:
    """Word 1–2-gram TF-IDF (sublinear tf) and a multinomial logistic regression; C chosen on validation."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(np.unique(y_train)) < 2:
        return None
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000)
    x_train = vec.fit_transform(train_texts)
    x_val, x_eval = vec.transform(val_texts), vec.transform(eval_texts)
    return _fit_select(x_train, y_train, x_val, y_val, x_eval, y_eval, n_classes)


def pixel_features(examples) -> np.ndarray:
    """Images as PIXEL_SIDE×PIXEL_SIDE greyscale vectors (block-averaged), the classical model's input."""
    px = examples.pixels.astype(np.float32).mean(axis=3)
    n, h, w = px.shape
    fh, fw = max(1, h // PIXEL_SIDE), max(1, w // PIXEL_SIDE)
    px = px[:, : fh * (h // fh), : fw * (w // fw)]
    return px.reshape(n, h // fh, fh, w // fw, fw).mean(axis=(2, 4)).reshape(n, -1) / 255.0


def pixels_logreg(x_train, y_train, x_val, y_val, x_eval, y_eval, n_classes: int) -> dict | None:
    """Standardised pixels and a multinomial logistic regression; C chosen on validation."""
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y_train)) < 2:
        return None
    scale = StandardScaler().fit(x_train)
    x_train, x_val, x_eval = scale.transform(x_train), scale.transform(x_val), scale.transform(x_eval)
    return _fit_select(x_train, y_train, x_val, y_val, x_eval, y_eval, n_classes)


def _fit_select(x_train, y_train, x_val, y_val, x_eval, y_eval, n_classes: int) -> dict:
    from sklearn.linear_model import LogisticRegression

    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        val_loss = log_loss(full_proba(model.predict_proba(x_val), model.classes_, n_classes), y_val)
        if best is None or val_loss < best[0]:
            best = (val_loss, c, model)
    _, c, model = best
    proba = full_proba(model.predict_proba(x_eval), model.classes_, n_classes)
    return {**classification_scores(proba, y_eval, n_classes), "C": c}


def reference_rows(data: TaskData, cfg: DataConfig, sizes: list[int], seeds: list[int]) -> list[dict]:
    """One row per (reference, size, seed): accuracy, macro-F1 and loss (RMSE, MAE, R² and loss for a regression)
    on the eval set."""
    if "table" in data.extra:
        from training.core.tabular_reference import tabular_reference_rows

        pool, val, evals = data.extra["indices"]
        subsets = {(n, seed): data.subset_indices(cfg, n, seed) for seed in seeds for n in sizes}
        rows = tabular_reference_rows(data.extra["table"], pool, val, evals, subsets, data.label_names, data.task)
        for r in rows:
            r["name"] = r.get("name") or NAMES.get(r["reference"], r["reference"])
            r["eval_examples"] = len(evals)
        return rows
    k = len(data.label_names)
    y_pool, y_val, y_eval = data.train.labels, data.validation.labels, data.eval.labels
    texts = data.texts
    images = data.task == "image-classification"
    if images:
        x_pool, x_val, x_eval = (pixel_features(d) for d in (data.train, data.validation, data.eval))
    rows = []
    for seed in seeds:
        for n in sizes:
            idx = data.subset_indices(cfg, n, seed)
            y = y_pool[idx]
            rows.append({"reference": "majority", "n_train": int(n), "seed": int(seed), **majority(y, y_eval, k)})
            if images:
                name, fit = "pixels", pixels_logreg(x_pool[idx], y, x_val, y_val, x_eval, y_eval, k)
            else:
                name, fit = "tfidf", tfidf_logreg([texts["train"][i] for i in idx], y, texts["validation"], y_val,
                                                  texts["eval"], y_eval, k)
            if fit is not None:
                rows.append({"reference": name, "n_train": int(n), "seed": int(seed), **fit})
    for r in rows:
        r["name"] = NAMES[r["reference"]]
        r["eval_examples"] = len(y_eval)
        if not math.isfinite(r["loss"]):
            r["loss"] = None
    return rows
