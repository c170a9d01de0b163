"""Head Start — the app's entry point: `streamlit run app.py`.

Training never runs here: a launch queues the experiment in the store and makes sure a dispatcher
(`python -m training worker`) serves it; each run trains in its own worker process, so closing the tab
or restarting the app does not touch it. Neither this file nor any page imports torch.
"""
import streamlit as st

from ui import home
from ui.auth import require_login
from ui.common import setup_page

setup_page("Head Start")
require_login()
navigation = st.navigation([
    st.Page(home.render, title="Home", icon=":material/home:", default=True, url_path="home"),
    st.Page("pages/1_New_experiment.py", title="New experiment", icon=":material/science:", url_path="New_experiment"),
    st.Page("pages/2_Live.py", title="Live", icon=":material/monitoring:", url_path="Live"),
    st.Page("pages/3_Compare.py", title="Compare", icon=":material/compare_arrows:", url_path="Compare"),
    st.Page("pages/4_Report.py", title="Report", icon=":material/description:", url_path="Report"),
    st.Page("pages/5_Runs.py", title="Runs", icon=":material/folder_open:", url_path="Runs"),
    st.Page("pages/6_Gallery.py", title="Gallery", icon=":material/play_circle:", url_path="Gallery"),
])
navigation.run()
