"""Where the benchmarks read the shared data (beside the project) and write their runs (git-ignored)."""

from core.paths import PROJECT_ROOT

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SHARED_CSV = SHARED_DATA / "age_gender.csv.gz"
SHARED_FACES = SHARED_DATA / "faces"
RUNS = PROJECT_ROOT / "artifacts" / "benchmark-runs"
