"""Lines of JSON to events: one event, a Segment batch envelope, or a rejected-file record per
line, each with its origin (PRODUCT.md §3). Shared by the line reader and the `.json` document
reader (`cdpcli.events.reader_json`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from cdpcli.events.lines import TOO_LONG, TOO_LONG_MESSAGE, ReadFailure
from cdpcli.events.model import Event, Origin, Problem
from cdpcli.events.spec import MAX_EVENT_BYTES
from cdpcli.jsonio import dumps_bytes, json_type

BOM = b"\xef\xbb\xbf"


# orjson's compact output of a parsed value is at most ~4.5x the input text (a `1e15` literal
# becomes `1000000000000000.0`). A line under MAX_EVENT_BYTES / 5 bytes therefore serializes under
# the limit, and its exact size need not be computed (reference/segment-spec.md §7 measures the
# compact re-serialization).
_SIZE_FAST_PATH = MAX_EVENT_BYTES // 5


Item = Event | Problem


def read_lines(stream: Iterable[bytes], name: str, *, first_line: int = 1) -> Iterator[Item]:
    """The items of `stream`'s lines, the first of them line `first_line` of input `name`.

    `stream` gives `cdpcli.events.lines.TOO_LONG` in place of a line over the bound (reported
    here, its text never held), and raises `ReadFailure` when reading fails: it goes on with the
    number of the last line read.
    """
    # The hot loop of every command: keep it to a parse, two key probes and one Event per line.
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    fast_size = _SIZE_FAST_PATH
    lineno = first_line - 1
    try:
        for raw_line in stream:
            lineno += 1
            line = raw_line[3:] if lineno == 1 and raw_line.startswith(BOM) else raw_line
            try:
                value = loads(line)
            except decode_error as error:
                if line is TOO_LONG:
                    yield Problem(Origin(name, lineno), "error", None, TOO_LONG_MESSAGE)
                elif line.strip():
                    origin = Origin(name, lineno)
                    yield not_json(origin, line, error, keep=True)
                continue
            if type(value) is not dict:
                problem = not_an_object(value, Origin(name, lineno))
                problem.raw = line
                yield problem
            elif "batch" in value or "kind" in value:
                yield from unpack(value, name, lineno, len(line))
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
    except ReadFailure as failure:
        failure.line = lineno
        raise


def unpack(value: dict[str, Any], name: str, lineno: int, raw_len: int) -> Iterator[Item]:
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
            yield not_an_object(item, origin)
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
        for item in read_lines([event.encode("utf-8")], origin.source, first_line=origin.line):
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


def not_an_object(value: Any, origin: Origin) -> Problem:
    kind = json_type(value)
    return Problem(origin, "error", None, f"not an object: the line holds a JSON {kind}")


def not_json(origin: Origin, raw: bytes, error: orjson.JSONDecodeError, *, keep: bool) -> Problem:
    """The problem of text that does not parse (`keep`: the problem holds the text, for the
    rejected file); problems alike but for the column and the parser's detail are one kind."""
    message = parse_message(raw, error)
    like = "not UTF-8" if message.startswith("not UTF-8") else "not JSON"
    return Problem(origin, "error", None, message, raw if keep else None, like=like)


def parse_message(raw: bytes, error: orjson.JSONDecodeError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        bad = raw[decode_error.start : decode_error.start + 1].hex()
        return f"not UTF-8: byte 0x{bad} at column {decode_error.start + 1}"
    message = error.msg if len(error.msg) <= 100 else error.msg[:97] + "..."
    return f"not JSON: {message} at column {error.pos + 1}"
