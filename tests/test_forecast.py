"""Where scratch catches up: the crossover forecast on synthetic learning curves whose answer is known — the interval
covers the true crossover in most repeats and is not absurdly wide; `already`, `beyond` and `cannot` where they belong;
the backtest catches a largest size moved off the curve; and the forecast reaches the JSON and the verdict."""
import math

import numpy as np
import pandas as pd
import pytest

from training.analysis.decision import Cell, DecisionTable, Sample, SizeDecision
from training.analysis.forecast import (
    EVAL_AND_SEEDS,
    EVAL_ONLY,
    SEEDS_ONLY,
    backtest_table,
    crossover_table,
    curve_form,
    forecast,
    has_pretrained,
    interval_words,
    scratch_arms,
    suggested_size,
)
from training.analysis.stats import summarise
from training.analysis.units import readable
from training.analysis.verdict import conclude

N_EVAL = 600
SCRATCH, FULL = (-3.0, 0.6), (0.0, 0.3)
"""True curves, logit(accuracy) = a + b·ln N: scratch starts far behind and learns faster."""


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def true_crossover(n: int, scratch=SCRATCH, full=FULL) -> float:
    """Where scratch's true curve reaches full's true accuracy at n."""
    return math.exp((full[0] + full[1] * math.log(n) - scratch[0]) / scratch[1])


def _sample(p: float, seeds: int, rng, seed_sd: float = 0.0) -> Sample:
    """One cell: each seed's accuracy (its true level moved by seed_sd on the logit scale) measured on N_EVAL examples
    whose outcomes are drawn from it, with those per-example outcomes stored."""
    values, items = {}, {}
    for k in range(seeds):
        pk = _sigmoid(math.log(p / (1 - p)) + seed_sd * rng.standard_normal())
        wrong = (rng.random(N_EVAL) >= pk).astype(int)
        items[k] = {"y_true": [0] * N_EVAL, "y_pred": wrong.tolist()}
        values[k] = float(1 - wrong.mean())
    return Sample(values, items, N_EVAL)


def _cells(curves: dict, sizes=(100, 300, 1000), seeds: int = 1, rng_seed: int = 0, seed_sd: float = 0.0) -> dict:
    rng = np.random.default_rng(rng_seed)
    return {(s, n): _sample(_sigmoid(a + b * math.log(n)), seeds, rng, seed_sd)
            for s, (a, b) in curves.items() for n in sizes}


def _decision(sample_of: dict, failed: frozenset = frozenset(), metric: str = "accuracy", higher: bool = True):
    """The decision table the forecast reads: every cell as a strategy cell, ok unless named in `failed`."""
    sizes = []
    for n in sorted({n for _, n in sample_of}):
        cells = [Cell(s, "strategy", "FAILED: loss rose" if (s, m) in failed else "ok", sample.mean, math.nan,
                      math.nan, len(sample.values), 1e12, 1.0, math.nan, "")
                 for (s, m), sample in sorted(sample_of.items()) if m == n]
        sizes.append(SizeDecision(n, None, [], [], [], [], None, None, "none", cells))
    return DecisionTable(metric, higher, 0.01, "absolute", sizes)


def _entry(fc, n: int, scratch: str = "scratch", target: str = "full") -> dict:
    return next(e for e in fc.at(n) if e["scratch"] == scratch and e["target"] == target)


def test_the_interval_covers_the_true_crossover_in_most_repeats_and_is_not_absurdly_wide():
    covered, widths = {100: 0, 1000: 0}, []
    for rep in range(20):
        sample_of = _cells({"scratch": SCRATCH, "full": FULL}, rng_seed=rep)
        fc = forecast(_decision(sample_of), sample_of, {"scratch"})
        for n in covered:
            e = _entry(fc, n)
            truth = true_crossover(n)
            assert e["status"] in ("forecast", "beyond"), e
            assert not (math.isnan(e["low"]) or math.isnan(e["high"]) or math.isnan(e["n"]))
            covered[n] += e["low"] <= truth <= e["high"]
            if e["status"] == "forecast":
                assert e["low"] <= e["n"] <= e["high"]
                widths.append(e["high"] / e["low"])
    assert covered[100] >= 15 and covered[1000] >= 15, covered
    assert widths and float(np.median(widths)) < 6, widths  # 600 eval examples place it within a factor of a few


def test_a_forecast_says_what_it_extrapolates_and_which_noise_it_counts():
    sample_of = _cells({"scratch": SCRATCH, "full": FULL})
    e = _entry(forecast(_decision(sample_of), sample_of, {"scratch"}), 100)
    assert e["status"] == "forecast" and e["extrapolated"]  # ≈ 1,500, past scratch's largest size of 1,000
    assert e["level"] == pytest.approx(sample_of[("full", 100)].mean) and e["noise"] == EVAL_ONLY
    assert "extrapolation" in e["why"]
    seeded = _cells({"scratch": SCRATCH, "full": FULL}, seeds=3, seed_sd=0.05)
    assert _entry(forecast(_decision(seeded), seeded, {"scratch"}), 100)["noise"] == EVAL_AND_SEEDS


def test_already_where_scratch_is_measured_at_or_above_the_target():
    sample_of = _cells({"scratch": (-1.0, 0.5), "head": (0.5, 0.05)})  # head barely learns; scratch passes it
    fc = forecast(_decision(sample_of), sample_of, {"scratch"})
    e = _entry(fc, 1000, target="head")
    assert sample_of[("scratch", 1000)].mean > sample_of[("head", 1000)].mean
    assert e["status"] == "already" and "at or above" in e["why"]


def test_beyond_ten_times_the_largest_size_is_not_given():
    slow = (-3.0, 0.2)  # scratch would need millions of examples
    sample_of = _cells({"scratch": slow, "full": FULL})
    e = _entry(forecast(_decision(sample_of), sample_of, {"scratch"}), 1000)
    assert true_crossover(1000, scratch=slow) > 10 * 1000
    assert e["status"] == "beyond" and "N=10,000" in e["why"]
    shown = crossover_table(forecast(_decision(sample_of), sample_of, {"scratch"}))
    row = shown[(shown["n_train"] == 1000) & (shown["target"] == "full")].iloc[0]
    # no point: where it lies beyond the reach, and where its interval starts
    assert row["forecast_n"] == "beyond 10,000" and row["status"] == "not within 10× your largest size"
    assert row["interval"] == "—" or row["interval"].startswith("from ")


def test_cannot_from_one_size_a_falling_curve_or_a_failed_cell():
    one = _cells({"scratch": SCRATCH, "full": FULL}, sizes=(1000,))
    e = _entry(forecast(_decision(one), one, {"scratch"}), 1000)
    assert e["status"] == "cannot" and "add a size such as N=3,000" in e["why"]
    falling = _cells({"scratch": (1.0, -0.3), "full": FULL})
    e = _entry(forecast(_decision(falling), falling, {"scratch"}), 1000)
    assert e["status"] == "cannot" and "does not improve with data" in e["why"] and math.isnan(e["n"])
    sample_of = _cells({"scratch": SCRATCH, "full": FULL})
    fc = forecast(_decision(sample_of, failed=frozenset({("full", 300), ("scratch", 1000)})), sample_of, {"scratch"})
    assert _entry(fc, 300)["status"] == "cannot" and "full failed the checks at N=300" in _entry(fc, 300)["why"]
    assert _entry(fc, 1000)["status"] == "cannot" and "scratch failed the checks at N=1,000" in _entry(fc, 1000)["why"]
    assert _entry(fc, 100)["status"] == "forecast"  # the curve through the sizes that passed: 100 and 300
    assert "through N=100, 300" in _entry(fc, 100)["why"]


def test_the_backtest_covers_a_clean_curve_and_catches_a_largest_size_moved_off_it():
    sizes = (100, 300, 1000, 3000)
    clean = _cells({"scratch": SCRATCH, "full": FULL}, sizes=sizes, seeds=3, seed_sd=0.03)
    fc = forecast(_decision(clean), clean, {"scratch"})
    checks = {b["strategy"]: b for b in fc.backtest}
    assert set(checks) == {"scratch", "full"} and all(b["n_train"] == 3000 for b in checks.values())
    assert checks["scratch"]["covered"] and checks["scratch"]["low"] < checks["scratch"]["predicted"] < checks["scratch"]["high"]
    moved = dict(clean)
    moved[("scratch", 3000)] = _sample(0.55, 3, np.random.default_rng(1))  # the true curve says 0.93
    off = {b["strategy"]: b for b in forecast(_decision(moved), moved, {"scratch"}).backtest}
    assert not off["scratch"]["covered"] and off["full"]["covered"]
    shown = readable(backtest_table(forecast(_decision(moved), moved, {"scratch"})))
    assert "outside it: read the forecast as rough" in shown.to_string()
    few = _cells({"scratch": SCRATCH, "full": FULL}, sizes=(100, 1000))
    fc = forecast(_decision(few), few, {"scratch"})
    assert fc.backtest == [] and any("3 or more sizes" in n for n in fc.notes)


def test_a_lower_is_better_metric_uses_a_power_law_and_counts_seed_noise():
    assert curve_form("perplexity", False).words == "ln(perplexity) = a + b·ln N"
    assert curve_form("accuracy", True).words == "logit(accuracy) = a + b·ln N" and curve_form("r2", True) is None
    rng = np.random.default_rng(0)
    truth = {"scratch": (7.0, -0.5), "full": (3.5, -0.1)}  # ln(perplexity) = a + b·ln N
    sample_of = {(s, n): Sample({k: math.exp(a + b * math.log(n)) * (1 + 0.01 * rng.standard_normal()) for k in range(3)})
                 for s, (a, b) in truth.items() for n in (100, 300, 1000)}
    fc = forecast(_decision(sample_of, metric="perplexity", higher=False), sample_of, {"scratch"})
    e = _entry(fc, 1000)
    want = math.exp((truth["full"][0] + truth["full"][1] * math.log(1000) - truth["scratch"][0]) / truth["scratch"][1])
    assert e["status"] == "forecast" and e["noise"] == SEEDS_ONLY and e["low"] <= want <= e["high"]


def test_the_forecast_reaches_the_json_and_the_verdict():
    rng = np.random.default_rng(3)
    rows = []
    for s, (a, b) in {"scratch": SCRATCH, "full": FULL}.items():
        for n in (100, 300, 1000):
            sample = _sample(_sigmoid(a + b * math.log(n)), 1, rng)
            rows.append({"run_id": f"{s}{n}", "strategy": s, "n_train": n, "seed": 0, "status": "done",
                         "eval_accuracy": sample.values[0], "eval_examples": N_EVAL, "eval_items": sample.items[0],
                         "flops": 1e12, "result": {"pretrained": s != "scratch"}})
    runs = pd.DataFrame(rows)
    text, d, _, _ = conclude(runs, None, summarise(runs, "eval_accuracy", bounded=True), "accuracy", True)
    j = d.to_json()
    for size in j["sizes"]:
        assert size["crossover"] and {"scratch", "target", "n", "low", "high", "status"} <= set(size["crossover"][0])
        assert all(e["status"] != "forecast" or None not in (e["n"], e["low"], e["high"]) for e in size["crossover"])
    assert [b["strategy"] for b in j["backtest"]] == ["full", "scratch"] and j["forecast"]["form"].startswith("logit")
    said = " ".join(text)
    assert ("scratch is forecast to reach full's accuracy at N=1,000" in said
            or "scratch is not forecast to reach full's accuracy at N=1,000" in said) and "95% interval" in said
    assert "eval noise only, one seed)" in said and "Checked on itself: from the smaller sizes" in said


def test_scratch_arms_come_from_the_runs_and_old_records_by_name():
    runs = pd.DataFrame([{"strategy": "own", "strategy_name": "own", "result": {"pretrained": False}},
                         {"strategy": "full", "strategy_name": "full", "result": {"pretrained": True}},
                         {"strategy": "scratch×3", "strategy_name": "scratch", "result": {}},
                         {"strategy": "lora", "strategy_name": None, "result": None}])
    assert scratch_arms(runs) == {"own", "scratch×3"}
    assert scratch_arms(pd.DataFrame([{"strategy": "scratch"}, {"strategy": "head"}])) == {"scratch"}


def test_the_section_is_left_out_where_no_pretrained_strategy_ran():
    assert not has_pretrained({"task": "text-classification", "strategies": [{"name": "scratch"}, {"name": "own"}]})
    assert has_pretrained({"task": "text-classification", "strategies": [{"name": "scratch"}, {"name": "lora"}]})


def test_a_suggested_size_is_about_three_times_the_largest_and_round():
    assert suggested_size(1000) == 3000 and suggested_size(4297) == 13000 and suggested_size(5) == 15


def test_an_interval_without_an_upper_end_says_at_least_its_lower_one():
    assert interval_words({"low": 5123.0, "high": 41234.0}) == "5,100–41,000"
    assert interval_words({"low": 5123.0, "high": math.inf}) == "at least 5,100 (no upper end within these sizes)"
    assert interval_words({"low": math.nan, "high": math.nan}) == "—"
