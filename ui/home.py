"""Home: what Head Start does, one button for the quick demo, recent experiments."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from training.analysis.units import human_time
from ui.common import PAGES, enqueue, experiment_state, launch_key, launched, revive_dispatcher, visible_experiments


def render() -> None:
    revive_dispatcher()  # queued or running work and no dispatcher (a reboot, a crash): start one

    st.title("Head Start")
    st.markdown(
        "**Should you fine-tune a pretrained model or train your own from scratch?** Head Start runs the matched "
        "experiment on your data and hardware — every strategy on the same splits, budget and seeds, at several "
        "training-set sizes. It shows what each one reaches, what it costs in time, FLOPs and memory, and what "
        "fine-tuning makes the model **forget**.\n\n"
        "The comparison is kept fair: every strategy trains at a learning rate searched on your data, scratch "
        "trains until it stops improving, the majority class and a TF-IDF model run beside them, every choice is "
        "made on a validation set the eval set never sees — and a run that failed is named as failed, never "
        "counted as a finding.")

    left, right = st.columns([1, 2], gap="large")
    with left:
        st.subheader("Try it")
        st.write("The **quick** demo: scratch vs full fine-tuning vs LoRA vs a linear probe on Python's own "
                 "documentation, with the MiniLM sentence encoder — about three minutes on a laptop CPU (its "
                 "learning-rate search ships with the app).")
        if st.button("Launch the quick demo", type="primary", key="launch_quick"):
            with st.spinner("Checking and queueing the quick demo…"):
                exp_id, error = enqueue("quick", key=launch_key("home_quick"))
            if error:
                st.error(error)
            else:
                launched("home_quick")
                st.session_state["exp_id"] = exp_id
                st.switch_page("pages/2_Live.py")
        for path, label, icon in PAGES[1:]:
            st.page_link(path, label=label, icon=icon)

    with right:
        st.subheader("Recent experiments")
        exps = visible_experiments()[:10]
        if not exps:
            st.info("No experiments yet. Launch the quick demo, or build your own on **New experiment**.")
        else:
            # Four short columns: the right-hand column is ~520 px wide at 1280 px, and a sixth was cut off there.
            table = pd.DataFrame([{"experiment": e.name, "id": e.id, "runs": experiment_state(e),
                                   "created": human_time(e.created_at, "%Y-%m-%d %H:%M")}
                                  for e in exps])
            st.dataframe(table, hide_index=True)
