"""The HTTP service's routes: `create_app(settings)` is what uvicorn runs in each worker process.

    POST /v1/faces?level=0.8&if_no_face=report   photos as multipart files named `files` -> every face of each
    GET  /v1/model                               the runs answering: metrics, calibration, model card
    GET  /health                                 200 while the process is alive
    GET  /ready                                  200 once the models are loaded (503 before, or when they failed)
    GET  /docs, /openapi.json                    the OpenAPI description, response models included

The models load in a thread when the process starts, so /health answers at
once and /ready says when the service can answer. Each photo is decoded
and predicted in a worker thread (`inference_threads` at once), so requests
are answered concurrently and the event loop keeps accepting them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Annotated, Literal

import anyio
from fastapi import FastAPI, File, HTTPException, Query, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from core.evaluation.calibration import DEFAULT_LEVEL, LEVELS
from core.inference.photos import NO_FACE_CHOICES
from core.service import schemas
from core.service.answers import ServedModels
from core.service.guards import BodyLimit, KeyCheck, RequestTimeout
from core.service.keys import KEY_HEADER, read_keys
from core.service.settings import ServiceSettings
from core.vision.images import MAX_BYTES

log = logging.getLogger("uvicorn.error")
FILES_FIELD = "files"
MULTIPART = "multipart/form-data"
# Room in a request's body for the multipart framing around its photos.
FRAMING_BYTES = 1_000_000


class Loading:
    """The models of this process, once loaded in the background, or why they could not be."""

    def __init__(self, settings: ServiceSettings, load):
        self.settings, self._load = settings, load
        self.models: ServedModels | None = None
        self.error: str | None = None

    def run(self) -> None:
        started = time.perf_counter()
        try:
            self.models = self._load(self.settings)
        except Exception as error:  # Whatever it was, /ready says it and the process stays up to say it.
            self.error = f"{type(error).__name__}: {error}" if not isinstance(error, ValueError) else str(error)
            log.error("the models could not be loaded: %s", self.error)
            return
        log.info("models loaded in %.1f s: %s", time.perf_counter() - started, self.models.run_ids)

    def ready_models(self) -> ServedModels:
        if self.models is None:
            detail = (
                f"the models could not be loaded: {self.error}"
                if self.error
                else "the models are still loading; GET /ready says when they are"
            )
            raise HTTPException(503, detail)
        return self.models


def create_app(settings: ServiceSettings, load=ServedModels.load) -> FastAPI:
    """The service for these settings; `load(settings)` gives its models (core.service.answers.ServedModels.load)."""
    keys = read_keys(settings.key_file)  # Refuses an unreadable or empty key file before anything starts.
    loading = Loading(settings, load)
    limiter = anyio.CapacityLimiter(settings.inference_threads)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        threading.Thread(target=loading.run, name="load-models", daemon=True).start()
        yield

    app = FastAPI(
        title="Age & gender CNN studio",
        version="1",
        summary="The studio's answers for other programs: every face's box, age with its interval, calibrated P(female), warnings.",
        lifespan=lifespan,
    )
    # In the OpenAPI description only (the Authorize button of /docs): KeyCheck checks keys, before the body is read.
    documented_key = [Security(APIKeyHeader(name=KEY_HEADER, auto_error=False))] if keys else []
    refusals = {status: {"model": schemas.Problem} for status in (401, 413, 415, 422, 503)}

    @app.post("/v1/faces", response_model=schemas.FacesAnswer, responses=refusals, dependencies=documented_key)
    async def faces(
        files: Annotated[
            list[UploadFile], File(description=f"one or more JPEG, PNG or WebP photos, at most {MAX_BYTES / 1e6:g} MB each")
        ],
        level: Annotated[float, Query(description=f"coverage of the age intervals, one of {LEVELS}")] = DEFAULT_LEVEL,
        if_no_face: Annotated[
            Literal[NO_FACE_CHOICES], Query(description="whole-image reads a photo without a face as one face chip")
        ] = "report",
    ):
        """Every face in each photo: box, detector confidence, age and its interval, gender and calibrated P(female), warnings.

        A photo that cannot be read gets its own `error`; the others are still answered (422 when none could be).
        """
        models = loading.ready_models()
        if level not in LEVELS:
            raise HTTPException(422, f"level must be one of {', '.join(map(str, LEVELS))}; got {level}")
        if len(files) > settings.max_images:
            raise HTTPException(413, f"{len(files)} images in one request; at most {settings.max_images}")
        answers = []
        for number, upload in enumerate(files, start=1):
            name, data = upload.filename or f"image {number}", await upload.read()
            answers.append(await anyio.to_thread.run_sync(models.answer, name, data, level, if_no_face, limiter=limiter))
        if all("error" in answer for answer in answers):
            problems = "; ".join(f"{answer['image']}: {answer['error']}" for answer in answers)
            return JSONResponse({"detail": f"no image could be read: {problems}", "images": answers}, status_code=422)
        return {"runs": models.run_ids, "images": answers}

    @app.get(
        "/v1/model", response_model=schemas.ModelAnswer, responses={503: {"model": schemas.Problem}}, dependencies=documented_key
    )
    async def model():
        """The runs this server answers with: test metrics, calibration and model card."""
        return loading.ready_models().describe()

    @app.get("/health")
    async def health():
        """200 while the process is alive."""
        return {"status": "alive"}

    @app.get("/ready", response_model=schemas.Readiness, responses={503: {"model": schemas.Readiness}})
    async def ready():
        """200 once the models are loaded; 503 while they load, or when they could not be."""
        if loading.models is not None:
            return {"status": "ready", "runs": loading.models.run_ids}
        status = "failed" if loading.error else "loading"
        return JSONResponse({"status": status, "detail": loading.error}, status_code=503)

    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(Exception, _unexpected_problem)
    app.add_middleware(KeyCheck, keys=keys, prefix="/v1/")
    app.add_middleware(BodyLimit, max_bytes=settings.max_images * MAX_BYTES + FRAMING_BYTES)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=[KEY_HEADER])  # fmt: skip
    app.add_middleware(RequestTimeout, seconds=settings.timeout)  # Added last: the outermost, so it times everything.
    return app


def app_from_environment() -> FastAPI:
    """uvicorn's factory in each worker: the settings the serve command left in the environment."""
    return create_app(ServiceSettings.from_environment())


async def _validation_problem(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's validation errors as one sentence; a body that is not multipart photos says so."""
    content_type = request.headers.get("content-type", "")
    missing_files = any(item["loc"][-1] == FILES_FIELD for item in error.errors())
    if missing_files and request.url.path == "/v1/faces":
        if not content_type.startswith(MULTIPART):
            sent = f"Content-Type {content_type}" if content_type else "no Content-Type"
            return JSONResponse(
                {"detail": f"expected {MULTIPART} with photos in the field '{FILES_FIELD}'; got {sent}"}, status_code=415
            )
        return JSONResponse({"detail": f"no photos: send one or more files in the form field '{FILES_FIELD}'"}, status_code=422)
    problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
    return JSONResponse({"detail": problems}, status_code=422)


async def _unexpected_problem(request: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": f"unexpected {type(error).__name__} on the server; its log has the details"}, status_code=500)
