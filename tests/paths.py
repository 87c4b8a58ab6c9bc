"""Where tests find the repository, the vendors' spec subsets (tests/specs) and the vendors'
files they were cut from (tests/specs/vendor). Nothing outside the checkout is read."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "tests" / "specs"
VENDOR_SPECS = SPECS / "vendor"
SAMPLES = REPO / "sample_events"
