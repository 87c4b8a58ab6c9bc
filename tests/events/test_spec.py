"""Segment-spec validation (PRODUCT.md §4, reference/segment-spec.md): errors, warnings, time."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdpcli.events.model import Event, Origin
from cdpcli.events.spec import check, derive_message_id, find_problems, id_string

T = "2024-05-14T09:21:07.312Z"


def ev(**fields: Any) -> Event:
    data = {"type": "track", "event": "A", "userId": "u", "messageId": "m", "timestamp": T}
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not _DROP}
    return Event(data, Origin("f.jsonl", 7), len(json.dumps(data)))


_DROP = object()


def problems(event: Event, **kw: Any) -> list[tuple[str, str | None, str]]:
    return [(p.severity, p.field, p.message) for p in check(event, **kw).problems]


def test_clean_event_has_no_problems_and_keeps_its_data() -> None:
    event = ev()
    checked = check(event)
    assert checked.problems == []
    assert checked.data is event.data
    assert checked.time_ms == 1715678467312


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"type": _DROP}, "type", "missing; must be one of"),
        (
            {"type": "purchase"},
            "type",
            'must be one of track, identify, page, screen, group, alias, got "purchase"',
        ),
        ({"type": 3}, "type", "must be one of"),
        ({"userId": _DROP}, "userId", "neither a non-empty `userId` nor `anonymousId`"),
        ({"userId": ""}, "userId", "neither"),
        ({"userId": True}, "userId", "neither"),
        ({"event": _DROP}, "event", "track needs a non-empty string `event`"),
        ({"event": "  "}, "event", "track needs a non-empty string `event` (got an empty string)"),
        ({"event": 5}, "event", "track needs a non-empty string `event` (got number)"),
        ({"properties": []}, "properties", "must be an object, got array"),
        ({"context": "x"}, "context", "must be an object, got string"),
        ({"integrations": None}, "integrations", "must be an object, got null"),
        ({"timestamp": "2015-2-02T00:30:08.276Z"}, "timestamp", "not an ISO-8601 time"),
        ({"timestamp": 1715678467}, "timestamp", "not an ISO-8601 time: 1715678467"),
        ({"sentAt": "yesterday"}, "sentAt", "not an ISO-8601 time"),
        ({"messageId": 5}, "messageId", "must be a string, got number"),
        ({"messageId": "x" * 101}, "messageId", "101 characters, over the limit of 100"),
        ({"messageId": ""}, "messageId", "must not be empty"),
        ({"timestamp": _DROP}, "timestamp", "no usable event time"),
    ],
)
def test_errors(fields: dict[str, Any], field: str, message: str) -> None:
    checked = check(ev(**fields))
    assert not checked.ok
    errors = [(p.field, p.message) for p in checked.problems if p.severity == "error"]
    assert any(f == field and m.startswith(message) for f, m in errors), errors


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "alias", "userId": "u"}, "previousId"),
        ({"type": "alias", "previousId": "p", "anonymousId": "a"}, "userId"),
        ({"type": "group", "userId": "u"}, "groupId"),
        ({"type": "group", "userId": "u", "groupId": ""}, "groupId"),
    ],
)
def test_type_specific_identity(data: dict[str, Any], field: str) -> None:
    data = {**data, "messageId": "m", "timestamp": T}
    checked = check(Event(data, Origin("f", 1), 10))
    assert [(p.severity, p.field) for p in checked.problems] == [("error", field)]


def test_oversize_event_is_an_error() -> None:
    event = ev(properties={"p": "x" * 33000})
    event.size = 33_100
    assert problems(event)[0] == (
        "error",
        None,
        "event is 33,100 bytes serialized, over Segment's 32 KB (32,768 bytes) limit",
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [(42, "42"), (42.0, "42"), (-7, "-7"), (1.5, "1.5"), (1e21, "1e+21"), ("abc", "abc")],
)
def test_numeric_ids_are_warnings_and_sent_as_strings(value: Any, text: str) -> None:
    checked = check(ev(userId=value))
    if isinstance(value, str):
        assert checked.problems == []
    else:
        assert [(p.severity, p.field) for p in checked.problems] == [("warning", "userId")]
    assert checked.data is not None and checked.data["userId"] == text
    assert id_string(value) == text


def test_strict_turns_warnings_into_errors() -> None:
    checked = check(ev(userId=42), strict=True)
    assert not checked.ok
    assert [(p.severity, p.field) for p in checked.problems] == [("error", "userId")]


def test_missing_message_id_is_derived_deterministically() -> None:
    event = ev(messageId=_DROP)
    checked = check(event)
    assert [(p.severity, p.field) for p in checked.problems] == [("warning", "messageId")]
    assert checked.data is not None
    body = {k: v for k, v in event.data.items() if k != "messageId"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(canonical.encode()).hexdigest()[:36]
    assert checked.data["messageId"] == expected == derive_message_id(event.data)
    assert "messageId" not in event.data  # the input is never mutated


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"write_key": "wk"}, "write_key"),
        ({"metadata": {}}, "metadata"),
        ({"traits": {}}, "traits"),
        ({"properties": {"revenue": "19.99"}}, "properties.revenue"),
        ({"properties": {"currency": 978}}, "properties.currency"),
    ],
)
def test_warnings(fields: dict[str, Any], field: str) -> None:
    checked = check(ev(**fields))
    assert checked.ok
    assert [(p.severity, p.field) for p in checked.problems] == [("warning", field)]


# Segment's own additions (reference/segment-spec.md §1): analytics.js, analytics-node, archives.
NON_SPEC = {
    "writeKey": "3AbCdEfGhIjKlMnOpQrStUvWxYz01234",
    "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "nodeVersion": "20.11.1"},
    "projectId": "qw3rTy",
}
BY_TYPE: dict[str, dict[str, Any]] = {
    "track": {"event": "A"},
    "identify": {"traits": {"email": "a@example.com"}},
    "page": {"name": "Home"},
    "screen": {"name": "Home"},
    "group": {"groupId": "g"},
    "alias": {"previousId": "p"},
}


@pytest.mark.parametrize("kind", BY_TYPE)
@pytest.mark.parametrize("strict", [False, True])
def test_segments_own_fields_are_known(kind: str, strict: bool) -> None:
    data = {"type": kind, "userId": "u", "messageId": "m", "timestamp": T, **BY_TYPE[kind]}
    checked = check(Event({**data, **NON_SPEC}, Origin("f", 1), 300), strict=strict)
    assert checked.problems == []
    assert checked.ok


@pytest.mark.parametrize(
    ("traits", "field"),
    [
        ({"email": 5}, "traits.email"),
        ({"createdAt": "last week"}, "traits.createdAt"),
        ({"address": "Berlin"}, "traits.address"),
        ({"age": "34"}, "traits.age"),
    ],
)
def test_reserved_identify_traits(traits: dict[str, Any], field: str) -> None:
    data = {"type": "identify", "userId": "u", "messageId": "m", "timestamp": T, "traits": traits}
    checked = check(Event(data, Origin("f", 1), 100))
    assert [(p.severity, p.field) for p in checked.problems] == [("warning", field)]


def test_group_employees_may_be_string_or_number() -> None:
    for employees in (240, "240"):
        data = {
            "type": "group",
            "userId": "u",
            "groupId": "g",
            "messageId": "m",
            "timestamp": T,
            "traits": {"employees": employees},
        }
        assert check(Event(data, Origin("f", 1), 100)).problems == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"timestamp": "2024-05-14T09:21:07.312Z"}, 1715678467312),
        ({"timestamp": "2023-11-30T23:59:59.999+01:00"}, 1701385199999),
        ({"timestamp": "2024-02-29T08:00:00.123456Z"}, 1709193600123),  # floored
        ({"timestamp": "2024-05-14T09:21:07"}, 1715678467000),  # no offset = UTC
        ({"originalTimestamp": "2024-05-14T09:21:00Z"}, 1715678460000),
        ({"receivedAt": "2024-05-14T09:21:01Z", "sentAt": "2024-05-14T09:21:02Z"}, 1715678461000),
        ({"sentAt": "2024-05-14T09:21:02Z"}, 1715678462000),
        ({}, None),
        ({"timestamp": "bad", "sentAt": "2024-05-14T09:21:02Z"}, None),  # first set field decides
    ],
)
def test_event_time_rule(fields: dict[str, Any], expected: int | None) -> None:
    """The time `check` gives an event, which is the time every destination sends."""
    data = {"type": "track", "event": "E", "userId": "u", "messageId": "m", **fields}
    assert check(Event(data, Origin("f", 1), 100)).time_ms == expected


def test_envelope_item_fields_are_paths_inside_the_line() -> None:
    event = Event({"type": "track", "userId": "u"}, Origin("f", 3, 2), 10)
    fields = [p.path for p in check(event).problems]
    assert "batch[2].event" in fields


def test_every_problem_is_reported_in_rule_order() -> None:
    """One event breaking many rules: every problem, in the order `validate` prints them."""
    data = {
        "zeta": 1,
        "type": "identify",
        "alpha": 2,
        "previousId": 3,
        "groupId": 1.5,
        "anonymousId": True,
        "userId": 42,
        "messageId": "",
        "context": [],
        "properties": "p",
        "sentAt": T,
        "timestamp": "bad",
        "traits": {"website": 1, "email": 5, "age": "34", "address": "Berlin", "name": None},
    }
    event = Event(data, Origin("f", 1), 40_000)
    assert problems(event) == [
        (
            "error",
            None,
            "event is 40,000 bytes serialized, over Segment's 32 KB (32,768 bytes) limit",
        ),
        ("warning", "userId", 'numeric id 42; sent as the string "42"'),
        ("warning", "anonymousId", "a boolean is not an id; treated as absent"),
        ("warning", "groupId", 'numeric id 1.5; sent as the string "1.5"'),
        ("warning", "previousId", 'numeric id 3; sent as the string "3"'),
        ("error", "messageId", "must not be empty"),
        ("error", "properties", "must be an object, got string"),
        ("error", "context", "must be an object, got array"),
        ("error", "timestamp", 'not an ISO-8601 time: "bad"'),
        ("warning", "alpha", "unknown top-level field for a identify event; it is not forwarded"),
        ("warning", "groupId", "unknown top-level field for a identify event; it is not forwarded"),
        (
            "warning",
            "previousId",
            "unknown top-level field for a identify event; it is not forwarded",
        ),
        (
            "warning",
            "properties",
            "unknown top-level field for a identify event; it is not forwarded",
        ),
        ("warning", "zeta", "unknown top-level field for a identify event; it is not forwarded"),
        ("warning", "traits.address", 'reserved field should be a object, got "Berlin"'),
        ("warning", "traits.age", 'reserved field should be a number, got "34"'),
        ("warning", "traits.email", "reserved field should be a string, got 5"),
        ("warning", "traits.website", "reserved field should be a string, got 1"),
    ]
    assert [p[0] for p in problems(event, strict=True)] == ["error"] * 18


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"type": "page", "name": 5, "category": 6, "properties": {"keywords": ["a", 1]}},
            [("warning", "properties.keywords"), ("warning", "name"), ("warning", "category")],
        ),
        (
            {"type": "alias", "previousId": "", "userId": ""},
            [("error", "previousId"), ("error", "userId")],
        ),
        ({"type": None, "unknownKey": 1}, [("error", "type")]),
        ({"type": "group", "userId": None}, [("error", "userId"), ("error", "groupId")]),
    ],
)
def test_per_type_rules_in_order(
    data: dict[str, Any], expected: list[tuple[str, str | None]]
) -> None:
    """Reserved properties before the event's own name and category; alias's previousId before
    its userId; identity before groupId; no type, no check of the keys."""
    event = Event({"messageId": "m", "timestamp": T, "userId": "u", **data}, Origin("f", 1), 9)
    assert [(p.severity, p.field) for p in check(event).problems] == expected


# --- the verdict on any event ------------------------------------------------------------

ids = st.one_of(st.none(), st.text(max_size=3), st.integers(-5, 5), st.booleans(), st.floats())
times = st.one_of(
    st.none(),
    st.sampled_from([T, "2024-05-14", "garbage", "", "2024-02-30T00:00:00Z"]),
    st.integers(),
)
objects = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["revenue", "email", "name", "x", "employees", "createdAt", "keywords"]),
        st.one_of(st.text(max_size=3), st.integers(), st.none(), st.lists(st.text(max_size=1))),
    ),
    st.lists(st.integers(), max_size=1),
    st.text(max_size=2),
)
events = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "x", ""]),
        "event": st.one_of(st.text(max_size=3), st.integers(), st.none()),
        "name": st.one_of(st.text(max_size=3), st.integers()),
        "category": st.one_of(st.text(max_size=3), st.integers()),
        "userId": ids,
        "anonymousId": ids,
        "groupId": ids,
        "previousId": ids,
        "messageId": st.one_of(st.text(max_size=3), st.integers(), st.none(), st.just("m" * 101)),
        "timestamp": times,
        "originalTimestamp": times,
        "receivedAt": times,
        "sentAt": times,
        "properties": objects,
        "traits": objects,
        "context": objects,
        "integrations": objects,
        "unknownKey": st.integers(),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.sampled_from([100, 40_000]), st.booleans())
def test_verdict_follows_the_problems(data: dict[str, Any], size: int, strict: bool) -> None:
    """No problem: sent as it is, with its time. An error: not sent. Warnings only: sent
    normalized (ids as strings, a messageId set). `validate` sees the same problems."""
    event = Event(data, Origin("f", 1), size)
    checked = check(event, strict=strict)
    assert find_problems(event, strict=strict) == checked.problems
    severities = {p.severity for p in checked.problems}
    if strict:
        assert severities <= {"error"}
    if not checked.problems:
        assert checked.data is data
        assert checked.time_ms is not None
    elif "error" in severities:
        assert checked.data is None
    else:
        assert checked.data is not None
        assert type(checked.data["messageId"]) is str
        for name in ("userId", "anonymousId", "groupId", "previousId"):
            assert type(checked.data.get(name, "")) in (str, type(None))
