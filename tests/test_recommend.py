"""The recommendation at the top of Compare and the report: which strategy to use at each size, from the verdict
table only; and numbers written for people."""
import math

import pandas as pd

from training.analysis.stats import summarise
from training.analysis.units import human_bytes, human_flops, human_seconds, plain_name, probe_skill, readable
from training.analysis.verdict import conclude


def test_mid_run_the_recommendation_says_partial_and_gives_one_seed_intervals():
    runs = pd.DataFrame([{"run_id": s, "strategy": s, "n_train": 100, "seed": 0, "status": "done", "eval_accuracy": a,
                          "eval_examples": 400, "flops": f} for s, a, f in (("full", 0.70, 1e12), ("scratch", 0.50, 2e12))])
    text, d, _, _ = conclude(runs, None, summarise(runs, "eval_accuracy", bounded=True), "accuracy", True,
                             progress=(2, 12), planned_seeds=3)
    assert d.notice.startswith("Partial results (2 of 12 runs finished)") and d.sentences[0] == d.notice
    s = d.sizes[0]
    assert s.recommended == "full" and "95% CI" in s.sentence and "over the eval set's examples, 1 seed" in s.sentence
    assert "One seed per cell has finished so far (of 3)" in " ".join(text)


def test_lower_is_better_metrics_pick_the_lowest_with_a_relative_margin():
    runs = pd.DataFrame([{"run_id": f"{s}{k}", "strategy": s, "n_train": 500, "seed": k, "status": "done",
                          "eval_perplexity": p + k * 0.3, "eval_loss_se": 0.002, "flops": f}
                         for s, p, f in (("full", 20.0, 1e12), ("scratch", 60.0, 2e12), ("lora", 20.1, 5e11))
                         for k in range(3)])
    compute = runs.groupby(["strategy", "n_train"], as_index=False)["flops"].mean().assign(wall_s=60.0)
    _, d, _, _ = conclude(runs, None, summarise(runs, "eval_perplexity"), "perplexity", False, compute)
    s = d.sizes[0]
    assert d.margin_kind == "relative" and s.best == "full" and s.cell("scratch").relation == "below the best"
    # 0.5% worse on the mean, inside ±2%, for half the compute: picked — as good, or not told apart at 3 seeds
    assert "lora" in s.as_good + s.undecided and s.recommended == "lora"
    assert "-0.5%" in s.sentence and ("not below −2%" in s.sentence or "cannot be told apart" in s.headline)


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
