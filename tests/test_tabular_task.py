"""The tabular task kinds end to end: only scratch applies (and the app says why), each run refits its preprocessing
on its own training rows, the trees / linear / trivial references run at every size, regression is scored by RMSE
and R² with regression wording in the verdict, and a network no better than the training mean is a failed check."""
import numpy as np
import pandas as pd
import pytest

from training.analysis.report import analyse, markdown_report, r2_table
from training.analysis.results import EXPORT_COLUMNS, run_rows
from training.config import StrategyConfig
from training.core.strategies import get_strategy
from training.errors import ConfigError
from training.service.execution import run_experiment
from training.service.planning import plan_experiment
from training.service.records import Role, Status
from training.tasks import task_kind
from training.testing import tabular_rows, tiny_tabular_config


@pytest.fixture
def table_csv(tmp_path):
    def write(task: str) -> object:
        path = tmp_path / f"{task}.csv"
        pd.DataFrame(tabular_rows(400, task=task)).to_csv(path, index=False)
        return path
    return write


@pytest.mark.parametrize("name", ["full", "lora", "head", "freeze", "discriminative", "lp-ft"])
def test_only_scratch_applies_to_a_table_and_the_refusal_says_why(name):
    with pytest.raises(ConfigError, match="no pretrained model exists for your table"):
        get_strategy(StrategyConfig(name), task_kind("tabular-regression"))
    assert get_strategy(StrategyConfig("scratch"), task_kind("tabular-classification")).lr == 1e-3


def test_another_base_model_is_refused_for_a_table():
    with pytest.raises(ConfigError, match="tabular tasks train builtin:mlp"):
        task_kind("tabular-classification").resolve_base("builtin:minilm-l6")


def test_each_run_fits_its_preprocessing_on_its_own_training_rows(table_csv, tmp_path):
    from training.tasks import prepare_task_data

    cfg = tiny_tabular_config(table_csv("tabular-regression"), "tabular-regression")
    kind = task_kind(cfg.task)
    data = prepare_task_data(cfg.data, cfg.task, kind.load_processor(None, cfg.model), 0, tmp_path)
    small, val_small, _, inputs_small = kind.run_parts(data, cfg, 40, 0)
    large, val_large, _, inputs_large = kind.run_parts(data, cfg, 120, 0)
    table = data.extra["table"]
    pool = data.extra["indices"][0]
    rows = pool[data.subset_indices(cfg.data, 40, 0)]
    y = table.target[rows]
    assert inputs_small["target_mean"] == pytest.approx(float(np.mean(y)))  # the subset's target, not the pool's
    assert inputs_small["target_mean"] != pytest.approx(inputs_large["target_mean"])
    assert len(small) == 40 and len(large) == 120
    assert not np.allclose(val_small.features, val_large.features)  # validation transformed by each run's own fit


def test_planning_sizes_the_mlp_and_queues_the_references(table_csv, tmp_path):
    cfg = tiny_tabular_config(table_csv("tabular-classification"))
    plan = plan_experiment(cfg, tmp_path)
    roles = [r["role"] for r in plan.runs]
    assert roles.count("reference") == 1 and roles.count("grid") == 2
    fp = plan.info["footprint"]["scratch"]
    assert fp["flops_per_example"] > 0 and fp["params"] > 0 and fp["memory"]["total"] > 0


def test_a_tabular_classification_experiment_runs_beside_trees(table_csv, store):
    cfg = tiny_tabular_config(table_csv("tabular-classification"))
    exp = run_experiment(cfg, store)
    runs = store.runs(exp)
    assert {r.status for r in runs} == {Status.DONE}, [r.error for r in runs]
    ref = next(r for r in runs if r.role == Role.REFERENCE).result["references"]
    assert {r["reference"] for r in ref} == {"majority", "linear", "gbdt"}
    assert {r["n_train"] for r in ref} == {40, 120}
    gbdt = {r["n_train"]: r["accuracy"] for r in ref if r["reference"] == "gbdt"}
    majority = {r["n_train"]: r["accuracy"] for r in ref if r["reference"] == "majority"}
    assert gbdt[120] > majority[120]
    a = analyse(store, exp)
    assert a.metric == "accuracy" and any("gradient-boosted trees" in s for s in a.verdict)
    assert "Classical references, candidates like any strategy" in " ".join(a.verdict)
    for size in a.recommendation.sizes:  # the recommendation and the verdict's sentence render one relation
        trees = size.cell("reference: gradient-boosted trees (scikit-learn)")
        said = "the best of every candidate" if trees.relation == "best" else trees.relation
        assert said in " ".join(a.verdict)
        # a candidate like any strategy: recommended where it is the cheapest of what cannot be told from the best
        # (a classical model before any network; trees after the linear model, which fits faster)
        if size.recommended == trees.strategy:
            assert trees.relation in ("best", "as good", "undecided")
        elif trees.relation in ("best", "as good"):
            assert size.recommended_kind == "reference"


def test_a_tabular_regression_experiment_reports_rmse_and_r2(table_csv, store):
    cfg = tiny_tabular_config(table_csv("tabular-regression"), "tabular-regression")
    cfg.budget.steps = 60
    exp = run_experiment(cfg, store)
    runs = store.runs(exp)
    assert {r.status for r in runs} == {Status.DONE}, [r.error for r in runs]
    grid = [r for r in runs if r.role == Role.GRID]
    for r in grid:
        ev = r.result["eval"]
        assert {"rmse", "mae", "r2", "loss"} <= set(ev) and ev["rmse"] > 0
    ref = next(r for r in runs if r.role == Role.REFERENCE).result["references"]
    assert {r["reference"] for r in ref} == {"mean", "linear", "gbdt"}
    a = analyse(store, exp)
    assert a.metric == "rmse" and not a.higher_is_better
    report = markdown_report(a)
    assert "rmse" in report and "training mean" in report
    # R² is promised for regression: in the report, as its own table, and in the export (issue 27).
    assert "## R² (share of the target's variance explained)" in report
    r2 = r2_table(a)
    assert set(r2["strategy"]) == {"scratch"} and r2["R²"].between(-10, 1).all()
    rows = run_rows(store, exp)
    assert all(isinstance(r["eval_r2"], float) and isinstance(r["eval_mae"], float) for r in rows if r["role"] == "grid")
    assert {"eval_r2", "eval_mae", "eval_r2_best"} <= set(EXPORT_COLUMNS)


def test_a_network_no_better_than_the_training_mean_is_a_failed_check(table_csv, store):
    cfg = tiny_tabular_config(table_csv("tabular-regression"), "tabular-regression")
    cfg.strategies = [StrategyConfig("scratch", lr=1e-9, until_plateau=False)]  # learns nothing
    exp = run_experiment(cfg, store)
    a = analyse(store, exp)
    failed = [f for f in a.findings if f["severity"] == "failure" and "training mean" in f["message"]]
    assert failed and "no conclusion is drawn" in " ".join(a.verdict)
