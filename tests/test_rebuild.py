"""`gallery/rebuild.py`: a record longer than one CPU slot is rebuilt over several — a store that holds the recipe's
unfinished experiment (its process killed mid-run) is carried on from its checkpoints, not started again, and the
bundle says so."""
import gzip
import json

from training.config import BudgetConfig, ProbeConfig, SpeedConfig, StrategyConfig
from training.service.records import Status
from training.service.store import Store
from training.testing import tiny_classification_config


def test_a_killed_rebuild_is_carried_on_from_its_store(tmp_path, monkeypatch, tiny_bert_dir, topic_csv):
    from gallery import rebuild as rb
    from training.service.execution import execute_run
    from training.service.planning import launch

    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=[StrategyConfig("full", lr=1e-3),
                                                                            StrategyConfig("head", lr=1e-2)],
                                     sizes=[20, 60], seeds=[0], budget=BudgetConfig(policy="steps", steps=6),
                                     probes=[ProbeConfig(kind="none")], speed=SpeedConfig(device="cpu", num_threads=1))
    cfg.save(tmp_path / "tiny.yaml")
    recipe = {"preset": str(tmp_path / "tiny.yaml"), "set": [], "name": "tiny record"}
    monkeypatch.setitem(rb.RECORDS, "tiny", recipe)
    store_dir = tmp_path / "store"
    # the first attempt: started (its provenance written), one run finished, one killed mid-run, the rest queued
    store = Store(store_dir)
    started = rb.provenance("tiny", recipe)
    (store_dir / "rebuild-tiny.json").write_text(json.dumps(started))
    exp = launch(rb.config_of(recipe), store)
    grid = [r for r in store.runs(exp) if r.role == "grid"]
    execute_run(store, grid[0].id)
    store.update_run(grid[1].id, status=Status.RUNNING, pid=999_999_999)  # its process is gone
    assert store.run(grid[0].id).status == Status.DONE

    out = rb.rebuild("tiny", tmp_path / "tiny.json.gz", store_dir)
    assert [e.id for e in Store(store_dir).experiments()] == [exp]  # carried on, not started again
    doc = json.load(gzip.open(out))
    runs = doc["runs"]
    assert {r["status"] for r in runs} == {"done"} and len(runs) == len(store.runs(exp))
    made = doc["experiment"]["info"]["recorded_with"]
    assert made["continued"] is True and made["recorded_at"] == started["recorded_at"]
    assert rb.check(out) == []  # per-example outcomes on every grid run, the recipe's config
