"""The destination kinds cdpcli knows, by config `kind`."""

from __future__ import annotations

from types import ModuleType

KINDS = ("mixpanel", "lago")


def get_kind(kind: str) -> ModuleType:
    """The destination module for `kind` (see `cdpcli.destinations.base` for its functions)."""
    if kind == "mixpanel":
        from cdpcli.destinations.mixpanel import destination as mixpanel

        return mixpanel
    if kind == "lago":
        from cdpcli.destinations.lago import destination as lago

        return lago
    raise KeyError(kind)
