"""A warm starter for CPU workers: one process imports torch, transformers, PEFT and the task kinds once, then forks
a worker per run, so a run starts in a fraction of a second instead of paying that import (5–13 s on 2 cores) every
time. The quick demo's nine short runs spent about a fifth of their worker time importing.

    dispatcher ──stdin──▶ starter     {"run": ID, "store": SPEC, "env": {...}, "log": PATH, "cwd": DIR, "threads": N}
    dispatcher ◀─stdout── starter     {"run": ID, "pid": PID}   then, when it exits, {"run": ID, "exit": CODE}

A forked worker is what `python -m training work ID --store SPEC` would be: its own session (the dispatcher's kill
reaches its group), its own log, environment and thread count, default signal handlers, and the same code path
(`training.service.worker.main`). It records its own pid and heartbeats into the store, so it is judged like any worker:
a `kill -9` of it shows as an exit code here and as a dead pid to a later dispatcher.

Safety of fork: the starter opens no store, starts no thread and runs no torch operation (forking after OpenMP or
CUDA has started is unsafe); it serves CPU runs only and never sees a GPU (`CUDA_VISIBLE_DEVICES` is empty). When
the dispatcher goes (EOF on stdin) the starter exits; its workers carry on in their own sessions. When the starter
goes, the dispatcher starts workers in fresh interpreters again (`runner.LocalExecutor`).
"""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

# What a run imports, imported once here. A name that fails to import is skipped (the worker imports it itself).
PRELOAD = ("torch", "numpy", "pandas", "transformers", "peft", "safetensors.torch", "sklearn.linear_model",
           "sklearn.ensemble", "training.service.execution", "training.service.worker", "training.settings")
PRELOAD_PACKAGES = ("training.core", "training.tasks", "training.analysis")
# transformers resolves model classes lazily; the families the built-ins use, so their first run does not pay it
PRELOAD_LAZY = ("AutoModel", "AutoModelForSequenceClassification", "AutoModelForCausalLM", "AutoTokenizer",
                "AutoConfig", "models.bert.modeling_bert", "models.llama.modeling_llama")
READY = {"ready": True}


# -- the starter process ----------------------------------------------------------------------------

def preload() -> list[str]:
    """Import what workers need; returns what failed (for the log)."""
    failed = []
    names = list(PRELOAD)
    for package in PRELOAD_PACKAGES:
        try:
            pkg = importlib.import_module(package)
            names += [m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".")]
        except Exception:  # noqa: BLE001
            failed.append(package)
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 — a module a worker may never need
            failed.append(name)
    try:
        import transformers

        for attr in PRELOAD_LAZY:
            if "." in attr:
                importlib.import_module(f"transformers.{attr}")
            else:
                getattr(transformers, attr)
    except Exception:  # noqa: BLE001
        failed.append("transformers (lazy classes)")
    return failed


def _child(req: dict, proto: int, started: int | None = None) -> None:
    """In the forked worker: become `python -m training work RUN --store SPEC`, then exit without running the
    starter's cleanup (os._exit: nothing of the starter's is flushed or finalised twice)."""
    code = 1
    try:
        os.setsid()
        if started is not None:
            os.close(started)  # tells the starter: in its own session now
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGPIPE, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.close(proto)
        log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        if "env" in req:  # exactly the environment a fresh interpreter would have been given
            os.environ.clear()
            os.environ.update(req["env"])
        os.chdir(req.get("cwd") or ".")
        if req.get("threads"):  # OMP_NUM_THREADS was read when the starter loaded OpenMP and BLAS: apply it here
            import torch
            from threadpoolctl import threadpool_limits

            threadpool_limits(int(req["threads"]))
            torch.set_num_threads(int(req["threads"]))
        from training.service.worker import main

        sys.argv = [sys.executable, "-m", "training", "work", req["run"], "--store", req["store"]]
        code = main(req["store"], req["run"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 — the worker's own failure: its log says why, its exit code says that it did
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> None:
    """The starter's loop: fork a worker per request, report pids and exit codes, exit at EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the dispatcher, which closes our stdin
    proto = os.dup(1)
    os.dup2(2, 1)  # stray prints of imported libraries go to the log, never into the protocol
    out = os.fdopen(proto, "w", buffering=1)

    def say(message: dict) -> None:
        out.write(json.dumps(message) + "\n")

    t0 = time.perf_counter()
    failed = preload()
    print(f"warm starter {os.getpid()}: imports done in {time.perf_counter() - t0:.1f} s"
          + (f" (skipped: {', '.join(failed)})" if failed else ""), file=sys.stderr, flush=True)
    say(READY)
    children: dict[int, str] = {}
    buffer = b""
    eof = False
    while not eof:
        ready, _, _ = select.select([0], [], [], 0.2)
        if ready:
            chunk = os.read(0, 65536)
            eof = not chunk
            buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            req = json.loads(line)
            sys.stdout.flush()
            sys.stderr.flush()
            started_r, started_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(started_r)
                _child(req, proto, started_w)
            os.close(started_w)
            # The pid is reported once the child has its own session (it closes its end right after setsid, or dies):
            # a dispatcher that kills the run's process group at once then reaches it, never a group not there yet.
            select.select([started_r], [], [], 10.0)
            os.close(started_r)
            children[pid] = req["run"]
            say({"run": req["run"], "pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                break
            if pid == 0:
                break
            run = children.pop(pid, None)
            if run is not None and not eof:
                say({"run": run, "exit": os.waitstatus_to_exitcode(status)})
    # EOF: the dispatcher is gone; the workers carry on in their own sessions and the next dispatcher adopts them


# -- the dispatcher's side ----------------------------------------------------------------------------

class WarmStarter:
    """The dispatcher's handle on its starter process. Every call is non-blocking except `start`, which waits
    for the fork's pid (milliseconds once the starter is ready; the first run waits for its imports)."""

    def __init__(self, log: Path, threads: int | None = None, ready_timeout: float = 300.0):
        self.ready_timeout = ready_timeout
        log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
        if threads and "OMP_NUM_THREADS" not in os.environ:  # OpenMP and BLAS size their pools when loaded
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        with open(log, "a", encoding="utf-8") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "training.service.warm"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, env=env, start_new_session=True,
                                         cwd=Path(__file__).resolve().parents[2])
        self.ready = False
        self.running: set[str] = set()  # forked, not yet reported as exited
        self.exits: dict[str, int] = {}
        self._pids: dict[str, int] = {}  # forked, pid not yet handed to `start`'s caller
        self._buffer = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def start(self, run_id: str, store: str, env: dict, log: Path, threads: int | None) -> int:
        """Fork a worker for the run; its pid (0 when the starter could not, so the caller starts it otherwise)."""
        req = {"run": run_id, "store": store, "env": env, "log": str(log), "threads": threads,
               "cwd": str(Path(__file__).resolve().parents[2])}
        deadline = time.monotonic() + self.ready_timeout
        while not self.ready:  # the first start waits for the imports a fresh interpreter would have done anyway
            if not self._read(deadline - time.monotonic()):
                self.proc.kill()  # gone or stuck: later runs start as fresh interpreters without waiting again
                return 0
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return 0
        deadline = time.monotonic() + 30.0
        while True:
            if run_id in self._pids:
                return self._pids.pop(run_id)
            if not self._read(deadline - time.monotonic()):
                # No pid: the caller starts the run another way, so this starter must never fork it late (two
                # workers on one run). It goes; its workers already running carry on and are judged by their pids.
                self.proc.kill()
                return 0

    def _read(self, timeout: float) -> bool:
        """Read and handle what the starter said within `timeout` seconds; False when it said nothing or is gone."""
        if timeout <= 0 or self.proc.stdout is None:
            return False
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            return False
        self._buffer += chunk
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            msg = json.loads(line)
            if msg.get("ready"):
                self.ready = True
            elif "pid" in msg:
                self.running.add(msg["run"])
                self._pids[msg["run"]] = msg["pid"]
            elif "exit" in msg:
                self.running.discard(msg["run"])
                self.exits[msg["run"]] = msg["exit"]
        return True

    def finished(self) -> dict[str, int]:
        """Workers that exited since the last call, with their exit codes."""
        while self._read(0.001):
            pass
        done, self.exits = self.exits, {}
        return done

    def owns(self, run_id: str) -> bool:
        """Forked by this starter and not yet reported as exited, while the starter lives (after it goes, a worker is
        judged by its pid like any adopted one)."""
        return run_id in self.running and self.alive()

    def close(self) -> None:
        """End the starter (its workers carry on)."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


if __name__ == "__main__":
    serve()
