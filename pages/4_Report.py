"""Report: a self-contained HTML report (opens with no network) and a Markdown one, for decision reviews."""
from __future__ import annotations

import streamlit as st

from training.analysis.report import markdown_report
from ui.common import cached_analysis, cached_html_report, pick_experiment, setup_page

setup_page("Report")
st.title("Report")
exp_id = pick_experiment()
if exp_id is None:
    st.info("No experiments yet: the report summarises a finished (or partly finished) experiment.")
    st.stop()
price = st.number_input("Price per device-hour ($)", min_value=0.0, value=2.50, step=0.25)
a = cached_analysis(exp_id, price)
st.write("The HTML report inlines Plotly once and needs no network: email it, or open it on a projector. "
         "The Markdown report carries the same tables and verdict for a wiki or a pull request.")
name = a.exp.name.replace(" ", "-")
c1, c2 = st.columns(2)
c1.download_button("Download HTML report", cached_html_report(exp_id, price), file_name=f"headstart-{name}-{exp_id}.html",
                   mime="text/html", on_click="ignore", type="primary")
markdown = markdown_report(a)
c2.download_button("Download Markdown report", markdown, file_name=f"headstart-{name}-{exp_id}.md",
                   mime="text/markdown", on_click="ignore")
st.divider()
st.markdown(markdown)
