"""Retry arithmetic: how long to wait before the next attempt, and whether there is one.

Pure functions only (PRODUCT.md §6 "Retries"): the caller injects the clock (`now`), the source of
randomness (`rand`) and does the sleeping itself, so tests take no real time.

Backoff is exponential with **full jitter**: after the attempt numbered `attempt` (1-based) fails,
wait a uniform random time in `0 .. min(cap, base * 2 ** (attempt - 1))`, i.e. up to 2 s, 4 s,
8 s, ... 60 s with the defaults (PRODUCT.md §6 "Pinned details": starts at 2 s, doubles to 60 s).
A server hint (`Retry-After` or `X-RateLimit-Reset`, `cdpcli.destinations.headers`) is a floor: the
wait is never shorter than the hint, and the hint itself is capped at `max_hint` seconds so that a
bogus header cannot stall a run for hours.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from cdpcli.errors import UsageError

DEFAULT_MAX_ATTEMPTS = 8
"""`--max-retries N` default: attempts per request, the first one included (PRODUCT.md §6)."""

MAX_HINT_SECONDS = 600.0
"""The longest server hint honoured (10 minutes); longer ones are cut to this."""

ATTEMPT_DEADLINE_SECONDS = 120.0
"""How long one attempt may take in all, connect, send and the whole answer (PRODUCT.md §6.1
"Deadlines"); enforced on the sockets by `cdpcli.send.deadline`."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a request gets, how long each may take, and how long to wait between
    them.

    `max_attempts` counts every attempt, the first one included: with 8, a request is sent at
    most 8 times. `base` is the ceiling of the first wait, doubled after each failure up to `cap`.
    `attempt_deadline` bounds one attempt, from connecting to the last byte of the answer: past
    it the attempt is a timeout, retried like any other.
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base: float = 2.0
    cap: float = 60.0
    max_hint: float = MAX_HINT_SECONDS
    attempt_deadline: float = ATTEMPT_DEADLINE_SECONDS

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise UsageError(
                f"--max-retries must be at least 1 (got {self.max_attempts})",
                hint="it counts every attempt of a request, the first one included",
            )
        if (
            not (self.base > 0 and self.cap >= self.base and self.max_hint >= 0)
            or not self.attempt_deadline > 0
        ):
            raise ValueError(
                f"invalid retry policy: base={self.base}, cap={self.cap}, "
                f"max_hint={self.max_hint}, attempt_deadline={self.attempt_deadline}"
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
