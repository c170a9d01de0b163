"""The loop: resume continues the same curve; the same config and seed give the same metrics."""
import json

import pytest

from training.config import BudgetConfig, StrategyConfig, TrainConfig
from training.core.control import NullControl
from training.service.execution import execute_run
from training.service.planning import launch
from training.testing import tiny_classification_config, tiny_lm_config


class CrashAt(NullControl):
    """Simulates a worker dying: raises from inside the step loop after `step` steps."""

    def __init__(self, step):
        self.step, self.seen = step, 0

    def beat(self):
        self.seen += 1
        if self.seen == self.step:
            raise RuntimeError("simulated crash")


class CancelAt(NullControl):
    def __init__(self, step):
        self.step, self.seen = step, 0

    def beat(self):
        self.seen += 1

    def should_stop(self):
        return self.seen >= self.step


def _values(store, exp_id):
    return {(r["step"], r["key"]): r["value"] for r in store.metrics(exp_id=exp_id) if r["key"] != "sys/peak_mem_bytes"}


def _cfg(kind, tiny_bert_dir, tiny_gpt2_dir, topic_csv, code_jsonl, strategy):
    train = TrainConfig(batch_size=8 if kind == "cls" else 4, eval_every=4, checkpoint_every=3)
    budget = BudgetConfig(policy="steps", steps=12)
    sc = StrategyConfig(strategy, lr=1e-3)
    if kind == "cls":
        return tiny_classification_config(tiny_bert_dir, topic_csv, strategies=[sc], train=train, budget=budget)
    return tiny_lm_config(tiny_gpt2_dir, code_jsonl[1], strategies=[sc], train=train, budget=budget)


@pytest.mark.parametrize("kind, strategy", [("cls", "full"), ("cls", "lp-ft"), ("lm", "lora"), ("cls", "head")])
def test_resume_after_a_crash_continues_the_same_curve(kind, strategy, tiny_bert_dir, tiny_gpt2_dir, topic_csv,
                                                      code_jsonl, store):
    cfg = _cfg(kind, tiny_bert_dir, tiny_gpt2_dir, topic_csv, code_jsonl, strategy)
    ref = launch(cfg, store)
    assert execute_run(store, store.runs(ref)[0].id).status == "done"

    exp = launch(cfg, store)
    run_id = store.runs(exp)[0].id
    crashed = execute_run(store, run_id, CrashAt(9))  # last checkpoint at step 6, metrics logged to step 8
    assert crashed.status == "failed" and "simulated crash" in crashed.error
    assert max(step for step, _ in _values(store, exp)) == 8
    resumed = execute_run(store, run_id)
    assert resumed.status == "done"
    kinds = [e["kind"] for e in store.events(run_id)]
    assert "resumed" in kinds and set(kinds[kinds.index("resumed") + 1:]) <= {"phase"}  # then only Live's phase labels
    got, want = _values(store, exp), _values(store, ref)
    assert got.keys() == want.keys()  # no duplicate and no missing step
    assert got == pytest.approx(want, rel=1e-6)
    pairs = [(row["step"], key) for line in (store.run_dir(run_id) / "metrics.jsonl").read_text().splitlines()
             for row in [json.loads(line)] for key in row if "/" in key]
    assert len(pairs) == len(set(pairs))  # the on-disk copy was truncated too


def test_cancel_checkpoints_and_resume_finishes(tiny_bert_dir, tiny_gpt2_dir, topic_csv, code_jsonl, store):
    cfg = _cfg("cls", tiny_bert_dir, tiny_gpt2_dir, topic_csv, code_jsonl, "lora")
    exp = launch(cfg, store)
    run_id = store.runs(exp)[0].id
    row = execute_run(store, run_id, CancelAt(5))
    assert row.status == "cancelled"
    assert (store.run_dir(run_id) / "checkpoint" / "trainable.safetensors").is_file()
    assert execute_run(store, run_id).status == "done"
    assert (store.run_dir(run_id) / "checkpoint" / "adapter" / "adapter_config.json").is_file()


def test_same_config_and_seed_give_the_same_metrics_twice(tiny_bert_dir, topic_csv, store):
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=["scratch", "lora"])
    a, b = launch(cfg, store), launch(cfg, store)
    for exp in (a, b):
        for r in store.runs(exp):
            assert execute_run(store, r.id).status == "done"

    def per_run(exp):  # keyed by the run's place in the grid: run ids are random, so is their order in the store
        where = {r.id: (r.strategy, r.n_train, r.seed) for r in store.runs(exp)}
        return {(where[m["run_id"]], m["step"], m["key"]): m["value"] for m in store.metrics(exp_id=exp)
                if m["key"] != "sys/peak_mem_bytes"}

    va, vb = per_run(a), per_run(b)
    assert {k[0][0] for k in va} == {"scratch", "lora"}
    assert va == vb
