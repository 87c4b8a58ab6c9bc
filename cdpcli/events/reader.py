"""Read events from files, directories and stdin, streaming, each with its origin (PRODUCT.md §3).

Everything a user may have is accepted: JSON lines (`.jsonl`, `.ndjson`, or anything named on
the command line), `.json` files holding one array of events, one object, or several objects
(pretty-printed or not), any of them gzipped (detected by content, so a Segment storage
archive's bare `.gz` files work), directories walked recursively in sorted order, objects and
prefixes in S3 or GCS (`s3://…`, `gs://…`, listed and streamed by `cdpcli.events.objects`, read
here like files), and `-` or piped stdin. `.json` documents are split into values by
`cdpcli.events.reader_json`. The files a walk skips are counted in a note (`find_inputs`).

A line may hold an event, a Segment HTTP-API batch envelope (its `context` and `integrations` merged
into each item, the item's own values winning, its `sentAt` copied to items without one), or a
rejected-file record (`kind: "rejected"`) whose original event is replayed.

The reader yields `Event` or `Problem` values and never raises for bad data: a line that is not
UTF-8, not JSON or not an object, or longer than 1 MiB (skipped without being held, see
`cdpcli.events.lines`), becomes a `Problem` with its place, and so does a corrupt or truncated
gzip stream (at the line after the last one read; the next input is read on). An input that
cannot be opened, or whose reading fails (an I/O error: EIO, a dropped network mount), raises
`InputError` (exit 4) naming it and the last line read (PRODUCT.md §3.2).

Given a `tick`, a live input (a pipe, a terminal: `cdpcli.events.live`) is read by a thread so
that its reader calls `tick` every tenth of a second even while no data comes (a send flushes
its batches and saves its checkpoint from there). Regular files are read directly in any case.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, Any, BinaryIO, cast

from cdpcli.errors import InputError, NoInputError
from cdpcli.events.decode import Item, read_lines
from cdpcli.events.lines import BLOCK_BYTES, ReadFailure, split_lines
from cdpcli.events.model import Origin, Problem
from cdpcli.events.objects import ObjectStores, StoredObject, is_object_url
from cdpcli.events.skipped import SkippedFiles

STDIN_NAME = "<stdin>"
GZIP_MAGIC = b"\x1f\x8b"

# Event-file names a directory walk picks up (PRODUCT.md §3). A bare `.gz` is a Segment storage
# archive file: gzipped JSON lines (reference/segment-spec.md §8).
EVENT_SUFFIXES = (".jsonl", ".ndjson", ".json")
NOT_EVENT_SUFFIXES = (".tar", ".csv", ".tsv", ".txt", ".md", ".parquet", ".xml", ".yaml", ".yml")

# What a corrupt or truncated gzip stream raises: bad data of that file, not an I/O error.
_CORRUPT_GZIP = (gzip.BadGzipFile, EOFError, zlib.error)
# Decompressed blocks: smaller than a file's (read whole from the disk cache), as each is made,
# copied and scanned while still in the processor's cache (200k events: 0.78 s at 1 MiB, 0.6 s).
_GZIP_BLOCK_BYTES = 1 << 18


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input to read: a path on disk, an object in S3 or GCS (`object`, `name` its URL), or
    stdin (neither)."""

    name: str
    path: Path | None  # None = stdin, or an object
    object: StoredObject | None = None

    @property
    def size(self) -> int | None:
        """Size in bytes on disk or in the store (compressed size for gzip), None for stdin."""
        if self.object is not None:
            return self.object.size
        if self.path is None:
            return None
        try:
            return self.path.stat().st_size
        except OSError:
            return None


def is_event_file(path: PurePath) -> bool:
    """Whether a directory walk should read `path`: event files by name, never hidden files."""
    name = path.name.lower()
    if name.startswith("."):
        return False
    if name.endswith(".gz"):
        # Segment storage files are `<ms>.<uuid>.gz`: any .gz is taken unless its inner name
        # says it is something else.
        return not name[:-3].endswith(NOT_EVENT_SUFFIXES)
    return name.endswith(EVENT_SUFFIXES)


@dataclass(frozen=True)
class FoundInputs:
    """The inputs PATH arguments name, in order, and notes for the user about them (the files a
    directory walk or prefix listing skipped)."""

    files: list[InputFile]
    notes: tuple[str, ...] = ()


def resolve_inputs(
    paths: Iterable[str],
    *,
    stdin_is_tty: bool | None = None,
    objects: ObjectStores | None = None,
) -> list[InputFile]:
    """Expand PATH arguments into the files to read, in order (see `find_inputs`)."""
    return find_inputs(paths, stdin_is_tty=stdin_is_tty, objects=objects).files


def find_inputs(
    paths: Iterable[str],
    *,
    stdin_is_tty: bool | None = None,
    objects: ObjectStores | None = None,
) -> FoundInputs:
    """Expand PATH arguments into the files to read, in order; `-` or no path means stdin, an
    `s3://` or `gs://` URL an object or a prefix (through `objects`, which holds the retry
    policy; one without retries is made when none is given).

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
        return FoundInputs([InputFile(STDIN_NAME, None)])
    inputs: list[InputFile] = []
    notes: list[str] = []
    for name in names:
        if name == "-":
            inputs.append(InputFile(STDIN_NAME, None))
            continue
        if is_object_url(name):
            objects = objects if objects is not None else ObjectStores()
            inputs.extend(_objects(name, objects, notes))
            continue
        path = Path(name)
        if path.is_dir():
            skipped = SkippedFiles()
            found = sorted(
                (p for p in _walk(path) if _taken(p, skipped)),
                key=lambda p: p.as_posix(),
            )
            if not found:
                raise _no_event_files(f"{name}: directory holds no event files", skipped)
            note = skipped.note(name)
            if note is not None:
                notes.append(note)
            inputs.extend(InputFile(str(p), p) for p in found)
        elif path.exists():
            inputs.append(InputFile(name, path))
        else:
            raise InputError(f"{name}: no such file or directory")
    return FoundInputs(inputs, tuple(notes))


def _taken(path: Path, skipped: SkippedFiles) -> bool:
    """Whether a walk reads `path`; a file it skips (hidden ones aside) is counted."""
    if is_event_file(path):
        return True
    if not path.name.startswith("."):
        skipped.add(path.name)
    return False


def _objects(name: str, objects: ObjectStores, notes: list[str]) -> list[InputFile]:
    """The inputs of an object URL: the object, or the event files under the prefix, in key
    order, under the directory walk's rule (hidden names and folder markers left out)."""
    found = objects.find(name)
    if not found.prefix:
        (stored,) = found.objects
        return [InputFile(stored.url, None, stored)]
    skipped = SkippedFiles()
    base = found.location.key.rstrip("/")
    taken: list[InputFile] = []
    for stored in found.objects:
        relative = stored.key[len(base) :].lstrip("/") if base else stored.key
        parts = relative.split("/")
        if any(part.startswith(".") for part in parts):
            continue
        if is_event_file(PurePath(parts[-1])):
            taken.append(InputFile(stored.url, None, stored))
        elif stored.size > 0:  # an empty object without an event name is a folder marker
            skipped.add(parts[-1])
    if not taken:
        raise _no_event_files(f"{name}: prefix holds no event files", skipped)
    note = skipped.note(name)
    if note is not None:
        notes.append(note)
    return taken


def _no_event_files(message: str, skipped: SkippedFiles) -> InputError:
    if skipped.count:
        message += f" (skipped {skipped.describe()})"
    return InputError(
        message, hint="event files end in .jsonl, .ndjson, .json or .gz (optionally .jsonl.gz)"
    )


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in filenames:
            yield Path(dirpath) / filename


def read_inputs(inputs: Iterable[InputFile], *, stdin: BinaryIO | None = None) -> Iterator[Item]:
    """Stream every event and problem of `inputs`, in order."""
    for input_file in inputs:
        yield from read_input(input_file, stdin=stdin)


def read_events(paths: Iterable[str], *, stdin: BinaryIO | None = None) -> Iterator[Item]:
    """Stream what the files, directories or `-` (stdin, or `stdin` when given) in `paths` hold,
    in order: an `Event` per event read, a `Problem` per line that is not one, each with its
    origin (`path:line`). The paths are resolved at once: a path that does not exist raises
    InputError (exit 4) here, and so does a read that fails later while iterating."""
    return read_inputs(resolve_inputs(paths), stdin=stdin)


def read_input(
    input_file: InputFile,
    *,
    stdin: BinaryIO | None = None,
    opened: Callable[[BinaryIO], None] | None = None,
    block: Callable[[], None] | None = None,
    tick: Callable[[], None] | None = None,
) -> Iterator[Item]:
    """Stream the events and problems of one input. Raises InputError if it cannot be opened.

    `opened` receives the file handle once it is open: its position (`tell`) is how far into the
    file (compressed size, for gzip) the reading has come. `block` is called after each block of
    JSON lines read (for a progress display: nothing is done per event). `tick`, if given, is
    called at least every `cdpcli.events.live.TICK_SECONDS` while a live input is read (what it
    raises ends the reading).
    """
    if input_file.object is not None:
        yield from _read_object(input_file, input_file.object, opened, block)
        return
    if input_file.path is None:
        raw: BinaryIO = stdin if stdin is not None else sys.stdin.buffer
        live = _live(raw, tick)
        try:
            yield from _read_stream(live or raw, input_file.name, json_document=False, block=block)
        finally:
            if live is not None:
                live.close()
        return
    try:
        handle = open(input_file.path, "rb")  # noqa: SIM115 - closed in finally
    except OSError as error:
        raise InputError(f"{input_file.name}: cannot open: {error.strerror or error}") from error
    if opened is not None:
        opened(handle)
    live = _live(handle, tick)
    try:
        json_document = _is_json_name(input_file)
        yield from _read_stream(
            live or handle, input_file.name, json_document=json_document, block=block
        )
    finally:
        if live is not None:
            live.close()
        handle.close()


def is_live(handle: Any) -> bool:
    """Whether reading `handle` may wait on a writer (a pipe, a FIFO, a terminal, a socket):
    it has a descriptor that is not a regular file or a block device. A stream without one (an
    in-memory buffer) is not live."""
    try:
        mode = os.fstat(handle.fileno()).st_mode
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISBLK(mode))


def _live(handle: BinaryIO, tick: Callable[[], None] | None) -> BinaryIO | None:
    """A thread-read stream over `handle` when it is live and someone ticks (else None)."""
    if tick is None or not is_live(handle):
        return None
    from cdpcli.events.live import LiveInput

    return cast(BinaryIO, LiveInput(handle.fileno(), tick))


def _read_object(
    input_file: InputFile,
    stored: StoredObject,
    opened: Callable[[BinaryIO], None] | None,
    block: Callable[[], None] | None,
) -> Iterator[Item]:
    """An object, streamed (`cdpcli.events.objects.ObjectReader`) and read like a file."""
    raw = stored.open()
    if opened is not None:
        opened(cast(BinaryIO, raw))
    try:
        buffered = io.BufferedReader(raw, stored.stores.chunk_bytes)
        yield from _read_stream(
            buffered, input_file.name, json_document=_is_json_name(input_file), block=block
        )
    finally:
        raw.close()


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


def read_range(  # noqa: PLR0917 - the range's four facts
    input_file: InputFile,
    start: int,
    end: int,
    first_line: int,
    opened: Callable[[BinaryIO], None] | None = None,
    block: Callable[[], None] | None = None,
) -> Iterator[Item]:
    """The events and problems of the lines of a plain JSON-lines file in the byte range
    [start, end), which starts at the beginning of line `first_line` and ends after a newline or
    at the end of the file (as `cdpcli.events.chunks.cut` makes them). `opened` and `block`:
    as for `read_input`."""
    assert input_file.path is not None
    try:
        handle = open(input_file.path, "rb")  # noqa: SIM115 - closed in finally
    except OSError as error:
        raise InputError(f"{input_file.name}: cannot open: {error.strerror or error}") from error
    if opened is not None:
        opened(handle)
    try:
        try:
            handle.seek(start)
        except OSError as error:
            raise read_error(input_file.name, first_line - 1, error) from error
        lines = split_lines(_reporting(handle.read, block), end - start)
        yield from read_lines(lines, input_file.name, first_line=first_line)
    except ReadFailure as failure:
        raise read_error(input_file.name, failure.line, failure.error) from failure.error
    finally:
        handle.close()


def read_error(name: str, line: int, error: BaseException) -> InputError:
    """The error of an input whose reading failed after `line` lines (0: before any)."""
    reason = (error.strerror if isinstance(error, OSError) else None) or error
    where = f"after line {line}" if line else "the file"
    return InputError(
        f"{name}: cannot read {where}: {reason}",
        hint="check the disk or network mount it is on, then re-run "
        "(a send with --checkpoint resumes where it stopped)",
    )


def is_json_document(input_file: InputFile) -> bool:
    """Whether the input is read as JSON documents (`.json`, `.json.gz`), not as JSON lines:
    then several values may share a line, and a read may stop inside one."""
    return input_file.path is not None and _is_json_name(input_file)


def _is_json_name(input_file: InputFile) -> bool:
    name = input_file.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(".json")


def _reporting(
    read: Callable[[int], bytes], block: Callable[[], None] | None
) -> Callable[[int], bytes]:
    """`read`, calling `block` after each block it read (when given)."""
    if block is None:
        return read

    def read_block(size: int) -> bytes:
        data = read(size)
        block()
        return data

    return read_block


def _read_stream(
    raw: BinaryIO, name: str, *, json_document: bool, block: Callable[[], None] | None = None
) -> Iterator[Item]:
    try:
        buffered: io.BufferedReader = (
            raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(Any, raw))
        )
        head = buffered.peek(2)[:2]
    except OSError as error:
        raise read_error(name, 0, error) from error
    stream: IO[bytes] = buffered
    # Lines are split from blocks given by read1: one read of the source at a time, so that a
    # gzip error keeps every line decompressed before it.
    read, block_bytes = buffered.read1, BLOCK_BYTES
    if head == GZIP_MAGIC:
        unzipped = gzip.GzipFile(fileobj=buffered, mode="rb")
        stream = io.BufferedReader(_Read1(unzipped), 1 << 16)
        read, block_bytes = unzipped.read1, _GZIP_BLOCK_BYTES
    try:
        if json_document:
            from cdpcli.events.reader_json import (
                read_document,  # lazy: reader_json imports this module
            )

            yield from read_document(stream, name)
        else:
            lines = split_lines(_reporting(read, block), block_bytes=block_bytes)
            yield from read_lines(lines, name)
    except ReadFailure as failure:
        cause, line = failure.error, failure.line
        if not isinstance(cause, _CORRUPT_GZIP):
            raise read_error(name, line, cause) from cause
        # Bad data of this file: reported at the line that could not be read, and the run goes
        # on with the next input.
        message = f"cannot read the rest of the file after line {line}: {cause}"
        yield Problem(Origin(name, line + 1), "error", None, message)


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
