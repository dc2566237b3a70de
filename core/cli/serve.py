"""Serve: the studio's models over HTTP for other programs (FastAPI and uvicorn), documented at /docs.

    python -m core serve                              # your newest finished run(s), else the starter, on 127.0.0.1:8000
    python -m core serve RUN_DIR [RUN_DIR] [--host 127.0.0.1] [--port 8000] [--workers 1]
    AGEGENDER_API_KEYS=KEY1,KEY2 python -m core serve # every /v1 request then needs one in its X-API-Key header

Without a run it serves what the Predict page proposes (core.runs.choice):
your newest finished run with both heads (or a newer gender run and age run),
else the starter. It prints one JSON line (the address, the runs, how many API
keys) and serves until stopped. Each worker process loads the models once.
The routes, limits and keys: core/service/ and docs/serving.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import os
import sys
from pathlib import Path

from core import runs
from core.service.keys import KEYS_VARIABLE, read_keys
from core.service.settings import ServiceSettings

APP_FACTORY = "core.service.app:app_from_environment"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core serve", description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR",
                        help="one run with both heads, or a gender run and an age run (default: as the Predict page proposes)")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="default %(default)s")
    parser.add_argument("--workers", type=int, default=1, help="processes, each with its own models (default %(default)s)")
    for field in dataclasses.fields(ServiceSettings):
        if "help" not in field.metadata:
            continue
        flag = "--" + field.name.replace("_", "-")
        if isinstance(field.default, tuple):
            parser.add_argument(flag, nargs="+", default=field.default, help=field.metadata["help"])
        else:
            kind = str if field.default is None else type(field.default)
            parser.add_argument(flag, type=kind, default=field.default, help=f"{field.metadata['help']} (default %(default)s)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.max_images < 1 or args.inference_threads < 1 or args.timeout <= 0:
        parser.error("--workers, --max-images and --inference-threads must be at least 1, and --timeout above 0")
    return args


def chosen_runs(run_dirs: list[Path]) -> list[Path]:
    """The runs given, each checked to be finished with a model; or, with none given, the ones the Predict page proposes."""
    if not run_dirs:
        proposed = runs.default_runs(runs.runs_by_task(runs.available_runs()))
        if not proposed:
            raise ValueError("no finished run with a model to serve, and no starter run: train one or give a RUN_DIR")
        return [run.run_dir for run in proposed]
    for run_dir in run_dirs:
        run = runs.load_run(run_dir)  # Refuses folders that are not runs.
        if not run.is_usable:
            raise ValueError(
                f"run {run.run_id} cannot be served: it is {run.state}{'' if run.has_model else ' and has no model'}"
            )
    return run_dirs


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run_dirs = chosen_runs(args.run_dirs)
        key_count = len(read_keys(args.key_file))  # Checked here, so a bad key file stops the command, not a worker.
    except ValueError as error:
        print(json.dumps({"error": str(error)}))
        return 1
    values = {field.name: getattr(args, field.name) for field in dataclasses.fields(ServiceSettings) if field.name != "run_dirs"}
    settings = ServiceSettings(
        run_dirs=tuple(str(path) for path in run_dirs), **{**values, "cors_origins": tuple(args.cors_origins)}
    )
    if key_count == 0 and not _is_loopback(args.host):
        print(f"warning: serving on {args.host} without API keys, so anyone who can reach port {args.port} can use the models; "
              f"set {KEYS_VARIABLE} or --key-file", file=sys.stderr)  # fmt: skip
    print(json.dumps({"url": f"http://{args.host}:{args.port}", "docs": f"http://{args.host}:{args.port}/docs",
                      "runs": [str(path) for path in run_dirs], "workers": args.workers, "api_keys": key_count}), flush=True)  # fmt: skip
    os.environ.update(settings.to_environment())
    import uvicorn  # Only the command that serves needs it.

    uvicorn.run(APP_FACTORY, factory=True, host=args.host, port=args.port, workers=args.workers, log_level="info")
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # A name, not an address.
        return host == "localhost"


if __name__ == "__main__":
    sys.exit(main())
