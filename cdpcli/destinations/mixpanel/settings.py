"""Options of a `kind: mixpanel` destination and their validation (PRODUCT.md §5-§6,
reference/mixpanel.md §3 "Proposed option names")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cdpcli.destinations.base import RATE_KEYS, Locator, RateLimits, parse_rate_limits
from cdpcli.errors import ConfigError, ConfigErrors, closest, did_you_mean

Region = Literal["us", "eu", "in"]
Auth = Literal["service_account", "api_secret"]
Identity = Literal["simplified", "original"]

REGIONS: tuple[Region, ...] = ("us", "eu", "in")
AUTHS: tuple[Auth, ...] = ("service_account", "api_secret")
IDENTITIES: tuple[Identity, ...] = ("simplified", "original")

# `{{ name }}` / `{{ category }}`, spaces optional; nothing else is a placeholder here.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
TEMPLATE_FIELDS = ("name", "category")

DEFAULT_RATE_LIMITS = RateLimits(max_bytes_per_minute=1_500_000_000)
"""PRODUCT.md §6.1: 1.5 GB (decimal, 1,500,000,000 bytes) of uncompressed request bytes a
minute, three quarters of the "2 GB of uncompressed JSON a minute" Mixpanel allows a project
(reference/mixpanel.md §1.3), so live traffic into the same project keeps its headroom. Decimal
is the cautious reading: it stays within three quarters whether Mixpanel's GB is 10^9 bytes or
2^30. `max_bytes_per_minute: null` removes it."""


@dataclass(frozen=True, slots=True)
class MixpanelOptions:
    """A validated Mixpanel destination config (everything under it except `kind`)."""

    project_id: str | None = None
    region: Region = "us"
    api_url: str | None = None
    auth: Auth = "service_account"
    identity: Identity = "simplified"
    ignore_time: bool = True
    product_events: bool = True
    group_key: str = "$group_id"
    page_event: str = "Viewed {{ name }}"
    page_event_unnamed: str = "Loaded a Page"
    screen_event: str = "Viewed {{ name }}"
    screen_event_unnamed: str = "Loaded a Screen"
    rate: RateLimits = DEFAULT_RATE_LIMITS  # from `max_events_per_second`, `max_bytes_per_minute`


ALLOWED_KEYS = (*(key for key in MixpanelOptions.__dataclass_fields__ if key != "rate"), *RATE_KEYS)
_BOOL_KEYS = ("ignore_time", "product_events")
_TEMPLATE_KEYS = ("page_event", "page_event_unnamed", "screen_event", "screen_event_unnamed")


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Replace `{{ name }}`-style placeholders with `values` (missing → ""). No evaluation."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)


def _choice(raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], where: Locator) -> str:
    value = raw[key]
    if not isinstance(value, str) or value not in allowed:
        suggestion = did_you_mean(value, allowed, quote="'")
        raise ConfigError(
            f"{where(key)}: {value!r} is not allowed" + (f"; {suggestion}" if suggestion else ""),
            hint=f"use one of: {', '.join(allowed)}",
        )
    return value


def _text(raw: Mapping[str, Any], key: str, where: Locator) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where(key)}: must be a non-empty string, got {value!r}")
    return value


def _project_id(raw: Mapping[str, Any], where: Locator) -> str | None:
    value = raw.get("project_id")
    if value is None and "project_id" not in raw:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    raise ConfigError(
        f"{where('project_id')}: must be the numeric Mixpanel project id, got {value!r}",
        hint='find it in Mixpanel under Project Settings, e.g. project_id: "3141592"',
    )


def _api_url(raw: Mapping[str, Any], where: Locator) -> str | None:
    if "api_url" not in raw:
        return None
    value = _text(raw, "api_url", where)
    if not value.startswith(("https://", "http://")):
        raise ConfigError(
            f"{where('api_url')}: {value!r} is not an http(s) URL",
            hint="write the base URL, e.g. https://api-eu.mixpanel.com",
        )
    return value.rstrip("/")


def _template(raw: Mapping[str, Any], key: str, where: Locator) -> str:
    value = _text(raw, key, where)
    for match in PLACEHOLDER.finditer(value):
        if match.group(1) not in TEMPLATE_FIELDS:
            close = closest(match.group(1), TEMPLATE_FIELDS)
            raise ConfigError(
                f"{where(key)}: placeholder {match.group(0)!r} is not supported here"
                + (f"; did you mean '{{{{ {close} }}}}'?" if close else ""),
                hint="event-name templates may use only {{ name }} and {{ category }}",
            )
    return value


def parse_options(raw: Mapping[str, Any], where: Locator) -> MixpanelOptions:
    """Validate a Mixpanel destination's keys; raise one `ConfigError` holding every error,
    each naming file, line and key."""
    errors = ConfigErrors()
    for key in raw:
        if key not in ALLOWED_KEYS:
            suggestion = did_you_mean(key, ALLOWED_KEYS)
            errors.add(
                where(str(key)),
                "unknown key for a mixpanel destination"
                + (f"; {suggestion}" if suggestion else ""),
                hint=f"allowed keys: kind, {', '.join(ALLOWED_KEYS)}",
            )
    values: dict[str, Any] = {}
    with errors.collect():
        values["project_id"] = _project_id(raw, where)
    with errors.collect():
        values["api_url"] = _api_url(raw, where)
    for key, allowed in (("region", REGIONS), ("auth", AUTHS), ("identity", IDENTITIES)):
        if key in raw:
            with errors.collect():
                values[key] = _choice(raw, key, allowed, where)
    for key in _BOOL_KEYS:
        if key in raw:
            if not isinstance(raw[key], bool):
                errors.add(where(key), f"must be true or false, got {raw[key]!r}")
            values[key] = raw[key]
    if "group_key" in raw:
        with errors.collect():
            values["group_key"] = _text(raw, "group_key", where)
    for key in _TEMPLATE_KEYS:
        if key in raw:
            with errors.collect():
                values[key] = _template(raw, key, where)
    with errors.collect():
        values["rate"] = parse_rate_limits(raw, where, DEFAULT_RATE_LIMITS)
    auth = values.get("auth", "service_account")  # the default of MixpanelOptions.auth
    # An `auth` in error has its own message: what it needs cannot be told.
    if (
        auth == "service_account"
        and "project_id" not in raw
        and ("auth" in values or "auth" not in raw)
    ):
        errors.add(
            where("project_id"),
            "`auth: service_account` needs `project_id`",
            hint="add project_id (Project Settings in Mixpanel), or use `auth: api_secret`",
        )
    errors.check()
    return MixpanelOptions(**values)
