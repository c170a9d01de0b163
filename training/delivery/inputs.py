"""The inputs `python -m training predict` answers, read from a file a batch at a time and typed.

Forms: one text per line (.txt); a CSV's column (else its only column), or every row as a mapping of column → value
(a table's model); JSON lines — strings, objects with the input column, or (a table's model) objects of column →
value. Memory stays that of one batch whatever the file's size: lines and CSV fields are bounded, JSON nesting is
bounded, a CSV row with more or fewer fields than its header is refused, and a text model's input must be a text.
Every error names the file and the row or line.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from itertools import count
from pathlib import Path

from training.errors import HeadStartError

BATCH = 256
"""Inputs read and answered at a time: predict's memory is one batch's, not the file's."""
MAX_FIELD_CHARS = 10 * 2 ** 20
"""The longest CSV field, text line or JSON line predict reads (10 M characters; Python's csv stops at 131,072 unless
told): longer is refused, naming its row."""
MAX_JSON_DEPTH = 32
"""How deeply a JSON line may nest (a chat input, the deepest form, nests 3 levels)."""


def input_batches(path: Path, column: str | None = None, form: str = "text", batch: int = BATCH) -> Iterator[list]:
    """Lists of at most `batch` inputs of the file, in order. `form`: the model's input form ("text", "image",
    "chat", or "row" for a table's model). An empty file is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise HeadStartError(f"{path} does not exist")
    suffix = path.suffix.lower()
    if form == "row" and suffix not in (".csv", ".jsonl", ".ndjson"):
        raise HeadStartError(f"{path.name}: a table model reads rows from a CSV file or JSON lines (.jsonl)")
    if suffix == ".csv":
        items = _csv_inputs(path, column, form)
    elif suffix in (".jsonl", ".ndjson"):
        items = _json_inputs(path, column, form)
    else:
        items = (line for _, line in _lines(path) if line.strip())
    chunk, seen = [], False
    for item in items:
        chunk.append(item)
        if len(chunk) == batch:
            yield chunk
            chunk, seen = [], True
    if chunk:
        yield chunk
    elif not seen:
        raise HeadStartError(f"there is nothing to answer: {path.name} holds no input")


def read_inputs(path: Path, column: str | None = None, rows: bool = False, form: str | None = None) -> list:
    """Every input of the file as one list (see `input_batches`; `rows`: a table model's rows)."""
    return [x for chunk in input_batches(path, column, "row" if rows else form or "text") for x in chunk]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) of a text file, each read bounded by MAX_FIELD_CHARS."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for i in count(1):
            line = f.readline(MAX_FIELD_CHARS + 1)
            if not line:
                return
            line = line.rstrip("\r\n")
            if len(line) > MAX_FIELD_CHARS:
                raise HeadStartError(f"{path.name}, line {i} is longer than {MAX_FIELD_CHARS:,} characters (the most "
                                     "predict reads in one line); shorten it or split the input")
            yield i, line


def _csv_inputs(path: Path, column: str | None, form: str) -> Iterator:
    """A CSV's rows under its header: each as a mapping (form "row"), else its input column's text."""
    previous = csv.field_size_limit(MAX_FIELD_CHARS)
    n = 0
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.reader(f)
            try:
                header = next(reader, None)
                if not header:
                    raise HeadStartError(f"{path.name} is empty: a CSV needs a header row naming its columns")
                twice = sorted({c for c in header if header.count(c) > 1})
                if twice:
                    raise HeadStartError(f"{path.name}: the header names column {twice[0]!r} twice; rename one")
                pick = None
                if form != "row":
                    key = column if column in header else (header[0] if len(header) == 1 else None)
                    if key is None:
                        raise HeadStartError(f"{path.name} has no column {column!r} (its columns: "
                                             f"{', '.join(header)[:400]}); name the input column with --column")
                    pick = header.index(key)
                for n, row in enumerate((r for r in reader if r), 1):
                    if len(row) != len(header):
                        raise HeadStartError(f"{path.name}, row {n} (line {reader.line_num}) has {len(row)} fields "
                                             f"under a header of {len(header)}; quote a value that holds a comma, "
                                             "and give every row each column (an empty value where one is missing)")
                    yield dict(zip(header, row, strict=True)) if pick is None else row[pick]
            except csv.Error as e:
                where = f"{path.name}, row {n + 1} (line {reader.line_num})"
                if "field limit" in str(e):
                    raise HeadStartError(f"{where} has a value longer than {MAX_FIELD_CHARS:,} characters (the most "
                                         "predict reads); shorten it or split the input") from None
                raise HeadStartError(f"{where} is not CSV ({e})") from None
    finally:
        csv.field_size_limit(previous)
    if n == 0:
        raise HeadStartError(f"{path.name} has no rows under its header")


def _json_inputs(path: Path, column: str | None, form: str) -> Iterator:
    """Each non-empty line's value: an object of column → value (form "row"), else a text — a string, or an object's
    `column` holding one (a chat model also takes a list of turns)."""
    for i, line in _lines(path):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except RecursionError:
            raise HeadStartError(f"{path.name}, line {i}: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        except ValueError:
            raise HeadStartError(f"{path.name}, line {i}: not JSON") from None
        if _depth(value) > MAX_JSON_DEPTH:
            raise HeadStartError(f"{path.name}, line {i}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        if form == "row":
            if not isinstance(value, dict):
                raise HeadStartError(f"{path.name}, line {i}: not an object of column → value")
            yield value
            continue
        what = "the line"
        if isinstance(value, dict):
            if column not in value:
                raise HeadStartError(f"{path.name}, line {i}: no {column!r} field")
            value, what = value[column], f"its {column!r} field"
        if isinstance(value, str) or (form == "chat" and isinstance(value, list)):
            yield value
            continue
        shown = json.dumps(value, allow_nan=True)[:60]
        raise HeadStartError(f"{path.name}, line {i}: {what} is {_json_kind(value)} ({shown}), not a text"
                             + (" or a list of turns" if form == "chat" else "") + '; write each input as a JSON string, '
                             'e.g. "my text"')


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return "a list" if isinstance(value, list) else "an object"


def _depth(value) -> int:
    """How deeply a parsed JSON value nests (1 for a scalar), without recursion; stops past MAX_JSON_DEPTH."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > MAX_JSON_DEPTH:
            break
        if isinstance(v, dict):
            stack += [(x, d + 1) for x in v.values()]
        elif isinstance(v, list):
            stack += [(x, d + 1) for x in v]
    return deepest
