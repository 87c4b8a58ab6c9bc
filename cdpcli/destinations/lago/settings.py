"""Options of a `kind: lago` destination and their validation (PRODUCT.md §5, reference/lago.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from cdpcli.destinations.base import RATE_KEYS, Locator, RateLimits, parse_rate_limits
from cdpcli.errors import ConfigError, ConfigErrors, did_you_mean

DEFAULT_API_URL: Final = "https://api.getlago.com"


BATCH_PATH: Final = "/api/v1/events/batch"


MAX_BATCH_ITEMS: Final = 100  # LAGO_EVENTS_BATCH_MAX_LENGTH default (reference §6)


OPTION_KEYS: Final = ("api_url", "batch_size", *RATE_KEYS)


DEFAULT_RATE_LIMITS: Final = RateLimits()
"""No static limit (PRODUCT.md §6.1): Lago's rate limits, where a server sets them, answer 429
with `X-RateLimit-Reset` (reference/lago.md §7), which the adaptive pace follows."""


@dataclass(frozen=True, slots=True)
class LagoOptions:
    """A Lago destination's options. `api_url` is the bare host, without `/api/v1`."""

    api_url: str = DEFAULT_API_URL
    batch_size: int = MAX_BATCH_ITEMS
    rate: RateLimits = DEFAULT_RATE_LIMITS  # from `max_events_per_second`, `max_bytes_per_minute`


def parse_options(raw: Mapping[str, Any], where: Locator) -> LagoOptions:
    """Validate the destination's keys (all but `kind`); raise one `ConfigError` holding every
    error, each naming the key."""
    errors = ConfigErrors()
    allowed = ", ".join(("kind", *OPTION_KEYS))
    for key in raw:
        if key not in OPTION_KEYS:
            secret_like = any(word in str(key).lower() for word in ("key", "secret", "token"))
            suggestion = did_you_mean(key, OPTION_KEYS)
            errors.add(
                where(str(key)),
                f"unknown key for a lago destination; {suggestion + ' ' if suggestion else ''}"
                f"allowed keys: {allowed}",
                hint=(
                    "the API key never goes in the config: use `cdpcli keys set DESTINATION "
                    "api_key` or the CDPCLI_<DESTINATION>_API_KEY variable"
                    if secret_like
                    else None
                ),
            )
    api_url = DEFAULT_API_URL
    with errors.collect():
        api_url = _parse_api_url(raw.get("api_url", DEFAULT_API_URL), where)
    batch_size = MAX_BATCH_ITEMS
    with errors.collect():
        batch_size = _parse_batch_size(raw.get("batch_size", MAX_BATCH_ITEMS), where)
    rate = DEFAULT_RATE_LIMITS
    with errors.collect():
        rate = parse_rate_limits(raw, where, DEFAULT_RATE_LIMITS)
    errors.check()
    return LagoOptions(api_url=api_url, batch_size=batch_size, rate=rate)


def normalize_api_url(url: str) -> str:
    """Strip trailing `/` and a trailing `/api/v1`: `https://h/api/v1/` -> `https://h`."""
    url = url.strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")].rstrip("/")
    return url


def _parse_api_url(value: Any, where: Locator) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{where('api_url')}: must be a URL string such as {DEFAULT_API_URL}",
            hint="US Cloud https://api.getlago.com, EU Cloud https://api.eu.getlago.com, "
            "self-hosted e.g. http://localhost:3000",
        )
    url = normalize_api_url(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{where('api_url')}: {value!r} is not an http(s) URL",
            hint=f"write the host with its scheme, e.g. {DEFAULT_API_URL}",
        )
    if parts.query or parts.fragment:
        raise ConfigError(
            f"{where('api_url')}: {value!r} must not have a query or fragment",
            hint=f"give the bare host, e.g. {DEFAULT_API_URL}; cdpcli appends {BATCH_PATH}",
        )
    return url


def _parse_batch_size(value: Any, where: Locator) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH_ITEMS:
        raise ConfigError(
            f"{where('batch_size')}: must be an integer from 1 to {MAX_BATCH_ITEMS}, got "
            + repr(value),
            hint="set it lower only when a self-hosted server sets LAGO_EVENTS_BATCH_MAX_LENGTH",
        )
    return value
