"""The store: a database plus an artifacts directory — the only thing the UI and the workers share, and the only
code that speaks SQL (SQLAlchemy Core, so one set of queries serves both backends).

Database: SQLite (WAL) in the artifacts directory by default; PostgreSQL for a team whose app and workers run
on several hosts (`HEADSTART_DATABASE_URL=postgresql://…`, or a URL as `--store`). Tables: experiments, runs,
metrics, events, lr_searches, decisions, decision_comments, predictions, schema_version (migrations below run on
open).

Artifacts directory:
  headstart.db                       the SQLite database (when no database URL is set)
  experiments/<exp_id>/config.yaml   the experiment config as launched
  experiments/<exp_id>/eval_inputs.json  each eval example in words, in the eval set's order (Compare's disagreements)
  runs/<run_id>/config.json          the run's config (experiment config + strategy, size, seed)
  runs/<run_id>/metrics.jsonl        the run's metric rows, appended as it trains
  runs/<run_id>/checkpoint/          weights/adapter, optimizer, RNG (see training.core.checkpoint)
  cache/                             built-in tables and tokenised data (safe to delete)

Every write is one short transaction. SQLite: BEGIN IMMEDIATE with a busy timeout, so concurrent workers queue
instead of failing with "database is locked"; readers never wait (WAL). PostgreSQL: claims lock the run's row
(FOR UPDATE SKIP LOCKED), metric rows are upserts (ON CONFLICT), so dispatchers on several hosts never start
one run twice.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
import sqlalchemy.dialects.sqlite  # noqa: F401 — the dialects' INSERT … ON CONFLICT

from training.config import ExperimentConfig
from training.errors import ConfigError, NotFound
from training.service.policy import PolicyError, redact
from training.service.processes import pid_alive, process_started
from training.service.records import Comment, Decision, Experiment, Role, Run, Status
from training.settings import load_settings

metadata = sa.MetaData()


class Text(sa.types.TypeDecorator):
    """The store's text: never a NUL character. PostgreSQL's text refuses one half-way through a transaction
    (DataError) while SQLite keeps it; refused here, the same on both, in words the page or CLI shows."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if isinstance(value, str) and "\x00" in value:
            raise ConfigError("a text holds a NUL character (\\u0000), which nothing here stores; remove it and try again")
        return value

# The schema, for both backends. Times are seconds since the epoch (floats); sizes and counts that can pass 2**31
# (bytes, FLOPs, seeds) are 64-bit.
experiments = sa.Table(
    "experiments", metadata,
    sa.Column("id", Text, primary_key=True), sa.Column("name", Text, nullable=False),
    sa.Column("config_json", Text, nullable=False), sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("owner", Text, nullable=False, server_default="local"),
    sa.Column("info_json", Text, nullable=False, server_default="{}"),
)
runs = sa.Table(
    "runs", metadata,
    sa.Column("id", Text, primary_key=True),
    sa.Column("experiment_id", Text, sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False), sa.Column("strategy", Text, nullable=False),
    sa.Column("n_train", sa.BigInteger, nullable=False), sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("depends_on", Text),  # comma-separated run ids
    sa.Column("status", Text, nullable=False, server_default="queued"),
    sa.Column("pid", sa.BigInteger), sa.Column("device", Text), sa.Column("heartbeat_at", sa.Double),
    sa.Column("error", Text), sa.Column("created_at", sa.Double, nullable=False), sa.Column("started_at", sa.Double),
    sa.Column("ended_at", sa.Double), sa.Column("total_steps", sa.BigInteger), sa.Column("result_json", Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),  # worker starts (a resume is another)
    sa.Column("claimed_at", sa.Double),  # when a dispatcher last handed it to a worker
    sa.Column("cancel_requested_at", sa.Double),  # set by the UI; the worker stops gracefully, the dispatcher forces
    sa.Column("micro_batch_size", sa.Integer),  # lowered after out-of-memory retries; NULL = the config's
    sa.Column("mem_estimate", sa.BigInteger),  # preflight estimate of peak memory in bytes
    sa.Column("role", Text, nullable=False, server_default="grid"),  # grid | pretrain | lr-sweep | reference
    sa.Column("lr", sa.Double),  # the learning rate it trains at, once known
    sa.Column("proc_started", sa.Double),  # the worker process's start time: with pid (and host), its identity
    sa.Column("host", Text),  # the host whose dispatcher started it (several hosts may serve one database)
    sa.Index("runs_by_experiment", "experiment_id", "seq"), sa.Index("runs_by_status", "status"),
)
metrics = sa.Table(
    "metrics", metadata,
    sa.Column("run_id", Text, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False), sa.Column("examples", sa.BigInteger, nullable=False),
    sa.Column("wall_s", sa.Double, nullable=False), sa.Column("flops", sa.Double, nullable=False),
    sa.Column("key", Text, nullable=False), sa.Column("value", sa.Double, nullable=False),
    sa.PrimaryKeyConstraint("run_id", "step", "key"),
)
lr_searches = sa.Table(
    "lr_searches", metadata,
    sa.Column("key", Text, primary_key=True), sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("experiment_id", Text), sa.Column("spec_json", Text, nullable=False),
    sa.Column("result_json", Text, nullable=False),
)
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", Text, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", sa.Double, nullable=False), sa.Column("kind", Text, nullable=False),
    sa.Column("message", Text, nullable=False), sa.Column("data_json", Text, nullable=False, server_default="{}"),
    sqlite_autoincrement=True,
)
decisions = sa.Table(  # a team's decision record on an experiment (see records.Decision)
    "decisions", metadata,
    sa.Column("experiment_id", Text, sa.ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("question", Text, nullable=False), sa.Column("constraints_json", Text, nullable=False),
    sa.Column("created_by", Text, nullable=False), sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False), sa.Column("signoff_by", Text),
    sa.Column("signoff_at", sa.Double), sa.Column("signed_json", Text),
)
decision_comments = sa.Table(
    "decision_comments", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("experiment_id", Text, sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    sa.Column("author", Text, nullable=False), sa.Column("body", Text, nullable=False),
    sa.Column("at", sa.Double, nullable=False), sqlite_autoincrement=True,
)
predictions = sa.Table(  # Try it: a page asks, the predictor process answers (`training.delivery.predictor`)
    "predictions", metadata,
    sa.Column("id", Text, primary_key=True),
    sa.Column("experiment_id", Text, sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    sa.Column("owner", Text, nullable=False), sa.Column("run_ids_json", Text, nullable=False),
    sa.Column("inputs_json", Text, nullable=False), sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("status", Text, nullable=False, server_default="queued"),  # queued | working | answered | failed
    sa.Column("started_at", sa.Double), sa.Column("answered_at", sa.Double),
    sa.Column("answer_json", Text), sa.Column("error", Text),
    sa.Column("claimed_by", Text),  # the predictor answering it: "host pid start-time" (a dead one's are failed)
    sa.Index("predictions_by_status", "status", "created_at"),
)
launches = sa.Table(  # a launch's idempotency key: the same key from the same owner makes one experiment
    "launches", metadata,
    sa.Column("owner", Text, primary_key=True), sa.Column("key", Text, primary_key=True),
    sa.Column("experiment_id", Text, sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)
schema_version = sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, nullable=False))

RUN_COLUMNS = frozenset(runs.c.keys())
CHECKPOINT_DIRS = ("checkpoint", "best", "checkpoint.tmp", "checkpoint.old", "best.tmp", "best.old")
"""A run folder's checkpoints (`training.core.checkpoint`: the last and the best, and a save's folders in flight)."""
STATUSES = tuple(Status)


def _add_missing_run_columns(c: sa.Connection) -> None:
    """Migration 2: columns added to `runs` after a store's first release (stores made before schema versions)."""
    have = {col["name"] for col in sa.inspect(c).get_columns("runs")}
    for col in runs.columns:
        if col.name not in have:
            decl = col.type.compile(c.dialect)
            default = f" DEFAULT {col.server_default.arg!r}".replace('"', "'") if col.server_default is not None else ""
            null = " NOT NULL" if not col.nullable and default else ""
            c.exec_driver_sql(f"ALTER TABLE runs ADD COLUMN {col.name} {decl}{null}{default}")


def _add_prediction_claimant(c: sa.Connection) -> None:
    """Migration 5: which predictor claimed a question (a store made before has the table without the column)."""
    if "claimed_by" not in {col["name"] for col in sa.inspect(c).get_columns("predictions")}:
        c.exec_driver_sql("ALTER TABLE predictions ADD COLUMN claimed_by TEXT")


# Ordered migrations: a store at version v runs MIGRATIONS[v:], each in the same transaction as the version bump.
# 1: the tables (a store made before versions already has them: create_all skips existing tables).
# 2: run columns added since the first release (attempts … proc_started, host).
# 3: decision records (decisions, decision_comments).
# 4: Try it's questions and answers (predictions).
# 5: which predictor claimed a question (predictions.claimed_by).
# 6: launch keys (launches), so a double click or a retried request makes one experiment.
MIGRATIONS = [lambda c: metadata.create_all(c, checkfirst=True), _add_missing_run_columns,
              lambda c: metadata.create_all(c, checkfirst=True), lambda c: metadata.create_all(c, checkfirst=True),
              _add_prediction_claimant, lambda c: metadata.create_all(c, checkfirst=True)]
SCHEMA_VERSION = len(MIGRATIONS)


class _Launched(Exception):
    """Inside `create_experiment`'s transaction: this launch key already made an experiment (rolls the write back)."""

    def __init__(self, experiment_id: str):
        super().__init__(experiment_id)
        self.experiment_id = experiment_id


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def is_url(spec) -> bool:
    return isinstance(spec, str) and "://" in spec


def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        journal = load_settings().sqlite_journal

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below), not the driver
            # WAL needs shared memory on one host; a store on a network filesystem (several worker hosts sharing
            # a SQLite file) uses the rollback journal instead: HEADSTART_SQLITE_JOURNAL=delete.
            for pragma in (f"journal_mode={'DELETE' if journal == 'delete' else 'WAL'}", "synchronous=NORMAL",
                           "foreign_keys=ON", "busy_timeout=60000"):
                dbapi_conn.execute(f"PRAGMA {pragma}")

        @sa.event.listens_for(engine, "begin")
        def _begin(conn):
            # A write transaction takes the write lock up front (it waits on the busy timeout instead of failing
            # mid-transaction); a read is a deferred transaction, so readers never wait for a writer (WAL).
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=8)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as e:
        raise ConfigError(f"cannot use the database URL {redact(url)!r}: {e}") from None


class Store:
    """Experiments, runs, metrics and events in a database (SQLite by default, PostgreSQL for teams), with the
    artifacts (configs, checkpoints, metric files) in a directory.

    `Store(dir)`: artifacts in `dir`; the database is `HEADSTART_DATABASE_URL` when set, else `dir/headstart.db`.
    `Store("postgresql://…")`: that database, with the artifacts in `HEADSTART_ARTIFACTS` (a directory every host
    mounts). `spec` is what to hand a worker process so it opens the same store.
    """

    def __init__(self, root: str | Path):
        settings = load_settings()
        if is_url(root):
            if settings.artifacts is None:
                raise ConfigError("a store given as a database URL needs HEADSTART_ARTIFACTS, the directory (on storage "
                                  "every host mounts) for configs, checkpoints and metric files")
            self.url, self.root = str(root), settings.artifacts
        else:
            # absolute: the workers and the warm starter run in the repository's folder, not the caller's
            self.root = Path(root).expanduser().absolute()
            if self.root.exists() and not self.root.is_dir():
                raise ConfigError(f"the store {self.root} is a file, not a folder; give a folder (it is created if "
                                  "missing)")
            self.url = settings.database_url or f"sqlite:///{self.root / 'headstart.db'}"
        self.spec = self.url if is_url(root) else str(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cache_dir = self.root / "cache"
        self.backend = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        self._engine_obj: sa.Engine | None = None
        self._pid = None
        self._migrate()

    # -- connection ------------------------------------------------------------------------------
    @property
    def engine(self) -> sa.Engine:
        """A connection pool per process (never shared across fork); each transaction takes its own connection,
        so threads and Streamlit sessions never share one."""
        if self._engine_obj is None or self._pid != os.getpid():
            if self._engine_obj is not None:
                self._engine_obj.dispose(close=False)  # the parent's connections stay the parent's
            self._engine_obj = _engine(self.url)
            self._pid = os.getpid()
        return self._engine_obj

    @contextmanager
    def tx(self):
        """One short write transaction."""
        try:
            with self.engine.execution_options(write=True).begin() as c:
                yield c
        except sa.exc.StatementError as e:
            if isinstance(e.orig, ConfigError):  # a value `Text` refused: the words, not SQLAlchemy's wrapping
                raise e.orig from None
            raise

    @staticmethod
    def is_outage(e: BaseException) -> bool:
        """The database was unreachable, locked or restarting — worth waiting out — rather than wrong."""
        return isinstance(e, (sa.exc.OperationalError, sa.exc.InterfaceError))

    def write_probe(self) -> None:
        """Take and release the write lock (SQLite) or open and commit a transaction (PostgreSQL): how long it waits
        says whether anyone could write just now."""
        with self.tx():
            pass

    @contextmanager
    def read(self):
        try:
            with self.engine.connect() as c:
                yield c
        except sa.exc.StatementError as e:
            if isinstance(e.orig, ConfigError):  # a value `Text` refused (a NUL in an id looked up): the words
                raise e.orig from None
            raise

    def _rows(self, query) -> list[dict]:
        with self.read() as c:
            return [dict(r._mapping) for r in c.execute(query)]

    def _one(self, query) -> dict | None:
        with self.read() as c:
            row = c.execute(query).first()
        return dict(row._mapping) if row is not None else None

    def _migrate(self) -> None:
        try:
            with self.read() as c:  # the common case, without taking the write lock
                if sa.inspect(c).has_table("schema_version"):
                    row = c.execute(sa.select(schema_version.c.version)).first()
                    if row is not None and row[0] == SCHEMA_VERSION:
                        return
            with self.tx() as c:
                if self.backend == "postgresql":  # one migrator at a time across hosts; released at commit
                    c.execute(sa.text("SELECT pg_advisory_xact_lock(4242)"))
                schema_version.create(c, checkfirst=True)
                row = c.execute(sa.select(schema_version.c.version)).first()
                current = row[0] if row else 0
                if current > SCHEMA_VERSION:
                    raise ConfigError(f"the store {self.spec} has schema version {current}, newer than this Head Start's "
                                      f"{SCHEMA_VERSION}; upgrade Head Start")
                for migration in MIGRATIONS[current:]:
                    migration(c)
                if row is None:
                    c.execute(schema_version.insert().values(version=SCHEMA_VERSION))
                elif current < SCHEMA_VERSION:
                    c.execute(schema_version.update().values(version=SCHEMA_VERSION))
        except sa.exc.OperationalError as e:
            raise ConfigError(f"cannot open the store's database {redact(self.url)}: {e.orig}") from None
        except sa.exc.DatabaseError as e:  # "file is not a database", "database disk image is malformed"
            raise ConfigError(f"the store's database {redact(self.url)} is damaged or is not a Head Start store "
                              f"({e.orig}); restore it from a backup, or move it aside to start an empty store") from None

    def damage(self) -> str | None:
        """What SQLite's quick check finds wrong in the database (pages damaged anywhere in the file, not only those
        read when the store opens), in its words; None when whole, and always for PostgreSQL (the server checks its
        own pages). Proportional to the file's size: the app runs it once per process, the dispatcher at start."""
        if self.backend != "sqlite":
            return None
        try:
            with self.read() as c:
                found = [r[0] for r in c.exec_driver_sql("PRAGMA quick_check(3)")]
        except sa.exc.DatabaseError as e:
            return str(e.orig)
        if found == ["ok"]:
            return None
        lines = [line.strip() for f in found for line in str(f).splitlines()]
        return "; ".join(line for line in lines if line and not line.startswith("***"))

    def check_whole(self) -> None:
        """Raise ConfigError naming the damage `damage` finds, with what to do."""
        if why := self.damage():
            raise ConfigError(f"the store's database {redact(self.url)} is damaged ({why[:300]}); restore it from a "
                              "backup, or move it aside to start an empty store")

    def close(self) -> None:
        if self._engine_obj is not None:
            self._engine_obj.dispose()
            self._engine_obj = None

    def _upsert(self, c: sa.Connection, table: sa.Table, rows: list[dict], keys: list[str]) -> None:
        """INSERT … ON CONFLICT (keys) DO UPDATE, in either dialect."""
        if not rows:
            return
        insert = sa.dialects.postgresql.insert if self.backend == "postgresql" else sa.dialects.sqlite.insert
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=keys,
                                          set_={k: stmt.excluded[k] for k in rows[0] if k not in keys})
        c.execute(stmt, rows)

    # -- paths -----------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def experiment_dir(self, exp_id: str) -> Path:
        return self.root / "experiments" / exp_id

    # -- experiments -------------------------------------------------------------------------------
    def owner_activity(self, owner: str, c=None) -> tuple[int, int]:
        """(experiments of `owner` with a queued or running run, runs of theirs created in the last hour): what demo
        quotas count. `c`: a connection inside a transaction, to count under its lock."""
        active_exps = (sa.select(sa.func.count(sa.distinct(runs.c.experiment_id)))
                       .select_from(runs.join(experiments, runs.c.experiment_id == experiments.c.id))
                       .where(experiments.c.owner == owner, runs.c.status.in_([Status.QUEUED, Status.RUNNING])))
        recent = (sa.select(sa.func.count(runs.c.id))
                  .select_from(runs.join(experiments, runs.c.experiment_id == experiments.c.id))
                  .where(experiments.c.owner == owner, runs.c.created_at >= time.time() - 3600))
        if c is None:
            with self.read() as c:
                return int(c.execute(active_exps).scalar() or 0), int(c.execute(recent).scalar() or 0)
        return int(c.execute(active_exps).scalar() or 0), int(c.execute(recent).scalar() or 0)

    def launched(self, owner: str, key: str) -> str | None:
        """The experiment an owner's launch key already made (None: none yet)."""
        row = self._one(sa.select(launches.c.experiment_id).where(launches.c.owner == owner, launches.c.key == key))
        return row["experiment_id"] if row else None

    def create_experiment(self, config: ExperimentConfig, runs_: list[dict], owner: str = "local",
                          info: dict | None = None, admit=None, launch_key: str | None = None) -> str:
        """Insert an experiment and its queued runs atomically; write its config files. `admit(activity)`: called
        inside the same write transaction with `owner_activity` counted under its lock (SQLite's write lock taken at
        BEGIN; on PostgreSQL a per-owner advisory lock), raising to refuse — so quotas hold against parallel launches.

        runs_: dicts with strategy, n_train, seed, total_steps and optionally id, depends_on (comma-separated
        run ids), role and lr.
        Files are written first into directories that only become meaningful once the rows commit; on
        any failure both are removed, so nothing half-written remains.

        launch_key: where the owner already launched with this key (a second click, a double submit, a retried
        request), nothing is created and that experiment's id is returned — checked in the same transaction, and the
        key's primary key refuses a concurrent twin on PostgreSQL (its files are removed and the first one's id
        returned).
        """
        exp_id = new_id("e")
        now = time.time()
        rows = [dict(r, id=r.get("id") or new_id("r"), seq=i) for i, r in enumerate(runs_)]
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
                if self.backend == "postgresql" and (admit is not None or launch_key):
                    # one launch per owner at a time; released at commit
                    c.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:owner))"), {"owner": f"quota:{owner}"})
                if launch_key:
                    earlier = c.execute(sa.select(launches.c.experiment_id).where(
                        launches.c.owner == owner, launches.c.key == launch_key)).scalar()
                    if earlier is not None:
                        raise _Launched(earlier)
                if admit is not None:
                    admit(self.owner_activity(owner, c))
                c.execute(experiments.insert().values(id=exp_id, name=config.name, config_json=config.to_json(),
                                                      created_at=now, owner=owner, info_json=json.dumps(info or {})))
                if launch_key:
                    c.execute(launches.insert().values(owner=owner, key=launch_key, experiment_id=exp_id,
                                                       created_at=now))
                c.execute(runs.insert(), [
                    {"id": r["id"], "experiment_id": exp_id, "seq": r["seq"], "strategy": r["strategy"],
                     "n_train": r["n_train"], "seed": r["seed"], "depends_on": r.get("depends_on"), "status": Status.QUEUED,
                     "created_at": now, "total_steps": r.get("total_steps"), "mem_estimate": r.get("mem_estimate"),
                     "role": r.get("role", Role.GRID), "lr": r.get("lr")} for r in rows])
        except _Launched as e:
            for d in made:
                shutil.rmtree(d, ignore_errors=True)
            return e.experiment_id
        except sa.exc.IntegrityError:
            for d in made:
                shutil.rmtree(d, ignore_errors=True)
            earlier = self.launched(owner, launch_key) if launch_key else None
            if earlier is None:
                raise
            return earlier
        except BaseException:
            for d in made:
                shutil.rmtree(d, ignore_errors=True)
            raise
        return exp_id

    IMPORT_BATCH = 5000
    """Metric and event rows per write transaction of an import: SQLite has one writer, and a 700,000-row bundle in one
    transaction held the lock for ~40 s, so workers could not heartbeat and were declared dead."""

    def insert_record(self, exp_id: str, name: str, config: ExperimentConfig, created_at: float, owner: str, info: dict,
                      runs_: list[dict], metric_rows: list[list], event_rows: list[list],
                      decision: dict | None = None, marked=None) -> None:
        """Insert an imported experiment with its runs (full rows), metric rows, events and decision record (the
        `Decision.as_dict()` form) in short transactions (`IMPORT_BATCH` rows each), so the store stays writable for
        the workers meanwhile. Until the last one commits the experiment is marked `importing` and hidden from
        `experiments()`; if any fails, everything written for it is removed. `marked()` runs once the marked row is
        in (the importer writes the experiment's folder there: a folder made before the row had nothing to find it by
        once its process was killed)."""
        unknown = {k for r in runs_ for k in r} - RUN_COLUMNS
        if unknown:
            raise ValueError(f"unknown run fields {sorted(unknown)}")
        info = {k: v for k, v in info.items() if k != "importing"}  # the mark is the store's, never a bundle's
        importing = {"host": socket.gethostname(), "pid": os.getpid(), "started": process_started(os.getpid()),
                     "at": time.time()}  # who writes it: `remove_half_imports` removes it once that process is gone
        try:
            with self.tx() as c:
                c.execute(experiments.insert().values(id=exp_id, name=name, config_json=config.to_json(),
                                                      created_at=created_at, owner=owner,
                                                      info_json=json.dumps(dict(info, importing=importing))))
                for r in runs_:
                    c.execute(runs.insert().values(**r, experiment_id=exp_id))
            if marked is not None:
                marked()
            keys = ("run_id", "step", "examples", "wall_s", "flops", "key", "value")
            for start in range(0, len(metric_rows), self.IMPORT_BATCH):
                with self.tx() as c:
                    c.execute(metrics.insert(), [dict(zip(keys, m, strict=True))
                                                 for m in metric_rows[start:start + self.IMPORT_BATCH]])
            for start in range(0, len(event_rows), self.IMPORT_BATCH):
                with self.tx() as c:
                    c.execute(events.insert(), [dict(zip(("run_id", "at", "kind", "message", "data_json"), v, strict=True))
                                                for v in event_rows[start:start + self.IMPORT_BATCH]])
            with self.tx() as c:
                if decision:
                    c.execute(decisions.insert().values(
                        experiment_id=exp_id, question=decision["question"],
                        constraints_json=json.dumps(decision.get("constraints") or {}),
                        created_by=decision.get("created_by") or "unknown", created_at=decision.get("created_at") or 0.0,
                        updated_at=decision.get("updated_at") or 0.0, signoff_by=decision.get("signoff_by"),
                        signoff_at=decision.get("signoff_at"),
                        signed_json=json.dumps(decision["signed"]) if decision.get("signed") else None))
                    for cm in decision.get("comments") or []:
                        c.execute(decision_comments.insert().values(experiment_id=exp_id, author=cm["author"],
                                                                    body=cm["body"], at=cm["at"]))
                c.execute(experiments.update().where(experiments.c.id == exp_id).values(info_json=json.dumps(info)))
        except BaseException:
            try:
                self.delete_experiment(exp_id)
            except Exception:  # noqa: BLE001 — the store itself failed; the first error is the one to report
                pass
            raise

    def version(self, exp_id: str) -> tuple:
        """Changes whenever the experiment's runs or metrics do (a few ms): the key of cached analyses."""
        with self.read() as c:
            m = c.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(metrics.c.step), 0))
                          .select_from(metrics.join(runs, runs.c.id == metrics.c.run_id))
                          .where(runs.c.experiment_id == exp_id)).one()
            r = c.execute(sa.select(runs.c.status, runs.c.ended_at).where(runs.c.experiment_id == exp_id)
                          .order_by(runs.c.seq)).all()
            d = c.execute(sa.select(decisions.c.updated_at, decisions.c.signoff_at)
                          .where(decisions.c.experiment_id == exp_id)).first()
            k = c.execute(sa.select(sa.func.count()).select_from(decision_comments)
                          .where(decision_comments.c.experiment_id == exp_id)).scalar()
        return tuple(m), tuple(tuple(x) for x in r), tuple(d) if d else None, k

    def queued_runs(self) -> list[Run]:
        """Queued runs with their experiment's owner, oldest experiment first, then in order."""
        return [Run.from_row(r) for r in self._rows(
            sa.select(runs, experiments.c.owner).join(experiments, experiments.c.id == runs.c.experiment_id)
            .where(runs.c.status == Status.QUEUED).order_by(experiments.c.created_at, runs.c.seq))]

    def set_owner(self, exp_id: str, owner: str) -> None:
        with self.tx() as c:
            c.execute(experiments.update().where(experiments.c.id == exp_id).values(owner=owner))

    def experiments(self) -> list[Experiment]:
        """Every experiment, newest first, with counts of its runs by status (not an import still being written)."""
        def count(status):
            return sa.func.coalesce(sa.func.sum(sa.case((runs.c.status == status, 1), else_=0)), 0)

        found = [Experiment.from_row(r) for r in self._rows(
            sa.select(experiments, sa.func.count(runs.c.id).label("n_runs"), count(Status.DONE).label("n_done"),
                      count(Status.RUNNING).label("n_running"), count(Status.FAILED).label("n_failed"),
                      count(Status.QUEUED).label("n_queued"))
            .select_from(experiments.outerjoin(runs, runs.c.experiment_id == experiments.c.id))
            .group_by(*experiments.c).order_by(experiments.c.created_at.desc()))]
        return [e for e in found if not e.info.get("importing")]  # an import still being written (or a half-import)

    IMPORT_STALE_S = 6 * 3600
    """An import marked by a process on another host (whose pid cannot be checked from here) is taken as dead after
    this long: a 700,000-row bundle imports in ~15 s."""

    def remove_half_imports(self) -> list[str]:
        """Remove the experiments whose import died half-way (killed, out of memory, the host restarted) with their
        runs, metric rows, events and folders: an import marks its experiment `importing` with its process (host, pid,
        start time) until the last row commits, and here a mark whose process is gone is removed. Returns their ids.
        Called where recovery runs: a dispatcher's start, and before each import."""
        host, removed = socket.gethostname(), []
        for row in self._rows(sa.select(experiments.c.id, experiments.c.info_json)
                              .where(experiments.c.info_json.like('%"importing": %'))):
            try:
                mark = json.loads(row["info_json"]).get("importing")
            except (json.JSONDecodeError, AttributeError):
                continue
            if not mark:
                continue
            if not isinstance(mark, dict):  # `true`: an import from before imports named their process
                dead = True
            elif mark.get("host") == host:
                dead = not pid_alive(mark.get("pid"), mark.get("started"))
            else:
                dead = time.time() - float(mark.get("at") or 0) > self.IMPORT_STALE_S
            if dead:
                self.delete_experiment(row["id"])
                removed.append(row["id"])
        return removed

    def experiment(self, exp_id: str) -> Experiment | None:
        row = self._one(sa.select(experiments).where(experiments.c.id == exp_id))
        return Experiment.from_row(row) if row is not None else None

    def experiment_config(self, exp_id: str) -> ExperimentConfig:
        exp = self.experiment(exp_id)
        if exp is None:
            raise NotFound(f"no experiment {exp_id!r} in {self.spec}")
        return exp.config

    def delete_experiment(self, exp_id: str) -> None:
        run_ids = [r.id for r in self.runs(exp_id)]
        with self.tx() as c:
            ids = sa.select(runs.c.id).where(runs.c.experiment_id == exp_id)
            # explicit, not only ON DELETE CASCADE: a SQLite store made before foreign keys were on may lack it
            c.execute(metrics.delete().where(metrics.c.run_id.in_(ids)))
            c.execute(events.delete().where(events.c.run_id.in_(ids)))
            c.execute(decision_comments.delete().where(decision_comments.c.experiment_id == exp_id))
            c.execute(decisions.delete().where(decisions.c.experiment_id == exp_id))
            c.execute(predictions.delete().where(predictions.c.experiment_id == exp_id))
            c.execute(launches.delete().where(launches.c.experiment_id == exp_id))
            c.execute(runs.delete().where(runs.c.experiment_id == exp_id))
            c.execute(experiments.delete().where(experiments.c.id == exp_id))
        for rid in run_ids:
            shutil.rmtree(self.run_dir(rid), ignore_errors=True)
        shutil.rmtree(self.experiment_dir(exp_id), ignore_errors=True)

    # -- disk ---------------------------------------------------------------------------------------
    @staticmethod
    def _size(path: Path) -> int:
        total = 0
        for dirpath, _, files in os.walk(path):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
        return total

    def _unused_checkpoint(self, r: Run) -> bool:
        """Whether no one can answer with this run's checkpoint any more: a search candidate (its winner's grid run
        carries on from a copy), or a grid run that stopped without finishing (its checkpoint only resumes it)."""
        if r.status.active:
            return False
        return r.role == Role.LR_SWEEP or (r.role == Role.GRID and r.status != Status.DONE)

    def disk_use(self, exp_id: str) -> dict:
        """Bytes on disk of an experiment's runs: `models` (finished runs' checkpoints: what Try it and export answer
        with, and a hybrid's pretrained base), `unused` (checkpoints no one can answer with: `free_disk` removes them),
        `other` (configs, metric files, logs)."""
        out = {"models": 0, "unused": 0, "other": self._size(self.experiment_dir(exp_id))}
        for r in self.runs(exp_id):
            run_dir = self.run_dir(r.id)
            ckpt = sum(self._size(run_dir / name) for name in CHECKPOINT_DIRS)
            out["unused" if self._unused_checkpoint(r) else "models"] += ckpt
            out["other"] += self._size(run_dir) - ckpt
        return out

    def free_disk(self, exp_id: str) -> int:
        """Remove the checkpoints no one can answer with (see `disk_use`); returns the bytes freed. A stopped run
        resumed afterwards starts again from step 0."""
        freed = 0
        for r in self.runs(exp_id):
            if self._unused_checkpoint(r):
                for name in CHECKPOINT_DIRS:
                    path = self.run_dir(r.id) / name
                    if path.exists():
                        freed += self._size(path)
                        shutil.rmtree(path, ignore_errors=True)
        return freed

    # -- what the eval examples are ----------------------------------------------------------------
    def save_eval_inputs(self, exp_id: str, inputs: list[str], fingerprint: str) -> None:
        """Each eval example in words (`TaskKind.eval_inputs`), in the eval set's order, written once per experiment by
        the first run that prepares its data (renamed into place: a reader never sees half a file)."""
        path = self.experiment_dir(exp_id) / "eval_inputs.json"
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fingerprint": fingerprint, "inputs": [str(x) for x in inputs]}), encoding="utf-8")
        os.replace(tmp, path)

    def eval_inputs(self, exp_id: str) -> list[str] | None:
        """The experiment's eval examples in words, in the order of every run's eval items; None where none were saved
        (a kind that shows none, or an experiment from before)."""
        path = self.experiment_dir(exp_id) / "eval_inputs.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))["inputs"]
        except (OSError, ValueError, KeyError):
            return None

    # -- Try it: questions for the predictor process -----------------------------------------------
    PREDICTION_TTL_S = 86_400.0
    """Questions and answers older than this are removed when a new question is asked."""

    def ask_prediction(self, exp_id: str, run_ids: list[str], inputs: list, owner: str,
                       per_hour: int | None = None) -> str | None:
        """Queue a question (inputs for these runs of the experiment) for the predictor; returns its id, or None when
        `per_hour` is given and the owner asked that many in the last hour — counted in the transaction that inserts
        it (SQLite's write lock; on PostgreSQL a per-owner advisory lock), so simultaneous questions cannot pass it."""
        pid = new_id("q")
        now = time.time()
        with self.tx() as c:
            if per_hour is not None:
                self._lock_owner(c, f"predictions:{owner}")
                asked = c.execute(sa.select(sa.func.count()).select_from(predictions).where(
                    (predictions.c.owner == owner) & (predictions.c.created_at >= now - 3600))).scalar() or 0
                if asked >= per_hour:
                    return None
            c.execute(predictions.delete().where(predictions.c.created_at < now - self.PREDICTION_TTL_S))
            c.execute(predictions.insert().values(id=pid, experiment_id=exp_id, owner=owner,
                                                  run_ids_json=json.dumps(run_ids), inputs_json=json.dumps(inputs),
                                                  created_at=now, status="queued"))
        return pid

    def _lock_owner(self, c: sa.Connection, key: str) -> None:
        """Hold `key` until the transaction ends, so a count and the insert it allows are one step: SQLite's write lock
        (taken at BEGIN) already does; PostgreSQL takes an advisory lock on the key."""
        if self.backend == "postgresql":
            c.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})

    def claim_prediction(self, claimant: str | None = None) -> dict | None:
        """The oldest queued question, now marked working by `claimant` (the predictor: "host pid start-time"); None
        when there is none; one claimant wins it."""
        with self.tx() as c:
            for row in c.execute(sa.select(predictions.c.id).where(predictions.c.status == "queued")
                                 .order_by(predictions.c.created_at).limit(4)).all():
                won = c.execute(predictions.update().where((predictions.c.id == row[0]) & (predictions.c.status == "queued"))
                                .values(status="working", started_at=time.time(), claimed_by=claimant)).rowcount
                if won:
                    return self._prediction(c, row[0])
        return None

    def working_predictions(self) -> list[dict]:
        """Questions being answered: {id, claimed_by, started_at} (to find those whose predictor died)."""
        return self._rows(sa.select(predictions.c.id, predictions.c.claimed_by, predictions.c.started_at)
                          .where(predictions.c.status == "working"))

    def fail_working_predictions(self, ids: list[str], error: str) -> int:
        """Fail these questions with `error` where they are still being answered; returns how many."""
        if not ids:
            return 0
        with self.tx() as c:
            return c.execute(predictions.update().where(predictions.c.id.in_(ids), predictions.c.status == "working")
                             .values(status="failed", answered_at=time.time(), error=error)).rowcount

    def answer_prediction(self, pid: str, answer: dict | None = None, error: str | None = None) -> None:
        """Store the answer (each prediction without its input: the question holds the inputs once, and `prediction`
        puts them back) or the error."""
        if answer is not None:
            answer = dict(answer, predictions=[{k: v for k, v in p.items() if k != "input"}
                                               for p in answer.get("predictions", [])])
        with self.tx() as c:
            c.execute(predictions.update().where(predictions.c.id == pid).values(
                status="failed" if error is not None else "answered", answered_at=time.time(),
                answer_json=None if answer is None else json.dumps(answer), error=error))

    def prediction(self, pid: str) -> dict | None:
        """A question with its status, and its answer or error once given."""
        with self.read() as c:
            return self._prediction(c, pid)

    def _prediction(self, c, pid: str) -> dict | None:
        row = c.execute(sa.select(predictions).where(predictions.c.id == pid)).first()
        if row is None:
            return None
        d = dict(row._mapping)
        d["run_ids"] = json.loads(d.pop("run_ids_json"))
        d["inputs"] = json.loads(d.pop("inputs_json"))
        answer = d.pop("answer_json")
        d["answer"] = json.loads(answer) if answer is not None else None
        for p, x in zip((d["answer"] or {}).get("predictions", []), d["inputs"], strict=False):
            p.setdefault("input", x)
        return d

    def predictions_since(self, owner: str, since: float) -> int:
        """How many questions this owner asked since `since` (demo mode's rate cap, checked before an upload is
        written; `ask_prediction` holds it)."""
        with self.read() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(predictions).where(
                (predictions.c.owner == owner) & (predictions.c.created_at >= since))).scalar() or 0)

    # -- decision records -------------------------------------------------------------------------
    def decision(self, exp_id: str) -> Decision | None:
        """The experiment's decision record with its comments (oldest first), or None."""
        with self.read() as c:
            row = c.execute(sa.select(decisions).where(decisions.c.experiment_id == exp_id)).first()
            if row is None:
                return None
            comments = c.execute(sa.select(decision_comments.c.author, decision_comments.c.body, decision_comments.c.at)
                                 .where(decision_comments.c.experiment_id == exp_id)
                                 .order_by(decision_comments.c.at, decision_comments.c.id)).all()
        return Decision(**dict(row._mapping), comments=tuple(Comment(*x) for x in comments))

    def save_decision(self, exp_id: str, question: str, constraints: dict, author: str) -> None:
        """Create or edit the record's question and constraints. An edit after a sign-off withdraws the sign-off:
        what was signed no longer matches what is asked."""
        now = time.time()
        with self.tx() as c:
            if c.execute(sa.select(experiments.c.id).where(experiments.c.id == exp_id)).first() is None:
                raise ConfigError(f"no experiment {exp_id!r}")
            old = c.execute(sa.select(decisions.c.question, decisions.c.constraints_json)
                            .where(decisions.c.experiment_id == exp_id)).first()
            values = {"question": question, "constraints_json": json.dumps(constraints, sort_keys=True)}
            if old is None:
                c.execute(decisions.insert().values(experiment_id=exp_id, created_by=author, created_at=now,
                                                    updated_at=now, **values))
            elif (old.question, old.constraints_json) != (values["question"], values["constraints_json"]):
                c.execute(decisions.update().where(decisions.c.experiment_id == exp_id)
                          .values(updated_at=now, signoff_by=None, signoff_at=None, signed_json=None, **values))

    def add_decision_comment(self, exp_id: str, author: str, body: str) -> None:
        with self.tx() as c:
            if c.execute(sa.select(decisions.c.experiment_id).where(decisions.c.experiment_id == exp_id)).first() is None:
                raise ConfigError("this experiment has no decision record yet: write its question first")
            c.execute(decision_comments.insert().values(experiment_id=exp_id, author=author, body=body, at=time.time()))

    def sign_off_decision(self, exp_id: str, name: str, signed: dict) -> None:
        """Record a sign-off by `name` now, with `signed`: the recommendation as it stood (what was approved)."""
        with self.tx() as c:
            done = c.execute(decisions.update().where(decisions.c.experiment_id == exp_id)
                             .values(signoff_by=name, signoff_at=time.time(), signed_json=json.dumps(signed))).rowcount
            if not done:
                raise ConfigError("this experiment has no decision record yet: write its question first")

    # -- runs --------------------------------------------------------------------------------------
    def runs(self, exp_id: str | None = None, status: Status | None = None) -> list[Run]:
        q = sa.select(runs)
        if exp_id is not None:
            q = q.where(runs.c.experiment_id == exp_id)
        if status is not None:
            q = q.where(runs.c.status == Status(status))
        return [Run.from_row(r) for r in self._rows(q.order_by(runs.c.created_at, runs.c.seq))]

    def run(self, run_id: str) -> Run:
        row = self._one(sa.select(runs).where(runs.c.id == run_id))
        if row is None:
            raise NotFound(f"no run {run_id!r} in {self.spec}")
        return Run.from_row(row)

    def update_run(self, run_id: str, **fields) -> None:
        if fields.get("error"):
            fields["error"] = redact(fields["error"])  # errors are shown, exported and reported
        if "result" in fields:
            fields["result_json"] = json.dumps(fields.pop("result"))
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"unknown status {fields['status']!r}")
        if isinstance(fields.get("depends_on"), (tuple, list)):
            fields["depends_on"] = ",".join(fields["depends_on"]) or None
        unknown = set(fields) - RUN_COLUMNS
        if unknown:
            raise ValueError(f"unknown run fields {sorted(unknown)}")
        with self.tx() as c:
            c.execute(runs.update().where(runs.c.id == run_id).values(**fields))

    def claim(self, run_id: str, device: str, host: str | None = None) -> bool:
        """Atomically take a queued run for a worker; False when someone else took it first. On PostgreSQL the row
        is locked with FOR UPDATE SKIP LOCKED, so a second dispatcher skips it instead of waiting for it."""
        now = time.time()
        with self.tx() as c:
            locked = c.execute(sa.select(runs.c.id).where(runs.c.id == run_id, runs.c.status == Status.QUEUED)
                               .with_for_update(skip_locked=True)).first()
            if locked is None:
                return False
            cur = c.execute(runs.update().where(runs.c.id == run_id, runs.c.status == Status.QUEUED).values(
                status=Status.RUNNING, device=device, host=host, pid=None, proc_started=None, heartbeat_at=None,
                claimed_at=now, error=None, started_at=sa.func.coalesce(runs.c.started_at, now),
                attempts=runs.c.attempts + 1))
            return cur.rowcount == 1

    def heartbeat(self, run_id: str) -> bool:
        """Record that the run's worker is alive; returns True when a cancel has been requested."""
        with self.tx() as c:
            c.execute(runs.update().where(runs.c.id == run_id).values(heartbeat_at=time.time()))
            row = c.execute(sa.select(runs.c.cancel_requested_at).where(runs.c.id == run_id)).first()
        return row is not None and row[0] is not None

    def request_cancel(self, run_id: str) -> str:
        """Ask a run to stop. A queued run is cancelled at once; a running one checkpoints and stops."""
        with self.tx() as c:
            row = c.execute(sa.select(runs.c.status).where(runs.c.id == run_id).with_for_update()).first()
            if row is None:
                raise NotFound(f"no run {run_id!r} in {self.spec}")
            if row[0] == Status.QUEUED:
                c.execute(runs.update().where(runs.c.id == run_id).values(
                    status=Status.CANCELLED, ended_at=time.time(), error="cancelled while queued"))
                return Status.CANCELLED
            if row[0] == Status.RUNNING:
                c.execute(runs.update().where(runs.c.id == run_id).values(
                    cancel_requested_at=sa.func.coalesce(runs.c.cancel_requested_at, time.time())))
            return Status(row[0])

    def is_record(self, exp_id: str) -> bool:
        """An imported bundle: its runs are records to look at, never trained here."""
        exp = self.experiment(exp_id)
        return exp is not None and exp.is_record

    def requeue(self, run_id: str) -> None:
        """Queue a stopped run again; it resumes from its last checkpoint. Runs of an imported record are refused."""
        if self.is_record(self.run(run_id).experiment_id):
            raise PolicyError("this run belongs to an imported experiment, a record that is never trained here; launch "
                              "its config as a new experiment to train it")
        with self.tx() as c:
            c.execute(runs.update().where(runs.c.id == run_id, runs.c.status.in_([s for s in Status if s.resumable]))
                      .values(status=Status.QUEUED, pid=None, cancel_requested_at=None, ended_at=None))

    def extend_runs(self, run_ids: list[str], total_steps: int) -> bool:
        """Send finished learning-rate search candidates on to a later rung: queued again with more steps, in one
        transaction; they resume from their checkpoints. True when every one of them is now on its way there (this call
        or a concurrent one sent it)."""
        if not run_ids:
            return False
        with self.tx() as c:
            c.execute(runs.update().where(runs.c.id.in_(run_ids), runs.c.status == Status.DONE,
                                          runs.c.total_steps < total_steps)
                      .values(status=Status.QUEUED, total_steps=total_steps, pid=None, ended_at=None,
                              cancel_requested_at=None))
            steps = c.execute(sa.select(runs.c.total_steps).where(runs.c.id.in_(run_ids))).scalars().all()
        return len(steps) == len(run_ids) and all((s or 0) >= total_steps for s in steps)

    # -- learning-rate searches ----------------------------------------------------------------------
    def lr_search(self, key: str) -> dict | None:
        """A finished learning-rate search by key: {key, created_at, experiment_id, spec, result}."""
        row = self._one(sa.select(lr_searches).where(lr_searches.c.key == key))
        if row is None:
            return None
        return {"key": row["key"], "created_at": row["created_at"], "experiment_id": row["experiment_id"],
                "spec": json.loads(row["spec_json"]), "result": json.loads(row["result_json"])}

    def save_lr_search(self, key: str, spec: dict, result: dict, experiment_id: str | None) -> None:
        with self.tx() as c:
            self._upsert(c, lr_searches, [{"key": key, "created_at": time.time(), "experiment_id": experiment_id,
                                           "spec_json": json.dumps(spec), "result_json": json.dumps(result)}], ["key"])

    # -- metrics and events ------------------------------------------------------------------------
    def log_metrics(self, run_id: str, step: int, examples: int, wall_s: float, flops: float,
                    values: dict[str, float]) -> None:
        rows = [{"run_id": run_id, "step": step, "examples": examples, "wall_s": wall_s, "flops": flops, "key": k,
                 "value": float(v)} for k, v in values.items()]
        with self.tx() as c:
            self._upsert(c, metrics, rows, ["run_id", "step", "key"])
        with open(self.run_dir(run_id) / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, "examples": examples, "wall_s": wall_s, "flops": flops, **values}) + "\n")

    def truncate_metrics(self, run_id: str, after_step: int) -> None:
        """Drop rows logged after `after_step` (a resumed run rewrites them)."""
        with self.tx() as c:
            c.execute(metrics.delete().where(metrics.c.run_id == run_id, metrics.c.step > after_step))
        path = self.run_dir(run_id) / "metrics.jsonl"
        if path.exists():
            kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                    if line and json.loads(line)["step"] <= after_step]
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            tmp.replace(path)

    def copy_metrics(self, src_run: str, dst_run: str, up_to_step: int) -> None:
        """Give `dst_run` the rows `src_run` logged up to a step (a grid run that continues a search run), replacing
        any it had."""
        with self.tx() as c:
            c.execute(metrics.delete().where(metrics.c.run_id == dst_run))
            rows = [dict(r._mapping, run_id=dst_run) for r in c.execute(
                sa.select(metrics).where(metrics.c.run_id == src_run, metrics.c.step <= up_to_step))]
            if rows:
                c.execute(metrics.insert(), rows)
        src, dst = self.run_dir(src_run) / "metrics.jsonl", self.run_dir(dst_run) / "metrics.jsonl"
        kept = [line for line in (src.read_text(encoding="utf-8").splitlines() if src.exists() else [])
                if line and json.loads(line)["step"] <= up_to_step]
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        tmp.replace(dst)

    def metrics(self, run_ids: list[str] | None = None, exp_id: str | None = None) -> list[dict]:
        q = sa.select(metrics)
        if exp_id is not None:
            q = q.join(runs, runs.c.id == metrics.c.run_id).where(runs.c.experiment_id == exp_id)
        elif run_ids is not None:
            q = q.where(metrics.c.run_id.in_(run_ids))
        return self._rows(q.order_by(metrics.c.run_id, metrics.c.step))

    def count_metrics(self) -> int:
        with self.read() as c:
            return c.execute(sa.select(sa.func.count()).select_from(metrics)).scalar_one()

    def starts_since(self, owner: str, since: float) -> int:
        """Worker starts (first starts and resumes) of an owner's runs since a time: the demo's hourly quota."""
        with self.read() as c:
            return int(c.execute(
                sa.select(sa.func.count()).select_from(
                    events.join(runs, runs.c.id == events.c.run_id).join(experiments, experiments.c.id == runs.c.experiment_id))
                .where(events.c.kind == "started", events.c.at >= since, experiments.c.owner == owner)).scalar_one())

    def spend_export(self, run_id: str, user: str, per_hour: int | None = None) -> bool:
        """Record that `user` prepares a model download of this run (an event of kind "export"), unless `per_hour` is
        given and they prepared that many in the last hour (False): counted in the transaction that records it (see
        `_lock_owner`), so simultaneous requests cannot pass the cap. Spent before the export starts."""
        now = time.time()
        with self.tx() as c:
            if per_hour is not None:
                self._lock_owner(c, f"exports:{user}")
                rows = c.execute(sa.select(events.c.data_json).where(events.c.kind == "export",
                                                                     events.c.at >= now - 3600)).all()
                if sum(json.loads(r[0] or "{}").get("user") == user for r in rows) >= per_hour:
                    return False
            c.execute(events.insert().values(run_id=run_id, at=now, kind="export", message=redact(
                f"model download prepared for {user}"), data_json=redact(json.dumps({"user": user}))))
        return True

    def add_event(self, run_id: str, kind: str, message: str, data: dict | None = None) -> None:
        with self.tx() as c:
            c.execute(events.insert().values(run_id=run_id, at=time.time(), kind=kind, message=redact(message),
                                             data_json=redact(json.dumps(data or {}))))

    def events(self, run_id: str) -> list[dict]:
        return self._rows(sa.select(events).where(events.c.run_id == run_id).order_by(events.c.id))


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


OUTAGE_WAIT_S = 600.0
"""How long a worker waits out a store outage (PostgreSQL restarting or failing over, SQLite's disk full) before
its run gives up: a run pauses, it does not die."""


class PatientStore:
    """A worker's store: every call that meets an outage (`Store.is_outage`) is tried again, with backoff from 0.5 to
    5 s, for up to `wait_s`; other errors pass at once. Each call is one or a few short transactions, each either
    committed or rolled back whole, and metric rows are upserts, so trying a call again writes nothing twice that
    matters (an event may repeat). A 20-s PostgreSQL outage killed every worker before: they wrote a metric, met the
    closed connection and died with a traceback. Attributes and context managers (`tx`, `read`) pass through."""

    _PASS = frozenset({"tx", "read", "engine"})

    def __init__(self, store: Store, wait_s: float = OUTAGE_WAIT_S, log=None):
        self._store, self._wait_s, self._log = store, wait_s, log

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if name in self._PASS or name.startswith("_") or not callable(attr):
            return attr

        def patiently(*args, **kwargs):
            deadline, delay, waited = time.monotonic() + self._wait_s, 0.5, False
            while True:
                try:
                    result = attr(*args, **kwargs)
                except Exception as e:
                    if not Store.is_outage(e) or time.monotonic() + delay > deadline:
                        raise
                    if not waited and self._log is not None:
                        self._log(f"the store is not usable ({type(e).__name__}); {name} waits for it")
                    waited = True
                    time.sleep(delay)
                    delay = min(5.0, delay * 2)
                    continue
                if waited and self._log is not None:
                    self._log(f"the store is back; {name} went through")
                return result

        return patiently
