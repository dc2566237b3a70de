"""The studio's command line: `python -m core COMMAND [ARGS]`; `python -m core --help` lists the commands.

Each command is a thin module in core/cli/ that parses its arguments and
calls the library; it is imported only when named, so `--help` is instant.
"""

from __future__ import annotations

import importlib
import sys

import core.quiet  # noqa: F401  (must come before anything imports TensorFlow)

# Command -> what it does (the first line of its module's docstring says the same, at more length).
COMMANDS = {
    "train": "train a model (or resume a stopped run) and score it on its test split",
    "tune": "search a preset's settings with Optuna: trials are runs, pruned early, on several processes or machines",
    "evaluate": "score a finished run on its test split, or on every row of another CSV",
    "calibrate": "fit a finished run's age intervals and P(female) on its validation split",
    "predict": "age and gender of every face in photos or folders of them",
    "export": "export a run's model as ONNX, LiteRT or a SavedModel, with a parity check",
    "data_health": "copies of a face, conflicting labels and doubted labels in a face CSV",
    "import_faces": "make a face CSV from UTKFace chips or labelled photos",
    "model_card": "write a finished run's MODEL_CARD.md",
    "serve": "serve the models over HTTP for other programs (FastAPI; OpenAPI docs at /docs)",
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {summary}" for name, summary in COMMANDS.items()]
    return "usage: python -m core COMMAND [ARGS]   (python -m core COMMAND --help for its arguments)\n\ncommands:\n" + "\n".join(
        lines
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return importlib.import_module(f"core.cli.{command}").main(rest)


if __name__ == "__main__":
    sys.exit(main())
