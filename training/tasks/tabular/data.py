"""Tables of numeric and categorical columns with a target: reading, column typing, and the preprocessing each run
fits on its own training rows.

A `TabularTable` is the user's table after the checks: the target (a class or a number), the feature columns typed
numeric or categorical, and the columns that cannot help dropped with a note saying why (an ID, a constant, a copy
of the target, a text column with a different value in almost every row). Missing feature values stay missing here:
`TabularPreprocessor` imputes them, fitted — like the scaling, the one-hot categories and the regression target's
standardisation — on a run's training rows only, so nothing about the validation or eval rows leaks into training.

Built-ins are CSV files that ship inside installed wheels, read as files (never imported), so they are offline:
`diamonds` (53,940 diamonds → price) and `mpg` (234 cars → highway miles per gallon) from plotnine's package data
(ggplot2's data sets), `penguins` (344 Palmer penguins → species, with missing values) likewise.
"""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from training.config import DataConfig
from training.core.data.sources import describe_source, load_frame, separator_hint
from training.core.data.task import TaskData, split_indices
from training.errors import DataError

TABULAR_TASKS = ("tabular-classification", "tabular-regression")
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
"""Cell texts read as missing (compared stripped and lower-cased): a CSV is read as text, and R, Excel and pandas
each write a missing value their own way."""
MANY_VALUES_MIN = 20
"""A text column is dropped as an ID or as too varied only when it has more distinct values than this: in a tiny
table every column has few rows per value, and that alone says nothing."""
HIGH_CARDINALITY_SHARE = 0.5
"""A text column with at least this share of distinct values (per row) is dropped: most of its values are seen once,
so one-hot columns (or tree splits) on them learn nothing that carries over to new rows."""
CONTINUOUS_CLASSES = 50
CONTINUOUS_SHARE = 0.2
"""A classification target with more than CONTINUOUS_CLASSES distinct numbers making up more than CONTINUOUS_SHARE of
the rows is a measurement, not a class: the user is pointed to tabular-regression."""
MIN_CATEGORY_COUNT = 2
"""One-hot: a category seen fewer times than this in the training rows shares the 'infrequent' column with categories
never seen there (an eval row with a new category lands in it too, when it exists)."""
MAX_ONE_HOT = 100
"""One-hot: at most this many columns per categorical column (the most frequent categories, then 'infrequent'),
so a column with thousands of values cannot blow up the input width."""


def _plotnine_csv(name: str) -> pd.DataFrame:
    spec = importlib.util.find_spec("plotnine")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"built-in table {name!r} ships with the plotnine package, which is not installed; "
                        "run `pip install -r requirements.txt`")
    return pd.read_csv(Path(list(spec.submodule_search_locations)[0]) / "data" / f"{name}.csv")


BUILTIN_TABLES = {
    "diamonds": ("tabular-regression", "price", lambda: _plotnine_csv("diamonds")),
    "penguins": ("tabular-classification", "species", lambda: _plotnine_csv("penguins")),
    "mpg": ("tabular-regression", "hwy", lambda: _plotnine_csv("mpg")),
}
"""name → (the task it is meant for, its default target column, loader). `diamonds`: carat, cut, color, clarity
(ordered grades, stored as text), depth, table, x, y, z → price in US dollars. `penguins`: island, bill and flipper
sizes, body mass, sex, year → species (Adelie, Chinstrap, Gentoo); 11 rows miss a value. `mpg`: manufacturer, model,
engine size, year, cylinders, transmission, drive, city mpg, fuel type, class → highway mpg."""


@dataclass
class TabularTable:
    """A checked table: feature columns (numeric as float64, categorical as text with NaN for missing) and target."""
    frame: pd.DataFrame
    """The usable feature columns only, in file order; missing values kept (the preprocessing imputes them)."""
    target: np.ndarray
    """float64 (regression) or the class names as str (classification), one per row of `frame`."""
    numeric: list[str]
    categorical: list[str]
    fingerprint: str
    """sha256 of the content (task, columns, values, target): recorded with every run."""
    dropped_rows: int
    """Rows skipped because their target was missing."""
    where: str
    """How messages name the source (the user's file name, or the built-in)."""
    task: str
    target_column: str = ""
    notes: list[str] = field(default_factory=list)
    """Columns dropped and why, in the user's words."""

    def __len__(self) -> int:
        return len(self.target)

    @property
    def label_names(self) -> list[str]:
        """Every class of the table, sorted (so class codes are the same in every run); [] for regression."""
        return sorted(set(self.target.tolist())) if self.task == "tabular-classification" else []


def load_tabular_table(source: str, task: str, *, label_column: str = "label",
                       feature_columns: list[str] | None = None, hf_split: str = "train", max_rows: int | None = None,
                       display_name: str | None = None) -> TabularTable:
    """Rows of `source` as a checked table for `task`; errors name the file and say what to change."""
    if task not in TABULAR_TASKS:
        raise DataError(f"task {task!r} is not a tabular task; use one of {', '.join(TABULAR_TASKS)}")
    df, where = _read(source, hf_split, max_rows, display_name)
    df = df.rename(columns=str)
    kind, _, name = source.partition(":")
    if kind == "builtin" and label_column == "label" and "label" not in df.columns:
        label_column = BUILTIN_TABLES[name][1]
    if len(df) == 0:
        raise DataError(f"{where} has no rows; give a file with a header row and at least a few rows")
    columns = list(df.columns)
    if label_column not in df.columns:
        raise DataError(f"target column {label_column!r} not found in {where}; columns are: {', '.join(columns)}. "
                        f"Set data.label_column to the column to predict.{separator_hint(columns)}")
    if feature_columns is None:
        feature_columns = [c for c in columns if c != label_column]
    else:
        unknown = [c for c in feature_columns if c not in df.columns]
        if unknown:
            raise DataError(f"feature column(s) {', '.join(map(repr, unknown))} not found in {where}; columns are: "
                            f"{', '.join(columns)}. Fix data.feature_columns (or leave it empty for every column)."
                            f"{separator_hint(columns)}")
        if label_column in feature_columns:
            raise DataError(f"data.feature_columns includes the target column {label_column!r} of {where}; a model "
                            "given the answer learns nothing. Remove it from the feature columns.")
    df = df[feature_columns + [label_column]].copy()
    for col in df.columns:
        if _is_text(df[col]):
            df[col] = _blank_missing(df[col])
    keep = df[label_column].notna().to_numpy()
    dropped = int((~keep).sum())
    df = df[keep].reset_index(drop=True)
    if len(df) == 0:
        raise DataError(f"every row of {where} has an empty target column {label_column!r}; check data.label_column")
    target = _target(df.pop(label_column), task, label_column, where)
    frame, numeric, categorical, notes = _type_columns(df, target)
    if not numeric and not categorical:
        why = "; ".join(notes) if notes else "there are no columns besides the target"
        raise DataError(f"{where} has no usable feature columns ({why}). Give a table with columns that describe "
                        f"each row, or set data.feature_columns.")
    fingerprint = _fingerprint(task, label_column, frame, target)
    return TabularTable(frame, target, numeric, categorical, fingerprint, dropped, where, task, label_column, notes)


def _read(source: str, hf_split: str, max_rows: int | None, display_name: str | None) -> tuple[pd.DataFrame, str]:
    kind, _, name = source.partition(":")
    where = describe_source(source, display_name)
    if kind != "builtin":
        return load_frame(source, hf_split=hf_split, max_rows=max_rows, display_name=display_name), where
    if name not in BUILTIN_TABLES:
        raise DataError(f"unknown built-in table {name!r}; tabular built-ins are: {', '.join(BUILTIN_TABLES)}")
    df = BUILTIN_TABLES[name][2]()
    return (df.head(max_rows) if max_rows else df), where


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or isinstance(s.dtype, pd.StringDtype | pd.CategoricalDtype)


def _blank_missing(s: pd.Series) -> pd.Series:
    """Text cells that spell 'missing' (see MISSING_TOKENS) as NaN; values kept as they are otherwise."""
    s = s.astype(object)
    blank = s.map(lambda v: isinstance(v, str) and v.strip().lower() in MISSING_TOKENS)
    return s.mask(blank | s.isna(), np.nan)


def _as_number(s: pd.Series) -> pd.Series | None:
    """The column as float64 when every present value is a number (CSV cells arrive as text), else None. Infinities
    become missing values."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return None
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype(np.float64).replace([np.inf, -np.inf], np.nan)
    if isinstance(s.dtype, pd.CategoricalDtype):
        return None
    present = s.dropna()
    if len(present) == 0:
        return None
    as_num = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    if as_num.isna().any():
        return None
    number = pd.to_numeric(s.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")
    return number.astype(np.float64).replace([np.inf, -np.inf], np.nan)


def _label_str(v) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip() if isinstance(v, str) else str(v)


def _target(s: pd.Series, task: str, column: str, where: str) -> np.ndarray:
    number = _as_number(s)
    if task == "tabular-regression":
        if number is None:
            bad = next(v for v in s.tolist() if not _parses(v))
            raise DataError(f"target column {column!r} of {where} is not numeric (e.g. {bad!r}), so it cannot be "
                            "predicted as a number. Use task tabular-classification to predict it as a class, or "
                            "set data.label_column to a numeric column.")
        y = number.to_numpy(np.float64)
        if not np.isfinite(y).all():
            raise DataError(f"target column {column!r} of {where} holds infinite values; remove or fix those rows")
        if np.ptp(y) == 0:
            raise DataError(f"target column {column!r} of {where} has the same value ({y[0]:g}) in every row; "
                            "there is nothing to predict. Set data.label_column to another column.")
        return y
    labels = np.array([_label_str(v) for v in s.tolist()], dtype=object).astype(str)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise DataError(f"target column {column!r} of {where} has only one class ({classes[0]!r}); classification "
                        "needs at least two. Check data.label_column.")
    if number is not None and len(classes) > CONTINUOUS_CLASSES and len(classes) > CONTINUOUS_SHARE * len(labels):
        raise DataError(f"target column {column!r} of {where} looks like a measurement, not a class: "
                        f"{len(classes)} distinct numbers in {len(labels)} rows. Use task tabular-regression to "
                        "predict it as a number, or set data.label_column to a column of classes.")
    return labels


def _parses(v) -> bool:
    try:
        float(str(v).strip())
    except ValueError:
        return False
    return True


def _type_columns(df: pd.DataFrame, target: np.ndarray):
    """(frame of usable columns, numeric names, categorical names, notes on the dropped ones)."""
    n = len(df)
    target_text = pd.Series(target).map(_label_str)
    keep, numeric, categorical, notes = {}, [], [], []
    for col in df.columns:
        s = df[col]
        number = _as_number(s)
        distinct = s.nunique(dropna=False)
        if distinct <= 1:
            value = "missing" if s.isna().all() else repr(_label_str(s.dropna().iloc[0]))
            notes.append(f"column {col!r} dropped: the same value ({value}) in every row")
            continue
        if s.map(_label_str, na_action="ignore").reset_index(drop=True).equals(target_text):
            notes.append(f"column {col!r} dropped: a copy of the target, which would give the answer away")
            continue
        if number is not None:
            values = number.to_numpy()
            if distinct == n > MANY_VALUES_MIN and _row_number(values):
                notes.append(f"column {col!r} dropped: it counts the rows (every value different, consecutive "
                             "whole numbers), an ID rather than a property")
                continue
            keep[col] = number
            numeric.append(col)
            continue
        text = s.map(lambda v: v if isinstance(v, str) else _label_str(v), na_action="ignore").astype(object)
        distinct = text.nunique(dropna=True)
        if distinct > MANY_VALUES_MIN and distinct == text.notna().sum() == n:
            notes.append(f"column {col!r} dropped: every row has a different value, like an ID (e.g. "
                         f"{text.iloc[0]!r}); nothing learned from it carries over to new rows")
            continue
        if distinct > MANY_VALUES_MIN and distinct >= HIGH_CARDINALITY_SHARE * n:
            notes.append(f"column {col!r} dropped: {distinct} different values in {n} rows, too many to learn "
                         "from (free text or an ID?)")
            continue
        keep[col] = text
        categorical.append(col)
    return pd.DataFrame(keep, index=df.index), numeric, categorical, notes


def _row_number(values: np.ndarray) -> bool:
    if not np.isfinite(values).all() or not np.all(values == np.round(values)):
        return False
    ordered = np.sort(values)
    return bool(np.all(np.diff(ordered) == 1))


def _fingerprint(task: str, target_column: str, frame: pd.DataFrame, target: np.ndarray) -> str:
    h = hashlib.sha256(f"{task}|{target_column}|{'|'.join(frame.columns)}".encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(pd.Series(target), index=False).to_numpy().tobytes())
    return h.hexdigest()


# -- preprocessing, fitted per run -----------------------------------------------------------------

def target_standardisation(y: np.ndarray) -> tuple[float, float]:
    """(mean, scale) of regression targets: the training rows' mean and standard deviation (ddof 0; 1 when they
    do not vary). The MLP trains on (y − mean) / scale, and a reference's loss is its MSE / scale²."""
    y = np.asarray(y, dtype=np.float64)
    mean = float(y.mean()) if len(y) else 0.0
    scale = float(y.std()) if len(y) > 1 else 0.0
    return mean, (scale if np.isfinite(scale) and scale > 0 else 1.0)


class TabularPreprocessor:
    """Features → a dense float32 matrix, fitted on one run's training rows: numeric columns median-imputed and
    standardised, plus a 0/1 was-missing indicator for each column missing in some of those rows; categorical columns
    with missing as its own category, one-hot encoded (rare and unseen categories share an 'infrequent' column).
    Targets: class codes in the order of `label_names`, or (regression) standardised with the training rows' mean and
    scale."""

    def __init__(self, numeric: list[str], categorical: list[str], task: str, label_names: list[str] | None = None):
        self.numeric, self.categorical, self.task = list(numeric), list(categorical), task
        self.label_names = list(label_names or [])
        self.target_mean, self.target_scale = 0.0, 1.0
        self.columns = None

    def fit(self, table_rows: pd.DataFrame, target) -> "TabularPreprocessor":
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import MissingIndicator, SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        parts = []
        if self.numeric:
            parts.append(("num", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                               StandardScaler()), self.numeric))
            # 0/1, not standardised: a column missing in 2 of 275 training rows would put a missing row at 12 σ
            parts.append(("missing", MissingIndicator(features="missing-only", error_on_new=False), self.numeric))
        if self.categorical:
            parts.append(("cat", make_pipeline(
                SimpleImputer(strategy="constant", fill_value="missing", keep_empty_features=True),
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_CATEGORY_COUNT,
                              max_categories=MAX_ONE_HOT, sparse_output=False, dtype=np.float32)),
                self.categorical))
        self.columns = ColumnTransformer(parts, sparse_threshold=0.0)
        self.columns.fit(self._inputs(table_rows))
        if self.task == "tabular-regression":
            self.target_mean, self.target_scale = target_standardisation(target)
        return self

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=frame.index)
        for col in self.numeric:
            out[col] = frame[col].astype(np.float64)
        for col in self.categorical:
            out[col] = frame[col].astype(object).where(frame[col].notna(), np.nan)
        return out

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return np.ascontiguousarray(self.columns.transform(self._inputs(frame)), dtype=np.float32)

    def encode_target(self, target) -> np.ndarray:
        """int64 class codes (position in `label_names`), or float32 standardised regression targets."""
        if self.task == "tabular-regression":
            return ((np.asarray(target, np.float64) - self.target_mean) / self.target_scale).astype(np.float32)
        code = {name: i for i, name in enumerate(self.label_names)}
        return np.array([code[v] for v in np.asarray(target).tolist()], dtype=np.int64)

    @property
    def feature_names(self) -> list[str]:
        return [str(n) for n in self.columns.get_feature_names_out()]

    @property
    def n_features(self) -> int:
        return len(self.feature_names)


@dataclass
class TabularExamples:
    """Preprocessed rows. Deliberately no `lengths` attribute: every row is one vector of the same width, so batching
    falls back to plain order (see `tokenize.length_sorted_batches`)."""
    features: np.ndarray
    """float32 [n, n_features]."""
    labels: np.ndarray
    """int64 class codes, or float32 standardised regression targets."""

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> "TabularExamples":
        idx = np.asarray(idx)
        return TabularExamples(self.features[idx], self.labels[idx])

    def collate(self, idx, pad_id: int, device, multiple: int = 1) -> dict:
        """A batch on `device`: {"features": float32 [b, d], "labels": int64 or float32 [b]} (nothing to pad)."""
        import torch

        idx = np.asarray(idx)
        labels = self.labels[idx]
        batch = {"features": torch.from_numpy(np.ascontiguousarray(self.features[idx], dtype=np.float32)),
                 "labels": torch.from_numpy(labels.astype(np.int64 if labels.dtype.kind in "iu" else np.float32))}
        non_blocking = device.type == "cuda"
        return {k: (v.pin_memory() if non_blocking else v).to(device, non_blocking=non_blocking)
                for k, v in batch.items()}


def fit_preprocessor(table: TabularTable, train_idx, label_names: list[str], task: str) -> TabularPreprocessor:
    """The preprocessing of a run whose training rows are `train_idx`: what it trained on, and what its delivered
    model answers new rows through."""
    train_idx = np.asarray(train_idx, dtype=np.int64)
    return TabularPreprocessor(table.numeric, table.categorical, task, label_names).fit(table.frame.iloc[train_idx],
                                                                                        table.target[train_idx])


def model_inputs(prep: TabularPreprocessor) -> dict:
    """What building a run's MLP needs from its preprocessing (`TaskKind.build_model`'s extra arguments)."""
    out = {"n_features": prep.n_features}
    if prep.task == "tabular-regression":
        out.update(target_mean=prep.target_mean, target_scale=prep.target_scale)
    return out


def prepare_run_parts(table: TabularTable, train_idx, val_idx, eval_idx, label_names: list[str], task: str):
    """(train, validation, eval, info) for one run: the preprocessing is fitted on `train_idx` (the run's own
    training rows) only and applied to all three. info: n_features, feature_names, target_mean and target_scale
    (None for classification)."""
    train_idx, val_idx, eval_idx = (np.asarray(i, dtype=np.int64) for i in (train_idx, val_idx, eval_idx))
    prep = fit_preprocessor(table, train_idx, label_names, task)
    parts = [TabularExamples(prep.transform(table.frame.iloc[idx]), prep.encode_target(table.target[idx]))
             for idx in (train_idx, val_idx, eval_idx)]
    regression = task == "tabular-regression"
    info = {"n_features": prep.n_features, "feature_names": prep.feature_names,
            "target_mean": prep.target_mean if regression else None,
            "target_scale": prep.target_scale if regression else None}
    return parts[0], parts[1], parts[2], info


# -- the task's data ------------------------------------------------------------------------------

def prepare(cfg: DataConfig, task: str, unit: str = "training rows") -> TaskData:
    """Tables: one example per row, split like text classification (stratified for classes). Each run refits the
    preprocessing on its own training rows (`TaskKind.run_parts`); the parts here are fitted on the whole training
    pool, for sizing only."""
    def read(source: str, split: str, max_rows: int | None):
        return load_tabular_table(source, task, label_column=cfg.label_column, feature_columns=cfg.feature_columns,
                                  hf_split=split, max_rows=max_rows)

    if cfg.eval_source:
        raise DataError("a separate test file is not supported for tables yet: leave data.eval_source out, and a "
                        "held-out split of your table is the eval set")
    table = read(cfg.source, cfg.hf_split, cfg.max_rows)
    classify = task == "tabular-classification"
    labels = [str(v) for v in table.target] if classify else None
    train_idx, val_idx, eval_idx = split_indices(cfg, len(table.target), labels, None, None, table.where, True)
    names = sorted(set(labels)) if classify else []
    if classify:
        missing = sorted(set(names) - {labels[i] for i in train_idx})
        if missing:
            raise DataError(f"class {missing[0]!r} of {table.where} has no training rows after the eval and validation "
                            "splits; add rows of it or lower data.eval_fraction")
    train, validation, evals, fitted = prepare_run_parts(table, train_idx, val_idx, eval_idx, names, task)
    info = {"source": cfg.source, "eval_source": None, "source_fingerprint": table.fingerprint, "rows": len(table.target),
            "dropped_rows": table.dropped_rows, "train_rows": int(len(train_idx)), "validation_rows": int(len(val_idx)),
            "eval_rows": int(len(eval_idx)), "numeric": table.numeric, "categorical": table.categorical,
            "n_features": fitted["n_features"]}
    if table.notes:
        info["note"] = " ".join(table.notes)
    return TaskData(task, train, evals, names, table.fingerprint, info,
                    [labels[i] for i in train_idx] if classify else None, validation,
                    extra={"table": table, "indices": (train_idx, val_idx, eval_idx)}, unit=unit)
