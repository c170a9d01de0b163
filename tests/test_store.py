"""The store on both backends: every operation, migrations of old stores, clear errors for a bad database, and
dispatchers on two hosts sharing one PostgreSQL store without ever starting a run twice."""
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from training.config import BudgetConfig, ExperimentConfig, ProbeConfig, SpeedConfig, StrategyConfig
from training.errors import ConfigError
from training.service.planning import launch
from training.service.runner import Dispatcher
from training.service.store import SCHEMA_VERSION, Store
from training.testing import tiny_classification_config

ROOT = Path(__file__).resolve().parents[1]
CFG = ExperimentConfig(name="store", sizes=[10], seeds=[0])


def _runs(n, **extra):
    return [{"strategy": "full", "n_train": 10, "seed": i, "total_steps": 5, **extra} for i in range(n)]


def test_every_store_operation(tmp_path, backend):
    store = Store(tmp_path / "store")
    assert store.backend == backend
    exp = store.create_experiment(CFG, _runs(3, mem_estimate=6 * 2**30), owner="ada")  # bytes past 2**31
    a, b, c = (r.id for r in store.runs(exp))
    assert store.run(a).mem_estimate == 6 * 2**30 and store.run(a).status == "queued"
    assert [r.id for r in store.queued_runs()] == [a, b, c] and store.queued_runs()[0].owner == "ada"

    assert store.claim(a, "cpu", "host-a") and not store.claim(a, "cpu", "host-b")  # one claim wins
    row = store.run(a)
    assert (row.status, row.host, row.attempts) == ("running", "host-a", 1)
    v0 = store.version(exp)
    store.log_metrics(a, 0, 8, 1.0, 2.0, {"loss": 1.0, "acc": 0.5})
    store.log_metrics(a, 0, 8, 1.0, 2.0, {"loss": 0.9})  # the same step again replaces, never duplicates
    store.log_metrics(a, 5, 48, 2.0, 4.0, {"loss": 0.5})
    assert store.version(exp) != v0
    assert sorted((m["step"], m["key"], m["value"]) for m in store.metrics([a])) == [(0, "acc", 0.5), (0, "loss", 0.9),
                                                                                   (5, "loss", 0.5)]
    store.truncate_metrics(a, 0)
    assert store.count_metrics() == 2 and len(store.metrics(exp_id=exp)) == 2
    assert store.heartbeat(a) is False
    assert store.request_cancel(a) == "running" and store.heartbeat(a) is True
    assert store.request_cancel(b) == "cancelled" and store.run(b).status == "cancelled"
    store.update_run(a, status="interrupted", ended_at=time.time(), error="token hf_abcdefghijklmnopqrstuvwxyz0123")
    assert "hf_abcdef" not in store.run(a).error  # errors are redacted on the way in
    store.requeue(a)
    assert store.run(a).status == "queued" and store.run(a).cancel_requested_at is None
    with pytest.raises(ValueError, match="unknown status"):
        store.update_run(a, status="nearly")
    with pytest.raises(ValueError, match="unknown run fields"):
        store.update_run(a, colour="red")

    store.add_event(a, "started", "worker started")
    assert store.starts_since("ada", time.time() - 60) == 1 and store.starts_since("bob", 0) == 0
    assert [e["kind"] for e in store.events(a)] == ["started"]
    store.save_lr_search("k", {"lrs": [1]}, {"best": 1}, exp)
    store.save_lr_search("k", {"lrs": [2]}, {"best": 2}, exp)  # an upsert
    assert store.lr_search("k")["result"] == {"best": 2} and store.lr_search("nope") is None

    (listed,) = store.experiments()
    assert (listed.n_runs, listed.n_queued, listed.n_done) == (3, 2, 0)
    store.set_owner(exp, "bob")
    assert store.experiment(exp).owner == "bob" and store.experiment_config(exp).name == "store"
    store.delete_experiment(exp)
    assert store.experiments() == [] and store.count_metrics() == 0 and store.events(a) == []
    with pytest.raises(KeyError):
        store.run(a)


def test_a_launch_key_makes_one_experiment_however_often_it_is_sent(tmp_path, backend):
    """Issue 41, item 3: launching twice (a double click, a double submit, a retried request) made two identical
    37-run experiments. The same owner's key makes one — sent again, or sent by 8 threads at once; its files are not
    left behind; another owner's same key, or no key, makes a new one; deleting the experiment frees the key."""
    store = Store(tmp_path / "store")
    first = store.create_experiment(CFG, _runs(3), owner="ada", launch_key="k1")
    assert store.create_experiment(CFG, _runs(3), owner="ada", launch_key="k1") == first
    assert store.launched("ada", "k1") == first and store.launched("bob", "k1") is None
    ids = []

    def twin():
        ids.append(Store(tmp_path / "store").create_experiment(CFG, _runs(3), owner="ada", launch_key="k2"))

    threads = [threading.Thread(target=twin) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(ids) == 8 and len(set(ids)) == 1, ids
    assert len({e.id for e in store.experiments()}) == 2 and len(store.runs()) == 6
    assert sorted(p.name for p in (store.root / "experiments").iterdir()) == sorted({first, ids[0]})
    assert len(list((store.root / "runs").iterdir())) == 6  # the twins' run folders were removed
    other = store.create_experiment(CFG, _runs(1), owner="bob", launch_key="k1")
    assert other not in (first, ids[0])
    assert store.create_experiment(CFG, _runs(1), owner="ada") != store.create_experiment(CFG, _runs(1), owner="ada")
    store.delete_experiment(first)
    assert store.launched("ada", "k1") is None
    assert store.create_experiment(CFG, _runs(1), owner="ada", launch_key="k1") != first


def test_enqueue_with_a_launch_key_sent_twice_prints_one_experiment(tmp_path, tiny_bert_dir, topic_csv):
    """The CLI a page (or a script retrying a request) calls: the second `enqueue --launch-key` plans nothing and
    prints the first one's id."""
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=[StrategyConfig("full", lr=1e-3)],
                                     budget=BudgetConfig(policy="steps", steps=5), probes=[ProbeConfig(kind="none")])
    path = tmp_path / "cfg.yaml"
    cfg.save(path)

    def enqueue():
        out = subprocess.run([sys.executable, "-m", "training", "enqueue", str(path), "--store", str(tmp_path / "s"),
                              "--launch-key", "retry-1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    assert enqueue() == enqueue()
    assert len(Store(tmp_path / "s").experiments()) == 1


def test_an_old_sqlite_store_is_migrated_on_open(tmp_path):
    """A store made before schema versions (and before the later run columns) opens, keeps its rows, and gains them."""
    root = tmp_path / "old"
    root.mkdir()
    db = sqlite3.connect(root / "headstart.db")
    db.executescript("""
        CREATE TABLE experiments (id TEXT PRIMARY KEY, name TEXT NOT NULL, config_json TEXT NOT NULL,
            created_at REAL NOT NULL, owner TEXT NOT NULL DEFAULT 'local', info_json TEXT NOT NULL DEFAULT '{}');
        CREATE TABLE runs (id TEXT PRIMARY KEY, experiment_id TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL, strategy TEXT NOT NULL, n_train INTEGER NOT NULL, seed INTEGER NOT NULL,
            depends_on TEXT, status TEXT NOT NULL DEFAULT 'queued', pid INTEGER, device TEXT, heartbeat_at REAL,
            error TEXT, created_at REAL NOT NULL, started_at REAL, ended_at REAL, total_steps INTEGER, result_json TEXT);
        CREATE TABLE metrics (run_id TEXT NOT NULL, step INTEGER NOT NULL, examples INTEGER NOT NULL,
            wall_s REAL NOT NULL, flops REAL NOT NULL, key TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (run_id, step, key));
        CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, at REAL NOT NULL,
            kind TEXT NOT NULL, message TEXT NOT NULL, data_json TEXT NOT NULL DEFAULT '{}');
    """)
    db.execute("INSERT INTO experiments VALUES ('e1', 'old', ?, 1.0, 'local', '{}')", (CFG.to_json(),))
    db.execute("INSERT INTO runs (id, experiment_id, seq, strategy, n_train, seed, status, created_at) "
               "VALUES ('r1', 'e1', 0, 'full', 10, 0, 'done', 1.0)")
    db.execute("INSERT INTO metrics VALUES ('r1', 0, 8, 1.0, 1.0, 'loss', 0.5)")
    db.commit()
    db.close()
    store = Store(root)
    row = store.run("r1")
    assert row.status == "done" and row.attempts == 0 and row.role == "grid" and row.host is None
    assert store.count_metrics() == 1 and store.lr_search("x") is None
    assert sqlite3.connect(root / "headstart.db").execute("SELECT version FROM schema_version").fetchall() == [
        (SCHEMA_VERSION,)]
    Store(root)  # opening again is a no-op


def test_a_bad_database_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("HEADSTART_ARTIFACTS", raising=False)
    with pytest.raises(ConfigError, match="needs HEADSTART_ARTIFACTS"):
        Store("postgresql://nobody@127.0.0.1:1/headstart")
    monkeypatch.setenv("HEADSTART_ARTIFACTS", str(tmp_path / "artifacts"))
    with pytest.raises(ConfigError, match="cannot open the store's database"):
        Store("postgresql://nobody:secret-pw@127.0.0.1:1/headstart")
    monkeypatch.setenv("HEADSTART_DATABASE_URL", "mysql://somewhere/db")
    with pytest.raises(ConfigError, match="must be a postgresql://"):
        Store(tmp_path / "store")
    out = subprocess.run([sys.executable, "-m", "training", "worker", "--store", "postgresql://u:secret-pw@127.0.0.1:1/x"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "HEADSTART_ARTIFACTS": str(tmp_path / "artifacts")})
    assert out.returncode == 2 and "cannot open the store's database" in out.stderr and "secret-pw" not in out.stderr


def test_a_store_given_as_a_url_keeps_its_artifacts_in_headstart_artifacts(tmp_path, monkeypatch, postgres_server):
    url = postgres_server.new_database()
    monkeypatch.setenv("HEADSTART_ARTIFACTS", str(tmp_path / "shared"))
    store = Store(url)
    exp = store.create_experiment(CFG, _runs(1))
    assert store.spec == url and store.root == tmp_path / "shared"
    assert (tmp_path / "shared" / "experiments" / exp / "config.yaml").exists()
    monkeypatch.setenv("HEADSTART_DATABASE_URL", url)  # the same tables, reached from a directory store
    assert [r.id for r in Store(tmp_path / "shared").runs(exp)] == [r.id for r in store.runs(exp)]


class _DoneAtOnce:
    """An executor that 'trains' instantly: each start marks the run done, so slots free up at once."""

    def __init__(self, store, name):
        self.store, self.name, self.started = store, name, []

    def start(self, run_id, device):
        self.started.append(run_id)
        self.store.add_event(run_id, "trained", self.name)
        self.store.update_run(run_id, status="done", ended_at=time.time())
        return 0

    def finished(self):
        return {}

    def owns(self, run_id):
        return False

    def close(self):
        pass


def test_two_dispatchers_on_one_postgres_store_never_start_the_same_run_twice(tmp_path, monkeypatch, postgres_server):
    monkeypatch.setenv("HEADSTART_DATABASE_URL", postgres_server.new_database())
    store = Store(tmp_path / "store")
    exp = store.create_experiment(CFG, _runs(150))
    dispatchers = [Dispatcher(store.root, devices=["cpu"], slots_per_device=3, host=h) for h in ("host-a", "host-b")]
    for d in dispatchers:
        d.exec = _DoneAtOnce(d.store, d.host)

    def serve(d):
        while d.store.runs(exp, status="queued"):
            d.tick()

    threads = [threading.Thread(target=serve, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    started = [r for d in dispatchers for r in d.exec.started]
    assert sorted(started) == sorted(r.id for r in store.runs(exp))  # every run started exactly once
    assert all(d.exec.started for d in dispatchers), "both dispatchers took work"
    assert {r.attempts for r in store.runs(exp)} == {1} and {r.status for r in store.runs(exp)} == {"done"}
    assert all(len(store.events(r.id)) == 2 for r in store.runs(exp))  # one 'started', one 'trained'
    for d in dispatchers:
        d.close()


@pytest.mark.slow
def test_dispatcher_processes_on_two_hosts_share_a_postgres_store(tmp_path, monkeypatch, postgres_server,
                                                                   tiny_bert_dir, topic_csv):
    """Two real dispatchers (as two hosts) on one PostgreSQL store: every run trains once, to the end, and
    neither dispatcher takes the other's live workers for dead."""
    monkeypatch.setenv("HEADSTART_DATABASE_URL", postgres_server.new_database())
    store = Store(tmp_path / "store")
    # four runs for four slots (two per host): whichever host claims first, the other still finds two to take
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=[StrategyConfig(s, lr=1e-3) for s in
                                                                            ("full", "head")],
                                     seeds=[0, 1], budget=BudgetConfig(policy="steps", steps=20),
                                     probes=[ProbeConfig(kind="none")], speed=SpeedConfig(device="cpu", num_threads=1))
    exp = launch(cfg, store)
    procs = [subprocess.Popen([sys.executable, "-m", "training", "worker", "--store", str(store.root), "--devices", "cpu",
                               "--slots-per-device", "2", "--host", host, "--until-idle"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for host in ("host-a", "host-b")]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    rows = store.runs(exp)
    assert {r.status for r in rows} == {"done"}, [(r.id, r.status, r.error) for r in rows]
    assert {r.attempts for r in rows} == {1}
    assert {r.host for r in rows} == {"host-a", "host-b"}
    kinds = [e["kind"] for r in rows for e in store.events(r.id)]
    assert "interrupted" not in kinds and kinds.count("started") == len(rows)


def test_a_relative_store_is_held_as_an_absolute_path(tmp_path, monkeypatch):
    """Workers and the warm starter run in the repository's folder: a store named relative to the caller's folder must
    reach them as the same folder (it reached them as `sqrel/…`, and every run exited with code 1)."""
    monkeypatch.chdir(tmp_path)
    store = Store("rel")
    assert store.root == tmp_path / "rel" and store.spec == str(tmp_path / "rel")
    monkeypatch.chdir("/")
    assert Store(store.spec).root == store.root


def test_a_nul_character_is_refused_in_words_on_both_backends(tmp_path, backend):
    """PostgreSQL's text refuses a NUL half-way through a transaction (DataError: a traceback on the page that wrote
    it); SQLite kept it. Both now refuse it in words, and the record is unchanged."""
    store = Store(tmp_path / "store")
    exp = store.create_experiment(CFG, _runs(1))
    store.save_decision(exp, "Which one?", {}, "ada")
    for write in (lambda: store.add_decision_comment(exp, "ada", "café\x00"),
                  lambda: store.sign_off_decision(exp, "a\x00b", {"sentence": "ok"}),
                  lambda: store.save_decision(exp, "Which\x00 one?", {}, "ada")):
        with pytest.raises(ConfigError, match="NUL character"):
            write()
    d = store.decision(exp)
    assert d.question == "Which one?" and not d.comments and d.signoff_by is None
    with pytest.raises(ConfigError, match="NUL character"):  # a lookup too: the words, not SQLAlchemy's wrapping
        store.experiment("ab\x00c")
    # a run's error or event quoting a user's file is the machine's words, not the user's: kept, the NUL replaced
    run = store.runs(exp)[0].id
    store.update_run(run, error="bad line 'a\x00b'")
    store.add_event(run, "error", "bad line 'a\x00b'")
    assert store.run(run).error == "bad line 'a\ufffdb'" and store.events(run)[-1]["message"] == "bad line 'a\ufffdb'"
