"""The dashboard's entry point and router.

    AGEGENDER_CSV=../shared/data/age_gender.csv.gz streamlit run dashboard/app.py

`core` and `dashboard` are found as the installed project (`pip install -e .`,
which requirements.txt does), wherever Streamlit is started from.

Pages are thin scripts in `app_pages/` (not `pages/`, which would make
Streamlit build a second, automatic navigation). A new page is one line in
`SECTIONS`; the first page opens first.
"""

import streamlit as st

import core.quiet  # noqa: F401  (before anything imports TensorFlow)
from dashboard import widgets

# Section -> pages as (script in app_pages/, title, icon).
SECTIONS = {
    "Start": [("home.py", "Home", ":material/home:")],
    "Data and training": [
        ("data.py", "Data", ":material/database:"),
        ("train.py", "Train", ":material/model_training:"),
        ("tune.py", "Tune", ":material/tune:"),
        ("runs.py", "Runs", ":material/history:"),
    ],
    "Results": [
        ("predictions.py", "Predictions", ":material/grid_view:"),
        ("errors.py", "Errors", ":material/troubleshoot:"),
    ],
    "Try it": [
        ("predict.py", "Predict", ":material/add_a_photo:"),
        ("explain.py", "Explain", ":material/visibility:"),
    ],
}

st.set_page_config(page_title="Age & gender CNN studio", page_icon=":material/face:", layout="wide")
navigation = st.navigation(
    {
        section: [st.Page(f"app_pages/{script}", title=title, icon=icon) for script, title, icon in pages]
        for section, pages in SECTIONS.items()
        if pages
    }
)
widgets.sidebar_status()
try:
    navigation.run()
except Exception as error:
    # The last line of defence: a page never shows a raw traceback (st.stop and reruns are not Exceptions).
    widgets.unexpected_error(error)
