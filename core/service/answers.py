"""The models one server process answers with: loaded once, warmed up, and asked from many threads at once.

    models = ServedModels.load(settings)                    # seconds: the models, the face detector, their graphs
    models.answer("a.jpg", data, level=0.8)                 # {"image": "a.jpg", "width": .., "faces": [..]} or {.., "error": ..}
    models.describe()                                       # the runs: metrics, calibration, model card (GET /v1/model)

An answer is `predict`'s (core.inference.photos: the same decoding,
detection, models and calibration), at full precision. Predicting from
several threads at once is safe: the Keras models and the detector's
networks run as traced TensorFlow graphs, which hold no state between calls,
and the warm-up traces them before the first request, so no two threads trace
one at once; a calibration's interval bounds are computed per level and
cached, and two threads that compute the same level store equal values.

The faces of concurrent requests are not batched into one model call: the
models take ~10 ms of a photo's ~55 ms (the detector most of the rest), and a
batcher that ran every face waiting as one call measured no gain (8 clients
on 2 shared cores: 42 and 55 requests/s with it, 50 and 71 without).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import runs
from core.evaluation.calibration import DEFAULT_LEVEL
from core.inference.photos import FacePredictor, predict_rgb
from core.labels import IMAGE_SIDE
from core.runs.model_card import model_card
from core.service.settings import ServiceSettings
from core.vision.faces import warm_up_detector
from core.vision.images import MAX_PIXELS, load_rgb


class ServedModels:
    def __init__(self, predictor: FacePredictor, max_pixels: int = MAX_PIXELS):
        self.predictor = predictor
        self.max_pixels = max_pixels
        # Read once: a run's files do not change while it is served (finished runs only).
        self._described = [
            _describe(runs.load_run(run_dir), self.heads_of(run_dir)) for run_dir in dict.fromkeys(predictor.run_dirs.values())
        ]

    @classmethod
    def load(cls, settings: ServiceSettings) -> ServedModels:
        """The models of the settings' runs and the face detector, loaded and traced.

        Raises:
            ValueError: a folder is not a run, has no model, or two runs predict the same head.
        """
        models = cls(FacePredictor.from_runs(list(settings.run_dirs)), settings.max_pixels)
        models.warm_up()
        return models

    @property
    def run_ids(self) -> dict[str, str]:
        """head -> the name of the run that answers it."""
        return {head: run_dir.name for head, run_dir in self.predictor.run_dirs.items()}

    def heads_of(self, run_dir: Path) -> list[str]:
        return [head for head, source in self.predictor.run_dirs.items() if source == run_dir]

    def warm_up(self) -> None:
        """Trace every graph a request runs (the detector's, the models' for one face and for several) before the first request."""
        warm_up_detector()
        for count in (1, 2, 3):
            self.predictor.predict(np.zeros((count, IMAGE_SIDE, IMAGE_SIDE, 1), np.uint8))

    def answer(self, name: str, data: bytes, level: float = DEFAULT_LEVEL, if_no_face: str = "report") -> dict:
        """One image's answer: its faces (core.inference.photos.PhotoPrediction.to_dict), or the studio's message when it cannot be read."""
        try:
            photo = predict_rgb(self.predictor, load_rgb(data, max_pixels=self.max_pixels), if_no_face, level)
        except ValueError as error:  # core.vision.images' InputError: not an image, damaged, too large.
            return {"image": name, "error": str(error)}
        return {"image": name, **photo.to_dict(rounded=False)}

    def describe(self) -> dict:
        return {"heads": self.run_ids, "runs": self._described}


def _describe(run: runs.RunInfo, heads: list[str]) -> dict:
    """What GET /v1/model says of one run (core.service.schemas.RunAnswer)."""
    if run.metrics is None:
        raise ValueError(f"run {run.run_id} has no metrics.json: only a finished run can be served")
    metrics = {name: getattr(run.metrics, name) for name in run.metrics.__dataclass_fields__}
    calibration = runs.read_calibration(run.run_dir)
    return {
        **metrics,
        "run": run.run_id,
        "heads": heads,
        "calibration": None if calibration is None else vars(calibration),
        "model_card": model_card(run),
    }
