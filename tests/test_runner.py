"""Runs that outlive the browser: dispatcher, worker processes, liveness, cancel, resume, OOM, Ray, fairness — each on
both store backends (SQLite, and PostgreSQL on a server the tests start)."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.analysis.results import run_rows
from training.config import BudgetConfig, ExperimentConfig, ProbeConfig, SpeedConfig, StrategyConfig, TrainConfig
from training.service.execution import execute_run
from training.service.planning import launch
from training.service.processes import death_words
from training.service.runner import Dispatcher, lock_name
from training.service.store import Store
from training.testing import tiny_classification_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("backend")  # every test here runs on SQLite and on PostgreSQL


def _long_config(tiny_bert_dir, topic_csv, strategies, steps=300):
    return tiny_classification_config(
        tiny_bert_dir, topic_csv, strategies=[StrategyConfig(s, lr=1e-3, until_plateau=False) for s in strategies],
        budget=BudgetConfig(policy="steps", steps=steps),
        train=TrainConfig(batch_size=8, eval_every=50, checkpoint_every=25),
        probes=[ProbeConfig(kind="none")], speed=SpeedConfig(device="cpu", num_threads=1))


def _dispatcher(store_root, slots=4, *extra):
    return subprocess.Popen([sys.executable, "-m", "training", "worker", "--store", str(store_root), "--devices", "cpu",
                             "--slots-per-device", str(slots), *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait(predicate, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _steps_by_key(store, run_id):
    out = {}
    for m in store.metrics([run_id]):
        out.setdefault(m["key"], []).append(m["step"])
    return out


def test_a_second_dispatcher_exits_with_a_clear_message(tmp_path):
    first = Dispatcher(tmp_path / "store")
    second = subprocess.run([sys.executable, "-m", "training", "worker", "--store", str(tmp_path / "store"),
                             "--devices", "cpu"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert second.returncode == 2
    assert f"a dispatcher (pid {os.getpid()}) already serves" in second.stderr
    first.close()
    third = Dispatcher(tmp_path / "store")  # the lock is free again once the first one is gone
    third.close()


@pytest.mark.slow
def test_a_killed_worker_is_retried_by_the_living_dispatcher_and_resumes_from_its_checkpoint(tmp_path, tiny_bert_dir,
                                                                                               topic_csv):
    """Issue 39: a worker killed with -9 stayed `interrupted` while its dispatcher lived (only a restart resumed it).
    Two runs side by side: the victim and one other (each strategy's own training is tested in test_strategies; here a
    worker process dies). 200 steps leave ~175 to go when the first checkpoint (step 25) is seen."""
    store = Store(tmp_path / "store")
    exp = launch(_long_config(tiny_bert_dir, topic_csv, ["full", "lora"], steps=200), store)
    victim = store.runs(exp)[0].id
    disp = _dispatcher(store.root, slots=2)
    try:
        _wait(lambda: (store.run_dir(victim) / "checkpoint" / "state.pt").exists(), 240, "a first checkpoint")
        row = store.run(victim)
        assert row.status == "running" and row.pid
        os.kill(row.pid, signal.SIGKILL)
        _wait(lambda: "requeued" in [e["kind"] for e in store.events(victim)], 15, "the killed run to be re-queued")
        _wait(lambda: all(r.status == "done" for r in store.runs(exp)), 400, "both runs to finish")
        assert disp.poll() is None  # the same dispatcher: never restarted
    finally:
        _stop(disp)
    events = store.events(victim)
    died = next(e for e in events if e["kind"] == "interrupted")
    assert re.fullmatch(r"worker killed by signal 9 \(SIGKILL\) at step \d+; retrying from its last checkpoint \(1 of 2\)",
                        died["message"]), died["message"]
    kinds = [e["kind"] for e in events]
    assert kinds.index("interrupted") < kinds.index("requeued") < kinds.index("resumed")
    assert kinds.count("started") == 2 and store.run(victim).attempts == 2 and store.run(victim).error is None
    steps = _steps_by_key(store, victim)
    assert steps["val/loss"] == [0, 50, 100, 150, 200]  # no duplicate and no missing step
    assert steps["train/loss"] == [50, 100, 150, 200]
    assert steps["eval/loss"] == [200]  # the eval set is scored once, at the end


@pytest.mark.slow
def test_a_run_whose_worker_always_dies_fails_after_the_retries_with_the_reason(tmp_path, tiny_bert_dir, topic_csv):
    """Every worker the run gets is killed (-9) as soon as it is seen: 2 retries (HEADSTART_WORKER_RETRIES' default),
    then `failed` with how its worker died and what to do — never a loop, and the dispatcher lives on."""
    store = Store(tmp_path / "store")
    exp = launch(_long_config(tiny_bert_dir, topic_csv, ["full"], steps=200), store)
    rid = store.runs(exp)[0].id
    killed = []
    disp = _dispatcher(store.root, slots=1)
    try:
        deadline = time.time() + 180
        while store.run(rid).status != "failed":
            assert time.time() < deadline, f"still {store.run(rid).status} after killing {len(killed)} workers"
            row = store.run(rid)
            if row.status == "running" and row.pid and row.pid not in killed:
                os.kill(row.pid, signal.SIGKILL)
                killed.append(row.pid)
            time.sleep(0.1)
        time.sleep(2)  # a few more ticks: it stays failed, nothing starts it again
        assert disp.poll() is None
    finally:
        _stop(disp)
    row = store.run(rid)
    assert row.status == "failed" and len(killed) == 3 and row.attempts == 3
    assert row.error.startswith("worker killed by signal 9 (SIGKILL)"), row.error
    assert "after 2 retries from its last checkpoint" in row.error and f"runs/{rid}/worker.log" in row.error
    assert "Resume run on Live" in row.error
    kinds = [e["kind"] for e in store.events(rid)]
    assert kinds.count("requeued") == 2 and kinds.count("started") == 3 and kinds[-1] == "failed"
    assert [r["status"] for r in run_rows(store, exp)] == ["failed"]


@pytest.mark.slow
def test_dispatcher_death_leaves_workers_running_and_a_new_one_adopts_them(tmp_path, tiny_bert_dir, topic_csv):
    # The dispatcher dies as soon as both workers are claimed (~1 s: they are still starting up, seconds before
    # their first step), so 100 steps are enough for the new dispatcher to find them running.
    store = Store(tmp_path / "store")
    exp = launch(_long_config(tiny_bert_dir, topic_csv, ["full", "lora"], steps=100), store)
    ids = [r.id for r in store.runs(exp)]
    disp = _dispatcher(store.root, slots=2)
    _wait(lambda: all(store.run(r).status == "running" and store.run(r).pid for r in ids), 120, "two workers")
    os.killpg(disp.pid, signal.SIGKILL)
    disp.wait()
    pids = {r: store.run(r).pid for r in ids}
    lock = store.root / lock_name(store)
    disp = _dispatcher(store.root, slots=2)
    try:
        _wait(lambda: lock.read_text().strip() == str(disp.pid), 60, "the new dispatcher to take the lock")
        assert all(store.run(r).status == "running" for r in ids)  # it found them still running: adopted, not done
        _wait(lambda: all(store.run(r).status == "done" for r in ids), 400, "both runs to finish")
    finally:
        _stop(disp)
    for r in ids:
        row = store.run(r)
        assert row.attempts == 1 and row.pid == pids[r]  # adopted, never started twice
        assert [e["kind"] for e in store.events(r)].count("started") == 1
        assert _steps_by_key(store, r)["val/loss"][-1] == 100


@pytest.mark.slow
def test_cancel_a_running_run(tmp_path, tiny_bert_dir, topic_csv):
    store = Store(tmp_path / "store")
    exp = launch(_long_config(tiny_bert_dir, topic_csv, ["full"], steps=2000), store)
    run_id = store.runs(exp)[0].id
    disp = _dispatcher(store.root, slots=1)
    try:
        _wait(lambda: store.metrics([run_id]), 120, "the run to start training")
        store.request_cancel(run_id)
        t0 = time.time()
        _wait(lambda: store.run(run_id).status == "cancelled", 10, "a graceful cancel")
        print(f"cancelled after {time.time() - t0:.1f} s")
    finally:
        _stop(disp)
    assert (store.run_dir(run_id) / "checkpoint" / "trainable.safetensors").is_file()
    assert store.run(run_id).error.startswith("cancelled at step")


def test_out_of_memory_retries_at_half_the_micro_batch(tiny_bert_dir, topic_csv, tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=[StrategyConfig("full", lr=1e-3)],
                                     budget=BudgetConfig(policy="steps", steps=6), train=TrainConfig(batch_size=8))
    # Reference: the same run planned with micro-batch 2 × 4 accumulation steps from the start
    # (dropout draws depend on the micro-batch shape, so that is the curve a retry must reproduce).
    ref_cfg = ExperimentConfig.from_dict(dict(cfg.to_dict(), train={"batch_size": 8, "micro_batch_size": 2}))
    ref = launch(ref_cfg, store)
    assert execute_run(store, store.runs(ref)[0].id).status == "done"
    monkeypatch.setattr("training.core.loop._OOM_ABOVE", 2)
    exp = launch(cfg, store)
    run_id = store.runs(exp)[0].id
    row = execute_run(store, run_id)
    assert row.status == "done" and row.micro_batch_size == 2
    logged = [(row["step"], key) for line in (store.run_dir(run_id) / "metrics.jsonl").read_text().splitlines()
              for row in [json.loads(line)] for key in row if "/" in key]
    assert len(logged) == len(set(logged))  # retries before the first checkpoint left no second copy of step 0
    events = [e for e in store.events(run_id) if e["kind"] == "oom_retry"]
    assert [e["message"].split(";")[0] for e in events] == ["out of memory at micro-batch 8", "out of memory at micro-batch 4"]
    assert "effective batch 8" in events[-1]["message"]
    curves = ("val/", "eval/", "train/")
    got = {(m["step"], m["key"]): m["value"] for m in store.metrics([run_id]) if m["key"].startswith(curves)}
    want = {(m["step"], m["key"]): m["value"] for m in store.metrics(exp_id=ref) if m["key"].startswith(curves)}
    assert got == pytest.approx(want, rel=1e-6)  # same effective batch: the same curve

    monkeypatch.setattr("training.core.loop._OOM_ABOVE", -1)  # every micro-batch fails, down to 1
    exp = launch(cfg, store)
    row = execute_run(store, store.runs(exp)[0].id)
    assert row.status == "failed" and "out of memory even at micro-batch 1" in row.error
    assert "max_length" in row.error and "lora" in row.error


WRITER = """import sys
from training.service.store import Store
store = Store(sys.argv[1])
for step in range({n}):
    store.log_metrics(sys.argv[2], step, step * 8, float(step), float(step), {{f"k{{i}}": step * 0.5 for i in range(5)}})
"""


def test_eight_concurrent_writers_lose_no_rows(tmp_path):
    """Eight processes write a run's metrics each, at once, into one store (on PostgreSQL too: they inherit its URL).
    Each imports the store alone, not this module's training imports (torch): 8 × 2 s of start-up on 2 cores."""
    store = Store(tmp_path / "store")
    cfg = ExperimentConfig(name="writers", sizes=[10], seeds=[0])
    exp = store.create_experiment(cfg, [{"strategy": "full", "n_train": 10, "seed": i, "total_steps": 1} for i in range(8)])
    ids = [r.id for r in store.runs(exp)]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER.format(n=150), str(store.root), rid], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for rid in ids]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for e in errors if e]
    assert store.count_metrics() == 8 * 150 * 5


class FakeExecutor:
    def __init__(self):
        self.started = []

    def start(self, run_id, device):
        self.started.append(run_id)
        return 0

    def finished(self):
        return {}

    def owns(self, run_id):
        return run_id in self.started


def test_fairness_fifo_round_robin_and_owner_cap(tmp_path):
    store = Store(tmp_path / "store")
    cfg = ExperimentConfig(name="fair", sizes=[10], seeds=[0])

    def exp(owner, n):
        e = store.create_experiment(cfg, [{"strategy": f"s{i}", "n_train": 10, "seed": 0, "total_steps": 1}
                                          for i in range(n)], owner=owner)
        return [r.id for r in store.runs(e)]

    alice1, alice2, bob = exp("alice", 3), exp("alice", 2), exp("bob", 2)
    d = Dispatcher(store.root, devices=["cpu"], slots_per_device=4, owner_cap=2)
    d.exec = FakeExecutor()
    d.schedule()
    # round-robin across owners; FIFO within an experiment; at most 2 concurrent runs per owner
    assert d.exec.started == [alice1[0], bob[0], alice1[1], bob[1]]
    for rid in d.exec.started[:2]:
        store.update_run(rid, status="done")
    d.schedule()
    assert d.exec.started[4:] == [alice1[2]]  # bob has nothing left; alice at her cap of 2 again
    assert store.run(alice2[0]).status == "queued"


def test_dependent_runs_wait_for_their_pretraining_run(tmp_path):
    store = Store(tmp_path / "store")
    cfg = ExperimentConfig(name="dep", sizes=[10], seeds=[0])
    e = store.create_experiment(cfg, [{"id": "rpre", "strategy": "pretrain", "role": "pretrain", "n_train": 10, "seed": 0},
                                      {"strategy": "full", "n_train": 10, "seed": 0, "depends_on": "rpre"}])
    d = Dispatcher(store.root, devices=["cpu"], slots_per_device=4)
    d.exec = FakeExecutor()
    d.schedule()
    assert d.exec.started == ["rpre"]
    store.update_run("rpre", status="failed")
    d.schedule()
    child = store.runs(e)[1]
    assert child.status == "failed" and "pretraining run rpre failed" in child.error


def test_grid_runs_wait_for_their_whole_lr_sweep(tmp_path):
    store = Store(tmp_path / "store")
    cfg = ExperimentConfig(name="sweep", sizes=[10], seeds=[0])
    sweep = [{"id": f"rs{i}", "strategy": "full", "role": "lr-sweep", "lr": lr, "n_train": 10, "seed": 0}
             for i, lr in enumerate((3e-5, 1e-4))]
    e = store.create_experiment(cfg, sweep + [{"id": "rg", "strategy": "full", "n_train": 10, "seed": 0,
                                                "depends_on": "rs0,rs1"}])
    d = Dispatcher(store.root, devices=["cpu"], slots_per_device=4)
    d.exec = FakeExecutor()
    d.schedule()
    assert d.exec.started == ["rs0", "rs1"]
    store.update_run("rs0", status="failed")  # a diverging learning rate is an expected sweep outcome
    d.schedule()
    assert store.run("rg").status == "queued"  # rs1 still running
    store.update_run("rs1", status="done")
    d.schedule()
    assert d.exec.started == ["rs0", "rs1", "rg"]
    assert len(store.runs(e)) == 3


@pytest.mark.slow
def test_ray_executor_gives_the_same_rows_as_the_local_executor(tmp_path, tiny_bert_dir, topic_csv):
    pytest.importorskip("ray")
    cfg = _long_config(tiny_bert_dir, topic_csv, ["scratch", "full"], steps=12)
    results = {}
    for executor in ("local", "ray"):
        store = Store(tmp_path / executor)
        exp = launch(cfg, store)
        Dispatcher(store.root, devices=["cpu"], slots_per_device=2, executor=executor, poll_s=0.2).serve(until_idle=True)
        rows = run_rows(store, exp)
        assert all(r["status"] == "done" for r in rows), (executor, [(r["status"], r["error"]) for r in rows])
        results[executor] = {(r["strategy"], r["seed"]): (r["eval_metric"], r["eval_loss"], r["steps"], r["flops"])
                             for r in rows}
        if executor == "ray":
            assert all(r.device.startswith("ray:") for r in store.runs(exp))
    assert results["ray"] == results["local"]


class DyingExecutor(FakeExecutor):
    """Every worker it starts dies before its next tick, with exit `code` (-9: a kill -9)."""

    def __init__(self, code=-signal.SIGKILL):
        super().__init__()
        self.code, self.alive = code, set()

    def start(self, run_id, device):
        self.alive.add(run_id)
        return super().start(run_id, device)

    def finished(self):
        done = {r: self.code for r in self.alive}
        self.alive.clear()
        return done

    def owns(self, run_id):
        return run_id in self.alive

    def close(self):
        pass


def _dying_dispatcher(store, code=-signal.SIGKILL, **kw):
    d = Dispatcher(store.root, devices=["cpu"], slots_per_device=4, **kw)
    d.exec.close()
    d.exec = DyingExecutor(code)
    return d


def test_deaths_are_retried_up_to_the_setting_then_failed_and_a_cancelled_run_is_not_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADSTART_WORKER_RETRIES", "1")
    store = Store(tmp_path / "store")
    cfg = ExperimentConfig(name="dying", sizes=[10], seeds=[0])
    store.create_experiment(cfg, [{"id": f"r{i}", "strategy": "full", "n_train": 10, "seed": i, "total_steps": 300}
                                  for i in range(2)])
    d = _dying_dispatcher(store)
    try:
        assert d.worker_retries == 1
        d.schedule()
        store.log_metrics("r0", 120, 960, 1.0, 1.0, {"train/loss": 0.5})
        store.request_cancel("r1")  # the user stops r1; its worker dies before it could
        d.tick()
        r0, r1 = store.run("r0"), store.run("r1")
        assert r0.status == "running" and r0.attempts == 2  # re-queued and started again in the same tick
        died = [e for e in store.events("r0") if e["kind"] == "interrupted"]
        assert died[0]["message"] == "worker killed by signal 9 (SIGKILL) at step 120; retrying from its last checkpoint (1 of 1)"
        assert r1.status == "cancelled" and r1.attempts == 1 and "cancelled: worker killed by signal 9" in r1.error
        d.tick()
        r0 = store.run("r0")
        assert r0.status == "failed" and r0.attempts == 2
        assert r0.error.startswith("worker killed by signal 9 (SIGKILL) at step 120, after 1 retries from its last "
                                   "checkpoint (its worker died each time). Something outside it stopped it")
        for _ in range(3):
            d.tick()
        assert d.exec.started == ["r0", "r1", "r0"]  # failed and cancelled stay so: no loop
        store.requeue("r0")  # Resume run on Live: the count starts again
        d.tick()
        d.tick()
        assert store.run("r0").status == "running" and store.run("r0").attempts == 4  # retried again after its death
        assert "(1 of 1)" in [e for e in store.events("r0") if e["kind"] == "interrupted"][-1]["message"]
    finally:
        d.close()


def test_a_dead_search_candidate_is_retried_then_fails_and_the_grid_goes_on(tmp_path):
    """Issue 39: a learning-rate search candidate killed with -9 stayed interrupted, and the grid run waited for it."""
    store = Store(tmp_path / "store")
    cfg = ExperimentConfig(name="sweep", sizes=[10], seeds=[0])
    sweep = [{"id": f"rs{i}", "strategy": "full", "role": "lr-sweep", "lr": lr, "n_train": 10, "seed": 0}
             for i, lr in enumerate((3e-5, 1e-4))]
    store.create_experiment(cfg, sweep + [{"id": "rg", "strategy": "full", "n_train": 10, "seed": 0,
                                           "depends_on": "rs0,rs1"}])
    d = _dying_dispatcher(store, worker_retries=2)
    try:
        d.schedule()
        store.update_run("rs0", status="done")  # one rate reached the rung; rs1's workers keep dying
        d.exec.alive.discard("rs0")
        for _ in range(2):
            d.tick()
            assert store.run("rs1").status == "running" and store.run("rg").status == "queued"
        d.tick()
        assert store.run("rs1").status == "failed" and "after 2 retries" in store.run("rs1").error
        assert d.exec.started[-1] == "rg"  # its sweep has ended: the grid run starts
    finally:
        d.close()


def test_an_out_of_memory_kill_is_told_from_a_kill_and_a_crash(tmp_path, monkeypatch):
    from training.service import runner

    store = Store(tmp_path / "store")
    cfg = ExperimentConfig(name="oom", sizes=[10], seeds=[0])
    store.create_experiment(cfg, [{"id": "r0", "strategy": "full", "n_train": 10, "seed": 0, "total_steps": 300}])
    kills = iter(range(100))
    monkeypatch.setattr(runner, "oom_kills", lambda: next(kills))  # the kernel's OOM killer acts between reads
    d = _dying_dispatcher(store, worker_retries=0)
    try:
        d.schedule()
        d.tick()
        row = store.run("r0")
        assert row.status == "failed" and "out-of-memory killer" in row.error and "Give it more memory" in row.error
        assert "not retried (HEADSTART_WORKER_RETRIES is 0)" in row.error
    finally:
        d.close()


@pytest.mark.parametrize("code, oom, words", [
    (-9, False, "worker killed by signal 9 (SIGKILL)"),
    (-9, True, "worker killed by signal 9 (SIGKILL) while the system's out-of-memory killer was at work: it most "
               "likely ran out of memory"),
    (-15, True, "worker killed by signal 15 (SIGTERM)"),
    (-11, False, "worker crashed (signal 11, SIGSEGV)"),
    (-6, False, "worker crashed (signal 6, SIGABRT)"),
    (1, False, "worker exited with code 1 before finishing"),
    (None, False, "worker process is gone")])
def test_how_a_worker_died_in_words(code, oom, words):
    assert death_words(code, oom) == words
