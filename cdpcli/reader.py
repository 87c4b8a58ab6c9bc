"""Read events from files, directories and stdin, streaming, each with its origin (PRODUCT.md §3).

Everything a user may have is accepted: JSON lines (`.jsonl`, `.ndjson`, or anything named on
the command line), `.json` files holding one array of events, one object, or several objects
(pretty-printed or not), any of them gzipped (detected by content, so a Segment storage
archive's bare `.gz` files work), directories walked recursively in sorted order, and `-` or
piped stdin. `.json` documents are split into values by `cdpcli.reader_json`.

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

import orjson

from cdpcli.errors import InputError
from cdpcli.jsonio import dumps_bytes, json_type
from cdpcli.model import Event, Origin, Problem
from cdpcli.spec import MAX_EVENT_BYTES

STDIN_NAME = "<stdin>"
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"

# Event-file names a directory walk picks up (PRODUCT.md §3). A bare `.gz` is a Segment storage
# archive file: gzipped JSON lines (reference/segment-spec.md §8).
EVENT_SUFFIXES = (".jsonl", ".ndjson", ".json")
NOT_EVENT_SUFFIXES = (".tar", ".csv", ".tsv", ".txt", ".md", ".parquet", ".xml", ".yaml", ".yml")

# orjson's compact output of a parsed value is at most ~4.5x the input text (a `1e15` literal
# becomes `1000000000000000.0`). A line under MAX_EVENT_BYTES / 5 bytes therefore serializes under
# the limit, and its exact size need not be computed (reference/segment-spec.md §7 measures the
# compact re-serialization).
_SIZE_FAST_PATH = MAX_EVENT_BYTES // 5
_RANGE_BLOCK = 1 << 20

Item = Event | Problem


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

    Raises InputError when a named path does not exist or a directory holds no event files.
    """
    names = list(paths)
    if not names:
        tty = sys.stdin.isatty() if stdin_is_tty is None else stdin_is_tty
        if tty:
            raise InputError(
                "no input: give one or more PATHs (files or directories), or pipe events on stdin",
                hint="e.g. `cdpcli validate events.jsonl` or `cat events.jsonl | cdpcli validate`",
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
        yield from _read_lines(lines, input_file.name, first_line=first_line)
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
            from cdpcli.reader_json import read_document  # lazy: reader_json imports this module

            yield from read_document(stream, name)
        else:
            yield from _read_lines(stream, name)
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


def _read_lines(stream: Iterable[bytes], name: str, *, first_line: int = 1) -> Iterator[Item]:
    # The hot loop of every command: keep it to a parse, two key probes and one Event per line.
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    fast_size = _SIZE_FAST_PATH
    lineno = first_line - 1
    for raw_line in stream:
        lineno += 1
        line = raw_line[3:] if lineno == 1 and raw_line.startswith(BOM) else raw_line
        try:
            value = loads(line)
        except decode_error as error:
            if line.strip():
                origin = Origin(name, lineno)
                yield Problem(origin, "error", None, _parse_message(line, error), line)
            continue
        if type(value) is not dict:
            problem = _not_an_object(value, Origin(name, lineno))
            problem.raw = line
            yield problem
        elif "batch" in value or "kind" in value:
            yield from _unpack(value, name, lineno, len(line))
        else:
            size = len(line)
            yield Event(
                value,
                Origin(name, lineno),
                size if size <= fast_size else _size(value, size),
                None,
                None,
                line,
            )


def _unpack(value: dict[str, Any], name: str, lineno: int, raw_len: int) -> Iterator[Item]:
    batch = value.get("batch")
    if type(batch) is list and "type" not in value:
        yield from _unpack_envelope(value, batch, name, lineno, raw_len)
        return
    if value.get("kind") == "rejected" and "type" not in value:
        yield from _unpack_rejected(value, Origin(name, lineno))
        return
    yield Event(value, Origin(name, lineno), _size(value, raw_len))


def _size(value: Any, raw_len: int) -> int:
    if raw_len <= _SIZE_FAST_PATH:
        return raw_len
    return len(dumps_bytes(value))  # orjson, or the standard library past 254 levels


def _unpack_envelope(
    envelope: dict[str, Any], batch: list[Any], name: str, lineno: int, raw_len: int
) -> Iterator[Item]:
    """Items of a Segment HTTP-API batch (reference/segment-spec.md §8)."""
    context = envelope.get("context")
    integrations = envelope.get("integrations")
    sent_at = envelope.get("sentAt")
    for index, item in enumerate(batch):
        origin = Origin(name, lineno, index)
        if type(item) is not dict:
            yield _not_an_object(item, origin)
            continue
        size = _size(item, raw_len)
        merged = dict(item)
        if isinstance(context, dict):
            own = item.get("context")
            merged["context"] = (
                deep_merge(context, own)
                if isinstance(own, dict)
                else (own if "context" in item else context)
            )
        if isinstance(integrations, dict):
            own = item.get("integrations")
            merged["integrations"] = (
                deep_merge(integrations, own)
                if isinstance(own, dict)
                else (own if "integrations" in item else integrations)
            )
        if sent_at is not None and "sentAt" not in item:
            merged["sentAt"] = sent_at
        yield Event(merged, origin, size)


def deep_merge(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """`base` with `own` merged in recursively; `own` wins at every level.

    Iterative: a line may nest 1024 levels deep (orjson's limit), past Python's recursion limit.
    """
    merged = dict(base)
    stack = [(merged, own)]
    while stack:
        target, source = stack.pop()
        for key, value in source.items():
            current = target.get(key)
            if isinstance(current, dict) and isinstance(value, dict):
                child = dict(current)
                target[key] = child
                stack.append((child, value))
            else:
                target[key] = value
    return merged


def _unpack_rejected(record: dict[str, Any], origin: Origin) -> Iterator[Item]:
    """The original event of a rejected-file record (PRODUCT.md §6), to be replayed. A line
    that was not an event is kept as its text: it is read again as a line (fixed by hand, it
    replays; as it was, it is reported again)."""
    event = record.get("event")
    if type(event) is str and event.strip():
        for item in _read_lines([event.encode("utf-8")], origin.source, first_line=origin.line):
            if type(item) is Event:
                item.raw = None  # not the input line (the record is): quoted as parsed
            yield item
        return
    if type(event) is str:  # a blank line is no event, but this record must not vanish
        yield Problem(origin, "error", "event", "rejected-file record holds a blank line")
        return
    if type(event) is not dict:
        yield Problem(origin, "error", "event", "rejected-file record has no original event")
        return
    route = record.get("route")
    destination = record.get("destination")
    yield Event(
        event,
        origin,
        _size(event, _SIZE_FAST_PATH + 1),
        replay_route=route if isinstance(route, str) else None,
        replay_destination=destination if isinstance(destination, str) else None,
    )


def _not_an_object(value: Any, origin: Origin) -> Problem:
    kind = json_type(value)
    return Problem(origin, "error", None, f"not an object: the line holds a JSON {kind}")


def _parse_message(raw: bytes, error: orjson.JSONDecodeError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        bad = raw[decode_error.start : decode_error.start + 1].hex()
        return f"not UTF-8: byte 0x{bad} at column {decode_error.start + 1}"
    message = error.msg if len(error.msg) <= 100 else error.msg[:97] + "..."
    return f"not JSON: {message} at column {error.pos + 1}"
