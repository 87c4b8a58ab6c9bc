"""Resumable progress (PRODUCT.md §6 `--checkpoint`).

Per input, the checkpoint records the line below which every event is settled (delivered,
duplicate, rejected or skipped). It is written atomically (temporary file in the same directory,
fsync, rename, fsync of the directory), versioned, and bound to the inputs and config it was made
for: a checkpoint of another run is refused rather than silently skipping the wrong lines. An
input in object storage is bound to its ETag (or generation) and size as well
(`cdpcli.send.object_binding`): an object that changed since is refused, like a changed config.
One run at a time writes it: `cdpcli.send.outputs` locks it (through a sidecar `FILE.lock`, since
every save replaces the file) before the run starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdpcli.errors import InputError, UsageError
from cdpcli.jsonio import JSONDecodeError, dumps_bytes, loads
from cdpcli.send.object_binding import check_objects
from cdpcli.send.outputs import open_regular

FORMAT = "cdpcli-checkpoint"
VERSION = 1


def fingerprint(*, config_text: str, inputs: Iterable[str], options: Mapping[str, Any]) -> str:
    """What a checkpoint is bound to: the config's text, the input names, the run's filters."""
    digest = hashlib.sha256()
    digest.update(config_text.encode("utf-8"))
    digest.update(b"\0inputs\0")
    for name in inputs:
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(dumps_bytes(dict(options), sort_keys=True))
    return digest.hexdigest()


@dataclass
class _Line:
    line: int
    pending: int = 1  # 1 while the line is still being read, plus one per unsettled route


@dataclass
class Watermarks:
    """Tracks, per input, the first line that is not yet settled.

    `open_line` starts a line (closing the previous one of that input), `hold`/`release` count
    the unsettled work of a line; `settled_below(source)` is the line below which all is done.
    """

    start: dict[str, int] = field(default_factory=dict)
    _open: dict[str, deque[_Line]] = field(default_factory=dict)
    _current: dict[str, _Line] = field(default_factory=dict)
    _below: dict[str, int] = field(default_factory=dict)

    def resume_line(self, source: str) -> int:
        """Lines below this were settled by an earlier run."""
        return self.start.get(source, 0)

    def open_line(self, source: str, line: int) -> _Line:
        current = self._current.get(source)
        if current is not None and current.line == line:
            return current
        if current is not None:
            self.release(source, current)
        state = _Line(line)
        self._open.setdefault(source, deque()).append(state)
        self._current[source] = state
        return state

    def hold(self, state: _Line) -> None:
        state.pending += 1

    def release(self, source: str, state: _Line) -> None:
        state.pending -= 1
        if state.pending == 0:
            self._advance(source)

    def finish_source(self, source: str) -> None:
        """The input was read to its end: its last line is no longer being read."""
        self.close_line(source)

    def close_line(self, source: str) -> None:
        """Every item of the last line read is seen (a live input waits for its next line):
        the line is no longer being read, so the watermark may pass it once it is settled."""
        current = self._current.pop(source, None)
        if current is not None:
            self.release(source, current)

    def _advance(self, source: str) -> None:
        lines = self._open.get(source)
        while lines and lines[0].pending == 0:
            done = lines.popleft()
            self._below[source] = done.line + 1

    def snapshot(self) -> dict[str, int]:
        """Per input, the line below which all is settled (including earlier runs)."""
        result = dict(self.start)
        for source, below in self._below.items():
            result[source] = max(below, result.get(source, 0))
        return result


class Checkpoint:
    """A checkpoint file: load, validate the binding, save atomically."""

    def __init__(
        self,
        path: Path,
        fingerprint: str,
        *,
        read_only: bool = False,
        objects: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.path = path
        self.fingerprint = fingerprint
        # Per object input (by URL), what it was when read: its ETag or generation, and size.
        self.objects = dict(objects or {})
        # A dry run reads a checkpoint (to show what a resume would send) but never writes one:
        # nothing it "delivered" was sent, and a real run must not skip it.
        self.read_only = read_only

    def load(self) -> dict[str, int]:
        """The saved watermarks, or {} when there is no checkpoint yet."""
        try:
            # Not through a symbolic link, and never blocking on a FIFO planted at the path.
            fd = open_regular(self.path, os.O_RDONLY, option="--checkpoint")
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise InputError(f"{self.path}: cannot read the checkpoint: {error}") from error
        try:
            with os.fdopen(fd, "rb") as handle:
                raw = handle.read()
        except OSError as error:
            raise InputError(f"{self.path}: cannot read the checkpoint: {error}") from error
        try:
            data = loads(raw)
        except JSONDecodeError as error:
            raise UsageError(
                f"{self.path}: not a cdpcli checkpoint (not JSON)",
                hint="delete it, or pass another --checkpoint path",
            ) from error
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UsageError(
                f"{self.path}: not a cdpcli checkpoint",
                hint="delete it, or pass another --checkpoint path",
            )
        if data.get("version") != VERSION:
            raise UsageError(
                f"{self.path}: checkpoint version {data.get('version')} is not supported "
                f"(this cdpcli writes version {VERSION})",
                hint="finish the run with the cdpcli that started it, or delete the checkpoint",
            )
        if data.get("fingerprint") != self.fingerprint:
            raise UsageError(
                f"{self.path}: this checkpoint was made for other inputs, config or filters",
                hint="re-run the exact command that made it, or delete it to start over",
            )
        inputs = data.get("inputs")
        if not isinstance(inputs, dict):
            raise UsageError(f"{self.path}: checkpoint has no `inputs`")
        check_objects(self.path, data.get("objects"), self.objects)
        return {str(k): int(v) for k, v in inputs.items() if isinstance(v, int)}

    def save(self, watermarks: Mapping[str, int]) -> None:
        """Write atomically: a crash leaves the old file or the new one, never half of each.
        A read-only checkpoint (a dry run's) writes nothing."""
        if self.read_only:
            return
        body = dumps_bytes(
            {
                "format": FORMAT,
                "version": VERSION,
                "fingerprint": self.fingerprint,
                "inputs": dict(sorted(watermarks.items())),
                **({"objects": dict(sorted(self.objects.items()))} if self.objects else {}),
            }
        )
        directory = self.path.parent if str(self.path.parent) else Path(".")
        try:
            handle, temp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=directory
            )
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(body + b"\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            _fsync_directory(directory)
        except OSError as error:
            raise InputError(
                f"{self.path}: cannot write the checkpoint: {error.strerror or error}",
                hint="free disk space or choose another --checkpoint path; nothing was lost: "
                "re-running resumes from the last checkpoint that was written",
            ) from error


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
