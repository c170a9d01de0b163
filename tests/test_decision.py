"""Decision analytics: cost to a target, the LR sweep, pretraining cost (where scratch catches up: test_forecast)."""
import math

import pandas as pd
import pytest

from training.analysis.cost import cost_to_target, pretraining_cost, with_pretraining
from training.analysis.report import analyse
from training.analysis.tables import compute_table
from training.config import BudgetConfig, LRSweepConfig, StrategyConfig
from training.service.execution import run_experiment
from training.testing import tiny_classification_config


def _curve_frames():
    runs = pd.DataFrame([{"run_id": f"r{s}{i}", "strategy": s, "strategy_name": s, "n_train": 100, "seed": i,
                          "status": "done", "device_name": "cpu (2 cores)", "peak_mem_bytes": 1e9, "wall_s": 10.0,
                          "flops": 1e12, "trainable_params": 10} for s in ("scratch", "full") for i in range(2)])
    rows = []
    for r in runs.itertuples():
        for step, acc in enumerate([0.2, 0.4, 0.6, 0.8] if r.strategy == "full" else [0.2, 0.3, 0.4, 0.5]):
            rows.append({"run_id": r.run_id, "strategy": r.strategy, "n_train": 100, "seed": r.seed, "step": step * 10,
                         "examples": step * 160, "wall_s": step * 2.0, "flops": step * 1e11, "key": "val/accuracy",
                         "value": acc})
    return runs, pd.DataFrame(rows)


def test_cost_to_reach_a_target():
    runs, metrics = _curve_frames()
    t = cost_to_target(runs, metrics, "val/accuracy", 0.6, True, price_per_hour=3.6).set_index("strategy")
    assert t.loc["full", "reached"] == "2/2" and t.loc["full", "examples"] == 320 and t.loc["full", "flops"] == 2e11
    assert t.loc["full", "cost"] == pytest.approx(4.0 / 3600 * 3.6)
    assert t.loc["scratch", "reached"] == "0/2" and math.isnan(t.loc["scratch", "flops"])


def test_pretraining_cost_in_full_and_amortised():
    runs, _ = _curve_frames()
    all_runs = pd.concat([runs.assign(role="grid"), pd.DataFrame([{"run_id": "p", "strategy": "pretrain", "role": "pretrain",
                                                                    "status": "done", "flops": 8e12, "wall_s": 80.0}])])
    pre = pretraining_cost(all_runs, runs)
    assert pre["users"] == 2 and pre["amortised_flops"] == 4e12
    t = with_pretraining(compute_table(runs), pre, runs).set_index("strategy")
    assert t.loc["full", "flops_with_pretraining"] == 1e12 + 8e12 and t.loc["full", "flops_amortised"] == 1e12 + 4e12
    assert t.loc["scratch", "flops_with_pretraining"] == 1e12  # scratch does not start from the pretrained base


def test_lr_search_runs_first_the_grid_uses_the_best_rate_and_a_later_experiment_reuses_it(tiny_bert_dir, topic_csv,
                                                                                            store):
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=[StrategyConfig("full"),
                                                                            StrategyConfig("head", lr=1e-2)],
                                     budget=BudgetConfig(policy="steps", steps=8),
                                     lr_sweep=LRSweepConfig(lrs={"full": [1e-6, 3e-3]}, size=40))
    exp = run_experiment(cfg, store)
    runs = store.runs(exp)
    sweep = [r for r in runs if r.role == "lr-sweep"]
    assert [(r.strategy, r.lr) for r in sweep] == [("full", 1e-6), ("full", 3e-3)]  # head has an explicit lr
    assert all(r.status == "done" for r in runs), [r.error for r in runs]
    a = analyse(store, exp)
    chosen = a.lr_sweep[a.lr_sweep["chosen"]]
    assert list(chosen["lr"]) == [3e-3]
    grid_full = a.runs[a.runs["strategy"] == "full"]
    assert list(grid_full["lr"]) == [3e-3] and "lr-sweep" not in set(a.runs["role"])
    assert set(a.lr_sweep["search"]) == {"searched in this experiment"}
    assert a.info["lr_source"] == {"full": "searched", "head": "fixed"}
    # the same data, model, strategy and search settings, more sizes: no search runs, the same rate
    cfg.sizes = [20, 40]
    again = run_experiment(cfg, store)
    runs = store.runs(again)
    assert not [r for r in runs if r.role == "lr-sweep"]
    assert {r.lr for r in runs if r.role == "grid" and r.strategy == "full"} == {3e-3}
    b = analyse(store, again)
    assert set(b.lr_sweep["search"]) == {f"reused from experiment {exp}"}
    assert list(b.lr_sweep[b.lr_sweep["chosen"]]["lr"]) == [3e-3]
    # a different candidate grid is a different search
    cfg.lr_sweep = LRSweepConfig(lrs={"full": [1e-5, 3e-3]}, size=40)
    assert [r.lr for r in launch_runs(cfg, store) if r.role == "lr-sweep"] == [1e-5, 3e-3]


def launch_runs(cfg, store):
    from training.service.planning import launch

    return store.runs(launch(cfg, store))


@pytest.mark.parametrize("preset", ["quick", "sentiment-cpu"])
def test_the_app_ships_the_quick_demos_learning_rate_search(store, monkeypatch, preset):
    """The quick demo must fit 3 CPU minutes, so its search is stored with the app: planning it queues no search runs,
    and every strategy's rate comes from the stored search, not from a default."""
    from training.presets import get_preset
    from training.service.planning import plan_experiment

    plan = plan_experiment(get_preset(preset), store.cache_dir, store)
    assert not [r for r in plan.runs if r["role"] == "lr-sweep"]
    assert set(plan.info["lr_source"].values()) == {"searched"}
    assert {s["status"] for s in plan.info["lr_search"].values()} == {"stored"}
    assert all(r["lr"] == plan.info["lr_search"][r["strategy"]]["chosen"] for r in plan.runs if r["role"] == "grid")
