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


CRASH_SIGNALS = {"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT"}
"""Signals a process sends itself when its own code goes wrong (a native crash), unlike a kill from outside."""


def oom_kills() -> int | None:
    """How many processes the kernel's out-of-memory killer has killed since boot (`oom_kill` in /proc/vmstat; None
    where the system does not say). Read before and after a worker's death, it tells an out-of-memory kill from a
    `kill -9`, which exit with the same signal."""
    try:
        with open("/proc/vmstat", encoding="ascii") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("oom_kill ")), None)
    except (OSError, ValueError):
        return None


def death_words(code: int | None, out_of_memory: bool = False) -> str:
    """How a worker ended, from its exit code (negative: the signal that ended it; None: only found gone), in words
    for the run's error: killed (and by the out-of-memory killer where the system says so), crashed, or exited."""
    import signal

    if code is None:
        return "worker process is gone"
    if code >= 0:
        return f"worker exited with code {code} before finishing"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "an unknown signal"
    if name == "SIGKILL" and out_of_memory:
        return (f"worker killed by signal {-code} ({name}) while the system's out-of-memory killer was at work: it "
                "most likely ran out of memory")
    if name in CRASH_SIGNALS:
        return f"worker crashed (signal {-code}, {name})"
    return f"worker killed by signal {-code} ({name})"
