"""One worker process trains one run: `python -m training work RUN_ID --store DIR` (started by the
dispatcher, never by hand).

A background thread heartbeats into the store every `HEARTBEAT_S` seconds and picks up cancel
requests; SIGTERM also asks for a graceful stop. Either way the loop checkpoints, marks the run
`cancelled` and exits. The process runs in its own session, so it outlives the dispatcher and the app.
"""
from __future__ import annotations

import signal
import threading

from .store import Store

HEARTBEAT_S = 2.0


class WorkerControl:
    """The loop's control: `should_stop` after a cancel request or SIGTERM; heartbeats in a thread."""

    def __init__(self, store_root, run_id: str, interval: float = HEARTBEAT_S):
        self.store_root, self.run_id, self.interval = store_root, run_id, interval
        self.stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat_forever, name="heartbeat", daemon=True)

    def start(self) -> "WorkerControl":
        self._thread.start()
        return self

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _beat_forever(self) -> None:
        store = Store(self.store_root)  # its own connection: sqlite connections stay in their thread
        while not self._done.is_set():
            try:
                if store.heartbeat(self.run_id):
                    self.stop.set()
            except Exception:  # noqa: BLE001 — a missed beat is retried; the dispatcher tolerates a few
                pass
            self._done.wait(self.interval)
        store.close()

    def should_stop(self) -> bool:
        return self.stop.is_set()

    def beat(self) -> None:
        pass


def work(store_root, run_id: str) -> str:
    """Train the run in this process; returns its final status."""
    control = WorkerControl(store_root, run_id).start()  # beat before the slow torch import below
    try:
        previous = signal.signal(signal.SIGTERM, lambda *_: control.stop.set())
    except ValueError:  # not the main thread (some Ray setups): cancel requests still arrive by heartbeat
        previous = None
    try:
        from .experiment import execute_run

        return execute_run(Store(store_root), run_id, control)["status"]
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        control.close()
