"""Store access, experiment pickers and launching — shared by every page. Imports no torch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import streamlit as st

from training.analysis.units import plain
from training.service.runner import ensure_dispatcher
from training.service.store import Store

ROOT = Path(__file__).resolve().parents[1]
STATUS_LABEL = {"queued": "queued", "running": "running ▶", "done": "done ✓", "failed": "FAILED",
                "interrupted": "interrupted", "cancelled": "cancelled"}


def store_dir() -> Path:
    from training.settings import load_settings

    return load_settings().store.resolve()


@st.cache_resource
def _store(root: str) -> Store:
    store = Store(root)
    store.check_whole()  # once per app process (an error is not cached: the next page view checks again)
    return store


def get_store() -> Store:
    """The store, or the page stops with what is wrong with it in words (a damaged database, an unreachable server)."""
    from training.errors import ConfigError

    try:
        return _store(str(store_dir()))
    except ConfigError as e:
        st.error(str(e))
        st.stop()


PAGES = [("app.py", "Home", ":material/home:"), ("pages/1_New_experiment.py", "New experiment", ":material/science:"),
         ("pages/2_Live.py", "Live", ":material/monitoring:"), ("pages/3_Compare.py", "Compare", ":material/compare_arrows:"),
         ("pages/4_Report.py", "Report", ":material/description:"), ("pages/5_Runs.py", "Runs", ":material/folder_open:"),
         ("pages/6_Gallery.py", "Gallery", ":material/play_circle:"),
         ("pages/7_Side_by_side.py", "Side by side", ":material/view_column:"),
         ("pages/8_Try_it.py", "Try it", ":material/chat:")]


@st.cache_data(ttl=1.0, max_entries=64, show_spinner=False)
def live_frames(root: str, exp_id: str, _tick: int):
    """Runs and metrics of an experiment, shared by every session for a second: twenty sessions polling
    the Live page cost one store read per second, not twenty."""
    from training.analysis.frames import metrics_frame, runs_frame

    store = _store(root)
    return runs_frame(store, exp_id), metrics_frame(store, exp_id)


@st.cache_data(ttl=1.0, max_entries=64, show_spinner=False)
def live_phases(root: str, exp_id: str, _tick: int):
    """`latest_progress` with each run's phase (training, evaluating…), shared like `live_frames`: the phases read
    the events of running runs."""
    from training.analysis.frames import latest_progress, run_phases

    runs, metrics = live_frames(root, exp_id, _tick)
    progress = latest_progress(runs, metrics)
    progress["phase"] = run_phases(_store(root), progress)
    return progress


@st.cache_resource(ttl=2.0, max_entries=32, show_spinner=False)
def live_curves(root: str, exp_id: str, _tick: int, x: str):
    """The Live loss-curve figure, built once per second and experiment for every session watching it
    (building it costs ~80 ms; twenty sessions building their own saturate two cores). Not copied: callers
    must not mutate it."""
    from training.analysis.figures import curves_figure

    _, metrics = live_frames(root, exp_id, _tick)
    return curves_figure(metrics, x=x)


def experiment_version(root: str, exp_id: str) -> tuple:
    """Changes whenever the experiment's runs or metrics do (a few ms): the key of the cached analysis."""
    return _store(root).version(exp_id)


@st.cache_resource(max_entries=16, show_spinner="Analysing the experiment…")
def _cached_analysis(root: str, exp_id: str, price: float, target: float | None, version: str, checkpoint: str = "final",
                     margin: float | None = None):
    from training.analysis.report import analyse

    return analyse(_store(root), exp_id, price, target, checkpoint, margin)


@st.cache_resource(max_entries=8, show_spinner="Writing the report…")
def _cached_html_report(root: str, exp_id: str, price: float, version: str) -> str:
    from training.analysis.report import html_report

    return html_report(_cached_analysis(root, exp_id, price, None, version))


def cached_analysis(exp_id: str, price: float, target: float | None = None, checkpoint: str = "final",
                    margin: float | None = None):
    """`training.analysis.report.analyse`, computed once per experiment state, price, target, scored checkpoint and
    decision margin for every session (with 100 runs it takes ~2 s). Shared, not copied: pages must not mutate it."""
    root = str(store_dir())
    return _cached_analysis(root, exp_id, price, target, repr(experiment_version(root, exp_id)), checkpoint, margin)


def cached_html_report(exp_id: str, price: float) -> str:
    """The self-contained HTML report (4.9 MB with Plotly inlined), written once per experiment state and price."""
    root = str(store_dir())
    return _cached_html_report(root, exp_id, price, repr(experiment_version(root, exp_id)))


@st.cache_resource
def _viewers() -> dict[str, float]:
    return {}


LIVE_REFRESH_S = 2.0
LIVE_RERUNS_PER_S = 2.5
LIVE_SERVER_SHARE = 0.25
"""The share of one core that Live refreshes may take in all, by their measured cost on this host."""


@st.cache_resource
def _live_cost() -> dict[str, float]:
    return {"ewma_s": 0.0}


def record_live_cost(seconds: float) -> None:
    """A Live refresh took `seconds` of CPU (its script thread's: the wait for other sessions' refreshes is not its
    cost, and counting it would stretch the interval further the more it is waited for): a moving average."""
    cost = _live_cost()
    cost["ewma_s"] = seconds if not cost["ewma_s"] else 0.8 * cost["ewma_s"] + 0.2 * seconds


def live_interval() -> float:
    """Seconds between Live refreshes for this session: 2 s while few sessions watch, stretched as more do so
    that the server re-runs at most ~2.5 Live views per second in all, and that those re-runs take at most a quarter of
    one core at their measured CPU cost on this host (the load budget that keeps the health endpoint fast on a 2-core
    host with runs training; a slower host stretches it further). A session counts as watching for 60 s after its last
    refresh."""
    import time

    from streamlit.runtime.scriptrunner import get_script_run_ctx

    now, viewers = time.time(), _viewers()
    ctx = get_script_run_ctx()
    if ctx is not None:
        viewers[ctx.session_id] = now
    for sid, seen in list(viewers.items()):
        if now - seen > 60:
            viewers.pop(sid, None)
    return max(LIVE_REFRESH_S, len(viewers) / LIVE_RERUNS_PER_S, len(viewers) * _live_cost()["ewma_s"] / LIVE_SERVER_SHARE)


def upload_cap_mib() -> int:
    """This deployment's upload cap (HEADSTART_UPLOAD_MAX_MB, in MB) in the whole MiB Streamlit counts in, rounded up:
    what the browser and the server refuse before a byte is stored; the policy check then applies the exact MB."""
    import math

    from training.settings import load_settings

    return max(1, math.ceil(load_settings().upload_max_mb * 1_000_000 / 2**20))


def _cap_server_uploads() -> None:
    """Lower Streamlit's own upload limit (`server.maxUploadSize`, 200 in .streamlit/config.toml) to this deployment's
    cap, so an upload over it is refused by its Content-Length header, or while it streams, before the app holds it
    (a demo's three 150 MB uploads took the app from 188 MB to 1.1 GB when only the app checked them). Every upload
    comes from a session that has drawn a page, so setting it here, before any uploader is drawn, is in time."""
    from streamlit import config

    cap = upload_cap_mib()
    if config.get_option("server.maxUploadSize") > cap:
        config.set_option("server.maxUploadSize", cap, "HEADSTART_UPLOAD_MAX_MB")


def _hide_tracebacks_when_hosted() -> None:
    """A hosted app (team or demo mode) shows an unexpected error's type, never its message or traceback (they name
    the server's paths and internals; the server's log keeps them whole). Expected errors are caught where they
    happen and said in words; on a laptop (local mode) the whole traceback stays, for whoever runs it."""
    from streamlit import config

    from training.settings import load_settings

    if load_settings().mode != "local" and config.get_option("client.showErrorDetails") != "type":
        config.set_option("client.showErrorDetails", "type", "HEADSTART_MODE")


def setup_page(title: str) -> str:
    """Page config, sign-in (every page, so no URL skips it) and the navigation; returns the user."""
    from ui.auth import require_login

    st.set_page_config(page_title=f"{title} · Head Start", page_icon="🏁", layout="wide")
    _cap_server_uploads()
    _hide_tracebacks_when_hosted()
    user = require_login()
    with st.sidebar:
        for path, label, icon in PAGES:
            st.page_link(path, label=label, icon=icon)
        if user != "local":
            st.caption(f"Signed in as {plain(user)}")
    return user


def runs_state(n_runs: int, n_done: int, n_failed: int, n_running: int, n_queued: int = 0) -> str:
    """An experiment's runs in a few words: "12/18 done, 1 failed, running" — "queued" while runs wait and none
    trains (a newcomer read "running" over an experiment whose every run was still queued)."""
    active = ", running" if n_running else ", queued" if n_queued else ""
    return f"{n_done}/{n_runs} done" + (f", {n_failed} failed" if n_failed else "") + active


def frame_state(runs) -> str:
    """`runs_state` of a runs frame (`training.analysis.frames.runs_frame`)."""
    status = runs["status"]
    return runs_state(len(runs), int((status == "done").sum()), int((status == "failed").sum()),
                      int((status == "running").sum()), int((status == "queued").sum()))


def experiment_state(e) -> str:
    """`runs_state` of an experiment from the store's counts (`Store.experiments`)."""
    return runs_state(e.n_runs, e.n_done, e.n_failed, e.n_running, e.n_queued)


def experiment_label(e) -> str:
    return f"{e.name} · {e.id} · {experiment_state(e)}"


def visible_experiments(user: str | None = None) -> list[dict]:
    """Everything in local mode; elsewhere the user's own experiments and the gallery's — and in team mode the
    experiment a teammate's link names (`?exp=ID`, Compare's "Share this view"): decision reviews read, comment and
    sign off on it (running, cancelling and deleting stay with its owner). Demo mode keeps visitors apart."""
    from training.service.bundle import GALLERY_OWNER
    from training.settings import load_settings
    from ui.auth import current_user

    exps = get_store().experiments()
    mode = load_settings().mode
    if mode == "local":
        return exps
    user = user or current_user()
    linked = st.query_params.get("exp") if mode == "team" else None
    return [e for e in exps if e.owner in (user, GALLERY_OWNER) or e.id == linked]


def pick_experiment(prefer_active: bool = False, key: str = "exp_picker") -> str | None:
    """Selectbox over the experiments this user may see (newest first); remembers the choice across pages."""
    exps = visible_experiments()
    if not exps:
        return None
    ids = [e.id for e in exps]
    labels = {e.id: experiment_label(e) for e in exps}
    chosen = st.session_state.get("exp_id") or st.query_params.get("exp")
    if chosen not in ids:
        active = [e.id for e in exps if e.n_running + e.n_queued]
        chosen = active[0] if prefer_active and active else ids[0]
    # Set through the Session State API, not `index`: a keyed selectbox keeps showing the label its choice had when
    # it was first drawn (Streamlit 1.67), so "0/18 done, running" would stay after every run finished; a value set
    # by the script is sent again with the current labels. The user's pick reaches `exp_id` through on_change.
    st.session_state[key] = chosen
    exp_id = st.selectbox("Experiment", ids, format_func=labels.get, key=key,
                          on_change=lambda: st.session_state.update(exp_id=st.session_state[key]))
    st.session_state["exp_id"] = exp_id
    st.session_state["exp_picker_state"] = experiment_state(next(e for e in exps if e.id == exp_id))
    return exp_id


def picker_is_stale(runs) -> bool:
    """True when the picker's label no longer says what the runs frame does (a run finished, failed or started since
    the page was drawn): a fragment that re-runs alone calls `st.rerun()` to draw the picker again."""
    return st.session_state.get("exp_picker_state") not in (None, frame_state(runs))


def _cli(args: list[str], config: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m training ...` (validation and planning import torch: never in this process)."""
    if config is not None:
        tmp = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=store_dir())
        json.dump(config, tmp)
        tmp.close()
        args = [a if a != "{config}" else tmp.name for a in args]
    try:
        return subprocess.run([sys.executable, "-m", "training", *args], capture_output=True, text=True, cwd=ROOT)
    finally:
        if config is not None:
            os.unlink(tmp.name)


def _error(proc: subprocess.CompletedProcess) -> str:
    from training.service.policy import redact

    text = proc.stderr.strip().splitlines()
    return redact((text[-1] if text else "failed").removeprefix("error: "))


def import_bundle_upload(raw: bytes, name: str, owner: str) -> tuple[str | None, str | None]:
    """Import an uploaded bundle in a subprocess (a large one parses and writes for minutes and hundreds of MB: never
    in the app's process): (experiment id, None) or (None, the error in words)."""
    folder = store_dir() / "uploads" / "bundles"
    folder.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(suffix="-" + Path(name).name, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        proc = _cli(["bundle-import", path, "--store", str(store_dir()), "--owner", owner, "--name", Path(name).name])
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        return None, _error(proc)
    return proc.stdout.strip().splitlines()[-1], None


def plan(config: dict) -> tuple[dict | None, str | None]:
    """Validate a config and plan its runs in a subprocess: (plan, None) or (None, error message)."""
    proc = _cli(["plan", "{config}", "--store", str(store_dir())], config)
    if proc.returncode != 0:
        return None, _error(proc)
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def launch_key(name: str) -> str:
    """This session's idempotency key for one launch control (`enqueue`'s `key`): the same until `launched(name)`, so
    a double click — whose second rerun may interrupt the first after it stored the experiment — makes one."""
    import uuid

    return st.session_state.setdefault(f"launch_key_{name}", uuid.uuid4().hex)


def launched(name: str) -> None:
    """The launch control `name` made its experiment: its next launch is a new one."""
    st.session_state.pop(f"launch_key_{name}", None)


def enqueue(config_or_preset: dict | str, owner: str | None = None,
            key: str | None = None) -> tuple[str | None, str | None]:
    """Store an experiment (validated again, quotas checked) and make sure a dispatcher serves the store. With `key`
    (`launch_key`), a repeat of the same launch returns the experiment the first one made."""
    from ui.auth import current_user

    owner = owner or current_user()
    extra = ["--launch-key", key] if key else []
    if isinstance(config_or_preset, str):
        proc = _cli(["enqueue", config_or_preset, "--store", str(store_dir()), "--owner", owner, *extra])
    else:
        proc = _cli(["enqueue", "{config}", "--store", str(store_dir()), "--owner", owner, *extra], config_or_preset)
    if proc.returncode != 0:
        return None, _error(proc)
    ensure_dispatcher(store_dir())
    return proc.stdout.strip().splitlines()[-1], None


def revive_dispatcher() -> None:
    """Start a dispatcher when work waits for one: queued runs, or runs marked running whose dispatcher may be gone
    (a reboot, a crash). An existing one is found by its lock (nothing starts twice); a new one's recovery adopts the
    live workers and re-queues the runs whose workers are gone. Home, Live and Compare call it on each visit, so a hosted
    instance whose dispatcher died comes back with its first visitor (it waited for a queued run before)."""
    store = get_store()
    if store.runs(status="queued") or store.runs(status="running"):
        ensure_dispatcher(store_dir())


def may_take_models(exp) -> bool:
    """Whether this user may download the experiment's models: anyone locally; elsewhere its owner, and anyone for the
    gallery's (a teammate's linked experiment is for reading and signing, not for taking its models)."""
    from training.service.bundle import GALLERY_OWNER
    from training.settings import load_settings
    from ui.auth import current_user

    return load_settings().mode == "local" or exp.owner in (current_user(), GALLERY_OWNER)


def export_model_zip(run_id: str, user: str = "local") -> tuple[bytes | None, str | None]:
    """A finished run's model as a zip of the folder `python -m training export-model` writes (in a subprocess: it
    loads the model with torch): (bytes, None) or (None, error message). Demo mode caps how many a visitor prepares an
    hour, and every mode the folder's size where HEADSTART_EXPORT_MAX_MB is set."""
    import io
    import zipfile

    from training.settings import load_settings

    settings = load_settings()
    store = get_store()
    # spent before the export starts, in the transaction that counts it: four requests at once prepared four
    if not store.spend_export(run_id, user, settings.demo_exports_per_hour if settings.mode == "demo" else None):
        return None, f"this demo prepares at most {settings.demo_exports_per_hour} model downloads an hour per visitor"
    with tempfile.TemporaryDirectory(dir=store_dir()) as tmp:
        out = Path(tmp) / f"headstart-model-{run_id}"
        proc = _cli(["export-model", run_id, "--store", str(store_dir()), "--out", str(out)])
        if proc.returncode != 0:
            return None, _error(proc)
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        if settings.export_max_mb and size > settings.export_max_mb * 2**20:
            return None, (f"the model folder is {size / 2**20:.0f} MB, over this deployment's download cap of "
                          f"{settings.export_max_mb} MB (HEADSTART_EXPORT_MAX_MB)")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(out.parent).as_posix())
        return buf.getvalue(), None


def show_table(df, rename: dict[str, str] | None = None, prose: tuple[str, ...] = (), first: tuple[str, ...] = ()) -> None:
    """`readable(df, rename)` as a table a 1280-px screen shows whole: columns in `first` moved to the front (after
    strategy and N), a column that does not apply to any row ("—" throughout: GPU time on a CPU) named under it rather
    than shown, each `prose` column (sentences, cut off in a grid cell) written under it as one line per sentence
    with the rows it is about, and N headed "N" (its words in the header's tooltip)."""
    from training.analysis.units import COLUMNS, NOT_APPLICABLE, header, readable

    lead = [c for c in ("strategy", "n_train", *first) if c in df]
    shown = readable(df[lead + [c for c in df.columns if c not in (*lead, *prose)]], rename)
    idle = [c for c in shown.columns if len(shown) and shown[c].eq(NOT_APPLICABLE).all()]
    n = COLUMNS["n_train"][0]  # "N (training examples)": a 150-px header over 5-digit numbers; the pages say "N=…"
    st.dataframe(shown.drop(columns=idle), hide_index=True,
                 column_config={n: st.column_config.TextColumn("N", help=f"{n}: the training-set size")})
    if idle:
        st.caption("Not shown, as no row here has one: " + ", ".join(f"“{c}”" for c in idle) + ".")
    for col in prose:
        if col in df and (lines := prose_lines(df, col)):
            st.markdown(f"**{(rename or {}).get(col, COLUMNS.get(col, (header(col),))[0])}:**\n{lines}")


def prose_lines(df, col: str) -> str:
    """Column `col` of a table as markdown lines under it: each distinct sentence once, after the rows it is about
    ("- full N=100, lora N=100: …", or "every row"); empty cells are left out. Cells and labels are shown as typed
    (`plain`): a search candidate's reason carries its run's stored error."""
    rows: dict[str, dict[str, None]] = {}
    for i, text in df[col].items():
        if isinstance(text, str) and text:
            rows.setdefault(text, {})[_row_label(df.loc[i])] = None
    every = len(df) > 1 and all(len(labels) == len(df) for labels in rows.values())
    return "\n".join(f"- {'every row' if every else plain(', '.join(labels))}: {plain(text)}"
                     for text, labels in rows.items())


def _row_label(row) -> str:
    """A table row as the pages name it: "full N=1,000 seed 2" (what of it the row has)."""
    parts = [str(row["strategy"])] if "strategy" in row else []
    parts += [f"N={int(row['n_train']):,}"] if "n_train" in row else []
    return " ".join(parts + ([f"seed {int(row['seed'])}"] if "seed" in row else []))


def show_figure(fig, note: str | None = None, key: str | None = None) -> None:
    st.plotly_chart(fig, theme="streamlit", key=key, config={"displaylogo": False})
    if note:
        st.caption(note)
