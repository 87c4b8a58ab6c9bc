"""Where tests find the repository and `../shared` (beside the checkout, as on CI)."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SHARED_SPECS = SHARED / "specs"
SAMPLES = REPO / "sample_events"
