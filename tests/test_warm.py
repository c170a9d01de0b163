"""The warm starter: CPU workers forked from one process that imported torch once behave like fresh-interpreter
workers — their own session and pid in the store, their exit code seen by the dispatcher (a kill -9 included), and a
starter that dies leaves the dispatcher starting workers the old way."""
import os
import signal
import time

import psutil
import pytest

from training.config import BudgetConfig, ProbeConfig, SpeedConfig, StrategyConfig, TrainConfig
from training.service.planning import launch
from training.service.runner import Dispatcher
from training.service.store import Store
from training.testing import tiny_classification_config

pytestmark = pytest.mark.usefixtures("backend")  # forked workers open their own connections: SQLite and PostgreSQL


def _config(tiny_bert_dir, topic_csv, strategies, steps):
    return tiny_classification_config(
        tiny_bert_dir, topic_csv, strategies=[StrategyConfig(s, lr=1e-3, until_plateau=False) for s in strategies],
        budget=BudgetConfig(policy="steps", steps=steps),
        train=TrainConfig(batch_size=8, eval_every=50, checkpoint_every=25),
        probes=[ProbeConfig(kind="none")], speed=SpeedConfig(device="cpu", num_threads=1))


def _tick_until(d, predicate, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        d.tick()
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.slow
def test_forked_workers_train_and_a_killed_one_is_seen_by_its_exit_code(tmp_path, tiny_bert_dir, topic_csv):
    store = Store(tmp_path / "store")
    exp = launch(_config(tiny_bert_dir, topic_csv, ["full", "lora"], steps=400), store)
    victim, other = [r.id for r in store.runs(exp)]
    d = Dispatcher(store.root, devices=["cpu"], slots_per_device=2, warm=True, poll_s=0.2)
    starter = d.exec.starter
    try:
        _tick_until(d, lambda: all(store.run(r).pid for r in (victim, other)), 120, "two forked workers")
        for r in (victim, other):
            proc = psutil.Process(store.run(r).pid)
            assert proc.ppid() == starter.proc.pid  # forked by the starter, not a fresh interpreter of ours
            assert os.getsid(proc.pid) == proc.pid  # in its own session: the dispatcher's kill reaches its group
            assert d.exec.owns(r) and r not in d.exec.children
        _tick_until(d, lambda: (store.run_dir(victim) / "checkpoint" / "state.pt").exists(), 120, "a checkpoint")
        os.kill(store.run(victim).pid, signal.SIGKILL)
        died = _tick_until(d, lambda: [e["message"] for e in store.events(victim) if e["kind"] == "interrupted"], 15,
                           "the interrupt")
        assert died[0].startswith("worker killed by signal 9 (SIGKILL) at step ")  # and retried (issue 39)
        _tick_until(d, lambda: store.run(other).status == "done" and store.run(victim).status == "done", 400,
                    "both runs")
        assert "Traceback" not in (store.run_dir(other) / "worker.log").read_text()
    finally:
        d.close()
    assert starter.proc.wait(timeout=10) == 0  # the starter ends with its dispatcher
    log = (store.root / "logs" / "warm-starter.log").read_text()
    assert "imports done" in log and "skipped" not in log, log


@pytest.mark.slow
def test_a_dead_starter_leaves_fresh_interpreters(tmp_path, tiny_bert_dir, topic_csv):
    store = Store(tmp_path / "store")
    exp = launch(_config(tiny_bert_dir, topic_csv, ["full"], steps=20), store)
    d = Dispatcher(store.root, devices=["cpu"], slots_per_device=1, warm=True, poll_s=0.2)
    try:
        d.exec.starter.proc.kill()
        d.exec.starter.proc.wait()
        run = store.runs(exp)[0].id
        _tick_until(d, lambda: store.run(run).status == "done", 300, "the run, started the old way")
        assert run not in d.exec.starter.running
        _tick_until(d, lambda: not d.exec.children, 30, "the fresh interpreter to be reaped")
    finally:
        d.close()
