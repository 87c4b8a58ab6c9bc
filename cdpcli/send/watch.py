"""What a real send is doing, as values a user interface shows (PRODUCT.md §6.1 "Visible
waiting", `-v/--verbose`): `Watch` is told by the HTTP workers (`cdpcli.send.http_batch`) what
each of them waits for and how each attempt went, and passes it on through two callbacks:

- `status(destination, message)`: what the destination waits for, e.g. `429, retrying in 8 s
  (attempt 3 of 8)`, `pacing at 25 MB/s`, `waiting for the server's answer, 15 s so far
  (attempt 1 of 8)`; an empty message when it no longer waits. With several workers on one
  destination, the message is the latest of those still waiting. A message is passed on only
  when it changes.
- `attempt(Attempt)`: one value per HTTP attempt once it ended (answered or failed).

Every text here has already passed through the run's `Redactor`. Thread-safe; the callbacks are
called one at a time, from the workers (and from `tick`, in the thread that calls it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

SLOW_SECONDS = 5.0
"""An attempt without an answer after this long is reported as waiting for the server..."""

SLOW_EVERY = 10.0
"""...and again every this many seconds."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP attempt: where it went, what it carried, how it ended and how long it took.

    `status` is the HTTP status, None when there was no answer (`error` then says why); `size`
    counts the uncompressed body, `sent` the bytes on the wire (the gzipped body, where the
    endpoint takes gzip)."""

    destination: str
    method: str
    url: str
    attempt: int
    max_attempts: int
    records: int
    size: int
    sent: int
    seconds: float
    status: int | None = None
    error: str | None = None


StatusCallback = Callable[[str, str], None]
AttemptCallback = Callable[[Attempt], None]


def seconds_text(seconds: float) -> str:
    """`40 ms`, `0.4 s`, `8 s`, `2 min 5 s`: a wait, for humans."""
    if seconds < 0.05:
        return f"{max(seconds, 0.0) * 1000:.0f} ms"
    if seconds < 0.95:
        return f"{max(seconds, 0.0):.1f} s"
    whole = round(seconds)
    if whole < 120:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


@dataclass(slots=True)
class _Running:
    destination: str
    attempt: int
    max_attempts: int
    started: float
    notice: float  # when it is next reported as slow


class Watch:
    """See the module docstring. With no callbacks every method is a cheap no-op."""

    def __init__(
        self,
        *,
        status: StatusCallback | None = None,
        attempt: AttemptCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._status = status
        self._attempt = attempt
        self.clock = clock
        self._lock = threading.Lock()
        self._waits: dict[str, dict[int, str]] = {}  # destination -> {worker: message}
        self._shown: dict[str, str] = {}
        self._running: dict[int, _Running] = {}  # worker -> its attempt on the wire

    @property
    def reports_attempts(self) -> bool:
        return self._attempt is not None

    def wait(self, destination: str, message: str) -> None:
        """This worker now waits for what `message` says."""
        if self._status is None:
            return
        worker = threading.get_ident()
        with self._lock:
            waits = self._waits.setdefault(destination, {})
            waits.pop(worker, None)  # the latest message last
            waits[worker] = message
            self._show(destination)

    def done(self, destination: str) -> None:
        """This worker no longer waits."""
        if self._status is None:
            return
        worker = threading.get_ident()
        with self._lock:
            if self._waits.get(destination, {}).pop(worker, None) is not None:
                self._show(destination)

    def started(self, destination: str, attempt: int, max_attempts: int) -> float:
        """This worker starts an attempt (no longer waiting); the time it started."""
        now = self.clock()
        if self._status is not None:
            worker = threading.get_ident()
            with self._lock:
                self._running[worker] = _Running(
                    destination, attempt, max_attempts, now, now + SLOW_SECONDS
                )
                if self._waits.get(destination, {}).pop(worker, None) is not None:
                    self._show(destination)
        return now

    def ended(
        self, destination: str, started: float, report: Callable[[float], Attempt] | None = None
    ) -> None:
        """This worker's attempt, `started` at that time, ended; `report(seconds)` builds its
        `Attempt` (called only when someone listens)."""
        if self._status is not None:
            worker = threading.get_ident()
            with self._lock:
                running = self._running.pop(worker, None)
                if running is not None and running.notice > running.started + SLOW_SECONDS:
                    self._waits.get(destination, {}).pop(worker, None)  # it was reported slow
                    self._show(destination)
        if self._attempt is not None and report is not None:
            value = report(self.clock() - started)
            with self._lock:
                self._attempt(value)

    def tick(self) -> None:
        """Report the attempts waiting for an answer for `SLOW_SECONDS` or more (call it now and
        then, e.g. while waiting for batches)."""
        if self._status is None:
            return
        now = self.clock()
        with self._lock:
            for worker, running in self._running.items():
                if now < running.notice:
                    continue
                running.notice = now + SLOW_EVERY
                waits = self._waits.setdefault(running.destination, {})
                waits.pop(worker, None)
                waits[worker] = (
                    f"waiting for the server's answer, {seconds_text(now - running.started)} "
                    f"so far (attempt {running.attempt} of {running.max_attempts})"
                )
                self._show(running.destination)

    def _show(self, destination: str) -> None:
        """Pass the destination's latest message on, if it changed (with the lock held)."""
        assert self._status is not None
        waits = self._waits.get(destination)
        message = next(reversed(waits.values())) if waits else ""
        if self._shown.get(destination, "") != message:
            self._shown[destination] = message
            self._status(destination, message)
