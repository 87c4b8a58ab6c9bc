"""Ids and the track-property table of Mixpanel records (reference/mixpanel.md §2.1, §3a, §3c,
§3h): the part of the mapping shared by track, page, screen and per-product events."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from cdpcli.destinations.mixpanel.settings import MixpanelOptions
from cdpcli.destinations.mixpanel.useragent import parse_user_agent

# reference §1.2: values Mixpanel refuses as distinct_id / $insert_id (case unstated: compared
# case-insensitively).
BANNED_IDS = frozenset(
    {
        "00000000-0000-0000-0000-000000000000",
        "anon",
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        "<nil>",
        "0",
        "-1",
        "true",
        "false",
        "[]",
        "{}",
    }
)
_INSERT_ID_OK = re.compile(r"[A-Za-z0-9-]{1,36}")  # reference §1.2: ≤ 36 bytes of [A-Za-z0-9-]
# reference §2.1: properties keys that never override the computed ones.
_STRIPPED = frozenset(
    {"time", "id", "$anon_id", "distinct_id", "$group_id", "$insert_id", "$user_id"}
)
# reference §2.1: userAgentData → properties; the boolean ones drop "" like top-level fields.
_UA_DATA = (
    ("$mobile", "mobile", False),
    ("$platform", "platform", True),
    ("$bitness", "bitness", True),
    ("$platformVersion", "platformVersion", True),
    ("$uaFullVersion", "uaFullVersion", True),
    ("$wow64", "wow64", False),
)
_UTM = (
    ("utm_campaign", "name"),
    ("utm_content", "content"),
    ("utm_medium", "medium"),
    ("utm_source", "source"),
    ("utm_term", "term"),
)


def is_banned(value: str) -> bool:
    """Whether Mixpanel refuses `value` as a distinct_id or `$insert_id` (reference §1.2)."""
    return value.lower() in BANNED_IDS


def insert_id(message_id: str, route: str | None = None, product: int | None = None) -> str:
    """Deterministic `$insert_id` (reference §3a).

    The messageId itself when it is 1-36 bytes of [A-Za-z0-9-] and not banned; else the first
    36 hex chars of SHA-256 of it. A later route qualifies with `:route:<name>`, a product with
    `:product:<i>` (always hashed: `:` is not an allowed character).
    """
    source = message_id
    if route is not None:
        source += f":route:{route}"
    if product is not None:
        source += f":product:{product}"
    if len(source) <= 36 and _INSERT_ID_OK.fullmatch(source) and not is_banned(source):
        return source
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:36]


_EMPTY: Mapping[str, Any] = {}


def as_object(value: Any) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one (never to be mutated)."""
    return value if type(value) is dict else _EMPTY


def segment_id(value: Any) -> str | None:
    """A Segment id, or None when missing or empty."""
    return value if type(value) is str and value != "" else None


def present(value: Any) -> bool:
    """Top-level empty-value rule of reference §2.1: "" and null are dropped."""
    return value is not None and value != ""


def distinct_id(event: Mapping[str, Any], options: MixpanelOptions) -> str:
    """userId, else `$device:<anonymousId>` (simplified) or anonymousId (original), else ""."""
    user_id, anon_id = segment_id(event.get("userId")), segment_id(event.get("anonymousId"))
    if user_id is not None:
        return user_id
    if anon_id is None:
        return ""
    return f"$device:{anon_id}" if options.identity == "simplified" else anon_id


def track_properties(  # noqa: C901, PLR0912, PLR0915 - one straight pass over §2.1's table
    event: Mapping[str, Any],
    *,
    time_ms: int,
    options: MixpanelOptions,
    insert: str,
    extra: Mapping[str, Any],
    did: str,
) -> dict[str, Any]:
    """The `properties` of a track/page/screen record, keys in §2.1 order, §3h applied. `did`
    is the event's `distinct_id(event, options)`, which the caller has already worked out.

    This runs for every event of a backfill, so it is one straight pass, written out field by
    field: no per-field objects, no loops over the table. Outside the grouped fields (campaign,
    userAgentData) and the ones §2.1 keeps even when "" ($browser, distinct_id), a value that
    is null or "" is dropped.
    """
    get = event.get
    ctx = as_object(get("context"))
    cget = ctx.get
    app, device = as_object(cget("app")), as_object(cget("device"))
    network, library = as_object(cget("network")), as_object(cget("library"))
    screen, os_, page = as_object(cget("screen")), as_object(cget("os")), as_object(cget("page"))
    props = as_object(get("properties"))
    if extra:
        props = {**props, **extra}
    user_id, anon_id = segment_id(get("userId")), segment_id(get("anonymousId"))
    ip = cget("ip")
    if ip is None or ip == "":
        ip = None if "ip" in props else "0"  # §3h: no location rather than the backfill machine's
    result: dict[str, Any] = {"time": time_ms}
    if ip is not None:
        result["ip"] = ip
    if did != "":
        result["id"] = did
    if anon_id is not None:
        result["$anon_id"] = anon_id
    result["distinct_id"] = did  # required by Mixpanel, "" meaning "no user"
    if app:
        if (value := app.get("build")) is not None and value != "":
            result["$app_build_number"] = value
        if (value := app.get("version")) is not None and value != "":
            result["$app_version_string"] = value
        if (value := app.get("namespace")) is not None and value != "":
            result["$app_namespace"] = value
        if (value := app.get("name")) is not None and value != "":
            result["$app_name"] = value
    ua = cget("userAgent")
    if type(ua) is str and ua:
        browser, version = parse_user_agent(ua)
        result["$browser"] = browser  # an unknown agent still sends "$browser": "" (§2.1)
        if version is not None and version != "":
            result["$browser_version"] = version
    if network:
        if (value := network.get("bluetooth")) is not None and value != "":
            result["$bluetooth_enabled"] = value
        if (value := network.get("cellular")) is not None and value != "":
            result["$cellular_enabled"] = value
        if (value := network.get("carrier")) is not None and value != "":
            result["$carrier"] = value
    if (value := page.get("url")) is not None and value != "":
        result["$current_url"] = value
    device_name = device.get("name")
    if device_name is not None and device_name != "":
        result["$device"] = device_name
    if anon_id is not None:
        result["$device_id"] = anon_id  # §3c: anonymousId, not context.device.id
    if (value := device.get("type")) is not None and value != "":
        result["$device_type"] = value
    if device_name is not None and device_name != "":
        result["$device_name"] = device_name
    if (value := cget("groupId")) is not None and value != "":
        result["$group_id"] = value
    if user_id is not None:
        result["$identified_id"] = user_id
    if insert != "":
        result["$insert_id"] = insert
    advertising_id = device.get("advertisingId")
    if advertising_id is not None and advertising_id != "":
        result["$ios_ifa"] = advertising_id
    elif (value := device.get("idfa")) is not None and value != "":
        result["$ios_ifa"] = value
    if (value := library.get("version")) is not None and value != "":
        result["$lib_version"] = value
    if (value := cget("locale")) is not None and value != "":
        result["$locale"] = value
    if device:
        if (value := device.get("manufacturer")) is not None and value != "":
            result["$manufacturer"] = value
        if (value := device.get("model")) is not None and value != "":
            result["$model"] = value
    if os_:
        if (value := os_.get("name")) is not None and value != "":
            result["$os"] = value
        if (value := os_.get("version")) is not None and value != "":
            result["$os_version"] = value
    if (value := page.get("referrer")) is not None and value != "":
        result["$referrer"] = value
    if screen:
        if (value := screen.get("height")) is not None and value != "":
            result["$screen_height"] = value
        if (value := screen.get("width")) is not None and value != "":
            result["$screen_width"] = value
        if (value := screen.get("density")) is not None and value != "":
            result["$screen_density"] = value
    iterable = as_object(cget("integration")).get("name") == "Iterable"
    result["$source"] = "Iterable" if iterable else "segment"
    if user_id is not None:
        result["$user_id"] = user_id
    if (value := network.get("wifi")) is not None and value != "":
        result["$wifi_enabled"] = value
    if (value := as_object(cget("location")).get("country")) is not None and value != "":
        result["mp_country_code"] = value
    library_name = library.get("name")
    if library_name is not None and library_name != "":
        result["mp_lib"] = f"Segment Actions: {library_name}"
    # segment_source_name: Actions' setting; cdpcli has none (§3 "Consequences").
    campaign = as_object(cget("campaign"))
    if campaign:
        for key, source in _UTM:  # grouped fields: null dropped, "" kept (§2.1)
            value = campaign.get(source)
            if value is not None:
                result[key] = value
    if advertising_id is not None and advertising_id != "":
        result["advertising_id"] = advertising_id
    if (value := device.get("adTrackingEnabled")) is not None and value != "":
        result["ad_tracking_enabled"] = value
    if (value := cget("timezone")) is not None and value != "":
        result["timezone"] = value
    if (value := app.get("platform")) is not None and value != "":
        result["app_platform"] = value
    original_name = get("event")
    if original_name is None or original_name == "":
        original_name = get("name")
    if original_name is not None and original_name != "":
        result["event_original_name"] = original_name
    ua_data = as_object(cget("userAgentData"))
    if ua_data:
        for key, source, keeps_empty in _UA_DATA:
            value = ua_data.get(source)
            if value is not None and (keeps_empty or value != ""):
                result[key] = value
    if props.keys().isdisjoint(_STRIPPED):
        result.update(props)  # properties override computed keys in place
    else:
        stripped = _STRIPPED
        for key, value in props.items():
            if key not in stripped:
                result[key] = value
    return result
