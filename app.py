"""Head Start — home page and entry point: `streamlit run app.py`.

Training never runs here: a launch queues the experiment in the store and makes sure a dispatcher
(`python -m training worker`) serves it; each run trains in its own worker process, so closing the tab
or restarting the app does not touch it. Neither this file nor any page imports torch.
"""
from ui import home
from ui.common import setup_page

setup_page("Home")
home.render()
