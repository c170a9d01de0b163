"""The learning-rate search by successive halving: every candidate starts the grid run it may become, the winner at the
rung (by the validation metric) continues as that grid run, a diverging rate stops at once, the plan states the cost
split, and nothing speaks of a choice before the search has ended."""
from __future__ import annotations

import pytest

from training.analysis.report import analyse, search_note
from training.config import BudgetConfig, LRSweepConfig, StrategyConfig
from training.service import lr_search
from training.service.execution import execute_run, run_experiment
from training.service.planning import launch, plan_experiment
from training.testing import tiny_classification_config


def _cfg(tiny_bert_dir, topic_csv, strategies=(StrategyConfig("full"),), **kw):
    return tiny_classification_config(tiny_bert_dir, topic_csv, strategies=list(strategies),
                                      budget=BudgetConfig(policy="steps", steps=12), probes=[], **kw)


def test_the_choice_is_the_primary_metric_with_loss_breaking_ties_and_only_once_every_candidate_ended():
    tried = [{"lr": 1e-4, "status": "done", "val_metric": 0.648, "val_loss": 0.630},
             {"lr": 3e-4, "status": "done", "val_metric": 0.712, "val_loss": 0.661},  # the sentiment CSV
             {"lr": 9e-4, "status": "done", "val_metric": 0.712, "val_loss": 0.700}]
    assert lr_search.choose(tried, higher_is_better=True) == 3e-4  # by accuracy, not by loss; the tie by loss
    assert lr_search.choose(tried, higher_is_better=False) == 1e-4  # perplexity-like: lower wins
    assert lr_search.choose(tried[:2] + [{**tried[2], "status": "running"}], True) is None  # not finished: no choice
    diverged = [{**t, "diverged": t["lr"] == 3e-4} for t in tried]
    assert lr_search.choose(diverged, True) == 9e-4
    assert lr_search.choose([{**t, "status": "failed"} for t in tried], True) is None


def test_readings_the_validation_set_cannot_tell_apart_tie_and_the_loss_decides():
    # scratch at its rung on tweets (500 validation examples, SE ≈ 0.022): the 0.506 led by noise
    tried = [{"lr": 1e-4, "status": "done", "val_metric": 0.504, "val_loss": 0.993, "val_n": 500, "steps": 32},
             {"lr": 3e-4, "status": "done", "val_metric": 0.506, "val_loss": 0.999, "val_n": 500, "steps": 32},
             {"lr": 9e-4, "status": "done", "val_metric": 0.500, "val_loss": 1.058, "val_n": 500, "steps": 32}]
    v = lr_search.judge(tried, higher_is_better=True, proportion=True)  # no default named: the lowest loss
    assert v.chosen["lr"] == 1e-4 and v.undecided.startswith("every rate within one standard error")
    assert v.why["0.0001"] == "won: 2 tied (±0.022, one SE), lowest loss" and v.why["0.0003"].startswith("tied (±0.022")
    v = lr_search.judge(tried, higher_is_better=True, proportion=True, default="0.0003")  # the default, not a reading
    assert v.chosen["lr"] == 3e-4 and v.why["0.0001"].startswith("undecided at the rung: not the default")
    assert lr_search.choose(tried, True) == 3e-4  # a metric that is not a proportion: the reading itself decides
    # three standard errors apart (the sentiment CSV at 94 steps): accuracy decides, not the lower loss
    apart = [{"lr": 1e-4, "status": "done", "val_metric": 0.648, "val_loss": 0.630, "val_n": 500},
             {"lr": 3e-4, "status": "done", "val_metric": 0.712, "val_loss": 0.661, "val_n": 500}]
    v = lr_search.judge(apart, True, proportion=True)
    assert v.chosen["lr"] == 3e-4 and v.why["0.0001"] == "behind the winner on validation" and v.why["0.0003"] == "won"
    # the same two readings on 40 examples (SE 0.072) cannot be told apart
    assert lr_search.choose([{**t, "val_n": 40} for t in apart], True, proportion=True) == 1e-4
    # before the last candidate ends: no choice, and the words say how far each got
    v = lr_search.judge([*apart, {"lr": 9e-4, "status": "running"}], True, proportion=True)
    assert v.chosen is None and v.why["0.0003"] == "reached the rung" and v.why["0.0009"] == "running: not at the rung yet"


def test_a_rung_where_every_rate_is_at_chance_decides_nothing_and_trains_them_on():
    """Issue 38: scratch's three rates on a sentiment CSV read 0.562 / 0.460 / 0.562 after 29 steps against a majority
    class of 0.562 — the search kept 9e-4 by noise and scratch never learned. Such a rung sends every rate on; at the
    last rung the default is kept. A leader clearly above chance with the rest clearly behind decides at once."""
    at_chance = [{"lr": lr, "status": "done", "val_metric": m, "val_loss": loss, "val_n": 500, "val_trivial": 0.562,
                  "rung": 29, "at_rung": True} for lr, m, loss in ((1e-4, 0.562, 0.69), (3e-4, 0.460, 0.70),
                                                                   (9e-4, 0.562, 0.68))]
    v = lr_search.judge(at_chance, True, proportion=True, default="0.0003", final=False)
    assert v.chosen is None and sorted(v.train_on) == ["0.0001", "0.0003", "0.0009"]
    assert v.undecided.startswith("no rate clearly above the majority class (0.562")
    assert all(w.startswith("undecided at step 29") and w.endswith("trains on") for w in v.why.values())
    last = lr_search.judge(at_chance, True, proportion=True, default="0.0003", final=True)
    assert last.chosen["lr"] == 3e-4 and last.why["0.0003"].startswith("kept: the default — still undecided")
    # at the next rung 3e-4 learned (0.712 after 94 steps) and the others did not: decided, without the default's help
    later = [{**t, "rung": 94, "val_metric": m} for t, m in zip(at_chance, (0.570, 0.712, 0.565), strict=True)]
    v = lr_search.judge(later, True, proportion=True, default="0.0003", final=False)
    assert v.chosen["lr"] == 3e-4 and not v.train_on and v.why["0.0001"] == "behind the winner on validation"
    # two tied, one clearly behind: the lower validation loss decides the tie (0.0009's, 0.68)
    tied = [{**t, "val_metric": m} for t, m in zip(later, (0.705, 0.712, 0.60), strict=True)]
    v = lr_search.judge(tied, True, proportion=True, default="0.0003", final=False)
    assert v.chosen["lr"] == 1e-4 and not v.train_on
    # all tied and clearly above chance: nothing tells them apart, the default is kept at once (no training on)
    all_tied = [{**t, "val_metric": m} for t, m in zip(later, (0.705, 0.712, 0.708), strict=True)]
    v = lr_search.judge(all_tied, True, proportion=True, default="0.0003", final=False)
    assert v.chosen["lr"] == 3e-4 and not v.train_on and v.why["0.0003"].startswith("kept: the default — the validation")
    # a candidate left at an earlier rung is named as such and not judged again
    moved = [later[1], {**later[0], "rung": 29}, later[2]]
    v = lr_search.judge(moved, True, proportion=True, default="0.0003")
    assert v.why["0.0001"].startswith("behind at step") and v.chosen["lr"] == 3e-4


def test_the_regularisation_is_searched_with_the_rate_for_own():
    from training.config import StrategyConfig
    from training.core.strategies import get_strategy
    from training.tasks import task_kind

    kind = task_kind("text-classification")
    assert get_strategy(StrategyConfig("own"), kind).search_options() == [{"dropout": 0.1}, {"dropout": 0.3}]
    assert get_strategy(StrategyConfig("own", options={"dropout": 0.2}), kind).search_options() == [{}]
    assert get_strategy(StrategyConfig("scratch"), kind).search_options() == [{}]
    assert lr_search.candidate_name(3e-3, {"dropout": 0.3}) == "0.003, dropout 0.3"
    assert lr_search.rungs(94, 376) == [94, 282, 376] and lr_search.rungs(18, 94) == [18, 54, 94]
    assert lr_search.rungs(12, 12) == [12]


def test_each_seeds_grid_runs_are_planned_longest_first(tiny_bert_dir, topic_csv, store):
    # scratch until its plateau (a 4× cap) at the largest size is the longest run: a worker starts it first, not last
    cfg = _cfg(tiny_bert_dir, topic_csv, strategies=[StrategyConfig("head", lr=1e-2), StrategyConfig("full", lr=1e-4),
                                                     StrategyConfig("scratch", lr=1e-3)], sizes=[20, 40], seeds=[0, 1])
    plan = plan_experiment(cfg, store.cache_dir, store)
    per_example = {k: v["flops_per_example"] for k, v in plan.info["footprint"].items()}
    grid = [r for r in plan.runs if r["role"] == "grid"]
    assert [r["seed"] for r in grid] == [0] * 6 + [1] * 6  # a whole first seed before the second
    work = [r["total_steps"] * per_example[r["strategy"]] for r in grid[:6]]
    assert work == sorted(work, reverse=True) and grid[0]["strategy"] == "scratch" and grid[-1]["strategy"] == "head"
    assert [(r["strategy"], r["n_train"]) for r in grid[:6]] == [(r["strategy"], r["n_train"]) for r in grid[6:]]


def test_the_plan_reports_the_cost_split_and_places_the_rung_within_the_budget(tiny_bert_dir, topic_csv, store):
    cfg = _cfg(tiny_bert_dir, topic_csv, sizes=[20, 40], lr_sweep=LRSweepConfig(lrs={"full": [1e-4, 3e-4, 1e-3]}))
    plan = plan_experiment(cfg, store.cache_dir, store)
    cost, search = plan.info["cost"], plan.info["lr_search"]["full"]
    sweep = [r for r in plan.runs if r["role"] == "lr-sweep"]
    grid = {(r["n_train"], r["seed"]): r for r in plan.runs if r["role"] == "grid"}
    assert search["size"] == 40 and search["seed"] == 0 and search["continued_by"] == grid[40, 0]["id"]
    assert [r["total_steps"] for r in sweep] == [search["rung"]] * 3 and search["rung"] < grid[40, 0]["total_steps"]
    per_step = plan.info["footprint"]["full"]["flops_per_example"] * cfg.train.batch_size
    assert cost["grid_flops"] == pytest.approx(sum(r["total_steps"] for r in grid.values()) * per_step)
    assert cost["search_flops"] == pytest.approx(2 * search["rung"] * per_step)  # the winner's steps belong to the grid
    # the rung is as late as the budget allows, floored to whole steps (or at the earliest rung: 0.2 of the steps)
    assert cost["search_share"] <= 0.25 or search["rung"] == max(1, int(lr_search.RUNG_MIN * 12))
    fixed = _cfg(tiny_bert_dir, topic_csv, sizes=[20, 40], lr_sweep=LRSweepConfig(lrs={"full": [1e-4, 3e-4]}, rung=0.5))
    assert plan_experiment(fixed, store.cache_dir, store).info["lr_search"]["full"]["rung"] == 6


def test_the_budget_is_filled_like_water_a_cheap_strategy_compares_after_its_whole_budget():
    from training.config import ExperimentConfig

    cfg = ExperimentConfig(name="x")
    # per unit of rung share, the losers of scratch and full cost 188, LoRA 132, head 2 (its features are cached)
    shares = lr_search.rung_fractions(cfg, 707.0, {"scratch": 188.0, "full": 188.0, "lora": 132.0, "head": 2.0})
    assert shares["head"] == 1.0 and shares["scratch"] == shares["full"] < shares["lora"] < 1.0
    # head is cheap (its losers cost under 1% of the grid even at its horizon): it compares there, beside the budget
    assert sum(shares[k] * c for k, c in {"scratch": 188.0, "full": 188.0, "lora": 132.0}.items()) \
        == pytest.approx(0.25 * 707.0)
    cheap = lr_search.rung_fractions(cfg, 1e6, {"own": 10.0, "scratch": 5e5}, floors={"own": 1.0, "scratch": 1.0},
                                     caps={"own": 4.0, "scratch": 4.0})
    assert cheap == {"own": 4.0, "scratch": 1.0}  # scratch's floor alone spends the budget; own still goes to its cap
    assert lr_search.rung_fractions(cfg, 10.0, {"a": 100.0}) == {"a": lr_search.RUNG_MIN}  # the floor, over budget
    assert lr_search.rung_fractions(cfg, 1e6, {"a": 100.0, "b": 0.0}) == {"a": 1.0, "b": 1.0}  # within budget: all steps


def test_the_winner_becomes_the_grid_run_exactly_as_if_it_had_trained_at_that_rate(tiny_bert_dir, topic_csv, store):
    """The continued grid run is bit-identical to a grid run trained at the chosen rate from the start."""
    cfg = _cfg(tiny_bert_dir, topic_csv, lr_sweep=LRSweepConfig(lrs={"full": [1e-5, 3e-3]}, rung=0.5))
    exp = run_experiment(cfg, store)
    runs = store.runs(exp)
    assert all(r.status == "done" for r in runs), [r.error for r in runs]
    sweep = [r for r in runs if r.role == "lr-sweep"]
    (grid,) = [r for r in runs if r.role == "grid"]
    rung = sweep[0].total_steps  # 6, or 12 where the tiny validation set could not call either rate above chance
    assert rung in (6, 12) and [r.result["steps"] for r in sweep] == [rung, rung]
    chosen = lr_search.judge_search(store, exp, "full")[0].chosen["lr"]
    assert grid.lr == chosen and grid.result["steps"] == 12
    assert any(e["kind"] == "continued" for e in store.events(grid.id))
    assert not (store.run_dir(sweep[0].id) / "checkpoint").exists()  # the candidates' weights are gone, the grid's kept
    # the same grid run at the chosen rate, trained from its first step
    again = _cfg(tiny_bert_dir, topic_csv, strategies=[StrategyConfig("full", lr=chosen)])
    plain = next(r for r in store.runs(run_experiment(again, store)) if r.role == "grid")
    assert plain.result["eval"] == grid.result["eval"]
    rows = {(m["step"], m["key"]): m["value"] for m in store.metrics([grid.id])}
    plain_rows = {(m["step"], m["key"]): m["value"] for m in store.metrics([plain.id])}
    winner = next(r for r in sweep if r.lr == chosen)
    assert {k: v for k, v in rows.items() if not k[1].startswith("sys/")} == \
        {k: v for k, v in plain_rows.items() if not k[1].startswith("sys/")}
    assert {k for k in rows if k[0] <= rung and not k[1].startswith("eval/")} == \
        {(m["step"], m["key"]) for m in store.metrics([winner.id])}  # the eval set: scored by the grid run alone
    a = analyse(store, exp)
    assert list(a.lr_sweep[a.lr_sweep["chosen"]]["lr"]) == [chosen]
    assert sum(w.startswith(("won", "kept")) for w in a.lr_sweep["stopped"]) == 1
    assert "still running" not in search_note(a) and "(full: step 6 of 12)" in search_note(a)


def test_a_diverging_rate_stops_at_once_and_says_nothing_before_the_search_ends(tiny_bert_dir, topic_csv, store):
    cfg = _cfg(tiny_bert_dir, topic_csv, lr_sweep=LRSweepConfig(lrs={"full": [1e-4, 50.0]}, rung=1.0))
    cfg.optim.grad_clip = None
    cfg.train.evals_per_run = 6
    exp = launch(cfg, store)
    sweep = sorted((r for r in store.runs(exp) if r.role == "lr-sweep"), key=lambda r: r.lr)
    execute_run(store, sweep[0].id)
    a = analyse(store, exp)  # one candidate has ended, the other is queued
    assert not a.lr_sweep["chosen"].any() and "still running" in search_note(a)
    assert not [f for f in a.findings if f["kind"].startswith("search")]
    row = execute_run(store, sweep[1].id)
    assert row.status == "done" and row.result["diverged"] and row.result["steps"] < 12
    assert any(e["kind"] == "diverged" for e in store.events(row.id))
    assert lr_search.choose(lr_search.search_table(store, exp, "full"), True) == 1e-4


def test_ctrl_c_of_a_cli_run_leaves_it_interrupted_and_resumable(tiny_bert_dir, topic_csv, store, monkeypatch):
    from training.core import loop
    from training.service.records import Status

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(_cfg(tiny_bert_dir, topic_csv), store)
    (run,) = store.runs()
    assert run.status == Status.INTERRUPTED and run.status.resumable and "Ctrl-C" in run.error


def test_preflight_counts_the_winners_steps_once_and_says_the_split(tiny_bert_dir, topic_csv, store):
    import pandas as pd

    from training.analysis.preflight import preflight

    cfg = _cfg(tiny_bert_dir, topic_csv, sizes=[20, 40], lr_sweep=LRSweepConfig(lrs={"full": [1e-4, 3e-4, 1e-3]}))
    plan = plan_experiment(cfg, store.cache_dir, store)
    pf = preflight({"runs": plan.runs, "info": plan.info, "config": cfg.to_dict()}, pd.DataFrame(), None)
    assert pf["flops"] == pytest.approx(plan.info["cost"]["grid_flops"] + plan.info["cost"]["search_flops"])
    assert "beyond the runs the grid keeps" in pf["cost"] and f"compared at step {plan.info['lr_search']['full']['rung']} of 12" \
        in pf["cost"]


def test_the_time_estimate_comes_from_timed_steps_of_the_experiments_own_model(tiny_bert_dir, topic_csv, store):
    """Issue 27: the preflight applied the speed of earlier tabular and image runs to a 135M chat model (87 min for
    a run of about 10 h). Planning now times a few steps of the experiment's own model on this machine, and that rate
    wins over other models' history."""
    import pandas as pd

    from training.analysis.preflight import preflight

    cfg = _cfg(tiny_bert_dir, topic_csv, sizes=[20, 40])
    plan = plan_experiment(cfg, store.cache_dir, store)
    timed = plan.info["timed_step"]
    assert timed["strategy"] == "full" and timed["seconds"] > 0 and timed["flops"] > 0
    assert timed["flops_per_s"] == pytest.approx(timed["flops"] / timed["seconds"])
    other_model = pd.DataFrame([{"status": "done", "wall_s": 100.0, "flops": 1e9, "device_name": "cpu (2 cores)"}])
    pf = preflight({"runs": plan.runs, "info": plan.info, "config": cfg.to_dict()}, other_model, "cpu (2 cores)")
    assert pf["estimate_basis"].startswith("from timed training steps of this model (full")
    assert pf["est_s"] == pytest.approx(pf["flops"] / timed["flops_per_s"])
    older = preflight({"runs": plan.runs, "info": {k: v for k, v in plan.info.items() if k != "timed_step"},
                       "config": cfg.to_dict()}, other_model, "cpu (2 cores)")
    assert older["estimate_basis"].startswith("measured on earlier runs")  # a plan made before: history, as before


def test_a_model_too_big_for_the_machine_is_refused_at_plan(tiny_bert_dir, topic_csv, store, tmp_path):
    """Issue 28, item 8: a model config with a hidden size of 10⁶ planned 192,507 GB per run and was accepted."""
    import json
    import shutil

    from training.errors import ConfigError

    huge = tmp_path / "huge-bert"
    shutil.copytree(tiny_bert_dir, huge)
    config = json.loads((huge / "config.json").read_text())
    config.update(hidden_size=2_000_000, num_attention_heads=2, intermediate_size=64)
    (huge / "config.json").write_text(json.dumps(config))
    for weights in huge.glob("*.safetensors"):
        weights.unlink()  # sizing is weightless; a plan must not need them
    cfg = _cfg(tiny_bert_dir, topic_csv)
    cfg.model.base = str(huge)
    with pytest.raises(ConfigError, match=r"needs about [\d,.]+ GB by the estimate .* this machine has"):
        plan_experiment(cfg, store.cache_dir, store)


def test_rates_still_at_chance_train_on_rung_by_rung_and_the_default_is_kept_at_the_last(tiny_bert_dir, topic_csv, store):
    """Issue 38, end to end: candidates that learn nothing (rates far too small) are sent on to every later rung — each
    resumes from its checkpoint, an event says why — and at the last the default is kept; the grid run trains at it."""
    cfg = _cfg(tiny_bert_dir, topic_csv, lr_sweep=LRSweepConfig(lrs={"full": [1e-9, 3e-9, 9e-9]}, rung=0.25))
    plan = plan_experiment(cfg, store.cache_dir, store)
    assert plan.info["lr_search"]["full"]["rungs"] == [3, 9, 12] and plan.info["lr_search"]["full"]["default"] == "3e-09"
    exp = run_experiment(cfg, store)
    runs = store.runs(exp)
    sweep = [r for r in runs if r.role == "lr-sweep"]
    (grid,) = [r for r in runs if r.role == "grid"]
    assert all(r.status == "done" for r in runs), [(r.role, r.status, r.error) for r in runs]
    assert all(r.total_steps == 12 for r in sweep)  # sent on to 9, then to 12: the last rung
    said = [e["message"] for r in sweep for e in store.events(r.id) if e["kind"] == "search"]
    assert len(said) == 6 and all("no rate clearly above the majority class" in m for m in said)
    assert any(e["kind"] == "resumed" for r in sweep for e in store.events(r.id))
    assert grid.lr == 3e-9
    a = analyse(store, exp)
    kept = a.lr_sweep[a.lr_sweep["chosen"]]
    assert list(kept["lr"]) == [3e-9] and kept["stopped"].iloc[0].startswith("kept: the default — still undecided")


def test_own_searches_its_dropout_with_its_rate_and_a_bundle_keeps_which_setting_each_candidate_had(
        tiny_bert_dir, topic_csv, store, tmp_path):
    """own's candidates are (rate, dropout) pairs; the grid trains at the chosen pair, and an imported bundle (new run
    ids) still shows each candidate's setting and one winner (the attack of 2026-12-07 found them lost on import)."""
    from training.service.bundle import export_bundle, import_bundle, read_bundle, write_bundle
    from training.service.store import Store

    cfg = _cfg(tiny_bert_dir, topic_csv, strategies=[StrategyConfig("own")], lr_sweep=LRSweepConfig(rung=0.5))
    exp = run_experiment(cfg, store)
    a = analyse(store, exp)
    table = a.lr_sweep
    assert sorted(table["settings"]) == ["dropout 0.1"] * 3 + ["dropout 0.3"] * 3 and table["chosen"].sum() == 1
    (grid,) = [r for r in store.runs(exp) if r.role == "grid"]
    won = table[table["chosen"]].iloc[0]
    assert grid.lr == won["lr"] and grid.result["options"] == {"dropout": float(won["settings"].split()[-1])}
    path = tmp_path / "own.json.gz"
    write_bundle(export_bundle(store, exp), path)
    other = Store(tmp_path / "other")
    again = analyse(other, import_bundle(other, read_bundle(path))).lr_sweep
    assert list(again["settings"]) == list(table["settings"]) and list(again["chosen"]) == list(table["chosen"])
