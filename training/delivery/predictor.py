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
    runs = {r.id: r for r in store.runs(exp_id)}
    for rid in run_ids:
        r = runs.get(rid)
        if r is None or r.role != Role.GRID or r.status != Status.DONE:
            raise HeadStartError(f"run {rid} is not a finished run of experiment {exp_id}")
    if len(inputs) > MAX_INPUTS:
        raise HeadStartError(f"at most {MAX_INPUTS} inputs at a time (you gave {len(inputs)})")
    long = [i for i, x in enumerate(inputs, 1) if isinstance(x, str) and len(x) > MAX_CHARS]
    if long:
        raise HeadStartError(f"input {long[0]} is longer than {MAX_CHARS:,} characters")
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

    def model(self, run_id: str):
        from training.delivery.predict import load

        if run_id in self.models:
            self.models.move_to_end(run_id)
            return self.models[run_id]
        loaded = load(self.store, run_id)
        self.models[run_id] = loaded
        while len(self.models) > self.max_models:
            self.models.popitem(last=False)
        return loaded

    def handle(self, q: dict) -> None:
        from training.delivery.predict import answer

        try:
            # checked again where the work starts (the rate was counted when it was asked)
            check_question(self.store, q["experiment_id"], q["run_ids"], q["inputs"], q["owner"], rate=False)
            models = [self.model(rid) for rid in q["run_ids"]]
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
                time.sleep(POLL_S)
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
