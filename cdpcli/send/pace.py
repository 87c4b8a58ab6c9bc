"""The pace of a real send (PRODUCT.md §6.1): one `Pacer` per destination, which every HTTP
attempt to that destination passes through before it is sent (`cdpcli.send.http_batch`).

**Static limits** are token buckets, one for records and one for uncompressed request bytes.
A bucket holds at most `BURST_SECONDS` of its rate and starts empty, so the load is smooth:
never a minute's budget at once followed by silence. A request waits until the bucket holds its
cost (or is full, when one request costs more than the bucket holds: it then goes into debt,
which the next requests wait off), so the rate over any stretch of time is the limit's.

- `max_events_per_second` (and `--max-rate`, the lower of the two) is that rate of records.
- `max_bytes_per_minute: N` is a quota of any rolling minute, as Mixpanel's (reference/mixpanel.md
  §1.3), where a request counts whole when it arrives. A bucket at rate r holding B bytes sends
  at most `60 r + B` in a minute, so the pace is `N / 62` bytes a second (B = 2 s of it), 3.2 %
  under `N / 60`: a pace of exactly `N / 60` would cross the quota on almost every request once
  a minute of them is in it, as the last request's bytes do not arrive spread over its interval.
  A log of the last minute's reservations also holds each request back until it fits (it binds
  only for requests larger than the bucket, or after a cut), so no minute carries more than N.

**Adaptive pace** (AIMD, on top of the limits, and where there are none): a 429 or 503
(`throttled`) cuts the destination's bytes a second (and its records a second, where those are
limited) to `CUT` times what it was sending (the lower of its pace and the rate measured over the
last `OBSERVE_SECONDS`), pauses it for the server's hint (`Retry-After` / `X-RateLimit-Reset`),
and the rate then climbs back by `CLIMB` of the limit each second until it is at the limit (with
no limit: by `CLIMB` of the rate before the cut, on and on, so it is back there in 10 s and
doubles it in 30 s unless the server objects again). Answers to requests sent before the last
cut do not cut again (they tell of the old pace), but their hint still extends the pause. Each
destination has its own pacer: the others keep their pace.

**Retries** (`cdpcli.retry`): a throttled attempt's retry does not sleep a backoff of its
own: it waits in the pacer like every attempt, and the pause is that wait: the server's hint, or
the backoff the retry policy would have slept when there is none. So a 429 never costs a pause
and a backoff on top, and the pause holds every worker of the destination, not only the one that
was answered. Other failures (500, timeouts, refused connections) keep the policy's backoff.

Thread-safe (one lock per pacer); the clock is injected, and the caller does the sleeping (the
reservation says until when), so sleeps stay interruptible and tests take no time.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cdpcli.destinations.base import RateLimits

BURST_SECONDS = 2.0
"""The most budget a bucket holds, in seconds of its rate."""

MINUTE = 60.0
"""The window of `max_bytes_per_minute`."""

CUT = 0.5
"""A throttled destination's rate is cut to this fraction of what it was sending."""

CLIMB = 0.05
"""After a cut the rate climbs back by this fraction of the limit each second (10 s from half)."""

OBSERVE_SECONDS = 5.0
"""The rate a destination was sending at, for a cut, is measured over this many seconds."""

MIN_RECORDS_PER_SECOND = 1.0
MIN_BYTES_PER_SECOND = 1000.0
FLOOR_SECONDS = 10.0
"""No cut goes below these, nor below the largest request seen every `FLOOR_SECONDS` (a
destination throttled on small requests still sends its large ones)."""

THROTTLE_STATUSES = frozenset({429, 503})
"""The answers that cut a destination's pace (PRODUCT.md §6.1)."""

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Ticket:
    """A reservation: the request may go at `at` (the pacer's clock), unless the pace was cut
    meanwhile (`Pacer.confirm` then says to reserve again)."""

    at: float
    epoch: int
    records: int
    size: int
    paused: bool = False  # it waits for the end of a pause (not only for the pace)


@dataclass(frozen=True, slots=True)
class Throttle:
    """What a throttled answer did: the destination sends again in `pause` seconds; `cut` says
    whether the rate was cut (not for an answer to a request sent before the last cut)."""

    pause: float
    cut: bool
    pace: str


class _Bucket:
    """One resource (records or bytes): its static limit, its adaptive rate and its tokens."""

    __slots__ = ("biggest", "climb_from", "cut_rate", "floor", "rate", "stamp", "step", "tokens")

    def __init__(self, *, floor: float, rate: float | None = None) -> None:
        self.floor = floor
        self.biggest = 0.0  # the largest cost seen
        self.rate = rate  # the static rate a second, None: no static limit
        self.cut_rate: float | None = None  # after a cut: the rate it climbs from
        self.climb_from = 0.0
        self.step = 0.0
        self.tokens = 0.0
        self.stamp: float | None = None  # the time `tokens` stands for; None: not started

    def rate_at(self, moment: float) -> float | None:
        """The pace a second at `moment`; None: unlimited."""
        ceiling = self.rate
        if self.cut_rate is None:
            return ceiling
        rate = self.cut_rate + self.step * max(0.0, moment - self.climb_from)
        if ceiling is not None and rate >= ceiling:
            self.cut_rate = None  # back at the limit
            return ceiling
        return rate

    def _tokens(self, moment: float, rate: float) -> float:
        if self.stamp is None:
            return 0.0
        return min(BURST_SECONDS * rate, self.tokens + max(0.0, moment - self.stamp) * rate)

    def ready(self, cost: float, earliest: float) -> float:
        """The first moment from `earliest` at which the bucket holds `cost` (or is full)."""
        self.biggest = max(self.biggest, cost)
        rate = self.rate_at(earliest)
        if rate is None:
            return earliest
        if self.stamp is None:  # a bucket starts empty, at its first request
            self.stamp, self.tokens = earliest, 0.0
        start = max(earliest, self.stamp)
        need = min(cost, BURST_SECONDS * rate)
        tokens = self._tokens(start, rate)
        return start if tokens >= need else start + (need - tokens) / rate

    def take(self, cost: float, moment: float) -> None:
        rate = self.rate_at(moment)
        if rate is None:
            return
        self.tokens = self._tokens(moment, rate) - cost
        self.stamp = moment

    def hold(self, until: float) -> None:
        """Nothing is sent before `until`, and the bucket does not fill meanwhile."""
        if self.stamp is None or self.stamp < until:
            self.tokens = min(self.tokens, 0.0) if self.stamp is not None else 0.0
            self.stamp = until

    def cut(self, moment: float, observed: float, resume: float) -> None:
        """Cut the rate to `CUT` of what was sent (the pace, or `observed` if lower)."""
        current = self.rate_at(moment)
        basis = observed if current is None else min(current, observed or current)
        ceiling = self.rate
        floor = max(self.floor, self.biggest / FLOOR_SECONDS)
        self.cut_rate = max(floor, CUT * basis)
        self.climb_from = resume
        self.step = CLIMB * (ceiling if ceiling is not None else max(basis, floor))
        self.tokens = 0.0
        self.stamp = resume


class _Window:
    """A quota of any rolling `MINUTE`: the bytes of the reservations inside it."""

    __slots__ = ("quota", "spent", "used")

    def __init__(self, quota: int) -> None:
        self.quota = quota
        self.spent: deque[tuple[float, int]] = deque()  # (time, bytes), in time order
        self.used = 0

    def ready(self, cost: int, earliest: float, now: float) -> float:
        """The first moment from `earliest` (not before the last reservation) at which `cost`
        more stays within the quota; a cost larger than the quota waits for an empty window."""
        spent = self.spent
        while spent and spent[0][0] <= now - MINUTE:  # out of every window from now on
            self.used -= spent.popleft()[1]
        used = self.used
        for moment, size in spent:  # those out of the window at `earliest`
            if moment > earliest - MINUTE:
                break
            used -= size
        if used + cost <= self.quota:
            return earliest
        for moment, size in spent:
            if moment <= earliest - MINUTE:
                continue
            used -= size
            if used + cost <= self.quota or not used:
                return moment + MINUTE
        return earliest  # an empty window: even a cost above the quota goes

    def take(self, cost: int, moment: float) -> None:
        self.spent.append((moment, cost))
        self.used += cost

    def forget(self, after: float) -> None:
        """Drop the reservations after `after` (a cut: they reserve again)."""
        while self.spent and self.spent[-1][0] > after:
            self.used -= self.spent.pop()[1]


class Pacer:
    """The pace of one destination; see the module docstring. Safe to use from several
    threads: `reserve` before an attempt, sleep until the ticket's time, `confirm`, send;
    `throttled` when the answer was a 429 or 503."""

    def __init__(
        self, limits: RateLimits | None = None, *, max_rate: float | None = None, clock: Clock
    ) -> None:
        limits = limits or RateLimits()
        records = limits.max_events_per_second
        if max_rate is not None:
            records = max_rate if records is None else min(records, max_rate)
        self.limits = RateLimits(records, limits.max_bytes_per_minute)
        self.clock = clock
        self._records = _Bucket(floor=MIN_RECORDS_PER_SECOND, rate=records)
        quota = limits.max_bytes_per_minute
        self._bytes = _Bucket(
            floor=MIN_BYTES_PER_SECOND,
            rate=None if quota is None else quota / (MINUTE + BURST_SECONDS),
        )
        self._window = None if quota is None else _Window(quota)
        self._lock = threading.Lock()
        self._paused_until = -math.inf
        self._epoch = 0  # cuts so far: a ticket of an older epoch is reserved again
        self._sent: deque[tuple[float, int, int]] = deque()  # (time, records, bytes)
        self._first: float | None = None
        self.cuts = 0

    def reserve(self, records: int, size: int) -> Ticket:
        """Reserve the budget of one attempt of `records` records and `size` uncompressed
        bytes; the ticket says when it may be sent."""
        with self._lock:
            now = self.clock()
            earliest = max(now, self._paused_until)
            moment = max(self._records.ready(records, earliest), self._bytes.ready(size, earliest))
            if self._window is not None:
                moment = self._window.ready(size, moment, now)
                self._window.take(size, moment)
            self._records.take(records, moment)
            self._bytes.take(size, moment)
            return Ticket(moment, self._epoch, records, size, paused=earliest > now)

    def confirm(self, ticket: Ticket) -> bool:
        """Whether the ticket still holds (no cut since it was reserved): the attempt is then
        counted as sent. If not, reserve again (the cut emptied the buckets)."""
        with self._lock:
            if ticket.epoch != self._epoch:
                return False
            if self._first is None:
                self._first = ticket.at
            self._sent.append((ticket.at, ticket.records, ticket.size))
            return True

    def throttled(self, ticket: Ticket, pause: float) -> Throttle:
        """The answer to `ticket`'s attempt was a 429 or 503: pause the destination for
        `pause` seconds (at least: an earlier pause may be longer) and cut its rate, unless
        the attempt was sent before the last cut."""
        with self._lock:
            now = self.clock()
            self._paused_until = max(self._paused_until, now + max(pause, 0.0))
            cut = ticket.epoch == self._epoch
            if cut:
                self._epoch += 1
                self.cuts += 1
                records, size = self._observed(now)
                if self._window is not None:
                    self._window.forget(now)
                if self._records.rate is not None:  # else bytes alone measure the load
                    self._records.cut(now, records, self._paused_until)
                self._bytes.cut(now, size, self._paused_until)
            else:
                self._records.hold(self._paused_until)
                self._bytes.hold(self._paused_until)
            return Throttle(self._paused_until - now, cut, self._pace(now))

    def pace(self) -> str:
        """The pace now, for humans: `1.2 MB/s`, `500 events/s`, both, or `unlimited`."""
        with self._lock:
            return self._pace(self.clock())

    def rates(self) -> tuple[float | None, float | None]:
        """The pace now: records a second and bytes a second (None: unlimited)."""
        with self._lock:
            now = self.clock()
            return self._records.rate_at(now), self._bytes.rate_at(now)

    def _pace(self, now: float) -> str:
        records, size = self._records.rate_at(now), self._bytes.rate_at(now)
        parts = []
        if records is not None:
            parts.append(f"{records:,.0f} events/s" if records >= 10 else f"{records:.2g} events/s")
        if size is not None:
            parts.append(_bytes_rate(size))
        return ", ".join(parts) or "unlimited"

    def _observed(self, now: float) -> tuple[float, float]:
        """Records and bytes a second sent over the last `OBSERVE_SECONDS` (at least 1 s)."""
        sent = self._sent
        while sent and sent[0][0] <= now - OBSERVE_SECONDS:
            sent.popleft()
        first = now if self._first is None else self._first
        span = max(min(OBSERVE_SECONDS, now - first), 1.0)
        return sum(s[1] for s in sent) / span, sum(s[2] for s in sent) / span


def _bytes_rate(size: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}/s"
    return f"{size:.0f} B/s"


class Pacing:
    """The pacers of a run, one per destination (a destination with no limit of its own gets
    one too: the adaptive pace applies to every destination). `max_rate` (`--max-rate`) caps
    every destination's records a second."""

    def __init__(
        self,
        limits: Mapping[str, RateLimits] | None = None,
        *,
        max_rate: float | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if max_rate is not None and not (math.isfinite(max_rate) and max_rate > 0):
            raise ValueError(f"max_rate must be a positive number (got {max_rate})")
        self.limits = dict(limits or {})
        self.max_rate = max_rate
        self.clock = clock
        self._pacers: dict[str, Pacer] = {}
        self._lock = threading.Lock()

    def pacer(self, destination: str) -> Pacer:
        with self._lock:
            found = self._pacers.get(destination)
            if found is None:
                found = Pacer(
                    self.limits.get(destination),
                    max_rate=self.max_rate,
                    clock=self.clock,
                )
                self._pacers[destination] = found
            return found
