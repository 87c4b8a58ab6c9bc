"""Splitting a byte stream into lines with a bound on line length (PRODUCT.md §3.2).

A line longer than `MAX_LINE_BYTES` (the newline not counted) is never held in memory: once that
many bytes of it have been read without a newline, the splitter gives the `TOO_LONG` marker in its
place and discards bytes up to the next newline, block by block, then goes on. Memory is a few
blocks whatever the input (a gzip bomb of NULs, `/dev/zero`).

The splitter works on blocks, not lines: it yields iterables of lines (a `BytesIO` over the whole
lines of a block, or a 1-tuple for a line that spans blocks) which `itertools.chain` flattens, so
the per-line work stays in C.
"""

from __future__ import annotations

import io
import itertools
import zlib
from collections.abc import Callable, Iterable, Iterator

MAX_LINE_BYTES = 1 << 20  # 1 MiB, the newline not counted
TOO_LONG_MESSAGE = "line longer than 1 MiB"

# Given in place of a line over the bound; recognized by identity (`line is TOO_LONG`), so no line
# read from an input can be taken for it. It is not JSON, so a reader finds it where it handles a
# line that fails to parse, off the hot path.
TOO_LONG = b"\x00" + TOO_LONG_MESSAGE.encode()

# One read: at most the bound, so that a line read whole inside one block is within the bound and
# only a line that spans blocks needs measuring.
BLOCK_BYTES = MAX_LINE_BYTES


class ReadFailure(Exception):
    """Reading an input failed: an I/O error (`OSError`), or a corrupt or truncated compressed
    stream (`gzip.BadGzipFile`, `EOFError`, `zlib.error`), after `line` complete lines (set by
    whoever counts them, `cdpcli.events.decode.read_lines`)."""

    def __init__(self, error: BaseException, line: int = 0) -> None:
        super().__init__(str(error))
        self.error = error
        self.line = line


READ_ERRORS = (OSError, EOFError, zlib.error)


def split_lines(
    read: Callable[[int], bytes], size: int | None = None, block_bytes: int = BLOCK_BYTES
) -> Iterator[bytes]:
    """The lines of the stream `read` gives (each with its newline, the last perhaps without),
    a line over `MAX_LINE_BYTES` as `TOO_LONG`; at most `size` bytes when given, read
    `block_bytes` (at most `BLOCK_BYTES`) at a time. A read error raises `ReadFailure`."""
    return itertools.chain.from_iterable(_line_blocks(read, size, min(block_bytes, BLOCK_BYTES)))


def _line_blocks(
    read: Callable[[int], bytes], size: int | None, block_bytes: int
) -> Iterator[Iterable[bytes]]:
    parts: list[bytes] = []  # the start of a line that goes on in the next block
    held = 0  # bytes in `parts`
    skipping = False  # inside a line over the bound, already reported
    remaining = size
    while remaining is None or remaining > 0:
        try:
            block = read(block_bytes if remaining is None else min(block_bytes, remaining))
        except READ_ERRORS as error:
            raise ReadFailure(error) from error
        if not block:
            break
        if remaining is not None:
            remaining -= len(block)
        first = block.find(b"\n")
        if first < 0:  # the block is all inside one line
            if not skipping:
                held += len(block)
                if held > MAX_LINE_BYTES:
                    parts.clear()
                    held = 0
                    skipping = True
                    yield (TOO_LONG,)
                else:
                    parts.append(block)
            continue
        if skipping:
            skipping = False  # the long line ends here
        elif parts:
            if held + first > MAX_LINE_BYTES:
                yield (TOO_LONG,)
            else:
                parts.append(block[: first + 1])
                yield (b"".join(parts),)
            parts.clear()
            held = 0
        else:
            first = -1  # the block starts at a line start: its first line is among the whole ones
        last = block.rfind(b"\n")
        if last + 1 < len(block):
            parts.append(block[last + 1 :])
            held = len(block) - last - 1
        if first == -1 and last + 1 == len(block):
            yield io.BytesIO(block)  # shares the block's bytes: no copy
        elif first < last:
            yield io.BytesIO(block[first + 1 : last + 1])
    if parts and not skipping:
        yield (b"".join(parts),)


def skip_line(readline: Callable[[int], bytes], size: int) -> tuple[int, bool]:
    """Read on to just past the next newline, at most `size` bytes, a block at a time (a stream's
    `readline` with a limit), holding no more than a block: how many bytes that is, and whether a
    newline ended them. A read error raises `ReadFailure`."""
    done = 0
    while done < size:
        try:
            piece = readline(min(BLOCK_BYTES, size - done))
        except READ_ERRORS as error:
            raise ReadFailure(error) from error
        if not piece:
            break
        done += len(piece)
        if piece.endswith(b"\n"):
            return done, True
    return done, False
