"""Image classification's references: the majority class, and a multinomial logistic regression on the pixels
(PIXEL_SIDE×PIXEL_SIDE greyscale, block-averaged and standardised; C chosen on validation)."""
from __future__ import annotations

import numpy as np

from training.core.references import classifier_rows, logistic_select, named

NAMES = {"majority": "majority class", "pixels": "pixels + logistic regression"}
PIXEL_SIDE = 16


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
    return logistic_select(x_train, y_train, x_val, y_val, x_eval, y_eval, n_classes)


def rows(data, cfg, sizes: list[int], seeds: list[int]) -> list[dict]:
    x_pool, x_val, x_eval = (pixel_features(d) for d in (data.train, data.validation, data.eval))
    y_pool, k = data.train.labels, len(data.label_names)

    def fit(idx):
        return pixels_logreg(x_pool[idx], y_pool[idx], x_val, data.validation.labels, x_eval, data.eval.labels, k)

    return named(classifier_rows(data, cfg, sizes, seeds, "pixels", fit), NAMES, len(data.eval.labels))
