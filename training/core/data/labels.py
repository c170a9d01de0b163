"""Labels that do not fit their column — a few non-numbers among numbers, a class of one or two rows among large
ones (often a row shifted by a separator inside a text) — and what a run does with them (`data.stray_labels`). Used
where data is read (`sources.load_table`, the tabular kind) and on the New experiment page; depends on nothing else
of Head Start's data code, so both can import it."""
from __future__ import annotations

import re

import pandas as pd

from training.errors import DataError

NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
"""A cell that reads as a number (no nan or inf: a word)."""


STRAY_POLICIES = ("stop", "drop", "keep")
"""What a run does with rows whose label does not fit the others (`data.stray_labels`): refuse to start, naming them
(the default — never a silent extra class), leave those rows out, or keep them as classes."""
STRAY_SHARE = 0.05
"""Stray rows are at most this share of a column: more is a column of several kinds of values, not a few strays."""
RARE_ROWS, RARE_MEDIAN = 2, 50


def file_words(where: str) -> str:
    """How a note names a source: a local file by its own name ("file /srv/uploads/ab12/titanic.csv" → "titanic.csv"),
    never the folder it sits in (a note is kept with the experiment and printed in its report)."""
    if where.startswith("file "):
        return where[5:].replace("\\", "/").rsplit("/", 1)[-1]
    return where.replace("\\", "/").rsplit("/", 1)[-1] if "/" in where and " " not in where else where


def same_labels(labels: list[str]) -> tuple[list[str], str]:
    """Labels that name the same class written alike, and a note when any changed: spaces around a label dropped
    ("pos " was a class beside "pos"), and, in a column of numbers, one number written two ways made one ("1.0" and "1"
    were two classes). A label of spaces only stays as it is (the caller counts it as missing)."""
    out = [v.strip() if v.strip() else v for v in labels]
    spaced = sum(a != b for a, b in zip(labels, out, strict=True))
    words = []
    if spaced:
        words.append(f"{spaced:,} label{'s' if spaced > 1 else ''} had spaces around {'them' if spaced > 1 else 'it'}, "
                     "dropped")
    if out and all(NUMBER.match(v) for v in out if v.strip()):
        by_value: dict[float, set[str]] = {}
        for v in set(out):
            if v.strip():
                by_value.setdefault(float(v), set()).add(v)
        twice = {x: sorted(names) for x, names in by_value.items() if len(names) > 1}
        if twice:
            canon = {name: min(names, key=len) for names in twice.values() for name in names}
            merged = sum(v in canon and canon[v] != v for v in out)
            out = [canon.get(v, v) for v in out]
            shown = "; ".join(" and ".join(repr(n) for n in names) for names in list(twice.values())[:3])
            words.append(f"one number written two ways is one class ({shown}): {merged:,} label"
                         f"{'s' if merged > 1 else ''} written as the shorter")
    return out, "; ".join(words)


def stray_labels(labels) -> tuple[dict[str, int], str]:
    """The label values that do not fit the rest of their column, with their row counts, and why in words; ({}, "")
    when none. Two signs, each over at most `STRAY_SHARE` of the rows (four shifted Titanic rows put 'S', 'C', '1C'
    into Survived and a 5-class model trained): values that are not numbers in a column of numbers ('S' among 0 and
    1), and classes of at most `RARE_ROWS` rows where the median class has `RARE_MEDIAN` or more (a typo, a value from
    another column) — too few to learn or score either way."""
    counts = pd.Series([str(v).strip() for v in labels if v is not None and str(v).strip()]).value_counts()
    n = int(counts.sum())
    if len(counts) < 3 or n == 0:
        return {}, ""
    numeric = [v for v in counts.index if NUMBER.match(v)]
    odd = {str(v): int(c) for v, c in counts.items() if not NUMBER.match(v)}
    if numeric and odd and len(odd) < len(counts) and sum(odd.values()) <= STRAY_SHARE * n:
        return odd, "not numbers, in a column of numbers"
    rare = {str(v): int(c) for v, c in counts.items() if c <= RARE_ROWS}
    if rare and counts.median() >= RARE_MEDIAN and sum(rare.values()) <= STRAY_SHARE * n:
        return rare, (f"{RARE_ROWS} rows or fewer each, where the median class has {int(counts.median()):,} — too few "
                      "to learn or score")
    return {}, ""


def stray_words(stray: dict[str, int], why: str, column: str, where: str, rows: int) -> str:
    """The stray values of a label column in words: which, how many rows, why they do not fit."""
    shown = ", ".join(f"{v!r} ({c:,} row{'s' if c > 1 else ''})" for v, c in list(stray.items())[:6])
    more = f" and {len(stray) - 6} more" if len(stray) > 6 else ""
    total = sum(stray.values())
    return (f"{total:,} of the {rows:,} rows of {file_words(where)} have a value in label column {column!r} that does "
            f"not fit the others: {shown}{more} — {why}. A row shifted by a separator inside a text usually does this")


def apply_stray_policy(labels: list, policy: str, column: str, where: str) -> tuple[list[bool], str]:
    """Rows to keep under `data.stray_labels` and a note for the plan; `stop` (the default) refuses with the values
    and the choices, where work starts."""
    if policy not in STRAY_POLICIES:
        raise DataError(f"data.stray_labels must be one of {', '.join(STRAY_POLICIES)}, got {policy!r}")
    stray, why = stray_labels(labels)
    keep = [True] * len(labels)
    if not stray or policy == "keep":
        return keep, (stray_words(stray, why, column, where, len(labels)) + "; kept as classes, as asked"
                      if stray else "")
    words = stray_words(stray, why, column, where, len(labels))
    if policy == "stop":
        raise DataError(f"{words}. Choose: fix the file; or leave these rows out (data.stray_labels: drop); or keep "
                        "them as classes of their own (data.stray_labels: keep)")
    keep = [not (v is not None and str(v).strip() in stray) for v in labels]
    return keep, f"{words}; those rows are left out, as asked"
