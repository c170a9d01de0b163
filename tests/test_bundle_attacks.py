"""Crafted bundles (issue 39, items 2 and 9): every value range-checked and every key unique before anything is written,
in bounded memory; pages survive a stored time no calendar reaches; an import killed half-way is removed at the next
start."""
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import sqlalchemy as sa

from training.errors import HeadStartError
from training.service import bundle as bundle_module
from training.service.bundle import export_bundle, import_bundle, read_bundle, write_bundle
from training.service.policy import PolicyError
from training.service.runner import Dispatcher
from training.service.store import Store, experiments
from training.testing import make_finished_experiment

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def good(store) -> dict:
    return export_bundle(store, make_finished_experiment(store, seeds=(0,), sizes=(50, 200)))


def _grid(b: dict, k: int = 0) -> dict:
    return [r for r in b["runs"] if r["role"] == "grid"][k]


def _result(run: dict, **fields) -> None:
    run["result_json"] = json.dumps({**json.loads(run["result_json"]), **fields})


def _items(b: dict, lengths=(3, 2)) -> None:
    for k, n in enumerate(lengths):
        _result(_grid(b, k), eval_items={"end": {"y_true": [0] * n, "y_pred": [1] * n}})


def _twin(b: dict) -> None:
    a, c = _grid(b, 0), _grid(b, 1)
    c.update(strategy=a["strategy"], n_train=a["n_train"], seed=a["seed"])


# (what the attack changed, the words the refusal must hold): each one imported and crashed a page, or raised
# IntegrityError half-way through the import, before these checks.
ATTACKS = {
    "created_at 1e308": (lambda b: b["experiment"].update(created_at=1e308), r"experiment.created_at = 1e\+308 is not a time"),
    "run ended in 1970": (lambda b: _grid(b).update(ended_at=5.0), r"runs\[\d+\].ended_at = 5 is not a time from 2000"),
    "event at -inf": (lambda b: b["events"].append([_grid(b)["id"], -1e300, "x", "y", "{}"]), r"events\[\d+\].at"),
    "accuracy 7": (lambda b: _result(_grid(b), eval={"accuracy": 7, "loss": 1.0}),
                   r"runs\[\d+\].result_json.eval.accuracy = 7 is outside \[0, 1\]"),
    "accuracy -5": (lambda b: _result(_grid(b), eval_best={"accuracy": -5}), r"eval_best.accuracy = -5 is outside \[0, 1\]"),
    "accuracy 1e308": (lambda b: _result(_grid(b), eval={"accuracy": 1e308}), r"eval.accuracy = 1e\+308 is outside"),
    "negative loss": (lambda b: _result(_grid(b), eval={"loss": -1.0}), r"eval.loss = -1 is outside \[0, 1e\+12\]"),
    "probe above 1": (lambda b: _result(_grid(b), probe_final={"probe/retrieval_r1": 2}), r"probe_final.probe/retrieval_r1 = 2"),
    "fractional steps": (lambda b: _result(_grid(b), steps=2.5), r"result_json.steps must be a whole number"),
    "metric value 7": (lambda b: next(m for m in b["metrics"] if m[5] == "eval/accuracy").__setitem__(6, 7.0),
                       r"metrics\[\d+\].eval/accuracy = 7 is outside \[0, 1\]"),
    "negative step": (lambda b: b["metrics"][0].__setitem__(1, -3), r"metrics\[0\].step = -3 is outside"),
    "duplicate metric step": (lambda b: b["metrics"].append(list(b["metrics"][0])),
                              r"repeats run r\w+'s probe/retrieval_r1 at step 0 .*nothing was imported"),
    "two runs in one cell": (_twin, r"runs\[\d+\] repeats runs\[\d+\] \(grid run of \w+ at N = 50, seed 0\)"),
    "unknown strategy": (lambda b: _grid(b).update(strategy="bogus"),
                         r"strategy must be one of the experiment's strategies \(full, head, lora, scratch\), not 'bogus'"),
    "eval items of two lengths": (_items, r"eval_items.end must be outcomes of the experiment's 3 eval examples"),
    "probability 3": (lambda b: _result(_grid(b), eval_items={"end": {"y_true": [0], "y_pred": [1], "p_pred": [3]}}),
                      r"eval_items.end.p_pred\[0\] = 3 is outside \[0, 1\]"),
    "language-model items in a classifier": (lambda b: _result(_grid(b), eval_items={"end": {"nll": [1.0], "tokens": [3]}}),
                                             r"eval_items.end must be y_true and y_pred \(and p_pred\): lists"),
    "search rate 0": (lambda b: b["experiment"]["info"]["lr_search"]["full"].update(chosen=0),
                      r"lr_search.full.chosen = 0 is outside"),
    # 2026-12-07 attack: each imported, then Compare built a k × k confusion matrix (GBs) or a page raised
    "class 2**40": (lambda b: _result(_grid(b), eval_items={"end": {"y_true": [0, 1], "y_pred": [0, 2 ** 40]}}),
                    r"eval_items.end.y_pred\[1\] = 1.09951e\+12 is not one of the experiment's 200 classes"),
    "class past the label names": (lambda b: (b["experiment"]["info"].update(label_names=["a", "b", "c"]),
                                              _result(_grid(b), eval_items={"end": {"y_true": [3], "y_pred": [0]}})),
                                   r"y_true\[0\] = 3 is not one of the experiment's 3 classes \(0 to 2"),
    "eval_rows text": (lambda b: b["experiment"]["info"]["data"].update(eval_rows="abc"),
                       r"experiment.info.data.eval_rows must be a whole number"),
    "eval_source number": (lambda b: b["experiment"]["info"]["data"].update(eval_source=5),
                           r"experiment.info.data.eval_source must be a string"),
    "unknown data key": (lambda b: b["experiment"]["info"]["data"].update(rows_by_class=[1, 2]),
                         r"'rows_by_class' is not one of them"),
    "cost text": (lambda b: b["experiment"]["info"].update(cost={"grid_flops": "lots"}),
                  r"experiment.info.cost.grid_flops must be a number"),
    "decision by a list": (lambda b: b.update(decision={"question": "which?", "created_by": ["x"], "comments": []}),
                           r"decision.created_by must be a name"),
    "decision field unknown": (lambda b: b.update(decision={"question": "which?", "owner": 5}), r"decision must be a mapping of"),
    "NUL in a name": (lambda b: b["experiment"].update(name="a\x00b"), r"experiment.name holds a NUL character"),
    "NUL in a metric key": (lambda b: b["metrics"][3].__setitem__(5, "eval/\x00"), r"metrics\[3\] holds a NUL character"),
    # with any character past ASCII the NUL reached PostgreSQL (DataError, exit 3)
    "NUL in a wider name": (lambda b: b["experiment"].update(name="café\x00x"), r"experiment.name holds a NUL character"),
    # an integer past Python's 4,300 digits inside a run's result text: ValueError, exit 3
    "result with a huge integer": (lambda b: _grid(b).update(result_json='{"steps": ' + "1" * 5000 + "}"),
                                   r"runs\[\d+\].result_json"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_crafted_bundle_is_refused_naming_the_field_before_anything_is_written(store, good, tmp_path, attack):
    spoil, words = ATTACKS[attack]
    bad = json.loads(json.dumps(good))
    spoil(bad)
    path = tmp_path / "gift.json.gz"
    write_bundle(bad, path)
    target = Store(tmp_path / "target")
    with pytest.raises(HeadStartError, match=r"gift.json.gz is not a valid Head Start bundle: .*" + words):
        import_bundle(target, read_bundle(path))
    assert target.experiments() == [] and target.count_metrics() == 0
    assert not (target.root / "experiments").exists() or not any((target.root / "experiments").iterdir())


def test_the_shipped_gallery_and_a_fresh_export_still_import(store, good, tmp_path):
    target = Store(tmp_path / "target")
    for path in bundle_module.gallery_bundles():
        import_bundle(target, read_bundle(path), owner="gallery")
    path = tmp_path / "fresh.json.gz"
    write_bundle(good, path)
    exp = import_bundle(target, read_bundle(path))
    assert len(target.experiments()) == len(bundle_module.gallery_bundles()) + 1
    assert len(target.metrics(exp_id=exp)) == len(good["metrics"])


def test_a_48_kb_bundle_of_millions_of_lists_is_refused_in_bounded_memory():
    """Three bytes of JSON (`[],`) each, 16 million of them: 48 KB gzipped, 48 MB inflated; parsed whole before it was
    checked, it peaked at 1.27 GB. Now the first row is refused as it closes."""
    raw = gzip.compress(b'{"format": "headstart-bundle/1", "metrics": [' + b"[]," * 16_000_000 + b"[]]}", 9)
    assert len(raw) < 60_000
    tracemalloc.start()
    try:
        with pytest.raises(HeadStartError, match=r"bomb.json.gz is not a valid Head Start bundle: metrics\[0\] must be a row"):
            read_bundle(raw, name="bomb.json.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, f"peak {peak / 1e6:.0f} MB"


def test_deep_nesting_is_refused_from_the_bytes_before_the_parser_builds_it():
    """200,000 `[` in a 430 KB file took ijson's C parser over 21 GB (each event carries a prefix as long as its depth)
    before its depth could be checked; the byte scan counts brackets outside strings first."""
    d = 200_000
    raw = b'{"format": "headstart-bundle/1", "s": "[[[[", "zz": ' + b"[" * d + b"]" * d + b"}"
    tracemalloc.start()
    try:
        with pytest.raises(PolicyError, match=r"deep.json is not a bundle this deployment imports: it holds lists or "
                                              r"objects nested too deeply \(more than 64 levels\)"):
            read_bundle(raw, name="deep.json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000, f"peak {peak / 1e6:.0f} MB"


def test_half_a_character_at_the_very_end_is_seen_whatever_the_chunks():
    """The scan kept only the last chunk's bytes as its tail: a lone surrogate in the last bytes, cut into small
    chunks, slipped through and imported as "?"."""
    text = b'{"a": "x\\ud83d"}'
    for size in (1, 2, 3):
        bounds = bundle_module._TokenBounds()
        with pytest.raises(bundle_module._TooLong, match="lone UTF-16 surrogate"):
            for start in range(0, len(text), size):
                bounds.scan(text[start:start + size])
            bounds.finish()


def test_rows_past_the_caps_are_refused_as_they_stream(monkeypatch, good):
    monkeypatch.setitem(bundle_module.ROWS, "metrics", (7, 100))
    assert len(good["metrics"]) > 100
    with pytest.raises(PolicyError, match="not a bundle this deployment imports: metrics holds more than 100 rows"):
        read_bundle(json.dumps(good).encode(), name="big.json")
    monkeypatch.setattr(bundle_module, "MAX_VALUES", 50)
    with pytest.raises(PolicyError, match="holds more than 50 values outside its metric and event rows"):
        read_bundle(json.dumps(good).encode(), name="big.json")


def test_pages_show_a_stored_time_no_calendar_reaches(monkeypatch, tmp_path):
    """A record imported before times were checked (created_at 1e308): Home and Runs showed a traceback."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("HEADSTART_STORE", str(tmp_path / "store"))
    store = Store(tmp_path / "store")
    exp = make_finished_experiment(store, seeds=(0,), sizes=(50,))
    with store.tx() as c:
        c.execute(experiments.update().where(experiments.c.id == exp).values(created_at=1e308))
    for page in ("app.py", "pages/5_Runs.py"):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.run()
        if page != "app.py":
            at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert "—" in at.dataframe[0].value["created"].tolist()


CHILD = """
import sys, time
from contextlib import contextmanager
from pathlib import Path
from training.service.bundle import import_bundle, read_bundle
from training.service.store import Store

store = Store(sys.argv[1])
Store.IMPORT_BATCH = 50
real, done = Store.tx, [0]

@contextmanager
def tx(self):
    done[0] += 1
    if done[0] == 4:  # the experiment, its runs and 100 metric rows are written: stop here
        Path(sys.argv[3]).write_text("half")
        time.sleep(600)
    with real(self) as c:
        yield c

Store.tx = tx
import_bundle(store, read_bundle(Path(sys.argv[2])))
"""


def _half_import(root: Path, bundle: Path, ready: Path) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(bundle), str(ready)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 120
    while not ready.exists():
        assert child.poll() is None and time.time() < deadline, "the importing child did not reach its half-way point"
        time.sleep(0.1)
    return child


def _importing(store: Store) -> list[str]:
    with store.read() as c:
        return [r.id for r in c.execute(sa.select(experiments.c.id).where(experiments.c.info_json.like('%"importing"%')))]


def test_an_import_killed_half_way_is_removed_at_the_next_start(store, good, tmp_path):
    store = Store(tmp_path / "target")  # the fixture's store holds the exported experiment
    path = tmp_path / "exp.json.gz"
    write_bundle(good, path)
    killed = _half_import(store.root, path, tmp_path / "a")
    alive = _half_import(store.root, path, tmp_path / "b")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        half = _importing(store)
        assert len(half) == 2 and store.experiments() == [] and store.count_metrics() == 200
        assert all(store.experiment_dir(e).exists() for e in half)
        disp = Dispatcher(store.root)
        try:
            disp.recover()  # the dispatcher's start: the dead import goes, the live one is left alone
        finally:
            disp.close()
        left = _importing(store)
        assert len(left) == 1 and store.count_metrics() == 100
        gone = next(e for e in half if e not in left)
        assert store.experiment(gone) is None and not store.experiment_dir(gone).exists()
        assert store.runs(gone) == []
    finally:
        alive.send_signal(signal.SIGKILL)
        alive.wait()
    exp = import_bundle(store, read_bundle(path))  # the next import removes the other, then imports whole
    assert _importing(store) == [] and not store.experiment_dir(left[0]).exists()
    assert [e.id for e in store.experiments()] == [exp] and store.count_metrics() == len(good["metrics"])


@pytest.mark.parametrize("number, words", [
    ("1" * 5000, r"holds a number of more than 40 characters \(after '\"exported_at\":'\)"),  # crashed ijson's C parser
    ("1e99999999999999999999999", r"it holds a number no 64-bit float holds, in exported_at"),  # InvalidOperation
    ("1e400", r"exported_at holds 1E\+400, a number no 64-bit float holds"),
])
def test_a_number_no_float_holds_is_refused_by_the_importer_not_a_crash(good, tmp_path, number, words):
    """In a child process: the 5000-digit integer killed the importer with SIGSEGV (and from the Gallery, the server);
    the huge exponent raised decimal.InvalidOperation (exit 3)."""
    path = tmp_path / "n.json"
    path.write_text(json.dumps(good).replace('"exported_at": ', f'"exported_at": {number}, "x": ', 1))
    done = subprocess.run([sys.executable, "-m", "training", "bundle-import", str(path), "--store", str(tmp_path / "s")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    assert re.search(words, done.stderr), done.stderr


@pytest.mark.parametrize("text, words", [
    ("x\ud800y", r"it holds a lone UTF-16 surrogate \(\\ud800, half of a character\) \(after '\"name\": \"x'\)"),
    ("x\udc00y", r"holds text that is not UTF-8.*in experiment.name"),
])
def test_half_a_character_is_refused_not_turned_into_a_question_mark(good, text, words):
    bad = json.loads(json.dumps(good))
    bad["experiment"]["name"] = text
    with pytest.raises(HeadStartError, match=words):
        read_bundle(json.dumps(bad).encode(), name="g.json")


def test_the_byte_bounds_read_a_fair_bundle_in_any_chunking(good):
    """The bounds scan raw chunks: escapes, quotes and surrogate pairs cut at every place must not confuse them."""
    good = json.loads(json.dumps(good))
    good["experiment"]["name"] = 'a \\"quoted\\" \\\\ name 😀 \\u0041 ' + "7" * 39
    text = json.dumps(good).encode()
    for size in (1, 2, 3, 5, 7, 11, 64):
        bounds = bundle_module._TokenBounds()
        for start in range(0, len(text), size):
            bounds.scan(text[start:start + size])
        bounds.finish()
        assert not bounds.in_string and bounds.depth == 0
    long = b'{"a": [1, "x\\"", ' + b"9" * 41 + b"]}"
    for cut in range(1, len(long)):
        bounds = bundle_module._TokenBounds()
        with pytest.raises(bundle_module._TooLong, match="a number of more than 40"):
            bounds.scan(long[:cut])
            bounds.scan(long[cut:])


def _events_bundle(good: dict, messages: list[str]) -> bytes:
    b = dict(good, events=[[_grid(good)["id"], 1.7e9, "k", m, "{}"] for m in messages])
    return gzip.compress(json.dumps(b, ensure_ascii=False).encode(), 9)


def test_a_string_past_the_cap_is_refused_before_it_is_built(good):
    """One 25 M-character string with an emoji: built whole before its length was checked, 4 bytes a character (a 199 M
    one took 2 min 42 s and 1 GB). Now its raw bytes are counted as they stream."""
    raw = _events_bundle(good, ["\U0001F600" + "a" * 25_000_000])
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(PolicyError, match=r"holds a string of more than 20,000,000 characters as written "
                                              r"\(in events\[0\]\)"):
            read_bundle(raw, name="long.json.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, f"peak {peak / 1e6:.0f} MB"
    assert time.perf_counter() - start < 20


def test_wide_text_is_charged_as_python_holds_it(good, monkeypatch):
    """Messages within their 100,000 characters, each widened to 4 bytes a character by one emoji: their text may take
    twice HEADSTART_BUNDLE_MAX_MB in memory, no more; a message too long for its column is refused as it arrives."""
    monkeypatch.setenv("HEADSTART_BUNDLE_MAX_MB", "1")
    raw = _events_bundle(good, [f"{i}\U0001F600" + "a" * 50_000 for i in range(18)])
    with pytest.raises(PolicyError, match=r"its text takes more than twice the 1 MB a bundle may hold"):
        read_bundle(raw, name="wide.json.gz")
    monkeypatch.setenv("HEADSTART_BUNDLE_MAX_MB", "200")
    with pytest.raises(HeadStartError, match=r"events\[0\] holds a text of more than 100,000 characters"):
        read_bundle(_events_bundle(good, ["a" * 100_001, "b"]), name="long.json.gz")


KILL_IN_SAVE = """
import sys, time
from pathlib import Path
from training.config import ExperimentConfig
from training.service.bundle import import_bundle, read_bundle
from training.service.store import Store

real = ExperimentConfig.save

def save(self, path):  # the instant an OOM kill or a power cut may hit: the folder made, its config being written
    real(self, path)
    Path(sys.argv[3]).write_text("x")
    time.sleep(600)

ExperimentConfig.save = save
import_bundle(Store(sys.argv[1]), read_bundle(Path(sys.argv[2])))
"""


def test_an_import_killed_as_it_writes_its_folder_leaves_no_folder(good, tmp_path):
    """The folder was made before the experiment's row, so a kill there left it (and its config.yaml) for good."""
    store = Store(tmp_path / "target")
    path = tmp_path / "exp.json.gz"
    write_bundle(good, path)
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", KILL_IN_SAVE, str(store.root), str(path), str(ready)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 120
    while not ready.exists():
        assert child.poll() is None and time.time() < deadline, "the importing child did not reach its folder"
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(list((store.root / "experiments").iterdir())) == 1
    assert len(store.remove_half_imports()) == 1
    assert list((store.root / "experiments").iterdir()) == []
