"""What the faces and the models' answers are: the image side, ages, genders, ethnicities, heads, tasks,
splits, age buckets.

Every room of the studio speaks these words, so they live here, in a module
that imports nothing (not even numpy): reading a constant never pulls in
pyarrow, TensorFlow or the CSV parser.
"""

from __future__ import annotations

# A face is a 48x48 grayscale image (the CSV's `pixels` column, row-major).
IMAGE_SIDE = 48
PIXELS_PER_FACE = IMAGE_SIDE * IMAGE_SIDE
# The oldest age a label may give; an age model answers in 0..MAX_AGE.
MAX_AGE = 120
GENDERS = {0: "male", 1: "female"}
ETHNICITIES = {0: "White", 1: "Black", 2: "Asian", 3: "Indian", 4: "Others"}

# The heads a model can have, in the order every output, table and page lists them.
HEADS = ("gender", "age")
# What each task trains; `both` is one model with both heads.
HEADS_BY_TASK = {"both": HEADS, "gender": ("gender",), "age": ("age",)}
TASKS = tuple(HEADS_BY_TASK)
# How a run's rows are split (core.data.splits): every copy of a face kept on one side, or not.
SPLITS = ("grouped", "stratified")

# Where each age bucket of the error analysis starts (years), and its label.
AGE_BUCKET_EDGES = (0, 3, 10, 20, 30, 40, 50, 60, 70)
AGE_BUCKET_LABELS = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")


def ordered_heads(names) -> tuple[str, ...]:
    """The heads among `names` (a model's output names, say), in HEADS order."""
    present = set(names)
    return tuple(head for head in HEADS if head in present)
