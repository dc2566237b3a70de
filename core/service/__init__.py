"""The studio's models over HTTP (FastAPI and uvicorn): what `predict` answers, for other programs.

settings (what a server is told, handed to its worker processes), keys (optional API keys, checked in
constant time), guards (keys, body size and time, checked before a route runs), schemas (the response
models, built from the dataclasses `predict` returns), answers (a process's models, loaded once, answering
uploads), app (the routes), client (posting photos from Python) and launch (a server as a child process, for tests and benchmarks).
`python -m core serve` (core/cli/serve.py) runs it.

May import: labels, paths, errors, files, progress, quiet, vision, data, networks, config, evaluation, runs, inference.
"""
