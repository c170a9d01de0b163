"""The store: SQLite (WAL) plus an artifacts directory — the only thing the UI and the workers share.

Layout of a store directory:
  headstart.db                       experiments, runs, metrics, events
  experiments/<exp_id>/config.yaml   the experiment config as launched
  runs/<run_id>/config.json          the run's config (experiment config + strategy, size, seed)
  runs/<run_id>/metrics.jsonl        the run's metric rows, appended as it trains
  runs/<run_id>/checkpoint/          weights/adapter, optimizer, RNG (see training.checkpoint)
  cache/                             built-in tables and tokenised data (safe to delete)

WAL lets readers (the app) read while a worker writes; every write is one short transaction with a
busy timeout, so concurrent workers queue instead of failing with "database is locked".
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from .config import ExperimentConfig
from .policy import PolicyError, redact
from .settings import load_settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, config_json TEXT NOT NULL, created_at REAL NOT NULL,
    owner TEXT NOT NULL DEFAULT 'local', info_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, experiment_id TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, strategy TEXT NOT NULL, n_train INTEGER NOT NULL, seed INTEGER NOT NULL,
    depends_on TEXT, status TEXT NOT NULL DEFAULT 'queued', pid INTEGER, device TEXT,
    heartbeat_at REAL, error TEXT, created_at REAL NOT NULL, started_at REAL, ended_at REAL,
    total_steps INTEGER, result_json TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,    -- worker starts (a resume is another attempt)
    claimed_at REAL,                        -- when a dispatcher last handed it to a worker
    cancel_requested_at REAL,               -- set by the UI; the worker stops gracefully, the dispatcher forces
    micro_batch_size INTEGER,               -- lowered after out-of-memory retries; NULL = the config's
    mem_estimate INTEGER,                   -- preflight estimate of peak memory in bytes
    role TEXT NOT NULL DEFAULT 'grid',      -- grid | pretrain | lr-sweep | reference
    lr REAL,                                -- the learning rate it trains at, once known
    proc_started REAL                       -- the worker process's start time: with pid, its identity
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment_id, seq);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL,
    examples INTEGER NOT NULL, wall_s REAL NOT NULL, flops REAL NOT NULL, key TEXT NOT NULL,
    value REAL NOT NULL, PRIMARY KEY (run_id, step, key)
);
CREATE TABLE IF NOT EXISTS lr_searches (
    key TEXT PRIMARY KEY, created_at REAL NOT NULL, experiment_id TEXT, spec_json TEXT NOT NULL,
    result_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    at REAL NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL, data_json TEXT NOT NULL DEFAULT '{}'
);
"""
# Columns added after a store's first release: an older store gets them on open (ALTER TABLE ADD COLUMN).
ADDED_RUN_COLUMNS = {"attempts": "INTEGER NOT NULL DEFAULT 0", "claimed_at": "REAL", "cancel_requested_at": "REAL",
                     "micro_batch_size": "INTEGER", "mem_estimate": "INTEGER", "role": "TEXT NOT NULL DEFAULT 'grid'",
                     "lr": "REAL", "proc_started": "REAL"}
STATUSES = ("queued", "running", "done", "failed", "interrupted", "cancelled")


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "headstart.db"
        self.cache_dir = self.root / "cache"
        self._conn: sqlite3.Connection | None = None
        self._pid = None
        self.conn.executescript(SCHEMA)  # idempotent; executescript manages its own transaction
        have = {r["name"] for r in self.conn.execute("PRAGMA table_info(runs)")}
        for name, decl in ADDED_RUN_COLUMNS.items():
            if name not in have:
                try:
                    self.conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {decl}")
                except sqlite3.OperationalError:  # another process added it first
                    pass

    # -- connection ------------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():  # never share a connection across fork
            self._conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            # WAL needs shared memory on one host; a store on a network filesystem (several worker
            # hosts) uses the rollback journal instead: HEADSTART_SQLITE_JOURNAL=delete.
            journal = load_settings().sqlite_journal
            self._conn.execute(f"PRAGMA journal_mode={'DELETE' if journal == 'delete' else 'WAL'}")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA busy_timeout=60000")
            self._pid = os.getpid()
        return self._conn

    @contextmanager
    def tx(self):
        """One short write transaction (BEGIN IMMEDIATE takes the write lock up front, so it waits
        on the busy timeout instead of failing mid-transaction)."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- paths -----------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def experiment_dir(self, exp_id: str) -> Path:
        return self.root / "experiments" / exp_id

    # -- experiments -------------------------------------------------------------------------------
    def create_experiment(self, config: ExperimentConfig, runs: list[dict], owner: str = "local",
                          info: dict | None = None) -> str:
        """Insert an experiment and its queued runs atomically; write its config files.

        runs: dicts with strategy, n_train, seed, total_steps and optionally id, depends_on (comma-separated
        run ids), role and lr.
        Files are written first into directories that only become meaningful once the rows commit; on
        any failure both are removed, so nothing half-written remains.
        """
        exp_id = new_id("e")
        now = time.time()
        rows = [dict(r, id=r.get("id") or new_id("r"), seq=i) for i, r in enumerate(runs)]
        made: list[Path] = []
        try:
            exp_dir = self.experiment_dir(exp_id)
            exp_dir.mkdir(parents=True)
            made.append(exp_dir)
            config.save(exp_dir / "config.yaml")
            for r in rows:
                d = self.run_dir(r["id"])
                d.mkdir(parents=True)
                made.append(d)
                run_cfg = {"experiment_id": exp_id, "run_id": r["id"], "strategy": r["strategy"],
                           "n_train": r["n_train"], "seed": r["seed"], "total_steps": r.get("total_steps"),
                           "experiment": config.to_dict()}
                (d / "config.json").write_text(json.dumps(run_cfg, indent=2), encoding="utf-8")
            with self.tx() as c:
                c.execute("INSERT INTO experiments (id, name, config_json, created_at, owner, info_json) "
                          "VALUES (?, ?, ?, ?, ?, ?)",
                          (exp_id, config.name, config.to_json(), now, owner, json.dumps(info or {})))
                c.executemany(
                    "INSERT INTO runs (id, experiment_id, seq, strategy, n_train, seed, depends_on, status, "
                    "created_at, total_steps, mem_estimate, role, lr) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                    [(r["id"], exp_id, r["seq"], r["strategy"], r["n_train"], r["seed"], r.get("depends_on"),
                      now, r.get("total_steps"), r.get("mem_estimate"), r.get("role", "grid"), r.get("lr"))
                     for r in rows])
        except BaseException:
            for d in made:
                shutil.rmtree(d, ignore_errors=True)
            raise
        return exp_id

    def insert_record(self, exp_id: str, name: str, config: ExperimentConfig, created_at: float, owner: str, info: dict,
                      runs: list[dict], metrics: list[list], events: list[list]) -> None:
        """Insert an imported experiment with its runs (full rows), metric rows and events in one transaction."""
        with self.tx() as c:
            c.execute("INSERT INTO experiments (id, name, config_json, created_at, owner, info_json) VALUES (?, ?, ?, ?, ?, ?)",
                      (exp_id, name, config.to_json(), created_at, owner, json.dumps(info)))
            for r in runs:
                cols = [*r, "experiment_id"]
                c.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                          [*r.values(), exp_id])
            c.executemany("INSERT INTO metrics (run_id, step, examples, wall_s, flops, key, value) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          metrics)
            c.executemany("INSERT INTO events (run_id, at, kind, message, data_json) VALUES (?, ?, ?, ?, ?)", events)

    def version(self, exp_id: str) -> tuple:
        """Changes whenever the experiment's runs or metrics do (a few ms): the key of cached analyses."""
        metrics = self.conn.execute("SELECT count(*), coalesce(max(m.step), 0) FROM metrics m JOIN runs r ON r.id = m.run_id "
                                    "WHERE r.experiment_id = ?", (exp_id,)).fetchone()
        runs = self.conn.execute("SELECT group_concat(status || ':' || coalesce(ended_at, '')) FROM runs "
                                 "WHERE experiment_id = ?", (exp_id,)).fetchone()
        return tuple(metrics), runs[0]

    def queued_runs(self) -> list[dict]:
        """Queued runs with their experiment's owner, oldest experiment first, then in order."""
        rows = self.conn.execute(
            "SELECT r.*, e.owner, e.created_at AS exp_created FROM runs r JOIN experiments e ON e.id = r.experiment_id "
            "WHERE r.status = 'queued' ORDER BY e.created_at, r.seq").fetchall()
        return [dict(r) for r in rows]

    def set_owner(self, exp_id: str, owner: str) -> None:
        with self.tx() as c:
            c.execute("UPDATE experiments SET owner = ? WHERE id = ?", (owner, exp_id))

    def experiments(self) -> list[dict]:
        rows = self.conn.execute(
            "SELECT e.*, COUNT(r.id) AS n_runs, SUM(r.status='done') AS n_done, SUM(r.status='running') AS n_running, "
            "SUM(r.status='failed') AS n_failed, SUM(r.status='queued') AS n_queued "
            "FROM experiments e LEFT JOIN runs r ON r.experiment_id = e.id GROUP BY e.id ORDER BY e.created_at DESC").fetchall()
        return [dict(r) for r in rows]

    def experiment(self, exp_id: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM experiments WHERE id = ?", (exp_id,)).fetchone()
        return dict(row) if row else None

    def experiment_config(self, exp_id: str) -> ExperimentConfig:
        exp = self.experiment(exp_id)
        if exp is None:
            raise KeyError(f"no experiment {exp_id!r} in {self.root}")
        return ExperimentConfig.from_dict(json.loads(exp["config_json"]))

    def delete_experiment(self, exp_id: str) -> None:
        run_ids = [r["id"] for r in self.runs(exp_id)]
        with self.tx() as c:
            c.execute("DELETE FROM experiments WHERE id = ?", (exp_id,))
        for rid in run_ids:
            shutil.rmtree(self.run_dir(rid), ignore_errors=True)
        shutil.rmtree(self.experiment_dir(exp_id), ignore_errors=True)

    # -- runs --------------------------------------------------------------------------------------
    def runs(self, exp_id: str | None = None, status: str | None = None) -> list[dict]:
        q, args = "SELECT * FROM runs WHERE 1=1", []
        if exp_id is not None:
            q, args = q + " AND experiment_id = ?", args + [exp_id]
        if status is not None:
            q, args = q + " AND status = ?", args + [status]
        return [dict(r) for r in self.conn.execute(q + " ORDER BY created_at, seq", args).fetchall()]

    def run(self, run_id: str) -> dict:
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in {self.root}")
        return dict(row)

    def update_run(self, run_id: str, **fields) -> None:
        if fields.get("error"):
            fields["error"] = redact(fields["error"])  # errors are shown, exported and reported
        if "result" in fields:
            fields["result_json"] = json.dumps(fields.pop("result"))
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"unknown status {fields['status']!r}")
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.tx() as c:
            c.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*fields.values(), run_id))

    def claim(self, run_id: str, device: str) -> bool:
        """Atomically take a queued run for a worker; False when someone else took it first."""
        now = time.time()
        with self.tx() as c:
            cur = c.execute("UPDATE runs SET status = 'running', device = ?, pid = NULL, heartbeat_at = NULL, "
                            "claimed_at = ?, error = NULL, started_at = COALESCE(started_at, ?), attempts = attempts + 1 "
                            "WHERE id = ? AND status = 'queued'", (device, now, now, run_id))
            return cur.rowcount == 1

    def heartbeat(self, run_id: str) -> bool:
        """Record that the run's worker is alive; returns True when a cancel has been requested."""
        with self.tx() as c:
            c.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (time.time(), run_id))
            row = c.execute("SELECT cancel_requested_at FROM runs WHERE id = ?", (run_id,)).fetchone()
        return row is not None and row["cancel_requested_at"] is not None

    def request_cancel(self, run_id: str) -> str:
        """Ask a run to stop. A queued run is cancelled at once; a running one checkpoints and stops."""
        with self.tx() as c:
            row = c.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id!r}")
            if row["status"] == "queued":
                c.execute("UPDATE runs SET status = 'cancelled', ended_at = ?, error = 'cancelled before it started' "
                          "WHERE id = ?", (time.time(), run_id))
                return "cancelled"
            if row["status"] == "running":
                c.execute("UPDATE runs SET cancel_requested_at = COALESCE(cancel_requested_at, ?) WHERE id = ?",
                          (time.time(), run_id))
            return row["status"]

    def is_record(self, exp_id: str) -> bool:
        """An imported bundle: its runs are records to look at, never trained here."""
        exp = self.experiment(exp_id)
        return exp is not None and "bundle" in json.loads(exp["info_json"] or "{}")

    def requeue(self, run_id: str) -> None:
        """Queue a stopped run again; it resumes from its last checkpoint. Runs of an imported record are refused."""
        if self.is_record(self.run(run_id)["experiment_id"]):
            raise PolicyError("this run belongs to an imported experiment, a record that is never trained here; launch "
                              "its config as a new experiment to train it")
        with self.tx() as c:
            c.execute("UPDATE runs SET status = 'queued', pid = NULL, cancel_requested_at = NULL, ended_at = NULL "
                      "WHERE id = ? AND status IN ('interrupted', 'cancelled', 'failed')", (run_id,))

    # -- learning-rate searches ----------------------------------------------------------------------
    def lr_search(self, key: str) -> dict | None:
        """A finished learning-rate search by key: {key, created_at, experiment_id, spec, result}."""
        row = self.conn.execute("SELECT * FROM lr_searches WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return {"key": row["key"], "created_at": row["created_at"], "experiment_id": row["experiment_id"],
                "spec": json.loads(row["spec_json"]), "result": json.loads(row["result_json"])}

    def save_lr_search(self, key: str, spec: dict, result: dict, experiment_id: str | None) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO lr_searches (key, created_at, experiment_id, spec_json, result_json) "
                      "VALUES (?, ?, ?, ?, ?)", (key, time.time(), experiment_id, json.dumps(spec), json.dumps(result)))

    # -- metrics and events ------------------------------------------------------------------------
    def log_metrics(self, run_id: str, step: int, examples: int, wall_s: float, flops: float,
                    values: dict[str, float]) -> None:
        rows = [(run_id, step, examples, wall_s, flops, k, float(v)) for k, v in values.items()]
        with self.tx() as c:
            c.executemany("INSERT OR REPLACE INTO metrics (run_id, step, examples, wall_s, flops, key, value) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        with open(self.run_dir(run_id) / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, "examples": examples, "wall_s": wall_s, "flops": flops, **values}) + "\n")

    def truncate_metrics(self, run_id: str, after_step: int) -> None:
        """Drop rows logged after `after_step` (a resumed run rewrites them)."""
        with self.tx() as c:
            c.execute("DELETE FROM metrics WHERE run_id = ? AND step > ?", (run_id, after_step))
        path = self.run_dir(run_id) / "metrics.jsonl"
        if path.exists():
            kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                    if line and json.loads(line)["step"] <= after_step]
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            tmp.replace(path)

    def metrics(self, run_ids: list[str] | None = None, exp_id: str | None = None) -> list[dict]:
        q = "SELECT m.* FROM metrics m"
        args: list = []
        if exp_id is not None:
            q += " JOIN runs r ON r.id = m.run_id WHERE r.experiment_id = ?"
            args.append(exp_id)
        elif run_ids is not None:
            q += f" WHERE m.run_id IN ({','.join('?' * len(run_ids))})"
            args += run_ids
        return [dict(r) for r in self.conn.execute(q + " ORDER BY m.run_id, m.step", args).fetchall()]

    def starts_since(self, owner: str, since: float) -> int:
        """Worker starts (first starts and resumes) of an owner's runs since a time: the demo's hourly quota."""
        row = self.conn.execute(
            "SELECT count(*) FROM events v JOIN runs r ON r.id = v.run_id JOIN experiments e ON e.id = r.experiment_id "
            "WHERE v.kind = 'started' AND v.at >= ? AND e.owner = ?", (since, owner)).fetchone()
        return int(row[0])

    def add_event(self, run_id: str, kind: str, message: str, data: dict | None = None) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO events (run_id, at, kind, message, data_json) VALUES (?, ?, ?, ?, ?)",
                      (run_id, time.time(), kind, redact(message), redact(json.dumps(data or {}))))

    def events(self, run_id: str) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM events WHERE run_id = ? ORDER BY id", (run_id,))]


class RunSink:
    """What the loop writes to: metrics, events and truncation for one run."""

    def __init__(self, store: Store, run_id: str):
        self.store, self.run_id = store, run_id

    def log(self, step: int, examples: int, wall_s: float, flops: float, values: dict[str, float]) -> None:
        self.store.log_metrics(self.run_id, step, examples, wall_s, flops, values)

    def event(self, kind: str, message: str, data: dict | None = None) -> None:
        self.store.add_event(self.run_id, kind, message, data)

    def truncate(self, after_step: int) -> None:
        self.store.truncate_metrics(self.run_id, after_step)
