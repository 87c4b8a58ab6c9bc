"""Where tests find the repository, the vendors' spec subsets (tests/specs) and `../shared`
(beside the checkout; only `tests/specs/test_subsets.py` looks there, and skips without it)."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SHARED_SPECS = SHARED / "specs"
SPECS = REPO / "tests" / "specs"
SAMPLES = REPO / "sample_events"
