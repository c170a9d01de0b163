"""The dispatcher: one per store, it turns queued runs into worker processes and keeps the store honest.

    python -m training worker --store DIR [--devices cuda:0,cuda:1|cpu] [--slots-per-device K]
                              [--owner-cap N] [--executor local|ray] [--address ADDR]

Every tick it (1) reconciles: a `running` run whose worker died (an exit by signal or code, its process gone, its
heartbeat stale) is `interrupted` with how it died and re-queued at once to resume from its last checkpoint — up to
`worker_retries` times (HEADSTART_WORKER_RETRIES), then it is `failed` with the reason; a run being cancelled is
`cancelled` instead; a live one started by an earlier dispatcher is adopted, not duplicated; (2) forces cancels that
were not honoured in time; (3) starts queued runs on free slots. On start it reconciles the same way and also
re-queues other `interrupted` runs (a Ctrl-C'd `run`, an older store's), so they resume from their last checkpoint.

Scheduling: runs wait for their dependency (the hybrid's pretraining run); within an experiment they
start in order (FIFO); across owners the owner with the fewest running runs goes first (ties: the one
served longest ago), and no owner exceeds `owner_cap` concurrent runs. A GPU takes several runs at once
when `slots_per_device` allows and their preflight memory estimates fit. By default a GPU takes one run
at a time and a CPU two, each with half the cores (two single-thread runs of a small model finish the
quick demo sooner than one after the other with two threads; see bench/quick_time.py).

Workers are separate processes in their own session. A GPU run is a fresh interpreter (never fork after CUDA) with
`CUDA_VISIBLE_DEVICES` set to its GPU; with `warm`, a CPU run is forked from a starter process that imported torch
and the task kinds once (`training.service.warm`), and is otherwise the same worker. The store is the only thing
they share with this process.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from training.errors import HeadStartError
from training.service.processes import death_words, oom_kills, pid_alive, process_started
from training.service.records import DISK_FULL, Role, Run, Status
from training.service.store import Store

LOCK = "dispatcher.lock"
HEARTBEAT_TIMEOUT_S = 12.0
STORE_SLOW_S = 2.0
"""A write probe that waits longer than this means the store was not writable (another process's long write, a
PostgreSQL outage): workers could not heartbeat either, so their silence is counted only from when it was."""
DISK_FLOOR_BYTES = 512 * 1024 ** 2
"""No new run starts while the store's disk has less free space than this (checkpoints and metrics need room; a full
disk killed every worker mid-write)."""
BACKOFF_MAX_S = 30.0
STARTUP_TIMEOUT_S = 180.0  # a new worker's first beat can wait for interpreter start (and a Ray worker's)
CANCEL_TIMEOUT_S = 30.0
MAX_ATTEMPTS = 5


class DispatcherRunning(HeadStartError):
    """Another dispatcher already serves this store."""


def lock_name(store: Store | None = None, host: str | None = None) -> str:
    """The dispatcher lock's file name: one dispatcher per SQLite store; with a shared database (PostgreSQL) one per
    host, since dispatchers on several hosts serve the same store."""
    if store is None or store.backend == "sqlite":
        return LOCK
    return f"dispatcher.{host or socket.gethostname()}.lock"


def acquire_lock(root: Path, name: str = LOCK):
    """Hold the store's dispatcher lock for this process's lifetime (released by the OS on exit)."""
    path = root / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise DispatcherRunning(f"a dispatcher (pid {other}) already serves {root}; use it, or stop it first") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def dispatcher_alive(root: Path, name: str = LOCK) -> bool:
    """True when some process holds the store's dispatcher lock (this host's, for a shared database)."""
    path = Path(root) / name
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we may have taken
    return False


def ensure_dispatcher(root: Path, log: Path | None = None) -> bool:
    """Start a dispatcher for the store unless one is alive (the app calls this). True if started."""
    store = Store(root)
    if dispatcher_alive(store.root, lock_name(store)):
        return False
    log = log or store.root / "logs" / "dispatcher.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as out:
        subprocess.Popen([sys.executable, "-m", "training", "worker", "--store", store.spec], stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True, cwd=Path(__file__).resolve().parents[2])
    return True


# -- executors: how a claimed run becomes a running worker ----------------------------------------

class LocalExecutor:
    """One worker process per run on this machine. With `warm`, CPU runs are forked from a starter that has
    imported torch and the task kinds once (`training.service.warm`); otherwise, and for GPU runs, each worker is a
    fresh interpreter."""

    def __init__(self, store: Store, cpu_threads: int | None = None, warm: bool = False):
        self.root, self.spec = store.root, store.spec
        self.cpu_threads = cpu_threads
        self.children: dict[str, subprocess.Popen] = {}
        self.starter = None
        if warm:
            from training.service.warm import WarmStarter

            # it imports while the first ticks run; every CPU run it forks has `cpu_threads` threads
            self.starter = WarmStarter(self.root / "logs" / "warm-starter.log", cpu_threads)

    def start(self, run_id: str, device: str) -> int:
        env = dict(os.environ)
        env["CUDA_VISIBLE_DEVICES"] = device.split(":")[1] if device.startswith("cuda:") else ""
        threads = None
        if device == "cpu" and self.cpu_threads and "OMP_NUM_THREADS" not in os.environ:
            # Concurrent CPU runs share the cores: each gets its share of threads, not all of them (oversubscribed
            # OpenMP threads spin against each other and every run slows several-fold).
            threads = self.cpu_threads
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        log = self.root / "runs" / run_id / "worker.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        if device == "cpu" and self.starter is not None and self.starter.alive():
            pid = self.starter.start(run_id, self.spec, env, log, threads or _env_threads())
            if pid:
                return pid
        with open(log, "a", encoding="utf-8") as out:
            proc = subprocess.Popen([sys.executable, "-m", "training", "work", run_id, "--store", self.spec],
                                    stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                    cwd=Path(__file__).resolve().parents[2])
        self.children[run_id] = proc
        return proc.pid

    def finished(self) -> dict[str, int]:
        """Children that exited since the last call, with their exit codes (reaps them)."""
        done = {rid: p.returncode for rid, p in self.children.items() if p.poll() is not None}
        for rid in done:
            del self.children[rid]
        if self.starter is not None:
            done.update(self.starter.finished())
        return done

    def owns(self, run_id: str) -> bool:
        return run_id in self.children or (self.starter is not None and self.starter.owns(run_id))

    def close(self) -> None:
        if self.starter is not None:
            self.starter.close()
            self.starter = None


def _env_threads() -> int | None:
    """OMP_NUM_THREADS when the dispatcher was given one (a forked worker must apply it itself)."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


class RayExecutor:
    """Each run is a Ray task (num_gpus set) that trains in a Ray worker process — on this machine or,
    with `address`, anywhere in the cluster. Workers on other hosts need the store on shared storage."""

    def __init__(self, store: Store, address: str | None):
        import ray

        self.ray, self.spec = ray, store.spec
        if not ray.is_initialized():
            # Ray's workers import `training` from the installed project (requirements.txt installs it, editable)
            ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
        self.task = ray.remote(_ray_work)
        self.refs: dict[str, object] = {}

    def start(self, run_id: str, device: str) -> int:
        gpus = 1 if device.startswith("cuda") else 0
        self.refs[run_id] = self.task.options(num_gpus=gpus, num_cpus=1, max_retries=0).remote(
            self.spec, run_id, {k: os.environ.get(k) for k in STORE_ENV})
        return 0

    def finished(self) -> dict[str, int]:
        if not self.refs:
            return {}
        ready, _ = self.ray.wait(list(self.refs.values()), num_returns=len(self.refs), timeout=0)
        done = {}
        for rid, ref in list(self.refs.items()):
            if ref in ready:
                try:
                    self.ray.get(ref)
                    done[rid] = 0
                except Exception:  # noqa: BLE001 — the worker died; reconcile marks the run
                    done[rid] = 1
                del self.refs[rid]
        return done

    def owns(self, run_id: str) -> bool:
        return run_id in self.refs

    def close(self) -> None:
        pass


STORE_ENV = ("HEADSTART_DATABASE_URL", "HEADSTART_ARTIFACTS")  # what names the store besides its spec


def _ray_work(store_root: str, run_id: str, store_env: dict | None = None) -> str:
    from training.service.worker import work

    # A Ray worker process may be reused across tasks and started on another host: the store it writes to is
    # the dispatcher's, passed with each task, never what that process's environment happened to say.
    for key, value in (store_env or {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

    return work(store_root, run_id)


def _transient(e: BaseException) -> bool:
    """An error the dispatcher waits out: the database unreachable or locked (the store says), the disk full or
    failing."""
    return isinstance(e, OSError) or Store.is_outage(e)


def _free_disk(root) -> int | None:
    import shutil

    try:
        return shutil.disk_usage(root).free
    except OSError:
        return None


# -- the dispatcher ---------------------------------------------------------------------------------

@dataclass
class Dispatcher:
    root: str | Path  # the store: its directory, or a database URL (see Store)
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    slots_per_device: int | None = None  # None: default_slots(devices)
    owner_cap: int | None = None
    executor: str = "local"
    address: str | None = None
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S
    startup_timeout: float = STARTUP_TIMEOUT_S
    cancel_timeout: float = CANCEL_TIMEOUT_S
    poll_s: float = 0.5
    host: str = field(default_factory=socket.gethostname)  # runs this dispatcher starts are marked with it
    warm: bool = False  # fork CPU workers from a starter that imported torch once (the app's and CLI's dispatcher)
    worker_retries: int | None = None  # resumes of a run whose worker died before it is failed (None: the setting's)

    def __post_init__(self):
        self.slots_per_device = self.slots_per_device or default_slots(self.devices)
        if self.worker_retries is None:
            from training.settings import load_settings

            self.worker_retries = load_settings().worker_retries
        self.store = Store(self.root)
        self.store.check_whole()  # a damaged database found now, in words, not as a crash mid-tick
        self.root = self.store.root
        self._lock = acquire_lock(self.root, lock_name(self.store, self.host))
        cpu_threads = max(1, (os.cpu_count() or 1) // self.slots_per_device) if "cpu" in self.devices else None
        self.exec = (RayExecutor(self.store, self.address) if self.executor == "ray"
                     else LocalExecutor(self.store, cpu_threads, warm=self.warm and "cpu" in self.devices))
        self.last_served: dict[str, float] = {}
        self.capacity = {d: _device_memory(d) for d in self.devices}
        self._stopping = False
        self.store_slow_until = 0.0  # when the store last turned out not writable (see STORE_SLOW_S)
        self.disk_floor = DISK_FLOOR_BYTES
        self.oom_at_start: dict[str, int | None] = {}  # the system's OOM-kill count when each of our workers started
        self.hung: dict[str, str] = {}  # runs whose silent worker we killed: retried once its exit is reaped

    # -- lifecycle ----------------------------------------------------------------------------------
    def serve(self, until_idle: bool = False) -> None:
        """Run ticks until SIGTERM/SIGINT (or, with until_idle, until nothing is queued or running).
        Stopping the dispatcher leaves its workers running; the next dispatcher adopts them."""
        previous = {sig: signal.signal(sig, lambda *_: setattr(self, "_stopping", True))
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            failures, recovered = 0, False
            while not self._stopping:
                try:
                    if not recovered:  # at start, and again once an outage is over: as a restart would
                        self.recover()
                        recovered = True
                    self.tick()
                    if until_idle and not self.store.runs(status=Status.QUEUED) and not self.store.runs(
                            status=Status.RUNNING):
                        break
                    failures = 0
                except Exception as e:  # noqa: BLE001 — a store outage, a full disk: wait, then carry on
                    if not _transient(e):
                        raise
                    failures += 1
                    recovered = False
                    self.store_slow_until = time.time()
                    wait = min(BACKOFF_MAX_S, self.poll_s * 2 ** failures)
                    print(f"dispatcher: the store is not usable ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                          f"retrying in {wait:.1f} s", file=sys.stderr, flush=True)
                    time.sleep(wait)
                    continue
                time.sleep(self.poll_s)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def close(self) -> None:
        """End the warm starter (workers carry on) and release the store's dispatcher lock (the OS also releases
        both when the process exits)."""
        self.exec.close()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def recover(self) -> None:
        """On start: reconcile (runs whose workers died meanwhile are retried or failed, as in every tick), then
        re-queue the other interrupted runs so they resume from their checkpoints; remove bundle imports that died
        half-way (`Store.remove_half_imports`)."""
        self.store.remove_half_imports()
        self.reconcile()
        for r in self.store.runs(status=Status.INTERRUPTED):
            if r.attempts < MAX_ATTEMPTS and not self.store.is_record(r.experiment_id):
                self.store.requeue(r.id)
                self.store.add_event(r.id, "requeued", "resuming from the last checkpoint after a restart")

    def tick(self) -> None:
        for rid, code in self.exec.finished().items():
            row = self.store.run(rid)
            oom = code == -signal.SIGKILL and self._oom_since_start(rid)
            self.oom_at_start.pop(rid, None)
            if rid in self.hung:  # the silent worker we killed is reaped now: its run may start again
                why = self.hung.pop(rid)
                if row.status == Status.INTERRUPTED:  # (unless someone resumed or cancelled it meanwhile)
                    self._worker_died(row, why, check_status=False)
            elif row.status == Status.RUNNING:  # the worker died without recording an outcome
                self._worker_died(row, death_words(code, oom))
        self.reconcile()
        self.enforce_cancels()
        self.schedule()

    # -- liveness -----------------------------------------------------------------------------------
    def reconcile(self) -> None:
        probe = time.time()
        self.store.write_probe()
        now = time.time()
        if now - probe > STORE_SLOW_S:
            self.store_slow_until = now
        for r in self.store.runs(status=Status.RUNNING):
            # A process is ours to check (and stop) only on this host; another host's run is judged by its heartbeat.
            remote = str(r.device or "").startswith("ray") or not self._here(r)
            alive = self.exec.owns(r.id) or remote or pid_alive(r.pid, r.proc_started)
            if r.heartbeat_at is None:  # claimed, not yet beating: allow for start-up
                silent, limit = now - (r.claimed_at or 0), self.startup_timeout
            else:  # silence while the store could not be written is not the worker's
                silent, limit = now - max(r.heartbeat_at, self.store_slow_until), self.heartbeat_timeout
            if not alive:
                self._worker_died(r, death_words(None))
            elif silent > limit:
                why = f"worker silent (no heartbeat for {silent:.0f} s), so stopped"
                if r.pid and not remote:
                    _kill(r.pid, r.proc_started)  # hung: stop it so a resume cannot run beside it
                if self.exec.owns(r.id):  # ours: retried once reaped (tick), so its exit is never taken for the next's
                    self._interrupt(r, why)
                    self.hung[r.id] = why
                else:
                    self._worker_died(r, why)
            # else: alive — ours, or a worker of an earlier dispatcher, adopted: it keeps its slot

    def _interrupt(self, row: Run, why: str, data: dict | None = None) -> None:
        self.store.update_run(row.id, status=Status.INTERRUPTED, error=why, ended_at=time.time())
        self.store.add_event(row.id, "interrupted", why, data)

    def _worker_died(self, row: Run, how: str, check_status: bool = True) -> None:
        """A run's worker died before recording an outcome (`how`: in words). Being cancelled: it is `cancelled`.
        Otherwise it is `interrupted` with the reason and, within `worker_retries`, queued again at once to resume from
        its last checkpoint (what a restarted dispatcher does); past them it is `failed` with the reason and what to do
        — a run that dies every time never loops. A learning-rate search candidate that fails lets its search go on."""
        current = self.store.run(row.id)
        if check_status and current.status != Status.RUNNING:
            return  # it recorded an outcome after all (or someone else already acted on it)
        step = self._last_step(row.id)
        how_at = how + (f" at step {step}" if step is not None else "")
        if current.cancel_requested_at:
            self.store.update_run(row.id, status=Status.CANCELLED, ended_at=time.time(),
                                  error=f"cancelled: {how_at} before it stopped by itself")
            self.store.add_event(row.id, "cancelled", how_at)
            return
        retry = self._deaths(row.id) + 1
        data = {"how": how, "step": step, "retry": retry, "retries": self.worker_retries}
        if retry <= self.worker_retries and not self.store.is_record(row.experiment_id):
            self._interrupt(row, f"{how_at}; retrying from its last checkpoint ({retry} of {self.worker_retries})", data)
            self.store.requeue(row.id)
            self.store.add_event(row.id, "requeued", f"resuming from the last checkpoint after its worker died "
                                 f"(retry {retry} of {self.worker_retries})")
            return
        retried = (f"after {self.worker_retries} retries from its last checkpoint (its worker died each time)"
                   if self.worker_retries else "not retried (HEADSTART_WORKER_RETRIES is 0)")
        error = f"{how_at}, {retried}. {_after_death(how, row.id)}"
        self.store.update_run(row.id, status=Status.FAILED, ended_at=time.time(), error=error)
        self.store.add_event(row.id, "failed", error, data)
        if row.role == Role.LR_SWEEP:
            self._advance_search(row.id)

    def _deaths(self, run_id: str) -> int:
        """Worker deaths retried since the run last failed (a Resume after that starts the count again)."""
        deaths = 0
        for e in self.store.events(run_id):
            if e["kind"] == "failed":
                deaths = 0
            elif e["kind"] == "interrupted" and "retry" in json.loads(e["data_json"] or "{}"):
                deaths += 1
        return deaths

    def _last_step(self, run_id: str) -> int | None:
        steps = [m["step"] for m in self.store.metrics([run_id])]
        return max(steps) if steps else None

    def _oom_since_start(self, run_id: str) -> bool:
        """The system's out-of-memory killer killed something while this worker of ours ran."""
        before = self.oom_at_start.get(run_id)
        now = oom_kills() if before is not None else None
        return now is not None and now > before

    def _advance_search(self, run_id: str) -> None:
        """A failed candidate has ended: its search may now decide (as when a worker records a failure itself)."""
        from training.service import lr_search

        try:
            lr_search.advance(self.store, self.store.run(run_id))
        except Exception as e:  # noqa: BLE001 — the search's own error must not stop the dispatcher for everyone
            if _transient(e):
                raise
            self.store.add_event(run_id, "error", f"the learning-rate search could not go on: {type(e).__name__}: {e}")

    def enforce_cancels(self) -> None:
        now = time.time()
        for r in self.store.runs(status=Status.RUNNING):
            if r.cancel_requested_at and now - r.cancel_requested_at > self.cancel_timeout:
                if self._here(r):
                    _kill(r.pid, r.proc_started)
                self.store.update_run(r.id, status=Status.CANCELLED, ended_at=now,
                                      error=f"forced after {self.cancel_timeout:.0f} s without a graceful stop")
                self.store.add_event(r.id, "cancel_forced", "worker killed after the cancel timeout")

    # -- scheduling -----------------------------------------------------------------------------------
    def schedule(self) -> None:
        free = _free_disk(self.store.root)
        if free is not None and free < self.disk_floor:
            if time.time() - getattr(self, "_disk_said", 0.0) > 60:
                self._disk_said = time.time()
                print(f"dispatcher: {free / 1e6:,.0f} MB free on the store's disk, under the {self.disk_floor / 1e6:,.0f} MB "
                      "floor: no new run starts until there is room (queued runs wait)", file=sys.stderr, flush=True)
            return
        for r in self.store.runs(status=Status.INTERRUPTED):  # stopped by a full disk: there is room again
            if (r.error or "").startswith(DISK_FULL) and r.attempts < MAX_ATTEMPTS and self._here(r):
                self.store.requeue(r.id)
                self.store.add_event(r.id, "requeued", "resuming from the last checkpoint: the disk has room again")
        while True:
            running = self.store.runs(status=Status.RUNNING)
            device = self._free_device([r for r in running if self._here(r)])
            if device is None:
                return
            run = self._next_run(running, device)
            if run is None:
                return
            if not self.store.claim(run.id, self._device_label(device), self.host):
                continue  # taken by someone else; look again
            try:
                pid = self.exec.start(run.id, device)
            except Exception as e:  # noqa: BLE001
                self.store.update_run(run.id, status=Status.FAILED, error=f"could not start a worker: {e}")
                continue
            self.oom_at_start[run.id] = oom_kills()
            self.hung.pop(run.id, None)  # a resumed run's new worker is not the silent one we killed
            if pid:
                self.store.update_run(run.id, pid=pid, proc_started=process_started(pid))
            self.store.add_event(run.id, "started", f"worker started on {device}", {"pid": pid})
            self.last_served[run.owner] = time.time()

    def _here(self, run: Run) -> bool:
        """Started by this host's dispatcher (a run from before hosts were recorded counts as this host's)."""
        return (run.host or self.host) == self.host

    def _device_label(self, device: str) -> str:
        return f"ray:{device}" if self.executor == "ray" else device

    def _free_device(self, running: list[Run]) -> str | None:
        for d in self.devices:
            used = [r for r in running if str(r.device or "").removeprefix("ray:") == d]
            if len(used) < self.slots_per_device:
                return d
        return None

    def _next_run(self, running: list[Run], device: str) -> Run | None:
        rows = self.store.queued_runs()
        owners_running: dict[str, int] = {}
        exp_owner = {e.id: e.owner for e in self.store.experiments()}
        for r in running:
            owner = exp_owner.get(r.experiment_id, "local")
            owners_running[owner] = owners_running.get(owner, 0) + 1
        used_mem = sum(r.mem_estimate or 0 for r in running if r.device == device and self._here(r))
        candidates: dict[str, Run] = {}
        for r in rows:
            state = _dependencies_state(self.store, r)
            if state == "wait":
                continue
            if state != "ready":
                self.store.update_run(r.id, status=Status.FAILED, ended_at=time.time(), error=state)
                continue
            if self.owner_cap is not None and owners_running.get(r.owner, 0) >= self.owner_cap:
                continue
            cap = self.capacity.get(device)
            if cap and used_mem and used_mem + (r.mem_estimate or 0) > 0.9 * cap:
                continue  # sharing this GPU would not fit
            candidates.setdefault(r.owner, r)  # FIFO within an owner: the oldest experiment's next run
        if not candidates:
            return None
        owner = min(candidates, key=lambda o: (owners_running.get(o, 0), self.last_served.get(o, 0.0)))
        return candidates[owner]


def _after_death(how: str, run_id: str) -> str:
    """What to do about a run whose worker kept dying."""
    log = f"runs/{run_id}/worker.log in the store"
    if "out of memory" in how:
        fix = ("Give it more memory: fewer runs at once (--slots-per-device), a smaller train.micro_batch_size or a "
               "shorter model.max_length")
    elif "killed by signal" in how or "gone" in how:
        fix = f"Something outside it stopped it each time (a memory limit, a person): {log} shows how far it got"
    else:
        fix = f"Its log says why: {log}"
    return (f"{fix}. Once the cause is fixed, Resume run on Live (or `python -m training resume {run_id}`) continues "
            "it from its last checkpoint.")


def _dependencies_state(store: Store, run: Run) -> str:
    """'ready', 'wait', or why the run can never start. A pretraining dependency must be done; of a
    strategy's learning-rate sweep runs, all must have ended and at least one be done (a diverging LR
    in a sweep is expected)."""
    if not run.depends_on:
        return "ready"
    deps = [store.run(d) for d in run.depends_on]
    pre = [d for d in deps if d.role == Role.PRETRAIN]
    sweep = [d for d in deps if d.role == Role.LR_SWEEP]
    for d in pre:
        if d.status in (Status.FAILED, Status.CANCELLED):
            return f"its pretraining run {d.id} {d.status}"
        if d.status != Status.DONE:
            return "wait"
    if sweep:
        if any(d.status not in (Status.DONE, Status.FAILED, Status.CANCELLED) for d in sweep):
            return "wait"
        if not any(d.status == Status.DONE for d in sweep):
            return f"every learning-rate sweep run of {run.strategy} failed or was cancelled"
    return "ready"


def _kill(pid: int | None, started: float | None) -> None:
    """SIGKILL a worker's process group — only when the pid still names the process that started at `started`
    (after a host or container restart the pid may belong to anything)."""
    if not pid or started is None or not pid_alive(pid, started):
        return
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)  # the worker leads its own session
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _device_memory(device: str) -> int | None:
    if not device.startswith("cuda"):
        return None
    import torch

    index = int(device.split(":")[1]) if ":" in device else 0
    return torch.cuda.get_device_properties(index).total_memory if torch.cuda.is_available() else None


def default_slots(devices: list[str]) -> int:
    """Concurrent runs per device when none is asked for: 1 on a GPU; 2 on a CPU with 2+ cores."""
    return min(2, os.cpu_count() or 1) if all(d == "cpu" for d in devices) else 1


def default_devices() -> list[str]:
    """Every visible GPU, else the CPU (decided without importing torch when no GPU tool is present)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
        gpus = [f"cuda:{line.strip()}" for line in out.stdout.splitlines() if line.strip().isdigit()]
        return gpus or ["cpu"]
    except (OSError, subprocess.SubprocessError):
        return ["cpu"]
