"""Export: take a run's model out of the studio, as ONNX, LiteRT or a TensorFlow SavedModel, with a parity check.

    python -m core export runs/<run_id> --format onnx          # runs/<run_id>/export/model.onnx
    python -m core export runs/<run_id> --format litert        # runs/<run_id>/export/model.tflite
    python -m core export runs/<run_id> --format saved_model   # runs/<run_id>/export/saved_model/

The last line printed is one JSON object with the largest differences found
between the export and Keras on 256 test faces. The library behind it, with
the tolerances: core.inference.export.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.inference.export import FORMATS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core export", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--format", choices=list(FORMATS), required=True)
    args = parser.parse_args(argv)
    from core.inference.export import export_run  # TensorFlow loads here, after the arguments are checked.

    try:
        result = export_run(args.run_dir, args.format)
    except (ValueError, FileNotFoundError) as error:
        print(json.dumps({"run_dir": str(args.run_dir), "format": args.format, "error": str(error)}))
        return 1
    print(json.dumps(result.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
