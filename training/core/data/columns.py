"""What the columns of a user's table hold, before any training: which column is most likely the text and
which the label, a one-line summary per column, and the problems with a chosen (text, label) mapping in
words that name the user's file and the New experiment page's controls ("Text column", "Label column").

Pure functions over a DataFrame as `sources.load_frame` returns it (CSV/TSV cells are strings there, so
"numeric" means every non-empty cell parses as a number)."""
from __future__ import annotations

import pandas as pd

from training.core.data.sources import separator_hint

MAX_CLASSES = 200
"""More distinct labels than this is an id or free text, not classes (a linear head over 200+ classes also
needs far more data than an upload usually has)."""
MIN_ROWS_PER_CLASS = 2.0
"""Fewer rows per class on average (i.e. more than half the rows distinct) leaves most classes with a
single example: nothing to learn from, and the eval split cannot hold them. This is the rule that refuses
`review` as a label: 264 distinct values in 300 rows."""
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "stars", "rating")
"""Column names that announce a label; such a column is preferred among the ones that could be labels."""
EXAMPLES = 3
EXAMPLE_CHARS = 40


def _values(s: pd.Series) -> pd.Series:
    """Non-empty cells as strings (1.0 read from JSON or Parquet counts as 1, as labels are encoded)."""
    s = s.dropna()
    if pd.api.types.infer_dtype(s, skipna=True) != "string":  # a CSV's cells are strings already: no per-cell pass
        s = s.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return s[s.str.strip().ne("")]


def _is_numeric(values: pd.Series) -> bool:
    return len(values) > 0 and bool(pd.to_numeric(values.str.strip(), errors="coerce").notna().all())


def _label_problem(n_classes: int, n_rows: int) -> str | None:
    """Why `n_classes` distinct values over `n_rows` rows cannot be classes, or None when they can."""
    if n_classes > MAX_CLASSES:
        return f"more than {MAX_CLASSES}"
    if n_rows and n_rows / n_classes < MIN_ROWS_PER_CLASS:
        return f"fewer than {MIN_ROWS_PER_CLASS:g} rows per class on average"
    return None


def column_values(df: pd.DataFrame) -> dict[str, pd.Series]:
    """Each column's non-empty cells as strings (`_values`), by name: worked out once for the summary and the suggested
    columns alike (per-column pandas work dominates a wide file: 10,000 columns took ~24 s read twice over)."""
    return {str(c): _values(df[c]) for c in df.columns}


FEW_NUMBERS = 10
"""A column of numbers with at most this many distinct values may be classes too (star ratings, 0/1)."""


def column_kind(s: pd.Series, values: pd.Series | None = None) -> str:
    """`number` for numbers (as a table model reads them: Age and pH were called `category` here and numeric in the
    model card), `number or category` for a handful of distinct numbers (1–5 stars, 0/1), `category` for other values
    that could be classes, else `text`."""
    values = _values(s) if values is None else values
    n = values.nunique()
    if _is_numeric(values):
        return "number or category" if 1 <= n <= FEW_NUMBERS else "number"
    if n >= 1 and _label_problem(n, len(values)) is None:
        return "category"
    return "text"


def suggest_columns(df: pd.DataFrame, values: dict[str, pd.Series] | None = None) -> dict[str, str | None]:
    """{"text": ..., "label": ...}: the text is the non-numeric column with the longest cells on average;
    the label is a column other than the text that could hold classes (at least two values, within the
    limits above), one named like a label first, then the rightmost (where exports put the target: a
    support export's `queue` after its `priority`, not the column with the fewest values). None where the
    table offers nothing."""
    columns = [str(c) for c in df.columns]
    values = column_values(df) if values is None else values
    texts = [c for c in columns if len(values[c]) and not _is_numeric(values[c])]
    text = max(texts, key=lambda c: values[c].str.len().mean(), default=columns[0] if columns else None)
    candidates = []
    for i, c in enumerate(columns):
        n = values[c].nunique()
        if c != text and n >= 2 and _label_problem(n, len(values[c])) is None:
            candidates.append((c.strip().lower() not in LABEL_NAMES, -i, c))
    label = min(candidates)[-1] if candidates else next((c for c in columns if c != text), text)
    return {"text": text, "label": label}


class _Lazy(dict):
    """`suggest_columns(df)` as a mapping, worked out at the first lookup (most mappings have no problem to advise on)."""

    def __init__(self, known: dict | None, df: pd.DataFrame):
        super().__init__(known or {})
        self._df = None if known is not None else df

    def __missing__(self, key):
        if self._df is None:
            raise KeyError(key)
        self.update(suggest_columns(self._df))
        self._df = None
        return self[key]


def column_summary(df: pd.DataFrame, values: dict[str, pd.Series] | None = None) -> pd.DataFrame:
    """One row per column: its name, kind (text / number / category), distinct values, three examples."""
    values = column_values(df) if values is None else values
    rows = []
    for name in df.columns:
        v = values[str(name)]
        examples = [x if len(x) <= EXAMPLE_CHARS else x[:EXAMPLE_CHARS - 1] + "…" for x in v.unique()[:EXAMPLES]]
        rows.append({"column": str(name), "type": column_kind(df[name], v), "distinct values": int(v.nunique()),
                     "examples": " · ".join(examples)})
    return pd.DataFrame(rows, columns=["column", "type", "distinct values", "examples"])


def check_mapping(df: pd.DataFrame, text_column: str | None, label_column: str | None, file_name: str,
                  labelled: bool = True, suggestion: dict | None = None) -> list[str]:
    """Problems, as sentences for the New experiment page, with using `text_column` as the text and (where the task
    is `labelled`: text classification) `label_column` as the label of `file_name`; empty when the mapping can train.
    `suggestion`: `suggest_columns(df)` where the caller has it (the page caches it per file: on a 10,000-column
    upload it took ~10 s of a core on every rerun); else it is worked out only when a problem needs it."""
    columns = [str(c) for c in df.columns]
    roles = [("Text column", text_column)] + ([("Label column", label_column)] if labelled else [])
    missing = [f"{role} {col!r} is not a column of {file_name}; its columns are: {', '.join(columns)}."
               for role, col in roles if col not in columns]
    if missing:
        return missing + ([hint.strip()] if (hint := separator_hint(columns)) else [])
    suggestion = _Lazy(suggestion, df)
    problems = []
    text = _values(df[text_column])
    if _is_numeric(text):
        better = suggestion["text"] if suggestion["text"] != text_column else None
        problems.append(f"Text column {text_column!r} of {file_name} holds numbers, not text. Pick the column with "
                        "the text to learn from as Text column" + (f" ({better!r} looks like it)." if better else "."))
    if not labelled:
        return problems
    if text_column == label_column:
        better = suggestion["label"] if suggestion["label"] != text_column else None
        return problems + [f"Text column and Label column are both {text_column!r}: the model would be given the "
                           "answer. Pick the column that holds the classes as Label column"
                           + (f" ({better!r} looks like it)." if better else ".")]
    keep = df[text_column].notna() & df[text_column].astype(str).str.strip().ne("") & df[label_column].notna()
    labels = _values(df.loc[keep, label_column])
    if len(labels) == 0:
        return problems + [f"Every row of {file_name} has an empty text or label; check Text column and Label column."]
    classes = labels.value_counts()
    better = suggestion["label"] if suggestion["label"] != label_column else None
    hint = f" ({better!r} looks like it)." if better else "."
    if len(classes) == 1:
        problems.append(f"Label column {label_column!r} of {file_name} has one value only ({classes.index[0]!r}); "
                        "text classification needs at least two classes. Pick the column that holds the classes "
                        "as Label column" + hint)
    elif (why := _label_problem(len(classes), len(labels))) is not None:
        problems.append(f"Label column {label_column!r} of {file_name} has {len(classes):,} different values in "
                        f"{len(labels):,} rows ({why}), so it looks like free text or an id, not classes. Pick the "
                        "column that holds the classes as Label column" + hint)
    return problems


FEW_PER_CLASS = 5
"""A class with fewer rows than this leaves at most a couple for training once validation and eval take theirs:
nothing to learn the class from, and its eval accuracy rests on one or two examples."""


def label_warnings(df: pd.DataFrame, label_column: str | None, file_name: str) -> list[str]:
    """Sentences for a label the page accepts as classes but whose classes are mostly too small to learn or score
    (e.g. a reviewer's name: 134 values in 400 rows); empty when most classes have enough rows."""
    if not label_column or label_column not in df.columns:
        return []
    classes = _values(df[label_column]).value_counts()
    small = int((classes < FEW_PER_CLASS).sum())
    if len(classes) < 2 or small * 2 <= len(classes):
        return []
    return [f"Label column {label_column!r} of {file_name} has {len(classes):,} classes, and {small:,} of them have "
            f"fewer than {FEW_PER_CLASS} rows (the median class has {int(classes.median())}): after validation and eval "
            "take their share there is almost nothing to learn those classes from, and their scores rest on one or two "
            "examples. Check that it is the column of classes you mean; if it is, merge rare classes or add rows."]

