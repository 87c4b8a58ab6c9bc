"""The rejected file (PRODUCT.md §6 `--rejected FILE`): one JSON line per rejected event.

Each record holds the original event, its origin, the destination and route, and the reason (the
destination's own message where it gave one). The file is created with mode 0600 (events carry
personal data), and `cdpcli send FILE` replays it: the reader unwraps each record to its event and
sends it back to the route that rejected it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

import orjson

from cdpcli.errors import InputError
from cdpcli.events.model import Origin
from cdpcli.jsonio import dumps_bytes
from cdpcli.send.outputs import open_regular

KIND = "rejected"
VERSION = 1


def record(
    *,
    event: Any,
    origin: Origin,
    reason: str,
    destination: str | None = None,
    route: str | None = None,
) -> dict[str, Any]:
    """One rejected-file record. `event` is the original event, parsed or as its compact JSON
    bytes, or the text of the line (a JSON string) when the line was not an event at all."""
    if type(event) is not bytes and event is not None:
        # Serialized on its own, as a worker process does (`cdpcli.send.prepare._portable`):
        # nested one
        # level deeper in the record it could fall back to another serializer near orjson's depth
        # limit, and the file would depend on how the run was parallelized.
        event = dumps_bytes(event)
    if type(event) is bytes:
        event = orjson.Fragment(event)  # already JSON: embedded as it is
    return {
        "kind": KIND,
        "version": VERSION,
        "origin": str(origin),
        "destination": destination,
        "route": route,
        "reason": reason,
        "event": event,
    }


class RejectedFile:
    """Appends records to FILE, created 0600. Opened lazily: no rejection, no file. One run at a
    time writes it: `cdpcli.send.outputs` locks it before the run starts."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self._append = append
        self._handle: IO[bytes] | None = None
        self.count = 0

    def write(self, entry: dict[str, Any]) -> None:
        try:
            if self._handle is None:
                self._handle = self._open()
            self._handle.write(dumps_bytes(entry) + b"\n")
            self.count += 1
        except OSError as error:
            raise InputError(
                f"{self.path}: cannot write the rejected file: {error.strerror or error}",
                hint="free disk space or choose another --rejected path, then re-run "
                "(with --checkpoint the run resumes where it stopped)",
            ) from error

    def _open(self) -> IO[bytes]:
        # Never through a symbolic link planted at the path (a dangling one must not create a file
        # elsewhere, one to a file must not truncate it), never a FIFO or device: `open_regular`
        # opens without following or blocking and refuses what is not a regular file. Truncated
        # only once it is known to be one.
        flags = os.O_RDWR | os.O_CREAT | (os.O_APPEND if self._append else 0)
        fd = open_regular(self.path, flags, 0o600, option="--rejected")
        try:
            if not self._append:
                os.ftruncate(fd, 0)
            if hasattr(os, "fchmod"):  # events carry personal data (not on Windows)
                os.fchmod(fd, 0o600)
            size = os.fstat(fd).st_size
            if self._append and size and _last_byte(fd, size) != b"\n":
                # A run killed mid-write left half a record: end that line, so the next record
                # (the resumed run's first) stays whole and replayable.
                os.write(fd, b"\n")
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "ab" if self._append else "wb")

    def flush(self) -> None:
        if self._handle is not None:
            try:
                self._handle.flush()
                os.fsync(self._handle.fileno())
            except OSError as error:
                raise InputError(
                    f"{self.path}: cannot write the rejected file: {error.strerror or error}"
                ) from error

    def close(self) -> None:
        if self._handle is not None:
            try:
                self.flush()
            finally:
                handle, self._handle = self._handle, None
                with contextlib.suppress(OSError):  # a failed flush fails again here: say it once
                    handle.close()


def _last_byte(fd: int, size: int) -> bytes:
    os.lseek(fd, size - 1, os.SEEK_SET)
    return os.read(fd, 1)
