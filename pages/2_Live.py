"""Live: progress, status, cancel and loss curves of an experiment while it trains.

The view is a fragment that re-runs every 2 s (longer when many sessions watch; see `live_interval`) only
while something is queued or running; it reads the store, so it picks up runs that started before the page
was opened (or in another browser).
"""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from training.analysis.figures import NOTES, X_AXES
from training.analysis.frames import latest_progress
from training.errors import HeadStartError
from training.service.runner import ensure_dispatcher
from training.settings import load_settings
from ui.auth import current_user
from ui.common import (
    LIVE_REFRESH_S,
    STATUS_LABEL,
    get_store,
    human_seconds,
    live_curves,
    live_frames,
    live_interval,
    pick_experiment,
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
ROLE = {"grid": "", "lr-sweep": "learning-rate search", "reference": "majority class + TF-IDF", "pretrain": "pretraining"}


INTERVAL = live_interval() if is_active() else None


@st.fragment(run_every=INTERVAL)
def live_view() -> None:
    tick = int(time.time())
    runs, metrics = live_frames(str(store.root), exp_id, tick)
    progress = latest_progress(runs, metrics)
    total = progress["total_steps"].fillna(0).sum()
    done_steps = progress["logged_step"].sum()
    finished = int((runs["status"] == "done").sum())
    active = bool(runs["status"].isin(["queued", "running"]).any())
    st.progress(float(done_steps / total) if total else 0.0,
                text=f"{finished}/{len(runs)} runs done · {int(done_steps):,}/{int(total):,} steps"
                     + (f" · updating every {INTERVAL or LIVE_REFRESH_S:.0f} s" if active else ""))

    # A run that trains until a plateau counts toward its cap and usually stops sooner: "≤" marks both.
    upto = (progress["role"] == "grid") & progress["strategy"].isin(PLATEAU) & (progress["status"] != "done")
    table = pd.DataFrame({
        "strategy": progress["strategy"], "what": progress["role"].map(ROLE).fillna("")
        + progress["sweep_lr"].map(lambda lr: f" {lr:.2g}" if lr == lr and lr is not None else "").where(
            progress["role"] == "lr-sweep", ""),
        "N": progress["n_train"], "seed": progress["seed"],
        "status": progress["status"].map(STATUS_LABEL), "progress": progress["progress"],
        "step": progress["logged_step"].astype(str) + " / " + upto.map({True: "≤", False: ""})
        + progress["total_steps"].astype("Int64").astype(str),
        "ETA": [("≤ " if u else "") + human_seconds(s) if s == s else "" for s, u in zip(progress["eta_s"], upto, strict=True)],
        "run": progress["run_id"]})
    st.dataframe(table, hide_index=True, column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent")})

    for _, r in runs[runs["status"].isin(["failed", "interrupted"])].iterrows():
        st.error(f"**{r['strategy']}, N={r['n_train']}, seed {r['seed']} — {r['status']}:** {r['error'] or 'no message'}",
                 icon="🚨")

    owned = load_settings().mode == "local" or store.experiment(exp_id).owner == current_user()
    stoppable = runs[runs["status"].isin(["queued", "running"])] if owned else runs.iloc[0:0]
    resumable = runs[runs["status"].isin(["interrupted", "cancelled", "failed"])] if owned and not RECORD else runs.iloc[0:0]
    if RECORD:
        st.info("An imported experiment: a record to look at, never trained here. To train it, start a **New "
                "experiment** with its config.")
    labels = {r["run_id"]: f"{r['strategy']} N={r['n_train']} seed {r['seed']} ({r['status']})"
              for _, r in runs.iterrows()}
    c1, c2, c3 = st.columns([2, 1, 1])
    with c1:
        choice = st.selectbox("Run", list(stoppable["run_id"]) + list(resumable["run_id"]), key="live_run",
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
                st.error(str(e))
            else:
                ensure_dispatcher(store_dir())
                st.rerun()

    x = st.segmented_control("x-axis", list(X_AXES), default="step", format_func=lambda k: X_AXES[k], key="live_x")
    if metrics.empty:
        st.caption("Curves appear at the first evaluation of a run.")
    else:
        show_figure(live_curves(str(store.root), exp_id, tick, x or "step"), NOTES["curves"], key="live_curves")
    if not active and st.session_state.get("live_was_active"):
        st.session_state["live_was_active"] = False
        st.rerun()  # redefine the fragment without auto-refresh once everything has finished
    st.session_state["live_was_active"] = active
    if active and INTERVAL and abs(live_interval() - INTERVAL) > 0.5 * INTERVAL:
        st.rerun()  # many more (or fewer) sessions watch now: redefine the fragment at the new interval


live_view()
