"""Issue 28: the store's faults must not kill training — a long write (a bundle import) held SQLite's write lock and
the dispatcher took the workers' silence for death; a store outage or a full disk killed the dispatcher."""
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from training.service.processes import process_started
from training.service.records import Status
from training.service.runner import Dispatcher
from training.service.store import Store
from training.testing import make_finished_experiment


@pytest.fixture
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)  # as a worker
    yield proc
    proc.kill()
    proc.wait()


def _running_run(store: Store, pid: int, silent_for: float) -> str:
    exp = make_finished_experiment(store, seeds=(0,), sizes=(50,))
    run = store.runs(exp)[0]
    store.update_run(run.id, status=Status.RUNNING, pid=pid, proc_started=process_started(pid), host=None,
                     heartbeat_at=time.time() - silent_for, device="cpu")
    return run.id


def test_silence_while_the_store_was_locked_is_not_a_workers_death(tmp_path, sleeper, monkeypatch):
    monkeypatch.delenv("HEADSTART_DATABASE_URL", raising=False)
    store = Store(tmp_path / "store")
    rid = _running_run(store, sleeper.pid, silent_for=30)  # silent for longer than the 12 s timeout
    d = Dispatcher(tmp_path / "store")
    try:
        held = threading.Event()

        def long_write():  # another process's bundle import, in one long transaction
            con = sqlite3.connect(store.root / "headstart.db", timeout=60)
            con.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(3)
            con.rollback()
            con.close()

        t = threading.Thread(target=long_write)
        t.start()
        held.wait(10)
        d.reconcile()  # waits for the lock: the store was not writable, so nobody could heartbeat
        t.join()
        assert store.run(rid).status == Status.RUNNING and sleeper.poll() is None
        d.store_slow_until = 0.0  # without the stall, a 30-s silence of a live process is a hang: it is stopped
        d.reconcile()
        assert store.run(rid).status == Status.INTERRUPTED and "no heartbeat" in store.run(rid).error
    finally:
        d.close()


def test_no_run_starts_below_the_disk_floor(tmp_path, monkeypatch, tiny_bert_dir, topic_csv):
    from training.service import runner
    from training.service.planning import launch
    from training.testing import tiny_classification_config

    monkeypatch.delenv("HEADSTART_DATABASE_URL", raising=False)
    store = Store(tmp_path / "store")
    exp = launch(tiny_classification_config(tiny_bert_dir, topic_csv, strategies=["full"]), store)
    d = Dispatcher(tmp_path / "store")
    try:
        monkeypatch.setattr(runner, "_free_disk", lambda root: 100 * 1024 ** 2)  # 100 MB left
        d.schedule()
        assert {r.status for r in store.runs(exp)} == {Status.QUEUED}
    finally:
        d.close()


def test_the_dispatcher_waits_out_a_store_outage_instead_of_dying(tmp_path, monkeypatch, capsys):
    import sqlalchemy.exc

    monkeypatch.delenv("HEADSTART_DATABASE_URL", raising=False)
    Store(tmp_path / "store")
    d = Dispatcher(tmp_path / "store", poll_s=0.01)
    calls = {"tick": 0, "recover": 0}
    real_recover = d.recover

    def tick():
        calls["tick"] += 1
        if calls["tick"] <= 3:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        if calls["tick"] >= 5:
            d._stopping = True

    def recover():
        calls["recover"] += 1
        real_recover()

    monkeypatch.setattr(d, "tick", tick)
    monkeypatch.setattr(d, "recover", recover)
    try:
        d.serve()
    finally:
        d.close()
    assert calls["tick"] == 5 and calls["recover"] == 4  # at start, and before each try after a failure
    assert capsys.readouterr().err.count("the store is not usable") == 3


def test_a_bundle_imports_in_short_transactions_hidden_until_whole_and_a_failed_one_leaves_nothing(tmp_path,
                                                                                                    monkeypatch):
    """Issue 28, item 1: one 700,000-row import held the write lock for ~40 s. Rows now go in batches; the experiment
    stays hidden until the last batch commits, and a failure removes what was written."""
    from training.service.bundle import export_bundle, import_bundle

    monkeypatch.delenv("HEADSTART_DATABASE_URL", raising=False)
    source = Store(tmp_path / "a")
    bundle = export_bundle(source, make_finished_experiment(source, seeds=(0, 1)))
    store = Store(tmp_path / "b")
    monkeypatch.setattr(Store, "IMPORT_BATCH", 7)
    transactions, seen_while_importing = [], []
    real_tx = Store.tx

    def counting_tx(self):
        transactions.append(1)
        seen_while_importing.append(len(self.experiments()))
        return real_tx(self)

    monkeypatch.setattr(Store, "tx", counting_tx)
    exp = import_bundle(store, bundle)
    monkeypatch.setattr(Store, "tx", real_tx)
    assert len(transactions) >= len(bundle["metrics"]) // 7 and set(seen_while_importing) == {0}
    assert len(store.metrics([r.id for r in store.runs(exp)])) == len(bundle["metrics"])
    assert [e.id for e in store.experiments()] == [exp] and "importing" not in store.experiment(exp).info

    broken = dict(bundle, experiment=dict(bundle["experiment"], name="broken"))
    broken["events"] = bundle["events"] + [[bundle["runs"][0]["id"], 1.0, "x", "y", "not json {"]]
    real_insert = Store.insert_record

    def failing(self, *args, **kwargs):
        args = list(args)
        args[7] = args[7] + [["r-missing", 1.0, "x", "y", "{}"]]  # an event of no run: the foreign key refuses it
        return real_insert(self, *args, **kwargs)

    monkeypatch.setattr(Store, "insert_record", failing)
    with pytest.raises(Exception):  # noqa: B017 — the store's own integrity error
        import_bundle(store, broken)
    assert [e.id for e in store.experiments()] == [exp]
    assert len(list((store.root / "experiments").iterdir())) == 1


def test_a_corrupt_store_database_is_named_not_a_traceback(tmp_path, monkeypatch):
    from training.errors import ConfigError

    monkeypatch.delenv("HEADSTART_DATABASE_URL", raising=False)
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "headstart.db").write_bytes(b"this is not SQLite " * 500)
    with pytest.raises(ConfigError, match="is damaged or is not a Head Start store .*move it aside"):
        Store(tmp_path / "store")


def test_the_cli_turns_an_unexpected_error_into_one_line(monkeypatch, capsys):
    """Issue 28, item 9: one error path — whatever goes wrong, a user reads a line, not a traceback."""
    import training.__main__ as cli

    def broken(args):
        raise KeyError("column 0")

    monkeypatch.setitem(cli.COMMANDS, "presets", (broken, *cli.COMMANDS["presets"][1:]))
    monkeypatch.delenv("HEADSTART_DEBUG", raising=False)
    assert cli.main(["presets"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: presets stopped on something it did not expect (KeyError: 'column 0')")
    assert "Traceback" not in err and "HEADSTART_DEBUG=1" in err
    monkeypatch.setenv("HEADSTART_DEBUG", "1")
    with pytest.raises(KeyError):
        cli.main(["presets"])


def test_a_model_config_that_cannot_be_built_and_an_image_bomb_are_named(tiny_bert_dir, topic_csv, tmp_path,
                                                                         monkeypatch):
    import json
    import shutil

    from PIL import Image

    from training.errors import ConfigError, DataError
    from training.service.planning import plan_experiment
    from training.tasks.images.data import decode
    from training.testing import tiny_classification_config

    odd = tmp_path / "odd-bert"
    shutil.copytree(tiny_bert_dir, odd)
    config = json.loads((odd / "config.json").read_text())
    config.update(hidden_size=30, num_attention_heads=4)  # heads do not divide the hidden size
    (odd / "config.json").write_text(json.dumps(config))
    cfg = tiny_classification_config(odd, topic_csv)
    monkeypatch.delenv("HEADSTART_DATABASE_URL", raising=False)
    store = Store(tmp_path / "store")
    with pytest.raises(ConfigError, match="cannot be built with its config .*attention heads"):
        plan_experiment(cfg, store.cache_dir, store)

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a 20000×20000 PNG, scaled down for the test
    big = tmp_path / "big.png"
    Image.new("L", (100, 100)).save(big)
    with pytest.raises(DataError, match="big.png is too large to decode"):
        decode(str(big), "big.png", "photos.zip")
