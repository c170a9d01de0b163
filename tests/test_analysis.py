"""training/analysis: frames, intervals, Pareto frontier, tables, figures and the verdict."""
import math

import pandas as pd
import pytest

from training.analysis.figures import curves_figure, data_needs_figure, forgetting_figure, probe_figure, tradeoff_figure
from training.analysis.frames import latest_progress, metrics_frame, runs_frame
from training.analysis.pareto import dominated, pareto_frontier
from training.analysis.stats import clearly_different, mean_interval, summarise
from training.analysis.tables import compute_table, forgetting_table, overfitting_table
from training.analysis.verdict import verdict
from training.testing import make_finished_experiment


def test_mean_interval_matches_a_hand_computation():
    mean, lo, hi, n = mean_interval([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert hi - mean == pytest.approx(4.303 * 1.0 / math.sqrt(3))  # t(2) = 4.303, sd = 1
    assert mean_interval([0.5]) == (0.5, 0.5, 0.5, 1)


def test_pareto_frontier_and_dominated_set_on_hand_made_points():
    # (forgetting, accuracy): lower forgetting and higher accuracy are better
    pts = [(0.0, 0.60), (0.05, 0.70), (0.10, 0.72), (0.08, 0.65), (0.20, 0.71), (0.0, 0.55), (0.30, 0.80)]
    assert pareto_frontier(pts) == [0, 1, 2, 6]
    assert dominated(pts) == {3: [1], 4: [2], 5: [0]}
    assert pareto_frontier([(1.0, 2.0), (1.0, 2.0)]) == [0]
    # minimising y (e.g. perplexity): the frontier flips on that axis
    assert pareto_frontier([(0.0, 10.0), (0.1, 8.0), (0.2, 9.0)], maximize_y=False) == [0, 1]


def test_clear_differences_need_separated_intervals_and_two_seeds():
    a = {"mean": 0.6, "low": 0.55, "high": 0.65, "seeds": 3}
    assert clearly_different(a, {"mean": 0.4, "low": 0.35, "high": 0.45, "seeds": 3})
    assert not clearly_different(a, {"mean": 0.58, "low": 0.50, "high": 0.62, "seeds": 3})
    assert not clearly_different({**a, "seeds": 1}, {"mean": 0.1, "low": 0.1, "high": 0.1, "seeds": 1})


@pytest.fixture
def finished(store):
    exp = make_finished_experiment(store)
    runs = runs_frame(store, exp)
    return runs[runs["role"] == "grid"], metrics_frame(store, exp)


def test_frames_tables_and_figures_from_a_finished_experiment(finished):
    runs, metrics = finished
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


def test_verdict_names_the_winner_when_intervals_separate(finished):
    runs, _ = finished
    text, table = verdict(summarise(runs, "eval_accuracy"), compute_table(runs), forgetting_table(runs), "accuracy", True)
    joined = " ".join(text)
    assert "At N=50, full reaches accuracy 0.450" in joined and "full wins" in joined
    assert "narrows" in joined
    assert "head" in joined and "forgets" in joined
    for number in ("0.450", "0.250"):  # every number in the text is a table cell
        assert any(f"{v:.3f}" == number for v in table["metric"])


def test_verdict_says_no_clear_difference_when_intervals_overlap():
    summary = pd.DataFrame([
        {"strategy": "scratch", "n_train": 100, "mean": 0.50, "low": 0.40, "high": 0.60, "seeds": 3},
        {"strategy": "full", "n_train": 100, "mean": 0.55, "low": 0.45, "high": 0.65, "seeds": 3},
    ])
    text, _ = verdict(summary, pd.DataFrame(), pd.DataFrame(), "accuracy", True)
    assert "no clear difference" in " ".join(text)
    one_seed = summary.assign(seeds=1, low=summary["mean"], high=summary["mean"])
    text, _ = verdict(one_seed, pd.DataFrame(), pd.DataFrame(), "accuracy", True)
    assert text[0].startswith("One seed per run")


def test_a_lead_that_does_not_change_is_not_called_widening():
    # the tweets experiment: full's lead over scratch was 0.125 at N=100 and 0.125 at N=3000
    rows = [("scratch", 100, 0.544), ("head", 100, 0.669), ("scratch", 3000, 0.661), ("full", 3000, 0.786),
            ("scratch", 1000, 0.618), ("full", 1000, 0.740)]
    summary = pd.DataFrame([{"strategy": s, "n_train": n, "mean": m, "low": m - 0.01, "high": m + 0.01, "seeds": 3}
                            for s, n, m in rows])
    joined = " ".join(verdict(summary, pd.DataFrame(), pd.DataFrame(), "accuracy", True)[0])
    assert "stays about the same: 0.125 at N=100, 0.125 at N=3,000" in joined
    assert "widens" not in joined and "narrows" not in joined
