"""Contract: every Lago body cdpcli builds validates against LO's `EventBatchInput`.

LO is getlago/lago-openapi (specs/lago.openapi.yaml, OpenAPI 3.1, i.e. JSON Schema 2020-12; the
tests read its part for POST /events/batch, tests/specs/lago.subset.openapi.yaml). A pass
or failure here is evidence about the spec, not about Lago: where the file and the real server
disagree (reference/lago.md §10) the test says so explicitly, next to the assertion.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cdpcli import jsonio
from cdpcli.destinations.base import Record, RouteInfo
from cdpcli.destinations.lago import http, mapping
from cdpcli.destinations.lago.settings import LagoOptions
from cdpcli.send.batching import Batcher
from tests.paths import SPECS

SPEC_URI = "urn:lago-openapi"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    # The part of LO that POST /events/batch needs (tests/specs/SOURCE.md).
    document: dict[str, Any] = yaml.safe_load(
        (SPECS / "lago.subset.openapi.yaml").read_text(encoding="utf-8")
    )
    return document


def _validator(spec: dict[str, Any], name: str) -> Draft202012Validator:
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    schema = {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=registry)


@pytest.fixture(scope="module")
def batch_schema(spec: dict[str, Any]) -> Draft202012Validator:
    return _validator(spec, "EventBatchInput")


@pytest.fixture(scope="module")
def item_schema(spec: dict[str, Any]) -> Draft202012Validator:
    return _validator(spec, "EventInputObject")


OPTIONS = LagoOptions()
ENDPOINT = http.endpoints(OPTIONS)["batch"]
BASE = {
    "type": "track",
    "event": "API Call",
    "messageId": "m-1",
    "userId": "sub_1",
    "properties": {"bytes": 5120, "cached": False, "ratio": 0.25, "tags": ["a"], "n": None},
}


def body_for(*events: dict[str, Any], route: RouteInfo | None = None) -> dict[str, Any]:
    records: list[Record] = []
    for event in events:
        mapped = mapping.map_event(event, time_ms=1715678467312, route=route or RouteInfo("r"))
        assert mapped.rejected is None, mapped.rejected
        records.extend(mapped.records)
    items = jsonio.dumps_bytes([r.item for r in records])
    body: dict[str, Any] = jsonio.loads(http.build_request(OPTIONS, ENDPOINT, items, None).content)
    return body


def errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [error.message for error in validator.iter_errors(instance)]


# --------------------------------------------------------------------------------------------
# Key names


def test_item_keys_are_exactly_the_permitted_snake_case_keys(spec: dict[str, Any]) -> None:
    # reference §2 (LA events_controller create_params/batch_params); other keys are dropped
    # silently by the server, and the spec has no additionalProperties: false to catch them.
    permitted = (
        "transaction_id",
        "external_subscription_id",
        "code",
        "timestamp",
        "properties",
        "precise_total_amount_cents",
    )
    assert permitted == mapping.PERMITTED_KEYS
    assert set(spec["components"]["schemas"]["EventInputObject"]["properties"]) == set(permitted)
    route = RouteInfo(
        "r",
        overrides={"precise_total_amount_cents": "1.5", "timestamp": 1700000000},
    )
    item = body_for(BASE, route=route)["events"][0]
    assert tuple(item) == permitted


def test_spec_does_not_catch_unknown_keys(item_schema: Draft202012Validator) -> None:
    # §10: camelCase keys and external_customer_id pass the spec but Lago drops them, which is
    # why the key-name test above exists.
    item = {
        "transaction_id": "t",
        "external_subscription_id": "s",
        "code": "c",
        "externalCustomerId": "x",
        "external_customer_id": "y",
    }
    assert errors(item_schema, item) == []


# --------------------------------------------------------------------------------------------
# Bodies cdpcli builds


def test_l1_body_validates(batch_schema: Draft202012Validator) -> None:
    body = body_for(
        {
            **BASE,
            "messageId": "m-l1-0001",
            "userId": "sub_acme_pro",
            "properties": {
                "endpoint": "/v1/reports",
                "bytes": 5120,
                "cached": False,
                "latency_ms": 12.5,
                "region": None,
                "tags": ["a", "b"],
            },
        }
    )
    assert errors(batch_schema, body) == []


def test_every_override_shape_validates(batch_schema: Draft202012Validator) -> None:
    routes = [
        RouteInfo("r", qualifier="second"),
        RouteInfo("r", overrides={"properties": None}),
        RouteInfo("r", overrides={"properties": {"nested": {"a": [1, None]}, "f": 1e-7}}),
        RouteInfo("r", overrides={"timestamp": 1700000000.5, "transaction_id": 7}),
        RouteInfo("r", overrides={"timestamp": "2024-05-14T09:21:07Z"}),
        RouteInfo("r", overrides={"precise_total_amount_cents": None}),
        RouteInfo("r", overrides={"precise_total_amount_cents": 12}),
        RouteInfo("r", overrides={"code": "seats", "external_subscription_id": 99}),
    ]
    for route in routes:
        event = {**BASE, "type": "identify"} if "code" in route.overrides else BASE
        body = body_for(event, route=route)
        assert errors(batch_schema, body) == [], route


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
IDS = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() != "")


@st.composite
def mapped_bodies(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=1, max_value=5))
    items: list[dict[str, Any]] = []
    for _ in range(count):
        event: dict[str, Any] = {
            "type": "track",
            "event": draw(IDS),
            "messageId": draw(IDS),
            "userId": draw(IDS),
        }
        props = draw(st.none() | st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=5))
        if props is not None:
            event["properties"] = props
        overrides: dict[str, Any] = {}
        if draw(st.booleans()):
            overrides["properties"] = draw(
                st.none() | st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=4)
            )
        if draw(st.booleans()):
            overrides["timestamp"] = draw(
                st.integers(min_value=0, max_value=4_102_444_800)
                | st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False)
            )
        if draw(st.booleans()):
            overrides["precise_total_amount_cents"] = draw(
                st.none() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
            )
        route = RouteInfo("r", qualifier=draw(st.none() | IDS), overrides=overrides)
        time_ms = draw(st.integers(min_value=0, max_value=4_102_444_800_000))
        mapped = mapping.map_event(event, time_ms=time_ms, route=route)
        assert mapped.rejected is None, mapped.rejected
        items.extend(record.item for record in mapped.records)
    request = http.build_request(OPTIONS, ENDPOINT, jsonio.dumps_bytes(items), None)
    body: dict[str, Any] = jsonio.loads(request.content)
    return body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mapped_bodies())
def test_generated_bodies_validate(
    batch_schema: Draft202012Validator, body: dict[str, Any]
) -> None:
    assert errors(batch_schema, body) == []
    for item in body["events"]:
        assert set(item) <= set(mapping.PERMITTED_KEYS)
        # §10: the spec accepts any timestamp string, the server only numeric ones.
        assert isinstance(item["timestamp"], str)
        float(item["timestamp"])
        assert all(isinstance(v, str) for v in (item.get("properties") or {}).values())


# --------------------------------------------------------------------------------------------
# Known disagreements between the spec file and the server (reference §10)


def _item(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "transaction_id": "t",
        "external_subscription_id": "s",
        "code": "c",
        "timestamp": "1715678467.312",
    }
    item.update(changes)
    return {"events": [item]}


@pytest.mark.parametrize(
    ("instance", "why"),
    [
        # integer values match both `integer` and `number` of a oneOf: the spec rejects them,
        # the server accepts them. This is why cdpcli stringifies every property value.
        (_item(properties={"gb": 10}), "integer property value"),
        # booleans, nulls and nested values: spec rejects, server accepts; cdpcli stringifies
        # them and omits nulls.
        (_item(properties={"cached": False}), "boolean property value"),
        (_item(properties={"region": None}), "null property value"),
        (_item(properties={"tags": ["a"]}), "array property value"),
        (_item(properties={"o": {"a": "b"}}), "object property value"),
        # a float timestamp: spec rejects (integer or string), server accepts; cdpcli sends strings
        (_item(timestamp=1715678467.312), "float timestamp"),
        # null timestamp (LP sends it when unset): spec rejects, server uses receipt time
        (_item(timestamp=None), "null timestamp"),
        # no subscription: spec rejects, server stores it unbilled; cdpcli rejects it (L5)
        (
            {"events": [{"transaction_id": "t", "code": "c", "timestamp": "1"}]},
            "missing external_subscription_id",
        ),
    ],
)
def test_spec_rejects_what_the_server_accepts(
    batch_schema: Draft202012Validator, instance: dict[str, Any], why: str
) -> None:
    assert errors(batch_schema, instance) != [], why


@pytest.mark.parametrize(
    ("instance", "why"),
    [
        # float values alone pass (they match only `number`); so do strings
        (_item(properties={"latency": 12.5, "s": "x"}), "float and string values"),
        (_item(properties=None), "properties: null"),
        # ISO-8601 passes the spec (any string) but the server answers 422 invalid_format:
        # cdpcli converts a mapped ISO time to seconds (test_every_override_shape_validates).
        (_item(timestamp="2024-05-14T09:21:07Z"), "ISO-8601 timestamp string"),
        # no maxItems: 101 items pass the spec, the server answers 422 too_many_events
        ({"events": [_item()["events"][0]] * 101}, "more than 100 items"),
        # an empty batch passes the spec, the server answers 422 no_events
        ({"events": []}, "empty events"),
    ],
)
def test_spec_accepts_what_the_server_rejects_or_ignores(
    batch_schema: Draft202012Validator, instance: dict[str, Any], why: str
) -> None:
    assert errors(batch_schema, instance) == [], why


def test_cdpcli_guards_what_the_spec_does_not() -> None:
    # more than 100 items and an empty batch are enforced here, not by the schema
    assert ENDPOINT.max_items == 100
    with pytest.raises(ValueError, match="no_events"):
        http.build_request(OPTIONS, ENDPOINT, b"[]", None)
    batcher = Batcher(http.endpoints(OPTIONS))
    sizes = [len(b) for n in range(101) for b in batcher.add("batch", {"code": "c"}, n).batches]
    assert sizes + [len(b) for b in batcher.flush()] == [100, 1]


def test_spec_example_fails_its_own_schema(
    spec: dict[str, Any], item_schema: Draft202012Validator
) -> None:
    # §10 "the spec's own examples fail its own schema": `properties: {gb: 10}` is an integer.
    example = spec["components"]["schemas"]["EventInputObject"]["properties"]["properties"]
    assert example["example"] == {"gb": 10}
    item = {"transaction_id": "t", "external_subscription_id": "s", "code": "c"}
    assert errors(item_schema, {**item, "properties": example["example"]}) != []
    assert (
        errors(item_schema, {**item, "properties": mapping.stringify_properties({"gb": 10})}) == []
    )
