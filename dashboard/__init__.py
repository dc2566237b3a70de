"""The Streamlit dashboard over `core/`: run it from the repository root with

    streamlit run dashboard/app.py

`app.py` routes between the thin page scripts in `app_pages/`; cached loading
lives in `loaders.py`, shared widgets in `widgets.py`, and the Streamlit-free
helpers (filters, tables, figures, the training launcher) in their own modules.
"""
