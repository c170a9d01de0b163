"""Which process is which: a worker is identified by its pid *and* its start time, so a pid reused after a restart
is never taken for the worker that once had it. Used by the dispatcher (is a run's worker alive?) and by the worker
itself (recording who it is), without either importing the other."""
from __future__ import annotations

import psutil


def process_started(pid: int | None) -> float | None:
    """A process's start time: with its pid, what identifies it (pids are reused after a reboot or restart)."""
    try:
        return psutil.Process(pid).create_time() if pid else None
    except psutil.Error:
        return None


def pid_alive(pid: int | None, started: float | None = None) -> bool:
    """The process with this pid is alive and, when `started` is known, is the same process that started then."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except psutil.Error:
        return False
