"""Text classification's references: the majority class, and word 1–2-gram TF-IDF (sublinear tf) with a multinomial
logistic regression (C chosen on validation) — what a team would try before a network."""
from __future__ import annotations

import numpy as np

from training.core.references import classifier_rows, logistic_select, named

NAMES = {"majority": "majority class", "tfidf": "TF-IDF + logistic regression"}


def tfidf_logreg(train_texts, y_train, val_texts, y_val, eval_texts, y_eval, n_classes: int) -> dict | None:
    """Word 1–2-gram TF-IDF (sublinear tf) and a multinomial logistic regression; C chosen on validation."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(np.unique(y_train)) < 2:
        return None
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000)
    x_train = vec.fit_transform(train_texts)
    x_val, x_eval = vec.transform(val_texts), vec.transform(eval_texts)
    return logistic_select(x_train, y_train, x_val, y_val, x_eval, y_eval, n_classes)


def rows(data, cfg, sizes: list[int], seeds: list[int]) -> list[dict]:
    texts, y_pool, k = data.texts, data.train.labels, len(data.label_names)

    def fit(idx):
        return tfidf_logreg([texts["train"][i] for i in idx], y_pool[idx], texts["validation"], data.validation.labels,
                            texts["eval"], data.eval.labels, k)

    return named(classifier_rows(data, cfg, sizes, seeds, "tfidf", fit), NAMES, len(data.eval.labels))
