"""Issue 28: the store's faults must not kill training — a long write (a bundle import) held SQLite's write lock and
the dispatcher took the workers' silence for death; a store outage or a full disk killed the dispatcher."""
import errno
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from training.config import ExperimentConfig
from training.core.data.sources import load_table
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
        row = store.run(rid)  # stopped, and queued again to resume from its checkpoint (issue 39)
        assert row.status == Status.QUEUED and "no heartbeat for" in row.error and "retrying" in row.error
        assert sleeper.wait(timeout=10) == -9
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


def test_damage_inside_the_store_database_is_found_where_work_starts_and_on_every_page(tmp_path, monkeypatch):
    """Issue 28: pages damaged in the middle of the SQLite file went unnoticed at open (only the schema is read) and
    surfaced later as tracebacks. SQLite's quick check now runs when the app first opens the store and when a
    dispatcher starts: both say what is wrong and what to do."""
    from streamlit.testing.v1 import AppTest

    from training.errors import ConfigError

    monkeypatch.delenv("HEADSTART_DATABASE_URL", raising=False)
    monkeypatch.setenv("HEADSTART_STORE", str(tmp_path / "store"))
    store = Store(tmp_path / "store")
    make_finished_experiment(store)  # some thousand metric rows: pages well past the schema's
    assert store.damage() is None
    store.close()  # the WAL is folded into the file
    db = tmp_path / "store" / "headstart.db"
    raw = bytearray(db.read_bytes())
    middle = (len(raw) // 4096 // 2) * 4096
    raw[middle:middle + 3 * 4096] = b"\xa5" * (3 * 4096)  # three pages in the middle scrambled
    db.write_bytes(bytes(raw))
    damaged = Store(tmp_path / "store")  # opens: the schema pages are intact
    assert damaged.damage()
    with pytest.raises(ConfigError, match="the store's database .* is damaged .*restore it from a backup"):
        Dispatcher(tmp_path / "store")
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    assert not at.exception, at.exception
    assert any("is damaged" in e.value and "move it aside" in e.value for e in at.error), [e.value for e in at.error]


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


def test_weights_that_are_garbage_or_cut_short_are_refused_at_plan(tiny_bert_dir, topic_csv, tmp_path, monkeypatch):
    """Issue 28: a model folder whose weights file was garbage was accepted at plan, and every run then failed."""
    import os
    import shutil

    from training.errors import ConfigError
    from training.service.planning import plan_experiment
    from training.testing import tiny_classification_config

    monkeypatch.delenv("HEADSTART_DATABASE_URL", raising=False)
    store = Store(tmp_path / "store")
    bad = tmp_path / "bad-bert"
    shutil.copytree(tiny_bert_dir, bad)
    weights = (bad / "model.safetensors").read_bytes()
    for content, said in [(os.urandom(5000), "no safetensors header at its start"),
                          (weights[: len(weights) // 2], "it is cut short: ")]:
        (bad / "model.safetensors").write_bytes(content)
        with pytest.raises(ConfigError, match=f"the weights file model.safetensors cannot be read \\({said}"):
            plan_experiment(tiny_classification_config(bad, topic_csv), store.cache_dir, store)
    (bad / "model.safetensors").write_bytes(weights)
    (bad / "pytorch_model.bin").write_bytes(b"<html>404 Not Found</html>")  # a failed download saved as the file
    with pytest.raises(ConfigError, match="pytorch_model.bin cannot be read \\(neither a torch zip nor a pickle\\)"):
        plan_experiment(tiny_classification_config(bad, topic_csv), store.cache_dir, store)


@pytest.mark.slow
def test_a_postgresql_outage_pauses_two_training_runs_and_loses_no_metric(tmp_path, monkeypatch, tiny_bert_dir,
                                                                          topic_csv):
    """Issue 28: a 20-s PostgreSQL outage killed the dispatcher and both workers with tracebacks, and the runs stayed
    `running`. Now, with a server of its own stopped at once (every connection dropped) and started again on the same
    data: the workers wait (each store call retried with backoff), the dispatcher waits, nobody is restarted, and each
    run's metrics are whole — no manual step."""
    from tests.pg import start_or_skip
    from tests.test_runner import _long_config, _steps_by_key, _stop, _wait
    from training.service.planning import launch

    server = start_or_skip()
    disp = None
    try:
        monkeypatch.setenv("HEADSTART_DATABASE_URL", server.new_database())
        store = Store(tmp_path / "store")
        exp = launch(_long_config(tiny_bert_dir, topic_csv, ["full", "lora"], steps=200), store)
        ids = [r.id for r in store.runs(exp)]
        log = tmp_path / "dispatcher.log"
        with open(log, "w") as out:
            disp = subprocess.Popen([sys.executable, "-m", "training", "worker", "--store", str(store.root), "--devices",
                                     "cpu", "--slots-per-device", "2"], stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        _wait(lambda: all(50 in _steps_by_key(store, r).get("val/loss", []) for r in ids), 240, "both runs at step 50")
        assert all(store.run(r).status == "running" for r in ids)
        server.halt()
        time.sleep(20)
        assert disp.poll() is None
        server.resume()
        _wait(lambda: all(store.run(r).status == "done" for r in ids), 400, "both runs to finish after the outage")
        assert disp.poll() is None, log.read_text()[-3000:]  # the dispatcher lived through it
        said = log.read_text()
        assert "the store is not usable" in said, said[-3000:]
        for r in ids:
            row = store.run(r)
            assert row.attempts == 1 and [e["kind"] for e in store.events(r)].count("started") == 1  # never restarted
            steps = _steps_by_key(store, r)
            assert steps["val/loss"] == [0, 50, 100, 150, 200] and steps["train/loss"] == [50, 100, 150, 200]
    finally:
        if disp is not None:
            _stop(disp)
        server.stop()


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MB filesystem of its own (tmpfs): a disk this test can fill. Needs the right to mount (root, as CI runs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here ({out.stderr.strip() or out.returncode})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder) -> int:
    """Write until the disk refuses; the bytes written."""
    import errno

    written = 0
    with open(folder / "ballast", "wb", buffering=0) as f:
        block = b"\0" * (1 << 20)
        while True:
            try:
                written += f.write(block)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                if len(block) == 1:
                    return written
                block = block[: len(block) // 16]


@pytest.mark.slow
def test_a_full_disk_pauses_a_real_run_which_resumes_whole_once_there_is_room(small_disk, monkeypatch, tiny_bert_dir,
                                                                               topic_csv):
    """Issue 28: a full disk killed the dispatcher and the worker with tracebacks and nothing recovered when it was
    freed. Now, on a filesystem of its own filled to the last byte while a real worker trains: the dispatcher stays up
    and starts nothing new below its floor, the run's failed write interrupts it (resumable, "the disk is full") or
    its store writes wait, and once the ballast is deleted it resumes from its checkpoint and finishes with every
    metric, with no manual step."""
    from tests.test_runner import _long_config, _steps_by_key
    from training.service.planning import launch

    # The database lies on the ordinary disk: SQLite maps its WAL index into memory, and on a full tmpfs (pages
    # allocated only when touched) that mapping faults with SIGBUS, which no program can answer; on a real disk the
    # index is allocated when the database opens. The artifacts (checkpoints, metric files) fill up here.
    monkeypatch.setenv("HEADSTART_DATABASE_URL", f"sqlite:///{small_disk.parent / 'headstart.db'}")
    store = Store(small_disk / "store")
    exp = launch(_long_config(tiny_bert_dir, topic_csv, ["full"], steps=200), store)
    rid = store.runs(exp)[0].id
    d = Dispatcher(store.root, slots_per_device=1, poll_s=0.25)
    d.disk_floor = 4 * 1024 ** 2  # this small disk's floor (the default is 512 MB)
    seen: dict = {"errors": []}

    def fault():
        try:
            deadline = time.time() + 240
            while 50 not in _steps_by_key(store, rid).get("val/loss", []) and time.time() < deadline:
                time.sleep(0.2)
            seen["ballast"] = _fill(small_disk)
            time.sleep(8)  # the run needs room within a few steps (metrics, its checkpoint every 25)
            seen["status_while_full"] = {"full": store.run(rid).status}
            (small_disk / "ballast").unlink()
            deadline = time.time() + 300
            while store.run(rid).status != "done" and time.time() < deadline:
                time.sleep(0.5)
        except Exception as e:  # noqa: BLE001 — reported by the test below
            seen["errors"].append(repr(e))
        finally:
            d._stopping = True

    watcher = threading.Thread(target=fault)
    watcher.start()
    try:
        d.serve()  # the dispatcher, in this (main) thread; its workers are real processes
    finally:
        watcher.join(timeout=60)
        d.close()
    assert not seen["errors"], seen
    assert seen["ballast"] > 0
    row = store.run(rid)
    assert row.status == "done", (row.status, row.error, [e["message"] for e in store.events(rid)])
    kinds = [e["kind"] for e in store.events(rid)]
    if "interrupted" in kinds:  # the failed write stopped it: interrupted for the disk, then resumed by the dispatcher
        said = [(e["kind"], e["message"]) for e in store.events(rid)]
        assert any("the disk is full" in message for _, message in said), said
        assert "requeued" in kinds and "resumed" in kinds
        assert "the disk has room again" in next(e["message"] for e in store.events(rid) if e["kind"] == "requeued")
    steps = _steps_by_key(store, rid)
    assert steps["val/loss"] == [0, 50, 100, 150, 200] and steps["train/loss"] == [50, 100, 150, 200]
    print(f"\nwhile full: {seen['status_while_full']}; events: {kinds}")


def test_the_second_attack_on_the_command_line_and_on_files_gets_messages(tmp_path, monkeypatch, capsys, tiny_bert_dir,
                                                                          topic_csv):
    """Issue 28, attacked again: each of these ended in "stopped on something it did not expect", read a device
    until memory ran out, crashed, or misread the input. Each is now a message that says what to do."""
    import pandas as pd
    import yaml

    import training.__main__ as cli
    from training.errors import DataError
    from training.tasks.images.data import load_image_table
    from training.tasks.tabular.data import load_tabular_table
    from training.testing import tiny_classification_config

    monkeypatch.delenv("HEADSTART_DATABASE_URL", raising=False)
    store = tmp_path / "store"
    Store(store)

    def said(argv) -> str:
        code = cli.main(argv)
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and "did not expect" not in err, (code, err)
        return err

    assert "no run 'rnope'" in said(["cancel", "rnope", "--store", str(store)])
    assert "no run 'rnope'" in said(["resume", "rnope", "--store", str(store)])
    (tmp_path / "afile").write_text("x")
    assert "is a file, not a folder" in said(["bundle-import", "x.json", "--store", str(tmp_path / "afile")])
    assert "is a folder; give a file name" in said(["report", "e1", "--store", str(store), "--format", "md",
                                                    "--out", str(tmp_path)])
    assert "does not exist; create it first" in said(["report", "e1", "--store", str(store), "--format", "md",
                                                      "--out", str(tmp_path / "nope" / "r.md")])
    assert "must end in .json.gz or .json" in said(["bundle-export", "e1", "--store", str(store), "--out",
                                                    str(tmp_path / "x.txt")])
    for device in ("/dev/zero", str(tmp_path)):  # a device is never read (it filled 24 GB), nor is a folder
        assert "not a regular file" in said(["plan", device, "--store", str(store)]) or device == str(tmp_path)
        assert "is not a bundle file" in said(["bundle-import", device, "--store", str(store)])

    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=["full"]).to_dict()
    for field, value, message in [("budget_multiplier", 1e308, "budget_multiplier must be a positive number up to 1000"),
                                  ("lr", 1e308, "lr must be a positive number up to 100")]:
        bad = {**cfg, "strategies": [{**cfg["strategies"][0], field: value}]}
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(bad))
        assert message in said(["plan", str(tmp_path / "c.yaml"), "--store", str(store)])
    merged = "defaults: &d\n  name: full\n  lr: 0.001\n" + yaml.safe_dump({k: v for k, v in cfg.items() if k != "strategies"})
    (tmp_path / "m.yaml").write_text(merged + "strategies:\n  - <<: *d\n")
    assert "unknown field 'defaults'" in said(["plan", str(tmp_path / "m.yaml"), "--store", str(store)])  # merge read

    (tmp_path / "dir.csv").mkdir()
    folder = {**cfg, "data": {**cfg["data"], "source": str(tmp_path / "dir.csv")}}
    (tmp_path / "f.yaml").write_text(yaml.safe_dump(folder))
    assert "is a folder, not a data file" in said(["plan", str(tmp_path / "f.yaml"), "--store", str(store)])

    (tmp_path / "prices.csv").write_text("price,x\n1e400,1\n2,2\n3,3\n4,5\n")
    with pytest.raises(DataError, match=r"holds a value too large to be a number \('1e400'\)"):
        load_tabular_table(str(tmp_path / "prices.csv"), "tabular-regression", label_column="price")
    from PIL import Image

    for i in range(4):
        Image.new("RGB", (8, 8), (i * 60, 0, 0)).save(tmp_path / f"{i}.png")
    pd.DataFrame({"image": ["0.png", "1.png", "", "2.png", "3.png"], "label": ["a", "b", "a", "a", "b"]}).to_csv(
        tmp_path / "pics.csv", index=False)
    assert len(load_image_table(str(tmp_path / "pics.csv")).items) == 4  # the row without an image is left out


def test_inputs_that_were_misread_silently_are_refused_by_name(tmp_path, tiny_bert_dir, topic_csv):
    """Issue 28, attacked again: accepted with rc 0 and misread — an eval set that is the training file, labels that
    were lists ("['computing']"), a header naming `label` twice (pandas used the first and renamed the second), a
    name with a NUL byte."""
    import pandas as pd

    from training.errors import ConfigError, DataError
    from training.testing import tiny_classification_config

    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=["full"]).to_dict()
    for same in (str(topic_csv), str(topic_csv.parent / "." / topic_csv.name)):
        with pytest.raises(ConfigError, match="data.eval_source is data.source .*every eval example would also be a "
                                              "training example"):
            ExperimentConfig.from_dict({**cfg, "data": {**cfg["data"], "eval_source": same}})
    hub = {**cfg, "data": {**cfg["data"], "source": "hf:org/set", "eval_source": "hf:org/set"}}
    assert ExperimentConfig.from_dict(hub).data.eval_hf_split == "test"  # a hub dataset's test split is not its train
    with pytest.raises(ConfigError, match="printable text"):
        ExperimentConfig.from_dict({**cfg, "name": "a\x00b"})

    nested = tmp_path / "nested.parquet"
    pd.DataFrame({"text": ["a b c", "d e"] * 20, "label": [["x"], ["y"]] * 20}).to_parquet(nested)
    with pytest.raises(DataError, match=r"label column 'label' of .*nested.parquet holds lists or mappings, not plain "
                                        r"values \(row 1\)"):
        load_table(str(nested), labelled=True)
    twice = tmp_path / "twice.csv"
    twice.write_text("text,label,label\nhello,a,b\nbye,b,a\n")
    with pytest.raises(DataError, match="twice.csv: the header names 'label' more than once"):
        load_table(str(twice), labelled=True)
    from training.config import DataConfig
    from training.core.data.task import split_indices

    ids = [f"c{i}" for i in range(200)]
    with pytest.raises(DataError, match="has 200 classes in 200 rows — about one row per class"):
        split_indices(DataConfig(source="x.csv"), 200, ids, None, None, "tickets.csv", True)
    from training.tasks.images.data import load_image_table

    pd.DataFrame({"image": ["http://example.org/cat.png"], "label": ["cat"]}).to_csv(tmp_path / "web.csv", index=False)
    with pytest.raises(DataError, match=r"row 2 names its image by a web address \(http://example.org/cat.png\)"):
        load_image_table(str(tmp_path / "web.csv"))


def test_a_checkpoint_write_the_library_says_ran_out_of_room_is_a_full_disk(tmp_path, monkeypatch):
    """A full-disk run failed once instead of pausing: safetensors said "No space left on device (os error 28)" in its
    own exception type, and the megabyte the room check wants was still free (the write failed short of its end)."""
    import torch

    from training.core import checkpoint

    def refuse(*_a, **_k):
        raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(checkpoint, "save_file", refuse)
    with pytest.raises(OSError) as caught:
        checkpoint.save(tmp_path / "ckpt", torch.nn.Linear(2, 2), {"step": 1})
    assert caught.value.errno == errno.ENOSPC and not (tmp_path / "ckpt.tmp").exists()


def test_a_library_that_says_the_disk_is_full_in_its_own_words_interrupts_the_run():
    from training.service.records import disk_full

    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk_full(RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"))
    assert not disk_full(OSError(errno.EACCES, "Permission denied")) and not disk_full(ValueError("bad value"))
