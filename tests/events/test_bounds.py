"""Bounds on hostile input in the reader (PRODUCT.md §3.2, issue 16 cases 1 and 9).

A line over 1 MiB is one problem at its line, skipped without being held, however the input is
read (a file, gzip, stdin, a pipe, the byte ranges of `--jobs`, a `.json` document); the lines after
it keep their numbers. A read error is an `InputError` naming the input and the last line read; a
corrupt gzip stream is a problem of its file at the line after the last one read (issue 17), and
the next input is read on. The same bounds measured from outside, in a child process:
tests/events/test_hostile_inputs.py.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import threading
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdpcli.errors import InputError
from cdpcli.events import chunks as cutting
from cdpcli.events import lines as bounded
from cdpcli.events.chunks import Chunk, cut
from cdpcli.events.decode import Item
from cdpcli.events.lines import MAX_LINE_BYTES, TOO_LONG, split_lines
from cdpcli.events.model import Event, Problem
from cdpcli.events.reader import STDIN_NAME, InputFile, read_input, read_inputs, read_range
from cdpcli.events.validate import render_text
from cdpcli.events.validate_parallel import plan, validate_chunks

EVENT = (
    b'{"type":"track","event":"A","userId":"u","messageId":"m%d",'
    b'"timestamp":"2024-05-14T09:21:07.312Z"}'
)
LONG = 2 * 1024 * 1024  # a line of 2 MiB: over the bound


def around(long_line: bytes) -> bytes:
    """Events on lines 1 and 2, the long line 3, a line that is not JSON 4, an event 5."""
    return b"%s\n%s\n%s\nnot json\n%s\n" % (EVENT % 1, EVENT % 2, long_line, EVENT % 5)


def check_around(items: list[Item], source: str) -> None:
    """What `around` reads as: the long line one problem at its line, the rest in place."""
    assert [(type(item), item.origin.line) for item in items] == [
        (Event, 1),
        (Event, 2),
        (Problem, 3),
        (Problem, 4),
        (Event, 5),
    ]
    too_long = items[2]
    assert isinstance(too_long, Problem)
    assert str(too_long) == f"{source}:3: error: line longer than 1 MiB"
    assert (too_long.severity, too_long.field, too_long.raw) == ("error", None, None)
    assert isinstance(items[3], Problem) and items[3].message.startswith("not JSON")
    events = [item.data["messageId"] for item in items if isinstance(item, Event)]
    assert events == ["m1", "m2", "m5"]


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)


LONG_LINES = {
    "text": b"x" * LONG,
    "NULs": bytes(LONG),
    "a JSON event": EVENT[:-1] + b',"blob":"' + b"y" * LONG + b'"}',  # would parse
    "one byte over": b"z" * (MAX_LINE_BYTES + 1),
}


# --- a long line, every way an input is read ----------------------------------------------------


@pytest.mark.parametrize("kind", list(LONG_LINES))
def test_a_long_line_in_a_file_is_one_problem_at_its_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(around(LONG_LINES[kind]))
    check_around(list(read_input(InputFile(str(path), path))), str(path))


def test_a_line_at_the_bound_is_read(tmp_path: Path) -> None:
    prefix, suffix = EVENT[:-1] + b',"blob":"', b'"}'
    line = prefix + b"y" * (MAX_LINE_BYTES - len(prefix) - len(suffix)) + suffix
    assert len(line) == MAX_LINE_BYTES  # the newline not counted
    path = tmp_path / "events.jsonl"
    path.write_bytes(line + b"\n" + EVENT % 2 + b"\n" + line + b"y\n")
    items = list(read_input(InputFile(str(path), path)))
    assert [type(item) for item in items] == [Event, Event, Problem]


def test_a_long_line_in_gzip_is_one_problem_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip_bytes(around(LONG_LINES["text"])))
    check_around(list(read_input(InputFile(str(path), path))), str(path))


def test_a_long_line_on_stdin_is_one_problem_at_its_line() -> None:
    stdin = io.BytesIO(around(LONG_LINES["NULs"]))
    check_around(list(read_input(InputFile(STDIN_NAME, None), stdin=stdin)), STDIN_NAME)


def test_a_long_line_through_a_pipe_is_one_problem_at_its_line() -> None:
    """A pipe gives short reads (64 KiB): the long line spans many of them."""
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with open(write_fd, "wb") as writer:
            writer.write(around(LONG_LINES["text"]))

    writer = threading.Thread(target=feed)
    writer.start()
    with open(read_fd, "rb") as read_end:
        items = list(read_input(InputFile(STDIN_NAME, None), stdin=read_end))
    writer.join()
    check_around(items, STDIN_NAME)


def test_a_long_first_or_last_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"x" * LONG + b"\n" + EVENT % 2 + b"\n" + b"y" * LONG)
    items = list(read_input(InputFile(str(path), path)))
    assert [(type(item), item.origin.line) for item in items] == [
        (Problem, 1),
        (Event, 2),
        (Problem, 3),
    ]
    assert {item.message for item in items if isinstance(item, Problem)} == {
        "line longer than 1 MiB"
    }


def test_the_byte_ranges_of_jobs_read_a_long_line_as_the_whole_file_does(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    body = b"".join(EVENT % n + b"\n" for n in range(1, 2001))
    path.write_bytes(body + b"x" * LONG + b"\n" + body)
    input_file = InputFile(str(path), path)
    pieces = list(cut(input_file, path.stat().st_size, 16 * 1024))
    assert len(pieces) > 10
    holding = [p for p in pieces if p.start is not None and p.start <= len(body) < (p.end or 0)]
    assert len(holding) == 1  # the long line lies in one piece, never cut
    whole = list(read_input(input_file))
    assert [item for piece in pieces for item in piece.items()] == whole
    problems = [item for item in whole if isinstance(item, Problem)]
    assert [(p.origin.line, p.message) for p in problems] == [(2001, "line longer than 1 MiB")]
    assert whole[-1].origin.line == 4001


def test_validate_jobs_reports_a_long_line_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    body = b"".join(EVENT % n + b"\n" for n in range(1, 3001))
    path.write_bytes(body + b"x" * LONG + b"\nnot json\n" + body)
    inputs = [InputFile(str(path), path)]
    reports: list[list[str]] = []
    for jobs in (1, 2):
        chunks = plan(inputs, jobs, min_chunk=64 * 1024)
        assert (len(chunks) > 1) == (jobs > 1)  # the long line in the first, cut after it
        lines: list[str] = []
        summary = validate_chunks(
            chunks, strict=False, jobs=jobs, render=render_text, write=lines.append
        )
        assert (summary.events_read, summary.invalid) == (6002, 2)
        reports.append(lines)
    assert reports[0] == reports[1]
    assert reports[0] == [
        f"{path}:3001: error: line longer than 1 MiB",
        f"{path}:3002: error: not JSON: invalid literal, expected 'null' at column 1",
    ]


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=12).filter(lambda b: b"\n" not in b),
            st.integers(0, 40).map(lambda n: b"w" * n),
        ),
        max_size=12,
    ),
    final_newline=st.booleans(),
    reads=st.lists(st.integers(1, 20), min_size=1),
)
def test_the_splitter_gives_the_lines_and_a_marker_for_each_long_one(
    lines: list[bytes], final_newline: bool, reads: list[int]
) -> None:
    """With a bound of 8 bytes and blocks of 8, and reads as short as a pipe's."""
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    source = io.BytesIO(data)
    sizes = iter(reads * (len(data) + 1))

    def read(n: int) -> bytes:
        return source.read(min(n, next(sizes)))

    with (
        mock.patch.object(bounded, "MAX_LINE_BYTES", 8),
        mock.patch.object(bounded, "BLOCK_BYTES", 8),
    ):
        got = list(split_lines(read))
    expected = data.split(b"\n")
    if expected and expected[-1] == b"" and data:
        expected.pop()
    if not data:
        expected = []
    assert [TOO_LONG if len(line) > 8 else line for line in expected] == [
        line if line is TOO_LONG else line.removesuffix(b"\n") for line in got
    ]
    assert all(line is TOO_LONG or len(line.removesuffix(b"\n")) <= 8 for line in got)


# --- never held in memory -----------------------------------------------------------------------

HUGE = 32 * 1024 * 1024  # a line of 32 MiB
HELD = 8 * 1024 * 1024  # the most the reader may allocate at once while reading it


def peak_allocated(read: Callable[[], list[Item]]) -> tuple[int, list[Item]]:
    tracemalloc.start()
    try:
        items = read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, items


def huge_line_file(path: Path, line: bytes = b"x") -> Path:
    """Line 1 an event, line 2 a line of HUGE bytes (sparse when NULs), line 3 an event."""
    with open(path, "wb") as handle:
        handle.write(EVENT % 1 + b"\n")
        if line == b"\0":
            handle.seek(HUGE, io.SEEK_CUR)
        else:
            for _ in range(HUGE // LONG):
                handle.write(line * LONG)
        handle.write(b"\n" + EVENT % 3 + b"\n")
    return path


def assert_skipped(items: list[Item]) -> None:
    assert [(type(item), item.origin.line) for item in items] == [
        (Event, 1),
        (Problem, 2),
        (Event, 3),
    ]


@pytest.mark.parametrize("line", [b"x", b"\0"])
def test_a_huge_line_of_a_file_is_not_held(tmp_path: Path, line: bytes) -> None:
    path = huge_line_file(tmp_path / "events.jsonl", line)
    peak, items = peak_allocated(lambda: list(read_input(InputFile(str(path), path))))
    assert_skipped(items)
    assert peak < HELD, f"{peak:,} bytes held at once"


def test_a_huge_line_of_a_byte_range_and_of_the_cut_is_not_held(tmp_path: Path) -> None:
    path = huge_line_file(tmp_path / "events.jsonl", b"\0")
    input_file = InputFile(str(path), path)
    size = path.stat().st_size

    def read() -> list[Item]:
        pieces = list(cut(input_file, size, 1000))
        # the first piece runs to the end of the line its 1,000 bytes reach: the huge line
        assert [(p.start, p.first_line) for p in pieces] == [(0, 1), (len(EVENT % 1) + HUGE + 2, 3)]
        return [item for piece in pieces for item in piece.items()]

    with mock.patch.object(cutting, "_BLOCK", 1 << 20):
        peak, items = peak_allocated(read)
    assert_skipped(items)
    assert peak < HELD, f"{peak:,} bytes held at once"


def nul_bomb(path: Path, size: int) -> Path:
    """A gzip of `size` NUL bytes and no newline, written in pieces (the file is small)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    with open(path, "wb") as handle:
        for _ in range(size >> 20):
            handle.write(packer.compress(zeros))
        handle.write(packer.flush())
    return path


def test_a_gzip_bomb_is_one_problem_and_is_not_held(tmp_path: Path) -> None:
    path = nul_bomb(tmp_path / "bomb.jsonl.gz", HUGE)
    assert path.stat().st_size < HUGE // 500
    peak, items = peak_allocated(lambda: list(read_input(InputFile(str(path), path))))
    assert [str(item) for item in items] == [f"{path}:1: error: line longer than 1 MiB"]
    assert peak < HELD, f"{peak:,} bytes held at once"


def test_a_json_document_bounds_each_value(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    big = 4 * 1024 * 1024
    path.write_bytes(
        b"[\n%s,\n" % (EVENT % 0)
        + EVENT[:-1]
        + b',"blob":"'
        + b"y" * big
        + b'"},\n%s,\n"%s"\n]\n{"x": %s}\n%s\n' % (EVENT % 2, b"z" * big, b"1" * big, EVENT % 5)
    )
    peak, items = peak_allocated(lambda: list(read_input(InputFile(str(path), path))))
    assert [str(item) for item in items if isinstance(item, Problem)] == [
        f"{path}:3: error: [1]: value longer than 1 MiB",
        f"{path}:5: error: [3]: value longer than 1 MiB",
        f"{path}:7: error: value longer than 1 MiB",
    ]
    assert [str(item.origin) for item in items if isinstance(item, Event)] == [
        f"{path}:2#0",
        f"{path}:4#2",
        f"{path}:8",
    ]
    assert peak < big, f"{peak:,} bytes held at once"


# --- read errors --------------------------------------------------------------------------------


class FailingStream(io.RawIOBase):
    """A source that gives `data`, a few bytes at a time, then fails as a disk does (EIO)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        piece = self._data.read(min(len(buffer), 100))
        if not piece:
            raise OSError(errno.EIO, "Input/output error")
        buffer[: len(piece)] = piece
        return len(piece)


def read_until_error(data: bytes) -> tuple[list[Item], InputError]:
    items: list[Item] = []
    with pytest.raises(InputError) as raised:
        for item in read_input(InputFile(STDIN_NAME, None), stdin=FailingStream(data)):  # type: ignore[arg-type]
            items.append(item)
    return items, raised.value


def test_an_io_error_while_reading_names_the_input_and_the_last_line_read() -> None:
    data = b"".join(EVENT % n + b"\n" for n in range(1, 31)) + EVENT[:20]
    items, error = read_until_error(data)
    assert len(items) == 30
    assert error.message == "<stdin>: cannot read after line 30: Input/output error"
    assert error.hint is not None and "re-run" in error.hint
    assert error.exit_code == 4


def test_an_io_error_inside_gzip_is_an_input_error_not_bad_data() -> None:
    noise = (os.urandom(32).hex().encode() for _ in range(2000))  # so that it packs poorly
    lines = b"".join(EVENT[:-1] % n + b',"r":"%s"}\n' % r for n, r in enumerate(noise))
    items, error = read_until_error(gzip_bytes(lines))
    assert error.message.startswith("<stdin>: cannot read after line ")
    assert error.message.endswith(": Input/output error")
    assert items and all(isinstance(item, Event) for item in items)
    assert error.message == f"<stdin>: cannot read after line {len(items)}: Input/output error"


def test_an_io_error_before_anything_is_read() -> None:
    items, error = read_until_error(b"")
    assert items == []
    assert error.message == "<stdin>: cannot read the file: Input/output error"


PROC_MEM = Path("/proc/self/mem")  # opens, but reading at offset 0 fails with EIO


@pytest.mark.skipif(not PROC_MEM.exists(), reason="no /proc on this platform")
@pytest.mark.parametrize(
    "read",
    [
        lambda f: list(read_input(f)),
        lambda f: list(read_range(f, 0, 4096, 1)),
        lambda f: list(cut(f, 1 << 20, 4096)),
        lambda f: list(Chunk(f).items()),
    ],
    ids=["read_input", "read_range", "cut", "chunk"],
)
def test_an_unreadable_file_is_an_input_error_naming_it(read: Callable[[InputFile], Any]) -> None:
    with pytest.raises(InputError) as raised:
        read(InputFile(str(PROC_MEM), PROC_MEM))
    assert raised.value.message == "/proc/self/mem: cannot read the file: Input/output error"


def test_a_truncated_gzip_is_reported_after_its_last_line_and_the_next_input_is_read(
    tmp_path: Path,
) -> None:
    whole = gzip_bytes(b"".join(EVENT % n + b"\n" for n in range(1, 5001)))
    broken = tmp_path / "a.jsonl.gz"
    broken.write_bytes(whole[: len(whole) // 2])
    good = tmp_path / "b.jsonl"
    good.write_bytes(EVENT % 1 + b"\n")
    items = list(read_inputs([InputFile(str(broken), broken), InputFile(str(good), good)]))
    read = [item for item in items if isinstance(item, Event) and item.origin.source == str(broken)]
    problems = [item for item in items if isinstance(item, Problem)]
    assert 0 < len(read) < 5000
    assert len(problems) == 1
    last = len(read)
    assert str(problems[0]) == (
        f"{broken}:{last + 1}: error: cannot read the rest of the file after line {last}: "
        "Compressed file ended before the end-of-stream marker was reached"
    )
    assert str(items[-1].origin) == f"{good}:1" and isinstance(items[-1], Event)


def test_a_truncated_gzipped_json_document_is_reported_after_its_last_line(tmp_path: Path) -> None:
    noise = (os.urandom(16).hex().encode() for _ in range(3000))  # so that it packs poorly
    values = b",\n".join(EVENT[:-1] % n + b',"r":"%s"}' % r for n, r in enumerate(noise))
    whole = gzip_bytes(b"[\n" + values + b"\n]\n")
    path = tmp_path / "events.json.gz"
    path.write_bytes(whole[: len(whole) // 2])
    items = list(read_input(InputFile(str(path), path)))
    *events, problem = items
    assert events and all(isinstance(item, Event) for item in events)
    assert isinstance(problem, Problem)
    line = problem.origin.line
    # The array starts on line 1, value n on line n + 2: the problem is at the line being read.
    assert len(events) + 1 <= line <= len(events) + 2
    assert problem.message.startswith(f"cannot read the rest of the file after line {line - 1}: ")
