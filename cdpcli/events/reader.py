"""Read events from files, directories and stdin, streaming, each with its origin (PRODUCT.md §3).

Everything a user may have is accepted: JSON lines (`.jsonl`, `.ndjson`, or anything named on
the command line), `.json` files holding one array of events, one object, or several objects
(pretty-printed or not), any of them gzipped (detected by content, so a Segment storage
archive's bare `.gz` files work), directories walked recursively in sorted order, and `-` or
piped stdin. `.json` documents are split into values by `cdpcli.events.reader_json`.

A line may hold an event, a Segment HTTP-API batch envelope (its `context` and `integrations` merged
into each item, the item's own values winning, its `sentAt` copied to items without one), or a
rejected-file record (`kind: "rejected"`) whose original event is replayed.

The reader yields `Event` or `Problem` values and never raises for bad data: a line that is not
UTF-8, not JSON or not an object becomes a `Problem` with its place. Only an input that cannot be
opened at all raises `InputError` (exit 4).
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from cdpcli.errors import InputError, NoInputError
from cdpcli.events.decode import Item, read_lines
from cdpcli.events.model import Origin, Problem

STDIN_NAME = "<stdin>"
GZIP_MAGIC = b"\x1f\x8b"

# Event-file names a directory walk picks up (PRODUCT.md §3). A bare `.gz` is a Segment storage
# archive file: gzipped JSON lines (reference/segment-spec.md §8).
EVENT_SUFFIXES = (".jsonl", ".ndjson", ".json")
NOT_EVENT_SUFFIXES = (".tar", ".csv", ".tsv", ".txt", ".md", ".parquet", ".xml", ".yaml", ".yml")

_RANGE_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input to read: a path on disk, or stdin."""

    name: str
    path: Path | None  # None = stdin

    @property
    def size(self) -> int | None:
        """Size in bytes on disk (compressed size for gzip), None for stdin."""
        if self.path is None:
            return None
        try:
            return self.path.stat().st_size
        except OSError:
            return None


def is_event_file(path: Path) -> bool:
    """Whether a directory walk should read `path`: event files by name, never hidden files."""
    name = path.name.lower()
    if name.startswith("."):
        return False
    if name.endswith(".gz"):
        # Segment storage files are `<ms>.<uuid>.gz`: any .gz is taken unless its inner name
        # says it is something else.
        return not name[:-3].endswith(NOT_EVENT_SUFFIXES)
    return name.endswith(EVENT_SUFFIXES)


def resolve_inputs(paths: Iterable[str], *, stdin_is_tty: bool | None = None) -> list[InputFile]:
    """Expand PATH arguments into the files to read, in order; `-` or no path means stdin.

    Raises InputError when a named path does not exist or a directory holds no event files, and
    NoInputError (a usage error) when no path is given and stdin is a terminal.
    """
    names = list(paths)
    if not names:
        tty = sys.stdin.isatty() if stdin_is_tty is None else stdin_is_tty
        if tty:
            raise NoInputError(
                "no input: give one or more PATHs (files or directories), or pipe events on stdin",
                hint="name an event file or directory, or pipe events on stdin",
            )
        return [InputFile(STDIN_NAME, None)]
    inputs: list[InputFile] = []
    for name in names:
        if name == "-":
            inputs.append(InputFile(STDIN_NAME, None))
            continue
        path = Path(name)
        if path.is_dir():
            found = sorted(
                (p for p in _walk(path) if is_event_file(p)),
                key=lambda p: p.as_posix(),
            )
            if not found:
                raise InputError(
                    f"{name}: directory holds no event files",
                    hint="event files end in .jsonl, .ndjson, .json or .gz (optionally .jsonl.gz)",
                )
            inputs.extend(InputFile(str(p), p) for p in found)
        elif path.exists():
            inputs.append(InputFile(name, path))
        else:
            raise InputError(f"{name}: no such file or directory")
    return inputs


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in filenames:
            yield Path(dirpath) / filename


def read_inputs(inputs: Iterable[InputFile], *, stdin: BinaryIO | None = None) -> Iterator[Item]:
    """Stream every event and problem of `inputs`, in order."""
    for input_file in inputs:
        yield from read_input(input_file, stdin=stdin)


def read_input(
    input_file: InputFile,
    *,
    stdin: BinaryIO | None = None,
    opened: Callable[[BinaryIO], None] | None = None,
) -> Iterator[Item]:
    """Stream the events and problems of one input. Raises InputError if it cannot be opened.

    `opened` receives the file handle once it is open: its position (`tell`) is how far into the
    file (compressed size, for gzip) the reading has come.
    """
    if input_file.path is None:
        raw: BinaryIO = stdin if stdin is not None else sys.stdin.buffer
        yield from _read_stream(raw, input_file.name, json_document=False)
        return
    try:
        handle = open(input_file.path, "rb")  # noqa: SIM115 - closed in finally
    except OSError as error:
        raise InputError(f"{input_file.name}: cannot open: {error.strerror or error}") from error
    if opened is not None:
        opened(handle)
    try:
        yield from _read_stream(handle, input_file.name, json_document=_is_json_name(input_file))
    finally:
        handle.close()


def is_plain_lines(input_file: InputFile) -> bool:
    """Whether the input is an uncompressed JSON-lines file on disk, which can be read in byte
    ranges (see `read_range`)."""
    if input_file.path is None or _is_json_name(input_file):
        return False
    try:
        with open(input_file.path, "rb") as handle:
            return handle.read(2) != GZIP_MAGIC
    except OSError:
        return False


def read_range(input_file: InputFile, start: int, end: int, first_line: int) -> Iterator[Item]:
    """The events and problems of the lines of a plain JSON-lines file that start in the byte
    range [start, end); `start` is the beginning of line `first_line`."""
    assert input_file.path is not None
    try:
        handle = open(input_file.path, "rb")  # noqa: SIM115 - closed in finally
    except OSError as error:
        raise InputError(f"{input_file.name}: cannot open: {error.strerror or error}") from error
    try:
        handle.seek(start)
        lines = itertools.chain.from_iterable(map(io.BytesIO, _blocks_until(handle, end - start)))
        yield from read_lines(lines, input_file.name, first_line=first_line)
    except OSError as error:
        yield Problem(Origin(input_file.name, first_line), "error", None, f"cannot read: {error}")
    finally:
        handle.close()


def _blocks_until(handle: IO[bytes], size: int) -> Iterator[bytes]:
    """Blocks of whole lines, up to and including the line in which byte `size` falls."""
    remaining = size
    while remaining > 0:
        block = handle.read(min(_RANGE_BLOCK, remaining))
        if not block:
            return
        remaining -= len(block)
        if not block.endswith(b"\n"):
            rest = handle.readline()  # the line started inside the range: it is ours
            remaining -= len(rest)
            block += rest
        yield block


def _is_json_name(input_file: InputFile) -> bool:
    name = input_file.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(".json")


def _read_stream(raw: BinaryIO, name: str, *, json_document: bool) -> Iterator[Item]:
    buffered: io.BufferedReader = (
        raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(Any, raw))
    )
    head = buffered.peek(2)[:2]
    stream: IO[bytes] = buffered
    if head == GZIP_MAGIC:
        unzipped = gzip.GzipFile(fileobj=buffered, mode="rb")
        stream = io.BufferedReader(_Read1(unzipped), 1 << 16)
    try:
        if json_document:
            from cdpcli.events.reader_json import (
                read_document,  # lazy: reader_json imports this module
            )

            yield from read_document(stream, name)
        else:
            yield from read_lines(stream, name)
    except (OSError, EOFError, zlib.error) as error:
        # A truncated or corrupt gzip stream, or a read error mid-file: report it at the file and
        # go on with the next input.
        yield Problem(Origin(name, 0), "error", None, f"cannot read the rest of the file: {error}")


class _Read1(io.RawIOBase):
    """A gzip stream read one decompressed piece at a time.

    `GzipFile.read(n)` loops until it has `n` bytes, so an error (a truncated file, trailing
    garbage after the last member, a bad CRC) would discard everything it decompressed in that
    call: up to 64 KB of complete lines. `read1` returns what it has first and raises next time.
    """

    def __init__(self, source: gzip.GzipFile) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)
