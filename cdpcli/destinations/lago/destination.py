"""The `kind: lago` destination (reference/lago.md; PRODUCT.md §5-§6 "Lago"): events to
`POST /api/v1/events/batch`. Options in `settings`, the mapping in `mapping`, the request in
`http`, what Lago's answers mean in `answers`."""

from __future__ import annotations

from typing import Final

from cdpcli.destinations.base import SecretField
from cdpcli.destinations.lago.answers import parse_response
from cdpcli.destinations.lago.http import (
    API_KEY,
    MAX_ITEM_BYTES,
    MAX_REQUEST_BYTES,
    build_request,
    endpoints,
)
from cdpcli.destinations.lago.mapping import (
    ENDPOINT_NAME,
    MAP_KEYS,
    NO_SUBSCRIPTION,
    PERMITTED_KEYS,
    format_timestamp,
    map_event,
    stringify_properties,
    stringify_value,
)
from cdpcli.destinations.lago.settings import (
    BATCH_PATH,
    DEFAULT_API_URL,
    MAX_BATCH_ITEMS,
    OPTION_KEYS,
    LagoOptions,
    normalize_api_url,
    parse_options,
)

KIND: Final = "lago"

__all__ = [
    "API_KEY",
    "BATCH_PATH",
    "DEFAULT_API_URL",
    "ENDPOINT_NAME",
    "KIND",
    "MAP_KEYS",
    "MAX_BATCH_ITEMS",
    "MAX_ITEM_BYTES",
    "MAX_REQUEST_BYTES",
    "NO_SUBSCRIPTION",
    "OPTION_KEYS",
    "PERMITTED_KEYS",
    "LagoOptions",
    "build_request",
    "endpoints",
    "format_timestamp",
    "map_event",
    "normalize_api_url",
    "parse_options",
    "parse_response",
    "secret_fields",
    "stringify_properties",
    "stringify_value",
]


def secret_fields(options: LagoOptions, types: frozenset[str]) -> tuple[SecretField, ...]:
    """Lago needs its API key whatever the event types (any type can be mapped with `map.code`)."""
    del options, types
    return (SecretField(API_KEY, "Lago API key, sent as `Authorization: Bearer <key>`"),)
