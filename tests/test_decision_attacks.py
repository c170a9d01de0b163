"""Regression tests for defects found by attacking the one decision rule (issue 23): each builds an experiment as
frames (as tests/test_decision_rule.py does) and states what the decision, its sentences, the verdict, the decision
record and the side-by-side table should say. Each was written failing (xfail) while its defect stood, with a reason that
named the wrong output; all are fixed now and these guard the fixes."""
import math
import re
from types import SimpleNamespace

import pandas as pd

from tests.test_decision_rule import analyse_frames, check_invariants
from training.analysis.decision import REFERENCE_PREFIX


def frames(metric: str, cells: dict, refs: dict | None = None, n_eval: int | None = None, items: dict | None = None,
           status: dict | None = None):
    """Exact per-seed values. cells: {(strategy, n): ([value per seed], flops)}; refs: {(code, name, n): [value per
    seed]}; items: {(strategy or code, n, seed): per-example outcomes}; status: {(strategy, n): status}."""
    rows = []
    for (strategy, n), (values, flops) in cells.items():
        for seed, v in enumerate(values):
            rows.append({"run_id": f"{strategy}-{n}-{seed}", "strategy": strategy, "n_train": n, "seed": seed,
                         "status": (status or {}).get((strategy, n), "done"), f"eval_{metric}": v,
                         "eval_examples": n_eval, "eval_items": (items or {}).get((strategy, n, seed)), "flops": flops,
                         "wall_s": flops / 1e10, "lr": 1e-3, "error": None, "until_plateau": strategy == "scratch",
                         "stopped_early": True, "best_step": 10, "steps": 20, "forgetting": math.nan})
    ref_rows = []
    for (code, name, n), values in (refs or {}).items():
        for seed, v in enumerate(values):
            ref_rows.append({"reference": code, "name": name, "n_train": n, "seed": seed, metric: v,
                             "eval_examples": n_eval, "items": (items or {}).get((code, n, seed))})
    return pd.DataFrame(rows), pd.DataFrame(ref_rows)


# -- the difference ---------------------------------------------------------------------------------------------------
def test_a_collapsed_seed_is_not_dropped_by_pairing_on_the_shared_seeds():
    runs, refs = frames("accuracy", {("full", 100): ([0.90, 0.91, 0.70], 1e9),
                                     ("head", 100): ([0.8955, 0.9048], 1e10)}, n_eval=500)
    _, decided, _, _ = analyse_frames("accuracy", runs, refs)
    s = decided.sizes[0]
    full = s.cell("full")
    assert s.best == "head"
    assert full.vs_best is not None and full.vs_best.mean <= 0  # full's mean is below the best's: so is its difference
    assert "full" not in s.as_good and s.recommended != "full"


def test_an_accuracy_difference_interval_stays_inside_minus_one_to_one():
    runs, refs = frames("accuracy", {("full", 100): ([0.95, 0.95, 0.96], 1e11),
                                     ("lp-ft", 100): ([0.05, 0.94, 0.10], 1e10)}, n_eval=1000)
    _, decided, _, _ = analyse_frames("accuracy", runs, refs)
    v = decided.sizes[0].cell("lp-ft").vs_best
    assert -1.0 <= v.low <= v.high <= 1.0, v


# -- intervals that are points ------------------------------------------------------------------------------------------
def test_a_perfect_rmse_is_never_printed_as_a_point_interval():
    perfect = {"y_true": [1.0, 2.0, 3.0, 4.0] * 25, "y_pred": [1.0, 2.0, 3.0, 4.0] * 25}
    close = {"y_true": [1.0, 2.0, 3.0, 4.0] * 25, "y_pred": [1.01, 2.0, 3.0, 4.0] * 25}
    runs, refs = frames("rmse", {("full", 100): ([0.0], 1e11), ("head", 100): ([0.005], 1e10)}, n_eval=100,
                        items={("full", 100, 0): perfect, ("head", 100, 0): close})
    _, decided, _, _ = analyse_frames("rmse", runs, refs)
    full = decided.sizes[0].cell("full")
    assert math.isnan(full.low) or full.high > full.low, (full.low, full.high)
    assert "0.000–0.000" not in decided.sizes[0].sentence


def test_a_relative_margin_of_a_zero_best_does_not_turn_absolute():
    perfect = {"y_true": [1.0, 2.0, 3.0, 4.0] * 25, "y_pred": [1.0, 2.0, 3.0, 4.0] * 25}
    close = {"y_true": [1.0, 2.0, 3.0, 4.0] * 25, "y_pred": [1.01, 2.0, 3.0, 4.0] * 25}
    runs, refs = frames("rmse", {("full", 100): ([0.0], 1e11), ("head", 100): ([0.005], 1e10)}, n_eval=100,
                        items={("full", 100, 0): perfect, ("head", 100, 0): close})
    _, decided, _, _ = analyse_frames("rmse", runs, refs)
    s = decided.sizes[0]
    assert "head" not in s.as_good and s.recommended == "full"
    assert "-0.5%" not in s.sentence


def test_an_eval_set_of_one_example_decides_nothing():
    runs, refs = frames("rmse", {("full", 100): ([2.0], 1e11), ("head", 100): ([2.5], 1e10)}, n_eval=1,
                        items={("full", 100, 0): {"y_true": [1.0], "y_pred": [3.0]},
                               ("head", 100, 0): {"y_true": [1.0], "y_pred": [3.5]}})
    _, decided, _, _ = analyse_frames("rmse", runs, refs)
    s = decided.sizes[0]
    assert not re.search(r"(\d+\.\d+)–\1\b", s.sentence), s.sentence
    assert s.cell("head").relation != "below the best"


# -- failures -------------------------------------------------------------------------------------------------------------
def test_strategies_whose_every_run_failed_are_named_as_failed():
    runs, refs = frames("accuracy", {("full", 100): ([0.8, 0.8], 1e11), ("scratch", 100): ([0.5, 0.6], 1e10)},
                        {("majority", "majority class", 100): [0.3, 0.3],
                         ("tfidf", "TF-IDF + logistic regression", 100): [0.74, 0.74]},
                        n_eval=300, status={("full", 100): "failed", ("scratch", 100): "failed"})
    _, decided, _, _ = analyse_frames("accuracy", runs, refs)
    s = decided.sizes[0]
    assert s.recommended == REFERENCE_PREFIX + "TF-IDF + logistic regression"
    assert set(s.failed) == {"full", "scratch"}
    assert "()" not in s.sentence and "`full`" in s.sentence
    assert "networks' 2 seeds" not in s.sentence


def test_a_run_with_a_nan_metric_is_not_silently_dropped():
    runs, refs = frames("perplexity", {("full", 100): ([3.0, 3.1], 1e11),
                                       ("scratch", 100): ([math.nan, math.nan], 1e10)}, n_eval=40)
    _, decided, _, findings = analyse_frames("perplexity", runs, refs)
    s = decided.sizes[0]
    assert "scratch" in s.failed or any(f["strategy"] == "scratch" for f in findings)
    assert "only strategy finished" not in s.sentence


# -- sentences -------------------------------------------------------------------------------------------------------------
def _tfidf_beats_the_networks():
    """Three seeds of full and head, and a TF-IDF reference clearly above both: the recommendation is the reference."""
    runs, refs = frames("accuracy", {("full", 100): ([0.80, 0.81, 0.79], 1e11),
                                     ("head", 100): ([0.78, 0.785, 0.775], 1e10)},
                        {("majority", "majority class", 100): [0.3],
                         ("tfidf", "TF-IDF + logistic regression", 100): [0.85]}, n_eval=1000)
    _, decided, _, _ = analyse_frames("accuracy", runs, refs)
    s = decided.sizes[0]
    assert s.recommended_kind == "reference"
    return decided, s


def test_how_sure_of_a_reference_counts_the_networks_seeds():
    decided, s = _tfidf_beats_the_networks()
    how = s.sentence.split("How sure:")[1]
    assert "3 seeds" in how and "1 seed" not in how, how


def test_the_lead_over_scratch_is_in_the_margins_units_and_sign():
    runs, refs = frames("rmse", {("full", 100): ([5.0], 1e11), ("scratch", 100): ([7.0], 1e10),
                                 ("full", 1000): ([3.0], 1e12), ("scratch", 1000): ([4.0], 1e11)}, n_eval=100)
    text, _, _, _ = analyse_frames("rmse", runs, refs)
    lead = next(t for t in text if t.startswith("The best strategy's lead"))
    assert "-200.0%" not in lead and "-100.0%" not in lead, lead
    assert "+40.0%" in lead, lead


def test_a_set_margin_is_printed_as_set():
    from training.analysis.recommend import rule

    runs, refs = frames("rmse", {("full", 100): ([1.0, 1.1, 1.05], 1e11), ("head", 100): ([1.3, 1.35, 1.32], 1e10)},
                        n_eval=100)
    _, decided, _, _ = analyse_frames("rmse", runs, refs, margin=0.015)
    assert "1.5%" in rule(decided), rule(decided)
    _, decided, _, _ = analyse_frames("rmse", runs, refs, margin=0.004)
    assert "±0%" not in rule(decided), rule(decided)


def test_the_verdict_compares_with_a_longer_trained_scratch():
    runs, refs = frames("accuracy", {("full", 100): ([0.95, 0.95, 0.96], 1e11),
                                     ("scratch×3", 100): ([0.60, 0.62, 0.61], 3e11),
                                     ("full", 1000): ([0.97, 0.975, 0.97], 1e12),
                                     ("scratch×3", 1000): ([0.80, 0.82, 0.81], 3e12)}, n_eval=1000)
    text, _, _, _ = analyse_frames("accuracy", runs, refs)
    assert any("scratch×3" in t for t in text), text


# -- the decision record ---------------------------------------------------------------------------------------------------
def test_the_record_answer_without_constraints_is_the_recommendation():
    from training.analysis.record import record_answer

    decided, s = _tfidf_beats_the_networks()
    row = record_answer(decided, {})["rows"][0]
    assert row["answer"] is not None and row["answer"].strategy == s.recommended


def test_a_cell_without_an_interval_only_may_meet_a_metric_constraint():
    from training.analysis.record import record_answer

    runs, refs = frames("rmse", {("full", 100): ([2.0], 1e11), ("head", 100): ([2.5], 1e10)}, n_eval=100)
    _, decided, _, _ = analyse_frames("rmse", runs, refs)
    row = record_answer(decided, {"min_metric": 2.2})["rows"][0]
    assert "full" not in row["meets"] and "full" in row["may_meet"], row


# -- side by side ----------------------------------------------------------------------------------------------------------
def test_side_by_side_difference_lies_inside_its_interval():
    from training.analysis.side_by_side import side_by_side

    a = SimpleNamespace(summary=pd.DataFrame([{"strategy": "full", "n_train": 100, "mean": 100.0, "low": 98.0,
                                               "high": 102.0, "seeds": 3}]),
                        findings=[], metric="rmse", higher_is_better=False)
    b = SimpleNamespace(summary=pd.DataFrame([{"strategy": "full", "n_train": 100, "mean": 90.0, "low": 88.0,
                                               "high": 92.0, "seeds": 3}]),
                        findings=[], metric="rmse", higher_is_better=False)
    r = side_by_side(a, b).iloc[0]
    assert r["difference_low"] <= r["difference"] <= r["difference_high"], r.to_dict()


# -- what held up: kept green ------------------------------------------------------------------------------------------------
def test_ties_at_one_on_every_seed_pick_the_cheaper_and_obey_the_rule():
    items = {"y_true": [0, 1, 2] * 20, "y_pred": [0, 1, 2] * 20}
    runs, refs = frames("accuracy", {("full", 100): ([1.0, 1.0, 1.0], 1e11), ("head", 100): ([1.0, 1.0, 1.0], 1e10)},
                        n_eval=60, items={**{("full", 100, k): items for k in range(3)},
                                          **{("head", 100, k): items for k in range(3)}})
    _, decided, _, _ = analyse_frames("accuracy", runs, refs)
    s = decided.sizes[0]
    # three perfect seeds each still carry the seed spread pooled in (PRIOR_DOF): full is not shown worse, head is
    # cheaper and the best
    assert s.best == "head" and s.recommended == "head" and "full" in s.as_good + s.undecided
    check_invariants(decided.to_json())
