"""Segment-spec validation (PRODUCT.md §4, reference/segment-spec.md) and the event-time rule.

`check(event)` returns the problems of one event and, when it has no error, the normalized event
the rest of the pipeline sends: ids that were numbers become strings, and a missing `messageId` is
replaced by a deterministic one derived from the event's content. Problems are values, never
exceptions.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cdpcli import jsonio
from cdpcli.events.model import Event, Problem, Severity

TYPES: Final = ("track", "identify", "page", "screen", "group", "alias")
TYPE_SET: Final = frozenset(TYPES)

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
# Known top-level keys per type (reference/segment-spec.md §2); anything else is a warning.
KNOWN_KEYS: Final = {
    "track": COMMON_KEYS | {"event", "properties"},
    "identify": COMMON_KEYS | {"traits"},
    "page": COMMON_KEYS | {"name", "category", "properties"},
    "screen": COMMON_KEYS | {"name", "category", "properties"},
    "group": COMMON_KEYS | {"groupId", "traits"},
    "alias": COMMON_KEYS | {"previousId"},
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


def derive_message_id(data: Mapping[str, Any]) -> str:
    """A deterministic id for an event without `messageId` (reference/segment-spec.md §11): the
    first 36 hex characters of SHA-256 over the canonical JSON (keys sorted, compact, UTF-8) of the
    event without `messageId`."""
    body = {key: value for key, value in data.items() if key != "messageId"}
    canonical = jsonio.dumps_bytes(body, sort_keys=True)
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


class _Collector:
    """Problems of one event, in the order they are found."""

    __slots__ = ("errors", "event", "problems", "strict")

    def __init__(self, event: Event, strict: bool) -> None:
        self.event = event
        self.strict = strict
        self.problems: list[Problem] = []
        self.errors = 0

    def error(self, field: str | None, message: str, like: str | None = None) -> None:
        """An error; `like` is the message without the event's values it quotes."""
        self.errors += 1
        self.problems.append(Problem(self.event.origin, "error", field, message, like=like))

    def warn(self, field: str | None, message: str, like: str | None = None) -> None:
        severity: Severity = "error" if self.strict else "warning"
        if self.strict:
            self.errors += 1
        self.problems.append(Problem(self.event.origin, severity, field, message, like=like))


def check(event: Event, *, strict: bool = False, require_time: bool = True) -> Checked:
    """Validate one event against the Segment spec (PRODUCT.md §4).

    `strict` turns warnings into errors. `require_time` makes an event without a usable time an
    error (a backfill must never move events to the time of sending).
    """
    data = event.data
    clean = clean_event_time(data, event.size)
    if clean is not None:
        return Checked(event, [], data, clean)
    found = _Collector(event, strict)

    if event.size > MAX_EVENT_BYTES:
        found.error(
            None,
            f"event is {event.size:,} bytes serialized, over Segment's 32 KB "
            f"({MAX_EVENT_BYTES:,} bytes) limit",
            f"event over Segment's 32 KB ({MAX_EVENT_BYTES:,} bytes) limit serialized",
        )

    kind = data.get("type")
    if kind is None:
        found.error("type", f"missing; must be one of {', '.join(TYPES)}")
    elif type(kind) is not str or kind not in TYPE_SET:
        found.error(
            "type",
            f"must be one of {', '.join(TYPES)}, got {_show(kind)}",
            f"must be one of {', '.join(TYPES)}",
        )
        kind = None

    ids = _check_ids(data, kind, found)
    _check_message_id(data, found)
    _check_objects(data, found)
    if kind == "track":
        name = data.get("event")
        if type(name) is not str or not name.strip():
            found.error("event", "track needs a non-empty string `event`" + _got(name))
    time_ms = _check_times(data, found, require_time)

    if kind is not None:
        unknown = data.keys() - KNOWN_KEYS[kind]
        for key in sorted(unknown):
            found.warn(key, f"unknown top-level field for a {kind} event; it is not forwarded")
        _check_reserved(data, kind, found)

    if found.errors:
        return Checked(event, found.problems, None, time_ms)
    return Checked(event, found.problems, _normalize(data, ids, found), time_ms)


_ABSENT: Final = object()


_ID_KEY, _OBJECT_KEY, _TIME_KEY = 1, 2, 3
_KEY_KINDS: Final = {
    **dict.fromkeys(ID_FIELDS, _ID_KEY),
    **dict.fromkeys(OBJECT_FIELDS, _OBJECT_KEY),
    **{name: _TIME_KEY for name in TIME_FIELDS},
}
_TIME_RANK: Final = {name: rank for rank, name in enumerate(TIME_FIELDS)}


def clean_event_time(data: dict[str, Any], size: int) -> int | None:  # noqa: C901, PLR0911
    """The fast path: the event time when the event has no problem at all, else None.

    Most events of a backfill are clean; this answers for them in one pass over the event's
    keys, and the full check (which collects every problem) runs only for the rest. It must
    never call an event clean that the full check would fault: `tests/test_spec.py` holds the
    two together.
    """
    if size > MAX_EVENT_BYTES:
        return None
    kind = data.get("type")
    if type(kind) is not str or kind not in TYPE_SET or not KNOWN_KEYS[kind].issuperset(data):
        return None
    message_id = data.get("messageId")
    if type(message_id) is not str or not message_id or len(message_id) > MAX_MESSAGE_ID_CHARS:
        return None
    time_ms: int | None = None
    time_rank = len(TIME_FIELDS)
    kinds = _KEY_KINDS
    for key, value in data.items():
        key_kind = kinds.get(key)
        if key_kind is None or (value is None and key_kind != _OBJECT_KEY):
            continue
        if key_kind == _ID_KEY:
            if type(value) is not str:
                return None
        elif key_kind == _OBJECT_KEY:
            if type(value) is not dict:
                return None
        else:
            parsed = parse_time(value)
            if parsed is None:
                return None
            rank = _TIME_RANK[key]
            if rank < time_rank:
                time_rank, time_ms = rank, to_ms(parsed)
    if time_ms is None:
        return None
    if kind == "track":
        event_name = data.get("event")
        if type(event_name) is not str or not event_name.strip():
            return None
    elif kind == "alias":
        if not data.get("previousId") or not data.get("userId"):
            return None
    elif kind == "group" and not data.get("groupId"):
        return None
    if kind != "alias" and not data.get("userId") and not data.get("anonymousId"):
        return None
    if not _reserved_typed(data, kind):
        return None
    return time_ms


def _show(value: Any) -> str:
    text = jsonio.dumps(value) if jsonio.json_type(value) != "object" else "an object"
    return text if len(text) <= 60 else text[:57] + "..."


def _got(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return " (got an empty string)"
    return f" (got {jsonio.json_type(value)})"


def _check_ids(data: Mapping[str, Any], kind: Any, found: _Collector) -> dict[str, str]:
    """Ids as strings; numbers warned about, non-ids dropped; identity rules checked."""
    ids: dict[str, str] = {}
    for name in ID_FIELDS:
        if name not in data:
            continue
        value = data[name]
        text = id_string(value)
        if text is None:
            if value is not None:
                found.warn(name, f"a {jsonio.json_type(value)} is not an id; treated as absent")
            continue
        if type(value) is not str:
            found.warn(
                name,
                f"numeric id {_show(value)}; sent as the string {_show(text)}",
                "numeric id; sent as a string",
            )
        ids[name] = text

    user_id = ids.get("userId", "")
    if kind == "alias":
        if not ids.get("previousId"):
            found.error("previousId", "alias needs a non-empty `previousId`")
        if not user_id:
            found.error("userId", "alias needs a non-empty `userId` (the new identity)")
    elif not user_id and not ids.get("anonymousId"):
        found.error("userId", "neither a non-empty `userId` nor `anonymousId`")
    if kind == "group" and not ids.get("groupId"):
        found.error("groupId", "group needs a non-empty `groupId`")
    return ids


def _check_message_id(data: Mapping[str, Any], found: _Collector) -> None:
    message_id = data.get("messageId")
    if message_id is None:
        found.warn("messageId", "missing; a deterministic id is derived from the event's content")
    elif type(message_id) is not str:
        found.error("messageId", f"must be a string, got {jsonio.json_type(message_id)}")
    elif len(message_id) > MAX_MESSAGE_ID_CHARS:
        found.error(
            "messageId",
            f"{len(message_id)} characters, over the limit of {MAX_MESSAGE_ID_CHARS}",
            f"over the limit of {MAX_MESSAGE_ID_CHARS} characters",
        )
    elif not message_id:
        found.error("messageId", "must not be empty")


def _check_objects(data: Mapping[str, Any], found: _Collector) -> None:
    for name in OBJECT_FIELDS:
        if name in data and type(data[name]) is not dict:
            found.error(name, f"must be an object, got {jsonio.json_type(data[name])}")


def _check_times(data: Mapping[str, Any], found: _Collector, require_time: bool) -> int | None:
    time_ms: int | None = None
    any_set = False
    for name in TIME_FIELDS:
        value = data.get(name)
        if value is None:
            continue
        parsed = parse_time(value)
        if parsed is None:
            found.error(name, f"not an ISO-8601 time: {_show(value)}", "not an ISO-8601 time")
            if not any_set:
                any_set = True
            continue
        if not any_set:
            any_set = True
            time_ms = to_ms(parsed)
    if not any_set and require_time:
        found.error(
            "timestamp",
            "no usable event time: none of timestamp, originalTimestamp, receivedAt, sentAt is "
            "set (send never stamps events with the time of sending)",
        )
    return time_ms


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


_RESERVED_KEYS: Final = {
    kind: tuple((field, table, frozenset(table)) for field, table in tables)
    for kind, tables in _RESERVED.items()
}


def _reserved_tables(
    data: Mapping[str, Any], kind: str
) -> Iterator[tuple[str, Any, Mapping[str, str]]]:
    """(field prefix, object, reserved keys and their types) that apply to an event of `kind`."""
    for field, table in _RESERVED.get(kind, ()):
        yield field, data.get(field) if field else data, table


def _reserved_typed(data: Mapping[str, Any], kind: str) -> bool:
    """Whether every reserved key the event holds has its type (the fast path's question)."""
    for field, table, keys in _RESERVED_KEYS.get(kind, ()):
        values = data.get(field) if field else data
        if type(values) is dict and not keys.isdisjoint(values):  # most hold none: no set made
            for key in values.keys() & keys:
                value = values[key]
                if value is not None and not _has_type(value, table[key]):
                    return False
    return True


def _bad_keys(values: Any, table: Mapping[str, str]) -> list[str]:
    """Keys of `table` that `values` (when an object) holds with the wrong type, in table order."""
    if type(values) is not dict:
        return []
    return [
        key
        for key, expected in table.items()
        if (value := values.get(key)) is not None and not _has_type(value, expected)
    ]


def _check_reserved(data: Mapping[str, Any], kind: str, found: _Collector) -> None:
    for prefix, values, table in _reserved_tables(data, kind):
        for key in _bad_keys(values, table):
            expected = table[key]
            field = f"{prefix}.{key}" if prefix else key
            expected_text = "an ISO-8601 date" if expected == _DATE else f"a {expected}"
            found.warn(
                field,
                f"reserved field should be {expected_text}, got {_show(values[key])}",
                f"reserved field should be {expected_text}",
            )


def _normalize(data: dict[str, Any], ids: Mapping[str, str], found: _Collector) -> dict[str, Any]:
    """The event as sent onward: ids as strings, non-id ids dropped, a messageId always set."""
    normalized = data
    for name in ID_FIELDS:
        if name in data and data[name] is not ids.get(name):
            if normalized is data:
                normalized = dict(data)
            if name in ids:
                normalized[name] = ids[name]
            else:
                del normalized[name]
    if "messageId" not in data or data["messageId"] is None:
        if normalized is data:
            normalized = dict(data)
        normalized["messageId"] = derive_message_id(data)
    return normalized
