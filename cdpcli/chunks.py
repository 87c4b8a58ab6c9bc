"""Cutting large plain JSON-lines files into byte ranges at line boundaries, and running work on
them in worker processes, results in input order.

Used by `validate --jobs` (`cdpcli.validation_parallel`) and by `send --jobs`
(`cdpcli.prepare_parallel`). Gzipped files, `.json` documents and stdin cannot be cut: each is one
chunk, read in this process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from cdpcli.errors import WorkerError
from cdpcli.reader import InputFile, Item, read_input, read_range

_BLOCK = 1 << 20
_PARENT_POLL_SECONDS = 0.5

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Chunk:
    """A part of one input: a byte range of a plain file starting at line `first_line`, or (with
    `start` None) the whole input."""

    input: InputFile
    start: int | None = None
    end: int | None = None
    first_line: int = 1

    def items(self, stdin: BinaryIO | None = None) -> Iterator[Item]:
        if self.start is None or self.end is None:
            return read_input(self.input, stdin=stdin)
        return read_range(self.input, self.start, self.end, self.first_line)


def default_jobs() -> int:
    """The processes a command uses by default: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def cut(input_file: InputFile, size: int, piece_bytes: int) -> Iterator[Chunk]:
    """Byte ranges of about `piece_bytes`, each ending just after a newline (the last at the end
    of the file), with the line number each starts at. Lazy: a range is found as it is needed,
    by one sequential pass that counts newlines."""
    assert input_file.path is not None
    piece_bytes = max(1, piece_bytes)
    with open(input_file.path, "rb") as handle:
        start, first_line = 0, 1
        position, lines = 0, 1
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
                rest = handle.readline()
                position += len(rest)
                lines += rest.count(b"\n")
            if position > start:
                yield Chunk(input_file, start, position, first_line)
            if shrunk or position == start:
                return
            start, first_line = position, lines


def ordered_map(
    function: Callable[[T], R],
    tasks: Iterable[T],
    *,
    jobs: int,
    window: int,
    initializer: Callable[[], None] | None = None,
) -> Generator[R, None, None]:
    """`function` over `tasks` in `jobs` forked worker processes (a `WorkerPool` of its own),
    results in task order, at most `window` tasks ahead. Closing the iterator cancels what is
    still queued and stops the workers."""
    with WorkerPool(jobs, initializer=initializer) as pool:
        yield from pool.ordered(function, tasks, window=window)


class WorkerPool:
    """`jobs` worker processes, forked when the pool is made (start it before any thread of
    this process starts: a fork copies no thread, but it copies the locks they hold).

    Workers ignore SIGINT and SIGTERM (the parent decides how to stop) and exit on their own if
    the parent dies (a `kill -9` of the run must not leave them behind).
    """

    def __init__(self, jobs: int, *, initializer: Callable[[], None] | None = None) -> None:
        self.jobs = jobs
        self._pool = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_start,
            initargs=(os.getpid(), initializer),
        )
        try:
            self._pool.submit(_ready).result()  # the workers are forked now, not at first use
        except BrokenProcessPool as error:
            raise WorkerError(
                f"cannot start {jobs} worker processes ({error})", hint="re-run with --jobs 1"
            ) from error

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def ordered(
        self, function: Callable[[T], R], tasks: Iterable[T], *, window: int
    ) -> Generator[R, None, None]:
        """`function` over `tasks`, results in task order, with at most `window` tasks
        submitted and not yet consumed (memory stays bounded however many tasks there are).
        Closing the iterator cancels the tasks not started and waits for the running ones."""
        pending: deque[Future[R]] = deque()
        try:
            for task in tasks:
                pending.append(self._pool.submit(function, task))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool as error:
            raise WorkerError(
                f"a worker process died ({error})",
                hint="the system may have run out of memory; re-run with fewer --jobs "
                "(with --checkpoint the run resumes where it stopped)",
            ) from error
        finally:
            for future in pending:
                future.cancel()
            for future in pending:
                if not future.cancelled():
                    with contextlib.suppress(Exception):
                        future.result()


def _ready() -> None:
    """A task that does nothing: its answer means the workers are up."""


def _worker_start(parent: int, initializer: Callable[[], None] | None) -> None:
    # A Ctrl-C, or a SIGTERM sent to the whole process group, is the parent's to act on: it
    # stops between two events and then stops the workers (a worker killed by it would break
    # the pool instead).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    if initializer is not None:
        initializer()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(1)
