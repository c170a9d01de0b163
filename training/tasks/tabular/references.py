"""References for tabular tasks, scored beside the MLP at every training-set size: the trivial one (the majority
class, or the training mean), gradient-boosted trees — what a team would try first on a table — and a linear model.

Each sees exactly what an MLP run sees: the same nested training subset, the same validation rows to choose its
hyperparameters (never the eval rows), the same eval rows to score. Regression losses are MSE over the training
subset's target variance, the units of the MLP's loss on its standardised target.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from training.core.evaluate import regression_items
from training.core.references import named
from training.core.scoring import classification_scores, full_proba, log_loss, majority
from training.tasks.tabular.data import TabularPreprocessor, TabularTable, target_standardisation

TABULAR_NAMES = {"majority": "majority class", "mean": "training mean",
                 "gbdt": "gradient-boosted trees (scikit-learn)", "linear": "linear model (logistic / ridge regression)"}
GBDT_LEARNING_RATES = (0.05, 0.1, 0.2)
GBDT_MAX_LEAF_NODES = (15, 31)
GBDT_MAX_ITER = 300
"""Grid of the trees: every (learning rate, leaves) pair is fitted once with GBDT_MAX_ITER rounds, and the number of
rounds is chosen with the rest on the validation rows (staged predictions, so fewer rounds cost no refit)."""
GBDT_MIN_LEAF = (2, 20)
"""Rows per leaf: a tenth of the training subset, clipped to this range. scikit-learn's default (20) starves small
subsets — measured on diamonds, 5 subsets each, validation-chosen grid, eval loss (MSE / variance) by
min_samples_leaf 2 / 5 / 10 / 20: N=50: 0.22 / 0.21 / 0.32 / 0.50; N=100: 0.20 / 0.17 / 0.15 / 0.23;
N=1000: 0.047 / 0.044 / 0.043 / 0.045."""
GBDT_MAX_CATEGORIES = 250
"""Histogram GBDT splits natively on at most 255 categories per column: rarer ones share one code."""
LOGISTIC_C = (0.01, 0.1, 1.0, 10.0, 100.0)
RIDGE_ALPHA = (0.01, 0.1, 1.0, 10.0, 100.0)
"""Regularisation strengths tried for the linear model; the best on the validation rows is scored."""
REFERENCE_THREADS = 1
"""Threads for the trees' and the linear models' native code. The grid is cheap on one thread (diamonds, all 43,152
training rows: 6.6 s) while two OpenMP threads on 2 cores shared with a training run crawl (57.8 s, measured), and
the references usually run beside the neural runs."""


def tabular_reference_rows(table: TabularTable, train_pool_idx, val_idx, eval_idx,
                           subsets: dict[tuple[int, int], np.ndarray], label_names: list[str], task: str) -> list[dict]:
    """One row per (reference, n, seed) of `subsets` ((n, seed) → positions in `train_pool_idx`): the trivial
    reference, `gbdt` and `linear`. Metrics: accuracy, macro_f1, loss (log-loss) for classification; rmse, mae, r2,
    loss (MSE / the subset's target variance) for regression; the chosen hyperparameters under `params`."""
    from threadpoolctl import threadpool_limits

    pool, val_idx, eval_idx = (np.asarray(i, dtype=np.int64) for i in (train_pool_idx, val_idx, eval_idx))
    regression = task == "tabular-regression"
    y_all = table.target.astype(np.float64) if regression else _codes(table.target, label_names)
    rows = []
    with threadpool_limits(REFERENCE_THREADS):
        for (n, seed), positions in subsets.items():
            rows += _rows_of_subset(table, pool[np.asarray(positions, dtype=np.int64)], val_idx, eval_idx, y_all,
                                    {"n_train": int(n), "seed": int(seed)}, label_names, task)
    names = dict(TABULAR_NAMES, linear="linear model (ridge regression)" if regression else
                 "linear model (logistic regression)")
    return named(rows, names, len(eval_idx))


def rows(data, cfg, sizes: list[int], seeds: list[int]) -> list[dict]:
    """The references at every (size, seed), on the grid's own subsets (positions in the training pool)."""
    pool, val, evals = data.extra["indices"]
    subsets = {(n, seed): data.subset_indices(cfg, n, seed) for seed in seeds for n in sizes}
    return tabular_reference_rows(data.extra["table"], pool, val, evals, subsets, data.label_names, data.task)


def _rows_of_subset(table, idx, val_idx, eval_idx, y_all, base: dict, label_names, task) -> list[dict]:
    regression = task == "tabular-regression"
    parts = [(table.frame.iloc[i], y_all[i]) for i in (idx, val_idx, eval_idx)]
    rows = []
    if regression:
        rows.append({"reference": "mean", **base, **_mean_reference(parts[0][1], parts[2][1])})
    else:
        rows.append({"reference": "majority", **base, **majority(parts[0][1], parts[2][1], len(label_names)),
                     "params": {}})
    for name, fit in (("gbdt", gbdt_reference), ("linear", linear_reference)):
        scored = fit(table, parts, label_names, task, base["seed"])
        if scored is not None:
            rows.append({"reference": name, **base, **scored})
    return rows


def _codes(target: np.ndarray, label_names: list[str]) -> np.ndarray:
    code = {name: i for i, name in enumerate(label_names)}
    return np.array([code[v] for v in target.tolist()], dtype=np.int64)


# -- scores ----------------------------------------------------------------------------------------

def regression_scores(pred: np.ndarray, y: np.ndarray, train_scale: float) -> dict:
    """rmse and mae in the target's units; r2 = 1 − SSE / the eval rows' own total sum of squares; loss = MSE /
    train_scale² (train_scale: the training subset's standard deviation, see `target_standardisation`); `items`:
    each eval row's target and prediction, in the eval set's order."""
    err = np.asarray(pred, np.float64) - np.asarray(y, np.float64)
    mse = float(np.mean(err ** 2))
    sst = float(np.sum((y - np.mean(y)) ** 2))
    return {"rmse": math.sqrt(mse), "mae": float(np.mean(np.abs(err))),
            "r2": 1.0 - float(np.sum(err ** 2)) / sst if sst > 0 else 0.0, "loss": mse / train_scale ** 2,
            "items": regression_items(y, pred)}


def _mean_reference(y_train: np.ndarray, y_eval: np.ndarray) -> dict:
    """Always the training mean: R² ≈ 0 (below 0 when the eval mean differs), loss ≈ the eval/train variance ratio."""
    mean, scale = target_standardisation(y_train)
    return {**regression_scores(np.full(len(y_eval), mean), y_eval, scale), "params": {}}


# -- gradient-boosted trees ------------------------------------------------------------------------

def _tree_inputs(table: TabularTable, train_frame, frames):
    """Numeric columns as they are (NaN stays missing: the trees route it), categoricals as ordinal codes fitted
    on the training subset (unseen → missing), and the mask of categorical columns."""
    from sklearn.preprocessing import OrdinalEncoder

    mask = [False] * len(table.numeric) + [True] * len(table.categorical)
    encoder = None
    if table.categorical:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                 encoded_missing_value=np.nan, max_categories=GBDT_MAX_CATEGORIES)
        encoder.fit(_categories(train_frame, table.categorical))

    def encode(frame) -> np.ndarray:
        x = frame[table.numeric].to_numpy(np.float64) if table.numeric else np.empty((len(frame), 0))
        if encoder is not None:
            x = np.hstack([x, encoder.transform(_categories(frame, table.categorical))])
        return x

    return [encode(f) for f in frames], mask


def _categories(frame, columns):
    return frame[columns].astype(object).where(frame[columns].notna(), np.nan)


def gbdt_reference(table: TabularTable, parts, label_names: list[str], task: str, seed: int) -> dict | None:
    """scikit-learn's histogram gradient boosting on the training subset, categoricals split natively; learning
    rate, leaves and rounds chosen by validation log-loss (classification) or MSE (regression), then scored on eval.
    None when the subset has a single class (there is nothing to fit)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    (f_train, y_train), (f_val, y_val), (f_eval, y_eval) = parts
    regression = task == "tabular-regression"
    if not regression and len(np.unique(y_train)) < 2:
        return None
    (x_train, x_val, x_eval), mask = _tree_inputs(table, f_train, (f_train, f_val, f_eval))
    mean, scale = target_standardisation(y_train) if regression else (0.0, 1.0)
    min_leaf = min(GBDT_MIN_LEAF[1], max(GBDT_MIN_LEAF[0], len(y_train) // 10))
    best = None
    for lr in GBDT_LEARNING_RATES:
        for leaves in GBDT_MAX_LEAF_NODES:
            kind = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
            model = kind(learning_rate=lr, max_leaf_nodes=leaves, max_iter=GBDT_MAX_ITER, early_stopping=False,
                         min_samples_leaf=min_leaf, categorical_features=mask, random_state=seed)
            model.fit(x_train, y_train)
            for rounds, val_loss in enumerate(_staged_losses(model, x_val, y_val, regression, len(label_names)), 1):
                if best is None or val_loss < best[0]:
                    best = (val_loss, {"learning_rate": lr, "max_leaf_nodes": leaves, "max_iter": rounds,
                                       "min_samples_leaf": min_leaf}, model)
    _, params, model = best
    out = _staged_output(model, x_eval, params["max_iter"], regression, len(label_names))
    scores = regression_scores(out, y_eval, scale) if regression else classification_scores(out, y_eval,
                                                                                             len(label_names))
    return {**scores, "params": params}


def _staged_output(model, x, rounds: int, regression: bool, n_classes: int) -> np.ndarray:
    staged = model.staged_predict(x) if regression else model.staged_predict_proba(x)
    for i, out in enumerate(staged, 1):
        if i == rounds:
            return out if regression else full_proba(out, model.classes_, n_classes)
    raise ValueError(f"the model has fewer than {rounds} rounds")


def _staged_losses(model, x, y, regression: bool, n_classes: int):
    if regression:
        for pred in model.staged_predict(x):
            yield float(np.mean((pred - y) ** 2))
    else:
        for proba in model.staged_predict_proba(x):
            yield log_loss(full_proba(proba, model.classes_, n_classes), y)


# -- linear model ----------------------------------------------------------------------------------

def linear_reference(table: TabularTable, parts, label_names: list[str], task: str, seed: int) -> dict | None:
    """Logistic regression (C) or ridge regression (alpha) on the MLP's own inputs (the preprocessing fitted on the
    training subset); the strength chosen by validation log-loss or MSE. None when the subset has a single class."""
    from scipy.linalg import LinAlgWarning
    from sklearn.linear_model import LogisticRegression, Ridge

    (f_train, y_train), (f_val, y_val), (f_eval, y_eval) = parts
    regression = task == "tabular-regression"
    if not regression and len(np.unique(y_train)) < 2:
        return None
    prep = TabularPreprocessor(table.numeric, table.categorical, task, label_names).fit(f_train, y_train)
    x_train, x_val, x_eval = (prep.transform(f) for f in (f_train, f_val, f_eval))
    k = len(label_names)
    best = None
    if regression:
        mean, scale = prep.target_mean, prep.target_scale
        z_train = (y_train - mean) / scale
        for alpha in RIDGE_ALPHA:
            with warnings.catch_warnings():  # collinear columns (diamonds' x, y, z): what the penalty is for
                warnings.simplefilter("ignore", LinAlgWarning)
                model = Ridge(alpha=alpha).fit(x_train, z_train)
            val_loss = float(np.mean((mean + scale * model.predict(x_val) - y_val) ** 2))
            if best is None or val_loss < best[0]:
                best = (val_loss, {"alpha": alpha}, model)
        _, params, model = best
        return {**regression_scores(mean + scale * model.predict(x_eval), y_eval, scale), "params": params}
    for c in LOGISTIC_C:
        model = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        val_loss = log_loss(full_proba(model.predict_proba(x_val), model.classes_, k), y_val)
        if best is None or val_loss < best[0]:
            best = (val_loss, {"C": c}, model)
    _, params, model = best
    return {**classification_scores(full_proba(model.predict_proba(x_eval), model.classes_, k), y_eval, k),
            "params": params}
