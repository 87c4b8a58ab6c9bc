"""HTTP fakes of the destinations (Mixpanel, Lago) for behaviour tests; see `servers`."""

from tests.fakes.servers import (
    LAGO_API_KEY,
    LAGO_BATCH,
    MIXPANEL_ENGAGE,
    MIXPANEL_GROUPS,
    MIXPANEL_IMPORT,
    MIXPANEL_PROJECT_ID,
    MIXPANEL_SA_SECRET,
    MIXPANEL_SA_USER,
    MIXPANEL_TOKEN,
    FakeLago,
    FakeMixpanel,
    Fault,
    Quota,
    RecordedRequest,
    lago_fake,
    mixpanel_fake,
)

__all__ = [
    "LAGO_API_KEY",
    "LAGO_BATCH",
    "MIXPANEL_ENGAGE",
    "MIXPANEL_GROUPS",
    "MIXPANEL_IMPORT",
    "MIXPANEL_PROJECT_ID",
    "MIXPANEL_SA_SECRET",
    "MIXPANEL_SA_USER",
    "MIXPANEL_TOKEN",
    "FakeLago",
    "FakeMixpanel",
    "Fault",
    "Quota",
    "RecordedRequest",
    "lago_fake",
    "mixpanel_fake",
]
