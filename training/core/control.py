"""The run-control protocol, shared by the loop, the worker and the in-process runner: the loop asks its control
whether to stop (`should_stop`) and beats once per step (`beat`); a worker's control
(`training.service.control.WorkerControl`) heartbeats into the store from a thread and picks up cancel requests. A stop
is honoured after a checkpoint, by raising `Cancelled`.
"""
from __future__ import annotations


class Cancelled(Exception):
    """Raised when the control asks the run to stop; the run was checkpointed first."""


class NullControl:
    """Never stops, never beats (tests, benches)."""

    def should_stop(self) -> bool:
        return False

    def beat(self) -> None:
        pass
