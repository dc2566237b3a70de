"""What one server is told: which runs to answer with and its limits; the serve command hands it to every worker.

    settings = ServiceSettings(run_dirs=("models/starter",), max_images=8)
    os.environ.update(settings.to_environment())     # the command, before uvicorn starts its workers
    settings = ServiceSettings.from_environment()    # each worker (core.service.app.app_from_environment)

The command line's flags are made from these fields (core/cli/serve.py), so
a limit is one edit. API keys are not settings: each worker reads them
itself (core.service.keys), so they never travel through this variable.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from pathlib import Path

from core.paths import PROJECT_ROOT
from core.vision.images import MAX_PIXELS

SETTINGS_VARIABLE = "AGEGENDER_SERVICE_SETTINGS"


def _setting(default, help_text: str):
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class ServiceSettings:
    run_dirs: tuple[str, ...]  # one run with both heads, or a gender run and an age run
    # 16 photos of the 20 MB the studio allows (core.vision.images.MAX_BYTES) bound one request's body at 320 MB.
    max_images: int = _setting(16, "most photos in one request")
    max_pixels: int = _setting(MAX_PIXELS, "most pixels in one photo (the studio's 50 megapixels: 150 MB decoded)")
    timeout: float = _setting(60.0, "seconds a request may take before it is answered 503")
    # Photos decoded and predicted at once, each in a thread; the others wait their turn without holding one, so a
    # timeout still ends them. Most of a photo's time is the detector's many small TensorFlow calls, which leave the
    # CPU idle between them: 8 clients on 2 (shared) cores got 22 requests/s with one photo at a time (a lock), 28
    # with 2, 43 with 4, 50-55 with 8 (benchmarks/serve_load.py). Each may hold a photo of up to 150 MB decoded.
    inference_threads: int = _setting(8, "photos decoded and predicted at once")
    key_file: str | None = _setting(None, "a file of API keys, one a line (beside the AGEGENDER_API_KEYS variable)")
    cors_origins: tuple[str, ...] = _setting((), "web origins allowed to call from a browser (CORS is off without one)")

    def to_environment(self) -> dict[str, str]:
        return {SETTINGS_VARIABLE: json.dumps(dataclasses.asdict(self))}

    @classmethod
    def from_environment(cls, environ=os.environ) -> ServiceSettings:
        if SETTINGS_VARIABLE not in environ:
            raise ValueError(f"{SETTINGS_VARIABLE} is not set: start the service with `python -m core serve`")
        values = json.loads(environ[SETTINGS_VARIABLE])
        return cls(**{**values, "run_dirs": tuple(values["run_dirs"]), "cors_origins": tuple(values["cors_origins"])})


def serve_command(run_dirs: list[str | Path]) -> str:
    """The command that serves these runs, with paths inside the project relative to it (where the command is typed)."""
    shown = []
    for run_dir in map(Path, run_dirs):
        resolved = run_dir.resolve()
        shown.append(str(resolved.relative_to(PROJECT_ROOT) if resolved.is_relative_to(PROJECT_ROOT) else resolved))
    return shlex.join(["python", "-m", "core", "serve", *shown])
