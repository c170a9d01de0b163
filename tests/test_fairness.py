"""Fair comparisons: failures said out loud, no conclusion from a failed run, no forecast from a failed size,
intervals inside [0, 1], the user's own test set, references, and scratch trained until it stops improving."""
import contextlib

import numpy as np
import pandas as pd
import pytest

from training.analysis.fairness import check_runs
from training.analysis.report import analyse, markdown_report
from training.analysis.stats import bounded_interval, summarise, wilson_interval
from training.analysis.verdict import conclude
from training.config import BudgetConfig, StrategyConfig
from training.core.scoring import majority
from training.service.execution import execute_run, run_experiment
from training.service.planning import launch
from training.testing import tiny_classification_config, topic_rows


def test_a_broken_scratch_run_is_named_and_no_conclusion_is_drawn(tiny_bert_dir, topic_csv, store):
    """Scratch at learning rate 1.0 (on a real tiny BERT): the checks name it as failed, say what to change, and the
    verdict compares nothing with it."""
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=[
        StrategyConfig("scratch", lr=1.0, until_plateau=False), StrategyConfig("full", lr=3e-3)],
        budget=BudgetConfig(policy="steps", steps=30), references=True)
    exp = run_experiment(cfg, store)
    a = analyse(store, exp)
    failures = [f for f in a.findings if f["severity"] == "failure" and f["strategy"] == "scratch"]
    assert failures, a.findings
    assert any("fixed at 1" in f["advice"] or "Lower its learning rate (now 1)" in f["advice"]
               or "lower the learning rate (now 1)" in f["message"] for f in failures), failures
    text = " ".join(a.verdict)
    assert "scratch" in text and "no conclusion is drawn" in text
    assert "clearly better" not in text and "lead over scratch" not in text
    assert "no comparison with scratch" in text
    assert a.verdict_table.set_index("strategy").loc["scratch", "status"].startswith("FAILED")
    assert "FAILED: scratch" in markdown_report(a)


def test_scratch_at_the_majority_class_is_a_failure_with_the_reason():
    runs = pd.DataFrame([{"run_id": f"{s}{n}{k}", "strategy": s, "n_train": n, "seed": k, "status": "done",
                          "eval_accuracy": acc + 0.002 * k, "eval_examples": 500, "lr": 1e-3, "error": None,
                          "until_plateau": s == "scratch", "stopped_early": True, "best_step": 10, "steps": 20}
                         for s, accs in {"scratch": (0.43, 0.43), "full": (0.60, 0.70)}.items()
                         for n, acc in zip((100, 1000), accs, strict=True) for k in range(3)])
    refs = pd.DataFrame([{"reference": "majority", "name": "majority class", "n_train": n, "seed": 0, "accuracy": 0.43,
                          "macro_f1": 0.2, "loss": 1.07, "eval_examples": 500} for n in (100, 1000)])
    summary = summarise(runs, "eval_accuracy", bounded=True)
    info = {"lr_source": {"scratch": "searched", "full": "searched"}}
    findings = check_runs(runs, pd.DataFrame(), refs, summary, info, "accuracy", True)
    scratch = [f for f in findings if f["kind"] == "at_majority"]
    assert {f["n_train"] for f in scratch} == {100, 1000} and all(f["strategy"] == "scratch" for f in scratch)
    assert "searched learning rate" in scratch[0]["advice"] and "stopped improving" in scratch[0]["advice"]
    assert "is not clearly better than the majority class: accuracy 0.432 against 0.430" in scratch[0]["message"]
    text = conclude(runs, refs, summary, "accuracy", True, findings=findings)[0]
    joined = " ".join(text)
    assert "scratch learned nothing (not clearly above the trivial baseline) at N=100 and N=1,000" in joined
    assert "clearly better" not in joined and "lead over scratch" not in joined


def test_a_scratch_curve_that_falls_with_data_is_flagged():
    runs = pd.DataFrame([{"run_id": f"{n}{k}", "strategy": "scratch", "n_train": n, "seed": k, "status": "done",
                          "eval_accuracy": m + d, "eval_examples": 5000, "error": None}
                         for n, m, ds in ((100, 0.55, (-0.01, 0.0, 0.012)), (1000, 0.49, (0.005, -0.004, 0.0)))
                         for k, d in enumerate(ds)])
    summary = summarise(runs, "eval_accuracy", bounded=True)
    findings = check_runs(runs, pd.DataFrame(), pd.DataFrame(), summary, {}, "accuracy", True)
    assert [(f["kind"], f["severity"], f["n_train"]) for f in findings] == [("not_monotone", "failure", 1000)]


def test_where_scratch_catches_up_uses_only_sizes_that_passed_and_says_why_not():
    """Scratch that gets worse with data fails the checks at the larger size: no forecast is drawn from it, and the
    verdict says why and what to add."""
    spread = {100: (-0.01, 0.0, 0.012), 1000: (0.005, -0.004, 0.0)}
    runs = pd.DataFrame([{"run_id": f"{s}{n}{k}", "strategy": s, "n_train": n, "seed": k, "status": "done",
                          "eval_accuracy": m + d, "eval_examples": 5000, "error": None}
                         for s, cells in {"scratch": ((100, 0.55), (1000, 0.49)), "full": ((100, 0.7), (1000, 0.8))}.items()
                         for n, m in cells for k, d in enumerate(spread[n])])
    summary = summarise(runs, "eval_accuracy", bounded=True)
    findings = check_runs(runs, pd.DataFrame(), pd.DataFrame(), summary, {}, "accuracy", True)
    text, d, _, _ = conclude(runs, None, summary, "accuracy", True, findings=findings)
    large, small = d.forecast.at(1000)[0], d.forecast.at(100)[0]
    assert large["status"] == "cannot" and "scratch failed the checks at N=1,000" in large["why"]
    assert small["status"] == "cannot" and "only at N=100" in small["why"] and "add a size such as N=300" in small["why"]
    assert any("where scratch reaches full's accuracy at N=1,000 (0.800) cannot be forecast from these sizes: scratch "
               "failed the checks at N=1,000" in s for s in text)


def test_accuracy_bands_of_spread_out_seeds_stay_inside_0_1():
    runs = pd.DataFrame([{"strategy": "full", "n_train": 100, "seed": k, "status": "done", "eval_accuracy": a,
                          "eval_examples": 200} for k, a in enumerate([0.99, 0.62, 1.0])]
                        + [{"strategy": "scratch", "n_train": 100, "seed": k, "status": "done", "eval_accuracy": a,
                            "eval_examples": 200} for k, a in enumerate([0.0, 0.31, 0.02])])
    from training.analysis.stats import mean_interval
    plain = [mean_interval(g["eval_accuracy"]) for _, g in runs.groupby("strategy")]  # a plain t-interval leaves [0, 1]
    assert max(p[2] for p in plain) > 1 or min(p[1] for p in plain) < 0
    s = summarise(runs, "eval_accuracy", bounded=True).set_index("strategy")
    assert (s["low"] >= 0).all() and (s["high"] <= 1).all()
    assert (s["low"] <= s["mean"]).all() and (s["mean"] <= s["high"]).all()
    assert s.loc["full", "mean"] == pytest.approx((0.99 + 0.62 + 1.0) / 3)
    lo, hi = wilson_interval(0.95, 200)
    assert 0.9 < lo < 0.95 < hi < 0.98
    one = bounded_interval([1.0], n_eval=50)
    assert one[0] == 1.0 and one[2] == 1.0 and 0.9 < one[1] < 1.0  # one seed: the eval set's sampling error


def test_majority_reference_by_hand():
    r = majority(np.array([0, 0, 1, 2, 0]), np.array([0, 1, 1, 2]), 3)
    assert r["accuracy"] == 0.25
    prior = np.array([4, 2, 2]) / 8  # add-one smoothed training counts
    assert r["loss"] == pytest.approx(-np.mean(np.log(prior[[0, 1, 1, 2]])))


def test_an_experiment_with_eval_source_scores_exactly_that_files_rows(tmp_path, tiny_bert_dir, topic_csv, store):
    test = tmp_path / "held_out_tickets.csv"
    rows = pd.DataFrame(topic_rows(41, seed=5)).drop(columns=["doc"])
    rows.loc[:9, "label"] = "sports"  # a test set whose class balance differs from training's
    rows.to_csv(test, index=False)
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=[StrategyConfig("full", lr=1e-3)],
                                     references=True)
    cfg.data.eval_source = str(test)
    exp = run_experiment(cfg, store)
    a = analyse(store, exp)
    assert a.info["data"]["eval_rows"] == 41 and a.info["data"]["eval_source"] == str(test)
    full = a.runs.iloc[0]
    assert full["status"] == "done" and full["eval_examples"] == 41
    refs = a.references.set_index("reference")
    assert refs.loc["majority", "eval_examples"] == 41
    counts = rows["label"].value_counts()
    assert refs.loc["majority", "accuracy"] * 41 in set(counts.values)  # the majority class scored on those rows
    assert r"held\_out\_tickets.csv (the user's own test set)" in markdown_report(a)  # a file's name as typed


def test_eval_source_with_an_unknown_label_stores_nothing(tmp_path, tiny_bert_dir, topic_csv, store):
    test = tmp_path / "t.csv"
    pd.DataFrame({"text": ["rain and wind today", "a cat"], "label": ["weather", "pets"]}).to_csv(test, index=False)
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv)
    cfg.data.eval_source = str(test)
    with pytest.raises(Exception, match="has label 'pets'"):
        launch(cfg, store)
    assert store.experiments() == []


def test_references_run_beside_the_grid_on_the_same_subsets(tiny_bert_dir, topic_csv, store):
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=[StrategyConfig("head", lr=1e-2)],
                                     sizes=[20, 80], references=True)
    exp = run_experiment(cfg, store)
    runs = store.runs(exp)
    assert runs[0].role == "reference" and runs[0].status == "done"
    refs = runs[0].result["references"]
    assert {(r["reference"], r["n_train"]) for r in refs} == {(k, n) for k in ("majority", "tfidf") for n in (20, 80)}
    tfidf = {r["n_train"]: r["accuracy"] for r in refs if r["reference"] == "tfidf"}
    assert tfidf[80] > 0.5  # topic words give the label away: a bag of words finds them
    a = analyse(store, exp)
    assert {t.name for t in __import__("training.analysis.report", fromlist=["figures"]).figures(a)[0][1].data} >= {
        "majority class", "TF-IDF + logistic regression"}


def test_scratch_trains_until_a_plateau_anneals_and_is_scored_at_its_best(tiny_bert_dir, topic_csv, store):
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=[StrategyConfig("scratch", lr=3e-3)],
                                     budget=BudgetConfig(policy="steps", steps=10, patience=1, plateau_cap=6))
    exp = launch(cfg, store)
    run = store.runs(exp)[0]
    assert run.total_steps == 60  # the cap: 6× the policy's steps
    row = execute_run(store, run.id)
    res = row.result
    assert row.status == "done" and res["until_plateau"]
    events = [e for e in store.events(run.id) if e["kind"] == "plateau"]
    if res["stopped_early"]:
        assert events and res["steps"] < 60
    assert res["best_step"] <= res["steps"] and res["eval_best"]["loss"] > 0
    val = {m["step"]: m["value"] for m in store.metrics([run.id]) if m["key"] == "val/loss"}
    assert min(val, key=val.get) == res["best_step"]  # the best checkpoint is the lowest validation loss
    lrs = [m["value"] for m in store.metrics([run.id]) if m["key"] == "train/lr"]
    assert lrs[-1] < 0.3 * max(lrs)  # annealed before it stopped, not cut off at the peak rate


def test_each_run_is_scored_by_the_model_it_delivers():
    """Final model = the last weights, unless validation says the best checkpoint is clearly better (by more than two
    standard errors of the difference) — the same rule for every strategy; runs recorded before the rule had
    validation readings fall back to the old rule (best checkpoint for runs trained until a plateau)."""
    from training.analysis.frames import at_checkpoint

    # run: (until_plateau, validation accuracy at the best step 40, at the last step 100)
    cases = {"noise": (True, 0.362, 0.328),  # docstrings N=2000 seed 1: 0.034 apart on 500 examples: the end
             "clear": (True, 0.60, 0.40),  # a collapse after the best step: keep the best
             "full-clear": (False, 0.60, 0.40),  # the same rule for a fixed budget
             "legacy-plateau": (True, None, None), "legacy-fixed": (False, None, None)}
    runs = pd.DataFrame([{"run_id": k, "strategy": k, "until_plateau": plateau, "best_step": 40, "eval_accuracy": 0.60,
                          "best_accuracy": 0.70, "eval_loss": 1.0, "best_loss": 0.9, "eval_macro_f1": 0.5,
                          "best_macro_f1": 0.6, "eval_perplexity": None, "best_perplexity": None, "probe_final": 0.3,
                          "probe_best": 0.4, "forgetting": 0.2, "forgetting_best": 0.1, "checkpoint": "end",
                          "validation_examples": 500}
                         for k, (plateau, _, _) in cases.items()]).set_index("strategy", drop=False)
    metrics = pd.DataFrame([{"run_id": k, "step": step, "key": "val/accuracy", "value": v}
                            for k, (_, at_best, at_end) in cases.items() if at_best is not None
                            for step, v in ((20, 0.3), (40, at_best), (100, at_end))])
    final, best, end = (at_checkpoint(runs, c, metrics) for c in ("final", "best", "end"))
    assert final["eval_accuracy"].to_dict() == {"noise": 0.60, "clear": 0.70, "full-clear": 0.70,
                                                "legacy-plateau": 0.70, "legacy-fixed": 0.60}
    assert final.loc["clear", "checkpoint"] == "best" and final.loc["noise", "checkpoint"] == "end"
    assert final.loc["clear", "forgetting"] == 0.1 and final.loc["noise", "forgetting"] == 0.2
    assert (best["eval_accuracy"] == 0.70).all() and (end["eval_accuracy"] == 0.60).all()
    with pytest.raises(ValueError):
        at_checkpoint(runs, "final")  # the choice needs the validation rows


def test_language_models_keep_the_best_checkpoint_only_beyond_the_loss_standard_error():
    from training.analysis.frames import keeps_best

    runs = pd.DataFrame([{"run_id": k, "until_plateau": True, "best_step": 40, "validation_examples": 64}
                         for k in ("near", "far")])
    rows = []
    for k, end_loss in (("near", 3.05), ("far", 3.5)):
        for step, loss in ((40, 3.0), (100, end_loss)):
            rows += [{"run_id": k, "step": step, "key": "val/loss", "value": loss},
                     {"run_id": k, "step": step, "key": "val/loss_se", "value": 0.05},
                     {"run_id": k, "step": step, "key": "val/perplexity", "value": float(np.exp(loss))}]
    assert keeps_best(runs, pd.DataFrame(rows)).tolist() == [False, True]  # 0.05 < 2·0.07 < 0.5


def test_language_model_evaluation_records_the_standard_error_of_its_loss():
    import torch

    from training.core.evaluate import evaluate_lm, lm_loss

    torch.manual_seed(0)
    vocab, model = 11, torch.nn.Embedding(11, 11)
    batches = [{"input_ids": torch.randint(0, vocab, (4, 9)), "attention_mask": torch.ones(4, 9, dtype=torch.long)}
               for _ in range(3)]
    batches[1]["attention_mask"][0, 5:] = 0
    lm = _Wrap(model)
    out = evaluate_lm(lm, batches, contextlib.nullcontext)
    per_seq = [lm_loss(model(b["input_ids"][i:i + 1]), b["input_ids"][i:i + 1], b["attention_mask"][i:i + 1]).item()
               for b in batches for i in range(4)]
    assert out["loss_se"] == pytest.approx(np.std(per_seq, ddof=1) / np.sqrt(12), rel=1e-5)
    tokens = sum(int(b["attention_mask"][:, 1:].sum()) for b in batches)
    total = sum(lm_loss(model(b["input_ids"]), b["input_ids"], b["attention_mask"], "sum").item() for b in batches)
    assert out["loss"] == pytest.approx(total / tokens, rel=1e-5)


class _Wrap:
    """A language model of one embedding table (logits = the row of the current token), as evaluate calls it."""

    def __init__(self, table):
        self.table, self.training = table, False

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def __call__(self, input_ids, attention_mask):
        return self.table(input_ids)

