"""Hardening: policy where runs start, imported bundles as records, bounded bundle reading, process identity,
redaction of what leaves the process."""
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from training.analysis.report import analyse, html_report, markdown_report
from training.errors import HeadStartError
from training.service.bundle import FORMAT, export_bundle, import_bundle, read_bundle, write_bundle
from training.service.execution import execute_run
from training.service.planning import launch
from training.service.policy import PolicyError
from training.service.runner import Dispatcher
from training.service.store import Store
from training.testing import make_finished_experiment, tiny_classification_config, topic_rows

ROOT = Path(__file__).resolve().parents[1]


def _outside_file(tmp_path) -> Path:
    """A file outside every allowed folder, with a header a leak would show."""
    secret = tmp_path / "outside" / "payroll.csv"
    secret.parent.mkdir()
    secret.write_text("employee,salary_secret_column\nada,100\n", encoding="utf-8")
    return secret


def _hand_written_bundle(tiny_bert_dir, topic_csv, outside: Path) -> dict:
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=["full"]).to_dict()
    cfg["data"].update(source=str(outside), text_column="wrong_column", group_column=None)
    cfg["model"]["base"] = "/somewhere/not/allowed"
    run = {"id": "r1", "seq": 0, "strategy": "full", "n_train": 40, "seed": 0, "status": "queued", "role": "grid",
           "lr": None, "depends_on": None, "total_steps": 400, "error": None, "created_at": time.time(), "started_at": None,
           "ended_at": None, "attempts": 0, "micro_batch_size": None, "mem_estimate": None, "result_json": None}
    return {"format": FORMAT, "exported_at": time.time(), "metrics": [], "events": [], "runs": [run],
            "experiment": {"id": "e1", "name": "innocent", "config": cfg, "created_at": time.time(), "info": {}}}


def test_an_imported_bundle_is_a_record_that_never_trains(monkeypatch, tmp_path, tiny_bert_dir, topic_csv, store):
    monkeypatch.setenv("HEADSTART_MODE", "demo")
    outside = _outside_file(tmp_path)
    raw = json.dumps(_hand_written_bundle(tiny_bert_dir, topic_csv, outside)).encode()
    exp = import_bundle(store, read_bundle(raw, name="gift.json"), owner="mallory")
    run = store.runs(exp)[0]
    assert run.status == "cancelled" and "record" in run.error  # queued in the bundle, inert here
    with pytest.raises(PolicyError, match="imported experiment, a record"):
        store.requeue(run.id)  # Live's Resume button and `python -m training resume`
    disp = Dispatcher(store.root)
    try:
        disp.recover()  # a dispatcher restart
        assert store.run(run.id).status == "cancelled"
    finally:
        disp.close()
    store.update_run(run.id, status="queued")  # even forced back into the queue (an older store)...
    row = execute_run(store, run.id)  # ...the worker refuses it before reading anything
    assert row.status == "failed" and "record" in row.error
    assert "salary_secret_column" not in json.dumps(store.events(run.id)) + row.error
    assert not (store.run_dir(run.id) / "checkpoint").exists() and store.metrics([run.id]) == []


def test_policy_is_checked_where_the_run_starts(monkeypatch, tmp_path, tiny_bert_dir, topic_csv, store):
    """Runs planned under one policy and started under a stricter one (a redeploy, an old queue): the worker
    applies the policy in force, and a refused run reads nothing."""
    allowed, elsewhere = tmp_path / "allowed" / "topics.csv", tmp_path / "elsewhere" / "topics.csv"
    for path in (allowed, elsewhere):
        path.parent.mkdir()
        path.write_bytes(topic_csv.read_bytes())
    big = launch(tiny_classification_config(tiny_bert_dir, allowed, strategies=["full"], sizes=[120]), store)
    outside = launch(tiny_classification_config(tiny_bert_dir, elsewhere, strategies=["full"]), store)
    monkeypatch.setenv("HEADSTART_MODE", "demo")
    monkeypatch.setenv("HEADSTART_MODEL_ROOTS", str(tiny_bert_dir.parent))
    monkeypatch.setenv("HEADSTART_DATA_ROOTS", str(allowed.parent))
    monkeypatch.setenv("HEADSTART_MODEL_ALLOWLIST", str(tiny_bert_dir))
    monkeypatch.setenv("HEADSTART_DEMO_MAX_N", "100")
    row = execute_run(store, store.runs(big)[0].id)
    assert row.status == "failed" and "size 120 is over this demo's cap of 100" in row.error
    row = execute_run(store, store.runs(outside)[0].id)
    assert row.status == "failed" and "outside the allowed folders" in row.error
    assert all(store.metrics([r.id]) == [] for r in store.runs(big) + store.runs(outside))


def test_resumes_count_against_the_demos_hourly_quota(monkeypatch, tiny_bert_dir, store):
    monkeypatch.setenv("HEADSTART_MODE", "demo")
    monkeypatch.setenv("HEADSTART_MODEL_ROOTS", str(tiny_bert_dir.parent))
    monkeypatch.setenv("HEADSTART_MODEL_ALLOWLIST", str(tiny_bert_dir))
    monkeypatch.setenv("HEADSTART_DEMO_RUNS_PER_HOUR", "3")
    uploads = store.root / "uploads"
    uploads.mkdir()
    pd.DataFrame(topic_rows(240)).to_csv(uploads / "t.csv", index=False)
    exp = launch(tiny_classification_config(tiny_bert_dir, uploads / "t.csv", strategies=["full"]), store, owner="ada")
    run = store.runs(exp)[0].id
    for _ in range(4):  # the dispatcher records a start each time it hands the run to a worker (resumes included)
        store.add_event(run, "started", "worker started on cpu")
    row = execute_run(store, run)
    assert row.status == "failed" and "3 run starts per hour per user (resumes count); 4 started" in row.error
    monkeypatch.setenv("HEADSTART_DEMO_RUNS_PER_HOUR", "100")
    other = launch(tiny_classification_config(tiny_bert_dir, uploads / "t.csv", strategies=["head"]), store, owner="ada")
    store.update_run(store.runs(other)[0].id, status="running")  # another experiment of ada's is training
    store.update_run(run, status="queued")  # and the first one is resumed beside it
    row = execute_run(store, run)
    assert row.status == "failed" and "1 other experiment(s) training in this demo (the cap is 1)" in row.error


def test_a_stale_run_whose_pid_now_names_another_process_is_never_signalled(tmp_path, tiny_bert_dir, topic_csv):
    store = Store(tmp_path / "store")
    exp = launch(tiny_classification_config(tiny_bert_dir, topic_csv, strategies=["full"]), store)
    run = store.runs(exp)[0].id
    bystander = subprocess.Popen(["sleep", "120"], start_new_session=True)  # what the pid names after a restart
    try:
        store.update_run(run, status="running", pid=bystander.pid, proc_started=1.0,  # our worker started long ago
                         heartbeat_at=time.time() - 3600, claimed_at=time.time() - 3600)
        disp = Dispatcher(store.root)
        try:
            disp.reconcile()
        finally:
            disp.close()
        assert store.run(run).status == "queued"  # its worker is gone: queued again to resume (issue 39)
        assert store.run(run).error.startswith("worker process is gone")
        time.sleep(0.5)
        assert bystander.poll() is None  # still running: never signalled
    finally:
        os.killpg(bystander.pid, signal.SIGKILL)
        bystander.wait()


def _spoil_result(bundle: dict, **fields) -> None:
    run = next(r for r in bundle["runs"] if r["result_json"])
    assert run is bundle["runs"][0]
    run["result_json"] = json.dumps({**json.loads(run["result_json"]), **fields})


def test_bundles_are_read_within_caps_and_checked_field_by_field(monkeypatch, store, tmp_path):
    monkeypatch.setenv("HEADSTART_UPLOAD_MAX_MB", "1")
    monkeypatch.setenv("HEADSTART_BUNDLE_MAX_MB", "5")
    bomb = gzip.compress(b'{"format": "' + b"0" * 60_000_000 + b'"}')  # ~60 KB that would expand to 60 MB
    t0 = time.perf_counter()
    with pytest.raises(PolicyError, match="expands beyond the 5 MB a bundle may hold"):
        read_bundle(bomb, name="bomb.json.gz")
    assert time.perf_counter() - t0 < 5
    with pytest.raises(PolicyError, match="over this deployment's 1 MB upload cap"):
        read_bundle(b"x" * 1_500_000, name="big.json")
    exp = make_finished_experiment(store, seeds=(0,), sizes=(50, 200))
    good = export_bundle(store, exp)
    cases = {
        "experiment.config": lambda b: b["experiment"].pop("config"),
        "runs[0].n_train": lambda b: b["runs"][0].update(n_train="many"),
        "runs[0].status": lambda b: b["runs"][0].update(status="running-ish"),
        "runs[0]": lambda b: b["runs"][0].pop("seed"),
        "runs[1].depends_on": lambda b: b["runs"][1].update(depends_on="r-nowhere"),
        "metrics[0]": lambda b: b["metrics"][0].__setitem__(0, "r-nowhere"),
        "events": lambda b: b.update(events={"a": 1}),
        "runs": lambda b: b.update(runs=[]),
        # Issue 28, item 6: fields that went unchecked and raised tracebacks (or SQL) at import, or broke Compare later.
        "runs[0].total_steps": lambda b: b["runs"][0].update(total_steps=2 ** 70),
        "runs[0].lr": lambda b: b["runs"][0].update(lr="fast"),
        "runs[0].created_at": lambda b: b["runs"][0].update(created_at="yesterday"),
        "runs[0].started_at": lambda b: b["runs"][0].update(started_at=[1]),
        "runs[0].error": lambda b: b["runs"][0].update(error={"x": 1}),
        "runs[0].mem_estimate": lambda b: b["runs"][0].update(mem_estimate=-5),
        "runs[1].id": lambda b: b["runs"][1].update(id=b["runs"][0]["id"]),
        "runs[0].result_json": lambda b: b["runs"][0].update(result_json="[1, 2]"),
        "experiment.info.data": lambda b: b["experiment"]["info"].update(data="garbage"),
        "experiment.info.lr_search.full": lambda b: b["experiment"]["info"].update(lr_search={"full": 3}),
        # the second attack: imported, then every report, recommendation and export of the experiment crashed
        "runs[0].result_json.eval": lambda b: _spoil_result(b, eval=[1, 2]),
        "runs[0].result_json.forgetting": lambda b: _spoil_result(b, forgetting="x"),
        "runs[0].result_json.flops": lambda b: _spoil_result(b, flops="lots"),
        "runs[0].result_json.stopped_early": lambda b: _spoil_result(b, stopped_early="no"),
        "experiment.info.lr_search.full.status": lambda b: b["experiment"]["info"].update(
            lr_search={"full": {"status": 5, "label": "full"}}),
    }
    nan_metric = json.loads(json.dumps(good))
    nan_metric["metrics"][0][6] = float("nan")
    with pytest.raises(HeadStartError, match=r"not a Head Start bundle \(JSON expected: .*NaN and Infinity are not"):
        read_bundle(json.dumps(nan_metric).encode(), name="x.json")
    for where, spoil in cases.items():
        bad = json.loads(json.dumps(good))
        spoil(bad)
        with pytest.raises(HeadStartError, match=f"not a valid Head Start bundle: {where.replace('[', '.').replace(']', '.')}"):
            read_bundle(json.dumps(bad).encode(), name="x.json")
    deep = b'{"experiment": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(HeadStartError, match="nested too deeply"):
        read_bundle(deep, name="deep.json")
    path = tmp_path / "good.json.gz"
    write_bundle(good, path)
    assert read_bundle(path)["experiment"]["id"] == exp


def test_reports_and_cli_errors_are_redacted(monkeypatch, tmp_path, tiny_bert_dir, topic_csv, store):
    token = "hf_" + "Zq9x" * 8
    monkeypatch.setenv("HF_TOKEN", token)
    folder = tmp_path / f"shared-{token}"
    folder.mkdir()
    data = folder / "topics.csv"
    data.write_bytes(topic_csv.read_bytes())
    cfg = tiny_classification_config(tiny_bert_dir, data, strategies=["full"])
    cfg.name = f"run for token {token}"
    exp = launch(cfg, store)
    a = analyse(store, exp)
    for text in (html_report(a), markdown_report(a)):
        assert token not in text and "[REDACTED]" in text
    cfg.data.source = str(folder / "missing.csv")
    path = tmp_path / "exp.json"
    cfg.save(path)
    out = subprocess.run([sys.executable, "-m", "training", "enqueue", str(path), "--store", str(store.root)],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "HF_TOKEN": token})
    assert out.returncode == 2 and "not found" in out.stderr and token not in out.stderr
