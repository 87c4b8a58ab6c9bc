"""Ids and the track-property table of Mixpanel records (reference/mixpanel.md §2.1, §3a, §3c,
§3h): the part of the mapping shared by track, page, screen and per-product events."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from cdpcli.destinations.mixpanel_options import MixpanelOptions
from cdpcli.destinations.mixpanel_useragent import parse_user_agent

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
    if _INSERT_ID_OK.fullmatch(source) and not is_banned(source):
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


# Keys of §2.1 in order, in runs whose values follow the top-level empty-value rule ("" and
# null dropped). The runs are filled by `track_properties` in this order, with the fields that
# keep "" ($browser, distinct_id, the grouped campaign and userAgentData fields) between them.
_APP_KEYS = ("$app_build_number", "$app_version_string", "$app_namespace", "$app_name")
_MIDDLE_KEYS = (
    "$bluetooth_enabled",
    "$cellular_enabled",
    "$carrier",
    "$current_url",
    "$device",
    "$device_id",  # §3c: anonymousId, not context.device.id
    "$device_type",
    "$device_name",
    "$group_id",
    "$identified_id",
    "$insert_id",
    "$ios_ifa",
    "$lib_version",
    "$locale",
    "$manufacturer",
    "$model",
    "$os",
    "$os_version",
    "$referrer",
    "$screen_height",
    "$screen_width",
    "$screen_density",
    "$source",
    "$user_id",
    "$wifi_enabled",
    "mp_country_code",
    "mp_lib",
    # segment_source_name: Actions' setting; cdpcli has none (§3 "Consequences").
)
_TAIL_KEYS = ("advertising_id", "ad_tracking_enabled", "timezone", "app_platform")


def track_properties(  # noqa: C901, PLR0912 - one straight pass over the table of §2.1
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

    This runs for every event of a backfill, so it is one straight pass: no per-field objects.
    """
    get = event.get
    ctx = as_object(get("context"))
    cget = ctx.get
    app = as_object(cget("app"))
    device = as_object(cget("device"))
    network = as_object(cget("network"))
    library = as_object(cget("library"))
    screen = as_object(cget("screen"))
    os_ = as_object(cget("os"))
    page = as_object(cget("page"))
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
    for key, value in zip(
        _APP_KEYS,
        (app.get("build"), app.get("version"), app.get("namespace"), app.get("name")),
        strict=True,
    ):
        if value is not None and value != "":
            result[key] = value
    ua = cget("userAgent")
    if type(ua) is str and ua:
        browser, version = parse_user_agent(ua)
        result["$browser"] = browser  # an unknown agent still sends "$browser": "" (§2.1)
        if version is not None and version != "":
            result["$browser_version"] = version
    advertising_id = device.get("advertisingId")
    library_name = library.get("name")
    integration = as_object(cget("integration")).get("name")
    middle = (
        network.get("bluetooth"),
        network.get("cellular"),
        network.get("carrier"),
        page.get("url"),
        device.get("name"),
        anon_id,
        device.get("type"),
        device.get("name"),
        cget("groupId"),
        user_id,
        insert,
        advertising_id
        if advertising_id is not None and advertising_id != ""
        else device.get("idfa"),
        library.get("version"),
        cget("locale"),
        device.get("manufacturer"),
        device.get("model"),
        os_.get("name"),
        os_.get("version"),
        page.get("referrer"),
        screen.get("height"),
        screen.get("width"),
        screen.get("density"),
        "Iterable" if integration == "Iterable" else "segment",
        user_id,
        network.get("wifi"),
        as_object(cget("location")).get("country"),
        f"Segment Actions: {library_name}"
        if library_name is not None and library_name != ""
        else None,
    )
    for key, value in zip(_MIDDLE_KEYS, middle, strict=True):
        if value is not None and value != "":
            result[key] = value
    campaign = as_object(cget("campaign"))
    if campaign:
        for key, source in _UTM:  # grouped fields: null dropped, "" kept (§2.1)
            value = campaign.get(source)
            if value is not None:
                result[key] = value
    original_name = get("event")
    if original_name is None or original_name == "":
        original_name = get("name")
    tail = (
        advertising_id,
        device.get("adTrackingEnabled"),
        cget("timezone"),
        app.get("platform"),
        original_name,
    )
    for key, value in zip((*_TAIL_KEYS, "event_original_name"), tail, strict=True):
        if value is not None and value != "":
            result[key] = value
    ua_data = as_object(cget("userAgentData"))
    if ua_data:
        for key, source, keeps_empty in _UA_DATA:
            value = ua_data.get(source)
            if value is not None and (keeps_empty or value != ""):
                result[key] = value
    stripped = _STRIPPED
    for key, value in props.items():
        if key not in stripped:
            result[key] = value  # properties override computed keys in place
    return result
