"""Head Start — home page. Launches experiments as background processes and reads the store.

Training never runs here: a launch queues the experiment in the store and makes sure a dispatcher
(`python -m training worker`) serves it; each run trains in its own worker process, so closing the tab
or restarting the app does not touch it. This file imports no torch.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import streamlit as st

from training.presets import describe_presets
from training.results import run_rows
from training.runner import ensure_dispatcher
from training.store import Store

STORE_DIR = Path(os.environ.get("HEADSTART_STORE", "headstart-store")).resolve()

st.set_page_config(page_title="Head Start", page_icon="🏁", layout="wide")


@st.cache_resource
def get_store(root: str) -> Store:
    return Store(root)


def launch_preset(name: str) -> None:
    """Validate and store the experiment in a subprocess (this process never imports torch), then make
    sure a dispatcher is serving the store; it starts one worker process per run."""
    with st.spinner(f"Checking and queueing {name}…"):
        out = subprocess.run([sys.executable, "-m", "training", "enqueue", name, "--store", str(STORE_DIR)],
                             capture_output=True, text=True, cwd=Path(__file__).parent)
    if out.returncode != 0:
        st.error(out.stderr.strip().removeprefix("error: ") or "could not queue the experiment")
        return
    ensure_dispatcher(STORE_DIR)
    st.toast(f"Queued {name} as {out.stdout.strip()}")


st.title("Head Start")
st.markdown(
    "Head Start shows, on your own data and hardware, what training a model **from scratch** costs and gives "
    "compared with **fine-tuning** a pretrained one. It runs the matched experiment — same data, splits and budget "
    "for every strategy, at several training-set sizes and seeds — and measures accuracy, compute and what "
    "fine-tuning makes the model **forget**.")

if get_store(str(STORE_DIR)).runs(status="queued"):
    ensure_dispatcher(STORE_DIR)  # queued work and no dispatcher (e.g. after a reboot): start one

presets = {p["name"]: p for p in describe_presets()}
left, right = st.columns([1, 2])
with left:
    choice = st.selectbox("Preset", list(presets), index=0, help="Built-in experiments that run offline.")
    st.caption(presets[choice]["description"])
    if st.button(f"Launch {choice}", type="primary"):
        launch_preset(choice)


@st.fragment(run_every=2)
def experiments_view() -> None:
    store = get_store(str(STORE_DIR))
    exps = store.experiments()
    if not exps:
        st.info("No experiments yet. Launch the quick preset: it finishes in about three minutes on a laptop CPU.")
        return
    table = pd.DataFrame([{"id": e["id"], "name": e["name"], "runs": e["n_runs"], "done": e["n_done"] or 0,
                           "running": e["n_running"] or 0, "failed": e["n_failed"] or 0,
                           "created": pd.Timestamp(e["created_at"], unit="s").strftime("%Y-%m-%d %H:%M")}
                          for e in exps])
    st.dataframe(table, hide_index=True, width="stretch")
    exp_id = st.selectbox("Experiment", table["id"], format_func=lambda i: f"{i} — {table.set_index('id').loc[i, 'name']}")
    rows = pd.DataFrame(run_rows(store, exp_id))
    st.dataframe(rows.drop(columns=["run_id"]), hide_index=True, width="stretch")
    st.download_button("Download runs (CSV)", rows.to_csv(index=False), file_name=f"{exp_id}.csv", mime="text/csv")


with right:
    experiments_view()
