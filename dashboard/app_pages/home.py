"""Home page: what the studio does, what is loaded now, and where to go next."""

import streamlit as st

from core import runs
from core.config import TrainConfig
from core.training.estimate import cached_estimate, figures_kept
from dashboard import loaders, widgets

KAGGLE_URL = "https://www.kaggle.com/datasets/nipunarora8/age-gender-and-ethnicity-face-data-csv"
UTKFACE_URL = "https://susanqq.github.io/UTKFace/"


def default_training_time(csv_path) -> str:
    """How long the default preset trains on this machine, once its figures are kept; else where to find out."""
    config = TrainConfig(csv_path=str(csv_path))
    if csv_path.is_file() and figures_kept(config):
        try:
            estimate = cached_estimate(config, loaders.split_sizes(config))
        except ValueError:  # The data cannot be trained on: the Train page says why.
            estimate = None
        if estimate is not None:
            return f"The default ({estimate.preset}) trains in {estimate.describe()}."
    # Measured on 2 cores with the full CSV: 97 s an epoch without bfloat16 instructions, 16.7 min in all with them.
    return ("The Train page tells how long a preset takes on this machine before you start: the default's 36 epochs "
            "took about an hour on 2 cores without bfloat16 instructions, 17 minutes with them.")  # fmt: skip


st.title("Age & gender CNN studio")
st.markdown(
    "Convolutional networks that read a person's **age and gender from a face**.  \n"
    "Upload a photo and see what the model says and where it looked; explore where it goes wrong, "
    "by age, gender and ethnicity.  \n"
    "Bring face data, train your own models on this computer, and compare them."
)

st.subheader("Loaded now")
data_column, model_column = st.columns(2)
with data_column:
    csv_path = widgets.chosen_csv()
    if csv_path.is_file():
        st.success(f"**Data:** `{csv_path}`", icon=":material/database:")
    else:
        st.warning("**Data:** none yet. The starter model works without it; training needs it.", icon=":material/database:")
with model_column:
    proposed = runs.default_runs(runs.runs_by_task(runs.available_runs()))
    if not proposed:
        st.warning("**Models:** none yet: train one on the Train page.", icon=":material/neurology:")
    elif proposed[0].is_starter:
        st.success(
            f"**Models:** the starter model that ships with the studio ({widgets.describe_run(proposed[0])}).",
            icon=":material/neurology:",
        )
    else:
        st.success(
            "**Models:** yours: " + "; ".join(widgets.describe_run(run) for run in proposed) + ".", icon=":material/neurology:"
        )

st.subheader("Next steps")
photo_column, data_steps_column, train_column = st.columns(3)
with photo_column:
    st.markdown("**Try a photo.** Any JPEG, PNG or WebP with one or more faces, or your camera.")
    if st.button("Try a photo", icon=":material/add_a_photo:", type="primary", key="home-photo"):
        st.switch_page(widgets.PREDICT_PAGE)
    if st.button("See where the model errs", icon=":material/troubleshoot:", key="home-errors"):
        st.switch_page(widgets.ERRORS_PAGE)
with data_steps_column:
    st.markdown(
        f"**Get the data.** The Kaggle dataset [age, gender, ethnicity (face data) CSV]({KAGGLE_URL}) "
        f"(a free Kaggle login), or the [UTKFace]({UTKFACE_URL}) photos it was made from. Put the CSV at "
        "`data/age_gender.csv`, or import a folder of UTKFace chips or your own labelled photos on the Data page."
    )
    if st.button("Go to the Data page", icon=":material/database:", key="home-data"):
        st.switch_page(widgets.DATA_PAGE)
with train_column:
    st.markdown(f"**Train your own.** Pick a preset and watch the curves live. {default_training_time(csv_path)}")
    if st.button("Train a model", icon=":material/model_training:", key="home-train"):
        st.switch_page(widgets.TRAIN_PAGE)
