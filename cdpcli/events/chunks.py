"""Cutting large plain JSON-lines files into byte ranges at line boundaries, so that several
processes can read one file (`validate --jobs`, `send --jobs`). Gzipped files, `.json` documents
and stdin cannot be cut: each is one chunk, read whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cdpcli.errors import InputError
from cdpcli.events.decode import Item
from cdpcli.events.lines import ReadFailure, skip_line
from cdpcli.events.reader import InputFile, read_error, read_input, read_range

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Chunk:
    """A part of one input: a byte range of a plain file starting at line `first_line`, or (with
    `start` None) the whole input."""

    input: InputFile
    start: int | None = None
    end: int | None = None
    first_line: int = 1

    def items(
        self,
        stdin: BinaryIO | None = None,
        opened: Callable[[BinaryIO], None] | None = None,
        block: Callable[[], None] | None = None,
    ) -> Iterator[Item]:
        """The chunk's events and problems; `opened` and `block` as for `read_input`."""
        if self.start is None or self.end is None:
            return read_input(self.input, stdin=stdin, opened=opened, block=block)
        return read_range(self.input, self.start, self.end, self.first_line, opened, block)

    @property
    def size(self) -> int | None:
        """Its bytes (the input's, when it is whole; None for stdin)."""
        if self.start is None or self.end is None:
            return self.input.size
        return self.end - self.start


def cut(input_file: InputFile, size: int, piece_bytes: int) -> Iterator[Chunk]:
    """Byte ranges of about `piece_bytes`, each ending just after a newline (the last at the end
    of the file), with the line number each starts at. Lazy: a range is found as it is needed,
    by one sequential pass that counts newlines, in blocks (a line is never held whole).

    A read error raises `InputError` naming the file and the last line read whole."""
    assert input_file.path is not None
    piece_bytes = max(1, piece_bytes)
    try:
        handle = open(input_file.path, "rb")  # noqa: SIM115 - closed in finally
    except OSError as error:
        raise InputError(f"{input_file.name}: cannot open: {error.strerror or error}") from error
    lines = 1  # the line being read
    try:
        start, first_line = 0, 1
        position = 0
        while position < size:
            target = min(position + piece_bytes, size)
            while position < target:
                block = handle.read(min(_BLOCK, target - position))
                if not block:
                    break
                lines += block.count(b"\n")
                position += len(block)
            shrunk = position < target  # the file shrank under us: stop at what there is
            if not shrunk and position < size:
                # On to the end of the line reached, holding none of it (it may be a line of
                # gigabytes: the reader reports it as too long).
                skipped, ended = skip_line(handle.readline, size - position)
                position += skipped
                lines += ended
            if position > start:
                yield Chunk(input_file, start, position, first_line)
            if shrunk or position == start:
                return
            start, first_line = position, lines
    except ReadFailure as failure:
        raise read_error(input_file.name, lines - 1, failure.error) from failure.error
    except OSError as error:
        raise read_error(input_file.name, lines - 1, error) from error
    finally:
        handle.close()
