"""Segment event → Mixpanel records (reference/mixpanel.md §2 as modified by §3).

Pure: the same event, route and options always give the same records, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cdpcli.destinations.base import Mapped, Record, RouteInfo
from cdpcli.destinations.mixpanel.convert import (
    CONVERTERS,
    DROPPED_BY_SEGMENT,
    FAIL,
    not_a,
    to_string,
)
from cdpcli.destinations.mixpanel.fields import (
    INTEGER,
    NUMBER,
    STRING,
    Problem,
    Type,
    as_object,
)
from cdpcli.destinations.mixpanel.properties import (
    add_properties,
    distinct_id,
    distinct_id_of,
    insert_id,
    is_banned,
    present,
    segment_id,
    track_check,
    track_fields,
)
from cdpcli.destinations.mixpanel.settings import MixpanelOptions, render_template

IMPORT, ENGAGE, GROUPS = "import", "engage", "groups"

MAX_PROPERTIES = 255  # reference §1.2: "fewer than 255 properties"
MIN_TIME_MS = 31_536_000_000  # 1971-01-01T00:00:00Z: earlier times are rejected (§1.2)

MAP_KEYS = ("event", "properties")
"""Route `map` keys a Mixpanel route may set (track/page/screen only)."""

# reference §2.5: order-level keys dropped from per-product events, and the product keys copied.
_ORDER_ONLY = frozenset(
    {
        "affiliation",
        "subtotal",
        "total",
        "revenue",
        "shipping",
        "tax",
        "discount",
        "coupon",
        "currency",
        "order_number",
        "products",
    }
)
# reference §2.5, §2.6: the product keys copied, in that order, with the type Segment declares for
# each (MP/mixpanel-properties.ts `productsProperties`). Inside a product nothing empty is left out
# first (Segment's core does not look into array items): null converts to "" or 0.
PRODUCT_FIELDS: tuple[tuple[str, Type], ...] = (
    ("product_id", STRING),
    ("sku", STRING),
    ("category", STRING),
    ("name", STRING),
    ("brand", STRING),
    ("variant", STRING),
    ("price", NUMBER),
    ("quantity", INTEGER),
    ("coupon", STRING),
    ("position", NUMBER),
    ("url", STRING),
    ("image_url", STRING),
)
ORDER_COMPLETED = "Order Completed"
PRODUCT_PURCHASED = "Product Purchased"
# reference §2.4: traits renamed on /engage (their `$` names are appended by `engage_set`).
_RESERVED_TRAITS = frozenset(
    {"created", "createdAt", "created_at", "email", "firstName", "lastName", "name", "username"}
    | {"phone"}
)
_GROUP_RESERVED = frozenset({"created", "createdAt", "created_at", "name"})


def _banned_reason(value: str) -> str:
    return (
        f"distinct_id {value!r} is a value Mixpanel refuses as an id "
        "(placeholders such as 'null', 'anonymous', '0' are banned)"
    )


def product_records(
    order: Mapping[str, Any],
    *,
    message_id: str,
    time_ms: int,
    qualifier: str | None,
    problems: list[Problem] | None = None,
) -> list[dict[str, Any]]:
    """The "Product Purchased" events of an "Order Completed" (§2.5, §3f), built from the
    order record's properties (so a route's `map.properties` reaches them too). A product value
    that cannot be converted to its type is left out of its event, and added to `problems`."""
    products = order.get("products")
    if not isinstance(products, list):
        return []
    base = {k: v for k, v in order.items() if k not in _ORDER_ONLY}
    records = []
    for i, product in enumerate(products):
        if not isinstance(product, Mapping):
            continue  # §3f: non-object entries skipped (indexes keep their position)
        props = dict(base)
        props["$insert_id"] = insert_id(message_id, qualifier, i)
        props["time"] = time_ms - (i + 1)
        _add_product(props, product, i, problems)
        records.append({"event": PRODUCT_PURCHASED, "properties": props})
    return records


def _add_product(
    props: dict[str, Any], product: Mapping[str, Any], index: int, problems: list[Problem] | None
) -> None:
    for key, type_name in PRODUCT_FIELDS:
        if key in product:
            value = CONVERTERS[type_name](product[key])
            if value is not FAIL:
                props[key] = value
            elif problems is not None:
                message = f"{PRODUCT_PURCHASED} {index} sent without {key} {DROPPED_BY_SEGMENT}"
                problems.append(
                    (
                        f"properties.products[{index}].{key}",
                        f"{not_a(type_name, product[key])}; {message}",
                    )
                )


def product_problems(products: Any) -> list[Problem]:
    """The product values of an order's `properties.products` that cannot be converted."""
    problems: list[Problem] = []
    if isinstance(products, list):
        for i, product in enumerate(products):
            if isinstance(product, Mapping):
                _add_product({}, product, i, problems)
    return problems


def _event_name(event: Mapping[str, Any], options: MixpanelOptions) -> str | None:
    kind = event.get("type")
    if kind == "track":
        name = event.get("event")
        return name if isinstance(name, str) and name else None
    name, category = event.get("name"), event.get("category")
    name = name if isinstance(name, str) else ""
    category = category if isinstance(category, str) else ""
    if kind == "page":
        template = options.page_event if name else options.page_event_unnamed
    else:
        template = options.screen_event if name else options.screen_event_unnamed
    key = (template, name, category)
    rendered = _RENDERED.get(key)
    if rendered is None:
        rendered = render_template(template, {"name": name, "category": category})
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.clear()
        _RENDERED[key] = rendered
    return rendered


# Page and screen names repeat across a backfill: their rendered event names are kept.
_RENDERED: dict[tuple[str, str, str], str] = {}
_RENDERED_MAX = 4096


def _check_overrides(route: RouteInfo) -> str | None:
    for key in route.overrides:
        if key not in MAP_KEYS:
            return (
                f"route {route.name!r}: map key {key!r} is not supported for a mixpanel "
                f"destination (allowed: {', '.join(MAP_KEYS)})"
            )
    name = route.overrides.get("event")
    if "event" in route.overrides and not (isinstance(name, str) and name):
        return f"route {route.name!r}: map.event must be a non-empty string, got {name!r}"
    props = route.overrides.get("properties")
    if "properties" in route.overrides and not isinstance(props, Mapping):
        return f"route {route.name!r}: map.properties must be an object, got {props!r}"
    return None


def _import_checks(properties: Mapping[str, Any]) -> str | None:
    if len(properties) >= MAX_PROPERTIES:
        return f"{len(properties)} properties; Mixpanel accepts fewer than {MAX_PROPERTIES}"
    if properties["time"] < MIN_TIME_MS:
        return "event time is before 1971-01-01, which Mixpanel rejects"
    return None


_NO_OVERRIDES: Mapping[str, Any] = {}


def map_track(
    event: Mapping[str, Any], *, time_ms: int, route: RouteInfo, options: MixpanelOptions
) -> Mapped:
    """track, page, screen → one `/import` record, plus per-product events for an order."""
    overrides = route.overrides
    extra: Mapping[str, Any] = _NO_OVERRIDES
    if overrides:
        problem = _check_overrides(route)
        if problem:
            return Mapped(rejected=problem)
        extra = as_object(overrides.get("properties"))
    name = _event_name(event, options)
    if name is None:
        return Mapped(rejected="track event has no event name")
    user_id, anon_id = segment_id(event.get("userId")), segment_id(event.get("anonymousId"))
    did = distinct_id_of(user_id, anon_id, options)
    if did and is_banned(did):
        return Mapped(rejected=_banned_reason(did))
    insert = insert_id(str(event["messageId"]), route.qualifier)
    properties = as_object(event.get("properties"))
    if extra:
        properties = {**properties, **extra}
    props, problems = track_fields(event, time_ms, did, insert, user_id, anon_id, properties)
    add_properties(props, properties)
    record: dict[str, Any] = {"event": overrides.get("event", name) if overrides else name}
    record["properties"] = props
    if name != ORDER_COMPLETED or not options.product_events or event.get("type") != "track":
        problem = _import_checks(props)  # the common case: one record
        if problem:
            return Mapped(rejected=f"{record['event']}: {problem}")
        if problems:
            return Mapped((Record(IMPORT, record),), warnings=_warnings(problems))
        return Mapped((Record(IMPORT, record),))
    records = [record]
    found = list(problems)
    records += product_records(
        props,
        message_id=str(event["messageId"]),
        time_ms=time_ms,
        qualifier=route.qualifier,
        problems=found,
    )
    for record in records:
        problem = _import_checks(record["properties"])
        if problem:
            return Mapped(rejected=f"{record['event']}: {problem}")
    return Mapped(records=tuple([Record(IMPORT, r) for r in records]), warnings=_warnings(found))


def _warnings(problems: Iterable[Problem]) -> tuple[str, ...]:
    return tuple(f"{path}: {message}" for path, message in problems)


# A trait that is not there (JavaScript's undefined, which JSON.stringify leaves out), as against
# one that is null (sent as null: traits are an untyped object, §2.6).
_ABSENT: Any = object()
_CREATED = ("created", "createdAt", "created_at")


def engage_set(traits: Mapping[str, Any]) -> dict[str, Any]:
    """`$set` of an identify: traits minus reserved ones, then their `$` names (§2.4). A reserved
    trait that is null stays null (`{"email": null}` → `"$email": null`), as Segment sends it."""
    result = {k: v for k, v in traits.items() if k not in _RESERVED_TRAITS}
    name = traits.get("name")
    if name is None:  # name ?? (firstName && lastName ? "<first> <last>" : undefined)
        first, last = traits.get("firstName"), traits.get("lastName")
        name = f"{first} {last}" if first and last else _ABSENT
    renamed = (
        ("$created", _coalesce(traits, _CREATED)),
        ("$email", traits.get("email", _ABSENT)),
        ("$first_name", traits.get("firstName", _ABSENT)),
        ("$last_name", traits.get("lastName", _ABSENT)),
        ("$name", name),
        ("$username", traits.get("username", _ABSENT)),
        ("$phone", traits.get("phone", _ABSENT)),
    )
    result.update((k, v) for k, v in renamed if v is not _ABSENT)
    return result


def group_set(traits: Mapping[str, Any]) -> dict[str, Any]:
    """`$set` of a group: traits minus `created*` and `name`, then `$name`, `$created` (§2.5),
    a null one kept as null."""
    result = {k: v for k, v in traits.items() if k not in _GROUP_RESERVED}
    renamed = (("$name", traits.get("name", _ABSENT)), ("$created", _coalesce(traits, _CREATED)))
    result.update((k, v) for k, v in renamed if v is not _ABSENT)
    return result


def _coalesce(traits: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """JavaScript's `traits[a] ?? traits[b] ?? traits[c]`: the first that is neither null nor
    absent, else the last one as it is (null, or absent)."""
    value = _ABSENT
    for key in keys:
        value = traits.get(key, _ABSENT)
        if value is not None and value is not _ABSENT:
            return value
    return value


def map_identify(
    event: Mapping[str, Any],
    *,
    time_ms: int,
    route: RouteInfo,
    options: MixpanelOptions,
    token: str,
) -> Mapped:
    """identify → `/engage` `$set` (if traits), plus `$identify` via /import in original mode."""
    user_id, anon_id = segment_id(event.get("userId")), segment_id(event.get("anonymousId"))
    records: list[Record] = []
    problem: Problem | None = None
    if options.identity == "original" and user_id is not None and anon_id is not None:
        if is_banned(user_id):
            return Mapped(rejected=_banned_reason(user_id))
        props = {
            "time": time_ms,
            "distinct_id": user_id,
            "$identified_id": user_id,
            "$anon_id": anon_id,
            "$insert_id": insert_id(str(event["messageId"]), route.qualifier),
        }
        records.append(Record(IMPORT, {"event": "$identify", "properties": props}))
    traits = as_object(event.get("traits"))
    if traits:
        did = distinct_id(event, options)
        if not did:
            return Mapped(rejected="identify has neither userId nor anonymousId")
        if is_banned(did):
            return Mapped(rejected=_banned_reason(did))
        ip, problem = engage_ip(event)
        item: dict[str, Any] = {"$token": token, "$distinct_id": did}
        item["$ip"] = ip
        if options.ignore_time:
            item["$ignore_time"] = True  # §3d
        item["$set"] = engage_set(traits)
        records.append(Record(ENGAGE, item))
    if not records:
        return Mapped(skipped="nothing to set: identify without traits")
    if problem is not None:
        return Mapped(records=tuple(records), warnings=_warnings((problem,)))
    return Mapped(records=tuple(records))


def engage_ip(event: Mapping[str, Any]) -> tuple[str, Problem | None]:
    """`$ip` of an `/engage` update: context.ip as a string (§2.6), else "0" (§3h), with the
    problem when context.ip is there but cannot be converted."""
    ip = as_object(event.get("context")).get("ip")
    if not present(ip):
        return "0", None
    converted = to_string(ip)
    if converted is FAIL:
        message = f"{not_a(STRING, ip)}; read as missing for $ip {DROPPED_BY_SEGMENT}"
        return "0", ("context.ip", message)
    return converted or "0", None


def map_group(event: Mapping[str, Any], *, options: MixpanelOptions, token: str) -> Mapped:
    """group → one `/groups` `$set`; skipped when there is nothing to set (§3 Consequences)."""
    traits = as_object(event.get("traits"))
    if not traits:
        return Mapped(skipped="nothing to set: group without traits")
    group_id = traits.get(options.group_key)
    if isinstance(group_id, (int, float)) and not isinstance(group_id, bool):
        group_id = str(group_id)
    if not (isinstance(group_id, str) and group_id):
        group_id = segment_id(event.get("groupId"))
    if group_id is None:
        return Mapped(rejected=f"group has no groupId and no trait {options.group_key!r}")
    item: dict[str, Any] = {"$token": token, "$group_key": options.group_key}
    item["$group_id"] = group_id
    if options.ignore_time:
        item["$ignore_time"] = True
    item["$set"] = group_set(traits)
    return Mapped(records=(Record(GROUPS, item),))


def map_alias(
    event: Mapping[str, Any], *, time_ms: int, route: RouteInfo, options: MixpanelOptions
) -> Mapped:
    """alias → skipped (simplified) or `$create_alias` via /import (original), §3c."""
    if options.identity == "simplified":
        return Mapped(skipped="alias has no effect under Simplified ID Merge")
    previous = segment_id(event.get("previousId"))
    alias = segment_id(event.get("userId")) or segment_id(event.get("anonymousId"))
    if previous is None or alias is None:
        return Mapped(rejected="alias needs previousId and userId (or anonymousId)")
    for value in (previous, alias):
        if is_banned(value):
            return Mapped(rejected=_banned_reason(value))
    props = {
        "time": time_ms,
        "distinct_id": previous,
        "alias": alias,
        "$insert_id": insert_id(str(event["messageId"]), route.qualifier),
    }
    return Mapped(records=(Record(IMPORT, {"event": "$create_alias", "properties": props}),))


def map_event(
    event: Mapping[str, Any],
    *,
    time_ms: int | None,
    route: RouteInfo,
    options: MixpanelOptions,
    token: str,
) -> Mapped:
    """One normalized Segment event → the Mixpanel records it becomes for `route`."""
    if time_ms is None:
        return Mapped(rejected="no usable event time")
    kind = event.get("type")
    if kind in ("track", "page", "screen"):
        return map_track(event, time_ms=time_ms, route=route, options=options)
    if kind == "identify":
        return map_identify(event, time_ms=time_ms, route=route, options=options, token=token)
    if kind == "group":
        return map_group(event, options=options, token=token)
    if kind == "alias":
        return map_alias(event, time_ms=time_ms, route=route, options=options)
    return Mapped(rejected=f"event type {kind!r} cannot be sent to Mixpanel")


def field_warnings(event: Mapping[str, Any]) -> list[Problem]:
    """The values of `event` that cannot be converted to the type Segment declares for them
    (reference/mixpanel.md §2.6), under default options, each as (path, message): what
    `map_event` reports in `Mapped.warnings` (as "<path>: <message>"), whatever else it decides.
    Cheap for an event without such a value (`track_check`), as `validate` asks it of every one."""
    kind = event.get("type")
    if kind in ("track", "page", "screen"):
        properties = as_object(event.get("properties"))
        found: list[Problem] = []
        if track_check(event):
            found += track_fields(event, 0, "", "", None, None, properties)[1]
        if kind == "track" and event.get("event") == ORDER_COMPLETED:
            found += product_problems(properties.get("products"))
        return found
    if kind == "identify" and as_object(event.get("traits")):
        problem = engage_ip(event)[1]
        return [] if problem is None else [problem]
    return []
