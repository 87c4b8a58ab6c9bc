"""Which routes an event takes: the compiled `when` of each route, and the event's `integrations`
opt-out (PRODUCT.md §5). `matching_routes` runs per event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdpcli.destinations.base import RouteInfo
from cdpcli.routing.config import Config, Route


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
            keys = config.destinations[route.to].integration_keys
            skipped = integrations_opt_out(integrations, keys)
        out.append(RouteDecision(route, skipped))
    return out


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
