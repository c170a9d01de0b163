"""The recommendation at the top of Compare and the report: which strategy to use at each size, from the verdict
table only; and numbers written for people."""
import math

import pandas as pd

from training.analysis.recommend import recommend
from training.analysis.units import human_bytes, human_flops, human_seconds, plain_name, probe_skill, readable


def _table(rows, refs=()):
    t = pd.DataFrame([{"strategy": s, "n_train": n, "metric": m, "metric_low": lo, "metric_high": hi, "seeds": k,
                       "metric_end": m, "metric_best": m, "flops": f, "wall_s": w, "forgetting": fg, "status": st}
                      for s, n, m, lo, hi, k, f, w, fg, st in rows])
    r = pd.DataFrame([{"strategy": f"reference: {name}", "n_train": n, "metric": m, "metric_low": math.nan,
                       "metric_high": math.nan, "seeds": pd.NA, "metric_end": m, "metric_best": m, "flops": math.nan,
                       "wall_s": math.nan, "forgetting": math.nan, "status": "reference"} for name, n, m in refs])
    return pd.concat([t, r], ignore_index=True) if len(r) else t


# the tweets experiment at N=3000 (3 seeds): full 0.786 (0.771–0.801), LoRA 0.780 (0.741–0.815) at 73% of full's FLOPs
TWEETS = [("full", 3000, 0.786, 0.771, 0.801, 3, 19e12, 500, 0.20, "ok"),
          ("lora", 3000, 0.780, 0.741, 0.815, 3, 13.9e12, 366, 0.166, "ok"),
          ("scratch", 3000, 0.661, 0.613, 0.705, 3, 30e12, 800, math.nan, "ok")]


def test_the_cheapest_of_the_strategies_as_good_as_the_best_is_recommended_with_the_numbers_behind_it():
    rec = recommend(_table(TWEETS, [("majority class", 3000, 0.429), ("TF-IDF + logistic regression", 3000, 0.682)]),
                    "accuracy", True, (36, 36), "probe/retrieval_r1", 3)
    assert rec.notice is None and len(rec.rows) == 1
    row = rec.rows[0]
    assert row["strategy"] == "lora" and row["as_good"] == ["full"] and row["sure"] == "tied"
    text = row["sentence"]
    assert "N=3,000: use LoRA fine-tuning" in text and "0.780 (95% CI 0.741–0.815, 3 seeds)" in text
    assert "0.119 above training from scratch (0.661)" in text
    assert "Full fine-tuning scores 0.786, not clearly better" in text and "1.4× the training compute" in text
    assert "13.9 TFLOP" in text and "6.1 min" in text and "general language understanding score drops by 0.166" in text
    assert "classical" not in text  # TF-IDF (0.682) is below LoRA


def test_a_clear_winner_a_classical_reference_and_a_failed_baseline():
    rows = [("full", 100, 0.70, 0.68, 0.72, 3, 1e12, 60, 0.1, "ok"), ("head", 100, 0.60, 0.58, 0.62, 3, 1e10, 5, 0.0, "ok"),
            ("scratch", 100, 0.25, 0.2, 0.3, 3, 2e12, 100, math.nan, "FAILED: at majority"),
            ("full", 1000, 0.44, 0.40, 0.48, 3, 1e13, 600, 0.1, "ok")]
    rec = recommend(_table(rows, [("TF-IDF + logistic regression", 1000, 0.51)]), "accuracy", True)
    small, large = rec.rows
    assert small["strategy"] == "full" and small["sure"] == "clear" and "clearly ahead" in small["sentence"]
    assert "scratch" not in small["sentence"]  # a failed run is never a comparison point
    assert large["classical"] == "TF-IDF + logistic regression"
    assert large["sentence"].startswith("**N=1,000: use the classical TF-IDF + logistic regression** — accuracy 0.510")


def test_mid_run_the_recommendation_says_partial_and_indicative_not_add_seeds():
    rows = [("full", 100, 0.70, math.nan, math.nan, 1, 1e12, 60, 0.1, "ok"),
            ("scratch", 100, 0.5, math.nan, math.nan, 1, 2e12, 100, math.nan, "ok")]
    rec = recommend(_table(rows), "accuracy", True, (2, 12), None, 3)
    assert rec.notice.startswith("Partial results (2 of 12 runs finished)")
    assert rec.rows[0]["sure"] == "indicative" and "the other 2 seeds will give one" in rec.rows[0]["sentence"]
    assert rec.sentences[0] == rec.notice


def test_lower_is_better_metrics_pick_the_lowest():
    rows = [("full", 500, 20.0, 19.0, 21.0, 3, 1e12, 60, 0.1, "ok"), ("scratch", 500, 60.0, 55.0, 65.0, 3, 2e12, 100,
                                                                       math.nan, "ok")]
    row = recommend(_table(rows), "perplexity", False).rows[0]
    assert row["strategy"] == "full" and row["vs_scratch"] == 40.0
    assert "perplexity 20.000 (95% CI 19.000–21.000, 3 seeds), 40.000 lower (better) than training from scratch" in \
        row["sentence"]


def test_numbers_for_people():
    assert human_flops(687562640640) == "688 GFLOP" and human_bytes(441444896) == "441 MB"
    assert human_seconds(35.4975) == "35 s" and human_seconds(754) == "12.6 min" and human_seconds(None) == "—"
    assert plain_name("scratch×3") == "training from scratch (3× longer)" and plain_name("head").startswith("a new head")
    assert probe_skill("probe/retrieval_r1") == "general language understanding"
    t = readable(pd.DataFrame([{"strategy": "full", "n_train": 400.0, "flops": 6.9e11, "mfu": math.nan,
                                "gpu_seconds": math.nan, "est_s": 35.4975, "mem_estimate": 441444896.0, "metric": 0.7}]))
    assert t.iloc[0].tolist() == ["full", "400", "690 GFLOP", "—", "—", "35 s", "441 MB", "0.700"]
    assert "N (training examples)" in t.columns and "training compute" in t.columns
    assert readable(pd.DataFrame({"overfitting": [True, False]}))["overfitting"].tolist() == ["yes", "no"]
