"""Gallery: recorded experiments shipped with Head Start, bundle import/export, and replay — watch a
recorded experiment's curves arrive as if it were training now (a demo without a GPU)."""
from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import streamlit as st

from training.analysis.figures import curves_figure, note
from training.analysis.frames import latest_progress, metrics_frame, runs_frame
from training.analysis.replay import at_time, total_duration
from training.analysis.units import plain, shown_source
from training.errors import HeadStartError
from training.service.bundle import GALLERY_OWNER, export_bundle, gallery_bundles, import_bundle, read_bundle
from ui.auth import current_user
from ui.common import (
    STATUS_LABEL,
    get_store,
    import_bundle_upload,
    setup_page,
    show_figure,
    upload_cap_mib,
    visible_experiments,
)

setup_page("Gallery")
st.title("Gallery")
store = get_store()
user = current_user()
REPLAY_SECONDS = 45.0

st.write("Recorded experiments that ship with Head Start. Open one in **Compare**, or **replay** it: its "
         "runs start and its curves arrive as they did when it trained, sped up to under a minute.")


@st.cache_data(show_spinner=False, max_entries=256)
def bundle_line(path: str, mtime_ns: int, size: int) -> str:
    """A gallery bundle in one line, read once per file version (not on every render of every visitor: an operator's
    gallery may hold large bundles); the file's modification time and size key the cache."""
    bundle = read_bundle(Path(path))
    exp = bundle["experiment"]
    cfg = exp["config"]
    source = shown_source(cfg["data"]["source"])  # a path on the machine that recorded it: only its name means anything
    made = (exp.get("info") or {}).get("recorded_with") or {}
    made_by = (f" · recorded {plain(str(made.get('recorded_at', ''))[:10])} by code {plain(str(made['commit'])[:10])}"
               + (" (with uncommitted changes)" if made.get("uncommitted_changes") else "")
               + f", rebuilt by: {plain(made.get('command', ''))}" if made.get("commit") else
               " · recorded by an earlier version, before records said which")
    return (f"**{plain(exp['name'])}** — {plain(cfg['task'])}, {plain(cfg['model']['base'])} on {plain(source)}, "
            f"{len(bundle['runs'])} runs · strategies {plain(', '.join(s['name'] for s in cfg['strategies']))} · "
            f"sizes {plain(cfg['sizes'])} · seeds {plain(cfg['seeds'])}{made_by}")


for path in gallery_bundles():
    stat = path.stat()
    try:  # a bundle in the gallery folder that is not one is named, and the others still show
        line = bundle_line(str(path), stat.st_mtime_ns, stat.st_size)
    except HeadStartError as e:
        st.error(plain(str(e)), icon=":material/error:")
        continue
    with st.container(border=True):
        st.markdown(line)
        c1, c2 = st.columns(2)
        if c1.button("Open in Compare", key=f"open_{path.name}"):
            st.session_state["exp_id"] = import_bundle(store, read_bundle(path), owner=GALLERY_OWNER)
            st.switch_page("pages/3_Compare.py")
        if c2.button("Replay", key=f"replay_{path.name}"):
            st.session_state["replay"] = {"exp_id": import_bundle(store, read_bundle(path), owner=GALLERY_OWNER),
                                          "started": time.time()}

replay = st.session_state.get("replay")
if replay:
    runs_all, metrics_all = runs_frame(store, replay["exp_id"]), metrics_frame(store, replay["exp_id"])
    runs_all = runs_all[runs_all["role"] == "grid"]
    replay_config = store.experiment(replay["exp_id"]).config.to_dict()
    span = max(total_duration(runs_all), 1.0)

    @st.fragment(run_every=0.5)
    def replay_view() -> None:
        elapsed = time.time() - replay["started"]
        t = min(elapsed / REPLAY_SECONDS, 1.0) * span
        runs, metrics = at_time(runs_all, metrics_all, t)
        progress = latest_progress(runs, metrics)
        st.subheader(f"Replay · {plain(store.experiment(replay['exp_id']).name)}")
        st.progress(min(elapsed / REPLAY_SECONDS, 1.0),
                    text=f"replaying at {span / REPLAY_SECONDS:.0f}× · {(runs['status'] == 'done').sum()}/{len(runs)} runs done")
        st.dataframe(progress.assign(status=progress["status"].map(STATUS_LABEL)).rename(columns={"n_train": "N"})[
            ["strategy", "N", "seed", "status", "progress"]], hide_index=True, column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent")})
        if not metrics.empty:
            show_figure(curves_figure(metrics, x="step"), note("curves", replay_config), key="replay_curves")
        if st.button("Stop replay", key="replay_stop") or elapsed > REPLAY_SECONDS + 5:
            st.session_state.pop("replay", None)
            st.rerun()

    replay_view()

st.header("Import a bundle")
up = st.file_uploader("A Head Start bundle (.json.gz or .json)", type=["gz", "json"], key="gallery_upload",
                      max_upload_size=upload_cap_mib())
if up is not None and st.button("Import", key="gallery_import"):
    with st.spinner(f"Importing {up.name}…"):
        exp_id, error = import_bundle_upload(up.getvalue(), up.name, user)
    if error:
        st.error(error)
    else:
        st.success(f"Imported as {exp_id}: a record to open in Compare or Report. Runs that had not finished arrive "
                   "cancelled; to train it, start a New experiment with its config.")

st.header("Export an experiment")
mine = visible_experiments(user)
if mine:
    by_id = {e.id: e for e in mine}
    exp_id = st.selectbox("Experiment", list(by_id), format_func=lambda i: f"{by_id[i].name} · {i}", key="gallery_export")
    data = gzip.compress(json.dumps(export_bundle(store, exp_id)).encode(), mtime=0)
    st.download_button("Download bundle", data, file_name=f"headstart-{exp_id}.json.gz", mime="application/gzip",
                       on_click="ignore")
    st.caption("Config, runs, metrics and events; no checkpoints, no secrets.")
else:
    st.caption("Nothing to export yet.")
