"""New experiment: a preset or your own data and model; strategies, sizes, seeds, budget; a preflight
(runs, estimated time and memory) before Launch. Validation and planning run in a subprocess — this
page never imports torch."""
from __future__ import annotations

import hashlib
import json
import re
import uuid

import pandas as pd
import streamlit as st

from training.analysis.frames import runs_frame
from training.analysis.preflight import FIT_SECONDS, fit_to_time, preflight, split_warnings
from training.analysis.resolution import resolution, resolution_sentence
from training.analysis.units import human_bytes, human_flops, human_seconds, readable
from training.config import BUDGET_POLICIES, ExperimentConfig, field_docs, suggested_sizes
from training.config import BudgetConfig as _Budget
from training.config import DataConfig as _Data
from training.config import ModelConfig as _Model
from training.config import TrainConfig as _Train
from training.core.data.columns import (
    check_mapping,
    column_summary,
    column_values,
    label_warnings,
    suggest_columns,
)
from training.core.data.labels import stray_labels, stray_words
from training.core.data.sources import FILE_SUFFIXES, load_frame, sniff_suffix
from training.core.strategies import STRATEGIES
from training.errors import HeadStartError
from training.presets import PRESETS, describe_presets
from training.service.policy import check_upload_size
from training.service.uploads import keep as keep_upload
from training.settings import load_settings
from training.tasks import kinds
from training.tasks.chat import data as chat_data
from training.tasks.images.data import class_counts, load_image_table, thumbnails
from training.tasks.tabular import data as table_data
from ui.common import enqueue, get_store, plan, setup_page, upload_cap_mib

setup_page("New experiment")
st.title("New experiment")
store = get_store()
BUDGET_DOCS = field_docs(_Budget)
DATA_DOCS = field_docs(_Data)
MODEL_DOCS = field_docs(_Model)
TRAIN_DOCS = field_docs(_Train)
# Built-ins whose examples a visitor may read on screen and should be warned about first.
CONTENT_NOTES = {"builtin:tweet-sentiment": "Content note: these are real tweets, labelled by crowd annotators; some "
                                            "are crude or offensive, and they appear as examples on these pages."}


# config fields as this page names them, for errors that come back from validation and planning
CONTROLS = {"data.stray_labels": "Rows whose label does not fit",
            "data.text_column": "Text column", "data.label_column": "Label column",
            "data.group_column": "Group column", "data.image_column": "Image column", "model.image_size": "Image size"}


def saved_upload(up, images: bool = False) -> tuple:
    """Keep an uploaded file in the store's uploads folder — uploads/<content hash>/<the user's file name>, so
    the report and Compare show the name the user knows — and read it back for a preview (None for a zip of
    images); stops the page with the error in the user's words when it is too large or unreadable. A file whose name
    does not say its format (no extension, `.txt`) is read by its content (`sources.sniff_suffix`), and says so."""
    raw = up.getvalue()
    try:
        check_upload_size(len(raw), load_settings())
    except HeadStartError as e:
        st.error(str(e))
        st.stop()
    digest = hashlib.sha256(raw).hexdigest()[:16]
    stem, _, suffix = up.name.rpartition(".")
    known = {s.lstrip(".") for s in FILE_SUFFIXES} | ({"zip"} if images else set())
    if not stem or suffix.lower() not in known:
        sniffed = sniff_suffix(raw[:65536])
        if sniffed is None or sniffed.lstrip(".") not in known:
            st.error(f"{up.name}: its name does not say a format Head Start reads, and its content is not one either "
                     f"({', '.join(sorted(known))}). Save it as CSV, TSV, JSONL or Parquet"
                     + (", or a zip of class folders." if images else "."))
            st.stop()
        stem, suffix = up.name, sniffed.lstrip(".")
        st.caption(f"{up.name} has no extension that names its format: read as {suffix.upper()} by its content.")
    safe_stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "upload"
    try:  # bounded: files no experiment names are swept, and one that cannot fit is refused before it is written
        path = keep_upload(get_store(), raw, digest, f"{safe_stem}.{suffix.lower()}")
    except HeadStartError as e:
        st.error(str(e))
        st.stop()
    if images and path.suffix == ".zip":
        return path, None
    try:
        return path, _read_upload(str(path), up.name)
    except HeadStartError as e:
        st.error(str(e))
        st.stop()


@st.cache_data(max_entries=8, show_spinner=False)
def _read_upload(path: str, name: str) -> pd.DataFrame:
    """An upload's rows, read once per file (its path holds its content's hash) rather than on every rerun: a
    10,000-column CSV cost minutes of a core each time a control changed."""
    return load_frame(path, display_name=name)


@st.cache_resource(max_entries=16, show_spinner=False)
def _table(path: str, name: str, task: str, target: str, features: tuple | None, stray: str = "stop"):
    """An uploaded table checked for a target and features (`table_from_frame`), once per choice: typing thousands of
    columns on every rerun is what made a wide CSV slow."""
    return table_data.table_from_frame(_read_upload(path, name), task, target, list(features) if features else
                                       (None if features is None else []), name, stray)


@st.cache_data(max_entries=8, show_spinner=False)
def _summary(path: str, name: str) -> tuple[pd.DataFrame, dict]:
    """The column summary and suggested columns of an upload, once per file."""
    preview = _read_upload(path, name)
    values = column_values(preview)
    return column_summary(preview, values), suggest_columns(preview, values)


def image_preview(path, name: str) -> int:
    """Classes, counts and one picture per class of an uploaded zip; its problems (one class, no class folders,
    an unreadable image) in the user's words before anything is planned."""
    try:
        table = load_image_table(str(path), display_name=name)
        counts = class_counts(table)
        st.caption(f"{len(table):,} images in {len(counts)} classes · {name}")
        st.dataframe(pd.DataFrame({"class": list(counts), "images": list(counts.values())}), hide_index=True)
        pictures = thumbnails(table)
    except HeadStartError as e:
        st.error(str(e))
        st.stop()
    # one picture per class, every class (8 a row; a zip of 10 classes showed 8 of them), up to PREVIEW_CLASSES
    shown = pictures[:PREVIEW_CLASSES]
    for start in range(0, len(shown), 8):
        cols = st.columns(8)
        for col, (label, img) in zip(cols, shown[start:start + 8], strict=False):
            col.image(img, caption=label)
    if len(pictures) > len(shown):
        st.caption(f"One picture of each of the first {len(shown)} classes; {len(pictures) - len(shown):,} more classes "
                   "are in the table above.")
    return len(table)


PREVIEW_CLASSES = 48


STRAY_CHOICES = {"stop": "Stop: I will fix the file", "drop": "Leave these rows out",
                 "keep": "Keep them as classes of their own"}


def stray_choice(preview: pd.DataFrame, label_column: str | None, name: str, key_suffix: str) -> str:
    """Rows whose label does not fit the others (`labels.stray_labels`: 'S' and 'C' among Survived's 0 and 1), named
    in a warning with a choice of what to do — never a silent extra class; "stop" (refused at launch, with the same
    words) until the user picks; "" when every label fits (nothing to choose)."""
    if not label_column or label_column not in preview.columns:
        return ""
    stray, why = stray_labels(preview[label_column].dropna().tolist())
    if not stray:
        return ""
    st.warning(stray_words(stray, why, label_column, name, int(preview[label_column].notna().sum())) + ".")
    choice = st.radio("Rows whose label does not fit", list(STRAY_CHOICES), format_func=STRAY_CHOICES.get,
                      horizontal=True, key=f"new_stray_{label_column}{key_suffix}", help=DATA_DOCS["stray_labels"])
    if choice == "stop":
        st.error("Nothing starts while these rows are in the file as they are: fix the file and upload it again, or "
                 "choose above to leave them out or keep them as classes.")
    return choice


def in_page_words(message: str, uploads: dict[str, str]) -> str:
    """An error from validation or planning with each upload's store path replaced by the user's file name
    and config fields by the names of this page's controls."""
    for path, name in sorted(uploads.items(), key=lambda item: -len(item[0])):  # an absolute path before its tail
        message = message.replace(f"file {path}", name).replace(path, name)
    for field, control in CONTROLS.items():
        message = message.replace(f"Set {field} to", f"Set {control} to").replace(f"Check {field}", f"Pick another {control}")
        message = message.replace(field, control)
    return message


def apply_fit(changes: dict, key_suffix: str) -> None:
    """The fit's changes into this page's controls (before they are drawn again), and a new check at once."""
    if "seeds" in changes:
        st.session_state["new_seeds"] = changes["seeds"]
    if "sizes" in changes:
        st.session_state["new_sizes" + key_suffix] = ", ".join(str(n) for n in changes["sizes"])
    if "steps" in changes:
        st.session_state["new_steps"] = changes["steps"]
    st.session_state["new_check_again"] = True


def apply_precision(seeds: int | None, overrides: list[str], context: str) -> None:
    """A precision suggestion (`resolution`) into this page's controls: the seeds into the seeds control, the eval set's
    size and share into overrides this page applies while the same preset or file is on it; then a new check."""
    if seeds:
        st.session_state["new_preset_seeds" if context.startswith("preset:") else "new_seeds"] = int(seeds)
    data = {k.removeprefix("data."): float(v) if "." in v else int(v)
            for k, _, v in (o.partition("=") for o in overrides) if k.startswith("data.eval_")}
    if "eval_max" in data and not context.startswith("preset:"):
        st.session_state["new_evalmax"] = int(data.pop("eval_max"))
    if data or context.startswith("preset:"):
        st.session_state["new_precision"] = {"context": context, "data": data}
    st.session_state["new_check_again"] = True


def precision_overrides(config: dict, context: str) -> None:
    """The eval-set changes a precision suggestion made for this preset or file (none once another is chosen)."""
    chosen = st.session_state.get("new_precision")
    if chosen and chosen["context"] == context:
        config["data"].update(chosen["data"])


uploads: dict[str, str] = {}  # store path -> the user's file name, for messages
mode = st.radio("Start from", ["A preset", "My own data and model"], horizontal=True, key="new_mode")

if mode == "A preset":
    presets = {p["name"]: p for p in describe_presets()}
    name = st.selectbox("Preset", list(presets), key="new_preset", help="Built-in experiments that run offline.")
    st.caption(presets[name]["description"])
    config = PRESETS[name]().to_dict()
    if config["data"]["source"] in CONTENT_NOTES:
        st.caption(CONTENT_NOTES[config["data"]["source"]])
    seeds = st.number_input("Seeds", 1, 10, len(config["seeds"]), key="new_preset_seeds",
                            help="Each (strategy, size) runs once per seed; 3+ seeds give 95% intervals.")
    config["seeds"] = list(range(int(seeds)))
    context = f"preset:{name}"
    precision_overrides(config, context)
else:
    KINDS = kinds()
    task = st.radio("Task", list(KINDS), horizontal=True, key="new_task", format_func=lambda t: KINDS[t].title,
                    help=" ".join(f"{k.title}: {k.help}." for k in KINDS.values() if k.help))
    K = KINDS[task]  # the kind says what this page shows for it
    form = K.form
    CONTROLS.update(form.controls)
    st.subheader("Data")
    kind = st.radio("Source", ["Upload a file", "Hugging Face dataset", "Built-in"], horizontal=True, key="new_src")
    data: dict = {}
    columns: list[str] = []
    defaults = {"text": "text", "label": "label", "image": "image"}
    up = preview = suggested_columns = None
    rows = None  # an upload's examples, for sizes that fit it
    key_suffix = ""  # a new upload gets fresh column pickers, so they start at that file's suggestions
    upload_types = ([".zip"] if form.zip_folders else []) + list(FILE_SUFFIXES)
    if kind == "Upload a file":
        # any name: a file without an extension (the SMS spam collection ships as `SMSSpamCollection`) is read by
        # its content (`saved_upload`); the browser's type filter refused it with only a red icon
        up = st.file_uploader(form.upload_label, key=f"new_upload_{task}", max_upload_size=upload_cap_mib())
        if up is not None:
            path, preview = saved_upload(up, form.zip_folders)
            uploads.update({str(path): up.name, str(path.resolve()): up.name})
            key_suffix = "_" + path.parent.name
            data["source"] = str(path)
            if preview is None:  # a zip of class folders
                rows = image_preview(path, up.name)
            else:
                # chat drops a file's exact copies as it loads: sizes are suggested for what is left
                rows = len(preview.astype(str).drop_duplicates()) if form.pickers == "conversations" else len(preview)
                st.caption(f"{len(preview):,} rows · {up.name}"
                           + (f" · {len(preview) - rows:,} repeat another exactly and will be dropped"
                              if rows < len(preview) else ""))
                if preview.attrs.get("note"):  # read otherwise than written: no header row, quotes as text
                    st.info(in_page_words(preview.attrs["note"] + ".", uploads), icon=":material/info:")
                head = preview.head(20)
                st.dataframe(head.astype(object).where(head.notna(), ""), hide_index=True)  # an empty cell, not "None"
                st.caption("Columns")
                summary, suggested_columns = _summary(str(path), up.name)
                st.dataframe(summary, hide_index=True)
                columns = [str(c) for c in preview.columns]
                defaults = suggested_columns | {"image": next((c for c in columns if "image" in c.lower() or
                                                               "path" in c.lower()), columns[0])}
    elif kind == "Hugging Face dataset":
        hf_id = st.text_input("Dataset id", placeholder=form.hub_placeholder, key="new_hf")
        split = st.text_input("Split", "train", key="new_hf_split")
        if hf_id:
            data.update(source=f"hf:{hf_id.removeprefix('hf:')}", hf_split=split)
    else:
        builtins = K.builtins
        data["source"] = "builtin:" + st.selectbox(
            "Built-in dataset", list(builtins), key="new_builtin",
            format_func=lambda n: f"{n} — {builtins[n]}" if builtins[n] else n)
        if data["source"] in CONTENT_NOTES:
            st.caption(CONTENT_NOTES[data["source"]])
        if form.pickers == "table":
            defaults["label"] = K.builtin_target(data["source"].removeprefix("builtin:"))
        columns = list(form.builtin_columns)

    def column(label: str, default: str, optional: bool = False, key: str = "") -> str | None:
        if columns:
            options = (["(none)"] if optional else []) + columns
            index = options.index(default) if default in options else 0
            value = st.selectbox(label, options, index=index, key=key)
            return None if value == "(none)" else value
        value = st.text_input(label, "" if optional else default, key=key)
        return value or None

    data_problems = []
    if form.pickers == "conversations":
        if columns or kind == "Hugging Face dataset":
            turn_columns = [c for c in columns if preview is not None and chat_data.turn_keys(preview[c].tolist())]
            suggested = "messages" if "messages" in columns or not columns else (turn_columns or ["(none)"])[0]
            c1, c2, c3 = st.columns(3)
            with c1:
                messages = column("Messages column", suggested, optional=True, key="new_messages_col" + key_suffix)
            if messages:
                data["messages_column"] = messages
            else:
                pair = chat_data.suggest_chat_columns(preview) if preview is not None else {}
                with c2:
                    data["prompt_column"] = column("Prompt column", pair.get("prompt") or "prompt",
                                                   key="new_prompt_col" + key_suffix)
                with c3:
                    data["response_column"] = column("Response column", pair.get("response") or "response",
                                                     key="new_response_col" + key_suffix)
            st.caption("A messages column holds each conversation as a list of {role, content} turns (system, user, "
                       "assistant); without one, a prompt and a response column give one exchange per row. The loss "
                       "is on the assistant's turns only.")
            if preview is not None:
                problem = chat_data.mapping_problem(preview, messages, data.get("prompt_column"),
                                                    data.get("response_column"), up.name)
                data_problems = [problem] if problem else []
    elif form.pickers == "table":
        if columns or kind == "Hugging Face dataset":
            if preview is not None:
                defaults["label"] = table_data.suggest_target(preview, task) or defaults["label"]
            target_default = defaults["label"] if defaults["label"] in columns else (columns[-1] if columns else "label")
            data["label_column"] = column("Target column", target_default, key="new_target_col" + key_suffix)
            if columns:
                target = data["label_column"]
                others = [c for c in columns if c != target]
                auto = {}  # column -> why it is dropped, for an upload whose target reads
                stray = ""
                if preview is not None and kinds()[task].classification:
                    stray = stray_choice(preview, target, up.name, key_suffix)
                data["stray_labels"] = stray or "stop"
                if stray == "stop":
                    data_problems.append("")  # said beside the choice: nothing is checked until it is made
                elif preview is not None:
                    try:
                        checked_table = _table(data["source"], up.name, task, target, None, stray or "stop")
                        auto = dict(zip(checked_table.dropped_columns, checked_table.notes, strict=True))
                    except HeadStartError as e:
                        data_problems.append(in_page_words(str(e), uploads))
                # The user's own removals outlive a change of target; the picker is keyed by target, so the old
                # target comes back as a feature and the new one leaves (Streamlit keeps a keyed widget's value).
                removed = st.session_state.setdefault("new_features_removed" + key_suffix, set())
                default = [c for c in others if c not in auto and c not in removed]
                features = st.multiselect("Feature columns", others, default=default,
                                          key=f"new_features{key_suffix}_{target}", help=DATA_DOCS["feature_columns"])
                removed.clear()
                removed.update(c for c in others if c not in features and c not in auto)
                if set(features) != set(others) - set(auto):
                    data["feature_columns"] = features
                if auto:
                    st.caption("Left out as features: " + "; ".join(why.removeprefix("column ") for why in auto.values())
                               + ". Add one back under Feature columns to use it anyway (it is still dropped if it "
                               "stays an ID or a constant).")
                if preview is not None and not data_problems:
                    try:
                        chosen = _table(data["source"], up.name, task, target, tuple(features), stray or "stop")
                        if chosen.duplicate_rows:
                            st.caption(table_data.duplicates_note(chosen.duplicate_rows, len(chosen)) + ".")
                        for warning in table_data.class_warnings(chosen):
                            st.warning(warning)
                    except HeadStartError as e:
                        data_problems.append(in_page_words(str(e), uploads))
        else:
            data["label_column"] = defaults["label"]
            st.caption(f"Target column: {defaults['label']}.")
        st.caption(form.column_note)
    elif not form.zip_folders or columns or kind == "Hugging Face dataset":  # a zip of class folders needs no columns
        slots = st.columns(max(3, len(form.columns)) if form.check_columns else len(form.columns))
        for i, col in enumerate(form.columns):
            if col.optional:
                i = len(slots) - 1  # an optional column sits last
            with slots[i]:
                value = column(col.label, defaults.get(col.default, col.default), optional=col.optional,
                               key=f"new_{col.field.removesuffix('_column')}_col" + key_suffix)
            if col.optional:
                if value and not data.get("source", "").startswith("builtin:"):
                    data[col.field] = value
            else:
                data[col.field] = value
        st.caption(form.column_note)
        if form.check_columns and preview is not None:
            data_problems = check_mapping(preview, data["text_column"], data.get("label_column"), up.name,
                                          labelled=form.labelled, suggestion=suggested_columns)
            if not data_problems and form.labelled:
                for warning in label_warnings(preview, data.get("label_column"), up.name):
                    st.warning(warning)
                stray = stray_choice(preview, data.get("label_column"), up.name, key_suffix)
                data["stray_labels"] = stray or "stop"
                if stray == "stop":
                    data_problems.append("")  # said above, beside the choice
    for problem in data_problems:
        if problem:  # an empty one was said beside its control
            st.error(problem)
    test_file = st.file_uploader("Your own test set (optional): the same columns (or class folders); every row is "
                                 "scored, nothing is tuned on it",
                                 type=[s.lstrip(".") for s in upload_types], key=f"new_eval_upload_{task}",
                                 max_upload_size=upload_cap_mib(),
                                 help=DATA_DOCS["eval_source"])
    if test_file is not None:
        eval_path, eval_preview = saved_upload(test_file, form.zip_folders)
        uploads.update({str(eval_path): test_file.name, str(eval_path.resolve()): test_file.name})
        st.caption(f"Test set: {len(eval_preview):,} rows · {test_file.name}" if eval_preview is not None
                   else f"Test set: {test_file.name}")
        data["eval_source"] = str(eval_path)

    st.subheader("Model")
    builtin_model = form.builtin_model
    model_kind = st.radio("Base model", [builtin_model, "Hugging Face id", "Local directory"] if form.own_models
                          else [builtin_model], horizontal=True, key="new_model_kind")
    image_size = None
    mlp = {}
    if form.mlp:
        c1, c2 = st.columns(2)
        mlp = {"mlp_width": int(c1.number_input("Hidden units per layer", 4, 8192, 256, key="new_mlp_width",
                                                help=MODEL_DOCS["mlp_width"])),
               "mlp_depth": int(c2.number_input("Hidden layers", 1, 16, 3, key="new_mlp_depth",
                                                help=MODEL_DOCS["mlp_depth"]))}
        st.caption(form.mlp_note)
    if model_kind == builtin_model and form.builtin_model_note:
        st.caption(form.builtin_model_note)
    if model_kind == builtin_model:
        base = form.builtin_base or K.default_base
        if form.builtin_model_warning:
            st.warning(form.builtin_model_warning)
    elif model_kind == "Hugging Face id":
        base = "hf:" + st.text_input("Model id", placeholder=form.model_placeholder, key="new_model_id")
    else:
        base = st.text_input(f"Directory with config.json, weights and {form.model_files}", key="new_model_dir")
    if form.image_size:
        image_size = int(st.number_input("Image size (pixels)", 16, 1024, 64, step=16, key="new_image_size",
                                         help=MODEL_DOCS["image_size"] + " 64 keeps a CPU run in minutes."))
    st.caption("Remote code is never run: models that need it are refused.")

    st.subheader("Strategies")
    available = [n for n in STRATEGIES if not K.refusal(n)]
    refused = {n: why for n in STRATEGIES if (why := K.refusal(n))}
    if refused:
        by_reason: dict[str, list[str]] = {}
        for n, why in refused.items():
            by_reason.setdefault(why, []).append(n)
        st.caption("Not offered for this task: " + "; ".join(f"{', '.join(ns)} — {why}" for why, ns in by_reason.items())
                   + ".")
    default_strategies = form.default_strategies
    chosen = st.multiselect("Strategies", available, default=[s for s in default_strategies if s in available],
                            key="new_strategies")
    words = {n: K.strategy_words.get(n, (STRATEGIES[n].summary, STRATEGIES[n].when)) for n in available}
    st.table(pd.DataFrame([{"strategy": n, "what trains": words[n][0],  # sentences: a static table wraps them
                            "default learning rate (search centre)": f"{STRATEGIES[n].lr_for(K):.2g}",
                            "when to pick it": words[n][1]} for n in available]), hide_index=True)
    options = [{"strategy": n, "option": k, "default": repr(v), "what it does": STRATEGIES[n].describe()["option_docs"][k]}
               for n in chosen for k, v in STRATEGIES[n].describe()["options"].items()]
    if options:
        with st.expander("Strategy options (set them in a config file: strategies: [{name: lora, options: {r: 8}}])"):
            st.table(pd.DataFrame(options), hide_index=True)
    c1, c2 = st.columns(2)
    suggested = ", ".join(map(str, suggested_sizes(rows, _Data()))) if rows else "100, 1000, all"
    sizes_text = c1.text_input("Training-set sizes", suggested, key="new_sizes" + key_suffix,
                               help="Positive integers and/or 'all'; smaller subsets are nested inside larger ones."
                                    + (f" Suggested for {rows:,} examples: {suggested} (each size at most a third of "
                                       "the training pool, then all of it)." if rows else ""))
    seeds = c2.number_input("Seeds", 1, 10, 3, key="new_seeds")
    c1, c2 = st.columns(2)
    policy = c1.radio("Budget", BUDGET_POLICIES, horizontal=True, key="new_policy", help=BUDGET_DOCS["policy"])
    if policy == "steps":
        budget = {"policy": "steps", "steps": int(c2.number_input("Steps per run", 1, 1_000_000, 200, key="new_steps"))}
    else:
        budget = {"policy": policy, "epochs": float(c2.number_input("Epochs (of each run's own N)", 0.1, 1000.0, 3.0,
                                                                    key="new_epochs"))}
        if policy == "flops":
            budget["flops_reference"] = "full" if "full" in chosen else (chosen[0] if chosen else "full")

    c1, c2 = st.columns(2)
    sweep = c1.toggle("Search each strategy's learning rate", value=True, key="new_sweep",
                      help="Try ⅓×, 1× and 3× each strategy's default learning rate in short runs at one size (up to "
                           "1,000 examples); the grid uses each one's best on validation. A rate tuned on other data can "
                           "diverge on yours. Off: the rates under Advanced settings are used as given.")
    plateau = c2.toggle("Train scratch (and own) until it stops improving", value=True, key="new_plateau",
                        help="Random weights need many more steps than fine-tuning. " + BUDGET_DOCS["plateau_cap"])
    st.caption("Both are on by default: without them a rate tuned on other data or fine-tuning's epoch count can make "
               "scratch fail silently and inflate fine-tuning's advantage." if form.own_models else
               "Both are on by default: without them a rate tuned on other data or too few steps can make the network "
               "fail silently and hand the comparison to the trees.")
    c1, _ = st.columns(2)
    longer = c1.number_input("Also run scratch k× longer (0 = no)", 0.0, 20.0, 0.0, step=1.0, key="new_longer",
                             help="He et al. (2019): scratch catches up with enough iterations and data; this adds "
                                  "a 'scratch×k' strategy trained k times the steps.")
    with st.expander("Advanced settings"):
        lrs = {}
        cols = st.columns(4)
        for i, n in enumerate(chosen):
            lrs[n] = cols[i % 4].number_input(f"LR · {n}", min_value=0.0, value=float(STRATEGIES[n].lr_for(K)),
                                              format="%.1e", key=f"new_lr_{n}")
        c1, c2, c3, c4 = st.columns(4)
        batch = c1.number_input("Batch size", 1, 4096, 32, key="new_batch")
        max_len = (c2.number_input("Max length (tokens)", 4, 8192, form.max_length, key="new_maxlen")
                   if form.max_length else 128)
        eval_max = c3.number_input("Eval examples (max)", 10, 100_000, 1000, key="new_evalmax")
        device = c4.selectbox("Device", ["auto", "cpu", "cuda"], key="new_device")
        c1, c2 = st.columns(2)
        bf16 = c1.selectbox("bf16 autocast", ["auto (on for CUDA)", "on", "off"], key="new_bf16")
        compile_ = c2.toggle("torch.compile", value=False, key="new_compile",
                             help="Faster steps after a compile warm-up of tens of seconds; worth it for long GPU runs.")
        train_extra = {}
        if K.generations:
            train_extra["generations"] = int(st.number_input("Answers shown per prompt set", 0, 64, 4,
                                                             key="new_generations", help=TRAIN_DOCS["generations"]))
    name = st.text_input("Experiment name", up.name if up is not None else "my experiment", key="new_name" + key_suffix)
    sizes = [s.strip() for s in sizes_text.split(",") if s.strip()]
    config = {
        "name": name, "task": task, "data": data,
        "model": {"base": base, "max_length": int(max_len)} | ({"image_size": image_size} if form.image_size else {}) | mlp,
        # A rate left at its default is not the user's choice: sent as None, so Compare names it untuned.
        "strategies": [{"name": n, "lr": None if sweep or lrs.get(n) == float(STRATEGIES[n].lr_for(K)) else lrs.get(n)}
                       | ({"until_plateau": False} if STRATEGIES[n].plateau_default and not plateau else {}) for n in chosen]
        + ([{"name": "scratch", "budget_multiplier": float(longer),
             "lr": None if sweep or lrs.get("scratch") == float(STRATEGIES["scratch"].lr_for(K)) else lrs.get("scratch")}
            | ({} if plateau else {"until_plateau": False})]
           if longer and longer != 1 and "scratch" in chosen else []),
        "sizes": [int(s) if s.lstrip("+-").isdigit() else s for s in sizes], "seeds": list(range(int(seeds))), "budget": budget,
        "train": {"batch_size": int(batch)} | train_extra,
        "speed": {"device": device, "compile": bool(compile_), "bf16": {"on": True, "off": False}.get(bf16)},
    }
    config["data"]["eval_max"] = int(eval_max)
    config["lr_sweep"] = {} if sweep else None
    context = "file:" + key_suffix + str(data.get("source"))
    precision_overrides(config, context)
    if not data.get("source"):
        st.info("Choose the data to continue.")
        st.stop()

    if data_problems:
        st.subheader("Preflight")
        st.info("Fix the data problems above (" + ", ".join(sorted(set(form.controls.values()) or {"Text column",
                "Label column"})) + ") to check and estimate.")
        st.stop()

try:
    ExperimentConfig.from_dict(config)
except HeadStartError as e:
    st.error(in_page_words(str(e), uploads))
    st.stop()

st.subheader("Preflight")
key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
checked = st.session_state.get("preflight")
if st.button("Check and estimate", key="new_check") or st.session_state.pop("new_check_again", False):
    with st.spinner("Loading the data and model, planning the runs…"):
        result, error = plan(config)
    st.session_state["preflight"] = checked = {"key": key, "plan": result, "error": error}
if checked and checked["key"] == key:
    if checked["error"]:
        st.error(in_page_words(checked["error"], uploads))
    else:
        p = checked["plan"]
        history = pd.concat([runs_frame(store, e.id) for e in store.experiments()[:20]] or [pd.DataFrame()])
        pf = preflight(p, history, p["info"].get("device_name"))
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Runs", pf["runs"])
        c2.metric("Estimated training time", human_seconds(pf["est_s"]))
        c3.metric("Peak memory per run (est.)", human_bytes(pf["peak_mem_bytes"]))
        c4.metric("Training compute", human_flops(pf["flops"]), help="Floating-point operations of every run's training "
                  "steps, summed (forward and backward; evaluation not counted).")
        info = p["info"]
        d = info["data"]
        searched = [s for s, x in info.get("lr_search", {}).items() if x["status"] == "planned"]
        reused = [s for s, x in info.get("lr_search", {}).items() if x["status"] != "planned"]
        st.caption(f"Time {pf['estimate_basis']}; evaluation adds to it, and runs that train until a plateau are "
                   f"counted at their cap (they usually stop sooner). Data: {d['train_rows']:,} training, "
                   f"{d.get('validation_rows', 0):,} validation (for choosing learning rates and checkpoints) and "
                   f"{d['eval_rows']:,} eval examples"
                   + (f" from your test set ({d.get('eval_file_rows', d['eval_rows']):,} rows)" if d.get("eval_source") else "")
                   + f". Device: {info.get('device_name', info['device'])}."
                   + (f" Learning-rate search runs first for {', '.join(searched)}." if searched else "")
                   + (f" Reusing a finished learning-rate search for {', '.join(reused)}." if reused else ""))
        if pf["cost"]:
            st.caption(pf["cost"])
        fit = fit_to_time(config, p["info"]["pool_size"], pf["table"]) if mode != "A preset" else None
        if fit is not None:
            changes, what, fits = fit
            what = what[0].upper() + what[1:]
            st.warning(f"Estimated {human_seconds(pf['est_s'])} of training on this machine: longer than the "
                       f"{FIT_SECONDS // 60} minutes a first look needs. "
                       + (f"{what} would bring it there, each run trained as its budget says." if fits else f"{what}."))
            if changes:
                st.button(f"Fit to about {FIT_SECONDS // 60} minutes" if fits else "Use 1 seed", key="new_fit",
                          on_click=apply_fit, args=(changes, key_suffix))
        if d.get("note"):
            st.info(in_page_words("Data: " + d["note"], uploads))
        for warning in split_warnings(info, kinds()[config["task"]].metric,
                                      kinds()[config["task"]].unit.removeprefix("training ")):
            st.warning(warning)
        precision = resolution(kinds()[config["task"]].metric, d, config,
                               classical=kinds()[config["task"]].classical_references)
        (st.caption if precision.can_decide else st.warning)(resolution_sentence(precision))
        design = [x for x in precision.suggestions if x.margin is None]
        if design:
            cols = st.columns(len(design) + 1)
            for i, x in enumerate(design):
                cols[i].button(f"Use {x.words}", key=f"new_precision_{i}", on_click=apply_precision,
                               args=(x.seeds if x.seeds != len(config["seeds"]) else None, x.set, context),
                               help="Sets " + ", ".join(x.set) + " and checks again.")
        wider = next((x for x in precision.suggestions if x.margin is not None), None)
        if wider is not None:
            st.caption(f"A margin is how close counts as \"as good\" — it is set when reading the results, not here: "
                       f"Compare's sidebar, or `python -m training recommend EXP_ID {wider.flag}`.")
        with st.expander("Every run"):
            st.dataframe(readable(pf["table"]), hide_index=True)
        if st.button("Launch", type="primary", key="new_launch"):
            with st.spinner("Queueing…"):
                # the key belongs to this check: a second click (or a rerun that interrupted the first after it
                # stored the experiment) makes the same one; checking again makes a new key
                exp_id, error = enqueue(config, key=checked.setdefault("launch_key", uuid.uuid4().hex))
            if error:
                st.error(in_page_words(error, uploads))
            else:
                st.session_state["exp_id"] = exp_id
                st.session_state.pop("preflight", None)
                st.switch_page("pages/2_Live.py")
else:
    st.caption("Check the configuration to see the number of runs, an estimate of time and memory, and Launch.")
