"""How far a long read has come, for a progress display (`validate`, `inspect`; `send` reports its
`SendSummary` the same way): events read, invalid ones, and input bytes read of bytes in all.

Reporting costs nothing per event: the reader tells a `ReadTracker` when it has read a block of
input (about 1 MiB), the tracker looks at the clock then, and at most every
`PROGRESS_EVERY_SECONDS` asks the counts it was given (the counters the run keeps anyway) and
passes a `ReadProgress` to the callback. Bytes are the position in the file as stored (the
compressed size, for gzip); stdin has no size, so `bytes_total` is None.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PROGRESS_EVERY_SECONDS = 0.1


@dataclass(frozen=True)
class ReadProgress:
    """A read so far: `events_read` (invalid ones included), `bytes_done` of `bytes_total`
    (None when an input's size is unknown, as stdin's)."""

    events_read: int
    invalid: int
    bytes_done: int
    bytes_total: int | None


ProgressCallback = Callable[[ReadProgress], None]
Counts = Callable[[], tuple[int, int]]  # (events read, invalid) of the part being read
Opened = Callable[[Any], None]  # given the handle being read


class Every:
    """True at most every `seconds` (default `PROGRESS_EVERY_SECONDS`; the first time at once)."""

    __slots__ = ("_clock", "_next", "seconds")

    def __init__(
        self, seconds: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = PROGRESS_EVERY_SECONDS if seconds is None else seconds
        self._clock = clock
        self._next: float | None = None

    def due(self) -> bool:
        now = self._clock()
        if self._next is not None and now < self._next:
            return False
        self._next = now + self.seconds
        return True


class ReadTracker:
    """Follows one run's read over its inputs, in order, for a `ProgressCallback`.

    For each part read in this process: `part(counts)` gives the hooks for the reader (`opened`
    takes the handle whose `tell` is the position, `block` is called after each block read), and
    `done(size, events, invalid)` adds the finished part. A part read elsewhere (a worker
    process) is only `done`."""

    def __init__(
        self,
        callback: ProgressCallback,
        bytes_total: int | None,
        *,
        every: Every | None = None,
    ) -> None:
        self.callback = callback
        self.bytes_total = bytes_total
        self._every = every if every is not None else Every()
        self._done = self._events = self._invalid = 0
        self._position: Callable[[], int] = lambda: 0
        self._counts: Counts = lambda: (0, 0)

    def part(
        self, counts: Counts, start: int = 0
    ) -> tuple[Callable[[Any], None], Callable[[], None]]:
        """The reader's hooks for the part starting at byte `start` of its file."""
        self._counts = counts
        self._position = lambda: 0

        def opened(handle: Any) -> None:
            self._position = lambda: handle.tell() - start

        return opened, self.block

    def block(self) -> None:
        if self._every.due():
            self.report()

    def done(self, size: int, events: int, invalid: int) -> None:
        self._done += size
        self._events += events
        self._invalid += invalid
        self._position = lambda: 0
        self._counts = lambda: (0, 0)
        self.report()

    def report(self) -> None:
        events, invalid = self._counts()
        try:
            position = self._position()
        except (OSError, ValueError):  # a closed handle
            position = 0
        self.callback(
            ReadProgress(
                events_read=self._events + events,
                invalid=self._invalid + invalid,
                bytes_done=self._done + position,
                bytes_total=self.bytes_total,
            )
        )


def total_size(sizes: list[int | None]) -> int | None:
    """The inputs' bytes in all, None when one of them has no known size."""
    return None if any(size is None for size in sizes) else sum(size or 0 for size in sizes)
