"""Take the decision home (Compare): the recommended run's model as a zip a user loads with transformers. The export
runs in a subprocess (`python -m training export-model`): pages never import torch."""
from __future__ import annotations

import streamlit as st

from training.analysis.recommend import name
from training.analysis.units import plain
from training.service.records import Role, Status
from training.tasks import known
from ui.auth import current_user
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
    if kind is None or not kind.exports or exp is None or exp.is_record or not may_take_models(exp):
        return  # (a recorded experiment, imported from a bundle, carries no checkpoints)
    run = recommended_run(a, exp_id)
    if run is None:
        return
    from training.delivery.predict import CARD_WORDS

    libraries = CARD_WORDS[kind.input_form][0]
    st.markdown(f"**Take it home.** The recommended model — {name(run.strategy)} at N = {run.n_train:,} (seed {run.seed}, run "
                f"`{run.id}`) — as a folder you load with {libraries}: the weights the tables score as its final model, "
                "what prepares its inputs as in training, and a model card with its scores, intervals and the code that "
                "loads it.")
    key = f"model_zip_{run.id}"
    if key not in st.session_state and st.button("Prepare the model for download", key=f"prepare_{run.id}",
                                                 icon=":material/package_2:"):
        with st.spinner("Exporting the model (a separate process loads it)…"):
            data, error = export_model_zip(run.id, current_user())
        if error:
            st.error(f"Could not export run {run.id}: {plain(error)}")
        else:
            st.session_state[key] = data
            st.rerun()  # draw the download in place of this button
    if key in st.session_state:
        st.download_button("Download the model (zip)", st.session_state[key], file_name=f"headstart-model-{run.id}.zip",
                           mime="application/zip", key=f"download_{run.id}", icon=":material/download:")


def where_they_disagree(a, exp_id: str) -> None:
    """Compare's per-example view: the eval examples the models answer differently, each one's confusion matrix and
    most confident mistakes, what pretraining knew, and every example's answers as CSV (`analysis.disagreement`)."""
    from training.analysis.disagreement import (
        answer_sources,
        answers_table,
        confident_mistakes,
        confusion,
        disagreements,
        pretraining_knew,
    )
    from training.analysis.frames import references_frame

    classification = a.metric == "accuracy"
    if not classification and a.metric not in ("rmse", "mae"):
        return  # language models: their answers are compared above (chat) or by perplexity alone
    st.header("Where they disagree")
    done = a.runs[a.runs["status"] == "done"] if not a.runs.empty else a.runs
    if done.empty:
        st.info("No run has finished yet.")
        return
    c1, c2 = st.columns(2)
    sizes = sorted(done["n_train"].unique())
    n = c1.selectbox("Training-set size", sizes, index=len(sizes) - 1, key="cmp_dis_n")
    seeds = sorted(done[done["n_train"] == n]["seed"].unique())
    seed = c2.selectbox("Seed", seeds, key="cmp_dis_seed")
    store = get_store()
    exp = store.experiment(exp_id)
    labels = (exp.info.get("label_names") if exp else None) or []
    order = [s.label for s in exp.config.strategies] if exp else None
    sources = answer_sources(a.runs, references_frame(store, exp_id), int(n), int(seed), order)
    table = answers_table(sources, store.eval_inputs(exp_id), labels, classification)
    if table.empty:
        st.info("These runs stored no per-example answers (an experiment from before they were stored).")
        return
    names = [s for s, _ in sources]
    dis = disagreements(table, classification)
    shown = dis.drop(columns=[c for c in ("agree", "spread") if c in dis])
    if classification:
        st.markdown(f"On **{len(dis):,} of {len(table):,}** eval examples the {len(names)} models at N = {n:,} (seed "
                    f"{seed}) do not all give the same answer (fewest right first). Each column is what that model "
                    "predicted, with its probability for that answer at the right: the tables' accuracy counts exactly "
                    "these answers.")
    else:
        st.markdown(f"The {len(dis):,} eval examples (of {len(table):,}) on which the {len(names)} models at N = {n:,} "
                    f"(seed {seed}) differ most; each column is that model's prediction.")
    conf = {c: st.column_config.NumberColumn(c.replace("confidence: ", "p "), format="%.2f", width="small",
                                             help=f"The probability {plain(c.removeprefix('confidence: '))} gave its answer")
            for c in shown.columns if c.startswith("confidence: ")}
    with st.container(key="cmp_disagreements"):
        st.dataframe(shown, hide_index=True, column_config={"input": st.column_config.TextColumn("input", width="large"),
                                                            **conf})
    if "input" not in table:
        st.caption("The examples' words were not saved with this experiment (one from before they were): the "
                   "`example` column is each one's position in the eval set.")
    st.download_button("Download every eval example's answers (CSV)", table.to_csv(index=False).encode(),
                       file_name=f"headstart-{exp_id}-answers-N{n}-seed{seed}.csv", mime="text/csv",
                       key="cmp_dis_csv", icon=":material/download:")
    if not classification:
        return
    knew = pretraining_knew(table, names)
    if knew:
        st.markdown(f"**What pretraining knew.** {len(knew['knew']):,} eval examples scratch gets wrong and every "
                    f"pretrained model here ({plain(', '.join(knew['pretrained']))}) gets right; {len(knew['scratch_only']):,} "
                    "the other way round.")
        if len(knew["knew"]):
            with st.expander(f"The {len(knew['knew']):,} examples only the pretrained models get right"):
                st.dataframe(knew["knew"], hide_index=True)
    from training.analysis.figures import confusion_figure
    from ui.common import show_figure

    tabs = st.tabs([plain(n) for n in names])  # a tab's label is Markdown
    for tab, (source, items) in zip(tabs, sources, strict=True):
        with tab:
            show_figure(confusion_figure(confusion(items, labels), f"{source}: confusion matrix, N = {n:,}, seed {seed}"),
                        "Rows: the true class; columns: the class predicted. The diagonal is what it gets right.",
                        key=f"cmp_confusion_{source}")
            st.markdown("**Most confident mistakes**")
            mistakes = confident_mistakes(table, source)
            if mistakes.empty:
                st.success("No mistakes on the eval set.")
            else:
                first = [c for c in mistakes.columns if c != "input"] + (["input"] if "input" in mistakes else [])
                st.dataframe(mistakes[first], hide_index=True, column_config={
                    source: st.column_config.TextColumn("predicted"),
                    f"confidence: {source}": st.column_config.NumberColumn("probability", format="%.2f")})


def answers_view(answer: dict, labels: list[str], pictures: list[tuple[str, bytes]] | None = None) -> None:
    """Try it's answers: per input, each model's predicted class with its probability for every class (bars), and
    whether they agree. `pictures`: the uploaded images (name, bytes) in the order asked — shown as themselves, with
    the user's file name, not the server path they were answered from (which is gone once answered)."""
    import plotly.graph_objects as go

    from training.analysis.units import plain_name

    for i, p in enumerate(answer.get("predictions", [])):
        with st.container(border=True):
            if pictures and i < len(pictures):
                name, data = pictures[i]
                st.markdown(f"**Input:** {plain(name)}")
                st.image(data, width=160)
            else:
                shown = (", ".join(f"{k} = {'—' if v is None else v}" for k, v in p["input"].items())
                         if isinstance(p["input"], dict) else p["input"])
                st.markdown(f"**Input:** {plain(shown[:600])}" + ("…" if len(shown) > 600 else ""))
            by = p["by"]
            if all("answer" in a for a in by.values()):  # chat, language models: each model's words
                for col, (rid, a) in zip(st.columns(len(by)), by.items(), strict=True):
                    with col.container(key=f"try_answer_{i}_{rid}", border=True):
                        st.caption(plain(plain_name(a["strategy"])) if rid != "base" else "the base model, before training",
                                   help=f"Run {rid}: N = {a['n_train']:,}, seed {a['seed']}, its {a['weights']} weights."
                                   if rid != "base" else "The experiment's base model as it was before any run trained it.")
                        st.text(a["answer"] or "(no answer: it stopped at once)")
                continue
            if all("value" in a for a in by.values()):  # regression: each model's value
                values = [a["value"] for a in by.values()]
                st.info(f"The {len(by)} models predict {min(values):.4g} to {max(values):.4g}." if len(by) > 1 else
                        f"The model predicts {values[0]:.4g}.")
                for col, (rid, a) in zip(st.columns(len(by)), by.items(), strict=True):
                    _answer(col, i, rid, a, f"{a['value']:.4g}")
                continue
            by = {rid: dict(a, label=str(a["label"])) for rid, a in by.items()}
            said = {a["label"] for a in by.values()}
            if len(said) == 1:
                st.success(f"All {len(by)} models say **{plain(next(iter(said)))}**.")
            else:
                st.warning("The models disagree: " + "; ".join(f"{plain(plain_name(a['strategy']))} says **{plain(a['label'])}**"
                                                              for a in by.values()) + ".")
            cols = st.columns(len(by))
            # class labels are categories, whatever they look like ("1", "2"… read as numbers put 2 of 5 bars on
            # a 0/0.5/1 axis): strings on a category axis, every class its own bar
            classes = [str(c) for c in labels] or sorted({str(c) for a in by.values() for c in a.get("scores", {})})
            for col, (rid, a) in zip(cols, by.items(), strict=True):
                scores = {str(c): v for c, v in a.get("scores", {}).items()}
                _answer(col, i, rid, a, a["label"] + (f" · {scores[a['label']]:.0%}" if a["label"] in scores else ""))
                if scores:
                    fig = go.Figure(go.Bar(x=[scores.get(c, 0.0) for c in classes], y=classes, orientation="h",
                                           marker_color=["#1f77b4" if c == a["label"] else "#b0bec5" for c in classes],
                                           text=[f"{scores.get(c, 0.0):.2f}" for c in classes], textposition="auto"))
                    fig.update_layout(height=40 + 28 * len(classes), margin=dict(l=0, r=0, t=4, b=4),
                                      xaxis=dict(range=[0, 1], visible=False),
                                      yaxis=dict(autorange="reversed", type="category"))
                    col.plotly_chart(fig, key=f"try_{i}_{rid}", config={"displayModeBar": False})


def _answer(col, i: int, rid: str, a: dict, said: str) -> None:
    """One model's answer in its column: which model (the run on hover), then what it says."""
    from training.analysis.units import plain_name

    with col.container(key=f"try_answer_{i}_{rid}"):
        st.caption(plain(plain_name(a["strategy"])), help=f"Run {rid}: N = {a['n_train']:,}, seed {a['seed']}, its "
                                                   f"{a['weights']} weights.")
        st.markdown(f"##### {plain(said)}")


def row_from_words(words: str, columns: list[str]) -> dict:
    """A table's eval row back from its words ("col = value; …", `TaskKind.eval_inputs`), for Try it's first row; "—"
    is a missing value."""
    out = {c: None for c in columns}
    for part in words.split("; "):
        name, sep, value = part.partition(" = ")
        if sep and name in out and value != "—":
            out[name] = value
    return out
