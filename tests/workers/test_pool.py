"""`cdpcli.events.chunks` and `cdpcli.workers.pool`: cutting plain JSON-lines files at line
boundaries, and running work in forked
worker processes with results in task order (used by `validate --jobs` and `send --jobs`)."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cdpcli.errors import WorkerError
from cdpcli.events import chunks as cutting
from cdpcli.events.chunks import Chunk, cut
from cdpcli.events.reader import GZIP_MAGIC, InputFile, read_input
from cdpcli.workers import pool as chunks
from cdpcli.workers.pool import ordered_map
from tests.paths import REPO
from tests.processes import alive

EVENT = (
    b'{"type":"track","event":"A","userId":"u1","messageId":"m1",'
    b'"timestamp":"2024-05-01T00:00:00Z"}'
)
LONG = b'{"type":"track","event":"A","userId":"u","properties":{"p":"' + b"x" * 9000 + b'"}}'
ENVELOPE = (
    b'{"batch":[{"type":"track","event":"B","userId":"u2"},3],"sentAt":"2024-05-01T00:00:00Z"}'
)
LINES = [
    b"",
    b"   ",
    b"\r",
    EVENT,
    EVENT + b"\r",  # a CRLF line
    LONG,
    ENVELOPE,
    b'{"type":"track"',  # not JSON
    b"[1, 2]",  # not an object
    b"\xff\xfe",  # not UTF-8
    b"\xef\xbb\xbf" + EVENT,  # a BOM (stripped on line 1 only)
    '{"type":"identify","userId":"ü☃","traits":{"a":1e16}}'.encode(),
]


def write_lines(path: Path, lines: list[bytes], final_newline: bool) -> bytes:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    path.write_bytes(data)
    return data


def check_cut(path: Path, data: bytes, piece_bytes: int) -> list[Chunk]:
    """Cut `path` and check every property of the pieces; returns them."""
    input_file = InputFile("events.jsonl", path)
    pieces = list(cut(input_file, len(data), piece_bytes))
    if not data:
        assert pieces == []
        return pieces
    assert pieces[0].start == 0
    assert pieces[-1].end == len(data)
    for before, after in itertools.pairwise(pieces):
        assert before.end == after.start  # contiguous, no overlap
    for piece in pieces:
        assert piece.start is not None and piece.end is not None
        assert piece.start < piece.end
        assert piece.start == 0 or data[piece.start - 1 : piece.start] == b"\n"  # a line start
        assert piece.first_line == 1 + data[: piece.start].count(b"\n")
        assert piece.input is input_file
    whole = list(read_input(input_file))
    assert [item for piece in pieces for item in piece.items()] == whole
    return pieces


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.one_of(st.sampled_from(LINES), st.binary(max_size=40).filter(lambda b: b"\n" not in b)),
        max_size=60,
    ),
    final_newline=st.booleans(),
    piece_bytes=st.integers(1, 12_000),
    block=st.sampled_from([1, 7, 64, 1 << 20]),
)
def test_pieces_cover_the_file_at_line_starts_and_read_as_the_whole(
    tmp_path: Path, lines: list[bytes], final_newline: bool, piece_bytes: int, block: int
) -> None:
    path = tmp_path / "events.jsonl"
    data = write_lines(path, lines, final_newline)
    assume(not data.startswith(GZIP_MAGIC))  # a gzipped file is never cut: it is read whole
    with mock.patch.object(cutting, "_BLOCK", block):  # exercise reads across block boundaries
        check_cut(path, data, piece_bytes)


@pytest.mark.parametrize(
    ("piece_bytes", "expected"),
    [
        # 3 lines of 10 bytes: a piece runs to the end of the line its `piece_bytes` reach
        (1, [(0, 10, 1), (10, 20, 2), (20, 30, 3)]),
        (10, [(0, 20, 1), (20, 30, 3)]),  # exactly at a line end: the next line is taken too
        (11, [(0, 20, 1), (20, 30, 3)]),
        (25, [(0, 30, 1)]),
        (0, [(0, 10, 1), (10, 20, 2), (20, 30, 3)]),  # taken as 1
    ],
)
def test_piece_boundaries_exactly(
    tmp_path: Path, piece_bytes: int, expected: list[tuple[int, int, int]]
) -> None:
    path = tmp_path / "events.jsonl"
    data = write_lines(path, [b"123456789"] * 3, final_newline=True)
    pieces = check_cut(path, data, piece_bytes)
    assert [(p.start, p.end, p.first_line) for p in pieces] == expected


def test_a_file_shorter_than_its_size_is_cut_as_far_as_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    data = write_lines(path, [b"123456789"] * 3, final_newline=False)  # 29 bytes
    got = list(cut(InputFile("events.jsonl", path), len(data) + 100, 12))
    assert [(p.start, p.end, p.first_line) for p in got] == [(0, 20, 1), (20, 29, 3)]


def test_a_whole_input_chunk_reads_the_whole_input(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_lines(path, [EVENT, b"[1]"], final_newline=True)
    input_file = InputFile("events.jsonl", path)
    assert list(Chunk(input_file).items()) == list(read_input(input_file))


# --- ordered_map -------------------------------------------------------------------------------


def _slow_square(n: int) -> tuple[int, int]:
    """Later tasks finish first, so completion order differs from task order."""
    time.sleep(0.002 * (10 - n % 10))
    return n * n, os.getpid()


def _fails_at_five(n: int) -> int:
    if n == 5:
        raise ValueError(f"task {n} failed")
    return n


def _sleepy(n: int) -> int:
    time.sleep(0.05)
    return n


@pytest.mark.parametrize(("jobs", "window"), [(2, 3), (2, 1), (3, 2)])
def test_results_come_in_task_order(jobs: int, window: int) -> None:
    consumed: list[int] = []

    def tasks() -> Iterator[int]:
        for n in range(25):
            consumed.append(n)
            yield n

    results = []
    for result in ordered_map(_slow_square, tasks(), jobs=jobs, window=window):
        results.append(result)
        # never more than `window` tasks submitted and not yet consumed
        assert len(consumed) - len(results) <= window
    assert [square for square, _ in results] == [n * n for n in range(25)]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= jobs
    assert multiprocessing.active_children() == []  # the pool is gone


def test_an_exception_in_a_task_surfaces_in_the_caller() -> None:
    got = []
    with pytest.raises(ValueError, match="task 5 failed"):
        for result in ordered_map(_fails_at_five, range(50), jobs=2, window=4):
            got.append(result)
    assert got == [0, 1, 2, 3, 4]  # everything before the failing task, in order
    assert multiprocessing.active_children() == []


def test_closing_early_cancels_the_rest_without_hanging() -> None:
    started = time.monotonic()
    results = ordered_map(_sleepy, itertools.count(), jobs=2, window=4)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    results.close()
    assert time.monotonic() - started < 5  # an endless task list: nothing waited for the rest
    assert multiprocessing.active_children() == []


def test_a_pool_closed_by_an_early_exit_refuses_more_work() -> None:
    with chunks.WorkerPool(2) as pool:
        results = pool.ordered(_sleepy, range(10), window=4)
        assert next(results) == 0
        results.close()  # closes the pool: its workers may be busy with unread tasks
        with pytest.raises(WorkerError, match="the worker pool is closed"):
            next(pool.ordered(_sleepy, range(3), window=2))
    assert multiprocessing.active_children() == []


def _big(n: int) -> bytes:
    return bytes([n % 256]) * (3 << 20)  # larger than a pipe holds: its writer waits for a reader


def test_closing_early_does_not_wait_for_results_nobody_reads() -> None:
    started = time.monotonic()
    results = ordered_map(_big, itertools.count(), jobs=2, window=6)
    assert next(results)[:1] == b"\x00"
    results.close()
    assert time.monotonic() - started < 5
    assert multiprocessing.active_children() == []


MANY_RESULTS = """
from cdpcli.workers.pool import ordered_map

def task(n):
    return b"x" * 2048

print(sum(len(r) for r in ordered_map(task, range(5000), jobs=2, window=5000)))
"""


def test_a_window_wider_than_the_pipes_does_not_deadlock() -> None:
    """5,000 tasks asked for at once: their results (10 MB) overflow the result pipes while the
    tasks still being sent would overflow the task pipes. The pool keeps few enough in flight
    that the parent never blocks on a send."""
    done = subprocess.run(
        [sys.executable, "-c", MANY_RESULTS], cwd=REPO, capture_output=True, timeout=60, check=True
    )
    assert done.stdout.strip() == str(5000 * 2048).encode()


UNCLOSED = """
from cdpcli.workers.pool import WorkerPool

pool = WorkerPool(2)  # never closed
print(" ".join(str(w.process.pid) for w in pool._workers), flush=True)
"""


def test_a_pool_left_open_does_not_hang_the_exit() -> None:
    done = subprocess.run(
        [sys.executable, "-c", UNCLOSED], cwd=REPO, capture_output=True, timeout=30, check=True
    )
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == 2
    assert not any(alive(pid) for pid in pids)


def _stuck(n: int) -> int:
    if n == 1:
        time.sleep(60)
    return n


def test_a_worker_stuck_in_a_task_is_stopped_when_the_pool_closes() -> None:
    results = ordered_map(_stuck, range(4), jobs=2, window=4)
    assert next(results) == 0
    started = time.monotonic()
    results.close()  # task 1 runs for a minute: its worker is killed, not waited for
    assert time.monotonic() - started < 10
    assert multiprocessing.active_children() == []


class _Unpicklable(Exception):
    def __init__(self, n: int) -> None:
        super().__init__(f"task {n} failed")
        self.handle = threading.Lock()  # an exception holding a lock does not pickle

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle")


def _fails_unpicklably(n: int) -> int:
    if n == 2:
        raise _Unpicklable(n)
    return n


def test_an_exception_that_does_not_pickle_still_reaches_the_caller() -> None:
    got = []
    with pytest.raises(RuntimeError, match="_Unpicklable: task 2 failed"):
        for result in ordered_map(_fails_unpicklably, range(6), jobs=2, window=2):
            got.append(result)
    assert got == [0, 1]
    assert multiprocessing.active_children() == []


def test_workers_share_the_tasks_and_results_stay_exact() -> None:
    results = list(ordered_map(_slow_square, range(12), jobs=3, window=3))
    assert [square for square, _ in results] == [n * n for n in range(12)]
    assert len({pid for _, pid in results}) == 3


# Set by task 29: task 0 waits for it. Made before the pools fork, so their workers share it.
_RELEASE = multiprocessing.get_context("fork").Event()


def _held_until_the_last(n: int) -> int:
    if n == 0:
        assert _RELEASE.wait(30), "task 29 never ran: the free worker did not take it"
    elif n == 29:
        _RELEASE.set()
    return os.getpid()


def test_a_worker_held_up_does_not_hold_up_the_others() -> None:
    """Task 0 runs until task 29 has run. The worker that has it keeps the tasks it already
    holds (the first 3), and the other worker takes every later one, 29 included: tasks go to
    the worker with the fewest in hand, not in turn (which would queue 29 behind task 0)."""
    _RELEASE.clear()
    pids = list(ordered_map(_held_until_the_last, range(30), jobs=2, window=30))
    held, free = pids[0], pids[1]
    assert held != free
    assert pids[:6] == [held, free] * 3  # both workers start with 3 tasks each
    assert pids[6:] == [free] * 24


def test_with_local_this_process_runs_tasks_while_the_workers_are_busy() -> None:
    """The worker takes tasks 0-2 (all it holds); this process, rather than wait for task 0,
    runs the next ones itself. Results still come in task order."""
    with chunks.WorkerPool(1) as pool:
        results = list(pool.ordered(_slow_square, range(20), window=8, local=_slow_square))
    assert [square for square, _ in results] == [n * n for n in range(20)]
    pids = [pid for _, pid in results]
    assert pids[3] == os.getpid() and os.getpid() not in pids[:3]
    assert len(set(pids)) == 2


def _refuses_here(n: int) -> int:
    raise ValueError(f"task {n} failed here")


def test_an_exception_of_a_task_run_here_surfaces_in_its_turn() -> None:
    got = []
    with chunks.WorkerPool(1) as pool, pytest.raises(ValueError, match="task 3 failed here"):
        for result in pool.ordered(_fails_at_five, range(50), window=8, local=_refuses_here):
            got.append(result)
    assert got == [0, 1, 2]  # the worker's, before the first task run here
    assert multiprocessing.active_children() == []


def test_an_initializer_runs_in_each_worker() -> None:
    with chunks.WorkerPool(2, initializer=_set_marker) as pool:
        results = list(pool.ordered(_read_marker, range(6), window=2))
    assert results == ["set"] * 6
    assert "CDPCLI_TEST_MARKER" not in os.environ  # only in the workers


def _set_marker() -> None:
    os.environ["CDPCLI_TEST_MARKER"] = "set"


def _read_marker(_n: int) -> str:
    return os.environ.get("CDPCLI_TEST_MARKER", "unset")


# --- workers do not outlive their parent ----------------------------------------------------

PARENT = """
import multiprocessing, os, sys, time
from cdpcli.workers.pool import ordered_map

def task(n):
    time.sleep(0.05 if n < 2 else 60)
    return n

results = ordered_map(task, range(100), jobs=2, window=4)
next(results)
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
for _ in results:
    pass
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_workers_exit_when_the_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    workers: list[int] = []
    try:
        assert parent.stdout is not None
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2
        assert all(alive(pid) for pid in workers)
        parent.kill()
        parent.wait(timeout=10)  # not communicate(): orphaned workers would hold the pipes open
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in workers):
            assert time.monotonic() < deadline, f"workers {workers} outlived their parent"
            time.sleep(0.05)
    finally:
        parent.kill()
        for pid in workers:  # on failure: leave nothing behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        parent.wait(timeout=10)
        for pipe in (parent.stdout, parent.stderr):
            if pipe is not None:
                pipe.close()
