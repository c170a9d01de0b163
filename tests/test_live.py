"""Live keeps track: each run's phase, the experiment's ETA and the picker's counts, on a store written directly."""
import math
import os
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from training.analysis.frames import experiment_eta, latest_progress, metrics_frame, run_phase, run_phases, runs_frame
from training.service.runner import acquire_lock
from training.service.store import Store
from training.testing import make_finished_experiment
from ui.common import experiment_label, frame_state, runs_state

ROOT = Path(__file__).resolve().parents[1]


def mid_run(store: Store) -> tuple[str, list[str]]:
    """A finished 17-run experiment rewound: full N=200 running with all its 40 steps logged (its final evaluation),
    lora N=200 running at step 20, scratch and head N=200 queued. Every run is timed: 25 s from start to end."""
    exp = make_finished_experiment(store, name="live demo", seeds=(0,), sizes=(50, 200))
    now = time.time()
    for i, r in enumerate(store.runs(exp)):
        store.update_run(r.id, started_at=now - 900 + 30 * i, ended_at=now - 875 + 30 * i)
    by = {(r.strategy, r.n_train): r.id for r in store.runs(exp) if r.role == "grid"}
    for s in ("full", "lora"):
        store.update_run(by[s, 200], status="running", ended_at=None, result_json=None)
    store.truncate_metrics(by["lora", 200], after_step=20)
    for s in ("scratch", "head"):
        store.update_run(by[s, 200], status="queued", started_at=None, ended_at=None, result_json=None)
        store.truncate_metrics(by[s, 200], after_step=-1)
    return exp, [by[s, 200] for s in ("scratch", "full", "lora", "head")]


def _progress(store: Store, exp: str):
    progress = latest_progress(runs_frame(store, exp), metrics_frame(store, exp))
    progress["phase"] = run_phases(store, progress)
    return progress


PLATEAU_AT_30 = [{"kind": "started", "data_json": "{}"}, {"kind": "plateau", "data_json": '{"end": 30, "cap": 40}'}]


@pytest.mark.parametrize("status, logged_step, events, phase", [
    ("queued", None, [], "queued"), ("done", 40, [], "done"), ("failed", 12, [], "failed"),
    ("cancelled", 12, [], "cancelled"),
    ("running", None, [], "starting"),  # no metric row yet: loading, scoring the base
    ("running", 0, [], "training"),  # the base was scored: it trains toward its first evaluation
    ("running", 20, [], "training"), ("running", 40, [], "evaluating"),
    ("running", 20, PLATEAU_AT_30, "training"), ("running", 30, PLATEAU_AT_30, "evaluating"),  # stops at the plateau's end
])
def test_run_phase(status, logged_step, events, phase):
    assert run_phase(status, logged_step, 40, events) == phase


def test_phases_and_eta_of_a_run_in_its_final_evaluation(tmp_path):
    store = Store(tmp_path / "store")
    exp, (scratch, full, lora, head) = mid_run(store)
    progress = _progress(store, exp).set_index("run_id")
    assert progress.loc[[scratch, full, lora, head], "phase"].tolist() == ["queued", "evaluating", "training", "queued"]
    eta = experiment_eta(progress, progress["phase"])
    # lora: 20 steps left × its 0.5 s a step; full: none (evaluating); scratch and head: 40 steps × 25 s / 40 steps
    # (their strategies' finished runs, start to end); summed and divided by the 2 runs running.
    assert eta == {"seconds": pytest.approx((20 * 0.5 + 0 + 2 * 40 * 25 / 40) / 2), "remaining": 4, "unknown": 0,
                   "from_plan": 0, "parallel": 2}


def test_eta_is_unknown_before_any_step_and_zero_when_all_done(tmp_path):
    store = Store(tmp_path / "store")
    exp, rewound = mid_run(store)
    for r in store.runs(exp):
        store.update_run(r.id, status="queued", result_json=None)
        store.truncate_metrics(r.id, after_step=-1)
    eta = experiment_eta(_progress(store, exp))
    assert math.isnan(eta["seconds"]) and eta["unknown"] == eta["remaining"] == 17
    # issue 41: before any step, the plan's timed step estimates them ("ETA ≥ 3 s" with 6 runs left said nothing)
    from training.analysis.frames import planned_step_seconds

    planned = planned_step_seconds({"timed_step": {"flops_per_s": 1e9}, "cost": {"reference_seconds": 4.0},
                                    "footprint": {s: {"flops_per_example": 1e8} for s in ("scratch", "full", "lora",
                                                                                          "head")}}, batch_size=10)
    assert planned == {**{s: 1.0 for s in ("scratch", "full", "lora", "head")}, "references": 4.0}
    progress = _progress(store, exp)
    eta = experiment_eta(progress, planned=planned)
    assert eta["unknown"] == 0 and eta["from_plan"] == 17
    networks = progress["strategy"] != "references"
    assert eta["seconds"] == pytest.approx(float(progress.loc[networks, "total_steps"].sum()) + 4.0)  # 1 s a step
    for r in store.runs(exp):
        store.update_run(r.id, status="done")
    assert experiment_eta(_progress(store, exp))["seconds"] == 0.0


def test_picker_label_counts_what_the_runs_frame_does(tmp_path):
    store = Store(tmp_path / "store")
    exp, (scratch, full, lora, head) = mid_run(store)
    store.update_run(head, status="failed")
    label = experiment_label(store.experiments()[0])
    assert label.endswith(" · 13/17 done, 1 failed, running") and label.endswith(frame_state(runs_frame(store, exp)))
    for run_id in (scratch, full, lora):
        store.update_run(run_id, status="done")
    assert experiment_label(store.experiments()[0]).endswith(" · 16/17 done, 1 failed")
    assert runs_state(18, 18, 0, 0) == "18/18 done"


def test_live_page_shows_the_phase_and_the_experiment_eta(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADSTART_STORE", str(tmp_path / "store"))
    store = Store(tmp_path / "store")
    exp, (_, full, lora, _) = mid_run(store)
    lock = acquire_lock(store.root)  # stands in for a dispatcher: the home page starts none to train the queued runs
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.session_state["exp_id"] = exp
        at.run()
        at.switch_page("pages/2_Live.py").run()
    finally:
        os.close(lock)
    assert not at.exception, at.exception
    assert "13/17 done, running" in at.selectbox(key="exp_picker").format_func(exp)
    assert "experiment ETA ≈ 30 s" in at.get("progress")[0].proto.text
    running_now = next(m.value for m in at.markdown if m.value.startswith("**Running now:**"))
    assert "full N=200 seed 0 — **evaluating**" in running_now and "lora N=200 seed 0 — **training**, 50%" in running_now
    table = at.dataframe[0].value.set_index("run")
    assert table.loc[full, ["phase", "step", "ETA"]].tolist() == ["evaluating ▶", "40 / 40", ""]  # not "ETA 0 s"
    assert table.loc[lora, ["phase", "ETA"]].tolist() == ["training ▶", "10 s"]


def test_picker_says_queued_while_no_run_trains():
    assert runs_state(8, 0, 0, 0, 8) == "0/8 done, queued"
    assert runs_state(8, 2, 0, 1, 5) == "2/8 done, running"
