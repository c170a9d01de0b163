"""Live: progress, status, cancel and loss curves of an experiment while it trains.

The view is a fragment that re-runs every 2 s (longer when many sessions watch; see `live_interval`) only
while something is queued or running; it reads the store, so it picks up runs that started before the page
was opened (or in another browser). When a run finishes, fails or starts, it redraws the whole page, so the
experiment picker's counts stay true. Each run shows its phase (starting, training, evaluating…), and the experiment
an ETA that says how it was computed (`training.analysis.frames.experiment_eta`).
"""
from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from training.analysis.figures import X_AXES, note
from training.analysis.frames import experiment_eta, planned_step_seconds
from training.analysis.generations import generations_frame, latest
from training.analysis.units import human_seconds, plain
from training.errors import HeadStartError
from training.service.runner import ensure_dispatcher
from training.settings import load_settings
from training.tasks import known
from ui.auth import current_user
from ui.common import (
    LIVE_REFRESH_S,
    STATUS_LABEL,
    get_store,
    live_curves,
    live_frames,
    live_interval,
    live_phases,
    pick_experiment,
    picker_is_stale,
    record_live_cost,
    revive_dispatcher,
    setup_page,
    show_figure,
    store_dir,
)

setup_page("Live")
st.title("Live")
store = get_store()
exp_id = pick_experiment(prefer_active=True)
if exp_id is None:
    st.info("Nothing to watch yet. Launch the quick demo from the home page or start a **New experiment**.")
    st.stop()


def is_active() -> bool:
    return any(r.status.active for r in store.runs(exp_id))


RECORD = store.is_record(exp_id)
PLATEAU = {s for s, on in store.experiment(exp_id).info.get("until_plateau", {}).items() if on}
CONFIG = store.experiment(exp_id).config.to_dict()
PLANNED = planned_step_seconds(json.loads(store.experiment(exp_id).info_json or "{}"), CONFIG["train"]["batch_size"])
KIND = known(CONFIG["task"])  # None for a record of a kind this install does not have
REFERENCE = (KIND.words.live_references if KIND is not None else "") or "references"
ROLE = {"grid": "", "lr-sweep": "learning-rate search", "reference": REFERENCE, "pretrain": "pretraining"}
PHASE_LABEL = {**STATUS_LABEL, "starting": "starting ▶", "training": "training ▶", "evaluating": "evaluating ▶",
               "probing": "probing ▶", "checkpointing": "checkpointing ▶"}
PHASE_NOTE = {"starting": "loading data and model, scoring the base model",
              "probing": "all steps done: scoring validation and the forgetting probes",
              "checkpointing": "all steps done: saving the final weights",
              "evaluating": "all steps done: scoring the eval set"}


def eta_line(eta: dict) -> tuple[str, str]:
    """The experiment's ETA for the progress bar, and how it was computed in plain words."""
    if not eta["remaining"]:
        return "", ""
    if eta["seconds"] != eta["seconds"]:
        return "experiment ETA —", ("Experiment ETA —: no strategy of the runs left has timed a step yet; it appears once "
                                    "a run has logged its first evaluation.")
    at_least = "≥ " if eta["unknown"] else "≈ "
    how = (f"Experiment ETA {at_least}{human_seconds(eta['seconds'])}: for each of the {eta['remaining']} runs left, "
           "its steps left × its strategy's seconds per step so far (whole finished runs, loading and evaluations "
           f"included, where there are some), summed and divided by the {eta['parallel']} "
           f"run{'s' if eta['parallel'] > 1 else ''} training at once.")
    if eta.get("from_plan"):
        how += (f" {eta['from_plan']} of them belong to strategies with no finished step yet: their seconds per step "
                "are the plan's (its timed training step on this machine).")
    if eta["unknown"]:
        how += f" {eta['unknown']} of them have no timed step in their strategy yet and are left out."
    if PLATEAU:
        how += " Runs that train until a plateau count their whole cap, and usually stop sooner."
    return f"experiment ETA {at_least}{human_seconds(eta['seconds'])}", how


INTERVAL = live_interval() if is_active() else None
if INTERVAL:
    revive_dispatcher()  # someone watches work that needs a dispatcher: make sure one serves it


@st.fragment(run_every=INTERVAL)
def live_view() -> None:
    started = time.thread_time()  # this refresh's own CPU time: its cost on this host, not the wait for others'
    tick = int(time.time())
    runs, metrics = live_frames(str(store.root), exp_id, tick)
    if picker_is_stale(runs) and st.session_state.get("live_redrawn_at") != tick:
        # The picker above this fragment still shows the counts it was drawn with: redraw the page (once a tick),
        # and without auto-refresh once nothing is queued or running.
        st.session_state["live_redrawn_at"] = tick
        st.rerun()
    progress = live_phases(str(store.root), exp_id, tick)
    progress.loc[progress["phase"] != "training", "eta_s"] = float("nan")  # evaluating is not "ETA 0 s"
    eta_text, eta_how = eta_line(experiment_eta(progress, progress["phase"], PLANNED))
    total = progress["total_steps"].fillna(0).sum()
    done_steps = progress["logged_step"].sum()
    finished = int((runs["status"] == "done").sum())
    active = bool(runs["status"].isin(["queued", "running"]).any())
    st.progress(float(done_steps / total) if total else 0.0,
                text=f"{finished}/{len(runs)} runs done · {int(done_steps):,}/{int(total):,} steps"
                     + (f" · {eta_text}" if eta_text else "")
                     + (f" · updating every {INTERVAL or LIVE_REFRESH_S:.0f} s" if active else ""))
    if eta_how:
        st.caption(eta_how)
    now = progress[progress["status"] == "running"]
    if not now.empty:
        st.markdown("**Running now:** " + " · ".join(
            f"{plain(r.strategy)} N={r.n_train} seed {r.seed} — **{plain(r.phase)}**"
            + (f" ({PHASE_NOTE[r.phase]})" if r.phase in PHASE_NOTE else f", {r.progress:.0%}")
            for r in now.itertuples(index=False)))

    # A run that trains until a plateau counts toward its cap and usually stops sooner: "≤" marks both.
    upto = (progress["role"] == "grid") & progress["strategy"].isin(PLATEAU) & (progress["status"] != "done")
    table = pd.DataFrame({
        "strategy": progress["strategy"], "what": progress["role"].map(ROLE).fillna("")
        + progress["sweep_lr"].map(lambda lr: f" {lr:.2g}" if lr == lr and lr is not None else "").where(
            progress["role"] == "lr-sweep", ""),
        "N": progress["n_train"], "seed": progress["seed"],
        "phase": progress["phase"].map(PHASE_LABEL).fillna(progress["phase"]), "progress": progress["progress"],
        "step": progress["logged_step"].astype(str) + " / " + upto.map({True: "≤", False: ""})
        + progress["total_steps"].astype("Int64").astype(str),
        "ETA": [("≤ " if u else "") + human_seconds(s) if s == s else "" for s, u in zip(progress["eta_s"], upto, strict=True)],
        "run": progress["run_id"]})
    st.dataframe(table, hide_index=True, column_config={
        "what": st.column_config.TextColumn("what", width=190),  # "learning-rate search 0.00033" whole at 1280 px
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent", width=110)})

    for _, r in runs[runs["status"].isin(["failed", "interrupted"])].iterrows():
        st.error(f"**{plain(r['strategy'])}, N={r['n_train']}, seed {r['seed']} — {r['status']}:** "
                 + plain(r["error"] or "no message"), icon="🚨")

    owned = load_settings().mode == "local" or store.experiment(exp_id).owner == current_user()
    stoppable = runs[runs["status"].isin(["queued", "running"])] if owned else runs.iloc[0:0]
    resumable = runs[runs["status"].isin(["interrupted", "cancelled", "failed"])] if owned and not RECORD else runs.iloc[0:0]
    if RECORD:
        st.info("An imported experiment: a record to look at, never trained here. To train it, start a **New "
                "experiment** with its config.")
    labels = {r["run_id"]: f"{r['strategy']} N={r['n_train']} seed {r['seed']} ({r['status']})"
              for _, r in runs.iterrows()}
    options = list(stoppable["run_id"]) + list(resumable["run_id"])
    if st.session_state.get("live_run") in options:
        st.session_state["live_run"] = st.session_state["live_run"]  # sent again: its label shows the status now
    c1, c2, c3 = st.columns([2, 1, 1])
    with c1:
        choice = st.selectbox("Run", options, key="live_run",
                              format_func=labels.get, disabled=stoppable.empty and resumable.empty,
                              placeholder="no run to cancel or resume")
    with c2:
        if st.button("Cancel run", disabled=choice not in set(stoppable["run_id"])):
            st.toast(f"cancel requested: {store.request_cancel(choice)}")
        if st.button("Cancel all", disabled=stoppable.empty):
            for rid in stoppable["run_id"]:
                store.request_cancel(rid)
            st.toast("cancel requested for every queued or running run")
    with c3:
        if st.button("Resume run", disabled=choice not in set(resumable["run_id"])):
            try:
                store.requeue(choice)
            except HeadStartError as e:
                st.error(plain(e))
            else:
                ensure_dispatcher(store_dir())
                st.rerun()

    x = st.segmented_control("x-axis", list(X_AXES), default="step", format_func=lambda k: X_AXES[k], key="live_x")
    if metrics.empty:
        st.caption("Curves appear at the first evaluation of a run.")
    else:
        show_figure(live_curves(str(store.root), exp_id, tick, x or "step"), note("curves", CONFIG), key="live_curves")
    if KIND is not None and KIND.generations:
        answers_as_they_improve()
    record_live_cost(time.thread_time() - started)
    if active and INTERVAL and abs(live_interval() - INTERVAL) > 0.5 * INTERVAL:
        st.rerun()  # many more (or fewer) sessions watch now: redefine the fragment at the new interval


def answers_as_they_improve() -> None:
    """Each run's latest answers to the validation prompts, side by side per training-set size (chat)."""
    st.subheader("Answers as they improve")
    now = latest(generations_frame(store, exp_id), "validation")
    if now.empty:
        runs = store.runs(exp_id)
        grid = [r for r in runs if r.role == "grid"]
        searching = [r for r in runs if r.role == "lr-sweep" and r.status in ("queued", "running")]
        started = [r for r in grid if r.status != "queued"]
        if searching and not started:  # the first runs to end are search candidates: they answer nothing
            st.caption(f"The learning-rate search runs first ({len(searching)} candidate run(s) to go): its candidates "
                       "are compared on validation loss and answer no prompts, to save time. Each grid run answers a "
                       "few validation prompts at every evaluation, from its first (step 0, before training); they "
                       "appear here then.")
        elif not grid:
            st.caption("This experiment has no grid runs that answer prompts.")
        else:
            st.caption("Each grid run answers a few validation prompts at every evaluation, from its first (step 0, "
                       "before training); they appear here then.")
        return
    sizes = sorted(now["n_train"].unique())
    n = st.segmented_control("Training-set size", sizes, default=sizes[-1], key="live_answers_n") or sizes[-1]
    g = now[(now["n_train"] == n) & (now["seed"] == now.loc[now["n_train"] == n, "seed"].min())]
    g = g.assign(column=g["strategy"] + " (step " + g["step"].astype(int).astype(str) + ")")
    table = g.pivot_table(index=["prompt_index", "prompt", "reference"], columns="column", values="output",
                          aggfunc="first").reset_index().drop(columns="prompt_index")
    table.columns.name = None
    st.dataframe(table, hide_index=True)
    st.caption(f"Greedy answers of each run (seed {int(g['seed'].min())}) to the same validation prompts at its latest "
               "evaluation, beside the reference answer. The final answers to held-out eval prompts are on Compare.")


live_view()
