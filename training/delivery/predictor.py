"""Try it's predictor: one process per host that answers the questions pages ask through the store, keeping the models
it recently used loaded (`python -m training predictor --store S`; the page starts it with `ensure_predictor`, it exits
after `idle_s` without a question, freeing their memory).

A question is (experiment, run ids, inputs, owner) in the store's `predictions` table; an empty input list only loads
the runs' models (the page asks that when it opens, so the first typed text does not wait for loading). Policy is
checked here too, where the work starts: the runs must be finished grid runs of the question's experiment, and outside
local mode the owner must own the experiment or it must be the gallery's. Pages never import torch."""
from __future__ import annotations

import json
import os
import sys
import time
from collections import OrderedDict
from pathlib import Path

from training.errors import HeadStartError
from training.service.store import Store

LOCK = "predictor.lock"
IDLE_S = 900.0
"""A predictor exits after this long without a question."""
MAX_MODELS = 8
"""Loaded models kept (least recently used dropped first): two experiments' four strategies."""
MAX_INPUTS = 20
"""Inputs one question may carry."""
MAX_CHARS = 5_000
"""Characters one text input, or one cell of a row, may have."""
MAX_QUESTION_CHARS = 200_000
"""Characters one question's inputs may take in all, as stored (a 50 MB table cell was stored, twice, per question)."""
MAX_QUESTION_MEGAPIXELS = 100
"""Pixels (millions) one question's images may have together, read from their headers before any is decoded (each is
also within HEADSTART_IMAGE_MAX_MEGAPIXELS): twenty 13000×13000 PNGs of 0.16 MB held the predictor a minute."""
STOPPED = "the predictor stopped while answering; ask again"
"""A question's error when the predictor answering it died (killed, out of memory)."""
POLL_S = 0.05
IDLE_POLL_S = 0.25
"""Seconds between looks at the store: POLL_S within a minute of the last question, IDLE_POLL_S after."""


def lock_name(store: Store) -> str:
    """One predictor per SQLite store; per host with a shared database (like the dispatcher)."""
    import socket

    return LOCK if store.backend == "sqlite" else f"predictor.{socket.gethostname()}.lock"


def ensure_predictor(root) -> bool:
    """Start a predictor for the store unless one is alive on this host (the page calls this, also while it waits for
    an answer); questions a dead predictor of this host was answering are failed first. True if started."""
    import subprocess

    from training.service.runner import dispatcher_alive

    store = Store(root)
    if dispatcher_alive(store.root, lock_name(store)):
        return False
    fail_orphans(store)
    log = store.root / "logs" / "predictor.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as out:
        subprocess.Popen([sys.executable, "-m", "training", "predictor", "--store", store.spec], stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True, cwd=Path(__file__).resolve().parents[2])
    return True


IMAGE_TYPES = ("png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff")
UPLOADS = "try-it"
"""Where Try it keeps the images a page uploads (in the store, so a predictor on any host reads them), a day at most."""


def save_uploads(store: Store, files: list[tuple[str, bytes]]) -> list[Path]:
    """Write a page's uploaded images into the store's Try it folder (one new folder per question, removed once it is
    answered; folders older than a day are removed first); returns their paths. `ask_images` checks them first."""
    import shutil
    import uuid

    root = store.root / UPLOADS
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.is_dir() and time.time() - old.stat().st_mtime > 86_400:
            shutil.rmtree(old, ignore_errors=True)
    if len(files) > MAX_INPUTS:
        raise HeadStartError(f"at most {MAX_INPUTS} images at a time (you gave {len(files)})")
    folder = root / uuid.uuid4().hex[:12]
    folder.mkdir()
    out = []
    for i, (name, data) in enumerate(files):
        path = folder / f"{i:02d}-{Path(name).name}"
        path.write_bytes(data)
        out.append(path)
    return out


def check_images(files: list[tuple[str, bytes]]) -> None:
    """Uploaded images before a byte of them is written: at most MAX_INPUTS, within the upload cap together, and
    within the pixel caps by their headers (`check_pixels`). Raises HeadStartError naming the file."""
    import io

    from training.settings import load_settings

    if len(files) > MAX_INPUTS:
        raise HeadStartError(f"at most {MAX_INPUTS} images at a time (you gave {len(files)})")
    cap = load_settings().upload_max_mb
    size = sum(len(data) for _, data in files)
    if size > cap * 1_000_000:
        raise HeadStartError(f"your images are {size / 1e6:.1f} MB together; one question takes up to {cap} MB "
                             "(HEADSTART_UPLOAD_MAX_MB): ask with fewer or smaller images")
    check_pixels([(Path(name).name, io.BytesIO(data)) for name, data in files])


def check_pixels(images: list[tuple[str, object]]) -> None:
    """Each image (name, file or path) within HEADSTART_IMAGE_MAX_MEGAPIXELS, and all within MAX_QUESTION_MEGAPIXELS,
    from their headers alone: what decoding them would cost is known before the work starts."""
    from training.tasks.images.data import image_size

    total = 0
    for i, (name, source) in enumerate(images, 1):
        w, h = image_size(source, name, f"input {i}")
        total += w * h
    if total > MAX_QUESTION_MEGAPIXELS * 1_000_000:
        raise HeadStartError(f"your images have {total / 1e6:,.0f} megapixels together; one question may have up to "
                             f"{MAX_QUESTION_MEGAPIXELS} (each image is shrunk to the model's size anyway): ask with "
                             "fewer or smaller images")


def check_rate(store: Store, owner: str) -> None:
    """Demo mode's hourly question cap, read before anything is written (`ask` holds it where the question is
    inserted)."""
    from training.settings import load_settings

    settings = load_settings()
    if settings.mode == "demo" and store.predictions_since(owner, time.time() - 3600) >= settings.demo_predictions_per_hour:
        raise HeadStartError(_over_rate(settings.demo_predictions_per_hour))


def _over_rate(per_hour: int) -> str:
    return f"this demo answers at most {per_hour} questions an hour per visitor; try again later"


def check_question(store: Store, exp_id: str, run_ids: list[str], inputs: list, owner: str) -> None:
    """What a question may ask, in the page's words: runs of this experiment that finished, inputs within the caps (their
    number, characters, and for images the files Try it saved, within the pixel caps by their headers), an owner who
    may use the experiment's models. Checked where it is asked and again where the predictor starts on it. Raises
    HeadStartError."""
    from training.service.bundle import GALLERY_OWNER
    from training.service.records import Role, Status
    from training.settings import load_settings

    settings = load_settings()
    exp = store.experiment(exp_id)
    if exp is None:
        raise HeadStartError(f"there is no experiment {exp_id}")
    if settings.mode != "local" and exp.owner not in (owner, GALLERY_OWNER):
        raise HeadStartError("only the experiment's owner may try its models (and anyone the gallery's)")
    if not run_ids:
        raise HeadStartError("choose at least one model to answer")
    from training.delivery.predict import BASE
    from training.tasks import task_kind

    kind = task_kind(exp.config.task)
    runs = {r.id: r for r in store.runs(exp_id)}
    for rid in run_ids:
        if rid == BASE and kind.generations:  # a chat experiment's base model, answering beside its runs
            continue
        r = runs.get(rid)
        if r is None or r.role != Role.GRID or r.status != Status.DONE:
            raise HeadStartError(f"run {rid} is not a finished run of experiment {exp_id}")
    if len(inputs) > MAX_INPUTS:
        raise HeadStartError(f"at most {MAX_INPUTS} inputs at a time (you gave {len(inputs)})")
    long = [i for i, x in enumerate(inputs, 1) if isinstance(x, str) and len(x) > MAX_CHARS]
    if long:
        raise HeadStartError(f"input {long[0]} is longer than {MAX_CHARS:,} characters")
    cells = [(i, k) for i, x in enumerate(inputs, 1) if isinstance(x, dict)
             for k, v in x.items() if len(str(k)) > MAX_CHARS or (isinstance(v, str) and len(v) > MAX_CHARS)]
    if cells:
        raise HeadStartError(f"row {cells[0][0]}: the cell {str(cells[0][1])[:60]!r} is longer than {MAX_CHARS:,} "
                             "characters")
    stored = len(json.dumps(inputs))
    if stored > MAX_QUESTION_CHARS:
        raise HeadStartError(f"this question is {stored:,} characters in all, more than the {MAX_QUESTION_CHARS:,} one "
                             "question may carry: ask with fewer or shorter inputs")
    if kind.input_form == "image":  # an image is a file: only one a page uploaded here
        uploads = (store.root / UPLOADS).resolve()
        outside = [i for i, x in enumerate(inputs, 1) if not Path(str(x)).resolve().is_relative_to(uploads)]
        if outside:
            raise HeadStartError(f"input {outside[0]} is not an image uploaded to Try it")
        check_pixels([(Path(x).name.partition("-")[2] or Path(x).name, x) for x in inputs])


def ask(store: Store, exp_id: str, run_ids: list[str], inputs: list, owner: str) -> str:
    """Check the question and queue it, within demo mode's hourly cap (counted where it is inserted); returns its id
    (the page then waits on `store.prediction(id)`)."""
    from training.settings import load_settings

    check_question(store, exp_id, run_ids, inputs, owner)
    settings = load_settings()
    per_hour = settings.demo_predictions_per_hour if settings.mode == "demo" else None
    qid = store.ask_prediction(exp_id, run_ids, inputs, owner, per_hour=per_hour)
    if qid is None:
        raise HeadStartError(_over_rate(settings.demo_predictions_per_hour))
    return qid


def ask_images(store: Store, exp_id: str, run_ids: list[str], files: list[tuple[str, bytes]], owner: str) -> str:
    """Try it's question about uploaded images (name, bytes): everything that can refuse it is checked before the
    images are written (the hourly cap, the experiment, their number, bytes and pixels), and they are removed again
    if the question is refused when it is inserted."""
    import shutil

    check_rate(store, owner)
    check_question(store, exp_id, run_ids, [], owner)
    check_images(files)
    paths = save_uploads(store, files)
    try:
        return ask(store, exp_id, run_ids, [str(p) for p in paths], owner)
    except BaseException:
        if paths:
            shutil.rmtree(paths[0].parent, ignore_errors=True)
        raise


def _forget_uploads(store: Store, inputs: list) -> None:
    """Remove the Try it folder a question's images were saved in, once it is answered (nothing reads them again)."""
    import shutil

    root = (store.root / UPLOADS).resolve()
    for folder in {Path(str(x)).resolve().parent for x in inputs if isinstance(x, str)}:
        if folder.parent == root:
            shutil.rmtree(folder, ignore_errors=True)


def me() -> str:
    """This process as a question's claimant: host, pid and start time (a pid alone is reused after a restart)."""
    import socket

    from training.service.processes import process_started

    return f"{socket.gethostname()} {os.getpid()} {process_started(os.getpid())}"


def fail_orphans(store: Store) -> int:
    """Fail the questions a predictor of this host was answering when it died, with the reason (`STOPPED`); returns
    how many. A question claimed on another host is that host's to look after."""
    import socket

    from training.service.processes import pid_alive

    host = socket.gethostname()
    dead = []
    for q in store.working_predictions():
        name, _, rest = (q["claimed_by"] or "").partition(" ")
        pid, _, started = rest.partition(" ")
        if name == host and not pid_alive(int(pid), None if started == "None" else float(started)):
            dead.append(q["id"])
        elif not q["claimed_by"] and store.backend == "sqlite":  # claimed before claimants were recorded
            dead.append(q["id"])
    failed = store.fail_working_predictions(dead, STOPPED)
    for qid in dead:  # nothing will read a failed question's images again
        q = store.prediction(qid)
        if q is not None and q.get("status") == "failed":
            _forget_uploads(store, q["inputs"])
    return failed


class Predictor:
    """Answers questions from the store, keeping up to `max_models` models loaded."""

    def __init__(self, store: Store, max_models: int = MAX_MODELS):
        self.store = store
        self.max_models = max_models
        self.models: OrderedDict = OrderedDict()

    def model(self, run_id: str, exp_id: str):
        from training.delivery.predict import BASE, load, load_base

        key = f"{BASE}:{exp_id}" if run_id == BASE else run_id
        if key in self.models:
            self.models.move_to_end(key)
            return self.models[key]
        loaded = load_base(self.store, exp_id) if run_id == BASE else load(self.store, run_id)
        self.models[key] = loaded
        while len(self.models) > self.max_models:
            self.models.popitem(last=False)
        return loaded

    def handle(self, q: dict) -> None:
        from training.delivery.predict import answer

        try:
            # checked again where the work starts (the rate was counted when it was asked)
            check_question(self.store, q["experiment_id"], q["run_ids"], q["inputs"], q["owner"])
            models = [self.model(rid, q["experiment_id"]) for rid in q["run_ids"]]
            t0 = time.perf_counter()
            out = answer(models, q["inputs"]) if q["inputs"] else {"predictions": []}
            out["seconds"] = round(time.perf_counter() - t0, 4)
            self.store.answer_prediction(q["id"], out)
        except HeadStartError as e:
            self.store.answer_prediction(q["id"], error=str(e))
        except Exception as e:  # noqa: BLE001 — the page shows it; the predictor keeps serving
            self.store.answer_prediction(q["id"], error=f"{type(e).__name__}: {e}")
        finally:
            _forget_uploads(self.store, q["inputs"])

    def serve(self, idle_s: float = IDLE_S) -> None:
        fail_orphans(self.store)  # what the predictor before this one was answering when it died
        last = time.monotonic()
        claimant = me()
        while time.monotonic() - last < idle_s:
            q = self.store.claim_prediction(claimant)
            if q is None:
                # Quick while questions come (a page asks again within seconds), slower the longer none has come.
                time.sleep(POLL_S if time.monotonic() - last < 60 else IDLE_POLL_S)
                continue
            self.handle(q)
            last = time.monotonic()


def main(spec: str, idle_s: float = IDLE_S) -> int:
    from training.service.runner import DispatcherRunning, acquire_lock

    store = Store(spec)
    try:
        fd = acquire_lock(store.root, lock_name(store))
    except DispatcherRunning:
        print(f"a predictor already serves {store.root}", file=sys.stderr)
        return 0
    try:
        Predictor(store).serve(idle_s)
    finally:
        os.close(fd)
    return 0
