"""How long a server asked to wait: `Retry-After` and `X-RateLimit-Reset`, read the same way for
every destination (reference/mixpanel.md §1.3, reference/lago.md §7). Pure: the caller may pass
the current time."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

EPOCH_THRESHOLD = 1e9
"""An `X-RateLimit-Reset` above this is an epoch timestamp, not a number of seconds."""


EPOCH_MS_THRESHOLD = 1e12
"""An `X-RateLimit-Reset` above this is an epoch timestamp in milliseconds."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works for plain dicts and `httpx.Headers` alike."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _retry_after(text: str, now: float) -> float | None:
    """`Retry-After`: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    seconds = _number(text)
    if seconds is not None:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates come back naive; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - now, 0.0)


def _rate_limit_reset(text: str, now: float) -> float | None:
    """`X-RateLimit-Reset`: seconds until the window resets, or an epoch timestamp."""
    value = _number(text)
    if value is None or value < 0:
        return None
    if value > EPOCH_MS_THRESHOLD:
        return max(value / 1000.0 - now, 0.0)
    if value > EPOCH_THRESHOLD:
        return max(value - now, 0.0)
    return value


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, or None when it gave no usable hint.

    Reads `Retry-After` (seconds or HTTP-date) and `X-RateLimit-Reset` (seconds until the
    reset; a value above 1e9 is an epoch timestamp, above 1e12 one in milliseconds). When both
    are present the longer wait wins. Dates in the past give 0. `now` is the current Unix time
    (the clock's, when None).
    """
    if now is None:
        now = time.time()
    hints: list[float] = []
    retry_after = _header(headers, "Retry-After")
    if retry_after is not None:
        parsed = _retry_after(retry_after, now)
        if parsed is not None:
            hints.append(parsed)
    reset = _header(headers, "X-RateLimit-Reset")
    if reset is not None:
        parsed = _rate_limit_reset(reset, now)
        if parsed is not None:
            hints.append(parsed)
    return max(hints) if hints else None
