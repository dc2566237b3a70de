"""Train page: pick settings, start training in the background, watch it live, stop it."""

from pathlib import Path

import streamlit as st

from core import runs
from core.config import TrainConfig
from core.labels import TASKS
from core.networks.presets import DEFAULT_PRESET, QUICK_PRESET, all_presets
from core.training.estimate import cached_estimate, estimate_training
from dashboard import figures, launcher, loaders, tuning, widgets
from dashboard.tables import run_duration_seconds

REFRESH_SECONDS = 1
WATCH_KEY = widgets.WATCHED_TRAINING_KEY
# The settings a preset decides, as (widget key, TrainConfig field).
PRESET_SETTINGS = (
    ("train-task", "task"),
    ("train-epochs", "epochs"),
    ("train-batch-size", "batch_size"),
    ("train-learning-rate", "learning_rate"),
)


def apply_preset_defaults() -> None:
    """Fill the task, epochs, batch size and learning rate with the chosen preset's defaults."""
    defaults = TrainConfig(preset=st.session_state["train-preset"])
    for key, field in PRESET_SETTINGS:
        st.session_state[key] = getattr(defaults, field)


st.title("Train")
csv_path = widgets.chosen_csv()
# Loaded (once per file version, shared with the other pages) so that a file that cannot be trained on says so here.
data_usable = widgets.load_data_or_explain(csv_path) is not None
if not data_usable:
    st.page_link(widgets.DATA_PAGE, label="Choose the data on the Data page", icon=":material/database:")
active = runs.active_run()
studies_running = tuning.running_studies()

# The studio's presets and the user's (saved from a tuning trial on the Tune page, say).
presets = all_presets()
handed = widgets.take_handed_preset()
if handed in presets:  # "Train with these settings" on the Tune page: that preset, with its defaults.
    st.session_state["train-preset"] = presets[handed]
elif "train-preset" not in st.session_state:
    # A first model of one's own before the coffee is cold; once there is one, the default's better answers.
    has_own_run = any(run.state == runs.COMPLETED for run in runs.list_runs())
    st.session_state["train-preset"] = presets[DEFAULT_PRESET if has_own_run else QUICK_PRESET]
# Outside the form, so that choosing a preset refills the settings below at once.
preset = st.selectbox(
    "Preset",
    list(presets.values()),
    format_func=str,
    key="train-preset",
    on_change=apply_preset_defaults,
    help="\n\n".join(f"**{name}**: {recipe.description}" for name, recipe in presets.items()),
)
if "train-epochs" not in st.session_state or handed in presets:
    apply_preset_defaults()

with st.form("train-settings"):
    st.caption(f"Trains on `{csv_path}` (choose another file on the Data page).")
    task_column, epochs_column = st.columns([2, 1])
    task = task_column.selectbox(
        "Task",
        TASKS,
        key="train-task",
        help="`both` trains one model with a gender and an age head: the default for presets whose heads share a trunk.",
    )
    epochs = epochs_column.number_input(
        "Epochs",
        min_value=1,
        max_value=1000,
        key="train-epochs",
        help=f"At most; training stops after {preset.patience} epochs without improvement.",
    )
    batch_column, rate_column, limit_column = st.columns(3)
    batch_size = batch_column.number_input("Batch size", min_value=1, max_value=4096, key="train-batch-size")
    learning_rate = rate_column.number_input(
        "Learning rate",
        min_value=1e-7,
        max_value=1.0,
        step=1e-5,
        format="%.1e",
        key="train-learning-rate",
    )
    limit = limit_column.number_input(
        "Row limit (0 = all rows)",
        min_value=0,
        value=0,
        step=500,
        key="train-limit",
        help="A seeded random sample of this many rows, for quick tries.",
    )
    conflicting = loaders.load_health(csv_path).conflicting_rows if data_usable else None
    drop_conflicting = st.checkbox(
        "Leave out duplicate faces whose labels conflict"
        + ("" if conflicting is None else f" ({conflicting:,} rows of this file)"),
        key="train-drop-conflicting",
        help="Copies of one face whose genders differ, or whose ages differ by more than a few years (the Data page "
        "lists them). Off: every valid row is used. Either way all copies of a face stay on one side of the split.",
    )
    start_column, estimate_column = st.columns([1, 3])
    start = start_column.form_submit_button(
        "Start training",
        type="primary",
        icon=":material/play_arrow:",
        disabled=active is not None or bool(studies_running) or not data_usable,
    )
    measure = estimate_column.form_submit_button(
        "Estimate the time",
        icon=":material/timer:",
        disabled=active is not None or not data_usable,
        help="Times a few batches of this preset on this machine (about half a minute), then says how long the "
        "training would take. Kept for next time, and replaced by what a completed run really took.",
    )


def chosen_config() -> TrainConfig:
    """The settings in the form; a ValueError if they are not valid."""
    return TrainConfig(
        task=task,
        preset=preset,
        epochs=int(epochs),
        batch_size=int(batch_size),
        learning_rate=float(learning_rate),
        limit=int(limit) or None,
        csv_path=str(csv_path.resolve()),
        drop_conflicting=drop_conflicting,
    )


def expected_time(measure: bool) -> None:
    """How long the chosen settings would train here: from kept figures at once, else measured when asked."""
    try:
        config = chosen_config()
        sizes = loaders.split_sizes(config)
        estimate = cached_estimate(config, sizes)
        if estimate is None and measure:
            with st.spinner("Timing a few batches of this preset on this machine (about half a minute)…"):
                estimate = estimate_training(config, sizes)
    except ValueError as error:  # Settings or data that cannot be trained on: Start says so too.
        st.caption(f"No time estimate: {error}")
        return
    if estimate is not None:
        st.info(f"Expected: {estimate.describe()}.", icon=":material/timer:")
    elif active is None:
        st.caption("How long will it take? **Estimate the time** measures this preset on this machine first.")


if data_usable:
    expected_time(measure)

if active is not None:
    st.info(
        f"Run `{active.run_id}` is training on this machine; one training runs at a time. Stop it below or wait until it ends.",
        icon=":material/directions_run:",
    )

if studies_running and active is None:
    st.info(f"Study `{studies_running[0]}` is running on this machine (between two trials now); a training waits until it ends.",
            icon=":material/directions_run:")  # fmt: skip
    st.page_link(widgets.TUNE_PAGE, label="See it on the Tune page", icon=":material/tune:")

if start:
    try:
        run_dir = launcher.start_training(chosen_config())
    except ValueError as error:  # Bad settings, a missing file, or another training already running.
        st.error(str(error), icon=":material/error:")
    else:
        st.session_state[WATCH_KEY] = str(run_dir)
        st.rerun()  # Redraw with Start disabled and the new run attached.


@st.fragment(run_every=REFRESH_SECONDS)
def live_panel(run_dir: str) -> None:
    """Progress, Stop and live curves; reruns itself every second while the run goes on."""
    try:
        run = runs.load_run(run_dir)
    except ValueError:
        st.rerun()  # Deleted meanwhile; the page says so.
    if run.state != runs.RUNNING:
        st.rerun()  # Finished: the whole page redraws with the final result.
    live = launcher.live_training(run.run_dir)
    stage, history = live.stage, live.history
    step = live.progress()
    if step is None:
        waited = launcher.format_seconds(run_duration_seconds(run))
        st.progress(0.0, text=f"Loading the data and building the model… ({waited})")
    else:
        # The bar spans the whole run, teachers included; the text, the training under way.
        st.progress(
            step.overall_fraction,
            text=f"{stage + ' · ' if stage else ''}Epoch {step.epoch}/{step.epochs} · batch {step.batch}/{step.steps} · "
            f"elapsed {launcher.format_seconds(step.elapsed)} · about {launcher.format_seconds(step.eta_seconds)} left"
            f"{' in all' if live.trainings_after else ''}",
        )
    stopping = runs.stop_requested(run.run_dir)
    if not stopping and st.button("Stop training", icon=":material/stop_circle:", key="stop-training"):
        runs.request_stop(run.run_dir)
        stopping = True
    if stopping:
        st.caption("Stopping after the current batch; the best model so far is kept and evaluated on the test set.")
    st.plotly_chart(figures.training_curves(history), key="live-curves")


def final_panel(run: runs.RunInfo) -> None:
    """How a run ended: its status, test metrics, curves and (when it failed) why."""
    duration = launcher.format_seconds(run_duration_seconds(run))
    if run.state == runs.COMPLETED:
        st.success(f"Completed in {duration}.", icon=":material/check_circle:")
    elif run.state == runs.STOPPED:
        kept = "the best model so far was kept" if run.has_model else "before its own model had a whole epoch"
        st.warning(f"Stopped on request after {duration}; {kept}.", icon=":material/stop_circle:")
        if run.status.error:  # A resume that was refused before it trained says why.
            st.error(run.status.error, icon=":material/error:")
    elif run.state == runs.PRUNED:
        kept = "its model was kept" if run.has_model else "its history was kept, not its model"
        st.warning(f"A tuning trial pruned after epoch {run.status.pruned_at_epoch} by its study's pruner (its validation loss "
                   f"was not promising); {kept}.", icon=":material/content_cut:")  # fmt: skip
    elif run.state == runs.FAILED:
        st.error(f"Failed: {run.status.error or 'no message'}", icon=":material/error:")
    else:
        st.error(
            "The training process ended without recording why (killed, or the machine restarted). The end of its log is below.",
            icon=":material/error:",
        )
    if run.can_resume:
        done = runs.epochs_done([record for record in runs.read_history(run.run_dir) if record.is_complete_epoch])
        if done:
            st.caption(
                f"It can go on from epoch {done} of {run.config.train.epochs}, the last whole one, with its optimizer state, "
                "learning-rate schedule, best model and history as they were."
            )
        else:
            st.caption(
                "It can go on with its teachers: the finished ones are kept, the stopped one goes on from its last whole epoch."
            )
        if st.button("Resume training", icon=":material/resume:", key="resume-training", disabled=runs.active_run() is not None):
            if widgets.resume_and_watch(run):
                st.rerun()
    if run.metrics is not None:
        test = run.metrics.test
        columns = st.columns(4)
        if test.accuracy is not None:
            columns[0].metric("Test accuracy", widgets.percent(test.accuracy))
        if test.mae is not None:
            columns[1].metric("Test MAE", widgets.years(test.mae))
        columns[2].metric("Best epoch", run.metrics.best_epoch)
        columns[3].metric("Test faces", f"{test.n:,}")
        st.page_link(widgets.ERRORS_PAGE, label="See where it goes wrong on the Errors page", icon=":material/troubleshoot:")
    history = runs.read_history(run.run_dir)
    if history:
        st.plotly_chart(figures.training_curves(history), key="final-curves")
    log = launcher.log_tail(run.run_dir)
    if log:
        with st.expander("End of the training log", expanded=run.state in (runs.FAILED, runs.INTERRUPTED)):
            st.code(log, language=None)


watched = str(active.run_dir) if active is not None else st.session_state.get(WATCH_KEY)
if watched is None:
    st.info(
        "Start a training above: its progress and live curves appear here. Earlier runs are on the Runs page.",
        icon=":material/info:",
    )
    st.stop()
try:
    watched_run = runs.load_run(Path(watched))
except ValueError:
    st.session_state.pop(WATCH_KEY, None)
    st.warning(f"The run in `{watched}` is gone (deleted?).")
    st.stop()
st.subheader(f"Run `{watched_run.run_id}`")
if watched_run.state == runs.RUNNING:
    live_panel(watched)
else:
    final_panel(watched_run)
