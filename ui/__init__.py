"""Streamlit helpers shared by app.py and pages/ (no torch: pages read the store and start subprocesses)."""
