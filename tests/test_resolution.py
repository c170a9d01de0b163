"""Issue 40, item 2: the precision planner — the half-width a design can resolve, checked against simulated experiments,
suggestions that reach the margin once applied, `plan`'s JSON and the preflight sentence."""
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from training.analysis.resolution import MAX_SEEDS, half_width, resolution, resolution_sentence

N_SIMULATIONS = 4000


def _empirical_half_width(diffs: np.ndarray) -> float:
    low, high = np.percentile(diffs, [2.5, 97.5])
    return (high - low) / 2


@pytest.mark.parametrize("n, seeds, disagreement, seed_spread", [
    (600, 1, 0.2, 0.0), (200, 1, 0.3, 0.0), (2000, 1, 0.1, 0.0), (600, 1, 0.2, 0.01), (600, 3, 0.2, 0.01),
    (1000, 5, 0.25, 0.02)])
def test_a_proportions_half_width_matches_simulated_paired_outcomes(n, seeds, disagreement, seed_spread):
    """Two models with equal accuracy disagree on `disagreement` of n examples (one right, the other wrong, either way
    alike); each seed moves a strategy's accuracy by N(0, seed_spread²); the eval set is the same for every seed. The
    spread of the measured difference of their means matches the planner's half-width within 15%."""
    rng = np.random.default_rng(0)
    per_example = rng.choice([1, -1, 0], p=[disagreement / 2, disagreement / 2, 1 - disagreement],
                             size=(N_SIMULATIONS, n))
    seed_noise = rng.normal(0, seed_spread, size=(N_SIMULATIONS, 2, seeds)).mean(axis=2)
    measured = per_example.mean(axis=1) + seed_noise[:, 0] - seed_noise[:, 1]
    predicted = half_width(n, seeds, "accuracy", disagreement=disagreement, seed_spread=seed_spread)
    assert _empirical_half_width(measured) == pytest.approx(predicted, rel=0.15)


@pytest.mark.parametrize("n, seeds, seed_spread", [(600, 1, 0.0), (200, 3, 0.014)])
def test_a_continuous_half_width_matches_simulated_rmse_differences(n, seeds, seed_spread):
    """RMSE: two models' errors Gaussian and correlated 0.8 (EXAMPLE_SPREAD's assumption); the relative difference of
    their RMSEs spreads as the planner says, within 15%."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(N_SIMULATIONS, n))
    b = 0.8 * a + 0.6 * rng.normal(size=(N_SIMULATIONS, n))
    rmse_a, rmse_b = np.sqrt((a ** 2).mean(axis=1)), np.sqrt((b ** 2).mean(axis=1))
    seed_noise = rng.normal(0, seed_spread, size=(N_SIMULATIONS, 2, seeds)).mean(axis=2)
    measured = (rmse_a - rmse_b) / rmse_b + seed_noise[:, 0] - seed_noise[:, 1]
    assert _empirical_half_width(measured) == pytest.approx(half_width(n, seeds, "rmse", seed_spread=seed_spread),
                                                            rel=0.15)


def _apply(change: str, info: dict, config: dict) -> None:
    key, value = change.split("=", 1)
    if key == "seeds":
        config["seeds"] = json.loads(value)
    else:
        config["data"][key.removeprefix("data.")] = json.loads(value)
    rows, d = info["rows"], config["data"]
    info["eval_rows"] = min(round(rows * d["eval_fraction"]), d["eval_max"])


DESIGNS = [  # (metric, data info, seeds, sizes, margin)
    ("accuracy", {"rows": 3000, "eval_rows": 600}, [0], [100, 1000, "all"], None),
    ("accuracy", {"rows": 3000, "eval_rows": 600}, [0], [100, 1000, "all"], 0.03),
    ("accuracy", {"rows": 30_000, "eval_rows": 1000}, [0], [100, 1000, "all"], 0.03),
    ("accuracy", {"rows": 50_000, "eval_rows": 1000}, [0, 1, 2], [100, 1000, "all"], 0.02),
    ("accuracy", {"rows": 400, "eval_rows": 80, "eval_source": "test.csv"}, [0], ["all"], 0.05),
    ("macro_f1", {"rows": 10_000, "eval_rows": 1000}, [7], [100, "all"], 0.03),
    ("rmse", {"rows": 5000, "eval_rows": 1000}, [0], [100, 1000, "all"], None),
    ("rmse", {"rows": 60_000, "eval_rows": 1000}, [0], [100, 1000, "all"], 0.04),
]


@pytest.mark.parametrize("metric, info, seeds, sizes, margin", DESIGNS)
def test_every_suggestion_decides_once_applied_and_stays_inside_the_data(metric, info, seeds, sizes, margin):
    config = {"seeds": seeds, "sizes": sizes, "data": {"eval_fraction": 0.2, "eval_max": 1000}}
    r = resolution(metric, info, config, margin)
    assert not r.can_decide and r.suggestions, r
    for s in r.suggestions:
        i, c = dict(info), json.loads(json.dumps(config))
        if s.flag:
            flag, value = s.flag.split()
            assert flag == "--margin"
            again = resolution(metric, i, c, float(value))
        else:
            for change in s.set:
                _apply(change, i, c)
            if info.get("eval_source"):
                i["eval_rows"] = info["eval_rows"]  # a test set of one's own does not grow by config
            assert len(c["seeds"]) <= MAX_SEEDS and i["eval_rows"] <= info["rows"] * 0.5
            largest = max([n for n in sizes if n != "all"] or [0])
            assert info["rows"] - i["eval_rows"] >= largest
            again = resolution(metric, i, c, margin)
        assert again.can_decide, (s, again)
        assert again.half_width == pytest.approx(s.half_width)


def test_a_test_set_of_ones_own_is_never_asked_to_grow():
    r = resolution("accuracy", {"rows": 400, "eval_rows": 80, "eval_source": "test.csv"}, {"seeds": [0], "sizes": ["all"]},
                   0.05)
    assert not any("eval" in change for s in r.suggestions for change in s.set)


def test_the_default_design_says_it_cannot_decide_and_what_would():
    """The issue's design: 600 eval examples, 1 seed, accuracy's margin ±0.01."""
    r = resolution("accuracy", {"rows": 3000, "eval_rows": 600}, {"seeds": [0], "sizes": [100, 1000, "all"]})
    text = resolution_sentence(r)
    assert text.startswith("With 600 eval examples and 1 seed, differences under ±0.0")
    assert "cannot be told apart; your margin is ±0.01" in text and "a margin of ±" in text
    assert "disagree on 20% of eval examples" in text
    wide = resolution("accuracy", {"rows": 3000, "eval_rows": 600}, {"seeds": [0], "sizes": [100]}, 0.05)
    assert wide.can_decide and not wide.suggestions and "can decide" in resolution_sentence(wide)


def test_plans_json_carries_resolution(tmp_path, capsys):
    from training.__main__ import main
    from training.testing import tabular_rows, tiny_tabular_config

    data = tmp_path / "t.csv"
    pd.DataFrame(tabular_rows(300)).to_csv(data, index=False)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(tiny_tabular_config(data).to_dict()))
    assert main(["plan", str(config), "--store", str(tmp_path / "store"), "--format", "json", "--margin", "0.05"]) == 0
    out = json.loads(capsys.readouterr().out)
    r = out["resolution"]
    assert r["eval_examples"] == out["info"]["data"]["eval_rows"] == 40 and r["seeds"] == 1 and r["margin"] == 0.05
    assert r["can_decide"] is False and r["half_width"] > 0.05
    assert any(s["flag"] == f"--margin {math.ceil(r['half_width'] * 1000) / 1000:g}" for s in r["suggestions"])
    assert all(s["set"] or s["flag"] for s in r["suggestions"])


def test_the_preflight_says_what_the_design_can_resolve(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import ui.common
    from tests.test_app import ROOT

    monkeypatch.setenv("HEADSTART_STORE", str(tmp_path / "store"))
    runs = [{"id": "r0", "strategy": "full", "role": "grid", "n_train": 100, "seed": 0, "total_steps": 30}]
    info = {"footprint": {"full": {"flops_per_example": 1e9}}, "device_name": "cpu (2 cores)", "device": "cpu",
            "pool_size": 2000, "lr_search": {},
            "data": {"rows": 3000, "train_rows": 2160, "validation_rows": 240, "eval_rows": 600}}
    monkeypatch.setattr(ui.common, "plan", lambda cfg: ({"runs": runs, "info": info, "config": cfg}, None))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/1_New_experiment.py").run()
    at.button(key="new_check").click().run()
    assert not at.exception, at.exception
    said = " ".join(w.value for w in list(at.warning) + list(at.caption))
    assert re.search(r"With 600 eval examples and \d+ seeds?, differences (under|of) ±", said), said
    # one click applies a suggestion: the seeds into the seeds control, the eval set's size into the plan's config
    # (a table's 3 candidates at ±2% of the RMSE can decide with seeds and the eval examples a large file has)
    info["data"] = {"rows": 100_000, "train_rows": 79_000, "validation_rows": 1000, "eval_rows": 600}
    at.selectbox(key="new_preset").set_value("tabular").run()
    at.button(key="new_check").click().run()
    seen = []
    monkeypatch.setattr(ui.common, "plan", lambda cfg: (seen.append(cfg) or {"runs": runs, "info": info,
                                                                            "config": cfg}, None))
    use = [b for b in at.button if (b.key or "").startswith("new_precision_")]
    assert use and use[0].label.startswith("Use "), [b.label for b in at.button]
    label = use[0].label
    assert "seeds" in label or "eval examples" in label, label
    use[0].click().run()
    assert not at.exception, at.exception
    cfg = seen[-1]
    if "seeds" in label:
        k = int(re.search(r"(\d+) seeds", label).group(1))
        assert len(cfg["seeds"]) == k and at.number_input(key="new_preset_seeds").value == k
    if "eval examples" in label:
        n = int(re.search(r"([\d,]+) eval examples", label).group(1).replace(",", ""))
        assert cfg["data"]["eval_max"] == n
    said = " ".join(w.value for w in list(at.warning) + list(at.caption))
    assert "set when reading the results" in said and "--margin" in said
