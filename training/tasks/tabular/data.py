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

import dataclasses
import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from training.config import DataConfig
from training.core.data.labels import apply_stray_policy, same_labels
from training.core.data.sources import binary_note, describe_source, load_frame, nested_row, separator_hint
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
ID_NAMES = frozenset({"id", "sku", "uuid", "guid", "key", "index", "code", "ean", "upc", "isbn", "row", "rowid",
                      "row_id", "record", "serial", "serial_number", "order_id", "customer_id", "product_id"})
"""Column names (lower-cased, spaces as '_') that say the column identifies a row; names ending in '_id' or ' id'
count too. A number column so named whose every value differs is dropped as an ID: the number is an arbitrary label
(a SKU, an order number), and a model that reads it as a quantity learns noise."""
TARGET_NAMES = ("target", "label", "y", "price", "class", "outcome", "quality", "value", "sales", "revenue", "salary",
                "income", "cost", "amount", "demand", "species", "churn", "diagnosis", "survived", "default")
"""Column names that announce what a table is for, in order of preference: the suggested target is the first column
so named that suits the task (a name ending in '_price' or '_target' counts as that word)."""
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
    groups: list[str] | None = None
    """Rows that repeat another row exactly (every feature and the target) share a group, so the split keeps copies on
    one side of train/validation/eval; None when no row repeats."""
    duplicate_rows: int = 0
    """Rows that are exact copies of an earlier row (kept, and held on the same side of the split as it)."""
    dropped_columns: list[str] = field(default_factory=list)
    """The columns `notes` explains, in file order."""
    read_notes: list[str] = field(default_factory=list)
    """How the file was read where not as written (no header row, quotes as text) and rows left out (stray labels)."""

    def __len__(self) -> int:
        return len(self.target)

    @property
    def label_names(self) -> list[str]:
        """Every class of the table, sorted (so class codes are the same in every run); [] for regression."""
        return sorted(set(self.target.tolist())) if self.task == "tabular-classification" else []


def load_tabular_table(source: str, task: str, *, label_column: str = "label",
                       feature_columns: list[str] | None = None, hf_split: str = "train", max_rows: int | None = None,
                       display_name: str | None = None, stray: str = "stop") -> TabularTable:
    """Rows of `source` as a checked table for `task`; errors name the file and say what to change."""
    if task not in TABULAR_TASKS:
        raise DataError(f"task {task!r} is not a tabular task; use one of {', '.join(TABULAR_TASKS)}")
    df, where = _read(source, hf_split, max_rows, display_name)
    df = df.rename(columns=str)
    kind, _, name = source.partition(":")
    if kind == "builtin" and label_column == "label" and "label" not in df.columns:
        label_column = BUILTIN_TABLES[name][1]
    return table_from_frame(df, task, label_column, feature_columns, where, stray)


def table_from_frame(df: pd.DataFrame, task: str, label_column: str, feature_columns: list[str] | None,
                     where: str, stray: str = "stop") -> TabularTable:
    """The checks of `load_tabular_table` on a frame already read (the New experiment page runs them on an upload
    before planning, so the columns it will drop are named next to the pickers). A classification target's values
    that do not fit the others are refused, left out or kept as `stray` says (`labels.apply_stray_policy`)."""
    if len(df) == 0:
        raise DataError(f"{where} has no rows; give a file with a header row and at least a few rows")
    columns = list(df.columns)
    if label_column not in df.columns:
        raise DataError(f"target column {label_column!r} not found in {where}; columns are: {', '.join(columns)}. "
                        f"Set data.label_column to the column to predict.{separator_hint(columns)}"
                        f"{binary_note(df, [label_column])}")
    if (row := nested_row(df[label_column])) is not None:
        raise DataError(f"target column {label_column!r} of {where} holds lists or mappings, not plain values (row "
                        f"{row}); set data.label_column to a column of numbers or class names")
    binary = df.attrs.get("binary", {})
    read_note = df.attrs.get("note") or ""  # how the file was read (no header row, quotes as text)
    if feature_columns is None:
        feature_columns = [c for c in columns if c != label_column]
    else:
        unknown = [c for c in feature_columns if c not in df.columns]
        if unknown:
            raise DataError(f"feature column(s) {', '.join(map(repr, unknown))} not found in {where}; columns are: "
                            f"{', '.join(columns)}. Fix data.feature_columns (or leave it empty for every column)."
                            f"{separator_hint(columns)}{binary_note(df, unknown)}")
        binary = {}
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
    read_notes = [read_note] if read_note else []
    if task == "tabular-classification":
        labels, alike = same_labels([_label_str(v) for v in df[label_column].tolist()])
        df[label_column] = labels
        keep_rows, stray_note = apply_stray_policy(labels, stray, label_column, where)
        read_notes += [f"target column {label_column!r}: {alike}"] if alike else []
        if stray_note:
            read_notes.append(stray_note)
        if not all(keep_rows):
            dropped += keep_rows.count(False)
            df = df[np.array(keep_rows)].reset_index(drop=True)
    target = _target(df.pop(label_column), task, label_column, where)
    frame, numeric, categorical, notes, dropped_columns = _type_columns(df, target)
    for col, row in binary.items():  # left out as the file was read (`load_frame`): named with the others
        notes.append(f"column {col!r} dropped: binary values, not text (row {row} is not UTF-8)")
        dropped_columns.append(col)
    if not numeric and not categorical:
        why = "; ".join(notes) if notes else "there are no columns besides the target"
        raise DataError(f"{where} has no usable feature columns ({why}). Give a table with columns that describe "
                        f"each row, or set data.feature_columns.")
    fingerprint = _fingerprint(task, label_column, frame, target)
    groups, duplicates = duplicate_groups(frame, target)
    return TabularTable(frame, target, numeric, categorical, fingerprint, dropped, where, task, label_column, notes,
                        groups, duplicates, dropped_columns, read_notes)


def suggest_target(df: pd.DataFrame, task: str) -> str | None:
    """The column a table is most likely meant to predict for `task`: the first column named like a target (see
    TARGET_NAMES) that suits the task, else the last column that does (a number with at least three values for
    regression; a column of classes for classification, not one value per row); None for a table without columns."""
    columns = [str(c) for c in df.columns]
    frame = df.rename(columns=str)

    def suits(c: str) -> bool:
        s = frame[c]
        s = _blank_missing(s) if _is_text(s) else s
        present = s.dropna()
        if len(present) < 2 or _id_name(c):
            return False
        if task == "tabular-regression":
            number = _as_number(present)
            return number is not None and number.nunique() >= 3
        n = present.map(_label_str).nunique()
        return 2 <= n < HIGH_CARDINALITY_SHARE * len(present) and (n <= CONTINUOUS_CLASSES or
                                                                   n <= CONTINUOUS_SHARE * len(present))

    def rank(c: str) -> int | None:
        name = c.strip().lower().replace(" ", "_")
        return next((i for i, t in enumerate(TARGET_NAMES) if name == t or name.endswith("_" + t)), None)

    named = sorted((r, i, c) for i, c in enumerate(columns) if (r := rank(c)) is not None and suits(c))
    if named:
        return named[0][2]
    suitable = [c for c in columns if suits(c)]
    return suitable[-1] if suitable else (columns[-1] if columns else None)


def class_warnings(table: TabularTable) -> list[str]:
    """Classes of a classification target with fewer than FEW_PER_CLASS rows, in words: after eval and validation
    take their share a class of 1–4 rows leaves at most a couple to learn from, and its eval score rests on one or
    two rows (a wine grade seen once in 500 rows)."""
    from training.core.data.columns import FEW_PER_CLASS

    if table.task != "tabular-classification":
        return []
    counts = pd.Series(table.target).value_counts()
    few = counts[counts < FEW_PER_CLASS]
    if few.empty:
        return []
    listed = ", ".join(f"{c!r} ({n} row{'s' if n != 1 else ''})" for c, n in few.sort_values().items())
    return [f"{len(few)} of the {len(counts)} classes of {table.target_column!r} in {table.where} have fewer than "
            f"{FEW_PER_CLASS} rows: {listed}. Too few to learn or score; merge them into a neighbouring class, add "
            "rows, or drop those rows."]


def duplicate_groups(frame: pd.DataFrame, target: np.ndarray) -> tuple[list[str] | None, int]:
    """(a group per row, the number of rows that copy an earlier one): a row's group is the position of the first row
    with the same features and target; (None, 0) when no row repeats."""
    both = frame.assign(__target__=pd.Series(target, index=frame.index).map(_label_str))
    repeated = both.duplicated(keep=False).to_numpy()
    n_copies = int(both.duplicated().sum())
    if not n_copies:
        return None, 0
    first = both.groupby(list(both.columns), dropna=False, sort=False).ngroup().to_numpy()
    return [f"copy-{first[i]}" if repeated[i] else str(i) for i in range(len(both))], n_copies


def with_test_rows(table: TabularTable, df: pd.DataFrame, where: str) -> TabularTable:
    """`table` with the rows of the user's own test set `df` appended (after its own rows): the same feature columns,
    typed as in `table`, and a target of the same kind; rows with an empty target are skipped. Errors name the file."""
    df = df.rename(columns=str)
    need = list(table.frame.columns) + [table.target_column]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataError(f"the test set {where} has no column {', '.join(map(repr, missing))}, which the table it tests "
                        f"uses; its columns are: {', '.join(df.columns)}. Give a test set with the table's columns."
                        f"{separator_hint(list(df.columns))}")
    df = df[need].copy()
    for col in df.columns:
        if _is_text(df[col]):
            df[col] = _blank_missing(df[col])
    df = df[df[table.target_column].notna()].reset_index(drop=True)
    if len(df) == 0:
        raise DataError(f"every row of the test set {where} has an empty target column {table.target_column!r}")
    frame = {}
    for col in table.frame.columns:
        if col in table.numeric:
            number = _as_number(df[col])
            if number is None and df[col].notna().any():
                bad = next(v for v in df[col].dropna().tolist() if not _parses(v))
                raise DataError(f"column {col!r} of the test set {where} holds {bad!r}, but it is a number column in "
                                f"{table.where}; fix that cell or leave it empty")
            frame[col] = number if number is not None else df[col].astype(np.float64)
        else:
            frame[col] = _as_text(df[col])
    y = df[table.target_column]
    if table.task == "tabular-regression":
        number = _as_number(y)
        if number is None or not np.isfinite(number.to_numpy()).all():
            raise DataError(f"target column {table.target_column!r} of the test set {where} is not a finite number in "
                            "every row; fix those rows")
        target = number.to_numpy(np.float64)
    else:
        target = np.array([_label_str(v) for v in y.tolist()], dtype=object).astype(str)
        unknown = sorted(set(target.tolist()) - set(table.target.tolist()))
        if unknown:
            raise DataError(f"the test set {where} has class {unknown[0]!r} in {table.target_column!r}, which "
                            f"{table.where} never shows; a model cannot predict a class it never saw. Remove those "
                            "rows or add examples of it to the training table")
    test = pd.DataFrame(frame)
    h = hashlib.sha256(table.fingerprint.encode())
    h.update(_fingerprint(table.task, table.target_column, test, target).encode())
    return dataclasses.replace(table, frame=pd.concat([table.frame, test], ignore_index=True),
                               target=np.concatenate([table.target, target]), fingerprint=h.hexdigest())


def duplicates_note(n_copies: int, n_rows: int) -> str:
    """What the preflight and the run's record say about rows that repeat."""
    return (f"{n_copies:,} of {n_rows:,} rows repeat another row exactly (the same value in every column); each row and "
            "its copies sit on the same side of the train/validation/eval split, so no eval row was seen in training")


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


def _as_text(s: pd.Series) -> pd.Series:
    """A categorical column's values as text (numbers as a class name reads them), missing values kept missing."""
    return s.map(lambda v: v if isinstance(v, str) else _label_str(v), na_action="ignore").astype(object)


def _label_str(v) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip() if isinstance(v, str) else str(v)


def _target(s: pd.Series, task: str, column: str, where: str) -> np.ndarray:
    number = _as_number(s)
    if task == "tabular-regression":
        if number is None:
            bad = next((v for v in s.dropna().tolist() if not _parses(v)), None)
            if bad is None:  # every cell parses, yet pandas could not read the column: a number beyond float's range
                huge = next((v for v in s.dropna().tolist() if not np.isfinite(float(str(v).strip()))), None)
                raise DataError(f"target column {column!r} of {where} holds a value too large to be a number ({huge!r}); "
                                "remove or fix those rows")
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
    classes = [str(c) for c in np.unique(labels)]  # plain str: a message shows 'same', not np.str_('same')
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
    keep, numeric, categorical, notes, dropped = {}, [], [], [], []
    for col in df.columns:
        s = df[col]
        number = _as_number(s)
        distinct = s.nunique(dropna=False)
        if distinct <= 1:
            value = "missing" if s.isna().all() else repr(_label_str(s.dropna().iloc[0]))
            dropped.append(col)
            notes.append(f"column {col!r} dropped: the same value ({value}) in every row")
            continue
        if s.map(_label_str, na_action="ignore").reset_index(drop=True).equals(target_text):
            dropped.append(col)
            notes.append(f"column {col!r} dropped: a copy of the target, which would give the answer away")
            continue
        if number is not None:
            values = number.to_numpy()
            if distinct == n > MANY_VALUES_MIN and _row_number(values):
                dropped.append(col)
                notes.append(f"column {col!r} dropped: it counts the rows (every value different, consecutive "
                             "whole numbers), an ID rather than a property")
                continue
            if distinct > MANY_VALUES_MIN and distinct >= HIGH_CARDINALITY_SHARE * n and _id_name(col):
                dropped.append(col)
                notes.append(f"column {col!r} dropped: its name says it identifies a row and it has "
                             f"{distinct} different numbers in {n} rows, an ID rather than a quantity")
                continue
            keep[col] = number
            numeric.append(col)
            continue
        text = _as_text(s)
        distinct = text.nunique(dropna=True)
        if distinct > MANY_VALUES_MIN and distinct == text.notna().sum() == n:
            dropped.append(col)
            notes.append(f"column {col!r} dropped: every row has a different value, like an ID (e.g. "
                         f"{text.iloc[0]!r}); nothing learned from it carries over to new rows")
            continue
        if distinct > MANY_VALUES_MIN and distinct >= HIGH_CARDINALITY_SHARE * n:
            dropped.append(col)
            notes.append(f"column {col!r} dropped: {distinct} different values in {n} rows, too many to learn "
                         "from (free text or an ID?)")
            continue
        keep[col] = text
        categorical.append(col)
    return pd.DataFrame(keep, index=df.index), numeric, categorical, notes, dropped


def _id_name(column: str) -> bool:
    name = str(column).strip().lower().replace(" ", "_").replace("-", "_")
    return name in ID_NAMES or name.endswith("_id") or (str(column).endswith("Id") and len(str(column)) > 2)


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
        """The model's columns, built in one concat: inserted one by one, a 5,000-column table printed tens of
        thousands of pandas fragmentation warnings."""
        parts = {col: frame[col].astype(np.float64) for col in self.numeric}
        parts |= {col: frame[col].astype(object).where(frame[col].notna(), np.nan) for col in self.categorical}
        return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)

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
                                  hf_split=split, max_rows=max_rows, stray=cfg.stray_labels)

    table = read(cfg.source, cfg.hf_split, cfg.max_rows)
    n_own = len(table)
    eval_rows = None
    own_fingerprint, overlap = table.fingerprint, 0
    if cfg.eval_source:
        table = with_test_rows(table, load_frame(cfg.eval_source, hf_split=cfg.eval_hf_split),
                               describe_source(cfg.eval_source))
        eval_rows = len(table) - n_own
        both = table.frame.assign(__target__=pd.Series(table.target).map(_label_str))
        own = set(pd.util.hash_pandas_object(both.iloc[:n_own], index=False).tolist())
        overlap = sum(h in own for h in pd.util.hash_pandas_object(both.iloc[n_own:], index=False).tolist())
    classify = task == "tabular-classification"
    labels = [str(v) for v in table.target[:n_own]] if classify else None
    groups = table.groups[:n_own] if table.groups else None
    train_idx, val_idx, eval_idx = split_indices(cfg, n_own, labels, groups, eval_rows, table.where, True)
    if eval_rows is not None:
        eval_idx = eval_idx + n_own  # the test file's rows follow the table's own
    names = sorted(set(labels)) if classify else []
    if classify:
        missing = sorted(set(names) - {labels[i] for i in train_idx})
        if missing:
            raise DataError(f"class {missing[0]!r} of {table.where} has no training rows after the eval and validation "
                            "splits; add rows of it or lower data.eval_fraction")
    train, validation, evals, fitted = prepare_run_parts(table, train_idx, val_idx, eval_idx, names, task)
    info = {"source": cfg.source, "eval_source": cfg.eval_source, "source_fingerprint": own_fingerprint,
            "rows": n_own, "dropped_rows": table.dropped_rows, "train_rows": int(len(train_idx)),
            "validation_rows": int(len(val_idx)), "eval_rows": int(len(eval_idx)), "numeric": table.numeric,
            "categorical": table.categorical, "n_features": fitted["n_features"], "duplicate_rows": table.duplicate_rows,
            "dropped_columns": table.dropped_columns}
    if eval_rows is not None:
        info["eval_file_rows"] = eval_rows
    notes = table.read_notes + table.notes + ([duplicates_note(table.duplicate_rows, n_own)] if table.duplicate_rows
                                              else [])
    if overlap:
        info["test_rows_in_table"] = overlap
        notes.append(f"{overlap:,} of the test set's {eval_rows:,} rows are also rows of the table, so a run may have "
                     "trained on them: its test score flatters every strategy alike")
    if notes:
        info["note"] = "; ".join(notes) + "."
    return TaskData(task, train, evals, names, table.fingerprint, info,
                    [labels[i] for i in train_idx] if classify else None, validation,
                    extra={"table": table, "indices": (train_idx, val_idx, eval_idx)}, unit=unit)
