"""Every scored run and every reference row stores each eval example's outcome ("eval items"), in the eval set's own
order — the same in every run of an experiment — and its headline metric is reproduced from them: what the analysis'
paired bootstrap between two strategies resamples. One tiny experiment per task kind, run once for the module; the
items travel in bundles, stay out of the CSV export, and bundles from before them (the gallery's) still import."""
from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest

from training.__main__ import main
from training.analysis.frames import (
    REFERENCE_COLUMNS,
    RUN_COLUMNS,
    at_checkpoint,
    metrics_frame,
    references_frame,
    runs_frame,
)
from training.config import StrategyConfig
from training.errors import HeadStartError
from training.service.bundle import export_bundle, gallery_bundles, import_bundle, read_bundle, write_bundle
from training.service.execution import run_experiment
from training.service.records import Role, Status
from training.service.store import Store
from training.testing import make_finished_experiment, tiny_kind_configs

KINDS = ["text-classification", "image-classification", "tabular-classification", "tabular-regression", "causal-lm",
         "chat"]


@pytest.fixture(scope="module")
def experiments(tmp_path_factory, tiny_bert_dir, tiny_gpt2_dir, tiny_chat_dir) -> tuple[Store, dict[str, str]]:
    """One finished tiny experiment per task kind in one store (about 15 s on 2 cores): two strategies where the kind
    has them (text: scratch and head-only, whose eval set is cached features in plain order), references on."""
    root = tmp_path_factory.mktemp("eval-items")
    configs = tiny_kind_configs(root, tiny_bert_dir, tiny_gpt2_dir, tiny_chat_dir, table_rows=400, probes=[])
    configs["text-classification"].strategies = [StrategyConfig("scratch"), StrategyConfig("head")]
    configs["chat"].strategies = [StrategyConfig("scratch"), StrategyConfig("full")]
    configs["chat"].train.generations = 0
    store = Store(root / "store")
    return store, {task: run_experiment(cfg, store) for task, cfg in configs.items()}


def from_items(items: dict) -> tuple[str, float]:
    """The headline metric recomputed from eval items: (its name, its value)."""
    if "nll" in items:
        return "perplexity", math.exp(sum(items["nll"]) / sum(items["tokens"]))
    y, p = np.asarray(items["y_true"]), np.asarray(items["y_pred"])
    if y.dtype.kind == "f" or p.dtype.kind == "f":
        return "rmse", math.sqrt(float(np.mean((y - p) ** 2)))
    return "accuracy", float(np.mean(y == p))


def assert_reproduces(items: dict, metrics: dict, n: int) -> None:
    assert {len(v) for v in items.values()} == {n}
    name, value = from_items(items)
    assert value == pytest.approx(metrics[name], rel=1e-6, abs=1e-12), name


def paired_part(items: dict) -> list:
    """What must be the same example by example in every run and reference of an experiment."""
    return items["tokens"] if "tokens" in items else items["y_true"]


@pytest.mark.parametrize("task", KINDS)
def test_every_run_and_reference_stores_eval_items_that_reproduce_its_metric(experiments, task):
    store, exps = experiments
    runs = store.runs(exps[task])
    grid = [r for r in runs if r.role == Role.GRID]
    assert grid and {r.status for r in grid} == {Status.DONE}, [r.error for r in grid]
    paired = []
    for r in grid:
        res = r.result
        items = res["eval_items"]
        assert set(items) in ({"end"}, {"end", "best"})
        assert_reproduces(items["end"], res["eval"], res["eval_examples"])
        if "best" in items:  # scored apart from the end only where the best checkpoint is not the last weights
            assert res["best_step"] < res["steps"]
            assert_reproduces(items["best"], res["eval_best"], res["eval_examples"])
        else:
            assert res["eval_best"] == res["eval"]
        paired.append(paired_part(items["end"]))
    refs = [row for r in runs if r.role == Role.REFERENCE for row in r.result["references"]]
    assert bool(refs) == (task not in ("causal-lm", "chat"))  # language models have no classical reference
    for row in refs:
        assert_reproduces(row["items"], row, row["eval_examples"])
        paired.append(paired_part(row["items"]))
    for other in paired[1:]:  # the same eval examples in the same order: pairing is valid
        assert other == pytest.approx(paired[0], rel=1e-6)

    frame = runs_frame(store, exps[task])
    assert list(frame.columns) == RUN_COLUMNS
    by_id = {r.id: r.result["eval_items"] for r in grid}
    for row in frame[frame["role"] == "grid"].itertuples():
        assert row.eval_items == by_id[row.run_id]["end"]
        assert row.best_items == by_id[row.run_id].get("best", by_id[row.run_id]["end"])
    table = references_frame(store, exps[task])
    assert list(table.columns) == REFERENCE_COLUMNS
    assert table["items"].tolist() == [row["items"] for row in refs]


def test_at_checkpoint_swaps_in_the_best_checkpoints_items_where_it_swaps_its_metrics(store):
    exp = make_finished_experiment(store, seeds=(0,), sizes=(50, 200))
    grid = [r for r in store.runs(exp) if r.role == Role.GRID]
    end, best = {"y_true": [0, 1, 1], "y_pred": [0, 0, 1]}, {"y_true": [0, 1, 1], "y_pred": [0, 1, 1]}
    for i, r in enumerate(grid):  # every other run scored a best checkpoint apart from its end
        res = r.result
        if i % 2:
            res.update(eval_best={**res["eval"], "accuracy": 1.0}, best_step=20, eval_items={"end": end, "best": best})
        else:
            res.update(eval_items={"end": end})
        store.update_run(r.id, result=res)
    runs = runs_frame(store, exp)
    scored = runs["role"] == "grid"
    assert runs.loc[scored, "eval_items"].tolist() == [end] * len(grid)
    assert runs.loc[scored, "best_items"].tolist() == [end if i % 2 == 0 else best for i in range(len(grid))]
    assert runs.loc[~scored, "eval_items"].isna().all()  # the references and the search runs store none
    pd.testing.assert_frame_equal(at_checkpoint(runs, "end"), runs)
    for checkpoint in ("best", "final"):
        out = at_checkpoint(runs, checkpoint, metrics_frame(store, exp))
        swapped = out["checkpoint"] == "best"
        assert (out.loc[swapped & scored, "eval_accuracy"] == out.loc[swapped & scored, "best_accuracy"]).all()
        assert out.loc[swapped & scored, "eval_items"].tolist() == out.loc[swapped & scored, "best_items"].tolist()
        assert out.loc[~swapped & scored, "eval_items"].tolist() == [end] * int((~swapped & scored).sum())
    assert (at_checkpoint(runs, "best")["eval_items"][scored] == runs["best_items"][scored]).all()


def test_a_bundle_carries_the_items_and_the_csv_export_leaves_them_out(experiments, tmp_path, capsys):
    store, exps = experiments
    other = Store(tmp_path / "other")
    for task in ("text-classification", "tabular-regression", "causal-lm"):
        path = tmp_path / f"{task}.json.gz"
        write_bundle(export_bundle(store, exps[task]), path)
        copy = import_bundle(other, read_bundle(path))
        a, b = runs_frame(store, exps[task]), runs_frame(other, copy)
        for column in ("eval_items", "best_items"):
            assert a[column].tolist() == b[column].tolist() and a[column].notna().any()
        assert references_frame(store, exps[task])["items"].tolist() == references_frame(other, copy)["items"].tolist()
    assert main(["export", exps["text-classification"], "--store", str(store.root), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "y_true" not in out and "items" not in out.splitlines()[0]
    assert max(len(line) for line in out.splitlines()) < 1000  # no per-example arrays in a cell


def test_bundles_from_before_the_items_still_import_and_bad_items_are_refused(experiments, store, tmp_path):
    paths = gallery_bundles()
    assert paths
    for path in paths:  # records from before the items (no `recorded_with`) and rebuilt ones (items on every run)
        bundle = read_bundle(path)
        rebuilt = "recorded_with" in bundle["experiment"]["info"]
        exp = import_bundle(store, bundle)
        runs = runs_frame(store, exp)
        grid = runs[(runs["role"] == "grid") & (runs["status"] == "done")]
        if rebuilt:
            refs = references_frame(store, exp)
            assert grid["eval_items"].notna().all() and not grid.empty
            assert refs.empty or refs["items"].notna().all()
        else:
            assert runs["eval_items"].isna().all() and runs["best_items"].isna().all()
            assert references_frame(store, exp)["items"].isna().all()
        assert len(at_checkpoint(runs, "final", metrics_frame(store, exp))) == len(runs)
    source, exps = experiments
    bundle = export_bundle(source, exps["tabular-classification"])
    run = next(r for r in bundle["runs"] if r["role"] == "grid")
    result = json.loads(run["result_json"])
    result["eval_items"]["end"]["y_pred"].pop()  # one prediction short of the eval set
    run["result_json"] = json.dumps(result)
    with pytest.raises(HeadStartError, match=r"eval_items\.end must be y_true and y_pred"):
        read_bundle(gzip.compress(json.dumps(bundle).encode()))
