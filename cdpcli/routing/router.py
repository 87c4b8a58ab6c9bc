"""Which routes an event takes: the compiled `when` of each route, and the event's `integrations`
opt-out (PRODUCT.md §5). `matching_routes` runs per event."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdpcli.destinations.base import RouteInfo
from cdpcli.routing.config import Config, Route

KIND_INTEGRATION_KEYS: Mapping[str, tuple[str, ...]] = {
    "mixpanel": ("Mixpanel", "Mixpanel (Actions)"),
    "lago": ("Lago",),
}
"""Catalog names an event's `integrations` may use for a kind (reference/segment-spec.md §5)."""


@dataclass(slots=True)  # built per event: a frozen dataclass costs 4x to construct
class RouteDecision:
    """A route an event matched; `skipped` is the reason when `integrations` opts it out."""

    route: Route
    skipped: str | None = None


def matching_routes(config: Config, event: Mapping[str, Any]) -> list[RouteDecision]:
    """Every route `event` matches, in config order, each marked skipped when opted out."""
    event_type = event.get("type")
    if type(event_type) is not str:
        return []
    integrations = event.get("integrations") if config.respect_integrations else None
    if type(integrations) is not dict or not integrations:
        integrations = None
    out: list[RouteDecision] = []
    for route in config.routes:
        if event_type not in route.types or not route.when._matches_rest(event):
            continue
        skipped = None
        if integrations is not None:
            destination = config.destinations[route.to]
            skipped = integrations_opt_out(
                integrations, integration_keys(destination.name, destination.kind)
            )
        out.append(RouteDecision(route, skipped))
    return out


@functools.cache  # asked once per event and route; a config has a handful of destinations
def integration_keys(name: str, kind: str) -> tuple[str, ...]:
    """The `integrations` keys that speak for a destination: its name, then its catalog names."""
    return (name, *KIND_INTEGRATION_KEYS.get(kind, ()))


def integrations_opt_out(integrations: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """Why `integrations` turns the destination off, or None when it is on.

    An explicit key beats `All`; `false` is off, any other value (true, an object) is on; when
    explicit keys disagree, off wins. Without an explicit key, `All: false` is off.
    """
    explicit = False
    for key in keys:
        if key in integrations:
            if integrations[key] is False:
                return f"integrations: {key} is false"
            explicit = True
    if not explicit and integrations.get("All") is False:
        return f"integrations: All is false and none of {', '.join(keys)} is set"
    return None


def route_info(route: Route, event: Mapping[str, Any]) -> RouteInfo:
    """What a destination mapper needs about the route: name, qualifier, evaluated `map`."""
    overrides = route.map.render(event) if route.map is not None else {}
    return RouteInfo(route.name, route.qualifier, overrides if isinstance(overrides, dict) else {})
