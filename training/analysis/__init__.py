"""Pure functions from the store's rows to the tables, figures and words the pages and reports show.

Nothing here imports torch or streamlit; every function takes DataFrames (see `frames`) and returns
DataFrames, Plotly figures or text, so the app, the report and the tests compute the same things.
"""
