"""A run's fitted table preprocessing as plain numbers in JSON (an exported folder's preprocessing.json), applied with
numpy and pandas: exactly the features the run's fitted scikit-learn `ColumnTransformer` computes (see
`TabularPreprocessor.fit`), without unpickling anything — a folder from someone else is data, never code.

What the transformer does, column group by column group, in its output order:
- numeric: a missing value takes the training rows' median (`fill`), then (x − mean) / scale;
- a 0/1 was-missing column for each numeric column missing in some training rows (`missing_indicators`);
- categorical: a missing value is the category "missing"; one column per frequent category in the encoder's order,
  then (`other`) one column shared by rare categories and categories never seen in training — without it, an
  unseen category is all zeros.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.errors import HeadStartError

FORMAT = "headstart-table-preprocessing/1"
FILE = "preprocessing.json"
MISSING_CATEGORY = "missing"
"""What a missing categorical value becomes before one-hot encoding (the imputer's fill value)."""
MAX_BYTES = 64 * 2 ** 20
"""The largest preprocessing.json predict reads (a 5,000-column table's takes well under 1 MB)."""
MAX_COLUMNS = 100_000
MAX_CATEGORIES = 100
"""Per categorical column: at most `data.MAX_ONE_HOT` one-hot columns are ever fitted."""
MAX_NAME_CHARS = 10_000
"""The longest column name or category a folder may hold."""


@dataclass
class FittedColumns:
    """The fitted preprocessing as arrays; `transform` gives the run's features."""
    numeric: list[str]
    fill: np.ndarray  # float64 [len(numeric)]: the training median, for a missing value
    mean: np.ndarray
    scale: np.ndarray  # > 0
    indicators: list[int]  # positions in `numeric` that get a was-missing column
    categorical: list[str]
    categories: list[list[str]]  # per categorical column, its one-hot columns in order
    other: list[bool]  # per categorical column, whether a shared 'infrequent' column follows
    feature_names: list[str]

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """float32 [rows, n_features] of a frame as `rows_frame` builds it (numeric columns float64 with NaN for
        missing; categorical columns text, NaN for missing)."""
        n = len(frame)
        parts = []
        if self.numeric:
            x = frame[self.numeric].to_numpy(dtype=np.float64, copy=True).reshape(n, len(self.numeric))
            missing = np.isnan(x)
            x = (np.where(missing, self.fill, x) - self.mean) / self.scale
            parts += [x, missing[:, self.indicators].astype(np.float64)]
        for column, categories, other in zip(self.categorical, self.categories, self.other, strict=True):
            values = [v if isinstance(v, str) else MISSING_CATEGORY for v in frame[column].tolist()]
            codes = pd.Categorical(values, categories=categories).codes.astype(np.int64)
            onehot = np.zeros((n, len(categories) + 1))
            onehot[np.arange(n), np.where(codes < 0, len(categories), codes)] = 1.0
            parts.append(onehot[:, : len(categories) + int(other)])
        out = np.hstack(parts) if parts else np.zeros((n, 0))
        return np.ascontiguousarray(out, dtype=np.float32)


def parameters(columns) -> dict:
    """preprocessing.json's content from a fitted `TabularPreprocessor.columns`."""
    spec = {"format": FORMAT, "numeric": [], "missing_indicators": [], "categorical": []}
    for name, transformer, cols in columns.transformers_:
        if name == "num":
            imputer, scaler = (step for _, step in transformer.steps)
            spec["numeric"] = [{"column": c, "fill": float(f), "mean": float(m), "scale": float(s)}
                               for c, f, m, s in zip(cols, imputer.statistics_, scaler.mean_, scaler.scale_, strict=True)]
        elif name == "missing":
            spec["missing_indicators"] = [cols[int(i)] for i in transformer.features_]
        elif name == "cat":
            imputer, encoder = (step for _, step in transformer.steps)
            assert imputer.fill_value == MISSING_CATEGORY, imputer.fill_value
            for c, seen, rare in zip(cols, encoder.categories_, encoder.infrequent_categories_, strict=True):
                rare = set() if rare is None else set(rare.tolist())
                spec["categorical"].append({"column": c, "categories": [str(v) for v in seen if v not in rare],
                                            "other": bool(rare)})
        elif name != "remainder":
            raise ValueError(f"unexpected part {name!r} of the table preprocessing")
    spec["feature_names"] = [str(n) for n in columns.get_feature_names_out()]
    from_spec(spec, Path(FILE))  # the same checks a folder's file gets: what is written is what predict accepts
    return spec


def load(folder: Path) -> FittedColumns:
    """An exported folder's preprocessing.json, checked strictly; anything else is refused naming the file."""
    path = folder / FILE
    if not path.is_file():
        raise HeadStartError(f"{folder} has no {FILE}: export the model again (python -m training export-model RUN "
                             "--out FOLDER)")
    if path.stat().st_size > MAX_BYTES:
        raise HeadStartError(f"{path} is {path.stat().st_size / 2 ** 20:,.0f} MB (at most {MAX_BYTES // 2 ** 20} MB): "
                             "it is not what export-model writes")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise HeadStartError(f"{path} is not JSON ({type(e).__name__}): export the model again") from None
    return from_spec(spec, path)


def from_spec(spec, path: Path) -> FittedColumns:
    def refuse(what: str) -> HeadStartError:
        return HeadStartError(f"{path} is not the table preprocessing export-model writes: {what}. Export the model "
                              "again (python -m training export-model RUN --out FOLDER)")

    def name(v, what: str) -> str:
        if not isinstance(v, str) or len(v) > MAX_NAME_CHARS:
            raise refuse(f"{what} must be a text of at most {MAX_NAME_CHARS:,} characters")
        return v

    def number(v, what: str) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise refuse(f"{what} must be a finite number, not {str(v)[:40]!r}")
        return float(v)

    def items(v, what: str, most: int) -> list:
        if not isinstance(v, list) or len(v) > most:
            raise refuse(f"{what} must be a list of at most {most:,} items")
        return v

    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise refuse(f"it names no format {FORMAT!r}")
    unknown = set(spec) - {"format", "numeric", "missing_indicators", "categorical", "feature_names"}
    if unknown:
        raise refuse(f"unknown field {sorted(unknown)[0][:40]!r}")
    numeric, fill, mean, scale = [], [], [], []
    for i, c in enumerate(items(spec.get("numeric"), "numeric", MAX_COLUMNS)):
        if not isinstance(c, dict) or set(c) != {"column", "fill", "mean", "scale"}:
            raise refuse(f"numeric[{i}] must hold exactly column, fill, mean and scale")
        numeric.append(name(c["column"], f"numeric[{i}].column"))
        fill.append(number(c["fill"], f"numeric[{i}].fill"))
        mean.append(number(c["mean"], f"numeric[{i}].mean"))
        scale.append(number(c["scale"], f"numeric[{i}].scale"))
        if scale[-1] <= 0:
            raise refuse(f"numeric[{i}].scale must be above 0")
    flagged = [name(c, "missing_indicators[]") for c in items(spec.get("missing_indicators"), "missing_indicators",
                                                                MAX_COLUMNS)]
    if len(set(flagged)) != len(flagged) or not set(flagged) <= set(numeric):
        raise refuse("missing_indicators must name numeric columns, each once")
    indicators = sorted(numeric.index(c) for c in flagged)
    categorical, categories, other = [], [], []
    for i, c in enumerate(items(spec.get("categorical"), "categorical", MAX_COLUMNS)):
        if not isinstance(c, dict) or set(c) != {"column", "categories", "other"}:
            raise refuse(f"categorical[{i}] must hold exactly column, categories and other")
        categorical.append(name(c["column"], f"categorical[{i}].column"))
        cats = [name(v, f"categorical[{i}].categories[]")
                for v in items(c["categories"], f"categorical[{i}].categories", MAX_CATEGORIES)]
        if len(set(cats)) != len(cats):
            raise refuse(f"categorical[{i}].categories repeats a category")
        if not isinstance(c["other"], bool):
            raise refuse(f"categorical[{i}].other must be true or false")
        categories.append(cats)
        other.append(c["other"])
    if len(set(numeric + categorical)) != len(numeric) + len(categorical):
        raise refuse("a column is named twice")
    if not numeric and not categorical:
        raise refuse("it reads no column")
    width = len(numeric) + len(indicators) + sum(len(c) + o for c, o in zip(categories, other, strict=True))
    names = [name(v, "feature_names[]") for v in items(spec.get("feature_names"), "feature_names",
                                                       MAX_COLUMNS * (MAX_CATEGORIES + 3))]
    if len(names) != width:
        raise refuse(f"feature_names has {len(names):,} names for the {width:,} features its columns make")
    return FittedColumns(numeric, np.array(fill), np.array(mean), np.array(scale), indicators, categorical,
                         categories, other, names)
