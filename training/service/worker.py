"""One worker process trains one run: `python -m training work RUN_ID --store DIR` (started by the
dispatcher, never by hand). Its control (`training.service.control.WorkerControl`) heartbeats and picks up cancel requests;
SIGTERM also asks for a graceful stop. Either way the loop checkpoints, marks the run `cancelled` and exits.
The process runs in its own session, so it outlives the dispatcher and the app.
"""
from __future__ import annotations

import signal

from training.service.control import WorkerControl
from training.service.store import Store


def main(store_root, run_id: str) -> int:
    """`python -m training work RUN_ID --store DIR` (and a worker the warm starter forks): train the run at the
    configured niceness; exit code 0 when it ended done or cancelled."""
    import os

    from training.settings import load_settings

    # Training yields the CPU to the app and the dispatcher on the same host (a run on an idle machine
    # is not slowed; the web server's health endpoint stays fast while runs train). 0 turns it off.
    os.nice(load_settings().worker_nice)
    return 0 if work(store_root, run_id) in ("done", "cancelled") else 1


def work(store_root, run_id: str) -> str:
    """Train the run in this process; returns its final status."""
    control = WorkerControl(store_root, run_id).start()  # beat before the slow torch import below
    try:
        previous = signal.signal(signal.SIGTERM, lambda *_: control.stop.set())
    except ValueError:  # not the main thread (some Ray setups): cancel requests still arrive by heartbeat
        previous = None
    try:
        import sys

        from training.service.execution import execute_run
        from training.service.store import PatientStore

        def say(message: str) -> None:
            print(f"worker {run_id}: {message}", file=sys.stderr, flush=True)

        # A store outage pauses the run instead of killing it (PatientStore); the heartbeat thread keeps trying too.
        return execute_run(PatientStore(Store(store_root), log=say), run_id, control).status
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        control.close()
