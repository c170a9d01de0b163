"""training/analysis: frames, intervals, Pareto frontier, tables, figures and the verdict."""
import math

import pandas as pd
import pytest

from training.analysis.figures import curves_figure, data_needs_figure, forgetting_figure, probe_figure, tradeoff_figure
from training.analysis.frames import latest_progress, metrics_frame, references_frame, runs_frame
from training.analysis.pareto import dominated, pareto_frontier
from training.analysis.stats import mean_interval, summarise
from training.analysis.tables import compute_table, forgetting_table, overfitting_table
from training.analysis.verdict import conclude
from training.testing import make_finished_experiment


def test_mean_interval_matches_a_hand_computation():
    mean, lo, hi, n = mean_interval([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert hi - mean == pytest.approx(4.303 * 1.0 / math.sqrt(3))  # t(2) = 4.303, sd = 1
    one = mean_interval([0.5])
    assert one[0] == 0.5 and math.isnan(one[1]) and math.isnan(one[2])  # one seed: no interval, never a point


def test_pareto_frontier_and_dominated_set_on_hand_made_points():
    # (forgetting, accuracy): lower forgetting and higher accuracy are better
    pts = [(0.0, 0.60), (0.05, 0.70), (0.10, 0.72), (0.08, 0.65), (0.20, 0.71), (0.0, 0.55), (0.30, 0.80)]
    assert pareto_frontier(pts) == [0, 1, 2, 6]
    assert dominated(pts) == {3: [1], 4: [2], 5: [0]}
    assert pareto_frontier([(1.0, 2.0), (1.0, 2.0)]) == [0]
    # minimising y (e.g. perplexity): the frontier flips on that axis
    assert pareto_frontier([(0.0, 10.0), (0.1, 8.0), (0.2, 9.0)], maximize_y=False) == [0, 1]


@pytest.fixture
def finished(store):
    exp = make_finished_experiment(store)
    runs = runs_frame(store, exp)
    return runs[runs["role"] == "grid"], metrics_frame(store, exp), references_frame(store, exp)


def test_frames_tables_and_figures_from_a_finished_experiment(finished):
    runs, metrics, _ = finished
    assert len(runs) == 36 and set(runs["status"]) == {"done"}
    summary = summarise(runs, "eval_accuracy")
    assert len(summary) == 12 and (summary["seeds"] == 3).all()
    compute = compute_table(runs, price_per_hour=3.6)
    assert compute.loc[compute["strategy"] == "full", "cost"].iloc[0] == pytest.approx(20.0 / 3600 * 3.6)
    assert math.isnan(compute["mfu"].iloc[0]) and compute["gpu_seconds"].isna().all()  # CPU runs: not applicable
    fg = forgetting_table(runs)
    assert fg.loc[(fg["strategy"] == "head"), "forgetting"].max() == 0.0
    assert overfitting_table(metrics)["overfitting"].sum() == 0
    figs = [data_needs_figure(summary, "accuracy"), curves_figure(metrics, x="flops"),
            probe_figure(metrics, "probe/retrieval_r1", 0.55), forgetting_figure(fg),
            tradeoff_figure(runs, "eval_accuracy", "accuracy", True)]
    assert all(f.to_dict()["data"] for f in figs)
    assert {t.name for t in figs[0].data if t.showlegend is not False} == {"scratch", "full", "lora", "head"}
    progress = latest_progress(runs, metrics)
    assert (progress["progress"] == 1.0).all()


def _loss_rows(run_id: str, pairs) -> list[dict]:
    rows = []
    for step, (tr, ev) in enumerate(pairs, start=1):
        rows += [{"run_id": run_id, "strategy": "head", "n_train": 64, "seed": 0, "step": step * 5, "examples": 0,
                  "wall_s": 0, "flops": 0, "key": key, "value": v} for key, v in (("train/loss", tr), ("val/loss", ev))]
    return rows


def test_overfitting_is_judged_at_every_evaluation():
    memorising = _loss_rows("mem", [(2.0, 2.0), (1.0, 1.5), (0.5, 1.6), (0.2, 1.9)])
    # the quick demo's head run at N=64 before this check existed: train 0.739, eval 1.669 at its only evaluation
    gap = _loss_rows("gap", [(1.9, 2.0), (1.3, 1.8), (0.95, 1.7), (0.739, 1.669)])
    healthy = _loss_rows("ok", [(2.0, 2.1), (1.5, 1.6), (1.2, 1.3), (1.0, 1.1)])
    t = overfitting_table(pd.DataFrame(memorising + gap + healthy)).set_index("run_id")
    assert t.loc["mem", "overfitting"] and "rose" in t.loc["mem", "why"] and t.loc["mem", "gap"] == pytest.approx(1.7)
    assert t.loc["gap", "overfitting"] and "2.3× training loss" in t.loc["gap", "why"]
    assert not t.loc["ok", "overfitting"]


def test_verdict_renders_the_decision_with_every_number_a_cell(finished):
    runs, _, refs = finished
    summary = summarise(runs, "eval_accuracy", bounded=True)
    text, decided, facts, _ = conclude(runs, refs, summary, "accuracy", True, compute_table(runs), forgetting_table(runs))
    joined = " ".join(text)
    small = decided.sizes[0]
    assert small.best == "full" and small.cell("scratch").relation == "below the best"
    assert "At N=50, full reaches accuracy 0.450" in joined and "full is clearly better" in joined
    assert "The best strategy's lead over scratch: +0.200 at N=50" in joined  # numbers, no judgement of its own
    assert "head" in joined and "forgets" in joined and "scratch forgets" not in joined  # scratch never had the skill
    for number in ("0.450", "0.250"):  # every number in the text is a table cell
        assert any(f"{v:.3f}" == number for v in facts["metric"])


def test_overlapping_seeds_are_undecided_and_one_seed_says_where_its_interval_comes_from():
    rows = [{"run_id": f"{s}{k}", "strategy": s, "n_train": 100, "seed": k, "status": "done", "eval_accuracy": a,
             "eval_examples": 300} for s, accs in (("scratch", (0.40, 0.55, 0.50)), ("full", (0.45, 0.62, 0.52)))
            for k, a in enumerate(accs)]
    runs = pd.DataFrame(rows)
    text, decided, _, findings = conclude(runs, None, summarise(runs, "eval_accuracy", bounded=True), "accuracy", True)
    assert decided.sizes[0].undecided == ["scratch"] and "too close or too noisy to tell apart" in " ".join(text)
    assert any(f["kind"] == "wide" and f["strategy"] == "scratch" for f in findings)
    one = runs[runs["seed"] == 0]
    text, _, _, _ = conclude(one, None, summarise(one, "eval_accuracy", bounded=True), "accuracy", True)
    assert text[0].startswith("One seed per cell: each cell's interval below is the eval set's sampling noise")
    assert "assume a typical seed-to-seed spread, not measured here" in text[0]


def test_cost_to_target_says_in_words_which_seeds_reached_it_and_how_near_the_others_came():
    """Issue 27: a cell none of whose seeds reached the target read "0/1" beside a row of "—"."""
    from training.analysis.cost import cost_to_target
    from training.analysis.units import readable

    runs = pd.DataFrame([{"run_id": f"{s}{i}", "strategy": s, "n_train": 100, "seed": i, "status": "done",
                          "device_name": "cpu (2 cores)", "peak_mem_bytes": 1e9} for s in ("full", "scratch") for i in (0, 1)])
    metrics = pd.DataFrame([{"run_id": r.run_id, "step": step, "examples": step * 16, "wall_s": step * 2.0,
                             "flops": step * 1e11, "key": "val/accuracy",
                             "value": acc if r.strategy == "full" else acc / 2 + 0.01 * r.seed}
                            for r in runs.itertuples() for step, acc in enumerate([0.2, 0.6, 0.8])])
    table = cost_to_target(runs, metrics, "val/accuracy", 0.7, True, price_per_hour=3.6)
    shown = readable(table, {"best_val": "best validation accuracy"}).set_index("strategy")
    assert shown.loc["full", "seeds reached"] == "2 of 2 seeds"
    assert shown.loc["scratch", "seeds reached"] == "not reached (0 of 2 seeds)"
    assert shown.loc["scratch", "best validation accuracy"] == "0.405"  # mean of each seed's best: 0.40 and 0.41
    assert shown.loc["full", "cost"] == "< $0.01" and shown.loc["scratch", "cost"] == "—"
    one = readable(cost_to_target(runs[runs["seed"] == 0], metrics, "val/accuracy", 0.7, True)).set_index("strategy")
    assert one.loc["scratch", "seeds reached"] == "not reached (0 of 1 seed)"


def test_readable_names_every_column_in_words():
    """Issue 27: raw names (`val_accuracy`, `n_train`, `metric_low`, `retrieval_r1`) and 4-decimal floats on screen."""
    from training.analysis.units import readable

    raw = pd.DataFrame({"n_train": [1000], "val_accuracy": [0.74312], "metric_low": [0.6512], "retrieval_r1": [0.51234],
                        "probe/knn_accuracy": [0.7], "train_loss": [0.18634], "best_val_loss": [0.8], "rouge_l": [0.3771],
                        "cost": [0.0741]})
    shown = readable(raw)
    assert list(shown.columns) == ["N (training examples)", "validation accuracy", "95% low",
                                   "general language understanding", "general topic understanding", "training loss",
                                   "best validation loss", "ROUGE-L", "cost"]
    assert shown.iloc[0].tolist() == ["1,000", "0.743", "0.651", "0.512", "0.700", "0.186", "0.800", "0.377", "$0.07"]


def test_the_default_cost_target_is_one_a_strategy_reaches(store):
    """Issue 27: "Cost to reach accuracy 0.508" had every row "0/1": the default target came from the eval set, while
    reaching it is read off validation during training. It now comes from the validation readings themselves."""
    from training.analysis.report import analyse, default_target
    from training.testing import make_finished_experiment

    exp = make_finished_experiment(store)
    a = analyse(store, exp)
    assert a.target == pytest.approx(default_target(a.metrics, a.metric, a.higher_is_better))
    assert not a.to_target.empty and not a.to_target["reached"].str.startswith("0/").all()


def test_a_files_source_is_shown_by_its_name():
    """The report's header showed the server's upload path (/…/store/uploads/<hash>/shop_products.csv)."""
    from training.analysis.units import shown_source

    assert shown_source("/srv/store/uploads/3f2a/shop_products.csv") == "shop_products.csv"
    assert shown_source(r"C:\data\wine.csv") == "wine.csv"
    assert shown_source("builtin:tweet-sentiment") == "builtin:tweet-sentiment"
    assert shown_source("hf:stanfordnlp/imdb") == "hf:stanfordnlp/imdb"


def test_a_confusion_matrix_of_number_like_labels_draws_categories():
    """Issue 41, item 5: classes "0"…"4" (or star ratings) as numbers put a confusion matrix's ticks at −0.4…0.4."""
    import pandas as pd

    from training.analysis.figures import confusion_figure

    matrix = pd.DataFrame([[3, 1], [0, 4]], index=["1", "5"], columns=["1", "5"])
    fig = confusion_figure(matrix, "t")
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "category"
    assert list(fig.data[0].x) == ["1", "5"] and list(fig.data[0].y) == ["1", "5"]
