"""Side by side: two experiments (e.g. two base models on the same data) on one page — each one's recommendation,
their data-needs lines on one chart, and every (strategy, N) both measured with the difference."""
from __future__ import annotations

import json

import streamlit as st

from training.analysis.side_by_side import describe, pairing_problem, side_by_side, side_by_side_figure
from training.analysis.units import plain, readable
from ui.common import cached_analysis, setup_page, show_figure, visible_experiments

setup_page("Side by side")
st.title("Side by side")
exps = visible_experiments()
if len(exps) < 2:
    st.info("Side by side needs two experiments — e.g. the same data with two base models. Launch a second one on "
            "**New experiment**.")
    st.stop()
ids = [e.id for e in exps]
label = {e.id: f"{e.name} · {e.id}" for e in exps}
first = st.query_params.get("exp") if st.query_params.get("exp") in ids else ids[0]


def match(e) -> tuple[bool, bool]:
    """How well experiment `e` pairs with the first one: one it can be set beside first (`pairing_problem`), then the
    same data (reading the stored rows only: no analysis needed to compare fields)."""
    mine, theirs = json.loads(by_id[first].config_json), json.loads(e.config_json)
    return (pairing_problem(by_id[first], e) is None,
            mine.get("data", {}).get("source") == theirs.get("data", {}).get("source"))


by_id = {e.id: e for e in exps}
# By default the second is the best match for the first (same task, then same data): a page that opens on a pair it
# must refuse shows an error before the visitor has chosen anything.
second = (st.query_params.get("vs") if st.query_params.get("vs") in ids
          else max((e for e in exps if e.id != first), key=match).id)
c1, c2 = st.columns(2)
a_id = c1.selectbox("Experiment A", ids, index=ids.index(first), format_func=label.get, key="sbs_a")
b_id = c2.selectbox("Experiment B", ids, index=ids.index(second), format_func=label.get, key="sbs_b")
st.query_params.update(exp=a_id, vs=b_id)  # the address is the view: share it
if a_id == b_id:
    st.warning("Pick two different experiments.")
    st.stop()
problem = pairing_problem(by_id[a_id], by_id[b_id])
if problem:
    fits = [label[e.id] for e in exps if e.id != a_id and pairing_problem(by_id[a_id], e) is None]
    st.error(f"Side by side compares two experiments of one task on the same classes (or target); these two are not: "
             f"{plain(problem)}.")
    st.info((f"A ({plain(by_id[a_id].name)}) can be set beside: " + "; ".join(plain(f) for f in fits[:8])
             + (f"; and {len(fits) - 8} more" if len(fits) > 8 else "") + ".") if fits else
            "No other experiment here can be set beside A: launch one of the same task on the same data (say, with "
            "another base model) on **New experiment**.")
    st.stop()
price = 2.5
a, b = cached_analysis(a_id, price), cached_analysis(b_id, price)
if a.metric != b.metric:
    st.error(f"These two experiments measure different things ({a.metric} and {b.metric}): side by side compares "
             "experiments of one task.")
    st.stop()
for col, x, name in ((c1, a, "A"), (c2, b, "B")):
    with col.container(border=True):
        st.markdown(f"**{name}: {plain(describe(x))}**")
        for line in (x.recommendation.sentences if x.recommendation else []) or ["No finished runs yet."]:
            st.markdown(line)
if a.config["data"]["source"] != b.config["data"]["source"] or a.info.get("data", {}).get("eval_rows") != \
        b.info.get("data", {}).get("eval_rows"):
    st.warning("The two experiments do not share their data or eval set: their numbers are not measured on the same "
               "examples, so a difference between them mixes the data with the strategy.")
show_figure(side_by_side_figure(a, b, "A", "B"), key="sbs_figure")
table = side_by_side(a, b)
if table.empty:
    st.info("The two experiments have no (strategy, training-set size) in common yet.")
else:
    st.subheader("Every strategy and size both measured")
    st.dataframe(readable(table, {"metric_a": f"A {a.metric}", "low_a": "A 95% low", "high_a": "A 95% high",
                                  "seeds_a": "A seeds", "metric_b": f"B {b.metric}", "low_b": "B 95% low",
                                  "high_b": "B 95% high", "seeds_b": "B seeds", "difference": "B − A",
                                  "difference_low": "B − A, 95% low", "difference_high": "B − A, 95% high"}),
                 hide_index=True)
    st.caption("The verdict is the decision's rule: the same when the 95% interval of the difference lies inside the "
               "margin, one clearly better when it lies above or below zero, otherwise undecided. The two experiments "
               "share no seeds, so their intervals combine unpaired. A cell where either experiment's runs failed a "
               "fairness check is not compared.")
