"""Retry arithmetic: how long to wait before the next attempt, and whether there is one.

Pure functions only (PRODUCT.md §6 "Retries"): the caller injects the clock (`now`), the source of
randomness (`rand`) and does the sleeping itself, so tests take no real time.

Backoff is exponential with **full jitter**: after the attempt numbered `attempt` (1-based) fails,
wait a uniform random time in `0 .. min(cap, base * 2 ** (attempt - 1))`, i.e. up to 2 s, 4 s,
8 s, ... 60 s with the defaults (PRODUCT.md §6 "Pinned details": starts at 2 s, doubles to 60 s).
A server hint (`Retry-After`, or Lago's `X-RateLimit-Reset`, reference/lago.md §7) is a floor: the
wait is never shorter than the hint, and the hint itself is capped at `max_hint` seconds so that a
bogus header cannot stall a run for hours.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

from cdpcli.errors import UsageError

DEFAULT_MAX_ATTEMPTS = 8
"""`--max-retries N` default: attempts per request, the first one included (PRODUCT.md §6)."""

MAX_HINT_SECONDS = 600.0
"""The longest server hint honoured (10 minutes); longer ones are cut to this."""

EPOCH_THRESHOLD = 1e9
"""An `X-RateLimit-Reset` above this is an epoch timestamp, not a number of seconds."""

EPOCH_MS_THRESHOLD = 1e12
"""An `X-RateLimit-Reset` above this is an epoch timestamp in milliseconds."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a request gets and how long to wait between them.

    `max_attempts` counts every attempt, the first one included: with 8, a request is sent at
    most 8 times. `base` is the ceiling of the first wait, doubled after each failure up to `cap`.
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base: float = 2.0
    cap: float = 60.0
    max_hint: float = MAX_HINT_SECONDS

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise UsageError(
                f"--max-retries must be at least 1 (got {self.max_attempts})",
                hint="it counts every attempt of a request, the first one included",
            )
        if not (self.base > 0 and self.cap >= self.base and self.max_hint >= 0):
            raise ValueError(
                f"invalid retry policy: base={self.base}, cap={self.cap}, max_hint={self.max_hint}"
            )

    def ceiling(self, attempt: int) -> float:
        """The largest backoff after failed attempt number `attempt` (1-based), without hint."""
        exponent = max(attempt, 1) - 1
        # Avoid computing huge powers: once past the cap the result is the cap.
        if exponent >= 64 or self.base * 2.0**exponent >= self.cap:
            return self.cap
        return float(self.base * 2.0**exponent)

    def delay(self, attempt: int, *, server_hint: float | None, rand: Callable[[], float]) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based) before the next one.

        `rand()` returns a float in [0, 1) (e.g. `random.Random(seed).random`). The jittered
        backoff is `rand() * ceiling(attempt)`; a `server_hint` (seconds, from
        `parse_retry_after`) raises it to at least `min(server_hint, max_hint)`.
        """
        fraction = min(max(rand(), 0.0), 1.0)
        wait = fraction * self.ceiling(attempt)
        if server_hint is not None and math.isfinite(server_hint) and server_hint > 0:
            wait = max(wait, min(server_hint, self.max_hint))
        return wait

    def should_retry(self, attempt: int) -> bool:
        """Whether another attempt may follow failed attempt number `attempt` (1-based)."""
        return attempt < self.max_attempts


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

    Reads `Retry-After` (seconds or HTTP-date) and `X-RateLimit-Reset` (Lago: seconds until the
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
