"""Model card: write a finished run's MODEL_CARD.md from its own files (and print its path).

    python -m core model_card runs/<run_id>

The library behind it: core.runs.model_card.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.runs.model_card import write_model_card


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core model_card", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        print(write_model_card(args.run_dir))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
