"""Data page: where the face CSV comes from (or an import of images), its load report, distributions, samples, data health."""

import dataclasses
import tarfile

import pandas as pd
import streamlit as st

from core import runs
from core.data import health as data_health
from core.data.importing import import_faces
from core.data.sampling import seeded_sample
from core.errors import InputError
from core.labels import ETHNICITIES, GENDERS
from core.paths import DATA_DIR, check_data_path, default_csv_path
from dashboard import figures, loaders, tables, widgets

SAMPLE_SIZE = 48
FIRST_BAD_ROWS = 20

st.title("Data")
st.caption("The face CSV that training and the result pages use. Every row is checked; bad rows are left out and listed here.")

path_column, upload_column = st.columns(2)
with upload_column:
    # Handled before the path box is drawn, so the box already shows an upload's path.
    upload = st.file_uploader("…or upload a CSV / .csv.gz", type=["csv", "gz"])
    if upload is not None:
        widgets.store_upload(upload)
with path_column:
    with st.form("csv-path", border=False):
        typed = st.text_input("Face CSV file (plain or .gz)", value=str(widgets.chosen_csv()))
        if st.form_submit_button("Use this file"):
            try:
                widgets.choose_csv(check_data_path(typed.strip()))
            except InputError as error:
                st.error(str(error), icon=":material/block:")
    default = default_csv_path()
    if st.button(f"Use the default: {default}", type="tertiary"):
        widgets.choose_csv(default)

with st.expander("Import faces from a folder or archive: UTKFace chips, or your own labelled photos", icon=":material/upload:"):
    st.caption(
        "UTKFace *aligned & cropped* chips (`AGE_GENDER_ETHNICITY_DATE.jpg.chip.jpg`) become rows exactly as the "
        "public CSV was made. Other photos are searched for one face each, labelled by a UTKFace-style name or by a "
        "`labels.csv` (columns file, age, gender, ethnicity); photos with no face or several are left out and listed."
    )
    source_text = st.text_input("Folder, .tar or .tar.gz on this computer", key="import-source")
    archive = st.file_uploader("…or upload a .tar / .tar.gz / .tgz", type=["tar", "gz", "tgz"], key="import-upload")
    labels_text = st.text_input("Labels file (optional; default: labels.csv in the folder)", key="import-labels")
    if st.button("Import", icon=":material/upload:", key="import-start", disabled=not (source_text.strip() or archive)):
        bar = st.progress(0.0, text="Reading the images…")
        try:
            source = widgets.save_upload(archive) if archive is not None else check_data_path(source_text.strip())
            out = DATA_DIR / f"imported-{source.name.split('.')[0] or 'faces'}.csv.gz"
            labels_path = check_data_path(labels_text.strip()) if labels_text.strip() else None
            imported = import_faces(
                source, out, labels_path,
                progress=lambda done, total: bar.progress(done / total, text=f"{done:,} of {total:,} images"),
            )  # fmt: skip
        except (ValueError, OSError, EOFError, tarfile.TarError) as error:
            # InputError is a ValueError, FileNotFoundError an OSError.
            st.error(f"Cannot import: {error}", icon=":material/error:")
        else:
            if imported.out:
                widgets.choose_csv(out)
                st.success(
                    f"{imported.faces_written:,} of {imported.images_seen:,} images became faces in `{out}`, now the data in use.",
                    icon=":material/check_circle:",
                )
            else:
                st.error(f"None of the {imported.images_seen:,} images of {source} could be imported.", icon=":material/error:")
            if imported.problems:
                st.dataframe(pd.DataFrame(map(dataclasses.asdict, imported.problems)), hide_index=True, key="import-problems")

path = widgets.chosen_csv()
loaded = widgets.load_data_or_explain(path)
if loaded is None:
    st.stop()
faces, report = loaded

st.header("Load report")
st.caption(f"`{path}` · checked in {report.seconds:.1f} s{' (from the parsed-file cache)' if report.from_cache else ''}")
read_column, kept_column, left_out_column = st.columns(3)
read_column.metric("Rows read", f"{report.rows_read:,}")
kept_column.metric("Rows kept", f"{report.rows_kept:,}")
left_out_column.metric("Rows left out", f"{report.rows_left_out:,}")
if report.bad_rows:
    reasons_column, rows_column = st.columns([1, 2])
    reasons_column.dataframe(pd.DataFrame(report.counts_by_reason().items(), columns=["problem", "rows"]), hide_index=True)
    rows_column.dataframe(pd.DataFrame([dataclasses.asdict(row) for row in report.bad_rows[:FIRST_BAD_ROWS]]), hide_index=True)
    if len(report.bad_rows) > FIRST_BAD_ROWS:
        rows_column.caption(f"The first {FIRST_BAD_ROWS} of {len(report.bad_rows):,} problems.")
else:
    st.success("Every row is valid.", icon=":material/check_circle:")
if report.notes:
    st.warning(
        f"Kept with a note: {len(report.notes):,} row(s) whose image name was not valid UTF-8 (it shows U+FFFD where "
        "bytes could not be decoded); their pixels and labels are used as they are.",
        icon=":material/text_format:",
    )
    st.dataframe(pd.DataFrame([dataclasses.asdict(row) for row in report.notes[:FIRST_BAD_ROWS]]), hide_index=True)

st.header("Distributions")
left, right = st.columns(2)
left.plotly_chart(figures.age_histogram(faces.age, faces.gender), key="age-histogram")
right.plotly_chart(figures.age_by_gender_box(faces.age, faces.gender), key="age-by-gender")
left.plotly_chart(figures.balance_bar(faces.gender, GENDERS, "Gender"), key="gender-balance")
right.plotly_chart(figures.balance_bar(faces.ethnicity, ETHNICITIES, "Ethnicity"), key="ethnicity-balance")

st.header("Sample faces")
face_filter = widgets.slice_controls("data-sample", max_age=int(faces.age.max()))
matching = face_filter.apply(faces.labels_frame()).index.to_numpy()
if st.button("Show other faces", icon=":material/shuffle:"):
    st.session_state["data-sample-seed"] = st.session_state.get("data-sample-seed", 0) + 1
shown = seeded_sample(matching, SAMPLE_SIZE, seed=st.session_state.get("data-sample-seed", 0))
st.caption(f"Showing {len(shown)} of {len(matching):,} matching faces.")
widgets.face_strip(
    faces.images[shown],
    [f"{faces.age[row]} · {GENDERS[faces.gender[row]]} · {ETHNICITIES[faces.ethnicity[row]]}" for row in shown],
)

st.header("Data health")
st.caption(
    "Copies of one face: the same pixels (exact), or the same photo saved again (near: DCT hashes within "
    f"{data_health.CANDIDATE_DISTANCE} bits and pixels correlated at {data_health.NEAR_CORRELATION} or more). "
    f"Copies conflict when their genders differ or their ages differ by more than {data_health.AGE_CONFLICT_YEARS} years. "
    "New runs keep all copies of a face on one side of the split; the Train page can leave conflicting copies out."
)
health = loaders.load_health(path)
exact_column, near_column, conflict_column, contrast_column = st.columns(4)
exact_column.metric("Exact duplicate groups", f"{health.exact_groups:,}", help=f"{health.exact_rows:,} rows")
near_column.metric("Groups of copies, near included", f"{len(health.groups):,}", help=f"{health.duplicate_rows:,} rows")
conflict_column.metric(
    "Groups with conflicting labels", f"{health.conflicting_groups:,}", help=f"{health.conflicting_rows:,} rows"
)
contrast_column.metric(
    "Almost constant faces",
    f"{len(health.low_contrast_rows):,}",
    help=f"pixel standard deviation under {data_health.LOW_CONTRAST_STD:g}",
)
if health.groups:
    groups = tables.health_groups_table(health, faces)
    only_conflicts = st.toggle("Only groups whose labels conflict", value=True, key="health-conflicts")
    shown_groups = groups[groups["conflicting"]] if only_conflicts else groups
    st.dataframe(shown_groups.drop(columns="summary"), hide_index=True, key="health-groups")
    picked = st.selectbox(
        "Look at a group", shown_groups["group"], format_func=lambda number: groups.loc[number, "summary"], key="health-group"
    )
    if picked is not None:
        rows = health.groups[picked].rows
        widgets.face_strip(faces.images[rows], [f"row {row} · {faces.age[row]} · {GENDERS[faces.gender[row]]}" for row in rows])
if len(health.low_contrast_rows):
    st.markdown("**Almost constant faces**")
    rows = health.low_contrast_rows[:SAMPLE_SIZE]
    widgets.face_strip(faces.images[rows], [f"row {row}" for row in rows])

st.subheader("Labels a model doubts")
same_data = [run for run in runs.available_runs() if run.config.data_hash == report.file_hash and run.metrics is not None]
if not same_data:
    st.caption("Once a run trained on this file has finished, its confident disagreements with labels of test faces show here.")
else:
    by_id = {run.run_id: run for run in same_data}
    chosen_run = st.selectbox(
        "Run", list(by_id), format_func=lambda run_id: widgets.describe_run(by_id[run_id]), key="health-run"
    )
    doubts = data_health.label_doubts(runs.read_predictions(by_id[chosen_run].run_dir))
    st.caption(
        f"{len(doubts):,} of this run's test faces (never trained on): the model gives the other gender a probability of "
        f"{data_health.DOUBT_GENDER_PROBABILITY:.0%} or more, or misses the age by {data_health.DOUBT_AGE_YEARS} years or more."
    )
    if len(doubts):
        first = doubts.head(SAMPLE_SIZE)
        widgets.face_strip(
            faces.images[first["row_id"].to_numpy()], [tables.prediction_caption(row) for row in first.itertuples()]
        )
        st.dataframe(tables.display_columns(doubts).assign(doubt=doubts["doubt"]), hide_index=True)
