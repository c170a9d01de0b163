"""Head Start — home page. Launches experiments as background processes and reads the store.

Training never runs here: a launch starts `python -m training run ...` in its own process session, so
closing the tab or restarting the app does not touch it. This file imports no torch.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from training.presets import describe_presets
from training.results import run_rows
from training.store import Store

STORE_DIR = Path(os.environ.get("HEADSTART_STORE", "headstart-store")).resolve()

st.set_page_config(page_title="Head Start", page_icon="🏁", layout="wide")


@st.cache_resource
def get_store(root: str) -> Store:
    return Store(root)


def launch_preset(name: str) -> None:
    log = STORE_DIR / "logs" / f"{name}-{int(time.time())}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        subprocess.Popen([sys.executable, "-m", "training", "run", name, "--store", str(STORE_DIR)],
                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=Path(__file__).parent)
    st.toast(f"Launched {name}; log: {log}")


st.title("Head Start")
st.markdown(
    "Head Start shows, on your own data and hardware, what training a model **from scratch** costs and gives "
    "compared with **fine-tuning** a pretrained one. It runs the matched experiment — same data, splits and budget "
    "for every strategy, at several training-set sizes and seeds — and measures accuracy, compute and what "
    "fine-tuning makes the model **forget**.")

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
