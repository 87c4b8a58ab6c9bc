"""Field types as Segment sends them (reference/mixpanel.md §2.6, issue 19): every typed field of
the track-property table and of "Product Purchased", for a value of each JSON type, gets the value
Segment's core would send after its conversion, or, where Segment would fail the event, is left out
with a warning naming its path. The expectations are written out by hand from Ajv's rules."""

from __future__ import annotations

from typing import Any

import pytest

from cdpcli import jsonio
from cdpcli.destinations.base import Mapped, RouteInfo
from cdpcli.destinations.mixpanel import mapping
from cdpcli.destinations.mixpanel.fields import Empty
from cdpcli.destinations.mixpanel.properties import TRACK_FIELDS
from cdpcli.destinations.mixpanel.settings import MixpanelOptions

OPTIONS = MixpanelOptions(project_id="1")
ROUTE = RouteInfo(name="analytics")
ABSENT, WARN = "<absent>", "<warning>"
DROPS = "(Segment would drop the event)"


def run(event: dict[str, Any]) -> Mapped:
    return mapping.map_event(
        event, time_ms=1_700_000_000_000, route=ROUTE, options=OPTIONS, token="T"
    )


def track(context: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "E",
        "messageId": "m-1",
        "userId": "u1",
        "context": context,
        **fields,
    }


def at(path: str, value: Any) -> dict[str, Any]:
    """A context with `value` at `path` (under context)."""
    *parents, leaf = path.split(".")[1:]
    context: dict[str, Any] = {}
    holder = context
    for step in parents:
        holder = holder.setdefault(step, {})
    holder[leaf] = value
    return context


def exact(value: Any) -> str:
    """A value as JSON text, so that 1, 1.0 and true are told apart."""
    return ABSENT if value is ABSENT else jsonio.dumps(value)


# A value of each JSON type, and what Segment sends for it in a field declared string / number /
# boolean at the top level of the payload (empty values left out first, then Ajv's conversion).
VALUES = [
    # (id, value, as string, as number, as boolean)
    ("string", "abc", "abc", WARN, WARN),
    ("numeric string", "393", "393", 393, WARN),
    ("fraction string", "19.99", "19.99", 19.99, WARN),
    ("spaced hex string", " 0x1A ", " 0x1A ", 26, WARN),
    ("huge numeric string", "1e400", "1e400", None, WARN),  # Infinity, which JSON writes null
    ("number", 393, "393", 393, WARN),
    ("fraction", 2.625, "2.625", 2.625, WARN),
    ("large float", 1e21, "1e+21", 1e21, WARN),
    ("zero", 0, "0", 0, False),
    ("one", 1, "1", 1, True),
    ("false", False, "false", 0, False),
    ("true", True, "true", 1, True),
    ('"true"', "true", "true", WARN, True),
    ('"false"', "false", "false", WARN, False),
    ("null", None, ABSENT, ABSENT, ABSENT),
    ('""', "", ABSENT, ABSENT, ABSENT),
    ("one-item array", ["393"], "393", 393, WARN),
    ("[true]", [True], "true", 1, True),
    ("[null]", [None], "", 0, False),
    ("[object]", [{"a": 1}], WARN, WARN, WARN),
    ("two-item array", ["a", "b"], WARN, WARN, WARN),
    ("empty array", [], WARN, WARN, WARN),
    ("object", {"a": 1}, WARN, WARN, WARN),
]
COLUMN = {"string": 2, "number": 3, "boolean": 4}
# Paths two keys read: a value that cannot be converted leaves both out.
SHARED = {
    "context.device.name": ["$device", "$device_name"],
    "context.device.advertisingId": ["$ios_ifa", "advertising_id"],
}
PATH_ROWS = [
    pytest.param(row.key, row.source, row.type, row.empty, id=row.key)
    for row in TRACK_FIELDS
    if isinstance(row.source, str) and row.type is not None
]


def test_every_typed_path_row_is_covered() -> None:
    keys = {param.values[0] for param in PATH_ROWS}
    assert len(keys) == 39
    assert {"ad_tracking_enabled", "$screen_width", "$wifi_enabled", "utm_term", "$wow64"} <= keys


@pytest.mark.parametrize(("key", "path", "type_name", "empty"), PATH_ROWS)
@pytest.mark.parametrize("case", VALUES, ids=[case[0] for case in VALUES])
def test_each_typed_field_for_each_json_type(
    key: str, path: str, type_name: str, empty: Empty, case: tuple[Any, ...]
) -> None:
    value = case[1]
    expected = case[COLUMN[type_name]]
    if empty is Empty.DROP_NULL and value == "":
        expected = ""  # a string inside a grouped object: "" is kept (§2.1)
    mapped = run(track(at(path, value)))
    props = mapped.records[0].item["properties"]
    keys = SHARED.get(path, [key])
    if expected is WARN:
        assert all(k not in props for k in keys)
        shown = jsonio.dumps(value)
        article = "an" if type_name == "integer" else "a"
        message = f"{shown} is not {article} {type_name}; sent without {', '.join(keys)} {DROPS}"
        assert mapped.warnings == (f"{path}: {message}",)
        assert mapping.field_warnings(track(at(path, value))) == [(path, message)]
    else:
        assert exact(props.get(key, ABSENT)) == exact(expected)
        assert mapped.warnings == ()
        assert mapping.field_warnings(track(at(path, value))) == []


# ---------------------------------------------------------------- the computed keys (typed inputs)


@pytest.mark.parametrize(
    ("value", "ip", "warning"),
    [
        ("203.0.113.9", "203.0.113.9", None),
        (2030113, "2030113", None),
        (None, "0", None),
        ("", "0", None),
        ([""], "0", None),
        (["203.0.113.9"], "203.0.113.9", None),
        (
            {"v4": "203.0.113.9"},
            "0",
            'context.ip: {"v4":"203.0.113.9"} is not a string; read as missing for ip ' + DROPS,
        ),
    ],
)
def test_ip_is_a_string_and_one_that_cannot_be_is_missing(
    value: Any, ip: str, warning: str | None
) -> None:
    mapped = run(track({"ip": value}))
    assert mapped.records[0].item["properties"]["ip"] == ip  # §3h: never the machine's location
    assert mapped.warnings == (() if warning is None else (warning,))


@pytest.mark.parametrize(
    ("value", "mp_lib"),
    [
        ("analytics.js", "Segment Actions: analytics.js"),
        (5, "Segment Actions: 5"),
        (True, "Segment Actions: true"),
        (1.5, "Segment Actions: 1.5"),
        ([None], ""),  # Segment: library_name && …, with library_name ""
        ("", ABSENT),
        ({"a": 1}, ABSENT),
    ],
)
def test_mp_lib_prefixes_the_library_name_as_a_string(value: Any, mp_lib: str) -> None:
    mapped = run(track({"library": {"name": value}}))
    assert mapped.records[0].item["properties"].get("mp_lib", ABSENT) == mp_lib
    assert bool(mapped.warnings) == isinstance(value, dict)


@pytest.mark.parametrize(
    ("device", "ios_ifa", "advertising_id"),
    [
        ({"advertisingId": 123}, "123", "123"),
        ({"advertisingId": "", "idfa": 456}, "456", ABSENT),
        ({"advertisingId": [None], "idfa": "i"}, "", ""),
        ({"advertisingId": {"a": 1}, "idfa": "i"}, "i", ABSENT),  # read as missing: the fallback
    ],
)
def test_ios_ifa_and_advertising_id_are_strings(
    device: dict[str, Any], ios_ifa: Any, advertising_id: Any
) -> None:
    mapped = run(track({"device": device}))
    props = mapped.records[0].item["properties"]
    assert (props.get("$ios_ifa", ABSENT), props.get("advertising_id", ABSENT)) == (
        ios_ifa,
        advertising_id,
    )
    if isinstance(device["advertisingId"], dict):
        assert mapped.warnings == (
            'context.device.advertisingId: {"a":1} is not a string; sent without '
            f"advertising_id; read as missing for $ios_ifa {DROPS}",
        )


@pytest.mark.parametrize(
    ("ua", "browser"),
    [
        (12345, ("", ABSENT)),  # String(12345): an agent no rule knows
        (
            ["Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"],
            ("Firefox", "125.0"),
        ),
        ([""], (ABSENT, ABSENT)),
        ({"ua": "x"}, (ABSENT, ABSENT)),
    ],
)
def test_the_user_agent_is_read_as_a_string(ua: Any, browser: tuple[Any, Any]) -> None:
    mapped = run(track({"userAgent": ua}))
    props = mapped.records[0].item["properties"]
    assert (props.get("$browser", ABSENT), props.get("$browser_version", ABSENT)) == browser
    if isinstance(ua, dict):
        assert mapped.warnings == (
            f'context.userAgent: {{"ua":"x"}} is not a string; sent without $browser, '
            f"$browser_version {DROPS}",
        )


def test_event_original_name_is_a_string() -> None:
    page = {"type": "page", "name": 404, "messageId": "m-1", "userId": "u1"}
    props = run(page).records[0].item["properties"]
    assert props["event_original_name"] == "404"


# ---------------------------------------------------------------- the issue's examples, M2


def test_the_examples_of_issue_19() -> None:
    context = {
        "device": {"adTrackingEnabled": False},
        "app": {"build": 5201},
        "screen": {"width": "393"},
        "network": {"wifi": "true"},
        "campaign": {"term": 2024},
    }
    props = run(track(context)).records[0].item["properties"]
    assert (props["ad_tracking_enabled"], props["$app_build_number"]) == ("false", "5201")
    assert (props["$screen_width"], props["$wifi_enabled"], props["utm_term"]) == (
        393,
        True,
        "2024",
    )


# ---------------------------------------------------------------- Product Purchased


def order(*products: Any) -> dict[str, Any]:
    return track(
        {}, event="Order Completed", properties={"order_id": "o1", "products": list(products)}
    )


# Inside a product item nothing empty is left out first: null converts, "" is kept for strings.
PRODUCT_VALUES = [
    # (id, value, as string, as number, as integer)
    ("string", "abc", "abc", WARN, WARN),
    ("numeric string", "2", "2", 2, 2),
    ("fraction string", "19.99", "19.99", 19.99, WARN),
    ("number", 123, "123", 123, 123),
    ("fraction", 12.5, "12.5", 12.5, WARN),
    ("integral float", 2.0, "2", 2.0, 2.0),  # left as it is: already of the type
    ("boolean", True, "true", 1, 1),
    ('"true"', "true", "true", WARN, WARN),
    ("null", None, "", 0, 0),
    ('""', "", "", WARN, WARN),
    ("one-item array", ["7"], "7", 7, 7),
    ("object", {"a": 1}, WARN, WARN, WARN),
]
PRODUCT_TYPES = [
    ("product_id", "string"),
    ("sku", "string"),
    ("category", "string"),
    ("name", "string"),
    ("brand", "string"),
    ("variant", "string"),
    ("price", "number"),
    ("quantity", "integer"),
    ("coupon", "string"),
    ("position", "number"),
    ("url", "string"),
    ("image_url", "string"),
]
PRODUCT_COLUMN = {"string": 2, "number": 3, "integer": 4}


@pytest.mark.parametrize(("key", "type_name"), PRODUCT_TYPES, ids=[k for k, _ in PRODUCT_TYPES])
@pytest.mark.parametrize("case", PRODUCT_VALUES, ids=[case[0] for case in PRODUCT_VALUES])
def test_each_product_field_for_each_json_type(
    key: str, type_name: str, case: tuple[Any, ...]
) -> None:
    value, expected = case[1], case[PRODUCT_COLUMN[type_name]]
    mapped = run(order({key: value}))
    raw, product = (r.item["properties"] for r in mapped.records)
    assert raw["products"][0][key] == value  # the order's own products array: untyped, as it is
    if expected is WARN:
        assert key not in product
        article = "an" if type_name == "integer" else "a"
        message = (
            f"{jsonio.dumps(value)} is not {article} {type_name}; "
            f"Product Purchased 0 sent without {key} {DROPS}"
        )
        path = f"properties.products[0].{key}"
        assert mapped.warnings == (f"{path}: {message}",)
        assert mapping.field_warnings(order({key: value})) == [(path, message)]
    else:
        assert exact(product[key]) == exact(expected)
        assert mapped.warnings == ()


def test_product_fields_keep_their_order_and_the_event_is_kept() -> None:
    mapped = run(order({"quantity": "two", "price": "19.99", "product_id": 123, "gift": 1}, "x"))
    assert len(mapped.records) == 2 and mapped.rejected is None
    product = mapped.records[1].item["properties"]
    assert list(product)[-2:] == ["product_id", "price"]
    assert (product["product_id"], product["price"]) == ("123", 19.99)
    assert mapped.warnings == (
        'properties.products[0].quantity: "two" is not an integer; Product Purchased 0 sent '
        f"without quantity {DROPS}",
    )


# ---------------------------------------------------------------- /engage $ip


def identify(traits: dict[str, Any]) -> dict[str, Any]:
    return {"type": "identify", "messageId": "m-1", "userId": "u1", "traits": traits}


@pytest.mark.parametrize(
    ("ip", "sent", "warns"),
    [(1234, "1234", False), ([""], "0", False), ({"v": 6}, "0", True), (None, "0", False)],
)
def test_engage_ip_is_a_string(ip: Any, sent: str, warns: bool) -> None:
    event = {**identify({"plan": "pro"}), "context": {"ip": ip}}
    mapped = run(event)
    assert mapped.records[0].item["$ip"] == sent
    message = f'{{"v":6}} is not a string; read as missing for $ip {DROPS}'
    assert mapped.warnings == ((f"context.ip: {message}",) if warns else ())
    assert mapping.field_warnings(event) == ([("context.ip", message)] if warns else [])


# ---------------------------------------------------------------- field_warnings


def test_field_warnings_lists_each_path_once_in_table_order() -> None:
    context = {
        "screen": {"width": "abc", "height": 852},
        "device": {"name": {"n": 1}},
        "network": {"wifi": "yes"},
    }
    event = track(context)
    expected = [
        (
            "context.device.name",
            f'{{"n":1}} is not a string; sent without $device, $device_name {DROPS}',
        ),
        ("context.screen.width", f'"abc" is not a number; sent without $screen_width {DROPS}'),
        ("context.network.wifi", f'"yes" is not a boolean; sent without $wifi_enabled {DROPS}'),
    ]
    assert mapping.field_warnings(event) == expected
    assert run(event).warnings == tuple(f"{path}: {message}" for path, message in expected)


def test_field_warnings_of_other_events_are_empty() -> None:
    assert mapping.field_warnings({"type": "alias", "previousId": "a", "userId": "u"}) == []
    assert mapping.field_warnings(identify({})) == []  # no /engage update, so no $ip
