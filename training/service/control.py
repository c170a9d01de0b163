"""A worker's run control (the protocol is `training.core.control`): `should_stop` after a cancel request or SIGTERM,
and heartbeats into the store from a thread, so the dispatcher sees the run alive."""
from __future__ import annotations

import threading

from training.service.store import Store

HEARTBEAT_S = 2.0


class WorkerControl:
    """The loop's control in a worker: `should_stop` after a cancel request or SIGTERM; heartbeats in a thread."""

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
        store = Store(self.store_root)  # its own engine: connections never cross threads
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
