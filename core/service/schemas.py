"""The service's response models, made from the dataclasses the library returns, so /docs cannot drift from `predict`.

    FaceAnswer     core.inference.photos.FacePrediction's fields (less the crop and the detection), plus
                   the detector's `confidence` and the `gender` its P(female) decides: FacePrediction.to_dict's keys
    PhotoAnswer    PhotoPrediction's fields (its faces as FaceAnswers), plus the image's name
    ImageError     an image that could not be read: its name and the studio's message
    RunAnswer      core.runs.RunMetrics' fields (its test figures a core.evaluation.metrics.Summary), plus the
                   run, its heads, its calibration (Calibration's figures, less the validation ages) and its model card

A field whose type admits None defaults to None, so an answer without a head
(an age-only run has no `female_probability`) still fits.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Literal

import pydantic

from core.evaluation.calibration import Calibration
from core.inference.photos import FacePrediction, PhotoPrediction
from core.runs import RunMetrics


def model_from_dataclass(cls, name: str, leave_out: tuple[str, ...] = (), replace=None, **extra) -> type[pydantic.BaseModel]:
    """A pydantic model with the fields of dataclass `cls` (less `leave_out`, some types replaced) and `extra` ones.

    `extra` and `replace` take pydantic's (type, default) pairs, as `pydantic.create_model` does.
    """
    hints, replace = typing.get_type_hints(cls), replace or {}
    fields = {}
    for field in dataclasses.fields(cls):
        if field.name in leave_out:
            continue
        if field.name in replace:
            fields[field.name] = replace[field.name]
            continue
        annotation = hints[field.name]
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = pydantic.Field(default_factory=field.default_factory)
        else:
            default = None if _admits_none(annotation) else ...
        fields[field.name] = (annotation, default)
    return pydantic.create_model(name, __doc__=f"Made from {cls.__module__}.{cls.__qualname__}.", **fields, **extra)


def _admits_none(annotation) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


FaceAnswer = model_from_dataclass(
    FacePrediction, "FaceAnswer", leave_out=("crop", "detected"),
    confidence=(float | None, pydantic.Field(None, description="the detector's confidence; null when the whole image was read as a face")),
    gender=(Literal["female", "male"] | None, pydantic.Field(None, description="female where P(female) is 0.5 or more")),
)  # fmt: skip
PhotoAnswer = model_from_dataclass(
    PhotoPrediction, "PhotoAnswer", replace={"faces": (list[FaceAnswer], ...)},
    image=(str, pydantic.Field(description="the file's name, as sent")),
)  # fmt: skip


class ImageError(pydantic.BaseModel):
    """An image that could not be read; the other images of the request are still answered."""

    image: str = pydantic.Field(description="the file's name, as sent")
    error: str = pydantic.Field(description="what is wrong with it, as the studio says it")


class FacesAnswer(pydantic.BaseModel):
    """Every image sent, in order: its faces, or why it could not be read."""

    runs: dict[str, str] = pydantic.Field(description="head (gender, age) -> the run that answers it")
    images: list[PhotoAnswer | ImageError]


class Problem(pydantic.BaseModel):
    """A request the service refused: `detail` says what was wrong; `images` each image's error when none could be read."""

    detail: str
    images: list[ImageError] | None = None


CalibrationAnswer = model_from_dataclass(
    Calibration, "CalibrationAnswer", leave_out=("validation_age", "validation_predicted", "_bounds")
)
RunAnswer = model_from_dataclass(
    RunMetrics, "RunAnswer",
    run=(str, pydantic.Field(description="the run's name (its folder)")),
    heads=(list[str], ...),
    calibration=(CalibrationAnswer | None, pydantic.Field(None, description="null for a run never calibrated")),
    model_card=(str, pydantic.Field(description="the run's model card, Markdown")),
)  # fmt: skip


class ModelAnswer(pydantic.BaseModel):
    """The runs this server answers with."""

    heads: dict[str, str] = pydantic.Field(description="head (gender, age) -> the run that answers it")
    runs: list[RunAnswer]


class Readiness(pydantic.BaseModel):
    """Whether the models are loaded: `detail` says why not when they failed."""

    status: Literal["ready", "loading", "failed"]
    detail: str | None = None
    runs: dict[str, str] | None = None
