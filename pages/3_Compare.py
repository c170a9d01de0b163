"""Compare: fairness checks, a verdict, data needs against reference baselines, learning curves, the
learning-rate search, compute, forgetting, the learning-vs-forgetting frontier and overfitting — every
number from `training.analysis`, the same as the report."""
from __future__ import annotations

import streamlit as st

from training.analysis import figures as F
from training.analysis.forecast import BACKTEST_NAMES, CROSSOVER_NAMES, backtest_table, crossover_table, has_pretrained
from training.analysis.frames import CHECKPOINT_LABELS, CHECKPOINTS
from training.analysis.generations import SPLIT_WORDS, base_answers, rouge_table, side_by_side
from training.analysis.recommend import rule
from training.analysis.report import (
    ANSWERS_NOTE,
    BACKTEST_NOTE,
    CROSSOVER_HEADING,
    GENERAL_NOTE,
    R2_NOTE,
    crossover_note,
    r2_table,
    recommendation_lines,
    recommended_cells,
    search_note,
    table_names,
)
from training.analysis.units import human_flops, human_number, human_seconds, plain, probe_skill, shown_source
from ui.common import cached_analysis, get_store, pick_experiment, revive_dispatcher, setup_page, show_figure, show_table
from ui.decision import decision_record
from ui.delivery import take_home, where_they_disagree

setup_page("Compare")
# Runs left `running` by a dispatcher that died (the system killed it) read "Partial results" here until someone
# found Resume: whoever looks at the results brings a dispatcher back, whose recovery resumes or retries them
revive_dispatcher()
st.title("Compare")
store = get_store()
exp_id = pick_experiment()
if exp_id is None:
    st.info("No experiments yet: launch one first. Compare fills in as runs finish.")
    st.stop()
price = st.sidebar.number_input("Price per device-hour ($)", min_value=0.0, value=2.50, step=0.25,
                                help="GPU-hour price (or CPU-hour on CPU runs) for the cost column.")
target = st.sidebar.number_input("Target eval metric for 'cost to reach'", value=None, format="%.3f",
                                 help="Default: 95% of the best strategy's best validation value at the largest size "
                                      "(105% where lower is better), so at least one strategy reaches it.")
checkpoint = st.sidebar.radio("Score each run by its", list(CHECKPOINTS), format_func=CHECKPOINT_LABELS.get,
                              key="cmp_checkpoint",
                              help=" ".join(f"**{CHECKPOINT_LABELS[k]}**: {v}." for k, v in CHECKPOINTS.items())
                              + " Checkpoints are chosen on the validation set, held out of training; the eval set never "
                              "picks anything.")
margin = st.sidebar.number_input(
    "Equivalence margin", min_value=0.0, value=None, format="%.3f", key="cmp_margin",
    help="How close to the best counts as 'as good': the 95% interval of the difference must lie inside ± this. "
         "Default: 0.010 (1 point) for accuracy; 0.02 (2%, relative) for perplexity and RMSE.") or None
a = cached_analysis(exp_id, price, target, checkpoint, margin)
note = F.note

failures = [f for f in a.findings if f["severity"] == "failure"]
warnings = [f for f in a.findings if f["severity"] == "warning"]
with st.container(border=True, key="cmp_recommendation"):
    st.subheader("Recommendation")
    decided = a.recommendation if a.recommendation and a.recommendation.sizes else None
    for line in recommendation_lines(a)[:-1] if decided else recommendation_lines(a):
        (st.info if line == (a.recommendation.notice if a.recommendation else None) else st.markdown)(line)
    if decided:
        st.caption(rule(decided) + " Every number is a cell of the verdict's table below; the margin is set in the "
                   "sidebar.")
        take_home(a, exp_id)
with st.container(border=True, key="cmp_decision"):
    st.subheader("Decision record")
    decision_record(a, exp_id, price)
with st.container(border=True):
    st.subheader("Is this comparison fair?")
    for f in failures:
        st.error(f"**{f['message']}** {f['advice']}", icon=":material/block:")
    for f in warnings:
        st.warning(f"{f['message']} {f['advice']}", icon=":material/warning:")
    if not a.findings and not a.summary.empty:
        trivial = F.trivial_reference(a.config)
        st.success("No check failed: " + (f"every finished run is above {trivial}, " if trivial else "")
                   + "no training loss went up, no strategy gets worse with more data, and no interval is too wide to "
                   "decide.")
    d = a.info.get("data", {})
    if d:
        eval_from = (f"{plain(shown_source(d['eval_source']))} (your test set)" if d.get("eval_source")
                     else "a held-out split of the data")
        st.caption(f"Scored on {d.get('eval_rows', 0):,} eval examples from {eval_from}; learning rates, early "
                   f"stopping and best checkpoints were chosen on {d.get('validation_rows', 0):,} separate validation "
                   f"examples. Runs are scored by their {CHECKPOINTS[a.checkpoint]}.")

with st.container(border=True):
    st.subheader("Verdict")
    for sentence in a.verdict:
        st.markdown(f"- {sentence}")
    if not a.verdict_table.empty:
        with st.expander("The table behind every number in the verdict"):
            show_table(a.verdict_table, table_names(a))

if a.summary.empty:
    st.info("No run has finished yet; charts appear as runs finish. Watch them on **Live**.")
    st.stop()

st.header("Data needs")
show_figure(F.data_needs_figure(a.summary, a.metric, a.references, recommended_cells(a)),
            note("data_needs", a.config) + " The star marks what the recommendation says to use at each size.",
            key="cmp_data_needs")
if a.metric == "rmse" and not (r2 := r2_table(a)).empty:
    with st.expander("R² at each size (share of the target's variance explained)"):
        show_table(r2)
        st.caption(R2_NOTE)

if not a.generations.empty:
    st.header("Answers side by side")
    g = a.generations
    c1, c2, c3 = st.columns(3)
    gen_sizes = sorted(g["n_train"].unique())
    gn = c1.selectbox("Training-set size", gen_sizes, index=len(gen_sizes) - 1, key="cmp_answers_n")
    gseed = c2.selectbox("Seed", sorted(g["seed"].unique()), key="cmp_answers_seed")
    split = c3.radio("Prompts", ["eval", "general"], format_func=SPLIT_WORDS.get, key="cmp_answers_split")
    answers = (side_by_side(g, "eval", gn, gseed, "final") if split == "eval"
               else side_by_side(g, "general", gn, gseed, before=base_answers(g)))
    if answers.empty:
        st.info("No finished run at this size and seed has answered these prompts yet.")
    else:
        st.dataframe(answers, hide_index=True)
    st.caption(ANSWERS_NOTE if split == "eval" else GENERAL_NOTE)
    show_table(rouge_table(g))
    st.caption("Mean ROUGE-L F1 of the final answers to up to 32 held-out eval prompts, over seeds.")

where_they_disagree(a, exp_id)

st.header("Learning curves")
c1, c2 = st.columns([3, 1])
x = c1.radio("x-axis", list(F.X_AXES), index=list(F.X_AXES).index("examples"), horizontal=True, format_func=F.X_AXES.get,
             key="cmp_x")  # a radio wraps its choices onto a second line where the column is narrow
sizes = sorted(a.metrics["n_train"].unique())
n = c2.selectbox("Training-set size", sizes, index=len(sizes) - 1, key="cmp_n")
show_figure(F.curves_figure(a.metrics[a.metrics["n_train"] == n], x=x or "examples"), note("curves", a.config), key="cmp_curves")

if has_pretrained(a.config):  # a table's scratch alone has nothing to catch up with
    st.header(CROSSOVER_HEADING)
    forecast = a.recommendation.forecast if a.recommendation is not None else None
    crossing = crossover_table(forecast)
    if crossing.empty:
        st.info("Nothing to forecast yet: it needs finished runs of a strategy trained from random weights and of a "
                "pretrained one.")
    else:
        show_table(crossing, CROSSOVER_NAMES, prose=("why",))
    st.caption(crossover_note(a))
    checks = backtest_table(forecast)
    if not checks.empty:
        st.subheader("The forecast checked on itself")
        show_table(checks, BACKTEST_NAMES)
        st.caption(BACKTEST_NOTE)

st.header("Compute")
compute_cols = ["strategy", "n_train", "seeds", "wall_s", "gpu_seconds", "flops", "mfu", "peak_mem_gb", "trainable_params",
                "cost"] + [c for c in ("flops_with_pretraining", "flops_amortised") if c in a.compute]
show_table(a.compute[compute_cols], {"cost": f"cost at ${price:.2f}/h"}, first=("wall_s", "cost"))
st.caption(note("compute", a.config) + " “—”: does not apply — GPU time and MFU on a CPU run, or no run of that cell on a GPU.")
if a.pretrain:
    p = a.pretrain
    st.info(f"Pretraining (hybrid) cost {human_flops(p['flops'])} and {human_seconds(p['wall_s'])} of training; spread over "
            f"the {p['users']} runs that start from it, {human_flops(p['amortised_flops'])} each. The table's "
            "“compute incl. pretraining” counts it in full for every pretrained run, “pretraining amortised” its share.")
if a.target is not None:
    st.subheader(f"Cost to reach {a.metric} {a.target:.3f}")
    if a.to_target.empty:
        st.info(f"No finished run's validation {a.metric} reached {a.target:.3f} yet.")
    else:
        show_table(a.to_target, {"cost": f"cost at ${price:.2f}/h", "best_val": f"best validation {a.metric}"},
                   first=("reached", "best_val", "cost", "wall_s"))
        if a.to_target["reached"].str.startswith("0/").all():
            closest = a.to_target["best_val"].max() if a.higher_is_better else a.to_target["best_val"].min()
            st.warning(f"No seed's validation {a.metric} reached {a.target:.3f}: the closest came to "
                       f"{human_number(closest)}."
                       + " Set a target in the sidebar.", icon=":material/flag:")
    st.caption("Mean over the seeds whose validation metric reached the target, at their first evaluation at or past "
               "it; 'seeds reached' counts them and 'best validation' is how far the seeds got (mean of each one's "
               "best)." + (" Pretrained strategies of the hybrid path include the pretraining's FLOPs." if a.pretrain else ""))
st.header("Learning-rate search")
if a.lr_sweep.empty:
    fixed = [s for s, src in (a.info.get("lr_source") or {}).items() if src != "searched"]
    st.info("No learning-rate search in this experiment" + (f": {', '.join(fixed)} used a fixed or default rate."
                                                            if fixed else "."))
else:
    show_table(a.lr_sweep, {"lr": "rate", "rung": "sent to step", f"val_{a.metric}": f"best val. {a.metric}",
                            "val_loss": "val. loss there"}, prose=("search", "stopped"))
    st.markdown(search_note(a) + " "
                + ("Scratch and fine-tuning want very different rates, and a rate tuned on one dataset can diverge on "
                   "another; comparing them at one shared or built-in rate is unfair." if has_pretrained(a.config) else
                   "A rate tuned on one dataset can diverge on another, so the network is compared with the references "
                   "at a rate chosen on this data."))

st.header("Forgetting")
if a.forgetting.empty:
    st.info("This experiment has no forgetting probe." if has_pretrained(a.config) else
            "Nothing to forget: every run here trains from scratch, so there is no base model's skill to lose.")
else:
    probe_keys = [k for k in a.metrics["key"].unique() if k.startswith("probe/")]
    skill = a.forgetting["probe"].iloc[0]
    st.markdown(f"**The skill tested:** {probe_skill(skill)} — {probe_skill(skill, long=True)}, on data none of the runs "
                f"trained on. Forgetting is how much of it a strategy loses.")
    show_figure(F.probe_figure(a.metrics, probe_keys[0], a.forgetting["baseline"].iloc[0], x=x or "examples"),
                note("probe", a.config), key="cmp_probe")
    show_figure(F.forgetting_figure(a.forgetting), note("forgetting", a.config), key="cmp_forgetting")
    st.subheader("Learning vs forgetting")
    show_figure(F.tradeoff_figure(a.runs, a.metric_col, a.metric, a.higher_is_better), note("tradeoff", a.config),
                key="cmp_tradeoff")

st.header("Overfitting")
if a.overfitting.empty:
    st.info("No run has logged both training and eval loss yet.")
else:
    flagged = a.overfitting[a.overfitting["overfitting"]]
    if flagged.empty:
        st.success("No run shows eval loss rising while training loss falls.")
    else:
        st.warning(f"{len(flagged)} of {len(a.overfitting)} runs overfit; why, run by run, is under the table.")
    show_table(a.overfitting.drop(columns=["run_id"]), prose=("why",))
    st.caption(note("overfitting", a.config))
