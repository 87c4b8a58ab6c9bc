"""Lago mapper: options, default mapping, route overrides, stringification (reference/lago.md)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdpcli import jsonio
from cdpcli.destinations.base import REDACTED, Endpoint, Mapped, Record, RouteInfo, SecretField
from cdpcli.destinations.lago import http, mapping, settings
from cdpcli.destinations.lago.destination import LagoDestination
from cdpcli.errors import ConfigError, CredentialsError
from cdpcli.send.batching import Batcher

OPTIONS = settings.LagoOptions()
FIRST = RouteInfo(name="billing-route")


def where(key: str) -> str:
    return f"cdpcli.yaml:7: key `destinations.billing.{key}`"


def event_ms(text: str) -> int:
    """The validator's event time (reference/segment-spec.md §6): ISO-8601 to floored ms."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def map_one(event: dict[str, Any], route: RouteInfo = FIRST) -> Mapped:
    return mapping.map_event(event, time_ms=event_ms(event["timestamp"]), route=route)


def item_of(mapped: Mapped) -> dict[str, Any]:
    assert mapped.rejected is None, mapped.rejected
    assert mapped.skipped is None
    assert len(mapped.records) == 1
    assert mapped.records[0].endpoint == "batch"
    return mapped.records[0].item


BASE = {
    "type": "track",
    "event": "API Call",
    "messageId": "m-1",
    "userId": "sub_1",
    "timestamp": "2024-05-14T09:21:07.312Z",
}

# --------------------------------------------------------------------------------------------
# Options


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, settings.LagoOptions("https://api.getlago.com", 100)),
        (
            {"api_url": "https://api.eu.getlago.com"},
            settings.LagoOptions("https://api.eu.getlago.com"),
        ),
        ({"api_url": "https://api.getlago.com/"}, settings.LagoOptions("https://api.getlago.com")),
        (
            {"api_url": "https://api.getlago.com/api/v1"},
            settings.LagoOptions("https://api.getlago.com"),
        ),
        (
            {"api_url": "https://api.getlago.com/api/v1/"},
            settings.LagoOptions("https://api.getlago.com"),
        ),
        (
            {"api_url": "http://localhost:3000", "batch_size": 25},
            settings.LagoOptions("http://localhost:3000", 25),
        ),
        (
            {"api_url": "https://proxy.example/lago/"},
            settings.LagoOptions("https://proxy.example/lago"),
        ),
        ({"batch_size": 1}, settings.LagoOptions(batch_size=1)),
        ({"batch_size": 100}, settings.LagoOptions(batch_size=100)),
    ],
)
def test_parse_options(raw: dict[str, Any], expected: settings.LagoOptions) -> None:
    assert settings.parse_options(raw, where) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"api_key": "secret"},
            "cdpcli.yaml:7: key `destinations.billing.api_key`: unknown key for a lago "
            "destination; allowed keys: kind, api_url, batch_size",
        ),
        (
            {"batch_size": 101},
            "cdpcli.yaml:7: key `destinations.billing.batch_size`: must be an integer from 1 to "
            "100, got 101",
        ),
        ({"batch_size": 0}, "batch_size`: must be an integer from 1 to 100, got 0"),
        ({"batch_size": True}, "batch_size`: must be an integer from 1 to 100, got True"),
        ({"batch_size": "50"}, "batch_size`: must be an integer from 1 to 100, got '50'"),
        ({"api_url": 5}, "api_url`: must be a URL string such as https://api.getlago.com"),
        ({"api_url": ""}, "api_url`: must be a URL string"),
        ({"api_url": "api.getlago.com"}, "api_url`: 'api.getlago.com' is not an http(s) URL"),
        ({"api_url": "ftp://h"}, "api_url`: 'ftp://h' is not an http(s) URL"),
        ({"api_url": "https://h/?x=1"}, "must not have a query or fragment"),
    ],
)
def test_parse_options_errors(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings.parse_options(raw, where)
    assert message in caught.value.message
    assert caught.value.message.startswith("cdpcli.yaml:7: key `destinations.billing.")


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        (
            "api_key",
            "the API key never goes in the config: use `cdpcli keys set DESTINATION api_key` "
            "or the CDPCLI_<DESTINATION>_API_KEY variable",
        ),
        ("batchSize", None),
    ],
)
def test_unknown_key_hint(key: str, hint: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        settings.parse_options({key: "x"}, where)
    assert caught.value.hint == hint


def test_secret_fields_and_endpoint() -> None:
    assert LagoDestination.kind == "lago"
    fields = LagoDestination.secret_fields(OPTIONS, frozenset({"track"}))
    assert [f.field for f in fields] == ["api_key"]
    assert isinstance(fields[0], SecretField)
    assert http.endpoints(settings.LagoOptions("http://localhost:3000", 10)) == {
        "batch": Endpoint(
            name="batch",
            url="http://localhost:3000/api/v1/events/batch",
            max_items=10,
            max_request_bytes=5_000_000,
            max_item_bytes=1_000_000,
            gzip=False,
        )
    }


# --------------------------------------------------------------------------------------------
# Worked examples L1, L2, L3, L5


L1_EVENT = (
    '{"type":"track","event":"API Call","messageId":"m-l1-0001","userId":"sub_acme_pro",'
    '"timestamp":"2024-05-14T09:21:07.312Z","properties":{"endpoint":"/v1/reports","bytes":5120,'
    '"cached":false,"latency_ms":12.5,"region":null,"tags":["a","b"]}}'
)
L1_LINE = (
    '{"destination":"billing","kind":"lago","method":"POST",'
    '"url":"https://api.getlago.com/api/v1/events/batch",'
    '"headers":{"Authorization":"***","Content-Type":"application/json"},'
    '"body":{"events":[{"transaction_id":"m-l1-0001","external_subscription_id":"sub_acme_pro",'
    '"code":"API Call","timestamp":"1715678467.312","properties":{"endpoint":"/v1/reports",'
    '"bytes":"5120","cached":"false","latency_ms":"12.5","tags":"[\\"a\\",\\"b\\"]"}}]}}'
)


def test_l1_default_mapping_dry_run_line() -> None:
    options = settings.parse_options({"api_url": "https://api.getlago.com"}, where)
    mapped = map_one(jsonio.loads(L1_EVENT))
    endpoint = http.endpoints(options)[mapped.records[0].endpoint]
    request = http.build_request(options, endpoint, jsonio.dumps_bytes([item_of(mapped)]), None)
    assert request.method == "POST"
    assert request.url == "https://api.getlago.com/api/v1/events/batch"
    assert request.headers == {"Authorization": REDACTED, "Content-Type": "application/json"}
    assert request.gzip is False
    line = {
        "destination": "billing",
        "kind": LagoDestination.kind,
        "method": request.method,
        "url": request.url,
        "headers": request.headers,
        "body": jsonio.Fragment(request.content),
    }
    # Exact text, key order included: that is what the dry run prints.
    assert jsonio.dumps(line) == L1_LINE


def test_l2_route_map_overrides() -> None:
    event = {
        "type": "track",
        "event": "Export CSV",
        "messageId": "m-l2-0002",
        "userId": "u_17",
        "timestamp": "2024-03-02T17:45:00Z",
        "properties": {"plan": "pro", "subscription_id": "sub_881", "bytes": 2048},
    }
    # The route's map of PRODUCT.md §5 as the router evaluates it: 2048 stays an integer.
    route = RouteInfo(
        name="api-usage",
        overrides={
            "code": "api_calls",
            "external_subscription_id": "sub_881",
            "properties": {"gb": 2048},
        },
    )
    assert jsonio.dumps(item_of(map_one(event, route))) == (
        '{"transaction_id":"m-l2-0002","external_subscription_id":"sub_881","code":"api_calls",'
        '"timestamp":"1709401500.000","properties":{"gb":"2048"}}'
    )


@pytest.mark.parametrize(
    ("event_time", "expected"),
    [
        ("2024-05-14T09:21:07.312Z", "1715678467.312"),
        ("2024-03-02T17:45:00Z", "1709401500.000"),
        ("2023-11-30T23:59:59.999+01:00", "1701385199.999"),
        ("2024-02-29T08:00:00.123456Z", "1709193600.123"),
    ],
)
def test_l3_timestamps(event_time: str, expected: str) -> None:
    assert item_of(map_one({**BASE, "timestamp": event_time}))["timestamp"] == expected


@pytest.mark.parametrize(
    ("time_ms", "expected"),
    [(0, "0.000"), (5, "0.005"), (1000, "1.000"), (-1, "-0.001"), (-1500, "-1.500")],
)
def test_format_timestamp_edges(time_ms: int, expected: str) -> None:
    assert mapping.format_timestamp(time_ms) == expected


def test_l5_no_user_id_rejected_and_no_request() -> None:
    event = jsonio.loads(
        '{"type":"track","event":"API Call","messageId":"m-l5","anonymousId":"anon-9",'
        '"timestamp":"2024-05-14T09:21:07Z"}'
    )
    assert map_one(event) == Mapped(
        rejected="no external_subscription_id (no userId; map one in the route)"
    )


# --------------------------------------------------------------------------------------------
# Defaults and ids


def test_default_item_exact_and_properties_omitted_when_absent() -> None:
    assert map_one(BASE) == Mapped(
        records=(
            Record(
                "batch",
                {
                    "transaction_id": "m-1",
                    "external_subscription_id": "sub_1",
                    "code": "API Call",
                    "timestamp": "1715678467.312",
                },
            ),
        )
    )


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        (None, None),
        ({}, {}),
        ({"a": None}, {}),
        ({"n": 1, "s": "x"}, {"n": "1", "s": "x"}),
    ],
)
def test_default_properties(properties: Any, expected: Any) -> None:
    item = item_of(map_one({**BASE, "properties": properties}))
    if expected is None:
        assert "properties" not in item
    else:
        assert item["properties"] == expected


@pytest.mark.parametrize(
    ("qualifier", "overrides", "expected"),
    [
        (None, {}, "m-1"),
        ("api-usage", {}, "m-1:route:api-usage"),
        ("api-usage", {"transaction_id": "custom-7"}, "custom-7"),
        (None, {"transaction_id": 42}, "42"),
    ],
)
def test_transaction_id(qualifier: str | None, overrides: dict[str, Any], expected: str) -> None:
    route = RouteInfo(name="api-usage", qualifier=qualifier, overrides=overrides)
    assert item_of(map_one(BASE, route))["transaction_id"] == expected


@pytest.mark.parametrize(
    ("event", "overrides", "expected"),
    [
        ({**BASE, "type": "identify", "event": None}, {"code": "seats"}, "seats"),
        ({**BASE, "type": "page"}, {"code": "page_views"}, "page_views"),
        (BASE, {"external_subscription_id": "sub_x"}, "API Call"),
    ],
)
def test_code_sources(event: dict[str, Any], overrides: dict[str, Any], expected: str) -> None:
    assert item_of(map_one(event, RouteInfo("r", overrides=overrides)))["code"] == expected


@pytest.mark.parametrize(
    ("event", "overrides", "reason"),
    [
        (
            {k: v for k, v in BASE.items() if k != "event"} | {"type": "identify"},
            {},
            "no code (identify events have no event name; map one in the route)",
        ),
        (
            {**BASE, "type": "page"},
            {},
            "no code (page events have no event name; map one in the route)",
        ),
        (
            {**BASE, "event": ""},
            {},
            "no code (the track event has no event name; map one in the route)",
        ),
        (BASE, {"code": ""}, "map.code must be a non-empty string, got an empty string"),
        (BASE, {"code": 5}, "map.code must be a non-empty string, got number 5"),
        (
            BASE,
            {"code": None},
            "map.code must be a non-empty string, got null (does the path the map reads exist?)",
        ),
        (
            BASE,
            {"external_subscription_id": ""},
            "map.external_subscription_id must be a non-empty string, got an empty string",
        ),
        (
            BASE,
            {"external_subscription_id": None},
            "map.external_subscription_id must be a non-empty string, got null (does the path "
            "the map reads exist?)",
        ),
        (
            BASE,
            {"external_subscription_id": True},
            "map.external_subscription_id must be a non-empty string, got boolean true",
        ),
        (
            BASE,
            {"transaction_id": {"a": 1}},
            "map.transaction_id must be a non-empty string, got an object",
        ),
        (BASE, {"properties": ["a"]}, "map.properties must be an object, got an array"),
        (BASE, {"properties": "x"}, "map.properties must be an object, got string 'x'"),
        (
            BASE,
            {"timestamp": None},
            "map.timestamp must be unix seconds or an ISO-8601 time, got null (does the path "
            "the map reads exist?)",
        ),
        (
            BASE,
            {"timestamp": "yesterday"},
            "map.timestamp 'yesterday' is neither unix seconds nor an ISO-8601 time",
        ),
        (
            BASE,
            {"timestamp": 1715678467312},
            "map.timestamp 1715678467312 looks like milliseconds; Lago wants unix seconds "
            "(divide by 1000)",
        ),
        (
            BASE,
            {"precise_total_amount_cents": "12,50"},
            "map.precise_total_amount_cents must be a decimal number, got string '12,50'",
        ),
        (
            BASE,
            {"externalCustomerId": "x", "external_customer_id": "y"},
            "route 'r' maps externalCustomerId, external_customer_id, which Lago does not read "
            "(allowed: transaction_id, external_subscription_id, code, timestamp, properties, "
            "precise_total_amount_cents)",
        ),
    ],
)
def test_rejections(event: dict[str, Any], overrides: dict[str, Any], reason: str) -> None:
    assert map_one(event, RouteInfo("r", overrides=overrides)) == Mapped(rejected=reason)


def test_mapped_subscription_rescues_event_without_user_id() -> None:
    event = {k: v for k, v in BASE.items() if k != "userId"} | {"anonymousId": "a-1"}
    route = RouteInfo("r", overrides={"external_subscription_id": "sub_9"})
    assert item_of(map_one(event, route))["external_subscription_id"] == "sub_9"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1715678467", "1715678467"),
        ("1715678467.5", "1715678467.5"),
        (1715678467, "1715678467"),
        (1715678467.25, "1715678467.25"),
        ("2024-05-14T09:21:07.312Z", "1715678467.312"),
        ("2024-05-14T09:21:07", "1715678467.000"),
    ],
)
def test_timestamp_override(value: Any, expected: str) -> None:
    route = RouteInfo("r", overrides={"timestamp": value})
    assert item_of(map_one(BASE, route))["timestamp"] == expected


def test_full_override_key_order() -> None:
    route = RouteInfo(
        "r",
        overrides={
            "precise_total_amount_cents": 1234.56,
            "properties": {"z": 1, "a": [1, {"b": None}]},
            "timestamp": 1700000000,
            "code": "c",
            "external_subscription_id": "s",
            "transaction_id": "t",
        },
    )
    item = item_of(map_one({**BASE, "properties": {"ignored": 1}}, route))
    assert jsonio.dumps(item) == (
        '{"transaction_id":"t","external_subscription_id":"s","code":"c",'
        '"timestamp":"1700000000","properties":{"z":"1","a":"[1,{\\"b\\":null}]"},'
        '"precise_total_amount_cents":"1234.56"}'
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("99.5", "99.5"), (12, "12")],
)
def test_precise_total_amount_cents(value: Any, expected: str | None) -> None:
    item = item_of(map_one(BASE, RouteInfo("r", overrides={"precise_total_amount_cents": value})))
    assert item["precise_total_amount_cents"] == expected
    assert list(item)[-1] == "precise_total_amount_cents"


def test_map_properties_null_omits_key() -> None:
    item = item_of(map_one({**BASE, "properties": {"a": 1}}, RouteInfo("r")))
    assert item["properties"] == {"a": "1"}
    route = RouteInfo("r", overrides={"properties": None})
    assert "properties" not in item_of(map_one({**BASE, "properties": {"a": 1}}, route))


# --------------------------------------------------------------------------------------------
# Stringification (reference §4 table)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        ("", ""),
        (5120, "5120"),
        (-3, "-3"),
        (2**70, "1180591620717411303424"),
        (12.5, "12.5"),
        (1e-7, "0.0000001"),
        (1e16, "10000000000000000"),
        (1.0, "1.0"),
        (0.1, "0.1"),
        (-2.5e-5, "-0.000025"),
        (True, "true"),
        (False, "false"),
        (["a", "b"], '["a","b"]'),
        ({"k": [1, 2.5, None]}, '{"k":[1,2.5,null]}'),
        ({"é": "ü"}, '{"é":"ü"}'),
        ([], "[]"),
    ],
)
def test_stringify_value(value: Any, expected: str) -> None:
    assert mapping.stringify_value(value) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_stringify_float_round_trips_without_exponent(value: float) -> None:
    text = mapping.stringify_value(value)
    assert "e" not in text.lower()
    assert float(text) == value
    assert math.copysign(1.0, float(text)) == math.copysign(1.0, value)


# --------------------------------------------------------------------------------------------
# Requests


def test_build_request_with_secret() -> None:
    endpoint = http.endpoints(OPTIONS)["batch"]
    items = [{"transaction_id": "a"}, {"transaction_id": "b"}]
    request = http.build_request(OPTIONS, endpoint, jsonio.dumps_bytes(items), {"api_key": "k-123"})
    assert request.headers == {
        "Authorization": "Bearer k-123",
        "Content-Type": "application/json",
    }
    assert request.content == jsonio.dumps_bytes({"events": items})
    assert request.method == "POST"


def test_build_request_refusals() -> None:
    endpoints = http.endpoints(settings.LagoOptions(batch_size=2))
    endpoint = endpoints["batch"]
    with pytest.raises(CredentialsError, match="api_key"):
        http.build_request(OPTIONS, endpoint, b'[{"code":"c"}]', {})
    with pytest.raises(ValueError, match="no_events"):
        http.build_request(OPTIONS, endpoint, b"[]", None)
    # `batch_size` bounds every batch the sender builds for this endpoint
    batcher = Batcher(endpoints)
    added = [batcher.add("batch", {}, n).batches for n in range(3)]
    assert [[len(b) for b in batches] for batches in added] == [[], [2], []]
    assert [len(b) for b in batcher.flush()] == [1]


def test_dry_run_request_never_contains_the_key() -> None:
    endpoint = http.endpoints(OPTIONS)["batch"]
    request = http.build_request(
        OPTIONS, endpoint, jsonio.dumps_bytes([item_of(map_one(BASE))]), None
    )
    assert "Bearer" not in jsonio.dumps(request.headers)
    assert request.headers["Authorization"] == "***"
