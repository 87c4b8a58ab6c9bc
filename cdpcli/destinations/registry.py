"""The destination kinds cdpcli knows, by config `kind`: each a `Destination` subclass in its
own folder, imported when first asked for."""

from __future__ import annotations

from typing import Any

from cdpcli.destinations.base import Destination

KINDS = ("mixpanel", "lago")


def get_kind(kind: str) -> type[Destination[Any]]:
    """The `Destination` class of `kind`; KeyError for a kind not in `KINDS`."""
    if kind == "mixpanel":
        from cdpcli.destinations.mixpanel.destination import MixpanelDestination

        return MixpanelDestination
    if kind == "lago":
        from cdpcli.destinations.lago.destination import LagoDestination

        return LagoDestination
    raise KeyError(kind)
