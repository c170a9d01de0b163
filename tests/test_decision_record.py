"""Decision records: a team's question, constraints, comments and sign-off on an experiment — stored, computed
against the runs, in the reports, and carried by bundles with every comment."""
import pytest

from training.analysis.decision import decide, samples
from training.analysis.recommend import render
from training.analysis.record import record_answer
from training.analysis.report import analyse, html_report, markdown_report
from training.errors import ConfigError, HeadStartError
from training.service.bundle import check_bundle, export_bundle, import_bundle, read_bundle, write_bundle
from training.service.store import Store
from training.testing import make_finished_experiment


def test_a_decision_record_round_trips_through_the_store_the_reports_and_a_bundle(tmp_path, backend):
    store = Store(tmp_path / "a")
    exp = make_finished_experiment(store)
    assert store.decision(exp) is None
    with pytest.raises(ConfigError, match="write its question first"):
        store.add_decision_comment(exp, "ada", "too early")
    store.save_decision(exp, "Fine-tune or train our own ticket classifier?",
                        {"min_metric": 0.3, "max_forgetting": 0.5, "n_available": 300}, "ada")
    store.add_decision_comment(exp, "grace", "Is N=200 what we will have?")
    store.add_decision_comment(exp, "ada", "Yes — 300 labelled tickets by March.")
    a = analyse(store, exp)
    assert a.decision.question.startswith("Fine-tune or train") and [c.author for c in a.decision.comments] == ["grace", "ada"]
    assert a.decision_answer["applies_at"] == 200 and "At N=200" in a.decision_answer["sentence"]
    store.sign_off_decision(exp, "grace", {"sentence": a.decision_answer["sentence"]})
    a = analyse(store, exp)  # the analysis sees the sign-off (it is part of the experiment's version)
    for text in (markdown_report(a), html_report(a)):
        assert "Decision record" in text and "Fine-tune or train our own ticket classifier?" in text
        assert "Is N=200 what we will have?" in text and "Signed off by grace" in text
        assert "300 labelled examples available" in text

    path = tmp_path / "exp.json.gz"
    write_bundle(export_bundle(store, exp), path)
    other = Store(tmp_path / "b")
    copy = import_bundle(other, read_bundle(path))
    d = other.decision(copy)
    assert d.question == a.decision.question and d.constraints == a.decision.constraints
    assert [(c.author, c.body) for c in d.comments] == [(c.author, c.body) for c in a.decision.comments]
    assert d.signoff_by == "grace" and d.signed == {"sentence": a.decision_answer["sentence"]}

    # editing what is asked withdraws the sign-off: what was signed no longer matches
    store.save_decision(exp, a.decision.question, {"min_metric": 0.9}, "ada")
    d = store.decision(exp)
    assert d.signoff_by is None and d.signed is None and len(d.comments) == 2
    store.delete_experiment(exp)
    assert store.decision(exp) is None


def test_constraints_are_checked_and_met_only_by_a_whole_interval():
    import pandas as pd

    from training.analysis.stats import summarise

    runs = pd.DataFrame([{"run_id": f"{st}{k}", "strategy": st, "n_train": 1000, "seed": k, "status": "done",
                          "eval_accuracy": a, "eval_examples": 2000} for st, accs in
                         (("full", (0.74, 0.78, 0.82)), ("head", (0.758, 0.76, 0.762)), ("scratch", (0.55, 0.60, 0.65)))
                         for k, a in enumerate(accs)])
    facts = summarise(runs, "eval_accuracy", bounded=True).rename(
        columns={"mean": "metric", "low": "metric_low", "high": "metric_high"}).assign(status="ok")
    facts["flops"] = facts["strategy"].map({"full": 2e12, "head": 1e10, "scratch": 3e12})
    facts["wall_s"] = facts["strategy"].map({"full": 300.0, "head": 5.0, "scratch": 600.0})
    facts["forgetting"] = facts["strategy"].map({"full": 0.2, "head": 0.0, "scratch": 0.6})
    decided = render(decide(facts, samples(runs, None, "eval_accuracy"), "accuracy", True))
    out = record_answer(decided, {"min_metric": 0.73})  # head 0.760: its interval counts 2,000 examples' noise too
    row = out["rows"][0]
    assert row["meets"] == ["head"] and row["may_meet"] == ["full"] and "scratch" in row["fails"]
    assert "a new head on the frozen model (linear probe) (`head`) meets every constraint" in out["sentence"]
    assert "95% CI" in out["sentence"]
    row = record_answer(decided, {"min_metric": 0.5, "max_minutes": 4, "max_forgetting": 0.1})["rows"][0]
    assert row["meets"] == ["head"] and row["fails"] == {"full": "5.0 min of training per run, forgets 0.200",
                                                         "scratch": "10.0 min of training per run"}
    # the record's answer and the recommendation are one table: where the pick meets every constraint, it is the answer
    plain = record_answer(decided, {"min_metric": 0.5})
    assert plain["rows"][0]["answer"].strategy == decided.sizes[0].recommended
    with pytest.raises(ConfigError, match="maximum training minutes per run must be a number"):
        record_answer(decided, {"max_minutes": "soon"})


def test_a_bundle_with_a_broken_decision_is_refused_by_field():
    bundle = {"experiment": {"id": "e1", "name": "x", "config": {"name": "x"}, "created_at": 1.8e9},
              "runs": [{"id": "r1", "seq": 0, "strategy": "full", "n_train": 1, "seed": 0, "status": "done", "role": "grid",
                        "lr": None, "depends_on": None, "total_steps": 1, "error": None, "created_at": 1.8e9,
                        "started_at": None, "ended_at": None, "attempts": 0, "micro_batch_size": None,
                        "mem_estimate": None, "result_json": None}],
              "metrics": [], "events": [],
              "decision": {"question": "q", "comments": [{"author": "a", "body": 3, "at": 1.8e9}]}}
    with pytest.raises(HeadStartError, match=r"decision.comments\[0\]"):
        check_bundle(bundle, "team.json.gz")


def test_two_experiments_side_by_side(tmp_path):
    from training.analysis.side_by_side import side_by_side, side_by_side_figure

    store = Store(tmp_path / "s")
    a = analyse(store, make_finished_experiment(store, name="MiniLM"))
    b = analyse(store, make_finished_experiment(store, name="other base", seeds=(0,)))
    t = side_by_side(a, b)
    assert len(t) == 12  # 4 strategies × 3 sizes; B has one seed: its Wilson interval, combined unpaired
    assert (t["difference"] == t["metric_b"] - t["metric_a"]).all()
    assert (t["difference_low"] <= t["difference"]).all() and (t["difference"] <= t["difference_high"]).all()
    same = side_by_side(a, a)
    assert (same["difference"] == 0).all() and not same["verdict"].str.contains("clearly").any()
    assert len(side_by_side_figure(a, b, "A", "B").data) == 8


def test_the_html_report_renders_code_marks_instead_of_showing_backticks(tmp_path):
    import re

    from training.analysis.report import _html_text

    a = analyse(Store(tmp_path), make_finished_experiment(Store(tmp_path)))
    body = re.sub(r"<pre>.*?</pre>|<script.*?</script>", "", html_report(a), flags=re.S)  # the config and plotly
    assert "`" not in body
    assert _html_text("full fine-tuning (`full`) & **more**") == \
        "full fine-tuning (<code>full</code>) &amp; <strong>more</strong>"
    assert _html_text("an odd ` stays") == "an odd ` stays"
