"""core.explain.cams: maps of both heads of the shipped starter model have the right shape and range, and carry signal;
on a model whose evidence lies in one known corner, every method's maps lie in that corner."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from core.data.loading import load_faces
from core.explain.cams import METHODS, Explainer
from core.explain.maps import group_averages, overlay
from core.runs import MODEL_FILE, read_predictions
from tests.conftest import SHIPPED_STARTER

FACES = 16
# Grad-CAM keeps only evidence for the score, so a face with none gets an
# all-zero map: none of these 16 faces (nor of 64) on the starter, for any
# method and head. A broken method (e.g. a dead ReLU not linearised) leaves
# them all constant.
MIN_NON_CONSTANT = FACES * 3 // 4


@pytest.fixture(scope="module")
def model():
    # The shipped, fully trained model, not a one-epoch test run: such a run gives
    # everyone about the same answer, and on some CPUs' arithmetic its gender
    # Grad-CAM left 13 of 16 maps all zero.
    return keras.models.load_model(SHIPPED_STARTER / MODEL_FILE, compile=False)


@pytest.fixture(scope="module")
def faces(shared_csv) -> np.ndarray:
    data, _ = load_faces(shared_csv)
    # Spread over the file, which is sorted by age: the first rows are all babies.
    return data.images[np.linspace(0, len(data) - 1, FACES).astype(int)]  # (16, 48, 48, 1) uint8


@pytest.fixture(scope="module")
def explainers(model) -> dict[str, Explainer]:
    return {head: Explainer(model, head) for head in ("gender", "age")}


@pytest.mark.parametrize("head", ["gender", "age"])
@pytest.mark.parametrize("method", METHODS)
def test_maps_have_the_faces_shape_lie_in_0_1_and_are_not_constant(explainers, faces, head, method):
    maps = explainers[head].heatmaps(faces, method)
    assert maps.shape == (FACES, 48, 48) and maps.dtype == np.float32
    assert np.isfinite(maps).all(), f"faces {np.flatnonzero(~np.isfinite(maps).all(axis=(1, 2)))} have NaN maps"
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    varied = maps.reshape(FACES, -1).std(axis=1) > 0.01
    assert varied.sum() >= MIN_NON_CONSTANT, f"only {varied.sum()} of {FACES} maps are not constant"
    assert np.allclose(maps[varied].reshape(varied.sum(), -1).max(axis=1), 1.0, atol=1e-3)  # Each scaled to its own maximum.


def test_float_and_uint8_faces_give_the_same_maps(explainers, faces):
    from_uint8 = explainers["age"].heatmaps(faces, "gradcam")
    from_float = explainers["age"].heatmaps(faces.astype(np.float32) / 255.0, "gradcam")
    assert np.allclose(from_uint8, from_float, atol=1e-5)
    assert explainers["age"].heatmaps(faces[0], "gradcam").shape == (1, 48, 48)  # One face without the n axis.


def test_a_chosen_gender_class_is_explained(explainers, faces):
    male = explainers["gender"].heatmaps(faces, "gradcam", target_class=0)
    female = explainers["gender"].heatmaps(faces, "gradcam", target_class=1)
    assert not np.allclose(male, female)
    predicted = np.argmax(np.asarray(explainers["gender"].model(faces.astype(np.float32) / 255.0)), axis=1)
    as_predicted = explainers["gender"].heatmaps(faces, "gradcam")
    chosen = np.where(predicted[:, None, None] == 1, female, male)
    assert np.allclose(as_predicted, chosen, atol=1e-5)


def test_the_original_model_keeps_its_softmax(model, explainers, faces):
    probabilities = np.asarray(model(faces.astype(np.float32) / 255.0)["gender"])
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_bad_requests_say_what_was_wrong(model, explainers, faces, tiny_gender_run):
    with pytest.raises(ValueError, match="unknown CAM method 'scorecam'"):
        explainers["gender"].heatmaps(faces, "scorecam")
    with pytest.raises(ValueError, match="target_class is for the gender head"):
        explainers["age"].heatmaps(faces, "gradcam", target_class=1)
    with pytest.raises(ValueError, match="target_class must be 0 \\(male\\) or 1 \\(female\\)"):
        explainers["gender"].heatmaps(faces, "gradcam", target_class=2)
    with pytest.raises(ValueError, match=r"expected crops of shape \(n, 48, 48, 1\)"):
        explainers["gender"].heatmaps(np.zeros((2, 64, 64, 1), np.float32), "gradcam")
    gender_only = keras.models.load_model(tiny_gender_run / MODEL_FILE, compile=False)
    with pytest.raises(ValueError, match="has no 'age' head"):
        Explainer(gender_only, "age")


def test_overlay_draws_the_map_in_colour_over_the_face(faces):
    heatmap = np.zeros((48, 48), np.float32)
    heatmap[:, 24:] = 1.0
    picture = overlay(faces[0], heatmap)
    assert picture.shape == (192, 192, 3) and picture.dtype == np.uint8
    hot, cold = picture[:, 150:].reshape(-1, 3).mean(axis=0), picture[:, :40].reshape(-1, 3).mean(axis=0)
    assert hot[0] > hot[2] and cold[2] > cold[0]  # Red where the map is high, blue where it is low.
    assert overlay(faces[0], heatmap, scale=1, opacity=0.0)[:, :, 0].tolist() == faces[0][:, :, 0].tolist()
    with pytest.raises(ValueError, match="does not match"):
        overlay(faces[0], np.zeros((24, 24)))


def test_group_averages_average_each_groups_maps_and_faces(explainers, shared_csv):
    images = load_faces(shared_csv)[0].images
    explainer = explainers["age"]
    predictions = read_predictions(SHIPPED_STARTER)
    groups = {name: predictions.loc[predictions["gender_name"] == name, "row_id"].to_numpy()[:8] for name in ("female", "male")}
    groups["one face"] = groups["female"][:1]  # Also in 'female': explained once, used twice.
    averages = group_averages(explainer, images, groups, "gradcam")
    assert [average.label for average in averages] == ["female", "male", "one face"]
    assert [average.count for average in averages] == [8, 8, 1]
    for average in averages:
        assert average.mean_face.shape == (48, 48, 1) and average.mean_face.dtype == np.uint8
        assert average.mean_map.shape == (48, 48) and average.mean_map.min() >= 0
    assert [average.mean_map.max() for average in averages[:2]] == pytest.approx([1.0, 1.0]), "scaled to the maximum"
    female = groups["female"]
    assert np.abs(averages[0].mean_face.astype(float) - images[female].mean(axis=0)).max() <= 0.5
    single = explainer.heatmaps(images[female[:1]], "gradcam")[0]
    assert np.allclose(averages[2].mean_map, single / single.max() if single.max() > 0 else single, atol=1e-5)
    assert group_averages(explainer, images, {}, "gradcam") == []


# Where the evidence lies ------------------------------------------------------------------------------

# Synthetic faces: noise everywhere (grey levels 0.3-0.7) but a uniform square in the top-left corner, bright
# (0.9-1.0) on "female" faces and dark (0.0-0.1) on "male" ones; the further from grey, the "older".
SIDE, PATCH = 48, 12
IN_PATCH = np.zeros((SIDE, SIDE), bool)
IN_PATCH[:PATCH, :PATCH] = True
# The square is 1/16 of the face: maps of random noise put about 6% of their mass there.
MIN_MASS_IN_PATCH = 0.8


def corner_faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 48, 48, 1) float faces, their genders (1 female) and ages, all decided by the top-left square alone."""
    rng = np.random.default_rng(seed)
    faces = rng.uniform(0.3, 0.7, (n, SIDE, SIDE, 1)).astype(np.float32)
    female = rng.integers(0, 2, n)
    extremity = rng.uniform(0.0, 1.0, n)
    faces[:, :PATCH, :PATCH, 0] = np.where(female == 1, 0.9 + 0.1 * extremity, 0.1 - 0.1 * extremity)[:, None, None]
    return faces, female, (20 + 60 * extremity).astype(np.float32)


@pytest.fixture(scope="module")
def corner_model() -> keras.Model:
    """Gender and age heads, trained for a second, on a convolution that sees only a bright or a dark region.

    The convolution is set by hand: a trained one, even at 100% accuracy, may call
    "male" the absence of the bright square, and Grad-CAM maps of such evidence are
    all zero or lie on the noise (tried with 4 seeds: none put every map in the corner).
    Here each class and each year has evidence, and only in the corner: the bright
    filter fires above 0.8 and the dark one below 0.12 (3x3 means), which the noise,
    zero padding included, never reaches. The heads learn which filter means what.
    """
    keras.utils.set_random_seed(0)
    face = keras.Input((SIDE, SIDE, 1), name="face")
    # Named as the project's models name the convolution their CAMs read (core.networks.build.cam_layer_name).
    convolution = layers.Conv2D(2, 3, padding="same", activation="relu", trainable=False, name="last_conv")
    # x16: the average is over the whole face, of which the square is 1/16.
    features = layers.Rescaling(16.0)(layers.GlobalAveragePooling2D()(convolution(face)))
    gender = layers.Dense(2, activation="softmax", name="gender")(features)
    # Learnt in units of 60 years, which a second of Adam reaches.
    age = layers.Rescaling(60.0, offset=20.0, name="age")(layers.Dense(1, name="age_unit")(features))
    model = keras.Model(face, {"gender": gender, "age": age})
    mean = np.full((3, 3), 10 / 9, np.float32)  # 10 x the 3x3 mean.
    convolution.set_weights([np.stack([mean, -mean], axis=-1)[:, :, None, :], np.array([-8.0, 1.2], np.float32)])
    model.compile(
        keras.optimizers.Adam(0.05),
        loss={"gender": "sparse_categorical_crossentropy", "age": "mse"},
        loss_weights={"gender": 1.0, "age": 1 / 60**2},
    )
    faces, female, age = corner_faces(512, seed=0)
    model.fit(faces, {"gender": female, "age": age}, epochs=10, batch_size=32, verbose=0)
    return model


def test_the_corner_model_learnt_its_labels_from_the_corner(corner_model):
    faces, female, age = corner_faces(64, seed=1)
    predicted = corner_model.predict(faces, verbose=0)
    assert (predicted["gender"].argmax(axis=1) == female).all()
    assert np.corrcoef(predicted["age"][:, 0], age)[0, 1] > 0.9


@pytest.mark.parametrize("head", ["gender", "age"])
@pytest.mark.parametrize("method", METHODS)
def test_maps_lie_where_the_model_s_evidence_lies(corner_model, head, method):
    faces, _, _ = corner_faces(16, seed=1)
    maps = Explainer(corner_model, head).heatmaps(faces, method)
    mass_in_patch = maps[:, IN_PATCH].sum(axis=1) / np.maximum(maps.reshape(len(maps), -1).sum(axis=1), 1e-12)
    assert (mass_in_patch >= MIN_MASS_IN_PATCH).all(), f"share of each map in the corner: {np.round(mass_in_patch, 2)}"
