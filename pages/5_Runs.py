"""Runs: every experiment in the store — filter, open, duplicate as a new experiment, see and free its disk, delete."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from training.analysis.frames import runs_frame
from training.analysis.preflight import preflight
from training.analysis.units import human_bytes, human_flops, human_seconds, human_time, plain
from training.service.bundle import GALLERY_OWNER
from training.settings import load_settings
from ui.auth import current_user
from ui.common import (
    STATUS_LABEL,
    enqueue,
    experiment_label,
    get_store,
    launch_key,
    launched,
    plan,
    setup_page,
    visible_experiments,
)

setup_page("Runs")
st.title("Runs")
store = get_store()
if st.session_state.get("runs_deleted"):  # set by "Delete experiment" before its rerun
    st.success(f"Deleted {plain(st.session_state.pop('runs_deleted'))} and its checkpoints.")
exps = visible_experiments()
if not exps:
    st.info("The store is empty. Experiments you launch appear here.")
    st.stop()

c1, c2 = st.columns([2, 1])
text = c1.text_input("Filter by name or id", key="runs_filter")
status = c2.selectbox("Status", ["any", "active", "finished", "with failures"], key="runs_status")


def keep(e: dict) -> bool:
    if text and text.lower() not in (e.name + e.id).lower():
        return False
    active = e.n_running + e.n_queued > 0
    return {"any": True, "active": active, "finished": not active and e.n_done == e.n_runs,
            "with failures": e.n_failed > 0}[status]


shown = [e for e in exps if keep(e)]
st.dataframe(pd.DataFrame([{"experiment": e.name, "id": e.id, "owner": e.owner, "runs": e.n_runs,
                            "done": e.n_done, "running": e.n_running, "queued": e.n_queued,
                            "failed": e.n_failed,
                            "created": human_time(e.created_at, "%Y-%m-%d %H:%M")}
                           for e in shown]), hide_index=True)
if not shown:
    st.stop()
by_id = {e.id: e for e in shown}
exp_id = st.selectbox("Experiment", list(by_id), format_func=lambda i: experiment_label(by_id[i]), key="runs_pick")
st.session_state["exp_id"] = exp_id
runs = store.runs(exp_id)
st.dataframe(pd.DataFrame([{"strategy": r.strategy, "N": r.n_train, "seed": r.seed,
                            "status": STATUS_LABEL[r.status], "steps": r.total_steps, "error": r.error or ""}
                           for r in runs]), hide_index=True)

active = any(r.status.active for r in runs)
owned = by_id[exp_id].owner == current_user() or load_settings().mode == "local"
if by_id[exp_id].owner == GALLERY_OWNER and load_settings().mode != "local":
    owned = False  # the gallery is read-only outside local mode
use = store.disk_use(exp_id)
with st.container(border=True, key="runs_disk"):
    st.markdown(f"**On disk: {human_bytes(sum(use.values()))}** — {human_bytes(use['models'])} of finished models (what "
                f"Try it and downloads answer with), {human_bytes(use['unused'])} of checkpoints no one can answer with "
                f"(runs that stopped before finishing, learning-rate search candidates), {human_bytes(use['other'])} "
                "of configs, metrics and logs.")
    if use["unused"]:
        if st.button(f"Free {human_bytes(use['unused'])}", key="runs_free", disabled=active or not owned,
                     help="Removes the checkpoints of stopped runs and search candidates; a stopped run resumed "
                          "afterwards starts from step 0." if owned else "Only its owner can free its disk."):
            st.session_state["runs_freed"] = store.free_disk(exp_id)
            st.rerun()
    if st.session_state.get("runs_freed"):
        st.success(f"Freed {human_bytes(st.session_state.pop('runs_freed'))}.")

a, b, c = st.columns(3)
if a.button("Open in Compare", key="runs_open"):
    st.switch_page("pages/3_Compare.py")
dup_key = f"runs_dup_plan_{exp_id}"  # the copy's preflight, until it is queued or dropped
if b.button("Duplicate as a new experiment", key="runs_dup"):
    cfg = json.loads(store.experiment(exp_id).config_json)
    cfg["name"] = f"{cfg['name']} (copy)"
    with st.spinner("Checking the copy and estimating it (the data and model load, as for a new experiment)…"):
        result, error = plan(cfg)
    st.session_state[dup_key] = {"config": cfg, "plan": result, "error": error}
if st.session_state.get("runs_dup_queued"):
    st.success(plain(st.session_state.pop("runs_dup_queued")))
if dup_key in st.session_state:
    copy = st.session_state[dup_key]
    with st.container(border=True, key="runs_dup_box"):
        if copy["error"]:
            st.error(f"The copy cannot run as it is: {plain(copy['error'])}")
        else:
            history = pd.concat([runs_frame(store, e.id) for e in store.experiments()[:20]] or [pd.DataFrame()])
            pf = preflight(copy["plan"], history, copy["plan"]["info"].get("device_name"))
            st.markdown(f"**{plain(copy['config']['name'])}**: the same data, model, strategies, sizes and seeds — "
                        f"{pf['runs']} runs, about {human_seconds(pf['est_s'])} of training "
                        f"({pf['estimate_basis']}), {human_flops(pf['flops'])}. To change anything, start it on "
                        "New experiment instead.")
        q1, q2 = st.columns(2)
        if q1.button("Queue the copy", type="primary", key="runs_dup_go", disabled=bool(copy["error"])):
            with st.spinner("Queueing…"):
                new_id, error = enqueue(copy["config"], key=launch_key(dup_key))
            if error:
                st.error(error)
            else:
                launched(dup_key)
                st.session_state.pop(dup_key)
                st.session_state["runs_dup_queued"] = f"Queued {copy['config']['name']} ({new_id}); watch it on Live."
                st.rerun()
        if q2.button("Don't duplicate", key="runs_dup_drop"):
            st.session_state.pop(dup_key)
            st.rerun()
with c:
    why_not = ("It has queued or running runs: cancel them first (Live page)." if active
               else None if owned else "Only its owner can delete it.")
    sure_key = f"runs_sure_{exp_id}"  # one per experiment: a new selection starts unticked
    sure = st.checkbox("Yes, delete it and its checkpoints", key=sure_key, disabled=bool(why_not), help=why_not)
    if st.button("Delete experiment", disabled=not sure or bool(why_not), key="runs_delete", help=why_not):
        store.delete_experiment(exp_id)
        for key in ("exp_id", "runs_pick", sure_key):
            st.session_state.pop(key, None)
        st.session_state["runs_deleted"] = f"{by_id[exp_id].name} ({exp_id})"
        st.rerun()
    if why_not:
        st.caption(f"Can't delete this experiment. {why_not}")
