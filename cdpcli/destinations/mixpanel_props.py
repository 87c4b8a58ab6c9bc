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


def as_object(value: Any) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def segment_id(value: Any) -> str | None:
    """A Segment id, or None when missing or empty."""
    return value if isinstance(value, str) and value != "" else None


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


def _context_fields(ctx: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The context-derived keys of §2.1 from `$app_build_number` up to `$device`."""
    app, device, network = (
        as_object(ctx.get("app")),
        as_object(ctx.get("device")),
        as_object(ctx.get("network")),
    )
    fields: list[tuple[str, Any]] = [
        ("$app_build_number", app.get("build")),
        ("$app_version_string", app.get("version")),
        ("$app_namespace", app.get("namespace")),
        ("$app_name", app.get("name")),
    ]
    ua = ctx.get("userAgent")
    if isinstance(ua, str) and ua:
        browser, version = parse_user_agent(ua)
        # An unknown agent still sends "$browser": "" (§2.1), so mark it as kept.
        fields.append(("$browser", _Keep(browser)))
        fields.append(("$browser_version", version))
    fields += [
        ("$bluetooth_enabled", network.get("bluetooth")),
        ("$cellular_enabled", network.get("cellular")),
        ("$carrier", network.get("carrier")),
        ("$current_url", as_object(ctx.get("page")).get("url")),
        ("$device", device.get("name")),
    ]
    return fields


class _Keep:
    """A value exempt from the empty-value rule."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def track_properties(
    event: Mapping[str, Any],
    *,
    time_ms: int,
    options: MixpanelOptions,
    insert: str,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The `properties` of a track/page/screen record, keys in §2.1 order, §3h applied."""
    ctx = as_object(event.get("context"))
    device, os_, screen = (
        as_object(ctx.get("device")),
        as_object(ctx.get("os")),
        as_object(ctx.get("screen")),
    )
    network, library = as_object(ctx.get("network")), as_object(ctx.get("library"))
    campaign, ua_data = as_object(ctx.get("campaign")), as_object(ctx.get("userAgentData"))
    page = as_object(ctx.get("page"))
    props = {**as_object(event.get("properties")), **extra}
    user_id, anon_id = segment_id(event.get("userId")), segment_id(event.get("anonymousId"))
    did = distinct_id(event, options)
    ip = ctx.get("ip") if present(ctx.get("ip")) else None
    if ip is None and "ip" not in props:
        ip = "0"  # §3h: no location rather than the backfill machine's
    library_name = library.get("name")
    integration = as_object(ctx.get("integration")).get("name")
    original_name = event.get("event") if present(event.get("event")) else event.get("name")
    fields: list[tuple[str, Any]] = [
        ("time", time_ms),
        ("ip", ip),
        ("id", did),
        ("$anon_id", anon_id),
        ("distinct_id", _Keep(did)),  # required by Mixpanel, "" meaning "no user"
        *_context_fields(ctx),
        ("$device_id", anon_id),  # §3c: anonymousId, not context.device.id
        ("$device_type", device.get("type")),
        ("$device_name", device.get("name")),
        ("$group_id", ctx.get("groupId")),
        ("$identified_id", user_id),
        ("$insert_id", insert),
        (
            "$ios_ifa",
            device.get("advertisingId")
            if present(device.get("advertisingId"))
            else device.get("idfa"),
        ),
        ("$lib_version", library.get("version")),
        ("$locale", ctx.get("locale")),
        ("$manufacturer", device.get("manufacturer")),
        ("$model", device.get("model")),
        ("$os", os_.get("name")),
        ("$os_version", os_.get("version")),
        ("$referrer", page.get("referrer")),
        ("$screen_height", screen.get("height")),
        ("$screen_width", screen.get("width")),
        ("$screen_density", screen.get("density")),
        ("$source", "Iterable" if integration == "Iterable" else "segment"),
        ("$user_id", user_id),
        ("$wifi_enabled", network.get("wifi")),
        ("mp_country_code", as_object(ctx.get("location")).get("country")),
        (
            "mp_lib",
            f"Segment Actions: {library_name}" if present(library_name) else None,
        ),
        # segment_source_name: Actions' setting; cdpcli has none (§3 "Consequences").
        *((key, _keep_string(campaign.get(src))) for key, src in _UTM),
        ("advertising_id", device.get("advertisingId")),
        ("ad_tracking_enabled", device.get("adTrackingEnabled")),
        ("timezone", ctx.get("timezone")),
        ("app_platform", as_object(ctx.get("app")).get("platform")),
        ("event_original_name", original_name),
        *(
            (key, _keep_string(ua_data.get(src)) if is_str else ua_data.get(src))
            for key, src, is_str in _UA_DATA
        ),
    ]
    result: dict[str, Any] = {}
    for key, value in fields:
        if isinstance(value, _Keep):
            result[key] = value.value
        elif present(value):
            result[key] = value
    for key, value in props.items():
        if key not in _STRIPPED:
            result[key] = value  # properties override computed keys in place
    return result


def _keep_string(value: Any) -> Any:
    """Grouped fields (campaign, userAgentData strings): null dropped, "" kept (§2.1)."""
    return _Keep(value) if value == "" else value
