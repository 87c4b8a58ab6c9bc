"""Segment event → Lago event (reference/lago.md §2-§5, §9). Pure: no I/O, no clock.

`transaction_id` <- messageId (qualified for a second route, §5), `external_subscription_id` <-
userId, `code` <- event name (track), `timestamp` <- event time as `"<s>.<mmm>"` (§3),
`properties` <- properties with every value stringified (§4). A route's `map` overrides each key;
`map.properties` replaces the whole object. The item is declared key by key as data (`FIELDS`,
at the end of this module: each key's reading of the event and of a route's `map`), read by one
loop (`_build_item`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from cdpcli.destinations.base import Mapped, Record, RouteInfo
from cdpcli.events.spec import parse_time, to_ms
from cdpcli.jsonio import dumps

ENDPOINT_NAME: Final = "batch"


NO_SUBSCRIPTION: Final = "no external_subscription_id (no userId; map one in the route)"


class _Unmappable(Exception):
    """Internal: the event cannot become a Lago item; `args[0]` is the reason."""


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a Lago item: read from the event (`from_event(event, time_ms, route)`; None
    leaves the key out, `_Unmappable` rejects the event), or, when the route's `map` sets it,
    from that value (`from_map(value)`, checked the same way; a None it gives leaves the key out
    unless `null_kept`). `from_event` None: only a route's `map` sets the key."""

    key: str
    from_event: Callable[[Mapping[str, Any], int, RouteInfo], Any] | None
    from_map: Callable[[Any], Any]
    null_kept: bool = False


def _message_id(event: Mapping[str, Any], _time_ms: int, route: RouteInfo) -> str:
    message_id = event.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise _Unmappable("no transaction_id (the event has no messageId)")
    if route.qualifier is not None:  # a second route of one destination (reference §5)
        return f"{message_id}:route:{route.qualifier}"
    return message_id


def _user_id(event: Mapping[str, Any], _time_ms: int, _route: RouteInfo) -> str:
    user_id = event.get("userId")
    if not isinstance(user_id, str) or not user_id:
        raise _Unmappable(NO_SUBSCRIPTION)
    return user_id


def _event_name(event: Mapping[str, Any], _time_ms: int, _route: RouteInfo) -> str:
    event_type = event.get("type")
    name = event.get("event")
    if event_type != "track":
        raise _Unmappable(f"no code ({event_type} events have no event name; map one in the route)")
    if not isinstance(name, str) or not name.strip():
        raise _Unmappable("no code (the track event has no event name; map one in the route)")
    return name


def _event_time(_event: Mapping[str, Any], time_ms: int, _route: RouteInfo) -> str:
    return format_timestamp(time_ms)


def _event_properties(
    event: Mapping[str, Any], _time_ms: int, _route: RouteInfo
) -> dict[str, str] | None:
    source = event.get("properties")
    return stringify_properties(source) if isinstance(source, Mapping) else None


_NUMERIC = re.compile(r"-?[0-9]+(\.[0-9]+)?")


# A seconds value this large is almost surely milliseconds; Lago would store it as a date tens of
# thousands of years ahead without complaint (reference §3 "No range check").
_MAX_SECONDS = 10**11


def map_event(event: Mapping[str, Any], *, time_ms: int, route: RouteInfo) -> Mapped:
    """One validated event (its JSON object) to one Lago item, or a rejection reason.

    `time_ms` is the event time in integer milliseconds (reference/segment-spec.md §6).
    """
    try:
        item = _build_item(event, time_ms, route)
    except _Unmappable as reason:
        return Mapped(rejected=str(reason.args[0]))
    return Mapped(records=(Record(ENDPOINT_NAME, item),))


def _build_item(event: Mapping[str, Any], time_ms: int, route: RouteInfo) -> dict[str, Any]:
    """`FIELDS` read in turn: each key from the route's `map` when it sets it, else the event."""
    overrides = route.overrides
    if not MAP_KEYS.issuperset(overrides):  # a config has been checked; a direct caller not
        unknown = sorted(str(key) for key in overrides if key not in MAP_KEYS)
        raise _Unmappable(
            f"route {route.name!r} maps {', '.join(unknown)}, which Lago does not read "
            f"(allowed: {', '.join(PERMITTED_KEYS)})"
        )
    item: dict[str, Any] = {}
    for field in FIELDS:
        if field.key in overrides:
            value = field.from_map(overrides[field.key])
            if value is None and not field.null_kept:
                continue
        elif field.from_event is not None:
            value = field.from_event(event, time_ms, route)
            if value is None:
                continue
        else:
            continue
        item[field.key] = value
    return item


def _code_override(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Unmappable(f"map.code must be a non-empty string, got {_describe(value)}")
    return value


def _properties_override(source: Any) -> dict[str, str] | None:
    if source is None:
        return None
    if not isinstance(source, Mapping):
        raise _Unmappable(f"map.properties must be an object, got {_describe(source)}")
    return stringify_properties(source)


def _id_override(key: str, value: Any) -> str:
    """An id from a route's map: a non-empty string, or an integer written as its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise _Unmappable(f"map.{key} must be a non-empty string, got {_describe(value)}")


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
    return dumps(value)


def stringify_properties(properties: Mapping[str, Any]) -> dict[str, str]:
    """Every value stringified, `null` values dropped, key order kept."""
    return {
        str(key): stringify_value(value) for key, value in properties.items() if value is not None
    }


def _describe(value: Any) -> str:
    if value is None:
        return "null (does the path the map reads exist?)"
    if isinstance(value, bool):
        return f"boolean {dumps(value)}"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else f"string {value!r}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


# --- the table, after the rules it names ------------------------------------------------------

FIELDS: Final[tuple[Field, ...]] = (
    Field("transaction_id", _message_id, functools.partial(_id_override, "transaction_id")),
    Field(
        "external_subscription_id",
        _user_id,
        functools.partial(_id_override, "external_subscription_id"),
    ),
    Field("code", _event_name, _code_override),
    Field("timestamp", _event_time, _timestamp_override),
    Field("properties", _event_properties, _properties_override),
    Field("precise_total_amount_cents", None, _amount, null_kept=True),
)
"""The Lago item, key by key, in the order cdpcli writes them (reference §2-§5): `transaction_id`
<- messageId, `external_subscription_id` <- userId, `code` <- the event name, `timestamp` <- the
event time, `properties` <- properties stringified; `precise_total_amount_cents` only by `map`."""


PERMITTED_KEYS: Final = tuple(field.key for field in FIELDS)
"""The item keys Lago reads, snake_case, in the order cdpcli writes them (reference §2)."""


MAP_KEYS: Final = frozenset(PERMITTED_KEYS)
"""The keys a route's `map` may set for a Lago destination."""
