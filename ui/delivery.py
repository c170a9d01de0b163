"""Take the decision home (Compare): the recommended run's model as a zip a user loads with transformers. The export
runs in a subprocess (`python -m training export-model`): pages never import torch."""
from __future__ import annotations

import streamlit as st

from training.analysis.recommend import name
from training.service.records import Role, Status
from training.tasks import known
from ui.common import export_model_zip, get_store, may_take_models


def recommended_run(a, exp_id: str):
    """The run the recommendation names: its strategy at the largest size where it recommends a strategy (not a
    classical reference), the first seed's finished run; None when there is none."""
    decided = a.recommendation.sizes if a.recommendation else []
    runs = [r for r in get_store().runs(exp_id) if r.role == Role.GRID and r.status == Status.DONE]
    for s in sorted(decided, key=lambda s: s.n_train, reverse=True):
        if s.recommended and s.recommended_kind == "strategy":
            mine = [r for r in runs if r.strategy == s.recommended and r.n_train == s.n_train]
            if mine:
                return min(mine, key=lambda r: r.seed)
    return None


def take_home(a, exp_id: str) -> None:
    """The recommended model's download, where the kind exports and the user may take this experiment's models."""
    kind = known(a.config.get("task", ""))
    exp = get_store().experiment(exp_id)
    if kind is None or not kind.exports or exp is None or not may_take_models(exp):
        return
    run = recommended_run(a, exp_id)
    if run is None:
        return
    st.markdown(f"**Take it home.** The recommended model — {name(run.strategy)} at N = {run.n_train:,} (seed {run.seed}, run "
                f"`{run.id}`) — as a folder you load with `transformers`: the weights the tables score as its final "
                "model, its tokenizer, labels and a model card with its scores, intervals and the code that loads it.")
    key = f"model_zip_{run.id}"
    if key not in st.session_state and st.button("Prepare the model for download", key=f"prepare_{run.id}",
                                                 icon=":material/package_2:"):
        with st.spinner("Exporting the model (a separate process loads it)…"):
            data, error = export_model_zip(run.id)
        if error:
            st.error(f"Could not export run {run.id}: {error}")
        else:
            st.session_state[key] = data
            st.rerun()  # draw the download in place of this button
    if key in st.session_state:
        st.download_button("Download the model (zip)", st.session_state[key], file_name=f"headstart-model-{run.id}.zip",
                           mime="application/zip", key=f"download_{run.id}", icon=":material/download:")
