"""What a hosted demo's visitor can do to Try it and to model downloads (issue 39, items 4, 5, 6 and 9): every cap is
counted in the transaction that spends it, uploads are checked before they are written and removed once answered, a
question's size and decoding work are bounded before the predictor starts, and a question whose predictor died is
failed with the reason. The stores here are written directly (`make_finished_experiment`): nothing trains."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from training.config import ExperimentConfig, StrategyConfig
from training.delivery.predictor import (
    STOPPED,
    UPLOADS,
    Predictor,
    ask,
    ask_images,
    check_question,
    fail_orphans,
    me,
)
from training.errors import HeadStartError
from training.service.store import Store, predictions
from training.testing import make_finished_experiment

ROOT = Path(__file__).resolve().parents[1]


def _grid_runs(store: Store, exp: str) -> list[str]:
    return [r.id for r in store.runs(exp) if r.role == "grid" and r.status == "done"][:2]


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setenv("HEADSTART_MODE", "demo")


@pytest.fixture
def image_experiment(tmp_path):
    """A store with an image-classification experiment whose two runs finished (rows only, no weights)."""
    store = Store(tmp_path / "store")
    cfg = ExperimentConfig(name="pictures", task="image-classification", strategies=[StrategyConfig("scratch"),
                                                                                     StrategyConfig("full")],
                           sizes=[50], seeds=[0])
    exp = store.create_experiment(cfg, [{"strategy": s, "n_train": 50, "seed": 0, "total_steps": 1}
                                        for s in ("scratch", "full")], owner="ann")
    for r in store.runs(exp):
        store.update_run(r.id, status="done")
    return store, exp, [r.id for r in store.runs(exp)]


def _race(n: int, call) -> list:
    """`call()` from n threads released at once; each one's result or the exception it raised."""
    start, out = threading.Barrier(n), [None] * n

    def one(i):
        start.wait()
        try:
            out[i] = call()
        except Exception as e:  # noqa: BLE001 — what each racer met is the result
            out[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_try_it_questions_and_model_downloads_hold_their_caps_against_simultaneous_requests(tmp_path, monkeypatch,
                                                                                             backend, demo):
    """Issue 39, item 6: eight simultaneous questions passed a cap of 5, and four downloads a cap of 1 (four 83 MB
    zips prepared): each read the count, then wrote. Now each cap is counted in the transaction that spends it."""
    import ui.common

    monkeypatch.setenv("HEADSTART_DEMO_PREDICTIONS_PER_HOUR", "5")
    monkeypatch.setenv("HEADSTART_DEMO_EXPORTS_PER_HOUR", "1")
    store = Store(tmp_path / "store")
    exp = make_finished_experiment(store, seeds=(0,), sizes=(50,))
    store.set_owner(exp, "ann")
    runs = _grid_runs(store, exp)
    counted = Store.predictions_since

    def busy_count(self, owner, since):  # a busy server: time passes between reading the count and writing
        n = counted(self, owner, since)
        time.sleep(0.2)
        return n

    monkeypatch.setattr(Store, "predictions_since", busy_count)
    for _ in range(3):  # three rounds, so a race that loses only sometimes is seen
        with store.tx() as c:
            c.execute(predictions.delete())
        results = _race(8, lambda: ask(store, exp, runs, ["numpy arrays"], "ann"))
        asked = [r for r in results if isinstance(r, str)]
        refused = [r for r in results if isinstance(r, HeadStartError)]
        assert len(asked) == 5 and len(refused) == 3, results
        assert all("at most 5 questions an hour" in str(e) for e in refused)
    assert store.predictions_since("ann", time.time() - 3600) == 5
    store.set_owner(exp, "bob")
    assert ask(store, exp, runs, ["numpy arrays"], "bob")  # the cap is each visitor's
    store.set_owner(exp, "ann")

    exported = []

    def slow_export(args, config=None):  # the export subprocess, as long as a real one takes to start
        time.sleep(0.3)
        exported.append(args)
        return subprocess.CompletedProcess(args, 1, "", "no checkpoint")

    monkeypatch.setattr(ui.common, "_cli", slow_export)
    monkeypatch.setattr(ui.common, "store_dir", lambda: store.root)
    monkeypatch.setattr(ui.common, "get_store", lambda: store)
    results = _race(4, lambda: ui.common.export_model_zip(runs[0], "ann"))
    refusals = [error for _, error in results if "at most 1 model downloads an hour" in (error or "")]
    assert len(exported) == 1 and len(refusals) == 3, results
    assert [e["kind"] for e in store.events(runs[0])].count("export") == 1
    assert store.spend_export(runs[0], "bob", 1) and not store.spend_export(runs[0], "bob", 1)
    assert store.spend_export(runs[0], "local")  # no cap outside demo mode


def test_try_it_checks_its_cap_and_the_images_before_writing_them_and_removes_them_once_answered(image_experiment,
                                                                                                monkeypatch, demo):
    """Issue 39, items 4 and 5: Try it wrote a visitor's images before checking the hourly cap, kept them a day, and a
    0.16 MB PNG declaring 13000×13000 pixels was decoded (twenty held the predictor a minute per question). Now the cap,
    the count, the bytes and the pixels (from the headers) are checked before a byte is written."""
    monkeypatch.setenv("HEADSTART_DEMO_PREDICTIONS_PER_HOUR", "2")
    store, exp, runs = image_experiment
    uploads = store.root / UPLOADS

    def written() -> list[Path]:
        return [p for p in uploads.rglob("*") if p.is_file()] if uploads.exists() else []

    with pytest.raises(HeadStartError, match=r"input 2: huge.png is 13,000×13,000 pixels \(169 megapixels\), more "
                                             r"than the 50 megapixels"):
        ask_images(store, exp, runs, [("small.png", _png(32, 32)), ("huge.png", _png(13000, 13000))], "ann")
    with pytest.raises(HeadStartError, match="your images have 108 megapixels together; one question may have up to "
                                             "100"):
        ask_images(store, exp, runs, [(f"{i}.png", _png(6000, 6000)) for i in range(3)], "ann")
    with pytest.raises(HeadStartError, match="input 1: notes.txt is not a readable image"):
        ask_images(store, exp, runs, [("notes.txt", b"hello")], "ann")
    monkeypatch.setenv("HEADSTART_UPLOAD_MAX_MB", "1")
    with pytest.raises(HeadStartError, match=r"your images are 1.4 MB together; one question takes up to 1 MB"):
        ask_images(store, exp, runs, [(f"{i}.bmp", b"BM" + b"\0" * 700_000) for i in range(2)], "ann")
    monkeypatch.delenv("HEADSTART_UPLOAD_MAX_MB")
    assert written() == [] and store.predictions_since("ann", 0) == 0

    qid = ask_images(store, exp, runs, [("cat.png", _png(32, 32))], "ann")
    assert len(written()) == 1
    ask(store, exp, runs, [], "ann")  # opening the page (loading the models) is a question too
    with pytest.raises(HeadStartError, match="at most 2 questions an hour"):
        ask_images(store, exp, runs, [("dog.png", _png(32, 32))], "ann")
    assert len(written()) == 1  # the refused question's image was never written

    # The predictor answers the question (these runs have no weights: it fails) and removes its image either way.
    q = store.claim_prediction(me())
    assert q["id"] == qid
    Predictor(store).handle(q)
    assert store.prediction(qid)["status"] == "failed" and written() == []


def test_the_predictor_checks_the_pixels_where_it_starts_before_loading_a_model(image_experiment):
    """Issue 39, item 5: policy at the place work starts — a question put straight into the store (past the page)
    naming a 13000×13000 PNG is refused from its header, before any model loads or any pixel is decoded."""
    store, exp, runs = image_experiment
    folder = store.root / UPLOADS / "asked-past"
    folder.mkdir(parents=True)
    (folder / "00-huge.png").write_bytes(_png(13000, 13000))
    qid = store.ask_prediction(exp, runs, [str(folder / "00-huge.png")], "ann")
    t0 = time.perf_counter()
    Predictor(store).handle(store.claim_prediction(me()))
    q = store.prediction(qid)
    assert time.perf_counter() - t0 < 1.0
    assert q["status"] == "failed" and "huge.png is 13,000×13,000 pixels" in q["error"], q["error"]
    assert not folder.exists()


def test_a_question_is_bounded_in_size_and_stored_once(tmp_path):
    """Issue 39, item 4: a 50 MB table cell was stored twice per question (in the question and again in its answer;
    the database reached 143 MB). A cell, a text and a whole question now have stated limits, and an answer is stored
    without the inputs the question already holds."""
    store = Store(tmp_path / "store")
    exp = make_finished_experiment(store, seeds=(0,), sizes=(50,))
    runs = _grid_runs(store, exp)
    with pytest.raises(HeadStartError, match=r"row 1: the cell 'notes' is longer than 5,000 characters"):
        check_question(store, exp, runs, [{"notes": "x" * 50_000_000}], "local")
    with pytest.raises(HeadStartError, match=r"this question is 2\d\d,\d\d\d characters in all, more than the 200,000"):
        check_question(store, exp, runs, [{f"c{i}": "x" * 4_999 for i in range(41)}], "local")
    texts = [f"text {i} " + "y" * 4_000 for i in range(20)]
    qid = ask(store, exp, runs, texts, "local")
    q = store.claim_prediction(me())
    store.answer_prediction(qid, {"predictions": [{"input": x, "by": {runs[0]: {"label": "a"}}} for x in q["inputs"]],
                                  "seconds": 0.1})
    with store.read() as c:
        stored = c.execute(predictions.select().where(predictions.c.id == qid)).one()._mapping
    assert "y" * 4_000 not in stored["answer_json"] and len(stored["inputs_json"]) > 80_000
    answered = store.prediction(qid)
    assert [p["input"] for p in answered["answer"]["predictions"]] == texts  # the page still sees each input
    assert answered["answer"]["predictions"][0]["by"] == {runs[0]: {"label": "a"}}


def test_a_question_whose_predictor_died_is_failed_with_the_reason(tmp_path):
    """Issue 39, item 9: a predictor killed mid-question left the question "working" forever. The next predictor — or
    the page, when none is alive (`ensure_predictor`) — fails it with the reason; one a live predictor answers is
    left alone."""
    store = Store(tmp_path / "store")
    exp = make_finished_experiment(store, seeds=(0,), sizes=(50,))
    runs = _grid_runs(store, exp)
    doomed = ask(store, exp, runs, ["numpy arrays"], "local")
    claimer = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom training.service.store import Store\n"
         "from training.delivery.predictor import me\n"
         "q = Store(sys.argv[1]).claim_prediction(me())\nprint(q['id'], flush=True)\ntime.sleep(120)\n", str(store.root)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env=os.environ)
    try:
        assert claimer.stdout.readline().strip() == doomed
    finally:
        claimer.send_signal(signal.SIGKILL)  # killed mid-question, as the out-of-memory killer would
        claimer.wait(30)
    alive = ask(store, exp, runs, ["http sockets"], "local")
    assert store.claim_prediction(me())["id"] == alive  # this process: a predictor alive and answering
    assert store.prediction(doomed)["status"] == "working"
    assert fail_orphans(store) == 1
    assert store.prediction(doomed)["status"] == "failed" and store.prediction(doomed)["error"] == STOPPED
    assert store.prediction(alive)["status"] == "working"

    # The next predictor does the same where it starts, before it serves anything.
    later = ask(store, exp, runs, ["threads"], "local")
    with store.tx() as c:
        c.execute(predictions.update().where(predictions.c.id == later)
                  .values(status="working", claimed_by=f"{me().split()[0]} {claimer.pid} 1.0"))
    Predictor(store).serve(idle_s=0.0)
    assert store.prediction(later)["error"] == STOPPED and store.prediction(alive)["status"] == "working"


def test_a_failed_orphans_images_are_removed(tmp_path):
    """A question whose predictor died is failed, and its Try it images go with it (they stayed until a day later)."""
    store = Store(tmp_path / "store")
    exp = make_finished_experiment(store, seeds=(0,), sizes=(50,))
    folder = store.root / UPLOADS / "q-orphan"
    folder.mkdir(parents=True)
    (folder / "cat.png").write_bytes(b"\x89PNG")
    qid = ask(store, exp, _grid_runs(store, exp), [str(folder / "cat.png")], "local")
    gone = subprocess.Popen(["true"])
    gone.wait()
    with store.tx() as c:
        c.execute(predictions.update().where(predictions.c.id == qid)
                  .values(status="working", claimed_by=f"{me().split()[0]} {gone.pid} 1.0"))
    assert fail_orphans(store) == 1
    assert store.prediction(qid)["error"] == STOPPED and not folder.exists()
