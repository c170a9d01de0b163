"""Try it: type a text (or fill in table rows) and every strategy's delivered model at one training-set size and seed
answers side by side, with its probability for every class (or its predicted value). The models run in the predictor
process (`training.delivery.predictor`), asked and answered through the store, which keeps them loaded: this page never
imports torch."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from training.analysis.units import plain, plain_name
from training.delivery.predict import BASE
from training.delivery.predictor import IDLE_S, IMAGE_TYPES, MAX_INPUTS, ask, ask_images, ensure_predictor
from training.errors import HeadStartError
from training.service.records import Role, Status
from training.tasks import known
from ui.auth import current_user
from ui.common import get_store, may_take_models, pick_experiment, setup_page, store_dir, upload_cap_mib
from ui.delivery import answers_view, row_from_words

WAIT_S = 240.0  # how long the page waits for an answer (the first question loads every model: seconds to a minute)

setup_page("Try it")
st.title("Try it")
store = get_store()
exp_id = pick_experiment()
if exp_id is None:
    st.info("No experiments yet: launch one first. Once its runs finish, their models answer your inputs here.")
    st.stop()
exp = store.experiment(exp_id)
cfg = exp.config
task = cfg.task
kind = known(task)
if kind is None or not kind.exports:
    st.info(f"Try it answers text, image, table, language and chat models; {kind.title.lower() if kind else task} models "
            "cannot answer here yet. Compare's **Where they disagree** shows every model's answers on the eval set.")
    st.stop()
if exp.is_record:
    st.info("This is a recorded experiment (imported from a bundle): bundles carry no model weights, so its runs cannot "
            "answer here. Run it again from **Runs** (Duplicate) to try its models.")
    st.stop()
if not may_take_models(exp):
    st.info("Only the experiment's owner can try its models (and anyone the gallery's).")
    st.stop()
done = [r for r in store.runs(exp_id) if r.role == Role.GRID and r.status == Status.DONE]
if not done:
    st.info("No run of this experiment has finished yet: its models answer here once they have. Watch them on **Live**.")
    st.stop()

c1, c2 = st.columns(2)
sizes = sorted({r.n_train for r in done})
n = c1.selectbox("Training-set size", sizes, index=len(sizes) - 1, key="try_n",
                 format_func=lambda v: f"N = {v:,}")
seeds = sorted({r.seed for r in done if r.n_train == n})
seed = c2.selectbox("Seed", seeds, key="try_seed")
order = {s.label: i for i, s in enumerate(cfg.strategies)}
runs = sorted((r for r in done if r.n_train == n and r.seed == seed), key=lambda r: (order.get(r.strategy, 99), r.strategy))
run_ids = [r.id for r in runs]
st.caption(f"{len(runs)} model(s) answer: " + ", ".join(f"{plain(plain_name(r.strategy))} (run `{r.id}`)" for r in runs)
           + ". Each is the run's final model — the weights the tables score.")

user = current_user()
try:
    if ensure_predictor(store_dir()):
        st.session_state.pop("try_loading", None)
    if st.session_state.get("try_loading") != run_ids:  # load them while the user types
        ask(store, exp_id, run_ids, [], user)
        st.session_state["try_loading"] = run_ids
except HeadStartError as e:
    st.error(str(e))
    st.stop()

examples = store.eval_inputs(exp_id) or []
with st.form("try_form", border=True):
    if kind.input_form == "image":
        uploads = st.file_uploader(f"Your images (up to {MAX_INPUTS})", type=list(IMAGE_TYPES),
                                   accept_multiple_files=True, key="try_images",
                                   max_upload_size=upload_cap_mib())
    elif kind.input_form == "row":
        columns = (exp.info.get("data") or {}).get("numeric", []) + (exp.info.get("data") or {}).get("categorical", [])
        start = row_from_words(examples[0], columns) if examples else {c: None for c in columns}
        st.markdown(f"**Your rows** — one per line, the columns the model reads (up to {MAX_INPUTS}); an empty cell is a "
                    "missing value, filled in as in training. The first row is one of the eval rows.")
        edited = st.data_editor(pd.DataFrame([start], columns=columns), num_rows="dynamic", key="try_rows",
                                hide_index=True, width="stretch")
    else:
        if kind.generations:
            st.checkbox("Also ask the base model (before any training)", value=True, key="try_base")
        text = st.text_area("Your message" if kind.generations else "Your text", height=110, key="try_text",
                            placeholder=(f"e.g. {examples[0][:160]}" if examples else "Type a message" if kind.generations
                                         else "Type the start of a text" if kind.language_model
                                         else "Type a text to classify")
                            + f"\n\nOne text per line to try several (up to {MAX_INPUTS}).")
    asked = st.form_submit_button("Ask every model", type="primary", icon=":material/send:")
if asked:
    if kind.input_form == "image":  # checked (the hourly cap, sizes, pixels) before they are written: `ask_images`
        inputs = [(u.name, u.getvalue()) for u in uploads or []]
    elif kind.input_form == "row":
        inputs = [{c: (None if pd.isna(v) else v) for c, v in r.items()} for r in edited.to_dict("records")
                  if any(not pd.isna(v) and str(v).strip() for v in r.values())]
    else:
        inputs = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not inputs:
        st.warning({"row": "Fill in a row first.", "image": "Add an image first."}.get(kind.input_form, "Type a text first."))
    else:
        asked_runs = run_ids + ([BASE] if kind.generations and st.session_state.get("try_base") else [])
        try:
            qid = (ask_images if kind.input_form == "image" else ask)(store, exp_id, asked_runs, inputs, user)
        except HeadStartError as e:
            st.error(str(e))
            st.stop()
        t0 = looked = time.monotonic()
        with st.spinner("The models are answering (the first question after a while also loads them)…"):
            q = store.prediction(qid)
            while q is not None and q["status"] in ("queued", "working") and time.monotonic() - t0 < WAIT_S:
                time.sleep(0.1)
                if time.monotonic() - looked > 2:  # a predictor that died: its question is failed, a new one starts
                    ensure_predictor(store_dir())
                    looked = time.monotonic()
                q = store.prediction(qid)
        if q is None or q["status"] in ("queued", "working"):
            st.error(f"No answer within {WAIT_S:.0f} s. The predictor's log is {store_dir() / 'logs' / 'predictor.log'}.")
            st.stop()
        if q["status"] == "failed":
            st.error(f"The models could not answer: {plain(q['error'])}")
            st.stop()
        st.session_state["try_answer"] = {"runs": run_ids, "answer": q["answer"], "waited": time.monotonic() - t0,
                                          "pictures": inputs if kind.input_form == "image" else None}

shown = st.session_state.get("try_answer")
if shown and shown["runs"] == run_ids:
    answers_view(shown["answer"], exp.info.get("label_names") or [], shown.get("pictures"))
    st.caption(f"Answered in {shown['waited']:.2f} s ({shown['answer'].get('seconds', 0):.2f} s of it computing). "
               f"The models stay loaded in the predictor process for {IDLE_S / 60:.0f} minutes after the last question.")
