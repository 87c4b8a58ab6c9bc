"""Ids and the track-property table of Mixpanel records (reference/mixpanel.md §2.1, §3a, §3c,
§3h): the part of the mapping shared by track, page, screen and per-product events.

`TRACK_FIELDS` is the table, one row per key (see `fields` for how a row reads); `track_fields`
is it compiled, `add_properties` appends the event's own properties after it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from cdpcli.destinations.mixpanel.fields import (
    BOOLEAN,
    NUMBER,
    STRING,
    Computed,
    Empty,
    Field,
    Given,
    Table,
    compile_check,
    compile_fields,
    loop_reader,
)
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


def segment_id(value: Any) -> str | None:
    """A Segment id, or None when missing or empty."""
    return value if type(value) is str and value != "" else None


def present(value: Any) -> bool:
    """Top-level empty-value rule of reference §2.1: "" and null are dropped."""
    return value is not None and value != ""


def distinct_id(event: Mapping[str, Any], options: MixpanelOptions) -> str:
    """userId, else `$device:<anonymousId>` (simplified) or anonymousId (original), else ""."""
    user_id, anon_id = segment_id(event.get("userId")), segment_id(event.get("anonymousId"))
    return distinct_id_of(user_id, anon_id, options)


def distinct_id_of(user_id: str | None, anon_id: str | None, options: MixpanelOptions) -> str:
    """`distinct_id` from the event's `segment_id`s of userId and anonymousId."""
    if user_id is not None:
        return user_id
    if anon_id is None:
        return ""
    return f"$device:{anon_id}" if options.identity == "simplified" else anon_id


def add_properties(record: dict[str, Any], properties: Mapping[str, Any]) -> None:
    """Add an event's `properties` to the computed keys of its record (§2.1): last, so they
    override a computed key in place (`properties.ip` beats context.ip), minus the 7 keys Mixpanel
    reserves."""
    if properties.keys().isdisjoint(_STRIPPED):
        record.update(properties)
    else:
        stripped = _STRIPPED
        for key, value in properties.items():
            if key not in stripped:
                record[key] = value


# ---------------------------------------------------------------- the track-property table (§2.1)
# The functions that compute a key where a path is not enough. Each gets its path inputs after
# the row's empty rule (a value left out arrives as None) and returns None for "no value".


def ip_or_zero(ip: str | None, properties: Mapping[str, Any]) -> str | None:
    """context.ip; without one, "0" (§3h: no location rather than the backfill machine's),
    unless `properties.ip` (which overrides in place) is there."""
    if ip:  # "" too, which `[""]` converts to
        return ip
    return None if "ip" in properties else "0"


_NO_AGENT = (None, None)


def user_agent(ua: str | None) -> tuple[str | None, str | None]:
    """`($browser, $browser_version)` of a user agent (§2.2); an unknown one gives `("", None)`,
    so `"$browser": ""` is sent, as Segment does; no user agent gives neither key."""
    return parse_user_agent(ua) if ua else _NO_AGENT


def first_present(value: Any, fallback: Any) -> Any:
    """Segment's `@if exists … then … else …`: the first value that is there."""
    return value if value is not None else fallback


def library(name: str | None) -> str | None:
    """`mp_lib`: Segment's `library_name && "Segment Actions: " + library_name`."""
    return f"Segment Actions: {name}" if name else name


def source(integration_name: Any) -> str:
    """`$source`: "Iterable" for events Iterable sent through Segment, else "segment"."""
    return "Iterable" if integration_name == "Iterable" else "segment"


_AGENT = ("context.userAgent",)
_DROP, _DROP_NULL, _KEEP = Empty.DROP, Empty.DROP_NULL, Empty.KEEP
_S, _N, _B = STRING, NUMBER, BOOLEAN

TRACK_FIELDS: Table = (
    Field("time", Given("time_ms"), _KEEP, note="ms of the event time, §3b"),
    Field("ip", Computed(ip_or_zero, ("context.ip", Given("properties"))), _DROP, _S),
    Field("id", Given("did"), _DROP, _S),
    Field("$anon_id", Given("anon_id"), _DROP, _S),
    Field("distinct_id", Given("did"), _KEEP, _S, note='"" means "no user" to Mixpanel'),
    Field("$app_build_number", "context.app.build", _DROP, _S),
    Field("$app_version_string", "context.app.version", _DROP, _S),
    Field("$app_namespace", "context.app.namespace", _DROP, _S),
    Field("$app_name", "context.app.name", _DROP, _S),
    Field("$browser", Computed(user_agent, _AGENT, 0), _DROP, _S, note='"" sent when unknown'),
    Field("$browser_version", Computed(user_agent, _AGENT, 1), _DROP, _S),
    Field("$bluetooth_enabled", "context.network.bluetooth", _DROP, _B),
    Field("$cellular_enabled", "context.network.cellular", _DROP, _B),
    Field("$carrier", "context.network.carrier", _DROP, _S),
    Field("$current_url", "context.page.url", _DROP, _S),
    Field("$device", "context.device.name", _DROP, _S),
    Field("$device_id", Given("anon_id"), _DROP, _S, note="anonymousId, not device.id (§3c)"),
    Field("$device_type", "context.device.type", _DROP, _S),
    Field("$device_name", "context.device.name", _DROP, _S),
    Field("$group_id", "context.groupId", _DROP, _S),
    Field("$identified_id", Given("user_id"), _DROP, _S),
    Field("$insert_id", Given("insert"), _DROP, _S, note="§3a"),
    Field(
        "$ios_ifa",
        Computed(first_present, ("context.device.advertisingId", "context.device.idfa")),
        _DROP,
        _S,
    ),
    Field("$lib_version", "context.library.version", _DROP, _S),
    Field("$locale", "context.locale", _DROP, _S),
    Field("$manufacturer", "context.device.manufacturer", _DROP, _S),
    Field("$model", "context.device.model", _DROP, _S),
    Field("$os", "context.os.name", _DROP, _S),
    Field("$os_version", "context.os.version", _DROP, _S),
    Field("$referrer", "context.page.referrer", _DROP, _S),
    Field("$screen_height", "context.screen.height", _DROP, _N),
    Field("$screen_width", "context.screen.width", _DROP, _N),
    Field("$screen_density", "context.screen.density", _DROP, _N),
    Field("$source", Computed(source, ("context.integration.name",)), _DROP),
    Field("$user_id", Given("user_id"), _DROP, _S),
    Field("$wifi_enabled", "context.network.wifi", _DROP, _B),
    Field("mp_country_code", "context.location.country", _DROP, _S, note="verbatim"),
    Field("mp_lib", Computed(library, ("context.library.name",)), _DROP, _S),
    # segment_source_name: an Actions setting; cdpcli has none (§3 "Consequences").
    Field("utm_campaign", "context.campaign.name", _DROP_NULL, _S),
    Field("utm_content", "context.campaign.content", _DROP_NULL, _S),
    Field("utm_medium", "context.campaign.medium", _DROP_NULL, _S),
    Field("utm_source", "context.campaign.source", _DROP_NULL, _S),
    Field("utm_term", "context.campaign.term", _DROP_NULL, _S),
    Field("advertising_id", "context.device.advertisingId", _DROP, _S),
    Field("ad_tracking_enabled", "context.device.adTrackingEnabled", _DROP, _S),
    Field("timezone", "context.timezone", _DROP, _S),
    Field("app_platform", "context.app.platform", _DROP, _S),
    Field("event_original_name", Computed(first_present, ("event", "name")), _DROP, _S),
    Field("$mobile", "context.userAgentData.mobile", _DROP, _B, note='not a string: "" left out'),
    Field("$platform", "context.userAgentData.platform", _DROP_NULL, _S),
    Field("$bitness", "context.userAgentData.bitness", _DROP_NULL, _S),
    Field("$platformVersion", "context.userAgentData.platformVersion", _DROP_NULL, _S),
    Field("$uaFullVersion", "context.userAgentData.uaFullVersion", _DROP_NULL, _S),
    Field("$wow64", "context.userAgentData.wow64", _DROP, _B, note='not a string: "" left out'),
)
"""The keys of a track/page/screen record before its properties, in §2.1's order (reference
/mixpanel.md §2.1: Segment's `MP/trackEvent/functions.ts` and `MP/mixpanel-properties.ts`)."""

TRACK_GIVENS = ("time_ms", "did", "insert", "user_id", "anon_id", "properties")
"""What `track_fields` takes after the event: the event time in ms, its `distinct_id`, its
`$insert_id`, the `segment_id`s of userId and anonymousId, and its properties (route overrides
merged in)."""

track_fields = compile_fields(TRACK_FIELDS, TRACK_GIVENS, "track_fields")
"""`track_fields(event, time_ms, did, insert, user_id, anon_id, properties)`: the computed keys
of a track/page/screen record, and the values that could not be converted to their type (the table
compiled once; `track_fields_loop` reads it row by row and gives the same)."""

track_fields_loop = loop_reader(TRACK_FIELDS, TRACK_GIVENS)

track_check = compile_check(TRACK_FIELDS, "track_check")
"""`track_check(event)`: whether some typed value of the event cannot be converted, cheaply (what
`validate` asks of every event; `check_loop(TRACK_FIELDS)` reads the table row by row)."""
