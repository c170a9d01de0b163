"""Scoring a classical classifier on the eval set — shared by the text/image references and the tables' references:
the log-loss, accuracy and macro-F1 of predicted probabilities, the per-example outcomes a paired bootstrap reads, and
the majority-class baseline."""
from __future__ import annotations

import numpy as np

from training.core.evaluate import classification_items, macro_f1

PROBA_FLOOR = 1e-6
"""Probability given to a class a classifier never saw in its training subset (so the log-loss stays finite)."""


def log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0))))


def classification_scores(proba: np.ndarray, y: np.ndarray, n_classes: int) -> dict:
    """accuracy, macro_f1 and loss on the eval set, and its `items` (each example's true and predicted class, in the
    eval set's order: what a paired bootstrap against a neural run's `eval_items` compares)."""
    pred = proba.argmax(axis=1)
    return {"accuracy": float(np.mean(pred == y)), "macro_f1": macro_f1(y, pred, n_classes), "loss": log_loss(proba, y),
            "items": classification_items(y, pred)}


def full_proba(proba: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities over every class of the task from a classifier that saw only `classes`."""
    out = np.full((len(proba), n_classes), PROBA_FLOOR)
    out[:, classes] = proba
    return out / out.sum(axis=1, keepdims=True)


def majority(y_train: np.ndarray, y_eval: np.ndarray, n_classes: int) -> dict:
    """Always the most frequent training class; its loss is the training class prior's (add-one smoothed),
    the loss a model that learned nothing but the class balance reaches."""
    counts = np.bincount(y_train, minlength=n_classes).astype(float)
    prior = (counts + 1) / (counts.sum() + n_classes)
    proba = np.tile(prior, (len(y_eval), 1))
    out = classification_scores(proba, y_eval, n_classes)
    out["accuracy"] = float(np.mean(y_eval == int(np.argmax(counts))))
    return out
