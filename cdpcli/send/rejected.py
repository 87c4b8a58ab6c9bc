"""The rejected file (PRODUCT.md §6 `--rejected FILE`): one JSON line per rejected event.

Each record holds the original event, its origin, the destination and route, and the reason (the
destination's own message where it gave one). The file is created with mode 0600 (events carry
personal data), and `cdpcli send FILE` replays it: the reader unwraps each record to its event and
sends it back to the route that rejected it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import IO, Any

import orjson

from cdpcli import jsonio
from cdpcli.errors import InputError
from cdpcli.events.model import Origin

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
        event = jsonio.dumps_bytes(event)
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
    """Appends records to FILE, created 0600. Opened lazily: no rejection, no file."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self._append = append
        self._handle: IO[bytes] | None = None
        self.count = 0

    def write(self, entry: dict[str, Any]) -> None:
        try:
            if self._handle is None:
                self._handle = self._open()
            self._handle.write(jsonio.dumps_bytes(entry) + b"\n")
            self.count += 1
        except OSError as error:
            raise InputError(
                f"{self.path}: cannot write the rejected file: {error.strerror or error}",
                hint="free disk space or choose another --rejected path, then re-run "
                "(with --checkpoint the run resumes where it stopped)",
            ) from error

    def _open(self) -> IO[bytes]:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if self._append else os.O_TRUNC)
        fd = os.open(self.path, flags, 0o600)
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):  # never chmod a device (`--rejected /dev/stdout`)
            if hasattr(os, "fchmod"):  # not on Windows before Python 3.13 (no POSIX modes there)
                os.fchmod(fd, 0o600)
            if self._append and info.st_size and _last_byte(self.path) != b"\n":
                # A run killed mid-write left half a record: end that line, so the next record
                # (the resumed run's first) stays whole and replayable.
                os.write(fd, b"\n")
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


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1)
