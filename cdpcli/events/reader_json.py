"""`.json` documents for the reader: one array of events, one object, or several top-level values.

`read_document` splits a `.json` file into its top-level values (a top-level array into its
elements) with a streaming scanner, so memory holds one value at a time, and turns each value into
`Event`/`Problem` items with the same rules as a JSON line (`cdpcli.events.reader`). A value
longer than 1 MiB is bounded as a line is (PRODUCT.md §3.2): reported, and skipped without being
held.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import orjson

from cdpcli.events.decode import BOM, Item, not_an_object, not_json, unpack
from cdpcli.events.lines import MAX_LINE_BYTES, READ_ERRORS, TOO_LONG, ReadFailure
from cdpcli.events.model import Event, Origin, Problem

MAX_VALUE_BYTES = MAX_LINE_BYTES
TOO_LONG_VALUE = "value longer than 1 MiB"


def read_document(stream: IO[bytes], name: str) -> Iterator[Item]:
    """Stream the top-level values of a `.json` file; a top-level array yields its elements.

    The file is split into values by a scanner that tracks nesting and strings, so memory holds
    one value at a time however large the array is, and no more than 1 MiB of it. Each value
    keeps the line it starts on, and array elements their index.
    """
    scanner = _ValueScanner(stream)
    for start_line, depth_one_index, chunk in scanner.values():
        if depth_one_index is None:
            # A top-level value that is not an array: an event, an envelope, or junk.
            if chunk is TOO_LONG:
                yield Problem(Origin(name, start_line), "error", None, TOO_LONG_VALUE)
                continue
            if not chunk.strip():
                continue
            try:
                value = orjson.loads(chunk)
            except orjson.JSONDecodeError as error:
                yield not_json(Origin(name, start_line), chunk, error, keep=False)
                continue
            if type(value) is dict:
                yield from unpack(value, name, start_line, len(chunk))
            else:
                yield not_an_object(value, Origin(name, start_line))
            continue
        origin = Origin(name, start_line, depth_one_index, in_batch=False)
        if chunk is TOO_LONG:
            yield Problem(origin, "error", None, TOO_LONG_VALUE)
            continue
        try:
            value = orjson.loads(chunk)
        except orjson.JSONDecodeError as error:
            yield not_json(origin, chunk, error, keep=False)
            continue
        if type(value) is dict:
            for item in unpack(value, name, start_line, len(chunk)):
                if isinstance(item, Event) and item.origin.index is None:
                    item.origin = origin
                yield item
        else:
            yield not_an_object(value, origin)


class _ValueScanner:
    """Split a byte stream into top-level JSON values and the elements of top-level arrays.

    A value over `MAX_VALUE_BYTES` is given as `TOO_LONG`: past the bound its bytes are scanned
    (to find where it ends) but not kept, checked once a block. A read error raises
    `ReadFailure` with the number of the last line read whole.
    """

    def __init__(self, stream: IO[bytes], chunk_size: int = 1 << 16) -> None:
        self._stream = stream
        self._chunk_size = chunk_size

    def values(self) -> Iterator[tuple[int, int | None, bytes]]:  # noqa: C901, PLR0912, PLR0915
        """Yield (line, index in a top-level array or None, the value's bytes or TOO_LONG)."""
        line = 1
        depth = 0
        in_string = False
        escaped = False
        in_array = False  # inside a top-level array
        element_index = 0
        current = bytearray()
        current_line = 1
        first = True
        pending_scalar = False  # a top-level token outside brackets, ended by a newline
        oversize = False  # `current` is over the bound: only its first byte is kept

        def value() -> bytes:
            nonlocal oversize
            if oversize or len(current) > MAX_VALUE_BYTES:
                oversize = False
                return TOO_LONG
            return bytes(current)

        while True:
            try:
                raw_block = self._stream.read(self._chunk_size)
            except READ_ERRORS as error:
                raise ReadFailure(error, line - 1) from error
            if not raw_block:
                break
            if len(current) > MAX_VALUE_BYTES:
                # Keep one byte: whether a value is under way is read from `current`.
                oversize = True
                del current[1:]
            block = raw_block[3:] if first and raw_block.startswith(BOM) else raw_block
            first = False
            for byte in block:
                if in_string:
                    current.append(byte)
                    if escaped:
                        escaped = False
                    elif byte == 0x5C:  # backslash
                        escaped = True
                    elif byte == 0x22:  # quote
                        in_string = False
                    elif byte == 0x0A:
                        line += 1
                    continue
                if byte == 0x0A:
                    line += 1
                    if pending_scalar and depth == 0:
                        yield current_line, None, value()
                        current.clear()
                        pending_scalar = False
                        continue
                    if current:
                        current.append(byte)
                    continue
                if depth == 0 and not pending_scalar:
                    if byte in b" \t\r,":
                        continue
                    if byte == 0x5B and not in_array:  # [ at the very top: array of events
                        in_array = True
                        depth = 1
                        continue
                    current_line = line
                    if byte in b"{[":
                        depth = 1
                    elif byte == 0x22:
                        pending_scalar = True
                        in_string = True
                    else:
                        pending_scalar = True
                    current.append(byte)
                    continue
                if in_array and depth == 1 and not current:
                    # between elements of the top-level array
                    if byte in b" \t\r,":
                        continue
                    if byte == 0x5D:  # ] closes the top-level array
                        in_array = False
                        depth = 0
                        continue
                    current_line = line
                    current.append(byte)
                    if byte in b"{[":
                        depth = 2
                    elif byte == 0x22:
                        in_string = True
                    continue
                if in_array and depth == 1:
                    # inside a scalar element of the top-level array
                    if byte in b",]":
                        yield current_line, element_index, value()
                        element_index += 1
                        current.clear()
                        if byte == 0x5D:
                            in_array = False
                            depth = 0
                        continue
                    current.append(byte)
                    if byte == 0x22:
                        in_string = True
                    elif byte in b"{[":  # junk then a container: still one element
                        depth = 2
                    continue
                current.append(byte)
                if byte == 0x22:
                    in_string = True
                elif byte in b"{[":
                    depth += 1
                elif byte in b"}]":
                    depth -= 1
                    if in_array and depth == 1:
                        yield current_line, element_index, value()
                        element_index += 1
                        current.clear()
                    elif not in_array and depth == 0 and not pending_scalar:
                        yield current_line, None, value()
                        current.clear()
        if current.strip():
            yield current_line, (element_index if in_array else None), value()
        elif in_array:
            yield line, None, b"["  # unterminated top-level array: reported as not JSON
