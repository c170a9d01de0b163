"""Experiment bundles: an experiment's config, runs, metrics and events in one JSON file (gzip-compressed),
without checkpoints, process ids or machine paths of the store. Export, import, and the gallery of
bundles shipped in `gallery/`. Secrets are redacted on the way out.

An imported bundle is a *record*: its runs can be looked at, compared and reported, never trained —
runs that had not finished when it was exported arrive cancelled, `Store.requeue` and the dispatcher's
recovery leave them alone, and the worker refuses them. To train it, launch its config as a new
experiment (the normal path, with every policy check). Reading is bounded: the compressed bytes by the
upload cap, the decompressed stream by `HEADSTART_BUNDLE_MAX_MB`, and the structure is checked field by
field before anything is written.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import re
import shutil
import sys
import time
import zlib
from decimal import Decimal, InvalidOperation
from pathlib import Path

import ijson

from training.config import ExperimentConfig
from training.errors import HeadStartError
from training.service.policy import PolicyError, redact
from training.service.records import check_constraints
from training.service.store import STATUSES, Store, new_id
from training.settings import load_settings
from training.tasks import kinds

FORMAT = "headstart-bundle/1"
GALLERY = Path(__file__).resolve().parents[2] / "gallery"
"""Bundles shipped with Head Start; HEADSTART_GALLERY points the gallery at another folder."""
GALLERY_OWNER = "gallery"
RECORD_NOTE = ("not finished when the bundle was exported; an imported experiment is a record, never trained here — "
               "launch its config as a new experiment to train it")
RUN_FIELDS = ["id", "seq", "strategy", "n_train", "seed", "status", "role", "lr", "depends_on", "total_steps", "error",
              "created_at", "started_at", "ended_at", "attempts", "micro_batch_size", "mem_estimate", "result_json"]


def export_bundle(store: Store, exp_id: str) -> dict:
    exp = store.experiment(exp_id)
    if exp is None:
        raise HeadStartError(f"no experiment {exp_id!r}")
    runs = store.runs(exp_id)
    decision = store.decision(exp_id)
    return json.loads(redact(json.dumps({
        "format": FORMAT, "exported_at": time.time(),
        "experiment": {"id": exp.id, "name": exp.name, "config": json.loads(exp.config_json),
                       "created_at": exp.created_at, "info": exp.info},
        "runs": [{k: row[k] for k in RUN_FIELDS} for row in (r.as_row() for r in runs)],
        "metrics": [[m["run_id"], m["step"], m["examples"], m["wall_s"], m["flops"], m["key"], m["value"]]
                    for m in store.metrics(exp_id=exp_id)],
        "events": [[e["run_id"], e["at"], e["kind"], e["message"], e["data_json"]] for r in runs for e in store.events(r.id)],
        "decision": decision.as_dict() if decision is not None else None,
    })))


def write_bundle(bundle: dict, path: Path) -> None:
    data = json.dumps(bundle, separators=(",", ":")).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


MAX_RUNS = 5_000
MAX_METRIC_ROWS = 1_000_000
MAX_EVENT_ROWS = 200_000
MAX_VALUES = 500_000
"""Values a bundle may hold outside its metric and event rows (the experiment, its runs, the decision)."""
MAX_DEPTH = 64
MAX_TEXT = 20_000_000
"""Characters in one string (a run's result, with its per-example eval items, is the longest)."""
MAX_ITEMS = 200_000
"""Eval examples per run a bundle may hold outcomes of."""
MAX_NUMBER = 40
"""Characters in one number (a float's repr has at most 24): ijson's C parser crashed the process on a 5000-digit
integer, and converting a long one to int is quadratic — a longer number is refused before the parser sees it."""
CHUNK = 1 << 16
PARSE_CHUNK = 1 << 18
"""Bytes the parser is fed at a time. yajl re-reads a token that spans chunks from its start at each chunk, so a long
string costs (length / chunk) passes over itself: a 20 M-character string took 4.5 s at 64 KB, 1.3 s at 256 KB, 0.3 s
at 1 MB. But the parser returns a whole chunk's events at once: 256 KB of `[],` is ~13 MB of them, 1 MB four times that.
"""


def read_bundle(path_or_bytes, name: str = "the bundle") -> dict:
    """Parse and check a bundle (bytes or a path), within the deployment's size caps. The JSON is parsed as it is
    inflated, a chunk at a time: the inflated text is never held whole, metric and event rows are checked one by one
    as they close (a bundle of millions of empty lists is refused at its first), and every count is capped — memory
    stays bounded by the caps above, whatever the file holds."""
    settings = load_settings()
    cap = settings.upload_max_mb * 1_000_000
    if isinstance(path_or_bytes, Path):
        name = path_or_bytes.name if name == "the bundle" else name
        if not path_or_bytes.exists():
            raise HeadStartError(f"bundle {path_or_bytes} not found")
        if not path_or_bytes.is_file():
            raise HeadStartError(f"{path_or_bytes} is not a bundle file (a folder, a device or a pipe); give the "
                                 ".json.gz or .json that bundle-export wrote")
        if path_or_bytes.stat().st_size > cap:
            raise PolicyError(f"{name} is over this deployment's {settings.upload_max_mb} MB upload cap")
        source = path_or_bytes.open("rb")
    else:
        if len(path_or_bytes) > cap:
            raise PolicyError(f"{name} is {len(path_or_bytes) / 1e6:.1f} MB, over this deployment's "
                              f"{settings.upload_max_mb} MB upload cap (HEADSTART_UPLOAD_MAX_MB)")
        source = io.BytesIO(path_or_bytes)
    with source:
        stream = _Inflating(source, cap, settings.bundle_max_mb, name)
        seen = _Place()
        try:
            bundle = _parse(ijson.parse(stream, buf_size=PARSE_CHUNK), name,
                            _Budget(settings.bundle_max_mb, name), seen)
        except ijson.JSONError as e:
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise HeadStartError(f"{name} is not a Head Start bundle (JSON expected: {why}, {seen.where()}; NaN and "
                                 "Infinity are not allowed)") from None
        except InvalidOperation:  # ijson's Decimal of an exponent past any float's (1e99999999999999999999999)
            raise HeadStartError(f"{name} is not a valid Head Start bundle: it holds a number no 64-bit float holds, "
                                 f"{seen.where()}") from None
        except UnicodeDecodeError:  # a lone low surrogate (\\udc00) decodes to bytes that are not UTF-8
            raise HeadStartError(f"{name} is not a Head Start bundle: it holds text that is not UTF-8, such as half of a "
                                 f"character (a lone UTF-16 surrogate), {seen.where()}") from None
        except _TooLong as e:
            raise PolicyError(f"{name} is not a bundle this deployment imports: it holds {e} ({e.near or seen.where()})"
                              ) from None
    if bundle.get("format") != FORMAT:
        raise HeadStartError(f"{name} is not a Head Start bundle (format {FORMAT!r} expected)")
    check_bundle(bundle, name)
    return bundle


class _Inflating:
    """A file-like reader over a bundle's bytes that inflates gzip as it goes, refusing the stream as soon as it reads
    past the upload cap or expands past `HEADSTART_BUNDLE_MAX_MB` — never the whole inflated text in memory."""

    def __init__(self, source, cap: int, max_mb: int, name: str):
        self.source, self.cap, self.max_mb, self.name = source, cap, max_mb, name
        self.read_in = self.out = 0
        self.pending = b""
        self.tokens = _TokenBounds()
        head = self._take(2)
        self.inflate = zlib.decompressobj(wbits=31) if head == b"\x1f\x8b" else None
        self.pending = head

    def _take(self, n: int) -> bytes:
        data = self.source.read(n)
        self.read_in += len(data)
        if self.read_in > self.cap:  # a file that grows while read is still held to the cap
            raise PolicyError(f"{self.name} is over this deployment's {self.cap // 1_000_000} MB upload cap")
        return data

    def read(self, n: int = CHUNK) -> bytes:
        if n == 0:  # ijson asks for nothing first, to learn that the stream gives bytes
            return b""
        n = n if n > 0 else CHUNK
        if self.inflate is None:
            data, self.pending = self.pending + self._take(n - len(self.pending)), b""
        else:
            data = b""
            try:
                while not data:
                    tail = self.inflate.unconsumed_tail or self.pending or self._take(CHUNK)
                    self.pending = b""
                    if not tail:
                        data = self.inflate.flush()
                        break
                    data = self.inflate.decompress(tail, n)
                    if self.inflate.eof:
                        break
            except zlib.error as e:
                raise HeadStartError(f"{self.name} is not a readable gzip file ({e})") from None
        if data:
            self.tokens.scan(data)
        else:
            self.tokens.finish()
        self.out += len(data)
        if self.out > self.max_mb * 1_000_000:
            what = "expands beyond" if self.inflate else "is over"
            raise PolicyError(f"{self.name} {what} the {self.max_mb} MB a bundle may hold (HEADSTART_BUNDLE_MAX_MB); "
                              "it is not a bundle this deployment accepts")
        return data


class _TooLong(Exception):
    """A token past its bound, found in the raw bytes before the parser builds it; `near`: the text before it, where
    the parser's last event is not (a number is found in a chunk the parser has not read yet)."""

    def __init__(self, what: str, near: str = ""):
        super().__init__(what)
        self.near = near


class _TokenBounds:
    """Bounds every string and number of the JSON text *before* the parser sees it: a string's raw bytes to `MAX_TEXT`
    (its characters are fewer), a number to `MAX_NUMBER` characters. The parser builds a whole string before handing
    it over, so a 199 M-character string cost 2 min 42 s and 1 GB before its length could be checked; now it is
    refused after `MAX_TEXT` bytes. Per chunk this is a few C-speed passes (replace, count, find), no Python loop:
    escapes are masked to two dots, so every quote left opens or closes a string."""

    NUMBER = re.compile(rb"[-+0-9.eE]{%d,}" % (MAX_NUMBER + 1))
    NUMBER_CHARS = b"-+0123456789.eE"
    LONE_HIGH = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])")

    def __init__(self):
        self.in_string = self.escaped = False
        self.tail = b""  # the last bytes of the last chunk: a surrogate pair cut by a chunk's end is seen whole
        self.string = 0  # raw bytes of the string open at the end of the last chunk
        self.number = 0  # characters of the number-like run at the end of the last chunk (outside strings)
        self.depth = 0  # lists and objects open at the end of the last chunk

    def scan(self, chunk: bytes) -> None:
        if not chunk:
            return
        text = (b"\\" if self.escaped else b"") + chunk  # an escape cut by the chunk's end is read whole here
        text = text.replace(b"\\\\", b"..")
        self.escaped = text.endswith(b"\\")
        text = (text[:-1] if self.escaped else text).replace(b'\\"', b"..")
        self._surrogates(self.tail + text, final=False)
        self.tail = (self.tail + text)[-10:]  # a chunk of a few bytes must not push a pending half out of view
        self._depth(text)
        quotes = text.count(b'"')
        first = text.find(b'"') if quotes else len(text)
        if self.in_string:
            self._string(self.string + first)
        else:
            lead = first - len(text[:first].lstrip(self.NUMBER_CHARS))
            self._number(self.number + lead)
        starts_inside = self.in_string
        inside, counted = starts_inside, 0
        for hit in self.NUMBER.finditer(text):  # numbers only outside strings: the quotes before a run tell which
            inside ^= text.count(b'"', counted, hit.start()) % 2 == 1
            counted = hit.start()
            if not inside:
                raise _TooLong(f"a number of more than {MAX_NUMBER} characters", self._near(text, hit.start()))
        self.in_string = starts_inside != (quotes % 2 == 1)
        if self.in_string:
            self.string = len(text) - text.rfind(b'"') - 1 if quotes else self.string + len(text)
            self._string(self.string)
            self.number = 0
        else:
            tail = len(text) - len(text.rstrip(self.NUMBER_CHARS))
            self.number = tail if quotes or tail < len(text) or starts_inside else self.number + tail
            self._number(self.number)

    def _depth(self, text: bytes) -> None:
        """Brackets outside strings, counted before the parser sees them: ijson's C parser builds every event of a
        read, each with a prefix as long as its depth, so 200,000 `[` in a 430 KB file took over 21 GB before the
        parser's own depth was checked. Vectorised (numpy), as the rest of the scan is C-speed."""
        import numpy as np

        b = np.frombuffer(text, dtype=np.uint8)
        quotes = b == ord('"')
        inside = (np.cumsum(quotes) % 2 == 1) != self.in_string  # quotes, escapes masked, alternate in and out
        step = np.isin(b, (ord("["), ord("{"))).astype(np.int64) - np.isin(b, (ord("]"), ord("}")))
        step[inside | quotes] = 0
        depth = self.depth + np.cumsum(step)
        if depth.size and depth.max() > MAX_DEPTH:
            at = int(np.argmax(depth > MAX_DEPTH))
            raise _TooLong(f"lists or objects nested too deeply (more than {MAX_DEPTH} levels)", self._near(text, at))
        self.depth = int(depth[-1]) if depth.size else self.depth

    def finish(self) -> None:
        self._surrogates(self.tail, final=True)

    def _surrogates(self, text: bytes, final: bool) -> None:
        """A UTF-16 surrogate escape with no partner: ijson turns a lone high one into "?" without a word (a lone low
        one fails its UTF-8 decoding), so the text would change on the way in. One at the end waits for the next
        chunk, which may hold its partner."""
        if b"\\u" not in text:
            return
        for hit in self.LONE_HIGH.finditer(text):
            if final or hit.end() + 4 <= len(text):
                raise _TooLong(f"a lone UTF-16 surrogate ({hit.group().decode()}, half of a character)",
                               self._near(text, hit.start()))

    @staticmethod
    def _near(text: bytes, at: int) -> str:
        """The JSON text just before `at` (from its last comma): the field a refused token belongs to."""
        return "after " + repr(text[max(0, at - 60):at].decode(errors="replace").split(",")[-1].strip())

    @staticmethod
    def _string(n: int) -> None:
        if n > MAX_TEXT:
            raise _TooLong(f"a string of more than {MAX_TEXT:,} characters as written")

    @staticmethod
    def _number(n: int) -> None:
        if n > MAX_NUMBER:
            raise _TooLong(f"a number of more than {MAX_NUMBER} characters")


def _float(value: Decimal, where: str, name: str) -> float:
    """A JSON non-integer as a float; one beyond a float's range (1e400, which a float makes infinite) is refused
    wherever it is, naming its place."""
    x = float(value)
    if not math.isfinite(x):
        raise HeadStartError(f"{name} is not a valid Head Start bundle: {where} holds {str(value)[:40]}, a number no "
                             "64-bit float holds")
    return x


class _Place:
    """Where the parse is (a top-level key, a row of it, a value's path): what a refusal from the parser or the byte
    bounds names. Set per row and per value, not per event: the long lists' millions of events stay untouched."""

    def __init__(self):
        self.key, self.at = None, None

    def where(self) -> str:
        if self.key is None:
            return "at its start"
        at = f"{self.key}[{self.at}]" if isinstance(self.at, int) else (self.at or self.key).replace(".item", "[…]")
        return f"in {at}"


class _Budget:
    """The memory a bundle's strings may take, in bytes as Python holds them: a bundle's text inflates to at most 4
    bytes a character in Python (one emoji widens the whole string), so a 196 KB gzip of 190 one-emoji strings reached
    0.8 GB. Charged as each new string is built; `read_bundle` gives twice `HEADSTART_BUNDLE_MAX_MB`, which plain
    text (1 byte a character) never reaches."""

    def __init__(self, max_mb: int, name: str):
        self.left, self.max_mb, self.name = 2 * max_mb * 1_000_000, max_mb, name

    def charge(self, text: str, where: str, row: int | None = None) -> None:
        """Charge one new string (`where` it is, `row` of a long list), which must hold no NUL: PostgreSQL's text
        columns refuse it (DataError half-way through an import)."""
        self.left -= len(text) if text.isascii() else sys.getsizeof(text)
        if "\x00" in text:  # in any text, not only ASCII ("café\u0000" reached PostgreSQL)
            raise HeadStartError(f"{self.name} is not a valid Head Start bundle: {where.replace('.item', '[…]')}"
                                 + ("" if row is None else f"[{row}]") + " holds a NUL character (\\u0000), which "
                                 "no text field takes")
        if self.left < 0:
            raise PolicyError(f"{self.name} is not a bundle this deployment imports: its text takes more than twice the "
                              f"{self.max_mb} MB a bundle may hold (HEADSTART_BUNDLE_MAX_MB) once read: wide characters, "
                              "such as emoji, take 4 bytes each")


ROWS = {"metrics": (7, MAX_METRIC_ROWS), "events": (5, MAX_EVENT_ROWS)}
"""The bundle's long lists: rows of scalars, each checked as it closes (width and count) and kept as a tuple."""
SCALARS = ("string", "number", "boolean", "null")


def _too_many(name: str, where: str, what: str) -> HeadStartError:
    return PolicyError(f"{name} is not a bundle this deployment imports: {where} holds more than {what}")


def _parse(events, name: str, text: "_Budget", place: _Place) -> dict:
    """Build a bundle from ijson's events: the long lists row by row, everything else within `MAX_VALUES` values
    nested at most `MAX_DEPTH` deep, every new string charged to `text`."""
    _, event, _ = next(events, ("", None, None))
    if event != "start_map":
        raise HeadStartError(f"{name} is not a Head Start bundle (a JSON mapping expected)")
    bundle, budget = {}, [MAX_VALUES]
    for _, event, key in events:
        if event == "end_map":
            break
        if key in bundle:
            raise HeadStartError(f"{name} is not a valid Head Start bundle: it names {key!r} twice")
        place.key, place.at = key, None
        bundle[key] = _rows(events, key, name, text, place) if key in ROWS else _value(events, key, name, budget, text,
                                                                                     place)
        place.key, place.at = key, None
    for _ in events:  # trailing text is refused by the parser as it reads on
        pass
    return bundle


def _rows(events, key: str, name: str, text: "_Budget", place: _Place) -> list:
    """A long list's rows, each checked as it closes; a string longer than its column holds (a name, a message) is
    refused as it arrives, before the next is built."""
    width, cap = ROWS[key]
    longest = (MAX_NAME, MAX_NAME, MAX_NAME, MAX_MESSAGE, MAX_MESSAGE) if key == "events" else (MAX_NAME,) * width
    _, event, _ = next(events)
    if event != "start_array":
        raise HeadStartError(f"{name} is not a valid Head Start bundle: {key} must be a list")
    rows, shared = [], {}
    for _, event, value in events:
        if event == "end_array":
            return rows
        row, place.at = [], len(rows)
        if event == "start_array":
            for _, event, value in events:
                if event not in SCALARS or len(row) >= width:
                    break
                if isinstance(value, str):
                    if len(value) > longest[len(row)]:
                        raise HeadStartError(f"{name} is not a valid Head Start bundle: {key}[{len(rows)}] holds a text "
                                             f"of more than {longest[len(row)]:,} characters")
                    kept = shared.setdefault(value, value) if len(shared) < 100_000 else value
                    if kept is value:
                        text.charge(value, key, len(rows))
                    value = kept
                elif type(value) is Decimal:  # ijson's non-integers (integers stay exact: 2**70 is named, not lost)
                    value = _float(value, f"{key}[{len(rows)}]", name)
                row.append(value)
        if event != "end_array" or len(row) != width:
            raise HeadStartError(f"{name} is not a valid Head Start bundle: {key}[{len(rows)}] must be a row of {width} "
                                 "fields (text, numbers)")
        if len(rows) >= cap:
            raise _too_many(name, key, f"{cap:,} rows")
        rows.append(tuple(row))
    raise HeadStartError(f"{name} is not a Head Start bundle (it ends inside {key})")


def _value(events, where: str, name: str, budget: list, text: "_Budget", place: _Place) -> object:
    """One JSON value from the events, built without recursion, counted against `budget`."""
    stack: list = []  # [container, its pending key]
    for prefix, event, value in events:
        place.at = f"{prefix}.{value}" if event == "map_key" else prefix  # a key: the value after it is the next one
        budget[0] -= 1
        if budget[0] < 0:
            raise _too_many(name, "the bundle", f"{MAX_VALUES:,} values outside its metric and event rows")
        if isinstance(value, str):
            text.charge(value, prefix or where)
        if event == "map_key":
            stack[-1][1] = value
            continue
        if event in ("start_map", "start_array"):
            if len(stack) >= MAX_DEPTH:
                raise HeadStartError(f"{name} is not a Head Start bundle: {where} is nested too deeply")
            stack.append([{} if event == "start_map" else [], None])
            continue
        node = stack.pop()[0] if event in ("end_map", "end_array") else \
            _float(value, prefix.replace(".item", "[…]"), name) if type(value) is Decimal else value
        if not stack:
            return node
        parent, key = stack[-1]
        if isinstance(parent, dict):
            parent[key] = node
        else:
            parent.append(node)
    raise HeadStartError(f"{name} is not a Head Start bundle (it ends inside {where})")


def num(x) -> bool:
    """A JSON number (not a boolean)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_bundle(bundle: dict, name: str = "the bundle") -> None:
    """Check a bundle field by field, down to every value's range and every key's uniqueness (no KeyError, TypeError,
    page crash or SQL error reaches the user): a value out of range is named with its place, e.g.
    "runs[3].result_json.eval.accuracy = 7 is outside [0, 1]"."""
    exp = bundle.get("experiment")
    _expect(isinstance(exp, dict), "experiment", "a mapping", name)
    for key, kind in (("id", str), ("name", str), ("config", dict)):
        _expect(isinstance(exp.get(key), kind), f"experiment.{key}", f"a {kind.__name__}", name)
    _expect(len(exp["name"]) <= MAX_NAME, "experiment.name", f"a name of at most {MAX_NAME} characters", name)
    _time(exp.get("created_at"), "experiment.created_at", name)
    _expect(isinstance(exp.get("info", {}), dict), "experiment.info", "a mapping", name)
    _check_info(exp.get("info", {}), name)
    try:
        cfg = ExperimentConfig.from_dict(exp["config"])
    except HeadStartError as e:
        raise HeadStartError(f"{name} holds an experiment config this version cannot use: {e}") from None
    except RecursionError:
        raise HeadStartError(f"{name} holds an experiment config nested too deeply to be one") from None
    runs = bundle.get("runs")
    _expect(isinstance(runs, list) and runs, "runs", "a non-empty list", name)
    if len(runs) > MAX_RUNS:
        raise _too_many(name, "runs", f"{MAX_RUNS:,} runs")
    ids: dict[str, int] = {}
    shape = _ItemShape(kinds().get(cfg.task), len((exp.get("info") or {}).get("label_names") or []), name)
    for i, r in enumerate(runs):
        _expect(isinstance(r, dict) and set(RUN_FIELDS) <= set(r), f"runs[{i}]", f"a mapping with {', '.join(RUN_FIELDS)}",
                name)
        for key in ("id", "strategy", "status", "role"):
            _expect(isinstance(r[key], str) and len(r[key]) <= MAX_NAME, f"runs[{i}].{key}", "a short string", name)
        for key in ("seq", "n_train", "seed"):
            _expect(_int(r[key]), f"runs[{i}].{key}", f"an integer from 0 to {MAX_INT:,}", name)
        for key in ("total_steps", "attempts", "micro_batch_size", "mem_estimate"):
            _expect(r[key] is None or _int(r[key]), f"runs[{i}].{key}", f"an integer from 0 to {MAX_INT:,} (or null)", name)
        _expect(r["lr"] is None or (num(r["lr"]) and math.isfinite(r["lr"]) and r["lr"] > 0), f"runs[{i}].lr",
                "a positive number (or null)", name)
        _time(r["created_at"], f"runs[{i}].created_at", name)
        for key in ("started_at", "ended_at"):
            if r[key] is not None:
                _time(r[key], f"runs[{i}].{key}", name)
        _expect(r["error"] is None or (isinstance(r["error"], str) and len(r["error"]) <= MAX_MESSAGE), f"runs[{i}].error",
                f"a string of at most {MAX_MESSAGE:,} characters (or null)", name)
        _expect(r["id"] not in ids, f"runs[{i}].id", "an id no other run of the bundle has", name)
        _expect(r["status"] in STATUSES, f"runs[{i}].status", f"one of {', '.join(STATUSES)}", name)
        _expect(r["depends_on"] is None or isinstance(r["depends_on"], str), f"runs[{i}].depends_on", "a string", name)
        _expect(r["result_json"] is None or isinstance(r["result_json"], str), f"runs[{i}].result_json", "a string",
                name)
        if r["result_json"]:
            _check_result(r["result_json"], f"runs[{i}].result_json", name, shape)
        ids[r["id"]] = i
    _check_cells(runs, cfg, exp.get("info") or {}, name)
    for i, r in enumerate(runs):
        _expect(not r["depends_on"] or set(r["depends_on"].split(",")) <= set(ids), f"runs[{i}].depends_on",
                "ids of runs in the bundle", name)
    _check_metrics(bundle.get("metrics"), ids, name)
    events = bundle.get("events")
    _expect(isinstance(events, list), "events", "a list", name)
    for i, e in enumerate(events):
        _expect(isinstance(e, (list, tuple)) and len(e) == 5 and e[0] in ids and all(isinstance(x, str) for x in e[2:])
                and len(e[2]) <= MAX_NAME and len(e[3]) <= MAX_MESSAGE and len(e[4]) <= MAX_MESSAGE, f"events[{i}]",
                "a row of 5 fields (a run of the bundle, a time, a kind, a message and its data in JSON)", name)
        _time(e[1], f"events[{i}].at", name)
        _expect(isinstance(_json(e[4]), dict), f"events[{i}].data", "a JSON mapping", name)
    if bundle.get("decision") is not None:
        _check_decision(bundle["decision"], name)


MAX_NAME = 1_000
"""Characters in a name: an experiment's, a run's strategy or status, a metric's key, an event's kind."""
MAX_MESSAGE = 100_000
"""Characters in a run's error, an event's message or data."""
MAX_METRIC_KEYS = 10_000
EARLIEST, LATEST = 946_684_800.0, 4_102_444_800.0
"""The times a bundle may hold (seconds since the epoch): from 2000-01-01 to 2100-01-01. A time of 1e308 imported and
then broke Home and Runs (no date that far out), and nothing the store wrote is older."""


def _expect(ok: bool, where: str, what: str, name: str) -> None:
    if not ok:
        raise HeadStartError(f"{name} is not a valid Head Start bundle: {where} must be {what}")


def _within(x, low: float, high: float, where: str, name: str, whole: bool = False) -> None:
    """A finite number (a whole one where `whole`) in [low, high], or an error naming its place and value."""
    _expect(num(x) and (not whole or isinstance(x, int) or (math.isfinite(x) and x == int(x))), where,
            "a whole number" if whole else "a number", name)
    if not (math.isfinite(x) and low <= x <= high):
        raise HeadStartError(f"{name} is not a valid Head Start bundle: {where} = {x:g} is outside [{low:g}, {high:g}]")


def _time(t, where: str, name: str) -> None:
    _expect(num(t), where, "a time (seconds since 1970)", name)
    if not (math.isfinite(t) and EARLIEST <= t <= LATEST):
        raise HeadStartError(f"{name} is not a valid Head Start bundle: {where} = {t:g} is not a time from 2000 to 2100 "
                             "(seconds since 1970)")


def _json(text: str):
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is one; so is an integer past Python's 4,300 digits
        return None


PROPORTIONS = {"accuracy", "macro_f1", "rouge_l", "retrieval_r1", "knn_accuracy", "visual_knn", "validation_majority",
               "val_trivial"}
PERPLEXITIES = {"perplexity", "chat_perplexity"}
NON_NEGATIVE = {"loss", "rmse", "mae", "lr", "peak_mem_bytes", "rows", "best_val_loss", "wall_s", "params",
                "trainable_params", "best_step", "val_loss"}
MAX_METRIC = 1e12
"""The largest metric value a bundle may hold: any loss, error or perplexity a run reports is far below it, and
analysis' sums and squares of it stay finite."""
MAX_FLOPS = 1e30
"""FLOPs a run may report (a year on 10,000 of today's fastest GPUs is ~1e28)."""
MAX_LOSS_SE = 100.0
"""A loss's standard error: its interval is exp(log(mean) ± 1.96·se), which overflows far above this."""


def metric_range(key: str) -> tuple[float, float]:
    """The range a metric's value lies in, by its name (`eval/accuracy`, `probe/perplexity`, `rmse`…): proportions in
    [0, 1], perplexities from 1, losses and errors from 0, R² up to 1, any other finite and within ±`MAX_METRIC`."""
    metric = key.rsplit("/", 1)[-1]
    if metric in PROPORTIONS:
        return 0.0, 1.0
    if metric in PERPLEXITIES:
        return 1.0, MAX_METRIC
    if metric == "loss_se":
        return 0.0, MAX_LOSS_SE
    if metric in NON_NEGATIVE:
        return 0.0, MAX_METRIC
    if metric == "r2":
        return -MAX_METRIC, 1.0
    if metric == "flops":
        return 0.0, MAX_FLOPS
    return -MAX_METRIC, MAX_METRIC


def _check_metrics(rows, ids: dict[str, int], name: str) -> None:
    """Each metric row: a run of the bundle, a whole step and example count, non-negative wall-clock and FLOPs, a value
    in its metric's range; and no (run, step, key) twice — the store's key, which raised IntegrityError half-way."""
    _expect(isinstance(rows, list), "metrics", "a list", name)
    keys: dict[str, int] = {}
    seen: set[int] = set()
    for i, m in enumerate(rows):
        where = f"metrics[{i}]"
        _expect(isinstance(m, (list, tuple)) and len(m) == 7 and m[0] in ids and isinstance(m[5], str)
                and 0 < len(m[5]) <= MAX_NAME, where,
                "a row of 7 fields (a run of the bundle, step, examples, wall_s, flops, key, value)", name)
        _within(m[1], 0, MAX_INT, f"{where}.step", name, whole=True)
        _within(m[2], 0, MAX_INT, f"{where}.examples", name, whole=True)
        _within(m[3], 0, MAX_METRIC, f"{where}.wall_s", name)
        _within(m[4], 0, MAX_FLOPS, f"{where}.flops", name)
        _within(m[6], *metric_range(m[5]), f"{where}.{m[5]}", name)
        key = keys.setdefault(m[5], len(keys))
        if len(keys) > MAX_METRIC_KEYS:
            raise _too_many(name, "metrics", f"{MAX_METRIC_KEYS:,} metric names")
        cell = (int(m[1]) << 32) | (ids[m[0]] << 16) | key  # run index < 2**13, key < 2**14: one exact int per row
        if cell in seen:
            raise HeadStartError(f"{name} is not a valid Head Start bundle: {where} repeats run {m[0]}'s {m[5]} at step "
                                 f"{m[1]} (each run logs a metric once per step); nothing was imported")
        seen.add(cell)


ROLE_STRATEGY = {"reference": "references", "pretrain": "pretrain"}
"""The strategy name of the runs that are not a configured strategy's (`training.service.planning`)."""


def _check_cells(runs: list[dict], cfg: ExperimentConfig, info: dict, name: str) -> None:
    """Every run a strategy of the config (or the references, the pretraining), each grid cell (strategy, size, seed)
    once and each rate a search tried once: Compare and the report key their widgets by these, and two of one raised
    a duplicate element key."""
    labels = {s.label for s in cfg.strategies}
    cells: dict[tuple, int] = {}
    for i, r in enumerate(runs):
        _expect(r["role"] in ("grid", "lr-sweep", *ROLE_STRATEGY), f"runs[{i}].role",
                "grid, lr-sweep, reference or pretrain", name)
        known = {ROLE_STRATEGY[r["role"]]} if r["role"] in ROLE_STRATEGY else labels
        _expect(r["strategy"] in known, f"runs[{i}].strategy",
                f"one of the experiment's strategies ({', '.join(sorted(known))}), not {r['strategy'][:80]!r}", name)
        options = ((info.get("lr_search") or {}).get(r["strategy"]) or {}).get("options_by_run") or {}
        cell = (r["role"], r["strategy"], r["n_train"], r["seed"]) + (
            (r["lr"], json.dumps(options.get(r["id"]), sort_keys=True)) if r["role"] == "lr-sweep" else ())
        if r["role"] == "pretrain":
            cell = ("pretrain",)
        if cell in cells:
            raise HeadStartError(f"{name} is not a valid Head Start bundle: runs[{i}] repeats runs[{cells[cell]}] "
                                 f"({r['role']} run of {r['strategy'][:80]} at N = {r['n_train']}, seed {r['seed']}"
                                 + (f", lr {r['lr']}" if r["role"] == "lr-sweep" else "") + "); each cell is run once")
        cells[cell] = i


MAX_INT = 2 ** 62
"""Integers a bundle may hold: what the store's 64-bit columns take (a larger one raised OverflowError)."""


def _int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= MAX_INT


INFO_KINDS = {"data": dict, "lr_search": dict, "lr_source": dict, "until_plateau": dict, "footprint": dict, "cost": dict,
              "sizes": list, "label_names": list, "pool_size": int, "device": str, "device_name": str,
              "timed_step": dict, "recorded_with": dict}
"""The experiment info keys the pages read, and their kinds: a bundle whose info has another kind there would
import and then break Compare and the report."""


def _renamed(search: dict, ids: dict[str, str]) -> dict:
    """A search entry whose run ids (the candidates' options, the grid run its winner became) follow the imported runs'
    new ids — the candidates' settings and the winner would otherwise point at runs that are not there."""
    out = dict(search)
    if isinstance(search.get("options_by_run"), dict):
        out["options_by_run"] = {ids.get(k, k): v for k, v in search["options_by_run"].items()}
    if isinstance(search.get("continued_by"), str):
        out["continued_by"] = ids.get(search["continued_by"], search["continued_by"])
    return out


def _check_info(info, name: str) -> None:
    _expect(isinstance(info, dict), "experiment.info", "a mapping", name)
    for key, kind in INFO_KINDS.items():
        if key in info and info[key] is not None:
            _expect(isinstance(info[key], kind) and not isinstance(info[key], bool), f"experiment.info.{key}",
                    f"a {kind.__name__}", name)
    for key in ("lr_search", "footprint"):
        for label, value in (info.get(key) or {}).items():
            _expect(isinstance(value, dict), f"experiment.info.{key}.{label}", "a mapping", name)
    for key, value in (info.get("recorded_with") or {}).items():  # the Gallery shows it: words and numbers only
        _expect(isinstance(value, (str, int, float, bool, type(None))) or
                (isinstance(value, list) and all(isinstance(x, str) for x in value)),
                f"experiment.info.recorded_with.{key}", "text, a number or a list of texts", name)
    for label, search in (info.get("lr_search") or {}).items():
        where = f"experiment.info.lr_search.{label}"
        _expect(search.get("status") in ("planned", "reused", "stored"), f"{where}.status", "planned, reused or stored",
                name)
        _expect(isinstance(search.get("label", label), str), f"{where}.label", "a strategy's name", name)
        if search.get("chosen") is not None:
            _within(search["chosen"], 1e-12, 1e3, f"{where}.chosen", name)
        tried = search.get("tried", [])
        _expect(isinstance(tried, list) and all(isinstance(t, dict) and num(t.get("lr")) and isinstance(t.get("status"), str)
                                                and all(t.get(k) is None or num(t[k]) for k in ("steps", "val_metric",
                                                                                                  "val_loss"))
                                                for t in tried), f"{where}.tried",
                "a list of rates tried (lr, status, steps, val_metric, val_loss)", name)
        for j, t in enumerate(tried):
            _within(t["lr"], 1e-12, 1e3, f"{where}.tried[{j}].lr", name)
            for key in ("steps", "val_metric", "val_loss"):
                if t.get(key) is not None:
                    _within(t[key], *metric_range(key), f"{where}.tried[{j}].{key}", name)
        by_run = search.get("options_by_run") or {}
        _expect(isinstance(by_run, dict), f"{where}.options_by_run", "a mapping of run ids to options", name)
        settings = [search.get("chosen_options") or {}, *(t.get("options") or {} for t in tried), *by_run.values()]
        _expect(all(isinstance(o, dict) and all(isinstance(k, str) and num(v) for k, v in o.items()) for o in settings),
                f"{where}.options", "options tried with the rates (names and numbers)", name)
        _expect(isinstance(search.get("rungs") or [], list) and all(_int(r) and r > 0 for r in search.get("rungs") or []),
                f"{where}.rungs", "a list of steps", name)
        _expect(isinstance(search.get("default") or "", str), f"{where}.default", "a candidate's name", name)
        if search.get("status") == "planned" and "rung" in search:  # what Compare's words of the search read
            _expect("steps" in search, f"{where}.steps", "the steps its winner trains", name)
        for key in ("rung", "steps", "policy_steps", "size", "seed"):
            _expect(search.get(key) is None or (_int(search[key]) and search[key] >= 0), f"{where}.{key}",
                    "a whole number", name)
        cands = search.get("candidates") or []
        _expect(isinstance(cands, list) and all(isinstance(c, dict) and num(c.get("lr")) and isinstance(
            c.get("options") or {}, dict) for c in cands), f"{where}.candidates", "a list of rates and options", name)
        for j, c in enumerate(cands):
            _within(c["lr"], 1e-12, 1e3, f"{where}.candidates[{j}].lr", name)
        _expect(all((t.get("rung") is None or (_int(t["rung"]) and t["rung"] >= 0))
                    and (t.get("val_trivial") is None or (num(t["val_trivial"]) and 0 <= t["val_trivial"] <= 1))
                    and (t.get("val_n") is None or (_int(t["val_n"]) and t["val_n"] > 0)) for t in tried),
                f"{where}.tried", "rungs (whole steps), a majority share in [0, 1] and a positive validation count", name)
    _expect(all(_int(n) for n in info.get("sizes") or []), "experiment.info.sizes", "a list of sizes", name)
    labels = info.get("label_names") or []
    _expect(len(labels) <= MAX_LABELS and all(isinstance(x, str) and len(x) <= MAX_NAME for x in labels),
            "experiment.info.label_names", f"a list of at most {MAX_LABELS:,} class names", name)
    for key, (kind, what) in INFO_MAPPINGS.items():
        for label, value in (info.get(key) or {}).items():
            _expect(kind(value), f"experiment.info.{key}.{label}", what, name)
    _check_data(info.get("data") or {}, name)


def _check_data(data: dict, name: str) -> None:
    """experiment.info.data, key by key: what the data step wrote (`TaskData.info`), which Compare, the report and
    the preflight format as counts and sources ("abc" for eval_rows raised ValueError on Compare)."""
    for key, value in data.items():
        where = f"experiment.info.data.{key}"
        if key in DATA_COUNTS:
            _within(value, 0, MAX_INT, where, name, whole=True)
        elif key in DATA_TEXTS:
            _expect(value is None or (isinstance(value, str) and len(value) <= MAX_MESSAGE), where,
                    f"a string of at most {MAX_MESSAGE:,} characters (or null)", name)
        elif key in DATA_NAMES:
            _expect(isinstance(value, list) and len(value) <= MAX_COLUMNS and all(isinstance(x, str) and len(x) <= MAX_NAME
                                                                                  for x in value), where,
                    f"a list of at most {MAX_COLUMNS:,} column names", name)
        elif key == "modes":
            _expect(isinstance(value, dict) and len(value) <= MAX_NAME and all(_int(n) for n in value.values()), where,
                    "a mapping of image modes to counts", name)
        elif key == "crop_pct":
            _within(value, 0, 1, where, name)
        else:
            _expect(False, "experiment.info.data", f"a mapping of {', '.join(sorted(DATA_KEYS))}; "
                    f"{key[:80]!r} is not one of them", name)


MAX_LABELS = 1_000
"""Class names an experiment may hold: Compare draws a classes × classes confusion matrix."""
MAX_CLASSES = 200
"""Classes of an experiment whose bundle names none: the most a label column may hold
(`training.core.data.columns.MAX_CLASSES`, not imported: it would load pandas into every import)."""
MAX_COLUMNS = 100_000
DATA_COUNTS = ("rows", "dropped_rows", "train_rows", "validation_rows", "eval_rows", "eval_file_rows",
               "eval_dropped_rows", "duplicate_rows", "truncated_away", "assistant_tokens", "n_features", "image_size",
               "test_rows_in_table", "train_blocks", "validation_blocks", "eval_blocks")
DATA_TEXTS = ("source", "eval_source", "source_fingerprint", "note", "preprocessing")
DATA_NAMES = ("numeric", "categorical", "dropped_columns")
DATA_KEYS = {*DATA_COUNTS, *DATA_TEXTS, *DATA_NAMES, "modes", "crop_pct"}
INFO_MAPPINGS = {
    "lr_source": (lambda v: isinstance(v, str) and len(v) <= MAX_NAME, "how its learning rate was chosen (a string)"),
    "until_plateau": (lambda v: isinstance(v, bool), "true or false"),
    "cost": (lambda v: num(v) and math.isfinite(v) and 0 <= v <= MAX_FLOPS, f"a number from 0 to {MAX_FLOPS:g}"),
    "timed_step": (lambda v: (isinstance(v, str) and len(v) <= MAX_NAME) or (num(v) and math.isfinite(v) and v >= 0),
                   "a strategy's name or a number"),
}
"""The info mappings pages read, each entry checked: Compare lists lr_source's texts, Live and the report
until_plateau's flags, the preflight's words cost's numbers (grid_flops, search_share…)."""


RESULT_NUMBERS = ("steps", "examples", "wall_s", "flops", "peak_mem_bytes", "trainable_params", "params", "lr",
                  "best_step", "eval_examples", "validation_examples", "best_val_loss", "validation_majority", "max_length")
RESULT_SCORES = ("eval", "eval_best", "probe_final", "probe_baseline", "probe_best", "forgetting", "forgetting_best",
                 "best_val", "options")
RESULT_COUNTS = ("steps", "examples", "eval_examples", "validation_examples", "max_length")
"""Counts that must not be negative (a validation count of −5 reached a square root: math domain error)."""
RESULT_FLAGS = ("until_plateau", "stopped_early", "diverged")
RESULT_TEXTS = ("strategy", "torch", "transformers", "device")
"""A run result's fields that Compare, the report and the export read, by kind: a bundle with a list where `eval`
belongs, or "lots" for `flops`, imported and then broke every page of that experiment."""


def _check_result(result_json: str, where: str, name: str, shape: "_ItemShape") -> None:
    """A run's result: a JSON mapping of numbers in their ranges (counts whole and not negative, scores in their
    metric's range) whose per-example eval items, where it has any (bundles from before have none), have the task's
    form and the experiment's one eval-set length — what the analysis' paired bootstrap reads."""
    _expect(len(result_json) <= MAX_TEXT and result_json.count(",") <= 8 * MAX_ITEMS + MAX_VALUES, where,
            f"a result of at most {MAX_ITEMS:,} eval examples", name)
    result = _json(result_json)
    _expect(isinstance(result, dict), where, "a JSON mapping", name)
    for key in RESULT_NUMBERS:
        if result.get(key) is not None:
            _within(result[key], *metric_range(key), f"{where}.{key}", name)
    for key in RESULT_COUNTS:
        if result.get(key) is not None:
            _within(result[key], 0, MAX_INT, f"{where}.{key}", name, whole=True)
    for key in RESULT_SCORES:
        value = result.get(key)
        _expect(value is None or (isinstance(value, dict) and all(v is None or num(v) for v in value.values())),
                f"{where}.{key}", "a mapping of metric names to numbers", name)
        for metric, v in (value or {}).items():
            if v is not None:  # forgetting is a difference of two scores (either sign); options are a strategy's
                low, high = metric_range(metric) if key not in ("forgetting", "forgetting_best", "options") \
                    else (-MAX_METRIC, MAX_METRIC)
                _within(v, low, high, f"{where}.{key}.{metric}", name)
    for key in RESULT_FLAGS:
        _expect(result.get(key) is None or isinstance(result[key], bool), f"{where}.{key}", "true or false", name)
    for key in RESULT_TEXTS:
        _expect(result.get(key) is None or isinstance(result[key], str), f"{where}.{key}", "a string", name)
    items = result.get("eval_items")
    if items is not None:
        _expect(isinstance(items, dict) and "end" in items and set(items) <= {"end", "best"}, f"{where}.eval_items",
                "a mapping of end (and best) to eval items", name)
        for key, value in items.items():
            shape.check(value, f"{where}.eval_items.{key}")
    refs = result.get("references")
    if refs is not None:
        _expect(isinstance(refs, list) and all(isinstance(row, dict) for row in refs), f"{where}.references",
                "a list of mappings", name)
        cells = set()
        for j, row in enumerate(refs):
            at = f"{where}.references[{j}]"
            _expect(isinstance(row.get("reference"), str) and isinstance(row.get("name", ""), str), f"{at}.reference",
                    "a reference's name", name)
            _expect(_int(row.get("n_train")) and _int(row.get("seed", 0)), f"{at}.n_train", "a size and seed", name)
            cell = (row["reference"], row["n_train"], row.get("seed", 0))
            _expect(cell not in cells, at, "a reference at a size and seed no other row has", name)
            cells.add(cell)
            for key in ("accuracy", "macro_f1", "loss", "rmse", "mae", "r2"):
                if row.get(key) is not None:
                    _within(row[key], *metric_range(key), f"{at}.{key}", name)
            if row.get("eval_examples") is not None:
                _within(row["eval_examples"], 0, MAX_INT, f"{at}.eval_examples", name, whole=True)
            if row.get("items") is not None:
                shape.check(row["items"], f"{at}.items")


class _ItemShape:
    """Per-example eval items as the task kind writes them (`training.core.evaluate`), one eval set long across the
    whole experiment: a run's items of another length than the others' raised KeyError on Compare."""

    def __init__(self, kind, n_labels: int, name: str):
        self.lm = kind is not None and kind.metric == "perplexity"
        self.classes = kind is not None and kind.metric == "accuracy"
        self.n_classes = n_labels or MAX_CLASSES  # indices of experiment.info.label_names, where it has them
        self.name, self.length, self.first = name, None, None

    def check(self, items, where: str) -> None:
        forms = [{"nll", "tokens"}] if self.lm else [{"y_true", "y_pred"}, {"y_true", "y_pred", "p_pred"}]
        _expect(isinstance(items, dict) and set(items) in forms
                and all(isinstance(v, list) and all(num(x) for x in v) for v in items.values())
                and len({len(v) for v in items.values()}) == 1, where,
                ("nll and tokens" if self.lm else "y_true and y_pred (and p_pred)") + ": lists of numbers of one length",
                self.name)
        n = len(next(iter(items.values())))
        _expect(0 < n <= MAX_ITEMS, where, f"outcomes of 1 to {MAX_ITEMS:,} eval examples", self.name)
        if self.length is None:
            self.length, self.first = n, where
        _expect(n == self.length, where, f"outcomes of the experiment's {self.length:,} eval examples, as {self.first} "
                f"has (it has {n:,})", self.name)
        for key, values in items.items():
            whole = key == "tokens" or (self.classes and key in ("y_true", "y_pred"))
            low, high = (0.0, 1.0) if key == "p_pred" else (0, self.n_classes - 1) if whole and key != "tokens" else \
                (0, MAX_INT) if whole else (0.0, MAX_METRIC) if key == "nll" else (-MAX_METRIC, MAX_METRIC)
            for j, x in enumerate(values):
                if not (low <= x <= high and (not whole or x == int(x))):  # NaN fails every comparison
                    if whole and key != "tokens" and num(x) and x > high:
                        raise HeadStartError(f"{self.name} is not a valid Head Start bundle: {where}.{key}[{j}] = {x:g} "
                                             f"is not one of the experiment's {self.n_classes} classes (0 to {high}; "
                                             "experiment.info.label_names names them)")
                    _within(x, low, high, f"{where}.{key}[{j}]", self.name, whole=whole)


DECISION_FIELDS = {"question", "constraints", "created_by", "created_at", "updated_at", "signoff_by", "signoff_at",
                   "signed", "comments"}
"""A decision record's fields (`Decision.as_dict`): a name that was a list raised an SQL error half-way (exit 3)."""


def _check_decision(d, name: str) -> None:
    """A bundle's decision record (optional; bundles before decision records have none)."""
    _expect(isinstance(d, dict), "decision", "a mapping", name)
    _expect(set(d) <= DECISION_FIELDS, "decision", f"a mapping of {', '.join(sorted(DECISION_FIELDS))}", name)
    _expect(isinstance(d.get("question"), str) and d["question"].strip() and len(d["question"]) <= MAX_MESSAGE,
            "decision.question", f"a non-empty string of at most {MAX_MESSAGE:,} characters", name)
    for key in ("created_by", "signoff_by"):
        _expect(d.get(key) is None or (isinstance(d[key], str) and len(d[key]) <= MAX_NAME), f"decision.{key}",
                f"a name of at most {MAX_NAME:,} characters", name)
    _expect(isinstance(d.get("constraints", {}), dict), "decision.constraints", "a mapping", name)
    try:
        check_constraints(d.get("constraints") or {})
    except HeadStartError as e:
        raise HeadStartError(f"{name} is not a valid Head Start bundle: decision.constraints: {e}") from None
    for key in ("created_at", "updated_at", "signoff_at"):
        if d.get(key) is not None:
            _time(d[key], f"decision.{key}", name)
    _expect(d.get("signed") is None or isinstance(d["signed"], dict), "decision.signed", "a mapping", name)
    comments = d.get("comments", [])
    _expect(isinstance(comments, list), "decision.comments", "a list", name)
    for i, c in enumerate(comments):
        _expect(isinstance(c, dict) and isinstance(c.get("author"), str) and isinstance(c.get("body"), str)
                and len(c["author"]) <= MAX_NAME and len(c["body"]) <= MAX_MESSAGE, f"decision.comments[{i}]",
                "a mapping with author, body and at", name)
        _time(c.get("at"), f"decision.comments[{i}].at", name)


def bundle_digest(bundle: dict) -> str:
    return hashlib.sha256(json.dumps(bundle["experiment"], sort_keys=True).encode()
                          + json.dumps(bundle["runs"], sort_keys=True).encode()).hexdigest()[:16]


def import_bundle(store: Store, bundle: dict, owner: str = "local") -> str:
    """Insert a bundle as a new experiment (new ids) in one transaction; returns its id. Importing the
    same bundle for the same owner twice returns the first copy. Half-imports left by an import that died (its process
    killed) are removed first."""
    store.remove_half_imports()
    digest = bundle_digest(bundle)
    for e in store.experiments():
        if e.owner == owner and e.info.get("bundle") == digest:
            return e.id
    exp = bundle["experiment"]
    cfg = ExperimentConfig.from_dict(exp["config"])
    exp_id = new_id("e")
    ids = {r["id"]: new_id("r") for r in bundle["runs"]}
    info = dict(exp.get("info") or {}, bundle=digest, imported_from=exp["id"])
    info["lr_search"] = {label: _renamed(search, ids) for label, search in (info.get("lr_search") or {}).items()}
    runs = []
    for r in bundle["runs"]:
        unfinished = r["status"] in ("queued", "running", "interrupted")
        runs.append({**{k: r[k] for k in RUN_FIELDS}, "id": ids[r["id"]],
                     "depends_on": ",".join(ids[d] for d in r["depends_on"].split(",")) if r["depends_on"] else None,
                     "status": "cancelled" if unfinished else r["status"], "error": RECORD_NOTE if unfinished else r["error"]})
    folder = store.experiment_dir(exp_id)

    def write_folder() -> None:  # once the row marked `importing` exists: a killed import's folder is then found
        folder.mkdir(parents=True)
        cfg.save(folder / "config.yaml")

    try:
        store.insert_record(exp_id, exp["name"], cfg, exp["created_at"], owner, info, runs,
                            [[ids[m[0]], *m[1:]] for m in bundle["metrics"]], [[ids[e[0]], *e[1:]] for e in bundle["events"]],
                            bundle.get("decision"), marked=write_folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return exp_id


def gallery_bundles() -> list[Path]:
    folder = load_settings().gallery or GALLERY
    return sorted(folder.glob("*.json.gz")) if folder.is_dir() else []
