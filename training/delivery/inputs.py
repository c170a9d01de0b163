"""The inputs `python -m training predict` answers, read from a file a batch at a time and typed.

Forms: one text per line (.txt); a CSV's column (else its only column), or every row as a mapping of column → value
(a table's model); JSON lines — strings, objects with the input column, or (a table's model) objects of column →
value. Memory stays that of one batch whatever the file's size: a batch holds at most BATCH inputs and
MAX_BATCH_CHARS characters, lines and CSV fields are bounded, JSON nesting is bounded, a CSV row with more or fewer
fields than its header is refused, and a text model's input must be a text. Files are UTF-8 (a UTF-8 byte-order mark is
skipped) or UTF-16 with its byte-order mark; bytes that are not text in that encoding and NUL characters are refused.
Every error names the file and the row or line.
"""
from __future__ import annotations

import codecs
import csv
import io
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
MAX_BATCH_CHARS = 16 * 2 ** 20
"""The most characters of input one batch holds (16 M): a batch closes before an input that would take it past this,
so with inputs up to MAX_FIELD_CHARS a batch's text is at most 16 M characters (64 MB as Python holds the widest
text), however long the file's lines are."""
MAX_JSON_DEPTH = 32
"""How deeply a JSON line may nest (a chat input, the deepest form, nests 3 levels)."""


def input_batches(path: Path, column: str | None = None, form: str = "text", batch: int | None = None) -> Iterator[list]:
    """Lists of at most `batch` (BATCH) inputs and MAX_BATCH_CHARS characters of the file, in order. `form`: the model's
    input form ("text", "image", "messages" — a chat model's — or "row" for a table's model). An empty file is an error
    naming it."""
    path = Path(path)
    batch = batch or BATCH
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
        items = ((line, len(line)) for _, line in _lines(path) if line.strip())
    chunk, chars, seen = [], 0, False
    for item, size in items:
        if chunk and (len(chunk) == batch or chars + size > MAX_BATCH_CHARS):
            yield chunk
            chunk, chars, seen = [], 0, True
        chunk.append(item)
        chars += size
    if chunk:
        yield chunk
    elif not seen:
        raise HeadStartError(f"there is nothing to answer: {path.name} holds no input")


def read_inputs(path: Path, column: str | None = None, rows: bool = False, form: str | None = None) -> list:
    """Every input of the file as one list (see `input_batches`; `rows`: a table model's rows)."""
    return [x for chunk in input_batches(path, column, "row" if rows else form or "text") for x in chunk]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) of a text file (see `_text_lines`)."""
    for i, line in _text_lines(path):
        yield i, line.rstrip("\r\n")


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line with its end) of a text file: UTF-8 (a byte-order mark skipped), or UTF-16 where the file
    starts with its byte-order mark. Each line is read bounded by MAX_FIELD_CHARS; bytes that are not text and NUL
    characters are refused naming the line (never replaced or kept silently)."""
    with open(path, "rb") as f:
        start = f.read(4)
        f.seek(0)
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            yield from _utf16_lines(path, f)
            return
        if start.startswith(codecs.BOM_UTF8):
            f.read(len(codecs.BOM_UTF8))
        limit = 4 * MAX_FIELD_CHARS + 2  # bytes: a line this long holds more than MAX_FIELD_CHARS characters
        for i in count(1):
            raw = f.readline(limit)
            if not raw:
                return
            if len(raw) == limit and not raw.endswith(b"\n"):
                raise _too_long(path, i)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise HeadStartError(f"{path.name}, line {i} is not UTF-8 text (byte {e.start + 1} of the line, "
                                     f"{raw[e.start:e.start + 1].hex()}, is not a character); save the file as UTF-8 "
                                     "(or UTF-16 with its byte-order mark)") from None
            yield i, _checked(path, i, line)


def _utf16_lines(path: Path, f) -> Iterator[tuple[int, str]]:
    text = io.TextIOWrapper(f, encoding="utf-16", errors="strict", newline="")
    i = 0
    try:
        for i in count(1):
            line = text.readline(MAX_FIELD_CHARS + 1)
            if not line:
                return
            if len(line.rstrip("\r\n")) > MAX_FIELD_CHARS:
                raise _too_long(path, i)
            yield i, _checked(path, i, line)
    except UnicodeDecodeError:
        raise HeadStartError(f"{path.name}, line {i} (or the line before it) is not UTF-16 text although the file "
                             "starts with UTF-16's byte-order mark; save the file as UTF-8") from None


def _checked(path: Path, i: int, line: str) -> str:
    if len(line.rstrip("\r\n")) > MAX_FIELD_CHARS:
        raise _too_long(path, i)
    if "\x00" in line:
        raise HeadStartError(f"{path.name}, line {i} holds a NUL character (byte 0), which no text holds; is it a "
                             "binary file? Remove it or save the file as text")
    return line


class _LineTooLong(HeadStartError):
    line: int


def _too_long(path: Path, i: int) -> HeadStartError:
    e = _LineTooLong(f"{path.name}, line {i} is longer than {MAX_FIELD_CHARS:,} characters (the most predict reads in "
                     "one line); shorten it or split the input")
    e.line = i
    return e


def _csv_inputs(path: Path, column: str | None, form: str) -> Iterator:
    """A CSV's rows under its header: each as a mapping (form "row"), else its input column's text."""
    previous = csv.field_size_limit(MAX_FIELD_CHARS)
    n = 0
    try:
        # lines decoded strictly, NUL refused, a UTF-8 byte-order mark skipped (see `_text_lines`)
        reader = csv.reader(line for _, line in _text_lines(path))
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
                yield (dict(zip(header, row, strict=True)) if pick is None else row[pick]), sum(map(len, row))
        except (csv.Error, _LineTooLong) as e:
            where = f"{path.name}, row {n + 1} (line {getattr(e, 'line', reader.line_num)})"
            if "field limit" in str(e) or isinstance(e, _LineTooLong):
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
            yield value, len(line)
            continue
        what = "the line"
        if isinstance(value, dict):
            if column not in value:
                raise HeadStartError(f"{path.name}, line {i}: no {column!r} field")
            value, what = value[column], f"its {column!r} field"
        if isinstance(value, str) or (form == "messages" and isinstance(value, list)):
            yield value, len(line)
            continue
        shown = json.dumps(value, allow_nan=True)[:60]
        raise HeadStartError(f"{path.name}, line {i}: {what} is {_json_kind(value)} ({shown}), not a text"
                             + (" or a list of turns" if form == "messages" else "") + '; write each input as a JSON string, '
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
