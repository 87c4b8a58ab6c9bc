"""Segment-spec validation (PRODUCT.md §4, reference/segment-spec.md) and the event-time rule.

`check(event)` returns the problems of one event and, when it has no error, the normalized event
the rest of the pipeline sends: ids that were numbers become strings, and a missing `messageId` is
replaced by a deterministic one derived from the event's content. Problems are values, never
exceptions.

The rules exist once, in `_rules`: one pass over the event that adds each problem it finds to a
list, in the order `validate` reports them. A clean event, which most events of a backfill are,
leaves the list empty and needs nothing more; only an event with a problem has its list made into
`Problem`s (with `--strict`'s severities) and, when it has no error, is normalized.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cdpcli.events.model import EVENT_TYPES, Event, Problem, Severity
from cdpcli.jsonio import dumps, dumps_bytes, json_type

TYPE_SET: Final = frozenset(EVENT_TYPES)

# The event-time rule: the first of these that is set (reference/segment-spec.md §6).
TIME_FIELDS: Final = ("timestamp", "originalTimestamp", "receivedAt", "sentAt")
ID_FIELDS: Final = ("userId", "anonymousId", "groupId", "previousId")
OBJECT_FIELDS: Final = ("properties", "traits", "context", "integrations")

MAX_EVENT_BYTES: Final = 32 * 1024  # reference/segment-spec.md §7
MAX_MESSAGE_ID_CHARS: Final = 100  # reference/segment-spec.md §7

COMMON_KEYS: Final = frozenset(
    {
        "type",
        "userId",
        "anonymousId",
        "messageId",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "receivedAt",
        "context",
        "integrations",
        "version",
        "channel",
    }
)
# Not in the spec, but added by Segment itself (reference/segment-spec.md §1): analytics.js copies
# `writeKey` into each event, analytics.js and analytics-node add `_metadata`, Segment's stored
# events carry `projectId`. Known: accepted without a warning; no mapping reads them.
NON_SPEC_KEYS: Final = frozenset({"writeKey", "_metadata", "projectId"})
# Known top-level keys per type (reference/segment-spec.md §2); anything else is a warning.
KNOWN_KEYS: Final = {
    kind: COMMON_KEYS | NON_SPEC_KEYS | own
    for kind, own in (
        ("track", {"event", "properties"}),
        ("identify", {"traits"}),
        ("page", {"name", "category", "properties"}),
        ("screen", {"name", "category", "properties"}),
        ("group", {"groupId", "traits"}),
        ("alias", {"previousId"}),
    )
}

_STRING = "string"
_NUMBER = "number"
_OBJECT = "object"
_DATE = "date"
_STRINGS = "array of strings"
_STRING_OR_NUMBER = "string or number"

# Reserved traits and properties and their types (reference/segment-spec.md §3). Wrong types are
# warnings, never errors.
IDENTIFY_TRAITS: Final = {
    "address": _OBJECT,
    "age": _NUMBER,
    "avatar": _STRING,
    "birthday": _DATE,
    "company": _OBJECT,
    "createdAt": _DATE,
    "created_at": _DATE,
    "description": _STRING,
    "email": _STRING,
    "firstName": _STRING,
    "first_name": _STRING,
    "gender": _STRING,
    "id": _STRING,
    "lastName": _STRING,
    "last_name": _STRING,
    "name": _STRING,
    "phone": _STRING,
    "title": _STRING,
    "username": _STRING,
    "website": _STRING,
}
GROUP_TRAITS: Final = {
    "address": _OBJECT,
    "avatar": _STRING,
    "createdAt": _DATE,
    "created_at": _DATE,
    "description": _STRING,
    "email": _STRING,
    "employees": _STRING_OR_NUMBER,
    "id": _STRING,
    "industry": _STRING,
    "name": _STRING,
    "phone": _STRING,
    "website": _STRING,
    "plan": _STRING,
}
TRACK_PROPERTIES: Final = {"revenue": _NUMBER, "currency": _STRING, "value": _NUMBER}
PAGE_PROPERTIES: Final = {
    "name": _STRING,
    "path": _STRING,
    "referrer": _STRING,
    "search": _STRING,
    "title": _STRING,
    "url": _STRING,
    "keywords": _STRINGS,
}
SCREEN_PROPERTIES: Final = {"name": _STRING}

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


@dataclass(slots=True)
class Checked:
    """The verdict on one event: its problems, and when it has no error, what is sent onward."""

    event: Event
    problems: list[Problem]
    data: dict[str, Any] | None  # the normalized event; None when the event has an error
    time_ms: int | None  # event time in integer ms (floored), None when it has none

    @property
    def ok(self) -> bool:
        return self.data is not None


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 string as an aware datetime (no offset = UTC), None if it is not one."""
    if type(value) is not str:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def to_ms(moment: datetime) -> int:
    """Integer milliseconds since the epoch, floored (sub-millisecond digits dropped)."""
    return (moment - _EPOCH) // _MS


def parse_time_ms(value: str) -> int | None:
    """An ISO-8601 date or time as milliseconds since the epoch, by the rules of an event's
    timestamp (no offset = UTC; sub-millisecond digits dropped); None if it is not one. What
    `send --since`/`--until` take (`SendOptions.since_ms`, `until_ms`)."""
    moment = parse_time(value)
    return None if moment is None else to_ms(moment)


def derive_message_id(data: Mapping[str, Any]) -> str:
    """A deterministic id for an event without `messageId` (reference/segment-spec.md §11): the
    first 36 hex characters of SHA-256 over the canonical JSON (keys sorted, compact, UTF-8) of the
    event without `messageId`."""
    body = {key: value for key, value in data.items() if key != "messageId"}
    canonical = dumps_bytes(body, sort_keys=True)
    return hashlib.sha256(canonical).hexdigest()[:36]


def id_string(value: Any) -> str | None:
    """An id as Segment would send it (reference/segment-spec.md §10): strings as they are,
    integers as digits, integral floats without `.0`, other floats by `repr`; None for anything
    that is not an id (booleans, objects, arrays, null)."""
    kind = type(value)
    if kind is str:
        return str(value)
    if kind is int:
        return str(value)
    if kind is float:
        if math.isnan(value) or math.isinf(value):
            return None
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return None


def _has_type(value: Any, expected: str) -> bool:
    if expected == _STRING:
        return isinstance(value, str)
    if expected == _NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == _OBJECT:
        return isinstance(value, dict)
    if expected == _DATE:
        return parse_time(value) is not None
    if expected == _STRINGS:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, str | int | float) and not isinstance(value, bool)


# The problems of one event as the rules find them: severity (before `--strict`), field, message.
# The last is the message without the event's values it quotes (`Problem.like`), or None.
_Found = list[tuple[Severity, str | None, str, str | None]]


def _error(found: _Found, field: str | None, message: str, like: str | None = None) -> None:
    found.append(("error", field, message, like))


def _warn(found: _Found, field: str | None, message: str, like: str | None = None) -> None:
    found.append(("warning", field, message, like))


def check(event: Event, *, strict: bool = False) -> Checked:
    """Validate one event against the Segment spec (PRODUCT.md §4).

    `strict` turns warnings into errors. An event without a usable time is an error (a backfill
    must never move events to the time of sending).
    """
    data = event.data
    found: _Found = []
    time_ms = _rules(data, event.size, found)
    if not found:  # most events of a backfill: sent as they are
        return Checked(event, [], data, time_ms)
    problems = _problems(event, found, strict)
    if any(problem.severity == "error" for problem in problems):
        return Checked(event, problems, None, time_ms)
    return Checked(event, problems, _normalize(data), time_ms)


def find_problems(event: Event, *, strict: bool = False) -> list[Problem]:
    """The problems `check(event, strict=strict)` reports, without the normalized event."""
    found: _Found = []
    _rules(event.data, event.size, found)
    return _problems(event, found, strict) if found else []


def _problems(event: Event, found: _Found, strict: bool) -> list[Problem]:
    origin = event.origin
    if strict:
        return [
            Problem(origin, "error", field, message, like=like) for _, field, message, like in found
        ]
    return [
        Problem(origin, severity, field, message, like=like)
        for severity, field, message, like in found
    ]


def _rules(  # noqa: C901, PLR0912, PLR0915 - one pass: each rule a test, then its report
    data: dict[str, Any], size: int, found: _Found
) -> int | None:
    """Apply every rule of PRODUCT.md §4 to one event, adding each problem to `found` in the
    order `validate` prints them; returns the event time in integer ms, None if it has none.

    This runs for every event of a backfill: each rule is a cheap test on the event, and only a
    failed test builds its message.
    """
    if size > MAX_EVENT_BYTES:
        _error(
            found,
            None,
            f"event is {size:,} bytes serialized, over Segment's 32 KB "
            f"({MAX_EVENT_BYTES:,} bytes) limit",
            f"event over Segment's 32 KB ({MAX_EVENT_BYTES:,} bytes) limit serialized",
        )
    get = data.get

    kind = get("type")
    if type(kind) is not str or kind not in TYPE_SET:
        _type_problem(kind, found)
        kind = None

    # Ids (in ID_FIELDS order): a string is an id; a number is one with a warning; else absent.
    user_id = get("userId")
    if user_id is not None and type(user_id) is not str:
        user_id = _as_id("userId", user_id, found)
    anonymous_id = get("anonymousId")
    if anonymous_id is not None and type(anonymous_id) is not str:
        anonymous_id = _as_id("anonymousId", anonymous_id, found)
    group_id = get("groupId")
    if group_id is not None and type(group_id) is not str:
        group_id = _as_id("groupId", group_id, found)
    previous_id = get("previousId")
    if previous_id is not None and type(previous_id) is not str:
        previous_id = _as_id("previousId", previous_id, found)
    if kind == "alias":
        if not previous_id:
            _error(found, "previousId", "alias needs a non-empty `previousId`")
        if not user_id:
            _error(found, "userId", "alias needs a non-empty `userId` (the new identity)")
    elif not user_id and not anonymous_id:
        _error(found, "userId", "neither a non-empty `userId` nor `anonymousId`")
    if kind == "group" and not group_id:
        _error(found, "groupId", "group needs a non-empty `groupId`")

    message_id = get("messageId")
    if type(message_id) is not str or not message_id or len(message_id) > MAX_MESSAGE_ID_CHARS:
        _message_id_problem(message_id, found)

    for name in OBJECT_FIELDS:
        value = get(name, _ABSENT)
        if value is not _ABSENT and type(value) is not dict:
            _error(found, name, f"must be an object, got {json_type(value)}")

    if kind == "track":
        event_name = get("event")
        if type(event_name) is not str or not event_name.strip():
            _error(found, "event", "track needs a non-empty string `event`" + _got(event_name))

    # The event time: the first time field set decides, even when it is not a time.
    time_ms: int | None = None
    time_set = False
    for name in TIME_FIELDS:
        value = get(name)
        if value is None:
            continue
        parsed = parse_time(value)
        if parsed is None:
            _error(found, name, f"not an ISO-8601 time: {_show(value)}", "not an ISO-8601 time")
        elif not time_set:
            time_ms = to_ms(parsed)
        time_set = True
    if not time_set:
        _error(
            found,
            "timestamp",
            "no usable event time: none of timestamp, originalTimestamp, receivedAt, sentAt is "
            "set (send never stamps events with the time of sending)",
        )

    if kind is not None:
        known = KNOWN_KEYS[kind]
        if not known.issuperset(data):
            for key in sorted(data.keys() - known):
                _warn(
                    found, key, f"unknown top-level field for a {kind} event; it is not forwarded"
                )
        for prefix, table, keys in _RESERVED_KEYS.get(kind, ()):
            values = get(prefix) if prefix else data
            if type(values) is not dict or keys.isdisjoint(values):  # most hold none
                continue
            for key in values.keys() & keys:
                value = values[key]
                if value is not None and not _has_type(value, table[key]):
                    _reserved_problems(prefix, values, table, found)
                    break
    return time_ms


_ABSENT: Final = object()


def _type_problem(kind: Any, found: _Found) -> None:
    if kind is None:
        _error(found, "type", f"missing; must be one of {', '.join(EVENT_TYPES)}")
    else:
        _error(
            found,
            "type",
            f"must be one of {', '.join(EVENT_TYPES)}, got {_show(kind)}",
            f"must be one of {', '.join(EVENT_TYPES)}",
        )


def _message_id_problem(message_id: Any, found: _Found) -> None:
    if message_id is None:
        _warn(found, "messageId", "missing; a deterministic id is derived from the event's content")
    elif type(message_id) is not str:
        _error(found, "messageId", f"must be a string, got {json_type(message_id)}")
    elif message_id:
        _error(
            found,
            "messageId",
            f"{len(message_id)} characters, over the limit of {MAX_MESSAGE_ID_CHARS}",
            f"over the limit of {MAX_MESSAGE_ID_CHARS} characters",
        )
    else:
        _error(found, "messageId", "must not be empty")


def _as_id(name: str, value: Any, found: _Found) -> str | None:
    """A non-string id as the string it is sent as, with its warning; None when it is no id."""
    text = id_string(value)
    if text is None:
        _warn(found, name, f"a {json_type(value)} is not an id; treated as absent")
    else:
        _warn(
            found,
            name,
            f"numeric id {_show(value)}; sent as the string {_show(text)}",
            "numeric id; sent as a string",
        )
    return text


def _show(value: Any) -> str:
    text = dumps(value) if json_type(value) != "object" else "an object"
    return text if len(text) <= 60 else text[:57] + "..."


def _got(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return " (got an empty string)"
    return f" (got {json_type(value)})"


_NAMES: Final = {"name": _STRING, "category": _STRING}


# The reserved keys (and their types) each event type is checked for: (field holding them, or
# "" for the event itself, and the table).
_RESERVED: Final[dict[str, tuple[tuple[str, Mapping[str, str]], ...]]] = {
    "identify": (("traits", IDENTIFY_TRAITS),),
    "group": (("traits", GROUP_TRAITS),),
    "track": (("properties", TRACK_PROPERTIES),),
    "page": (("properties", PAGE_PROPERTIES), ("", _NAMES)),
    "screen": (("properties", SCREEN_PROPERTIES), ("", _NAMES)),
}
# The same, with each table's keys as a set.
_RESERVED_KEYS: Final = {
    kind: tuple((prefix, table, frozenset(table)) for prefix, table in tables)
    for kind, tables in _RESERVED.items()
}


def _reserved_problems(
    prefix: str, values: Mapping[str, Any], table: Mapping[str, str], found: _Found
) -> None:
    """Warn about each reserved key of `values` that has the wrong type, in table order."""
    for key, expected in table.items():
        value = values.get(key)
        if value is None or _has_type(value, expected):
            continue
        field = f"{prefix}.{key}" if prefix else key
        expected_text = "an ISO-8601 date" if expected == _DATE else f"a {expected}"
        _warn(
            found,
            field,
            f"reserved field should be {expected_text}, got {_show(value)}",
            f"reserved field should be {expected_text}",
        )


def _normalize(data: dict[str, Any]) -> dict[str, Any]:
    """The event as sent onward: ids as strings, non-id ids dropped, a messageId always set."""
    normalized = data
    for name in ID_FIELDS:
        if name not in data:
            continue
        value = data[name]
        text = id_string(value)
        if value is not text:  # a string id is kept as it is, and so is null
            if normalized is data:
                normalized = dict(data)
            if text is None:
                del normalized[name]
            else:
                normalized[name] = text
    if "messageId" not in data or data["messageId"] is None:
        if normalized is data:
            normalized = dict(data)
        normalized["messageId"] = derive_message_id(data)
    return normalized
