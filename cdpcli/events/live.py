"""Reading a live input (a pipe, a terminal, a socket: whatever is not a regular file) without
blocking its reader's thread (PRODUCT.md §6.1 "Time-based flush").

A read of a pipe waits until its writer writes, for as long as that takes (`tail -f`, a queue
consumer), and a waiting read cannot be given a timeout on every platform (Windows has no
`select` on pipes). So a thread of its own reads the input's descriptor (`os.read`, which holds
no lock of a Python file object: an interpreter exiting with the thread still blocked does not
wait for it) into a small bounded queue, and the consumer's reads wait on that queue instead: at
least every `interval` seconds, whether data flows or not, they call `tick` (where a send flushes
batches that waited long enough, saves its checkpoint and notices a stop request; what `tick`
raises ends the read). A regular file never waits on a writer: it is read directly, as before
(`cdpcli.events.reader.is_live` tells them apart).
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from cdpcli.events.lines import BLOCK_BYTES

TICK_SECONDS = 0.1
QUEUE_BLOCKS = 4  # blocks read ahead of the consumer: at most 4 MiB held


class LiveInput(io.RawIOBase):
    """A raw stream over the descriptor of a live input, read by a thread; see the module
    docstring. Nothing may have been read from the descriptor through a buffered file object
    before (its buffer would be skipped). `close` lets the thread go once its read returns."""

    def __init__(
        self,
        fd: int,
        tick: Callable[[], None],
        *,
        interval: float = TICK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._tick = tick
        self._interval = interval
        self._clock = clock
        self._next_tick = clock() + interval
        self._blocks: queue.Queue[bytes | OSError] = queue.Queue(QUEUE_BLOCKS)
        self._rest = b""  # the part of a block the last read could not take
        self._ended = False
        self._closing = threading.Event()
        self._thread = threading.Thread(
            target=self._read_ahead, args=(fd,), name="cdpcli-live-input", daemon=True
        )
        self._thread.start()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not self._rest and not self._ended:
            self._rest = self._next_block()
        taken = self._rest[: len(view)]
        view[: len(taken)] = taken
        self._rest = self._rest[len(taken) :]
        return len(taken)

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(queue.Empty):  # a thread waiting to put gives up
            while True:
                self._blocks.get_nowait()
        super().close()

    def _next_block(self) -> bytes:
        """The next block (b"" at the end), ticking at least every `interval` meanwhile."""
        while True:
            now = self._clock()
            if now >= self._next_tick:
                self._next_tick = now + self._interval
                self._tick()
            try:
                block = self._blocks.get(timeout=max(self._next_tick - now, 0.0))
            except queue.Empty:
                continue
            if isinstance(block, OSError):
                raise block
            if not block:
                self._ended = True
            return block

    def _read_ahead(self, fd: int) -> None:
        while not self._closing.is_set():
            try:
                block: bytes | OSError = os.read(fd, BLOCK_BYTES)
            except OSError as error:
                block = error
            while not self._closing.is_set():
                try:
                    self._blocks.put(block, timeout=TICK_SECONDS)
                    break
                except queue.Full:
                    continue
            if not isinstance(block, bytes) or not block:
                return
