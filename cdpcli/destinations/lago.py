"""Lago: events to `POST /api/v1/events/batch` (reference/lago.md; PRODUCT.md §5-§6 "Lago").

Pure functions over the values of `cdpcli.destinations.base`: no I/O, no printing, no clock.

- Mapping (reference §9): `transaction_id` <- messageId (qualified for a second route, §5),
  `external_subscription_id` <- userId, `code` <- event name (track), `timestamp` <- event time as
  `"<s>.<mmm>"` (§3), `properties` <- properties with every value stringified (§4). A route's
  `map` overrides each key; `map.properties` replaces the whole object.
- Responses (§6-§7): `parse_response` lives in `lago_responses` and is re-exported here, so this
  module stays the whole `kind: lago` contract of `cdpcli.destinations.base`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final
from urllib.parse import urlsplit

from cdpcli import jsonio
from cdpcli.destinations.base import (
    REDACTED,
    Endpoint,
    HttpRequest,
    Locator,
    Mapped,
    Record,
    RouteInfo,
    SecretField,
)
from cdpcli.destinations.lago_responses import parse_response
from cdpcli.errors import ConfigError, CredentialsError
from cdpcli.spec import parse_time, to_ms

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

DEFAULT_API_URL: Final = "https://api.getlago.com"
BATCH_PATH: Final = "/api/v1/events/batch"
MAX_BATCH_ITEMS: Final = 100  # LAGO_EVENTS_BATCH_MAX_LENGTH default (reference §6)
# The reference gives no byte limit for Lago requests (nor does the OpenAPI file). Events are at
# most 32 KB on input, so 100 items stay far below these bounds; they only guard pathological maps.
MAX_REQUEST_BYTES: Final = 5_000_000
MAX_ITEM_BYTES: Final = 1_000_000

ENDPOINT_NAME: Final = "batch"
API_KEY: Final = "api_key"

PERMITTED_KEYS: Final = (
    "transaction_id",
    "external_subscription_id",
    "code",
    "timestamp",
    "properties",
    "precise_total_amount_cents",
)
"""The item keys Lago reads, snake_case, in the order cdpcli writes them (reference §2)."""

MAP_KEYS: Final = frozenset(PERMITTED_KEYS)
"""The keys a route's `map` may set for a Lago destination."""

OPTION_KEYS: Final = ("api_url", "batch_size")

NO_SUBSCRIPTION: Final = "no external_subscription_id (no userId; map one in the route)"

_NUMERIC = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# A seconds value this large is almost surely milliseconds; Lago would store it as a date tens of
# thousands of years ahead without complaint (reference §3 "No range check").
_MAX_SECONDS = 10**11


@dataclass(frozen=True, slots=True)
class LagoOptions:
    """A Lago destination's options. `api_url` is the bare host, without `/api/v1`."""

    api_url: str = DEFAULT_API_URL
    batch_size: int = MAX_BATCH_ITEMS


# --------------------------------------------------------------------------------------------
# Options and secrets


def parse_options(raw: Mapping[str, Any], where: Locator) -> LagoOptions:
    """Validate the destination's keys (all but `kind`); raise `ConfigError` naming the key."""
    allowed = ", ".join(("kind", *OPTION_KEYS))
    for key in raw:
        if key not in OPTION_KEYS:
            secret_like = any(word in str(key).lower() for word in ("key", "secret", "token"))
            raise ConfigError(
                f"{where(str(key))}: unknown key for a lago destination; allowed keys: {allowed}",
                hint=(
                    "the API key never goes in the config: use `cdpcli keys set DESTINATION "
                    "api_key` or the CDPCLI_<DESTINATION>_API_KEY variable"
                    if secret_like
                    else None
                ),
            )
    api_url = _parse_api_url(raw.get("api_url", DEFAULT_API_URL), where)
    batch_size = _parse_batch_size(raw.get("batch_size", MAX_BATCH_ITEMS), where)
    return LagoOptions(api_url=api_url, batch_size=batch_size)


def normalize_api_url(url: str) -> str:
    """Strip trailing `/` and a trailing `/api/v1`: `https://h/api/v1/` -> `https://h`."""
    url = url.strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")].rstrip("/")
    return url


def _parse_api_url(value: Any, where: Locator) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{where('api_url')}: must be a URL string such as {DEFAULT_API_URL}",
            hint="US Cloud https://api.getlago.com, EU Cloud https://api.eu.getlago.com, "
            "self-hosted e.g. http://localhost:3000",
        )
    url = normalize_api_url(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{where('api_url')}: {value!r} is not an http(s) URL",
            hint=f"write the host with its scheme, e.g. {DEFAULT_API_URL}",
        )
    if parts.query or parts.fragment:
        raise ConfigError(
            f"{where('api_url')}: {value!r} must not have a query or fragment",
            hint=f"give the bare host, e.g. {DEFAULT_API_URL}; cdpcli appends {BATCH_PATH}",
        )
    return url


def _parse_batch_size(value: Any, where: Locator) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH_ITEMS:
        raise ConfigError(
            f"{where('batch_size')}: must be an integer from 1 to {MAX_BATCH_ITEMS}, got "
            + repr(value),
            hint="set it lower only when a self-hosted server sets LAGO_EVENTS_BATCH_MAX_LENGTH",
        )
    return value


def secret_fields(options: LagoOptions, types: frozenset[str]) -> tuple[SecretField, ...]:
    """Lago needs its API key whatever the event types (any type can be mapped with `map.code`)."""
    del options, types
    return (SecretField(API_KEY, "Lago API key, sent as `Authorization: Bearer <key>`"),)


# --------------------------------------------------------------------------------------------
# Mapping


class _Unmappable(Exception):
    """Internal: the event cannot become a Lago item; `args[0]` is the reason."""


def map_event(
    event: Mapping[str, Any],
    *,
    time_ms: int,
    route: RouteInfo,
    options: LagoOptions,
    token: str | None = None,
) -> Mapped:
    """One validated event (its JSON object) to one Lago item, or a rejection reason.

    `time_ms` is the event time in integer milliseconds (reference/segment-spec.md §6). `token`
    is unused for Lago; it is part of the shared signature.
    """
    del options, token
    try:
        item = _build_item(event, time_ms, route)
    except _Unmappable as reason:
        return Mapped(rejected=str(reason.args[0]))
    return Mapped(records=(Record(ENDPOINT_NAME, item),))


def _build_item(event: Mapping[str, Any], time_ms: int, route: RouteInfo) -> dict[str, Any]:
    overrides = route.overrides
    if not MAP_KEYS.issuperset(overrides):  # a config has been checked; a direct caller not
        unknown = sorted(str(key) for key in overrides if key not in MAP_KEYS)
        raise _Unmappable(
            f"route {route.name!r} maps {', '.join(unknown)}, which Lago does not read "
            f"(allowed: {', '.join(PERMITTED_KEYS)})"
        )
    item: dict[str, Any] = {
        "transaction_id": _transaction_id(event, route),
        "external_subscription_id": _subscription_id(event, overrides),
        "code": _code(event, overrides),
        "timestamp": (
            _timestamp_override(overrides["timestamp"])
            if "timestamp" in overrides
            else format_timestamp(time_ms)
        ),
    }
    properties = _properties(event, overrides)
    if properties is not None:
        item["properties"] = properties
    if "precise_total_amount_cents" in overrides:
        item["precise_total_amount_cents"] = _amount(overrides["precise_total_amount_cents"])
    return item


def _transaction_id(event: Mapping[str, Any], route: RouteInfo) -> str:
    if "transaction_id" in route.overrides:
        return _id_override("transaction_id", route.overrides["transaction_id"])
    message_id = event.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise _Unmappable("no transaction_id (the event has no messageId)")
    if route.qualifier is not None:
        return f"{message_id}:route:{route.qualifier}"
    return message_id


def _subscription_id(event: Mapping[str, Any], overrides: Mapping[str, Any]) -> str:
    if "external_subscription_id" in overrides:
        return _id_override("external_subscription_id", overrides["external_subscription_id"])
    user_id = event.get("userId")
    if not isinstance(user_id, str) or not user_id:
        raise _Unmappable(NO_SUBSCRIPTION)
    return user_id


def _code(event: Mapping[str, Any], overrides: Mapping[str, Any]) -> str:
    if "code" in overrides:
        value = overrides["code"]
        if not isinstance(value, str) or not value.strip():
            raise _Unmappable(f"map.code must be a non-empty string, got {_describe(value)}")
        return value
    event_type = event.get("type")
    name = event.get("event")
    if event_type != "track":
        raise _Unmappable(f"no code ({event_type} events have no event name; map one in the route)")
    if not isinstance(name, str) or not name.strip():
        raise _Unmappable("no code (the track event has no event name; map one in the route)")
    return name


def _id_override(key: str, value: Any) -> str:
    """An id from a route's map: a non-empty string, or an integer written as its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise _Unmappable(f"map.{key} must be a non-empty string, got {_describe(value)}")


def _properties(event: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, str] | None:
    if "properties" in overrides:
        source = overrides["properties"]
        if source is not None and not isinstance(source, Mapping):
            raise _Unmappable(f"map.properties must be an object, got {_describe(source)}")
    else:
        source = event.get("properties")
        if not isinstance(source, Mapping):
            return None
    if source is None:
        return None
    return stringify_properties(source)


def _timestamp_override(value: Any) -> str:
    """A mapped timestamp: unix seconds (number or numeric string) or an ISO-8601 string."""
    if isinstance(value, bool) or value is None:
        raise _Unmappable(
            f"map.timestamp must be unix seconds or an ISO-8601 time, got {_describe(value)}"
        )
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Unmappable(f"map.timestamp is not a finite number: {value!r}")
        text = stringify_value(value)
    elif isinstance(value, str) and _NUMERIC.fullmatch(value.strip()):
        text = value.strip()
    elif isinstance(value, str):
        # Lago answers 422 invalid_format to an ISO string (reference §3): convert it here.
        return format_timestamp(_iso_to_ms(value))
    else:
        raise _Unmappable(
            f"map.timestamp must be unix seconds or an ISO-8601 time, got {_describe(value)}"
        )
    if abs(Decimal(text)) >= _MAX_SECONDS:
        raise _Unmappable(
            f"map.timestamp {text} looks like milliseconds; Lago wants unix seconds "
            "(divide by 1000)"
        )
    return text


def _iso_to_ms(text: str) -> int:
    moment = parse_time(text.strip())  # the event-time reading of the validator: UTC if no zone
    if moment is None:
        raise _Unmappable(f"map.timestamp {text!r} is neither unix seconds nor an ISO-8601 time")
    return to_ms(moment)


def _amount(value: Any) -> str | None:
    """`precise_total_amount_cents`: a decimal string (numbers are converted) or null."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return stringify_value(value)
    if isinstance(value, str) and _NUMERIC.fullmatch(value.strip()):
        return value.strip()
    raise _Unmappable(
        f"map.precise_total_amount_cents must be a decimal number, got {_describe(value)}"
    )


def format_timestamp(time_ms: int) -> str:
    """Integer milliseconds to Lago's `"<seconds>.<mmm>"` (reference §3): exact, no float."""
    sign = "-" if time_ms < 0 else ""
    seconds, millis = divmod(abs(time_ms), 1000)
    return f"{sign}{seconds}.{millis:03d}"


def stringify_value(value: Any) -> str:
    """One property value as Lago gets it (reference §4); `None` is handled by the caller."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # repr is the shortest round-trip form; Decimal's "f" format spells out any exponent.
        return format(Decimal(repr(value)), "f")
    return jsonio.dumps(value)


def stringify_properties(properties: Mapping[str, Any]) -> dict[str, str]:
    """Every value stringified, `null` values dropped, key order kept."""
    return {
        str(key): stringify_value(value) for key, value in properties.items() if value is not None
    }


def _describe(value: Any) -> str:
    if value is None:
        return "null (does the path the map reads exist?)"
    if isinstance(value, bool):
        return f"boolean {jsonio.dumps(value)}"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else f"string {value!r}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


# --------------------------------------------------------------------------------------------
# Requests


def endpoints(options: LagoOptions) -> Mapping[str, Endpoint]:
    """The one endpoint cdpcli uses: the batch endpoint, `batch_size` items a request."""
    return {
        ENDPOINT_NAME: Endpoint(
            name=ENDPOINT_NAME,
            url=f"{options.api_url}{BATCH_PATH}",
            max_items=options.batch_size,
            max_request_bytes=MAX_REQUEST_BYTES,
            max_item_bytes=MAX_ITEM_BYTES,
            gzip=False,
        )
    }


def build_request(
    options: LagoOptions,
    endpoint: Endpoint,
    items: Sequence[Mapping[str, Any]],
    secrets: Mapping[str, str] | None,
) -> HttpRequest:
    """`POST {"events": [...]}` with the Bearer key; `secrets=None` (dry run) shows `***`."""
    del options
    if not items:
        raise ValueError("a Lago batch needs at least one item (Lago answers 422 no_events)")
    if len(items) > endpoint.max_items:
        raise ValueError(f"{len(items)} items exceed the batch limit of {endpoint.max_items}")
    if secrets is None:
        authorization = REDACTED
    else:
        key = secrets.get(API_KEY)
        if not key:
            raise CredentialsError(
                "the Lago API key (api_key) was not provided",
                hint="set it with `cdpcli keys set DESTINATION api_key`",
            )
        authorization = f"Bearer {key}"
    return HttpRequest(
        method="POST",
        url=endpoint.url,
        headers={"Authorization": authorization, "Content-Type": "application/json"},
        body={"events": items},  # items itself: the sender splices in their bytes
        gzip=False,
    )
