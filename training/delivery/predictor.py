"""Try it's predictor: one process per host that answers the questions pages ask through the store, keeping the models
it recently used loaded (`python -m training predictor --store S`; the page starts it with `ensure_predictor`, it exits
after `idle_s` without a question, freeing their memory).

A question is (experiment, run ids, inputs, owner) in the store's `predictions` table; an empty input list only loads
the runs' models (the page asks that when it opens, so the first typed text does not wait for loading). Policy is
checked here too, where the work starts: the runs must be finished grid runs of the question's experiment, and outside
local mode the owner must own the experiment or it must be the gallery's. Pages never import torch."""
from __future__ import annotations

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
"""Characters one text input may have."""
POLL_S = 0.05
IDLE_POLL_S = 0.25
"""Seconds between looks at the store: POLL_S within a minute of the last question, IDLE_POLL_S after."""


def lock_name(store: Store) -> str:
    """One predictor per SQLite store; per host with a shared database (like the dispatcher)."""
    import socket

    return LOCK if store.backend == "sqlite" else f"predictor.{socket.gethostname()}.lock"


def ensure_predictor(root) -> bool:
    """Start a predictor for the store unless one is alive on this host (the page calls this). True if started."""
    import subprocess

    from training.service.runner import dispatcher_alive

    store = Store(root)
    if dispatcher_alive(store.root, lock_name(store)):
        return False
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
    """Write a page's uploaded images into the store's Try it folder (one new folder per question; folders older than
    a day are removed first); returns their paths."""
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


def check_question(store: Store, exp_id: str, run_ids: list[str], inputs: list, owner: str, rate: bool = True) -> None:
    """What a question may ask, in the page's words: runs of this experiment that finished, inputs within the caps, an
    owner who may use the experiment's models, and (demo mode, where `rate`) within the hourly rate. Raises
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
    if kind.input_form == "image":  # an image is a file: only one a page uploaded here
        uploads = (store.root / UPLOADS).resolve()
        outside = [i for i, x in enumerate(inputs, 1) if not Path(str(x)).resolve().is_relative_to(uploads)]
        if outside:
            raise HeadStartError(f"input {outside[0]} is not an image uploaded to Try it")
    hour = time.time() - 3600
    if rate and settings.mode == "demo" and store.predictions_since(owner, hour) >= settings.demo_predictions_per_hour:
        raise HeadStartError(f"this demo answers at most {settings.demo_predictions_per_hour} questions an hour per "
                             "visitor; try again later")


def ask(store: Store, exp_id: str, run_ids: list[str], inputs: list, owner: str) -> str:
    """Check the question and queue it; returns its id (the page then waits on `store.prediction(id)`)."""
    check_question(store, exp_id, run_ids, inputs, owner)
    return store.ask_prediction(exp_id, run_ids, inputs, owner)


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
            check_question(self.store, q["experiment_id"], q["run_ids"], q["inputs"], q["owner"], rate=False)
            models = [self.model(rid, q["experiment_id"]) for rid in q["run_ids"]]
            t0 = time.perf_counter()
            out = answer(models, q["inputs"]) if q["inputs"] else {"predictions": []}
            out["seconds"] = round(time.perf_counter() - t0, 4)
            self.store.answer_prediction(q["id"], out)
        except HeadStartError as e:
            self.store.answer_prediction(q["id"], error=str(e))
        except Exception as e:  # noqa: BLE001 — the page shows it; the predictor keeps serving
            self.store.answer_prediction(q["id"], error=f"{type(e).__name__}: {e}")

    def serve(self, idle_s: float = IDLE_S) -> None:
        last = time.monotonic()
        while time.monotonic() - last < idle_s:
            q = self.store.claim_prediction()
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
