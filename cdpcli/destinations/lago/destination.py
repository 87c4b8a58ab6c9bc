"""The `kind: lago` destination (reference/lago.md; PRODUCT.md §5-§6 "Lago"): events to
`POST /api/v1/events/batch`. `LagoDestination` is the contract of `cdpcli.destinations.base` over
this folder's pure functions: options in `settings`, the mapping in `mapping`, the request in
`http`, what Lago's answers mean in `answers`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from cdpcli.destinations.base import (
    Destination,
    Endpoint,
    HttpRequest,
    Locator,
    Mapped,
    RateLimits,
    RouteInfo,
    SecretField,
    Verdict,
)
from cdpcli.destinations.lago import answers, http, mapping, settings
from cdpcli.destinations.lago.settings import LagoOptions


class LagoDestination(Destination[LagoOptions]):
    """One Lago organization: its batch endpoint, `batch_size` events a request."""

    kind: ClassVar[str] = "lago"
    map_keys: ClassVar[frozenset[str]] = mapping.MAP_KEYS
    default_rate_limits: ClassVar[RateLimits] = settings.DEFAULT_RATE_LIMITS
    integration_names: ClassVar[tuple[str, ...]] = ("Lago",)

    def __init__(self, name: str, options: LagoOptions, secrets: Mapping[str, str] | None) -> None:
        super().__init__(name, options, secrets)
        self._endpoints = http.endpoints(options)

    @classmethod
    def parse_options(cls, raw: Mapping[str, Any], where: Locator) -> LagoOptions:
        return settings.parse_options(raw, where)

    @classmethod
    def secret_fields(cls, options: LagoOptions, types: frozenset[str]) -> tuple[SecretField, ...]:
        """The API key whatever the event types (any type can be mapped with `map.code`)."""
        del options, types
        return (SecretField(http.API_KEY, "Lago API key, sent as `Authorization: Bearer <key>`"),)

    def rate_limits(self) -> RateLimits:
        return self.options.rate

    def endpoints(self) -> Mapping[str, Endpoint]:
        return self._endpoints

    def map_event(self, event: Mapping[str, Any], *, time_ms: int, route: RouteInfo) -> Mapped:
        return mapping.map_event(event, time_ms=time_ms, route=route)

    def build_request(self, endpoint_name: str, items_json: bytes) -> HttpRequest:
        endpoint = self._endpoints[endpoint_name]
        return http.build_request(self.options, endpoint, items_json, self.secrets)

    def parse_response(
        self,
        endpoint_name: str,
        items: Sequence[Mapping[str, Any]],
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float | None = None,
    ) -> Verdict:
        endpoint = self._endpoints[endpoint_name]
        return answers.parse_response(endpoint, items, status, headers, body, now=now)
