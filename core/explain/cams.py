"""Class activation maps: where a model looks when it predicts gender or age.

    explainer = Explainer(model, "gender")              # build once per model and head, keep it
    maps = explainer.heatmaps(faces, "gradcam")         # (n, 48, 48) float32 in [0, 1]
    maps = explainer.heatmaps(faces, "saliency", target_class=1)
    picture = core.explain.maps.overlay(faces[0], maps[0])  # (192, 192, 3) uint8 RGB, for display

Methods (tf-keras-vis): "gradcam", "gradcam++" (on the head's last
convolution, `core.networks.build.cam_layer_name`) and "saliency" (the gradient with
respect to the pixels). The score explained: for gender, the class each face
was predicted as, or a chosen `target_class` (0 male, 1 female); for age, the
regression output, i.e. what pushes the predicted age up. Score-CAM is not
offered: it softmaxes the outputs, which means nothing for one regression unit.

The gender score is the log-odds of the explained class (its logit minus the
other's, after tf-keras-vis' ReplaceToLinear), not that class's logit alone:
the decision of a 2-way softmax depends only on the difference, and on
lightly trained models the single logit left a third of the Grad-CAM maps
all zero, the log-odds none.

Every score is handed over with its value zeroed and its gradient kept
(`ZeroValued`): Grad-CAM++ in tf-keras-vis weighs each face by exp(score),
a per-face factor that the per-face scaling removes again, but exp of a
predicted age of 90 overflows float32 and left the oldest faces' maps NaN.

Computing a map and drawing it are separate: `core.explain.maps` draws and
averages maps, and imports no TensorFlow, so pages can import it at once.
"""

from __future__ import annotations

import keras
import numpy as np
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.saliency import Saliency
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

from core.explain.maps import METHODS
from core.labels import GENDERS, IMAGE_SIDE
from core.networks.build import cam_layer_name, model_heads
from core.vision.faces import as_model_input


def age_score(output):
    """The predicted age itself: its gradient shows what pushes the age up."""
    return output[:, 0]


class GenderLogOdds:
    """Score of each face: logit of its explained class minus the other class's logit."""

    def __init__(self, classes):
        self.signs = np.where(np.asarray(classes) == 1, 1.0, -1.0).astype(np.float32)  # (n,) +1 female, -1 male

    def __call__(self, output):
        return self.signs * (output[:, 1] - output[:, 0])


class ZeroValued:
    """A score whose value is zero and whose gradient is the wrapped score's: exp(score) stays 1."""

    def __init__(self, score):
        self.score = score

    def __call__(self, output):
        value = self.score(output)
        return value - keras.ops.stop_gradient(value)


class Explainer:
    """CAMs of one head of a model; holds the tf-keras-vis objects, so build it once and keep it."""

    def __init__(self, model: keras.Model, head: str):
        if head not in model_heads(model):
            raise ValueError(f"model {model.name!r} has no {head!r} head; it has {', '.join(model_heads(model))}")
        self.head = head
        self.layer_name = cam_layer_name(model, head)
        # The models have dict outputs; the CAM tools want one output tensor.
        self.model = keras.Model(model.inputs, model.get_layer(head).output, name=f"{model.name}_{head}")
        # One linearised copy shared by all methods (ReplaceToLinear would
        # otherwise clone the model once per method). Without it a softmax
        # saturates the gradients and a dead ReLU on the age unit gives all-zero maps.
        linear = keras.models.clone_model(self.model)
        linear.set_weights(self.model.get_weights())
        ReplaceToLinear()(linear)
        self._visualizers = {
            "gradcam": Gradcam(linear, clone=False),
            "gradcam++": GradcamPlusPlus(linear, clone=False),
            "saliency": Saliency(linear, clone=False),
        }

    def heatmaps(self, faces: np.ndarray, method: str = "gradcam", target_class: int | None = None) -> np.ndarray:
        """(n, 48, 48) float32 maps in [0, 1], each scaled to its own maximum.

        Grad-CAM and Grad-CAM++ keep only what raises the score, so a face
        where nothing does gets an all-zero map (rare on trained models).

        Args:
            faces: (n, 48, 48, 1) faces, float in [0, 1] or uint8 (a single face without the n axis is accepted).
            method: one of METHODS.
            target_class: gender only: explain this class (0 male, 1 female)
                instead of the class each face was predicted as. (Saliency
                maps are gradient magnitudes, the same for either class.)
        """
        if method not in METHODS:
            raise ValueError(f"unknown CAM method {method!r}; choose one of {', '.join(METHODS)}")
        faces = as_model_input(faces)
        score = ZeroValued(self._score(faces, target_class))
        if method == "saliency":
            maps = self._visualizers[method](score, faces)
        else:
            maps = self._visualizers[method](score, faces, penultimate_layer=self.layer_name, seek_penultimate_conv_layer=False)
        return np.clip(np.asarray(maps, dtype=np.float32).reshape(len(faces), IMAGE_SIDE, IMAGE_SIDE), 0.0, 1.0)

    def _score(self, faces: np.ndarray, target_class: int | None):
        if self.head == "age":
            if target_class is not None:
                raise ValueError(f"target_class is for the gender head; age maps explain the age going up (got {target_class})")
            return age_score
        if target_class is None:
            return GenderLogOdds(np.argmax(np.asarray(self.model([faces], training=False)), axis=1))
        if target_class not in GENDERS:
            raise ValueError(f"target_class must be 0 (male) or 1 (female), got {target_class!r}")
        return GenderLogOdds(np.full(len(faces), target_class))
